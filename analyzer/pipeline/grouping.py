"""From denied events to distinct (principal, action, resource) groups.

``samples.sql`` keeps one event per ``raw_key``; each sample is mapped to its IAM
actions once (``map_samples``), the mapping is joined back onto every denial,
and ``groups.sql`` counts the groups. The mapping of a sample is rebuilt from
the flat columns of denials.sql; the mapped events that are a group's sample are
kept, encoded (``Mapped.texts``), so the groups file hands each group's sample to
analysis already mapped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from analyzer.errors import AnalyzerError
from analyzer.events.fields import JSON, LIST_SEPARATOR, ROW_COLUMNS, RowColumn
from analyzer.events.mapping import DeniedEvent, map_event
from analyzer.events.records import EventRecord
from analyzer.events.sessions import SessionPolicies
from analyzer.pipeline import queries
from analyzer.pipeline.batches import dump_event

MAPPING_SCHEMA = pa.schema(
    [
        ("raw_key", pa.string()),
        ("principal_arn", pa.string()),
        ("principal_type", pa.string()),
        ("principal_account", pa.string()),
        ("action", pa.string()),
        ("resource_arn", pa.string()),
        ("group_key", pa.string()),
        ("is_primary", pa.bool_()),
        ("action_index", pa.int32()),
        ("aws_policy_type", pa.string()),
        ("aws_policy_arn", pa.string()),
        ("authorization_id", pa.string()),
        ("problem", pa.string()),
    ]
)


def _json(text: Any) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        cleaned = {k: _drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, {}, [])}
    return value


def _put(event: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for name in path[:-1]:
        event = event.setdefault(name, {})
    event[path[-1]] = value


def _value(column: RowColumn, text: Any) -> Any:
    """A row's value as the event holds it: JSON text parsed, a list column split back
    into its items, each the one field it carries (``{}`` where an item has none: the
    columns of one list are joined item by item in ``event_from_row``)."""
    if column.kind == JSON:
        return _json(text)
    if column.listed is None:
        return text
    rest = column.path[column.listed :]
    items = []
    for value in str(text).split(LIST_SEPARATOR) if text else ():
        item: dict[str, Any] = {}
        if value:
            _put(item, rest, value)
        items.append(item)
    return items


def _slots() -> tuple[tuple[str, tuple[str, ...], str, RowColumn | None], ...]:
    """``ROW_COLUMNS`` as (column name, the field's parent structs, its name, the column
    when its text must be converted), worked out once: the group stage rebuilds ~10,000
    events per million denials, and walking the generic path per value was a fifth of it.

    Only a converted value (JSON, a list) can be empty and so left out; it must sit at
    the record's root, or leaving it out would leave an empty parent struct behind."""
    slots = []
    for column in ROW_COLUMNS:
        path = column.path[: column.listed] if column.listed else column.path
        converted = column.kind == JSON or column.listed is not None
        if converted and len(path) > 1:
            raise ValueError(f"row column {column.name}: a JSON or list field must be top-level")
        slots.append((column.name, path[:-1], path[-1], column if converted else None))
    return tuple(slots)


_SLOTS = _slots()


def event_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """The CloudTrail event (S3-delivery shape) behind one flat denials.sql row (a denial
    or a policy change): each of ``fields.ROW_COLUMNS`` put back at its path, the empty
    values (null, ``{}``, ``[]``, also inside JSON objects) left out."""
    event: dict[str, Any] = {}
    lists: dict[str, list[dict[str, Any]]] = {}  # a list's items, joined from its columns
    for name, parents, leaf, converted in _SLOTS:
        value = row.get(name)
        if value is None:
            continue
        if converted is not None and converted.listed is not None:
            items = lists.setdefault(leaf, [])
            for position, item in enumerate(_value(converted, value)):
                if position == len(items):
                    items.append({})
                items[position].update(item)
            continue
        if converted is not None:
            value = _drop_empty(_value(converted, value))
            if value is None or value == {} or value == []:
                continue
        target = event
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    for leaf, items in lists.items():
        if kept := [item for item in items if item]:
            event[leaf] = kept
    return event


def sample_event(row: Mapping[str, Any]) -> DeniedEvent:
    """Map a sample row; raises ``AnalyzerError`` (naming the event) when it cannot be."""
    return map_event(EventRecord(f"event {row.get('event_id')}", 0, event_from_row(row)))


def group_principal(event: DeniedEvent) -> str:
    """Groups are per principal as ``analyze`` names it (``aws:PrincipalArn``): per role, not
    per session (session names change on every run), the role rebuilt when the event omits
    its issuer."""
    caller = event.caller
    return caller.identity_arn or caller.invoked_by or "anonymous"


def group_key(principal: str, action: str | None, resource: str | None) -> str:
    text = "\x1f".join((principal, action or "", resource or ""))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _problem_rows(row: Mapping[str, Any], error: AnalyzerError) -> Iterable[dict[str, Any]]:
    principal = row.get("issuer_arn") or row.get("identity_arn") or "unknown"
    yield {
        "raw_key": row["raw_key"],
        "aws_policy_type": None,
        "aws_policy_arn": None,
        "authorization_id": None,
        "principal_arn": principal,
        "principal_type": row.get("identity_type"),
        "principal_account": row.get("identity_account_id"),
        "action": None,
        "resource_arn": None,
        "is_primary": True,
        "action_index": None,
        "group_key": group_key(principal, None, row["raw_key"]),
        "problem": str(error),
    }


def _rows_for(raw_key: str, event: DeniedEvent) -> Iterable[dict[str, Any]]:
    base = {
        "raw_key": raw_key,
        "aws_policy_type": None,
        "aws_policy_arn": None,
        "authorization_id": None,
        "problem": None,
    }
    principal = group_principal(event)
    hint = event.hint
    base.update(
        principal_arn=principal,
        principal_type=event.caller.identity_type,
        principal_account=event.caller.account,
        aws_policy_type=str(hint.policy_type) if hint.policy_type else None,
        aws_policy_arn=hint.policy_arn,
        authorization_id=hint.authorization_id,
    )
    if event.is_invalid_action:
        operation = f"{event.event_source}:{event.event_name}"
        yield {
            **base,
            "action": None,
            "resource_arn": None,
            "is_primary": True,
            "action_index": None,
            "group_key": group_key(principal, None, operation),
        }
        return
    for index, action in enumerate(event.actions):
        yield {
            **base,
            "action": action.action,
            "resource_arn": action.resource,
            "is_primary": index == 0,
            "action_index": index,
            "group_key": group_key(principal, action.action, action.resource),
        }


@dataclass(frozen=True)
class Mapped:
    """The samples mapped: the rows ``groups.sql`` joins; the mapped events that are a
    group's sample, by raw_key, as the typed JSON a worker reads (none for a sample that
    could not be mapped: its rows carry the ``problem``); and the session each of those
    carries, where it has one."""

    rows: pa.Table
    texts: Mapping[str, str]
    sessions: Mapping[str, SessionPolicies]


_CHUNK_ROWS = 2048


def map_samples(
    samples: Iterable[pa.RecordBatch],
    finish: Callable[[DeniedEvent, bool], DeniedEvent],
) -> Mapped:
    """Map each sample once: one mapping row per (raw_key, action); a sample that cannot
    be mapped becomes one row with ``problem`` set. ``finish`` completes each event that is a
    group's sample (``pipeline.sessions.with_session``: its session, which the mapping rows
    do not read), told whether the scan read the call that created its session (the row's
    ``session_event_id``).

    Memory grows with the distinct shapes, so none is held longer than it must be: the
    samples come a slice at a time, each slice's rows are Python values only while it is
    mapped, and only the events that will be a group's sample are kept, as text (about
    2.9 KB; as objects, 4.7 KB). The samples come latest first (samples.sql), so a shape is
    a group's sample exactly when it is the first seen of one of its groups; the others
    (at 1M events of the benchmark's organization 3,800 of 10,300 shapes, of a night with
    per-call parameters most of them) cost their mapping rows only."""
    tables: list[pa.Table] = []
    texts: dict[str, str] = {}
    sessions: dict[str, SessionPolicies] = {}
    sampled: set[str] = set()  # the groups whose sample is known
    for chunk in samples:
        rows: list[dict[str, Any]] = []
        for row in chunk.to_pylist():
            raw_key = row["raw_key"]
            try:
                event = sample_event(row)
            except AnalyzerError as error:
                rows.extend(_problem_rows(row, error))
                continue
            own = list(_rows_for(raw_key, event))
            rows.extend(own)
            first = {mapping["group_key"] for mapping in own} - sampled
            if first:
                sampled |= first
                event = finish(event, row.get("session_event_id") is not None)
                texts[raw_key] = dump_event(event)
                if event.session is not None:
                    sessions[raw_key] = event.session
        tables.append(pa.Table.from_pylist(rows, schema=MAPPING_SCHEMA))
    rows_table = pa.concat_tables(tables) if tables else MAPPING_SCHEMA.empty_table()
    return Mapped(rows_table, texts, sessions)


def samples(connection: duckdb.DuckDBPyConnection) -> pa.RecordBatchReader:
    """One sample row per raw_key of the ``denial_rows`` table (samples.sql), streamed in
    slices of ``_CHUNK_ROWS`` (read them while ``connection`` is open)."""
    return connection.sql(queries.duckdb_sql("samples")).to_arrow_reader(_CHUNK_ROWS)
