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
    accounts = {
        ACCOUNT: {
            "authorizationDetails": {
                "UserDetailList": [],
                "GroupDetailList": [],
                "RoleDetailList": [role],
                "Policies": [],
            },
            "resourcePolicies": {},
        }
    }
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
