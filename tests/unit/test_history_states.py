"""The states a timeline rebuilds: shared between times whose answers cannot differ, kept
in a bounded cache, copied only where they change, and never changing an answer.

The reference is the timeline without sharing (every position rebuilt exactly, as before
sharing existed): every denial, at many times around a snapshot collected mid-day, must be
explained, rooted and fixed exactly alike, its ``PolicyStateAt`` included."""

from __future__ import annotations

import gc
import json
import random
import weakref
from datetime import datetime
from pathlib import Path

import cloudtrail_changes as ct
from hypothesis import given
from hypothesis import strategies as st

from analyzer.engine.policy import canonical_json
from analyzer.events import read_events
from analyzer.events.mapping import denied_events
from analyzer.history.changes import collect_changes
from analyzer.history.root_cause import investigate, relevance_keys
from analyzer.history.timeline import (
    STATES_KEPT,
    KeysOf,
    PolicyState,
    PolicyTimeline,
    touched_by,
    touches,
)
from analyzer.snapshot.model import new_snapshot_data, snapshot_from_dict

MEMBER, MANAGEMENT = "111111111111", "999999999999"
ROOT, GUARD = "r-root", "p-guard0001"
GUARD_ARN = f"arn:aws:organizations::{MANAGEMENT}:policy/o-abcdefghij/service_control_policy/{GUARD}"
ROLES = ("App", "Batch", "Etl", "Report", "Audit", "Billing", "Search", "Web")
BUCKETS = ("data-bucket", "logs-bucket", "exports-bucket")
READ_ONLY = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
DATA_READ = f"arn:aws:iam::{MEMBER}:policy/DataRead"  # customer managed, attached to no one
FULL = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def _owner_only(bucket: str) -> dict:
    return ct.doc(
        {
            "Sid": "OwnerOnly",
            "Effect": "Deny",
            "NotPrincipal": {"AWS": f"arn:aws:iam::{MEMBER}:role/App"},
            "Action": "s3:DeleteBucket",
            "Resource": f"arn:aws:s3:::{bucket}",
        }
    )


def _at(minute: int) -> str:
    return f"2026-11-24T{minute // 60:02d}:{minute % 60:02d}:00Z"


def _snapshot() -> dict:
    """One member account with four roles and three buckets, collected at 12:00."""

    def scp(pid: str, name: str, document: dict) -> dict:
        return {
            "Id": pid,
            "Arn": f"arn:aws:organizations::{MANAGEMENT}:policy/o-abcdefghij/service_control_policy/{pid}",
            "Name": name,
            "Description": name,
            "Type": "SERVICE_CONTROL_POLICY",
            "AwsManaged": False,
            "PolicyDocument": json.dumps(document),
        }

    full = scp("p-FullAWSAccess", "FullAWSAccess", ct.doc(FULL))

    def node(node_id: str, name: str, kind: str, policies: list, parent: str | None) -> dict:
        return {
            "arn": None,
            "id": node_id,
            "name": name,
            "organization_node_type": kind,
            "policies": policies,
            "parent": parent,
        }

    root_kind = "Organizational Unit or Organization Root"
    nodes = {
        ROOT: node(ROOT, "Root", root_kind, [full], None),
        MEMBER: node(MEMBER, "member", "AWSAccount", [full, scp(GUARD, "Guard", ct.BENIGN_SCP)], ROOT),
        MANAGEMENT: node(MANAGEMENT, "management", "AWSAccount", [full], ROOT),
    }
    roles = [
        {
            "RoleName": name,
            "Arn": f"arn:aws:iam::{MEMBER}:role/{name}",
            "RolePolicyList": [{"PolicyName": "Reads", "PolicyDocument": ct.reads("data-bucket")}],
            "AttachedManagedPolicies": [],
            "AssumeRolePolicyDocument": ct.doc(),
        }
        for name in ROLES
    ]
    read_only = {
        "PolicyName": "AmazonS3ReadOnlyAccess",
        "Arn": READ_ONLY,
        "DefaultVersionId": "v1",
        "PolicyVersionList": [
            {
                "VersionId": "v1",
                "IsDefaultVersion": True,
                "Document": ct.doc({"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"}),
            }
        ],
    }
    accounts = {
        MEMBER: {
            "authorizationDetails": {
                "UserDetailList": [],
                "GroupDetailList": [],
                "RoleDetailList": roles,
                "Policies": [read_only, {**read_only, "PolicyName": "DataRead", "Arn": DATA_READ}],
            },
            "resourcePolicies": {f"arn:aws:s3:::{b}": _owner_only(b) for b in BUCKETS},
        },
        MANAGEMENT: {"authorizationDetails": {}},
    }
    return new_snapshot_data(accounts, {"managementAccountId": MANAGEMENT, "nodes": nodes}, _at(12 * 60))


def _changes(count: int, seed: int = 7) -> list[dict]:
    """``count`` changes at distinct minutes of the day: inline policies cut and restored,
    managed policies attached, bucket policies denying and allowing, the SCP made bad and
    good again."""
    rng = random.Random(seed)
    minutes = sorted(rng.sample(range(1, 24 * 60 - 1), count))
    records = []
    for number, minute in enumerate(minutes):
        role, bucket = rng.choice(ROLES), rng.choice(BUCKETS)
        kind = rng.choice([0, 0, 0, 1, 1, 2, 2, 2, 3])
        when, event_id = _at(minute), f"change-{number}"
        if kind == 0:
            document = rng.choice([ct.reads(bucket), ct.list_only(bucket)])
            records.append(ct.put_role_policy(MEMBER, when, role, "Reads", document, event_id=event_id))
        elif kind == 1:
            request = {"policyArn": READ_ONLY, "roleName": role}
            records.append(
                ct.record("iam.amazonaws.com", "AttachRolePolicy", MEMBER, when, request, event_id=event_id)
            )
        elif kind == 2:
            statement = {
                "Effect": rng.choice(["Deny", "Allow"]),
                "Principal": {"AWS": f"arn:aws:iam::{MEMBER}:role/{role}"},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
            records.append(ct.put_bucket_policy(MEMBER, when, bucket, ct.doc(statement), event_id=event_id))
        else:
            document = rng.choice([ct.BAD_SCP, ct.BENIGN_SCP])
            records.append(
                ct.org_update_policy(MANAGEMENT, when, GUARD, GUARD_ARN, "Guard", document, event_id=event_id)
            )
    return records


def _denials(every: int = 20) -> list[dict]:
    """A denied GetObject every ``every`` minutes, of each role on one of the buckets."""
    records = []
    for minute in range(0, 24 * 60, every):
        for index, role in enumerate(ROLES):
            bucket = BUCKETS[(minute // every + index) % len(BUCKETS)]
            event_id = f"deny-{role}-{minute}"
            records.append(ct.get_object_denied(MEMBER, _at(minute), role, bucket, "a.csv", event_id))
    return records


class _Unshared(PolicyTimeline):
    """The reference: every time gets the state of its own position, rebuilt exactly."""

    def _state(self, position: int, at: datetime, keys_of: KeysOf | None = None) -> PolicyState:
        return super()._state(position, at)


def _load(tmp_path: Path, records: list[dict]):
    path = tmp_path / "events.json"
    path.write_text(json.dumps({"Records": records}))
    changes, problems = collect_changes(read_events([path]))
    assert not problems
    events = [e for e in denied_events([path])]
    return snapshot_from_dict(_snapshot()), changes, events


def test_every_answer_is_the_one_of_the_state_at_its_own_position(tmp_path):
    snapshot, changes, events = _load(tmp_path, _changes(40) + _denials())
    shared, exact = PolicyTimeline(snapshot, changes), _Unshared(snapshot, changes)
    positions = {shared.position(e.event_time) for e in events}
    assert len(positions) > 25  # the denials fall between most of the changes

    found = [(investigate(e, shared).to_json(), investigate(e, exact).to_json()) for e in events]

    assert [a for a, _ in found] == [b for _, b in found]
    outcomes = {(a["AssessmentResult"], a["PolicyStateAt"]["Source"].split(")")[-1]) for a, _ in found}
    assert len(outcomes) > 4  # allowed, denied, partial; rolled back and forward
    assert any(a["RootCause"] for a, _ in found) and any(a.get("FixedBy") for a, _ in found)
    # Many denials were answered by the state of another position (nearer the snapshot).
    moved = [
        e
        for e in events
        if shared.state_at(e.event_time, lambda s, e=e: relevance_keys(e, s)).snapshot
        is not shared.state_at(e.event_time).snapshot
    ]
    assert len(moved) > len(events) // 3


def test_times_between_changes_that_do_not_touch_the_request_share_one_state(tmp_path):
    # Changes on other roles and buckets between 13:00 and 17:00; App's denial on
    # data-bucket at 18:00 and 14:30 has the policies of the 12:00 snapshot.
    records = [
        ct.put_role_policy(
            MEMBER, _at(13 * 60), "Batch", "Reads", ct.list_only("logs-bucket"), event_id="c1"
        ),
        ct.record(
            "iam.amazonaws.com",
            "AttachRolePolicy",
            MEMBER,
            _at(14 * 60),
            {"policyArn": READ_ONLY, "roleName": "Etl"},
            event_id="c2",
        ),
        ct.put_bucket_policy(MEMBER, _at(15 * 60), "logs-bucket", _owner_only("logs-bucket"), event_id="c3"),
        ct.put_role_policy(MEMBER, _at(17 * 60), "App", "Reads", ct.list_only("data-bucket"), event_id="c4"),
        ct.get_object_denied(MEMBER, _at(14 * 60 + 30), "App", "data-bucket", "a.csv", "early"),
        ct.get_object_denied(MEMBER, _at(16 * 60 + 30), "App", "data-bucket", "a.csv", "late"),
        ct.get_object_denied(MEMBER, _at(18 * 60), "App", "data-bucket", "a.csv", "after"),
    ]
    snapshot, changes, events = _load(tmp_path, records)
    late = events[1]
    timeline = PolicyTimeline(snapshot, changes)

    def keys(event) -> KeysOf:
        return lambda state: relevance_keys(event, state)

    states = [timeline.state_at(e.event_time, keys(e)) for e in events]

    # No change before 17:00 touches App or data-bucket: the snapshot itself answers.
    assert states[0].snapshot is snapshot and states[1].snapshot is snapshot
    # App's own change at 17:00 does: that state is rebuilt.
    assert states[2].snapshot is not snapshot
    # What the output says about each state is still its own position's.
    assert [s.describe()["Source"].split(") ")[-1] for s in states] == [
        "rolled forward over 2 logged policy change(s)",
        "rolled forward over 3 logged policy change(s)",
        "rolled forward over 4 logged policy change(s)",
    ]
    assert [s.at for s in states] == [e.event_time for e in events]
    # Without the request's keys every position is its own.
    assert timeline.state_at(late.event_time).snapshot is not snapshot


def test_the_cache_keeps_at_most_states_kept_states(tmp_path):
    snapshot, changes, _ = _load(tmp_path, _changes(STATES_KEPT + 20))
    timeline = PolicyTimeline(snapshot, changes)
    built = [weakref.ref(timeline.state_before(index).snapshot) for index in range(len(changes))]
    gc.collect()
    alive = [ref for ref in built if ref() is not None]
    # The latest used are kept (and the snapshot itself, which is never rebuilt).
    assert len(alive) <= STATES_KEPT + 1
    assert built[-1]() is not None
    assert built[0]() is None


def _new_default_versions(minutes: range) -> list[dict]:
    """DataRead's default version replaced now and then (the shape of
    test_history_timeline.py's CreatePolicyVersion, from public CloudTrail samples)."""
    return [
        ct.record(
            "iam.amazonaws.com",
            "CreatePolicyVersion",
            MEMBER,
            _at(minute),
            {
                "policyArn": DATA_READ,
                "policyDocument": ct.text(ct.reads(BUCKETS[minute % 3])),
                "setAsDefault": True,
            },
            {"policyVersion": {"versionId": f"v{minute}", "isDefaultVersion": True}},
            event_id=f"version-{minute}",
        )
        for minute in minutes
    ]


def test_a_rebuilt_state_never_writes_into_the_snapshot_or_another_state(tmp_path):
    snapshot, changes, _ = _load(tmp_path, _changes(30) + _new_default_versions(range(7, 24 * 60, 97)))
    original = canonical_json(snapshot.data)
    forward, backward = PolicyTimeline(snapshot, changes), PolicyTimeline(snapshot, changes)
    positions = range(len(changes) + 1)
    ahead = {p: canonical_json(forward.state_before(p).snapshot.data) for p in positions if p < len(changes)}
    behind = {
        p: canonical_json(backward.state_before(p).snapshot.data)
        for p in reversed(positions)
        if p < len(changes)
    }
    assert ahead == behind
    assert len(set(ahead.values())) > 20
    assert canonical_json(snapshot.data) == original


ARN_PARTS = st.text(alphabet="ab/:-0123456789", min_size=0, max_size=12)


@given(
    st.one_of(st.builds(lambda a, b: f"arn:aws:{a}{b}", ARN_PARTS, ARN_PARTS), ARN_PARTS),
    st.one_of(st.builds(lambda a, b: f"arn:aws:{a}{b}", ARN_PARTS, ARN_PARTS), ARN_PARTS),
)
def test_touched_by_names_exactly_the_keys_a_request_key_touches(request_key, slot_key):
    assert (slot_key in touched_by([request_key])) == touches(request_key, slot_key)


def test_touched_by_covers_objects_qualified_functions_and_secrets():
    touched = touched_by(
        [
            "arn:aws:s3:::data-bucket/exports/a.csv",
            "arn:aws:lambda:us-east-1:111111111111:function:f:3",
            "arn:aws:secretsmanager:us-east-1:111111111111:secret:db-AbC123",
        ]
    )
    assert "arn:aws:s3:::data-bucket" in touched
    assert "arn:aws:lambda:us-east-1:111111111111:function:f" in touched
    assert "arn:aws:secretsmanager:us-east-1:111111111111:secret:db" in touched
    assert "arn:aws:s3:::data" not in touched
