"""Mapped events cross files and processes as JSON, never pickle: every demo denial, mapped,
encodes and decodes to an equal event with the same requests."""

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import pytest

from analyzer import typed_json
from analyzer.demo.traffic import CREATED, EVENT_ID, REQUEST_ID, TIME, templates
from analyzer.events.mapping import DeniedEvent, map_event
from analyzer.events.records import EventRecord


def _mapped() -> list[DeniedEvent]:
    events = []
    for template in templates().denied:
        text = (
            json.dumps(template.event)
            .replace(TIME, "2026-11-22T17:05:09Z")
            .replace(CREATED, "2026-11-22T17:00:00Z")
            .replace(EVENT_ID, "e")
            .replace(REQUEST_ID, "r")
        )
        events.append(map_event(EventRecord("demo", 0, json.loads(text))))
    return events


@pytest.mark.parametrize("event", _mapped(), ids=lambda e: f"{e.event_name}:{e.principal_arn}")
def test_a_mapped_event_round_trips(event):
    text = typed_json.dumps(event)
    back = typed_json.loads(DeniedEvent, text)
    assert back == event
    assert back.requests() == event.requests()
    assert "pickle" not in text


@pytest.mark.parametrize("event", _mapped()[:3], ids=lambda e: f"{e.event_name}:{e.principal_arn}")
def test_an_event_encodes_the_same_before_and_after_its_requests_are_built(event):
    """The requests an event caches once built are not data: the groups file (whose
    hash keys the batch's cached result) must not depend on whether they were built."""
    before = typed_json.dumps(event)
    assert event.requests() is event.requests()  # built once
    assert typed_json.dumps(event) == before


def test_a_value_of_the_wrong_shape_is_refused_not_guessed():
    event = _mapped()[0]
    data = json.loads(typed_json.dumps(event))
    data["actions"] = "s3:GetObject"  # a string where a list of requests belongs
    with pytest.raises(TypeError):
        typed_json.from_jsonable(DeniedEvent, data)


class _Colour(StrEnum):
    RED = "red"


@dataclass(frozen=True)
class _Shapes:
    """Fields whose JSON value is a plain value the decoder must still convert."""

    ratio: float
    maybe_ratio: float | None
    when: datetime | None
    colour: _Colour | None
    ratios: tuple[float, ...]
    by_name: Mapping[str, float]
    names: tuple[str, ...] = ()
    note: str | None = None


def test_plain_json_values_still_become_the_declared_type():
    """The decoder passes plain values through without a call where that is exact; an int
    for a float, text for a datetime or an enum must still be converted."""
    data = {
        "ratio": 1,
        "maybe_ratio": 2,
        "when": "2026-11-22T17:05:09+00:00",
        "colour": "red",
        "ratios": [3, 4.5],
        "by_name": {"a": 5},
        "names": ["x"],
        "note": None,
    }
    shapes = typed_json.from_jsonable(_Shapes, data)
    assert type(shapes.ratio) is float and type(shapes.maybe_ratio) is float
    assert shapes.when == datetime(2026, 11, 22, 17, 5, 9, tzinfo=UTC)
    assert shapes.colour is _Colour.RED
    assert [type(value) for value in shapes.ratios] == [float, float]
    assert type(shapes.by_name["a"]) is float
    assert typed_json.loads(_Shapes, typed_json.dumps(shapes)) == shapes
    with pytest.raises(TypeError):
        typed_json.from_jsonable(_Shapes, {**data, "note": 5})
    with pytest.raises(TypeError):
        typed_json.from_jsonable(_Shapes, {**data, "names": [True]})


def test_text_orjson_refuses_decodes_as_json_reads_it():
    """``loads`` parses with orjson, which refuses NaN and integers beyond 64 bits that
    ``json`` (and so ``dumps``) writes: such text still decodes, to the same values."""
    shapes = _Shapes(float("nan"), None, None, None, (), {"big": float(2**70)})
    back = typed_json.loads(_Shapes, typed_json.dumps(shapes))
    assert math.isnan(back.ratio) and back.by_name == {"big": float(2**70)}
    text = typed_json.dumps(_Shapes(1.0, None, None, None, (), {})).replace('"ratio":1.0', f'"ratio":{2**70}')
    assert typed_json.loads(_Shapes, text).ratio == float(2**70)
