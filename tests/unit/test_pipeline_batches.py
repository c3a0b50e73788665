"""Analysis batches by reference (issue 20 item 1), on the pipeline's stages without Prefect:
batches are small references into a groups file that keep a principal's groups together,
each sample event is mapped once, the snapshot is loaded once per process, a principal's
identity policies are resolved once, and every group gets the answer ``analyze`` gives
for its sample event."""

from __future__ import annotations

import dataclasses
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analyzer.analysis import analyze_event
from analyzer.demo import generate
from analyzer.errors import PipelineError
from analyzer.events.mapping import map_event
from analyzer.events.records import EventRecord
from analyzer.pipeline import batches, grouping, stages, work
from analyzer.pipeline.settings import PipelineSettings
from analyzer.snapshot import load_snapshot, snapshot_resolver
from analyzer.snapshot.index import PolicyResolver


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("demo"), events=3000, seed=5)


@pytest.fixture()
def grouped(demo, tmp_path, monkeypatch):
    mapped = []
    real = grouping.map_event
    monkeypatch.setattr(grouping, "map_event", lambda record: mapped.append(1) or real(record))
    settings = PipelineSettings(
        logs=str(demo.json_root), snapshot=str(demo.snapshot), out=str(tmp_path), batch_size=6
    )
    denials = stages.read_denials(settings)
    result = stages.group(denials, settings, stages.snapshot_info(settings).snapshot_id)
    samples = len(set(denials.rows.column("raw_key").to_pylist()))
    return settings, result, len(mapped), samples


def test_batches_are_references_that_keep_a_principal_together(grouped):
    _, result, _, _ = grouped
    refs = stages.batches(result)
    assert len(refs) > 1
    for ref in refs:
        assert all(
            isinstance(value, str | int) for value in dataclasses.astuple(ref)
        )  # nothing for Prefect to walk
    groups = pq.read_table(result.groups_uri)
    assert sum(ref.groups for ref in refs) == groups.num_rows
    by_batch: dict[str, set[int]] = {}
    for ref in refs:
        rows = pq.ParquetFile(result.groups_uri).read_row_group(ref.row_group)
        for principal in rows.column("principal_arn").to_pylist():
            by_batch.setdefault(principal, set()).add(ref.batch_id)
    # A principal spans batches only when it alone has more groups than a batch holds.
    counts = dict(
        zip(
            *[
                groups.group_by("principal_arn").aggregate([("group_key", "count")]).column(n).to_pylist()
                for n in ("principal_arn", "group_key_count")
            ],
            strict=True,
        )
    )
    for principal, batch_ids in by_batch.items():
        assert len(batch_ids) == 1 or counts[principal] > 6


@pytest.mark.parametrize(
    ("principals", "expected"),
    [
        (["a", "a", "b", "c", "c", "c"], [(0, 3), (3, 6)]),
        (["a"] * 8 + ["b"], [(0, 4), (4, 8), (8, 9)]),
        (["a", "b", "c", "d", "e"], [(0, 4), (4, 5)]),
        ([], []),
    ],
)
def test_cut_keeps_runs_whole_unless_too_big(principals, expected):
    assert list(batches.cut(principals, 4)) == expected


@pytest.mark.parametrize(
    ("groups", "workers", "requested", "expected"),
    [
        (6477, 4, None, 810),  # a night at 1M events: 8 batches for 4 workers
        (931, 4, None, 200),  # a small night: still 5 batches, none smaller than 200 groups
        (50_000, 4, None, 1000),  # a big one: no batch over 1,000 groups
        (50_000, 32, None, 782),  # a big cluster: two batches per worker
        (6477, 4, 7, 7),  # --batch-size decides when given
        (0, 4, None, 200),
    ],
)
def test_a_batch_holds_about_a_second_of_work_unless_told(groups, workers, requested, expected):
    assert batches.batch_size_for(groups, workers, requested) == expected


def test_without_a_batch_size_a_small_night_is_one_batch(demo, tmp_path):
    settings = PipelineSettings(logs=str(demo.json_root), snapshot=str(demo.snapshot), out=str(tmp_path))
    result = stages.group(stages.read_denials(settings), settings, stages.snapshot_info(settings).snapshot_id)
    groups = pq.read_table(result.groups_uri).num_rows
    assert groups < 200  # the demo: one batch of all its groups
    assert [ref.groups for ref in stages.batches(result)] == [groups]


def test_each_sample_is_mapped_once_and_the_snapshot_loaded_once(grouped, monkeypatch):
    settings, result, mapped, samples = grouped
    assert mapped == samples
    from analyzer.pipeline import snapshots

    work.load_snapshot_once.cache_clear()
    loads = []
    real_read = snapshots.read_snapshot
    monkeypatch.setattr(snapshots, "read_snapshot", lambda *args: loads.append(args) or real_read(*args))
    monkeypatch.setattr(grouping, "map_event", lambda record: pytest.fail("mapped again"))
    identities: list[str] = []
    real_identity = PolicyResolver._identity
    monkeypatch.setattr(
        PolicyResolver, "_identity", lambda self, p: identities.append(p.arn) or real_identity(self, p)
    )
    snapshot_id = stages.snapshot_info(settings).snapshot_id
    for ref in stages.batches(result):
        work.analyze_batch(ref, settings.snapshot, snapshot_id)
    assert len(loads) == 1
    assert identities and len(identities) == len(set(identities))


def test_groups_get_the_answer_analyze_gives(demo, grouped):
    settings, result, _, _ = grouped
    snapshot_id = stages.snapshot_info(settings).snapshot_id
    parts = [work.analyze_batch(ref, settings.snapshot, snapshot_id) for ref in stages.batches(result)]
    reasons = [row for part in parts for row in pq.read_table(part.part_uri).to_pylist()]
    assert sum(part.groups for part in parts) == len(reasons) == demo.denial_groups
    events = {}
    for path in demo.json_root.rglob("*.json.gz"):
        if "Digest" not in str(path):
            for record in json.loads(gzip.decompress(path.read_bytes()))["Records"]:
                events[record["eventID"]] = record
    resolver = snapshot_resolver(load_snapshot(demo.snapshot))
    for row in reasons:
        event = map_event(EventRecord("logs", 0, events[row["sample_event_id"]]))
        answer = analyze_event(event, resolver)
        codes = (
            {e.request.action: e.code for e in answer.explanations}
            if answer.code is None
            else {row["action"]: answer.code}
        )
        assert row["reason_code"] == codes[row["action"]], row["sample_event_id"]


def test_a_batch_whose_content_changed_is_refused(grouped, tmp_path):
    settings, result, _, _ = grouped
    ref = stages.batches(result)[0]
    forged = dataclasses.replace(ref, content_hash="0" * 64)
    with pytest.raises(PipelineError, match="changed"):
        work.analyze_batch(forged, settings.snapshot, stages.snapshot_info(settings).snapshot_id)


def test_a_batchs_content_hash_is_the_one_earlier_runs_wrote():
    """The groups file is named by its batches' hashes and a worker re-checks them: a faster
    way of computing the hash must digest the very same bytes (value from the per-value
    digest it replaced, with the regions column added since)."""
    when = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    table = pa.table(
        {
            "group_key": ["g1", "g2"],
            "principal_arn": ["arn:aws:iam::1:role/r"] * 2,
            "account_id": ["1", None],
            "action": ["s3:GetObject", None],
            "resource_arn": ["arn:aws:s3:::b/k\u00e9", None],
            "event_count": [3, 1],
            "first_seen": [when] * 2,
            "last_seen": [when.replace(hour=11, microsecond=5)] * 2,
            "sample_event_id": ["e-1", "e-2"],
            "action_index": [0, None],
            "problem": [None, 'bad "event"'],
            "sample_event": ['{"a":1}', None],
            "session_note": [None, None],
            "regions": ['{"eu-west-1": 2, "us-east-1": 1}', None],
        }
    ).cast(batches.GROUPS_SCHEMA)
    assert batches.content_hash(table) == "66d118d69b13460ea6bd47bfe2a5d37e22562cc07a149452d5fcc07634809958"


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
@pytest.mark.parametrize(
    "regions", [("us-east-1", "eu-west-1", "ap-south-1"), ("us-east-1",) * 3], ids=["shapes", "one-shape"]
)
def test_a_groups_sample_is_its_latest_event_ties_broken_by_event_id(tmp_path, order, regions):
    """CloudTrail's eventTime has whole seconds: events of one group often share the
    latest one. Whatever order the logs hold them in, the group's sample is the same
    event (the largest event id), and the sample event id names the event that is
    mapped and explained, whether each event is a shape of its own (another region) or
    all are one."""
    import cloudtrail_changes as ct

    when = "2026-11-24T10:00:00Z"
    events = []
    for number, region in enumerate(regions):
        event = ct.get_object_denied("111111111111", when, "App", "data", "k", f"tie-{number}")
        event["awsRegion"] = region
        events.append(event)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "events.json").write_text(json.dumps({"Records": [events[index] for index in order]}))
    settings = PipelineSettings(logs=str(logs), snapshot=str(tmp_path / "unused"), out=str(tmp_path / "out"))
    result = stages.group(stages.read_denials(settings), settings, "snapshot")
    (row,) = batches.read_batch(stages.batches(result)[0], {})
    assert row["event_count"] == 3
    assert row["sample_event_id"] == "tie-2"
    assert (row["sample_event"].event_id, row["sample_event"].region) == ("tie-2", regions[2])


def test_retries_that_differ_only_in_ec2s_encoded_message_are_mapped_once(tmp_path, monkeypatch):
    """EC2 encodes a new authorization message for every call, so a job retrying one denied
    request makes each retry look new. A real GetPasswordData denial (Stratus Red Team, see
    tests/data/cloudtrail/README.md) retried three times with new messages, and once logged
    without one: two shapes (with and without a message) are mapped, one group counts all
    four, its sample is the latest retry, and each event keeps its own message."""
    real = json.loads(
        (Path(__file__).parents[1] / "data/cloudtrail/real/stratus_red_team_denials.json").read_text()
    )
    [denial] = [event for event in real if event["eventID"] == "450230d4-b39e-4a18-a6a0-d07a6e2105cb"]
    marker = "Encoded authorization failure message: "
    prefix, blob = denial["errorMessage"].split(marker)
    events = []
    for number, message in enumerate((None, blob, blob[::-1], blob.upper())):
        event = json.loads(json.dumps(denial))
        event["eventID"] = f"retry-{number}"
        event["eventTime"] = f"2024-07-30T21:3{number}:21Z"
        event["errorMessage"] = f"{prefix}{marker}{message}" if message else prefix
        events.append(event)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "events.json").write_text(json.dumps({"Records": events}))
    mapped = []
    real_map = grouping.map_event
    monkeypatch.setattr(grouping, "map_event", lambda record: mapped.append(record) or real_map(record))
    settings = PipelineSettings(logs=str(logs), snapshot=str(tmp_path / "unused"), out=str(tmp_path / "out"))

    result = stages.group(stages.read_denials(settings), settings, "snapshot")

    assert len(mapped) == 2
    (row,) = batches.read_batch(stages.batches(result)[0], {})
    assert (row["action"], row["event_count"]) == ("ec2:GetPasswordData", 4)
    assert row["sample_event_id"] == "retry-3"
    assert row["sample_event"].hint.encoded_message == blob.upper()
    denials = pq.read_table(result.denials_uri).to_pylist()
    assert {row["event_id"]: row["error_message"] for row in denials} == {
        event["eventID"]: event["errorMessage"] for event in events
    }


def test_only_the_shapes_that_are_a_groups_sample_are_kept_encoded(tmp_path, monkeypatch):
    """Six shapes of one group (the same denied GetObject from six regions, an hour apart,
    in the logs out of order) are all mapped, for their counts, but only the group's sample,
    the latest, is encoded and kept for analysis."""
    import cloudtrail_changes as ct

    regions = ("us-east-1", "eu-west-1", "ap-south-1", "us-west-2", "eu-central-1", "sa-east-1")
    events = []
    for hour, region in zip((3, 5, 0, 4, 1, 2), regions, strict=True):
        event = ct.get_object_denied(
            "111111111111", f"2026-11-24T1{hour}:00:00Z", "App", "d", "k", f"e-{hour}"
        )
        event["awsRegion"] = region
        events.append(event)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "events.json").write_text(json.dumps({"Records": events}))
    encoded = []
    monkeypatch.setattr(grouping, "dump_event", lambda event: encoded.append(event.event_id) or "{}")
    settings = PipelineSettings(logs=str(logs), snapshot=str(tmp_path / "unused"), out=str(tmp_path / "out"))

    result = stages.group(stages.read_denials(settings), settings, "snapshot")

    groups = pq.read_table(result.groups_uri).to_pylist()
    assert [(group["event_count"], group["sample_event_id"]) for group in groups] == [(6, "e-5")]
    assert encoded == ["e-5"]
