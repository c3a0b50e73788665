"""AWS's fixed rules: denials that come from no policy at all.

Some resources belong to AWS (or to an AWS service acting in the customer's
account), and AWS refuses to let the account's own principals change them,
whatever their policies allow. No policy edit can lift such a denial, so the
explanation must say so instead of proposing one. Each rule is data: the
actions it forbids, the resources it protects (ARN patterns, or a fact about
the resource the caller supplies), the reason code it is reported under and
the AWS page that states it.

* AWS managed policies (``arn:aws:iam::aws:policy/...``) cannot be changed:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html#aws-managed-policies
  and https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_manage-edit.html
* Service-linked roles (path ``/aws-service-role/``): only the linked service
  may change or delete them; IAM answers ``UnmodifiableEntity``. Their
  description stays editable, so ``UpdateRole``/``UpdateRoleDescription`` are
  not listed. https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_update-service-linked-role.html
  and https://docs.aws.amazon.com/IAM/latest/APIReference/API_UpdateAssumeRolePolicy.html
* Roles that IAM Identity Center creates (path ``/aws-reserved/sso.amazonaws.com/``,
  names ``AWSReservedSSO_*``) are changed only through their permission set;
  IAM answers "Cannot perform the operation on the protected role".
  https://docs.aws.amazon.com/singlesignon/latest/userguide/using-service-linked-roles.html
  lists what Identity Center itself does to them (attach/detach/put/delete
  policies, boundary, trust policy, update, delete), which is what the account
  cannot do. https://repost.aws/knowledge-center/identity-center-aws-reserved-sso
* KMS aliases under ``alias/aws/`` are reserved for AWS managed keys, and
  AWS managed keys cannot be edited, enabled, disabled, rotated, tagged,
  deleted or given new aliases:
  https://docs.aws.amazon.com/kms/latest/developerguide/alias-create.html,
  https://docs.aws.amazon.com/kms/latest/developerguide/editing-keys.html,
  https://docs.aws.amazon.com/kms/latest/developerguide/enabling-keys.html

AWS acting for itself is not bound by these rules: service principals and
service-linked roles (Identity Center changes its roles through its own
service-linked role) are exempt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from analyzer.engine.matching import Wildcard
from analyzer.engine.principals import Principal, PrincipalKind

_ROLE_CHANGES = (
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRole",
)


@dataclass(frozen=True, slots=True)
class ServiceRule:
    """One fixed rule: ``actions`` on ``resources`` (or on any resource the request
    marks as AWS managed, when ``aws_managed_resource``) are denied to the account's
    principals."""

    name: str  # stable, shown in ``simulate`` output as ``rule``
    code: str  # the reason code in analyzer/data/reasons.json
    actions: frozenset[str]  # lower-case ``service:action``
    resources: tuple[Wildcard, ...] = ()
    aws_managed_resource: bool = False
    documentation: str = ""

    def denies(self, action: str, resource: str, resource_aws_managed: bool) -> bool:
        """``action`` must be lower-case (action names are case-insensitive)."""
        if action not in self.actions:
            return False
        if self.aws_managed_resource and resource_aws_managed:
            return True
        return any(pattern.matches(resource) for pattern in self.resources)


def _rule(
    name: str,
    code: str,
    actions: tuple[str, ...],
    resources: tuple[str, ...] = (),
    *,
    aws_managed_resource: bool = False,
    documentation: str,
) -> ServiceRule:
    return ServiceRule(
        name,
        code,
        frozenset(a.lower() for a in actions),
        tuple(Wildcard.arn(r) for r in resources),
        aws_managed_resource,
        documentation,
    )


SERVICE_RULES: tuple[ServiceRule, ...] = (
    _rule(
        "aws-managed-policy",
        "AWS_RULE_MANAGED_POLICY",
        (
            "iam:CreatePolicyVersion",
            "iam:DeletePolicy",
            "iam:DeletePolicyVersion",
            "iam:SetDefaultPolicyVersion",
            "iam:TagPolicy",
            "iam:UntagPolicy",
        ),
        ("arn:*:iam::aws:policy/*",),
        documentation="https://docs.aws.amazon.com/IAM/latest/UserGuide/"
        "access_policies_managed-vs-inline.html#aws-managed-policies",
    ),
    # CloudTrail names roles without their path, so the names AWS reserves for these
    # roles (``AWSServiceRoleFor...``, ``AWSReservedSSO_...``) identify them too.
    _rule(
        "service-linked-role",
        "AWS_RULE_SERVICE_LINKED_ROLE",
        _ROLE_CHANGES,
        ("arn:*:iam::*:role/aws-service-role/*", "arn:*:iam::*:role/AWSServiceRoleFor*"),
        documentation="https://docs.aws.amazon.com/IAM/latest/UserGuide/"
        "id_roles_update-service-linked-role.html",
    ),
    _rule(
        "identity-center-role",
        "AWS_RULE_RESERVED_ROLE",
        (*_ROLE_CHANGES, "iam:UpdateRole", "iam:UpdateRoleDescription"),
        ("arn:*:iam::*:role/aws-reserved/*", "arn:*:iam::*:role/AWSReservedSSO_*"),
        documentation="https://docs.aws.amazon.com/singlesignon/latest/userguide/"
        "using-service-linked-roles.html",
    ),
    _rule(
        "aws-kms-alias",
        "AWS_RULE_KMS_ALIAS",
        ("kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"),
        ("arn:*:kms:*:*:alias/aws/*",),
        documentation="https://docs.aws.amazon.com/kms/latest/developerguide/alias-create.html",
    ),
    _rule(
        "aws-managed-key",
        "AWS_RULE_MANAGED_KEY",
        (
            "kms:PutKeyPolicy",
            "kms:UpdateKeyDescription",
            "kms:TagResource",
            "kms:UntagResource",
            "kms:EnableKey",
            "kms:DisableKey",
            "kms:EnableKeyRotation",
            "kms:DisableKeyRotation",
            "kms:RotateKeyOnDemand",
            "kms:ScheduleKeyDeletion",
            "kms:CancelKeyDeletion",
            "kms:CreateAlias",
            "kms:UpdateAlias",
            "kms:DeleteAlias",
        ),
        aws_managed_resource=True,
        documentation="https://docs.aws.amazon.com/kms/latest/developerguide/editing-keys.html",
    ),
)


# The path of the roles Identity Center creates (a region segment may follow it).
_IDENTITY_CENTER_PATH = "/aws-reserved/sso.amazonaws.com/"
# An Identity Center role's name: AWSReservedSSO_<permission set>_<16 hex digits>.
_PERMISSION_SET = re.compile(r"AWSReservedSSO_(?P<name>.+)_[0-9a-f]{16}$")


def permission_set_of(role_arn: str) -> str | None:
    """The permission set an IAM Identity Center role was provisioned from, by its name
    (None for any other role, or a name not of that form)."""
    found = _PERMISSION_SET.search(role_arn.rsplit("/", 1)[-1])
    return found["name"] if found and ":role/" in role_arn else None


def permission_set_role_pattern(role_arn: str) -> str | None:
    """An ARN pattern (``ArnLike``) for an IAM Identity Center role whatever suffix Identity
    Center gives it: it re-creates the role with a new one when the permission set is
    assigned to the account again, and a policy naming the old ARN then matches nobody
    (AWS, "Referencing permission sets in resource policies"). Each ``?`` is one character
    of the 16-character suffix, so no other permission set's role matches. An ARN without
    the role's path (made from a session ARN, which omits it) gets the path Identity
    Center uses, its optional region segment as ``*``: ``aws:PrincipalArn`` carries it."""
    if permission_set_of(role_arn) is None:
        return None
    with_path = identity_center_role_arn(role_arn)
    if with_path != role_arn:  # the path was put back: its region segment is unknown
        with_path = with_path.replace(_IDENTITY_CENTER_PATH, f"{_IDENTITY_CENTER_PATH}*", 1)
    return with_path[:-16] + "?" * 16


def identity_center_role_arn(role_arn: str) -> str:
    """``role_arn`` with Identity Center's path when it is such a role named without it
    (the region segment, unknown then, left out): the ``aws:PrincipalArn`` a policy
    testing it is checked against. Any other ARN as it is."""
    if permission_set_of(role_arn) is None or _IDENTITY_CENTER_PATH in role_arn:
        return role_arn
    prefix, _, name = role_arn.partition(":role/")
    return f"{prefix}:role{_IDENTITY_CENTER_PATH}{name.rsplit('/', 1)[-1]}"


def _aws_itself(principal: Principal) -> bool:
    return principal.kind == PrincipalKind.SERVICE or principal.is_service_linked_role


def rules_denying(
    principal: Principal, action: str, resource: str, resource_aws_managed: bool = False
) -> tuple[ServiceRule, ...]:
    """The fixed rules that deny ``action`` on ``resource`` to ``principal``."""
    if _aws_itself(principal):
        return ()
    action = action.lower()
    return tuple(rule for rule in SERVICE_RULES if rule.denies(action, resource, resource_aws_managed))
