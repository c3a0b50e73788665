"""Mapped events cross files and processes as JSON, never pickle: every demo denial, mapped,
encodes and decodes to an equal event with the same requests."""

import json

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


def test_a_value_of_the_wrong_shape_is_refused_not_guessed():
    event = _mapped()[0]
    data = json.loads(typed_json.dumps(event))
    data["actions"] = "s3:GetObject"  # a string where a list of requests belongs
    with pytest.raises(TypeError):
        typed_json.from_jsonable(DeniedEvent, data)
