"""AWS's fixed rules (analyzer.engine.service_rules): what they deny, and to whom."""

import pytest

from analyzer.actions import action_exists
from analyzer.engine.matching import Wildcard
from analyzer.engine.principals import parse_principal
from analyzer.engine.service_rules import (
    SERVICE_RULES,
    identity_center_role_arn,
    permission_set_role_pattern,
    rules_denying,
)
from analyzer.explain.registry import reason_info

ADMIN = parse_principal("arn:aws:iam::111122223333:role/Admin")


@pytest.mark.parametrize("rule", SERVICE_RULES, ids=lambda rule: rule.name)
def test_every_rule_is_documented_and_named_in_the_registry(rule):
    assert reason_info(rule.code).assessment_result == "Denied by an AWS service rule"
    assert rule.documentation.startswith("https://docs.aws.amazon.com/")
    assert rule.actions and all(action_exists(action) for action in rule.actions), rule.actions


def _names(principal, action, resource, aws_managed=False):
    return [rule.name for rule in rules_denying(principal, action, resource, aws_managed)]


@pytest.mark.parametrize(
    ("action", "resource", "expected"),
    [
        ("IAM:createpolicyversion", "arn:aws:iam::aws:policy/ReadOnlyAccess", ["aws-managed-policy"]),
        ("iam:CreatePolicyVersion", "arn:aws:iam::111122223333:policy/ReadOnlyAccess", []),
        ("iam:GetPolicyVersion", "arn:aws:iam::aws:policy/ReadOnlyAccess", []),
        # CloudTrail names roles without their path: the reserved names identify them
        (
            "iam:DeleteRole",
            "arn:aws:iam::111122223333:role/AWSServiceRoleForSupport",
            ["service-linked-role"],
        ),
        (
            "iam:DeleteRole",
            "arn:aws:iam::111122223333:role/aws-service-role/support.amazonaws.com/AWSServiceRoleForSupport",
            ["service-linked-role"],
        ),
        ("iam:UpdateRoleDescription", "arn:aws:iam::111122223333:role/AWSServiceRoleForSupport", []),
        (
            "iam:UpdateRole",
            "arn:aws:iam::111122223333:role/AWSReservedSSO_Admin_0123456789abcdef",
            ["identity-center-role"],
        ),
        ("iam:DeleteRole", "arn:aws:iam::111122223333:role/ReservedSSO_Admin", []),
        ("kms:UpdateAlias", "arn:aws:kms:eu-west-1:111122223333:alias/aws/rds", ["aws-kms-alias"]),
        ("kms:UpdateAlias", "arn:aws:kms:eu-west-1:111122223333:alias/awsome", []),
    ],
)
def test_rules_match_actions_and_resources(action, resource, expected):
    assert _names(ADMIN, action, resource) == expected


def test_aws_managed_keys_need_the_fact_no_arn_carries():
    key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert _names(ADMIN, "kms:DisableKey", key) == []
    assert _names(ADMIN, "kms:DisableKey", key, aws_managed=True) == ["aws-managed-key"]
    assert _names(ADMIN, "kms:Encrypt", key, aws_managed=True) == []


@pytest.mark.parametrize(
    "caller",
    [
        "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForSSO/provisioning",
        "arn:aws:iam::111122223333:role/aws-service-role/sso.amazonaws.com/AWSServiceRoleForSSO",
        "sso.amazonaws.com",
    ],
)
def test_aws_acting_for_itself_is_exempt(caller):
    role = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_1"
    assert _names(parse_principal(caller), "iam:PutRolePolicy", role) == []
    assert _names(ADMIN, "iam:PutRolePolicy", role) == ["identity-center-role"]


SSO_PATH = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/"


@pytest.mark.parametrize(
    ("role", "pattern", "with_path"),
    [
        # Named with its path (snapshot, CloudTrail's sessionIssuer), with or without a region.
        (
            SSO_PATH + "AWSReservedSSO_Ops_0123456789abcdef",
            SSO_PATH + "AWSReservedSSO_Ops_" + "?" * 16,
            SSO_PATH + "AWSReservedSSO_Ops_0123456789abcdef",
        ),
        (
            SSO_PATH + "eu-west-2/AWSReservedSSO_Ops_0123456789abcdef",
            SSO_PATH + "eu-west-2/AWSReservedSSO_Ops_" + "?" * 16,
            SSO_PATH + "eu-west-2/AWSReservedSSO_Ops_0123456789abcdef",
        ),
        # Made from a session ARN, which omits the path: the path Identity Center uses.
        (
            "arn:aws:iam::111122223333:role/AWSReservedSSO_Ops_0123456789abcdef",
            SSO_PATH + "*AWSReservedSSO_Ops_" + "?" * 16,
            SSO_PATH + "AWSReservedSSO_Ops_0123456789abcdef",
        ),
        ("arn:aws:iam::111122223333:role/App", None, "arn:aws:iam::111122223333:role/App"),
    ],
)
def test_identity_center_roles_are_matched_whatever_suffix_identity_center_gives_them(
    role, pattern, with_path
):
    assert permission_set_role_pattern(role) == pattern
    assert identity_center_role_arn(role) == with_path
    if pattern is not None:
        wildcard = Wildcard.arn(pattern)
        assert wildcard.matches(with_path)
        assert wildcard.matches(with_path[:-16] + "fedcba9876543210")  # re-created
        assert not wildcard.matches(with_path.replace("_Ops_", "_Ops_Admin_"))  # another set
        assert not wildcard.matches(with_path.replace("111122223333", "444455556666"))
