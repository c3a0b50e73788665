"""CloudTrail events: streaming readers for every input layout, and mapping to requests.

``read_events`` yields raw ``EventRecord``s (or ``ReadProblem``s naming the file and
record); ``map_event`` / ``denied_events`` turn denials into ``DeniedEvent``s whose
``requests()`` the engine evaluates, with the caller from ``caller.py`` and the request
context from ``context.py``.
"""

from analyzer.events.caller import Caller, map_caller
from analyzer.events.context import build_context
from analyzer.events.decode import decode_hint
from analyzer.events.mapping import (
    ActionRequest,
    DeniedEvent,
    denied_events,
    map_actions,
    map_event,
    map_events,
)
from analyzer.events.messages import DecodeStatus, DenialHint, parse_denial_message
from analyzer.events.readers import (
    iter_files,
    read_events,
    read_file,
    read_json_binary,
    read_json_stream,
    read_parquet_binary,
)
from analyzer.events.records import EventRecord, ReadProblem, ReadStats, is_denial_code

__all__ = [
    "ActionRequest",
    "Caller",
    "DecodeStatus",
    "DenialHint",
    "DeniedEvent",
    "EventRecord",
    "ReadProblem",
    "ReadStats",
    "build_context",
    "decode_hint",
    "denied_events",
    "is_denial_code",
    "iter_files",
    "map_actions",
    "map_caller",
    "map_event",
    "map_events",
    "parse_denial_message",
    "read_events",
    "read_file",
    "read_json_binary",
    "read_json_stream",
    "read_parquet_binary",
]
