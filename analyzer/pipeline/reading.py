"""Denied events and policy changes out of CloudTrail logs: DuckDB over files, or Athena
over its table.

Both run ``sql/denials.sql`` (DuckDB the sqlglot transpilation, Athena the text
itself) and return the same Arrow tables: one row per denied event, flattened,
with the ``raw_key`` the mapping step dedupes on and the id of the call that created
its session when the scan read it (``session_event_id``), and in the same shape one row
per successful policy-change event and one per session-creating call that may have passed
session policies (``Scan``). Only those leave the scan, so everything
after it is proportional to denials and changes, not to events.

DuckDB reads S3-delivery ``{"Records": [...]}`` files (with any events appended to them)
and Athena-layout Parquet natively. Other accepted layouts (a single event, a JSON array, JSON Lines,
``lookup-events`` output) are first rewritten by the project's streaming
reader into a Records file. A file DuckDB cannot read (truncated gzip, not
CloudTrail) is found by probing the files one by one, reported, and left out;
the rest is still read. A record DuckDB cannot read (a field of another shape) is read
without that field, and Parquet files that store their columns differently are read a
kind at a time.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from analyzer.errors import PipelineError
from analyzer.events.fields import misshapen, optional_text
from analyzer.events.log_files import DELIVERY_NAME
from analyzer.pipeline import queries, schema
from analyzer.pipeline.settings import PipelineSettings
from analyzer.pipeline.storage import LogFiles, filesystem, list_logs

log = logging.getLogger(__name__)
_MAX_OBJECT = 1 << 30  # CloudTrail files can exceed DuckDB's 16 MB default per JSON value
_RECORDS_HEAD = b'{"Records"'


@dataclass
class ReadReport:
    """What reading found, for the run summary: files read, files skipped and why."""

    files: int = 0
    denials: int = 0
    changes: int = 0  # policy-change events read (before deduplication)
    sessions: int = 0  # session-creating calls read whose session policies matter
    duplicates: int = 0  # denied events read more than once (same eventID), kept once
    duplicate_example: str | None = None  # the least such eventID, for the warning
    problems: list[str] = field(default_factory=list)
    problem_files: set[str] = field(default_factory=set)  # the files ``problems`` name
    skipped: tuple[str, ...] = ()  # files named like logs left out for their names

    def of_file(self, path: str, problem: object) -> None:
        """A problem of the file at ``path`` (with one of its records, or the whole file)."""
        self.problems.append(str(problem))
        self.problem_files.add(path)


@dataclass(frozen=True)
class Scan:
    """What one scan of the logs returns: denials.sql's rows, split by ``row_kind``."""

    denials: pa.Table
    changes: pa.Table
    sessions: pa.Table
    report: ReadReport


def _once_per_event(denials: pa.Table) -> tuple[pa.Table, str | None]:
    """Each denied event once: the same eventID read twice is one event delivered to two
    trails (an organization trail and an account's own in one bucket) or a copied log file,
    and counting it twice would double its group's count. Rows without an eventID are kept.
    Also the least eventID read more than once (None when none was), for the warning."""
    ids = denials.column("event_id").combine_chunks()
    rows = pa.array(range(denials.num_rows), pa.int64())
    known = pc.is_valid(ids)
    if pc.count_distinct(ids).as_py() == pc.sum(known).as_py():
        return denials, None  # the usual case: nothing to drop
    # Which copy stays must not depend on the order DuckDB's threads read the files in: a
    # copy whose content differs (damaged or forged) would make reruns and runners disagree.
    # The copy whose columns sort first is kept.
    by_content = pc.sort_indices(denials, sort_keys=[(name, "ascending") for name in denials.column_names])
    keyed = pa.table({"event_id": ids.take(by_content), "rank": rows}).filter(known.take(by_content))
    grouped = keyed.group_by("event_id", use_threads=False).aggregate([("rank", "min"), ("rank", "count")])
    kept = by_content.take(grouped.column("rank_min").combine_chunks())
    keep = pa.concat_arrays([kept.cast(pa.int64()), rows.filter(pc.invert(known))])
    twice = grouped.filter(pc.greater(grouped.column("rank_count"), 1)).column("event_id")
    return denials.take(pc.take(keep, pc.sort_indices(keep))), pc.min(twice).as_py()  # in the order read


def _split(rows: pa.Table, report: ReadReport) -> Scan:
    kind = rows.column("row_kind")
    untimed = rows.filter(pc.equal(kind, "untimed"))
    for row in untimed.select(["event_id", "event_source", "event_name", "error_code"]).to_pylist():
        what = (
            "a denied event with no readable eventTime, left out (its day, and so its window, "
            "cannot be known)"
            if row["error_code"]
            else "a policy change with no readable eventTime, left out (when it took effect cannot be known)"
        )
        report.problems.append(
            f"eventID {row['event_id'] or '(none)'} ({row['event_source']} {row['event_name']}): {what}"
        )
    read = rows.filter(pc.equal(kind, "denial"))
    denials, report.duplicate_example = _once_per_event(read)
    report.duplicates = read.num_rows - denials.num_rows
    changes = rows.filter(pc.equal(kind, "change"))
    sessions = rows.filter(pc.equal(kind, "session"))
    report.denials, report.changes, report.sessions = denials.num_rows, changes.num_rows, sessions.num_rows
    return Scan(denials, changes, sessions, report)


def connect(settings: PipelineSettings) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that never downloads extensions and reads s3:// through s3fs."""
    connection = duckdb.connect()
    connection.execute("SET autoinstall_known_extensions = false")
    connection.execute("SET autoload_known_extensions = false")
    connection.execute("SET TimeZone = 'UTC'")
    # denials.sql's window over access keys (session_event_id): DuckDB 2.0 rewrites it as a
    # join of the filtered scan with an aggregate of a second scan, reading every log file
    # twice (EXPLAIN ANALYZE: two READ_PARQUET of 1M rows each; 2.0-3.3 s against 1.0-1.1 s
    # for the 1M benchmark's Parquet). The window over the rows the filter keeps is cheaper.
    optimizers = {row[0] for row in connection.execute("SELECT name FROM duckdb_optimizers()").fetchall()}
    if "window_self_join" in optimizers:
        connection.execute("SET disabled_optimizers = 'window_self_join'")
    if settings.logs.startswith("s3://"):
        import s3fs

        connection.register_filesystem(s3fs.S3FileSystem(**settings.s3_options()))
    return connection


def _sql_list(paths: tuple[str, ...] | list[str]) -> str:
    quoted = ", ".join("'" + path.replace("'", "''") + "'" for path in paths)
    return f"[{quoted}]"


def _json_source(paths: list[str]) -> str:
    return schema.json_view_sql(schema.json_records_sql(_sql_list(paths), _MAX_OBJECT))


def _parquet_source(connection: duckdb.DuckDBPyConnection, paths: list[str]) -> str:
    read = f"read_parquet({_sql_list(paths)}, union_by_name = true, hive_partitioning = false)"
    available = {
        row[0].lower(): row[1] for row in connection.execute(f"DESCRIBE SELECT * FROM {read}").fetchall()
    }
    return schema.parquet_view_sql(f"SELECT * FROM {read}", available)


def _is_records_file(settings: PipelineSettings, path: str) -> bool:
    """Whether DuckDB reads ``path`` as it is: a ``{"Records": [...]}`` file, told by its
    first bytes. On S3, CloudTrail's own delivery names are taken at their word, which
    saves a GET on each of thousands of objects (DuckDB reads events standing alone too, so
    JSON Lines or an array under such a name lose nothing); a local file is always looked
    at, which routes the layouts DuckDB does not read to the streaming reader."""
    if path.startswith("s3://") and DELIVERY_NAME.fullmatch(path.rsplit("/", 1)[-1]):
        return True
    fs, inner = filesystem(path, settings.s3_options())
    with fs.open(inner, "rb") as raw:
        head = raw.read(2)
    if (head == b"\x1f\x8b") != path.lower().endswith(".gz"):
        return False  # DuckDB tells compression by the name: the streaming reader sniffs it
    try:
        with fs.open(inner, "rb", compression="gzip" if head == b"\x1f\x8b" else None) as text:
            start = text.read(64).lstrip()
    except (OSError, EOFError, zlib.error):  # zlib's: damage in the first compressed block
        return True  # let DuckDB's probe report the damage
    return start.replace(b" ", b"").startswith(_RECORDS_HEAD)


def _rewrite_as_records(
    settings: PipelineSettings, paths: list[str], folder: Path, report: ReadReport
) -> list[str]:
    """Files DuckDB does not read as they are (other layouts, local or s3://; damaged
    files) -> one gzip Records file each, via the streaming reader, which keeps every
    event it can read and names what it could not."""
    from analyzer.events import ReadProblem, read_json_binary

    rewritten = []
    for path in paths:
        records = []
        problems = len(report.problems)
        fs, inner = filesystem(path, settings.s3_options())
        try:
            with fs.open(inner, "rb") as raw:
                for item in read_json_binary(path, raw):
                    if isinstance(item, ReadProblem):
                        report.of_file(path, item)
                        continue
                    event, dropped = misshapen(item.event)
                    event_id = optional_text(event.get("eventID"))
                    if dropped:  # one such value failed the whole file in DuckDB, and its retry
                        problem = f"{', '.join(dropped)} not as CloudTrail writes it; read without it"
                        report.of_file(path, ReadProblem(path, problem, item.index, event_id))
                    if deep := [name for name, value in event.items() if _depth(value) > _DEEPEST]:
                        problem = f"{', '.join(deep)} nested deeper than the scan reads; read without it"
                        report.of_file(path, ReadProblem(path, problem, item.index, event_id))
                        event = {name: value for name, value in event.items() if name not in deep}
                    records.append(event)
        except OSError as error:
            report.of_file(path, f"{path}: cannot open ({error})")
        if not records and len(report.problems) == problems:
            # CloudTrail delivers no empty file: an empty object is a failed upload or copy.
            report.of_file(path, f"{path}: empty, no CloudTrail event in it")
        if records:
            target = folder / f"rewritten-{len(list(folder.iterdir()))}.json.gz"
            text = json.dumps({"Records": records}, ensure_ascii=False)
            # A lone surrogate ("\ud800", valid JSON text, no character) made DuckDB refuse
            # the file, and its rewrite, failing the run: it becomes U+FFFD, as a UTF-8
            # decoder shows an invalid byte.
            with gzip.open(target, "wt", encoding="utf-8") as handle:
                handle.write(_LONE_SURROGATE.sub("\ufffd", text))
            rewritten.append(str(target))
    return rewritten


# DuckDB reads JSON up to 128 levels deep, the file's {"Records": [...]} and the record
# taking three of them; a deeper field failed the file and its rewrite, so the whole run.
_DEEPEST = 120
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _depth(value: object) -> int:
    """How deeply ``value`` nests objects and arrays (0 for a string or number)."""
    deepest, level = 0, [(value, 0)]
    while level:
        item, depth = level.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            level.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _probe(connection: duckdb.DuckDBPyConnection, source_sql: str) -> str | None:
    try:
        connection.execute(f"SELECT count(*) FROM ({source_sql})").fetchall()
    except duckdb.Error as error:
        return str(error).splitlines()[0]
    return None


class _Sources:
    """The files to read, split by how DuckDB reads them; what DuckDB cannot read is salvaged
    by the streaming reader, and only what that cannot read is dropped."""

    def __init__(self, settings: PipelineSettings, files: LogFiles, scratch: Path, report: ReadReport):
        records: list[str] = []
        others: list[str] = []
        for path in files.json:
            (records if _is_records_file(settings, path) else others).append(path)
        self._settings, self._scratch = settings, scratch
        self.json = records + _rewrite_as_records(settings, others, scratch, report)
        self.parquet = list(files.parquet)
        # Parquet files read together, by one read_parquet each: all at once, or, once that
        # has failed, the files that store their columns alike (``drop_unreadable``).
        self._parquet_groups: list[list[str]] | None = None

    def union_sql(self, connection: duckdb.DuckDBPyConnection) -> str:
        parts = []
        if self.json:
            parts.append(_json_source(self.json))
        for group in self._parquet_groups or ([self.parquet] if self.parquet else []):
            parts.append(_parquet_source(connection, group))
        return " UNION ALL ".join(f"({part})" for part in parts)

    def drop_unreadable(self, connection: duckdb.DuckDBPyConnection, report: ReadReport) -> None:
        for path in list(self.json):
            if _probe(connection, _json_source([path])):
                # The streaming reader keeps the events before the damage and names it.
                self.json.remove(path)
                self.json += _rewrite_as_records(self._settings, [path], self._scratch, report)
        for path in list(self.parquet):
            try:
                problem = _probe(connection, _parquet_source(connection, [path]))
            except duckdb.Error as error:
                problem = str(error).splitlines()[0]
            if problem:
                report.of_file(path, f"{path}: skipped, DuckDB cannot read it ({problem})")
                self.parquet.remove(path)
        # Files each readable alone may still fail together: one storing requestparameters
        # as text and another as a map<string,string> make one read_parquet cast one to the
        # other (held-out probe). Each way of storing the columns is read on its own.
        self._parquet_groups = _by_schema(self._settings, self.parquet)


def _by_schema(settings: PipelineSettings, paths: list[str]) -> list[list[str]]:
    """``paths`` grouped by their Parquet schema (names and types), in their order."""
    groups: dict[str, list[str]] = {}
    for path in paths:
        fs, inner = filesystem(path, settings.s3_options())
        with fs.open(inner, "rb") as handle:
            stored = pq.read_schema(handle)
        groups.setdefault(str(stored.remove_metadata()), []).append(path)
    return list(groups.values())


def _listed(settings: PipelineSettings, params: dict[str, str]) -> LogFiles:
    """The log files of the days the scan reads: the window's, and those up to the
    snapshot's time when the changes reach beyond the window, and those delivered up to
    ``queries.LATE_DELIVERY`` after that (a CloudTrail file is in its delivery day's folder)."""
    first, last = queries.scanned_days(params)
    since = first if settings.since is not None else None  # unbounded stays unbounded
    until = last + timedelta(days=1) if settings.until is not None else None
    delivered_by = queries.delivered_by(params) if settings.until is not None else None
    return list_logs(settings.logs, settings.s3_options(), since, until, delivered_by)


def read_denials_duckdb(
    connection: duckdb.DuckDBPyConnection,
    settings: PipelineSettings,
    snapshots_collected: Sequence[datetime] = (),
) -> Scan:
    """Denials of the window, policy changes reaching the snapshots' ``collectedAt`` (see
    ``queries.time_window``) and the calls that created the denials' sessions with
    session policies, in one scan."""
    params = queries.time_window(settings.since, settings.until, snapshots_collected)
    files = _listed(settings, params)
    report = ReadReport(files=files.count, skipped=files.skipped)
    if files.count == 0:
        raise PipelineError(
            f"{settings.logs}: no CloudTrail log files"
            + (" in the requested days" if settings.since or settings.until else "")
        )
    with tempfile.TemporaryDirectory(prefix="access-undenied-") as scratch:
        sources = _Sources(settings, files, Path(scratch), report)
        for attempt in range(2):
            if not sources.json and not sources.parquet:
                raise PipelineError(
                    f"{settings.logs}: no readable CloudTrail log file ({'; '.join(report.problems[:3])})"
                )
            try:
                view = sources.union_sql(connection)
                connection.execute(f"CREATE OR REPLACE TEMP VIEW cloudtrail AS {view}")
                table = connection.sql(queries.duckdb_sql("denials"), params=params).to_arrow_table()
                break
            except (duckdb.OutOfMemoryException, duckdb.InterruptException):
                raise  # not the files' fault: probing each one would only repeat it, slowly
            except duckdb.Error:
                if attempt:
                    raise
                log.info("reading the logs failed; probing each file to find the bad ones")
                sources.drop_unreadable(connection, report)
    return _split(table, report)


def read_denials_athena(settings: PipelineSettings, snapshots_collected: Sequence[datetime] = ()) -> Scan:
    """Run denials.sql on Athena (pyathena) and return its rows as Arrow."""
    from pyathena import connect as athena_connect
    from pyathena.error import Error as AthenaError

    params = queries.time_window(settings.since, settings.until, snapshots_collected)
    sql = queries.athena_with_literals("denials", params)
    if settings.athena.table != "cloudtrail":
        import sqlglot
        from sqlglot import exp

        tree = sqlglot.parse_one(sql, read=queries.READ_DIALECT)
        for table in tree.find_all(exp.Table):
            if table.name == "cloudtrail":
                table.set("this", exp.to_identifier(settings.athena.table))
        sql = tree.sql(dialect=queries.READ_DIALECT)
    try:
        cursor = athena_connect(**settings.athena.connect_kwargs(settings.profile)).cursor()
        cursor.execute(sql)
        names = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    except AthenaError as error:
        raise PipelineError(f"Athena query failed: {error}") from None
    table = pa.Table.from_pylist(
        [dict(zip(names, row, strict=True)) for row in rows],
        schema=pa.schema([(name, pa.string()) for name in names]),
    )
    return _split(table, ReadReport())
