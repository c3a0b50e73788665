"""The run's policy changes: recognised once from the scan's change rows, written as the
``changes/`` table, and handed to analysis workers by reference.

The scan (``sql/denials.sql``) returns the successful events that
``analyzer.history.changes`` recognises as policy changes, flattened like the denials;
each is rebuilt as its CloudTrail event (``grouping.event_from_row``) and recognised by
``policy_change``, the function ``analyze --history`` uses, so both find the same
changes. CloudTrail delivers an event at least once: a change is kept once per event id.

Workers get the changes as one work file under ``<out>/_work/`` named by its content
hash, and a ``ChangesRef`` (its URI and that hash): each change is stored as typed JSON
(``analyzer.typed_json``, never pickle), beside the ``changes/`` columns, and a worker
builds its ``PolicyTimeline`` from the file once (``work.load_history_once``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from analyzer import typed_json
from analyzer.errors import PipelineError
from analyzer.events.records import EventRecord
from analyzer.history.changes import ChangeProblem, PolicyChange, order_key, read_change
from analyzer.history.timeline import with_snapshot_names
from analyzer.pipeline import tables
from analyzer.pipeline.batches import work_location
from analyzer.pipeline.grouping import event_from_row
from analyzer.pipeline.storage import filesystem, write_atomically
from analyzer.result_tables import CHANGES
from analyzer.snapshot.model import Snapshot

WORK_SCHEMA = CHANGES.append(pa.field("change", pa.string()))  # + the PolicyChange, typed JSON


@dataclass(frozen=True)
class ChangesRef:
    """The run's policy changes, by reference: the work file and its content hash, and
    the earlier snapshots the timeline is built with too (location, content hash each;
    ``PipelineSettings.earlier_snapshots``). ``key`` covers both: what a worker's
    timeline and a batch's cached result are keyed on."""

    uri: str
    content_hash: str
    count: int
    earlier: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        if not self.earlier:
            return self.content_hash
        ids = "\0".join(snapshot_id for _, snapshot_id in self.earlier)
        return hashlib.sha256(f"{self.content_hash}\0{ids}".encode()).hexdigest()


def recognise(rows: pa.Table, snapshot: Snapshot) -> tuple[list[PolicyChange], list[str]]:
    """The policy changes among the scan's change rows, each event once, in time order,
    named as the snapshot names what they changed (``with_snapshot_names``); and a line
    for each change event that cannot be used, for the run's summary."""
    found: dict[str, PolicyChange] = {}
    problems: list[str] = []
    for row in rows.to_pylist():
        record = EventRecord(f"event {row.get('event_id')}", 0, event_from_row(row))
        change = read_change(record)
        if isinstance(change, ChangeProblem):  # named as the scan names an untimed one
            source = f"{row.get('event_source')} {row.get('event_name')}"
            problems.append(f"eventID {row.get('event_id') or '(none)'} ({source}): {change.message}")
        elif change is not None:
            found.setdefault(change.event_id, change)
    return with_snapshot_names(sorted(found.values(), key=order_key), snapshot), problems


def table(changes: Iterable[PolicyChange]) -> pa.Table:
    """The ``changes/`` rows."""
    return tables.to_table("changes", [_columns(change) for change in changes])


def _columns(change: PolicyChange) -> dict[str, Any]:
    return {
        "event_id": change.event_id,
        "event_time": change.event_time,
        "account_id": change.account,
        "changed_by": change.changed_by,
        "event_name": change.event_name,
        "policy_type": change.policy_type,
        "policy_arn": change.policy_arn,
        "target_arn": change.target_arn,
        "document": change.document,
    }


def write_work_file(
    changes: list[PolicyChange],
    out: str,
    s3_options: dict[str, Any],
    earlier: tuple[tuple[str, str], ...] = (),
) -> ChangesRef | None:
    """The changes as a work file (None without changes: workers then need no history,
    nor the ``earlier`` snapshots)."""
    if not changes:
        return None
    blobs = [typed_json.dumps(change) for change in changes]
    digest = hashlib.sha256("\n".join(blobs).encode()).hexdigest()
    rows = table(changes).append_column("change", pa.array(blobs, pa.string()))
    uri = write_atomically(
        work_location(out), f"changes-{digest[:24]}.parquet", tables.parquet_bytes(rows), s3_options
    )
    return ChangesRef(uri, digest, len(changes), earlier)


def _read(ref: ChangesRef, s3_options: dict[str, Any]) -> pa.Table:
    fs, path = filesystem(ref.uri, s3_options)
    try:
        with fs.open(path, "rb") as handle:
            return pq.read_table(handle, schema=WORK_SCHEMA)
    except (OSError, ValueError, pa.ArrowException) as error:
        raise PipelineError(f"{ref.uri}: cannot read the run's policy changes ({error})") from None


def read_work_file(ref: ChangesRef, s3_options: dict[str, Any]) -> tuple[PolicyChange, ...]:
    """The changes of a work file, after checking its content is the ref's."""
    blobs = _read(ref, s3_options).column("change").to_pylist()
    if hashlib.sha256("\n".join(blobs).encode()).hexdigest() != ref.content_hash:
        raise PipelineError(f"{ref.uri}: the run's policy changes changed since the scan recognised them")
    try:
        return tuple(typed_json.loads(PolicyChange, blob) for blob in blobs)
    except (TypeError, ValueError, KeyError) as error:
        raise PipelineError(f"{ref.uri}: holds a change that is not a policy change ({error})") from None


def table_in_window(
    ref: ChangesRef | None, in_window: Callable[[date], bool], s3_options: dict[str, Any]
) -> pa.Table:
    """The ``changes/`` rows of the event days ``in_window`` holds
    (``PipelineSettings.in_window``): the changes read beyond the window, up to the
    snapshots' times, serve the analysis only. Their days were read only in part (up to
    a snapshot), so writing them would replace a whole day's changes with a part of them."""
    if ref is None:
        return CHANGES.empty_table()
    rows = tables.to_table("changes", _read(ref, s3_options))
    return rows.filter(pa.array([in_window(when.date()) for when in rows.column("event_time").to_pylist()]))
