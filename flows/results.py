"""Persisted task results: JSON only, so results storage can never run code.

Prefect persists a result as a record naming its own serializer, and reading a
record uses the serializer the record names: a writable results folder holding a
record that says "pickle" would be unpickled by the next run that looks up its
cache key (Prefect's default serializer is pickle). Here every persisted result
is plain JSON (``JSON`` below, with no object hook: no class is imported by name
from storage), and before Prefect looks a cache key up, ``refuse_foreign_record``
removes a record stored under it that names any other serializer: the task then
simply runs again.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from prefect.serializers import JSONSerializer

log = logging.getLogger(__name__)

# Plain JSON both ways: no `__class__` objects are encoded or decoded.
JSON = JSONSerializer(object_encoder=None, object_decoder=None)


def is_plain_json_record(content: bytes) -> bool:
    """Whether a stored result record is one this project wrote: plain-JSON serializer."""
    try:
        serializer = json.loads(content)["metadata"]["serializer"]
    except (ValueError, KeyError, TypeError):
        return False
    return (
        isinstance(serializer, dict)
        and serializer.get("type") == "json"
        and serializer.get("object_decoder") is None
    )


def refuse_foreign_record(folder: Path, key: str) -> str:
    """``key``, after removing a stored record under it that is not plain JSON.

    Called by the tasks' cache-key functions, i.e. before Prefect looks the key up,
    so Prefect never deserializes a record that names another serializer.
    """
    record = folder / key
    try:
        content = record.read_bytes()
    except OSError:
        return key  # nothing stored (or unreadable: Prefect will not read it either)
    if not is_plain_json_record(content):
        log.warning("%s: not a plain-JSON result record; removed, the task runs again", record)
        record.unlink(missing_ok=True)
    return key
