"""Live mode: ``analyze`` without ``--snapshot`` reads only the policies its events need.

``live_resolver(...)`` returns the same ``PolicyResolver`` a snapshot uses, over a
``LiveSource`` that fetches lazily and caches for the run: an account's
authorization details on its first principal, one resource's policy on its first
request, the organization once. Role assumption follows the original tool: the
caller's own account directly, other accounts through ``--cross-account-role-name``
(default ``AccessUndeniedRole``), the organization through the management account
or ``--management-account-role-arn``; ``--scp-file`` replaces the organization.
Failures are recorded as gaps (``LiveSource.gaps``), as the snapshot collector does.

Only *trusted* accounts are entered: the caller's, those of its organization (when
the organization can be read, or comes from ``--scp-file``) and those named with
``--accounts``. An event is written by whoever made the request, and anyone can make
a denied request naming their own account: assuming a role there would hand that
account our session and let it feed us policies. Any other account is *outside*:
nothing is assumed or read there, and its policies are unknown parts of the
explanation (``unreachable`` says so).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import boto3

from analyzer.arn import Arn
from analyzer.collectors import iam, resources
from analyzer.collectors.aws import (
    AWS_FAILURES,
    Account,
    assume,
    base_session,
    caller_account,
    make_gap,
    role_arn,
)
from analyzer.collectors.organization import collect_organization
from analyzer.collectors.snapshot import DEFAULT_ROLE_NAME
from analyzer.snapshot.index import PolicyResolver
from analyzer.snapshot.model import Gap
from analyzer.snapshot.organization import Organization, load_scp_file

T = TypeVar("T")
_UNSET: Any = object()


class LiveSource:
    """A ``PolicySource`` reading AWS on demand; every answer is cached for the run."""

    label = "live AWS"

    def __init__(
        self,
        session: boto3.Session,
        management_account_role_arn: str | None = None,
        cross_account_role_name: str = DEFAULT_ROLE_NAME,
        organization: Organization | None = _UNSET,
        trusted_accounts: Iterable[str] = (),
    ):
        self.session = session
        self.trusted_accounts = frozenset(trusted_accounts)  # --accounts
        self.management_account_role_arn = management_account_role_arn
        self.cross_account_role_name = cross_account_role_name
        self._organization = organization
        self._lock = threading.RLock()
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._fetching: dict[tuple[Any, ...], threading.Lock] = {}
        self._managed = iam.AwsManagedPolicies()
        self.gaps: list[Gap] = []
        self.calls: list[tuple[str, str]] = []  # (what, key) fetched, for logs and tests

    def _once(self, key: tuple[Any, ...], fetch: Callable[[], T]) -> T:
        """``fetch()`` once per key for the run. Threads asking for the same key wait for
        the first one; different keys are fetched in parallel (a fetch may need another
        key, always a more basic one: details -> account -> caller, so no cycle)."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            fetching = self._fetching.setdefault(key, threading.Lock())
        with fetching:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
                self.calls.append((str(key[0]), str(key[1:])))
            value = fetch()
            with self._lock:
                self._cache[key] = value
            return value

    @property
    def caller(self) -> Account:
        def fetch() -> Account:
            account_id, partition = caller_account(self.session)
            return Account(account_id, self.session, partition)

        return self._once(("caller",), fetch)

    def trusts(self, account_id: str) -> bool:
        """Whether live mode may enter the account (see the module doc)."""
        if account_id == self.caller.account_id or account_id in self.trusted_accounts:
            return True
        organization = self.organization()
        return organization is not None and organization.path(account_id) is not None

    def _account(self, account_id: str) -> Account | None:
        def fetch() -> Account | None:
            caller = self.caller
            if account_id == caller.account_id:
                return caller
            if not self.trusts(account_id):
                return None
            arn = role_arn(caller.partition, account_id, self.cross_account_role_name)
            try:
                return Account(account_id, assume(caller, arn), caller.partition)
            except AWS_FAILURES as error:
                self.gaps.append(make_gap(error, account_id, "sts", "AssumeRole", resource=arn))
                return None

        return self._once(("account", account_id), fetch)

    # -- PolicySource ----------------------------------------------------------------
    def known_accounts(self) -> frozenset[str]:
        with self._lock:
            return frozenset(
                key[1] for key, value in self._cache.items() if key[0] == "account" and value is not None
            )

    def covers(self, account_id: str) -> bool:
        return self._account(account_id) is not None

    def authorization_details(self, account_id: str) -> Mapping[str, Any] | None:
        def fetch() -> Mapping[str, Any] | None:
            account = self._account(account_id)
            if account is None:
                return None
            try:
                return iam.authorization_details(account, self._managed)
            except AWS_FAILURES as error:
                self.gaps.append(make_gap(error, account_id, "iam", "GetAccountAuthorizationDetails"))
                return None

        return self._once(("details", account_id), fetch)

    def aws_managed_policy(self, arn: str) -> Mapping[str, Any] | None:
        try:
            return self._managed.get(self.caller, [arn])[0]
        except AWS_FAILURES as error:
            self.gaps.append(make_gap(error, self.caller.account_id, "iam", "GetPolicy", resource=arn))
            return None

    def _read_once(
        self,
        key: tuple[Any, ...],
        account_id: str | None,
        read: Callable[[Account], T],
        service: str,
        operation: str,
        region: str | None = None,
        resource: str | None = None,
    ) -> T | None:
        """``read(account)`` once per run, in ``account_id`` (the caller's when None); None
        when the account cannot be reached, and an access error becomes a gap."""

        def fetch() -> T | None:
            account = self._account(account_id) if account_id else self.caller
            if account is None:
                return None
            try:
                return read(account)
            except AWS_FAILURES as error:
                self.gaps.append(make_gap(error, account.account_id, service, operation, region, resource))
                return None

        return self._once(key, fetch)

    def resource_policy(self, arn: str, account_id: str | None) -> tuple[str, Any] | None:
        parsed = Arn.parse(arn)

        def read(account: Account) -> tuple[str, Any] | None:
            bucket = parsed.bucket if parsed is not None else None
            if bucket is not None and not self._may_own(account, bucket):
                # An S3 ARN names no account, so the bucket was taken to be this account's:
                # a stranger's bucket of that name must not lend us its policy.
                self.gaps.append(
                    Gap(
                        account.account_id,
                        "s3",
                        "ListBuckets",
                        "NotBucketOwner",
                        f"bucket {bucket} is not one of account {account.account_id}'s, "
                        "so its owner and its policy are unknown",
                        resource=f"arn:{account.partition}:s3:::{bucket}",
                    )
                )
                return None
            return resources.fetch_policy(account, arn)

        return self._read_once(
            ("resource", arn, account_id),
            account_id,
            read,
            parsed.service if parsed is not None else "unknown",
            "GetPolicy",
            resource=arn,
        )

    def _may_own(self, account: Account, bucket: str) -> bool:
        """False when the account's bucket list (one ListBuckets per account and run) lacks
        ``bucket``; True when it holds it, or cannot be read (``GetBucketPolicy`` then names
        the expected owner, and S3 refuses a bucket of another account)."""

        def fetch() -> frozenset[str] | None:
            try:
                listed = account.client("s3").list_buckets().get("Buckets") or ()
            except AWS_FAILURES:
                return None
            return frozenset(str(entry.get("Name")) for entry in listed)

        owned = self._once(("buckets", account.account_id), fetch)
        return owned is None or bucket in owned

    def bucket_account(self, bucket: str) -> str | None:
        return None  # an S3 ARN names no account: the caller's is assumed (and checked)

    def lists_buckets(self) -> bool:
        return False  # the caller's bucket list is read on demand (``_may_own``)

    def regions_read(self, account_id: str) -> frozenset[str] | None:
        return None  # a resource's policy is read in its own region, whichever it is

    def kms_alias_target(self, alias_arn: str) -> str | None:
        return None  # fetch_policy resolves aliases with kms:DescribeKey

    def aws_managed_key(self, key_arn: str) -> bool:
        parsed = Arn.parse(key_arn)
        region = parsed.region if parsed else None
        return bool(
            self._read_once(
                ("aws-managed-key", key_arn),
                (parsed.account if parsed else None) or None,
                lambda account: (
                    account.client("kms", region or account.region)
                    .describe_key(KeyId=key_arn)["KeyMetadata"]
                    .get("KeyManager")
                    == "AWS"
                ),
                "kms",
                "DescribeKey",
                region,
                key_arn,
            )
        )

    def vpc_endpoint(
        self, endpoint_id: str, account_id: str | None, region: str | None
    ) -> Mapping[str, Any] | None:
        return self._read_once(
            ("endpoint", endpoint_id, account_id, region),
            account_id,
            lambda account: resources.vpc_endpoint(account, endpoint_id, region or account.region),
            "ec2",
            "DescribeVpcEndpoints",
            region,
            endpoint_id,
        )

    def secret_arn(self, arn: str) -> str | None:
        owner = (parsed.account if (parsed := Arn.parse(arn)) else None) or None
        return self._read_once(
            ("secret", arn),
            owner,
            lambda account: resources.secret_arn(account, arn),
            "secretsmanager",
            "DescribeSecret",
            resource=arn,
        )

    def organization(self) -> Organization | None:
        if self._organization is not _UNSET:
            return self._organization

        def fetch() -> Organization | None:
            result = collect_organization(self.caller, self.management_account_role_arn)
            self.gaps.extend(result.gaps)
            return result.organization

        return self._once(("organization",), fetch)

    def gaps_for(self, account_id: str | None, service: str | None = None) -> tuple[Gap, ...]:
        with self._lock:
            return tuple(
                gap
                for gap in self.gaps
                if (account_id is None or gap.account in (None, account_id))
                and (service is None or gap.service == service)
            )

    def unreachable(self, account_id: str) -> tuple[str, str]:
        if not self.trusts(account_id):
            return (
                f"account {account_id} is outside the trusted accounts (the caller's "
                f"{self.caller.account_id}, its organization's, --accounts): nothing was "
                "assumed or read there",
                f"if you trust it, add --accounts {account_id}",
            )
        failed = "; ".join(str(gap) for gap in self.gaps_for(account_id, "sts") if gap.account == account_id)
        read = [gap for gap in self.gaps_for(account_id, "iam") if gap.account == account_id]
        if read and not failed:
            # Entered, then a read failed (AWS's error, a throttle past its retries): no role
            # to create, and no permission named as missing unless AWS's error says so.
            return (
                f"account {account_id}'s IAM could not be read ({'; '.join(map(str, read))})",
                "see AWS's error above; run again, or pass --snapshot with that account",
            )
        return (
            f"account {account_id} could not be read" + (f" ({failed})" if failed else ""),
            f"create the role {self.cross_account_role_name} there (trusting the caller), "
            "or pass --cross-account-role-name, or --snapshot with that account",
        )


def live_resolver(
    profile: str | None = None,
    management_account_role_arn: str | None = None,
    cross_account_role_name: str = DEFAULT_ROLE_NAME,
    scp_file: str | Path | None = None,
    session: boto3.Session | None = None,
    trusted_accounts: Iterable[str] = (),
) -> PolicyResolver:
    """A resolver over live AWS with the original tool's options (see the module doc)."""
    organization = load_scp_file(scp_file) if scp_file else _UNSET
    source = LiveSource(
        session or base_session(profile),
        management_account_role_arn,
        cross_account_role_name,
        organization,
        trusted_accounts,
    )
    return PolicyResolver(source)
