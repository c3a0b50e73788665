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
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum
from functools import cache
from types import MappingProxyType
from typing import Any, TypeVar

import orjson

T = TypeVar("T")
_SCALARS = (str, int, float, bool)
_EXACT_SCALARS = frozenset(_SCALARS)
# Values that are their own JSON: tested inline, so the ~80 plain values of a mapped
# event cost no call each (the pipeline encodes and decodes thousands of events).
_PLAIN = frozenset((*_SCALARS, type(None)))


@cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    """A dataclass's field names (None for any other type), looked up once per class: the
    pipeline encodes thousands of mapped events of ~80 values each. Fields the constructor
    does not take (caches such as ``DeniedEvent``'s requests) are not data: decoding could
    not give them back."""
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls) if f.init)
    return None


def to_jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data (dataclasses as objects of their fields)."""
    kind: type = type(value)
    if kind in _PLAIN:  # the common case first; subclasses (StrEnum) below
        return value
    names = _field_names(kind)
    if names is not None:
        return {
            name: item if type(item := getattr(value, name)) in _PLAIN else to_jsonable(item)
            for name in names
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): item if type(item) in _PLAIN else to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [item if type(item) in _PLAIN else to_jsonable(item) for item in value]
    if isinstance(value, _SCALARS):
        return value
    raise TypeError(f"cannot encode a {type(value).__name__} as JSON")


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), separators=(",", ":"), ensure_ascii=False)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


Decoder = Callable[[Any], Any]


def from_jsonable(kind: Any, data: Any) -> Any:
    """Build a value of type ``kind`` from JSON-ready ``data``."""
    return _decoder(kind)(data)


@cache
def _decoder(kind: Any) -> Decoder:
    """The decoder of ``kind``, worked out once per type from its hints: a worker decodes
    thousands of mapped events of ~130 values each, and walking the type hints per value
    was a third of the analysis stage."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return _union(kind)
    if kind is Any:
        return _identity
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _dataclass(kind)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind
    if kind is datetime:
        return _datetime
    if origin is tuple:
        return _tuple(kind)
    if origin in (Mapping, dict, typing.Mapping) or kind in (Mapping, dict):
        return _mapping(kind, read_only=origin is not dict and kind is not dict)
    if origin is list:
        (item_kind,) = typing.get_args(kind) or (Any,)
        return _list(item_kind)
    if kind in _SCALARS:
        return _scalar(kind)
    if kind is type(None):
        return _none

    def refuse(data: Any) -> Any:
        raise TypeError(f"cannot decode {kind}")

    return refuse


@cache
def _unchanged(kind: Any) -> frozenset[type]:
    """The exact types whose values ``kind``'s decoder returns as they are: a caller tests
    ``type(data)`` against them inline instead of calling the decoder (it would return
    ``data`` unchanged). Empty when a conversion may apply (enums, dataclasses, ``float``
    from an ``int``, a union with such a member)."""
    if kind in _SCALARS and kind is not float:
        return frozenset((kind,))
    if kind is float or kind is type(None):
        return frozenset((kind,))
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        members = typing.get_args(kind)
        if not all(member in _PLAIN for member in members):
            return frozenset()
        # float accepts an int (converting it); the others accept only their own type.
        return frozenset(member for member in members if not (member is int and float in members))
    return frozenset()


def _identity(data: Any) -> Any:
    return data


def _none(data: Any) -> None:
    if data is not None:
        raise TypeError(f"cannot decode {type(None)}")


def _union(kind: Any) -> Decoder:
    members = typing.get_args(kind)
    optional = type(None) in members
    others = [member for member in members if member is not type(None)]
    unchanged = _unchanged(kind)

    def decode(data: Any) -> Any:
        if type(data) in unchanged or (data is None and optional):
            return data
        errors = []
        for member in others:
            try:
                return _decoder(member)(data)
            except (TypeError, ValueError) as error:
                errors.append(str(error))
        raise TypeError(f"{data!r} fits none of {kind}: {'; '.join(errors)}")

    return decode


def _dataclass(kind: type) -> Decoder:
    # Worked out on first use (a type may refer to itself), built whole and then published,
    # so a thread decoding at the same time never sees half of it.
    resolved: list[tuple[tuple[str, Decoder, frozenset[type]], ...]] = []

    def decode(data: Any) -> Any:
        if not isinstance(data, dict):
            raise TypeError(f"{kind.__name__} needs an object, not {type(data).__name__}")
        if not resolved:
            hints = _hints(kind)
            resolved.append(
                tuple(
                    (f.name, _decoder(hints[f.name]), _unchanged(hints[f.name]))
                    for f in dataclasses.fields(kind)
                    if f.init
                )
            )
        values = {}
        for name, field, unchanged in resolved[0]:
            if name in data:
                value = data[name]
                values[name] = value if type(value) in unchanged else field(value)
        return kind(**values)

    return decode


def _datetime(data: Any) -> datetime:
    if not isinstance(data, str):
        raise TypeError("a datetime needs ISO text")
    return datetime.fromisoformat(data)


def _tuple(kind: Any) -> Decoder:
    args = typing.get_args(kind)
    unchanged = _unchanged(args[0]) if len(args) == 2 and args[1] is Ellipsis else frozenset()

    def decode(data: Any) -> tuple[Any, ...]:
        if not isinstance(data, list):
            raise TypeError(f"a tuple needs a list, not {type(data).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            item = _decoder(args[0])
            return tuple(value if type(value) in unchanged else item(value) for value in data)
        if len(args) != len(data):
            raise TypeError(f"{kind} needs {len(args)} items, not {len(data)}")
        return tuple(_decoder(arg)(value) for arg, value in zip(args, data, strict=True))

    return decode


def _mapping(kind: Any, read_only: bool) -> Decoder:
    key_kind, value_kind = typing.get_args(kind) or (str, Any)
    plain_keys, plain_values = _unchanged(key_kind), _unchanged(value_kind)

    def decode(data: Any) -> Mapping[Any, Any]:
        if not isinstance(data, dict):
            raise TypeError(f"a mapping needs an object, not {type(data).__name__}")
        keys, values = _decoder(key_kind), _decoder(value_kind)
        built = {
            key if type(key) in plain_keys else keys(key): item
            if type(item) in plain_values
            else values(item)
            for key, item in data.items()
        }
        return MappingProxyType(built) if read_only else built

    return decode


def _list(item_kind: Any) -> Decoder:
    def decode(data: Any) -> list[Any]:
        if not isinstance(data, list):
            raise TypeError(f"a list needs a list, not {type(data).__name__}")
        item = _decoder(item_kind)
        return [item(value) for value in data]

    return decode


def _scalar(kind: type) -> Decoder:
    def decode(data: Any) -> Any:
        if kind is float and isinstance(data, int) and not isinstance(data, bool):
            return float(data)
        if type(data) is not kind:
            raise TypeError(f"expected {kind.__name__}, not {type(data).__name__}")
        return data

    return decode


def loads(kind: type[T], text: str | bytes) -> T:
    """A ``kind`` (a dataclass) from the JSON text ``dumps`` wrote.

    orjson parses it (JSON parsing was over half of decoding a worker's samples); the text
    orjson refuses but ``json`` reads (``NaN``, integers beyond 64 bits) goes to ``json``,
    so what decodes is unchanged. ``dumps`` stays with ``json``: orjson spells some floats
    differently, and the groups file's name is the hash of that text."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        data = json.loads(text)
    value: T = from_jsonable(kind, data)
    return value
