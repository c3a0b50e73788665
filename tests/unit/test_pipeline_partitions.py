"""``denials/`` is partitioned by the EVENT's day (issue 17 item 2): a run replaces exactly
the days it covers, runs over overlapping windows never hold an event twice, and the
views count each event once. The stages are called directly (no Prefect)."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from analyzer.cli import main
from analyzer.demo import generate
from analyzer.pipeline import stages, work
from analyzer.pipeline.settings import PipelineSettings, window


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("demo"), events=1500, seed=3, days=3)


def _run(logs, demo, out, **options) -> stages.Summary:
    settings = PipelineSettings(logs=str(logs), snapshot=str(demo.snapshot), out=str(out), **options)
    snapshot_id = stages.snapshot_info(settings).snapshot_id
    denials = stages.read_denials(settings)
    grouped = stages.group(denials, settings, snapshot_id)
    results = [work.analyze_batch(ref, settings.snapshot, snapshot_id) for ref in stages.batches(grouped)]
    return stages.write(settings, grouped, results, snapshot_id, denials.report)


def _days(out: Path) -> dict[str, int]:
    rows = duckdb.sql(f"""select dt::varchar, count(*), count_if(event_time::date <> dt)
                          from read_parquet('{out}/denials/**/*.parquet', hive_partitioning=1)
                          group by 1""").fetchall()
    assert all(wrong == 0 for _, _, wrong in rows)  # every row sits in its event's day
    return {day: count for day, count, _ in rows}


def _view_count(out: Path) -> int:
    connection = duckdb.connect()
    connection.execute(f"SET VARIABLE results = '{out}'")
    connection.execute(Path("sql/views.sql").read_text())
    return connection.sql("select count(*) from denials").fetchall()[0][0]


def test_denials_are_partitioned_by_event_day(demo, tmp_path):
    _run(demo.json_root, demo, tmp_path)
    days = _days(tmp_path)
    assert sorted(days) == [(demo.start + timedelta(days=n)).isoformat() for n in range(3)]
    assert sum(days.values()) == demo.denials


def test_a_run_replaces_exactly_the_days_it_covers(demo, tmp_path):
    out = tmp_path / "out"
    _run(demo.json_root, demo, out)
    before = _days(out)
    untouched = {day: (out / "denials" / f"dt={day}" / "part-0.parquet").read_bytes() for day in before}
    # Day 2's logs lose some files; a run over day 2 only replaces day 2, not its neighbours.
    logs = tmp_path / "logs"
    shutil.copytree(demo.json_root, logs)
    second = demo.start + timedelta(days=1)
    day_folders = [p for p in logs.rglob(second.strftime("%Y/%m/%d")) if p.is_dir()]
    assert day_folders
    removed = sorted(f for folder in day_folders for f in folder.rglob("*.json.gz"))
    for path in removed[: len(removed) // 2]:
        path.unlink()
    _run(logs, demo, out, since=second, until=second + timedelta(days=1))
    after = _days(out)
    assert after[second.isoformat()] < before[second.isoformat()]
    for day in before:
        if day != second.isoformat():
            assert after[day] == before[day]
            assert (out / "denials" / f"dt={day}" / "part-0.parquet").read_bytes() == untouched[day]


def test_overlapping_runs_count_each_event_once(demo, tmp_path):
    _run(demo.json_root, demo, tmp_path)
    # The next night, without --since: every day is read again and replaced.
    _run(demo.json_root, demo, tmp_path, since=demo.start + timedelta(days=1))
    assert sum(_days(tmp_path).values()) == demo.denials
    assert _view_count(tmp_path) == demo.denials


def test_a_covered_day_without_denials_now_loses_its_old_rows(demo, tmp_path):
    out = tmp_path / "out"
    _run(demo.json_root, demo, out)
    first = demo.start
    logs = tmp_path / "logs"
    shutil.copytree(demo.json_root, logs)
    for folder in [p for p in logs.rglob(first.strftime("%Y/%m/%d")) if p.is_dir()]:
        shutil.rmtree(folder)
    _run(logs, demo, out, since=first, until=first + timedelta(days=2))
    assert first.isoformat() not in _days(out)


def test_last_days_is_the_days_before_today():
    today = date(2026, 12, 4)
    assert window(None, None, 1, today=today) == (today - timedelta(days=1), today)
    assert window(None, None, 3, today=today) == (today - timedelta(days=3), today)


def test_last_days_with_since_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "run",
            "--logs",
            str(tmp_path),
            "--snapshot",
            "s",
            "--out",
            str(tmp_path),
            "--last-days",
            "2",
            "--since",
            "2026-11-01",
        ],
    )
    assert result.exit_code == 2
    assert "--last-days" in result.output


@pytest.mark.parametrize("window", [False, True])
def test_a_night_without_denials_leaves_tables_that_open(demo, tmp_path, window):
    """A run over logs without a denial wrote no denials/ partition: the next morning's
    query, views.sql and report failed on the missing table (held-out probe)."""
    import gzip
    import json

    logs = tmp_path / "logs"
    logs.mkdir()
    quiet = {
        "eventVersion": "1.10",
        "eventTime": f"{demo.start.isoformat()}T10:00:00Z",
        "eventID": "ok-1",
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::111111111111:user/a",
            "accountId": "111111111111",
        },
    }
    (logs / "quiet.json.gz").write_bytes(gzip.compress(json.dumps({"Records": [quiet]}).encode()))
    bounds = {"since": demo.start, "until": demo.start + timedelta(days=1)} if window else {}
    _run(logs, demo, tmp_path / "out", **bounds)
    assert list((tmp_path / "out" / "denials").glob("dt=*/*.parquet"))
    for sql in ("select count(*) from denials", "select count(*) from changes"):
        outcome = CliRunner().invoke(
            main, ["query", "--results", str(tmp_path / "out"), "--output", "text", sql]
        )
        assert outcome.exit_code == 0, outcome.output
        assert outcome.stdout.strip() == "0"
    report = CliRunner().invoke(
        main, ["report", "--results", str(tmp_path / "out"), "--html", str(tmp_path / "report.html")]
    )
    assert report.exit_code == 0, report.output
