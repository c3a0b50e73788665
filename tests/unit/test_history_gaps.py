"""Root causes and states when the log is ambiguous or incomplete: a policy the snapshot
cannot read, changes logged in the same second (a log file's records are in no particular
order), and change events whose document or fields are missing or unusable."""

from __future__ import annotations

import json
from pathlib import Path

import cloudtrail_changes as ct
from click.testing import CliRunner

from analyzer.cli import main as cli
from analyzer.snapshot.model import new_snapshot_data, write_snapshot

ACCOUNT = "222222222222"
APP = f"arn:aws:iam::{ACCOUNT}:role/App"
READS = ct.reads("data-bucket")
FREEZE = ct.doc({"Sid": "FreezeS3", "Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"})
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"  # AWS managed: not in the snapshot


def _at(hhmm: str, seconds: str = "00") -> str:
    return f"2026-11-20T{hhmm}:{seconds}Z"


def _snapshot(collected: str = _at("00:00")) -> dict:
    role = {
        "RoleName": "App",
        "Arn": APP,
        "RolePolicyList": [{"PolicyName": "Reads", "PolicyDocument": READS}],
        "AttachedManagedPolicies": [],
        "AssumeRolePolicyDocument": ct.doc(),
    }
    accounts = {ACCOUNT: ct.role_account(role)}
    return new_snapshot_data(accounts, None, collected)


def _analyze(tmp_path: Path, records: list[dict], data: dict | None = None) -> tuple[dict[str, dict], str]:
    snapshot = tmp_path / "snapshot.json"
    write_snapshot(data or _snapshot(), snapshot)
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"Records": records}))
    args = ["analyze", "--events-file", str(events), "--snapshot", str(snapshot), "--json"]
    result = CliRunner().invoke(cli, [*args, "--history", str(events)], catch_exceptions=False)
    return {doc["EventId"]: doc for doc in json.loads(result.stdout)}, result.stderr


def _attach(when: str, arn: str = READ_ONLY, **kw) -> dict:
    return ct.record(
        "iam.amazonaws.com", "AttachRolePolicy", ACCOUNT, when, {"roleName": "App", "policyArn": arn}, **kw
    )


def _denied(when: str, event_id: str = "denied") -> dict:
    return ct.get_object_denied(ACCOUNT, when, "App", "data-bucket", "a.txt", event_id)


def test_a_policy_the_snapshot_cannot_read_does_not_make_an_earlier_change_the_cause(tmp_path):
    """Attaching an AWS managed policy the snapshot lacks makes the state after it undecided,
    not denied: the search must not step past it and blame the attachment. The change that
    wrote the deciding deny statement is the cause, saying what is not known before it."""
    records = [
        _attach(_at("09:00"), event_id="attach"),
        ct.put_role_policy(ACCOUNT, _at("10:00"), "App", "Freeze", FREEZE, event_id="freeze"),
        _denied(_at("11:00")),
    ]
    result = _analyze(tmp_path, records)[0]["denied"]
    assert result["AssessmentResult"] == "Explicit deny in an identity-based policy"
    root = result["RootCause"]
    assert root["EventId"] == "freeze"
    assert "added Deny s3:GetObject on * (Sid FreezeS3)" in root["Summary"]
    # Freeze did not exist before: nothing it replaced is unknown, the attached policy is.
    assert "never logged" not in root["Summary"] and "unknown" in root["Summary"]


def _delete_role_policy(when: str, name: str, **kw) -> dict:
    return ct.record(
        "iam.amazonaws.com", "DeleteRolePolicy", ACCOUNT, when, {"roleName": "App", "policyName": name}, **kw
    )


def test_changes_of_one_second_are_ordered_by_what_their_success_implies_not_by_file_layout(tmp_path):
    """A Put and a Delete of a policy absent before, in one second: the Delete succeeded,
    so the Put came first and the policy is gone, however the log file lists them (a log
    file's records are in no particular order). The order is certain: no note."""
    put = ct.put_role_policy(ACCOUNT, _at("10:00"), "App", "Freeze", FREEZE, event_id="put")
    delete = _delete_role_policy(_at("10:00"), "Freeze", event_id="delete")
    answers = []
    for records in ([put, delete], [delete, put]):
        result = _analyze(tmp_path, [*records, _denied(_at("11:00"))])[0]["denied"]
        assert result["AssessmentResult"] == "Allowed" and result["RootCause"] is None
        assert not any("same second" in note for note in result["Notes"])
        answers.append(result)
    assert answers[0] == answers[1]


def test_an_order_no_success_implies_is_said_when_it_decides_the_value(tmp_path):
    """Freeze existed before: a Delete and a Put of it in one second may have come in either
    order, leaving it gone or in force. The answer is the same whatever the layout, and a
    note says the order is not known."""
    data = _snapshot()
    [role] = data["accounts"][ACCOUNT]["authorizationDetails"]["RoleDetailList"]
    role["RolePolicyList"].append({"PolicyName": "Freeze", "PolicyDocument": ct.doc()})
    put = ct.put_role_policy(ACCOUNT, _at("10:00"), "App", "Freeze", FREEZE, event_id="put")
    delete = _delete_role_policy(_at("10:00"), "Freeze", event_id="delete")
    answers = []
    for records in ([put, delete], [delete, put]):
        result = _analyze(tmp_path, [*records, _denied(_at("11:00"))], data)[0]["denied"]
        [note] = [note for note in result["Notes"] if "same second" in note]
        assert "PutRolePolicy put and DeleteRolePolicy delete" in note
        assert "inline policy Freeze of role App" in note and "not known" in note
        answers.append(result)
    assert answers[0] == answers[1]


def test_a_put_whose_event_carries_no_document_makes_the_policy_unknown_not_deleted(tmp_path):
    """PutRolePolicy with no policyDocument (or parameters CloudTrail omitted) set the
    policy to something not logged: from then on it is unknown, never deleted."""
    put = ct.record(
        "iam.amazonaws.com",
        "PutRolePolicy",
        ACCOUNT,
        _at("10:00"),
        {"roleName": "App", "policyName": "Reads"},
        event_id="no-document",
    )
    result = _analyze(tmp_path, [put, _denied(_at("11:00"))])[0]["denied"]
    assert result["AssessmentResult"] == "Error"
    assert "no-document" in result["ErrorMessage"] and "does not carry" in result["ErrorMessage"]
    assert not any("deleted" in note for note in result["Notes"])


def test_a_bucket_policy_put_with_omitted_parameters_is_not_skipped_when_rolling_back(tmp_path):
    """Rolling a later snapshot back over a PutBucketPolicy whose document was not logged:
    the bucket policy before it is unknown, not the snapshot's."""
    deny = ct.doc(
        {
            "Sid": "Quarantine",
            "Effect": "Deny",
            "Principal": {"AWS": APP},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::data-bucket/*",
        }
    )
    data = _snapshot(_at("23:00"))
    data["accounts"][ACCOUNT]["resourcePolicies"] = {"arn:aws:s3:::data-bucket": deny}
    put = ct.record(
        "s3.amazonaws.com",
        "PutBucketPolicy",
        ACCOUNT,
        _at("10:00"),
        {"bucketName": "data-bucket", "bucketPolicy": None, "Host": "data-bucket.s3.amazonaws.com"},
        event_id="unlogged-bucket",
    )
    result = _analyze(tmp_path, [put, _denied(_at("09:00"))], data)[0]["denied"]
    assert result["AssessmentResult"] == "Error" and "unlogged-bucket" in result["ErrorMessage"]


def test_change_events_that_cannot_be_used_are_each_warned_about_and_the_rest_used(tmp_path):
    """A change event with a time that is not one, null or omitted parameters, a name
    that is not text or an Organizations attachment without its target is one warning
    line naming the record and its eventID; the other changes are still used."""
    bad = [
        ct.record(
            "iam.amazonaws.com",
            "DeleteRolePolicy",
            ACCOUNT,
            "not-a-time",
            {"roleName": "App", "policyName": "Reads"},
            event_id="bad-time",
        ),
        ct.record("iam.amazonaws.com", "AttachRolePolicy", ACCOUNT, _at("09:10"), None, event_id="bad-null"),
        ct.record(
            "iam.amazonaws.com",
            "PutRolePolicy",
            ACCOUNT,
            _at("09:20"),
            {"omitted": True, "reason": "requestParameters too large"},
            event_id="bad-omitted",
        ),
        ct.record(
            "iam.amazonaws.com",
            "PutRolePolicy",
            ACCOUNT,
            _at("09:30"),
            {"roleName": ["App"], "policyName": "Reads", "policyDocument": ct.text(FREEZE)},
            event_id="bad-list",
        ),
        ct.record(
            "organizations.amazonaws.com",
            "AttachPolicy",
            ACCOUNT,
            _at("09:40"),
            {"policyId": 12345, "targetId": None},
            event_id="bad-org",
        ),
    ]
    freeze = ct.put_role_policy(ACCOUNT, _at("10:00"), "App", "Freeze", FREEZE, event_id="freeze")
    results, stderr = _analyze(tmp_path, [*bad, freeze, _denied(_at("11:00"))])
    warnings = [line for line in stderr.splitlines() if line.startswith("warning:")]
    for event_id in ("bad-time", "bad-null", "bad-omitted", "bad-list", "bad-org"):
        [line] = [w for w in warnings if f"(eventID {event_id})" in w]
        assert "events.json: record" in line and "not used" in line
    assert results["denied"]["RootCause"]["EventId"] == "freeze"


def test_an_inline_policy_the_history_leaves_unknown_is_the_results_unknown_part(tmp_path):
    """Before a PutRolePolicy whose previous document was never logged, the role's inline
    policy is unknown: the result lists it in UnknownPolicies (as run's unknown_policies),
    blames no missing identity allow (the unknown policy may hold it), and proposes no fix
    verified as if it were known."""
    data = _snapshot(_at("09:00"))
    data["accounts"][ACCOUNT]["authorizationDetails"]["RoleDetailList"][0]["RolePolicyList"] = [
        {"PolicyName": "Reads", "PolicyDocument": ct.list_only("data-bucket")}
    ]
    records = [
        ct.put_role_policy(ACCOUNT, _at("02:00"), "App", "Reads", ct.list_only("data-bucket")),
        _denied(_at("01:30")),
    ]
    results, stderr = _analyze(tmp_path, records, data)
    result = results["denied"]
    assert result["AssessmentResult"] == "Error"
    unknown = result["ResultDetails"]["UnknownPolicies"]
    assert [(part["PolicyType"], part["Missing"]) for part in unknown] == [
        ("identity", f"inline role App Reads in account {ACCOUNT}")
    ]
    assert "PutRolePolicy" in unknown[0]["Reason"]
    assert not result["Reasons"] and not result.get("FixCheck")
    assert result["ErrorMessage"].endswith("would decide it")
    assert "would decide it" in stderr


MANAGEMENT = "999999999999"


def test_an_organization_policy_the_history_leaves_unknown_is_named_with_its_type(tmp_path):
    """An SCP whose content before an UpdatePolicy was never logged is an unknown SCP of
    the result (its type from the snapshot), and no level's missing SCP allow is blamed."""
    data = _snapshot(_at("09:00"))
    full = ct.customer_scp(
        MANAGEMENT, "FullAWSAccess", ct.doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
    )
    narrow = ct.doc({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"})
    mine = ct.customer_scp(MANAGEMENT, "Mine", narrow)
    data["organization"] = {
        "managementAccountId": MANAGEMENT,
        "nodes": {
            "r-root": ct.org_node("r-root", None, [full]),
            ACCOUNT: ct.org_node(ACCOUNT, "r-root", [full, mine]),
        },
    }
    records = [
        ct.org_update_policy(MANAGEMENT, _at("02:00"), "p-mine", mine["Arn"], "Mine", narrow),
        _denied(_at("01:30")),
    ]
    results, _ = _analyze(tmp_path, records, data)
    result = results["denied"]
    assert result["AssessmentResult"] == "Error"
    assert [(part["PolicyType"], part["Missing"]) for part in result["ResultDetails"]["UnknownPolicies"]] == [
        ("scp", f"organization-policy p-mine in account {MANAGEMENT}")
    ]
    assert not result["Reasons"]


def test_the_snapshot_compared_with_is_the_one_the_run_answers_with():
    """With an earlier snapshot the state is rebuilt from the nearest one, but the note
    "differ from the snapshot's" compares with ``--snapshot`` (the latest), the one a run
    answers with: here that one denies the request as the event's time does, so no note,
    although the earlier snapshot as collected allowed it."""
    from analyzer.events.mapping import map_event
    from analyzer.events.records import EventRecord
    from analyzer.history.changes import policy_change
    from analyzer.history.root_cause import investigate
    from analyzer.history.timeline import SnapshotTimelines
    from analyzer.snapshot.model import snapshot_from_dict

    early = _snapshot(_at("00:00"))
    late = _snapshot(_at("09:00"))
    late["accounts"][ACCOUNT]["authorizationDetails"]["RoleDetailList"][0]["RolePolicyList"] = [
        {"PolicyName": "Reads", "PolicyDocument": ct.list_only("data-bucket")}
    ]
    cut = ct.put_role_policy(ACCOUNT, _at("01:00"), "App", "Reads", ct.list_only("data-bucket"))
    change = policy_change(EventRecord("cut", 0, cut))
    assert change is not None
    timeline = SnapshotTimelines(
        [snapshot_from_dict(late, "late.json"), snapshot_from_dict(early, "early.json")], [change]
    )
    event = map_event(EventRecord("denied", 0, _denied(_at("01:30"))))
    result = investigate(event, timeline).to_json()
    assert result["AssessmentResult"] == "Missing allow in an identity-based policy"
    assert result["RootCause"]["EventId"] == cut["eventID"]
    assert not any("differ from the snapshot's" in note for note in result["Notes"])


def test_a_boundary_the_history_leaves_unknown_is_no_allowed_note(tmp_path):
    """Before a PutRolePermissionsBoundary whose previous boundary was never logged, the
    known policies allow the request: the result is an Error naming the boundary, without
    the note meant for an Allowed result ("no reason found under the current policies")."""
    boundary = f"arn:aws:iam::{ACCOUNT}:policy/Bounds"
    data = _snapshot(_at("09:00"))
    data["accounts"][ACCOUNT]["authorizationDetails"]["RoleDetailList"][0]["PermissionsBoundary"] = {
        "PermissionsBoundaryType": "Policy",
        "PermissionsBoundaryArn": boundary,
    }
    put = ct.record(
        "iam.amazonaws.com",
        "PutRolePermissionsBoundary",
        ACCOUNT,
        _at("02:00"),
        {"roleName": "App", "permissionsBoundary": boundary},
    )
    results, _ = _analyze(tmp_path, [put, _denied(_at("01:30"))], data)
    result = results["denied"]
    assert result["AssessmentResult"] == "Error"
    assert [part["PolicyType"] for part in result["ResultDetails"]["UnknownPolicies"]] == [
        "permissionsBoundary"
    ]
    assert not any(note.startswith("no reason found") for note in result["Notes"])
