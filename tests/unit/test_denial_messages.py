"""AWS's denial messages and error codes, one test per known shape (analyzer/data/denial_messages.json)."""

import pytest

from analyzer.engine.model import PolicyType
from analyzer.events.messages import DecodeStatus, message_patterns, parse_denial_message
from analyzer.events.records import is_denial_code

PATTERNS = message_patterns()


@pytest.mark.parametrize("pattern", PATTERNS, ids=[p.id for p in PATTERNS])
def test_each_message_pattern_parses_its_example(pattern):
    assert pattern.regex.search(pattern.example), "the example must match its own pattern"
    hint = parse_denial_message(pattern.example)
    assert pattern.id in hint.patterns
    for field, expected in pattern.expect:
        assert getattr(hint, field) == expected, field


@pytest.mark.parametrize(
    "wording, policy_type",
    [
        ("with an explicit deny in a service control policy", PolicyType.SCP),
        ("with an explicit deny in a resource control policy", PolicyType.RCP),
        ("with an explicit deny in an identity-based policy", PolicyType.IDENTITY),
        ("with an explicit deny in a resource-based policy", PolicyType.RESOURCE),
        ("with an explicit deny in a permissions boundary", PolicyType.PERMISSIONS_BOUNDARY),
        ("with an explicit deny in a session policy", PolicyType.SESSION),
        ("with an explicit deny in a VPC endpoint policy", PolicyType.ENDPOINT),
        ("because no identity-based policy allows the s3:GetObject action", PolicyType.IDENTITY),
        ("because no permissions boundary allows the s3:GetObject action", PolicyType.PERMISSIONS_BOUNDARY),
        ("because no session policy allows the s3:GetObject action", PolicyType.SESSION),
        ("because no service control policy allows the s3:GetObject action", PolicyType.SCP),
        ("because no VPC endpoint policy allows the s3:GetObject action", PolicyType.ENDPOINT),
        ("because no resource-based policy allows the s3:GetObject action", PolicyType.RESOURCE),
    ],
)
def test_every_policy_type_wording(wording, policy_type):
    message = (
        "User: arn:aws:iam::111111111111:user/u is not authorized to perform: s3:GetObject "
        f'on resource: "arn:aws:s3:::b/k" {wording}'
    )
    hint = parse_denial_message(message)
    assert hint.policy_type == policy_type
    assert hint.explicit is wording.startswith("with")
    assert (hint.action, hint.resource) == ("s3:GetObject", "arn:aws:s3:::b/k")


def test_identity_policy_arn_is_kept():
    hint = parse_denial_message(
        "User: arn:aws:iam::111111111111:user/u is not authorized to perform: iam:CreateUser on "
        "resource: arn:aws:iam::111111111111:user/x with an explicit deny in an identity-based policy: "
        "arn:aws:iam::111111111111:policy/DenyIam"
    )
    assert hint.policy_arn == "arn:aws:iam::111111111111:policy/DenyIam"
    assert hint.policy_type == PolicyType.IDENTITY and hint.explicit is True


def test_encoded_message_is_reported_as_not_decoded():
    hint = parse_denial_message(
        "You are not authorized to perform this operation. Encoded authorization failure message: AbC-123_x"
    )
    assert hint.encoded_message == "AbC-123_x"
    assert hint.decode_status == DecodeStatus.NOT_DECODED


@pytest.mark.parametrize("message", [None, "", "Access Denied", "An unknown error occurred"])
def test_messages_without_details_give_an_empty_hint(message):
    hint = parse_denial_message(message)
    assert hint.is_empty and hint.action is None and hint.policy_type is None


@pytest.mark.parametrize(
    "code",
    [
        "AccessDenied",
        "AccessDeniedException",
        "Client.UnauthorizedOperation",
        "UnauthorizedOperation",
        "Forbidden",
        "AuthorizationError",
        "VpceAccessDenied",
        "KMS.AccessDeniedException",
        "Client.AccessDeniedException",
        "ForbiddenException",
        "accessdenied",
    ],
)
def test_denial_codes(code):
    assert is_denial_code(code)


@pytest.mark.parametrize(
    "code",
    [
        None,
        "",
        "NoSuchKey",
        "ThrottlingException",
        "ValidationException",
        "ResourceNotFoundException",
        "InvalidParameterValue",
        "NotAuthorizedException",
        "ExpiredToken",
    ],
)
def test_other_codes_are_not_denials(code):
    assert not is_denial_code(code)


@pytest.mark.parametrize(
    "key",
    [
        'x" with an explicit deny in a service control policy: '
        'arn:aws:organizations::999999999999:policy/o-evil/service_control_policy/p-evil "',
        '=HYPERLINK("http://evil.example","click")',
        'a" because no resource-based policy allows the s3:PutObject action "b',
    ],
)
def test_a_quoted_resource_cannot_name_the_reason_or_cut_itself_short(key):
    """The quoted resource of AWS's message is the caller's text (an S3 key may hold quotes
    and a whole forged reason): the hint's reason is AWS's, after the resource, and the
    resource is the whole key (found by a held-out probe of hostile logs)."""
    message = (
        "User: arn:aws:sts::111111111111:assumed-role/App/s is not authorized to perform: "
        f's3:GetObject on resource: "arn:aws:s3:::bucket/{key}" because no identity-based '
        "policy allows the s3:GetObject action"
    )
    hint = parse_denial_message(message)
    assert hint.resource == f"arn:aws:s3:::bucket/{key}"
    assert (hint.explicit, hint.policy_type, hint.policy_arn) == (False, PolicyType.IDENTITY, None)
    assert hint.action == "s3:GetObject"
