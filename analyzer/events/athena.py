"""Rows of the AWS Athena CloudTrail table back into CloudTrail's own event shape.

Athena's table (https://docs.aws.amazon.com/athena/latest/ug/cloudtrail-logs.html)
lower-cases every column and struct field and stores the free-form parts
(``requestparameters``, ``responseelements``...) as JSON text. Mapping code
should see one shape whatever the input, so Parquet rows are turned back into
the camelCase event that S3 delivery writes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from analyzer.events import fields

# CloudTrail's spelling of every name the Athena table lower-cases, and which columns hold
# JSON or boolean text there: derived from the one field list (analyzer/events/fields.py).
_NAMES = fields.ATHENA_TO_JSON
_JSON_TEXT = fields.ATHENA_JSON_TEXT
_BOOLEAN_TEXT = fields.ATHENA_BOOLEAN_TEXT
_NESTED = fields.ATHENA_NESTED


class AthenaRowError(ValueError):
    """A row's JSON-text column does not hold JSON."""


def _rename(value: Any, in_resources: bool = False) -> Any:
    if isinstance(value, Mapping):
        renamed: dict[str, Any] = {}
        for key, item in value.items():
            if item is None:
                continue
            lower = key.lower()
            name = "ARN" if in_resources and lower == "arn" else _NAMES.get(lower, key)
            renamed[name] = _rename(item, in_resources=lower == "resources")
        return renamed
    if isinstance(value, list | tuple):
        return [_rename(item, in_resources) for item in value]
    return value


def _json_text(column: str, value: str) -> Any:
    try:
        return json.loads(value) if value.strip() else None
    except json.JSONDecodeError as error:
        raise AthenaRowError(f"column {column} is not JSON ({error.msg})") from None


def _iso(value: datetime | date) -> str:
    """A time column stored as a timestamp, as CloudTrail writes times (ISO 8601, UTC, "Z")."""
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"


def athena_row_to_event(row: Mapping[str, Any]) -> dict[str, Any]:
    """Turn one Athena-table row (a dict of column -> value) into a CloudTrail event.

    Exporters store some columns differently from Athena's table, and each is read the way it
    is stored: a struct (``useridentity``) kept as JSON text is parsed, free-form JSON
    (``requestparameters``) kept as a struct or a map (read as a dict) is taken as it is, a
    timestamp-typed time becomes CloudTrail's ISO text. Raises ``AthenaRowError`` when a
    JSON-text column is not JSON.
    """
    event: dict[str, Any] = {}
    for column, value in row.items():
        lower = column.lower()
        if lower in _JSON_TEXT and isinstance(value, str):
            value = _json_text(column, value)
            # The JSON text is CloudTrail's own: its keys already have their case.
            if value is not None:
                event[_NAMES.get(lower, column)] = value
            continue
        if lower in _JSON_TEXT:  # stored as a struct or map: its names are the event's own
            if value is not None:
                event[_NAMES.get(lower, column)] = value
            continue
        if lower in _NESTED and isinstance(value, str):
            value = _json_text(column, value)
        elif isinstance(value, datetime | date):
            value = _iso(value)
        elif lower in _BOOLEAN_TEXT and isinstance(value, str):
            value = value.lower() == "true"
        if value is None:
            continue
        if lower == "resources":
            event["resources"] = _rename(value, in_resources=True)
            continue
        event[_NAMES.get(lower, column)] = _rename(value)
    return event
