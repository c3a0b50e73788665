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

from analyzer.collectors.aws import Account, assume, error_code, make_gap
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
    organization or the tree could not be read), the management account, the org's
    accounts and gaps."""

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


def read_tree(client: Any, on_node: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Walk the tree breadth-first; returns ``nodes`` in the scp_data.json layout."""
    contents: dict[str, str] = {}

    def policies(target: str) -> list[dict[str, Any]]:
        found = []
        for policy_type in (SCP, RCP):
            try:
                summaries = _pages(
                    client, "list_policies_for_target", "Policies", TargetId=target, Filter=policy_type
                )
            except ClientError as error:
                if error_code(error) == "PolicyTypeNotEnabledException":
                    continue
                raise
            for summary in summaries:
                entry = {key: summary.get(key) for key in _SUMMARY_KEYS}
                entry["Type"] = entry["Type"] or policy_type
                if summary["Id"] not in contents:
                    contents[summary["Id"]] = client.describe_policy(PolicyId=summary["Id"])["Policy"][
                        "Content"
                    ]
                entry["PolicyDocument"] = contents[summary["Id"]]
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
    for root in _pages(client, "list_roots", "Roots"):
        nodes[root["Id"]] = node(root, NODE_ROOT_OR_OU, None)
        queue.append(root["Id"])
    while queue:
        parent = queue.pop(0)
        for account in _pages(client, "list_accounts_for_parent", "Accounts", ParentId=parent):
            nodes[account["Id"]] = node(account, NODE_ACCOUNT, parent)
        for unit in _pages(
            client, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent
        ):
            nodes[unit["Id"]] = node(unit, NODE_ROOT_OR_OU, parent)
            queue.append(unit["Id"])
    return nodes


def collect_organization(
    caller: Account, management_role_arn: str | None = None, on_node: Callable[[str], None] | None = None
) -> OrgResult:
    """Read the organization as the caller, or through the management account role."""
    try:
        description = caller.client("organizations").describe_organization()["Organization"]
    except ClientError as error:
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
        except ClientError as error:
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
    try:
        nodes = read_tree(client, on_node)
        accounts = tuple(
            a for a in _pages(client, "list_accounts", "Accounts") if a.get("Status", "ACTIVE") == "ACTIVE"
        )
    except ClientError as error:
        return OrgResult(
            None,
            management_id,
            gaps=(make_gap(error, management.account_id, "organizations", "ListPoliciesForTarget"),),
        )
    accounts = tuple({k: v for k, v in a.items() if isinstance(v, str)} for a in accounts)
    return OrgResult(
        organization_from_nodes(nodes, management_id), management_id, accounts, management=management
    )
