"""Partial knowledge: what the known policies decide, and exactly what is missing otherwise.

The snapshot is tests/data/analyze/snapshot.json: an organization (management
111111111111; prod 222222222222 under an OU with an RCP that denies S3 to principals
outside the organization and an SCP that denies other regions; sandbox 333333333333).
Each test names a caller the snapshot cannot fully describe and checks that the answer
is definite when the known side decides it, and an ``Error`` naming the missing part
otherwise, never ``Allowed``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from analyzer.actions import rcp_supported_services
from analyzer.analysis import analyze_event
from analyzer.engine.model import PolicyType, Request
from analyzer.engine.policy import parse_policy
from analyzer.events.mapping import map_event
from analyzer.events.records import EventRecord
from analyzer.explain.explanation import explain
from analyzer.explain.output import result_json
from analyzer.snapshot import load_snapshot, snapshot_from_dict, snapshot_resolver
from analyzer.snapshot.applied import AppliedPolicies, Attachment, TargetType, Unknown
from analyzer.snapshot.index import PolicyResolver
from analyzer.snapshot.sources import EmptySource

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "analyze" / "snapshot.json"
PROD, SANDBOX, PARTNER = "222222222222", "333333333333", "444455556666"


@pytest.fixture(scope="module")
def resolver() -> PolicyResolver:
    return snapshot_resolver(load_snapshot(SNAPSHOT))


def _role_session(account: str, role: str, path: str = "/") -> dict:
    return {
        "type": "AssumedRole",
        "principalId": f"AROA{role.upper()}:worker",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/worker",
        "accountId": account,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": f"AROA{role.upper()}",
                "arn": f"arn:aws:iam::{account}:role{path}{role}",
                "accountId": account,
                "userName": role,
            }
        },
    }


def _event(
    identity: dict,
    source: str,
    name: str,
    params: dict,
    *,
    region: str = "us-east-1",
    recipient: str = PROD,
    message: str = "Access Denied",
    code: str = "AccessDenied",
) -> EventRecord:
    return EventRecord(
        "test",
        0,
        {
            "eventVersion": "1.09",
            "eventTime": "2026-11-24T10:00:00Z",
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": "203.0.113.9",
            "userAgent": "aws-cli/2",
            "errorCode": code,
            "errorMessage": message,
            "eventID": f"ev-{name}",
            "requestParameters": params,
            "recipientAccountId": recipient,
            "tlsDetails": {"tlsVersion": "TLSv1.3"},
            "userIdentity": identity,
        },
    )


def _analyze(record: EventRecord, resolver: PolicyResolver) -> dict:
    return result_json(analyze_event(map_event(record), resolver))


def _unknown(result: dict, policy_type: str) -> dict:
    return next(
        part for part in result["ResultDetails"]["UnknownPolicies"] if part["PolicyType"] == policy_type
    )


def test_deleted_principal_same_account_is_an_error_naming_what_is_missing(resolver):
    result = _analyze(
        _event(
            _role_session(PROD, "Ghost", "/apps/"),
            "sqs.amazonaws.com",
            "DeleteQueue",
            {"queueUrl": f"https://sqs.us-east-1.amazonaws.com/{PROD}/jobs"},
        ),
        resolver,
    )
    assert result["AssessmentResult"] == "Error"
    assert result["Principal"] == f"arn:aws:iam::{PROD}:role/apps/Ghost"
    assert result["PrincipalSessionArn"] == f"arn:aws:sts::{PROD}:assumed-role/Ghost/worker"
    assert (result["Action"], result["Resource"]) == ("sqs:DeleteQueue", f"arn:aws:sqs:us-east-1:{PROD}:jobs")
    identity = _unknown(result, "identity")
    assert "'Ghost' is not in account 222222222222" in identity["Reason"]
    assert "deleted" in identity["Reason"]
    assert "identity policies" in result["ErrorMessage"]


def test_deleted_principal_denied_by_a_known_scp_is_definite(resolver):
    result = _analyze(
        _event(_role_session(PROD, "Ghost"), "sqs.amazonaws.com", "ListQueues", {}, region="eu-central-1"),
        resolver,
    )
    assert result["AssessmentResult"] == "Explicit deny in a service-control policy"
    assert result["ResultDetails"]["ExplicitDenyPolicies"][0]["PolicyName"] == "DenyRegions"
    assert _unknown(result, "identity")["Account"] == PROD


def test_principal_in_an_account_not_collected_keeps_its_known_scps(resolver):
    # Nothing in the event's own account is known: neither its identity policies nor
    # (outside the organization in the snapshot) its SCPs; each is named with a remedy.
    result = _analyze(
        _event(
            _role_session("999999999999", "Worker"),
            "sqs.amazonaws.com",
            "ListQueues",
            {},
            recipient="999999999999",
        ),
        resolver,
    )
    assert result["AssessmentResult"] == "Error"
    identity = _unknown(result, "identity")
    assert identity["Account"] == "999999999999"
    assert "not in the snapshot" in identity["Reason"]
    assert "snapshot --accounts 999999999999" in identity["HowToGet"]
    assert _unknown(result, "scp")["Account"] == "999999999999"


def test_external_account_denied_by_an_rcp_is_definite(resolver):
    result = _analyze(
        _event(
            _role_session(PARTNER, "Importer"),
            "s3.amazonaws.com",
            "GetObject",
            {"bucketName": "data-bucket", "key": "r.csv"},
        ),
        resolver,
    )
    assert result["AssessmentResult"] == "Explicit deny in a resource control policy"
    assert result["Principal"] == f"arn:aws:iam::{PARTNER}:role/Importer"
    [deny] = result["ResultDetails"]["ExplicitDenyPolicies"]
    assert deny["PolicyName"] == "OrgOnlyS3"
    assert {part["PolicyType"] for part in result["ResultDetails"]["UnknownPolicies"]} == {"identity", "scp"}


def test_external_account_not_allowed_by_the_resource_policy_is_definite(resolver):
    key = f"arn:aws:kms:us-east-1:{PROD}:key/0b7c2f1e-1111-2222-3333-444455556666"
    result = _analyze(
        _event(_role_session(PARTNER, "Importer"), "kms.amazonaws.com", "Decrypt", {"keyId": key}), resolver
    )
    assert result["AssessmentResult"] == "Missing allow in a resource-based policy in cross-account access"
    assert result["ReasonCode"] == "NO_ALLOW_RESOURCE_CROSS_ACCOUNT"
    [fix] = result["ResultDetails"]["PoliciesToAdd"]
    assert fix["PolicyType"] == "resource"
    assert fix["Policy"]["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{PARTNER}:role/Importer"}
    # Verified as far as the known policies go, and said so with what is not known (the
    # check said "the request is allowed", and the table and run notes named nothing).
    assert result["FixVerified"] is True
    assert result["FixCheck"].startswith("verified against the known policies only")
    [note] = [note for note in result["Notes"] if "verified against the known policies only" in note]
    missing = [part["Missing"] for part in result["ResultDetails"]["UnknownPolicies"]]
    assert missing and all(part in note and part in result["FixCheck"] for part in missing)


def test_nothing_known_is_never_allowed(resolver):
    # The partner's own queue: no policy of its account is known, nothing decides.
    result = _analyze(
        _event(
            _role_session(PARTNER, "Reader"),
            "sqs.amazonaws.com",
            "SendMessage",
            {"queueUrl": f"https://sqs.us-east-1.amazonaws.com/{PARTNER}/inbox"},
            recipient=PARTNER,
        ),
        resolver,
    )
    assert result["AssessmentResult"] == "Error"
    assert "Allowed" not in result["AssessmentResult"]


def test_web_identity_caller_refused_by_the_trust_policy(resolver):
    provider = "arn:aws:iam::222222222222:oidc-provider/token.actions.githubusercontent.com"
    identity = {
        "type": "WebIdentityUser",
        "principalId": f"{provider}:repo:org/app",
        "userName": "repo:org/app",
        "identityProvider": provider,
    }
    result = _analyze(
        _event(
            identity,
            "sts.amazonaws.com",
            "AssumeRoleWithWebIdentity",
            {"roleArn": f"arn:aws:iam::{PROD}:role/Deployer", "roleSessionName": "gh"},
        ),
        resolver,
    )
    assert result["Principal"] == provider
    assert result["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert result["Resource"] == f"arn:aws:iam::{PROD}:role/Deployer"
    # The trust policy alone can admit a web identity: it does not name this provider.
    assert result["ReasonCode"].startswith("NO_ALLOW_RESOURCE")
    assert (
        result["ResultDetails"]["PoliciesToAdd"][0]["AttachmentTargetArn"]
        == f"arn:aws:iam::{PROD}:role/Deployer"
    )


def test_invalid_action_and_error_results_still_name_the_request(resolver):
    record = _event(_role_session(PROD, "App"), "madeup.amazonaws.com", "DoThing", {})
    result = _analyze(record, resolver)
    assert result["AssessmentResult"] == "Invalid action"
    assert result["Principal"] == f"arn:aws:iam::{PROD}:role/App"
    assert result["PrincipalSessionArn"] == f"arn:aws:sts::{PROD}:assumed-role/App/worker"
    assert (result["Action"], result["Resource"]) == ("madeup:DoThing", "*")


class _Broken(PolicyResolver):
    """A resolver with a bug for one resource."""

    def policies_for(self, principal, resource_arn, resource_account=None, action=""):
        if "broken" in resource_arn:
            raise KeyError("a bug")
        return super().policies_for(principal, resource_arn, resource_account, action)


def test_a_bug_while_explaining_one_event_is_that_events_error_only():
    resolver = _Broken(snapshot_resolver(load_snapshot(SNAPSHOT)).source)
    broken = _analyze(
        _event(
            _role_session(PROD, "App"), "s3.amazonaws.com", "GetObject", {"bucketName": "broken", "key": "k"}
        ),
        resolver,
    )
    assert broken["AssessmentResult"] == "Error"
    assert broken["ErrorMessage"] == "KeyError: 'a bug'"
    assert (broken["Action"], broken["Resource"]) == ("s3:GetObject", "arn:aws:s3:::broken/k")
    fine = _analyze(
        _event(
            _role_session(PROD, "App"),
            "s3.amazonaws.com",
            "GetObject",
            {"bucketName": "data-bucket", "key": "k"},
        ),
        resolver,
    )
    assert fine["AssessmentResult"] != "Error"


ENCODED = (
    "You are not authorized to perform this operation. Encoded authorization failure "
    "message: Qm9ndXMtZW5jb2RlZC1tZXNzYWdlLWZvci10ZXN0cw-AbC_123"
)


def test_message_only_encoded_ec2_message_is_not_decoded_and_names_the_request():
    record = _event(
        _role_session(PROD, "App"),
        "ec2.amazonaws.com",
        "StopInstances",
        {"instancesSet": {"items": [{"instanceId": "i-0123456789abcdef0"}]}},
        message=ENCODED,
        code="Client.UnauthorizedOperation",
    )
    result = _analyze(record, PolicyResolver(EmptySource()))
    assert result["AssessmentResult"] == "Error"
    assert result["Principal"] == f"arn:aws:iam::{PROD}:role/App"
    assert result["Action"] == "ec2:StopInstances"
    assert result["Resource"] == f"arn:aws:ec2:us-east-1:{PROD}:instance/i-0123456789abcdef0"
    assert result["ResultDetails"]["AwsMessage"]["EncodedMessage"] == "not decoded"
    assert "no snapshot and no AWS credentials" in _unknown(result, "identity")["Reason"]


def test_message_only_explicit_deny_names_the_policy_from_the_message():
    scp = "arn:aws:organizations::111111111111:policy/o-abc123/service_control_policy/p-deny1234"
    record = _event(
        _role_session(PROD, "App"),
        "s3.amazonaws.com",
        "GetObject",
        {"bucketName": "data-bucket", "key": "r.csv"},
        message=f"User: arn:aws:sts::{PROD}:assumed-role/App/worker is not "
        "authorized to perform: s3:GetObject on resource: "
        f'"arn:aws:s3:::data-bucket/r.csv" with an explicit deny in a '
        f"service control policy: {scp}",
    )
    result = _analyze(record, PolicyResolver(EmptySource()))
    assert result["AssessmentResult"] == "Explicit deny in a service-control policy"
    [deny] = result["ResultDetails"]["ExplicitDenyPolicies"]
    assert deny["PolicyArn"] == scp
    assert result["ResultDetails"]["AwsMessage"] == {
        "PolicyType": "scp",
        "PolicyArn": scp,
        "DenyKind": "explicit deny",
    }


def test_message_only_kms_key_is_explained_not_an_internal_error():
    """Every PolicySource answers every question the resolver asks: message-only mode lacked
    aws_managed_key, so a KMS key request ended in an AttributeError 'Error'."""
    key = f"arn:aws:kms:us-east-1:{PROD}:key/0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
    record = _event(
        _role_session(PROD, "App"),
        "kms.amazonaws.com",
        "Decrypt",
        {"keyId": key},
        message=f"User: arn:aws:sts::{PROD}:assumed-role/App/worker is not authorized "
        f"to perform: kms:Decrypt on resource: {key} because no identity-based "
        "policy allows the kms:Decrypt action",
        code="AccessDeniedException",
    )
    result = _analyze(record, PolicyResolver(EmptySource()))
    assert result["AssessmentResult"] == "Missing allow in an identity-based policy"
    assert "AttributeError" not in str(result)


def _read_aws_managed_policy() -> EventRecord:
    policy = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    return _event(
        _role_session(PROD, "App"),
        "iam.amazonaws.com",
        "GetPolicyVersion",
        {"policyArn": policy, "versionId": "v1"},
        message=f"User: arn:aws:sts::{PROD}:assumed-role/App/worker is not authorized to "
        f"perform: iam:GetPolicyVersion on resource: policy {policy} because no "
        "identity-based policy allows the iam:GetPolicyVersion action",
    )


@pytest.mark.parametrize("mode", ["snapshot", "message only"])
def test_an_aws_owned_resource_is_in_no_account(resolver, mode):
    """An AWS managed policy is AWS's, not another account's: reading it is not cross-account
    access, and no account "aws" has RCPs to be unknown."""
    result = _analyze(
        _read_aws_managed_policy(), resolver if mode == "snapshot" else PolicyResolver(EmptySource())
    )
    assert result["AssessmentResult"] == "Missing allow in an identity-based policy"
    assert all(part["Account"] != "aws" for part in result["ResultDetails"].get("UnknownPolicies", []))
    # (with the snapshot, App's permissions boundary lacks the allow too: a second fix)
    [fix] = [f for f in result["ResultDetails"]["PoliciesToAdd"] if f["PolicyType"] == "identity"]
    assert fix["AttachmentTargetArn"] == f"arn:aws:iam::{PROD}:role/App"


def test_a_kms_key_missing_from_the_snapshot_has_an_unknown_key_policy_not_none(resolver):
    """Every KMS key has exactly one key policy: a key the snapshot does not hold (created
    after it, or in a region it did not read) is never judged as having none."""
    known = f"arn:aws:kms:us-east-1:{PROD}:key/0b7c2f1e-1111-2222-3333-444455556666"
    missing = f"arn:aws:kms:us-east-1:{PROD}:key/9f9f9f9f-1111-2222-3333-444455556666"
    decided = _analyze(
        _event(_role_session(PROD, "App"), "kms.amazonaws.com", "Decrypt", {"keyId": known}), resolver
    )
    assert decided["ReasonCode"] == "NO_ALLOW_RESOURCE_REQUIRED"  # its key policy names KeyAdmin only
    assert not decided["ResultDetails"].get("UnknownPolicies")

    result = _analyze(
        _event(_role_session(PROD, "App"), "kms.amazonaws.com", "Decrypt", {"keyId": missing}), resolver
    )
    assert result["AssessmentResult"] == "Error"  # the role's policies allow it: the key policy decides
    unknown = _unknown(result, "resource")
    assert unknown["Missing"] == f"resource policy of {missing}"
    assert "every kms key has one" in unknown["Reason"]


@pytest.mark.parametrize(
    ("arn", "issuer", "why"),
    [
        # An account that is no account id: the text is no IAM ARN at all.
        (
            f"arn:aws:sts::12345678901/../{PARTNER}:assumed-role/App/worker",
            f"arn:aws:iam::12345678901/../{PARTNER}:role/App",
            "has an ARN that is not one",
        ),
        # A role ARN dressed as a session: no assumed-role principal parses from it.
        (f"arn:aws:sts::{PARTNER}:role/Evil:assumed-role/App/worker", None, "has an ARN that is not one"),
        # A session of one account issued by a role of another: which is the caller?
        (
            f"arn:aws:sts::{PARTNER}:assumed-role/App/worker",
            f"arn:aws:iam::{PROD}:role/App",
            "different roles",
        ),
    ],
)
def test_a_caller_whose_identity_cannot_be_told_is_an_error_not_a_stranger_principal(
    resolver, arn, issuer, why
):
    """Text that is no IAM ARN parsed as a web identity provider, so a malformed session got
    a confident answer and a bucket statement naming it as ``Federated``."""
    identity = _role_session(PROD, "App")
    identity["arn"] = arn
    if issuer is None:
        del identity["sessionContext"]
    else:
        identity["sessionContext"]["sessionIssuer"]["arn"] = issuer
    result = _analyze(
        _event(identity, "s3.amazonaws.com", "GetObject", {"bucketName": "prod-data", "key": "a.csv"}),
        resolver,
    )
    assert result["AssessmentResult"] == "Error"
    assert result["ErrorMessage"].startswith("the caller cannot be told") and why in result["ErrorMessage"]
    assert "PoliciesToAdd" not in (result.get("ResultDetails") or {})
    assert (result["Action"], result["Resource"]) == ("s3:GetObject", "arn:aws:s3:::prod-data/a.csv")


def _account_caller(account: str) -> dict:
    """CloudTrail's identity for a caller of another account known only by its account."""
    return {"type": "AWSAccount", "principalId": "AROAREADER:worker", "accountId": account}


def test_a_caller_known_only_by_its_account_has_unknown_identity_policies():
    """An AWSAccount identity names the account, not the principal: some role there made the
    call, whose policies may lack the allow. A bucket granting the whole account answered
    'Allowed' (the account read as its root user); the resource side still decides alone."""
    raw = json.loads(SNAPSHOT.read_text())
    policy = raw["accounts"][PROD]["resourcePolicies"]["arn:aws:s3:::data-bucket"]
    policy["Statement"].append(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{SANDBOX}:root"},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::data-bucket/shared/*",
        }
    )
    resolver = snapshot_resolver(snapshot_from_dict(raw))

    def by_sandbox(action: str) -> dict:
        params = {"bucketName": "data-bucket", "key": "shared/a"}
        return _analyze(_event(_account_caller(SANDBOX), "s3.amazonaws.com", action, params), resolver)

    granted = by_sandbox("GetObject")
    assert granted["AssessmentResult"] == "Error"
    assert "an AWSAccount identity" in _unknown(granted, "identity")["Reason"]
    # Where the bucket grants the account nothing, the resource side decides, whoever called.
    refused = by_sandbox("PutObject")
    assert refused["AssessmentResult"] == "Missing allow in a resource-based policy in cross-account access"


def _unreadable_organization_with_roles(*roles: tuple[str, str]) -> PolicyResolver:
    """The test snapshot with its organization unread and ``roles`` (path, name) in prod,
    each allowed cloudwatch:PutMetricData."""
    document = json.loads(SNAPSHOT.read_text())
    del document["organization"]
    allow = {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"}
    document["accounts"][PROD]["authorizationDetails"]["RoleDetailList"] += [
        {
            "Path": path,
            "RoleName": name,
            "RoleId": f"AROA{name.upper()}",
            "Arn": f"arn:aws:iam::{PROD}:role{path}{name}",
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
            "RolePolicyList": [
                {"PolicyName": "metrics", "PolicyDocument": {"Version": "2012-10-17", "Statement": [allow]}}
            ],
            "AttachedManagedPolicies": [],
        }
        for path, name in roles
    ]
    return snapshot_resolver(snapshot_from_dict(document))


def test_unread_scps_and_rcps_that_cannot_limit_the_request_leave_nothing_unknown():
    """SCPs do not limit service-linked roles, and RCPs limit only the services that support
    them (CloudWatch does not) nor service-linked roles: unreadable, they made a request the
    known policies allow an ``Error`` (held-out probe)."""
    slr_path = "/aws-service-role/metrics.amazonaws.com/"
    resolver = _unreadable_organization_with_roles((slr_path, "AWSServiceRoleForMetrics"), ("/", "Metrics"))
    slr = _analyze(
        _event(
            _role_session(PROD, "AWSServiceRoleForMetrics", slr_path),
            "monitoring.amazonaws.com",
            "PutMetricData",
            {"namespace": "app"},
        ),
        resolver,
    )
    assert slr["AssessmentResult"] == "Allowed"
    assert "UnknownPolicies" not in slr.get("ResultDetails", {})
    # An ordinary role is limited by the unread SCPs, still not by RCPs.
    role = _analyze(
        _event(
            _role_session(PROD, "Metrics"), "monitoring.amazonaws.com", "PutMetricData", {"namespace": "app"}
        ),
        resolver,
    )
    assert role["AssessmentResult"] == "Error"
    assert [part["PolicyType"] for part in role["ResultDetails"]["UnknownPolicies"]] == ["scp"]


def test_a_node_that_could_not_be_read_leaves_the_known_levels_denies_standing():
    """One organization node's policies unreadable (the collector records a gap and keeps
    the rest): the other levels' known denies still decide. All of the account's SCPs were
    dropped, so a known SCP deny became a missing identity allow (held-out probe, live)."""
    document = json.loads(SNAPSHOT.read_text())
    document["organization"]["nodes"]["r-test"]["policies"] = []  # what could be read
    document["gaps"] = [
        {
            "account": "111111111111",
            "service": "organizations",
            "operation": "DescribePolicy",
            "error": "ServiceException",
            "message": "try again later",
            "resource": "r-test",
        }
    ]
    resolver = snapshot_resolver(snapshot_from_dict(document))
    denied = _analyze(
        _event(_role_session(PROD, "App"), "sqs.amazonaws.com", "ListQueues", {}, region="eu-central-1"),
        resolver,
    )
    assert denied["AssessmentResult"] == "Explicit deny in a service-control policy"
    assert denied["ResultDetails"]["ExplicitDenyPolicies"][0]["PolicyName"] == "DenyRegions"
    assert "r-test" in _unknown(denied, "scp")["Reason"]
    # Where only the unread level could have allowed or denied, nothing is decided.
    undecided = _analyze(_event(_role_session(PROD, "App"), "sqs.amazonaws.com", "ListQueues", {}), resolver)
    assert undecided["AssessmentResult"] != "Allowed"


def test_a_known_level_without_an_allow_decides_while_another_level_is_unread():
    """Every SCP level must allow: the sandbox OU's allow-list lacks DynamoDB, so the
    request is denied there whatever the sandbox account's own unread SCPs say. It was an
    ``Error`` naming the unread SCPs (held-out probe); the fix at the known OU is verified
    against the known policies only, and the unread level is still listed."""
    document = json.loads(SNAPSHOT.read_text())
    document["organization"]["nodes"][SANDBOX]["policies"] = [
        policy
        for policy in document["organization"]["nodes"][SANDBOX]["policies"]
        if policy["Type"] != "SERVICE_CONTROL_POLICY"
    ]
    document["gaps"] = [
        {
            "account": "111111111111",
            "service": "organizations",
            "operation": "ListPoliciesForTarget",
            "error": "AccessDenied",
            "message": "denied",
            "resource": SANDBOX,
            "policyType": "SERVICE_CONTROL_POLICY",
        }
    ]
    resolver = snapshot_resolver(snapshot_from_dict(document))
    result = _analyze(
        _event(
            _role_session(SANDBOX, "Reader"), "dynamodb.amazonaws.com", "ListTables", {}, recipient=SANDBOX
        ),
        resolver,
    )
    assert result["AssessmentResult"] == "Missing allow in a service-control policy"
    [scp] = [reason for reason in result["Reasons"] if reason["PolicyType"] == "scp"]
    assert (scp["AttachmentTargetArn"], scp["PolicyName"]) == ("ou-test-sbx00001", "SandboxAllowList")
    assert SANDBOX in _unknown(result, "scp")["Reason"]
    scp_targets = [
        p["AttachmentTargetArn"] for p in result["ResultDetails"]["PoliciesToAdd"] if p["PolicyType"] == "scp"
    ]
    assert scp_targets == ["ou-test-sbx00001"]
    assert result["FixCheck"].startswith("verified against the known policies only")
    assert f"SCPs of account {SANDBOX}" in result["FixCheck"]


@pytest.mark.parametrize("policy_type", [PolicyType.SCP, PolicyType.RCP])
def test_a_missing_allow_at_a_read_level_stands_for_scps_and_rcps_alike(policy_type):
    """The same rule for either organization policy: level 0 was read and allows only
    s3:PutObject, level 1 was not read (``Unknown.levels``, from the resolver's gaps)."""
    account = "111122223333"
    put_only = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}],
        }
    )
    levels = ((Attachment(put_only, policy_type, "r-root", TargetType.ROOT, level=0),), ())
    unread = Unknown(
        policy_type,
        account,
        f"{policy_type} of account {account}",
        "a node unread",
        "collect it",
        levels=(1,),
    )
    applied = AppliedPolicies(
        scp=levels if policy_type == PolicyType.SCP else None,
        rcp=levels if policy_type == PolicyType.RCP else None,
        unknown=(unread,),
    )
    request = Request.build(
        f"arn:aws:sts::{account}:assumed-role/App/worker", "s3:GetObject", "arn:aws:s3:::own/a", account
    )
    explanation = explain(request, applied.policy_set, rcp_supported_services(), applied=applied)
    assert explanation.code == f"NO_ALLOW_{policy_type.name}"
    assert [f.reason.level for f in explanation.findings if f.reason.policy_type == policy_type] == [0]
    assert explanation.unknown == (unread,)
    assert [p.target_arn for p in explanation.fix.proposals if p.policy_type == policy_type] == ["r-root"]
    # Level 0 read in part (the policy that allows could be the one not read), or which
    # levels are unread not known: no level decides.
    for part in (replace(unread, levels=(0, 1)), replace(unread, levels=None)):
        applied = replace(applied, unknown=(part,))
        explanation = explain(request, applied.policy_set, rcp_supported_services(), applied=applied)
        assert policy_type not in {finding.reason.policy_type for finding in explanation.findings}


def _sandbox_read_in_part(*nodes: str, unread: str | None = None) -> PolicyResolver:
    """The snapshot with ``nodes`` on the sandbox account's path read in part (DescribePolicy
    failed for an SCP of each; the SCPs read are kept) and ``unread``'s SCPs not listed at all.
    The sandbox Reader's own policy allows dynamodb:ListTables: only the SCPs can deny it."""
    document = json.loads(SNAPSHOT.read_text())
    [reader] = document["accounts"][SANDBOX]["authorizationDetails"]["RoleDetailList"]
    reader["RolePolicyList"] = [
        {
            "PolicyName": "Tables",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "dynamodb:ListTables", "Resource": "*"}],
            },
        }
    ]
    gap = {
        "account": "111111111111",
        "service": "organizations",
        "error": "AccessDenied",
        "message": "denied",
        "policyType": "SERVICE_CONTROL_POLICY",
    }
    gaps = [{**gap, "operation": "DescribePolicy", "resource": node} for node in nodes]
    if unread is not None:
        node = document["organization"]["nodes"][unread]
        node["policies"] = [p for p in node["policies"] if p["Type"] != "SERVICE_CONTROL_POLICY"]
        gaps.append({**gap, "operation": "ListPoliciesForTarget", "resource": unread})
    document["gaps"] = gaps
    return snapshot_resolver(snapshot_from_dict(document))


def _sandbox_list_tables(resolver: PolicyResolver) -> dict:
    return _analyze(
        _event(
            _role_session(SANDBOX, "Reader"), "dynamodb.amazonaws.com", "ListTables", {}, recipient=SANDBOX
        ),
        resolver,
    )


def test_a_level_read_in_part_beside_an_unread_level_does_not_decide():
    """The sandbox OU read in part (its SandboxAllowList read, another of its SCPs not) and
    the sandbox account's SCPs not read at all: the OU's known allow-list lacks DynamoDB, but
    the OU's unread SCP may allow it. Inferring the unread levels from the empty ones took the
    OU as read and gave a confident "Missing allow in a service-control policy"."""
    result = _sandbox_list_tables(_sandbox_read_in_part("ou-test-sbx00001", unread=SANDBOX))
    assert result["AssessmentResult"] == "Error"
    assert not [reason for reason in result.get("Reasons", ()) if reason["PolicyType"] == "scp"]
    reason = _unknown(result, "scp")["Reason"]
    assert "ou-test-sbx00001: DescribePolicy failed" in reason
    assert f"{SANDBOX}: ListPoliciesForTarget failed" in reason


def test_a_level_read_in_part_without_the_allow_leaves_the_request_undecided():
    """Only the sandbox OU read in part, and its known SCPs lack the allow: the SCP not read
    may supply it, so nothing decides (``Error``, naming the OU). The same node read in part
    below a level read in full that lacks the allow does not stop that level deciding."""
    undecided = _sandbox_list_tables(_sandbox_read_in_part("ou-test-sbx00001"))
    assert undecided["AssessmentResult"] == "Error"
    assert "ou-test-sbx00001: DescribePolicy failed" in _unknown(undecided, "scp")["Reason"]
    decided = _sandbox_list_tables(_sandbox_read_in_part(SANDBOX))
    assert decided["AssessmentResult"] == "Missing allow in a service-control policy"
    [scp] = [reason for reason in decided["Reasons"] if reason["PolicyType"] == "scp"]
    assert (scp["AttachmentTargetArn"], scp["PolicyName"]) == ("ou-test-sbx00001", "SandboxAllowList")
    assert f"{SANDBOX}: DescribePolicy failed" in _unknown(decided, "scp")["Reason"]


def test_a_bucket_no_collected_account_lists_is_never_allowed():
    """Sandbox's Reader may read any bucket, and a bucket absent from the snapshot was taken
    to be Sandbox's own without a policy: Allowed, though the bucket's policy and its
    account's RCPs were unknown (held-out probe). The accounts' bucket lists tell."""
    raw = json.loads(SNAPSHOT.read_text())
    for account in raw["accounts"].values():
        account["bucketNames"] = []
    raw["accounts"][PROD]["bucketNames"] = ["data-bucket", "logs-bucket"]
    record = _event(
        _role_session(SANDBOX, "Reader"),
        "s3.amazonaws.com",
        "GetObject",
        {"bucketName": "mystery-bucket", "key": "k.csv"},
        recipient=SANDBOX,
    )
    result = _analyze(record, snapshot_resolver(snapshot_from_dict(raw)))
    assert result["AssessmentResult"] == "Error"
    assert [(part["PolicyType"], part["Account"]) for part in result["ResultDetails"]["UnknownPolicies"]] == [
        ("resource", None),
        ("rcp", None),
    ]
    assert "mystery-bucket" in result["ErrorMessage"]
