"""CloudTrail of an organization's night at realistic cardinality, for the benchmarks (issue 20).

The demo data (``access-undenied demo``) has a few dozen distinct denials: analysis is then
invisible. This generator makes what a real organization's night looks like to the
pipeline: 5 accounts, 192 IAM roles used through sessions (a new session name per hour),
over 100 APIs of 20 services, about 5% denials falling into more than 5,000 distinct
(principal, action, resource) groups. Each role has a least-privilege identity policy for
the APIs it normally calls; its denials are calls outside it, so the snapshot really
explains them, and the demo organization's SCPs add explicit denies (eu-west-1 outside the
approved regions) and missing allows (the sandbox's allow list). Each denial's message says
what AWS's would (``_why_denied``).

Deterministic: the same arguments give the same files. Layouts (as the pipeline reads them):

    cloudtrail/AWSLogs/<org>/<account>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz  S3 delivery,
        one object per account, region and time slot (``objects`` in all, whatever the size)
    cloudtrail-parquet/dt=YYYY-MM-DD/part-<account>.parquet                      Athena layout
    snapshot.json                                                                the policies

With ``--changes N`` the logs also hold N successful policy-change events (the shapes
``analyzer.history.changes`` recognises, as ``tests/data/history/change_events.json``
documents them) on the roles and buckets the denials involve, spread over the days and
delivered as CloudTrail delivers them (a file per account, region and five minutes, named and
filed for its delivery after its events, ``delivered_at``: a change at 23:58 is in the next
day's folder, which a dated run reads for its late deliveries); the
snapshot is then collected at noon of the last day, so some changes are before it and some
after, and explaining a denial at its own time rebuilds the policies around the snapshot.
Without it (the default) the data is what it always was.

A busier organization, each role denied more distinct things (``--denied-per-role 160``:
about 28,800 groups at 1M events instead of 5,200), is how the pipeline's memory was
measured against data with many more groups than the benchmark's own.

With ``--varied-calls`` the calls carry what real ones vary from call to call (EC2's encoded
authorization message in every denial, KMS encryption contexts, DynamoDB item keys): the
same groups, from about twice as many distinct event shapes (1M events: 20,600 against
10,300, or 13,600 once the pipeline leaves the encoded message out of a shape), which is
how the group stage was measured against nights whose denials do not repeat word for word.

Run: ``python benchmarks/org_data.py OUT --events 1000000 [--changes 200]
[--denied-per-role 160] [--varied-calls]``.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from analyzer.actions import operation_actions
from analyzer.cases import parse_case, run_case
from analyzer.demo import org
from analyzer.demo.writer import SCHEMA, athena_row
from analyzer.engine.model import PolicyType, ReasonKind
from analyzer.snapshot.organization import SCP, organization_from_json

# The demo organization's member accounts (analyzer/demo/organization.yaml), so its SCPs apply.
ACCOUNTS = ("333333333333", "444444444444", "555555555555", "222222222222", "666666666666")
ORG_ID = "o-a1b2c3d4e5"
REGIONS = ("us-east-1", "eu-west-1")
ROLES_PER_ACCOUNT = (40, 40, 38, 37, 37)  # 192 principals
DENIED_PER_ROLE = 27  # distinct (action, resource) each role is denied: ~5,180 groups
START = date(2026, 11, 24)
AGENT = "aws-sdk-java/2.28.16 Linux/5.10 OpenJDK_64-Bit_Server_VM/21.0.4+7-LTS"


@dataclass(frozen=True)
class Api:
    """One API: its event source and name, the IAM action, and how its resource is named."""

    source: str
    name: str
    action: str
    resource: str | None = None  # a kind in RESOURCES, or None for "*"

    @property
    def error_code(self) -> str:
        if self.source == "ec2.amazonaws.com":
            return "Client.UnauthorizedOperation"
        return "AccessDenied" if self.source == "s3.amazonaws.com" else "AccessDeniedException"


def _apis() -> tuple[Api, ...]:
    listing = {
        "ec2": [
            "DescribeInstances",
            "DescribeVolumes",
            "DescribeSnapshots",
            "DescribeSecurityGroups",
            "DescribeSubnets",
            "DescribeVpcs",
            "DescribeImages",
            "DescribeKeyPairs",
            "DescribeAddresses",
            "DescribeRouteTables",
            "DescribeNetworkInterfaces",
            "DescribeTags",
            "DescribeLaunchTemplates",
            "DescribeAvailabilityZones",
            "DescribeInstanceTypes",
            "DescribeVpcEndpoints",
            "DescribeNatGateways",
            "DescribeInternetGateways",
            "DescribeVpnConnections",
        ],
        "iam": [
            "ListRoles",
            "ListUsers",
            "ListPolicies",
            "ListGroups",
            "GetAccountSummary",
            "ListAccountAliases",
            "ListInstanceProfiles",
            "ListOpenIDConnectProviders",
            "ListSAMLProviders",
        ],
        "s3": ["ListBuckets"],
        "dynamodb": ["ListTables"],
        "sqs": ["ListQueues"],
        "sns": ["ListTopics", "ListSubscriptions"],
        "kms": ["ListKeys", "ListAliases"],
        "secretsmanager": ["ListSecrets"],
        "ssm": ["DescribeParameters"],
        "logs": ["DescribeLogGroups"],
        "monitoring": ["DescribeAlarms", "ListMetrics", "GetMetricData", "PutMetricData"],
        "cloudformation": ["DescribeStacks", "ListStacks"],
        "ecr": ["GetAuthorizationToken", "DescribeRepositories"],
        "ecs": ["ListClusters", "DescribeClusters"],
        "rds": [
            "DescribeDBInstances",
            "DescribeDBClusters",
            "DescribeDBSnapshots",
            "DescribeDBParameterGroups",
            "DescribeEvents",
        ],
        "elasticloadbalancing": ["DescribeLoadBalancers", "DescribeTargetGroups"],
        "route53": ["ListHostedZones"],
        "cloudtrail": ["DescribeTrails", "LookupEvents"],
        "glue": ["GetDatabases"],
        "athena": ["ListWorkGroups", "ListDataCatalogs"],
        "lambda": ["ListLayers"],
        "autoscaling": ["DescribeAutoScalingGroups", "DescribeLaunchConfigurations"],
        "elasticache": ["DescribeCacheClusters"],
        "es": ["ListDomainNames"],
        "kinesis": ["ListStreams"],
        "states": ["ListStateMachines"],
        "events": ["ListRules"],
        "sts": ["GetSessionToken"],
        "redshift": ["DescribeClusters"],
        "sagemaker": ["ListNotebookInstances"],
        "codebuild": ["ListProjects"],
        "organizations": ["DescribeOrganization"],
    }
    apis = []
    for service, names in listing.items():
        source = f"{service}.amazonaws.com"
        for name in names:
            # The IAM action as the project's API map names it (ListBuckets is
            # s3:ListAllMyBuckets): the snapshot's grants and AWS's messages name real actions.
            apis.append(Api(source, name, operation_actions(source, name)[0].action))
    resourced = [
        ("s3", "GetObject", "s3:GetObject", "object"),
        ("s3", "PutObject", "s3:PutObject", "object"),
        ("s3", "DeleteObject", "s3:DeleteObject", "object"),
        ("s3", "GetBucketPolicy", "s3:GetBucketPolicy", "bucket"),
        ("s3", "GetBucketAcl", "s3:GetBucketAcl", "bucket"),
        ("s3", "GetBucketTagging", "s3:GetBucketTagging", "bucket"),
        ("dynamodb", "GetItem", "dynamodb:GetItem", "table"),
        ("dynamodb", "PutItem", "dynamodb:PutItem", "table"),
        ("dynamodb", "Query", "dynamodb:Query", "table"),
        ("dynamodb", "Scan", "dynamodb:Scan", "table"),
        ("dynamodb", "DescribeTable", "dynamodb:DescribeTable", "table"),
        ("dynamodb", "UpdateItem", "dynamodb:UpdateItem", "table"),
        ("dynamodb", "DeleteItem", "dynamodb:DeleteItem", "table"),
        ("sqs", "SendMessage", "sqs:SendMessage", "queue"),
        ("sqs", "ReceiveMessage", "sqs:ReceiveMessage", "queue"),
        ("sqs", "DeleteMessage", "sqs:DeleteMessage", "queue"),
        ("sqs", "GetQueueAttributes", "sqs:GetQueueAttributes", "queue"),
        ("sns", "Publish", "sns:Publish", "topic"),
        ("sns", "GetTopicAttributes", "sns:GetTopicAttributes", "topic"),
        ("kms", "Decrypt", "kms:Decrypt", "key"),
        ("kms", "Encrypt", "kms:Encrypt", "key"),
        ("kms", "GenerateDataKey", "kms:GenerateDataKey", "key"),
        ("kms", "DescribeKey", "kms:DescribeKey", "key"),
        ("secretsmanager", "GetSecretValue", "secretsmanager:GetSecretValue", "secret"),
        ("secretsmanager", "DescribeSecret", "secretsmanager:DescribeSecret", "secret"),
        ("ssm", "GetParameter", "ssm:GetParameter", "parameter"),
        ("ssm", "PutParameter", "ssm:PutParameter", "parameter"),
        ("iam", "GetRole", "iam:GetRole", "role"),
        ("iam", "ListAttachedRolePolicies", "iam:ListAttachedRolePolicies", "role"),
        ("logs", "CreateLogStream", "logs:CreateLogStream", "log_group"),
        ("logs", "PutLogEvents", "logs:PutLogEvents", "log_group"),
    ]
    for service, name, action, kind in resourced:
        apis.append(Api(f"{service}.amazonaws.com", name, action, kind))
    return tuple(apis)


APIS = _apis()
RESOURCES = {
    "object": 30,
    "bucket": 12,
    "table": 16,
    "queue": 10,
    "topic": 8,
    "key": 8,
    "secret": 12,
    "parameter": 24,
    "role": 20,
    "log_group": 10,
}


def _key_arn(index: int, account: str, region: str) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{uuid.UUID(int=index + 1)}"


def _resource(
    kind: str, index: int, account: str, region: str
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(requestParameters, resources) of a call on resource ``index`` of ``kind``."""
    if kind in ("object", "bucket"):
        bucket = f"acme-{account}-data-{index % 12}"
        params: dict[str, Any] = {"bucketName": bucket, "Host": f"{bucket}.s3.amazonaws.com"}
        arns = [{"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}", "accountId": account}]
        if kind == "object":
            params["key"] = f"exports/part-{index:04d}.csv"
            arns.insert(0, {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{params['key']}"})
        return params, arns
    if kind == "table":
        name = f"orders-{index}"
        return (
            {"tableName": name},
            [
                {
                    "type": "AWS::DynamoDB::Table",
                    "accountId": account,
                    "ARN": f"arn:aws:dynamodb:{region}:{account}:table/{name}",
                }
            ],
        )
    if kind == "queue":
        return {"queueUrl": f"https://sqs.{region}.amazonaws.com/{account}/jobs-{index}"}, []
    if kind == "topic":
        return {"topicArn": f"arn:aws:sns:{region}:{account}:alerts-{index}"}, []
    if kind == "key":
        arn = _key_arn(index, account, region)
        return {"keyId": arn}, [{"type": "AWS::KMS::Key", "accountId": account, "ARN": arn}]
    if kind == "secret":
        return {"secretId": f"app/secret-{index}"}, []
    if kind == "parameter":
        return {"name": f"/app/config/param-{index}"}, []
    if kind == "role":
        return {"roleName": f"service-role-{index}"}, []
    return {"logGroupName": f"/aws/app/group-{index}", "logStreamName": "main"}, []


@dataclass(frozen=True)
class Role:
    account: str
    name: str
    allowed: tuple[int, ...]  # indexes into APIS it normally calls (and is allowed)
    denied: tuple[tuple[int, int], ...]  # (API index, resource index) it is denied

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role/app/{self.name}"


def name_of(account: str, number: int) -> str:
    return f"svc-{number:03d}-{account[-4:]}"


def roles(seed: int, denied_per_role: int = DENIED_PER_ROLE) -> tuple[Role, ...]:
    rng = random.Random(seed)
    out = []
    for account, count in zip(ACCOUNTS, ROLES_PER_ACCOUNT, strict=True):
        for number in range(count):
            allowed = tuple(sorted(rng.sample(range(len(APIS)), 12)))
            outside = [i for i in range(len(APIS)) if i not in allowed]
            possible = sum(RESOURCES[kind] if (kind := APIS[i].resource) else 1 for i in outside)
            if denied_per_role > possible:
                raise ValueError(
                    f"--denied-per-role {denied_per_role}: {name_of(account, number)} can be denied "
                    f"at most {possible} distinct (action, resource) pairs"
                )
            denied: set[tuple[int, int]] = set()
            while len(denied) < denied_per_role:
                api = rng.choice(outside)
                kind = APIS[api].resource
                denied.add((api, rng.randrange(RESOURCES[kind]) if kind else 0))
            out.append(Role(account, name_of(account, number), allowed, tuple(sorted(denied))))
    return tuple(out)


def _resource_arn_pattern(api: Api, account: str) -> str:
    if api.resource is None:
        return "*"
    service = api.action.split(":")[0]
    if service == "s3":
        return f"arn:aws:s3:::acme-{account}-data-*"
    return f"arn:aws:{service}:*:{account}:*"


def snapshot(all_roles: tuple[Role, ...], collected_at: str) -> dict[str, Any]:
    """The demo organization's snapshot plus every role with its least-privilege policy."""
    data = org.build_snapshot(collected_at)
    for account in ACCOUNTS:
        # Every KMS key has a key policy: the default one, which lets the account's IAM
        # policies decide (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
        policies = data["accounts"][account].setdefault("resourcePolicies", {})
        for region in REGIONS:
            for index in range(RESOURCES["key"]):
                policies[_key_arn(index, account, region)] = {
                    "Version": "2012-10-17",
                    "Id": "key-default-1",
                    "Statement": [
                        {
                            "Sid": "Enable IAM User Permissions",
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                            "Action": "kms:*",
                            "Resource": "*",
                        }
                    ],
                }
    for role in all_roles:
        statements = []
        for index in role.allowed:
            api = APIS[index]
            statements.append(
                {
                    "Effect": "Allow",
                    "Action": api.action,
                    "Resource": _resource_arn_pattern(api, role.account),
                }
            )
        details = data["accounts"][role.account]["authorizationDetails"]
        details["RoleDetailList"].append(
            {
                "Path": "/app/",
                "RoleName": role.name,
                "RoleId": f"AROA{role.name.upper()[:16]}",
                "Arn": role.arn,
                "CreateDate": "2025-01-01T00:00:00Z",
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "RolePolicyList": [
                    {
                        "PolicyName": "least-privilege",
                        "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                    }
                ],
                "AttachedManagedPolicies": [],
                "Tags": [{"Key": "team", "Value": "apps"}],
                "InstanceProfileList": [],
                "RoleLastUsed": {},
            }
        )
    return data


def _event(
    rng: random.Random,
    role: Role,
    api: Api,
    resource: int,
    region: str,
    when: datetime,
    denied: bool,
    varied: bool = False,
) -> dict[str, Any]:
    session = f"{role.name}-{when:%H}"  # one session per hour: session ARNs vary, roles do not
    session_arn = f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{session}"
    params, resources = (
        _resource(api.resource, resource, role.account, region) if api.resource else (None, [])
    )
    event: dict[str, Any] = {
        "eventVersion": "1.10",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROA{role.name.upper()[:16]}:{session}",
            "arn": session_arn,
            "accountId": role.account,
            "accessKeyId": f"ASIA{rng.getrandbits(60):016X}",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": f"AROA{role.name.upper()[:16]}",
                    "arn": role.arn,
                    "accountId": role.account,
                    "userName": role.name,
                },
                "attributes": {"creationDate": f"{when:%Y-%m-%dT%H}:00:00Z", "mfaAuthenticated": "false"},
            },
        },
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": api.source,
        "eventName": api.name,
        "awsRegion": region,
        "sourceIPAddress": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "userAgent": AGENT,
        "requestParameters": params,
        "responseElements": None if denied else {"ok": True},
        "requestID": str(uuid.UUID(int=rng.getrandbits(128))),
        "eventID": str(uuid.UUID(int=rng.getrandbits(128))),
        "readOnly": api.name.startswith(("Get", "List", "Describe")),
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": role.account,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": api.source.replace(".amazonaws.com", f".{region}.amazonaws.com"),
        },
    }
    if resources:
        event["resources"] = resources
    if denied:
        target = resources[0]["ARN"] if resources else "*"
        event["errorCode"] = api.error_code
        event["errorMessage"] = (
            f"User: {session_arn} is not authorized to perform: {api.action} on resource: {target} "
            + _why_denied(role.account, api.action, region)
        )
    if varied:
        _vary(rng, event, api, role.account)
    return event


def _vary(rng: random.Random, event: dict[str, Any], api: Api, account: str) -> None:
    """What real calls carry that differs from one call to the next, retries included: EC2
    encodes a new authorization message into every denial (as in the Stratus Red Team
    samples, tests/data/cloudtrail/real/), KMS calls name the S3 object of their encryption
    context, DynamoDB item calls the item's key."""
    params = event.get("requestParameters")
    if api.source == "kms.amazonaws.com" and params is not None:
        bucket, key = f"acme-{account}-data-{rng.randrange(12)}", f"in/{rng.getrandbits(40):010x}.csv"
        params["encryptionContext"] = {"aws:s3:arn": f"arn:aws:s3:::{bucket}/{key}"}
    elif api.source == "dynamodb.amazonaws.com" and params is not None and api.name.endswith("Item"):
        params["key"] = {"pk": f"order#{rng.getrandbits(32)}"}
    elif api.source == "ec2.amazonaws.com" and "errorMessage" in event:
        encoded = base64.urlsafe_b64encode(rng.randbytes(258)).decode()
        event["errorMessage"] = (
            f"You are not authorized to perform this operation. {event['errorMessage']}. "
            f"Encoded authorization failure message: {encoded}"
        )


@cache
def _organization_json() -> dict[str, Any]:
    return org.build_snapshot("2026-01-01T00:00:00Z")["organization"]


@cache
def _why_denied(account: str, action: str, region: str) -> str:
    """The end of AWS's message for a denied call: the organization's SCPs decide first (the
    demo's DenyUnapprovedRegions denies eu-west-1 in the Workloads OU, SandboxAllowList
    allows only some services), else the role's identity policy lacks the action.

    Decided by the project's engine over the demo organization's SCP levels, with an
    identity policy allowing everything, so the messages say what AWS's would; the
    analysis still evaluates every policy itself (the message is only its hint)."""
    organization = organization_from_json(_organization_json())
    path = organization.path(account) if organization else None
    levels = [[json.loads(policy.document) for policy in node.of_type(SCP)] for node in path or ()]
    case = {
        "request": {
            "principal": f"arn:aws:iam::{account}:role/app/probe",
            "action": action,
            "resource": "*",
            "context": {
                "aws:RequestedRegion": region,
                "aws:PrincipalArn": f"arn:aws:iam::{account}:role/app/probe",
            },
        },
        "policies": {
            "identity": [
                {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}
            ],
            "scp": levels or None,
        },
    }
    evaluation = run_case(parse_case(case, 0)).evaluation
    reasons = evaluation.reasons if evaluation else ()
    if any(r.policy_type == PolicyType.SCP and r.kind == ReasonKind.EXPLICIT_DENY for r in reasons):
        return "with an explicit deny in a service control policy"
    if any(r.policy_type == PolicyType.SCP for r in reasons):
        return f"because no service control policy allows the {action} action"
    return f"because no identity-based policy allows the {action} action"


# Managed policies each account's snapshot holds, attached by the AttachRolePolicy changes.
MANAGED = {
    "222222222222": "arn:aws:iam::aws:policy/ReadOnlyAccess",
    "333333333333": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
    "444444444444": "arn:aws:iam::aws:policy/ReadOnlyAccess",
    "555555555555": "arn:aws:iam::aws:policy/PowerUserAccess",
    "666666666666": "arn:aws:iam::aws:policy/AdministratorAccess",
}
MANAGEMENT_ACCOUNT = "111111111111"
SCPS = ("p-4r9x2k7m", "p-6q2w8e4r")  # the demo organization's DenyUnapprovedRegions, ProtectQueues


def _change_event(rng: random.Random, role: Role, when: datetime, number: int) -> dict[str, Any]:
    """One successful policy change on ``role`` or on a bucket it is denied on: an inline
    policy put (allowing one of its denied APIs, or denying one it is allowed), a managed
    policy attached, a bucket policy put, or an SCP attached to its account."""
    kind = rng.random()
    account = role.account
    params: dict[str, Any]
    if kind < 0.45:
        allow = rng.random() < 0.5
        api = APIS[rng.choice([i for i, _ in role.denied] if allow else list(role.allowed))]
        document = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow" if allow else "Deny", "Action": api.action, "Resource": "*"}],
        }
        source, name = "iam.amazonaws.com", "PutRolePolicy"
        params = {
            "roleName": role.name,
            "policyName": f"hotfix-{number}",
            "policyDocument": json.dumps(document),
        }
    elif kind < 0.65:
        source, name = "iam.amazonaws.com", "AttachRolePolicy"
        params = {"policyArn": MANAGED[account], "roleName": role.name}
    elif kind < 0.9:
        bucket = f"acme-{account}-data-{rng.randrange(RESOURCES['bucket'])}"
        statement = {
            "Effect": "Deny" if rng.random() < 0.5 else "Allow",
            "Principal": {"AWS": role.arn},
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": f"arn:aws:s3:::{bucket}/*",
        }
        source, name = "s3.amazonaws.com", "PutBucketPolicy"
        params = {
            "bucketName": bucket,
            "bucketPolicy": {"Version": "2012-10-17", "Statement": [statement]},
            "policy": [""],
            "Host": f"{bucket}.s3.us-east-1.amazonaws.com",
        }
    else:
        source, name = "organizations.amazonaws.com", "AttachPolicy"
        params = {"targetId": account, "policyId": rng.choice(SCPS)}
        account = MANAGEMENT_ACCOUNT
    admin = f"arn:aws:iam::{account}:role/Admin"
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAADMINEXAMPLE:ops",
            "arn": f"arn:aws:sts::{account}:assumed-role/Admin/ops",
            "accountId": account,
            "accessKeyId": f"ASIA{rng.getrandbits(60):016X}",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAADMINEXAMPLE",
                    "arn": admin,
                    "accountId": account,
                    "userName": "Admin",
                },
                "attributes": {"creationDate": f"{when:%Y-%m-%dT%H}:00:00Z", "mfaAuthenticated": "false"},
            },
        },
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": params,
        "responseElements": None,
        "requestID": str(uuid.UUID(int=rng.getrandbits(128))),
        "eventID": str(uuid.UUID(int=rng.getrandbits(128))),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }


def change_events(all_roles: tuple[Role, ...], count: int, seed: int, days: int) -> list[dict[str, Any]]:
    """``count`` policy changes spread over the days (their own random stream, so the other
    events are the same with or without them)."""
    rng = random.Random(seed + 1_000_003)
    start = datetime(START.year, START.month, START.day, tzinfo=UTC)
    span = timedelta(days=days).total_seconds()
    out = []
    for number in range(count):
        when = start + timedelta(seconds=int(rng.random() * span))
        out.append(_change_event(rng, rng.choice(all_roles), when, number))
    return sorted(out, key=lambda record: record["eventTime"])


# CloudTrail delivers a trail's events about every five minutes; a file is named for its
# delivery, after the events it holds.
DELIVERY_EVERY = timedelta(minutes=5)


def delivered_at(event_time: str) -> datetime:
    """When CloudTrail delivers an event of ``event_time``: the end of its five minutes."""
    when = datetime.strptime(event_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    midnight = when.replace(hour=0, minute=0, second=0)
    return midnight + ((when - midnight) // DELIVERY_EVERY + 1) * DELIVERY_EVERY


@dataclass(frozen=True)
class Dataset:
    root: Path
    snapshot: Path
    json_root: Path
    parquet_root: Path
    events: int
    denials: int
    objects: int


def generate(
    root: Path,
    events: int,
    seed: int = 20,
    days: int = 2,
    objects: int = 2500,
    denial_rate: float = 0.05,
    changes: int = 0,
    denied_per_role: int = DENIED_PER_ROLE,
    varied: bool = False,
) -> Dataset:
    """Write ``events`` events over ``days`` days into ``objects`` S3-delivery objects and
    the Athena-layout Parquet, with the snapshot that explains their denials; and
    ``changes`` policy-change events more; ``varied``: with per-call parameters (``_vary``;
    see the module's docstring)."""
    rng = random.Random(seed)
    all_roles = roles(seed, denied_per_role)
    root.mkdir(parents=True, exist_ok=True)
    collected = datetime(START.year, START.month, START.day, tzinfo=UTC) + timedelta(days=days)
    if changes:
        collected -= timedelta(hours=12)
    snapshot_path = root / "snapshot.json"
    snapshot_path.write_text(json.dumps(snapshot(all_roles, f"{collected:%Y-%m-%dT%H:%M:%SZ}")))
    json_root, parquet_root = root / "cloudtrail", root / "cloudtrail-parquet"
    streams = [(account, region) for account in ACCOUNTS for region in REGIONS]
    slots = max(1, objects // (len(streams) * days))
    per_object = events // (slots * len(streams) * days)
    extra = events - per_object * slots * len(streams) * days
    by_account = {account: [r for r in all_roles if r.account == account] for account in ACCOUNTS}
    parquet_rows: dict[tuple[date, str], list[dict[str, Any]]] = {}
    written = denials = files = 0
    slot_length = timedelta(days=1) / slots
    for day in range(days):
        start = datetime(START.year, START.month, START.day, tzinfo=UTC) + timedelta(days=day)
        for slot in range(slots):
            for account, region in streams:
                count = per_object + (1 if extra > 0 else 0)
                extra -= 1
                began = start + slot * slot_length
                records = []
                for _ in range(count):
                    role = rng.choice(by_account[account])
                    when = began + timedelta(seconds=rng.random() * slot_length.total_seconds())
                    if rng.random() < denial_rate:
                        api_index, resource = rng.choice(role.denied)
                        records.append(
                            _event(rng, role, APIS[api_index], resource, region, when, True, varied)
                        )
                        denials += 1
                    else:
                        api = APIS[rng.choice(role.allowed)]
                        resource = rng.randrange(RESOURCES[api.resource]) if api.resource else 0
                        records.append(_event(rng, role, api, resource, region, when, False, varied))
                records.sort(key=lambda record: record["eventTime"])
                folder = (
                    json_root / "AWSLogs" / ORG_ID / account / "CloudTrail" / region / f"{began:%Y/%m/%d}"
                )
                folder.mkdir(parents=True, exist_ok=True)
                name = (
                    f"{account}_CloudTrail_{region}_{began:%Y%m%dT%H%MZ}_{rng.getrandbits(64):016x}.json.gz"
                )
                with gzip.open(folder / name, "wt", encoding="utf-8", compresslevel=6) as handle:
                    json.dump({"Records": records}, handle, separators=(",", ":"))
                parquet_rows.setdefault((began.date(), account), []).extend(
                    athena_row(record) for record in records
                )
                written += count
                files += 1
    deliveries: dict[tuple[str, str, datetime], list[dict[str, Any]]] = {}
    for record in change_events(all_roles, changes, seed, days):
        key = (record["recipientAccountId"], record["awsRegion"], delivered_at(record["eventTime"]))
        deliveries.setdefault(key, []).append(record)
    for (account, region, delivered), records in sorted(deliveries.items()):
        # Filed and named as CloudTrail delivers: under the delivery's day (a change at 23:58
        # is in the next day's folder), named for its time, with a unique suffix.
        folder = json_root / "AWSLogs" / ORG_ID / account / "CloudTrail" / region / f"{delivered:%Y/%m/%d}"
        folder.mkdir(parents=True, exist_ok=True)
        unique = hashlib.sha256(" ".join(r["eventID"] for r in records).encode()).hexdigest()[:16]
        name = f"{account}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_{unique}.json.gz"
        with gzip.open(folder / name, "wt", encoding="utf-8", compresslevel=6) as handle:
            json.dump({"Records": records}, handle, separators=(",", ":"))
        for record in records:
            day_ = datetime.strptime(record["eventTime"][:10], "%Y-%m-%d").date()
            parquet_rows.setdefault((day_, account), []).append(athena_row(record))
        written += len(records)
        files += 1
    for (day_, account), rows in sorted(parquet_rows.items()):
        folder = parquet_root / f"dt={day_:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            pa.Table.from_pylist(rows, schema=SCHEMA), folder / f"part-{account}.parquet", compression="zstd"
        )
    return Dataset(root, snapshot_path, json_root, parquet_root, written, denials, files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--objects", type=int, default=2500)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--changes", type=int, default=0, help="policy-change events to add (default none)")
    parser.add_argument(
        "--denied-per-role",
        type=int,
        default=DENIED_PER_ROLE,
        help=f"distinct (action, resource) pairs each role is denied (default {DENIED_PER_ROLE})",
    )
    parser.add_argument(
        "--varied-calls",
        action="store_true",
        help="calls carry what differs from call to call (EC2's encoded messages, KMS encryption "
        "contexts, DynamoDB item keys): many more distinct shapes for the same groups",
    )
    args = parser.parse_args()
    try:
        data = generate(
            args.out,
            args.events,
            args.seed,
            objects=args.objects,
            changes=args.changes,
            denied_per_role=args.denied_per_role,
            varied=args.varied_calls,
        )
    except ValueError as error:  # an impossible --denied-per-role, before anything is written
        parser.error(str(error))
    print(
        json.dumps(
            {
                "events": data.events,
                "denials": data.denials,
                "objects": data.objects,
                "json": str(data.json_root),
                "parquet": str(data.parquet_root),
                "snapshot": str(data.snapshot),
            }
        )
    )


if __name__ == "__main__":
    main()
