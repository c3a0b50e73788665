"""Condition keys whose values are unknown are not judged as absent.

AWS sets ``aws:PrincipalOrgID`` from the caller's organization and ``aws:PrincipalTag/*``
from the caller's identity; CloudTrail records neither. When the organization cannot be
read, or the caller is not in the snapshot, a statement testing them may or may not have
applied. Judging such a key absent makes a "deny unless in our organization" certain (a
negated operator is true on a missing key) and an "allow if in our organization"
certainly missing: both would be confident answers over unknown values.
"""

from __future__ import annotations

import pytest

from analyzer.analysis import analyze_event
from analyzer.events.mapping import map_event
from analyzer.events.records import EventRecord
from analyzer.explain.output import result_json
from analyzer.snapshot import FORMAT, snapshot_from_dict, snapshot_resolver

ACCOUNT, OTHER = "222222222222", "333333333333"


def _doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _bucket(name: str) -> list[str]:
    return [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]


POLICIES = {
    # deny unless the caller is in the organization
    "arn:aws:s3:::org-only": _doc(
        {
            "Sid": "OnlyOurOrganization",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": _bucket("org-only"),
            "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-ours"}},
        }
    ),
    # deny, whoever asks: nothing unknown about it
    "arn:aws:s3:::closed": _doc(
        {"Sid": "Closed", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": _bucket("closed")}
    ),
    # allow the organization's callers (from any account)
    "arn:aws:s3:::shared": _doc(
        {
            "Sid": "OurOrganization",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::shared/*",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-ours"}},
        }
    ),
    # the other account may read, but only its callers tagged for the data team
    "arn:aws:s3:::team-data": _doc(
        {
            "Sid": "OtherAccount",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::team-data/*",
        },
        {
            "Sid": "DataTeamOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": _bucket("team-data"),
            "Condition": {"StringNotEquals": {"aws:PrincipalTag/team": "data"}},
        },
    ),
}


@pytest.fixture(scope="module")
def resolver():
    details = {
        "UserDetailList": [
            {
                "UserName": "dev",
                "UserId": "AIDADEV",
                "Path": "/",
                "Arn": f"arn:aws:iam::{ACCOUNT}:user/dev",
                "UserPolicyList": [
                    {
                        "PolicyName": "S3",
                        "PolicyDocument": _doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
                    }
                ],
            }
        ],
        "RoleDetailList": [],
        "GroupDetailList": [],
        "Policies": [],
    }
    return snapshot_resolver(
        snapshot_from_dict(
            {
                "format": FORMAT,
                "accounts": {
                    ACCOUNT: {
                        "authorizationDetails": details,
                        "resourcePolicies": POLICIES,
                        "buckets": {name.split(":::")[1]: {} for name in POLICIES},
                    }
                },
                "organization": None,
                # the collector was refused the organization: it exists but is unknown
                "gaps": [
                    {
                        "account": None,
                        "service": "organizations",
                        "operation": "DescribeOrganization",
                        "error": "AccessDenied",
                        "message": "not the management account",
                    }
                ],
            }
        )
    )


def _get_object(bucket: str, caller: dict) -> EventRecord:
    return EventRecord(
        "test",
        0,
        {
            "eventVersion": "1.09",
            "eventTime": "2026-11-24T10:00:00Z",
            "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.9",
            "errorCode": "AccessDenied",
            "errorMessage": "Access Denied",
            "eventID": f"ev-{bucket}",
            "requestParameters": {"bucketName": bucket, "key": "a.csv"},
            "resources": [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/a.csv"}],
            "recipientAccountId": ACCOUNT,
            "userIdentity": caller,
        },
    )


DEV = {
    "type": "IAMUser",
    "principalId": "AIDADEV",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/dev",
    "accountId": ACCOUNT,
    "userName": "dev",
}
# a role of an account the snapshot does not hold: its tags are unknown
STRANGER = {
    "type": "AssumedRole",
    "principalId": "AROASTRANGER:s",
    "arn": f"arn:aws:sts::{OTHER}:assumed-role/Etl/s",
    "accountId": OTHER,
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "principalId": "AROASTRANGER",
            "arn": f"arn:aws:iam::{OTHER}:role/Etl",
            "accountId": OTHER,
            "userName": "Etl",
        }
    },
}


def test_a_deny_unless_in_our_organization_is_undecided_when_the_organization_is_unknown(resolver):
    result = result_json(analyze_event(map_event(_get_object("org-only", DEV)), resolver))
    assert result["AssessmentResult"] == "Error"
    assert any("aws:principalorgid, unknown with the SCPs of account" in note for note in result["Notes"])


def test_a_deny_that_tests_nothing_unknown_stays_certain(resolver):
    result = result_json(analyze_event(map_event(_get_object("closed", DEV)), resolver))
    assert result["AssessmentResult"] == "Explicit deny in a resource-based policy"


def test_an_allow_for_our_organization_is_not_certainly_missing(resolver):
    """Cross-account, the bucket policy must allow; whether its organization condition
    held for this caller is unknown, so "missing allow in the resource policy" is a guess."""
    result = result_json(analyze_event(map_event(_get_object("shared", STRANGER)), resolver))
    assert result["AssessmentResult"] == "Error"
    assert not any(part["PolicyType"] == "resource" for part in result["ResultDetails"]["UnknownPolicies"])


def test_a_tag_condition_on_a_caller_outside_the_snapshot_is_undecided(resolver):
    result = result_json(analyze_event(map_event(_get_object("team-data", STRANGER)), resolver))
    assert result["AssessmentResult"] == "Error"
    expected = "aws:principaltag/team, unknown with the identity policies"
    assert any(expected in note for note in result["Notes"])


def test_a_tag_condition_on_a_known_caller_is_judged(resolver):
    """dev is in the snapshot and has no tags: the key is really absent, the deny applies."""
    result = result_json(analyze_event(map_event(_get_object("team-data", DEV)), resolver))
    assert result["AssessmentResult"] == "Explicit deny in a resource-based policy"
