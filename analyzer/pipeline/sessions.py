"""Session policies in ``run``: the sessions the scan found, put on the groups' samples.

The scan (``sql/denials.sql``) reads every successful session-creating STS call of the
window (and the 36 hours before it). Each denial row names the call that created its
session when the scan read it (``session_event_id``, matched in SQL on the temporary access
key and on the session that call made, as ``SessionIndex`` matches them), so a sample knows
whether its session's creation was read (``DeniedEvent.session_read``) without a row per
creating call leaving the scan: most sessions pass no session policy, and there can be very
many of them. Only the calls that may have passed session policies come back as rows; each
is rebuilt as its event and read by ``analyzer.events.sessions.session_created``, the
function ``analyze`` uses, into a ``SessionIndex`` keyed by the session's temporary access
key id and session, which keeps the sessions whose policies change an answer
(``SessionPolicies.matters``): few, so the index is small.

The group stage puts on each sample whether its session's creation was read, and the
session when its policies matter (``DeniedEvent.session``), before it is written to the
groups file, so a worker explains it like ``analyze`` does (a session created without
session policies is evaluated with its identity policies alone, and no note calls its
policies unknown), with no second file to load, and a batch's content hash (its result
cache key) covers the session.

A group is one (principal, action, resource), the principal being the role for a role's
sessions, so its events may come from several sessions. Its result is the evaluation of
its sample, the latest denial, with that event's session: the session whose policies are
in force last. When other events of the group came from sessions with other session
policies (or none), ``group_notes`` says so in the group's notes, naming the calls that
created them, instead of evaluating every session (a few SQL rows per such group; none
when no session passed policies).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace

import duckdb
import pyarrow as pa

from analyzer.events.caller import map_caller
from analyzer.events.mapping import DeniedEvent
from analyzer.events.records import EventRecord
from analyzer.events.sessions import SessionIndex, SessionPolicies, session_created
from analyzer.pipeline.grouping import Mapped, event_from_row

_NAMED = 3  # other sessions a note names; the rest are counted


def recognise(rows: pa.Table | None) -> SessionIndex:
    """The sessions of the scan's session rows whose policies matter (the index keeps no
    other: which sessions' creation was read comes with each denial row)."""
    index = SessionIndex()
    for row in rows.to_pylist() if rows is not None else ():
        session = session_created(EventRecord(f"event {row.get('event_id')}", 0, event_from_row(row)))
        if session is not None:
            index.add(session)
    return index


def with_session(event: DeniedEvent, index: SessionIndex, creation_read: bool) -> DeniedEvent:
    """The mapped sample told whether the scan read the call that created its session
    (``creation_read``: its row's ``session_event_id``, or the session is in ``index``)
    and given that session when its policies matter."""
    session = index.get(event.caller)
    if session is not None or creation_read:
        return replace(event, session_read=True, session=session)
    return event


def _policies(session: SessionPolicies | None) -> tuple[object, ...]:
    if session is None:
        return ()
    return (session.inline, session.managed_arns, session.unknown, session.federated)


def group_notes(
    connection: duckdb.DuckDBPyConnection, index: SessionIndex, groups: pa.Table, mapped: Mapped
) -> dict[str, str]:
    """A note per group whose events came from sessions with session policies other than
    its sample's; ``connection`` holds ``denial_rows`` and ``denial_mapping``."""
    if not len(index):
        return {}
    keys = pa.table({"access_key_id": pa.array(index.access_key_ids(), pa.string())})
    connection.register("session_keys", keys)
    counts: dict[str, dict[SessionPolicies, int]] = defaultdict(lambda: defaultdict(int))
    # Per caller as well as per key: a key reused by another session is not that session's
    # (``SessionIndex``), and the caller is read from its row as a sample's is.
    for row in (
        connection.sql(
            """
            SELECT m.group_key, d.access_key_id, d.identity_type, d.identity_arn,
                d.identity_account_id, d.identity_principal_id, d.issuer_arn, count(*) AS events
            FROM denial_rows AS d
            JOIN denial_mapping AS m ON d.raw_key = m.raw_key
            WHERE d.access_key_id IN (SELECT access_key_id FROM session_keys)
            GROUP BY ALL
            """
        )
        .to_arrow_table()
        .to_pylist()
    ):
        session = index.get(map_caller(event_from_row(row).get("userIdentity")))
        if session is not None:
            counts[row["group_key"]][session] += row["events"]
    connection.unregister("session_keys")
    notes = {}
    for group in groups.select(["group_key", "event_count", "sample_raw_key"]).to_pylist():
        by_session = counts.get(group["group_key"])
        if not by_session:
            continue  # no event of the group came from a session with session policies
        own = mapped.sessions.get(group["sample_raw_key"])
        note = _note(own, by_session, group["event_count"])
        if note:
            notes[group["group_key"]] = note
    return notes


def _note(own: SessionPolicies | None, by_session: Mapping[SessionPolicies, int], total: int) -> str | None:
    others: list[tuple[SessionPolicies, int]] = []
    plain = total - sum(by_session.values())  # events of sessions without session policies
    for session, events in sorted(
        by_session.items(), key=lambda item: (item[0].access_key_id, item[0].event_id)
    ):
        if session == own:
            continue
        if _policies(session) != _policies(own):
            others.append((session, events))
    if own is None:
        plain = 0  # the sample's own case: no session policy
    if not others and not plain:
        return None
    none = "with no session policy in the logs read"
    mine = f"created by {own.origin}" if own is not None else none
    parts = [f"{events} from the session created by {session.origin}" for session, events in others[:_NAMED]]
    if len(others) > _NAMED:
        rest = sum(events for _, events in others[_NAMED:])
        parts.append(f"{rest} from {len(others) - _NAMED} more sessions with session policies")
    if plain:
        parts.append(f"{plain} from sessions {none}")
    return (
        f"this result evaluates the session of the group's latest denial ({mine}); other denials "
        "of the group came from sessions with other session policies and may be explained "
        "otherwise: " + ", ".join(parts)
    )
