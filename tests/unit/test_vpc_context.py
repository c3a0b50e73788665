"""Requests through a VPC endpoint: the condition keys AWS sets, as the analysis sees them.

CloudTrail records the endpoint (``vpcEndpointId``) and the caller's private address;
AWS then sets ``aws:SourceVpce``, ``aws:VpcSourceIp`` and ``aws:SourceVpc`` and leaves
``aws:SourceIp`` out. The VPC comes from the snapshot's ``vpcEndpoints``.
"""

from __future__ import annotations

import pytest

from analyzer.analysis import analyze_event
from analyzer.events.mapping import map_event
from analyzer.events.records import EventRecord
from analyzer.snapshot import FORMAT, snapshot_from_dict

ACCOUNT = "222222222222"
DEV = f"arn:aws:iam::{ACCOUNT}:user/dev"
BUCKET = "arn:aws:s3:::vpc-only"


def _doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


@pytest.fixture(scope="module")
def resolver():
    details = {
        "UserDetailList": [{"UserName": "dev", "UserId": "AIDADEV", "Path": "/", "Arn": DEV,
                            "UserPolicyList": [{"PolicyName": "Read", "PolicyDocument": _doc(
                                {"Effect": "Allow", "Action": "s3:GetObject",
                                 "Resource": "*"})}]}],
        "RoleDetailList": [], "GroupDetailList": [], "Policies": [],
    }
    bucket_policy = _doc({
        "Sid": "OnlyFromTheDataVpc", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [BUCKET, f"{BUCKET}/*"],
        "Condition": {"StringNotEquals": {"aws:SourceVpc": "vpc-data"}}})
    return snapshot_from_dict({
        "format": FORMAT,
        "accounts": {ACCOUNT: {
            "authorizationDetails": details,
            "resourcePolicies": {BUCKET: bucket_policy},
            "vpcEndpoints": {"vpce-data": "vpc-data", "vpce-build": "vpc-build"},
        }},
        "organization": None,
    }).resolver


def _get_object(endpoint: str | None) -> EventRecord:
    event = {
        "eventVersion": "1.09", "eventTime": "2026-11-24T10:00:00Z",
        "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "awsRegion": "us-east-1",
        "sourceIPAddress": "10.0.3.7", "userAgent": "aws-cli/2", "errorCode": "AccessDenied",
        "errorMessage": "Access Denied", "eventID": f"ev-{endpoint}",
        "requestParameters": {"bucketName": "vpc-only", "key": "a.csv"},
        "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "IAMUser", "principalId": "AIDADEV", "arn": DEV,
                         "accountId": ACCOUNT, "userName": "dev"},
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


@pytest.mark.parametrize(("endpoint", "code"), [
    ("vpce-build", "EXPLICIT_DENY_RESOURCE"),  # another VPC: the bucket policy denies
    ("vpce-data", "ALLOWED"),  # the data VPC: nothing here denies it
    (None, "EXPLICIT_DENY_RESOURCE"),  # not through an endpoint: no aws:SourceVpc at all
])
def test_a_vpc_condition_is_decided_as_aws_decides_it(resolver, endpoint, code):
    result = analyze_event(map_event(_get_object(endpoint)), resolver)
    assert result.reason_code == code
