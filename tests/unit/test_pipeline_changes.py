"""Policy changes in the pipeline's one scan (issue 15 item 4): ``sql/denials.sql`` also
returns the successful events ``analyzer/history/changes.py`` recognises, over the window
and up to the snapshot's time; the run writes them to ``changes/`` and, without any, pays
nothing for history. The stages are called directly (no Prefect); the root causes they
lead to are checked end to end in ``tests/e2e/test_analyze_history.py``."""

from __future__ import annotations

import copy
import dataclasses
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cloudtrail_changes as ct
import duckdb
import pytest
from cloudtrail_formats import write
from history_nights import CUT_ID, allow_cut_night, role_snapshot
from pipeline_stages import run_stages

from analyzer.demo import generate
from analyzer.errors import PipelineError
from analyzer.events.records import EventRecord
from analyzer.history.changes import policy_change
from analyzer.history.timeline import with_snapshot_names
from analyzer.pipeline import changes as run_changes
from analyzer.pipeline import queries, stages, work
from analyzer.pipeline.reading import ReadReport, connect, read_denials_duckdb
from analyzer.pipeline.settings import PipelineSettings
from analyzer.result_tables import CHANGES, REASONS
from analyzer.snapshot import FORMAT, snapshot_from_dict

SAMPLES = Path(__file__).parent.parent / "data" / "history" / "change_events.json"
ACCOUNT = "111111111111"


def _samples() -> list[dict]:
    """The samples, each with an id of its own (changes are kept once per event id)."""
    events = json.loads(SAMPLES.read_text())["Records"]
    return [{**event, "eventID": f"{event['eventID']}-{index}"} for index, event in enumerate(events)]


def _without_source(change):
    return dataclasses.replace(change, source="")


@pytest.mark.parametrize("layout", ["records_gz", "parquet"])
def test_the_scan_returns_exactly_the_changes_analyze_recognises(layout, tmp_path):
    events = _samples()
    not_a_change = copy.deepcopy(events[0])
    not_a_change.update(eventID="read-only", eventSource="s3.amazonaws.com", eventName="GetObject")
    failed = copy.deepcopy(events[0])
    failed.update(eventID="failed-change", errorCode="NoSuchEntity", errorMessage="no such role")
    events += [not_a_change, failed]
    write(layout, events, tmp_path / "logs")
    settings = PipelineSettings(logs=str(tmp_path / "logs"), snapshot="unused", out="unused")

    scan = read_denials_duckdb(connect(settings), settings)

    expected = [c for e in events if (c := policy_change(EventRecord("file", 0, e))) is not None]
    assert len(expected) == len(events) - 5  # two samples are no policy change, three added
    empty = snapshot_from_dict({"format": FORMAT, "accounts": {}})
    found, problems = run_changes.recognise(scan.changes, empty)
    assert problems == []
    # Organizations' attach/delete events name the policy by id; the run names it by the ARN
    # a CreatePolicy among the samples gave it, as analyze --history does.
    expected = with_snapshot_names(sorted(expected, key=lambda c: c.event_time), empty)
    assert any(c.event_name == "DeletePolicy" and c.policy_type == "scp" for c in found)
    assert sorted(map(_without_source, found), key=lambda c: c.event_id) == sorted(
        map(_without_source, expected), key=lambda c: c.event_id
    )
    scanned = set(scan.changes.column("event_id").to_pylist())
    assert not scanned & {"read-only", "failed-change"}
    # The failed PutRolePolicy of the samples is a denial, read as one.
    assert scan.denials.column("event_name").to_pylist() == ["PutRolePolicy"]
    assert (scan.report.denials, scan.report.changes) == (1, scan.changes.num_rows)


def test_changes_reach_up_to_the_snapshot_denials_stay_in_the_window(tmp_path):
    day = datetime(2026, 11, 24, tzinfo=UTC)

    def at(hours: float) -> str:
        return (day + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def change(event_id: str, hours: float) -> dict:
        event = ct.put_role_policy(ACCOUNT, at(hours), "App", "Reads", ct.reads("data"))
        return {**event, "eventID": event_id}

    def denial(event_id: str, hours: float) -> dict:
        return ct.get_object_denied(ACCOUNT, at(hours), "App", "data", "a.csv", event_id)

    events = [
        change("before-window", -2),
        denial("denied-in-window", 3),
        change("in-window", 5),
        denial("denied-after-window", 26),
        change("after-window-before-snapshot", 27),
        change("after-snapshot", 31),
    ]
    root = tmp_path / "AWSLogs" / ACCOUNT / "CloudTrail" / "us-east-1"
    for event in events:
        folder = root / event["eventTime"][:10].replace("-", "/")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{event['eventID']}.json.gz").write_bytes(
            gzip.compress(json.dumps({"Records": [event]}).encode())
        )
    settings = PipelineSettings(
        logs=str(tmp_path / "AWSLogs"),
        snapshot="unused",
        out="unused",
        since=day.date(),
        until=day.date() + timedelta(days=1),
    )

    snapshot_time = day + timedelta(hours=30)
    scan = read_denials_duckdb(connect(settings), settings, [snapshot_time])
    assert scan.denials.column("event_id").to_pylist() == ["denied-in-window"]
    assert sorted(scan.changes.column("event_id").to_pylist()) == [
        "after-window-before-snapshot",
        "in-window",
    ]
    # A snapshot collected before the window: the changes from it on are read (forward).
    earlier = day - timedelta(hours=3)
    scan = read_denials_duckdb(connect(settings), settings, [earlier])
    assert sorted(scan.changes.column("event_id").to_pylist()) == ["before-window", "in-window"]
    # One before the window and one after it (--earlier-snapshot): every change between.
    scan = read_denials_duckdb(connect(settings), settings, [snapshot_time, earlier])
    assert sorted(scan.changes.column("event_id").to_pylist()) == [
        "after-window-before-snapshot",
        "before-window",
        "in-window",
    ]
    # Without the snapshot's time only the window's changes.
    scan = read_denials_duckdb(connect(settings), settings)
    assert scan.changes.column("event_id").to_pylist() == ["in-window"]


def test_the_athena_text_carries_the_registry():
    day = datetime(2026, 11, 24, tzinfo=UTC)
    window = queries.time_window(day.date(), day.date() + timedelta(days=1), [day + timedelta(hours=33)])
    text = queries.athena_with_literals("denials", window)
    assert "is_policy_change" not in text.lower()
    assert "eventsource = 'organizations.amazonaws.com' AND eventname IN (" in text
    assert "'PutBucketPolicy'" in text and "'SetDefaultPolicyVersion'" in text
    assert "REGEXP_LIKE(eventname, '^(AddPermission|RemovePermission)" in text
    assert "eventtime < '2026-11-25T09:00:01Z'" in text  # the changes: up to the snapshot
    assert "eventtime < '2026-11-25'" in text  # the denials: the window
    # the days: from the sessions' look-back (36 h before the window) to the snapshot's
    assert "\"timestamp\" BETWEEN '2026/11/22' AND '2026/11/25'" in text


def test_the_tables_have_the_contract_columns():
    assert CHANGES.names == [
        "event_id",
        "event_time",
        "account_id",
        "changed_by",
        "event_name",
        "policy_type",
        "policy_arn",
        "target_arn",
        "document",
    ]
    assert {
        "root_cause_event_id",
        "root_cause_time",
        "root_cause_changed_by",
        "root_cause_event_name",
        "fixed_by_event_id",
    } <= set(REASONS.names)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("demo"), events=1200, seed=5, days=3)


def _run(logs: Path, demo, out: Path, **options) -> tuple[stages.Grouped, stages.Summary]:
    done = run_stages(PipelineSettings(logs=str(logs), snapshot=str(demo.snapshot), out=str(out), **options))
    return done.grouped, done.summary


def _rows(out: Path, name: str) -> list[dict]:
    result = duckdb.connect().execute(
        f"select * from read_parquet('{out}/{name}/**/*.parquet', hive_partitioning=true)"
    )
    names = [column[0] for column in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _without_changes(logs: Path, target: Path) -> Path:
    """A copy of the demo's logs without its policy changes (its traffic tags roles)."""
    for path in logs.rglob("*.json.gz"):
        if "CloudTrail-Digest" in path.parts:
            continue
        records = json.loads(gzip.decompress(path.read_bytes()))["Records"]
        kept = [r for r in records if policy_change(EventRecord(str(path), 0, r)) is None]
        copy_path = target / path.relative_to(logs)
        copy_path.parent.mkdir(parents=True, exist_ok=True)
        copy_path.write_bytes(gzip.compress(json.dumps({"Records": kept}).encode()))
    return target


def test_a_run_without_changes_pays_nothing_for_history(demo, tmp_path):
    logs = _without_changes(demo.json_root, tmp_path / "logs")
    built = work.load_history_once.cache_info().misses
    grouped, summary = _run(logs, demo, tmp_path)

    assert grouped.changes is None and summary.changes == summary.root_causes == 0
    assert work.load_history_once.cache_info().misses == built  # no timeline was built
    reasons = _rows(tmp_path, "reasons")
    assert len(reasons) == demo.denial_groups
    for column in ("root_cause_event_id", "root_cause_time", "fixed_by_event_id", "root_cause_summary"):
        assert {row[column] for row in reasons} == {None}
    # Each day read has its changes/ partition, empty: readers and views still work.
    days = sorted(path.parent.name for path in (tmp_path / "changes").rglob("*.parquet"))
    assert days == [f"dt={demo.start + timedelta(days=n)}" for n in range(3)]
    assert _rows(tmp_path, "changes") == []
    connection = duckdb.connect()
    connection.execute(f"SET VARIABLE results = '{tmp_path}'")
    connection.execute(Path("sql/views.sql").read_text())
    assert connection.sql("select count(*) from changes").fetchall() == [(0,)]


def test_changes_are_written_by_event_day_for_the_window_only(demo, tmp_path):
    logs = _without_changes(demo.json_root, tmp_path / "logs")
    start = datetime(demo.start.year, demo.start.month, demo.start.day, tzinfo=UTC)
    changes = {
        "first-day": start + timedelta(hours=10),
        "last-day": start + timedelta(days=2, hours=10),  # after the window, before the snapshot
    }
    for event_id, when in changes.items():
        event = ct.put_role_policy(ACCOUNT, when.strftime("%Y-%m-%dT%H:%M:%SZ"), "Nobody", "P", ct.reads("x"))
        folder = logs / "AWSLogs" / ACCOUNT / "CloudTrail" / "us-east-1" / when.strftime("%Y/%m/%d")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{event_id}.json.gz").write_bytes(
            gzip.compress(json.dumps({"Records": [{**event, "eventID": event_id}]}).encode())
        )
    out = tmp_path / "out"
    _, summary = _run(logs, demo, out, since=demo.start, until=demo.start + timedelta(days=2))

    assert summary.changes == 2  # both read: the timeline needs the one after the window
    written = _rows(out, "changes")
    assert [(row["event_id"], str(row["dt"])) for row in written] == [("first-day", str(demo.start))]
    row = written[0]
    assert row["target_arn"] == f"arn:aws:iam::{ACCOUNT}:role/Nobody"
    assert (row["event_name"], row["policy_type"], row["account_id"]) == ("PutRolePolicy", "inline", ACCOUNT)
    assert json.loads(row["document"]) == ct.reads("x")
    assert sorted(path.parent.name for path in (out / "changes").rglob("*.parquet")) == [
        f"dt={demo.start + timedelta(days=n)}" for n in range(2)
    ]
    # No demo principal is touched: every group keeps the snapshot's answer, no root cause.
    assert summary.root_causes == 0
    assert not (out / "_work").exists()  # the work files are removed, and their folder


def test_the_group_stage_names_changes_from_the_processs_snapshot(demo, tmp_path, monkeypatch):
    """Naming the organization policies of a run's changes takes the snapshot copy the
    analysis uses (``work.load_snapshot_once``), not a second parse of the file."""
    from analyzer.pipeline import snapshots

    work.load_snapshot_once.cache_clear()
    loads: list[object] = []
    real = snapshots.read_snapshot

    def counted(*args):
        loads.append(args)
        return real(*args)

    monkeypatch.setattr(snapshots, "read_snapshot", counted)
    monkeypatch.setattr(stages, "read_snapshot", counted)
    grouped, _ = _run(demo.json_root, demo, tmp_path)
    assert grouped.changes is not None and grouped.changes.count
    assert len(loads) == 2  # snapshot_info's check, then the process's one copy


def _run_stages(logs: Path, snapshot: Path, out: Path, earlier: tuple[str, ...]) -> stages.Grouped:
    """The stages over the night of 2026-11-24, as the flow calls them."""
    day = datetime(2026, 11, 24, tzinfo=UTC)
    settings = PipelineSettings(
        logs=str(logs),
        snapshot=str(snapshot),
        out=str(out),
        since=day.date(),
        until=day.date() + timedelta(days=1),
        earlier_snapshots=earlier,
    )
    info = stages.snapshot_info(settings)
    denials = stages.read_denials(settings, info.collected_times())
    grouped = stages.group(denials, settings, info.snapshot_id, info.earlier_refs)
    results = [
        work.analyze_batch(ref, str(snapshot), info.snapshot_id, "{}", grouped.changes)
        for ref in stages.batches(grouped)
    ]
    stages.write(settings, grouped, results, info.snapshot_id, ReadReport())
    return grouped


def test_an_earlier_snapshot_knows_what_a_change_replaced_without_logging_it(tmp_path):
    """A night's PutRolePolicy cut the role's s3:GetObject; only the new document is
    logged. With the morning's snapshot alone the run cannot know the role could read
    before (the change is said in the notes, not named); with the previous night's as
    --earlier-snapshot the change is the root cause, and the batch's part and cache key
    say which snapshots answered."""
    night = allow_cut_night(tmp_path)

    def run(out: str, earlier: tuple[str, ...]) -> tuple[dict, stages.Grouped]:
        grouped = _run_stages(night.logs, night.morning, tmp_path / out, earlier)
        [row] = _rows(tmp_path / out, "reasons")
        return row, grouped

    alone, alone_grouped = run("alone", ())
    assert alone["reason_code"] == "NO_ALLOW_IDENTITY"
    assert alone["root_cause_event_id"] is None
    assert CUT_ID in alone["notes"] and "never logged" in alone["notes"]

    both, both_grouped = run("both", (str(night.previous),))
    assert both["reason_code"] == "NO_ALLOW_IDENTITY"
    assert both["root_cause_event_id"] == CUT_ID
    assert "removed Allow s3:GetObject" in both["root_cause_summary"]
    assert CUT_ID not in (both["notes"] or "")
    assert both_grouped.changes is not None and alone_grouped.changes is not None
    assert both_grouped.changes.content_hash == alone_grouped.changes.content_hash
    assert both_grouped.changes.key != alone_grouped.changes.key  # another answer: another key


def test_every_snapshot_must_say_when_it_was_collected(tmp_path):
    dated = role_snapshot(tmp_path / "dated.json", "2026-11-25T06:00:00Z", ct.reads("data"))
    undated = tmp_path / "undated.json"
    data = json.loads(dated.read_text())
    del data["collectedAt"]
    undated.write_text(json.dumps(data))
    settings = PipelineSettings(
        logs="unused", snapshot=str(dated), out="unused", earlier_snapshots=(str(undated),)
    )
    with pytest.raises(PipelineError, match=r"undated\.json: has no collectedAt"):
        stages.snapshot_info(settings)


def test_a_group_whose_reason_a_change_replaced_says_so(tmp_path):
    """App never could read data/a.csv (no identity allow); at 12:00 a bucket policy
    started denying it explicitly. The group's row is its latest denial's (the bucket
    policy); its notes say the earliest denial had another reason and which change ended
    it. Without the previous night's snapshot the bucket policy before 12:00 is unknown:
    nothing is said."""
    quarantine = ct.doc(
        {
            "Sid": "Quarantine",
            "Effect": "Deny",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/App"},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::data/*",
        }
    )
    put = ct.put_bucket_policy(ACCOUNT, "2026-11-24T12:00:00Z", "data", quarantine, event_id="quarantine")
    denials = [
        ct.get_object_denied(ACCOUNT, f"2026-11-24T{hour}:00:00Z", "App", "data", "a.csv", f"deny-{hour}")
        for hour in ("03", "13")
    ]
    write("records_gz", [put, *denials], tmp_path / "logs")
    cut = ct.list_only("data")
    morning = role_snapshot(tmp_path / "morning.json", "2026-11-25T06:00:00Z", cut, quarantine)
    previous = role_snapshot(tmp_path / "previous.json", "2026-11-23T06:00:00Z", cut)

    def row(out: str, *earlier: str) -> dict:
        _run_stages(tmp_path / "logs", morning, tmp_path / out, earlier)
        [found] = _rows(tmp_path / out, "reasons")
        return found

    both = row("both", str(previous))
    assert both["reason_code"] == "EXPLICIT_DENY_RESOURCE" and both["event_count"] == 2
    [note] = [note for note in json.loads(both["notes"]) if "earliest" in note]
    assert "its earliest, at 2026-11-24T03:00:00Z, was denied for another reason" in note
    assert "Missing allow in an identity-based policy" in note
    assert "until PutBucketPolicy quarantine at 2026-11-24T12:00:00Z" in note
    alone = row("alone")
    assert alone["reason_code"] == "EXPLICIT_DENY_RESOURCE"
    assert "earliest" not in (alone["notes"] or "")


def test_change_events_that_cannot_be_used_are_named_in_the_summary(tmp_path):
    """A policy change without a readable time, or with a name that is not text, was left
    out without a word (held-out probe): each is now a line naming its eventID."""
    events = _samples()
    put = next(e for e in events if e["eventName"] == "PutRolePolicy" and "errorCode" not in e)
    untimed = {**copy.deepcopy(put), "eventID": "no-time", "eventTime": "not-a-time"}
    listed = copy.deepcopy(put)
    listed["eventID"] = "role-as-list"
    listed["requestParameters"]["roleName"] = ["App"]
    write("records_gz", [put, untimed, listed], tmp_path / "logs")
    settings = PipelineSettings(logs=str(tmp_path / "logs"), snapshot="unused", out="unused")
    scan = read_denials_duckdb(connect(settings), settings)
    found, problems = run_changes.recognise(
        scan.changes, snapshot_from_dict({"format": FORMAT, "accounts": {}})
    )
    assert [change.event_id for change in found] == [put["eventID"]]
    [time_problem] = [problem for problem in scan.report.problems if "no-time" in problem]
    assert "a policy change with no readable eventTime" in time_problem
    [name_problem] = problems
    assert "role-as-list" in name_problem and "roleName" in name_problem


def test_a_partly_known_state_keeps_the_reasons_and_fix_the_known_policies_show(tmp_path):
    """App's inline policy was replaced at 12:00 and nothing shows what it was before: at
    03:00 the policies are only partly known, so the answer is Error, with the reasons and
    the fix the known policies (and AWS's message) show, as ``analyze`` gives them. The
    reasons table kept only the Error, its reasons and fix left out (held-out probe)."""
    denied = ct.with_message(
        ct.get_object_denied(ACCOUNT, "2026-11-24T03:00:00Z", "App", "data", "a.csv", "deny-03"),
        "because no identity-based policy allows the s3:GetObject action",
    )
    put = ct.put_role_policy(ACCOUNT, "2026-11-24T12:00:00Z", "App", "Reads", ct.list_only("data"))
    write("records_gz", [put, denied], tmp_path / "logs")
    morning = role_snapshot(tmp_path / "morning.json", "2026-11-25T06:00:00Z", ct.list_only("data"))
    _run_stages(tmp_path / "logs", morning, tmp_path / "out", ())
    [row] = _rows(tmp_path / "out", "reasons")
    assert row["reason_code"] == "ERROR"
    assert "partly known" in row["notes"]
    assert [reason["Code"] for reason in json.loads(row["reasons"])] == ["NO_ALLOW_IDENTITY"]
    [fix] = json.loads(row["fix_policy"])
    assert fix["PolicyType"] == "identity" and fix["Policy"]["Statement"][0]["Action"] == "s3:GetObject"
