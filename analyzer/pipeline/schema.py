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
  Exporters differ in how they store a column, so the view reads each the way it is
  stored: a struct kept as JSON text is parsed, JSON text kept as a struct is written
  back as text, a timestamp-typed ``eventtime`` becomes CloudTrail's ISO text.

A ``"timestamp"`` column (``yyyy/MM/dd``) stands in for the Athena table's
partition-projection column.
"""

from __future__ import annotations

import json
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


# An EventBridge event ("AWS API Call via CloudTrail", as a rule's target receives it) holds
# the CloudTrail record in ``detail``; the streaming reader unwraps it (events/readers.py),
# and so does the scan, record by record, wherever such events stand. ``detail`` is read as
# JSON text and parsed only for such events: declared as a second record struct, it cost
# every record of every file the filling of its absent fields.
_WRAPPED: Mapping[str, object] = {**RECORD, "detail-type": VARCHAR, "detail": JSON_TEXT}


def json_records_sql(files_sql: str, maximum_object_size: int) -> str:
    """``SELECT`` of one ``r`` per record of the JSON files ``files_sql`` (a list literal):
    each object's ``Records``, and an object that is an event itself (JSON Lines appended to
    a Records file, which ``read_json`` returned as rows without ``Records``, whose events
    were lost) as its own record; beside it ``detail``, the record an EventBridge event
    holds (NULL for CloudTrail's own), which ``json_view_sql`` reads instead."""
    columns = {"Records": [_WRAPPED], **_WRAPPED}
    listed = ", ".join(
        f"'{name}': '{sql_type(spec, lower=False, json_as_text=False)}'" for name, spec in columns.items()
    )
    itself = ", ".join(f"'{name}': \"{name}\"" for name in _WRAPPED)
    read = (
        f"read_json({files_sql}, columns = {{{listed}}}, format = 'auto', "
        f"maximum_object_size = {maximum_object_size})"
    )
    records = f'CASE WHEN "Records" IS NULL THEN [{{{itself}}}] ELSE "Records" END'
    structure = json.dumps(_structure(RECORD, lower=False))
    detail = (
        f"CASE WHEN r.\"detail-type\" LIKE '%via CloudTrail%' "
        f"THEN json_transform(r.detail, '{structure}') END AS detail"
    )
    return f"SELECT r, {detail} FROM (SELECT unnest({records}) AS r FROM {read})"


def _timestamp(event_time: str) -> str:
    return f"replace(substr({event_time}, 1, 10), '-', '/') AS \"timestamp\""


def _event_time(text: str) -> str:
    """CloudTrail's eventTime text as the SQL compares it (as text, like Athena's string
    column): as written when it is CloudTrail's ``YYYY-MM-DDTHH:MM:SSZ``, else the UTC
    second of any other time DuckDB reads (an offset, a fraction, a lower-case ``t``/``z``),
    else NULL. A time in another zone was compared as text, so put on the wrong day, and a
    lower-case or impossible one failed the whole run where the tables convert it (held-out
    probe)."""
    return (
        f"CASE WHEN {text} LIKE '____-__-__T__:__:__Z' AND try_cast({text} AS TIMESTAMPTZ) IS NOT NULL "
        f"THEN {text} ELSE strftime(try_cast(upper({text}) AS TIMESTAMPTZ), '%Y-%m-%dT%H:%M:%SZ') END"
    )


def json_view_sql(source_sql: str) -> str:
    """``SELECT`` producing the Athena columns from ``source_sql`` (``json_records_sql``)."""
    columns = ", ".join(
        f'CAST(CASE WHEN detail IS NOT NULL THEN detail."{name}" ELSE r."{name}" END '
        f"AS {sql_type(spec, lower=True, json_as_text=True)}) AS {name.lower()}"
        for name, spec in RECORD.items()
    )
    converted = f"SELECT {columns} FROM ({source_sql})"
    return _with_event_time(converted)


def _with_event_time(converted: str) -> str:
    """``converted``'s columns, ``eventtime`` made comparable (``_event_time``), and the
    partition day it falls on."""
    comparable = f"SELECT * REPLACE ({_event_time('eventtime')} AS eventtime) FROM ({converted})"
    return f"SELECT *, {_timestamp('eventtime')} FROM ({comparable})"


def _structure(spec: object, *, lower: bool) -> object:
    """``json_transform``'s structure for a schema node (a JSON description, not SQL)."""
    if isinstance(spec, Mapping):
        return {
            (name.lower() if lower else name): _structure(child, lower=lower) for name, child in spec.items()
        }
    if isinstance(spec, list):
        return [_structure(spec[0], lower=lower)]
    return VARCHAR if spec == JSON_TEXT else spec


def _camel_names(spec: object) -> set[str]:
    if isinstance(spec, Mapping):
        own = {name for name in spec if name != name.lower()}
        return own.union(*(_camel_names(child) for child in spec.values()))
    return _camel_names(spec[0]) if isinstance(spec, list) else set()


def _lowered(value: str, spec: object, depth: int = 0) -> str:
    """``value``, a struct with CloudTrail's camelCase names, rebuilt with lower-case names.
    (A cast would not do: DuckDB casts structs of the same shape by position, keeping the
    camelCase names, and a ``CASE`` over both spellings then loses the fields.)"""
    if isinstance(spec, Mapping):
        fields = ", ".join(
            f"'{name.lower()}': " + _lowered(f'({value})."{name}"', child, depth)
            for name, child in spec.items()
        )
        return f"CASE WHEN ({value}) IS NULL THEN NULL ELSE {{{fields}}} END"
    if isinstance(spec, list):
        item = f"item{depth}"
        return f"list_transform({value}, lambda {item}: {_lowered(item, spec[0], depth + 1)})"
    return value


def _from_json_text(column: str, spec: object) -> str:
    """A struct column some exporters store as JSON text, parsed. The text is CloudTrail's own
    (camelCase keys) or a dump of Athena's struct (lower-case keys); ``json_transform`` matches
    keys exactly, so each row is read in the spelling its text uses."""
    lower = json.dumps(_structure(spec, lower=True))
    camel_names = sorted(_camel_names(spec))
    if not camel_names:
        return f"json_transform({column}, '{lower}')"
    camel = _lowered(f"json_transform({column}, '{json.dumps(_structure(spec, lower=False))}')", spec)
    spelled_camel = "regexp_matches(" + column + ", '\"(" + "|".join(camel_names) + ")\"\\s*:')"
    return f"CASE WHEN {spelled_camel} THEN {camel} ELSE json_transform({column}, '{lower}') END"


def _is_nested(duckdb_type: str) -> bool:
    return duckdb_type.startswith(("STRUCT", "MAP")) or duckdb_type.endswith("]")


def _parquet_value(column: str, spec: object, source_type: str) -> str:
    """``column`` of DuckDB type ``source_type`` as the view's type for ``spec`` expects it:
    struct columns stored as JSON text are parsed, free-form JSON stored as a struct or map is
    written back as JSON text, and a time stored as a timestamp becomes CloudTrail's ISO text
    (the SQL compares times as text, as Athena's string column does)."""
    quoted = f'"{column}"'
    if isinstance(spec, Mapping | list) and not _is_nested(source_type):
        return _from_json_text(quoted, spec)
    if spec == JSON_TEXT and _is_nested(source_type):
        return f"to_json({quoted})"
    if spec == VARCHAR and source_type.startswith(("TIMESTAMP", "DATE")):
        return f"strftime({quoted}, '%Y-%m-%dT%H:%M:%SZ')"
    return quoted


def parquet_view_sql(source_sql: str, available: Mapping[str, str]) -> str:
    """``SELECT`` producing the Athena columns from Parquet files whose columns (lower-case
    name -> DuckDB type) are ``available``; a column they lack is NULL."""
    parts = []
    for name, spec in RECORD.items():
        column, type_text = name.lower(), sql_type(spec, lower=True, json_as_text=True)
        value = _parquet_value(column, spec, available[column]) if column in available else "NULL"
        parts.append(f"CAST({value} AS {type_text}) AS {column}")
    converted = f"SELECT {', '.join(parts)} FROM ({source_sql})"
    return _with_event_time(converted)
