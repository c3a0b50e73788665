"""Who is calling: the request's principal and how a ``Principal`` element names it.

A resource-based policy can name the caller in several ways, and *which* way
matters for same-account evaluation
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-basics.html):

* the user ARN, the role *session* ARN, a service or ``*``: a direct grant that
  needs no identity-policy allow and is not capped by a permissions boundary or
  session policy (``Grant.DIRECT``);
* the *role* ARN, for a session of that role: a direct grant that the role's
  boundary and the session policy still cap (``Grant.ROLE``);
* the account (``123456789012`` or ``arn:aws:iam::123456789012:root``): a
  delegation to the account's own identity policies (``Grant.ACCOUNT``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from analyzer.arn import Arn, is_account_id
from analyzer.errors import PolicyParseError


class Grant(IntEnum):
    """How a resource policy names the caller; larger is stronger."""

    ACCOUNT = 1
    ROLE = 2
    DIRECT = 3


class PrincipalKind(StrEnum):
    USER = "IAMUser"
    ROLE = "Role"
    ASSUMED_ROLE = "AssumedRole"
    FEDERATED_USER = "FederatedUser"
    ROOT = "Account"
    SERVICE = "Service"
    WEB_IDENTITY = "WebIdentity"
    ANONYMOUS = "Anonymous"


def _principal_arn(value: str) -> Arn | None:
    """``value`` as the ARN of an IAM or STS principal (global, so no region; an account id;
    a resource after it), or None."""
    arn = Arn.parse(value)
    if arn is None or arn.service not in ("iam", "sts") or arn.region or arn.account_id is None:
        return None
    return arn if arn.resource else None


def _account_key(account: str) -> str:
    return f"account:{account}"


def _role_key(account: str, name: str) -> str:
    return f"role:{account}:{name}"


def normalize_aws_principal(value: str) -> str:
    """Canonical key of one ``"AWS"`` principal value.

    Account ids and root ARNs become ``account:<id>``; role ARNs become
    ``role:<account>:<name>`` because a role session ARN carries no path;
    other ARNs are kept as they are.
    """
    value = value.strip()
    if is_account_id(value):
        return _account_key(value)
    arn = _principal_arn(value)
    if arn is None:
        return value
    account, rest = arn.account, arn.resource
    if rest == "root":
        return _account_key(account)
    if arn.service == "iam" and rest.startswith("role/"):
        return _role_key(account, rest.rsplit("/", 1)[-1])
    return value


@dataclass(frozen=True, slots=True)
class PrincipalSpec:
    """A parsed ``Principal`` or ``NotPrincipal`` element."""

    everyone: bool = False
    aws: frozenset[str] = frozenset()
    service: frozenset[str] = frozenset()
    federated: frozenset[str] = frozenset()
    canonical: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, raw: Any, element: str) -> PrincipalSpec:
        if raw == "*":
            return cls(everyone=True)
        if not isinstance(raw, dict):
            raise PolicyParseError(f'{element} must be "*" or an object, got {raw!r}')
        groups: dict[str, set[str]] = {
            "AWS": set(),
            "Service": set(),
            "Federated": set(),
            "CanonicalUser": set(),
        }
        everyone = False
        for kind, values in raw.items():
            if kind not in groups:
                raise PolicyParseError(f"{element} has an unknown principal type {kind!r}")
            for value in values if isinstance(values, list) else [values]:
                if not isinstance(value, str):
                    raise PolicyParseError(f"{element}/{kind} values must be strings")
                if kind == "AWS" and value.strip() == "*":
                    everyone = True
                elif kind == "AWS":
                    groups[kind].add(normalize_aws_principal(value))
                elif kind == "Service":
                    groups[kind].add(value.strip().lower())
                else:
                    groups[kind].add(value.strip())
        return cls(
            everyone=everyone,
            aws=frozenset(groups["AWS"]),
            service=frozenset(groups["Service"]),
            federated=frozenset(groups["Federated"]),
            canonical=frozenset(groups["CanonicalUser"]),
        )


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request, parsed from its ARN (or service name)."""

    arn: str
    kind: PrincipalKind
    account: str | None = None
    partition: str = "aws"
    name: str | None = None  # user, role or federated-user name
    session_name: str | None = None
    # (key, grant) pairs: every way a Principal element can name this caller.
    _keys: tuple[tuple[str, Grant], ...] = field(default=(), repr=False)

    @property
    def is_service_linked_role(self) -> bool:
        """Service-linked roles live under the ``aws-service-role/`` path; their
        sessions carry only the role name, which starts with ``AWSServiceRoleFor``."""
        if self.kind == PrincipalKind.ROLE:
            return "/aws-service-role/" in self.arn
        return self.kind == PrincipalKind.ASSUMED_ROLE and (self.name or "").startswith("AWSServiceRoleFor")

    @property
    def in_account(self) -> bool:
        """True for IAM principals, which identity policies, SCPs and boundaries govern."""
        return self.account is not None and self.kind not in (
            PrincipalKind.SERVICE,
            PrincipalKind.WEB_IDENTITY,
            PrincipalKind.ANONYMOUS,
        )

    def grant(self, spec: PrincipalSpec) -> Grant | None:
        """The strongest way ``spec`` names this caller, or None."""
        if spec.everyone:
            return Grant.DIRECT
        if self.kind == PrincipalKind.SERVICE:
            return Grant.DIRECT if self.arn in spec.service else None
        if self.kind == PrincipalKind.WEB_IDENTITY:
            return Grant.DIRECT if self.arn in spec.federated else None
        best = None
        for key, grant in self._keys:
            if key in spec.aws and (best is None or grant > best):
                best = grant
        return best

    def spared_by(self, spec: PrincipalSpec) -> bool:
        """Whether a ``NotPrincipal`` element exempts this caller.

        AWS checks the account, then the role, then the session or user, and
        the caller is exempt only when each link it checks is listed: naming a
        user without its account still denies the user.
        https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
        """
        if spec.everyone:
            return True
        if self.kind in (PrincipalKind.SERVICE, PrincipalKind.WEB_IDENTITY):
            return self.grant(spec) is not None
        if self.kind == PrincipalKind.ANONYMOUS or self.account is None:
            return False
        if _account_key(self.account) not in spec.aws:
            return False
        if self.kind == PrincipalKind.ROOT:
            return True
        return any(key in spec.aws for key, grant in self._keys if grant != Grant.ACCOUNT)


# Amazon Cognito identity pools federate web identities under this name: a trust policy
# names it under "Federated", and no service acts as it, though it looks like a service.
# https://docs.aws.amazon.com/cognito/latest/developerguide/iam-roles.html
_WEB_IDENTITY_PROVIDERS = ("cognito-identity.amazonaws.com", "cognito-identity.amazonaws.com.cn")


def _service_principal(value: str) -> bool:
    if value.lower() in _WEB_IDENTITY_PROVIDERS:
        return False
    return value.endswith(".amazonaws.com") or value.endswith(".amazonaws.com.cn")


def parse_principal(value: str | None) -> Principal:
    """Parse the caller of a request; ``None`` is an anonymous request."""
    if value is None or value == "" or value == "*":
        return Principal("anonymous", PrincipalKind.ANONYMOUS)
    arn = _principal_arn(value)
    if arn is None:
        if _service_principal(value):
            return Principal(value.lower(), PrincipalKind.SERVICE)
        if is_account_id(value):
            return parse_principal(f"arn:aws:iam::{value}:root")
        return Principal(value, PrincipalKind.WEB_IDENTITY)
    partition, service, account, rest = arn.partition, arn.service, arn.account, arn.resource
    account_key = (_account_key(account), Grant.ACCOUNT)
    if rest == "root":
        return Principal(value, PrincipalKind.ROOT, account, partition, _keys=(account_key,))
    resource_type, _, path_and_name = rest.partition("/")
    name = path_and_name.rsplit("/", 1)[-1]
    if service == "iam" and resource_type == "user":
        return Principal(
            value, PrincipalKind.USER, account, partition, name, _keys=((value, Grant.DIRECT), account_key)
        )
    if service == "iam" and resource_type == "role":
        # A bare role ARN stands for "some session of this role".
        return Principal(
            value,
            PrincipalKind.ROLE,
            account,
            partition,
            name,
            _keys=((_role_key(account, name), Grant.ROLE), account_key),
        )
    if service == "sts" and resource_type == "assumed-role":
        role_name, _, session = path_and_name.partition("/")
        return Principal(
            value,
            PrincipalKind.ASSUMED_ROLE,
            account,
            partition,
            role_name,
            session,
            _keys=((value, Grant.DIRECT), (_role_key(account, role_name), Grant.ROLE), account_key),
        )
    if service == "sts" and resource_type == "federated-user":
        return Principal(
            value,
            PrincipalKind.FEDERATED_USER,
            account,
            partition,
            name,
            _keys=((value, Grant.DIRECT), account_key),
        )
    return Principal(
        value, PrincipalKind.WEB_IDENTITY, account, partition, _keys=((value, Grant.DIRECT), account_key)
    )
