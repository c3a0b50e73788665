"""The request context: condition keys and their values.

Keys are case-insensitive in AWS, so they are stored lower-cased. A value is
a ``str`` for a single-valued key and a ``tuple`` of ``str`` for a
multi-valued one (``aws:TagKeys``, ``aws:CalledVia``...): the set operators
``ForAllValues``/``ForAnyValue`` and the empty-set rules depend on that
distinction, so it is kept rather than flattened.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

ContextValue = str | tuple[str, ...]


def scalar_text(value: Any) -> str:
    """AWS compares JSON booleans and numbers by their text: true -> "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def normalize_context(raw: Mapping[str, Any] | None) -> Mapping[str, ContextValue]:
    """Lower-case the keys and turn lists into tuples; returns a read-only mapping."""
    normalized: dict[str, ContextValue] = {}
    for key, value in (raw or {}).items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            normalized[key.lower()] = tuple(scalar_text(item) for item in value)
        else:
            normalized[key.lower()] = scalar_text(value)
    return MappingProxyType(normalized)
