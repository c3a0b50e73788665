"""The demo's synthetic AWS organization, built from ``organization.yaml`` into a snapshot
(``spec/snapshot.md``).

The data file holds the organization itself (accounts, the OU tree with its SCPs and RCPs,
IAM roles, users and groups with their policies, resource policies, VPC endpoints, KMS
aliases) and its comments say which denial scenario each policy causes. This module adds
only what AWS derives: unique ids and ARNs, the SAML trust of Identity Center roles, the
``DenyInsecureTransport`` statement every bucket carries, and the shape
GetAccountAuthorizationDetails gives it all.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from analyzer.demo.data import DemoDataError, organization_data
from analyzer.snapshot.model import FORMAT
from analyzer.snapshot.organization import (
    NODE_ACCOUNT,
    NODE_ROOT_OR_OU,
    RCP,
    SCP,
    Organization,
    OrgNode,
    OrgPolicy,
)

_SSO_PATH = "/aws-reserved/sso.amazonaws.com/"
_POLICY_VERSION = "2012-10-17"
_KINDS = {"SCP": SCP, "RCP": RCP}


def _unique_id(prefix: str, seed: str) -> str:
    """A stable IAM unique id (``AIDA...``, ``AROA...``, ``ANPA...``) derived from a name."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    digest = hashlib.sha256(seed.encode()).digest()
    return prefix + "".join(alphabet[b % 32] for b in digest[:17])


def policy_document(data: dict[str, Any]) -> dict[str, Any]:
    """A policy document from the data file, with ``Version`` first when the file omits it."""
    document = copy.deepcopy(data)
    return document if "Version" in document else {"Version": _POLICY_VERSION, **document}


def _inline(data: dict[str, Any] | None) -> tuple[tuple[str, dict[str, Any]], ...]:
    return tuple((name, policy_document(document)) for name, document in (data or {}).items())


# --- principals --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Role:
    """One IAM role: its trust policy, inline and managed policies and optional boundary."""

    account: str
    name: str
    trust: dict[str, Any]
    inline: tuple[tuple[str, dict[str, Any]], ...] = ()
    managed: tuple[str, ...] = ()  # AWS managed policy names or customer managed policy ARNs
    path: str = "/"
    boundary: str | None = None  # a customer managed policy ARN
    description: str = ""

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role{self.path}{self.name}"

    @property
    def role_id(self) -> str:
        return _unique_id("AROA", self.arn)


@dataclass(frozen=True, slots=True)
class User:
    account: str
    name: str
    groups: tuple[str, ...] = ()
    inline: tuple[tuple[str, dict[str, Any]], ...] = ()
    managed: tuple[str, ...] = ()
    team: str = "platform"

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:user/{self.name}"

    @property
    def user_id(self) -> str:
        return _unique_id("AIDA", self.arn)


@dataclass(frozen=True, slots=True)
class Group:
    account: str
    name: str
    inline: tuple[tuple[str, dict[str, Any]], ...] = ()
    managed: tuple[str, ...] = ()

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:group/{self.name}"


def _trust(data: dict[str, Any]) -> dict[str, Any]:
    """A trust policy of one Allow statement; ``Action`` defaults to ``sts:AssumeRole``."""
    statement = {
        "Effect": "Allow",
        "Principal": data["Principal"],
        "Action": data.get("Action", "sts:AssumeRole"),
    }
    statement.update({key: value for key, value in data.items() if key not in statement})
    return {"Version": _POLICY_VERSION, "Statement": [copy.deepcopy(statement)]}


def _sso_role(data: dict[str, Any]) -> Role:
    """An IAM Identity Center role, as AWS creates one per permission set and account."""
    account, suffix = data["account"], data["suffix"]
    provider = f"arn:aws:iam::{account}:saml-provider/AWSSSO_{suffix}_DO_NOT_DELETE"
    trust = {
        "Principal": {"Federated": provider},
        "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
        "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
    }
    return Role(
        account,
        f"AWSReservedSSO_{data['permission_set']}_{suffix}",
        _trust(trust),
        _inline(data.get("inline")),
        tuple(data.get("managed", ())),
        _SSO_PATH,
    )


def _role(data: dict[str, Any]) -> Role:
    return Role(
        data["account"],
        data["name"],
        _trust(data["trust"]),
        _inline(data.get("inline")),
        tuple(data.get("managed", ())),
        data.get("path", "/"),
        data.get("boundary"),
        data.get("description", ""),
    )


# --- the organization --------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoOrganization:
    """Everything ``organization.yaml`` describes, as the snapshot builder and the traffic use it."""

    names: Mapping[str, str]  # organization.yaml's names, resolved
    account_names: Mapping[str, str]
    org_accounts: tuple[str, ...]  # the organization's accounts (not the partner)
    roles: tuple[Role, ...]
    users: tuple[User, ...]
    groups: tuple[Group, ...]
    org_policies: Mapping[str, OrgPolicy]  # by policy id
    org_nodes: tuple[OrgNode, ...]

    @property
    def org_id(self) -> str:
        return self.names["ORG_ID"]

    @property
    def management(self) -> str:
        return self.names["MANAGEMENT"]

    @property
    def home_region(self) -> str:
        return self.names["HOME_REGION"]

    def role(self, account: str, name: str) -> Role:
        """The role named ``name`` in ``account`` (an error names a typo in a data file)."""
        for candidate in self.roles:
            if candidate.account == account and candidate.name == name:
                return candidate
        raise DemoDataError(f"no demo role {name} in {account}")

    def user(self, account: str, name: str) -> User:
        for candidate in self.users:
            if candidate.account == account and candidate.name == name:
                return candidate
        raise DemoDataError(f"no demo user {name} in {account}")


def _org_policies(data: dict[str, Any]) -> dict[str, OrgPolicy]:
    """SCPs and RCPs as ``get-scps`` lists them (``PolicyDocument`` is JSON text, as AWS returns)."""
    aws_managed_ids = set(data["aws_managed_policies"])
    owner = f"{data['management']}:policy/{data['id']}"
    policies = {}
    for entry in data["policies"]:
        kind = _KINDS[entry["type"]]
        folder = "service_control_policy" if kind == SCP else "resource_control_policy"
        aws_managed = entry["id"] in aws_managed_ids
        arn = (
            f"arn:aws:organizations::aws:policy/{folder}/{entry['id']}"
            if aws_managed
            else f"arn:aws:organizations::{owner}/{folder}/{entry['id']}"
        )
        policies[entry["id"]] = OrgPolicy(
            entry["id"],
            arn,
            entry["name"],
            kind,
            json.dumps(policy_document(entry["document"])),
            entry.get("description", ""),
            aws_managed,
        )
    return policies


def _org_nodes(
    data: dict[str, Any], policies: dict[str, OrgPolicy], account_names: dict[str, str]
) -> tuple[OrgNode, ...]:
    def node(node_id: str, name: str, parent: str | None, policy_ids: list[str]) -> OrgNode:
        is_account = node_id.isdigit()
        kind = "root" if parent is None else "account" if is_account else "ou"
        arn = f"arn:aws:organizations::{data['management']}:{kind}/{data['id']}/{node_id}"
        return OrgNode(
            node_id,
            arn,
            name,
            NODE_ACCOUNT if is_account else NODE_ROOT_OR_OU,
            parent,
            tuple(policies[policy_id] for policy_id in policy_ids),
        )

    root = data["root"]
    nodes = [node(root["id"], root["name"], None, root["policies"])]
    nodes += [node(ou["id"], ou["name"], ou["parent"], ou["policies"]) for ou in data["ous"]]
    nodes += [
        node(account, account_names[account], parent, data["account_policies"])
        for account, parent in data["accounts"].items()
    ]
    return tuple(nodes)


@lru_cache(maxsize=1)
def demo_organization() -> DemoOrganization:
    """The organization of ``organization.yaml`` (built once per process)."""
    data = organization_data()
    sso = {f"{entry['account']}/{entry['permission_set']}": _sso_role(entry) for entry in data["sso_roles"]}
    roles = tuple(sso[entry["sso"]] if "sso" in entry else _role(entry) for entry in data["roles"])
    users = tuple(
        User(
            u["account"],
            u["name"],
            tuple(u.get("groups", ())),
            _inline(u.get("inline")),
            tuple(u.get("managed", ())),
            u.get("team", "platform"),
        )
        for u in data["users"]
    )
    groups = tuple(
        Group(g["account"], g["name"], _inline(g.get("inline")), tuple(g.get("managed", ())))
        for g in data["groups"]
    )
    account_names = {account: entry["name"] for account, entry in data["accounts"].items()}
    org_accounts = tuple(
        account for account, entry in data["accounts"].items() if entry.get("organization", True)
    )
    policies = _org_policies(data["organization"])
    return DemoOrganization(
        MappingProxyType(dict(data["names"])),
        MappingProxyType(account_names),
        org_accounts,
        roles,
        users,
        groups,
        MappingProxyType(policies),
        _org_nodes(data["organization"], policies, account_names),
    )


# --- the snapshot ------------------------------------------------------------------------------


def aws_managed_arn(name: str) -> str:
    path = organization_data().get("aws_managed_policy_paths", {}).get(name, "")
    return f"arn:aws:iam::aws:policy/{path}{name}"


def _managed_arn(name_or_arn: str) -> str:
    return name_or_arn if name_or_arn.startswith("arn:") else aws_managed_arn(name_or_arn)


def _policy_entry(
    arn: str, name: str, document: dict[str, Any], attachments: int, boundary_uses: int, created: str
) -> dict[str, Any]:
    """A ``Policies`` entry of GetAccountAuthorizationDetails, with its default version."""
    return {
        "PolicyName": name,
        "PolicyId": _unique_id("ANPA", arn),
        "Arn": arn,
        "Path": "/service-role/" if "/service-role/" in arn else "/",
        "DefaultVersionId": "v1",
        "AttachmentCount": attachments,
        "PermissionsBoundaryUsageCount": boundary_uses,
        "IsAttachable": True,
        "CreateDate": created,
        "UpdateDate": created,
        "PolicyVersionList": [
            {"Document": document, "VersionId": "v1", "IsDefaultVersion": True, "CreateDate": created}
        ],
    }


def _attached(names: tuple[str, ...]) -> list[dict[str, str]]:
    return [
        {"PolicyName": _managed_arn(name).rsplit("/", 1)[-1], "PolicyArn": _managed_arn(name)}
        for name in names
    ]


def _inline_json(key: str, policies: tuple[tuple[str, dict[str, Any]], ...]) -> dict[str, Any]:
    return {key: [{"PolicyName": name, "PolicyDocument": document} for name, document in policies]}


def _authorization_details(demo: DemoOrganization, account: str, created: str) -> dict[str, Any]:
    """GetAccountAuthorizationDetails of one account, as the AWS CLI prints it."""
    data = organization_data()
    roles = [r for r in demo.roles if r.account == account]
    users = [u for u in demo.users if u.account == account]
    groups = [g for g in demo.groups if g.account == account]
    attachments: dict[str, int] = {}
    boundaries: dict[str, int] = {}
    holders: list[Role | User | Group] = [*roles, *users, *groups]
    for holder in holders:
        for name in holder.managed:
            attachments[_managed_arn(name)] = attachments.get(_managed_arn(name), 0) + 1
    for r in roles:
        if r.boundary:
            boundaries[r.boundary] = boundaries.get(r.boundary, 0) + 1
    policies = []
    for arn in sorted({*attachments, *boundaries}):
        name = arn.rsplit("/", 1)[-1]
        source = data["customer_managed_policies"].get(arn) or data["aws_managed_policies"].get(name)
        if source is None:
            raise DemoDataError(f"organization.yaml: no managed policy {arn}")
        policies.append(
            _policy_entry(
                arn, name, policy_document(source), attachments.get(arn, 0), boundaries.get(arn, 0), created
            )
        )
    return {
        "UserDetailList": [
            {
                "Path": "/",
                "UserName": u.name,
                "UserId": u.user_id,
                "Arn": u.arn,
                "CreateDate": created,
                **_inline_json("UserPolicyList", u.inline),
                "GroupList": list(u.groups),
                "AttachedManagedPolicies": _attached(u.managed),
                "Tags": [{"Key": "team", "Value": u.team}],
            }
            for u in users
        ],
        "GroupDetailList": [
            {
                "Path": "/",
                "GroupName": g.name,
                "GroupId": _unique_id("AGPA", g.arn),
                "Arn": g.arn,
                "CreateDate": created,
                **_inline_json("GroupPolicyList", g.inline),
                "AttachedManagedPolicies": _attached(g.managed),
            }
            for g in groups
        ],
        "RoleDetailList": [
            {
                "Path": r.path,
                "RoleName": r.name,
                "RoleId": r.role_id,
                "Arn": r.arn,
                "CreateDate": created,
                "AssumeRolePolicyDocument": r.trust,
                "Description": r.description,
                "InstanceProfileList": [],
                **_inline_json("RolePolicyList", r.inline),
                "AttachedManagedPolicies": _attached(r.managed),
                **(
                    {
                        "PermissionsBoundary": {
                            "PermissionsBoundaryType": "Policy",
                            "PermissionsBoundaryArn": r.boundary,
                        }
                    }
                    if r.boundary
                    else {}
                ),
                "Tags": [{"Key": "owner", "Value": "platform"}],
                "RoleLastUsed": {},
            }
            for r in roles
        ],
        "Policies": policies,
    }


def _bucket_policy(name: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    """A bucket policy; every bucket refuses plain HTTP, as AWS Security Hub recommends."""
    arn = f"arn:aws:s3:::{name}"
    insecure = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    return {"Version": _POLICY_VERSION, "Statement": [insecure, *copy.deepcopy(statements)]}


def _resource_policies(account: str) -> dict[str, dict[str, Any]]:
    data = organization_data()
    policies = {
        f"arn:aws:s3:::{bucket}": _bucket_policy(bucket, statements)
        for bucket, statements in data["buckets"].get(account, {}).items()
    }
    policies.update(
        {
            arn: policy_document(document)
            for arn, document in data["resource_policies"].get(account, {}).items()
        }
    )
    return policies


def _vpc_endpoints(account: str) -> dict[str, dict[str, Any]]:
    endpoints = organization_data()["vpc_endpoints"].get(account, {})
    return {
        endpoint_id: {
            **copy.deepcopy(entry),
            "PolicyDocument": json.dumps(policy_document(entry["PolicyDocument"])),
        }
        for endpoint_id, entry in endpoints.items()
    }


def build_snapshot(collected_at: str) -> dict[str, Any]:
    """The whole organization as a snapshot document (``spec/snapshot.md``)."""
    data = organization_data()
    demo = demo_organization()
    accounts = {}
    for account in data["accounts"]:
        aliases = data["kms_aliases"].get(account)
        endpoints = _vpc_endpoints(account)
        accounts[account] = {
            "authorizationDetails": _authorization_details(demo, account, data["created"]),
            "resourcePolicies": _resource_policies(account),
            **({"kmsAliases": dict(aliases)} if aliases else {}),
            **({"vpcEndpoints": endpoints} if endpoints else {}),
        }
    return {
        "format": FORMAT,
        "collectedAt": collected_at,
        "accounts": accounts,
        "organization": Organization(demo.management, {node.id: node for node in demo.org_nodes}).to_json(),
        "gaps": [],
    }
