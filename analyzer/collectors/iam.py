"""IAM: GetAccountAuthorizationDetails, all pages merged, plus the AWS managed policies in use.

Users, groups, roles and customer managed policies come from one paginated
GetAccountAuthorizationDetails. AWS managed policies are fetched by ARN
(GetPolicy + GetPolicyVersion) only when a user, group or role references them
(attached or as a permissions boundary), and cached across accounts, since
they are the same everywhere; the unfiltered call would list hundreds of
unused ones.
https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetAccountAuthorizationDetails.html
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from analyzer.arn import Arn
from analyzer.collectors.aws import Account

_FILTER = ["User", "Role", "Group", "LocalManagedPolicy"]
_LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")


def _aws_owned(arn: str) -> bool:
    """An AWS managed policy (``arn:aws:iam::aws:policy/...``): not in the account's own list."""
    parsed = Arn.parse(arn)
    return parsed is not None and parsed.is_aws_owned


def _json_safe(value: Any) -> Any:
    """boto3 returns datetimes; a snapshot is JSON."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


json_safe = _json_safe


def referenced_policy_arns(details: Mapping[str, Any]) -> set[str]:
    """Managed policy ARNs that users, groups and roles attach or use as boundaries."""
    arns: set[str] = set()
    for key in ("UserDetailList", "GroupDetailList", "RoleDetailList"):
        for entity in details.get(key) or ():
            arns.update(p["PolicyArn"] for p in entity.get("AttachedManagedPolicies") or ())
            boundary = (entity.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
            if boundary:
                arns.add(boundary)
    return arns


class AwsManagedPolicies:
    """AWS managed policies by ARN, fetched once per run (they are global)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, dict[str, Any]] = {}

    def get(self, account: Account, arns: Iterable[str]) -> list[dict[str, Any]]:
        out = []
        for arn in sorted(arns):
            with self._lock:
                cached = self._cache.get(arn)
            if cached is None:
                iam = account.client("iam")
                policy = iam.get_policy(PolicyArn=arn)["Policy"]
                version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])[
                    "PolicyVersion"
                ]
                cached = _json_safe({**policy, "PolicyVersionList": [version]})
                with self._lock:
                    self._cache[arn] = cached
            out.append(cached)
        return out


def authorization_details(account: Account, managed: AwsManagedPolicies) -> dict[str, Any]:
    """The account's authorization details in the snapshot's form."""
    merged: dict[str, list[Any]] = {key: [] for key in _LISTS}
    paginator = account.client("iam").get_paginator("get_account_authorization_details")
    for page in paginator.paginate(Filter=_FILTER):
        for key in _LISTS:
            merged[key].extend(page.get(key) or ())
    details = _json_safe(merged)
    local = {policy["Arn"] for policy in details["Policies"]}
    aws_arns = {arn for arn in referenced_policy_arns(details) if arn not in local and _aws_owned(arn)}
    details["Policies"].extend(managed.get(account, aws_arns))
    return details
