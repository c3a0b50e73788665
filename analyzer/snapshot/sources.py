"""Where a resolver reads raw policies: the ``PolicySource`` protocol and its snapshot-backed sources.

``StaticSource`` reads a loaded snapshot, ``EmptySource`` stands for no snapshot and
no credentials (every policy is then an ``Unknown``); the live boto3 source is
``analyzer.collectors.live``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from analyzer.arn import Arn
from analyzer.snapshot.model import Gap, Snapshot
from analyzer.snapshot.organization import Organization

# A Secrets Manager ARN ends in a random six-character suffix that callers may leave out.
SECRET_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")


class PolicySource(Protocol):
    """Where a resolver reads raw policies from (a snapshot file or live AWS)."""

    label: str

    def authorization_details(self, account_id: str) -> Mapping[str, Any] | None:
        """GetAccountAuthorizationDetails of the account, or None when it is not covered."""

    def known_accounts(self) -> frozenset[str]: ...

    def covers(self, account_id: str) -> bool:
        """Whether the source knows (or can read) the account's policies."""

    def aws_managed_policy(self, arn: str) -> Mapping[str, Any] | None:
        """An AWS managed policy's ``Policies`` entry from any account."""

    def resource_policy(self, arn: str, account_id: str | None) -> tuple[str, Any] | None:
        """(resource ARN as stored, document) for a non-IAM resource, or None."""

    def bucket_account(self, bucket: str) -> str | None: ...

    def lists_buckets(self) -> bool:
        """Whether ``bucket_account`` places every bucket of the accounts the source covers
        (a snapshot's ``bucketNames``): a bucket it does not place is then another account's.
        False when it places only some (the others are taken to be the caller's)."""

    def regions_read(self, account_id: str) -> frozenset[str] | None:
        """The regions whose resource policies of the account were read, when the source
        says: a regional resource elsewhere has an unknown policy. None when it does not
        say (or reads any region on demand)."""

    def kms_alias_target(self, alias_arn: str) -> str | None: ...

    def aws_managed_key(self, key_arn: str) -> bool:
        """Whether a KMS key is AWS managed (AWS's fixed rules forbid changing it)."""

    def secret_arn(self, arn: str) -> str | None:
        """The full ARN of a secret named without its random suffix, when known."""

    def vpc_endpoint(
        self, endpoint_id: str, account_id: str | None, region: str | None
    ) -> Mapping[str, Any] | None:
        """A VPC endpoint (owned by ``account_id`` in ``region``) as a snapshot keeps it:
        ``{VpcId, ServiceName, PolicyDocument}``; None when unknown."""

    def organization(self) -> Organization | None: ...

    def gaps_for(self, account_id: str | None, service: str | None = None) -> tuple[Gap, ...]: ...

    def unreachable(self, account_id: str) -> tuple[str, str]:
        """For an account the source does not cover: why, and how the user can provide it."""


def default_version_document(entry: Mapping[str, Any]) -> Any:
    """The default version's document of a ``Policies`` entry (GetAccountAuthorizationDetails)."""
    versions = entry.get("PolicyVersionList") or []
    for version in versions:
        if version.get("IsDefaultVersion"):
            return version.get("Document")
    for version in versions:
        if version.get("VersionId") == entry.get("DefaultVersionId"):
            return version.get("Document")
    return versions[0].get("Document") if versions else entry.get("Document")


class StaticSource:
    """A ``PolicySource`` over a loaded snapshot; its indexes are built on first use."""

    def __init__(self, snapshot: Snapshot):
        self.snapshot = snapshot
        self.label = snapshot.source
        self._lock = threading.Lock()
        self._resources: dict[str, tuple[str, Any]] | None = None
        self._secrets: dict[str, str] = {}
        self._buckets: dict[str, str] = {}
        self._lists_buckets = False
        self._aliases: dict[str, str] = {}
        self._named_regions: dict[str, frozenset[str]] = {}
        self._endpoints: dict[str, Mapping[str, Any]] = {}
        self._aws_managed: dict[str, Mapping[str, Any]] = {}

    def known_accounts(self) -> frozenset[str]:
        return self.snapshot.account_ids

    def covers(self, account_id: str) -> bool:
        return account_id in self.snapshot.account_ids

    def authorization_details(self, account_id: str) -> Mapping[str, Any] | None:
        account = self.snapshot.account(account_id)
        return None if account is None else account.get("authorizationDetails") or {}

    def organization(self) -> Organization | None:
        return self.snapshot.organization

    def gaps_for(self, account_id: str | None, service: str | None = None) -> tuple[Gap, ...]:
        return self.snapshot.gaps_for(account_id, service)

    def _build(self) -> None:
        with self._lock:
            if self._resources is not None:
                return
            resources: dict[str, tuple[str, Any]] = {}
            for account_id, account in self.snapshot.data["accounts"].items():
                for arn, document in (account.get("resourcePolicies") or {}).items():
                    resources[arn] = (arn, document)
                    parsed = Arn.parse(arn)
                    if parsed is not None and parsed.service == "s3":
                        self._buckets[parsed.resource] = account_id
                    elif parsed is not None and parsed.service == "secretsmanager":
                        self._secrets[SECRET_SUFFIX.sub("", arn)] = arn
                if account.get("bucketNames") is not None:
                    # ListBuckets returns only the buckets the listing account owns:
                    # https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html
                    self._lists_buckets = True
                    for name in account["bucketNames"]:
                        self._buckets[name] = account_id
                self._aliases.update(account.get("kmsAliases") or {})
                self._endpoints.update(account.get("vpcEndpoints") or {})
                for arn in account.get("secretArns") or ():
                    self._secrets[SECRET_SUFFIX.sub("", arn)] = arn
                details = account.get("authorizationDetails") or {}
                for entry in details.get("Policies") or ():
                    arn = entry.get("Arn", "") if isinstance(entry, dict) else ""
                    if (parsed := Arn.parse(arn)) is not None and parsed.is_aws_owned:
                        self._aws_managed.setdefault(arn, entry)
            for gap in self.snapshot.gaps:
                # A bucket whose policy could not be read is still known to be its gap's
                # account's: the collector reads a bucket only in the account whose bucket
                # list holds it (with ExpectedBucketOwner), and an S3 ARN names no account.
                # ListBuckets returns only the buckets the caller's account owns:
                # https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html
                parsed = Arn.parse(gap.resource or "")
                if gap.account and parsed is not None and parsed.bucket:
                    self._buckets.setdefault(parsed.bucket, gap.account)
            self._resources = resources

    def aws_managed_policy(self, arn: str) -> Mapping[str, Any] | None:
        self._build()
        return self._aws_managed.get(arn)

    def resource_policy(self, arn: str, account_id: str | None) -> tuple[str, Any] | None:
        self._build()
        assert self._resources is not None
        found = self._resources.get(arn)
        if found is None and ":secretsmanager:" in arn:
            stored = self._secrets.get(arn) or self._secrets.get(SECRET_SUFFIX.sub("", arn))
            found = self._resources.get(stored) if stored else None
        return found

    def bucket_account(self, bucket: str) -> str | None:
        self._build()
        return self._buckets.get(bucket)

    def lists_buckets(self) -> bool:
        """Whether the snapshot records its accounts' ``bucketNames``. Without them it holds
        only the buckets with a policy (or a gap), and a bucket it lacks may be a policy-less
        one of the caller's as well as another account's."""
        self._build()
        return self._lists_buckets

    def regions_read(self, account_id: str) -> frozenset[str] | None:
        """The account's ``collectedRegions``. Without it, when the collector could not list
        the account's regions (a ``DescribeRegions`` gap) it read its home region alone,
        which the snapshot does not name: the regions its resources' ARNs name were read,
        and any other may not have been."""
        account = self.snapshot.account(account_id)
        if account is None:
            return None
        if account.get("collectedRegions") is not None:
            return frozenset(account["collectedRegions"])
        if not any(gap.account == account_id and gap.regions_unlisted for gap in self.gaps_for(account_id)):
            return None
        if account_id not in self._named_regions:  # only such accounts: worked out once each
            aliases = account.get("kmsAliases") or {}
            named = (
                *(account.get("resourcePolicies") or ()),
                *aliases,
                *aliases.values(),
                *(account.get("secretArns") or ()),
            )
            self._named_regions[account_id] = frozenset(
                parsed.region for arn in named if (parsed := Arn.parse(arn)) is not None and parsed.region
            )
        return self._named_regions[account_id]

    def kms_alias_target(self, alias_arn: str) -> str | None:
        self._build()
        return self._aliases.get(alias_arn)

    def aws_managed_key(self, key_arn: str) -> bool:
        """AWS managed keys are the targets of the reserved ``alias/aws/...`` aliases
        (https://docs.aws.amazon.com/kms/latest/developerguide/alias-create.html)."""
        self._build()
        return any(target == key_arn and ":alias/aws/" in alias for alias, target in self._aliases.items())

    def secret_arn(self, arn: str) -> str | None:
        self._build()
        return self._secrets.get(arn)

    def vpc_endpoint(
        self, endpoint_id: str, account_id: str | None, region: str | None
    ) -> Mapping[str, Any] | None:
        self._build()
        return self._endpoints.get(endpoint_id)

    def unreachable(self, account_id: str) -> tuple[str, str]:
        gaps = "; ".join(str(gap) for gap in self.gaps_for(account_id) if gap.account == account_id)
        return (
            f"account {account_id} is not in the snapshot {self.label}" + (f" ({gaps})" if gaps else ""),
            f"collect it (access-undenied snapshot --accounts {account_id},...) and pass "
            "that file with --snapshot",
        )


class EmptySource:
    """The ``PolicySource`` of message-only mode: no snapshot and no AWS credentials.

    It knows no account and no organization (unless ``--scp-file`` gave one): every
    other policy is an ``Unknown``, so an explanation rests on what the event and AWS's
    own message say.
    """

    label = "no snapshot and no AWS credentials"
    _GAP = Gap(
        None, "organizations", "DescribeOrganization", "NoCredentials", "no snapshot and no AWS credentials"
    )

    def __init__(self, organization: Organization | None = None):
        self._organization = organization

    def known_accounts(self) -> frozenset[str]:
        return frozenset()

    def covers(self, account_id: str) -> bool:
        return False

    def authorization_details(self, account_id: str) -> Mapping[str, Any] | None:
        return None

    def aws_managed_policy(self, arn: str) -> Mapping[str, Any] | None:
        return None

    def resource_policy(self, arn: str, account_id: str | None) -> tuple[str, Any] | None:
        return None

    def bucket_account(self, bucket: str) -> str | None:
        return None

    def lists_buckets(self) -> bool:
        return False  # no account is covered: a bucket's account is unknown anyway

    def regions_read(self, account_id: str) -> frozenset[str] | None:
        return None  # no account is covered: its resource policies are unknown anyway

    def kms_alias_target(self, alias_arn: str) -> str | None:
        return None

    def aws_managed_key(self, key_arn: str) -> bool:
        return False  # unknown without a snapshot: no AWS fixed rule is assumed

    def secret_arn(self, arn: str) -> str | None:
        return None

    def vpc_endpoint(
        self, endpoint_id: str, account_id: str | None, region: str | None
    ) -> Mapping[str, Any] | None:
        return None

    def organization(self) -> Organization | None:
        return self._organization

    def gaps_for(self, account_id: str | None, service: str | None = None) -> tuple[Gap, ...]:
        return (self._GAP,) if service == "organizations" and not self._organization else ()

    def unreachable(self, account_id: str) -> tuple[str, str]:
        return (
            self.label,
            f"pass --snapshot with account {account_id}, or AWS credentials that can read "
            "it (--profile or the environment)",
        )
