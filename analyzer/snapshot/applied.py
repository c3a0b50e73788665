"""What applies to one request: the policies found, where each is attached, and what is unknown.

``analyzer.snapshot.index.PolicyResolver`` answers with these types; the explanation
reads them. An ``Unknown`` is a policy that applies but could not be read: it is
never silently left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from analyzer.engine.model import PolicySet, PolicyType
from analyzer.engine.policy import Policy


class TargetType(StrEnum):
    USER = "user"
    ROLE = "role"
    GROUP = "group"
    ROOT = "root"
    OU = "ou"
    ACCOUNT = "account"
    RESOURCE = "resource"
    VPC_ENDPOINT = "vpc-endpoint"
    SESSION = "session"  # a session policy: its target is the session ARN


@dataclass(frozen=True, slots=True, eq=False)
class Attachment:
    """A policy and where it is attached.

    ``target`` is what the original tool calls ``AttachmentTargetArn``: the
    user/role/group ARN for identity policies and boundaries, the node id
    (``r-...``, ``ou-...``, account id) for SCPs and RCPs, the resource ARN
    for resource policies. ``target_arn`` is always an ARN when one is known.
    """

    policy: Policy
    policy_type: PolicyType
    target: str
    target_type: TargetType
    target_arn: str | None = None
    policy_arn: str | None = None
    policy_name: str | None = None
    policy_id: str | None = None
    managed: bool = False  # a managed policy (AWS or customer) rather than inline
    level: int | None = None  # SCP/RCP level, 0 = the organization root
    target_name: str | None = None


@dataclass(frozen=True, slots=True)
class Unknown:
    """A part of the policies that applies to a request but could not be read.

    ``missing`` names it ("identity policies of arn:...:role/App"), ``reason`` says
    why ("account 5555... is not in the snapshot"), ``remedy`` how to provide it.
    """

    policy_type: PolicyType
    account: str | None
    missing: str
    reason: str
    remedy: str
    # Condition keys whose values are unknown with this part (lower-case; a trailing "/"
    # names every key under it, as in ``aws:principaltag/``): AWS set them, the event does
    # not carry them, so a statement that tests them cannot be judged as if they were absent.
    context_keys: tuple[str, ...] = ()
    # For SCPs and RCPs: the levels (root first, as in ``AppliedPolicies.scp``) whose node's
    # policies of this type were not all read; the other levels were read in full. None when
    # which levels is not known (the organization, or the account's place in it, cannot be seen).
    levels: tuple[int, ...] | None = None

    def depends_on(self, key: str) -> bool:
        """Whether condition key ``key`` (lower-case) is one whose value is unknown with this part."""
        return any(
            key == known or (known.endswith("/") and key.startswith(known)) for known in self.context_keys
        )

    def hides_level(self, level: int) -> bool:
        """Whether SCP/RCP level ``level`` may hold a policy this part leaves unread."""
        return self.levels is None or level in self.levels

    def __str__(self) -> str:
        return f"{self.missing} unknown: {self.reason}; {self.remedy}"

    def to_json(self) -> dict[str, str | None]:
        return {
            "PolicyType": str(self.policy_type),
            "Account": self.account,
            "Missing": self.missing,
            "Reason": self.reason,
            "HowToGet": self.remedy,
        }


def split_findings(items: Iterable[str | Unknown]) -> tuple[tuple[str, ...], tuple[Unknown, ...]]:
    """(warnings, unknown parts) from the mixed findings the lookups return, deduplicated."""
    items = tuple(dict.fromkeys(items))
    return (
        tuple(item for item in items if isinstance(item, str)),
        tuple(item for item in items if isinstance(item, Unknown)),
    )


def level_policies(
    levels: tuple[tuple[Attachment, ...], ...] | None,
) -> tuple[tuple[Policy, ...], ...] | None:
    """SCP or RCP levels (root first) as the engine takes them: each attachment's policy."""
    return None if levels is None else tuple(tuple(a.policy for a in level) for level in levels)


@dataclass(frozen=True, slots=True, eq=False)
class AppliedPolicies:
    """Everything the snapshot knows that applies to one request."""

    identity: tuple[Attachment, ...] = ()
    permissions_boundary: Attachment | None = None
    scp: tuple[tuple[Attachment, ...], ...] | None = None
    rcp: tuple[tuple[Attachment, ...], ...] | None = None
    resource: Attachment | None = None
    endpoint: Attachment | None = None  # the VPC endpoint's policy, for requests through one
    # The session policies the caller's session was created with; None when it has none or
    # they are not known (snapshots hold none: they come from the call that made the session).
    session: tuple[Attachment, ...] | None = None
    principal_tags: Mapping[str, str] = field(default_factory=dict)
    principal_account: str | None = None
    resource_account: str | None = None  # resolved owner (S3 buckets are looked up)
    is_management_account: bool = False  # the principal's account
    # The SCP levels of the resource's account when it is another account than the
    # principal's (None: none apply, or not cross-account): they do not apply to this
    # request, but to a principal of that account, such as the role a cross-account fix
    # for a resource without a resource policy goes through. ``resource_account_scp_unknown``
    # says why they could not be read.
    resource_account_scp: tuple[tuple[Attachment, ...], ...] | None = None
    resource_account_scp_unknown: tuple[Unknown, ...] = ()
    warnings: tuple[str, ...] = ()  # what the data could not tell (gaps, assumptions, ...)
    unknown: tuple[Unknown, ...] = ()  # parts that apply but could not be read

    @property
    def policy_set(self) -> PolicySet:
        """The engine's input."""
        return PolicySet(
            identity=tuple(a.policy for a in self.identity),
            permissions_boundary=self.permissions_boundary.policy if self.permissions_boundary else None,
            scp=level_policies(self.scp),
            rcp=level_policies(self.rcp),
            resource=self.resource.policy if self.resource else None,
            endpoint=self.endpoint.policy if self.endpoint else None,
            session=None if self.session is None else tuple(a.policy for a in self.session),
        )

    def attachments(self) -> Iterator[Attachment]:
        yield from self.identity
        if self.permissions_boundary:
            yield self.permissions_boundary
        for levels in (self.scp or (), self.rcp or ()):
            for level in levels:
                yield from level
        if self.resource:
            yield self.resource
        if self.endpoint:
            yield self.endpoint
        yield from self.session or ()

    def attachment_for(self, policy: Policy | None) -> Attachment | None:
        """The attachment of a policy from ``policy_set`` (e.g. ``Reason.policy``)."""
        if policy is None:
            return None
        for attachment in self.attachments():
            if attachment.policy is policy:
                return attachment
        return None

    def attachment_at(
        self, policy_type: PolicyType, level: int | None, index: int | None
    ) -> Attachment | None:
        """The attachment at a ``Reason``'s (policy_type, level, policy_index)."""
        try:
            if policy_type == PolicyType.IDENTITY:
                return self.identity[index or 0]
            if policy_type == PolicyType.PERMISSIONS_BOUNDARY:
                return self.permissions_boundary
            if policy_type == PolicyType.RESOURCE:
                return self.resource
            if policy_type == PolicyType.ENDPOINT:
                return self.endpoint
            if policy_type == PolicyType.SESSION:
                return self.session[index or 0] if self.session else None
            levels = {PolicyType.SCP: self.scp, PolicyType.RCP: self.rcp}.get(policy_type)
            if levels is not None and level is not None:
                return levels[level][index or 0]
        except IndexError:
            return None
        return None

    def level_targets(self, policy_type: PolicyType) -> tuple[str, ...]:
        """The node id of each SCP/RCP level (root first), even for levels without policies."""
        levels = self.scp if policy_type == PolicyType.SCP else self.rcp
        return tuple(level[0].target if level else "" for level in levels or ())
