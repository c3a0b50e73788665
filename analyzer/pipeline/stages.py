"""The pipeline's stages, as plain functions the Prefect tasks in ``flows/`` call.

read denials (DuckDB or Athena) -> group (samples, mapping, groups in SQL) ->
analyse batches (``work.analyze_batch``, fanned out) -> write tables.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from analyzer.pipeline import grouping, queries, tables
from analyzer.pipeline.reading import ReadReport, connect, read_denials_athena, read_denials_duckdb
from analyzer.pipeline.settings import PipelineSettings
from analyzer.pipeline.snapshots import read_snapshot
from analyzer.pipeline.work import backlog_rows

Batch = list[tuple[dict[str, Any], dict[str, Any]]]


@dataclass(frozen=True)
class Denials:
    rows: pa.Table  # denials.sql's result
    report: ReadReport


@dataclass(frozen=True)
class Grouped:
    groups: list[dict[str, Any]]
    samples: dict[str, dict[str, Any]]  # raw_key -> sample row
    denials_table: pa.Table  # the denials/ output


@dataclass(frozen=True)
class Summary:
    run_date: str
    snapshot_id: str
    files: int
    denials: int
    groups: int
    by_result: dict[str, int]
    backlog_principals: int
    suppressed_groups: int
    outputs: list[str]
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


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


def snapshot_id(settings: PipelineSettings) -> str:
    """Load the snapshot once to validate it and learn its content hash."""
    return read_snapshot(settings.snapshot, settings.s3_options()).snapshot_id


def read_denials(settings: PipelineSettings) -> Denials:
    if settings.source == "athena":
        rows, report = read_denials_athena(settings)
    else:
        connection = connect(settings)
        try:
            rows, report = read_denials_duckdb(connection, settings)
        finally:
            connection.close()
    return Denials(rows, report)


def _local(denials: pa.Table) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("denial_rows", denials)
    return connection


def group(denials: Denials) -> Grouped:
    """Map each distinct raw_key once and count the (principal, action, resource) groups."""
    connection = _local(denials.rows)
    try:
        samples = grouping.samples(connection)
        connection.register("denial_mapping", grouping.map_samples(samples))
        groups = connection.sql(queries.duckdb_sql("groups")).to_arrow_table()
        denials_table = connection.sql(queries.duckdb_sql("denials_table")).to_arrow_table()
    finally:
        connection.close()
    return Grouped(
        groups=groups.to_pylist(),
        samples={row["raw_key"]: row for row in samples.to_pylist()},
        denials_table=denials_table,
    )


def batches(grouped: Grouped, size: int) -> list[Batch]:
    pairs = [(g, grouped.samples[g["sample_raw_key"]]) for g in grouped.groups]
    return [pairs[start:start + size] for start in range(0, len(pairs), size)]


def write(settings: PipelineSettings, grouped: Grouped, reasons: list[dict[str, Any]],
          snapshot: str, report: ReadReport) -> Summary:
    """Write the three tables for the run's day (each partition atomically)."""
    warnings: list[str] = []
    backlog_input = reasons
    suppressed = 0
    if settings.suppressions:
        from analyzer.suppressions import load_suppressions

        rules = load_suppressions(settings.suppressions)
        warnings += list(rules.warnings)
        kept = rules.filter_arrow(tables.to_table("reasons", reasons))
        suppressed = len(reasons) - kept.num_rows
        backlog_input = kept.to_pylist()
    outputs = []
    day = settings.run_date
    backlog = backlog_rows(backlog_input, settings.generalize)
    for name, data in (("denials", grouped.denials_table), ("reasons", reasons),
                       ("backlog", backlog)):
        outputs.append(tables.write_partition(settings.out, name, day, data,
                                              settings.s3_options()))
    return Summary(
        run_date=day.isoformat(), snapshot_id=snapshot, files=report.files,
        denials=grouped.denials_table.num_rows, groups=len(reasons),
        by_result=dict(Counter(row["assessment_result"] for row in reasons).most_common()),
        backlog_principals=len(backlog), suppressed_groups=suppressed,
        outputs=outputs, problems=list(report.problems), warnings=warnings,
    )


def s3_options_json(settings: PipelineSettings) -> str:
    """The S3 options as text: hashable and picklable for worker processes."""
    return json.dumps(settings.s3_options(), sort_keys=True)
