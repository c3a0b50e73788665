"""Reading CloudTrail: every accepted layout yields the same events; bad input never aborts."""

import gzip
import json
import tempfile
from pathlib import Path

import pytest
from cloudtrail_formats import LAYOUTS, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.events import EventRecord, ReadProblem, ReadStats, read_events
from analyzer.events.mapping import denied_events


def _event(index, error_code="AccessDenied", **extra):
    event = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "accountId": "111111111111",
            "arn": "arn:aws:iam::111111111111:user/alice",
            "userName": "alice",
        },
        "eventTime": f"2024-05-01T10:{index % 60:02d}:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "requestParameters": {"bucketName": "data", "key": f"k{index}.txt"},
        "eventID": f"id-{index}",
        "readOnly": True,
        "resources": [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::data/k{index}.txt"}],
        "recipientAccountId": "111111111111",
    }
    if error_code:
        event["errorCode"] = error_code
        event["errorMessage"] = "Access Denied"
    event.update(extra)
    return event


EVENTS = [_event(i, error_code=None if i % 3 == 0 else "AccessDenied") for i in range(7)]


def _events(items):
    return [item.event for item in items if isinstance(item, EventRecord)]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_reads_back_the_same_events(layout, tmp_path):
    path = write(layout, EVENTS, tmp_path)
    items = list(read_events(path))
    assert [i for i in items if isinstance(i, ReadProblem)] == []
    assert _events(items) == EVENTS


def test_single_event_file(tmp_path):
    path = write("single", EVENTS[1:2], tmp_path)
    assert _events(read_events(path)) == EVENTS[1:2]


def test_records_carry_file_and_index(tmp_path):
    path = write("records", EVENTS, tmp_path)
    items = list(read_events(path))
    assert [(i.source, i.index) for i in items] == [(str(path), n) for n in range(len(EVENTS))]


def test_denials_only_counts_and_skips_the_rest(tmp_path):
    stats = ReadStats()
    items = list(read_events(write("records", EVENTS, tmp_path), denials_only=True, stats=stats))
    assert [i.event["eventID"] for i in items] == ["id-1", "id-2", "id-4", "id-5"]
    assert (stats.events, stats.denials, stats.skipped_non_denials, stats.files) == (7, 4, 3, 1)


def test_a_denial_read_twice_is_answered_once(tmp_path):
    """Two copies of one log file (or an organization trail and an account's own trail in
    one folder) hold the same eventIDs: ``analyze`` answers each denial once, as ``run``
    counts it once, and says how many copies it dropped. Records without an eventID stay."""
    anonymous = _event(9)
    del anonymous["eventID"]
    write("records", [*EVENTS, anonymous], tmp_path / "a")
    write("records_gz", [*EVENTS, anonymous], tmp_path / "b")
    stats = ReadStats()
    ids = [item.event_id for item in denied_events(tmp_path, stats)]
    assert ids == ["id-1", "id-2", "id-4", "id-5", None, None]
    assert (stats.denials, stats.duplicates, stats.duplicate_example) == (6, 4, "id-1")


def test_s3_tree_skips_digests_and_reads_in_order(tmp_path):
    root = write("s3_tree", EVENTS, tmp_path)
    items = list(read_events(root))
    assert all("Digest" not in i.source for i in items)
    assert [i.event["eventID"] for i in items] == [e["eventID"] for e in EVENTS]


def test_not_cloudtrail_json_is_reported_with_the_file(tmp_path):
    (tmp_path / "other.json").write_text(json.dumps({"hello": "world"}))
    (tmp_path / "text.json").write_text("this is not json")
    items = list(read_events([tmp_path / "other.json", tmp_path / "text.json"]))
    assert all(isinstance(i, ReadProblem) for i in items)
    assert "other.json: record 0: not a CloudTrail event (no eventSource or eventName)" in str(items[0])
    assert "text.json" in str(items[1]) and "not CloudTrail JSON" in str(items[1])


def test_truncated_gzip_keeps_events_before_the_damage_and_the_next_files(tmp_path):
    many = [_event(i, key=f"{i * 7919:x}" * 20) for i in range(400)]
    good = write("records_gz", EVENTS, tmp_path / "a")
    data = gzip.compress("".join(json.dumps(e) + "\n" for e in many).encode())
    broken = tmp_path / "b.jsonl.gz"
    broken.write_bytes(data[: len(data) // 2])
    after = write("jsonl", EVENTS[:2], tmp_path / "c")
    items = list(read_events([broken, good, after]))
    problems = [i for i in items if isinstance(i, ReadProblem)]
    assert len(problems) == 1 and str(broken) in str(problems[0])
    assert "truncated" in problems[0].message or "middle of a JSON value" in problems[0].message
    salvaged = _events([i for i in items if i.source == str(broken)])
    assert 0 < len(salvaged) < len(many) and salvaged == many[: len(salvaged)]
    assert _events([i for i in items if i.source != str(broken)]) == EVENTS + EVENTS[:2]


def test_corrupt_gzip_is_one_problem(tmp_path):
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    (problem,) = list(read_events(bad))
    assert isinstance(problem, ReadProblem) and "gzip" in problem.message and problem.index is None


def test_a_bad_jsonl_line_costs_only_that_line(tmp_path):
    path = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps(EVENTS[0]),
        "{not json",
        json.dumps(EVENTS[1]),
        json.dumps([1, 2])[:0] + "42",
        json.dumps(EVENTS[2]),
    ]
    path.write_text("\n".join(lines) + "\n")
    items = list(read_events(path))
    assert _events(items) == EVENTS[:3]
    problems = [i for i in items if isinstance(i, ReadProblem)]
    assert [p.index for p in problems] == [1, 3]


def test_a_record_that_is_not_an_object_is_reported_by_index(tmp_path):
    path = tmp_path / "records.json"
    path.write_text(json.dumps({"Records": [EVENTS[0], "oops", EVENTS[1], None, 7, [1], True]}))
    items = list(read_events(path))
    assert _events(items) == EVENTS[:2]
    problems = [i for i in items if isinstance(i, ReadProblem)]
    assert [p.index for p in problems] == [1, 3, 4, 5, 6]
    # Said in JSON's words: the file is JSON, not Python.
    assert [p.message.rsplit("(", 1)[1] for p in problems] == [
        "a JSON string)",
        "a JSON null)",
        "a JSON number)",
        "a JSON array)",
        "a JSON boolean)",
    ]


def test_a_record_missing_fields_is_reported_and_the_rest_mapped(tmp_path):
    no_identity = _event(1)
    del no_identity["userIdentity"]
    path = tmp_path / "records.json"
    path.write_text(json.dumps({"Records": [_event(0), no_identity, _event(2)]}))
    items = list(denied_events(path))
    problems = [i for i in items if isinstance(i, ReadProblem)]
    assert [str(p) for p in problems] == [f"{path}: record 1 (eventID id-1): missing userIdentity"]
    assert [i.event_id for i in items if not isinstance(i, ReadProblem)] == ["id-0", "id-2"]


def test_missing_path_and_s3_url_are_problems(tmp_path):
    items = list(read_events([tmp_path / "nope.json", "s3://bucket/AWSLogs/"]))
    assert [type(i) for i in items] == [ReadProblem, ReadProblem]
    assert "no such file" in items[0].message


def test_parquet_without_cloudtrail_columns(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"a": [1, 2]}), path)
    (problem,) = list(read_events(path))
    assert "not a CloudTrail table" in problem.message


def test_large_file_streams(tmp_path):
    """Reading does not hold the file: a generator over 20,000 events in one Records array."""
    import tracemalloc

    path = tmp_path / "big.json.gz"
    with gzip.open(path, "wt") as handle:
        handle.write('{"Records":[')
        handle.write(",".join(json.dumps(_event(i)) for i in range(20000)))
        handle.write("]}")
    tracemalloc.start()
    count = 0
    for item in read_events(path):
        count += isinstance(item, EventRecord)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 20000
    assert peak < 30 * 1024 * 1024  # the decoded file would be ~100 MB of Python objects


# --- properties ---------------------------------------------------------------------------

_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_params = st.dictionaries(
    st.sampled_from(["bucketName", "key", "prefix", "roleArn", "name"]), _text, max_size=3
)
_events_strategy = st.lists(
    st.builds(
        lambda i, code, name, params, region: _event(
            i, error_code=code, eventName=name, requestParameters=params, awsRegion=region
        ),
        st.integers(0, 10_000),
        st.sampled_from([None, "AccessDenied", "Client.UnauthorizedOperation", "NoSuchKey"]),
        st.sampled_from(["GetObject", "PutObject", "ListBuckets", "AssumeRole"]),
        _params,
        st.sampled_from(["us-east-1", "eu-west-1", "cn-north-1"]),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=_events_strategy)
def test_property_every_layout_yields_the_same_events(events):
    with tempfile.TemporaryDirectory() as directory:
        for layout in LAYOUTS:
            path = write(layout, events, Path(directory) / layout)
            items = list(read_events(path))
            assert _events(items) == events, layout
            assert not [i for i in items if isinstance(i, ReadProblem)], layout


@settings(max_examples=25, deadline=None)
@given(
    events=_events_strategy,
    cut=st.floats(0.05, 0.95),
    layout=st.sampled_from(LAYOUTS[:-2]),
    flip=st.booleans(),
)
def test_property_a_corrupted_file_never_aborts_the_others(events, cut, layout, flip):
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        bad = write(layout, events, root / "bad")
        data = bad.read_bytes()
        if flip:
            position = int(len(data) * cut)
            data = data[:position] + b"\x00}{" + data[position + 3 :]
        else:
            data = data[: int(len(data) * cut)]
        bad.write_bytes(data)
        good = write("records", events, root / "good")
        good_too = write("jsonl", events, root / "good2")
        items = list(read_events([bad, good, good_too]))
        tail = _events([i for i in items if i.source in (str(good), str(good_too))])
        assert tail == events + events
        for item in items:
            assert isinstance(item, EventRecord | ReadProblem)


def test_the_duplicates_warning_counts_in_words_that_agree():
    from analyzer.events.records import duplicates_warning

    assert duplicates_warning(1).startswith("1 denied event was read more than once")
    assert duplicates_warning(1200).startswith("1,200 denied events were read more than once")
    # One of them named, so its copies can be found.
    assert "(same eventID, e.g. ev-7: two trails" in duplicates_warning(2, "ev-7")


@pytest.mark.parametrize("resources", [123, True, 1.5, "arn:aws:s3:::b", {"ARN": "arn:aws:s3:::b"}])
def test_resources_that_are_no_list_read_as_none(resources, tmp_path):
    """A number or a boolean in ``resources`` ended analyze with a traceback and no output
    file (differential held-out probe); a string or an object was already read as none."""
    path = write("records", [_event(1), _event(1, resources=resources, eventID="odd")], tmp_path)
    mapped = list(denied_events(path))
    assert [type(item).__name__ for item in mapped] == ["DeniedEvent", "DeniedEvent"]
    assert mapped[1].actions == mapped[0].actions
