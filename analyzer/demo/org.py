"""The demo's synthetic AWS organization, as a policy snapshot (``spec/snapshot.md``).

Acme Corp has a management account and five member accounts in four OUs, plus an
outside partner account that reads one of Acme's buckets:

```
Root r-a1b2            SCPs FullAWSAccess, ProtectAuditTrail   RCPs RCPFullAWSAccess, EnforceTrustedS3Access
├── 111111111111 management (SCPs never apply to it)
├── Security OU        FullAWSAccess
│   └── 222222222222 security      audit-log bucket that denies deletion
├── Workloads OU       FullAWSAccess, DenyUnapprovedRegions (only us-east-1 and us-west-2)
│   ├── Prod OU
│   │   ├── 333333333333 prod      orders service, payments, KMS keys, SQS queues; an S3
│   │   │                          VPC endpoint that keeps the orders service inside the org
│   │   └── 444444444444 data      data lake and analytics
│   └── Dev OU
│       └── 555555555555 dev       developers (IAM users, group deny), permissions boundaries
└── Sandbox OU         SandboxAllowList instead of FullAWSAccess (allow-list strategy)
    └── 666666666666 sandbox
777777777777 partner (not in the organization): a bucket it shares with orders-api
```

Every policy here is either needed by the normal traffic (``analyzer.demo.traffic``) or is
the cause of one of its denial scenarios; the docstrings of the scenario table say which.
The ``RCPFullAWSAccess`` and ``FullAWSAccess`` policies are attached at every node, as AWS
does by default, because an organization level without an allowing policy denies
(https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_inheritance_auth.html).

AWS managed IAM policies are copied in the shape GetAccountAuthorizationDetails returns them;
``PowerUserAccess``, ``AdministratorAccess`` and the small ones are verbatim, ``ReadOnlyAccess``
and ``IAMFullAccess`` are abridged to the services the demo uses.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

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

ORG_ID = "o-a1b2c3d4e5"
ROOT_ID = "r-a1b2"
MANAGEMENT = "111111111111"
SECURITY = "222222222222"
PROD = "333333333333"
DATA = "444444444444"
DEV = "555555555555"
SANDBOX = "666666666666"
PARTNER = "777777777777"
ORG_ACCOUNTS = (MANAGEMENT, SECURITY, PROD, DATA, DEV, SANDBOX)
ACCOUNT_NAMES = {MANAGEMENT: "acme-management", SECURITY: "acme-security", PROD: "acme-prod",
                 DATA: "acme-data", DEV: "acme-dev", SANDBOX: "acme-sandbox",
                 PARTNER: "partner-analytics"}

HOME_REGION = "us-east-1"
SECOND_REGION = "us-west-2"
APPROVED_REGIONS = (HOME_REGION, SECOND_REGION)
DENIED_REGION = "eu-central-1"

# Resources the traffic and the scenarios refer to.
AUDIT_BUCKET = f"acme-audit-logs-{SECURITY}"
ASSETS_BUCKET = "acme-prod-app-assets"
EXPORTS_BUCKET = "acme-prod-exports"
LAKE_BUCKET = f"acme-data-lake-{DATA}"
ATHENA_BUCKET = f"acme-athena-results-{DATA}"
SCRATCH_BUCKET = f"acme-dev-scratch-{DEV}"
SANDBOX_BUCKET = f"acme-sandbox-playground-{SANDBOX}"
APP_KEY = f"arn:aws:kms:{HOME_REGION}:{PROD}:key/0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
PAYMENTS_KEY = f"arn:aws:kms:{HOME_REGION}:{PROD}:key/7c6b5a49-3827-4165-9f0e-d1c2b3a4f5e6"
ORDERS_QUEUE = f"arn:aws:sqs:{HOME_REGION}:{PROD}:orders"
PAYMENTS_QUEUE = f"arn:aws:sqs:{HOME_REGION}:{PROD}:payments"
ORDERS_TOPIC = f"arn:aws:sns:{HOME_REGION}:{PROD}:order-events"
BUILD_TOPIC = f"arn:aws:sns:{HOME_REGION}:{DEV}:build-notifications"
ORDERS_SECRET = f"arn:aws:secretsmanager:{HOME_REGION}:{PROD}:secret:prod/orders/db-Ab12Cd"
ORDERS_TABLE = f"arn:aws:dynamodb:{HOME_REGION}:{PROD}:table/Orders"
VENDOR_BUCKET = "partner-analytics-exchange"  # the partner's, outside the organization
ORDERS_VPCE = "vpce-0a1b2c3d4e5f60718"  # orders-api's S3/DynamoDB calls go through it
PAYMENTS_TABLE = f"arn:aws:dynamodb:{HOME_REGION}:{PROD}:table/Payments"

_SSO_PATH = "/aws-reserved/sso.amazonaws.com/"
_CREATED = "2025-03-04T09:12:45Z"


def queue_url(queue_arn: str) -> str:
    _, _, _, region, account, name = queue_arn.split(":")
    return f"https://sqs.{region}.amazonaws.com/{account}/{name}"


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(actions: Any, resources: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def _deny(actions: Any, resources: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": actions, "Resource": resources, **extra}


def _unique_id(prefix: str, seed: str) -> str:
    """A stable IAM unique id (``AIDA...``, ``AROA...``, ``ANPA...``) derived from a name."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    digest = hashlib.sha256(seed.encode()).digest()
    return prefix + "".join(alphabet[b % 32] for b in digest[:17])


def _trust(principal: dict[str, Any], action: str = "sts:AssumeRole", **extra: Any) -> dict[str, Any]:
    return _doc({"Effect": "Allow", "Principal": principal, "Action": action, **extra})


def _bucket(name: str, *statements: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A bucket policy; every bucket refuses plain HTTP, as AWS Security Hub recommends."""
    arn = f"arn:aws:s3:::{name}"
    insecure = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    return arn, _doc(insecure, *statements)


# --- AWS managed IAM policies --------------------------------------------------------------------

_AWS_MANAGED: dict[str, dict[str, Any]] = {
    "AdministratorAccess": _doc(_allow("*")),
    "PowerUserAccess": _doc(
        {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
        _allow(["account:GetAccountInformation", "account:GetPrimaryEmail", "account:ListRegions",
                "iam:CreateServiceLinkedRole", "iam:DeleteServiceLinkedRole", "iam:ListRoles",
                "organizations:DescribeOrganization"]),
    ),
    "ReadOnlyAccess": _doc(_allow(sorted([
        "athena:Get*", "athena:List*", "cloudformation:Describe*", "cloudformation:Get*",
        "cloudformation:List*", "cloudtrail:Describe*", "cloudtrail:Get*", "cloudtrail:List*",
        "cloudtrail:LookupEvents", "cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*",
        "config:Describe*", "config:Get*", "config:List*", "dynamodb:BatchGetItem",
        "dynamodb:Describe*", "dynamodb:GetItem", "dynamodb:List*", "dynamodb:Query", "dynamodb:Scan",
        "ec2:Describe*", "ec2:Get*", "ecr:BatchGetImage", "ecr:Describe*", "ecr:Get*", "ecr:List*",
        "ecs:Describe*", "ecs:List*", "glue:Get*", "guardduty:Get*", "guardduty:List*", "iam:Get*",
        "iam:List*", "kms:Describe*", "kms:Get*", "kms:List*", "lambda:Get*", "lambda:List*",
        "logs:Describe*", "logs:FilterLogEvents", "logs:Get*", "organizations:Describe*",
        "organizations:List*", "s3:Get*", "s3:List*", "secretsmanager:DescribeSecret",
        "secretsmanager:List*", "sns:Get*", "sns:List*", "sqs:Get*", "sqs:List*", "ssm:Describe*",
        "ssm:Get*", "ssm:List*", "sts:GetCallerIdentity",
    ]))),
    "AmazonS3ReadOnlyAccess": _doc(_allow(["s3:Get*", "s3:List*", "s3-object-lambda:Get*",
                                           "s3-object-lambda:List*"])),
    "AWSLambdaBasicExecutionRole": _doc(_allow(["logs:CreateLogGroup", "logs:CreateLogStream",
                                                "logs:PutLogEvents"])),
    "IAMFullAccess": _doc(_allow("iam:*"), _allow(["organizations:DescribeAccount",
                                                  "organizations:DescribeOrganization",
                                                  "organizations:ListAccounts"])),
}


def aws_managed_arn(name: str) -> str:
    path = "service-role/" if name == "AWSLambdaBasicExecutionRole" else ""
    return f"arn:aws:iam::aws:policy/{path}{name}"


def _policy_entry(arn: str, name: str, document: dict[str, Any], attachments: int,
                  boundary_uses: int = 0) -> dict[str, Any]:
    """A ``Policies`` entry of GetAccountAuthorizationDetails, with its default version."""
    return {
        "PolicyName": name, "PolicyId": _unique_id("ANPA", arn), "Arn": arn,
        "Path": "/service-role/" if "/service-role/" in arn else "/",
        "DefaultVersionId": "v1", "AttachmentCount": attachments,
        "PermissionsBoundaryUsageCount": boundary_uses, "IsAttachable": True,
        "CreateDate": _CREATED, "UpdateDate": _CREATED,
        "PolicyVersionList": [{"Document": document, "VersionId": "v1", "IsDefaultVersion": True,
                               "CreateDate": _CREATED}],
    }


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


def _sso(account: str, permission_set: str, suffix: str, managed: tuple[str, ...],
         inline: tuple[tuple[str, dict[str, Any]], ...] = ()) -> Role:
    """An IAM Identity Center role, as AWS creates one per permission set and account."""
    provider = f"arn:aws:iam::{account}:saml-provider/AWSSSO_{suffix}_DO_NOT_DELETE"
    return Role(account, f"AWSReservedSSO_{permission_set}_{suffix}",
                _trust({"Federated": provider}, ["sts:AssumeRoleWithSAML", "sts:TagSession"],
                       Condition={"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}),
                managed=managed, inline=inline, path=_SSO_PATH)


def _service(name: str) -> dict[str, Any]:
    return {"Service": name}


DEVELOPER_BOUNDARY = f"arn:aws:iam::{DEV}:policy/DeveloperBoundary"
_CUSTOMER_MANAGED: dict[str, dict[str, Any]] = {
    # Caps every role developers create: no sns:Publish (scenario NO_ALLOW_BOUNDARY) and an
    # explicit deny of IAM user and key creation (scenario EXPLICIT_DENY_BOUNDARY).
    DEVELOPER_BOUNDARY: _doc(
        {"Sid": "AllowedServices", **_allow([
            "cloudwatch:*", "dynamodb:*", "iam:CreateRole", "iam:Get*", "iam:List*", "iam:PassRole",
            "iam:TagRole", "lambda:*", "logs:*", "s3:*", "sqs:*", "sts:GetCallerIdentity", "xray:*"])},
        {"Sid": "NoLongTermCredentials", **_deny([
            "iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:CreateUser",
            "iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary",
            "iam:PutRolePermissionsBoundary"])},
    ),
}

ROLES: tuple[Role, ...] = (
    # management
    _sso(MANAGEMENT, "AdministratorAccess", "3f1e2d4c5b6a7980", ("AdministratorAccess",)),
    # security
    _sso(SECURITY, "SecurityAudit", "5d4c3b2a1f0e9d8c", ("ReadOnlyAccess",)),
    Role(SECURITY, "log-shipper", _trust(_service("ec2.amazonaws.com")), inline=(
        ("AuditBucketWrite", _doc(_allow(
            ["s3:DeleteObject", "s3:GetObject", "s3:ListBucket", "s3:PutObject"],
            [f"arn:aws:s3:::{AUDIT_BUCKET}", f"arn:aws:s3:::{AUDIT_BUCKET}/*"]))),
    ), description="Ships application logs; its DeleteObject is refused by the bucket policy"),
    Role(SECURITY, "SecurityBreakGlass", _trust({"AWS": f"arn:aws:iam::{MANAGEMENT}:root"},
                                                Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
         managed=("AdministratorAccess",)),
    # prod
    Role(PROD, "orders-api", _trust(_service("ecs-tasks.amazonaws.com")), path="/service/", inline=(
        ("OrdersService", _doc(
            {"Sid": "OrdersTable", **_allow(
                ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
                 "dynamodb:UpdateItem"], [ORDERS_TABLE, f"{ORDERS_TABLE}/index/*"])},
            {"Sid": "OrdersQueue", **_allow(
                ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:SendMessage"],
                ORDERS_QUEUE)},
            {"Sid": "OrderEvents", **_allow("sns:Publish", ORDERS_TOPIC)},
            {"Sid": "Assets", **_allow(["s3:GetObject", "s3:PutObject"],
                                       f"arn:aws:s3:::{ASSETS_BUCKET}/*")},
            {"Sid": "AssetsList", **_allow("s3:ListBucket", f"arn:aws:s3:::{ASSETS_BUCKET}")},
            {"Sid": "VendorExchange", **_allow(["s3:GetObject", "s3:PutObject"],
                                               f"arn:aws:s3:::{VENDOR_BUCKET}/*")},
            {"Sid": "AppKey", **_allow(["kms:Decrypt", "kms:GenerateDataKey"], APP_KEY)},
            {"Sid": "DbSecret", **_allow("secretsmanager:GetSecretValue",
                                         f"arn:aws:secretsmanager:{HOME_REGION}:{PROD}:secret:prod/orders/*")},
            {"Sid": "Logs", **_allow(["logs:CreateLogStream", "logs:PutLogEvents"])},
        )),
    ), description="No dynamodb:DeleteItem: scenario NO_ALLOW_IDENTITY"),
    Role(PROD, "payments-worker", _trust(_service("lambda.amazonaws.com")),
         managed=("AWSLambdaBasicExecutionRole",), inline=(
        ("PaymentsWorker", _doc(
            _allow(["kms:Decrypt", "kms:GenerateDataKey"]),
            _allow(["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"], PAYMENTS_QUEUE),
            _allow(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], PAYMENTS_TABLE),
        )),
    ), description="The payments key policy does not name it: scenario NO_ALLOW_RESOURCE_REQUIRED"),
    _sso(PROD, "PowerUserAccess", "7a6b5c4d3e2f1a0b", ("PowerUserAccess",)),
    _sso(PROD, "AdministratorAccess", "2c3d4e5f6a7b8c9d", ("AdministratorAccess",)),
    Role(PROD, "ci-deploy", _trust(
        {"Federated": f"arn:aws:iam::{PROD}:oidc-provider/token.actions.githubusercontent.com"},
        "sts:AssumeRoleWithWebIdentity",
        Condition={"StringLike": {"token.actions.githubusercontent.com:sub":
                                  "repo:acme/*:ref:refs/heads/main"}}),
        managed=("PowerUserAccess",), inline=(
        ("PassServiceRoles", _doc(_allow("iam:PassRole", f"arn:aws:iam::{PROD}:role/service/*"),
                                  _allow("iam:GetRole", f"arn:aws:iam::{PROD}:role/*"))),
    )),
    Role(PROD, "analytics-reader", _trust({"AWS": f"arn:aws:iam::{DATA}:role/analytics-etl"}),
         managed=("AmazonS3ReadOnlyAccess",)),
    Role(PROD, "OrganizationAccountAccessRole", _trust({"AWS": f"arn:aws:iam::{MANAGEMENT}:root"}),
         managed=("AdministratorAccess",)),
    # data
    Role(DATA, "analytics-etl", _trust(_service("glue.amazonaws.com")), inline=(
        ("Analytics", _doc(
            _allow(["s3:GetObject", "s3:ListBucket"],
                   [f"arn:aws:s3:::{EXPORTS_BUCKET}", f"arn:aws:s3:::{EXPORTS_BUCKET}/*"]),
            _allow("s3:*", [f"arn:aws:s3:::{LAKE_BUCKET}", f"arn:aws:s3:::{LAKE_BUCKET}/*",
                            f"arn:aws:s3:::{ATHENA_BUCKET}", f"arn:aws:s3:::{ATHENA_BUCKET}/*"]),
            _allow("sts:AssumeRole", f"arn:aws:iam::{PROD}:role/analytics-reader"),
            _allow(["athena:*", "glue:Get*", "logs:CreateLogStream", "logs:PutLogEvents"]),
        )),
    )),
    Role(DATA, "ml-training", _trust(_service("sagemaker.amazonaws.com")), inline=(
        ("TrainingData", _doc(_allow(["s3:GetObject", "s3:ListBucket"], [
            f"arn:aws:s3:::{LAKE_BUCKET}", f"arn:aws:s3:::{LAKE_BUCKET}/*",
            f"arn:aws:s3:::{EXPORTS_BUCKET}", f"arn:aws:s3:::{EXPORTS_BUCKET}/*"]))),
    ), description="acme-prod-exports does not grant it: scenario NO_ALLOW_RESOURCE_CROSS_ACCOUNT"),
    _sso(DATA, "DataAnalyst", "9e8d7c6b5a4f3e2d", ("ReadOnlyAccess",), inline=(
        ("AthenaQueries", _doc(
            _allow(["athena:GetQueryExecution", "athena:GetQueryResults", "athena:StartQueryExecution"]),
            _allow(["s3:GetObject", "s3:PutObject"], f"arn:aws:s3:::{ATHENA_BUCKET}/*"),
        )),
    )),
    # dev
    Role(DEV, "dev-lambda-runner", _trust(_service("lambda.amazonaws.com")),
         managed=("AWSLambdaBasicExecutionRole",), boundary=DEVELOPER_BOUNDARY, inline=(
        ("AppAccess", _doc(
            _allow(["s3:GetObject", "s3:PutObject"], f"arn:aws:s3:::{SCRATCH_BUCKET}/*"),
            _allow("dynamodb:*", f"arn:aws:dynamodb:{HOME_REGION}:{DEV}:table/dev-*"),
            _allow("sns:Publish", BUILD_TOPIC),
        )),
    ), description="Identity allows sns:Publish, the boundary does not: scenario NO_ALLOW_BOUNDARY"),
    Role(DEV, "dev-provisioner", _trust({"AWS": f"arn:aws:iam::{DEV}:user/alice"}),
         managed=("IAMFullAccess",), boundary=DEVELOPER_BOUNDARY,
         description="Boundary denies iam:CreateUser (EXPLICIT_DENY_BOUNDARY); trust names only "
                     "alice (NO_ALLOW_RESOURCE_REQUIRED for carol)"),
    Role(DEV, "reporting-job", _trust(_service("ecs-tasks.amazonaws.com")), inline=(
        ("Reports", _doc(_allow(["s3:GetObject", "s3:PutObject"], f"arn:aws:s3:::{SCRATCH_BUCKET}/*"))),
    ), description="Sends to the prod orders queue, allowed on neither side: "
                   "scenario NO_ALLOW_IDENTITY_AND_RESOURCE_CROSS_ACCOUNT"),
    # sandbox
    _sso(SANDBOX, "SandboxAdmin", "4b5c6d7e8f9a0b1c", ("AdministratorAccess",)),
    # partner (outside the organization)
    Role(PARTNER, "partner-etl", _trust({"AWS": f"arn:aws:iam::{PARTNER}:root"}), inline=(
        ("ReadAcmeLake", _doc(_allow(["s3:GetObject", "s3:ListBucket"],
                                     [f"arn:aws:s3:::{LAKE_BUCKET}", f"arn:aws:s3:::{LAKE_BUCKET}/*"]))),
    ), description="Granted by the lake's bucket policy, denied by the RCP: scenario EXPLICIT_DENY_RCP"),
)

GROUPS: tuple[Group, ...] = (
    Group(DEV, "Developers", managed=("PowerUserAccess",), inline=(
        # Scenario EXPLICIT_DENY_IDENTITY: developers may not escalate through IAM.
        ("NoIamPrivilegeEscalation", _doc({"Sid": "NoIamWrites", **_deny([
            "iam:AttachRolePolicy", "iam:AttachUserPolicy", "iam:CreateAccessKey", "iam:CreateUser",
            "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy"])})),
    )),
)

USERS: tuple[User, ...] = (
    User(DEV, "alice", ("Developers",), team="payments"),
    User(DEV, "bob", ("Developers",), team="orders"),
    User(DEV, "carol", ("Developers",), team="data"),
    User(DEV, "dave", ("Developers",), team="orders"),
)


def role(account: str, name: str) -> Role:
    """The role named ``name`` in ``account`` (raises ``KeyError`` for a typo in a table)."""
    for candidate in ROLES:
        if candidate.account == account and candidate.name == name:
            return candidate
    raise KeyError(f"no demo role {name} in {account}")


def user(account: str, name: str) -> User:
    for candidate in USERS:
        if candidate.account == account and candidate.name == name:
            return candidate
    raise KeyError(f"no demo user {name} in {account}")


# --- resource policies -------------------------------------------------------------------------


def _key_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Id": "key-policy", "Statement": list(statements)}


_ROOT_DELEGATION = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{PROD}:root"}, "Action": "kms:*", "Resource": "*"}
_PROD_ADMIN = role(PROD, "AWSReservedSSO_AdministratorAccess_2c3d4e5f6a7b8c9d").arn

RESOURCE_POLICIES: dict[str, dict[str, dict[str, Any]]] = {
    SECURITY: dict([
        _bucket(AUDIT_BUCKET,
                {"Sid": "AWSCloudTrailWrite", "Effect": "Allow",
                 "Principal": _service("cloudtrail.amazonaws.com"),
                 "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{AUDIT_BUCKET}/AWSLogs/*",
                 "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}},
                # Scenario EXPLICIT_DENY_RESOURCE: only break-glass may delete audit logs.
                {"Sid": "DenyLogDeletion", "Effect": "Deny", "Principal": "*",
                 "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration"],
                 "Resource": [f"arn:aws:s3:::{AUDIT_BUCKET}", f"arn:aws:s3:::{AUDIT_BUCKET}/*"],
                 "Condition": {"ArnNotLike": {"aws:PrincipalArn":
                                              f"arn:aws:iam::{SECURITY}:role/SecurityBreakGlass"}}}),
    ]),
    PROD: dict([
        _bucket(ASSETS_BUCKET),
        # Scenario NO_ALLOW_RESOURCE_CROSS_ACCOUNT: grants analytics-etl, not ml-training.
        _bucket(EXPORTS_BUCKET, {"Sid": "AnalyticsRead", "Effect": "Allow",
                                 "Principal": {"AWS": f"arn:aws:iam::{DATA}:role/analytics-etl"},
                                 "Action": ["s3:GetObject", "s3:ListBucket"],
                                 "Resource": [f"arn:aws:s3:::{EXPORTS_BUCKET}",
                                              f"arn:aws:s3:::{EXPORTS_BUCKET}/*"]}),
        (APP_KEY, _key_policy(_ROOT_DELEGATION)),
        # Scenario NO_ALLOW_RESOURCE_REQUIRED (KMS): no root delegation, payments-worker not named.
        (PAYMENTS_KEY, _key_policy(
            {"Sid": "KeyAdministration", "Effect": "Allow", "Principal": {"AWS": _PROD_ADMIN},
             "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                        "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                        "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"], "Resource": "*"},
            {"Sid": "KeyUse", "Effect": "Allow",
             "Principal": {"AWS": role(PROD, "orders-api").arn},
             "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*"], "Resource": "*"})),
        # Scenario NO_ALLOW_IDENTITY_AND_RESOURCE_CROSS_ACCOUNT: only the SNS topic may send.
        (ORDERS_QUEUE, {"Version": "2012-10-17", "Id": "orders-queue", "Statement": [
            {"Sid": "OrderEvents", "Effect": "Allow", "Principal": _service("sns.amazonaws.com"),
             "Action": "sqs:SendMessage", "Resource": ORDERS_QUEUE,
             "Condition": {"ArnEquals": {"aws:SourceArn": ORDERS_TOPIC}}}]}),
        (ORDERS_SECRET, _doc({"Sid": "OrdersApiOnly", "Effect": "Allow",
                              "Principal": {"AWS": role(PROD, "orders-api").arn},
                              "Action": "secretsmanager:GetSecretValue", "Resource": "*"})),
    ]),
    DATA: dict([
        # Scenario EXPLICIT_DENY_RCP: the partner is granted here, the RCP still denies it.
        _bucket(LAKE_BUCKET, {"Sid": "PartnerRead", "Effect": "Allow",
                              "Principal": {"AWS": role(PARTNER, "partner-etl").arn},
                              "Action": ["s3:GetObject", "s3:ListBucket"],
                              "Resource": [f"arn:aws:s3:::{LAKE_BUCKET}", f"arn:aws:s3:::{LAKE_BUCKET}/*"]}),
        _bucket(ATHENA_BUCKET),
    ]),
    DEV: dict([
        _bucket(SCRATCH_BUCKET),
        (BUILD_TOPIC, {"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [
            {"Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"},
             "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                        "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe",
                        "SNS:ListSubscriptionsByTopic", "SNS:Publish"],
             "Resource": BUILD_TOPIC, "Condition": {"StringEquals": {"AWS:SourceOwner": DEV}}}]}),
    ]),
    SANDBOX: dict([_bucket(SANDBOX_BUCKET)]),
    PARTNER: dict([
        # The partner grants orders-api its exchange folder; the VPC endpoint still refuses it.
        _bucket(VENDOR_BUCKET, {"Sid": "AcmeOrdersExchange", "Effect": "Allow",
                                "Principal": {"AWS": role(PROD, "orders-api").arn},
                                "Action": ["s3:GetObject", "s3:PutObject"],
                                "Resource": f"arn:aws:s3:::{VENDOR_BUCKET}/*"}),
    ]),
}

# The endpoint policy of orders-api's VPC (as DescribeVpcEndpoints returns it: JSON text).
# Scenarios NO_ALLOW_ENDPOINT (nothing allows resources outside the organization) and
# EXPLICIT_DENY_ENDPOINT (uploads outside it are denied outright).
VPC_ENDPOINTS: dict[str, dict[str, dict[str, Any]]] = {
    PROD: {ORDERS_VPCE: {
        "VpcId": "vpc-0b1c2d3e4f5a69788", "ServiceName": f"com.amazonaws.{HOME_REGION}.s3",
        "PolicyDocument": json.dumps(_doc(
            {"Sid": "OrganizationResources", "Effect": "Allow", "Principal": "*", "Action": "*",
             "Resource": "*", "Condition": {"StringEquals": {"aws:ResourceOrgID": ORG_ID}}},
            {"Sid": "NoUploadsOutsideOrganization", "Effect": "Deny", "Principal": "*",
             "Action": "s3:PutObject", "Resource": "*",
             "Condition": {"StringNotEquals": {"aws:ResourceOrgID": ORG_ID}}})),
    }},
}
KMS_ALIASES = {PROD: {f"arn:aws:kms:{HOME_REGION}:{PROD}:alias/orders-app": APP_KEY,
                      f"arn:aws:kms:{HOME_REGION}:{PROD}:alias/payments": PAYMENTS_KEY}}


# --- organization ------------------------------------------------------------------------------

_AWS_MANAGED_ORG_POLICIES = ("p-FullAWSAccess", "p-RCPFullAWSAccess")


def _org_policy(policy_id: str, name: str, kind: str, document: dict[str, Any],
                description: str = "") -> OrgPolicy:
    """An SCP or RCP as ``get-scps`` lists it (``PolicyDocument`` is JSON text, as AWS returns)."""
    folder = "service_control_policy" if kind == SCP else "resource_control_policy"
    aws_managed = policy_id in _AWS_MANAGED_ORG_POLICIES
    owner = "aws" if aws_managed else f"{MANAGEMENT}:policy/{ORG_ID}"
    arn = (f"arn:aws:organizations::aws:policy/{folder}/{policy_id}" if aws_managed
           else f"arn:aws:organizations::{owner}/{folder}/{policy_id}")
    return OrgPolicy(policy_id, arn, name, kind, json.dumps(document), description, aws_managed)


FULL_AWS_ACCESS = _org_policy("p-FullAWSAccess", "FullAWSAccess", SCP, _doc(_allow("*")),
                               "Allows access to every operation")
RCP_FULL_AWS_ACCESS = _org_policy(
    "p-RCPFullAWSAccess", "RCPFullAWSAccess", RCP,
    _doc({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}),
    "Allows access to every operation")
PROTECT_AUDIT_TRAIL = _org_policy("p-7h3n5q1w", "ProtectAuditTrail", SCP, _doc(
    {"Sid": "ProtectSecurityServices", **_deny([
        "cloudtrail:DeleteTrail", "cloudtrail:PutEventSelectors", "cloudtrail:StopLogging",
        "cloudtrail:UpdateTrail", "config:DeleteConfigurationRecorder", "config:StopConfigurationRecorder",
        "guardduty:DeleteDetector", "guardduty:DisassociateFromMasterAccount"],
        Condition={"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/SecurityBreakGlass"}})},
    {"Sid": "DenyLeaveOrganization", **_deny("organizations:LeaveOrganization")},
), "Scenario EXPLICIT_DENY_SCP: nobody but break-glass stops CloudTrail")
DENY_UNAPPROVED_REGIONS = _org_policy("p-4r9x2k7m", "DenyUnapprovedRegions", SCP, _doc(
    {"Sid": "DenyOutsideApprovedRegions", "Effect": "Deny", "NotAction": [
        "a4b:*", "acm:*", "budgets:*", "ce:*", "cloudfront:*", "ec2:DescribeRegions", "health:*",
        "iam:*", "organizations:*", "route53:*", "s3:GetAccountPublicAccessBlock",
        "s3:ListAllMyBuckets", "sts:*", "support:*", "trustedadvisor:*", "waf:*", "wafv2:*"],
     "Resource": "*", "Condition": {
        "StringNotEquals": {"aws:RequestedRegion": list(APPROVED_REGIONS)},
        "ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/OrganizationAccountAccessRole"}}},
), "Scenario EXPLICIT_DENY_SCP: workloads run in us-east-1 and us-west-2 only")
SANDBOX_ALLOW_LIST = _org_policy("p-2b8v6c0z", "SandboxAllowList", SCP, _doc(
    {"Sid": "AllowListedServices", **_allow([
        "apigateway:*", "cloudformation:*", "cloudwatch:*", "dynamodb:*", "ec2:*", "events:*", "iam:*",
        "kms:*", "lambda:*", "logs:*", "s3:*", "sns:*", "sqs:*", "ssm:*", "sts:*", "xray:*"])},
), "Scenario NO_ALLOW_SCP: the sandbox may use only these services")
ENFORCE_TRUSTED_S3 = _org_policy("p-9k1d3f5h", "EnforceTrustedS3Access", RCP, _doc(
    # AWS's data-perimeter examples test aws:PrincipalOrgID; CloudTrail records the caller's
    # account but not its organization, so the demo lists the accounts instead.
    {"Sid": "DenyS3OutsideTrustedAccounts", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
     "Resource": "*", "Condition": {
        "StringNotEqualsIfExists": {"aws:PrincipalAccount": list(ORG_ACCOUNTS)},
        "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}}},
), "Scenario EXPLICIT_DENY_RCP: S3 data stays with Acme's accounts")


def _node(node_id: str, name: str, parent: str | None, policies: tuple[OrgPolicy, ...]) -> OrgNode:
    kind = "root" if parent is None else "account" if node_id.isdigit() else "ou"
    arn = f"arn:aws:organizations::{MANAGEMENT}:{kind}/{ORG_ID}/{node_id}"
    node_type = NODE_ACCOUNT if node_id.isdigit() else NODE_ROOT_OR_OU
    return OrgNode(node_id, arn, name, node_type, parent, policies)


OU_SECURITY, OU_WORKLOADS = "ou-a1b2-5ecur1ty", "ou-a1b2-w0rkl0ad"
OU_PROD, OU_DEV, OU_SANDBOX = "ou-a1b2-pr0d0001", "ou-a1b2-dev00001", "ou-a1b2-sandb0x1"
_DEFAULTS = (FULL_AWS_ACCESS, RCP_FULL_AWS_ACCESS)
ORG_NODES: tuple[OrgNode, ...] = (
    _node(ROOT_ID, "Root", None, (*_DEFAULTS, PROTECT_AUDIT_TRAIL, ENFORCE_TRUSTED_S3)),
    _node(OU_SECURITY, "Security", ROOT_ID, _DEFAULTS),
    _node(OU_WORKLOADS, "Workloads", ROOT_ID, (*_DEFAULTS, DENY_UNAPPROVED_REGIONS)),
    _node(OU_PROD, "Prod", OU_WORKLOADS, _DEFAULTS),
    _node(OU_DEV, "Dev", OU_WORKLOADS, _DEFAULTS),
    _node(OU_SANDBOX, "Sandbox", ROOT_ID, (SANDBOX_ALLOW_LIST, RCP_FULL_AWS_ACCESS)),
    _node(MANAGEMENT, ACCOUNT_NAMES[MANAGEMENT], ROOT_ID, _DEFAULTS),
    _node(SECURITY, ACCOUNT_NAMES[SECURITY], OU_SECURITY, _DEFAULTS),
    _node(PROD, ACCOUNT_NAMES[PROD], OU_PROD, _DEFAULTS),
    _node(DATA, ACCOUNT_NAMES[DATA], OU_PROD, _DEFAULTS),
    _node(DEV, ACCOUNT_NAMES[DEV], OU_DEV, _DEFAULTS),
    _node(SANDBOX, ACCOUNT_NAMES[SANDBOX], OU_SANDBOX, _DEFAULTS),
)


# --- the snapshot ------------------------------------------------------------------------------

def _managed_arn(name_or_arn: str) -> str:
    return name_or_arn if name_or_arn.startswith("arn:") else aws_managed_arn(name_or_arn)


def _attached(names: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"PolicyName": _managed_arn(name).rsplit("/", 1)[-1], "PolicyArn": _managed_arn(name)}
            for name in names]


def _inline(key: str, policies: tuple[tuple[str, dict[str, Any]], ...]) -> dict[str, Any]:
    return {key: [{"PolicyName": name, "PolicyDocument": document} for name, document in policies]}


def _authorization_details(account: str) -> dict[str, Any]:
    """GetAccountAuthorizationDetails of one account, as the AWS CLI prints it."""
    roles = [r for r in ROLES if r.account == account]
    users = [u for u in USERS if u.account == account]
    groups = [g for g in GROUPS if g.account == account]
    attachments: dict[str, int] = {}
    boundaries: dict[str, int] = {}
    for holder in (*roles, *users, *groups):
        for name in holder.managed:
            attachments[_managed_arn(name)] = attachments.get(_managed_arn(name), 0) + 1
    for r in roles:
        if r.boundary:
            boundaries[r.boundary] = boundaries.get(r.boundary, 0) + 1
    policies = []
    for arn in sorted({*attachments, *boundaries}):
        name = arn.rsplit("/", 1)[-1]
        document = _CUSTOMER_MANAGED.get(arn) or _AWS_MANAGED[name]
        policies.append(_policy_entry(arn, name, document, attachments.get(arn, 0), boundaries.get(arn, 0)))
    return {
        "UserDetailList": [{
            "Path": "/", "UserName": u.name, "UserId": u.user_id, "Arn": u.arn, "CreateDate": _CREATED,
            **_inline("UserPolicyList", u.inline), "GroupList": list(u.groups),
            "AttachedManagedPolicies": _attached(u.managed),
            "Tags": [{"Key": "team", "Value": u.team}],
        } for u in users],
        "GroupDetailList": [{
            "Path": "/", "GroupName": g.name, "GroupId": _unique_id("AGPA", g.arn), "Arn": g.arn,
            "CreateDate": _CREATED, **_inline("GroupPolicyList", g.inline),
            "AttachedManagedPolicies": _attached(g.managed),
        } for g in groups],
        "RoleDetailList": [{
            "Path": r.path, "RoleName": r.name, "RoleId": r.role_id, "Arn": r.arn, "CreateDate": _CREATED,
            "AssumeRolePolicyDocument": r.trust, "Description": r.description,
            "InstanceProfileList": [], **_inline("RolePolicyList", r.inline),
            "AttachedManagedPolicies": _attached(r.managed),
            **({"PermissionsBoundary": {"PermissionsBoundaryType": "Policy",
                                        "PermissionsBoundaryArn": r.boundary}} if r.boundary else {}),
            "Tags": [{"Key": "owner", "Value": "platform"}], "RoleLastUsed": {},
        } for r in roles],
        "Policies": policies,
    }


def build_snapshot(collected_at: str) -> dict[str, Any]:
    """The whole organization as a snapshot document (``spec/snapshot.md``)."""
    accounts = {}
    for account in (*ORG_ACCOUNTS, PARTNER):
        accounts[account] = {
            "authorizationDetails": _authorization_details(account),
            "resourcePolicies": RESOURCE_POLICIES.get(account, {}),
            **({"kmsAliases": KMS_ALIASES[account]} if account in KMS_ALIASES else {}),
            **({"vpcEndpoints": VPC_ENDPOINTS[account]} if account in VPC_ENDPOINTS else {}),
        }
    return {
        "format": FORMAT,
        "collectedAt": collected_at,
        "accounts": accounts,
        "organization": Organization(MANAGEMENT, {node.id: node for node in ORG_NODES}).to_json(),
        "gaps": [],
    }
