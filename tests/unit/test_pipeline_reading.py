"""The scan's failures: a damaged file is probed out and named; a failure that is not a file's
(DuckDB out of memory) ends the scan at once instead of blaming, and slowly re-reading,
every file."""

from __future__ import annotations

import gzip
import json
import logging
from datetime import date

import duckdb
import pytest
from cloudtrail_formats import LAYOUTS, write

from analyzer.errors import PipelineError
from analyzer.events import ReadProblem, read_events
from analyzer.pipeline.reading import connect, read_denials_duckdb
from analyzer.pipeline.settings import PipelineSettings

EVENT = {
    "eventVersion": "1.10",
    "eventTime": "2026-11-24T10:00:00Z",
    "eventID": "ev-1",
    "eventSource": "s3.amazonaws.com",
    "eventName": "GetObject",
    "errorCode": "AccessDenied",
    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111111111111:user/a", "accountId": "1111"},
}


def test_out_of_memory_is_not_blamed_on_the_files(tmp_path, caplog):
    settings = PipelineSettings(logs=str(write("records_gz", [EVENT], tmp_path)), snapshot="x", out="x")
    connection = connect(settings)
    connection.execute("SET memory_limit = '1MB'")
    with caplog.at_level(logging.INFO), pytest.raises(duckdb.OutOfMemoryException):
        read_denials_duckdb(connection, settings)
    assert "probing each file" not in caplog.text
    connection.execute("RESET memory_limit")
    assert read_denials_duckdb(connection, settings).denials.column("event_id").to_pylist() == ["ev-1"]


def test_an_event_read_twice_is_one_denial_and_events_without_an_id_all_count(tmp_path):
    anonymous = {key: value for key, value in EVENT.items() if key != "eventID"}
    second = {**EVENT, "eventID": "ev-2"}
    events = [EVENT, second, anonymous, EVENT, anonymous, second]
    settings = PipelineSettings(logs=str(write("records_gz", events, tmp_path)), snapshot="x", out="x")
    scan = read_denials_duckdb(connect(settings), settings)
    assert scan.denials.column("event_id").to_pylist() == ["ev-1", "ev-2", None, None]
    assert (scan.report.duplicates, scan.report.duplicate_example) == (2, "ev-1")


def test_which_copy_of_an_event_id_is_kept_does_not_depend_on_the_order_read(tmp_path):
    """Two copies of one eventID whose content differs (a damaged or forged copy): DuckDB's
    threads read files in no fixed order, so keeping the first read made reruns and runners
    keep different copies (found by a held-out probe). The same copy is kept either way."""
    first = {**EVENT, "userAgent": "copy-a", "requestParameters": {"bucketName": "a", "key": "1"}}
    second = {**EVENT, "userAgent": "copy-b", "requestParameters": {"bucketName": "b", "key": "2"}}
    kept = []
    for name, events in (("ab", [first, second]), ("ba", [second, first])):
        logs = write("records_gz", events, tmp_path / name)
        settings = PipelineSettings(logs=str(logs), snapshot="x", out="x")
        scan = read_denials_duckdb(connect(settings), settings)
        assert scan.report.duplicates == 1
        kept.append(scan.denials.column("user_agent").to_pylist())
    assert kept[0] == kept[1] and len(kept[0]) == 1


def test_an_empty_log_file_is_named_not_silently_read_as_nothing(tmp_path):
    logs = write("records_gz", [EVENT], tmp_path / "logs")
    empty = logs.parent / "empty.json.gz" if logs.is_file() else logs / "empty.json.gz"
    empty.write_bytes(b"")
    settings = PipelineSettings(logs=str(tmp_path / "logs"), snapshot="x", out="x")
    scan = read_denials_duckdb(connect(settings), settings)
    assert scan.denials.column("event_id").to_pylist() == ["ev-1"]
    assert scan.report.problems == [f"{empty}: empty, no CloudTrail event in it"]
    # Alone, it is what the run's one-line error names.
    empty.rename(tmp_path / "alone.json.gz")
    alone = PipelineSettings(logs=str(tmp_path / "alone.json.gz"), snapshot="x", out="x")
    with pytest.raises(PipelineError, match=r"alone\.json\.gz: empty"):
        read_denials_duckdb(connect(alone), alone)


def _delivered(root, day: str, stamp: str, events: list[dict], lines: bool = False):
    """A file as CloudTrail delivers it: under its delivery day, named for its delivery time."""
    folder = root / "AWSLogs/111111111111/CloudTrail/us-east-1" / day
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"111111111111_CloudTrail_us-east-1_{stamp}Z_{stamp.lower()}.json.gz"
    text = "".join(json.dumps(e) + "\n" for e in events) if lines else json.dumps({"Records": events})
    path.write_bytes(gzip.compress(text.encode()))
    return path


def test_a_denial_delivered_after_midnight_is_read_by_its_days_window(tmp_path):
    """CloudTrail files a log under its delivery day: a denial at 23:58 is in the next day's
    folder. The run for its day read only its day's folder, the next day's run left it out
    as outside its window: read by neither (found by two held-out probes)."""
    late = {**EVENT, "eventID": "late", "eventTime": "2026-11-24T23:58:30Z"}
    _delivered(tmp_path, "2026/11/24", "20261124T1005", [EVENT])
    _delivered(
        tmp_path,
        "2026/11/25",
        "20261125T0005",
        [late, {**late, "eventID": "next", "eventTime": "2026-11-25T00:01:00Z"}],
    )
    # Delivered hours later: not listed (its denials are the next night's).
    hours_later = _delivered(tmp_path, "2026/11/25", "20261125T0300", [{**late, "eventID": "x"}])
    settings = PipelineSettings(
        logs=str(tmp_path), snapshot="x", out="x", since=date(2026, 11, 24), until=date(2026, 11, 25)
    )
    scan = read_denials_duckdb(connect(settings), settings)
    assert sorted(scan.denials.column("event_id").to_pylist()) == ["ev-1", "late"]
    assert scan.report.files == 2 and str(hours_later) not in str(scan.report)
    following = PipelineSettings(
        logs=str(tmp_path), snapshot="x", out="x", since=date(2026, 11, 25), until=date(2026, 11, 26)
    )
    assert read_denials_duckdb(connect(following), following).denials.column("event_id").to_pylist() == [
        "next"
    ]


def test_a_local_file_under_a_delivery_name_is_read_whatever_its_layout(tmp_path):
    """A delivery-named file holding JSON Lines (a copy re-compressed by hand) read as a
    Records file gave no event and no warning (found by a held-out probe)."""
    _delivered(tmp_path, "2026/11/24", "20261124T1005", [EVENT, {**EVENT, "eventID": "ev-2"}], lines=True)
    settings = PipelineSettings(logs=str(tmp_path), snapshot="x", out="x")
    scan = read_denials_duckdb(connect(settings), settings)
    assert sorted(scan.denials.column("event_id").to_pylist()) == ["ev-1", "ev-2"]


def test_events_appended_after_a_records_object_are_read(tmp_path):
    """A Records file with events appended as JSON Lines (``analyze`` reads all three): the
    scan read it as a Records file and lost the appended events, silently."""
    records = json.dumps({"Records": [EVENT]})
    appended = [{**EVENT, "eventID": "ev-2"}, {**EVENT, "eventID": "ev-3"}]
    (tmp_path / "appended.json").write_text(records + "\n" + "".join(json.dumps(e) + "\n" for e in appended))
    settings = PipelineSettings(logs=str(tmp_path), snapshot="x", out="x")
    scan = read_denials_duckdb(connect(settings), settings)
    assert sorted(scan.denials.column("event_id").to_pylist()) == ["ev-1", "ev-2", "ev-3"]
    assert scan.report.problems == []


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_scan_reads_every_layout_as_analyze_does(layout, tmp_path):
    """EventBridge events inside a Records file were read by ``analyze`` only: the scan took
    the file as CloudTrail's own, found no eventName in its records and lost them, silently."""
    events = [{**EVENT, "eventID": f"ev-{index}"} for index in range(4)]
    path = write(layout, events, tmp_path / "logs")
    analyzed = [item.event["eventID"] for item in read_events(path) if not isinstance(item, ReadProblem)]
    settings = PipelineSettings(logs=str(path), snapshot="x", out="x")
    scan = read_denials_duckdb(connect(settings), settings)
    expected = [event["eventID"] for event in events]
    assert sorted(scan.denials.column("event_id").to_pylist()) == sorted(analyzed) == expected
    assert scan.report.problems == []


def test_a_field_of_the_wrong_shape_costs_that_field_not_the_run(tmp_path):
    """One record whose ``resources`` is an object (or ``userIdentity`` a string) failed
    DuckDB's read of its file, then the retry of the rewritten file, and so the whole run:
    0 of 6 denials (found by a held-out probe). It is read without that field, said in one
    line naming file, record and eventID; the other events are all read."""
    bad = {**EVENT, "eventID": "ev-bad", "resources": {"ARN": "arn:aws:s3:::b"}}
    stranger = {**EVENT, "eventID": "ev-str", "userIdentity": "arn:aws:iam::111111111111:user/a"}
    path = _delivered(tmp_path, "2026/11/24", "20261124T1005", [EVENT, bad, stranger])
    _delivered(tmp_path, "2026/11/24", "20261124T1010", [{**EVENT, "eventID": "ev-2"}])
    settings = PipelineSettings(logs=str(tmp_path), snapshot="x", out="x")
    scan = read_denials_duckdb(connect(settings), settings)
    assert sorted(scan.denials.column("event_id").to_pylist()) == ["ev-1", "ev-2", "ev-bad", "ev-str"]
    assert scan.report.problems == [
        f"{path}: record 1 (eventID ev-bad): resources not as CloudTrail writes it; read without it",
        f"{path}: record 2 (eventID ev-str): userIdentity not as CloudTrail writes it; read without it",
    ]


def test_event_times_written_otherwise_are_compared_as_utc_and_fail_nothing(tmp_path):
    """The scan compares times as text, like Athena's string column. A time with an offset
    was put on the wrong day of a window, and a lower-case ``t``/``z`` (valid RFC 3339) or
    an impossible date failed the whole run where the denials table converts it, losing
    every other denial (held-out probe)."""
    events = [
        {**EVENT, "eventID": "offset", "eventTime": "2026-11-23T20:30:00-05:00"},  # 24th, 01:30 UTC
        {**EVENT, "eventID": "lower", "eventTime": "2026-11-24t12:00:00z"},
        {**EVENT, "eventID": "fraction", "eventTime": "2026-11-24T12:00:00.250Z"},
        {**EVENT, "eventID": "impossible", "eventTime": "2026-13-45T00:00:00Z"},
        EVENT,
        {**EVENT, "eventID": "allowed", "eventTime": None, "errorCode": None},
    ]
    _delivered(tmp_path, "2026/11/24", "20261124T1205", events)
    settings = PipelineSettings(
        logs=str(tmp_path), snapshot="x", out="x", since=date(2026, 11, 24), until=date(2026, 11, 25)
    )
    scan = read_denials_duckdb(connect(settings), settings)
    assert {row["event_id"]: row["event_time"] for row in scan.denials.to_pylist()} == {
        "offset": "2026-11-24T01:30:00Z",
        "lower": "2026-11-24T12:00:00Z",
        "fraction": "2026-11-24T12:00:00Z",
        "ev-1": "2026-11-24T10:00:00Z",
    }
    # One that is no time cannot be put in any window: named, not silently left out.
    assert scan.report.problems == [
        "eventID impossible (s3.amazonaws.com GetObject): a denied event with no readable "
        "eventTime, left out (its day, and so its window, cannot be known)"
    ]


def test_a_lone_surrogate_or_a_deep_value_costs_no_other_event(tmp_path):
    """A lone surrogate escape ("\\ud800": valid JSON, no character) or a value nested 200
    deep (DuckDB reads 128 levels) made DuckDB refuse the file, then its rewrite, and so the
    whole run (differential held-out probe). The rewrite writes the surrogate as U+FFFD and
    drops the too-deep field, saying so."""
    deep: dict = {}
    for _ in range(200):
        deep = {"a": deep}
    odd = {**EVENT, "eventID": "surrogate", "userAgent": "aws-cli \ud800"}
    nested = {**EVENT, "eventID": "deep", "requestParameters": deep}
    path = _delivered(tmp_path, "2026/11/24", "20261124T1005", [EVENT, odd, nested])
    _delivered(tmp_path, "2026/11/24", "20261124T1010", [{**EVENT, "eventID": "ev-2"}])
    settings = PipelineSettings(logs=str(tmp_path), snapshot="x", out="x")
    scan = read_denials_duckdb(connect(settings), settings)
    rows = {row["event_id"]: row for row in scan.denials.to_pylist()}
    assert sorted(rows) == ["deep", "ev-1", "ev-2", "surrogate"]
    assert rows["surrogate"]["user_agent"] == "aws-cli \ufffd"
    assert scan.report.problems == [
        f"{path}: record 2 (eventID deep): requestParameters nested deeper than the scan reads; "
        "read without it"
    ]


def test_a_run_without_a_window_reads_every_time(tmp_path):
    """Without --since/--until the scan read 1970 to tomorrow, and left out unsaid a denial
    dated otherwise (a wrong clock, a forged or copied record), which analyze explains
    (differential held-out probe)."""
    events = [
        EVENT,
        *({**EVENT, "eventID": year, "eventTime": f"{year}-06-01T00:00:00Z"} for year in ("1969", "2099")),
    ]
    _delivered(tmp_path, "2026/11/24", "20261124T1005", events)
    settings = PipelineSettings(logs=str(tmp_path), snapshot="x", out="x")
    scan = read_denials_duckdb(connect(settings), settings)
    assert sorted(scan.denials.column("event_id").to_pylist()) == ["1969", "2099", "ev-1"]


def test_a_gzip_damaged_in_its_first_block_is_named_and_the_rest_read(tmp_path):
    """Bytes flipped early in a .json.gz made the file sniffing raise zlib's own error,
    which failed the whole run without naming the file (held-out probe)."""
    write("records", [EVENT], tmp_path / "logs")
    data = bytearray(gzip.compress(json.dumps({"Records": [{**EVENT, "eventID": "ev-2"}] * 50}).encode()))
    data[12:40] = bytes(b ^ 0xFF for b in data[12:40])
    damaged = tmp_path / "logs" / "111111111111_CloudTrail_us-east-1_20261124T1005Z_bitrot.json.gz"
    damaged.write_bytes(bytes(data))
    settings = PipelineSettings(logs=str(tmp_path / "logs"), snapshot="x", out="x")
    scan = read_denials_duckdb(connect(settings), settings)
    assert scan.denials.column("event_id").to_pylist() == ["ev-1"]
    assert [problem for problem in scan.report.problems if str(damaged) in problem], scan.report.problems


@pytest.mark.parametrize("window", [False, True])
def test_a_linked_folder_is_read_once_even_when_it_links_back(tmp_path, window):
    """A symbolic link to a folder was opened as a file, failing the run (and ``analyze``
    skipped it without a word); a link back up the tree must not make the walk endless."""
    logs = tmp_path / "logs"
    write("records", [EVENT], logs)
    elsewhere = tmp_path / "elsewhere"
    write("records", [{**EVENT, "eventID": "ev-2"}], elsewhere)
    (logs / "linked").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "back-up").symlink_to(logs, target_is_directory=True)
    since = {"since": date(2026, 11, 24), "until": date(2026, 11, 25)} if window else {}
    settings = PipelineSettings(logs=str(logs), snapshot="x", out="x", **since)
    scan = read_denials_duckdb(connect(settings), settings)
    assert sorted(scan.denials.column("event_id").to_pylist()) == ["ev-1", "ev-2"]
    analyzed = [item.event["eventID"] for item in read_events(logs) if not isinstance(item, ReadProblem)]
    assert sorted(analyzed) == ["ev-1", "ev-2"]


def test_the_scan_reads_the_logs_once(tmp_path):
    """DuckDB 2.0 turned the window that finds a denial's session into a join with a second
    scan of every Parquet log file, doubling the read (measured on the 1M benchmark)."""
    from analyzer.pipeline import queries

    settings = PipelineSettings(logs=str(write("parquet", [EVENT], tmp_path / "logs")), snapshot="x", out="x")
    connection = connect(settings)
    read_denials_duckdb(connection, settings)  # leaves its `cloudtrail` view on the connection
    params = queries.time_window(None, None, ())
    explained = connection.execute("EXPLAIN " + queries.duckdb_sql("denials"), params).fetchall()
    plan = "\n".join(row[1] for row in explained)
    assert plan.count("READ_PARQUET") == 1, plan
