"""Which policies apply to a request: fast lookups over a snapshot (or a live source).

``PolicyResolver.policies_for(principal, resource_arn, resource_account, action)``
returns ``AppliedPolicies``: the engine's ``PolicySet`` plus, for every policy in
it, an ``Attachment`` saying where it is attached (user, role, group, OU, root,
account or resource), the principal's tags and warnings about what the data
could not tell.

The resolver reads through a ``PolicySource`` (a loaded ``Snapshot`` or the live
boto3 source in ``analyzer.collectors.live``); indexes and parsed policies are
built once per account and cached, and are safe to share between threads.

How the pieces map to AWS's evaluation
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):

* identity: the user's inline and managed policies plus those of its groups;
  for a role session (``assumed-role``) the role's policies;
* permissions boundary: the managed policy named by ``PermissionsBoundary``;
* SCPs: one level per node from the root down to the principal's account
  (the account's own SCPs are the last level); ``None`` for the management
  account, for principals outside AWS accounts and when the organization uses no SCPs;
* RCPs: likewise for the *resource's* account; ``None`` when no RCP is in use;
* resource: the bucket policy for buckets and objects, the key policy (also
  through an alias), the queue/topic/secret/repository/function policy, and the
  role trust policy for ``sts:AssumeRole*`` on a role.

What applies but cannot be read is not silently left out: it becomes an
``Unknown`` in ``AppliedPolicies.unknown`` (the identity policies of an account
the source does not cover or of a principal it does not hold, the SCPs/RCPs of
an organization it cannot see, a policy the collector could not read), saying
why and how the user can provide it. The explanation then decides only what the
known policies decide.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from analyzer.actions import always_has_resource_policy, resource_policy_name, takes_resource_policy
from analyzer.arn import Arn
from analyzer.engine.evaluation import TRUST_ACTIONS
from analyzer.engine.model import PolicyType
from analyzer.engine.policy import parse_policy
from analyzer.engine.principals import Principal, PrincipalKind
from analyzer.snapshot.applied import AppliedPolicies, Attachment, TargetType, Unknown, split_findings
from analyzer.snapshot.model import PRIOR_STATE_UNKNOWN, Gap, Snapshot
from analyzer.snapshot.organization import RCP, SCP
from analyzer.snapshot.sources import PolicySource, StaticSource, default_version_document


@dataclass(slots=True)
class _AccountIndex:
    account_id: str
    users: dict[str, Mapping[str, Any]]
    roles: dict[str, Mapping[str, Any]]
    groups: dict[str, Mapping[str, Any]]
    policies: dict[str, Mapping[str, Any]]

    @classmethod
    def build(cls, account_id: str, details: Mapping[str, Any]) -> _AccountIndex:
        def by(key: str, name: str) -> dict[str, Mapping[str, Any]]:
            return {
                str(item[name]).lower(): item
                for item in details.get(key) or ()
                if isinstance(item, dict) and name in item
            }

        return cls(
            account_id,
            by("UserDetailList", "UserName"),
            by("RoleDetailList", "RoleName"),
            by("GroupDetailList", "GroupName"),
            {
                item["Arn"]: item
                for item in details.get("Policies") or ()
                if isinstance(item, dict) and "Arn" in item
            },
        )


def _tags(raw: Mapping[str, Any]) -> Mapping[str, str]:
    return MappingProxyType(
        {
            t["Key"]: str(t.get("Value", ""))
            for t in raw.get("Tags") or ()
            if isinstance(t, dict) and "Key" in t
        }
    )


@dataclass(frozen=True, slots=True)
class _Identity:
    identity: tuple[Attachment, ...]
    boundary: Attachment | None
    tags: Mapping[str, str]
    warnings: tuple[str | Unknown, ...]


# Condition keys AWS sets from what an unknown part would have told (see ``Unknown.context_keys``):
# the caller's tags come with its identity, the organization keys with the organization.
_PRINCIPAL_TAGS = ("aws:principaltag/",)
_PRINCIPAL_ORG = ("aws:principalorgid", "aws:principalorgpaths")
_RESOURCE_ORG = ("aws:resourceorgid", "aws:resourceorgpaths")
# ... and the resource's account with the owner of a bucket no account of the source listed.
_BUCKET_OWNER = ("aws:resourceaccount", *_RESOURCE_ORG)
# The action that names a bucket before it exists: the caller's account will own it ("By
# creating the bucket, you become the bucket owner":
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html).
_CREATE_BUCKET = "s3:createbucket"


class PolicyResolver:
    """Answers ``policies_for`` from a ``PolicySource``; caches per account and per key."""

    def __init__(self, source: PolicySource):
        self.source = source
        self._lock = threading.RLock()
        self._accounts: dict[str, _AccountIndex | None] = {}
        self._cache: dict[tuple[Any, ...], Any] = {}

    # -- caching -------------------------------------------------------------------
    def _cached(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        try:
            return self._cache[key]
        except KeyError:
            pass
        value = build()
        with self._lock:
            return self._cache.setdefault(key, value)

    def _account(self, account_id: str) -> _AccountIndex | None:
        with self._lock:
            if account_id in self._accounts:
                return self._accounts[account_id]
        details = self.source.authorization_details(account_id)
        index = None if details is None else _AccountIndex.build(account_id, details)
        with self._lock:
            return self._accounts.setdefault(account_id, index)

    def _unknown(
        self, policy_type: PolicyType, account_id: str, missing: str, context_keys: tuple[str, ...] = ()
    ) -> Unknown:
        """``missing`` is unknown because the source does not cover ``account_id``."""
        reason, remedy = self.source.unreachable(account_id)
        return Unknown(policy_type, account_id, missing, reason, remedy, context_keys)

    # -- managed policies ----------------------------------------------------------
    def _managed_entry(self, account: _AccountIndex | None, arn: str) -> Mapping[str, Any] | None:
        """A managed policy's entry: the account's, else AWS's own for an AWS managed one
        (which needs no account)."""
        entry = account.policies.get(arn) if account is not None else None
        if entry is None and (parsed := Arn.parse(arn)) is not None and parsed.is_aws_owned:
            entry = self.source.aws_managed_policy(arn)
        return entry

    def _managed(
        self,
        account: _AccountIndex | None,
        arn: str,
        policy_type: PolicyType,
        target: str,
        target_type: TargetType,
        name: str | None,
        warnings: list[str | Unknown],
        account_id: str | None = None,
    ) -> Attachment | None:
        """A managed policy attached to ``target`` (``account`` None: only an AWS managed
        one can be read); what cannot be read is an ``Unknown`` among ``warnings``."""
        entry = self._managed_entry(account, arn)
        document = None if entry is None else default_version_document(entry)
        if entry is None or document is None:
            owner = account.account_id if account is not None else account_id
            # Why, when the source knows: a collector's failed call, or a policy change whose
            # document was never logged (a state rebuilt by --history); else only its absence.
            gap = next((g for g in self.source.gaps_for(owner, "iam") if g.resource == arn), None)
            warnings.append(
                Unknown(
                    policy_type,
                    owner,
                    f"managed policy {arn} attached to {target}",
                    gap.message
                    if gap is not None
                    else f"it is not in {self.source.label} (the collector could not read it)",
                    "give the CloudTrail logs or a snapshot from nearer the event's time"
                    if gap is not None and gap.error == PRIOR_STATE_UNKNOWN
                    else "collect it again with iam:GetPolicy and iam:GetPolicyVersion allowed",
                )
            )
            return None
        policy = parse_policy(
            document,
            where=f"{self.source.label}: managed policy {arn}",
            require_resource=True,
            arn=arn,
            name=entry.get("PolicyName") or name,
            policy_id=entry.get("PolicyId"),
        )
        return Attachment(
            policy,
            policy_type,
            target,
            target_type,
            target,
            arn,
            entry.get("PolicyName") or name,
            entry.get("PolicyId"),
            managed=True,
        )

    def _inline(self, raw: Mapping[str, Any], target: str, target_type: TargetType) -> Attachment:
        name = raw.get("PolicyName")
        policy = parse_policy(
            raw.get("PolicyDocument"),
            where=f"{self.source.label}: inline policy {name!r} of {target}",
            require_resource=True,
            name=name,
        )
        return Attachment(
            policy, PolicyType.IDENTITY, target, target_type, target, None, name, policy.policy_id
        )

    def _attached(
        self,
        account: _AccountIndex,
        raw: Mapping[str, Any],
        inline_key: str,
        target_type: TargetType,
        warnings: list[str | Unknown],
    ) -> list[Attachment]:
        target = raw.get("Arn") or ""
        out = [self._inline(item, target, target_type) for item in raw.get(inline_key) or ()]
        for item in raw.get("AttachedManagedPolicies") or ():
            found = self._managed(
                account,
                item.get("PolicyArn", ""),
                PolicyType.IDENTITY,
                target,
                target_type,
                item.get("PolicyName"),
                warnings,
            )
            if found:
                out.append(found)
        return out

    # -- session policies ----------------------------------------------------------
    def session_policies(
        self,
        session_arn: str,
        account_id: str | None,
        inline: str | None,
        managed_arns: tuple[str, ...],
        origin: str,
    ) -> tuple[tuple[Attachment, ...], tuple[Unknown, ...]]:
        """The session policies a session was created with, as attachments to the session:
        the inline one as logged, the managed ones read from the source (they must be in the
        session's account or AWS managed); what cannot be read is an ``Unknown``.
        ``origin`` names the call that created the session."""
        out: list[Attachment] = []
        unknown: list[str | Unknown] = []
        if inline is not None:
            policy = parse_policy(
                inline,
                where=f"session policy of {session_arn} (passed to {origin})",
                require_resource=True,
                name=f"inline session policy passed to {origin}",
            )
            out.append(
                Attachment(
                    policy,
                    PolicyType.SESSION,
                    session_arn,
                    TargetType.SESSION,
                    session_arn,
                    None,
                    policy.name,
                )
            )
        account = self._account(account_id) if account_id else None
        for arn in managed_arns:
            parsed = Arn.parse(arn)
            if account is None and not (parsed is not None and parsed.is_aws_owned):
                unknown.append(
                    self._unknown(
                        PolicyType.SESSION, account_id or "", f"managed session policy {arn} of {session_arn}"
                    )
                )
                continue
            found = self._managed(
                account,
                arn,
                PolicyType.SESSION,
                session_arn,
                TargetType.SESSION,
                arn.rsplit("/", 1)[-1],
                unknown,
                account_id,
            )
            if found:
                out.append(found)
        return tuple(out), split_findings(unknown)[1]

    # -- identity side ---------------------------------------------------------------
    def _identity(self, principal: Principal) -> _Identity:
        """The principal's identity policies and boundary; what cannot be read becomes an
        ``Unknown`` among the warnings (its account not covered, the principal not in it)."""
        kind = principal.kind
        empty: Mapping[str, str] = MappingProxyType({})
        if kind not in (PrincipalKind.USER, PrincipalKind.ROLE, PrincipalKind.ASSUMED_ROLE):
            if kind == PrincipalKind.FEDERATED_USER:
                return _Identity(
                    (),
                    None,
                    empty,
                    (
                        Unknown(
                            PolicyType.IDENTITY,
                            principal.account,
                            f"identity policies of {principal.arn}",
                            "a federated user's permissions are those of the IAM user that called "
                            "GetFederationToken intersected with the session policy passed to it, "
                            "and that call is not among the events read",
                            "include the CloudTrail holding the GetFederationToken call (analyze --history)",
                        ),
                    ),
                )
            # The root user, services, web identities: no identity policies to read.
            return _Identity((), None, empty, ())
        account_id = principal.account or ""
        what = "user" if kind == PrincipalKind.USER else "role"
        # A session ARN does not carry the role's path: name the role, not an ARN.
        missing = (
            f"identity policies and permissions boundary of {what} {principal.name} in account {account_id}"
        )
        account = self._account(account_id)
        if account is None:
            return _Identity(
                (), None, empty, (self._unknown(PolicyType.IDENTITY, account_id, missing, _PRINCIPAL_TAGS),)
            )
        warnings: list[str | Unknown] = []
        name = (principal.name or "").lower()
        if kind == PrincipalKind.USER:
            raw = account.users.get(name)
            inline_key, target_type = "UserPolicyList", TargetType.USER
        else:
            raw = account.roles.get(name)
            inline_key, target_type = "RolePolicyList", TargetType.ROLE

        def unknown(reason: str, remedy: str) -> _Identity:
            part = Unknown(PolicyType.IDENTITY, account_id, missing, reason, remedy, _PRINCIPAL_TAGS)
            return _Identity((), None, empty, (part,))

        unread = [gap for gap in self.source.gaps_for(account_id, "iam") if gap.resource is None]
        if raw is None and unread:
            # The collector could not read the account's IAM: absent is unread, not deleted.
            return unknown(
                f"account {account_id}'s IAM could not be read into {self.source.label} ("
                + "; ".join(f"{gap.operation} failed: {gap.message}" for gap in unread)
                + ")",
                "collect the account again (snapshot --accounts " + account_id + ")",
            )
        if raw is None:
            return unknown(
                f"{what} {principal.name!r} is not in account {account_id}'s authorization "
                f"details in {self.source.label}: deleted since the event (or created after "
                "the policies were read)",
                "if it still exists, collect the account again; if it was deleted, recreating "
                "it does not restore its old policies",
            )
        held = Arn.parse(str(raw.get("Arn") or ""))
        if held is not None and principal.partition and held.partition != principal.partition:
            # Account numbers are per partition: 111111111111 in aws-cn is not the account of
            # that number in aws, whose policies these are.
            return unknown(
                f"the caller is in partition {principal.partition}, and account "
                f"{account_id}'s policies in {self.source.label} are those of partition "
                f"{held.partition}: another account of the same number",
                f"collect the {principal.partition} account with credentials of that partition",
            )
        attachments = self._attached(account, raw, inline_key, target_type, warnings)
        for group_name in raw.get("GroupList") or ():
            group = account.groups.get(str(group_name).lower())
            if group is None:
                # Its policies apply to the user and may deny: unknown, never taken as none.
                warnings.append(
                    Unknown(
                        PolicyType.IDENTITY,
                        account_id,
                        f"policies of group {group_name} of {raw.get('Arn') or principal.arn}",
                        f"group {group_name!r} is not in account {account_id}'s authorization "
                        f"details in {self.source.label} (created after the policies were read, "
                        "or deleted since)",
                        "collect the account again",
                    )
                )
                continue
            attachments += self._attached(account, group, "GroupPolicyList", TargetType.GROUP, warnings)
        boundary = None
        boundary_arn = (raw.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        if boundary_arn:
            boundary = self._managed(
                account,
                boundary_arn,
                PolicyType.PERMISSIONS_BOUNDARY,
                raw.get("Arn") or "",
                target_type,
                None,
                warnings,
            )
        warnings += [f"gap: {gap}" for gap in self.source.gaps_for(account_id, "iam")]
        return _Identity(tuple(attachments), boundary, _tags(raw), tuple(warnings))

    def _organization_unknown(self) -> tuple[Gap, ...]:
        """Why the organization cannot be seen (empty when the source knows it, or knows
        that there is none)."""
        if self.source.organization() is not None:
            return ()
        return self.source.gaps_for(None, "organizations")

    # -- organization --------------------------------------------------------------
    def is_management_account(self, account_id: str | None) -> bool:
        org = self.source.organization()
        return bool(org and account_id and org.management_account_id == account_id)

    def org_levels(
        self,
        account_id: str | None,
        policy_type: str,
    ) -> tuple[tuple[tuple[Attachment, ...], ...] | None, tuple[str | Unknown, ...]]:
        """SCP or RCP levels for an account (root first) and warnings; None when none apply,
        with an ``Unknown`` when some may apply but cannot be seen."""
        return self._cached(
            ("org", account_id, policy_type), lambda: self._org_levels(account_id, policy_type)
        )

    def _org_levels(self, account_id: str | None, policy_type: str):
        if account_id is None:
            return None, ()
        org = self.source.organization()
        label = "SCPs" if policy_type == SCP else "RCPs"
        engine_type = PolicyType.SCP if policy_type == SCP else PolicyType.RCP
        if org is None:
            gaps = self._organization_unknown()
            if gaps:
                return None, (
                    Unknown(
                        engine_type,
                        account_id,
                        f"{label} of account {account_id}",
                        "the organization cannot be read: " + "; ".join(g.message for g in gaps),
                        "pass --scp-file (from get-scps), or --management-account-role-arn, or a "
                        "--snapshot collected with organization access",
                        # SCPs are read for the caller's account, RCPs for the resource's.
                        _PRINCIPAL_ORG if policy_type == SCP else _RESOURCE_ORG,
                    ),
                )
            if self.source.covers(account_id):
                return None, ()  # a covered account in no organization: no SCPs or RCPs
            return None, (
                Unknown(
                    engine_type,
                    account_id,
                    f"{label} of account {account_id}",
                    f"account {account_id} is not in {self.source.label}: whether an "
                    f"organization's {label} apply to it is unknown",
                    "they are known only to that account's organization",
                ),
            )
        if org.management_account_id == account_id:
            return None, ()
        path = org.path(account_id)
        depth_of = {node.id: depth for depth, node in enumerate(path or ())}
        unread = [
            gap
            for gap in self.source.gaps_for(None, "organizations")
            if gap.resource in depth_of and gap.policy_type in (None, policy_type)
        ]
        incomplete: tuple[Unknown, ...] = ()
        if unread:
            # A node on the account's path whose policies could not all be read (the collector
            # keeps the rest of the tree, and names the node in the gap of a failed
            # ListPoliciesForTarget or DescribePolicy): its level is incomplete, so a missing
            # allow there is unknown, not missing; the policies that were read still deny what
            # they deny, and the levels read in full still decide (``Unknown.levels``).
            why = "; ".join(f"{gap.resource}: {gap.operation} failed ({gap.message})" for gap in unread)
            incomplete = (
                Unknown(
                    engine_type,
                    account_id,
                    f"{label} of account {account_id}",
                    f"the organization's policies on {why}",
                    "collect the organization again (snapshot, or get-scps for --scp-file)",
                    _PRINCIPAL_ORG if policy_type == SCP else _RESOURCE_ORG,
                    levels=tuple(sorted({depth_of[gap.resource] for gap in unread if gap.resource})),
                ),
            )
        if path is None:
            return None, (
                Unknown(
                    engine_type,
                    account_id,
                    f"{label} of account {account_id}",
                    f"account {account_id} is not in the organization {self.source.label} knows: "
                    f"the {label} of its own organization, if it has one, are not visible",
                    "they are known only to that organization's management account",
                ),
            )
        if not org.has_policies(policy_type):
            return None, incomplete
        levels = []
        for depth, node in enumerate(path):
            level = []
            for org_policy in node.of_type(policy_type):
                policy = parse_policy(
                    org_policy.document,
                    require_resource=True,
                    arn=org_policy.arn,
                    name=org_policy.name,
                    policy_id=org_policy.id,
                    where=f"{self.source.label}: {policy_type} {org_policy.id} on {node.id}",
                )
                level.append(
                    Attachment(
                        policy,
                        engine_type,
                        node.id,
                        TargetType(node.kind),
                        node.arn,
                        org_policy.arn,
                        org_policy.name,
                        org_policy.id,
                        managed=True,
                        level=depth,
                        target_name=node.name,
                    )
                )
            levels.append(tuple(level))
        return tuple(levels), incomplete

    # -- resources -----------------------------------------------------------------
    def canonical_resource(self, resource_arn: str) -> str:
        """The ARN AWS evaluates for a resource the event named only in part.

        Events often name an IAM role, user or group by name alone, and a secret by its
        name; AWS matches policies against the full ARN, with the entity's path and the
        secret's random suffix (``role/service-role/App``, ``secret:db-AbC123``). The
        snapshot knows both, and the key a KMS request named by an alias (the mapping's
        ``key/alias/<name>``; AWS authorizes the key). What it does not know stays as the
        event named it: such a key is then unknown, like any key the snapshot lacks.
        """
        return self._cached(("canonical", resource_arn), lambda: self._canonical_resource(resource_arn))

    def _canonical_resource(self, resource_arn: str) -> str:
        parsed = Arn.parse(resource_arn)
        if parsed is None:
            return resource_arn
        service, resource = parsed.service, parsed.resource
        if service == "secretsmanager" and resource.startswith("secret:"):
            return self.source.secret_arn(resource_arn) or resource_arn
        if service == "kms" and resource.startswith("key/alias/"):
            alias = str(parsed.with_resource(resource.removeprefix("key/")))
            return self.source.kms_alias_target(alias) or resource_arn
        kind, _, name = resource.partition("/")
        if service != "iam" or "/" in name or not parsed.account or kind not in ("role", "user", "group"):
            return resource_arn
        account = self._account(parsed.account)
        if account is None:
            return resource_arn
        entities = {"role": account.roles, "user": account.users, "group": account.groups}[kind]
        entry = entities.get(name.lower())
        return str(entry.get("Arn") or resource_arn) if entry else resource_arn

    def aws_managed_resource(self, resource_arn: str) -> bool:
        """Whether the resource is AWS managed, a fact no ARN carries (an AWS managed KMS
        key); ``Request.resource_aws_managed`` takes it to the engine's fixed rules."""
        parsed = Arn.parse(resource_arn)
        if parsed is None or parsed.service != "kms" or parsed.resource_type != "key":
            return False
        return self._cached(("aws-managed", resource_arn), lambda: self.source.aws_managed_key(resource_arn))

    def resource_owner(self, resource_arn: str, resource_account: str | None = None) -> str | None:
        """The resource's account: given, else from the ARN, else (S3) looked up by bucket.
        None for an AWS-owned resource (``arn:aws:iam::aws:policy/...``): it is in no
        customer account, so no account's RCPs apply and the request is not cross-account."""
        if resource_account:
            return resource_account
        parsed = Arn.parse(resource_arn)
        if parsed is None or parsed.is_aws_owned:
            return None
        if parsed.account:
            return parsed.account
        if parsed.bucket is not None:
            return self.source.bucket_account(parsed.bucket)
        return None

    def resource_policy(
        self,
        resource_arn: str,
        action: str = "",
        resource_account: str | None = None,
    ) -> tuple[Attachment | None, tuple[str, ...]]:
        """The resource-based policy that governs ``action`` on ``resource_arn``, and warnings."""
        return self._cached(
            ("resource", resource_arn, action.lower() in TRUST_ACTIONS, resource_account),
            lambda: self._resource_policy(resource_arn, action, resource_account),
        )

    def _resource_policy(self, resource_arn: str, action: str, resource_account: str | None):
        parsed = Arn.parse(resource_arn)
        if parsed is None:
            return None, ()
        service, resource = parsed.service, parsed.resource
        owner = self.resource_owner(resource_arn, resource_account)
        if service == "iam":
            if action.lower() not in TRUST_ACTIONS or not resource.startswith("role/") or not owner:
                return None, ()
            missing = f"trust policy of {resource_arn}"
            account = self._account(owner)
            if account is None:
                return None, (self._unknown(PolicyType.RESOURCE, owner, missing),)
            role = account.roles.get(resource.rsplit("/", 1)[-1].lower())
            if role is None:
                return None, (
                    Unknown(
                        PolicyType.RESOURCE,
                        owner,
                        missing,
                        f"role {resource_arn} is not in {self.source.label}",
                        "collect the account again if the role exists",
                    ),
                )
            role_arn = role.get("Arn") or resource_arn
            trust_name = resource_policy_name(service) or "ResourcePolicy"
            policy = parse_policy(
                role.get("AssumeRolePolicyDocument"),
                name=trust_name,
                arn=f"{role_arn}/{trust_name}",
                where=f"{self.source.label}: trust policy of {resource_arn}",
            )
            return Attachment(
                policy,
                PolicyType.RESOURCE,
                role_arn,
                TargetType.RESOURCE,
                role_arn,
                policy_arn=policy.arn,
                policy_name=trust_name,
            ), ()
        if owner is not None and not self.source.covers(owner):
            if not takes_resource_policy(action, resource_arn):
                return None, ()  # a resource type without resource-based policies
            return None, (self._unknown(PolicyType.RESOURCE, owner, f"resource policy of {resource_arn}"),)
        found = None
        candidates = self._candidates(parsed)
        for candidate in candidates:
            found = self.source.resource_policy(candidate, owner)
            if found is not None:
                break
        # The gaps of this resource or of the whole service: another resource's gap (live
        # mode collects them as events need them) says nothing of this one.
        unread = [gap for gap in self.source.gaps_for(owner, service) if gap.resource in (None, *candidates)]
        gaps = tuple(f"gap: {gap}" for gap in unread)
        if found is None:
            if (unread_region := self._unread_region(parsed, owner, action)) is not None:
                return None, (unread_region,)
            # No policy found: none exists, unless the collector could not read this one
            # (or the service at all), which makes it unknown.
            if unread and takes_resource_policy(action, resource_arn):
                return None, (
                    Unknown(
                        PolicyType.RESOURCE,
                        owner,
                        f"resource policy of {resource_arn}",
                        "it could not be read: " + "; ".join(str(gap) for gap in unread),
                        "allow the collector to read it (README: the IAM policy the tool needs)",
                    ),
                )
            if (
                parsed.bucket is not None
                and owner is not None
                and action.lower() != _CREATE_BUCKET
                and self.source.lists_buckets()
                and self.source.bucket_account(parsed.bucket) != owner
            ):
                # Its owner is known (the event's resources name it), but the owner's bucket
                # list does not hold it: the snapshot never saw the bucket, nor its policy.
                return None, (
                    Unknown(
                        PolicyType.RESOURCE,
                        owner,
                        f"resource policy of {resource_arn}",
                        f"bucket {parsed.bucket} is not in the bucket list of account {owner} in "
                        f"{self.source.label} (created after the snapshot, or deleted before it)",
                        f"collect the account again (access-undenied snapshot --accounts {owner},...)",
                    ),
                )
            if always_has_resource_policy(resource_arn) and takes_resource_policy(action, resource_arn):
                return None, (
                    Unknown(
                        PolicyType.RESOURCE,
                        owner,
                        f"resource policy of {resource_arn}",
                        f"it is not in {self.source.label}, and every {parsed.service} "
                        f"{parsed.resource_type} has one (created after the snapshot, or in "
                        "a region it did not read)",
                        "collect the account again if the resource exists",
                    ),
                )
            return None, gaps
        stored_arn, document = found
        name = resource_policy_name(service) or "ResourcePolicy"
        policy = parse_policy(
            document,
            name=name,
            arn=f"{stored_arn}/{name}",
            where=f"{self.source.label}: resource policy of {stored_arn}",
        )
        return Attachment(
            policy,
            PolicyType.RESOURCE,
            stored_arn,
            TargetType.RESOURCE,
            stored_arn,
            policy_arn=policy.arn,
            policy_name=name,
            policy_id=policy.policy_id,
        ), gaps

    def _unread_region(self, parsed: Arn, owner: str | None, action: str) -> Unknown | None:
        """The resource policy of a regional resource in a region the source did not read
        (``PolicySource.regions_read``): unknown, as nothing of that region was seen."""
        region = parsed.region
        if not region or owner is None or not takes_resource_policy(action, str(parsed)):
            return None
        read = self.source.regions_read(owner)
        if read is None or region in read:
            return None
        reason = (
            f"region {region} of account {owner} was not read into {self.source.label} "
            f"(it read {', '.join(sorted(read)) or 'none that it names'})"
        )
        listing = [
            str(gap) for gap in self.source.gaps_for(owner) if gap.account == owner and gap.regions_unlisted
        ]
        if listing:
            reason += f"; the collector could not list the account's regions: {'; '.join(listing)}"
        return Unknown(
            PolicyType.RESOURCE,
            owner,
            f"resource policy of {parsed}",
            reason,
            f"collect the account with --regions including {region} "
            f"(access-undenied snapshot --accounts {owner} --regions {region},...)",
        )

    def _unlisted_bucket(self, bucket: str) -> tuple[Unknown, ...]:
        """The parts that a bucket in no bucket list of a source that lists every covered
        account's buckets (``PolicySource.lists_buckets``) leaves unknown: it is another
        account's (or was created after the snapshot), so its policy, its account and that
        account's RCPs are not known; a policy-less bucket of the caller's would be listed."""
        reason = (
            f"bucket {bucket} is in none of the bucket lists (ListBuckets) of the accounts in "
            f"{self.source.label}: it belongs to another account, or was created after the "
            "snapshot"
        )
        unlisted = [str(gap) for gap in self.source.gaps_for(None, "s3") if gap.buckets_unlisted]
        if unlisted:
            reason += f"; the collector could not list the buckets of: {'; '.join(unlisted)}"
        remedy = (
            "collect the account that owns the bucket (access-undenied snapshot --accounts "
            "ID,...), or collect again if the bucket is new"
        )
        return (
            Unknown(
                PolicyType.RESOURCE,
                None,
                f"resource policy of bucket {bucket}",
                reason,
                remedy,
                _BUCKET_OWNER,
            ),
            Unknown(
                PolicyType.RCP, None, f"RCPs of the account of bucket {bucket}", reason, remedy, _RESOURCE_ORG
            ),
        )

    def _candidates(self, parsed: Arn) -> list[str]:
        """The ARNs whose resource policy governs ``parsed``: an object's bucket, a function
        version's or alias's function (as well as its own), an alias's key."""
        arn, service, resource = str(parsed), parsed.service, parsed.resource
        if parsed.bucket is not None:
            return [str(parsed.policy_holder)]
        if service == "lambda" and resource.startswith("function:"):
            function = parsed.resource_id.split(":", 1)[0]  # drop the version or alias qualifier
            return [arn, str(parsed.with_resource(f"function:{function}"))]
        if service == "kms" and resource.startswith("alias/"):
            target = self.source.kms_alias_target(arn)
            return [target] if target else [arn]
        return [arn]

    def endpoint_policy(
        self,
        endpoint_id: str,
        account_id: str | None = None,
        region: str | None = None,
        partition: str = "aws",
    ) -> tuple[Attachment | None, tuple[str, ...]]:
        """The policy of the VPC endpoint a request went through, and warnings.

        None when the endpoint has no policy (its type supports none) or is unknown,
        which a warning then says: AWS would still have applied its policy.
        """
        return self._cached(
            ("endpoint", endpoint_id, account_id, region, partition),
            lambda: self._endpoint_policy(endpoint_id, account_id, region, partition),
        )

    def _endpoint_policy(self, endpoint_id: str, account_id: str | None, region: str | None, partition: str):
        entry = self.source.vpc_endpoint(endpoint_id, account_id, region)
        if entry is None:
            return None, (
                Unknown(
                    PolicyType.ENDPOINT,
                    account_id,
                    f"policy of VPC endpoint {endpoint_id}",
                    f"VPC endpoint {endpoint_id} is not in {self.source.label}; AWS also applied its policy",
                    "collect the endpoint's account (ec2:DescribeVpcEndpoints) in --snapshot",
                    ("aws:sourcevpc",),  # AWS sets it from the endpoint's VPC; CloudTrail omits it
                ),
            )
        if not entry.get("PolicyDocument"):
            return None, ()
        target_arn = (
            f"arn:{partition}:ec2:{region}:{account_id}:vpc-endpoint/{endpoint_id}"
            if region and account_id
            else None
        )
        name = "VPCEndpointPolicy"
        policy = parse_policy(
            entry["PolicyDocument"],
            name=name,
            arn=f"{target_arn or endpoint_id}/{name}",
            where=f"{self.source.label}: policy of {endpoint_id}",
        )
        return Attachment(
            policy,
            PolicyType.ENDPOINT,
            endpoint_id,
            TargetType.VPC_ENDPOINT,
            target_arn,
            policy_arn=policy.arn,
            policy_name=name,
        ), ()

    # -- the request ---------------------------------------------------------------
    def policies_for(
        self, principal: Principal, resource_arn: str, resource_account: str | None = None, action: str = ""
    ) -> AppliedPolicies:
        """Every policy that applies to ``principal`` doing ``action`` on ``resource_arn``.

        Never raises for missing data: what applies but cannot be read (the principal's
        account or the principal itself, an organization, the resource's account) is in
        ``AppliedPolicies.unknown``.
        """
        key = (
            "identity",
            principal.arn
            if principal.kind != PrincipalKind.ASSUMED_ROLE
            else f"role:{principal.account}:{principal.name}",
        )
        identity: _Identity = self._cached(key, lambda: self._identity(principal))
        warnings = list(identity.warnings)
        scp = None
        if principal.in_account:
            scp, scp_warnings = self.org_levels(principal.account, SCP)
            warnings += scp_warnings
        owner = self.resource_owner(resource_arn, resource_account)
        parsed_resource = Arn.parse(resource_arn)
        aws_owned = parsed_resource is not None and parsed_resource.is_aws_owned
        bucket = parsed_resource.bucket if parsed_resource is not None else None
        unlisted: tuple[Unknown, ...] = ()
        if owner is None and bucket is not None and self.source.lists_buckets():
            if action.lower() == _CREATE_BUCKET:
                owner = principal.account
            else:
                unlisted = self._unlisted_bucket(bucket)
        elif owner is None and principal.account and not aws_owned:
            # As the engine does (Request.owning_account): "*" and account-less ARNs are the
            # caller's; an S3 bucket missing from a snapshot without bucket lists is assumed
            # to be too.
            if bucket is not None:
                warnings.append(
                    f"the account of the bucket of {resource_arn} is not known from "
                    f"{self.source.label} (an S3 ARN names none); assuming it is the "
                    f"caller's account {principal.account}"
                )
            owner = principal.account
        rcp, resource = None, None
        if unlisted:
            warnings += unlisted
        else:
            rcp, rcp_warnings = self.org_levels(owner, RCP)
            resource, resource_warnings = self.resource_policy(resource_arn, action, owner)
            warnings += [*rcp_warnings, *resource_warnings]
        notes, unknown = split_findings(warnings)
        owner_scp = None
        owner_scp_unknown: tuple[Unknown, ...] = ()
        if owner is not None and principal.account and owner != principal.account:
            owner_scp, owner_scp_findings = self.org_levels(owner, SCP)
            owner_scp_unknown = split_findings(owner_scp_findings)[1]
        return AppliedPolicies(
            identity=identity.identity,
            permissions_boundary=identity.boundary,
            scp=scp,
            rcp=rcp,
            resource=resource,
            principal_tags=identity.tags,
            principal_account=principal.account,
            resource_account=owner,
            is_management_account=self.is_management_account(principal.account),
            resource_account_scp=owner_scp,
            resource_account_scp_unknown=owner_scp_unknown,
            warnings=notes,
            unknown=unknown,
        )

    def principal_tags(self, principal: Principal) -> Mapping[str, str]:
        key = (
            "identity",
            principal.arn
            if principal.kind != PrincipalKind.ASSUMED_ROLE
            else f"role:{principal.account}:{principal.name}",
        )
        return self._cached(key, lambda: self._identity(principal)).tags


_RESOLVERS_LOCK = threading.Lock()


def snapshot_resolver(snapshot: Snapshot) -> PolicyResolver:
    """The resolver over one loaded snapshot: built once per snapshot (its caches are what
    make a second lookup cheap) and dropped with it. It is kept on the snapshot, not in a
    weak mapping keyed by it: the resolver refers to its snapshot, so such a mapping kept
    every snapshot ever resolved (each state a history rebuilds) alive."""
    with _RESOLVERS_LOCK:
        resolver = snapshot._derived.get("resolver")
        if resolver is None:
            resolver = snapshot._derived["resolver"] = PolicyResolver(StaticSource(snapshot))
        return resolver
