"""A policy snapshot (``spec/snapshot.md``): loading, validation, content hash and gaps.

A snapshot is immutable once loaded and is identified by ``snapshot_id``, the
SHA-256 of its canonical JSON (``analyzer.engine.policy.canonical_json``), so two files
with the same content have the same id whatever their formatting or compression.

Beyond the spec's minimum fields this tool writes and reads:

* top-level ``gaps``: what the collector could not read (``Gap``), so an
  analysis can say that a policy may be missing instead of guessing;
* per-account ``kmsAliases``: alias ARN -> key ARN, so requests naming a KMS
  alias find the key policy;
* per-account ``secretArns``: the full ARN of every Secrets Manager secret, so a
  request naming a secret by name is evaluated against the ARN AWS evaluates
  (with its random suffix), policy or not;
* per-account ``vpcEndpoints``: VPC endpoint id -> ``{VpcId, ServiceName,
  PolicyDocument}`` (DescribeVpcEndpoints' fields), so a request through an
  endpoint is evaluated against the endpoint's policy and carries the
  ``aws:SourceVpc`` AWS sets (CloudTrail records only the endpoint id);
* per-account ``collectedRegions``: the regions whose resource policies the collector
  read, so a regional resource (a queue, a key, a function...) elsewhere has an unknown
  policy, not none. A snapshot without it says nothing of the regions read: a resource
  missing from it has no policy, unless a ``DescribeRegions`` gap of the account says
  the collector read only some (``StaticSource.regions_read``);
* per-account ``bucketNames``: every bucket the account's ``ListBuckets`` returned, policy
  or not (``resourcePolicies`` holds only those with one), so a bucket's owner is the
  account that listed it, and a bucket no account listed is of an account the snapshot
  does not cover. A snapshot without it cannot tell such a bucket from a policy-less one
  of the caller's, and takes it to be the caller's (``StaticSource.lists_buckets``).
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from analyzer.arn import is_account_id
from analyzer.engine.policy import canonical_json
from analyzer.errors import SnapshotError
from analyzer.snapshot.organization import Organization, organization_from_json

FORMAT = "access-undenied-snapshot/1"
_FORMAT_PREFIX = "access-undenied-snapshot/"
_AUTH_LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")


# The error of a gap ``analyze --history`` leaves: a policy whose value at a time no
# snapshot or logged change shows (``analyzer.history.timeline``).
PRIOR_STATE_UNKNOWN = "PriorStateUnknown"

# The operation the collector lists an account's enabled regions with; when it fails, the
# collector reads its home region alone.
LIST_REGIONS = "DescribeRegions"

# The operation the collector lists an account's buckets with: when it fails, any bucket
# may be that account's.
LIST_BUCKETS = "ListBuckets"


@dataclass(frozen=True, slots=True)
class Gap:
    """Something the collector could not read: one account, service, region or resource."""

    account: str | None
    service: str
    operation: str
    error: str  # AWS error code, e.g. AccessDenied
    message: str = ""
    region: str | None = None
    resource: str | None = None
    # For an organization node's policies: the type whose read failed (SCP or RCP), so a
    # failed SCP read leaves the node's RCPs known; None when the gap may hide either.
    policy_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "account": self.account,
            "service": self.service,
            "operation": self.operation,
            "error": self.error,
            "message": self.message,
        }
        if self.region:
            out["region"] = self.region
        if self.resource:
            out["resource"] = self.resource
        if self.policy_type:
            out["policyType"] = self.policy_type
        return out

    @classmethod
    def from_json(cls, raw: Any, where: str) -> Gap:
        if not isinstance(raw, dict) or not all(
            isinstance(raw.get(k), str) for k in ("service", "operation", "error")
        ):
            raise SnapshotError(f"{where} must be an object with service, operation and error")
        return cls(
            raw.get("account"),
            raw["service"],
            raw["operation"],
            raw["error"],
            raw.get("message", ""),
            raw.get("region"),
            raw.get("resource"),
            raw.get("policyType"),
        )

    @property
    def regions_unlisted(self) -> bool:
        """The collector could not list its account's regions, so read only some."""
        return self.service == "ec2" and self.operation == LIST_REGIONS

    @property
    def buckets_unlisted(self) -> bool:
        """The collector could not list its account's buckets (live mode's ``ListBuckets``
        gaps that name a bucket say only that the bucket is not the account's)."""
        return self.service == "s3" and self.operation == LIST_BUCKETS and self.resource is None

    def __str__(self) -> str:
        where = "/".join(x for x in (self.account, self.region, self.resource) if x)
        return f"{self.service}:{self.operation} {where}: {self.error} {self.message}".strip()


@dataclass(frozen=True, eq=False)
class Snapshot:
    """A loaded snapshot. ``data`` is the raw JSON and must be treated as read-only.

    Lookups go through ``analyzer.snapshot.index.snapshot_resolver(snapshot)``: an index
    built lazily, once per snapshot and per account, and safe to use from several threads.
    """

    data: Mapping[str, Any]
    organization: Organization | None
    gaps: tuple[Gap, ...] = ()
    source: str = "<memory>"
    _accounts: frozenset[str] = field(default=frozenset(), repr=False)
    # What ``analyzer.snapshot.index.snapshot_resolver`` builds over it, held here so it is
    # dropped with the snapshot (a weak mapping cannot hold it: it refers to the snapshot).
    _derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def snapshot_id(self) -> str:
        """The content hash, worked out on first use: the policy history rebuilds states
        that are evaluated but never named, and hashing a whole organization per state
        was a tenth of a night with policy changes."""
        found = self._derived.get("snapshot_id")
        if found is None:
            found = self._derived["snapshot_id"] = snapshot_id_of(self.data)
        return found

    @property
    def collected_at(self) -> str | None:
        return self.data.get("collectedAt")

    @property
    def account_ids(self) -> frozenset[str]:
        return self._accounts

    def account(self, account_id: str) -> Mapping[str, Any] | None:
        """The raw data of one account, or None when the snapshot does not cover it."""
        return self.data["accounts"].get(account_id)

    def is_management_account(self, account_id: str | None) -> bool:
        org = self.organization
        return bool(org and account_id and org.management_account_id == account_id)

    def gaps_for(self, account_id: str | None, service: str | None = None) -> tuple[Gap, ...]:
        """Gaps of one account (and organization-wide ones); ``None`` means every account."""
        return tuple(
            gap
            for gap in self.gaps
            if (account_id is None or gap.account in (None, account_id))
            and (service is None or gap.service == service)
        )

    def with_organization(self, organization: Organization | None) -> Snapshot:
        """The same snapshot with another organization (``--scp-file``); a new ``snapshot_id``."""
        data = dict(self.data)
        data["organization"] = None if organization is None else organization.to_json()
        return snapshot_from_dict(data, self.source)

    def to_json(self) -> dict[str, Any]:
        return dict(self.data)


def snapshot_id_of(data: Mapping[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def _check_account(account_id: str, raw: Any, where: str) -> None:
    if not is_account_id(account_id):
        raise SnapshotError(f"{where}: account id {account_id!r} is not 12 digits")
    if not isinstance(raw, dict):
        raise SnapshotError(f"{where}[{account_id}] must be an object")
    details = raw.get("authorizationDetails", {})
    if not isinstance(details, dict):
        raise SnapshotError(f"{where}[{account_id}].authorizationDetails must be an object")
    for key in _AUTH_LISTS:
        if not isinstance(details.get(key, []), list):
            raise SnapshotError(f"{where}[{account_id}].authorizationDetails.{key} must be a list")
    for key in ("resourcePolicies", "kmsAliases", "vpcEndpoints"):
        if not isinstance(raw.get(key, {}), dict):
            raise SnapshotError(f"{where}[{account_id}].{key} must be an object")
    for endpoint, entry in (raw.get("vpcEndpoints") or {}).items():
        if not isinstance(entry, dict):
            raise SnapshotError(
                f"{where}[{account_id}].vpcEndpoints[{endpoint}] must be an "
                "object ({VpcId, ServiceName, PolicyDocument})"
            )
    for key, items in (
        ("secretArns", "ARNs"),
        ("collectedRegions", "region names"),
        ("bucketNames", "bucket names"),
    ):
        values = raw.get(key, [])
        if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
            raise SnapshotError(f"{where}[{account_id}].{key} must be a list of {items}")


# A date and a time of day, as AWS and the collector write them: ``2026-11-24T02:00:00Z``,
# with fractions (``.123Z``, boto3's ``.123456+00:00``), an offset, or no seconds; without a
# zone the time is UTC, as CloudTrail's. A day alone is not a time to place a snapshot at.
# Read as the history reads it (``events.context.parse_time``: ISO 8601, "Z" for UTC).
_COLLECTED_AT = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)


def _check_collected_at(value: Any, source: str) -> None:
    """``collectedAt`` places the snapshot among the logged policy changes (the history):
    absent or null it is unknown, and said so; a value that is not a time would place it
    nowhere and silently change the answers."""
    if value is None:
        return
    problem = "is not a time"
    if isinstance(value, str) and _COLLECTED_AT.fullmatch(value):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            return
        except ValueError as error:
            problem = f"is not a time ({error})"
    raise SnapshotError(
        f"{source}: collectedAt {value!r} {problem}: expected an ISO 8601 date and time "
        "such as 2026-11-24T02:00:00Z"
    )


def snapshot_from_dict(data: Any, source: str = "<memory>") -> Snapshot:
    """Validate a snapshot's structure (not yet its policies, which are parsed on use)."""
    if not isinstance(data, dict):
        raise SnapshotError(f"{source}: a snapshot must be a JSON object")
    version = data.get("format")
    if not isinstance(version, str) or not version.startswith(_FORMAT_PREFIX):
        raise SnapshotError(f'{source}: not a policy snapshot ("format" is {version!r}, expected {FORMAT!r})')
    if version != FORMAT:
        raise SnapshotError(
            f"{source}: snapshot format {version!r} is not supported (this version reads {FORMAT!r})"
        )
    _check_collected_at(data.get("collectedAt"), source)
    accounts = data.get("accounts")
    if not isinstance(accounts, dict):
        raise SnapshotError(f'{source}: "accounts" must be an object of account id -> account')
    for account_id, raw in accounts.items():
        _check_account(str(account_id), raw, f"{source}: accounts")
    organization = organization_from_json(data.get("organization"), f"{source}: organization")
    raw_gaps = data.get("gaps", [])
    if not isinstance(raw_gaps, list):
        raise SnapshotError(f'{source}: "gaps" must be a list')
    gaps = tuple(Gap.from_json(g, f"{source}: gaps[{i}]") for i, g in enumerate(raw_gaps))
    if "organization" not in data:
        # null says "in no organization"; a snapshot assembled by hand without the key says
        # nothing, so the SCPs and RCPs that may deny are unknown, not none.
        gaps += (
            Gap(
                None,
                "organizations",
                "DescribeOrganization",
                "NotInSnapshot",
                'the snapshot has no "organization" key (null would say the accounts are in no '
                "organization): its SCPs and RCPs are unknown",
            ),
        )
    return Snapshot(
        data=data,
        organization=organization,
        gaps=gaps,
        source=source,
        _accounts=frozenset(accounts),
    )


def load_snapshot(path: str | Path) -> Snapshot:
    """Read a snapshot from ``.json`` or ``.json.gz`` (detected by content, not by name)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SnapshotError(f"{path}: cannot read snapshot ({error.strerror})") from None
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        data = json.loads(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise SnapshotError(f"{path}: corrupt gzip data ({error})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SnapshotError(f"{path}: snapshot is not valid JSON ({error})") from None
    return snapshot_from_dict(data, str(path))


def new_snapshot_data(
    accounts: Mapping[str, Any],
    organization: Organization | Mapping[str, Any] | None,
    collected_at: str,
    gaps: Iterable[Gap] = (),
) -> dict[str, Any]:
    """Assemble the JSON form of a snapshot."""
    org = organization.to_json() if isinstance(organization, Organization) else organization
    return {
        "format": FORMAT,
        "collectedAt": collected_at,
        "accounts": dict(sorted(accounts.items())),
        "organization": org,
        "gaps": [gap.to_json() for gap in gaps],
    }


def write_snapshot(data: Mapping[str, Any], path: str | Path) -> None:
    """Write atomically; gzip when the name ends in ``.gz`` (byte-for-byte reproducible)."""
    from analyzer.results_file import replace_atomically

    path = Path(path)
    text = json.dumps(data, indent=1, sort_keys=True).encode()
    if path.name.endswith(".gz"):
        text = gzip.compress(text, mtime=0)
    replace_atomically(path, text)
