"""The engine's inputs and outputs: Request, PolicySet, Decision, Reason, Evaluation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from analyzer.arn import Arn
from analyzer.engine.context import ContextValue, normalize_context
from analyzer.engine.policy import Policy, Statement
from analyzer.engine.principals import Principal, parse_principal
from analyzer.engine.service_rules import ServiceRule


class PolicyType(StrEnum):
    """Policy types, declared in AWS's evaluation order (the order reasons are reported in).

    ``SERVICE_RULE`` is no policy: it stands for AWS's fixed rules
    (``analyzer.engine.service_rules``), reported first because no policy edit can
    lift them.
    """

    SERVICE_RULE = "serviceRule"
    SCP = "scp"
    RCP = "rcp"
    RESOURCE = "resource"
    IDENTITY = "identity"
    PERMISSIONS_BOUNDARY = "permissionsBoundary"
    SESSION = "session"
    ENDPOINT = "endpoint"


class Decision(StrEnum):
    ALLOWED = "Allowed"
    IMPLICITLY_DENIED = "ImplicitlyDenied"
    EXPLICITLY_DENIED = "ExplicitlyDenied"


class ReasonKind(StrEnum):
    EXPLICIT_DENY = "Deny"
    MISSING_ALLOW = "ImplicitDeny"


@dataclass(frozen=True, slots=True)
class Request:
    """One authorization request: who, what action, on which resource, in what context."""

    principal: Principal
    action: str
    resource: str
    resource_account: str | None = None
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    # The resource is AWS managed (an AWS managed KMS key): a fact no ARN carries,
    # supplied by whoever knows it (a case file, the snapshot's KMS aliases).
    resource_aws_managed: bool = False

    @classmethod
    def build(
        cls,
        principal: str | None,
        action: str,
        resource: str = "*",
        resource_account: str | None = None,
        context: Mapping[str, Any] | None = None,
        resource_aws_managed: bool = False,
    ) -> Request:
        return cls(
            parse_principal(principal),
            action,
            resource or "*",
            resource_account,
            normalize_context(context),
            resource_aws_managed,
        )

    @property
    def service(self) -> str:
        return self.action.split(":", 1)[0].lower()

    @property
    def owning_account(self) -> str | None:
        """The resource's account: given, else from the ARN, else the caller's."""
        if self.resource_account:
            return self.resource_account
        arn = Arn.parse(self.resource)
        if arn is not None and arn.account_id:
            return arn.account_id
        # S3 ARNs carry no account; AWS-owned resources ("arn:aws:iam::aws:policy/...")
        # belong to no customer account: the caller's own rules apply.
        return self.principal.account


@dataclass(frozen=True, slots=True)
class PolicySet:
    """Every policy that applies to one request, by type.

    ``None`` means the type does not apply (no boundary, no SCPs for this
    account); ``scp`` and ``rcp`` hold one tuple of policies per level of the
    organization tree, root first.
    """

    identity: tuple[Policy, ...] = ()
    permissions_boundary: Policy | None = None
    session: tuple[Policy, ...] | None = None
    scp: tuple[tuple[Policy, ...], ...] | None = None
    rcp: tuple[tuple[Policy, ...], ...] | None = None
    resource: Policy | None = None
    endpoint: Policy | None = None


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a request is denied: an explicit Deny statement, a policy type that
    has no matching Allow (``statement`` is None then), or one of AWS's fixed rules
    (``policy_type`` SERVICE_RULE, ``rule`` set)."""

    policy_type: PolicyType
    kind: ReasonKind
    policy: Policy | None = None
    statement: Statement | None = None
    level: int | None = None  # SCP/RCP level, 0 = organization root
    policy_index: int | None = None  # position within its list (or level)
    rule: ServiceRule | None = None

    @property
    def sort_key(self) -> tuple[int, ...]:
        """Explicit denies first, then missing allows; each in AWS's evaluation order."""
        return (
            0 if self.kind == ReasonKind.EXPLICIT_DENY else 1,
            _TYPE_RANK[self.policy_type],
            self.level or 0,
            self.policy_index or 0,
            self.statement.index if self.statement else 0,
        )


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The decision and its reasons, already ordered by ``Reason.sort_key``.

    ``keys_read``: the request-context keys the evaluation may have read (those of every
    statement covering the action, in every policy it scanned); a request differing from
    this one only in other keys is decided the same, for the same reasons. None when the
    evaluation was not the engine's walk of the policies (AWS's message, a reduced one)."""

    decision: Decision
    reasons: tuple[Reason, ...] = ()
    keys_read: frozenset[str] | None = None

    @property
    def denied_by(self) -> tuple[PolicyType, ...]:
        """Policy types that deny, explicit denies first, each in evaluation order."""
        ordered: list[PolicyType] = []
        for reason in self.reasons:
            if reason.policy_type not in ordered:
                ordered.append(reason.policy_type)
        return tuple(ordered)


_TYPE_RANK = {policy_type: rank for rank, policy_type in enumerate(PolicyType)}
