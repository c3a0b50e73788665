"""Who made a call: CloudTrail's ``userIdentity`` as a ``Caller``.

Every identity type CloudTrail records maps to the engine's ``Principal``, keeping both the
role-session ARN (what resource policies and ``aws:userid`` match) and the role ARN (what
identity policies attach to and ``aws:PrincipalArn`` holds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from analyzer.arn import partition_of
from analyzer.engine.principals import Principal, PrincipalKind, parse_principal
from analyzer.events.fields import json_object, optional_text


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made the call, as CloudTrail's ``userIdentity`` says.

    ``arn`` is what the engine evaluates (the *session* ARN for an assumed
    role); ``role_arn`` is the role behind a session (with its path, from
    ``sessionContext.sessionIssuer``), ``session_arn`` the session itself.
    """

    principal: Principal
    arn: str | None
    identity_type: str
    account: str | None
    principal_id: str | None = None
    role_arn: str | None = None
    session_arn: str | None = None
    user_name: str | None = None
    invoked_by: str | None = None
    identity_center: bool = False
    # The key that signed the call: for temporary credentials (``ASIA...``) it names the
    # session, which is how the call that created it (``analyzer.events.sessions``) is found.
    access_key_id: str | None = None
    # Why the caller cannot be told (an IAM identity type whose ARN is missing, malformed or
    # contradicted by its session issuer): the event's answer is then an Error saying so,
    # never one computed for whatever principal the malformed text would parse as.
    unreadable: str | None = None

    @property
    def identity_arn(self) -> str | None:
        """The IAM identity policies attach to, what ``aws:PrincipalArn`` holds: the role
        of a role session (rebuilt without its path when the event lacks the issuer),
        else the caller's ARN (user, root, federated user, web identity provider)."""
        if self.principal.kind == PrincipalKind.ASSUMED_ROLE:
            principal = self.principal
            return self.role_arn or (
                f"arn:{principal.partition}:iam::{principal.account}:role/{principal.name}"
            )
        return self.arn


def map_caller(identity: Mapping[str, Any] | None, region: str | None = None) -> Caller:
    """The caller from ``userIdentity``, for every identity type CloudTrail records
    (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html)."""
    identity = json_object(identity)
    kind = optional_text(identity.get("type")) or "Unknown"
    arn = optional_text(identity.get("arn"))
    account = optional_text(identity.get("accountId"))
    principal_id = optional_text(identity.get("principalId"))
    invoked_by = optional_text(identity.get("invokedBy"))
    session = json_object(identity.get("sessionContext"))
    issuer = json_object(session.get("sessionIssuer"))
    partition = partition_of(arn, region)
    role_arn = session_arn = None
    identity_center = False
    if kind == "AssumedRole":
        session_arn = arn
        role_arn = optional_text(issuer.get("arn"))
        if arn is None and role_arn and principal_id and ":" in principal_id:
            # Some events (cross-account) omit the session ARN: rebuild it.
            role_name = role_arn.rsplit("/", 1)[-1]
            session_arn = arn = (
                f"arn:{partition}:sts::{account}:assumed-role/{role_name}/{principal_id.split(':', 1)[1]}"
            )
        identity_center = "/aws-reserved/sso.amazonaws.com/" in (role_arn or "") or "AWSReservedSSO_" in (
            arn or ""
        )
    elif kind == "Root" and arn is None and account:
        arn = f"arn:{partition}:iam::{account}:root"
    elif kind == "AWSService":
        arn = invoked_by or optional_text(identity.get("principalId"))
    elif kind == "AWSAccount":
        # A caller from another account, known only by its account (and principal id).
        arn = f"arn:{partition}:iam::{account}:root" if account and account.isdigit() else None
    elif kind == "IdentityCenterUser":
        behalf = json_object(identity.get("onBehalfOf"))
        store, user = optional_text(behalf.get("identityStoreArn")), optional_text(behalf.get("userId"))
        arn = f"{store}/user/{user}" if store and user else arn
        identity_center = True
    elif kind in ("SAMLUser", "WebIdentityUser"):
        arn = optional_text(identity.get("identityProvider")) or arn
    principal = parse_principal(arn)
    return Caller(
        unreadable=_unreadable(kind, arn, principal, role_arn),
        principal=principal,
        arn=arn,
        identity_type=kind,
        account=account if account and account.isdigit() else None,
        principal_id=principal_id,
        role_arn=role_arn,
        session_arn=session_arn,
        user_name=optional_text(identity.get("userName")),
        invoked_by=invoked_by,
        identity_center=identity_center,
        access_key_id=optional_text(identity.get("accessKeyId")),
    )


# The IAM identity types, and the principal each one's ARN must be.
_IAM_KINDS = {
    "IAMUser": PrincipalKind.USER,
    "AssumedRole": PrincipalKind.ASSUMED_ROLE,
    "Root": PrincipalKind.ROOT,
    "FederatedUser": PrincipalKind.FEDERATED_USER,
}


def _unreadable(kind: str, arn: str | None, principal: Principal, role_arn: str | None) -> str | None:
    """Why an IAM caller cannot be told, or None. ``parse_principal`` reads any text that
    is no IAM ARN as a web identity provider (what a trust policy's ``Federated`` names); for
    an event that says its caller is a user or a role session that would explain the denial
    for a principal that does not exist, with a fix for it."""
    expected = _IAM_KINDS.get(kind)
    if expected is None:
        return None
    if arn is None:
        return f"userIdentity of type {kind} names no ARN"
    if principal.kind != expected:
        return f"userIdentity of type {kind} has an ARN that is not one: {arn}"
    if kind == "AssumedRole" and role_arn is not None:
        role = parse_principal(role_arn)
        same = (role.account, role.name) == (principal.account, principal.name)
        if role.kind != PrincipalKind.ROLE or not same:
            return f"the session {arn} and its issuer {role_arn} name different roles"
    return None
