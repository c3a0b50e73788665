"""AWS Organizations: the tree from the root down, with every node's SCPs and RCPs.

Produces the original tool's ``scp_data.json`` layout (``analyzer.snapshot.organization``).
Only the management account (or a delegated administrator) may read the tree, so the
caller either is in the management account or passes ``--management-account-role-arn``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from analyzer.collectors.aws import AWS_FAILURES, Account, assume, error_code, make_gap
from analyzer.snapshot.model import Gap
from analyzer.snapshot.organization import (
    NODE_ACCOUNT,
    NODE_ROOT_OR_OU,
    RCP,
    SCP,
    Organization,
    organization_from_nodes,
)

log = logging.getLogger(__name__)
_SUMMARY_KEYS = ("Id", "Arn", "Name", "Description", "Type", "AwsManaged")


@dataclass(frozen=True, slots=True)
class OrgResult:
    """What the organization collector found: the tree (None when the account is in no
    organization or the tree could not be read; the part it could read, with a gap per call
    that failed, otherwise), the management account, the org's accounts and gaps."""

    organization: Organization | None
    management_account_id: str | None
    accounts: tuple[dict[str, Any], ...] = ()
    gaps: tuple[Gap, ...] = ()
    management: Account | None = None


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        out.extend(page[key])
    return out


def read_tree(
    client: Any, on_node: Callable[[str], None] | None = None, account_id: str | None = None
) -> tuple[dict[str, Any], tuple[Gap, ...]]:
    """Walk the tree breadth-first; returns ``nodes`` in the scp_data.json layout and the
    gaps: a call that fails costs what it reads (one node's policies, one parent's children),
    named by that node, not the tree (``account_id``: the account the calls are made in)."""
    contents: dict[str, str] = {}
    gaps: list[Gap] = []

    def attempt(
        operation: str,
        target: str,
        call: Callable[..., Any],
        *args: Any,
        policy_type: str | None = None,
        **kwargs: Any,
    ) -> Any:
        try:
            return call(*args, **kwargs)
        except AWS_FAILURES as error:
            gaps.append(
                make_gap(
                    error, account_id, "organizations", operation, resource=target, policy_type=policy_type
                )
            )
            return None

    def summaries_of(target: str, policy_type: str) -> list[dict[str, Any]]:
        try:
            return _pages(client, "list_policies_for_target", "Policies", TargetId=target, Filter=policy_type)
        except ClientError as error:
            if error_code(error) == "PolicyTypeNotEnabledException":
                return []
            raise

    def policies(target: str) -> list[dict[str, Any]]:
        found = []
        for policy_type in (SCP, RCP):
            summaries = attempt(
                "ListPoliciesForTarget", target, summaries_of, target, policy_type, policy_type=policy_type
            )
            for summary in summaries or ():
                policy_id = summary["Id"]
                if policy_id not in contents:
                    # The gap names the node and the type: the policies it leaves unknown are
                    # the node's of that type.
                    described = attempt(
                        "DescribePolicy",
                        target,
                        client.describe_policy,
                        PolicyId=policy_id,
                        policy_type=policy_type,
                    )
                    if described is None:
                        continue
                    contents[policy_id] = described["Policy"]["Content"]
                entry = {key: summary.get(key) for key in _SUMMARY_KEYS}
                entry["Type"] = entry["Type"] or policy_type
                entry["PolicyDocument"] = contents[policy_id]
                found.append(entry)
        return found

    def node(raw: dict[str, Any], node_type: str, parent: str | None) -> dict[str, Any]:
        if on_node:
            on_node(raw["Id"])
        return {
            "arn": raw["Arn"],
            "id": raw["Id"],
            "name": raw.get("Name"),
            "organization_node_type": node_type,
            "policies": policies(raw["Id"]),
            "parent": parent,
        }

    nodes: dict[str, Any] = {}
    queue = []
    for root in attempt("ListRoots", "", _pages, client, "list_roots", "Roots") or ():
        nodes[root["Id"]] = node(root, NODE_ROOT_OR_OU, None)
        queue.append(root["Id"])
    while queue:
        parent = queue.pop(0)
        accounts = attempt(
            "ListAccountsForParent",
            parent,
            _pages,
            client,
            "list_accounts_for_parent",
            "Accounts",
            ParentId=parent,
        )
        for account in accounts or ():
            nodes[account["Id"]] = node(account, NODE_ACCOUNT, parent)
        units = attempt(
            "ListOrganizationalUnitsForParent",
            parent,
            _pages,
            client,
            "list_organizational_units_for_parent",
            "OrganizationalUnits",
            ParentId=parent,
        )
        for unit in units or ():
            nodes[unit["Id"]] = node(unit, NODE_ROOT_OR_OU, parent)
            queue.append(unit["Id"])
    return nodes, tuple(gaps)


def collect_organization(
    caller: Account, management_role_arn: str | None = None, on_node: Callable[[str], None] | None = None
) -> OrgResult:
    """Read the organization as the caller, or through the management account role."""
    try:
        description = caller.client("organizations").describe_organization()["Organization"]
    except AWS_FAILURES as error:
        if error_code(error) == "AWSOrganizationsNotInUseException":
            return OrgResult(None, None)
        return OrgResult(
            None, None, gaps=(make_gap(error, caller.account_id, "organizations", "DescribeOrganization"),)
        )
    management_id = description["MasterAccountId"]
    if management_id == caller.account_id:
        management = caller
    elif management_role_arn:
        try:
            management = Account(
                management_id,
                assume(caller, management_role_arn, "AccessUndeniedManagement"),
                caller.partition,
            )
        except AWS_FAILURES as error:
            return OrgResult(
                None,
                management_id,
                gaps=(
                    make_gap(
                        error, management_id, "organizations", "AssumeRole", resource=management_role_arn
                    ),
                ),
            )
    else:
        gap = Gap(
            caller.account_id,
            "organizations",
            "ListRoots",
            "NotManagementAccount",
            f"account {caller.account_id} is not the management account {management_id}; "
            "pass --management-account-role-arn to read SCPs and RCPs",
        )
        return OrgResult(None, management_id, gaps=(gap,))
    client = management.client("organizations")
    nodes, gaps = read_tree(client, on_node, management.account_id)
    if not nodes:
        return OrgResult(None, management_id, gaps=gaps)
    try:
        listed = _pages(client, "list_accounts", "Accounts")
    except AWS_FAILURES as error:
        # The tree names its accounts too (those under the parents it could read).
        gaps += (make_gap(error, management.account_id, "organizations", "ListAccounts"),)
        listed = [
            {"Id": node["id"], "Arn": node["arn"], "Name": node["name"]}
            for node in nodes.values()
            if node["organization_node_type"] == NODE_ACCOUNT
        ]
    active = [a for a in listed if a.get("Status", "ACTIVE") == "ACTIVE"]
    accounts = tuple({k: v for k, v in a.items() if isinstance(v, str)} for a in active)
    return OrgResult(
        organization_from_nodes(nodes, management_id), management_id, accounts, gaps, management=management
    )
