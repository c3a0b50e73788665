"""The Athena CloudTrail table's DDL, its columns rendered from ``fields.RECORD``.

``docs/athena.md`` asks users to create the table with
``sql/athena_cloudtrail_table.sql``: that file is this module's output, committed so it
can be read and run as it is, and a test proves it equal to what the field list renders
(a field added to ``RECORD`` changes the table, not a second list). Regenerate it, or
print it from an installed package, with::

    python -m analyzer.pipeline.athena_table > sql/athena_cloudtrail_table.sql

Types follow AWS's CloudTrail table: free-form JSON and boolean flags are ``STRING``
(``fields.ATHENA_JSON_TEXT``/``ATHENA_BOOLEAN_TEXT`` read them back), a struct is a
``STRUCT``, a list of structs an ``ARRAY<STRUCT>``. The table properties (SerDe,
location, partition projection on ``timestamp``) are a template with placeholders the
user fills in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analyzer.events import fields

_WIDTH = 96  # a struct whose one-line form is longer is written one field per line
_INDENT = "    "

_HEADER = """\
-- The standard CloudTrail table for Athena, with partition projection, so that
-- `run --source athena` prunes by day without MSCK REPAIR or crawlers.
-- Adapted from AWS's documentation:
-- https://docs.aws.amazon.com/athena/latest/ug/create-cloudtrail-table-partition-projection.html
-- Replace <BUCKET>, <PREFIX>, <ACCOUNT_ID> and the start date; for an organization
-- trail add the o-xxxxxxxxxx/ level to LOCATION and storage.location.template.
--
-- Generated from analyzer/events/fields.py (RECORD) by
-- `python -m analyzer.pipeline.athena_table`: edit the field list, not this file.
CREATE EXTERNAL TABLE IF NOT EXISTS cloudtrail (
"""

_PROPERTIES = """\
)
COMMENT 'CloudTrail table for access-undenied'
PARTITIONED BY (`timestamp` STRING)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://<BUCKET>/<PREFIX>/AWSLogs/<ACCOUNT_ID>/CloudTrail/'
TBLPROPERTIES (
    'projection.enabled' = 'true',
    'projection.timestamp.format' = 'yyyy/MM/dd',
    'projection.timestamp.interval' = '1',
    'projection.timestamp.interval.unit' = 'DAYS',
    'projection.timestamp.range' = '2024/01/01,NOW',
    'projection.timestamp.type' = 'date',
    'storage.location.template' = 's3://<BUCKET>/<PREFIX>/AWSLogs/<ACCOUNT_ID>/CloudTrail/<REGION>/${timestamp}'
);
"""


def _type(kind: Any, indent: str) -> str:
    """Athena's type for a field of ``fields.RECORD``; a long struct one field per line."""
    if isinstance(kind, list):
        return f"ARRAY<{_type(kind[0], indent)}>"
    if isinstance(kind, Mapping):
        inline = ", ".join(f"{name.lower()}: {_type(child, indent)}" for name, child in kind.items())
        if len(indent) + len(inline) + 8 <= _WIDTH:
            return f"STRUCT<{inline}>"
        inner = indent + _INDENT
        lines = ",\n".join(f"{inner}{name.lower()}: {_type(child, inner)}" for name, child in kind.items())
        return f"STRUCT<\n{lines}>"
    return "MAP<STRING, STRING>" if kind == fields.MAP else "STRING"


def athena_table_ddl() -> str:
    """The ``CREATE EXTERNAL TABLE`` statement for CloudTrail's logs, every field of
    ``fields.RECORD`` a column (lower-cased, as Athena and Athena-layout Parquet spell them)."""
    columns = ",\n".join(
        f"{_INDENT}{name.lower()} {_type(kind, _INDENT)}" for name, kind in fields.RECORD.items()
    )
    return f"{_HEADER}{columns}\n{_PROPERTIES}"


if __name__ == "__main__":
    print(athena_table_ddl(), end="")
