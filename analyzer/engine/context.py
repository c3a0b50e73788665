"""The request context: condition keys and their values.

Keys are case-insensitive in AWS, so they are stored lower-cased. A value is
a ``str`` for a single-valued key and a ``tuple`` of ``str`` for a
multi-valued one (``aws:TagKeys``, ``aws:CalledVia``...): the set operators
``ForAllValues``/``ForAnyValue`` and the empty-set rules depend on that
distinction, so it is kept rather than flattened.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

ContextValue = str | tuple[str, ...]


def scalar_text(value: Any) -> str:
    """AWS compares JSON booleans and numbers by their text: true -> "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _normalize_into(normalized: dict[str, ContextValue], raw: Mapping[str, Any]) -> None:
    for key, value in raw.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            normalized[key.lower()] = tuple(scalar_text(item) for item in value)
        else:
            normalized[key.lower()] = scalar_text(value)


def normalize_context(raw: Mapping[str, Any] | None) -> Mapping[str, ContextValue]:
    """Lower-case the keys and turn lists into tuples; returns a read-only mapping."""
    normalized: dict[str, ContextValue] = {}
    _normalize_into(normalized, raw or {})
    return MappingProxyType(normalized)


def derive_context(
    context: Mapping[str, ContextValue],
    changes: Mapping[str, Any] | None = None,
    *,
    drop: Iterable[str] = (),
) -> Mapping[str, ContextValue]:
    """A normalized context with the keys ``drop`` names (lower-case) removed and
    ``changes`` set, normalized as ``normalize_context`` does (a None value is no value:
    to remove a key, drop it). Equals ``normalize_context`` of the edited dict, but only
    the changes are normalized: a request and the probes built from it share all their
    other keys, and normalizing those again dominated the least-privilege checks."""
    dropped = frozenset(drop)
    derived = {key: value for key, value in context.items() if key not in dropped}
    _normalize_into(derived, changes or {})
    return MappingProxyType(derived)
