"""``access-undenied snapshot``: collect a full policy snapshot from live AWS.

One account (the caller's) or many (assuming ``--role-name`` in each) are read
concurrently: IAM authorization details, resource policies in every enabled
region, and the organization tree with its SCPs and RCPs. A failure on one
account, service, region or resource is recorded as a ``Gap`` in the snapshot,
reported, and never stops the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import boto3

from analyzer.collectors import iam, resources
from analyzer.collectors.aws import AWS_FAILURES, Account, assume, caller_account, make_gap, role_arn
from analyzer.collectors.organization import OrgResult, collect_organization
from analyzer.errors import CollectorError
from analyzer.snapshot.model import LIST_REGIONS, Gap, new_snapshot_data

DEFAULT_ROLE_NAME = "AccessUndeniedRole"


@dataclass(frozen=True, slots=True)
class CollectOptions:
    """``accounts``: None for the caller's account, ``("all",)`` for every active account
    of the organization, or explicit ids. ``regions``: None for every enabled region."""

    accounts: Sequence[str] | None = None
    role_name: str = DEFAULT_ROLE_NAME
    management_account_role_arn: str | None = None
    regions: Sequence[str] | None = None
    services: Sequence[str] = resources.SERVICES
    max_workers: int = 16
    progress: bool = True


@dataclass
class _AccountData:
    details: dict[str, Any] = field(
        default_factory=lambda: {
            "UserDetailList": [],
            "GroupDetailList": [],
            "RoleDetailList": [],
            "Policies": [],
        }
    )
    policies: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    # Every bucket listed, policy or not: the analysis takes a bucket no account listed to be
    # of an account it does not cover, not a policy-less one of the caller's.
    buckets: set[str] = field(default_factory=set)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The regions read: a regional resource elsewhere is unknown to the analysis, not policy-less.
    regions: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "authorizationDetails": self.details,
            "resourcePolicies": dict(sorted(self.policies.items())),
            "collectedRegions": self.regions,
            "bucketNames": sorted(self.buckets),
        }
        if self.aliases:
            out["kmsAliases"] = dict(sorted(self.aliases.items()))
        if self.secrets:
            out["secretArns"] = sorted(self.secrets)
        if self.endpoints:
            out["vpcEndpoints"] = dict(sorted(self.endpoints.items()))
        return out


def _target_accounts(
    caller: Account, org: OrgResult, wanted: Sequence[str] | None, gaps: list[Gap]
) -> list[str]:
    if not wanted:
        return [caller.account_id]
    if [w.lower() for w in wanted] == ["all"]:
        if not org.accounts:
            gaps.append(
                Gap(
                    caller.account_id,
                    "organizations",
                    "ListAccounts",
                    "Unavailable",
                    "cannot list the organization's accounts; collecting the caller's account only",
                )
            )
            return [caller.account_id]
        return sorted(a["Id"] for a in org.accounts)
    return list(dict.fromkeys(wanted))


class _Progress:
    """A rich progress bar on stderr (silent when disabled)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=Console(stderr=True, emoji=False),
                transient=True,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("collecting", total=0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def add(self, count: int) -> None:
        if self._progress is not None:
            total = self._progress.tasks[0].total or 0
            self._progress.update(self._task, total=total + count)

    def advance(self, description: str) -> None:
        if self._progress is not None:
            from analyzer.untrusted import markup_literal

            self._progress.update(self._task, advance=1, description=markup_literal(description))


def collect_snapshot(
    session: boto3.Session,
    options: CollectOptions | None = None,
) -> dict[str, Any]:
    """Collect and return the snapshot's JSON (``spec/snapshot.md`` plus ``gaps``)."""
    options = options or CollectOptions()
    account_id, partition = caller_account(session)
    caller = Account(account_id, session, partition)
    collected_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    gaps: list[Gap] = []
    org = collect_organization(caller, options.management_account_role_arn)
    gaps.extend(org.gaps)
    targets = _target_accounts(caller, org, options.accounts, gaps)
    data: dict[str, _AccountData] = {}
    managed = iam.AwsManagedPolicies()

    with (
        _Progress(options.progress) as progress,
        ThreadPoolExecutor(max_workers=max(1, options.max_workers)) as pool,
    ):
        jobs: list[Future[None]] = []

        def submit(description: str, work: Callable[[], None]) -> None:
            def run() -> None:
                try:
                    work()
                finally:
                    progress.advance(description)

            progress.add(1)
            jobs.append(pool.submit(run))

        def setup(target: str) -> None:
            try:
                account = (
                    caller
                    if target == caller.account_id
                    else Account(
                        target, assume(caller, role_arn(partition, target, options.role_name)), partition
                    )
                )
            except AWS_FAILURES as error:
                gaps.append(
                    make_gap(
                        error,
                        target,
                        "sts",
                        "AssumeRole",
                        resource=role_arn(partition, target, options.role_name),
                    )
                )
                return
            entry = data.setdefault(target, _AccountData())
            regions = list(options.regions or ())
            if not regions:
                try:
                    regions = resources.enabled_regions(account)
                except AWS_FAILURES as error:
                    gaps.append(make_gap(error, target, "ec2", LIST_REGIONS))
                    regions = [account.region]
            entry.regions = sorted(set(regions))
            submit(f"{target} iam", lambda: _iam(account, entry, managed, gaps))
            for service in options.services:
                for region in regions[:1] if service in resources.GLOBAL_SERVICES else regions:
                    submit(
                        f"{target} {service} {region}",
                        partial(_resources, account, entry, service, region, gaps),
                    )

        setups = [pool.submit(setup, target) for target in targets]
        try:
            for future in setups:
                future.result()
            # Jobs are only added by setups, which have all finished.
            for job in jobs:
                job.result()
        except KeyboardInterrupt:
            # Leaving the block waits for the pool: only for the calls in flight, not for
            # every account's and region's queued job (minutes, in a large organization).
            pool.shutdown(wait=False, cancel_futures=True)
            raise

    if not data:
        raise CollectorError("no account could be read: " + "; ".join(str(g) for g in gaps))
    gaps.sort(key=lambda g: (g.account or "", g.service, g.region or "", g.resource or "", g.operation))
    return new_snapshot_data({k: v.to_json() for k, v in data.items()}, org.organization, collected_at, gaps)


def _iam(account: Account, entry: _AccountData, managed: iam.AwsManagedPolicies, gaps: list[Gap]) -> None:
    try:
        entry.details = iam.authorization_details(account, managed)
    except AWS_FAILURES as error:
        gaps.append(make_gap(error, account.account_id, "iam", "GetAccountAuthorizationDetails"))


def _resources(account: Account, entry: _AccountData, service: str, region: str, gaps: list[Gap]) -> None:
    found = resources.collect(account, service, region)
    entry.policies.update({arn: resources.as_document(doc) for arn, doc in found.policies.items()})
    entry.aliases.update(found.kms_aliases)
    entry.secrets.update(found.secret_arns)
    entry.buckets.update(found.bucket_names)
    entry.endpoints.update(found.vpc_endpoints)
    gaps.extend(found.gaps)
