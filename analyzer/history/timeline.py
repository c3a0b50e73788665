"""The policies in force at any time t, rebuilt from a snapshot and the changes around it.

A snapshot records the state at ``collectedAt`` (S). A change is in force at t when it
happened before t, and is part of the snapshot when it happened at or before S. So:

* t after S: apply, in order, the changes between S and t (forward);
* t before S: revert, newest first, the changes between t and S (backward). Reverting
  a change needs the value before it: known for attachments, memberships and moves
  (their "before" is implied), for a Lambda permission added (remove that statement)
  or removed (put back the statement its AddPermission logged) and when the event
  logged it (ECR's DeleteRepositoryPolicy); otherwise the value at t is taken from the
  latest earlier change that set it outright, and failing that it is **unknown**.

A policy the snapshot could not read (one of its gaps) is unknown at S, so at any t,
the snapshot's own position included, it is the one the latest earlier change that set
it outright set, and failing that unknown.

Unknown state is never guessed: the policy is left out of the snapshot at t and a
``Gap`` (error ``PriorStateUnknown``) names it, so every explanation lists it, and
``PolicyState.unknown_for`` tells the caller which unknown parts a request touches
(``analyzer.history.root_cause`` then refuses a confident answer).

Rebuilt states cost what they change and are bounded:

* a state copies only the accounts (and the organization) it writes into, sharing the
  rest and every policy document with the snapshot;
* a timeline keeps the ``STATES_KEPT`` latest used, not one per position;
* given a request's keys (``state_at(t, keys_of)``), a time is answered with the state
  of the position nearest the snapshot's that no change in between separates from it for
  that request: one touching the request's keys, or a ``_barrier`` (an organization,
  entity, managed or secret policy change, or one that changes which parts are unknown).
  Only the policies are shared; the state's time and how far and which way the snapshot
  was rolled (``PolicyStateAt``) are the position's own, so every answer is the one the
  state at its own position gives.
"""

from __future__ import annotations

import copy
import json
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from analyzer.arn import Arn
from analyzer.engine.policy import canonical_json
from analyzer.events.context import parse_time
from analyzer.history.changes import (
    ATTACHED,
    Edit,
    EditOp,
    PolicyChange,
    Slot,
    SlotKind,
    document_text,
    order_key,
)
from analyzer.snapshot.model import PRIOR_STATE_UNKNOWN, Gap, Snapshot, snapshot_from_dict
from analyzer.snapshot.organization import RCP, SCP
from analyzer.snapshot.sources import SECRET_SUFFIX, default_version_document

# How many rebuilt states a timeline keeps (least recently used dropped first). One
# denial's explanation uses the state at its time and, searching for its root cause and
# fix, one state per change touching it, newest first; the next principal's search sweeps
# the same positions again, and a sweep over more states than the cache holds finds none
# of them (LRU). 256 holds every state of a night with a few hundred changes (the
# benchmark's 200 need 181), while a night with thousands no longer keeps one per change.
# A state copies only the accounts it changes: about 200 KB each on the benchmark's 350 KB
# snapshot (so at most ~50 MB, plus the policies compiled in it).
STATES_KEPT = 256


class _Unknown:
    """The value of a slot that cannot be known at t."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
_ENTITY_LISTS = {
    "user": ("UserDetailList", "UserName", "UserPolicyList"),
    "role": ("RoleDetailList", "RoleName", "RolePolicyList"),
    "group": ("GroupDetailList", "GroupName", "GroupPolicyList"),
}
_ORG_KINDS = (SlotKind.ORG_POLICY, SlotKind.ORG_ATTACHMENT, SlotKind.PARENT, SlotKind.POLICY_TYPE)
# The AWS managed policy Organizations attaches to the root, every OU and every account when
# a policy type is enabled (and which a disabled type's re-enabling leaves as the only one):
# https://docs.aws.amazon.com/organizations/latest/userguide/enable-policy-type.html
# https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html
# https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps.html
FULL_ACCESS_POLICIES: Mapping[str, Mapping[str, Any]] = {
    SCP: {
        "Id": "p-FullAWSAccess",
        "Arn": "arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess",
        "Name": "FullAWSAccess",
        "Description": "Allows access to every operation",
        "Type": SCP,
        "AwsManaged": True,
        "PolicyDocument": canonical_json(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    },
    RCP: {
        "Id": "p-RCPFullAWSAccess",
        "Arn": "arn:aws:organizations::aws:policy/resource_control_policy/p-RCPFullAWSAccess",
        "Name": "RCPFullAWSAccess",
        "Description": "Allows access to every operation",
        "Type": RCP,
        "AwsManaged": True,
        "PolicyDocument": canonical_json(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
            }
        ),
    },
}

_FULL_ACCESS_DOCUMENTS = {policy["Id"]: policy["PolicyDocument"] for policy in FULL_ACCESS_POLICIES.values()}


def _document(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # kept as logged: parsing it reports the error on the events it touches


# The slots whose values are policy documents (or, for ADD_STATEMENT, one statement).
_DOCUMENT_KINDS = frozenset(
    (
        SlotKind.INLINE,
        SlotKind.TRUST,
        SlotKind.MANAGED,
        SlotKind.ORG_POLICY,
        SlotKind.RESOURCE,
        SlotKind.ENDPOINT,
    )
)


def _unreadable(slot: Slot, value: Any) -> bool:
    """A logged document that is not a JSON object. AWS rejects such a document, so only a
    damaged or forged log holds one; what it set is unknown, not an error of the snapshot."""
    return slot.kind in _DOCUMENT_KINDS and isinstance(value, str) and not _json_object(value)


@lru_cache(maxsize=4096)
def _json_object(text: str) -> bool:
    """Whether ``text`` is a JSON object: asked of the same logged documents at every state
    a timeline rebuilds, so each is parsed once."""
    return isinstance(_document(text), dict)


# -- reading and writing one slot of a snapshot's raw JSON ---------------------------------
def _details(data: Mapping[str, Any], account: str) -> MutableMapping[str, Any] | None:
    raw = data["accounts"].get(account)
    return None if raw is None else raw.setdefault("authorizationDetails", {})


def find_entity(
    data: Mapping[str, Any], account: str, kind: str, name: str
) -> MutableMapping[str, Any] | None:
    details = _details(data, account)
    if details is None:
        return None
    list_key, name_key, _ = _ENTITY_LISTS[kind]
    wanted = name.lower()
    for entry in details.get(list_key) or ():
        if isinstance(entry, dict) and str(entry.get(name_key, "")).lower() == wanted:
            return entry
    return None


def _org_nodes(data: Mapping[str, Any]) -> MutableMapping[str, Any]:
    organization = data.get("organization") or {}
    return organization.get("nodes") or {}


def _org_policies(data: Mapping[str, Any], policy_id: str) -> list[MutableMapping[str, Any]]:
    return [
        policy
        for node in _org_nodes(data).values()
        for policy in node.get("policies") or ()
        if isinstance(policy, dict) and policy.get("Id") == policy_id
    ]


def _resource_key(data: Mapping[str, Any], account: str, arn: str) -> str | None:
    """The key under which the account's ``resourcePolicies`` stores ``arn`` (a secret
    named without its random suffix matches its full ARN)."""
    policies = (data["accounts"].get(account) or {}).get("resourcePolicies") or {}
    if arn in policies:
        return arn
    if ":secretsmanager:" in arn:
        secrets = [*policies, *((data["accounts"].get(account) or {}).get("secretArns") or ())]
        for stored in secrets:
            if SECRET_SUFFIX.sub("", stored) == arn:
                return stored
    return None


def read_slot(data: Mapping[str, Any], slot: Slot) -> str | None:
    """The slot's value in a snapshot (see ``Edit`` for the value encoding)."""
    kind, account, key = slot.kind, slot.account, slot.key
    if kind in (SlotKind.INLINE, SlotKind.ATTACHMENT, SlotKind.BOUNDARY, SlotKind.TAG, SlotKind.ENTITY):
        entry = find_entity(data, account, key[0], key[1])
        if entry is None:
            return None
        if kind == SlotKind.ENTITY:
            return ATTACHED
        if kind == SlotKind.INLINE:
            for item in entry.get(_ENTITY_LISTS[key[0]][2]) or ():
                if isinstance(item, dict) and item.get("PolicyName") == key[2]:
                    return document_text(item.get("PolicyDocument"))
            return None
        if kind == SlotKind.ATTACHMENT:
            arns = {
                item.get("PolicyArn")
                for item in entry.get("AttachedManagedPolicies") or ()
                if isinstance(item, dict)
            }
            return ATTACHED if key[2] in arns else None
        if kind == SlotKind.BOUNDARY:
            return (entry.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        tags = {t.get("Key"): t.get("Value") for t in entry.get("Tags") or () if isinstance(t, dict)}
        return tags.get(key[2])
    if kind == SlotKind.TRUST:
        entry = find_entity(data, account, "role", key[0])
        return None if entry is None else document_text(entry.get("AssumeRolePolicyDocument"))
    if kind == SlotKind.MEMBERSHIP:
        entry = find_entity(data, account, "user", key[1])
        groups = {str(g).lower() for g in (entry or {}).get("GroupList") or ()}
        return ATTACHED if key[0].lower() in groups else None
    if kind == SlotKind.MANAGED:
        entry = _managed_entry(data, account, key[0])
        return None if entry is None else document_text(default_version_document(entry))
    if kind == SlotKind.ORG_POLICY:
        found = _org_policies(data, key[0])
        return document_text(found[0].get("PolicyDocument")) if found else None
    if kind == SlotKind.ORG_ATTACHMENT:
        node = _org_nodes(data).get(key[1]) or {}
        return ATTACHED if any(p.get("Id") == key[0] for p in node.get("policies") or ()) else None
    if kind == SlotKind.PARENT:
        return (_org_nodes(data).get(key[0]) or {}).get("parent")
    if kind == SlotKind.POLICY_TYPE:
        used = any(
            p.get("Type") == key[1] for node in _org_nodes(data).values() for p in node.get("policies") or ()
        )
        return ATTACHED if used else None
    if kind == SlotKind.RESOURCE:
        stored = _resource_key(data, account, key[0])
        if stored is None:
            return None
        return document_text(data["accounts"][account]["resourcePolicies"][stored])
    if kind == SlotKind.ENDPOINT:
        endpoint = ((data["accounts"].get(account) or {}).get("vpcEndpoints") or {}).get(key[0])
        return None if not endpoint else document_text(endpoint.get("PolicyDocument"))
    return None


def _unread_in(gap: Gap, slot: Slot) -> bool:
    """Whether the snapshot's ``gap`` is the collector failing to read this resource
    policy (a gap naming the resource; a secret's may name it with its suffix)."""
    if slot.kind != SlotKind.RESOURCE or gap.resource is None or gap.account not in (None, slot.account):
        return False
    return slot.key[0] in (gap.resource, SECRET_SUFFIX.sub("", gap.resource))


def _managed_entry(data: Mapping[str, Any], account: str, arn: str) -> MutableMapping[str, Any] | None:
    details = _details(data, account)
    for entry in (details or {}).get("Policies") or ():
        if isinstance(entry, dict) and entry.get("Arn") == arn:
            return entry
    return None


def _set_list_item(items: list[Any], match, value: Any | None) -> None:
    items[:] = [item for item in items if not match(item)]
    if value is not None:
        items.append(value)


_ENTITY_FIELD_KINDS = (
    SlotKind.INLINE,
    SlotKind.ATTACHMENT,
    SlotKind.BOUNDARY,
    SlotKind.TAG,
    SlotKind.TRUST,
    SlotKind.MEMBERSHIP,
)


def _entity_of(slot: Slot) -> tuple[str, str]:
    """The (kind, name) of the IAM entity whose entry holds a slot of ``_ENTITY_FIELD_KINDS``."""
    key = slot.key
    if slot.kind == SlotKind.TRUST:
        return "role", key[0]
    if slot.kind == SlotKind.MEMBERSHIP:
        return "user", key[1]
    return key[0], key[1]


def write_slot(
    data: MutableMapping[str, Any], slot: Slot, value: str | None, org_policy: Mapping[str, Any] | None = None
) -> bool:
    """Set the slot's value in a snapshot's raw JSON; False when the snapshot has no
    place for it (an account or principal it does not cover)."""
    kind, account, key = slot.kind, slot.account, slot.key
    if kind == SlotKind.ENTITY:
        details = _details(data, account)
        if details is None:
            return False
        list_key, name_key, _ = _ENTITY_LISTS[key[0]]
        entries = details.setdefault(list_key, [])
        if value is None:
            _set_list_item(entries, lambda e: str(e.get(name_key, "")).lower() == key[1].lower(), None)
        elif find_entity(data, account, key[0], key[1]) is None:
            entries.append({name_key: key[1], "Arn": f"arn:aws:iam::{account}:{key[0]}/{key[1]}"})
        return True
    if kind in _ENTITY_FIELD_KINDS:
        entity_kind, name = _entity_of(slot)
        entry = find_entity(data, account, entity_kind, name)
        if entry is None:
            return value is None
        if kind == SlotKind.INLINE:
            items = entry.setdefault(_ENTITY_LISTS[entity_kind][2], [])
            _set_list_item(
                items,
                lambda i: i.get("PolicyName") == key[2],
                None if value is None else {"PolicyName": key[2], "PolicyDocument": _document(value)},
            )
        elif kind == SlotKind.ATTACHMENT:
            items = entry.setdefault("AttachedManagedPolicies", [])
            _set_list_item(
                items,
                lambda i: i.get("PolicyArn") == key[2],
                None if value is None else {"PolicyName": key[2].rsplit("/", 1)[-1], "PolicyArn": key[2]},
            )
        elif kind == SlotKind.BOUNDARY:
            if value is None:
                entry.pop("PermissionsBoundary", None)
            else:
                entry["PermissionsBoundary"] = {
                    "PermissionsBoundaryType": "Policy",
                    "PermissionsBoundaryArn": value,
                }
        elif kind == SlotKind.TAG:
            items = entry.setdefault("Tags", [])
            _set_list_item(
                items,
                lambda t: t.get("Key") == key[2],
                None if value is None else {"Key": key[2], "Value": value},
            )
        elif kind == SlotKind.TRUST:
            entry["AssumeRolePolicyDocument"] = None if value is None else _document(value)
        else:
            groups = entry.setdefault("GroupList", [])
            groups[:] = [g for g in groups if str(g).lower() != key[0].lower()]
            if value is not None:
                groups.append(key[0])
        return True
    if kind == SlotKind.MANAGED:
        details = _details(data, account)
        if details is None:
            return False
        policies = details.setdefault("Policies", [])
        if value is None:
            _set_list_item(policies, lambda e: e.get("Arn") == key[0], None)
            return True
        entry = _managed_entry(data, account, key[0])
        if entry is None:
            entry = {"PolicyName": key[0].rsplit("/", 1)[-1], "Arn": key[0]}
            policies.append(entry)
        entry["DefaultVersionId"] = "history"
        entry["PolicyVersionList"] = [
            {"VersionId": "history", "IsDefaultVersion": True, "Document": _document(value)}
        ]
        return True
    if kind in _ORG_KINDS:
        return _write_org(data, slot, value, org_policy)
    if kind == SlotKind.RESOURCE:
        raw = data["accounts"].get(account)
        if raw is None:
            return False
        policies = raw.setdefault("resourcePolicies", {})
        stored = _resource_key(data, account, key[0]) or key[0]
        if value is None:
            policies.pop(stored, None)
        else:
            policies[stored] = _document(value)
        return True
    if kind == SlotKind.ENDPOINT:
        raw = data["accounts"].get(account)
        if raw is None:
            return False
        endpoint = raw.setdefault("vpcEndpoints", {}).setdefault(key[0], {})
        endpoint["PolicyDocument"] = None if value is None else value
        return True
    return False


def _write_org(
    data: MutableMapping[str, Any], slot: Slot, value: str | None, org_policy: Mapping[str, Any] | None
) -> bool:
    nodes = _org_nodes(data)
    if not nodes:
        return False
    key = slot.key
    if slot.kind == SlotKind.ORG_POLICY:
        for policy in _org_policies(data, key[0]):
            policy["PolicyDocument"] = value
        if value is None:
            for node in nodes.values():
                _set_list_item(node.setdefault("policies", []), lambda p: p.get("Id") == key[0], None)
        return True
    if slot.kind == SlotKind.ORG_ATTACHMENT:
        node = nodes.get(key[1])
        if node is None:
            return False
        entry = None if value is None or org_policy is None else dict(org_policy)
        if value is not None and entry is None:
            return False
        _set_list_item(node.setdefault("policies", []), lambda p: p.get("Id") == key[0], entry)
        return True
    if slot.kind == SlotKind.PARENT:
        node = nodes.get(key[0])
        if node is None:
            return False
        node["parent"] = value
        return True
    # A policy type disabled: AWS detaches every policy of that type. Enabled (it was
    # disabled, so nothing of that type was attached): ``org_policy``, the type's
    # FullAWSAccess, is attached to every node.
    for node in nodes.values():
        _set_list_item(
            node.setdefault("policies", []),
            lambda p: p.get("Type") == key[1],
            None if value is None or org_policy is None else dict(org_policy),
        )
    return True


# -- a rebuilt state's own copy of what it changes ------------------------------------------
def _own_entry(entry: Any) -> Any:
    """An entity or managed policy entry whose own fields and lists a write may change
    (``write_slot`` assigns fields and replaces list items; it never edits an item)."""
    if not isinstance(entry, dict):
        return entry
    return {key: list(value) if isinstance(value, list) else value for key, value in entry.items()}


def _own_account(raw: Any) -> Any:
    """An account's raw data, copied as deep as ``write_slot`` writes into it outside the
    entries of its lists (their entries are copied one by one, when written: see
    ``_StateData``); the policy documents themselves are shared (writes replace a
    document, never edit one)."""
    if not isinstance(raw, dict):
        return raw
    owned = dict(raw)
    details = raw.get("authorizationDetails")
    if isinstance(details, dict):
        owned["authorizationDetails"] = {
            key: list(value) if isinstance(value, list) else value for key, value in details.items()
        }
    if isinstance(raw.get("resourcePolicies"), dict):
        owned["resourcePolicies"] = dict(raw["resourcePolicies"])
    if isinstance(raw.get("vpcEndpoints"), dict):
        owned["vpcEndpoints"] = {
            key: dict(value) if isinstance(value, dict) else value
            for key, value in raw["vpcEndpoints"].items()
        }
    return owned


class _StateData:
    """The raw JSON of a state being rebuilt: the snapshot's, sharing every account, entry
    and the organization until a slot in it is written, which then gets its own copy
    first. A state near the snapshot copies the little it changes instead of the whole
    snapshot: an account's lists when one of its slots is written, and of their entries
    only the one written (an account holds hundreds of roles; a state changes a few)."""

    def __init__(self, snapshot_data: Mapping[str, Any]):
        self.data: dict[str, Any] = dict(snapshot_data)
        self.data["accounts"] = dict(snapshot_data["accounts"])
        self._owned: set[str | None] = set()  # account ids, None for the organization
        self._owned_entries: set[int] = set()  # ids of the entries copied for this state

    def read(self, slot: Slot, collected: Any) -> Any:
        """The slot's value so far: ``collected`` (its value in the snapshot) while nothing
        was written where it lies."""
        part = None if slot.kind in _ORG_KINDS else slot.account
        return read_slot(self.data, slot) if part in self._owned else collected

    def write(self, slot: Slot, value: str | None, org_policy: Mapping[str, Any] | None = None) -> None:
        part = None if slot.kind in _ORG_KINDS else slot.account
        if part not in self._owned:
            self._owned.add(part)
            if part is None:
                self.data["organization"] = copy.deepcopy(self.data.get("organization"))
            elif part in self.data["accounts"]:
                self.data["accounts"][part] = _own_account(self.data["accounts"][part])
        if slot.kind in _ENTITY_FIELD_KINDS or slot.kind == SlotKind.MANAGED:
            self._own_written_entry(slot)
        write_slot(self.data, slot, value, org_policy)

    def _own_written_entry(self, slot: Slot) -> None:
        """Replace the entry ``write_slot`` will change (an entity's, or a managed
        policy's) by this state's own copy, once."""
        details = _details(self.data, slot.account)
        if details is None:
            return
        if slot.kind == SlotKind.MANAGED:
            entries = details.get("Policies")
            entry = _managed_entry(self.data, slot.account, slot.key[0])
        else:
            entity_kind, name = _entity_of(slot)
            entries = details.get(_ENTITY_LISTS[entity_kind][0])
            entry = find_entity(self.data, slot.account, entity_kind, name)
        if entry is None or not isinstance(entries, list) or id(entry) in self._owned_entries:
            return
        owned = _own_entry(entry)
        entries[next(i for i, item in enumerate(entries) if item is entry)] = owned
        self._owned_entries.add(id(owned))


# -- applying and reverting edits ------------------------------------------------------------
def _created(value: Any) -> datetime | None:
    """A version's CreateDate (ISO text, as the collectors write it)."""
    return parse_time(value) if isinstance(value, str) else None


def _statements(value: str | None) -> tuple[dict[str, Any], list[Any]]:
    document = _document(value) if value else {"Version": "2012-10-17", "Statement": []}
    if not isinstance(document, dict):
        document = {"Version": "2012-10-17", "Statement": []}
    statements = document.get("Statement") or []
    return document, list(statements if isinstance(statements, list) else [statements])


def _without_sid(value: str | None, sid: str) -> str | None:
    document, statements = _statements(value)
    kept = [s for s in statements if not (isinstance(s, dict) and s.get("Sid") == sid)]
    return None if not kept else canonical_json({**document, "Statement": kept})


def _apply(edit: Edit, current: Any, versions: Mapping[tuple[str, str], str]) -> Any:
    if edit.op == EditOp.SET_UNLOGGED:
        return UNKNOWN
    if edit.op == EditOp.SET:
        return UNKNOWN if _unreadable(edit.slot, edit.value) else edit.value
    if edit.op == EditOp.SET_VERSION:
        document = versions.get((edit.slot.key[0], edit.value or ""), UNKNOWN)
        return UNKNOWN if _unreadable(edit.slot, document) else document
    if current is UNKNOWN or _unreadable(edit.slot, edit.value if edit.op == EditOp.ADD_STATEMENT else None):
        return UNKNOWN
    if edit.op == EditOp.ADD_STATEMENT:
        return _with_statement(current, edit.value)
    return _without_sid(current, edit.value or "")


def _sid(added: str | None) -> str | None:
    """The statement id of an added statement (``ADD_STATEMENT``'s value)."""
    statement = _document(added or "{}")
    sid = statement.get("Sid") if isinstance(statement, dict) else None
    return sid if isinstance(sid, str) else None


def _with_statement(current: str | None, added: str | None) -> str:
    """``current`` with the statement ``added`` in place of any of the same id."""
    sid = _sid(added)
    document, statements = _statements(_without_sid(current, sid) if sid else current)
    return canonical_json({**document, "Statement": [*statements, _document(added or "{}")]})


def _added_before(earlier: Sequence[tuple[int, Edit]], sid: str | None) -> str | None:
    """The statement a RemovePermission of ``sid`` removed: the one the latest earlier
    AddPermission of that id logged, unless an edit since may have changed or removed it
    (``earlier`` holds the slot's edits before the removal, in order); None when unknown."""
    for _, edit in reversed(earlier):
        if edit.op == EditOp.ADD_STATEMENT and _sid(edit.value) == sid:
            return None if _unreadable(edit.slot, edit.value) else edit.value
        other = _sid(edit.value) if edit.op == EditOp.ADD_STATEMENT else edit.value
        if edit.op not in (EditOp.ADD_STATEMENT, EditOp.REMOVE_STATEMENT) or other == sid or other is None:
            return None
    return None


def _revert(edit: Edit, after: Any, earlier: Sequence[tuple[int, Edit]]) -> Any:
    """The slot's value before ``edit``, given its value ``after`` it and the slot's
    edits before it (``earlier``, in order)."""
    if edit.previous_known:
        return UNKNOWN if _unreadable(edit.slot, edit.previous) else edit.previous
    if edit.op == EditOp.ADD_STATEMENT and after is not UNKNOWN:
        # AddPermission fails on an existing statement id, so before it there was none.
        sid = _sid(edit.value)
        return _without_sid(after, sid) if sid else UNKNOWN
    if edit.op == EditOp.REMOVE_STATEMENT and after is not UNKNOWN:
        # RemovePermission removes one statement (by id): before it, the policy held it as
        # the AddPermission that added it logged it.
        # https://docs.aws.amazon.com/lambda/latest/api/API_RemovePermission.html
        added = _added_before(earlier, edit.value)
        return UNKNOWN if added is None else _with_statement(after, added)
    return UNKNOWN


@dataclass(frozen=True, slots=True)
class Unknown:
    """A piece of policy state that cannot be known at t, and why."""

    slot: Slot
    reason: str  # names the change whose previous value was never logged
    keys: tuple[str, ...]  # what it touches (see ``relevance_keys``)

    @property
    def target(self) -> str:
        return self.keys[0]

    def gap(self) -> Gap:
        service = {
            SlotKind.RESOURCE: parsed.service if (parsed := Arn.parse(self.slot.key[0])) else "",
            SlotKind.ENDPOINT: "ec2",
        }.get(self.slot.kind, "organizations" if self.slot.kind in _ORG_KINDS else "iam")
        return Gap(
            self.slot.account,
            service or "unknown",
            str(self.slot.kind),
            PRIOR_STATE_UNKNOWN,
            self.reason,
            resource=self.target,
        )


def entity_key(account: str, kind: str, name: str) -> str:
    return f"iam:{account}:{kind}/{name.lower()}"


def slot_keys(slot: Slot) -> tuple[str, ...]:
    kind, account, key = slot.kind, slot.account, slot.key
    if kind in (SlotKind.INLINE, SlotKind.ATTACHMENT, SlotKind.BOUNDARY, SlotKind.TAG, SlotKind.ENTITY):
        return (entity_key(account, key[0], key[1]),)
    if kind == SlotKind.TRUST:
        return (entity_key(account, "role", key[0]),)
    if kind == SlotKind.MEMBERSHIP:
        return (entity_key(account, "user", key[1]), entity_key(account, "group", key[0]))
    if kind == SlotKind.MANAGED:
        return (key[0],)
    if kind == SlotKind.ORG_POLICY:
        return (f"org-policy:{key[0]}",)
    if kind in (SlotKind.ORG_ATTACHMENT,):
        return (f"org-node:{key[1]}",)
    if kind == SlotKind.PARENT:
        return (f"org-node:{key[0]}",)
    if kind == SlotKind.POLICY_TYPE:
        return ("org",)
    if kind == SlotKind.ENDPOINT:
        return (f"endpoint:{key[0]}",)
    return (key[0],)


@dataclass(frozen=True, eq=False)
class PolicyState:
    """The snapshot in force at ``at``, how it was obtained, and what it cannot know."""

    snapshot: Snapshot
    at: datetime
    base: Snapshot
    changes_applied: int
    direction: str  # "as collected", "rolled back" or "rolled forward"
    unknown: tuple[Unknown, ...] = ()

    def describe(self) -> dict[str, Any]:
        """The ``PolicyStateAt`` output: the time and the source of the policies used."""
        base_time = self.base.collected_at or "an unknown time"
        if self.changes_applied:
            source = (
                f"snapshot {self.base.source} (collected {base_time}) {self.direction} "
                f"over {self.changes_applied} logged policy change(s)"
            )
        else:
            source = f"snapshot {self.base.source} (collected {base_time}) as collected"
        out: dict[str, Any] = {
            "Time": self.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Source": source,
            "SnapshotId": self.base.snapshot_id,
        }
        if self.unknown:
            out["Unknown"] = [
                f"{u.slot.kind} {' '.join(u.slot.key)} in {u.slot.account}: {u.reason}" for u in self.unknown
            ]
        return out

    def unknown_for(self, keys: Iterable[str]) -> tuple[Unknown, ...]:
        """The unknown parts among those a request touches (``relevance_keys``)."""
        touched = touched_by(keys)
        return tuple(u for u in self.unknown if any(u_key in touched for u_key in u.keys))


# A request's ``relevance_keys`` under a state (``analyzer.history.root_cause``).
KeysOf = Callable[["PolicyState"], Iterable[str]]


@dataclass(frozen=True, slots=True)
class _Built:
    """The policies rebuilt for one timeline position: what every ``PolicyState`` at that
    position shares (the state adds its own time and how it was reached)."""

    snapshot: Snapshot
    unknown: tuple[Unknown, ...] = ()


def touches(request_key: str, unknown_key: str) -> bool:
    if request_key == unknown_key:
        return True
    # An object ARN touches its bucket; a qualified function ARN its function; a secret's
    # full ARN the secret named without its suffix.
    if unknown_key.startswith("arn:") and request_key.startswith("arn:"):
        return (
            request_key.startswith(unknown_key + "/")
            or request_key.startswith(unknown_key + ":")
            or SECRET_SUFFIX.sub("", request_key) == unknown_key
        )
    return False


def touched_by(request_keys: Iterable[str]) -> frozenset[str]:
    """Every key ``touches(request_key, key)`` holds for, for some request key: the key
    itself and, for an ARN, the ARNs it lies under (each prefix ending before a ``/`` or a
    ``:``) and the secret it names without its suffix. A change touches a request exactly
    when one of its ``slot_keys`` is in this set, a lookup instead of a scan."""
    found: set[str] = set()
    for key in request_keys:
        found.add(key)
        if key.startswith("arn:"):
            found.update(key[:i] for i, char in enumerate(key) if char in "/:" and i > 3)
            found.add(SECRET_SUFFIX.sub("", key))
    return frozenset(found)


def org_policy_meta(snapshot: Snapshot, changes: Iterable[PolicyChange]) -> dict[str, dict[str, Any]]:
    """Id, ARN, name and type of every SCP/RCP known from the snapshot, or from the
    ``policySummary`` a CreatePolicy or UpdatePolicy answered with (a policy the snapshot
    does not hold, because it was created after it or attached nowhere then)."""
    meta: dict[str, dict[str, Any]] = {}
    for node in _org_nodes(snapshot.data).values():
        for policy in node.get("policies") or ():
            meta.setdefault(policy.get("Id"), {k: v for k, v in policy.items() if k != "PolicyDocument"})
    for change in changes:
        # The ARN comes from the response's policySummary; without it the id alone is
        # known, and neither the name nor the type can be told.
        summarized = change.event_name == "UpdatePolicy" and "/" in (change.policy_arn or "")
        if (change.event_name == "CreatePolicy" or summarized) and change.policy_type in ("scp", "rcp"):
            policy_id = change.edits[0].slot.key[0]
            meta.setdefault(
                policy_id,
                {
                    "Id": policy_id,
                    "Arn": change.policy_arn,
                    "Name": change.policy_name,
                    "Type": SCP if change.policy_type == "scp" else RCP,
                    "AwsManaged": False,
                },
            )
    for policy in FULL_ACCESS_POLICIES.values():  # AWS's own: the same in every organization
        meta.setdefault(policy["Id"], {k: v for k, v in policy.items() if k != "PolicyDocument"})
    return meta


_ORG_POLICY_TYPES = {SCP: "scp", RCP: "rcp"}


def with_snapshot_names(changes: list[PolicyChange], snapshot: Snapshot) -> list[PolicyChange]:
    """The changes, named as the snapshot names what they changed:

    * Organizations' AttachPolicy / DetachPolicy / DeletePolicy name their policy by ARN
      and type (scp or rcp) instead of the bare id the event gives, when the snapshot or
      a CreatePolicy or UpdatePolicy among the changes knows that id: a root cause and a ``changes/`` row
      then say which SCP was attached, not ``p-…``;
    * an IAM change logs only the role's, user's or group's name, so its target ARN is
      built without the entity's path; the snapshot's ARN (with the path) is used when it
      holds the entity, so the target is the ARN the principal really has."""
    return _named_by(changes, org_policy_meta(snapshot, changes), snapshot.data)


def _named_by(
    changes: list[PolicyChange], meta: Mapping[str, Mapping[str, Any]], data: Mapping[str, Any]
) -> list[PolicyChange]:
    named = []
    for change in changes:
        bare_id = change.policy_arn if change.policy_arn and "/" not in change.policy_arn else None
        known = meta.get(bare_id) if bare_id else None
        if known and known.get("Arn"):
            change = replace(
                change,
                policy_arn=known["Arn"],
                policy_type=_ORG_POLICY_TYPES.get(str(known.get("Type")), change.policy_type),
            )
        target = _entity_arn_with_path(change.target_arn, data)
        if target != change.target_arn:
            change = replace(change, target_arn=target)
        named.append(change)
    return named


def _entity_arn_with_path(target: str | None, data: Mapping[str, Any]) -> str | None:
    """``arn:…:iam::A:role/Name`` as the snapshot holds it (``…:role/path/Name``)."""
    arn = Arn.parse(target) if target else None
    if arn is None or arn.service != "iam" or arn.resource_type not in _ENTITY_LISTS:
        return target
    if "/" in arn.resource_id:  # it has a path already
        return target
    entry = find_entity(data, arn.account, arn.resource_type, arn.resource_id)
    full = entry.get("Arn") if entry is not None else None
    parsed = Arn.parse(full) if isinstance(full, str) else None
    if parsed is None or (parsed.partition, parsed.account, parsed.resource_type) != (
        arn.partition,
        arn.account,
        arn.resource_type,
    ):
        return target
    return full


class PolicyTimeline:
    """A snapshot and the policy changes around it; ``state_at(t)`` for any t."""

    def __init__(self, snapshot: Snapshot, changes: Iterable[PolicyChange]):
        self.snapshot = snapshot
        ordered = sorted(changes, key=order_key)
        self._org_meta = org_policy_meta(snapshot, ordered)
        self.changes = _named_by(ordered, self._org_meta, snapshot.data)
        self._times = [c.event_time for c in self.changes]
        collected = snapshot.collected_at
        self.collected = parse_time(collected) if isinstance(collected, str) else None
        self._versions = self._policy_versions()
        self._by_slot: dict[Slot, list[tuple[int, Edit]]] = defaultdict(list)
        for index, change in enumerate(self.changes):
            for edit in change.edits:
                self._by_slot[edit.slot].append((index, self._with_previous_default(index, change, edit)))
        # EnablePolicyType / DisablePolicyType, by policy type, in time order.
        self._type_edits: dict[str, list[tuple[int, Edit]]] = defaultdict(list)
        for slot, slot_edits in self._by_slot.items():
            if slot.kind == SlotKind.POLICY_TYPE:
                self._type_edits[slot.key[1]].extend(slot_edits)
        for type_edits in self._type_edits.values():
            type_edits.sort(key=lambda item: item[0])
        self._collected_values: dict[Slot, Any] = {}
        self._keys_changed: dict[str, list[int]] = defaultdict(list)  # slot key -> changes
        for index, change in enumerate(self.changes):
            for key in dict.fromkeys(k for edit in change.edits for k in slot_keys(edit.slot)):
                self._keys_changed[key].append(index)
        self._barriers = [index for index in range(len(self.changes)) if self._barrier(index)]
        # Whether the log knows a policy the snapshot could not read (a gap) at the
        # snapshot's own position: then that position's state is rebuilt too.
        self._fills_snapshot = any(
            self._collected(slot) is UNKNOWN and self.value_at(slot, self._snapshot_position()) is not UNKNOWN
            for slot in self._by_slot
        )
        # The states rebuilt, by position, the latest used last (see ``STATES_KEPT``).
        self._states: OrderedDict[int, _Built] = OrderedDict()
        self._lock = threading.Lock()

    def org_policy_label(self, policy_id: str) -> str:
        """``SCP ProtectQueues (p-…)`` when the snapshot or a CreatePolicy (UpdatePolicy) names it,
        else ``policy p-…``: what a one-line summary calls an organization policy."""
        meta = self._org_meta.get(policy_id) or {}
        kind = {SCP: "SCP", RCP: "RCP"}.get(str(meta.get("Type")), "policy")
        name = meta.get("Name")
        return f"{kind} {name} ({policy_id})" if name else f"{kind} {policy_id}"

    def _policy_versions(self) -> dict[tuple[str, str], str]:
        """Every managed policy version's document (versions never change)."""
        versions: dict[tuple[str, str], str] = {}
        for account in self.snapshot.data["accounts"].values():
            for entry in (account.get("authorizationDetails") or {}).get("Policies") or ():
                for version in entry.get("PolicyVersionList") or ():
                    text = document_text(version.get("Document"))
                    if text and version.get("VersionId"):
                        versions[(entry.get("Arn", ""), version["VersionId"])] = text
        for change in self.changes:
            if change.version_id and change.policy_arn and change.document:
                versions.setdefault((change.policy_arn, change.version_id), change.document)
        return versions

    def _with_previous_default(self, index: int, change: PolicyChange, edit: Edit) -> Edit:
        """A new default version replaced the default, which CloudTrail does not name; but
        when exactly one version existed before it, that one was the default."""
        if change.event_name != "CreatePolicyVersion" or edit.op != EditOp.SET or change.policy_arn is None:
            return edit
        existed = self._versions_before(change.policy_arn, index)
        if existed is None or len(existed) != 1:
            return edit
        document = self._versions.get((change.policy_arn, existed.pop()))
        return edit if document is None else replace(edit, previous=document, previous_known=True)

    def _versions_before(self, arn: str, index: int) -> set[str] | None:
        """The versions of a managed policy that existed just before change ``index``;
        None when that cannot be told (a version without a creation date, or deleted
        later without its creation logged)."""
        when = self.changes[index].event_time
        existed: set[str] = set()
        for account in self.snapshot.data["accounts"].values():
            for entry in (account.get("authorizationDetails") or {}).get("Policies") or ():
                if not isinstance(entry, dict) or entry.get("Arn") != arn:
                    continue
                for version in entry.get("PolicyVersionList") or ():
                    created = _created(version.get("CreateDate"))
                    if created is None:
                        return None
                    if created < when:
                        existed.add(str(version.get("VersionId")))
        for earlier, change in enumerate(self.changes):
            if change.policy_arn != arn or change.version_id is None:
                continue
            if change.event_name == "DeletePolicyVersion":
                if earlier < index:
                    existed.discard(change.version_id)
                elif change.version_id not in existed:
                    return None  # deleted later; whether it existed before is not known
            elif earlier < index:
                existed.add(change.version_id)
        return existed

    # -- one slot ------------------------------------------------------------------------
    def value_at(self, slot: Slot, position: int) -> Any:
        """The slot's value once the first ``position`` changes (in time order) are in force."""
        value = self._logged_value_at(slot, position)
        if slot.kind == SlotKind.ORG_ATTACHMENT:
            return self._attachment_at(slot, position, value)
        return value

    def _type_change(self, policy_type: str, position: int) -> tuple[int, Edit] | None:
        """The EnablePolicyType / DisablePolicyType of ``policy_type`` that decides its
        attachments at ``position``: rolling forward, the latest between the snapshot and
        ``position``; rolling back, the earliest between ``position`` and the snapshot."""
        in_snapshot = self._snapshot_position()
        edits = self._type_edits.get(policy_type, [])
        if position >= in_snapshot:
            crossed = [(i, e) for i, e in edits if in_snapshot <= i < position]
            return crossed[-1] if crossed else None
        crossed = [(i, e) for i, e in edits if position <= i < in_snapshot]
        return crossed[0] if crossed else None

    def _attachment_at(self, slot: Slot, position: int, logged: Any) -> Any:
        """An SCP/RCP attachment's value, with the policy-type changes crossed: disabling a
        type detaches every policy of it; enabling one leaves only its FullAWSAccess
        attached (see ``FULL_ACCESS_POLICIES``). An attachment edit on the far side of the
        type change (nearer ``position``) still decides; before a disable rolled back over,
        what was attached is unknown unless an earlier logged edit says it."""
        policy_type = str((self._org_meta.get(slot.key[0]) or {}).get("Type"))
        if policy_type not in FULL_ACCESS_POLICIES:  # a policy of unknown type
            crossed = [c for t in FULL_ACCESS_POLICIES if (c := self._type_change(t, position))]
            return UNKNOWN if crossed else logged
        change = self._type_change(policy_type, position)
        if change is None:
            return logged
        at, type_edit = change
        own = [i for i, _ in self._by_slot.get(slot, [])]
        if position >= self._snapshot_position():  # rolled forward over the type change
            if any(at < i < position for i in own):
                return logged
            full_access = slot.key[0] == FULL_ACCESS_POLICIES[policy_type]["Id"]
            return ATTACHED if type_edit.value is not None and full_access else None
        if any(position <= i < at for i in own):  # rolled back: an edit before the type change
            return logged
        if type_edit.value is not None:  # enabled at ``at``: before it, disabled
            return None
        earlier = [(i, edit) for i, edit in self._by_slot.get(slot, []) if i < position]
        types_between = [
            i for i, _ in self._type_edits[policy_type] if earlier and earlier[-1][0] < i < position
        ]
        if earlier and not types_between:
            return _apply(earlier[-1][1], UNKNOWN, self._versions)
        return UNKNOWN

    def _logged_value_at(self, slot: Slot, position: int) -> Any:
        """The slot's value from its own logged edits and the snapshot."""
        edits = self._by_slot.get(slot, [])
        in_snapshot = self._snapshot_position()
        value: Any = self._collected(slot)
        lo, hi = sorted((position, in_snapshot))
        if slot.kind == SlotKind.ORG_POLICY and value is None and not any(lo <= i < hi for i, _ in edits):
            # A snapshot holds only the SCPs and RCPs attached somewhere: one it lacks may
            # exist unattached, its content the latest logged (CreatePolicy, UpdatePolicy).
            earlier = [edit for index, edit in edits if index < position]
            return _apply(earlier[-1], UNKNOWN, self._versions) if earlier else None
        if position >= in_snapshot:
            for index, edit in edits:
                if in_snapshot <= index < position:
                    value = _apply(edit, value, self._versions)
        else:
            for at in reversed(range(len(edits))):
                index, edit = edits[at]
                if position <= index < in_snapshot:
                    value = _revert(edit, value, edits[:at])
        if value is not UNKNOWN:
            return value
        # Forward from the latest earlier change that set it outright: what the snapshot
        # could not read (a gap) or a change it was rolled over did not log. A change that
        # replaced it without logging how, after that one, leaves it unknown.
        value = UNKNOWN
        for index, edit in edits:
            if index < position:
                value = _apply(edit, value, self._versions)
        return value

    def _collected(self, slot: Slot) -> Any:
        """The slot's value in the snapshot as collected (read once: the snapshot never
        changes); unknown where a gap says the collector could not read it."""
        if slot not in self._collected_values:
            unread = any(_unread_in(gap, slot) for gap in self.snapshot.gaps)
            self._collected_values[slot] = UNKNOWN if unread else read_slot(self.snapshot.data, slot)
        return self._collected_values[slot]

    def _snapshot_position(self) -> int:
        if self.collected is None:
            return len(self.changes)
        return bisect_right(self._times, self.collected)

    def position(self, at: datetime) -> int:
        """How many changes are in force at ``at`` (those strictly before it)."""
        return bisect_left(self._times, at)

    # -- the whole state -----------------------------------------------------------------
    def state_at(self, at: datetime, keys_of: KeysOf | None = None) -> PolicyState:
        """The state at ``at``. With ``keys_of`` (a request's ``relevance_keys`` under a
        state), the policies are those of a position sharing the request's answer (see
        ``_shared_position``): one rebuilt state serves every time in between."""
        return self._state(self.position(at), at, keys_of)

    def state_before(self, index: int, keys_of: KeysOf | None = None) -> PolicyState:
        """The state just before change ``index`` (the changes before it in force)."""
        return self._state(index, self.changes[index].event_time, keys_of)

    def state_after(self, index: int, keys_of: KeysOf | None = None) -> PolicyState:
        """The state once change ``index`` and those before it are in force."""
        return self._state(index + 1, self.changes[index].event_time, keys_of)

    def snapshot_state(self) -> PolicyState:
        """The snapshot as collected, its gaps included (the state at its position may
        fill one from the log: see ``_fills_snapshot``)."""
        at = self.collected or (self.changes[-1].event_time if self.changes else datetime.now(UTC))
        return PolicyState(self.snapshot, at, self.snapshot, 0, "as collected")

    def _state(self, position: int, at: datetime, keys_of: KeysOf | None = None) -> PolicyState:
        """The state at ``position``; its time, and how far and which way the snapshot was
        rolled to reach it, are always the position's own (the output says them)."""
        in_snapshot = self._snapshot_position()
        applied = abs(position - in_snapshot)
        direction = (
            "as collected" if applied == 0 else "rolled back" if position < in_snapshot else "rolled forward"
        )
        shared = position if keys_of is None else self._shared_position(position, at, keys_of)
        built = self._built(shared)
        return PolicyState(built.snapshot, at, self.snapshot, applied, direction, built.unknown)

    def touching(self, touched: frozenset[str]) -> list[int]:
        """The indices, in order, of the changes that touch a request: those with a slot key
        in ``touched`` (``touched_by`` of the request's keys)."""
        return sorted(
            {index for key in touched & self._keys_changed.keys() for index in self._keys_changed[key]}
        )

    # -- sharing one rebuilt state between positions --------------------------------------
    def _shared_position(self, position: int, at: datetime, keys_of: KeysOf) -> int:
        """The position nearest the snapshot's whose policies answer the request exactly as
        those at ``position`` do: no change in between touches what decides the request
        (its ``relevance_keys``, the contract ``RunHistory.touches`` relies on too) or
        changes anything else an answer shows (see ``_barrier``).

        The keys are those under the shared state itself: when no change in between
        touches them, the two states agree on everything they name, so the keys under
        ``position`` are the same. A guess (the keys under the snapshot) is widened with
        the keys found until they agree, moving the shared position towards ``position``.
        """
        keys = set(keys_of(self.snapshot_state()))
        while True:
            shared = self._nearest(position, touched_by(keys))
            if shared == position:
                return position
            found = set(keys_of(self._state(shared, at)))
            if found <= keys:
                return shared
            keys |= found

    def _nearest(self, position: int, touched: frozenset[str]) -> int:
        """From ``position`` towards the snapshot's, as far as no change crossed is a
        barrier or touches a key in ``touched``."""
        in_snapshot = self._snapshot_position()
        if position == in_snapshot:
            return position
        stops = self.touching(touched)
        barriers = self._barriers
        if position < in_snapshot:  # crossing changes position .. in_snapshot - 1, first to last
            first = bisect_left(barriers, position)
            barrier = barriers[first] if first < len(barriers) else in_snapshot
            return min([in_snapshot, barrier, *(i for i in stops if position <= i < in_snapshot)])
        last = bisect_left(barriers, position) - 1  # crossing position - 1 .. in_snapshot, last first
        barrier = barriers[last] if last >= 0 else -1
        return max([in_snapshot, barrier + 1, *(i + 1 for i in stops if in_snapshot <= i < position)])

    def _slot_unknown(self, slot: Slot, position: int) -> str | None:
        """Why the slot is unknown at ``position`` (None when it is known)."""
        return self._unknown_reason(slot, position) if self.value_at(slot, position) is UNKNOWN else None

    def _barrier(self, index: int) -> bool:
        """Whether crossing change ``index`` may change an answer whatever the request's
        keys: it changes the organization (whose policies and tree every request under it
        sees, and whose unknown parts reach beyond their keys), creates or deletes an
        entity (which moves other slots and canonical ARNs), changes a managed policy
        (session policies name them outside the keys) or a secret's policy (which can
        change the ARN a secret's name resolves to); or it changes which slots are unknown
        (the state's gaps, which every explanation in their account lists)."""
        for edit in self.changes[index].edits:
            slot = edit.slot
            if slot.kind in _ORG_KINDS or slot.kind in (SlotKind.ENTITY, SlotKind.MANAGED):
                return True
            if slot.kind == SlotKind.RESOURCE and ":secretsmanager:" in slot.key[0]:
                return True
            if self._slot_unknown(slot, index) != self._slot_unknown(slot, index + 1):
                return True
        return False

    def _built(self, position: int) -> _Built:
        """The policies with the first ``position`` changes in force, from the cache (the
        latest ``STATES_KEPT`` used) or rebuilt."""
        if position == self._snapshot_position() and not self._fills_snapshot:
            return _Built(self.snapshot)  # the snapshot as collected: nothing to rebuild
        with self._lock:
            cached = self._states.get(position)
            if cached is not None:
                self._states.move_to_end(position)
                return cached
        state = self._rebuild(position)
        with self._lock:
            self._states[position] = state
            self._states.move_to_end(position)
            while len(self._states) > STATES_KEPT:
                self._states.popitem(last=False)
        return state

    def _rebuild(self, position: int) -> _Built:
        state_data = _StateData(self.snapshot.data)
        data = state_data.data
        unknown: list[Unknown] = []
        filled: list[Slot] = []  # known from the log, though the snapshot could not read them
        slots = sorted(self._by_slot, key=lambda s: (s.kind in _ORG_KINDS, s.kind == SlotKind.ORG_ATTACHMENT))
        for slot in slots:
            if slot.kind == SlotKind.POLICY_TYPE:
                if gap := self._write_policy_type(state_data, slot, position):
                    unknown.append(gap)
                continue
            value = self.value_at(slot, position)
            if value is UNKNOWN and position == self._snapshot_position():
                continue  # what the snapshot could not read: its own gap says so
            if value is UNKNOWN:
                keys = slot_keys(slot)
                if slot.kind == SlotKind.ORG_POLICY:  # it touches every node it is attached to
                    keys += tuple(
                        f"org-node:{node_id}"
                        for node_id, node in _org_nodes(data).items()
                        if any(p.get("Id") == slot.key[0] for p in node.get("policies") or ())
                    )
                unknown.append(Unknown(slot, self._unknown_reason(slot, position), keys))
                state_data.write(slot, None)
                continue
            if self._collected(slot) is UNKNOWN:
                filled.append(slot)
            if value == state_data.read(slot, self._collected(slot)):
                continue
            if (
                slot.kind == SlotKind.ENTITY
                and value is not None
                and not any(
                    index < position and edit.value is not None for index, edit in self._by_slot[slot]
                )
            ):
                # Deleted since, never seen created: it existed, with policies unknown.
                unknown.append(
                    Unknown(
                        slot,
                        "deleted after this time; its policies before the deletion were never logged",
                        slot_keys(slot),
                    )
                )
            org_policy = None
            if slot.kind == SlotKind.ORG_ATTACHMENT and value is not None:
                org_policy = self._org_policy_at(slot, position)
                if org_policy is None:
                    unknown.append(
                        Unknown(slot, "the policy's content at that time was never logged", slot_keys(slot))
                    )
                    continue
            state_data.write(slot, value, org_policy)
        unread = [
            raw
            for raw in data.get("gaps", [])
            if not any(_unread_in(Gap.from_json(raw, "gap"), slot) for slot in filled)
        ]
        data["gaps"] = [*unread, *(u.gap().to_json() for u in unknown)]
        return _Built(snapshot_from_dict(data, self.snapshot.source), tuple(unknown))

    def _write_policy_type(self, state_data: _StateData, slot: Slot, position: int) -> Unknown | None:
        """Write what the policy-type change crossed did to every node (``_write_org``):
        rolled forward over a disable, no policy of the type; over an enable, its
        FullAWSAccess everywhere; rolled back over an enable, none (it was disabled).
        Rolled back over a disable, which policies of the type were attached before it is
        unknown: the attachments logged are written (``_attachment_at``), the rest is a gap."""
        policy_type = slot.key[1]
        change = self._type_change(policy_type, position)
        if change is None or policy_type not in FULL_ACCESS_POLICIES:
            return None
        at, type_edit = change
        if position >= self._snapshot_position():
            enabled = type_edit.value is not None
            state_data.write(slot, type_edit.value, FULL_ACCESS_POLICIES[policy_type] if enabled else None)
            return None
        if type_edit.value is not None:
            state_data.write(slot, None)
            return None
        disabled = self.changes[at]
        reason = (
            f"{disabled.event_name} {disabled.event_id} at {disabled.when} detached every "
            f"{policy_type}; which were attached before it was never logged"
        )
        return Unknown(slot, reason, slot_keys(slot))

    def _org_policy_at(self, slot: Slot, position: int) -> dict[str, Any] | None:
        policy_id = slot.key[0]
        meta = self._org_meta.get(policy_id)
        content = self.value_at(Slot(SlotKind.ORG_POLICY, slot.account, (policy_id,)), position)
        if content is None and policy_id in _FULL_ACCESS_DOCUMENTS:  # AWS's own, not in the snapshot
            content = _FULL_ACCESS_DOCUMENTS[policy_id]
        if meta is None or content is UNKNOWN or content is None:
            return None
        return {**meta, "PolicyDocument": content}

    def _unknown_reason(self, slot: Slot, position: int) -> str:
        if slot.kind == SlotKind.ORG_ATTACHMENT and self._logged_value_at(slot, position) is not UNKNOWN:
            crossed = [c for t in FULL_ACCESS_POLICIES if (c := self._type_change(t, position))]
            if crossed:
                change = self.changes[crossed[0][0]]
                return (
                    f"{change.event_name} {change.event_id} at {change.when} changed which "
                    "policies of its type are attached, and whether this one was before it was never logged"
                )
        earlier = [(i, edit) for i, edit in self._by_slot.get(slot, []) if i < position]
        if earlier:
            index, edit = earlier[-1]
            last = self.changes[index]
            if edit.op == EditOp.SET_VERSION and (edit.slot.key[0], edit.value or "") not in self._versions:
                return (
                    f"{last.event_name} {last.event_id} at {last.when} made version {edit.value} "
                    "the default, whose document no snapshot or logged change holds"
                )
            if edit.op == EditOp.SET_UNLOGGED:
                return (
                    f"{last.event_name} {last.event_id} at {last.when} set it to a document "
                    "its event does not carry (absent or omitted by CloudTrail), so what it set is unknown"
                )
            if _apply(edit, None, self._versions) is UNKNOWN:
                return (
                    f"{last.event_name} {last.event_id} at {last.when} logged a document that is "
                    "not a readable policy, so what it set is unknown"
                )
        later = [self.changes[i] for i, _ in self._by_slot.get(slot, []) if i >= position]
        if later:
            first = later[0]
            return (
                f"{first.event_name} {first.event_id} at {first.when} replaced it and no "
                "earlier logged value or snapshot shows what it was before"
            )
        if self._collected(slot) is UNKNOWN:
            return "the snapshot could not read it and no logged change before this time set it"
        return "its value was never logged"


class SnapshotTimelines:
    """Several snapshots over one list of changes, answering as a ``PolicyTimeline`` does:
    the state at t is rebuilt from the snapshot collected nearest to t, so the fewest
    changes are rolled over and a change whose prior value was never logged is more often
    inside a snapshot than across it. With one snapshot it is that snapshot's timeline."""

    def __init__(self, snapshots: Iterable[Snapshot], changes: Iterable[PolicyChange]):
        changes = tuple(changes)
        self.timelines = tuple(PolicyTimeline(snapshot, changes) for snapshot in snapshots)
        if not self.timelines:
            raise ValueError("at least one snapshot is needed")
        first = self.timelines[0]
        self.changes = first.changes
        dated = [t for t in self.timelines if t.collected is not None]
        # Without ``collectedAt`` a snapshot's time is unknown: it is used only alone.
        self._dated = dated or [first]
        self.snapshot = max(
            self._dated, key=lambda t: t.collected or datetime.min.replace(tzinfo=UTC)
        ).snapshot

    @property
    def only_timeline(self) -> PolicyTimeline | None:
        """The one snapshot's timeline every state is rebuilt from, when only one is used."""
        return self._dated[0] if len(self._dated) == 1 else None

    def _by_distance(self, start: datetime | None, end: datetime | None) -> list[PolicyTimeline]:
        """The timelines, nearest first to the interval [start, end] (an unbounded end
        reaches as far as it goes)."""

        def distance(timeline: PolicyTimeline) -> float:
            collected = timeline.collected
            if collected is None:
                return 0.0
            if start is not None and collected < start:
                return (start - collected).total_seconds()
            if end is not None and collected > end:
                return (collected - end).total_seconds()
            return 0.0

        return sorted(self._dated, key=distance)

    def _span(self, position: int) -> tuple[datetime | None, datetime | None]:
        """When exactly the first ``position`` changes are in force."""
        start = self.changes[position - 1].event_time if position > 0 else None
        end = self.changes[position].event_time if position < len(self.changes) else None
        return start, end

    def _around(self, position: int) -> list[PolicyTimeline]:
        """Nearest first to the span in which exactly the first ``position`` changes are in force."""
        return self._by_distance(*self._span(position))

    def _worth_rebuilding(self, start: datetime | None, end: datetime | None) -> list[PolicyTimeline]:
        """Nearest first, the snapshots a state for [start, end] is worth rebuilding from:
        those collected within it, and the nearest before and the nearest after it. A
        farther one on the same side rolls over every change the nearer one does, so it
        knows more only where the nearer snapshot itself has gaps; and every try costs a
        rebuilt state (a folder of nightly snapshots may hold dozens)."""
        sides: set[str] = set()
        kept = []
        for timeline in self._by_distance(start, end):
            collected = timeline.collected
            before = collected is not None and start is not None and collected < start
            after = collected is not None and end is not None and collected > end
            side = "before" if before else "after" if after else None
            if side is not None and side in sides:
                continue
            if side is not None:
                sides.add(side)
            kept.append(timeline)
        return kept

    def position(self, at: datetime) -> int:
        return self.timelines[0].position(at)

    def touching(self, touched: frozenset[str]) -> list[int]:
        return self.timelines[0].touching(touched)  # the same changes, so the same slots

    def state_at(self, at: datetime, keys_of: KeysOf | None = None) -> PolicyState:
        tried = self._worth_rebuilding(at, at)
        return self._known_first(tried, lambda t: t.state_at(at, keys_of), keys_of)

    def state_before(self, index: int, keys_of: KeysOf | None = None) -> PolicyState:
        tried = self._worth_rebuilding(*self._span(index))
        return self._known_first(tried, lambda t: t.state_before(index, keys_of), keys_of)

    def state_after(self, index: int, keys_of: KeysOf | None = None) -> PolicyState:
        tried = self._worth_rebuilding(*self._span(index + 1))
        return self._known_first(tried, lambda t: t.state_after(index, keys_of), keys_of)

    @staticmethod
    def _known_first(
        nearest_first: list[PolicyTimeline],
        state_of: Callable[[PolicyTimeline], PolicyState],
        keys_of: KeysOf | None,
    ) -> PolicyState:
        """The state from the nearest snapshot that knows every policy the request
        touches (``keys_of``; without it, every policy), else the nearest one's.

        Nearest is not enough: with last night's and this morning's snapshots, a change
        at 19:00 that replaced a policy without logging it is nearer this morning's, from
        which the policy before it is unknown, while last night's knows it."""
        first = None
        for timeline in nearest_first:
            state = state_of(timeline)
            if first is None:
                first = state
            unknown = state.unknown_for(keys_of(state)) if keys_of and state.unknown else state.unknown
            if not unknown:
                return state
        assert first is not None  # there is at least one snapshot
        return first

    def value_at(self, slot: Slot, position: int) -> Any:
        """The slot's value from the nearest snapshot that knows it."""
        value: Any = UNKNOWN
        for timeline in self._around(position):
            value = timeline.value_at(slot, position)
            if value is not UNKNOWN:
                break
        return value

    def org_policy_label(self, policy_id: str) -> str:
        """The first snapshot's name for the policy that knows one (see PolicyTimeline's)."""
        labels = [timeline.org_policy_label(policy_id) for timeline in self.timelines]
        return next((label for label in labels if not label.startswith("policy ")), labels[0])

    def snapshot_state(self) -> PolicyState:
        """The latest snapshot as collected."""
        return next(t for t in self._dated if t.snapshot is self.snapshot).snapshot_state()


# What ``analyzer.history.root_cause`` searches: one snapshot's timeline, or several.
Timeline = PolicyTimeline | SnapshotTimelines
