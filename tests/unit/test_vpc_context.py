"""Requests through a VPC endpoint: the endpoint's policy and the condition keys AWS sets.

CloudTrail records the endpoint (``vpcEndpointId``) and the caller's private address;
AWS then sets ``aws:SourceVpce``, ``aws:VpcSourceIp`` and ``aws:SourceVpc``, leaves
``aws:SourceIp`` out, and evaluates the endpoint's policy. The VPC and the policy come
from the snapshot's ``vpcEndpoints``.
"""

from __future__ import annotations

import pytest

from analyzer.analysis import analyze_event
from analyzer.events.mapping import map_event
from analyzer.events.records import EventRecord
from analyzer.explain.output import result_json
from analyzer.snapshot import FORMAT, snapshot_from_dict, snapshot_resolver

ACCOUNT = "222222222222"
DEV = f"arn:aws:iam::{ACCOUNT}:user/dev"
BUCKET = "arn:aws:s3:::vpc-only"


def _doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


# DescribeVpcEndpoints returns policies as JSON text; the default one allows everything.
FULL_ACCESS = (
    '{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}'
)


@pytest.fixture(scope="module")
def resolver():
    details = {
        "UserDetailList": [
            {
                "UserName": "dev",
                "UserId": "AIDADEV",
                "Path": "/",
                "Arn": DEV,
                "UserPolicyList": [
                    {
                        "PolicyName": "Read",
                        "PolicyDocument": _doc(
                            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
                        ),
                    }
                ],
            }
        ],
        "RoleDetailList": [],
        "GroupDetailList": [],
        "Policies": [],
    }
    bucket_policy = _doc(
        {
            "Sid": "OnlyFromTheDataVpc",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [BUCKET, f"{BUCKET}/*"],
            "Condition": {"StringNotEquals": {"aws:SourceVpc": "vpc-data"}},
        }
    )
    return snapshot_resolver(
        snapshot_from_dict(
            {
                "format": FORMAT,
                "accounts": {
                    ACCOUNT: {
                        "authorizationDetails": details,
                        "resourcePolicies": {BUCKET: bucket_policy},
                        "vpcEndpoints": {
                            "vpce-data": {
                                "VpcId": "vpc-data",
                                "ServiceName": "com.amazonaws.us-east-1.s3",
                                "PolicyDocument": FULL_ACCESS,
                            },
                            "vpce-build": {"VpcId": "vpc-build", "PolicyDocument": FULL_ACCESS},
                            "vpce-locked": {
                                "VpcId": "vpc-data",
                                "PolicyDocument": _doc(
                                    {
                                        "Effect": "Allow",
                                        "Principal": "*",
                                        "Action": "s3:GetObject",
                                        "Resource": "arn:aws:s3:::other-bucket/*",
                                    }
                                ),
                            },
                            "vpce-guarded": {
                                "VpcId": "vpc-data",
                                "PolicyDocument": _doc(
                                    {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
                                    {
                                        "Sid": "NoObjectReads",
                                        "Effect": "Deny",
                                        "Principal": "*",
                                        "Action": "s3:GetObject",
                                        "Resource": "*",
                                    },
                                ),
                            },
                            "vpce-no-policy": {"VpcId": "vpc-data"},
                        },
                    }
                },
                "organization": None,
            }
        )
    )


def _get_object(endpoint: str | None) -> EventRecord:
    event = {
        "eventVersion": "1.09",
        "eventTime": "2026-11-24T10:00:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "10.0.3.7",
        "userAgent": "aws-cli/2",
        "errorCode": "AccessDenied",
        "errorMessage": "Access Denied",
        "eventID": f"ev-{endpoint}",
        "requestParameters": {"bucketName": "vpc-only", "key": "a.csv"},
        "recipientAccountId": ACCOUNT,
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDADEV",
            "arn": DEV,
            "accountId": ACCOUNT,
            "userName": "dev",
        },
    }
    if endpoint:
        event.update(vpcEndpointId=endpoint, vpcEndpointAccountId=ACCOUNT)
    return EventRecord("test", 0, event)


def test_endpoint_requests_carry_the_vpc_and_the_private_address(resolver):
    result = analyze_event(map_event(_get_object("vpce-build")), resolver)
    context = result.primary.request.context
    assert context["aws:sourcevpc"] == "vpc-build"
    assert context["aws:vpcsourceip"] == "10.0.3.7"
    assert "aws:sourceip" not in context


@pytest.mark.parametrize(
    ("endpoint", "code"),
    [
        ("vpce-build", "EXPLICIT_DENY_RESOURCE"),  # another VPC: the bucket policy denies
        ("vpce-data", "ALLOWED"),  # the data VPC: nothing here denies it
        (None, "EXPLICIT_DENY_RESOURCE"),  # not through an endpoint: no aws:SourceVpc at all
        ("vpce-locked", "NO_ALLOW_ENDPOINT"),  # the endpoint's policy allows another bucket only
        ("vpce-guarded", "EXPLICIT_DENY_ENDPOINT"),
        ("vpce-no-policy", "ALLOWED"),  # an endpoint type without policies adds none
    ],
)
def test_a_vpc_condition_is_decided_as_aws_decides_it(resolver, endpoint, code):
    result = analyze_event(map_event(_get_object(endpoint)), resolver)
    assert result.reason_code == code


def test_an_endpoint_deny_names_the_endpoint_and_its_statement(resolver):
    result = analyze_event(map_event(_get_object("vpce-guarded")), resolver)
    document = result_json(result)
    assert document["AssessmentResult"] == "Explicit deny in a VPC endpoint policy"
    [deny] = document["ResultDetails"]["ExplicitDenyPolicies"]
    # the endpoint id, as `aws ec2 modify-vpc-endpoint --vpc-endpoint-id` takes it
    assert deny["AttachmentTargetArn"] == "vpce-guarded"
    assert deny["PolicyName"] == "VPCEndpointPolicy"
    assert deny["PolicyArn"] == f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc-endpoint/vpce-guarded/VPCEndpointPolicy"
    assert deny["PolicyStatement"]["Sid"] == "NoObjectReads"


def test_a_missing_endpoint_policy_fix_targets_the_endpoint(resolver):
    result = analyze_event(map_event(_get_object("vpce-locked")), resolver)
    [fix] = result_json(result)["ResultDetails"]["PoliciesToAdd"]
    assert fix["PolicyType"] == "endpoint"
    assert fix["AttachmentTargetArn"] == "vpce-locked"
    assert result.primary.fix.verified


def test_an_endpoint_outside_the_snapshot_is_an_unknown_part(resolver):
    result = analyze_event(map_event(_get_object("vpce-elsewhere")), resolver)
    [unknown] = result_json(result)["ResultDetails"]["UnknownPolicies"]
    assert unknown["PolicyType"] == "endpoint"
    assert "vpce-elsewhere is not in" in unknown["Reason"]


def test_a_vpc_condition_through_an_unknown_endpoint_is_not_judged_as_absent(resolver):
    """AWS set aws:SourceVpc from the endpoint's VPC: with the endpoint unknown, the bucket
    policy's "deny outside vpc-data" may or may not have applied. Judging the key absent
    would make the deny certain (a negated operator is true on a missing key)."""
    result = analyze_event(map_event(_get_object("vpce-elsewhere")), resolver)
    assert result.reason_code == "ERROR"
    notes = result_json(result)["Notes"]
    assert any("aws:sourcevpc, unknown with the policy of VPC endpoint vpce-elsewhere" in n for n in notes)


def test_the_endpoint_policy_arn_is_in_the_callers_partition(resolver):
    attachment, _ = resolver.endpoint_policy("vpce-guarded", ACCOUNT, "us-gov-west-1", partition="aws-us-gov")
    assert attachment.target_arn == f"arn:aws-us-gov:ec2:us-gov-west-1:{ACCOUNT}:vpc-endpoint/vpce-guarded"
