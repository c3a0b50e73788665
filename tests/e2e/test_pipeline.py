"""The pipeline end to end: real Prefect flows (test harness), DuckDB over generated
CloudTrail in both layouts, output to a folder and to S3 on the moto server, and the
Athena path through pyathena against moto's Athena.

The demo generator makes the logs from a synthetic organization whose policies really
cause each denial, so the expected reason per group is known.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import urllib.request
from datetime import UTC, timedelta
from pathlib import Path

import duckdb
import pytest

from analyzer.demo import generate
from analyzer.errors import PipelineError
from analyzer.pipeline import queries, stages
from analyzer.pipeline.reading import connect, read_denials_duckdb
from analyzer.pipeline.settings import AthenaSettings, PipelineSettings
from analyzer.pipeline.storage import list_logs
from flows.nightly import nightly

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("demo"), events=4000, seed=11)


def table(out: Path | str, name: str, connection=None) -> list[dict]:
    connection = connection or duckdb.connect()
    query = f"select * from read_parquet('{out}/{name}/**/*.parquet', hive_partitioning=true)"
    result = connection.execute(query)
    names = [column[0] for column in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def run(logs, snapshot, out, **options):
    return nightly(logs=str(logs), snapshot=str(snapshot), out=str(out), **options)


@pytest.fixture(scope="module")
def json_run(demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("out-json")
    summary = run(demo.json_root, demo.snapshot, out, batch_size=7, workers=3)
    return summary, out


def test_every_denial_is_written_once(demo, json_run):
    summary, out = json_run
    denials = table(out, "denials")
    assert len(denials) == demo.denials == summary.denials
    assert len({row["event_id"] for row in denials}) == demo.denials
    # denials/ is partitioned by each event's own day (UTC), not the run's.
    assert all(str(row["dt"]) == row["event_time"].astimezone(UTC).date().isoformat() for row in denials)


def test_an_event_two_trails_delivered_is_counted_once(demo, json_run, tmp_path):
    """An organization trail and an account's own trail delivering to the logs read give every
    event twice, with one eventID: the tables must be those of one trail, and the run says so."""
    logs = tmp_path / "bucket"
    shutil.copytree(demo.json_root, logs)
    org_level = next((logs / "AWSLogs").glob("o-*"))
    account = next(path for path in org_level.iterdir() if path.is_dir())
    shutil.copytree(account, logs / "AWSLogs" / account.name)  # the account's own trail
    copied = sum(
        row["account_id"] == account.name for row in table(json_run[1], "denials")
    )  # its denials, read twice
    assert copied > 0
    summary = run(logs, demo.snapshot, tmp_path / "out")
    assert summary.denials == demo.denials
    assert sorted(row["event_id"] for row in table(tmp_path / "out", "denials")) == sorted(
        row["event_id"] for row in table(json_run[1], "denials")
    )
    example = min(
        row["event_id"] for row in table(json_run[1], "denials") if row["account_id"] == account.name
    )
    assert [w for w in summary.warnings if "read more than once" in w] == [
        f"{copied:,} denied events were read more than once (same eventID, e.g. {example}: two trails "
        "delivering to the logs read, or copies of a log file); each is counted once"
    ]
    groups = {row["group_key"]: row["event_count"] for row in table(tmp_path / "out", "reasons")}
    assert groups == {row["group_key"]: row["event_count"] for row in table(json_run[1], "reasons")}


def test_groups_carry_the_reason_the_organization_causes(demo, json_run):
    _, out = json_run
    reasons = table(out, "reasons")
    assert len(reasons) == demo.denial_groups
    # Events per reason code, counted on each event's primary action, match the generator.
    connection = duckdb.connect()
    counts = dict(
        connection.execute(f"""
        select r.reason_code, count(*) from
          read_parquet('{out}/denials/**/*.parquet') d
          join read_parquet('{out}/reasons/**/*.parquet') r using (group_key)
        group by 1""").fetchall()
    )
    assert counts == dict(demo.denials_by_code)


def test_fixes_are_verified_and_backlog_is_least_privilege(json_run):
    _, out = json_run
    reasons = table(out, "reasons")
    missing = [r for r in reasons if r["reason_code"].startswith("NO_ALLOW")]
    assert missing and all(r["fix_verified"] for r in missing)
    for row in table(out, "backlog"):
        policy = json.loads(row["suggested_policy"])
        resources = [s["Resource"] for s in policy["Statement"]]
        assert "*" not in resources  # every denied action here has a resource type
        assert set(row["missing_actions"]) == {
            action
            for s in policy["Statement"]
            for action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        }


def test_parquet_layout_gives_the_same_reasons(demo, json_run, tmp_path):
    _, json_out = json_run
    run(demo.parquet_root, demo.snapshot, tmp_path)

    def key(rows):
        return sorted((r["group_key"], r["reason_code"], r["event_count"]) for r in rows)

    assert key(table(tmp_path, "reasons")) == key(table(json_out, "reasons"))


def test_rerun_replaces_the_day_instead_of_duplicating(demo, tmp_path):
    first = run(demo.json_root, demo.snapshot, tmp_path)
    second = run(demo.json_root, demo.snapshot, tmp_path)
    assert first.run_date == second.run_date
    assert len(table(tmp_path, "denials")) == demo.denials
    assert len(list((tmp_path / "reasons").rglob("*.parquet"))) == 1


def test_a_corrupt_log_file_is_reported_and_skipped(demo, tmp_path):
    logs = tmp_path / "logs"
    shutil.copytree(demo.json_root, logs)
    files = sorted(logs.rglob("*.json.gz"))

    def denied(path: Path) -> int:
        records = json.loads(gzip.decompress(path.read_bytes()))["Records"]
        return sum(1 for record in records if record.get("errorCode"))

    victim = next(f for f in files if "CloudTrail-Digest" not in str(f) and denied(f))
    lost = denied(victim)
    victim.write_bytes(victim.read_bytes()[:200])  # truncated gzip
    summary = run(logs, demo.snapshot, tmp_path / "out")
    assert any(str(victim) in problem for problem in summary.problems)
    assert summary.denials == demo.denials - lost
    assert len(table(tmp_path / "out", "denials")) == demo.denials - lost


def test_a_file_damaged_midway_keeps_the_events_before_the_damage(demo, tmp_path):
    from analyzer.events import EventRecord, read_events

    logs = tmp_path / "logs"
    shutil.copytree(demo.json_root, logs)
    files = [f for f in sorted(logs.rglob("*.json.gz")) if "CloudTrail-Digest" not in str(f)]
    victim = max(files, key=lambda f: f.stat().st_size)
    text = gzip.decompress(victim.read_bytes())
    victim.write_bytes(gzip.compress(text)[: len(gzip.compress(text)) * 3 // 4])
    total = sum(1 for r in json.loads(text)["Records"] if r.get("errorCode"))
    kept = sum(1 for item in read_events(victim) if isinstance(item, EventRecord) and item.is_denial)
    assert 0 < kept < total  # the damage is in the middle of the file's denials
    summary = run(logs, demo.snapshot, tmp_path / "out")
    assert any(str(victim) in problem and "truncated" in problem for problem in summary.problems)
    assert summary.denials == demo.denials - total + kept


def test_a_failing_analysis_task_is_retried(demo, tmp_path, monkeypatch):
    from analyzer.pipeline import work

    real = work.reason_fields
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("worker lost")
        return real(*args, **kwargs)

    monkeypatch.setattr(work, "reason_fields", flaky)
    summary = run(demo.json_root, demo.snapshot, tmp_path, batch_size=5, workers=1)
    assert summary.groups == demo.denial_groups
    assert calls["n"] > demo.denial_groups  # the failed batch ran again


def test_the_window_prunes_days(demo, tmp_path):
    first_day = demo.start.isoformat()

    summary = run(
        demo.json_root, demo.snapshot, tmp_path, since=demo.start, until=demo.start + timedelta(days=1)
    )
    denials = table(tmp_path, "denials")
    assert summary.run_date == first_day
    assert 0 < len(denials) < demo.denials
    assert {row["event_time"].date().isoformat() for row in denials} == {first_day}


def test_logs_on_s3_and_tables_to_s3(demo, aws, tmp_path):
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="trail-logs")
    s3.create_bucket(Bucket="au-results")
    for number, path in enumerate(sorted(demo.json_root.rglob("*.json.gz"))):
        key = str(path.relative_to(demo.json_root))
        if number % 5 == 0 and "CloudTrail-Digest" not in key:
            # Some objects in other accepted layouts (JSON Lines, a JSON array), which DuckDB
            # does not read as they are: they go through the streaming reader.
            records = json.loads(gzip.decompress(path.read_bytes()))["Records"]
            body = "".join(json.dumps(r) + "\n" for r in records) if number % 2 else json.dumps(records)
            s3.put_object(Bucket="trail-logs", Key=key.replace(".json.gz", ".jsonl"), Body=body.encode())
        elif number % 5 == 1 and "CloudTrail-Digest" not in key:
            # An object whose name does not say what it is (a copy by hand, an export): found
            # by its first bytes (one ranged GET), read like the others.
            s3.upload_file(str(path), "trail-logs", key.removesuffix(".json.gz"))
        else:
            s3.upload_file(str(path), "trail-logs", key)
    summary = run("s3://trail-logs/AWSLogs/", demo.snapshot, "s3://au-results/nightly")
    assert summary.problems == []
    assert summary.denials == demo.denials
    assert all(output.startswith("s3://au-results/nightly/") for output in summary.outputs)
    settings = PipelineSettings(logs="s3://trail-logs/AWSLogs/", snapshot="x", out="x")
    connection = connect(settings)  # s3:// logs: registers s3fs with the moto endpoint
    assert len(table("s3://au-results/nightly", "reasons", connection)) == demo.denial_groups
    # A window lists only its days' folders (one LIST each), and finds what the whole listing
    # finds on those days.
    day = demo.start + timedelta(days=1)
    walked = list_logs("s3://trail-logs/AWSLogs/", settings.s3_options(), day, day + timedelta(days=1))
    whole = list_logs("s3://trail-logs/AWSLogs/", settings.s3_options(), None, None)
    on_day = sorted(p for p in whole.json if f"/{day:%Y/%m/%d}/" in p)
    assert on_day and sorted(walked.json) == on_day


def test_a_refused_write_names_the_object_and_awss_error(demo, aws, proxy, monkeypatch):
    """S3 refuses the reasons table's PUT (credentials that may write the work files but
    not that prefix): the run's error names that object and AWS's code, not only --out."""
    import boto3

    boto3.client("s3").create_bucket(Bucket="au-refused")
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    proxy.refuse = lambda call: call.startswith("PUT /au-refused/nightly/reasons/")
    with pytest.raises(PipelineError) as raised:
        run(demo.json_root, demo.snapshot, "s3://au-refused/nightly")
    assert re.fullmatch(
        r"cannot write s3://au-refused/nightly/reasons/dt=\d{4}-\d\d-\d\d/[\w-]+\.parquet: "
        r"AWS error AccessDenied: Access Denied \(the credentials may not read or write it: .+\)",
        str(raised.value),
    ), raised.value
    assert any(method == "PUT" and "/reasons/" in path for method, path, _ in proxy.calls)


def _inject_athena_results(moto_url: str, rows: list[dict]) -> None:
    names = list(rows[0])
    header = {"Data": [{"VarCharValue": name} for name in names]}
    data = [
        {"Data": [{"VarCharValue": None if row[n] is None else str(row[n])} for n in names]} for row in rows
    ]
    body = {
        "results": [
            {
                "rows": [header, *data],
                "column_info": [
                    {
                        "Name": n,
                        "Label": n,
                        "Type": "varchar",
                        "Nullable": "UNKNOWN",
                        "CatalogName": "hive",
                        "SchemaName": "",
                        "TableName": "",
                        "Precision": 0,
                        "Scale": 0,
                        "CaseSensitive": True,
                    }
                    for n in names
                ],
            }
        ]
    }
    request = urllib.request.Request(
        f"{moto_url}/moto-api/static/athena/query-results",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()


def test_athena_path_runs_the_same_sql_and_gives_the_same_reasons(demo, json_run, aws, moto_server, tmp_path):
    """moto's Athena only returns injected rows: inject what denials.sql returns on DuckDB
    for the same logs, and check the query Athena received is denials.sql itself."""
    import boto3

    boto3.client("s3").create_bucket(Bucket="athena-staging")
    settings = PipelineSettings(logs=str(demo.json_root), snapshot=str(demo.snapshot), out=str(tmp_path))
    connection = connect(settings)
    scan = read_denials_duckdb(connection, settings)
    assert scan.changes.num_rows  # the demo's traffic changes policies: Athena returns them too
    _inject_athena_results(moto_server, [*scan.denials.to_pylist(), *scan.changes.to_pylist()])

    summary = run(
        "cloudtrail",
        demo.snapshot,
        tmp_path / "out",
        source="athena",
        athena=AthenaSettings(s3_staging_dir="s3://athena-staging/results/"),
    )
    json_summary, json_out = json_run
    assert summary.denials == demo.denials
    # The demo's SCP, attached during its days, is behind some of its denials.
    assert json_summary.root_causes
    assert (summary.changes, summary.root_causes) == (json_summary.changes, json_summary.root_causes)

    def key(rows):
        return sorted(
            (r["group_key"], r["reason_code"], r["event_count"], r["root_cause_event_id"]) for r in rows
        )

    assert key(table(tmp_path / "out", "reasons")) == key(table(json_out, "reasons"))
    athena = boto3.client("athena")
    [execution_id] = athena.list_query_executions()["QueryExecutionIds"][:1]
    query = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Query"]
    # denials.sql whole, its parameters bound as the flow binds them (changes up to the
    # snapshot's collection time).
    collected = stages.snapshot_info(settings).collected_times()
    assert collected
    assert query == queries.athena_with_literals("denials", queries.time_window(None, None, collected))
    # The readers' list of denial codes, rendered in (tests/unit/test_denial_codes_agree.py).
    assert "REGEXP_LIKE(errorcode" in query and "'forbiddenexception'" in query


def test_views_sql_defines_views_over_the_tables(demo, json_run):
    _, out = json_run
    connection = duckdb.connect()
    connection.execute(f"SET VARIABLE results = '{out}'")
    connection.execute(queries.athena_sql("views"))
    assert connection.execute("select count(*) from denials").fetchall()[0][0] == demo.denials
    by_reason = dict(
        connection.sql("select reason_code, sum(events) from denials_by_reason group by 1").fetchall()
    )
    assert by_reason == dict(demo.denials_by_code)
    hot = connection.execute("select sum(events) from deny_hot_spots").fetchall()[0][0]
    assert hot == sum(
        row["event_count"] for row in table(out, "reasons") if row["reason_code"].startswith("EXPLICIT_DENY")
    )


def test_run_command_prints_a_summary(demo, tmp_path):
    from click.testing import CliRunner

    from analyzer.cli import main

    result = CliRunner().invoke(
        main,
        ["run", "--logs", str(demo.parquet_root), "--snapshot", str(demo.snapshot), "--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    assert "denied events" in result.output and str(demo.denials) in result.output
    assert (tmp_path / "backlog").is_dir()


def test_demo_command_runs_everything_and_every_kind_appears(tmp_path):
    from click.testing import CliRunner

    from analyzer.cli import main
    from analyzer.explain.registry import registry

    result = CliRunner().invoke(main, ["demo", "--events", "3000", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.html").stat().st_size > 10_000
    reasons = table(tmp_path / "results", "reasons")
    codes = {row["reason_code"] for row in reasons}
    offline_kinds = {
        code
        for code in registry()
        if code not in ("ERROR", "ALLOWED", "NO_ALLOW_RCP", "EXPLICIT_DENY_SESSION", "NO_ALLOW_SESSION")
    }
    assert codes == offline_kinds
    # AWS's fixed rules have no policy: the row names the rule instead
    rules = {
        (row["policy_type"], row["policy_name"])
        for row in reasons
        if row["reason_code"].startswith("AWS_RULE_")
    }
    assert rules == {
        ("serviceRule", name)
        for name in (
            "aws-managed-policy",
            "service-linked-role",
            "identity-center-role",
            "aws-kms-alias",
            "aws-managed-key",
        )
    }


def test_run_reads_what_a_change_replaced_from_an_earlier_snapshot(tmp_path):
    """``run --earlier-snapshot`` through the real flow: the previous night's snapshot
    tells that the role could read before the night's PutRolePolicy, which is then the
    root cause; the same run without it only says the change in the group's notes."""
    from click.testing import CliRunner
    from history_nights import CUT_ID, allow_cut_night

    from analyzer.cli import main

    night = allow_cut_night(tmp_path)
    base = ["run", "--logs", str(night.logs), "--snapshot", str(night.morning)]
    window = ["--since", "2026-11-24", "--until", "2026-11-25"]
    both = CliRunner().invoke(
        main, [*base, "--earlier-snapshot", str(night.previous), "--out", str(tmp_path / "both"), *window]
    )
    assert both.exit_code == 0, both.output
    [row] = table(tmp_path / "both", "reasons")
    assert row["root_cause_event_id"] == CUT_ID
    alone = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "alone"), *window])
    assert alone.exit_code == 0, alone.output
    [row] = table(tmp_path / "alone", "reasons")
    assert row["root_cause_event_id"] is None and CUT_ID in row["notes"]
    missing = CliRunner().invoke(
        main, [*base, "--earlier-snapshot", str(tmp_path / "none.json"), "--out", str(tmp_path / "x")]
    )
    assert missing.exit_code != 0 and "(--earlier-snapshot)" in missing.output
