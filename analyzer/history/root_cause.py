"""Each denial explained under the policies of its own time, and the change that caused it.

For a denied event at T the explanation uses ``PolicyTimeline.state_at(T)``. If that is a
denial, the changes before T that touch the request are visited newest first: the root
cause is the latest change before which the same request would have been allowed (every
state after it, up to T, denies). A later change after which it is allowed again is what
fixed it. States that are only partly known never give a confident answer: when an
unknown policy touches the request, the result is ``Error`` saying what is unknown, unless
a known explicit deny decides it anyway (an explicit deny cannot be overridden), and the
search for a root cause stops there.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from analyzer.analysis import analyze_event, named_result, one_line
from analyzer.arn import Arn
from analyzer.engine.model import Decision, PolicyType, ReasonKind
from analyzer.engine.principals import PrincipalKind
from analyzer.explain.output import EventResult, result_json
from analyzer.history.changes import ATTACHED, EditOp, PolicyChange, Slot, SlotKind
from analyzer.history.timeline import (
    UNKNOWN,
    KeysOf,
    PolicyState,
    PolicyTimeline,
    Timeline,
    Unknown,
    entity_key,
    find_entity,
    touched_by,
)
from analyzer.snapshot.applied import Unknown as AppliedUnknown
from analyzer.snapshot.index import snapshot_resolver
from analyzer.snapshot.model import Snapshot
from analyzer.snapshot.organization import RCP, SCP

if TYPE_CHECKING:
    from analyzer.events.mapping import DeniedEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChangeRef:
    """A policy-change event named as a root cause or a fix."""

    change: PolicyChange
    summary: str

    def to_json(self) -> dict[str, Any]:
        change = self.change
        return {
            "EventId": change.event_id,
            "EventTime": change.when,
            "EventName": change.event_name,
            "ChangedBy": change.changed_by,
            "PolicyArn": change.policy_arn,
            "AttachmentTargetArn": change.target_arn,
            "Summary": self.summary,
        }


@dataclass(frozen=True, slots=True)
class HistoryResult:
    """One denied event explained at its own time, with its root cause and fix."""

    result: EventResult
    state: PolicyState
    root_cause: ChangeRef | None = None
    fixed_by: ChangeRef | None = None

    def to_json(self) -> dict[str, Any]:
        out = result_json(self.result)
        out["PolicyStateAt"] = self.state.describe()
        out["RootCause"] = self.root_cause.to_json() if self.root_cause else None
        if self.fixed_by is not None:
            out["FixedBy"] = self.fixed_by.to_json()
        return out


# -- what a request touches --------------------------------------------------------------
def _identity(principal) -> tuple[str, str] | None:
    if principal.kind == PrincipalKind.USER:
        return "user", principal.name or ""
    if principal.kind in (PrincipalKind.ROLE, PrincipalKind.ASSUMED_ROLE):
        return "role", principal.name or ""
    return None


def relevance_keys(event: DeniedEvent, state: PolicyState) -> set[str]:
    """Names of every piece of state that can decide the event's requests: the caller and
    its groups, its managed policies and boundary, the resource, the organization nodes
    above both accounts and their policies, the VPC endpoint, a role being assumed."""
    snapshot = state.snapshot
    keys: set[str] = set()
    for request in event.requests():
        principal = request.principal
        identity = _identity(principal)
        account = principal.account or ""
        if identity:
            keys.add(entity_key(account, *identity))
            raw = _raw_entity(snapshot.data, account, *identity)
            for group in raw.get("GroupList") or ():
                keys.add(entity_key(account, "group", str(group)))
                group_raw = _raw_entity(snapshot.data, account, "group", str(group))
                keys.update(_managed(group_raw))
            keys.update(_managed(raw))
        resource = snapshot_resolver(snapshot).canonical_resource(request.resource)
        keys.add(resource)
        parsed = Arn.parse(resource)
        if parsed is not None and parsed.service == "iam" and parsed.resource.startswith("role/"):
            keys.add(entity_key(parsed.account, "role", parsed.resource.rsplit("/", 1)[-1]))
        organization = snapshot.organization
        owner = snapshot_resolver(snapshot).resource_owner(resource, request.resource_account)
        for member in filter(None, {principal.account, owner}):
            for node in (organization.path(member) or ()) if organization else ():
                keys.add(f"org-node:{node.id}")
                keys.update(f"org-policy:{policy.id}" for policy in node.policies)
                keys.add("org")
        endpoint = request.context.get("aws:sourcevpce")
        if isinstance(endpoint, str):
            keys.add(f"endpoint:{endpoint}")
    return keys


def _raw_entity(data, account: str, kind: str, name: str) -> dict[str, Any]:
    return dict(find_entity(data, account, kind, name) or {})


def _managed(raw: dict[str, Any]) -> set[str]:
    arns = {
        item.get("PolicyArn") for item in raw.get("AttachedManagedPolicies") or () if isinstance(item, dict)
    }
    boundary = (raw.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    return {a for a in (*arns, boundary) if isinstance(a, str)}


# -- one evaluation --------------------------------------------------------------------------
_ALLOWED, _DENIED, _UNDECIDED = "allowed", "denied", "undecided"


def _explicit(result: EventResult) -> bool:
    return any(e.evaluation.decision == Decision.EXPLICITLY_DENIED for e in result.explanations)


def explain_in_state(
    event: DeniedEvent, state: PolicyState, keys_of: KeysOf | None = None, *, propose_fixes: bool = True
) -> tuple[EventResult, str]:
    """The event's result under ``state`` and whether it is allowed, denied or undecided
    (``keys_of``: the event's ``relevance_keys`` under a state, when already known).
    The states only searched or compared are explained without fixes (``propose_fixes``):
    only their decision is used."""
    unknown: tuple[Unknown, ...] = ()
    if state.unknown:
        unknown = state.unknown_for(keys_of(state) if keys_of else relevance_keys(event, state))
    # Each explanation lists them and keeps only the reasons the known policies settle.
    parts = tuple(dict.fromkeys(part for u in unknown for part in _applied_unknown(u, state)))
    result = analyze_event(
        event, snapshot_resolver(state.snapshot), propose_fixes=propose_fixes, unknown=parts
    )
    if result.code is not None:
        return result, _UNDECIDED
    if unknown and not _explicit(result):
        return _partial(result, state, unknown), _UNDECIDED
    if not _explicit(result) and not all(e.decided for e in result.explanations):
        # A policy the state holds but cannot read (an AWS managed policy the snapshot
        # lacks): the request is not known to be denied, nor allowed.
        return result, _UNDECIDED
    if all(e.evaluation.decision == Decision.ALLOWED for e in result.explanations):
        return result, _ALLOWED
    return result, _DENIED


# The policy types a slot's value decides (a managed policy's document is left out: the
# state lacks it, and the snapshot's resolver names it unknown where it is attached).
_SLOT_POLICY_TYPES = {
    SlotKind.INLINE: (PolicyType.IDENTITY,),
    SlotKind.ATTACHMENT: (PolicyType.IDENTITY,),
    SlotKind.MEMBERSHIP: (PolicyType.IDENTITY,),
    SlotKind.ENTITY: (PolicyType.IDENTITY,),
    SlotKind.TAG: (PolicyType.IDENTITY,),
    SlotKind.BOUNDARY: (PolicyType.PERMISSIONS_BOUNDARY,),
    SlotKind.TRUST: (PolicyType.RESOURCE,),
    SlotKind.RESOURCE: (PolicyType.RESOURCE,),
    SlotKind.ENDPOINT: (PolicyType.ENDPOINT,),
    SlotKind.MANAGED: (),
}
_ORG_TYPES = {SCP: PolicyType.SCP, RCP: PolicyType.RCP}


def _applied_unknown(unknown: Unknown, state: PolicyState) -> tuple[AppliedUnknown, ...]:
    """A rebuilt state's unknown slot as the explanation's unknown parts, one per policy
    type it decides (an organization slot: the type of its policy, when the snapshot
    names it, else both SCPs and RCPs; ``explain`` drops those that cannot limit the
    request), so that each explanation lists it and keeps only the reasons the known
    policies settle."""
    slot = unknown.slot
    types = _SLOT_POLICY_TYPES.get(slot.kind)
    if types is None:  # an organization slot
        named = slot.key[1] if slot.kind == SlotKind.POLICY_TYPE else _org_policy_type(state, slot)
        types = (_ORG_TYPES[named],) if named in _ORG_TYPES else tuple(_ORG_TYPES.values())
    return tuple(
        AppliedUnknown(
            policy_type,
            slot.account,
            _slot_text(unknown),
            unknown.reason,
            "give a snapshot collected nearer the event's time, or CloudTrail reaching "
            "further back (--history)",
        )
        for policy_type in types
    )


def _org_policy_type(state: PolicyState, slot: Slot) -> str | None:
    """The type of the organization policy an organization slot names, as the snapshot the
    state was rebuilt from knows it (the state leaves an unknown one out)."""
    if slot.kind not in (SlotKind.ORG_POLICY, SlotKind.ORG_ATTACHMENT):
        return None
    organization = state.base.organization
    nodes = organization.nodes.values() if organization else ()
    return next((p.type for node in nodes for p in node.policies if p.id == slot.key[0]), None)


def _slot_text(unknown: Unknown) -> str:
    slot = unknown.slot
    return f"{slot.kind} {' '.join(slot.key)} in account {slot.account}"


def _partial(result: EventResult, state: PolicyState, unknown: tuple[Unknown, ...]) -> EventResult:
    """``result`` as an ``Error`` saying what of the state is unknown (each explanation
    lists it among its unknown parts, and its fix's check names it)."""
    missing = "; ".join(f"{_slot_text(u)} ({u.reason})" for u in unknown)
    message = (
        f"the policies in force at {state.at.strftime('%Y-%m-%dT%H:%M:%SZ')} are only "
        f"partly known: {missing}. The known policies alone do not decide the request; "
        "a snapshot collected nearer the event's time (or CloudTrail reaching further "
        "back, with --history) would decide it"
    )
    return replace(result, code="ERROR", error_message=message)


# -- the root cause and the fix ------------------------------------------------------------
def investigate(event: DeniedEvent, timeline: Timeline) -> HistoryResult:
    """Explain ``event`` at its own time; name the change that denied it and the one that
    allowed it again. Never raises: a failure is this event's ``Error``, not the run's."""
    try:
        return _investigate(event, timeline)
    except Exception as error:  # a bug must not stop the other events
        log.exception("history of %s failed", event.event_id)
        result = replace(
            named_result(event),
            code="ERROR",
            error_message=f"internal error rebuilding the policies at the event's time: {one_line(error)}",
        )
        return HistoryResult(result, timeline.snapshot_state())


def _same_second(
    event: DeniedEvent, timeline: Timeline, touching: list[int], keys_of: KeysOf, result: EventResult
) -> EventResult:
    """``result`` (the request not denied at the event's time), with a note when a change
    touching the request in the same second as the event denies it once in force.
    CloudTrail's times have whole seconds, and a change at the event's second counts as
    after it (``PolicyTimeline.position``), so which came first is not known: an
    automation that edits a policy and calls at once is denied by a change that may look
    later. The note names it instead of leaving "the current policies allow" alone."""
    at = event.event_time
    tied = [index for index in touching if timeline.changes[index].event_time == at]
    if not tied:
        return result
    with_it, status = explain_in_state(
        event.without_message(), timeline.state_after(tied[-1], keys_of), keys_of, propose_fixes=False
    )
    if status != _DENIED:
        return result
    change = timeline.changes[tied[-1]]
    note = (
        f"{change.event_name} {change.event_id} at {change.when}, in the same second as this "
        "event, may have come first (CloudTrail's times have whole seconds): with it in force "
        f"the request is denied ({with_it.assessment_result})"
    )
    return replace(result, notes=(*result.notes, note))


def _keys_of(event: DeniedEvent) -> KeysOf:
    """The event's ``relevance_keys`` under a state, worked out once per set of policies
    (the keys depend on the policies alone)."""
    found: dict[Snapshot, set[str]] = {}

    def keys_of(state: PolicyState) -> set[str]:
        keys = found.get(state.snapshot)
        if keys is None:
            keys = found[state.snapshot] = relevance_keys(event, state)
        return keys

    return keys_of


def _investigate(event: DeniedEvent, timeline: Timeline) -> HistoryResult:
    at = event.event_time
    if at is None:  # no time: the snapshot as collected, and no history to search
        state = timeline.snapshot_state()
        result, _ = explain_in_state(event, state)
        note = "the event has no eventTime: explained with the snapshot as collected"
        return HistoryResult(replace(result, notes=(*result.notes, note)), state)

    keys_of = _keys_of(event)
    # Every state below may be shared with other times and events (``state_at``): the
    # request's keys say which changes can alter its answer.
    state = timeline.state_at(at, keys_of)
    result, status = explain_in_state(event, state, keys_of)
    result = _compare_with_snapshot(event, timeline, state, result)
    touching = timeline.touching(touched_by(keys_of(state)))
    if status != _DENIED:
        result = _same_second(event, timeline, touching, keys_of, result)
        return HistoryResult(
            replace(result, notes=(*result.notes, *_order_unknown(timeline, touching))), state
        )
    earlier = bisect_left(touching, timeline.position(at))
    # The states searched are not the event's own: AWS's message does not speak for them.
    asked = event.without_message()
    root = None
    latest = result  # the last state explained, on the side searched
    for index in reversed(touching[:earlier]):
        change = timeline.changes[index]
        if _explicit(latest) and _keeps_explicit_denies(timeline, index):
            continue  # the state before it is denied by the same statement: nothing to find here
        latest, before_status = explain_in_state(
            asked, timeline.state_before(index, keys_of), keys_of, propose_fixes=False
        )
        if before_status == _UNDECIDED:
            if _put_in_force(timeline, index, result):
                summary = summarize(timeline, index, event, denied=True)
                root = ChangeRef(change, f"{summary} ({_unknown_before(timeline, index)})")
            elif unsure := _maybe_root_cause(timeline, index):
                result = replace(result, notes=(*result.notes, unsure))
            break
        if before_status == _ALLOWED:
            root = ChangeRef(change, summarize(timeline, index, event, denied=True))
            break
    fixed = None
    latest = result
    for index in touching[earlier:]:
        change = timeline.changes[index]
        if _explicit(latest) and _keeps_explicit_denies(timeline, index):
            continue  # still denied by the same statement after it
        latest, after_status = explain_in_state(
            asked, timeline.state_after(index, keys_of), keys_of, propose_fixes=False
        )
        if after_status == _UNDECIDED:
            break
        if after_status == _ALLOWED:
            fixed = ChangeRef(change, summarize(timeline, index, event, denied=False))
            result, fixed = _fix_holds(asked, timeline, touching, index, keys_of, result, fixed)
            break
    if unsure_order := _order_unknown(timeline, touching):
        result = replace(result, notes=(*result.notes, *unsure_order))
    return HistoryResult(result, state, root, fixed)


def _order_unknown(timeline: Timeline, touching: list[int]) -> list[str]:
    """Notes for the changes touching the request that set one slot to different values
    in the same second, in an order their success does not imply: CloudTrail's times have
    whole seconds and a log file's records are in no particular order, so which came last,
    and so the slot's value after that second, is not known (``order_key`` decides). A
    Put (Attach) and a Delete (Detach) of a policy absent before that second are in the
    only order in which both succeed, and need no note."""
    notes = []
    for when in dict.fromkeys(timeline.changes[index].event_time for index in touching):
        group = [index for index in touching if timeline.changes[index].event_time == when]
        edits: dict[Slot, list[tuple[int, Any]]] = {}
        for index in group:
            for edit in timeline.changes[index].edits:
                edits.setdefault(edit.slot, []).append((index, edit))
        for slot, slot_edits in edits.items():
            indices = [index for index, _ in slot_edits]
            if len(set(indices)) < 2 or len({(e.op, e.value) for _, e in slot_edits}) < 2:
                continue
            if _order_implied(timeline, slot, slot_edits):
                continue
            names = " and ".join(
                f"{timeline.changes[i].event_name} {timeline.changes[i].event_id}"
                for i in dict.fromkeys(indices)
            )
            notes.append(
                f"{names} changed {_slot_label(slot, timeline.org_policy_label)} in the same second "
                f"({timeline.changes[indices[0]].when}): CloudTrail's times have whole seconds and a log "
                "file's records are in no particular order, so which came last is not known; the "
                "answer takes them in the order listed"
            )
    return notes


def _order_implied(timeline: Timeline, slot: Slot, slot_edits: list[tuple[int, Any]]) -> bool:
    """Whether only one order of these same-second edits of ``slot`` can all succeed: one
    sets it, one removes it, and it was absent before (a removal needs it to exist)."""
    if len(slot_edits) != 2 or any(edit.op != EditOp.SET for _, edit in slot_edits):
        return False
    (first, set_edit), (_, removal) = slot_edits
    return set_edit.value is not None and removal.value is None and timeline.value_at(slot, first) is None


def _slot_label(slot: Slot, org_label: Callable[[str], str]) -> str:
    if slot.kind in _DOCUMENT_KINDS:
        return _where(slot, org_label)
    if slot.kind == SlotKind.ATTACHMENT:
        return f"the attachment of {slot.key[2]} to {slot.key[0]} {slot.key[1]}"
    return f"{slot.kind} {' '.join(slot.key)}"


def earlier_denial(
    event: DeniedEvent,
    timeline: Timeline,
    found: HistoryResult,
    since: datetime,
    same: Callable[[EventResult, EventResult], bool],
) -> tuple[EventResult, PolicyChange] | None:
    """The event's request explained at ``since`` (an earlier denial of the same request:
    a pipeline group's first) when it was denied then for another reason than the event
    (``found``, its investigation; ``same`` compares two reasons), with the logged change
    after which that reason no longer held. None when no change touching the request
    lies between (the same policies decided both), or the request was not known to be
    denied then, or for the same reason."""
    at = event.event_time
    if at is None or since >= at:
        return None
    keys_of = _keys_of(event)
    touching = timeline.touching(touched_by(keys_of(found.state)))
    between = [index for index in touching if since < timeline.changes[index].event_time <= at]
    if not between:
        return None
    asked = event.without_message()  # AWS's message is the event's, not the earlier denial's
    state = timeline.state_at(since, keys_of)
    earliest, status = explain_in_state(asked, state, keys_of, propose_fixes=False)
    if status != _DENIED or same(earliest, found.result):
        return None
    for index in between:  # the first change after which the earliest reason is gone
        after, status = explain_in_state(
            asked, timeline.state_after(index, keys_of), keys_of, propose_fixes=False
        )
        if status != _DENIED or not same(after, earliest):
            return earliest, timeline.changes[index]
    return None


def _fix_holds(
    event: DeniedEvent,
    timeline: Timeline,
    touching: list[int],
    index: int,
    keys_of: KeysOf,
    result: EventResult,
    fixed: ChangeRef,
) -> tuple[EventResult, ChangeRef | None]:
    """A fix is named only while it holds: when, after the last change touching the
    request, it is denied again (or undecided), the request is not fixed (the report and
    the backlog leave fixed requests out), and a note says it was allowed for a while."""
    last = touching[-1]
    if last == index:
        return result, fixed
    _, end_status = explain_in_state(event, timeline.state_after(last, keys_of), keys_of, propose_fixes=False)
    if end_status == _ALLOWED:
        return result, fixed
    change = fixed.change
    now = "denied again" if end_status == _DENIED else "not known to be allowed (partly known policies)"
    note = (
        f"{change.event_name} {change.event_id} at {change.when} allowed the request, but by "
        f"the last change read that touches it, it is {now}: not named as fixed"
    )
    return replace(result, notes=(*result.notes, note)), None


def _maybe_root_cause(timeline: Timeline, index: int) -> str | None:
    """What is known of a change the search for the root cause cannot see past because
    it rewrote a policy that decides the request and what it replaced was never logged:
    whether the request was allowed before it is not known. Said, not named as the cause.
    None when the change's own edits replaced known values (the search stopped on
    another unknown)."""
    change = timeline.changes[index]
    where = "; ".join(
        dict.fromkeys(
            _where(edit.slot, timeline.org_policy_label)
            for edit in change.edits
            if edit.slot.kind in _DOCUMENT_KINDS and timeline.value_at(edit.slot, index) is UNKNOWN
        )
    )
    if not where:
        return None
    by = f" by {change.changed_by}" if change.changed_by else ""
    return (
        f"{change.event_name} {change.event_id} at {change.when}{by} "
        f"replaced {where} deciding this request; what it replaced was never "
        "logged, so whether it caused the denial is not known (a snapshot collected before "
        "it, or CloudTrail reaching further back, would tell)"
    )


def _unknown_before(timeline: Timeline, index: int) -> str:
    """Why the request before change ``index``, named the root cause as it put in force
    what decides the denial, is not known to have been allowed: the change replaced a
    value never logged, or another policy in force then cannot be read."""
    change = timeline.changes[index]
    if any(timeline.value_at(edit.slot, index) is UNKNOWN for edit in change.edits):
        return "what it replaced was never logged"
    return "other policies in force before it are unknown, so it is not known to have been allowed then"


def _keeps_explicit_denies(timeline: Timeline, index: int) -> bool:
    """Whether crossing change ``index`` (either way) leaves every explicit deny as it was,
    so a request explicitly denied on one side is denied by the same statement on the
    other and needs no evaluation there: the change only rewrote policy documents, none of
    which holds anything but Allow statements before or after it. A deny statement stays in
    its document and attachment, and whether it applies depends on the request alone.

    Only a single snapshot's timeline qualifies: with several, the states on either side
    may be rebuilt from different snapshots, which differ by more than the change."""
    single = timeline if isinstance(timeline, PolicyTimeline) else timeline.only_timeline
    if single is None:
        return False
    for edit in single.changes[index].edits:
        if edit.slot.kind not in _DOCUMENT_KINDS:
            return False
        if any(_may_deny(single.value_at(edit.slot, at)) for at in (index, index + 1)):
            return False
    return True


def _may_deny(value: Any) -> bool:
    """Whether a policy document slot's value may hold a statement other than an Allow
    (unknown values and text that is not a policy document may)."""
    if value is None:
        return False
    if not isinstance(value, str):
        return True
    try:
        document = json.loads(value)
    except json.JSONDecodeError:
        return True
    if not isinstance(document, dict):
        return True
    statements = document.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    return any(not isinstance(s, dict) or s.get("Effect") != "Allow" for s in statements)


def _put_in_force(timeline: Timeline, index: int, result: EventResult) -> bool:
    """Whether change ``index`` put in force a policy that decides the denial on its own,
    whatever it replaced (which may be unknown): it wrote a statement that explicitly
    denies the event, or set the permissions boundary that lacks the allow (a boundary
    must allow, whatever the other policies say)."""
    decisive = [e for e in result.explanations if e.evaluation.decision != Decision.ALLOWED]
    denying = [
        dict(f.reason.statement.source)
        for e in decisive
        for f in e.findings
        if f.reason.statement is not None and f.reason.kind == ReasonKind.EXPLICIT_DENY
    ]
    boundaries = {
        f.attachment.policy_arn
        for e in decisive
        for f in e.findings
        if f.reason.kind == ReasonKind.MISSING_ALLOW
        and f.attachment is not None
        and f.reason.policy_type == PolicyType.PERMISSIONS_BOUNDARY
    }
    for edit in timeline.changes[index].edits:
        after = timeline.value_at(edit.slot, index + 1)
        if after is UNKNOWN:
            continue
        if any(s in _statements(after) for s in denying):
            return True
        if edit.slot.kind == SlotKind.BOUNDARY and after in boundaries:
            return True
    return False


def _compare_with_snapshot(
    event: DeniedEvent, timeline: Timeline, state: PolicyState, result: EventResult
) -> EventResult:
    """Say so when the snapshot as collected, the one the run answers with (``--snapshot``,
    not an earlier one the states may be rebuilt from), would have answered differently."""
    if state.changes_applied == 0:
        return result
    collected = timeline.snapshot_state()
    if collected.snapshot is state.snapshot and not state.unknown:
        return result  # the same policies (a state shared with the snapshot's): the same answer
    other, _ = explain_in_state(event, collected, propose_fixes=False)
    if other.assessment_result == result.assessment_result:
        return result
    note = (
        f"policies at the event's time differ from the snapshot's: with the snapshot as "
        f"collected ({collected.base.collected_at}) the answer would be "
        f"'{other.assessment_result}'"
    )
    return replace(result, notes=(*result.notes, note))


# -- one-line summaries ----------------------------------------------------------------------
def _listed(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(item) for item in items if item is not None]


def _statement_text(statement: dict[str, Any]) -> str:
    effect = statement.get("Effect", "?")
    actions = _listed(statement.get("Action") or statement.get("NotAction"))
    resources = _listed(statement.get("Resource") or statement.get("NotResource") or "*")
    negated = "NotAction " if "NotAction" in statement else ""
    sid = f" (Sid {statement['Sid']})" if statement.get("Sid") else ""
    # The policy's own text, unaltered: every display passes it through analyzer.untrusted
    # (one line there, line breaks and separators as escapes); JSON keeps it exactly.
    return f"{effect} {negated}{', '.join(actions)} on {', '.join(resources)}{sid}"


def _statements(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, str):
        return []
    try:
        document = json.loads(value)
    except json.JSONDecodeError:
        return []
    statements = document.get("Statement") if isinstance(document, dict) else None
    statements = statements if isinstance(statements, list) else [statements]
    return [s for s in statements if isinstance(s, dict)]


def _covers(statement: dict[str, Any], actions: set[str]) -> bool:
    patterns = [p.lower() for p in _listed(statement.get("Action"))]
    if "NotAction" in statement:
        excluded = [p.lower() for p in _listed(statement.get("NotAction"))]
        return any(not any(fnmatch.fnmatchcase(a, p) for p in excluded) for a in actions)
    return any(fnmatch.fnmatchcase(a, p) for a in actions for p in patterns)


_DOCUMENT_KINDS = {
    SlotKind.INLINE: "inline policy",
    SlotKind.MANAGED: "managed policy",
    SlotKind.TRUST: "trust policy",
    SlotKind.ORG_POLICY: "organization policy",
    SlotKind.RESOURCE: "resource policy",
    SlotKind.ENDPOINT: "endpoint policy",
}


def _where(slot: Slot, org_label: Callable[[str], str]) -> str:
    key = slot.key
    if slot.kind == SlotKind.INLINE:
        return f"inline policy {key[2]} of {key[0]} {key[1]}"
    if slot.kind == SlotKind.TRUST:
        return f"trust policy of role {key[0]}"
    if slot.kind == SlotKind.ORG_POLICY:
        return org_label(key[0])
    return f"{_DOCUMENT_KINDS[slot.kind]} of {key[0]}"


def _edit_summary(
    slot: Slot, before: Any, after: Any, actions: set[str], denied: bool, org_label: Callable[[str], str]
) -> str:
    key = slot.key
    if slot.kind in _DOCUMENT_KINDS:
        old, new = _statements(before), _statements(after)
        added = [s for s in new if s not in old]
        removed = [s for s in old if s not in new]
        wanted = "Deny" if denied else "Allow"
        ranked = (
            [("added", s) for s in added if s.get("Effect") == wanted and _covers(s, actions)]
            + [("removed", s) for s in removed if s.get("Effect") != wanted and _covers(s, actions)]
            + [("added", s) for s in added]
            + [("removed", s) for s in removed]
        )
        where = _where(slot, org_label)
        if before is None and after is not None and not ranked:
            return f"created {where}"
        if after is None:
            return f"deleted {where}" + (f", which had {_statement_text(ranked[0][1])}" if ranked else "")
        if not ranked:
            return f"changed {where}"
        verb, statement = ranked[0]
        return f"{verb} {_statement_text(statement)} {'to' if verb == 'added' else 'from'} {where}"
    if slot.kind == SlotKind.ATTACHMENT:
        return (
            f"{'attached' if after == ATTACHED else 'detached'} {key[2]} "
            f"{'to' if after == ATTACHED else 'from'} {key[0]} {key[1]}"
        )
    if slot.kind == SlotKind.ORG_ATTACHMENT:
        return (
            f"{'attached' if after == ATTACHED else 'detached'} {org_label(key[0])} "
            f"{'to' if after == ATTACHED else 'from'} {key[1]}"
        )
    if slot.kind == SlotKind.MEMBERSHIP:
        return (
            f"{'added' if after == ATTACHED else 'removed'} user {key[1]} "
            f"{'to' if after == ATTACHED else 'from'} group {key[0]}"
        )
    if slot.kind == SlotKind.BOUNDARY:
        return (
            f"set permissions boundary {after} on {key[0]} {key[1]}"
            if after
            else f"removed the permissions boundary of {key[0]} {key[1]}"
        )
    if slot.kind == SlotKind.PARENT:
        return f"moved account {key[0]} from {before} to {after}"
    if slot.kind == SlotKind.POLICY_TYPE:
        detail = "FullAWSAccess attached everywhere" if after else "every policy of that type detached"
        return f"{'enabled' if after else 'disabled'} {key[1]} on {key[0]} ({detail})"
    if slot.kind == SlotKind.TAG:
        return (
            f"set tag {key[2]}={after} on {key[0]} {key[1]}"
            if after is not None
            else f"removed tag {key[2]} from {key[0]} {key[1]}"
        )
    return f"{'created' if after else 'deleted'} {key[0]} {key[1]}"


def summarize(timeline: Timeline, index: int, event: DeniedEvent, *, denied: bool) -> str:
    """A one-line diff of what change ``index`` did, leading with the statement that matters:
    for a root cause an added Deny (or a removed Allow) covering the denied action, for a fix
    the reverse."""
    change = timeline.changes[index]
    actions = {a.action.lower() for a in event.actions}
    parts = []
    for edit in change.edits:
        if edit.op == EditOp.SET_UNLOGGED and edit.slot.kind in _DOCUMENT_KINDS:
            where = _where(edit.slot, timeline.org_policy_label)
            parts.append(f"set {where} to a document its event does not carry")
            continue
        before = timeline.value_at(edit.slot, index)
        after = timeline.value_at(edit.slot, index + 1)
        before = None if before is UNKNOWN else before
        after = None if after is UNKNOWN else after
        if before == after and edit.slot.kind not in _DOCUMENT_KINDS:
            continue
        parts.append(_edit_summary(edit.slot, before, after, actions, denied, timeline.org_policy_label))
    return "; ".join(parts) or f"{change.event_name} (no change to the policies evaluated)"
