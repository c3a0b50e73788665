"""Callers, context keys and AWS's hint for realistic denied events of every identity type.

Events: tests/data/cloudtrail/samples/principals.json (IAM user, role session via a VPC
endpoint, federated user, root, AWS service, cross-account AWSAccount, Identity Center
permission set and user, GovCloud and China partitions, a call via CloudFormation, an EC2
encoded message, and one success that is skipped).
"""

from pathlib import Path

import pytest

from analyzer.engine.model import PolicyType
from analyzer.engine.policy import parse_policy
from analyzer.engine.principals import PrincipalKind
from analyzer.events import DecodeStatus, ReadStats, decode_hint, denied_events
from analyzer.events.caller import map_caller
from analyzer.events.mapping import DeniedEvent

SAMPLES = Path(__file__).parents[1] / "data" / "cloudtrail" / "samples" / "principals.json"


@pytest.fixture(scope="module")
def events() -> dict[str, DeniedEvent]:
    stats = ReadStats()
    mapped = list(denied_events(SAMPLES, stats))
    assert all(isinstance(event, DeniedEvent) for event in mapped)
    assert (stats.events, stats.denials, stats.skipped_non_denials) == (13, 12, 1)
    return {event.event_id[-2:]: event for event in mapped}


def test_iam_user(events):
    event = events["01"]
    assert event.principal.kind == PrincipalKind.USER
    assert event.caller.arn == "arn:aws:iam::111111111111:user/dev/alice"
    assert event.context["aws:username"] == "alice"
    assert event.context["aws:PrincipalType"] == "User"
    assert event.context["aws:userid"] == "AIDACKCEVSQ6C2EXAMPLE"
    assert event.context["aws:SecureTransport"] == "true"
    assert "aws:MultiFactorAuthPresent" not in event.context  # long-term key: AWS sends none
    assert event.hint.policy_type == PolicyType.IDENTITY and event.hint.explicit is False


def test_assumed_role_keeps_session_and_role(events):
    event = events["02"]
    assert event.principal.kind == PrincipalKind.ASSUMED_ROLE
    assert event.caller.session_arn == "arn:aws:sts::111111111111:assumed-role/AppRole/i-0abc123"
    assert event.caller.role_arn == "arn:aws:iam::111111111111:role/apps/AppRole"
    ctx = event.context
    assert ctx["aws:PrincipalArn"] == "arn:aws:iam::111111111111:role/apps/AppRole"
    assert ctx["aws:SourceVpce"] == "vpce-0a1b2c3d4e5f67890"
    # through a VPC endpoint AWS sets aws:VpcSourceIp, never aws:SourceIp
    assert ctx["aws:VpcSourceIp"] == "10.0.1.15"
    assert "aws:SourceIp" not in ctx
    assert (ctx["s3:prefix"], ctx["s3:delimiter"], ctx["s3:max-keys"]) == ("app/", "/", "1000")
    assert ctx["aws:MultiFactorAuthPresent"] == "false"
    assert ctx["aws:TokenIssueTime"] == "2024-06-03T08:00:00Z"
    (request,) = event.requests()
    assert (request.action, request.resource) == ("s3:ListBucket", "arn:aws:s3:::logs-bucket")
    assert request.resource_account == "333333333333"  # bucket owner from resources[]
    assert request.principal.arn == event.caller.session_arn


def test_federated_user(events):
    event = events["03"]
    assert event.principal.kind == PrincipalKind.FEDERATED_USER
    assert event.context["aws:PrincipalType"] == "FederatedUser"
    assert event.hint.resource == "https://sqs.us-east-1.amazonaws.com/111111111111/jobs"
    assert [(a.action, a.resource) for a in event.actions] == [
        ("sqs:SendMessage", "arn:aws:sqs:us-east-1:111111111111:jobs")
    ]


def test_root_with_scp_explicit_deny(events):
    event = events["04"]
    assert event.principal.kind == PrincipalKind.ROOT
    assert event.context["aws:PrincipalType"] == "Account"
    assert event.context["aws:userid"] == "111111111111"
    assert event.context["aws:MultiFactorAuthPresent"] == "true"
    assert event.context["aws:MultiFactorAuthAge"] == "60"
    hint = event.hint
    assert (hint.policy_type, hint.explicit) == (PolicyType.SCP, True)
    assert hint.policy_arn.endswith("service_control_policy/p-examplepolicyid")


def test_aws_service_caller(events):
    event = events["05"]
    assert event.principal.kind == PrincipalKind.SERVICE
    assert event.principal.arn == "cloudtrail.amazonaws.com"
    assert event.context["aws:PrincipalIsAWSService"] == "true"
    assert "aws:SourceIp" not in event.context
    assert event.context["s3:x-amz-acl"] == "bucket-owner-full-control"


def test_cross_account_caller_known_by_account(events):
    event = events["06"]
    assert event.caller.identity_type == "AWSAccount"
    assert event.principal.kind == PrincipalKind.ROOT and event.principal.account == "222222222222"
    assert event.context["aws:PrincipalAccount"] == "222222222222"
    assert "aws:PrincipalArn" not in event.context  # the account is all CloudTrail says
    assert event.context["kms:EncryptionContext:app"] == "build"
    assert event.hint.principal == "arn:aws:sts::222222222222:assumed-role/Build/build"
    (request,) = event.requests()
    assert request.resource_account == "111111111111"
    assert event.hint.policy_type == PolicyType.RESOURCE


def test_identity_center_permission_set(events):
    event = events["07"]
    assert event.caller.identity_center and event.principal.kind == PrincipalKind.ASSUMED_ROLE
    assert event.context["aws:SourceIdentity"] == "jane@example.com"
    # the message names the secret, not its ARN: the built ARN is kept
    assert [(a.action, a.resource) for a in event.actions] == [
        ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:eu-west-1:111111111111:secret:prod/db")
    ]


def test_identity_center_user(events):
    event = events["08"]
    assert event.caller.identity_type == "IdentityCenterUser" and event.caller.identity_center
    assert event.caller.arn.endswith("identitystore/d-9067642ac7/user/94482488-3041-7026-18f3-be45837cd0e4")
    assert [a.action for a in event.actions] == ["sso:GetRoleCredentials"]


def test_partitions(events):
    gov, china = events["09"], events["10"]
    assert gov.principal.partition == "aws-us-gov"
    assert [a.resource for a in gov.actions] == ["arn:aws-us-gov:s3:::gov-data/a.txt"]
    assert china.principal.partition == "aws-cn"
    assert [(a.action, a.resource) for a in china.actions] == [
        ("lambda:GetFunction", "arn:aws-cn:lambda:cn-north-1:555555555555:function:resize")
    ]


def test_call_via_aws_service_and_request_tags(events):
    event = events["11"]
    ctx = event.context
    assert ctx["aws:ViaAWSService"] == "true"
    assert ctx["aws:CalledVia"] == ("cloudformation.amazonaws.com",)
    assert "aws:SourceIp" not in ctx
    assert ctx["aws:RequestTag/owner"] == "team-a" and ctx["aws:TagKeys"] == ("owner", "env")
    assert event.hint.policy_type == PolicyType.PERMISSIONS_BOUNDARY
    (request,) = event.requests()
    assert request.context["aws:tagkeys"] == ("owner", "env")


def test_ec2_encoded_message(events):
    event = events["12"]
    assert event.hint.decode_status == DecodeStatus.NOT_DECODED
    assert event.hint.encoded_message == "zYxWvUtSrQpOnMlKjIhGfEdCbA-0987654321"
    assert [(a.action, a.resource) for a in event.actions] == [
        ("ec2:TerminateInstances", "arn:aws:ec2:us-west-2:111111111111:instance/i-0123456789abcdef0")
    ]


class _FakeSts:
    def __init__(self, fail=False):
        self.fail = fail
        self.calls = []

    def decode_authorization_message(self, EncodedMessage):
        from botocore.exceptions import ClientError

        self.calls.append(EncodedMessage)
        if self.fail:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "no"}}, "DecodeAuthorizationMessage"
            )
        return {"DecodedMessage": '{"allowed":false}'}


def test_decoding_with_and_without_credentials(events):
    hint = events["12"].hint
    assert decode_hint(hint, None).decode_status == DecodeStatus.NOT_DECODED
    sts = _FakeSts()
    decoded = decode_hint(hint, sts)
    assert decoded.decode_status == DecodeStatus.DECODED and decoded.decoded_message == '{"allowed":false}'
    assert sts.calls == [hint.encoded_message]
    assert decode_hint(hint, _FakeSts(fail=True)).decode_status == DecodeStatus.FAILED
    assert decode_hint(events["01"].hint, sts).decode_status == DecodeStatus.NONE


def test_anonymous_and_web_identity_callers():
    anonymous = map_caller({"type": "AWSAccount", "principalId": "", "accountId": "anonymous"})
    assert anonymous.principal.kind == PrincipalKind.ANONYMOUS
    saml = map_caller(
        {
            "type": "SAMLUser",
            "principalId": "x",
            "userName": "u",
            "identityProvider": "arn:aws:iam::111111111111:saml-provider/Okta",
        }
    )
    assert saml.principal.kind == PrincipalKind.WEB_IDENTITY


def test_a_cognito_identity_pool_caller_is_a_web_identity_not_a_service():
    """Shape of a Cognito identity pool's AssumeRoleWithWebIdentity caller as public write-ups
    quote it (aidansteele's "GitHub Actions and Cognito" post, the catnekaise Cognito docs);
    the ids here are ours. The trust policy names the provider under "Federated"."""
    caller = map_caller(
        {
            "type": "WebIdentityUser",
            "principalId": "cognito-identity.amazonaws.com:eu-west-1:1111-pool:eu-west-1:2222-id",
            "userName": "eu-west-1:2222-id",
            "identityProvider": "cognito-identity.amazonaws.com",
        }
    )
    assert caller.principal.kind == PrincipalKind.WEB_IDENTITY
    trust = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": "cognito-identity.amazonaws.com"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                }
            ],
        }
    )
    [statement] = trust.statements_for("sts:assumerolewithwebidentity")
    assert caller.principal.grant(statement.principal) is not None
