"""``analyze`` end to end: CloudTrail events + a snapshot file -> the original JSON output.

The snapshot (tests/data/analyze/snapshot.json) is a small organization built so that
each event of events.json is denied for a different reason: every AssessmentResult
that offline analysis can produce appears (session and VPC endpoint policies are not
in snapshots; the engine's cases cover them).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from analyzer.render import render_result

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests/data/analyze"
EXPECTED = {
    k: v for k, v in json.loads((DATA / "expected.json").read_text()).items() if not k.startswith("_")
}


def analyze(*args: str, input_file: Path = DATA / "events.json") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "analyzer",
            "analyze",
            "--events-file",
            str(input_file),
            "--snapshot",
            str(DATA / "snapshot.json"),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    run = analyze("--json")
    found = {result["EventId"]: result for result in json.loads(run.stdout)}
    errors = sum(result["AssessmentResult"] == "Error" for result in found.values())
    # Exit 1 unless every denied event got an answer (ev-unknown-account's account is
    # not in the snapshot); the summary line says how many did.
    assert run.returncode == (1 if errors else 0), run.stderr
    assert run.stderr.splitlines()[-1] == (
        f"{len(EXPECTED)} events read, {len(EXPECTED)} denied: "
        f"{len(EXPECTED) - errors} explained, {errors} error{'' if errors == 1 else 's'}"
    )
    return found


def test_every_event_has_one_result(results):
    assert set(results) == set(EXPECTED)


@pytest.mark.parametrize("event_id", sorted(EXPECTED))
def test_assessment(results, event_id):
    got, want = results[event_id], EXPECTED[event_id]
    assert got["AssessmentResult"] == want["AssessmentResult"]
    assert got["ReasonCode"] == want["ReasonCode"]
    assert got["Action"] == want["Action"]
    details = got.get("ResultDetails", {})
    if "deny" in want:
        target, name = want["deny"]
        first = details["ExplicitDenyPolicies"][0]
        assert (first["AttachmentTargetArn"], first["PolicyName"]) == (target, name)
        assert first["PolicyStatement"]["Effect"] == "Deny"
    if "fix" in want:
        policy_type, target = want["fix"]
        fixes = {(f["PolicyType"], f["AttachmentTargetArn"]) for f in details["PoliciesToAdd"]}
        assert (policy_type, target) in fixes
        assert got["FixVerified"] is True


def test_cross_account_fix_names_both_sides(results):
    fixes = results["ev-cross-both-missing"]["ResultDetails"]["PoliciesToAdd"]
    by_type = {fix["PolicyType"]: fix for fix in fixes}
    queue = "arn:aws:sqs:us-east-1:222222222222:jobs"
    assert by_type["identity"]["Policy"]["Statement"] == [
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue}
    ]
    assert by_type["resource"]["Policy"]["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Principal": {"AWS": "arn:aws:iam::333333333333:role/Reader"},
            "Resource": queue,
        }
    ]


def test_cross_account_fix_for_an_instance_goes_through_a_role_of_its_account(results):
    """An EC2 instance takes no resource-based policy: no statement may target it. The fix
    is a role of the instance's account (its identity and trust policies) and the caller's
    right to assume it, capped by the caller's boundary too, each hop re-verified."""
    result = results["ev-cross-no-resource-policy"]
    instance = "arn:aws:ec2:us-east-1:333333333333:instance/i-0123456789abcdef0"
    role = "arn:aws:iam::333333333333:role/App-from-222222222222"
    fixes = {
        (f["PolicyType"], f["AttachmentTargetArn"]): f["Policy"]["Statement"]
        for f in result["ResultDetails"]["PoliciesToAdd"]
    }
    assert all(target != instance for _, target in fixes)
    assert fixes[("resource", role)] == [
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"AWS": "arn:aws:iam::222222222222:role/App"},
        }
    ]
    assume = [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role}]
    assert fixes[("identity", "arn:aws:iam::222222222222:role/App")] == assume
    assert fixes[("permissionsBoundary", "arn:aws:iam::222222222222:role/App")] == assume
    assert fixes[("identity", role)] == [
        {"Effect": "Allow", "Action": "ec2:StopInstances", "Resource": instance}
    ]
    [reason] = result["Reasons"]
    assert reason["Code"] == "NO_RESOURCE_POLICY_CROSS_ACCOUNT" and "AttachmentTargetArn" not in reason
    assert "principal of the resource's account" in reason["Remediation"]
    assert result["FixVerified"] is True


def test_explicit_deny_suggestion_shows_the_matching_value(results):
    [reason] = [r for r in results["ev-scp-deny"]["Reasons"] if r["Code"] == "EXPLICIT_DENY_SCP"][:1]
    assert "aws:requestedregion=eu-west-1" in reason["Suggestion"]
    # a region guardrail: the fix is the region, before any exemption of the role
    assert reason["RequestChange"] == (
        "aws:RequestedRegion must be one of us-east-1, us-west-2 (it was eu-west-1)"
    )
    assert reason["Suggestion"].startswith("Suggestion: change the request:")
    # the SCP denies every action outside those regions: exempting the role lifts all of it
    assert reason["SuggestionVerified"] is False
    assert reason["SuggestionCheck"].startswith("not verified as least privilege")


def test_a_narrow_deny_exemption_is_verified_as_least_privilege(results):
    [reason] = [r for r in results["ev-resource-deny"]["Reasons"] if r["Code"] == "EXPLICIT_DENY_RESOURCE"]
    assert reason["SuggestionVerified"] is True
    assert reason["SuggestionCheck"].startswith("verified: the request is then allowed")


def test_unknown_parts_and_invalid_actions_say_why(results):
    # A caller from an account outside the snapshot: the resource side (an RCP) decides,
    # and the result says what could not be known about the caller's side.
    unknown = results["ev-unknown-account"]["ResultDetails"]["UnknownPolicies"]
    identity = next(part for part in unknown if part["PolicyType"] == "identity")
    assert identity["Account"] == "555555555555"
    assert "account 555555555555 is not in the snapshot" in identity["Reason"]
    assert "--accounts 555555555555" in identity["HowToGet"]
    assert "maps to no IAM action" in results["ev-invalid-action"]["Notes"][0]


def test_allowed_says_what_probably_changed(results):
    assert any("may have changed" in note for note in results["ev-allowed-now"]["Notes"])


def test_the_original_readme_example():
    run = analyze("--json", input_file=DATA / "original_readme_event.json")
    assert run.returncode == 0, run.stderr
    [result] = json.loads(run.stdout)
    assert result["EventId"] == "5ac7912b-fd5d-436a-b60c-8a4ec1f61cdc"
    assert result["AssessmentResult"] == "Explicit deny in a service-control policy"
    assert result["Action"] == "lambda:ListFunctions"
    [deny] = result["ResultDetails"]["ExplicitDenyPolicies"]
    assert deny["PolicyName"] == "DenyRegions"
    assert deny["PolicyArn"].endswith("/service_control_policy/p-denyregions1")


def test_output_file_is_written_atomically_and_stdout_suppressed(tmp_path):
    out = tmp_path / "results.json"
    run = analyze("--output-file", str(out), "--suppress-output")
    assert run.returncode in (0, 1), run.stderr  # 1: ev-unknown-account is an Error
    assert run.stdout == ""
    assert {r["EventId"] for r in json.loads(out.read_text())} == set(EXPECTED)
    assert not (tmp_path / "results.json.partial").exists()


def test_bad_records_are_reported_and_the_rest_analysed(tmp_path):
    events = json.loads((DATA / "events.json").read_text())["Records"][:2]
    lines = [json.dumps(events[0]), "{not json", json.dumps(events[1])]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    run = analyze("--json", input_file=path)
    assert run.returncode == 1, run.stderr  # bad input, though the rest is analysed
    assert len(json.loads(run.stdout)) == 2
    assert run.stderr.splitlines()[-1].endswith("; 1 unreadable record(s) or file(s)")
    assert str(path) in run.stderr and "record" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_file_without_events_is_a_one_line_error(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text('{"hello": "world"}')
    run = analyze("--json", input_file=path)
    assert run.returncode == 1
    assert "error:" in run.stderr and "Traceback" not in run.stderr


def test_terminal_rendering_names_the_policy(results):
    console = Console(record=True, width=160)
    render_result(results["ev-boundary-deny"], console)
    text = console.export_text()
    assert "Explicit deny in a permissions boundary policy" in text
    assert "AppBoundary" in text and "NoQueueDeletes" in text


SERVICE_RULE_EVENTS = {
    "ev-rule-managed-policy": ("AWS_RULE_MANAGED_POLICY", "iam:CreatePolicyVersion"),
    "ev-rule-service-linked-role": ("AWS_RULE_SERVICE_LINKED_ROLE", "iam:AttachRolePolicy"),
    "ev-rule-sso-role": ("AWS_RULE_RESERVED_ROLE", "iam:PutRolePolicy"),
    "ev-rule-kms-alias": ("AWS_RULE_KMS_ALIAS", "kms:DeleteAlias"),
}


def test_aws_fixed_rules_explain_their_events():
    """Issue 13 item 5: denials no policy causes (AWS managed policies, service-linked and
    Identity Center roles, which IAM answers with UnmodifiableEntity, alias/aws/*) are named
    as AWS's rule, with no policy edit proposed."""
    run = analyze("--json", input_file=DATA / "service_rule_events.json")
    assert run.returncode == 0, run.stderr
    results = {result["EventId"]: result for result in json.loads(run.stdout)}
    assert set(results) == set(SERVICE_RULE_EVENTS)
    for event_id, (code, action) in SERVICE_RULE_EVENTS.items():
        result = results[event_id]
        assert result["AssessmentResult"] == "Denied by an AWS service rule", event_id
        assert (result["ReasonCode"], result["Action"]) == (code, action)
        [rule] = result["ResultDetails"]["ServiceRules"]
        assert rule["Code"] == code and rule["Documentation"].startswith("https://")
        assert "PoliciesToAdd" not in result["ResultDetails"]
        assert not any("Suggestion" in reason for reason in result["Reasons"])


def test_aws_managed_keys_are_known_from_the_snapshot_aliases(tmp_path):
    """The snapshot's alias/aws/* aliases mark their keys as AWS managed: changing one is
    AWS's fixed rule, not a key policy to edit."""
    key = "arn:aws:kms:us-east-1:222222222222:key/aaaabbbb-1111-2222-3333-444455556666"
    snapshot = json.loads((DATA / "snapshot.json").read_text())
    account = snapshot["accounts"]["222222222222"]
    account.setdefault("kmsAliases", {})["arn:aws:kms:us-east-1:222222222222:alias/aws/ebs"] = key
    account.setdefault("resourcePolicies", {})[key] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": "222222222222",
                        "kms:ViaService": "ec2.us-east-1.amazonaws.com",
                    }
                },
            }
        ],
    }
    (tmp_path / "snapshot.json").write_text(json.dumps(snapshot))
    [event] = [
        e
        for e in json.loads((DATA / "service_rule_events.json").read_text())["Records"]
        if e["eventID"] == "ev-rule-kms-alias"
    ]
    event.update(
        eventID="ev-disable-aws-key",
        eventName="DisableKey",
        requestParameters={"keyId": key},
        resources=[{"ARN": key, "type": "AWS::KMS::Key"}],
        errorMessage=event["errorMessage"]
        .replace("kms:DeleteAlias", "kms:DisableKey")
        .split(" on resource:")[0]
        + f" on resource: {key}",
    )
    (tmp_path / "events.json").write_text(json.dumps({"Records": [event]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "analyzer",
            "analyze",
            "--events-file",
            str(tmp_path / "events.json"),
            "--snapshot",
            str(tmp_path / "snapshot.json"),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    [result] = json.loads(run.stdout)
    assert (result["ReasonCode"], result["Resource"]) == ("AWS_RULE_MANAGED_KEY", key)
    assert "PoliciesToAdd" not in result["ResultDetails"]
