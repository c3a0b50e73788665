"""The CloudTrail columns the pipeline reads, declared once.

The SQL in ``sql/`` is written against AWS's Athena CloudTrail table: lower-case
columns, ``useridentity`` and friends as structs, free-form JSON as text. DuckDB
is given a ``cloudtrail`` view with exactly that shape, whatever the input:

* S3-delivery JSON (``{"Records": [...]}``, gzip): ``read_json`` needs CloudTrail's
  own camelCase names, so the read type uses them and the view casts to the
  lower-case struct (DuckDB casts structs by field name, case-insensitively,
  filling absent fields with NULL);
* Parquet in the Athena layout: each column is cast to the same type, and a
  column the files lack becomes NULL, so older files with fewer fields still work.

A ``"timestamp"`` column (``yyyy/MM/dd``) stands in for the Athena table's
partition-projection column.
"""

from __future__ import annotations

from collections.abc import Mapping

from analyzer.events import fields

VARCHAR = "VARCHAR"
JSON_TEXT = "JSON"  # read as JSON, exposed as VARCHAR text like Athena's string columns


def _duckdb_kinds(tree: Mapping[str, object]) -> dict[str, object]:
    """The field list's kinds as the DuckDB types below read them."""
    kinds = {
        fields.STRING: VARCHAR,
        fields.JSON: JSON_TEXT,
        fields.BOOLEAN: "BOOLEAN",
        fields.MAP: "MAP(VARCHAR, VARCHAR)",
    }
    out: dict[str, object] = {}
    for name, kind in tree.items():
        if isinstance(kind, Mapping):
            out[name] = _duckdb_kinds(kind)
        elif isinstance(kind, list):
            out[name] = [_duckdb_kinds(kind[0])]
        else:
            out[name] = kinds[str(kind)]
    return out


# CloudTrail's names of the fields the pipeline reads (analyzer/events/fields.py); a dict
# is a struct, a one-item list is a list of that struct.
RECORD: Mapping[str, object] = _duckdb_kinds(fields.pipeline_record())


def sql_type(spec: object, *, lower: bool, json_as_text: bool) -> str:
    """DuckDB type text for a schema node."""
    if isinstance(spec, Mapping):
        fields = ", ".join(
            f'"{name.lower() if lower else name}" {sql_type(child, lower=lower, json_as_text=json_as_text)}'
            for name, child in spec.items()
        )
        return f"STRUCT({fields})"
    if isinstance(spec, list):
        return sql_type(spec[0], lower=lower, json_as_text=json_as_text) + "[]"
    if spec == JSON_TEXT:
        return VARCHAR if json_as_text else "JSON"
    return str(spec)


def json_records_type() -> str:
    """The ``columns`` argument of ``read_json`` for S3-delivery files."""
    return sql_type(RECORD, lower=False, json_as_text=False) + "[]"


def _timestamp(event_time: str) -> str:
    return f"replace(substr({event_time}, 1, 10), '-', '/') AS \"timestamp\""


def json_view_sql(source_sql: str) -> str:
    """``SELECT`` producing the Athena columns from ``source_sql`` (one ``r`` per record)."""
    columns = ", ".join(
        f'CAST(r."{name}" AS {sql_type(spec, lower=True, json_as_text=True)}) AS {name.lower()}'
        for name, spec in RECORD.items()
    )
    return f"SELECT {columns}, {_timestamp('r.eventTime')} FROM ({source_sql})"


def parquet_view_sql(source_sql: str, available: set[str]) -> str:
    """``SELECT`` producing the Athena columns from Parquet files with ``available`` columns."""
    parts = []
    for name, spec in RECORD.items():
        column, type_text = name.lower(), sql_type(spec, lower=True, json_as_text=True)
        value = f'"{column}"' if column in available else "NULL"
        parts.append(f"CAST({value} AS {type_text}) AS {column}")
    return f"SELECT {', '.join(parts)}, {_timestamp('eventtime')} FROM ({source_sql})"
