"""From an engine evaluation to an explanation a person can act on.

``explain`` names every reason with its policy, attachment target and
statement, picks the AssessmentResult the original tool would print (an
explicit deny outranks a missing allow, each in AWS's evaluation order),
proposes least-privilege fixes and re-verifies them, lists the condition keys
the decision depended on that the request did not carry, and compares the
result with what AWS's own error message said. Cross-account access to a resource
that takes no resource-based policy (``analyzer.actions.takes_resource_policy``: an
EC2 instance, an IAM user) is never fixed by a statement on the resource: the fix
creates a role of the resource's account for the caller to assume, each hop re-verified.

When part of the policies is unknown (``AppliedPolicies.unknown``), only the
reasons the known policies settle are kept (an explicit deny anywhere known; a
missing allow of a policy type that is fully known and that nothing unknown
could make up for, or at an SCP/RCP level whose policies were all read). If none is
left, AWS's own message decides when it names the policy type; otherwise the explanation
is undecided (``Error``) and lists what is missing. It is never ``Allowed`` while a
policy that could deny is unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING

from analyzer.actions import action_resource_formats, takes_resource_policy
from analyzer.arn import Arn
from analyzer.engine.evaluation import Scans, evaluate, organization_policies_apply
from analyzer.engine.model import (
    Decision,
    Evaluation,
    PolicySet,
    PolicyType,
    Reason,
    ReasonKind,
    Request,
)
from analyzer.engine.policy import Effect, Policy, Statement, parse_policy
from analyzer.engine.principals import PrincipalKind, parse_principal
from analyzer.engine.service_rules import permission_set_of, permission_set_role_pattern, rules_denying
from analyzer.explain.probes import as_principal
from analyzer.explain.registry import ReasonInfo, code_for, reason_info
from analyzer.explain.remediation import (
    DenyEdit,
    Fix,
    Proposal,
    Verification,
    apply,
    deny_edit,
    least_privilege,
    resource_fits_action,
    statement_for,
    verify,
)
from analyzer.snapshot.applied import AppliedPolicies, level_policies

if TYPE_CHECKING:
    from analyzer.events.messages import DenialHint
    from analyzer.snapshot.applied import Attachment, Unknown


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason, with its code and where the policy is attached (when known)."""

    reason: Reason
    code: str
    attachment: Attachment | None = None

    @property
    def info(self) -> ReasonInfo:
        return reason_info(self.code)


@dataclass(frozen=True, slots=True)
class Explanation:
    request: Request
    evaluation: Evaluation
    code: str
    findings: tuple[Finding, ...]
    fix: Fix
    missing_context_keys: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    unknown: tuple[Unknown, ...] = ()  # parts of the policies that could not be read
    from_message: bool = False  # the reasons are AWS's message's, not a local evaluation

    @property
    def decided(self) -> bool:
        return self.code != "ERROR"

    @property
    def assessment_result(self) -> str:
        return reason_info(self.code).assessment_result

    @property
    def primary(self) -> Finding | None:
        return self.findings[0] if self.findings else None


# Said of a fix re-evaluated without the policies that could not be read, which may still
# deny it.
VERIFIED_AGAINST_KNOWN_ONLY = "the proposed policies were verified against the known policies only"


def identity_arn(request: Request) -> str | None:
    """The ARN an identity policy attaches to: the role of a session, else the caller."""
    principal = request.principal
    if principal.kind == PrincipalKind.ASSUMED_ROLE:
        return f"arn:{principal.partition}:iam::{principal.account}:role/{principal.name}"
    if principal.kind in (
        PrincipalKind.USER,
        PrincipalKind.ROLE,
        PrincipalKind.FEDERATED_USER,
        PrincipalKind.ROOT,
    ):
        return principal.arn
    return None


def _is_cross_account(request: Request) -> bool:
    owner, account = request.owning_account, request.principal.account
    return owner is not None and account is not None and owner != account


# A missing resource-policy allow that no statement on the resource could supply.
NO_RESOURCE_POLICY = "NO_RESOURCE_POLICY_CROSS_ACCOUNT"


def _no_resource_policy(reason: Reason, request: Request, policies: PolicySet) -> bool:
    """Cross-account access lacks the resource policy's allow, and the resource takes no
    resource-based policy that could grant it (``takes_resource_policy``: an EC2 instance,
    an IAM user). A resource the policies show with a policy of its own takes one, whatever
    the list says."""
    return (
        reason.policy_type == PolicyType.RESOURCE
        and reason.kind == ReasonKind.MISSING_ALLOW
        and policies.resource is None
        and _is_cross_account(request)
        and not takes_resource_policy(request.action, request.resource)
    )


def _finding_code(reason: Reason, request: Request, policies: PolicySet) -> str:
    if reason.rule is not None:
        return reason.rule.code
    if _no_resource_policy(reason, request, policies):
        return NO_RESOURCE_POLICY
    if reason.policy_type == PolicyType.RESOURCE and reason.kind == ReasonKind.MISSING_ALLOW:
        return (
            "NO_ALLOW_RESOURCE_CROSS_ACCOUNT" if _is_cross_account(request) else "NO_ALLOW_RESOURCE_REQUIRED"
        )
    return code_for(reason.policy_type, reason.kind == ReasonKind.EXPLICIT_DENY)


def overall_code(evaluation: Evaluation, request: Request, policies: PolicySet) -> str:
    """The single code behind AssessmentResult (reasons are already in AWS's order)."""
    if evaluation.decision == Decision.ALLOWED:
        return "ALLOWED"
    missing = {r.policy_type for r in evaluation.reasons if r.kind == ReasonKind.MISSING_ALLOW}
    first = evaluation.reasons[0]
    if (
        first.kind == ReasonKind.MISSING_ALLOW
        and _is_cross_account(request)
        and {PolicyType.IDENTITY, PolicyType.RESOURCE} <= missing
        and not missing & {PolicyType.SCP, PolicyType.RCP}
    ):
        return "NO_ALLOW_IDENTITY_AND_RESOURCE_CROSS_ACCOUNT"
    return _finding_code(first, request, policies)


def _attachment(applied: AppliedPolicies | None, reason: Reason) -> Attachment | None:
    """The attachment of the denying policy; for a missing allow, of the policy that
    lacks it (boundary, key/trust/bucket policy, an SCP/RCP level) — none for identity
    policies, where the allow is missing from all of them."""
    if applied is None:
        return None
    if reason.kind == ReasonKind.MISSING_ALLOW and reason.policy_type == PolicyType.IDENTITY:
        return None
    if reason.policy is not None:
        found = applied.attachment_for(reason.policy)
        if found is not None:
            return found
    return applied.attachment_at(reason.policy_type, reason.level, reason.policy_index)


def _level_target(applied: AppliedPolicies | None, policy_type: PolicyType, level: int | None) -> str:
    if applied is None or level is None:
        return f"{policy_type} level {level}"
    targets = applied.level_targets(policy_type)
    return targets[level] if level < len(targets) and targets[level] else f"level {level}"


def _proposal(
    reason: Reason, request: Request, applied: AppliedPolicies | None, principal_arn: str | None
) -> Proposal | None:
    formats = action_resource_formats(request.action)
    fits = bool(formats) and resource_fits_action(request.resource, tuple(f.arn for f in formats))
    policy_type = reason.policy_type
    statement = statement_for(policy_type, request, principal_arn, fits)
    note = None
    if formats and not fits and request.resource != "*":
        note = (
            f"{request.resource} matches none of {request.action}'s resource types "
            f"({', '.join(f.resource_type for f in formats)}); the statement uses '*'"
        )
    if policy_type in (PolicyType.IDENTITY, PolicyType.PERMISSIONS_BOUNDARY):
        boundary = applied.permissions_boundary if applied else None
        target = principal_arn or request.principal.arn
        note = _joined(note, _managed_role_note(target))
        return Proposal(
            policy_type,
            target,
            statement,
            policy_arn=boundary.policy_arn
            if boundary and policy_type == PolicyType.PERMISSIONS_BOUNDARY
            else None,
            note=note,
        )
    if policy_type == PolicyType.SESSION:
        return Proposal(policy_type, request.principal.arn, statement, note=note)
    if policy_type == PolicyType.RESOURCE:
        target = applied.resource.target if applied and applied.resource else _policy_holder(request.resource)
        names_role = statement.get("Principal") == {"AWS": principal_arn}  # not by a pattern
        if principal_arn and names_role:
            note = _joined(note, _permission_set_role_note(principal_arn))
        return Proposal(policy_type, target, statement, note=note)
    if policy_type in (PolicyType.SCP, PolicyType.RCP):
        return Proposal(
            policy_type,
            _level_target(applied, policy_type, reason.level),
            statement,
            level=reason.level,
            note=note,
        )
    if policy_type == PolicyType.ENDPOINT:
        endpoint = request.context.get("aws:sourcevpce")
        return Proposal(
            policy_type, endpoint if isinstance(endpoint, str) else "vpc-endpoint", statement, note=note
        )
    return None


def _policy_holder(resource: str) -> str:
    """Where a resource policy for ``resource`` goes when it has none yet: an object's
    statement goes in its bucket's policy."""
    parsed = Arn.parse(resource)
    return str(parsed.policy_holder) if parsed is not None else resource


def _joined(note: str | None, more: str | None) -> str | None:
    """A proposal's notes, one after the other."""
    return "; ".join(filter(None, (note, more))) or None


def _permission_set_role_note(principal_arn: str) -> str | None:
    """For a statement naming an IAM Identity Center role as its principal: the role's ARN
    changes when Identity Center re-creates it (a new suffix once every assignment of the
    permission set to the account was removed and one is made again), which leaves the
    statement naming a role that no longer exists (AWS, "Referencing permission sets in
    resource policies")."""
    permission_set = permission_set_of(principal_arn)
    pattern = permission_set_role_pattern(principal_arn)
    if permission_set is None or pattern is None:
        return None
    return (
        f"the Principal is the role Identity Center made for permission set {permission_set}; "
        "if Identity Center re-creates it (new suffix), the statement stops matching: AWS "
        "suggests naming the account as Principal with a Condition ArnLike aws:PrincipalArn "
        f"{pattern}"
    )


@lru_cache(maxsize=4096)
def _role_edit_rules(target: str) -> frozenset[str]:
    """The codes of AWS's fixed rules (``service_rules``) that deny the account's
    administrator adding a statement to the role ``target``; none for other principals.
    Asked for every identity-policy proposal, of a few hundred principals a night:
    answered once each."""
    arn = Arn.parse(target)
    if arn is None or arn.service != "iam" or arn.resource_type != "role":
        return frozenset()
    administrator = parse_principal(f"arn:{arn.partition}:iam::{arn.account_id}:root")
    return frozenset(rule.code for rule in rules_denying(administrator, "iam:PutRolePolicy", target))


def _takes_no_statement(proposal: Proposal) -> bool:
    """Whether ``proposal`` adds to the policies of a service-linked role, which only its
    service defines: it cannot be applied (``_managed_role_note`` says what decides instead)."""
    return proposal.policy_type in (
        PolicyType.IDENTITY,
        PolicyType.PERMISSIONS_BOUNDARY,
    ) and "AWS_RULE_SERVICE_LINKED_ROLE" in _role_edit_rules(proposal.target_arn)


def _managed_role_note(target: str) -> str | None:
    """Where a statement for ``target`` must go instead when AWS's fixed rules forbid
    changing the role itself: an IAM Identity Center role takes it through its permission
    set, whose change reaches every account the set is assigned to; a service-linked role
    takes none."""
    codes = _role_edit_rules(target)
    name = target.rsplit("/", 1)[-1]
    if "AWS_RULE_RESERVED_ROLE" in codes:
        found = permission_set_of(target)
        permission_set = f"permission set {found}" if found else "its permission set"
        return (
            f"{name} is an IAM Identity Center role that only Identity Center changes: add the "
            f"statement to the inline policy of {permission_set} (from the management or "
            "delegated administrator account); it then applies in every account the permission "
            "set is assigned to, so keep its Resource to this account's resources"
        )
    if "AWS_RULE_SERVICE_LINKED_ROLE" in codes:
        return (
            f"{name} is a service-linked role whose policies only its service defines: no "
            "statement can be added to it; the service's own configuration decides what it may do"
        )
    return None


@dataclass(frozen=True, slots=True)
class _RoleRoute:
    """Access through a role of the resource's account, for a resource that takes no
    resource-based policy: the statements to add, and what re-evaluating both hops showed."""

    role_arn: str
    proposals: tuple[Proposal, ...]
    verification: Verification


# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html: role names
_ROLE_NAME_LIMIT = 64


def _route_role_arn(request: Request, principal_arn: str) -> str:
    """A role of the resource's account to create for the caller: named after the caller and
    its account, so that it is a new role for this purpose, not an existing one (a trust
    statement on a role that already exists would hand over all that role may do). An
    Identity Center caller gives its permission set's name: names starting AWSReservedSSO_
    are Identity Center's own, and the role to create is not one of them."""
    caller = Arn.parse(principal_arn)
    name = caller.resource.rsplit("/", 1)[-1] if caller and caller.resource else "caller"
    name = permission_set_of(principal_arn) or name.removeprefix("AWSReservedSSO_")
    suffix = f"-from-{caller.account_id}" if caller and caller.account_id else ""
    role_name = name[: _ROLE_NAME_LIMIT - len(suffix)] + suffix
    return f"arn:{request.principal.partition}:iam::{request.owning_account}:role/{role_name}"


def _through_role(
    request: Request,
    policies: PolicySet,
    rcp_services: frozenset[str],
    applied: AppliedPolicies | None,
    principal_arn: str,
    unknown: tuple[Unknown, ...],
) -> _RoleRoute:
    """The least-privilege way in when no resource policy can grant ``request``: the caller
    may call sts:AssumeRole on a role of the resource's account (its own policies, as they
    are, decide that hop; the role's trust policy is new), and the role may make the request
    (its identity policy is new; the resource account's RCPs and the request's VPC endpoint
    still apply). Each hop's missing allows become proposals, as for any request, and each
    hop is re-evaluated with them, least privilege included; verified only when both pass.
    The role is governed by the SCPs of the resource's account, which ``applied`` carries
    (``resource_account_scp``); where they are not known the second hop is evaluated
    without them (``_route_scp_note`` says so). What a hop's policies leave unknown (the
    request's ``unknown`` parts that apply to it, the resource account's unread SCPs) is
    treated as for the request itself (``_settled``, ``_verified``): a level that was not
    read in full gets no statement, and the route is verified against the known policies only."""
    role_arn = _route_role_arn(request, principal_arn)
    owner = request.owning_account
    assume = replace(request, action="sts:AssumeRole", resource=role_arn, resource_account=owner)
    act = replace(as_principal(request, role_arn), resource_account=owner)
    # The role's own organization levels, so that a statement for one names its node.
    role_applied = (
        None if applied is None else AppliedPolicies(scp=applied.resource_account_scp, rcp=applied.rcp)
    )
    role_policies = PolicySet(
        scp=level_policies(role_applied.scp) if role_applied is not None else None,
        rcp=policies.rcp,
        endpoint=policies.endpoint,
    )
    role_unknown = (
        *(part for part in unknown if part.policy_type in (PolicyType.RCP, PolicyType.ENDPOINT)),
        *(applied.resource_account_scp_unknown if applied is not None else ()),
    )
    hops = (
        (assume, replace(policies, resource=None), applied, principal_arn, unknown),
        (act, role_policies, role_applied, role_arn, role_unknown),
    )
    proposals: list[Proposal] = []
    checks: list[Verification] = []
    for hop, hop_policies, hop_applied, hop_principal, hop_unknown in hops:
        scans = Scans(hop)
        evaluation = evaluate(hop, hop_policies, rcp_services, scans)
        settled = _settled(evaluation, hop, hop_unknown, hop_policies) or Evaluation(Decision.ALLOWED)
        added = tuple(
            proposal
            for reason in settled.reasons
            if reason.kind == ReasonKind.MISSING_ALLOW
            and (proposal := _proposal(reason, hop, hop_applied, hop_principal)) is not None
        )
        proposals.extend(added)
        if settled.decision == Decision.EXPLICITLY_DENIED:
            denied_by = ", ".join(
                dict.fromkeys(
                    str(reason.policy_type)
                    for reason in settled.reasons
                    if reason.kind == ReasonKind.EXPLICIT_DENY
                )
            )
            checks.append(
                Verification(
                    False,
                    f"not verified: {hop.action} on {hop.resource} is explicitly denied "
                    f"({denied_by}), which no added statement lifts",
                )
            )
        else:
            checks.append(
                _verified(hop, hop_policies, added, rcp_services, hop_unknown, hop_principal, scans)
            )
    failed = next((check for check in checks if not check.verified), None)
    not_known = (*unknown, *role_unknown)
    verification = failed or Verification(
        True,
        ("verified against the known policies only" if not_known else "verified")
        + f": re-evaluated with the proposed policies, {principal_arn} may assume "
        f"{role_arn} and the role is allowed {request.action} on {request.resource}; no "
        "sampled other principal, action or resource gains access"
        + (f"; not known: {_missing(not_known)}" if not_known else ""),
    )
    return _RoleRoute(role_arn, tuple(proposals), verification)


def _route_scp_note(request: Request, applied: AppliedPolicies | None, role_arn: str) -> str | None:
    """Where the role route's second hop was evaluated without the SCPs of the resource's
    account, say so and why; None when they were known (or none apply)."""
    if applied is not None and applied.resource_account == request.owning_account:
        if not applied.resource_account_scp_unknown:
            return None
        why = "; ".join(unknown.reason for unknown in applied.resource_account_scp_unknown)
        return (
            f"the SCPs of account {request.owning_account} could not be read ({why}): "
            f"check that they allow {request.action} for {role_arn}"
        )
    return (
        f"the SCPs of account {request.owning_account} are not among this request's "
        f"policies: check that they allow {request.action} for {role_arn}"
    )


def _no_resource_policy_note(request: Request, principal_arn: str | None, role_arn: str | None) -> str:
    """What the caller needs instead of a resource policy statement, in words."""
    arn = Arn.parse(request.resource)
    kind = f"{arn.service} resources of type {arn.resource_type or arn.resource}" if arn else "such resources"
    if arn is not None and arn.service == "iam" and arn.resource_type == "role":
        why = f"an IAM role's trust policy grants only assuming the role, not {request.action}"
    else:
        why = f"{kind} take no resource-based policy"
    note = (
        f"No resource-based policy can let another account's principal {request.action} "
        f"{request.resource}: {why}. Access needs a principal of account {request.owning_account}"
    )
    if role_arn is None or principal_arn is None:
        return note + ", or a sharing mechanism the service offers for this resource type."
    return (
        f"{note}: the policies to add create role {role_arn} there (any new role name will do), "
        f"allowed {request.action} on the resource, whose trust policy lets {principal_arn} "
        f"assume it, and let {principal_arn} call sts:AssumeRole on it; then make the request "
        "with the role's credentials. A sharing mechanism the service offers for this resource "
        "type (for example AWS RAM) is the other way."
    )


def _missing_context_keys(request: Request, policies: PolicySet) -> tuple[str, ...]:
    """Condition keys of statements that cover this action and resource but that the
    request context does not carry: the decision rests on their absence."""
    action = request.action.lower()
    missing: dict[str, None] = {}
    for policy in _all_policies(policies):
        for statement in policy.statements_for(action):
            if not statement.matches_resource(request.resource, request.context):
                continue
            for condition in statement.conditions:
                if condition.key not in request.context:
                    missing[condition.operator_text + " " + condition.key] = None
    return tuple(missing)


def _all_policies(policies: PolicySet) -> Iterable[Policy]:
    yield from policies.identity
    for single in (policies.permissions_boundary, policies.resource, policies.endpoint):
        if single is not None:
            yield single
    yield from policies.session or ()
    for levels in (policies.scp or (), policies.rcp or ()):
        for level in levels:
            yield from level


def _tests_unknown_key(statement: Statement, request: Request, unknown: tuple[Unknown, ...]) -> bool:
    """Whether ``statement`` tests a condition key the request lacks only because an unknown
    part would have supplied it (``Unknown.context_keys``): its verdict is then a guess."""
    return any(
        condition.key not in request.context and any(part.depends_on(condition.key) for part in unknown)
        for condition in statement.conditions
    )


def _policies_of(policies: PolicySet, policy_type: PolicyType) -> Iterable[Policy]:
    if policy_type == PolicyType.IDENTITY:
        return policies.identity
    if policy_type in (PolicyType.SCP, PolicyType.RCP):
        levels = policies.scp if policy_type == PolicyType.SCP else policies.rcp
        return [policy for level in levels or () for policy in level]
    if policy_type == PolicyType.SESSION:
        return policies.session or ()
    single = {
        PolicyType.PERMISSIONS_BOUNDARY: policies.permissions_boundary,
        PolicyType.RESOURCE: policies.resource,
        PolicyType.ENDPOINT: policies.endpoint,
    }.get(policy_type)
    return () if single is None else (single,)


def _settled(
    evaluation: Evaluation, request: Request, unknown: tuple[Unknown, ...], policies: PolicySet
) -> Evaluation | None:
    """The evaluation reduced to the reasons the known policies settle, or None when
    nothing known decides the request.

    An explicit deny stands, unless its statement tests a condition key whose value is
    unknown (``aws:SourceVpc`` of an endpoint not in the snapshot, an unreadable
    organization's ids, the tags of a caller not in it). A missing allow stands when its
    policy type is fully known, none of its Allow statements for the action tests such a
    key, and no unknown policy could supply the allow: identity, boundary and session
    allows can come from a same-account resource policy, so they stand in-account only
    when the resource policy is known. Every SCP (RCP) level must allow on its own, so a
    missing allow at a level whose node's policies were all read stands while another level
    is unknown (``Unknown.levels``: a level read in part is unknown, since the policy not read
    may be the one that allows; "How SCPs work with Allow":
    https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_evaluation.html).
    """
    if not unknown:
        return evaluation
    unknown_types = {part.policy_type for part in unknown}
    if PolicyType.IDENTITY in unknown_types:
        unknown_types.add(PolicyType.PERMISSIONS_BOUNDARY)
    resource_known = PolicyType.RESOURCE not in unknown_types
    action = request.action.lower()

    def guessed_allow(policy_type: PolicyType) -> bool:
        return any(
            statement.effect == Effect.ALLOW and _tests_unknown_key(statement, request, unknown)
            for policy in _policies_of(policies, policy_type)
            for statement in policy.statements_for(action)
        )

    def stands(reason: Reason) -> bool:
        if reason.kind == ReasonKind.EXPLICIT_DENY:
            return reason.statement is None or not _tests_unknown_key(reason.statement, request, unknown)
        if guessed_allow(reason.policy_type):
            return False
        if reason.policy_type in (PolicyType.SCP, PolicyType.RCP) and reason.policy_type in unknown_types:
            level = reason.level
            return level is not None and not any(
                part.hides_level(level) for part in unknown if part.policy_type == reason.policy_type
            )
        if reason.policy_type in unknown_types:
            return False
        if reason.policy_type in (PolicyType.IDENTITY, PolicyType.PERMISSIONS_BOUNDARY, PolicyType.SESSION):
            return resource_known or _is_cross_account(request)
        return True

    reasons = tuple(reason for reason in evaluation.reasons if stands(reason))
    if not reasons:
        return None
    explicit = any(reason.kind == ReasonKind.EXPLICIT_DENY for reason in reasons)
    return Evaluation(Decision.EXPLICITLY_DENIED if explicit else Decision.IMPLICITLY_DENIED, reasons)


def message_evaluation(hint: DenialHint | None) -> Evaluation | None:
    """AWS's own verdict as an evaluation, when its message names the policy type and
    whether it was an explicit deny (the policy itself, if named, has no statements)."""
    if hint is None or hint.policy_type is None or hint.explicit is None:
        return None
    policy = None
    if hint.policy_arn:
        policy = parse_policy(
            {"Version": "2012-10-17", "Statement": []},
            arn=hint.policy_arn,
            name=hint.policy_arn.rsplit("/", 1)[-1],
            where="AWS's error message",
        )
    kind = ReasonKind.EXPLICIT_DENY if hint.explicit else ReasonKind.MISSING_ALLOW
    return Evaluation(
        Decision.EXPLICITLY_DENIED if hint.explicit else Decision.IMPLICITLY_DENIED,
        (Reason(hint.policy_type, kind, policy),),
    )


def _verified(
    request: Request,
    policies: PolicySet,
    proposals: tuple[Proposal, ...],
    rcp_services: frozenset[str],
    unknown: tuple[Unknown, ...],
    principal_arn: str | None,
    scans: Scans,
) -> Verification:
    """Whether the proposals make the request allowed and stay least privilege; with
    unknown parts, whether they leave nothing the known policies still deny."""
    if not unknown:
        return verify(request, policies, proposals, rcp_services, principal_arn, scans)
    applied = policies
    for proposal in proposals:
        applied = apply(applied, proposal)
    after = evaluate(request, applied, rcp_services, scans)
    if after.decision != Decision.ALLOWED and _settled(after, request, unknown, applied) is not None:
        return Verification(
            False,
            "not verified: re-evaluated with the proposed policies, "
            "the known policies still deny the request",
        )
    checked = least_privilege(request, policies, proposals, principal_arn)
    if not checked.verified:
        return checked
    # Said as what it is: the unknown parts may still deny, or lack an allow it needs.
    return Verification(
        True,
        "verified against the known policies only: re-evaluated with the proposed policies, "
        "none of them denies the request, and no sampled other principal, action or resource "
        f"gains access; not known: {_missing(unknown)}",
    )


def _missing(unknown: tuple[Unknown, ...]) -> str:
    """The unknown parts by name (``UnknownPolicies`` says why and what to collect)."""
    return "; ".join(dict.fromkeys(part.missing for part in unknown))


def _undecided_note(unknown: tuple[Unknown, ...]) -> str:
    return "the known policies do not decide this request; unknown: " + "; ".join(
        str(part) for part in unknown
    )


def _unknown_keys_note(request: Request, policies: PolicySet, unknown: tuple[Unknown, ...]) -> str | None:
    """Name the condition keys the known statements for this action test but whose values
    are unknown, so a reader sees why a deny or allow that seems to apply was not trusted."""
    keys = {
        condition.key: part.missing
        for policy in _all_policies(policies)
        for statement in policy.statements_for(request.action.lower())
        for condition in statement.conditions
        if condition.key not in request.context
        for part in unknown
        if part.depends_on(condition.key)
    }
    if not keys:
        return None
    return "statements for this request test " + "; ".join(
        f"{key}, unknown with the {missing}" for key, missing in sorted(keys.items())
    )


def _hint_note(hint: DenialHint | None, evaluation: Evaluation) -> str | None:
    """Say so when AWS's own message disagrees with the local result."""
    if hint is None or hint.policy_type is None:
        return None
    ours = set(evaluation.denied_by)
    if evaluation.decision == Decision.ALLOWED:
        return (
            f"AWS's message blames the {hint.policy_type} policy, but the current policies "
            "allow the request: the policies probably changed since the event"
        )
    if hint.policy_type not in ours:
        return (
            f"AWS's message blames the {hint.policy_type} policy; the local evaluation "
            f"found {', '.join(sorted(ours))}"
        )
    if hint.explicit is not None and hint.explicit != (evaluation.decision == Decision.EXPLICITLY_DENIED):
        kind = "an explicit deny" if hint.explicit else "a missing allow"
        return f"AWS's message reports {kind}; the local evaluation found {evaluation.decision}"
    return None


def explain(
    request: Request,
    policies: PolicySet,
    rcp_services: frozenset[str],
    *,
    applied: AppliedPolicies | None = None,
    hint: DenialHint | None = None,
    principal_arn: str | None = None,
    warnings: Iterable[str] = (),
    propose_fixes: bool = True,
) -> Explanation:
    """Evaluate ``request`` and explain the result (see module docstring).

    ``applied`` supplies attachment targets (from the snapshot) and the parts that
    could not be read; ``principal_arn`` is where an identity fix attaches (the role
    of a session, by default derived from the session ARN); ``warnings`` are gaps
    the snapshot reported. Without ``propose_fixes`` the explanation has its decision
    and reasons but no fix: for callers that only compare decisions (the policy
    history's search for the change behind a denial), since proposing and verifying a
    fix is most of an explanation's cost.
    """
    unknown = tuple(
        part
        for part in (applied.unknown if applied is not None else ())
        # Unreadable SCPs or RCPs that could not limit this request leave nothing unknown.
        if part.policy_type not in (PolicyType.SCP, PolicyType.RCP)
        or organization_policies_apply(part.policy_type, request, rcp_services)
    )
    scans = Scans(request)  # the fix's re-evaluation scans the unchanged policies again
    evaluation = evaluate(request, policies, rcp_services, scans)
    settled = _settled(evaluation, request, unknown, policies)
    notes = [*warnings]
    if unknown and (keys_note := _unknown_keys_note(request, policies, unknown)):
        notes.append(keys_note)
    from_message = False
    if settled is None:
        settled = message_evaluation(hint)
        from_message = settled is not None
        if from_message:
            notes.append(
                "the result is what AWS's own error message says: the policies that would show it are unknown"
            )
    if settled is None:
        notes.append(_undecided_note(unknown))
        return Explanation(
            request=request,
            evaluation=Evaluation(Decision.IMPLICITLY_DENIED),
            code="ERROR",
            findings=(),
            fix=Fix(),
            notes=tuple(dict.fromkeys(notes)),
            unknown=unknown,
        )
    evaluation = settled
    principal_arn = principal_arn or identity_arn(request)
    findings = tuple(
        Finding(r, _finding_code(r, request, policies), _attachment(applied, r)) for r in evaluation.reasons
    )
    hint_note = None if from_message else _hint_note(hint, evaluation)
    if hint_note:
        notes.append(hint_note)

    proposals: list[Proposal] = []
    edits: list[DenyEdit] = []
    rules = [(finding, rule) for finding in findings if (rule := finding.reason.rule)]
    for finding, rule in rules:
        notes.append(
            f"{finding.info.title}: AWS denies {request.action} on {request.resource} "
            f"whatever the policies say ({rule.documentation}), so no "
            "policy edit is proposed. " + finding.info.remediation
        )
    # No statement on the resource can supply its missing allow: adding the caller's other
    # missing allows for this request would not help either, so the fix goes through a role.
    no_policy = not rules and any(finding.code == NO_RESOURCE_POLICY for finding in findings)
    for finding in () if rules or not propose_fixes else findings:
        reason = finding.reason
        if reason.kind == ReasonKind.MISSING_ALLOW:
            proposal = None if no_policy else _proposal(reason, request, applied, principal_arn)
            if proposal is not None:
                if not _takes_no_statement(proposal):
                    proposals.append(proposal)
                if proposal.note:
                    notes.append(proposal.note)
        elif reason.statement is not None and principal_arn:
            edits.append(deny_edit(request, policies, reason, principal_arn))
    verification = None
    route = None
    if no_policy and propose_fixes and principal_arn and evaluation.decision == Decision.IMPLICITLY_DENIED:
        route = _through_role(request, policies, rcp_services, applied, principal_arn, unknown)
        proposals.extend(route.proposals)
        notes.extend(proposal.note for proposal in route.proposals if proposal.note)
    if no_policy:
        notes.append(_no_resource_policy_note(request, principal_arn, route.role_arn if route else None))
    if route is not None and (scp_note := _route_scp_note(request, applied, route.role_arn)):
        notes.append(scp_note)
    if route is not None and not from_message:
        verification = route.verification
    elif proposals and evaluation.decision == Decision.IMPLICITLY_DENIED and not from_message:
        verification = _verified(
            request, policies, tuple(proposals), rcp_services, unknown, principal_arn, scans
        )
    if verification is not None:
        if verification.verified and unknown:
            notes.append(f"{VERIFIED_AGAINST_KNOWN_ONLY}; not known, may still deny: {_missing(unknown)}")
        if not verification.verified:
            notes.append(f"the proposed policies are {verification.check}; review them before applying")
    if evaluation.decision == Decision.ALLOWED:
        notes.append(
            "no reason found under the current policies: they may have changed since "
            "the event, or the decision depends on something not in the snapshot "
            "(session policies, an endpoint policy it lacks, unknown condition values)"
        )
    return Explanation(
        request=request,
        evaluation=evaluation,
        code=overall_code(evaluation, request, policies),
        findings=findings,
        fix=Fix(
            tuple(proposals),
            tuple(edits),
            None if verification is None else verification.verified,
            None if verification is None else verification.check,
            via_role=route.role_arn if route else None,
        ),
        missing_context_keys=_missing_context_keys(request, policies),
        notes=tuple(dict.fromkeys(notes)),
        unknown=unknown,
        from_message=from_message,
    )
