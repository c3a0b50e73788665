"""Time travel and root cause on a recorded timeline (offline): an SCP deny later reverted,
a removed inline statement, a bucket policy deny later reverted; and what happens when the
log does not reach back far enough (partial knowledge)."""

from __future__ import annotations

import json
from pathlib import Path

import cloudtrail_changes as ct
import pytest
from click.testing import CliRunner

from analyzer.cli import main as cli
from analyzer.events.records import EventRecord
from analyzer.history.changes import policy_change
from analyzer.history.timeline import with_snapshot_names
from analyzer.snapshot.model import Gap, new_snapshot_data, snapshot_from_dict, write_snapshot

MEMBER, MANAGEMENT = "111111111111", "999999999999"
ROOT, GUARD = "r-root", "p-guard0001"
GUARD_ARN = f"arn:aws:organizations::{MANAGEMENT}:policy/o-abcdefghij/service_control_policy/{GUARD}"
FULL = {"Effect": "Allow", "Action": "*", "Resource": "*"}
BENIGN_SCP, BAD_SCP = ct.BENIGN_SCP, ct.BAD_SCP
READS, LIST_ONLY = ct.reads("data-bucket"), ct.list_only("data-bucket")
APP = f"arn:aws:iam::{MEMBER}:role/App"
BUCKET_OK = ct.doc(
    {
        "Sid": "OwnerOnly",
        "Effect": "Deny",
        "NotPrincipal": {"AWS": APP},
        "Action": "s3:DeleteBucket",
        "Resource": "arn:aws:s3:::data-bucket",
    }
)
BUCKET_DENY = ct.doc(
    {
        "Sid": "Quarantine",
        "Effect": "Deny",
        "Principal": {"AWS": APP},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::data-bucket/*",
    }
)


def _at(hhmm: str) -> str:
    return f"2026-11-24T{hhmm}:00Z"


def _snapshot() -> dict:
    """The organization as collected at 09:00, after every change was reverted."""

    def scp(pid, name, document) -> dict:
        return {
            "Id": pid,
            "Arn": f"arn:aws:organizations::{MANAGEMENT}:policy/o-abcdefghij/service_control_policy/{pid}",
            "Name": name,
            "Description": name,
            "Type": "SERVICE_CONTROL_POLICY",
            "AwsManaged": pid == "p-FullAWSAccess",
            "PolicyDocument": json.dumps(document),
        }

    full = scp("p-FullAWSAccess", "FullAWSAccess", ct.doc(FULL))
    nodes = {
        ROOT: {
            "arn": None,
            "id": ROOT,
            "name": "Root",
            "organization_node_type": "Organizational Unit or Organization Root",
            "policies": [full],
            "parent": None,
        },
        MEMBER: {
            "arn": None,
            "id": MEMBER,
            "name": "member",
            "organization_node_type": "AWSAccount",
            "policies": [full, scp(GUARD, "Guard", BENIGN_SCP)],
            "parent": ROOT,
        },
        MANAGEMENT: {
            "arn": None,
            "id": MANAGEMENT,
            "name": "management",
            "organization_node_type": "AWSAccount",
            "policies": [full],
            "parent": ROOT,
        },
    }
    role = {
        "RoleName": "App",
        "Arn": APP,
        "RolePolicyList": [{"PolicyName": "Reads", "PolicyDocument": READS}],
        "AttachedManagedPolicies": [],
        "AssumeRolePolicyDocument": ct.doc(),
    }
    accounts = {
        MEMBER: ct.role_account(role, {"arn:aws:s3:::data-bucket": BUCKET_OK}),
        MANAGEMENT: {"authorizationDetails": {}},
    }
    return new_snapshot_data(accounts, {"managementAccountId": MANAGEMENT, "nodes": nodes}, _at("09:00"))


SETUP = [
    ct.org_create_policy(
        MANAGEMENT, _at("00:10"), GUARD, GUARD_ARN, "Guard", BENIGN_SCP, event_id="setup-scp"
    ),
    ct.org_attach_policy(MANAGEMENT, _at("00:20"), GUARD, MEMBER, event_id="setup-attach"),
    ct.put_role_policy(MEMBER, _at("00:30"), "App", "Reads", READS, event_id="setup-inline"),
    ct.put_bucket_policy(MEMBER, _at("00:40"), "data-bucket", BUCKET_OK, event_id="setup-bucket"),
]
DENIED_BEFORE = ct.get_object_denied(MEMBER, _at("01:30"), "App", "data-bucket", "a.csv", "deny-before")
TIMELINE = [
    ct.org_update_policy(MANAGEMENT, _at("02:00"), GUARD, GUARD_ARN, "Guard", BAD_SCP, event_id="scp-bad"),
    ct.get_object_denied(MEMBER, _at("02:30"), "App", "data-bucket", "a.csv", "deny-scp"),
    ct.org_update_policy(
        MANAGEMENT, _at("03:00"), GUARD, GUARD_ARN, "Guard", BENIGN_SCP, event_id="scp-fixed"
    ),
    ct.put_role_policy(MEMBER, _at("04:00"), "App", "Reads", LIST_ONLY, event_id="inline-cut"),
    ct.get_object_denied(MEMBER, _at("04:30"), "App", "data-bucket", "a.csv", "deny-inline"),
    ct.put_role_policy(MEMBER, _at("05:00"), "App", "Reads", READS, event_id="inline-back"),
    ct.put_bucket_policy(MEMBER, _at("06:00"), "data-bucket", BUCKET_DENY, event_id="bucket-deny"),
    ct.get_object_denied(MEMBER, _at("06:30"), "App", "data-bucket", "a.csv", "deny-bucket"),
    ct.put_bucket_policy(MEMBER, _at("07:00"), "data-bucket", BUCKET_OK, event_id="bucket-back"),
    # A failed change changes nothing.
    ct.put_bucket_policy(
        MEMBER, _at("06:10"), "data-bucket", BUCKET_OK, event_id="failed", error_code="AccessDenied"
    ),
]


def _analyze(
    tmp_path: Path, records: list[dict], history: bool = True, data: dict | None = None
) -> dict[str, dict]:
    snapshot = tmp_path / "snapshot.json"
    write_snapshot(data or _snapshot(), snapshot)
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"Records": records}))
    args = ["analyze", "--events-file", str(events), "--snapshot", str(snapshot), "--json"]
    if history:
        args += ["--history", str(events)]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    documents = json.loads(result.stdout)
    # Exit 1 exactly when some denial got no answer (Error), as for any analyze run.
    assert result.exit_code == int(any(d["AssessmentResult"] == "Error" for d in documents))
    return {doc["EventId"]: doc for doc in documents}


def test_each_denial_is_explained_at_its_time_with_the_change_behind_it(tmp_path):
    results = _analyze(tmp_path, SETUP + TIMELINE)

    scp = results["deny-scp"]
    assert scp["AssessmentResult"] == "Explicit deny in a service-control policy"
    assert scp["RootCause"]["EventId"] == "scp-bad"
    assert scp["RootCause"]["EventName"] == "UpdatePolicy"
    assert scp["RootCause"]["ChangedBy"] == f"arn:aws:sts::{MANAGEMENT}:assumed-role/Admin/alice"
    assert scp["RootCause"]["PolicyArn"] == GUARD_ARN
    assert "added Deny s3:GetObject on * (Sid FreezeS3Reads)" in scp["RootCause"]["Summary"]
    assert scp["FixedBy"]["EventId"] == "scp-fixed"
    assert scp["PolicyStateAt"]["Time"] == _at("02:30")
    assert "rolled back" in scp["PolicyStateAt"]["Source"]

    inline = results["deny-inline"]
    assert inline["AssessmentResult"] == "Missing allow in an identity-based policy"
    assert inline["RootCause"]["EventId"] == "inline-cut"
    assert inline["RootCause"]["AttachmentTargetArn"] == APP
    assert "removed Allow s3:GetObject, s3:ListBucket" in inline["RootCause"]["Summary"]
    assert inline["FixedBy"]["EventId"] == "inline-back"

    bucket = results["deny-bucket"]
    assert bucket["AssessmentResult"] == "Explicit deny in a resource-based policy"
    assert bucket["RootCause"]["EventId"] == "bucket-deny"
    assert bucket["RootCause"]["AttachmentTargetArn"] == "arn:aws:s3:::data-bucket"
    assert bucket["FixedBy"]["EventId"] == "bucket-back"
    # The snapshot (09:00, everything reverted) would have found nothing; the result says so.
    for result in (scp, inline, bucket):
        assert any("differ from the snapshot's" in note and "'Allowed'" in note for note in result["Notes"])


def test_a_change_names_its_role_by_the_arn_with_the_path_the_snapshot_knows(tmp_path):
    """CloudTrail logs only ``roleName``; a role under a path has another ARN, which the
    root cause (and the ``changes/`` table, through the same renaming) must name."""
    data = _snapshot()
    [role] = data["accounts"][MEMBER]["authorizationDetails"]["RoleDetailList"]
    role["Arn"] = with_path = f"arn:aws:iam::{MEMBER}:role/service/App"
    inline = _analyze(tmp_path, SETUP + TIMELINE, data=data)["deny-inline"]
    assert inline["RootCause"]["EventId"] == "inline-cut"
    assert inline["RootCause"]["AttachmentTargetArn"] == with_path
    # A name the snapshot does not hold keeps the ARN built from the event.
    other = policy_change(EventRecord("f", 0, ct.put_role_policy(MEMBER, _at("04:00"), "Gone", "P", READS)))
    assert other is not None
    [named] = with_snapshot_names([other], snapshot_from_dict(data))
    assert named.target_arn == f"arn:aws:iam::{MEMBER}:role/Gone"


def test_allow_only_edits_between_an_explicit_deny_and_its_cause_are_crossed_unevaluated(
    tmp_path, monkeypatch
):
    """An explicit deny stays in force across changes that only rewrite documents holding
    Allow statements alone: the search crosses them without explaining the state on their
    other side, and still names the same cause and fix. A change whose document holds a
    Deny (here the same SCP rewritten with its deny kept) is always evaluated."""
    import analyzer.history.root_cause as root_cause

    extra = json.loads(json.dumps(READS))
    extra["Statement"].append({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"})
    bad_kept = json.loads(json.dumps(BAD_SCP))
    bad_kept["Statement"].append({"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"})
    records = [
        *SETUP,
        ct.org_update_policy(
            MANAGEMENT, _at("02:00"), GUARD, GUARD_ARN, "Guard", BAD_SCP, event_id="scp-bad"
        ),
        ct.put_role_policy(MEMBER, _at("02:05"), "App", "Reads", extra, event_id="allow-1"),
        ct.org_update_policy(MANAGEMENT, _at("02:08"), GUARD, GUARD_ARN, "Guard", bad_kept, event_id="kept"),
        ct.put_role_policy(MEMBER, _at("02:10"), "App", "Reads", READS, event_id="allow-2"),
        ct.get_object_denied(MEMBER, _at("02:30"), "App", "data-bucket", "a.csv", "deny-scp"),
        ct.put_role_policy(MEMBER, _at("02:40"), "App", "Reads", READS, event_id="allow-3"),
        ct.org_update_policy(
            MANAGEMENT, _at("03:00"), GUARD, GUARD_ARN, "Guard", BENIGN_SCP, event_id="scp-fixed"
        ),
    ]
    states: list[str] = []
    explain = root_cause.explain_in_state

    def counted(event, state, *args, **kwargs):
        states.append(state.at.strftime("%H:%M"))
        return explain(event, state, *args, **kwargs)

    monkeypatch.setattr(root_cause, "explain_in_state", counted)
    result = _analyze(tmp_path, records)["deny-scp"]

    assert result["AssessmentResult"] == "Explicit deny in a service-control policy"
    assert result["RootCause"]["EventId"] == "scp-bad"
    assert result["FixedBy"]["EventId"] == "scp-fixed"
    # The event's own time and the snapshot's (09:00, for the comparison note), then only
    # the SCP's own changes on either side (02:08, 02:00, 03:00): the Allow-only edits at
    # 02:05, 02:10 and 02:40 are crossed unevaluated.
    assert sorted(states) == ["02:00", "02:08", "02:30", "03:00", "09:00"], states


def test_a_fix_that_a_later_change_takes_back_is_not_named(tmp_path):
    """Allowed again at 05:00, denied again from 08:00 (the snapshot, at 09:00, has the
    cut policy): the request is not fixed, so no FixedBy (the report and the backlog leave
    fixed requests out), and a note says it was allowed for a while."""
    data = _snapshot()
    [role] = data["accounts"][MEMBER]["authorizationDetails"]["RoleDetailList"]
    role["RolePolicyList"] = [{"PolicyName": "Reads", "PolicyDocument": LIST_ONLY}]
    records = [
        *SETUP,
        ct.put_role_policy(MEMBER, _at("04:00"), "App", "Reads", LIST_ONLY, event_id="inline-cut"),
        ct.get_object_denied(MEMBER, _at("04:30"), "App", "data-bucket", "a.csv", "deny-inline"),
        ct.put_role_policy(MEMBER, _at("05:00"), "App", "Reads", READS, event_id="inline-back"),
        ct.put_role_policy(MEMBER, _at("08:00"), "App", "Reads", LIST_ONLY, event_id="inline-cut-again"),
    ]
    result = _analyze(tmp_path, records, data=data)["deny-inline"]
    assert result["AssessmentResult"] == "Missing allow in an identity-based policy"
    assert result["RootCause"]["EventId"] == "inline-cut"
    assert "FixedBy" not in result
    assert any("inline-back" in note and "denied again" in note for note in result["Notes"])
    # Without the change that takes it back, the same fix is named.
    held = _analyze(tmp_path, records[:-1], data=_snapshot())["deny-inline"]
    assert held["FixedBy"]["EventId"] == "inline-back"


def test_without_history_the_snapshot_answers_and_no_history_keys_appear(tmp_path):
    results = _analyze(tmp_path, SETUP + TIMELINE, history=False)
    denials = [r for key, r in results.items() if key.startswith("deny-")]
    assert {r["AssessmentResult"] for r in denials} == {"Allowed"}
    assert not any("RootCause" in r or "PolicyStateAt" in r for r in results.values())


def test_unknown_prior_state_gives_a_partial_answer_never_a_confident_one(tmp_path):
    # The log starts at 01:00: what the SCP and the inline policy said before their first
    # logged change is unknown.
    results = _analyze(tmp_path, [DENIED_BEFORE, *TIMELINE])
    before = results["deny-before"]
    assert before["AssessmentResult"] == "Error"
    assert "partly known" in before["ErrorMessage"] and "scp-bad" in before["ErrorMessage"]
    assert before["RootCause"] is None
    assert before["PolicyStateAt"]["Unknown"]
    # Later denials are decided by changes logged before them: still definite.
    assert results["deny-scp"]["AssessmentResult"] == "Explicit deny in a service-control policy"
    # What the bucket policy and the SCP said before their first logged change is unknown,
    # but the changes wrote the very statements that deny: they are named, and say so.
    for event_id, cause in (("deny-bucket", "bucket-deny"), ("deny-scp", "scp-bad")):
        root = results[event_id]["RootCause"]
        assert root["EventId"] == cause and "never logged" in root["Summary"]
    # A missing identity allow while the bucket policy (same account: it could allow the
    # role) is unknown at 04:30 decides nothing.
    inline = results["deny-inline"]
    assert inline["AssessmentResult"] == "Error" and "data-bucket" in inline["ErrorMessage"]
    assert inline["RootCause"] is None
    # With the setup logged too, the same early denial is fully known (nothing denies it).
    full = _analyze(tmp_path, [*SETUP, DENIED_BEFORE, *TIMELINE])
    assert full["deny-before"]["AssessmentResult"] == "Allowed"


def test_aws_message_speaks_only_for_the_events_own_time(tmp_path):
    """AWS's message ("with an explicit deny in a resource-based policy") tells the
    event's own outcome, not the one under the policies before a change. There, where
    the bucket policy the change replaced was never logged, taking the message made the
    unknown policy look like a known deny and hid the change that wrote the statement."""
    denied = ct.with_message(
        ct.get_object_denied(MEMBER, _at("06:30"), "App", "data-bucket", "a.csv", "deny-bucket"),
        "with an explicit deny in a resource-based policy",
    )
    records = [
        ct.put_bucket_policy(MEMBER, _at("06:00"), "data-bucket", BUCKET_DENY, event_id="bucket-deny"),
        denied,
        ct.put_bucket_policy(MEMBER, _at("07:00"), "data-bucket", BUCKET_OK, event_id="bucket-back"),
    ]
    result = _analyze(tmp_path, records)["deny-bucket"]
    assert result["AssessmentResult"] == "Explicit deny in a resource-based policy"
    assert result["RootCause"]["EventId"] == "bucket-deny"
    assert "(what it replaced was never logged)" in result["RootCause"]["Summary"]
    assert result["FixedBy"]["EventId"] == "bucket-back"


def test_a_change_over_a_never_logged_policy_is_said_not_named(tmp_path):
    """The role's only allow was rewritten at 04:00 without the allow; what the inline
    policy said before was never logged, so whether the change caused the denial is not
    known: no root cause, and a note names the change and what would tell."""
    data = _snapshot()
    [role] = data["accounts"][MEMBER]["authorizationDetails"]["RoleDetailList"]
    role["RolePolicyList"] = [{"PolicyName": "Reads", "PolicyDocument": LIST_ONLY}]
    denied = ct.with_message(
        ct.get_object_denied(MEMBER, _at("04:30"), "App", "data-bucket", "a.csv", "deny-inline"),
        "because no identity-based policy allows the s3:GetObject action",
    )
    records = [
        ct.put_role_policy(MEMBER, _at("04:00"), "App", "Reads", LIST_ONLY, event_id="inline-cut"),
        denied,
    ]
    result = _analyze(tmp_path, records, data=data)["deny-inline"]
    assert result["AssessmentResult"] == "Missing allow in an identity-based policy"
    assert result["RootCause"] is None
    [note] = [note for note in result["Notes"] if "inline-cut" in note]
    assert "replaced inline policy Reads of role App deciding this request" in note
    assert "whether it caused the denial is not known" in note
    # With the policy it replaced logged, the change is named.
    logged = [ct.put_role_policy(MEMBER, _at("03:00"), "App", "Reads", READS, event_id="setup"), *records]
    named = _analyze(tmp_path, logged, data=data)["deny-inline"]
    assert named["RootCause"]["EventId"] == "inline-cut"
    assert not any("inline-cut" in note for note in named.get("Notes", []))


WORKER = f"arn:aws:lambda:us-east-1:{MEMBER}:function:worker"


def _permission(when: str, sid: str, principal: str, event_id: str) -> dict:
    """Lambda's AddPermission, which logs the statement it added."""
    statement = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": "lambda:InvokeFunction",
        "Resource": WORKER,
    }
    request = {"functionName": "worker", "statementId": sid, "principal": principal}
    return ct.record(
        "lambda.amazonaws.com",
        "AddPermission20150331v2",
        MEMBER,
        when,
        {**request, "action": "lambda:InvokeFunction"},
        {"statement": json.dumps(statement)},
        event_id=event_id,
    )


def _invoke_denied(when: str, event_id: str) -> dict:
    return ct.record(
        "lambda.amazonaws.com",
        "Invoke",
        MEMBER,
        when,
        {"functionName": "worker"},
        identity=ct.actor(MEMBER, "App", "worker"),
        error_code="AccessDenied",
        event_id=event_id,
    )


def test_rolled_back_over_a_remove_permission_the_statement_is_the_one_its_add_logged(tmp_path):
    """The snapshot, collected after both, holds no statement: rolling it back over the
    RemovePermission puts back the statement the earlier AddPermission logged (another
    statement added in between changes nothing of it)."""
    data = _snapshot()
    data["accounts"][MEMBER]["resourcePolicies"][WORKER] = {"Version": "2012-10-17", "Statement": []}
    remove = ct.record(
        "lambda.amazonaws.com",
        "RemovePermission20150331v2",
        MEMBER,
        _at("04:00"),
        {"functionName": "worker", "statementId": "app-invoke"},
        event_id="remove-permission",
    )
    records = [
        _permission(_at("01:00"), "app-invoke", APP, "add-permission"),
        _permission(_at("02:00"), "batch-invoke", f"arn:aws:iam::{MEMBER}:role/Batch", "add-other"),
        remove,
        _invoke_denied(_at("03:00"), "invoke-before"),
        _invoke_denied(_at("05:00"), "invoke-after"),
    ]
    results = _analyze(tmp_path, records, data=data)
    assert results["invoke-before"]["AssessmentResult"] == "Allowed"
    after = results["invoke-after"]
    assert after["AssessmentResult"] == "Missing allow in an identity-based policy"
    assert after["RootCause"]["EventId"] == "remove-permission"
    # Without the AddPermission logged, what the removal took away is unknown.
    unlogged = _analyze(tmp_path, records[1:], data=data)
    assert unlogged["invoke-before"]["AssessmentResult"] == "Error"
    assert "remove-permission" in unlogged["invoke-before"]["ErrorMessage"]


def test_a_policy_the_snapshot_could_not_read_is_the_one_a_logged_put_set(tmp_path):
    """The snapshot (09:00) could not read the bucket policy; the PutBucketPolicy at 02:00
    set it whole, so from then on it is known, whatever the gap, until a change that did
    not log what it set."""
    data = _snapshot()
    del data["accounts"][MEMBER]["resourcePolicies"]["arn:aws:s3:::data-bucket"]
    unread = Gap(MEMBER, "s3", "GetBucketPolicy", "AccessDenied", resource="arn:aws:s3:::data-bucket")
    data["gaps"] = [unread.to_json()]
    put = ct.put_bucket_policy(MEMBER, _at("02:00"), "data-bucket", BUCKET_DENY, event_id="bucket-deny")
    records = [
        ct.get_object_denied(MEMBER, _at("01:30"), "App", "data-bucket", "a.csv", "deny-before"),
        put,
        ct.get_object_denied(MEMBER, _at("03:00"), "App", "data-bucket", "a.csv", "deny-after"),
        ct.put_role_policy(MEMBER, _at("04:00"), "App", "Reads", READS, event_id="inline-same"),
        ct.get_object_denied(MEMBER, _at("08:30"), "App", "data-bucket", "a.csv", "deny-late"),
    ]
    results = _analyze(tmp_path, records, data=data)
    assert results["deny-before"]["AssessmentResult"] == "Error"
    for event_id in ("deny-after", "deny-late"):  # rolled back; the snapshot's own position
        result = results[event_id]
        assert result["AssessmentResult"] == "Explicit deny in a resource-based policy", event_id
        assert result["RootCause"]["EventId"] == "bucket-deny"
        assert "never logged" in result["RootCause"]["Summary"]
    # A later put that did not log its document leaves it unknown from then on.
    unlogged = ct.record(
        "s3.amazonaws.com",
        "PutBucketPolicy",
        MEMBER,
        _at("05:00"),
        {"bucketName": "data-bucket", "bucketPolicy": None, "Host": "data-bucket.s3.amazonaws.com"},
        event_id="unlogged-bucket",
    )
    results = _analyze(tmp_path, [*records, unlogged], data=data)
    assert results["deny-after"]["AssessmentResult"] == "Explicit deny in a resource-based policy"
    assert results["deny-late"]["AssessmentResult"] == "Error"


def test_a_change_in_the_events_own_second_is_said_to_maybe_come_first(tmp_path):
    """CloudTrail's times have whole seconds: a change logged in the denial's own second
    counts as after it, so the policies in force allow the request, and the one change that
    explains AWS's deny went unmentioned (found by a held-out probe). The answer stays that
    of the policies in force; a note names the change and what it would decide."""
    data = _snapshot()
    [role] = data["accounts"][MEMBER]["authorizationDetails"]["RoleDetailList"]
    role["RolePolicyList"] = [{"PolicyName": "Reads", "PolicyDocument": READS}]
    data["collectedAt"] = _at("01:00")
    denied = ct.get_object_denied(MEMBER, _at("04:30"), "App", "data-bucket", "a.csv", "same-second")
    cut = ct.put_role_policy(MEMBER, _at("04:30"), "App", "Reads", LIST_ONLY, event_id="inline-cut")
    result = _analyze(tmp_path, [cut, denied], data=data)["same-second"]
    assert result["AssessmentResult"] == "Allowed"
    [note] = [note for note in result["Notes"] if "inline-cut" in note]
    assert "in the same second as this event, may have come first" in note
    assert note.endswith("the request is denied (Missing allow in an identity-based policy)")
    # A second later, the change is in force and named as the cause: no such note.
    later = ct.get_object_denied(MEMBER, _at("04:31"), "App", "data-bucket", "a.csv", "a-second-later")
    named = _analyze(tmp_path, [cut, later], data=data)["a-second-later"]
    assert named["RootCause"]["EventId"] == "inline-cut"
    assert not any("same second" in note for note in named.get("Notes", []))


def test_history_needs_a_snapshot(tmp_path):
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"Records": TIMELINE}))
    result = CliRunner().invoke(cli, ["analyze", "--events-file", str(events), "--history", str(events)])
    assert result.exit_code == 2
    assert "--history needs --snapshot" in result.output


SAMPLES = Path(__file__).parent.parent / "data" / "history" / "change_events.json"


@pytest.mark.parametrize("sample", json.loads(SAMPLES.read_text())["Records"], ids=lambda s: s["eventName"])
def test_logged_change_shapes_are_recognised(sample):
    change = policy_change(EventRecord("samples", 0, sample))
    expected = sample["_expected"]
    if expected is None:
        assert change is None
        return
    assert change is not None
    assert [str(e.slot.kind) for e in change.edits] == expected["slots"]
    assert change.target_arn == expected.get("target", change.target_arn)
    assert change.policy_arn == expected.get("policy", change.policy_arn)
    if "statement" in expected:
        assert expected["statement"] in (change.document or "")


def test_a_change_whose_caller_has_no_arn_takes_the_partition_of_its_region():
    """A China-region bucket policy change by a caller CloudTrail logs without an ARN names
    the bucket in aws-cn, the partition of the region (not aws)."""
    (sample,) = [s for s in json.loads(SAMPLES.read_text())["Records"] if s["eventName"] == "PutBucketPolicy"]
    event = {
        **sample,
        "awsRegion": "cn-north-1",
        "userIdentity": {"type": "Root", "principalId": "111111111111", "accountId": "111111111111"},
    }
    change = policy_change(EventRecord("samples", 0, event))
    assert change is not None and change.target_arn == "arn:aws-cn:s3:::data-bucket"


def test_malformed_change_events_never_stop_the_run(tmp_path):
    """Change events are written by strangers: wrong types, missing fields, documents that
    are not policies. Each is skipped or kept as logged; the denials are still explained."""
    odd = [
        ct.record(
            "iam.amazonaws.com",
            "PutRolePolicy",
            MEMBER,
            _at("01:00"),
            {"roleName": ["App"], "policyName": 7, "policyDocument": None},
        ),
        ct.record("iam.amazonaws.com", "AttachRolePolicy", MEMBER, _at("01:01"), None),
        ct.record(
            "iam.amazonaws.com", "TagRole", MEMBER, _at("01:02"), {"roleName": "App", "tags": "team=data"}
        ),
        ct.record(
            "s3.amazonaws.com",
            "PutBucketPolicy",
            MEMBER,
            "yesterday",
            {"bucketName": "data-bucket", "bucketPolicy": {"Statement": []}},
        ),
        ct.record(
            "sqs.amazonaws.com",
            "SetQueueAttributes",
            MEMBER,
            _at("01:03"),
            {"queueUrl": "not a url", "attributes": {"Policy": 42}},
        ),
        ct.record(
            "lambda.amazonaws.com",
            "AddPermission20150331v2",
            MEMBER,
            _at("01:04"),
            {"functionName": "worker"},
            {"statement": "{not json"},
        ),
        ct.record(
            "organizations.amazonaws.com",
            "UpdatePolicy",
            MANAGEMENT,
            _at("01:05"),
            {"policyId": GUARD, "content": "<b>not a policy</b>"},
        ),
        ct.record(
            "ec2.amazonaws.com",
            "ModifyVpcEndpoint",
            MEMBER,
            _at("01:06"),
            {"ModifyVpcEndpointRequest": "vpce-1"},
        ),
    ]
    results = _analyze(tmp_path, [*SETUP, *odd, *TIMELINE])
    # The SCP's content at 02:30 was set by the logged UpdatePolicy at 02:00, whatever the
    # malformed one before it said.
    assert results["deny-scp"]["AssessmentResult"] == "Explicit deny in a service-control policy"
    assert results["deny-bucket"]["RootCause"]["EventId"] == "bucket-deny"


def test_a_logged_document_that_is_no_policy_makes_the_policy_unknown_naming_its_event(tmp_path):
    """AWS rejects a document that is not JSON, so a successful change logging one is a damaged
    or forged log: the policy is unknown from that change on, said with the change's event id,
    never an error blamed on the snapshot it was rolled into."""
    garbled = ct.put_role_policy(MEMBER, _at("02:00"), "App", "Reads", READS, event_id="garbled")
    garbled["requestParameters"]["policyDocument"] = "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22State"
    denied = ct.get_object_denied(MEMBER, _at("02:30"), "App", "data-bucket", "a.csv", "deny-garbled")
    data = _snapshot()
    data["collectedAt"] = _at("01:00")  # before the change: the snapshot is rolled forward over it
    result = _analyze(tmp_path, [*SETUP, garbled, denied], data=data)["deny-garbled"]
    assert result["AssessmentResult"] == "Error"
    assert "partly known" in result["ErrorMessage"] and "snapshot.json" not in result["ErrorMessage"]
    [unknown] = result["PolicyStateAt"]["Unknown"]
    assert "PutRolePolicy garbled" in unknown and "not a readable policy" in unknown
    assert result["RootCause"] is None
    # The unknown policy is one of the result's, and may hold the allow: no missing identity
    # allow is blamed, and no fix is checked as if it were known.
    [part] = result["ResultDetails"]["UnknownPolicies"]
    assert (part["PolicyType"], part["Missing"]) == ("identity", f"inline role App Reads in account {MEMBER}")
    assert not result["Reasons"] and result.get("FixVerified") is None
    # A snapshot collected after the change knows the policy: the answer is definite again.
    data["collectedAt"] = _at("02:10")
    after = _analyze(tmp_path, [*SETUP, garbled, denied], data=data)["deny-garbled"]
    assert after["AssessmentResult"] == "Allowed" and "Unknown" not in after["PolicyStateAt"]


def test_the_terminal_panel_shows_the_state_used_the_cause_and_the_fix_as_data(tmp_path):
    import io

    from rich.console import Console

    from analyzer.render import render_result

    document = _analyze(tmp_path, SETUP + TIMELINE)["deny-scp"]
    document["RootCause"]["Summary"] += " [link=https://evil.example]x[/link]"
    console = Console(file=io.StringIO(), width=400, emoji=False)
    with console.capture() as captured:
        render_result(document, console)
    text = captured.get()
    assert f"Policies  at {_at('02:30')}: snapshot" in text
    assert "Cause     UpdatePolicy scp-bad at" in text and "FreezeS3Reads" in text
    assert "[link=https://evil.example]x[/link]" in text  # shown literally, not as markup
    assert "Fixed by  UpdatePolicy scp-fixed" in text


DATA_READ = f"arn:aws:iam::{MEMBER}:policy/DataRead"
FREEZE = "p-freeze0001"
FREEZE_ARN = f"arn:aws:organizations::{MANAGEMENT}:policy/o-abcdefghij/service_control_policy/{FREEZE}"


def _managed_snapshot() -> dict:
    """App reads through the managed policy DataRead (v1); the SCP Freeze denies reads
    in the OU Locked; the member account sits under the root."""
    data = _snapshot()
    role = data["accounts"][MEMBER]["authorizationDetails"]["RoleDetailList"][0]
    role["RolePolicyList"] = []
    role["AttachedManagedPolicies"] = [{"PolicyName": "DataRead", "PolicyArn": DATA_READ}]
    data["accounts"][MEMBER]["authorizationDetails"]["Policies"] = [
        {
            "PolicyName": "DataRead",
            "Arn": DATA_READ,
            "DefaultVersionId": "v1",
            "PolicyVersionList": [
                {
                    "VersionId": "v1",
                    "IsDefaultVersion": True,
                    "Document": READS,
                    "CreateDate": "2026-11-01T00:00:00Z",
                },
                {
                    "VersionId": "v2",
                    "IsDefaultVersion": False,
                    "Document": LIST_ONLY,
                    "CreateDate": _at("01:00"),
                },
            ],
        }
    ]
    nodes = data["organization"]["nodes"]
    full = nodes[ROOT]["policies"][0]
    nodes[MEMBER]["policies"] = [full]
    nodes["ou-locked"] = {
        "arn": None,
        "id": "ou-locked",
        "name": "Locked",
        "organization_node_type": "Organizational Unit or Organization Root",
        "parent": ROOT,
        "policies": [
            full,
            {
                "Id": FREEZE,
                "Arn": FREEZE_ARN,
                "Name": "Freeze",
                "Description": "Freeze",
                "Type": "SERVICE_CONTROL_POLICY",
                "AwsManaged": False,
                "PolicyDocument": json.dumps(BAD_SCP),
            },
        ],
    }
    return data


def test_a_default_version_never_seen_is_unknown_and_says_so_in_its_own_words(tmp_path):
    """SetDefaultPolicyVersion logs no document: a version no snapshot or logged change
    holds makes the policy unknown from then on — not 'a document that is not a readable
    policy', nor a policy 'the collector could not read' (found by a held-out probe)."""
    data = _managed_snapshot()
    data["collectedAt"] = _at("00:30")
    switch = ct.record(
        "iam.amazonaws.com",
        "SetDefaultPolicyVersion",
        MEMBER,
        _at("01:00"),
        {"policyArn": DATA_READ, "versionId": "v7"},
        event_id="to-v7",
    )
    denied = ct.get_object_denied(MEMBER, _at("01:30"), "App", "data-bucket", "a", "deny-v7")
    result = _analyze(tmp_path, [switch, denied], data=data)["deny-v7"]
    assert result["AssessmentResult"] == "Error"
    [unknown] = result["PolicyStateAt"]["Unknown"]
    assert "SetDefaultPolicyVersion to-v7" in unknown and "made version v7 the default" in unknown
    [part] = [p for p in result["ResultDetails"]["UnknownPolicies"] if DATA_READ in p["Missing"]]
    assert "made version v7 the default" in part["Reason"] and "collector" not in part["Reason"]
    assert "iam:GetPolicy" not in part["HowToGet"]


def test_versions_attachments_and_moves_are_named_as_causes_and_fixes(tmp_path):
    iam, org = "iam.amazonaws.com", "organizations.amazonaws.com"
    timeline = [
        ct.record(
            iam,
            "CreatePolicyVersion",
            MEMBER,
            _at("01:00"),
            {"policyArn": DATA_READ, "policyDocument": ct.text(LIST_ONLY), "setAsDefault": True},
            {"policyVersion": {"versionId": "v2", "isDefaultVersion": True}},
            event_id="version-cut",
        ),
        ct.get_object_denied(MEMBER, _at("01:30"), "App", "data-bucket", "a", "deny-version"),
        ct.record(
            iam,
            "SetDefaultPolicyVersion",
            MEMBER,
            _at("02:00"),
            {"policyArn": DATA_READ, "versionId": "v1"},
            event_id="version-back",
        ),
        ct.record(
            iam,
            "DetachRolePolicy",
            MEMBER,
            _at("03:00"),
            {"policyArn": DATA_READ, "roleName": "App"},
            event_id="detached",
        ),
        ct.get_object_denied(MEMBER, _at("03:30"), "App", "data-bucket", "a", "deny-detach"),
        ct.record(
            iam,
            "AttachRolePolicy",
            MEMBER,
            _at("04:00"),
            {"policyArn": DATA_READ, "roleName": "App"},
            event_id="attached",
        ),
        ct.org_attach_policy(MANAGEMENT, _at("05:00"), FREEZE, MEMBER, event_id="scp-on"),
        ct.get_object_denied(MEMBER, _at("05:30"), "App", "data-bucket", "a", "deny-attach"),
        ct.record(
            org,
            "DetachPolicy",
            MANAGEMENT,
            _at("06:00"),
            {"targetId": MEMBER, "policyId": FREEZE},
            event_id="scp-off",
        ),
        ct.record(
            org,
            "MoveAccount",
            MANAGEMENT,
            _at("07:00"),
            {"accountId": MEMBER, "sourceParentId": ROOT, "destinationParentId": "ou-locked"},
            event_id="moved-in",
        ),
        ct.get_object_denied(MEMBER, _at("07:30"), "App", "data-bucket", "a", "deny-move"),
        ct.record(
            org,
            "MoveAccount",
            MANAGEMENT,
            _at("08:00"),
            {"accountId": MEMBER, "sourceParentId": "ou-locked", "destinationParentId": ROOT},
            event_id="moved-out",
        ),
    ]
    snapshot = tmp_path / "snapshot.json"
    write_snapshot(_managed_snapshot(), snapshot)
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"Records": timeline}))
    result = CliRunner().invoke(
        cli,
        [
            "analyze",
            "--events-file",
            str(events),
            "--snapshot",
            str(snapshot),
            "--history",
            str(events),
            "--json",
        ],
    )
    results = {d["EventId"]: d for d in json.loads(result.stdout)}
    expected = {
        "deny-version": ("version-cut", "version-back", "identity-based"),
        "deny-detach": ("detached", "attached", "identity-based"),
        "deny-attach": ("scp-on", "scp-off", "service-control"),
        "deny-move": ("moved-in", "moved-out", "service-control"),
    }
    for event_id, (cause, fix, kind) in expected.items():
        got = results[event_id]
        assert kind in got["AssessmentResult"], (event_id, got["AssessmentResult"])
        assert got["RootCause"]["EventId"] == cause, event_id
        assert got["FixedBy"]["EventId"] == fix, event_id
    assert results["deny-detach"]["RootCause"]["Summary"] == f"detached {DATA_READ} from role App"
    # AttachPolicy names the SCP by id only; the snapshot gives its ARN
    assert results["deny-attach"]["RootCause"]["PolicyArn"] == FREEZE_ARN
    assert results["deny-attach"]["FixedBy"]["PolicyArn"] == FREEZE_ARN
    assert results["deny-attach"]["RootCause"]["Summary"] == f"attached SCP Freeze ({FREEZE}) to {MEMBER}"
    assert results["deny-move"]["RootCause"]["Summary"] == f"moved account {MEMBER} from {ROOT} to ou-locked"
    assert "removed Allow s3:GetObject" in results["deny-version"]["RootCause"]["Summary"]


def test_a_group_created_after_the_snapshot_is_known_from_its_logged_creation(tmp_path):
    """CreateGroup, then a deny put on it, then bob added: the group is not in the snapshot,
    but what it holds is all logged since its creation (found by a held-out probe; shape in
    tests/data/history/README.md)."""
    data = _snapshot()
    data["collectedAt"] = _at("00:30")
    bob = f"arn:aws:iam::{MEMBER}:user/bob"
    data["accounts"][MEMBER]["authorizationDetails"]["UserDetailList"] = [
        {
            "UserName": "bob",
            "Arn": bob,
            "GroupList": [],
            "UserPolicyList": [{"PolicyName": "Reads", "PolicyDocument": READS}],
        }
    ]
    iam = "iam.amazonaws.com"
    freeze = ct.doc({"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"})
    denied = ct.get_object_denied(MEMBER, _at("02:30"), "App", "data-bucket", "a", "deny-new-group")
    denied["userIdentity"] = {"type": "IAMUser", "principalId": "AIDABOB", "arn": bob, "accountId": MEMBER}
    events = [
        ct.record(
            iam, "CreateGroup", MEMBER, _at("01:00"), {"groupName": "Frozen", "path": "/"}, event_id="made"
        ),
        ct.record(
            iam,
            "PutGroupPolicy",
            MEMBER,
            _at("01:30"),
            {"groupName": "Frozen", "policyName": "Freeze", "policyDocument": ct.text(freeze)},
            event_id="freeze",
        ),
        ct.record(
            iam,
            "AddUserToGroup",
            MEMBER,
            _at("02:00"),
            {"groupName": "Frozen", "userName": "bob"},
            event_id="joined",
        ),
        denied,
    ]
    result = _analyze(tmp_path, events, data=data)["deny-new-group"]
    assert result["AssessmentResult"] == "Explicit deny in an identity-based policy"
    assert result["RootCause"]["EventId"] == "joined"


def test_group_membership_and_boundary_changes_are_named(tmp_path):
    """bob reads through his group; App reads until a boundary without S3 is put on it."""
    data = _snapshot()
    details = data["accounts"][MEMBER]["authorizationDetails"]
    boundary = f"arn:aws:iam::{MEMBER}:policy/NoS3"
    details["UserDetailList"] = [
        {
            "UserName": "bob",
            "Arn": f"arn:aws:iam::{MEMBER}:user/bob",
            "GroupList": ["devs"],
            "UserPolicyList": [],
            "AttachedManagedPolicies": [],
        }
    ]
    details["GroupDetailList"] = [
        {
            "GroupName": "devs",
            "Arn": f"arn:aws:iam::{MEMBER}:group/devs",
            "GroupPolicyList": [{"PolicyName": "Reads", "PolicyDocument": READS}],
            "AttachedManagedPolicies": [],
        }
    ]
    details["Policies"] = [
        {
            "PolicyName": "NoS3",
            "Arn": boundary,
            "DefaultVersionId": "v1",
            "PolicyVersionList": [
                {"VersionId": "v1", "IsDefaultVersion": True, "Document": ct.doc(FULL | {"Action": "sqs:*"})}
            ],
        }
    ]
    snapshot = tmp_path / "snapshot.json"
    write_snapshot(data, snapshot)
    iam = "iam.amazonaws.com"
    bob_denied = ct.get_object_denied(MEMBER, _at("01:30"), "App", "data-bucket", "a", "deny-group")
    bob_denied["userIdentity"] = {
        "type": "IAMUser",
        "principalId": "AIDABOB",
        "arn": f"arn:aws:iam::{MEMBER}:user/bob",
        "accountId": MEMBER,
        "userName": "bob",
    }
    timeline = [
        ct.record(
            iam,
            "RemoveUserFromGroup",
            MEMBER,
            _at("01:00"),
            {"groupName": "devs", "userName": "bob"},
            event_id="left-group",
        ),
        bob_denied,
        ct.record(
            iam,
            "AddUserToGroup",
            MEMBER,
            _at("02:00"),
            {"groupName": "devs", "userName": "bob"},
            event_id="back-in-group",
        ),
        ct.record(
            iam,
            "PutRolePermissionsBoundary",
            MEMBER,
            _at("03:00"),
            {"roleName": "App", "permissionsBoundary": boundary},
            event_id="bounded",
        ),
        ct.get_object_denied(MEMBER, _at("03:30"), "App", "data-bucket", "a", "deny-boundary"),
        ct.record(
            iam,
            "DeleteRolePermissionsBoundary",
            MEMBER,
            _at("04:00"),
            {"roleName": "App"},
            event_id="unbounded",
        ),
    ]
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"Records": timeline}))
    result = CliRunner().invoke(
        cli,
        [
            "analyze",
            "--events-file",
            str(events),
            "--snapshot",
            str(snapshot),
            "--history",
            str(events),
            "--json",
        ],
    )
    results = {d["EventId"]: d for d in json.loads(result.stdout)}
    group = results["deny-group"]
    assert group["AssessmentResult"] == "Missing allow in an identity-based policy"
    assert group["RootCause"]["EventId"] == "left-group"
    assert group["RootCause"]["Summary"] == "removed user bob from group devs"
    assert group["FixedBy"]["EventId"] == "back-in-group"
    bounded = results["deny-boundary"]
    assert bounded["AssessmentResult"] == "Missing allow in a permissions boundary policy"
    # Whether App had another boundary before is never logged, but a boundary decides on
    # its own: the change that put this one in force is named, and says so.
    assert bounded["RootCause"]["EventId"] == "bounded"
    assert bounded["RootCause"]["Summary"] == (
        f"set permissions boundary arn:aws:iam::{MEMBER}:policy/NoS3 on role App "
        "(what it replaced was never logged)"
    )
    assert bounded["FixedBy"]["EventId"] == "unbounded"


def test_a_snapshot_from_before_the_changes_is_rolled_forward(tmp_path):
    """Collected at 00:00, before the SCP, the inline policy and the bucket policy existed:
    every later state comes from the logged changes alone."""
    data = _snapshot()
    data["collectedAt"] = _at("00:00")
    data["organization"]["nodes"][MEMBER]["policies"] = data["organization"]["nodes"][MEMBER]["policies"][
        :1
    ]  # no Guard yet
    role = data["accounts"][MEMBER]["authorizationDetails"]["RoleDetailList"][0]
    role["RolePolicyList"] = []
    data["accounts"][MEMBER]["resourcePolicies"] = {}
    snapshot = tmp_path / "early.json"
    write_snapshot(data, snapshot)
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"Records": [*SETUP, DENIED_BEFORE, *TIMELINE]}))
    result = CliRunner().invoke(
        cli,
        [
            "analyze",
            "--events-file",
            str(events),
            "--snapshot",
            str(snapshot),
            "--history",
            str(events),
            "--json",
        ],
    )
    results = {d["EventId"]: d for d in json.loads(result.stdout)}
    for event_id, cause, fix in (
        ("deny-scp", "scp-bad", "scp-fixed"),
        ("deny-inline", "inline-cut", "inline-back"),
        ("deny-bucket", "bucket-deny", "bucket-back"),
    ):
        got = results[event_id]
        assert "rolled forward" in got["PolicyStateAt"]["Source"], event_id
        assert got["RootCause"]["EventId"] == cause, event_id
        assert got["FixedBy"]["EventId"] == fix, event_id
    assert results["deny-scp"]["AssessmentResult"] == "Explicit deny in a service-control policy"
    # Everything at 01:30 follows from the snapshot and the logged setup: a definite answer.
    assert results["deny-before"]["AssessmentResult"] == "Allowed"
    assert "Unknown" not in results["deny-before"]["PolicyStateAt"]


def _without_guard(collected: str) -> dict:
    """The snapshot collected at ``collected``, with Guard attached nowhere."""
    data = _snapshot()
    data["collectedAt"] = collected
    member = data["organization"]["nodes"][MEMBER]
    member["policies"] = [p for p in member["policies"] if p["Id"] != GUARD]
    return data


def test_disabling_the_scp_type_detaches_every_scp_and_enabling_it_attaches_full_access(tmp_path):
    """https://docs.aws.amazon.com/organizations/latest/userguide/disable-policy-type.html:
    disabling a policy type detaches every policy of it, so no SCP applies at all (not even
    a missing FullAWSAccess denies); enabling SCPs attaches FullAWSAccess to the root, every
    OU and every account, and nothing else (Guard's attachment is gone for good)."""
    other = "p-other0001"
    records = [
        ct.org_create_policy(MANAGEMENT, _at("00:10"), GUARD, GUARD_ARN, "Guard", BAD_SCP, event_id="create"),
        ct.org_attach_policy(MANAGEMENT, _at("00:20"), GUARD, MEMBER, event_id="attach"),
        ct.org_create_policy(
            MANAGEMENT, _at("00:30"), other, GUARD_ARN.replace(GUARD, other), "Other", BENIGN_SCP
        ),
        ct.get_object_denied(MEMBER, _at("01:30"), "App", "data-bucket", "a", "deny-guard"),
        ct.org_policy_type(
            MANAGEMENT, _at("02:00"), ROOT, "SERVICE_CONTROL_POLICY", enable=False, event_id="off"
        ),
        ct.get_object_denied(MEMBER, _at("02:30"), "App", "data-bucket", "a", "while-disabled"),
        ct.org_policy_type(
            MANAGEMENT, _at("03:00"), ROOT, "SERVICE_CONTROL_POLICY", enable=True, event_id="on"
        ),
        ct.get_object_denied(MEMBER, _at("03:30"), "App", "data-bucket", "a", "re-enabled"),
        # Another SCP attached to the account: the root and the account still have FullAWSAccess.
        ct.org_attach_policy(MANAGEMENT, _at("04:00"), other, MEMBER, event_id="attach-other"),
        ct.get_object_denied(MEMBER, _at("04:30"), "App", "data-bucket", "a", "with-other"),
    ]
    results = _analyze(tmp_path, records, data=_without_guard(_at("00:00")))

    guard = results["deny-guard"]
    assert guard["AssessmentResult"] == "Explicit deny in a service-control policy"
    assert guard["RootCause"]["EventId"] == "attach"
    assert guard["FixedBy"]["EventId"] == "off"
    assert "disabled SERVICE_CONTROL_POLICY on r-root" in guard["FixedBy"]["Summary"]
    for event_id in ("while-disabled", "re-enabled", "with-other"):
        assert results[event_id]["AssessmentResult"] == "Allowed", event_id
        assert "Unknown" not in results[event_id]["PolicyStateAt"], event_id


def test_rolled_back_over_disabling_a_policy_type_its_attachments_are_unknown(tmp_path):
    """Collected after DisablePolicyType, the snapshot holds no SCP: which were attached
    before it was never logged, so an earlier denial is not answered as if none applied."""
    data = _without_guard(_at("09:00"))
    for node in data["organization"]["nodes"].values():
        node["policies"] = []
    off = ct.org_policy_type(
        MANAGEMENT, _at("02:00"), ROOT, "SERVICE_CONTROL_POLICY", enable=False, event_id="off"
    )
    denied = ct.get_object_denied(MEMBER, _at("01:30"), "App", "data-bucket", "a", "before-off")

    unknown = _analyze(tmp_path, [denied, off], data=data)["before-off"]
    assert unknown["AssessmentResult"] == "Error"
    assert "DisablePolicyType off" in unknown["ErrorMessage"]
    assert any("DisablePolicyType off" in u for u in unknown["PolicyStateAt"]["Unknown"])


def test_an_scp_the_snapshot_does_not_hold_is_known_from_its_logged_update_policy(tmp_path):
    """A snapshot holds only the SCPs attached somewhere. UpdatePolicy logs the content and
    answers with the policySummary (id, ARN, name, type): enough to attach the policy later,
    rolling forward from a snapshot from before, or back from one collected after it was
    detached again."""
    update = ct.org_update_policy(
        MANAGEMENT, _at("00:10"), GUARD, GUARD_ARN, "Guard", BAD_SCP, event_id="update"
    )
    attach = ct.org_attach_policy(MANAGEMENT, _at("00:20"), GUARD, MEMBER, event_id="attach")
    denied = ct.get_object_denied(MEMBER, _at("01:00"), "App", "data-bucket", "a", "deny-guard")
    detach = ct.org_detach_policy(MANAGEMENT, _at("02:00"), GUARD, MEMBER, event_id="detach")

    for collected in ("00:00", "09:00"):
        (tmp_path / collected).mkdir()
        results = _analyze(
            tmp_path / collected, [update, attach, denied, detach], data=_without_guard(_at(collected))
        )
        got = results["deny-guard"]
        assert got["AssessmentResult"] == "Explicit deny in a service-control policy", collected
        assert got["RootCause"]["EventId"] == "attach", collected
        assert got["RootCause"]["PolicyArn"] == GUARD_ARN, collected
        assert got["RootCause"]["Summary"] == f"attached SCP Guard ({GUARD}) to {MEMBER}", collected
        assert got["FixedBy"]["EventId"] == "detach", collected


def test_a_failure_rebuilding_the_policies_is_that_events_error_naming_the_request():
    """Like analyze_event's own errors: the Error still names the role (not the session),
    the session, the action and the resource the event names."""
    from analyzer.events.mapping import map_event
    from analyzer.events.records import EventRecord
    from analyzer.explain.output import result_json
    from analyzer.history.root_cause import investigate

    class _FailingTimeline:
        def snapshot_state(self):
            return None

        def __getattr__(self, name):
            raise RuntimeError("boom")

    session = f"arn:aws:sts::{MEMBER}:assumed-role/App/worker"
    event = map_event(
        EventRecord(
            "t",
            0,
            {
                "eventVersion": "1.09",
                "eventTime": "2026-11-24T10:00:00Z",
                "eventSource": "s3.amazonaws.com",
                "eventName": "GetObject",
                "awsRegion": "us-east-1",
                "errorCode": "AccessDenied",
                "errorMessage": "Access Denied",
                "eventID": "ev-1",
                "recipientAccountId": MEMBER,
                "requestParameters": {"bucketName": "b", "key": "k"},
                "userIdentity": {
                    "type": "AssumedRole",
                    "arn": session,
                    "accountId": MEMBER,
                    "principalId": "AROAAPP:worker",
                    "sessionContext": {
                        "sessionIssuer": {
                            "type": "Role",
                            "arn": f"arn:aws:iam::{MEMBER}:role/App",
                            "accountId": MEMBER,
                            "userName": "App",
                        }
                    },
                },
            },
        )
    )
    result = result_json(investigate(event, _FailingTimeline()).result)
    assert result["AssessmentResult"] == "Error"
    assert "RuntimeError: boom" in result["ErrorMessage"]
    assert (result["Principal"], result["PrincipalSessionArn"]) == (
        f"arn:aws:iam::{MEMBER}:role/App",
        session,
    )
    assert (result["Action"], result["Resource"]) == ("s3:GetObject", "arn:aws:s3:::b/k")


def test_a_change_summary_says_what_the_policy_said():
    """A Sid's line breaks, separators and runs of spaces were collapsed to one space, so the
    summary no longer said what the policy said (found by a held-out probe). The summary
    keeps the text; a terminal shows it on one line with those characters as escapes."""
    import io
    import json

    from rich.console import Console

    from analyzer.history.changes import Slot, SlotKind
    from analyzer.history.root_cause import _edit_summary
    from analyzer.render import render_result

    sid = "Freeze\r\nS3  reads\u2028\u2029\x85\x0b\x0c\x1c end"
    statement = {"Sid": sid, "Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"}
    slot = Slot(SlotKind.INLINE, "111111111111", ("role", "App", "inline"))
    summary = _edit_summary(
        slot, None, json.dumps({"Statement": [statement]}), {"s3:GetObject"}, True, lambda policy: policy
    )
    assert f"(Sid {sid})" in summary
    console = Console(file=io.StringIO(), width=400, emoji=False)
    with console.capture() as captured:
        render_result(
            {
                "EventId": "e",
                "AssessmentResult": "Denied",
                "ReasonCode": "X",
                "Reasons": [],
                "RootCause": {"Summary": summary},
            },
            console,
        )
    shown = "\\r\\nS3  reads\\u2028\\u2029\\x85\\x0b\\x0c\\x1c end"
    assert [line for line in captured.get().splitlines() if shown in line]
