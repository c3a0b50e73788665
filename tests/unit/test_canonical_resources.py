"""Resources an event names only in part are evaluated under the ARN AWS evaluates.

CloudTrail often names an IAM role or user by name (``requestParameters.roleName``) and a
secret by name (``secretId``); AWS matches policies against the full ARN, with the
entity's path and the secret's random suffix. The snapshot knows both, and the KMS key a
request named by one of its aliases.
"""

from __future__ import annotations

import pytest

from analyzer.analysis import analyze_event
from analyzer.events.mapping import map_event
from analyzer.events.records import EventRecord
from analyzer.snapshot import FORMAT, snapshot_from_dict, snapshot_resolver

ACCOUNT = "222222222222"
OTHER = "444444444444"
DEV = f"arn:aws:iam::{ACCOUNT}:user/dev"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/Builder"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:db-password-AbC123"
SHARED = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:shared-Zz9Yx8"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"


def _doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _snapshot():
    dev_policy = _doc(
        {"Effect": "Allow", "Action": ["iam:GetRole", "secretsmanager:GetSecretValue"], "Resource": "*"},
        {
            "Sid": "NoServiceRoles",
            "Effect": "Deny",
            "Action": "iam:*",
            "Resource": f"arn:aws:iam::{ACCOUNT}:role/service-role/*",
        },
        {
            "Sid": "NoDbPassword",
            "Effect": "Deny",
            "Action": "secretsmanager:*",
            "Resource": f"arn:aws:secretsmanager:*:{ACCOUNT}:secret:db-password-??????",
        },
    )
    details = {
        "UserDetailList": [
            {
                "UserName": "dev",
                "UserId": "AIDADEV",
                "Path": "/",
                "Arn": DEV,
                "UserPolicyList": [{"PolicyName": "Dev", "PolicyDocument": dev_policy}],
            }
        ],
        "RoleDetailList": [
            {
                "RoleName": "Builder",
                "RoleId": "AROABUILDER",
                "Path": "/service-role/",
                "Arn": ROLE,
                "AssumeRolePolicyDocument": _doc(),
            }
        ],
        "GroupDetailList": [],
        "Policies": [],
    }
    return snapshot_from_dict(
        {
            "format": FORMAT,
            "accounts": {
                ACCOUNT: {
                    "authorizationDetails": details,
                    # db-password has no resource policy: only the secret index knows its ARN
                    "resourcePolicies": {
                        SHARED: _doc(
                            {"Effect": "Allow", "Action": "*", "Principal": {"AWS": DEV}, "Resource": "*"}
                        ),
                        KEY: _doc(
                            {
                                "Effect": "Allow",
                                "Action": "kms:*",
                                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/KeyAdmin"},
                                "Resource": "*",
                            }
                        ),
                    },
                    "secretArns": [SECRET, SHARED],
                    # The key's policy grants its administrator alone (no root delegation).
                    "kmsAliases": {f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/app": KEY},
                }
            },
            "organization": None,
        }
    )


@pytest.fixture(scope="module")
def resolver():
    return snapshot_resolver(_snapshot())


@pytest.mark.parametrize(
    ("named", "evaluated"),
    [
        (f"arn:aws:iam::{ACCOUNT}:role/Builder", ROLE),
        (f"arn:aws:iam::{ACCOUNT}:role/builder", ROLE),  # IAM names are case-insensitive
        (ROLE, ROLE),
        (f"arn:aws:iam::{ACCOUNT}:role/Unknown", f"arn:aws:iam::{ACCOUNT}:role/Unknown"),
        (f"arn:aws:iam::{OTHER}:role/Builder", f"arn:aws:iam::{OTHER}:role/Builder"),
        (f"arn:aws:iam::{ACCOUNT}:user/dev", DEV),
        (SECRET.rsplit("-", 1)[0], SECRET),  # known from the secret index only
        (SHARED.rsplit("-", 1)[0], SHARED),
        (SECRET, SECRET),
        (
            f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:gone",
            f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:gone",
        ),
        ("arn:aws:s3:::bucket/key", "arn:aws:s3:::bucket/key"),
        (f"arn:aws:kms:us-east-1:{ACCOUNT}:key/alias/app", KEY),  # a key named by its alias
        (
            f"arn:aws:kms:us-east-1:{ACCOUNT}:key/alias/gone",
            f"arn:aws:kms:us-east-1:{ACCOUNT}:key/alias/gone",
        ),
        # The alias itself, which CreateAlias and DeleteAlias are authorized on, stays the alias.
        (f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/app", f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/app"),
    ],
)
def test_partly_named_resources_get_the_arn_aws_evaluates(resolver, named, evaluated):
    assert resolver.canonical_resource(named) == evaluated


def _event(source: str, name: str, parameters: dict) -> EventRecord:
    return EventRecord(
        "test",
        0,
        {
            "eventVersion": "1.09",
            "eventTime": "2026-11-24T10:00:00Z",
            "eventSource": source,
            "eventName": name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.7",
            "userAgent": "aws-cli/2",
            "errorCode": "AccessDenied",
            "errorMessage": "denied",
            "requestParameters": parameters,
            "eventID": f"ev-{name}",
            "recipientAccountId": ACCOUNT,
            "userIdentity": {
                "type": "IAMUser",
                "principalId": "AIDADEV",
                "arn": DEV,
                "accountId": ACCOUNT,
                "userName": "dev",
            },
        },
    )


@pytest.mark.parametrize(
    ("record", "resource", "sid"),
    [
        (_event("iam.amazonaws.com", "GetRole", {"roleName": "Builder"}), ROLE, "NoServiceRoles"),
        (
            _event("secretsmanager.amazonaws.com", "GetSecretValue", {"secretId": "db-password"}),
            SECRET,
            "NoDbPassword",
        ),
    ],
)
def test_the_deny_on_the_full_arn_is_found(resolver, record, resource, sid):
    """Matched against the name alone, these denies would not apply and the analysis would
    wrongly report that nothing denies the request."""
    result = analyze_event(map_event(record), resolver)
    assert result.reason_code == "EXPLICIT_DENY_IDENTITY"
    explanation = result.primary
    assert explanation.request.resource == resource
    [finding] = explanation.findings
    assert finding.reason.statement.sid == sid


@pytest.mark.parametrize(
    "record",
    [
        _event(
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
            {"secretId": f"arn:aws:secretsmanager:us-east-1:{OTHER}:secret:shared-Zz9Yx8"},
        ),
        _event(
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
            {"secretId": f"arn:aws:secretsmanager:us-east-1:{OTHER}:secret:db-password-AbC123"},
        ),
    ],
)
def test_another_accounts_secret_is_not_answered_with_ours(resolver, record):
    """A secret named by another account's ARN is that account's: our same-named secret's
    policy (which would allow) and our deny on our own secrets say nothing about it, and its
    own policy is unknown, so the answer says so instead of a confident one."""
    result = analyze_event(map_event(record), resolver)
    explanation = result.primary
    assert explanation.request.resource.split(":")[4] == OTHER
    assert result.reason_code not in ("ALLOWED", "EXPLICIT_DENY_IDENTITY")
    assert any(u.policy_type.value == "resource" and u.account == OTHER for u in explanation.unknown)


@pytest.mark.parametrize(
    "key_id", ["alias/app", f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/app"], ids=["name", "arn"]
)
def test_a_key_named_by_its_alias_is_decided_by_its_key_policy(resolver, key_id):
    """KMS's KeyId takes an alias name or ARN; AWS authorizes the key the alias names, whose
    policy must grant the caller even in its own account. The alias was mapped to no key
    (``*``: "no identity-based policy allows", with a fix on ``*``) or, as an ARN, to a key
    ``key/arn:...`` that does not exist (an Error) (held-out probe).
    https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html (KeyId)"""
    record = _event("kms.amazonaws.com", "Encrypt", {"keyId": key_id})
    result = analyze_event(map_event(record), resolver)
    assert result.primary.request.resource == KEY
    assert result.reason_code == "NO_ALLOW_RESOURCE_REQUIRED"


def test_a_key_named_by_an_unknown_alias_is_unknown(resolver):
    """An alias the snapshot does not know names a key it does not know: its key policy is
    unknown, as any key's the snapshot lacks, and the answer is not a confident one."""
    record = _event("kms.amazonaws.com", "Encrypt", {"keyId": "alias/gone"})
    result = analyze_event(map_event(record), resolver)
    explanation = result.primary
    assert explanation.request.resource == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/alias/gone"
    assert result.reason_code == "ERROR"
    assert any(u.policy_type.value == "resource" and u.account == ACCOUNT for u in explanation.unknown)
