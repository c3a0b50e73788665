"""The pipeline's output tables (spec/interface.md), their schemas, and writing them.

Each table is Hive-partitioned by day, ``<out>/<table>/dt=YYYY-MM-DD/``, and each
partition is one Parquet file written atomically, so a reader sees a whole
partition or none:

* ``denials/`` and ``changes/`` by the EVENT's day (UTC): a run replaces exactly the
  days it covers, so runs over overlapping windows never hold an event twice;
* ``reasons/`` and ``backlog/`` by the analysis run's day: each run's conclusions,
  with the snapshot they were drawn from; a re-run the same day replaces them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from analyzer.pipeline.storage import filesystem, write_atomically
from analyzer.result_tables import SCHEMAS

PART_FILE = "part-0.parquet"


def partition_path(table: str, day: date) -> str:
    return f"{table}/dt={day.isoformat()}/{PART_FILE}"


Rows: TypeAlias = list[dict[str, Any]] | pa.Table  # a table's rows, as Python values or in Arrow


def to_table(name: str, rows: Rows) -> pa.Table:
    schema = SCHEMAS[name]
    if isinstance(rows, pa.Table):
        return rows.select(schema.names).cast(schema)
    return pa.Table.from_pylist(rows, schema=schema)


def write_partition(out: str, name: str, day: date, table: Rows, s3_options: dict[str, Any]) -> str:
    """Write one table's partition for ``day``, replacing any earlier one."""
    return write_partition_parts(out, name, day, [table], s3_options)


def write_partition_parts(
    out: str, name: str, day: date, parts: Iterable[Rows], s3_options: dict[str, Any]
) -> str:
    """``write_partition`` for a table that comes in parts (the analysis batches' reasons):
    each part is encoded as it comes (a row group each), so the whole table is never held
    (at 40,000 groups the reasons are about 70 MB in Arrow, their Parquet 3 MB)."""
    buffer = io.BytesIO()
    with pq.ParquetWriter(buffer, SCHEMAS[name], compression="zstd") as writer:
        for part in parts:
            writer.write_table(to_table(name, part))
    return write_atomically(out, partition_path(name, day), buffer.getvalue(), s3_options)


def parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as one zstd-compressed Parquet file, for an atomic write."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def event_days(table: pa.Table) -> list[date]:
    """The UTC days of a ``denials`` or ``changes`` table's events."""
    days = pc.unique(pc.cast(table.column("event_time"), pa.date32())).to_pylist()
    return sorted(day for day in days if day is not None)


def write_event_days(
    out: str,
    name: str,
    table: pa.Table,
    covered: Iterable[date],
    s3_options: dict[str, Any],
    *,
    keep_empty: bool = False,
) -> list[str]:
    """Write ``table`` (with ``event_time``) as one partition per event day, replacing
    exactly the ``covered`` days: a covered day without rows now loses its old
    partition (or, with ``keep_empty``, gets an empty one: the day was read and had
    none); days outside ``covered`` are left as they are."""
    table = to_table(name, table)
    days = pc.cast(table.column("event_time"), pa.date32())
    written = []
    for day in sorted(set(covered) | set(event_days(table))):
        rows = table.filter(pc.equal(days, pa.scalar(day, pa.date32())))
        if rows.num_rows or keep_empty:
            written.append(write_partition(out, name, day, rows, s3_options))
        else:
            remove_partition(out, name, day, s3_options)
    return written


def remove_partition(out: str, name: str, day: date, s3_options: dict[str, Any]) -> None:
    fs, root = filesystem(out, s3_options)
    path = f"{root.rstrip('/')}/{partition_path(name, day)}"
    if fs.exists(path):
        fs.rm_file(path)
