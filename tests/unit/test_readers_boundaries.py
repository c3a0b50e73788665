"""The JSON readers lose no valid input, wherever the read boundaries fall.

The streaming reader decodes one value at a time from a window that it refills
chunk by chunk, so a chunk boundary can cut a value anywhere: inside ``false``,
an escape, a surrogate pair, an exponent. These tests cut valid files at every
position and with tiny chunk sizes, and compare with ``json.loads`` of the whole
text; and they check that a record that really is broken costs only itself,
naming its eventID.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.events import EventRecord, ReadProblem, read_events, read_json_stream

DATA = Path(__file__).resolve().parents[1] / "data"


class _Pieces(io.RawIOBase):
    """A byte stream that hands its data over in the given pieces, never across a cut."""

    def __init__(self, data: bytes, cuts: list[int]) -> None:
        self._data = data
        self._cuts = sorted({c for c in cuts if 0 < c < len(data)} | {len(data)})
        self._pos = 0

    def read1(self, size: int = -1) -> bytes:
        if self._pos >= len(self._data):
            return b""
        stop = next(c for c in self._cuts if c > self._pos)
        if size > 0:
            stop = min(stop, self._pos + size)
        piece = self._data[self._pos : stop]
        self._pos = stop
        return piece


def _event(index: int, **extra) -> dict:
    event = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "accountId": "111111111111",
            "arn": "arn:aws:iam::111111111111:user/alice",
        },
        "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "errorCode": "AccessDenied",
        "readOnly": True,
        "managementEvent": False,
        "requestParameters": None,
        "additionalEventData": {"bytesTransferredIn": 0, "ratio": -1.25e-7, "big": 12345678901234567890},
        "eventID": f"id-{index}",
    }
    event.update(extra)
    return event


def _layout_text(layout: str, events: list[dict], ascii_only: bool) -> str:
    def dump(value, **kw) -> str:
        return json.dumps(value, ensure_ascii=ascii_only, **kw)

    if layout == "records":
        return dump({"Records": events})
    if layout == "records_pretty":
        return dump({"Records": events}, indent=2)
    if layout == "array":
        return dump(events, indent=1)
    if layout == "lookup":
        return dump(
            {
                "Events": [{"EventId": e["eventID"], "CloudTrailEvent": dump(e)} for e in events],
                "NextToken": "t",
            }
        )
    if layout == "jsonl":
        return "".join(dump(e) + "\n" for e in events)
    if layout == "single":
        return dump(events[0], indent=2)
    raise ValueError(layout)


def _read(data: bytes, cuts: list[int], chunk: int) -> tuple[list[dict], list[ReadProblem]]:
    items = list(read_json_stream("f.json", _Pieces(data, cuts), chunk))
    return (
        [i.event for i in items if isinstance(i, EventRecord)],
        [i for i in items if isinstance(i, ReadProblem)],
    )


_LAYOUTS = ("records", "records_pretty", "array", "lookup", "jsonl", "single")
# Strings full of what a boundary can cut: escapes, astral characters (a surrogate
# pair when written as ASCII), quotes and backslashes.
_tricky_text = st.text(alphabet=st.sampled_from(list('ab"\\/\n\t\u00e9\u2028\U0001f600\x01 ')), max_size=10)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    _tricky_text,
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
)
_events = st.lists(
    st.builds(
        lambda i, params: _event(i, requestParameters=params),
        st.integers(0, 999),
        st.dictionaries(st.sampled_from(["key", "n", "flag", "x"]), _scalars, max_size=4),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=_events,
    layout=st.sampled_from(_LAYOUTS),
    ascii_only=st.booleans(),
    chunk=st.integers(1, 9),
    cuts=st.lists(st.integers(0, 4000), max_size=6),
)
def test_property_any_split_reads_what_json_loads_reads(events, layout, ascii_only, chunk, cuts):
    events = events[:1] if layout == "single" else events
    text = _layout_text(layout, events, ascii_only)
    got, problems = _read(text.encode(), cuts, chunk)
    assert problems == []
    assert got == events


@pytest.mark.parametrize("layout", _LAYOUTS)
def test_a_cut_at_every_position_loses_nothing(layout):
    events = [
        _event(0, requestParameters={"key": 'caf\u00e9 \U0001f600 "q" \\', "n": -0.5e3}),
        _event(1, requestParameters={"flag": False, "none": None}),
    ][: 1 if layout == "single" else 2]
    for ascii_only in (True, False):
        data = _layout_text(layout, events, ascii_only).encode()
        for cut in range(1, len(data)):
            got, problems = _read(data, [cut], chunk=1 << 20)
            assert (got, problems) == (events, []), (layout, ascii_only, cut, data[cut - 8 : cut + 8])


def _padded_to_cross_boundaries(count: int, boundary: int = 1 << 20) -> tuple[str, list[dict]]:
    """A Records text of ``count`` events where a ``false`` literal straddles every
    multiple of ``boundary`` bytes (the reader's default chunk size)."""
    parts, events, size = ['{"Records":['], [], len('{"Records":[')
    for index in range(count):
        # "pad" comes first, so lengthening it moves the "false" after it
        event = {"pad": "", **_event(index, errorCode="AccessDenied" if index % 3 else None)}
        separator = "," if events else ""
        text = separator + json.dumps(event)
        next_boundary = (size // boundary + 1) * boundary
        if size + len(text) + 4096 > next_boundary:
            literal = text.index("false") + 2  # the boundary falls after "fa"
            pad = next_boundary - size - literal
            if pad >= 0:
                event["pad"] = "x" * pad
                text = separator + json.dumps(event)
                assert (size + text.index("false") + 2) == next_boundary
        events.append(event)
        parts.append(text)
        size += len(text)
    parts.append("]}")
    return "".join(parts), events


def test_multi_megabyte_files_with_a_literal_across_every_mebibyte_boundary(tmp_path):
    text, events = _padded_to_cross_boundaries(9000)
    assert len(text) > 4 << 20
    expected = json.loads(text)["Records"]
    lines = "".join(json.dumps(e) + "\n" for e in events)
    files = {
        "records.json": text.encode(),
        "records.json.gz": gzip.compress(text.encode()),
        "events.jsonl": lines.encode(),
        "events.jsonl.gz": gzip.compress(lines.encode()),
        "array.json": json.dumps(events).encode(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    items = list(read_events(sorted(tmp_path.iterdir())))
    assert [i for i in items if isinstance(i, ReadProblem)] == []
    by_file = {name: [i.event for i in items if i.source.endswith("/" + name)] for name in files}
    for name in files:
        assert by_file[name] == expected, name
    denials = [i for i in items if isinstance(i, EventRecord) and i.is_denial]
    assert len(denials) == len(files) * sum(1 for e in events if e["errorCode"])


# --- broken records cost only themselves --------------------------------------------------


def test_a_broken_record_in_an_array_costs_only_itself_and_names_its_event_id():
    good = [_event(i) for i in range(5)]
    text = json.dumps({"Records": good})
    broken = text.replace(
        '"readOnly": true, "managementEvent": false, "requestParameters": null, '
        '"additionalEventData": {"bytesTransferredIn": 0, "ratio": -1.25e-07, '
        '"big": 12345678901234567890}, "eventID": "id-2"',
        '"readOnly": tru, "managementEvent": false, "requestParameters": null, '
        '"additionalEventData": {"bytesTransferredIn": 0, "ratio": -1.25e-07, '
        '"big": 12345678901234567890}, "eventID": "id-2"',
    )
    assert broken != text
    for chunk in (7, 1 << 20):
        got, problems = _read(broken.encode(), [], chunk)
        assert [e["eventID"] for e in got] == ["id-0", "id-1", "id-3", "id-4"]
        (problem,) = problems
        assert (problem.index, problem.event_id) == (2, "id-2")
        assert str(problem).startswith("f.json: record 2 (eventID id-2): invalid JSON")
        assert "rest of the file" not in problem.message


def test_unbalanced_brackets_end_the_file_with_one_problem():
    broken = (
        '{"Records": ['
        + json.dumps(_event(0))
        + ', {"eventVersion": [1, 2, "eventID": "id-1"}, '
        + json.dumps(_event(2))
        + "]}"
    )
    got, problems = _read(broken.encode(), [], 1 << 20)
    assert [e["eventID"] for e in got] == ["id-0"]
    assert len(problems) == 1 and "rest of the file is skipped" in problems[0].message


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_a_records_file_cut_short_is_one_problem(cut):
    """A file cut in the middle of its Records array: the events before the cut, and one
    problem saying the rest is skipped — not a second one for the object the cut left
    unclosed (found by a held-out reader probe)."""
    whole = json.dumps({"Records": [_event(i) for i in range(10)]})
    got, problems = _read(whole[: int(len(whole) * cut)].encode(), [], 1 << 20)
    assert len(got) >= 4
    assert len(problems) == 1 and problems[0].message.endswith("; the rest of the file is skipped")


def test_a_json_line_cut_short_says_so():
    """A line cut inside a string reaches the newline: Python calls that an "Invalid
    control character at" (its position is the reader's, not the file's); said as what it
    is, and the next line is still read."""
    line = json.dumps({"eventID": "id-1", **_event(1)})
    text = "\n".join([json.dumps(_event(0)), line[: line.index('"eventSource"') + 8], json.dumps(_event(2))])
    got, problems = _read(text.encode(), [], 1 << 20)
    assert [e["eventID"] for e in got] == ["id-0", "id-2"]
    assert [(p.index, p.event_id, p.message) for p in problems] == [
        (1, "id-1", "invalid JSON (a string runs past the end of its line: the line was cut short)")
    ]


def test_a_bad_json_line_and_a_non_event_name_their_event_ids():
    lines = [
        json.dumps(_event(0)),
        '{"eventID": "id-1", "eventSource": "s3.amazonaws.com", "eventName": nul}',
        json.dumps({"eventID": "id-2", "hello": "world"}),
        json.dumps(_event(3)),
    ]
    got, problems = _read("\n".join(lines).encode(), [], 5)
    assert [e["eventID"] for e in got] == ["id-0", "id-3"]
    assert [(p.index, p.event_id) for p in problems] == [(1, "id-1"), (2, "id-2")]
    assert "record 2 (eventID id-2): not a CloudTrail event" in str(problems[1])


def test_a_100000_deep_array_is_one_problem_not_a_crash(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    deep_line = tmp_path / "deep.jsonl"
    deep_line.write_text('{"a":' + "[" * 100_000 + "]" * 100_000 + "}\n" + json.dumps(_event(7)) + "\n")
    items = list(read_events([deep, deep_line]))
    problems = [i for i in items if isinstance(i, ReadProblem)]
    assert [p.source for p in problems] == [str(deep), str(deep_line)]
    assert all("nested too deeply" in p.message for p in problems)
    assert [i.event["eventID"] for i in items if isinstance(i, EventRecord)] == ["id-7"]


def test_analyze_names_the_skipped_event_ids_and_explains_the_rest(tmp_path):
    from analyzer.cli import main

    source = json.loads((DATA / "analyze" / "events.json").read_text())
    records = source["Records"] if isinstance(source, dict) else source
    first = next(r for r in records if r.get("errorCode"))
    mixed = [first, {"eventID": "not-an-event-7", "hello": 1}, {**first, "eventID": "another-denial"}]
    text = json.dumps({"Records": mixed})
    events_file = tmp_path / "mixed.json"
    events_file.write_text(text)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["analyze", "--events-file", str(events_file), "--snapshot", str(DATA / "analyze" / "snapshot.json")],
    )
    assert result.exit_code == 1, result.output  # the rest is explained, but input was bad
    assert "record 1 (eventID not-an-event-7)" in result.stderr
    assert len(json.loads(result.stdout)) == 2
    result = runner.invoke(
        main, ["analyze", "--events-file", str(deep), "--snapshot", str(DATA / "analyze" / "snapshot.json")]
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "nested too deeply" in result.stderr
