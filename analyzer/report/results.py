"""Open the pipeline's result tables (spec/interface.md, "Pipeline output tables") in DuckDB.

``--results`` is the pipeline's ``--out``: a local folder or ``s3://bucket/prefix``
holding ``denials/``, ``reasons/``, ``backlog/`` and ``changes/``, each Hive-partitioned by
``dt=YYYY-MM-DD``. S3 is read through s3fs registered on the connection (it
honours ``--profile`` and ``AWS_ENDPOINT_URL``), so no DuckDB extension is ever
downloaded at run time.

``open_results`` defines views the report's SQL is written against:

* ``denials_all`` / ``reasons_all`` / ``backlog_all``: every partition;
* ``reasons`` / ``backlog``: the latest run (highest ``dt`` of ``reasons/``, which is
  partitioned by the run's day);
* ``denials``: that run's denied events (``denials/`` is partitioned by the event's
  day, so they are found through the run's groups and their first and last sighting);
* ``previous_denials`` / ``previous_reasons``: the run before it, or the latest
  run under ``--previous`` (empty when there is none);
* ``changes_all``: every policy-change event of ``changes/``, once each.

Results written before the pipeline recorded policy changes have no ``changes/`` and no
root-cause columns in ``reasons/``: ``changes_all`` is then empty, the columns read as
NULL, and ``Runs.root_causes`` says so, so the report can tell "no logged change explains
this denial" from "nothing is known".

``denials*`` and ``reasons*`` carry ``suppressed_by``: the index of the
suppression rule that matches the row, NULL when none does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from analyzer.errors import ReportError, aws_problem
from analyzer.result_tables import (
    CHANGES,
    CONTRACT_COLUMNS,
    OTHER_REGIONS_JSON_TYPE,
    REASONS,
    REASONS_ROOT_CAUSE,
    TIME,
)
from analyzer.suppressions import Suppressions

if TYPE_CHECKING:
    import duckdb

_SUPPRESSIBLE = ("denials", "reasons")

# reasons/'s columns added since the first results: the root-cause columns (the contract's,
# and the one-line summaries the pipeline adds) and the other regions' reasons. Results
# written before them lack them, and read them as NULL.
_HISTORY_COLUMNS = (*REASONS_ROOT_CAUSE.names, "root_cause_summary", "fixed_by_summary")
_LATER_COLUMNS = (*_HISTORY_COLUMNS, "other_regions")
_DUCKDB_TYPES = {pa.string(): "VARCHAR", TIME: "TIMESTAMPTZ"}


def _nulls(schema: pa.Schema, names: Iterable[str]) -> str:
    """``NULL::<type> AS <name>`` for each of ``names``, typed as ``schema`` has it."""
    return ", ".join(f"NULL::{_DUCKDB_TYPES[schema.field(name).type]} AS {name}" for name in names)


@dataclass(frozen=True, slots=True)
class Runs:
    """Which partitions the report compares, and whether the latest run's ``reasons/``
    has root-cause columns at all."""

    latest: date
    previous: date | None
    previous_root: str
    root_causes: bool  # False: reasons/ was written before root causes were recorded


def connect(roots: tuple[str, ...], profile: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that can read ``roots``, with UTC day boundaries."""
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute("SET TimeZone = 'UTC'")
    s3_roots = [root for root in roots if root.startswith("s3://")]
    if s3_roots:
        import s3fs

        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        filesystem = s3fs.S3FileSystem(
            profile=profile, client_kwargs={"endpoint_url": endpoint} if endpoint else {}
        )
        for root in s3_roots:
            _check_s3(filesystem, root)
        con.register_filesystem(filesystem)
    return con


def _check_s3(filesystem: Any, root: str) -> None:
    """Reach ``root`` once before DuckDB does: DuckDB would report a failure as a
    Python traceback in its message; here it is one line with AWS's error and a hint."""
    try:
        filesystem.ls(root)
    except FileNotFoundError as error:
        problem = aws_problem(error)
        raise ReportError(
            f"{root}: no such bucket or prefix" + (f" ({problem})" if problem else "")
        ) from error
    except Exception as error:
        problem = aws_problem(error) or f"{type(error).__name__}: {error}"
        raise ReportError(f"{root}: cannot read the results: {problem}") from error


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _scan(root: str, table: str) -> str:
    pattern = f"{root.rstrip('/')}/{table}/**/*.parquet"
    return (
        f"read_parquet({_literal(pattern)}, hive_partitioning = true, "
        "hive_types = {'dt': DATE}, union_by_name = true)"
    )


def _define_all(con: duckdb.DuckDBPyConnection, root: str, prefix: str, rule: str) -> None:
    """``<prefix>denials_all`` etc. over every partition under ``root``, columns checked."""
    import duckdb

    for table, columns in CONTRACT_COLUMNS.items():
        extra = f", {rule} AS suppressed_by" if table in _SUPPRESSIBLE else ""
        name = f"{prefix}{table}_all"
        try:
            con.execute(f"CREATE VIEW {name} AS SELECT *{extra} FROM {_scan(root, table)}")
            present = {row[0] for row in con.execute(f"DESCRIBE {name}").fetchall()}
        except duckdb.Error as error:
            first_line = str(error).splitlines()[0]
            raise ReportError(f"{root}/{table}/: cannot read the Parquet table: {first_line}") from error
        missing = [column for column in (*columns, "dt") if column not in present]
        if missing:
            raise ReportError(
                f"{root}/{table}/: missing column(s) {', '.join(missing)} "
                "(see spec/interface.md, 'Pipeline output tables')"
            )


def _add_later_columns(con: duckdb.DuckDBPyConnection, prefix: str) -> bool:
    """Give ``<prefix>reasons_all`` the columns added since the first results, NULL where
    the files lack them; whether any file has the root-cause columns."""
    name = f"{prefix}reasons_all"
    present = {row[0] for row in con.execute(f"DESCRIBE {name}").fetchall()}
    missing = [column for column in _LATER_COLUMNS if column not in present]
    if missing:
        nulls = _nulls(REASONS, missing)
        con.execute(f"ALTER VIEW {name} RENAME TO {name}_files")
        con.execute(f"CREATE VIEW {name} AS SELECT *, {nulls} FROM {name}_files")
    return "root_cause_event_id" in present


def _define_changes(con: duckdb.DuckDBPyConnection, root: str) -> None:
    """``changes_all``: each change event of ``root``'s ``changes/`` once (a re-run rewrites its
    day's partition, an older layout may repeat it); empty when there is no such table."""
    import duckdb

    pattern = f"{root.rstrip('/')}/changes/**/*.parquet"
    if not con.execute(f"SELECT count(*) FROM glob({_literal(pattern)})").fetchall()[0][0]:
        none = _nulls(CHANGES, CHANGES.names)
        con.execute(f"CREATE VIEW changes_all AS SELECT {none}, NULL::DATE AS dt WHERE false")
        return
    try:
        con.execute(
            f"CREATE VIEW changes_all AS SELECT * FROM {_scan(root, 'changes')} "
            "QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY dt DESC) = 1"
        )
        present = {row[0] for row in con.execute("DESCRIBE changes_all").fetchall()}
    except duckdb.Error as error:
        first_line = str(error).splitlines()[0]
        raise ReportError(f"{root}/changes/: cannot read the Parquet table: {first_line}") from error
    missing = [column for column in CHANGES.names if column not in present]
    if missing:
        raise ReportError(
            f"{root}/changes/: missing column(s) {', '.join(missing)} "
            "(see spec/interface.md, 'Pipeline output tables')"
        )


def _runs(con: duckdb.DuckDBPyConnection, root: str) -> list[date]:
    """The days of the runs ``root`` holds, latest first: its ``reasons/`` partitions, by
    their folders (a run over a night without denials wrote an empty one)."""
    pattern = _literal(f"{root.rstrip('/')}/reasons/dt=*/*.parquet")
    return [
        row[0]
        for row in con.execute(
            f"SELECT DISTINCT try_cast(regexp_extract(file, '/dt=([0-9-]+)/', 1) AS DATE) AS dt "
            f"FROM glob({pattern}) WHERE dt IS NOT NULL ORDER BY dt DESC"
        ).fetchall()
    ]


def open_results(
    results: str,
    *,
    previous: str | None = None,
    suppressions: Suppressions | None = None,
    profile: str | None = None,
) -> tuple[duckdb.DuckDBPyConnection, Runs]:
    """Connect, define the report's views (module docstring) and name the compared runs."""
    roots = (results,) if previous is None else (results, previous)
    con = connect(roots, profile)
    rule = (suppressions or Suppressions()).register(con)
    _define_all(con, results, "", rule)
    runs = _runs(con, results)  # a run's day: reasons/ is partitioned by it
    if not runs:
        raise ReportError(f"{results}/reasons/: no dt= partition")
    root_causes = _add_later_columns(con, "")
    _define_changes(con, results)
    if previous is None:
        baseline = Runs(runs[0], runs[1] if len(runs) > 1 else None, results, root_causes)
        prefix = ""
    else:
        _define_all(con, previous, "baseline_", rule)
        earlier = _runs(con, previous)
        baseline = Runs(runs[0], earlier[0] if earlier else None, previous, root_causes)
        prefix = "baseline_"
    latest = f"DATE '{baseline.latest.isoformat()}'"
    before = f"DATE '{baseline.previous.isoformat()}'" if baseline.previous else "NULL"
    for table in ("reasons", "backlog"):
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM {table}_all WHERE dt = {latest}")
    con.execute(f"CREATE VIEW previous_reasons AS SELECT * FROM {prefix}reasons_all WHERE dt = {before}")
    con.execute(f"CREATE VIEW denials AS {_RUN_EVENTS.format(prefix='', run=latest)}")
    con.execute(f"CREATE VIEW previous_denials AS {_RUN_EVENTS.format(prefix=prefix, run=before)}")
    con.execute(_OTHER_REGIONS.format(json_type=OTHER_REGIONS_JSON_TYPE.replace("'", "''")))
    con.execute(_REASON_PARTS)
    return con, baseline


# The latest run's groups denied for another reason in some of their regions, one row per
# (group, region) (reasons.other_regions, analyzer/pipeline/regions.py).
_OTHER_REGIONS = """
CREATE VIEW other_regions AS
SELECT group_key, unnest(from_json(other_regions, '{json_type}'), recursive := true)
FROM reasons WHERE other_regions IS NOT NULL
"""
# The latest run's groups as parts with one reason each: a group's own row for its denials
# but those of the other regions, and each other region with its own reason and fix, both
# with the group's principal, action, suppression and later fix (analyzer/pipeline/regions.py,
# ``parts``, is the same for the backlog).
_REASON_PARTS = """
CREATE VIEW reason_parts AS
SELECT r.group_key, r.principal_arn, r.action, r.suppressed_by, r.fixed_by_event_id,
       r.assessment_result, r.policy_type, r.policy_arn, r.policy_name, r.statement_sid,
       r.attachment_target_arn, r.fix_policy,
       r.event_count - coalesce((SELECT sum(o.event_count) FROM other_regions o
                                 WHERE o.group_key = r.group_key), 0) AS event_count
FROM reasons r
UNION ALL
SELECT o.group_key, r.principal_arn, r.action, r.suppressed_by, r.fixed_by_event_id,
       o.assessment_result, o.policy_type, o.policy_arn, o.policy_name, o.statement_sid,
       o.attachment_target_arn, o.fix_policy, o.event_count
FROM other_regions o JOIN reasons r USING (group_key)
"""


# A run's denied events: denials/ is partitioned by the event's day (older outputs: by the
# run's day), so the events a run analysed are those of its groups between each group's
# first and last sighting in that run; an event delivered twice counts once.
_RUN_EVENTS = """
SELECT d.* FROM {prefix}denials_all d
JOIN (SELECT group_key, first_seen, last_seen FROM {prefix}reasons_all WHERE dt = {run}) r
  ON d.group_key = r.group_key AND d.event_time BETWEEN r.first_seen AND r.last_seen
QUALIFY row_number() OVER (PARTITION BY d.event_id ORDER BY d.dt DESC) = 1
"""
