"""A run writes the ``changes/`` partitions of its window's days only, whichever bounds it
is given (docs/nightly-pipeline.md: "``changes/`` holds only the window's days").

The changes it reads beyond the window, up to a snapshot collected outside it, cover a day
only in part (up to the snapshot's time): they serve the analysis, and writing them would
replace the changes an earlier run wrote for that whole day with a part of them. With only
``--until`` or only ``--since`` the window is open on one side, and was once taken for no
window at all, so every change read was written.
"""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import cloudtrail_changes as ct
import duckdb
import pytest
from history_nights import ACCOUNT, role_snapshot
from pipeline_stages import run_stages

from analyzer.pipeline.settings import PipelineSettings

# Changes at 06:00 and 18:00 on each of three days, and a denial at noon each day.
DAYS = ("2026-11-21", "2026-11-22", "2026-11-23")
HOURS = ("06", "18")


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    root = tmp_path / "logs" / "AWSLogs" / ACCOUNT / "CloudTrail" / "us-east-1"
    for day in DAYS:
        records = [
            {
                **ct.put_role_policy(ACCOUNT, f"{day}T{hour}:00:00Z", "App", "Reads", ct.reads("data")),
                "eventID": f"change-{day}-{hour}",
            }
            for hour in HOURS
        ]
        records.append(
            ct.get_object_denied(ACCOUNT, f"{day}T12:00:00Z", "App", "data", "a.csv", f"deny-{day}")
        )
        folder = root / day.replace("-", "/")
        folder.mkdir(parents=True)
        folder.joinpath("part.json.gz").write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return tmp_path / "logs"


def _run(logs: Path, snapshot: Path, out: Path, since: date | None, until: date | None) -> None:
    run_stages(
        PipelineSettings(
            logs=str(logs), snapshot=str(snapshot), out=str(out), since=since, until=until, workers=1
        )
    )


def _changes(out: Path) -> dict[str, list[str]]:
    """The event ids of ``changes/``, by partition day."""
    rows = duckdb.sql(
        "select dt::varchar, event_id "
        f"from read_parquet('{out}/changes/**/*.parquet', hive_partitioning=true)"
    ).fetchall()
    found: dict[str, list[str]] = {
        day: [] for day in sorted(p.parent.name[3:] for p in out.glob("changes/*/*"))
    }
    for day, event_id in rows:
        found[day].append(event_id)
    return {day: sorted(ids) for day, ids in found.items()}


def _all(*days: str) -> dict[str, list[str]]:
    return {day: [f"change-{day}-{hour}" for hour in HOURS] for day in days}


def test_a_run_with_only_until_leaves_the_days_after_it_as_written(logs, tmp_path):
    """The held-out repro: a whole-day run over 11-23, then one over the days before 11-22
    with a snapshot of 11-23 noon (its changes read up to noon, one of two)."""
    out = tmp_path / "out"
    after = role_snapshot(tmp_path / "after.json", "2026-11-24T02:00:00Z", ct.reads("data"))
    _run(logs, after, out, date(2026, 11, 23), date(2026, 11, 24))
    assert _changes(out) == _all("2026-11-23")

    noon = role_snapshot(tmp_path / "noon.json", "2026-11-23T12:00:00Z", ct.reads("data"))
    _run(logs, noon, out, None, date(2026, 11, 22))

    assert _changes(out) == _all("2026-11-21", "2026-11-23")


def test_a_run_with_only_since_leaves_the_days_before_it_as_written(logs, tmp_path):
    """A snapshot collected before the window: the scan reads forward from it, part of a
    day the window does not hold."""
    out = tmp_path / "out"
    after = role_snapshot(tmp_path / "after.json", "2026-11-24T02:00:00Z", ct.reads("data"))
    _run(logs, after, out, date(2026, 11, 21), date(2026, 11, 22))
    assert _changes(out) == _all("2026-11-21")

    noon = role_snapshot(tmp_path / "noon.json", "2026-11-21T12:00:00Z", ct.reads("data"))
    _run(logs, noon, out, date(2026, 11, 22), None)

    assert _changes(out) == _all("2026-11-21", "2026-11-22", "2026-11-23")


def test_the_window_s_days_are_written_bounded_or_not():
    """``in_window``: --since on, before --until, an open side for a bound not given."""
    day = date(2026, 11, 22)
    window = {
        (None, None): True,
        (None, day): False,
        (day, None): True,
        (date(2026, 11, 23), None): False,
        (date(2026, 11, 21), day): False,
        (day, date(2026, 11, 23)): True,
    }
    for (since, until), inside in window.items():
        settings = PipelineSettings(logs="l", snapshot="s", out="o", since=since, until=until)
        assert settings.in_window(day) is inside, (since, until)
