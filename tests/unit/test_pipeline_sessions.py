"""Session policies in ``run``: the scan returns the session-creating calls whose policies
matter, from 36 hours before the window, in the same pass as the denials; the group stage
puts each sample's session on it, and a worker explains it as ``analyze`` does, with a note
when other denials of the group came from sessions with other session policies."""

from __future__ import annotations

import copy
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cloudtrail_changes as ct
import pyarrow.parquet as pq
from test_sessions import MEMBER, SAMPLES, _analyze, _snapshot

from analyzer.events.caller import Caller, map_caller
from analyzer.events.records import EventRecord
from analyzer.events.sessions import SessionPolicies, session_created
from analyzer.pipeline import queries, stages, work
from analyzer.pipeline import sessions as run_sessions
from analyzer.pipeline.batches import read_batch
from analyzer.pipeline.reading import connect, read_denials_duckdb
from analyzer.pipeline.settings import PipelineSettings
from analyzer.snapshot.model import write_snapshot

DAY = datetime(2026, 11, 24, tzinfo=UTC)
DENY_GET = ct.doc(
    {"Sid": "NoObjects", "Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"},
    {"Effect": "Allow", "Action": "*", "Resource": "*"},
)


def _at(hours: float) -> str:
    return (DAY + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _deliver(root: Path, events: list[dict]) -> Path:
    """One S3-delivery file per event, in its day's folder."""
    logs = root / "AWSLogs"
    for number, event in enumerate(events):
        folder = logs / MEMBER / "CloudTrail" / "us-east-1" / event["eventTime"][:10].replace("-", "/")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{number:03d}.json.gz").write_bytes(
            gzip.compress(json.dumps({"Records": [event]}).encode())
        )
    return logs


def _settings(logs: Path, out: Path | str = "unused", snapshot: Path | str = "unused") -> PipelineSettings:
    return PipelineSettings(
        logs=str(logs),
        snapshot=str(snapshot),
        out=str(out),
        since=DAY.date(),
        until=DAY.date() + timedelta(days=1),
    )


def _session(event_id: str, hours: float, key: str, **kw) -> dict:
    """The call that created the session ``worker`` of App, whose denials get_object_denied makes."""
    return ct.assume_role(MEMBER, _at(hours), "App", "worker", key, event_id=event_id, **kw)


def test_the_scan_returns_the_sessions_that_matter_from_36_hours_before(tmp_path):
    samples = []
    for sample in json.loads(SAMPLES.read_text())["Records"]:
        sample = copy.deepcopy(sample)
        sample.pop("_expected")
        sample["eventTime"] = _at(2)
        samples.append(sample)
    events = [
        *samples,
        _session("arns-30h-before", -30, "ASIAOLD", policy_arns=("arn:aws:iam::aws:policy/ReadOnlyAccess",)),
        _session("policy-40h-before", -40, "ASIATOOOLD", policy=DENY_GET),
        _session("policy-after-window", 25, "ASIALATER", policy=DENY_GET),
        ct.get_object_denied(MEMBER, _at(3), "App", "data-bucket", "a.csv", "denied", access_key="ASIAOLD"),
    ]
    scan = read_denials_duckdb(connect(_settings(_deliver(tmp_path, events))), _settings(tmp_path))
    returned = set(scan.sessions.column("event_id").to_pylist())
    # The plain AssumeRole passed nothing: not read. The tags-only one reports a packed size,
    # so it comes back, and the reader decides it has no session policy.
    assert returned == {
        "sample-GetFederationToken",
        "sample-AssumeRole-policies",
        "sample-AssumeRoleWithWebIdentity",
        "sample-AssumeRoleWithSAML",
        "sample-AssumeRole-omitted",
        "sample-AssumeRole-packed-unshown",
        "sample-AssumeRole-tags",
        "sample-AssumeRole-truncated",
        "arns-30h-before",
    }
    assert scan.report.sessions == len(returned)
    # The failed AssumeRole is a denial, and the denial row carries its caller's key.
    denials = {row["event_id"]: row for row in scan.denials.to_pylist()}
    assert denials.keys() == {"sample-AssumeRole-failed", "denied"}
    assert denials["denied"]["access_key_id"] == "ASIAOLD"
    index = run_sessions.recognise(scan.sessions)
    assert sorted(index.access_key_ids()) == [
        "ASIAOLD",
        "ASIASAMPLEFEDERATED",
        "ASIASAMPLEINLINE",
        "ASIASAMPLEOMITTED",
        "ASIASAMPLESAML",
        "ASIASAMPLETRUNC",
        "ASIASAMPLEUNSHOWN",
        "ASIASAMPLEWEB",
    ]
    # Each session read from its row is the one analyze reads from the event itself.
    for event in events:
        session = session_created(EventRecord("logs", 0, event))
        if session is not None and session.event_id in returned and session.matters:
            assert index.get(_caller_of(session)) == session


def _caller_of(session: SessionPolicies) -> Caller:
    """The caller of a later call of ``session``, which CloudTrail logs with its ARN and key."""
    assert session.session_arn is not None
    kind = "FederatedUser" if session.federated else "AssumedRole"
    return map_caller({"type": kind, "arn": session.session_arn, "accessKeyId": session.access_key_id})


def _denied_by(session: SessionPolicies, number: int) -> dict:
    """A denied GetObject of a later call of ``session``."""
    denial = ct.get_object_denied(
        MEMBER, _at(2), "App", "data-bucket", f"{number}.csv", f"denied-{number}", session.access_key_id
    )
    denial["userIdentity"].update(
        type="FederatedUser" if session.federated else "AssumedRole", arn=session.session_arn
    )
    return denial


def test_the_athena_text_reads_the_sessions_36_hours_back():
    window = queries.time_window(DAY.date(), DAY.date() + timedelta(days=1))
    assert window["sessions_since"] == "2026-11-22T12:00:00Z"
    assert window["since_day"] == "2026/11/22"
    text = queries.athena_with_literals("denials", window)
    assert "is_session_creation" not in text.lower()
    assert "eventsource = 'sts.amazonaws.com' AND eventname IN ('AssumeRole', 'AssumeRoleWithSAML'" in text
    assert "eventtime >= '2026-11-22T12:00:00Z'" in text


def _reasons(tmp_path: Path, events: list[dict]) -> dict[str, dict]:
    """The run's stages on ``events``: scan, group, one worker batch; reasons by sample."""
    snapshot = tmp_path / "snapshot.json"
    write_snapshot(_snapshot(), snapshot)
    settings = _settings(_deliver(tmp_path / "logs", events), tmp_path / "out", snapshot)
    info = stages.snapshot_info(settings)
    grouped = stages.group(stages.read_denials(settings), settings, info.snapshot_id)
    rows = []
    for ref in grouped.batches:
        result = work.analyze_batch(ref, str(snapshot), info.snapshot_id)
        rows += pq.read_table(result.part_uri).to_pylist()
        for group in read_batch(ref, {}):  # the sample travels with its session
            event = group["sample_event"]
            assert event.session == run_sessions.recognise(stages.read_denials(settings).sessions).get(
                event.caller
            )
    return {row["sample_event_id"]: row for row in rows}


def test_a_worker_evaluates_the_session_policy_of_the_groups_sample(tmp_path):
    events = [
        _session("made-denying", -20, "ASIADENYING", policy=DENY_GET),
        _session("made-plain", 1, "ASIAPLAIN"),
        ct.get_object_denied(
            MEMBER, _at(2), "App", "data-bucket", "a.csv", "by-denying", access_key="ASIADENYING"
        ),
        # Another object, denied first to a plain session, last to the denying one.
        ct.get_object_denied(
            MEMBER, _at(3), "App", "data-bucket", "b.csv", "b-by-plain", access_key="ASIAPLAIN"
        ),
        ct.get_object_denied(
            MEMBER, _at(4), "App", "data-bucket", "b.csv", "b-by-denying", access_key="ASIADENYING"
        ),
        # And a third, denied last to the plain session.
        ct.get_object_denied(
            MEMBER, _at(5), "App", "data-bucket", "c.csv", "c-by-denying", access_key="ASIADENYING"
        ),
        ct.get_object_denied(
            MEMBER, _at(6), "App", "data-bucket", "c.csv", "c-by-plain", access_key="ASIAPLAIN"
        ),
    ]
    reasons = _reasons(tmp_path, events)
    assert reasons.keys() == {"by-denying", "b-by-denying", "c-by-plain"}
    alone = reasons["by-denying"]
    assert alone["assessment_result"] == "Explicit deny in a session policy"
    assert alone["statement_sid"] == "NoObjects"
    assert not any("session" in note for note in json.loads(alone["notes"] or "[]"))
    # The group's verdict is its latest denial's session's; the other sessions are named.
    mixed = reasons["b-by-denying"]
    assert mixed["assessment_result"] == "Explicit deny in a session policy"
    [note] = [n for n in json.loads(mixed["notes"]) if "session" in n]
    assert (
        "AssumeRole made-denying" in note
        and "1 from sessions with no session policy in the logs read" in note
    )
    last_plain = reasons["c-by-plain"]
    assert last_plain["assessment_result"] == "Allowed"
    assert any(
        "1 from the session created by AssumeRole made-denying" in n for n in json.loads(last_plain["notes"])
    )


def test_a_session_created_without_session_policies_was_read_and_nothing_is_claimed_missing(tmp_path):
    """A plain AssumeRole (nothing passed) is read, so its denials are evaluated with the
    role's policies alone and no note says the creating call is missing; only the session
    whose creating call is absent gets that note. ``analyze`` decides the same."""
    events = [
        _session("made-plain", -30, "ASIAPLAIN"),  # 30 hours before the window: still read
        ct.get_object_denied(
            MEMBER, _at(2), "App", "data-bucket", "a.csv", "by-plain", access_key="ASIAPLAIN"
        ),
        ct.get_object_denied(
            MEMBER, _at(3), "App", "data-bucket", "b.csv", "by-unseen", access_key="ASIAUNSEEN"
        ),
    ]
    scan = read_denials_duckdb(connect(_settings(_deliver(tmp_path / "scan", events))), _settings(tmp_path))
    # The plain call is not kept as a session row (the index holds only sessions whose
    # policies matter); the denial row names the call that created its session.
    assert scan.sessions.num_rows == 0
    denials = {row["event_id"]: row for row in scan.denials.to_pylist()}
    assert (denials["by-plain"]["session_event_id"], denials["by-unseen"]["session_event_id"]) == (
        "made-plain",
        None,
    )

    def missing(result_notes: list[str]) -> bool:
        return any("session's policies could not be checked" in note for note in result_notes)

    (tmp_path / "run").mkdir()
    (tmp_path / "analyze").mkdir()
    reasons = _reasons(tmp_path / "run", events)
    assert reasons["by-plain"]["assessment_result"] == "Allowed"
    plain_notes = json.loads(reasons["by-plain"]["notes"] or "[]")
    assert not missing(plain_notes)
    assert not any("other session policies" in note for note in plain_notes)
    assert missing(json.loads(reasons["by-unseen"]["notes"] or "[]"))
    analyzed = _analyze(tmp_path / "analyze", events)
    assert not missing(analyzed["by-plain"]["Notes"]) and missing(analyzed["by-unseen"]["Notes"])


def test_every_session_creating_shape_is_found_by_the_denials_of_its_session(tmp_path):
    """The scan finds a denial's creating call by the key in ``responseElements.credentials``
    and the session it made, as ``session_created`` does, for every public shape, with or
    without session policies."""
    events, expected = [], {}
    for number, sample in enumerate(json.loads(SAMPLES.read_text())["Records"]):
        sample = copy.deepcopy(sample)
        sample.pop("_expected")
        sample["eventTime"] = _at(1)
        events.append(sample)
        session = session_created(EventRecord("samples", 0, sample))
        denial = f"denied-{number}"
        if session is None:
            events.append(
                ct.get_object_denied(
                    MEMBER, _at(2), "App", "data-bucket", f"{number}.csv", denial, f"ASIANONE{number}"
                )
            )
        else:
            events.append(_denied_by(session, number))
        expected[denial] = sample["eventID"] if session is not None else None
    scan = read_denials_duckdb(connect(_settings(_deliver(tmp_path, events))), _settings(tmp_path))
    found = {row["event_id"]: row["session_event_id"] for row in scan.denials.to_pylist()}
    assert {key: found[key] for key in expected} == expected
    assert any(session is None for session in expected.values())


def test_a_key_reused_by_another_session_is_not_its_creating_call_in_run_as_in_analyze(tmp_path):
    """The scan matches a denial to its creating call on the session too, as ``analyze`` does:
    another account's role session made with the caller's key, whose deny-all policy decided
    the caller's denial (held-out probe), is not its creating call; the caller's own session,
    logged without its ARN (cross-account events omit it), is matched as ``analyze`` rebuilds it."""
    other = ct.assume_role(
        "222222222222", _at(1), "Target", "other", "ASIAREUSED", policy=DENY_GET, event_id="other"
    )
    own = _session("made-denying", 1, "ASIADENYING", policy=DENY_GET)
    unnamed = ct.get_object_denied(
        MEMBER, _at(3), "App", "data-bucket", "b.csv", "by-unnamed", access_key="ASIADENYING"
    )
    del unnamed["userIdentity"]["arn"]
    events = [
        other,
        own,
        ct.get_object_denied(
            MEMBER, _at(2), "App", "data-bucket", "a.csv", "by-reused", access_key="ASIAREUSED"
        ),
        unnamed,
    ]
    scan = read_denials_duckdb(connect(_settings(_deliver(tmp_path / "scan", events))), _settings(tmp_path))
    denials = {row["event_id"]: row["session_event_id"] for row in scan.denials.to_pylist()}
    assert denials == {"by-reused": None, "by-unnamed": "made-denying"}
    (tmp_path / "run").mkdir()
    (tmp_path / "analyze").mkdir()
    reasons = _reasons(tmp_path / "run", events)
    analyzed = _analyze(tmp_path / "analyze", events)
    reused, unnamed_result = reasons["by-reused"], reasons["by-unnamed"]
    assert reused["assessment_result"] == analyzed["by-reused"]["AssessmentResult"] == "Allowed"
    assert any("could not be checked" in note for note in json.loads(reused["notes"] or "[]"))
    assert unnamed_result["assessment_result"] == "Explicit deny in a session policy"
    assert analyzed["by-unnamed"]["AssessmentResult"] == "Explicit deny in a session policy"
