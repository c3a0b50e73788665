"""The pipeline's stages, as plain functions the Prefect tasks in ``flows/`` call.

read denials and policy changes (one scan, DuckDB or Athena) -> group (samples, mapping,
groups in SQL; the changes recognised) -> analyse batches (``work.analyze_batch``, fanned
out) -> write tables.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from analyzer.errors import PipelineError
from analyzer.events.context import parse_time
from analyzer.events.log_files import skipped_warning
from analyzer.events.records import duplicates_warning
from analyzer.pipeline import batches as batch_files
from analyzer.pipeline import changes as run_changes
from analyzer.pipeline import grouping, queries, tables
from analyzer.pipeline import regions as run_regions
from analyzer.pipeline import sessions as run_sessions
from analyzer.pipeline.batches import BatchRef, BatchResult
from analyzer.pipeline.changes import ChangesRef
from analyzer.pipeline.reading import ReadReport, connect, read_denials_athena, read_denials_duckdb
from analyzer.pipeline.settings import PipelineSettings
from analyzer.pipeline.snapshots import read_snapshot
from analyzer.pipeline.storage import filesystem, write_atomically
from analyzer.pipeline.work import BACKLOG_COLUMNS, backlog_rows, load_snapshot_once

if TYPE_CHECKING:
    from analyzer.suppressions import Suppressions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotInfo:
    """The snapshot's content hash and when it was collected (``collectedAt``, ISO text),
    and each earlier snapshot's location, content hash and ``collectedAt``."""

    snapshot_id: str
    collected_at: str | None = None
    earlier: tuple[tuple[str, str, str | None], ...] = ()

    def __post_init__(self) -> None:
        # The snapshot-info task's result is persisted as JSON: lists come back.
        object.__setattr__(self, "earlier", tuple(tuple(item) for item in self.earlier))

    @property
    def collected(self) -> datetime | None:
        return parse_time(self.collected_at)

    def collected_times(self) -> list[datetime]:
        """When every snapshot was collected: the scan reads the changes up to each."""
        times = [self.collected, *(parse_time(collected) for _, _, collected in self.earlier)]
        return [moment for moment in times if moment is not None]

    @property
    def earlier_refs(self) -> tuple[tuple[str, str], ...]:
        """The earlier snapshots as (location, content hash), as workers load them."""
        return tuple((location, snapshot_id) for location, snapshot_id, _ in self.earlier)


@dataclass(frozen=True)
class Denials:
    rows: pa.Table  # denials.sql's denial rows
    report: ReadReport
    changes: pa.Table | None = None  # its policy-change rows, in the same shape
    sessions: pa.Table | None = None  # its session-creating calls, in the same shape


@dataclass(frozen=True)
class Grouped:
    """The group stage's output, by reference: files under the run's work folder."""

    groups_uri: str  # the groups file (see ``batches``)
    batches: tuple[BatchRef, ...]
    denials_uri: str  # the denials/ rows, committed by ``write``
    denials: int
    changes: ChangesRef | None = None  # the run's policy changes (None: there were none)
    problems: tuple[str, ...] = ()  # change events that cannot be used, for the summary


@dataclass(frozen=True)
class Summary:
    run_date: str
    snapshot_id: str
    files: int  # log files the run listed and read, or tried to (its problem files too)
    denials: int
    groups: int
    by_result: dict[str, int]
    backlog_principals: int
    suppressed_groups: int
    outputs: list[str]
    changes: int = 0  # distinct policy changes read (up to the snapshot's time)
    root_causes: int = 0  # groups whose denial a logged change explains
    problems: list[str] = field(default_factory=list)  # one line each, naming its file or event
    problem_files: int = 0  # the log files ``problems`` name
    warnings: list[str] = field(default_factory=list)
    # Seconds per stage (scan, group, analyze, write), filled in by the flow.
    timings: dict[str, float] = field(default_factory=dict)

    def figures(self) -> tuple[tuple[str, str | int], ...]:
        """The run's figures, labelled, in the order the terminal and the flow's
        summary artifact show them."""
        return (
            ("snapshot", self.snapshot_id[:16]),
            ("log files", self._files()),
            ("denied events", self.denials),
            ("policy changes read", self.changes),
            ("distinct (principal, action, resource)", self.groups),
            ("groups a logged change explains", self.root_causes),
            ("principals in the backlog", self.backlog_principals),
            ("groups suppressed", self.suppressed_groups),
        )

    def _files(self) -> str | int:
        """The log files, and how many of them were left out or read in part: a file
        DuckDB and the streaming reader could not read, an empty one, one with damaged or
        non-CloudTrail records. Each problem is a warning of its own below the figures."""
        damaged = self.problem_files
        return f"{self.files:,}, {damaged:,} with problems (below)" if damaged else self.files


def warm_up(settings: PipelineSettings) -> None:
    """Pay the stages' one-time costs now: imports, SQL transpilation, the operation map.

    ``access-undenied run`` calls this while Prefect's temporary server boots, so
    these costs overlap with it instead of adding to the run.
    """
    from analyzer import actions

    for name in ("denials", "samples", "groups", "denials_table"):
        queries.duckdb_sql(name)
    actions.preload()
    pa.Table.from_pylist([], schema=grouping.MAPPING_SCHEMA)  # pyarrow imports pandas here
    if settings.uses_s3:
        import s3fs  # noqa: F401  (slow to import; reading and writing need it)


def snapshot_info(settings: PipelineSettings) -> SnapshotInfo:
    """Load the snapshot (and the earlier ones) once to validate them and learn their
    content hashes and times. Several snapshots are placed in time by ``collectedAt``,
    so each must have one."""
    info = []
    for location in (settings.snapshot, *settings.earlier_snapshots):
        snapshot = read_snapshot(location, settings.s3_options())
        collected = snapshot.collected_at if isinstance(snapshot.collected_at, str) else None
        if settings.earlier_snapshots and parse_time(collected) is None:
            raise PipelineError(
                f"{location}: has no collectedAt; with --earlier-snapshot every snapshot "
                "must say when it was collected, to be placed in time"
            )
        info.append((location, snapshot.snapshot_id, collected))
    (_, snapshot_id, collected), *earlier = info
    return SnapshotInfo(snapshot_id, collected, tuple(earlier))


def read_denials(settings: PipelineSettings, snapshots_collected: Sequence[datetime] = ()) -> Denials:
    """The window's denials and the policy changes reaching the snapshots' times
    (``SnapshotInfo.collected_times``, see ``queries.time_window``), in one scan of the logs."""
    if settings.source == "athena":
        scan = read_denials_athena(settings, snapshots_collected)
    else:
        connection = connect(settings)
        try:
            scan = read_denials_duckdb(connection, settings, snapshots_collected)
        finally:
            connection.close()
    return Denials(scan.denials, scan.report, scan.changes, scan.sessions)


def _local(denials: pa.Table) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("denial_rows", denials)
    return connection


def _annotated(
    groups: pa.Table, mapping: pa.Table, session_notes: dict[str, str], regions: dict[str, str]
) -> pa.Table:
    """Each group with which of its sample's requests it is, its note on other
    sessions' policies and its denials per region when it has several
    (``pipeline.regions``). The sample event itself (typed JSON) joins each group only as
    the groups file is written (``batches.write_groups``)."""
    index = {
        (raw_key, key): position
        for raw_key, key, position in zip(
            mapping.column("raw_key").to_pylist(),
            mapping.column("group_key").to_pylist(),
            mapping.column("action_index").to_pylist(),
            strict=True,
        )
    }
    samples = groups.column("sample_raw_key").to_pylist()
    keys = groups.column("group_key").to_pylist()
    return (
        groups.append_column(
            "action_index",
            pa.array([index.get(pair) for pair in zip(samples, keys, strict=True)], pa.int32()),
        )
        .append_column("session_note", pa.array([session_notes.get(key) for key in keys], pa.string()))
        .append_column("regions", pa.array([regions.get(key) for key in keys], pa.string()))
    )


def group(
    denials: Denials,
    settings: PipelineSettings,
    snapshot_id: str,
    earlier: tuple[tuple[str, str], ...] = (),
) -> Grouped:
    """Map each distinct raw_key once, count the (principal, action, resource) groups
    and write the groups file (cut into batches) and the denial rows to the work folder.
    Each sample says whether the scan read the call that created its session, and carries
    that session when its policies matter (``pipeline.sessions``). The policy changes are named from the run's
    snapshot (``snapshot_id``), the process's one copy the analysis uses too, and handed
    to the workers with the ``earlier`` snapshots (``SnapshotInfo.earlier_refs``)."""
    sessions = run_sessions.recognise(denials.sessions)
    connection = _local(denials.rows)
    try:
        mapped = grouping.map_samples(
            grouping.samples(connection),
            lambda event, creation_read: run_sessions.with_session(event, sessions, creation_read),
        )
        connection.register("denial_mapping", mapped.rows)
        groups = connection.sql(queries.duckdb_sql("groups")).to_arrow_table()
        session_notes = run_sessions.group_notes(connection, sessions, groups, mapped)
        regions = run_regions.counts(connection)
        denials_table = tables.to_table(
            "denials", connection.sql(queries.duckdb_sql("denials_table")).to_arrow_table()
        )
    finally:
        connection.close()
    groups = _annotated(
        groups.sort_by([("principal_arn", "ascending"), ("group_key", "ascending")]),
        mapped.rows,
        session_notes,
        regions,
    )
    options = settings.s3_options()
    size = batch_files.batch_size_for(groups.num_rows, settings.workers, settings.batch_size)
    groups_uri, refs = batch_files.write_groups(groups, mapped.texts, settings.out, size, options)
    name = groups_uri.rsplit("/", 1)[-1].replace("groups-", "denials-")
    denials_uri = write_atomically(
        batch_files.work_location(settings.out), name, tables.parquet_bytes(denials_table), options
    )
    changes: ChangesRef | None = None
    problems: list[str] = []
    if denials.changes is not None and denials.changes.num_rows:
        snapshot = load_snapshot_once(settings.snapshot, snapshot_id, s3_options_json(settings))
        recognised, problems = run_changes.recognise(denials.changes, snapshot)
        changes = run_changes.write_work_file(recognised, settings.out, options, earlier)
    return Grouped(groups_uri, refs, denials_uri, denials_table.num_rows, changes, tuple(problems))


def batches(grouped: Grouped) -> tuple[BatchRef, ...]:
    """The analysis batches: references into the groups file, a principal's groups together."""
    return grouped.batches


@dataclass
class _ReasonParts:
    """The analysis batches' reason parts, read one at a time as the reasons table is
    written, and what the write stage keeps of them: how many groups, how many the
    suppression ``rules`` suppress, and of the others only the columns the backlog reads,
    as Python values (whole rows, results and explanations, of 28,800 groups were about
    200 MB more at the end of a busy night)."""

    rules: Suppressions | None
    groups: int = 0
    suppressed: int = 0
    backlog_input: list[dict[str, Any]] = field(default_factory=list)

    def read(self, results: list[BatchResult], options: dict[str, Any]) -> Iterator[pa.Table]:
        for result in results:
            part = _read_parquet(result.part_uri, options)
            kept = self.rules.filter_arrow(part) if self.rules is not None else part
            self.groups += part.num_rows
            self.suppressed += part.num_rows - kept.num_rows
            self.backlog_input += kept.select(BACKLOG_COLUMNS).to_pylist()
            yield part


def _read_parquet(uri: str, s3_options: dict[str, Any]) -> pa.Table:
    fs, path = filesystem(uri, s3_options)
    with fs.open(path, "rb") as handle:
        return pq.read_table(handle)


def _remove_work_files(uris: list[str], s3_options: dict[str, Any]) -> None:
    """The run's work files, once the tables are committed (a crashed run keeps them,
    so its finished batches need not run again)."""
    for uri in uris:
        fs, path = filesystem(uri, s3_options)
        try:
            fs.rm_file(path)
        except (OSError, FileNotFoundError):
            log.warning("could not remove the work file %s", uri)
    folders = {uri.rsplit("/", 1)[0] for uri in uris if "://" not in uri}
    for folder in folders:  # a local folder outlives its files; S3 has none to leave
        with contextlib.suppress(OSError):  # not empty: another run's, or one left to redo
            Path(folder).rmdir()


def write(
    settings: PipelineSettings,
    grouped: Grouped,
    results: list[BatchResult],
    snapshot: str,
    report: ReadReport,
) -> Summary:
    """Write the tables: ``denials/`` by event day (replacing the days the run covers),
    ``reasons/`` and ``backlog/`` for the run's day (each partition atomically)."""
    options = settings.s3_options()
    warnings: list[str] = []
    if report.duplicates:
        warnings.append(duplicates_warning(report.duplicates, report.duplicate_example))
    if report.skipped:
        warnings.append(skipped_warning(report.skipped))
    rules = None
    if settings.suppressions:
        from analyzer.suppressions import load_suppressions

        rules = load_suppressions(settings.suppressions)
        warnings += list(rules.warnings)
    day = settings.run_date
    # The run's own tables first, and then let go: the event tables are read and cut by
    # day after them, not beside them (on a busy night ~100 MB less at the run's end).
    reasons = _ReasonParts(rules)
    parts = reasons.read(results, options)
    own = [tables.write_partition_parts(settings.out, "reasons", day, parts, options)]
    backlog = backlog_rows(reasons.backlog_input, settings.generalize)
    own.append(tables.write_partition(settings.out, "backlog", day, backlog, options))
    groups, suppressed = reasons.groups, reasons.suppressed
    del reasons
    denials_table = _read_parquet(grouped.denials_uri, options)
    # The days read: the window's, or without a bounded window the denials' days, or for a
    # night without any the run's own. Each is written even without rows (an empty
    # partition: the day was read and had none), so the tables always exist: a quiet
    # night's missing denials/ failed the next morning's query, views.sql and report.
    covered = settings.covered_days() or tables.event_days(denials_table) or [day]
    outputs = tables.write_event_days(
        settings.out, "denials", denials_table, covered, options, keep_empty=True
    )
    # changes/ over the same days; changes read beyond the window (either bound), up to the
    # snapshot's time, serve the analysis and are written by the run that covers them.
    changes_table = run_changes.table_in_window(grouped.changes, settings.in_window, options)
    outputs += tables.write_event_days(
        settings.out, "changes", changes_table, covered, options, keep_empty=True
    )
    outputs += own
    by_result: Counter[str] = Counter()
    for result in results:
        by_result.update(result.by_result)
    work_files = [grouped.groups_uri, grouped.denials_uri, *(result.part_uri for result in results)]
    _remove_work_files(work_files + ([grouped.changes.uri] if grouped.changes else []), options)
    return Summary(
        run_date=day.isoformat(),
        snapshot_id=snapshot,
        files=report.files,
        denials=grouped.denials,
        groups=groups,
        by_result=dict(by_result.most_common()),
        backlog_principals=len(backlog),
        suppressed_groups=suppressed,
        outputs=outputs,
        changes=grouped.changes.count if grouped.changes else 0,
        root_causes=sum(result.root_causes for result in results),
        problems=[*report.problems, *grouped.problems],
        problem_files=len(report.problem_files),
        warnings=warnings,
    )


def s3_options_json(settings: PipelineSettings) -> str:
    """The S3 options as text: hashable and picklable for worker processes."""
    return json.dumps(settings.s3_options(), sort_keys=True)
