"""Frozen dataclasses to JSON and back, guided by their type hints.

How a mapped event or a result crosses a process boundary or a file without pickle: a
pickle read from storage runs whatever code its writer chose, so nothing the project stores
is a pickle (DESIGN, "Trust boundaries"). Decoding builds only the types the target class
declares: dataclasses, enums, ``datetime``, tuples, read-only mappings, ``str``/``int``/
``float``/``bool``/``None``, and unions of those. A value of another shape is refused with
``TypeError`` rather than guessed.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from functools import cache
from types import MappingProxyType
from typing import Any, TypeVar

T = TypeVar("T")
_SCALARS = (str, int, float, bool)
_EXACT_SCALARS = frozenset(_SCALARS)


@cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    """A dataclass's field names (None for any other type), looked up once per class: the
    pipeline encodes thousands of mapped events of ~80 values each."""
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    return None


def to_jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data (dataclasses as objects of their fields)."""
    kind: type = type(value)
    if value is None or kind in _EXACT_SCALARS:  # the common case first; subclasses (StrEnum) below
        return value
    names = _field_names(kind)
    if names is not None:
        return {name: to_jsonable(getattr(value, name)) for name in names}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if isinstance(value, _SCALARS):
        return value
    raise TypeError(f"cannot encode a {type(value).__name__} as JSON")


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), separators=(",", ":"), ensure_ascii=False)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_jsonable(kind: Any, data: Any) -> Any:
    """Build a value of type ``kind`` from JSON-ready ``data``."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(kind)
        if data is None and type(None) in members:
            return None
        errors = []
        for member in (m for m in members if m is not type(None)):
            try:
                return from_jsonable(member, data)
            except (TypeError, ValueError) as error:
                errors.append(str(error))
        raise TypeError(f"{data!r} fits none of {kind}: {'; '.join(errors)}")
    if kind is Any:
        return data
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        if not isinstance(data, dict):
            raise TypeError(f"{kind.__name__} needs an object, not {type(data).__name__}")
        hints = _hints(kind)
        values = {
            f.name: from_jsonable(hints[f.name], data[f.name])
            for f in dataclasses.fields(kind)
            if f.init and f.name in data
        }
        return kind(**values)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(data)
    if kind is datetime:
        if not isinstance(data, str):
            raise TypeError("a datetime needs ISO text")
        return datetime.fromisoformat(data)
    if origin is tuple:
        if not isinstance(data, list):
            raise TypeError(f"a tuple needs a list, not {type(data).__name__}")
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_jsonable(args[0], item) for item in data)
        if len(args) != len(data):
            raise TypeError(f"{kind} needs {len(args)} items, not {len(data)}")
        return tuple(from_jsonable(arg, item) for arg, item in zip(args, data, strict=True))
    if origin in (Mapping, dict, typing.Mapping) or kind in (Mapping, dict):
        if not isinstance(data, dict):
            raise TypeError(f"a mapping needs an object, not {type(data).__name__}")
        args = typing.get_args(kind) or (str, Any)
        built = {from_jsonable(args[0], key): from_jsonable(args[1], item) for key, item in data.items()}
        return MappingProxyType(built) if origin is not dict and kind is not dict else built
    if origin is list:
        if not isinstance(data, list):
            raise TypeError(f"a list needs a list, not {type(data).__name__}")
        (item_kind,) = typing.get_args(kind) or (Any,)
        return [from_jsonable(item_kind, item) for item in data]
    if kind in _SCALARS:
        if kind is float and isinstance(data, int) and not isinstance(data, bool):
            return float(data)
        if type(data) is not kind:
            raise TypeError(f"expected {kind.__name__}, not {type(data).__name__}")
        return data
    if kind is type(None) and data is None:
        return None
    raise TypeError(f"cannot decode {kind}")


def loads(kind: type[T], text: str | bytes) -> T:
    """A ``kind`` (a dataclass) from the JSON text ``dumps`` wrote."""
    value: T = from_jsonable(kind, json.loads(text))
    return value
