"""Who calls what in the demo organization: the allowed traffic and the denial scenarios.

Both are tables of data. ``WORKLOADS`` is the normal, allowed traffic: each workload is
one caller (an ``Actor``) and the API calls it makes, chosen so that the caller's policies
in ``analyzer.demo.org`` allow them. ``SCENARIOS`` are the denials: each names the reason
code (``analyzer/data/reasons.json``) the analyzer must find, the policy that causes it,
and the error AWS returns, in the shape AWS words it
(https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html).

``templates()`` renders every (caller, call, variant) once into a CloudTrail event whose
time and ids are still placeholders; the writer only fills those in, which is what makes
a million events cheap.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from analyzer.demo import org
from analyzer.demo.org import (
    APP_KEY,
    ASSETS_BUCKET,
    ATHENA_BUCKET,
    AUDIT_BUCKET,
    BUILD_TOPIC,
    DATA,
    DENIED_REGION,
    DEV,
    EXPORTS_BUCKET,
    HOME_REGION,
    LAKE_BUCKET,
    MANAGEMENT,
    ORDERS_QUEUE,
    ORDERS_SECRET,
    ORDERS_TOPIC,
    ORDERS_VPCE,
    PARTNER,
    PAYMENTS_KEY,
    PAYMENTS_QUEUE,
    PROD,
    SANDBOX,
    SANDBOX_BUCKET,
    SCRATCH_BUCKET,
    SECOND_REGION,
    SECURITY,
    VENDOR_BUCKET,
    queue_url,
)

# Placeholders the writer replaces per event (see ``analyzer.demo.writer``).
TIME, CREATED, EVENT_ID, REQUEST_ID = "@@TIME@@", "@@CREATED@@", "@@EVENTID@@", "@@REQUESTID@@"

BOTO3 = ("Boto3/1.35.36 md/Botocore#1.35.36 ua/2.0 os/linux#5.10.227-219.884.amzn2.x86_64 "
         "md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.36")
JAVA = ("aws-sdk-java/2.28.16 Linux/5.10.226-214.880.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/21.0.4+7-LTS "
        "Java/21.0.4 vendor/Amazon.com_Inc. md/internal io/sync http/Apache cfg/retry-mode/legacy")
CLI = ("aws-cli/2.18.5 md/awscrt#0.22.0 ua/2.0 os/macos#23.6.0 md/arch#arm64 lang/python#3.12.6 "
       "md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#")
CONSOLE = "AWS Internal"
TERRAFORM = ("APN/1.0 HashiCorp/1.0 Terraform/1.9.7 (+https://www.terraform.io) "
             "terraform-provider-aws/5.70.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
             "aws-sdk-go-v2/1.32.0 os/linux lang/go#1.23.1 md/GOOS#linux md/GOARCH#amd64")

# Object-level S3, item-level DynamoDB, Lambda Invoke, SQS and SNS messages are data events.
_DATA_EVENTS = frozenset({
    ("s3", "GetObject"), ("s3", "PutObject"), ("s3", "HeadObject"), ("s3", "DeleteObject"),
    ("dynamodb", "GetItem"), ("dynamodb", "PutItem"), ("dynamodb", "UpdateItem"),
    ("dynamodb", "DeleteItem"), ("dynamodb", "Query"), ("dynamodb", "Scan"), ("lambda", "Invoke"),
    ("sqs", "SendMessage"), ("sqs", "ReceiveMessage"), ("sqs", "DeleteMessage"), ("sns", "Publish"),
})
_READ_PREFIXES = ("Get", "List", "Describe", "Head", "Lookup", "Filter", "BatchGet", "Query", "Scan",
                  "Search")
_EVENT_SOURCES = {"monitoring": "monitoring.amazonaws.com", "cloudwatch": "monitoring.amazonaws.com"}


def _stable(text: str, size: int, alphabet: str = "0123456789abcdef") -> str:
    """A reproducible pseudo-random id derived from ``text``."""
    digest = hashlib.sha256(text.encode()).digest() * (size // 32 + 1)
    return "".join(alphabet[b % len(alphabet)] for b in digest[:size])


# --- callers -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Actor:
    """Someone whose calls CloudTrail records, with the ``userIdentity`` type AWS gives it.

    ``kind`` is CloudTrail's type: ``IAMUser``, ``AssumedRole`` (a role session),
    ``Root``, ``AWSService`` (a service acting itself, e.g. assuming a role) or
    ``AWSAccount`` (a caller from another account as the resource owner's trail sees it).
    """

    kind: str
    account: str
    name: str  # user name, role name, or service principal
    path: str = "/"
    session: str = ""
    ip: str = "203.0.113.10"
    agent: str = BOTO3
    mfa: bool = False
    vpce: str | None = None  # the VPC endpoint its S3/DynamoDB calls go through

    @property
    def arn(self) -> str:
        """The ARN AWS names in error messages (the session ARN for a role)."""
        if self.kind == "IAMUser":
            return f"arn:aws:iam::{self.account}:user{self.path}{self.name}"
        if self.kind in ("AssumedRole", "AWSAccount"):
            return f"arn:aws:sts::{self.account}:assumed-role/{self.name}/{self.session}"
        if self.kind == "Root":
            return f"arn:aws:iam::{self.account}:root"
        return self.name

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role{self.path}{self.name}"

    def identity(self) -> dict[str, Any]:
        """CloudTrail's ``userIdentity`` (session creation time is a placeholder)."""
        key = _stable(self.arn, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        attributes = {"creationDate": CREATED, "mfaAuthenticated": "true" if self.mfa else "false"}
        if self.kind == "IAMUser":
            return {"type": "IAMUser", "principalId": org.user(self.account, self.name).user_id,
                    "arn": self.arn, "accountId": self.account, "accessKeyId": f"AKIA{key}",
                    "userName": self.name}
        if self.kind == "AssumedRole":
            role_id = org.role(self.account, self.name).role_id
            return {"type": "AssumedRole", "principalId": f"{role_id}:{self.session}", "arn": self.arn,
                    "accountId": self.account, "accessKeyId": f"ASIA{key}",
                    "sessionContext": {"sessionIssuer": {
                        "type": "Role", "principalId": role_id, "arn": self.role_arn,
                        "accountId": self.account, "userName": self.name},
                        "attributes": attributes}}
        if self.kind == "AWSAccount":
            role_id = org.role(self.account, self.name).role_id
            return {"type": "AWSAccount", "principalId": f"{role_id}:{self.session}",
                    "accountId": self.account}
        if self.kind == "Root":
            return {"type": "Root", "principalId": self.account, "arn": self.arn,
                    "accountId": self.account, "accessKeyId": f"ASIA{key}",
                    "sessionContext": {"attributes": attributes}}
        return {"type": "AWSService", "invokedBy": self.name}


def as_role(account: str, name: str, session: str, ip: str = "10.20.31.44", agent: str = BOTO3,
            vpce: str | None = None) -> Actor:
    return Actor("AssumedRole", account, name, org.role(account, name).path, session, ip, agent, vpce=vpce)


def as_sso(account: str, name: str, email: str, ip: str, agent: str = CONSOLE) -> Actor:
    """A person signed in through IAM Identity Center (session name = their e-mail)."""
    return Actor("AssumedRole", account, name, org.role(account, name).path, email, ip, agent, mfa=True)


def as_user(account: str, name: str, ip: str, agent: str = CLI) -> Actor:
    return Actor("IAMUser", account, name, ip=ip, agent=agent)


def as_service(name: str) -> Actor:
    return Actor("AWSService", "", name, ip=name, agent=name)


ORDERS_API = as_role(PROD, "orders-api", "3f2a9c0b7d4e4b1c8a6f5e2d1c0b9a87", "10.20.31.44", JAVA,
                     vpce=ORDERS_VPCE)
PAYMENTS_WORKER = as_role(PROD, "payments-worker", "payments-worker", "3.91.117.20", BOTO3)
PROD_POWER = as_sso(PROD, "AWSReservedSSO_PowerUserAccess_7a6b5c4d3e2f1a0b", "bob@acme.example",
                    "198.51.100.24")
PROD_ADMIN = as_sso(PROD, "AWSReservedSSO_AdministratorAccess_2c3d4e5f6a7b8c9d", "erin@acme.example",
                    "198.51.100.77")
CI_DEPLOY = as_role(PROD, "ci-deploy", "GitHubActions", "20.42.11.5", TERRAFORM)
ANALYTICS_READER = as_role(PROD, "analytics-reader", "etl-nightly", "44.201.3.18", BOTO3)
ANALYTICS_ETL = as_role(DATA, "analytics-etl", "GlueJobRunnerSession", "44.201.3.18", BOTO3)
ML_TRAINING = as_role(DATA, "ml-training", "SageMaker", "44.199.81.2", BOTO3)
DATA_ANALYST = as_sso(DATA, "AWSReservedSSO_DataAnalyst_9e8d7c6b5a4f3e2d", "carol@acme.example",
                      "198.51.100.9")
SECURITY_AUDIT = as_sso(SECURITY, "AWSReservedSSO_SecurityAudit_5d4c3b2a1f0e9d8c", "frank@acme.example",
                        "198.51.100.60")
LOG_SHIPPER = as_role(SECURITY, "log-shipper", "i-0c4f2b9d8e7a61530", "10.40.2.17", BOTO3)
MGMT_ROOT = Actor("Root", MANAGEMENT, "root", ip="198.51.100.2", agent=CONSOLE, mfa=True)
MGMT_ADMIN = as_sso(MANAGEMENT, "AWSReservedSSO_AdministratorAccess_3f1e2d4c5b6a7980", "erin@acme.example",
                    "198.51.100.77")
ALICE = as_user(DEV, "alice", "192.0.2.14")
BOB = as_user(DEV, "bob", "192.0.2.33")
CAROL = as_user(DEV, "carol", "192.0.2.51")
DAVE = as_user(DEV, "dave", "192.0.2.78", TERRAFORM)
DEV_RUNNER = as_role(DEV, "dev-lambda-runner", "dev-lambda-runner", "34.230.12.99", BOTO3)
DEV_PROVISIONER = as_role(DEV, "dev-provisioner", "alice", "192.0.2.14", TERRAFORM)
REPORTING_JOB = as_role(DEV, "reporting-job", "8d1e5c3b2a7f4e6d9c0b1a2f3e4d5c6b", "10.50.7.21", JAVA)
SANDBOX_ADMIN = as_sso(SANDBOX, "AWSReservedSSO_SandboxAdmin_4b5c6d7e8f9a0b1c", "gina@acme.example",
                       "198.51.100.130")
PARTNER_ETL = Actor("AWSAccount", PARTNER, "partner-etl", session="nightly-sync", ip="52.14.200.7",
                    agent=JAVA)


# --- calls -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """One API call as CloudTrail records it. ``{v}`` in any string is replaced by each of
    ``variants`` in turn, so one row yields several distinct requests (object keys, ids)."""

    service: str  # the eventSource's first label: s3 -> s3.amazonaws.com
    name: str  # eventName
    params: Mapping[str, Any] | None = None
    resources: tuple[tuple[str, str, str], ...] = ()  # (type, ARN, account)
    response: Mapping[str, Any] | None = None
    region: str = HOME_REGION
    variants: tuple[str, ...] = ("",)
    weight: float = 1.0

    @property
    def event_source(self) -> str:
        return _EVENT_SOURCES.get(self.service, f"{self.service}.amazonaws.com")

    @property
    def read_only(self) -> bool:
        return self.name.startswith(_READ_PREFIXES) or self.name in ("ReceiveMessage",
                                                                     "GetCallerIdentity")

    @property
    def is_data_event(self) -> bool:
        return (self.service, self.name) in _DATA_EVENTS


def _s3(name: str, bucket: str, key: str | None = None, owner: str | None = None, **kw: Any) -> Call:
    params: dict[str, Any] = {"bucketName": bucket, "Host": f"{bucket}.s3.{kw.get('region', HOME_REGION)}"
                                                            ".amazonaws.com"}
    resources: list[tuple[str, str, str]] = []
    if key is not None:
        params["key"] = key
        resources.append(("AWS::S3::Object", f"arn:aws:s3:::{bucket}/{key}", ""))
    elif name == "ListObjects":
        params.update({"list-type": "2", "prefix": "", "encoding-type": "url"})
    resources.append(("AWS::S3::Bucket", f"arn:aws:s3:::{bucket}", owner or ""))
    return Call("s3", name, params, tuple(resources), **kw)


def _ddb(name: str, table_arn: str, **kw: Any) -> Call:
    table = table_arn.rsplit("/", 1)[-1]
    params: dict[str, Any] = {"tableName": table}
    if name in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
        params["key"] = {"pk": "HIDDEN_DUE_TO_SECURITY_REASONS"}
    owner = table_arn.split(":")[4]
    return Call("dynamodb", name, params, (("AWS::DynamoDB::Table", table_arn, owner),), **kw)


def _sqs(name: str, queue_arn: str, **kw: Any) -> Call:
    params: dict[str, Any] = {"queueUrl": queue_url(queue_arn)}
    if name == "ReceiveMessage":
        params.update({"maxNumberOfMessages": 10, "waitTimeSeconds": 20})
    if name == "DeleteMessage":
        params["receiptHandle"] = "HIDDEN_DUE_TO_SECURITY_REASONS"
    return Call("sqs", name, params, (("AWS::SQS::Queue", queue_arn, queue_arn.split(":")[4]),), **kw)


def _kms(name: str, key_arn: str, **kw: Any) -> Call:
    params: dict[str, Any] = {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    if name in ("GenerateDataKey", "DescribeKey", "Encrypt"):
        params = {"keyId": key_arn, **({"keySpec": "AES_256"} if name == "GenerateDataKey" else {})}
    return Call("kms", name, params, (("AWS::KMS::Key", key_arn, key_arn.split(":")[4]),), **kw)


def _assume(role: org.Role, session: str, **kw: Any) -> Call:
    session_arn = f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{session}"
    key = "ASIA" + _stable(role.arn + session, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    params = {"roleArn": role.arn, "roleSessionName": session, "durationSeconds": 3600}
    return Call("sts", "AssumeRole", params,
                (("AWS::IAM::Role", role.arn, role.account),),
                {"credentials": {"accessKeyId": key, "sessionToken": "IQoJb3JpZ2luX2VjEOf//////////wEaCXVz"},
                 "assumedRoleUser": {"assumedRoleId": f"{role.role_id}:{session}", "arn": session_arn}}, **kw)


def _ec2(name: str, **kw: Any) -> Call:
    return Call("ec2", name, kw.pop("params", {"filterSet": {}}), **kw)


_INSTANCES = ("i-0a12b34c56d78e901", "i-0b23c45d67e89f012", "i-0c34d56e78f90a123")


def _instances(name: str, **kw: Any) -> Call:
    return Call("ec2", name, {"instancesSet": {"items": [{"instanceId": "{v}"}]}}, variants=_INSTANCES, **kw)


def _run_instances(subnet: str, **kw: Any) -> Call:
    return Call("ec2", "RunInstances", {
        "instancesSet": {"items": [{"imageId": "ami-0c55b159cbfafe1f0", "minCount": 1, "maxCount": 1}]},
        "instanceType": "{v}", "subnetId": subnet, "disableApiTermination": False,
        "tagSpecificationSet": {"items": [{"resourceType": "instance",
                                           "tags": [{"key": "team", "value": "orders"}]}]},
    }, variants=("t3.micro", "m6i.large", "c7g.xlarge"), **kw)


# --- the allowed traffic -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workload:
    """One caller and the calls it makes; ``weight`` is its share of the allowed traffic."""

    actor: Actor
    weight: float
    calls: tuple[Call, ...]


PAYMENTS_FUNCTION = f"arn:aws:lambda:{HOME_REGION}:{PROD}:function:payments-worker"
_OBJECTS = ("orders/2026/11/summary.json", "images/logo.png", "exports/daily.csv.gz", "config/app.yaml")
_LAKE_KEYS = ("raw/orders/part-0000.parquet", "raw/orders/part-0001.parquet", "curated/customers.parquet")

WORKLOADS: tuple[Workload, ...] = (
    Workload(ORDERS_API, 30, (
        _ddb("GetItem", org.ORDERS_TABLE, weight=6), _ddb("Query", org.ORDERS_TABLE, weight=4),
        _ddb("PutItem", org.ORDERS_TABLE, weight=3), _ddb("UpdateItem", org.ORDERS_TABLE, weight=2),
        _sqs("SendMessage", ORDERS_QUEUE, weight=3), _sqs("ReceiveMessage", ORDERS_QUEUE, weight=3),
        _sqs("DeleteMessage", ORDERS_QUEUE, weight=2),
        Call("sns", "Publish", {"topicArn": ORDERS_TOPIC}, (("AWS::SNS::Topic", ORDERS_TOPIC, PROD),)),
        _s3("GetObject", ASSETS_BUCKET, "{v}", PROD, variants=_OBJECTS, weight=3),
        _s3("PutObject", ASSETS_BUCKET, "uploads/{v}.pdf", PROD, variants=("inv-1001", "inv-1002")),
        _kms("Decrypt", APP_KEY, weight=2), _kms("GenerateDataKey", APP_KEY),
        Call("secretsmanager", "GetSecretValue", {"secretId": ORDERS_SECRET},
             (("AWS::SecretsManager::Secret", ORDERS_SECRET, PROD),), weight=0.5),
        Call("logs", "CreateLogStream", {"logGroupName": "/ecs/orders-api", "logStreamName": "ecs/{v}"},
             variants=("a1", "b2"), weight=0.2),
    )),
    Workload(PAYMENTS_WORKER, 12, (
        _sqs("ReceiveMessage", PAYMENTS_QUEUE, weight=4), _sqs("DeleteMessage", PAYMENTS_QUEUE, weight=2),
        _ddb("GetItem", org.PAYMENTS_TABLE, weight=2), _ddb("PutItem", org.PAYMENTS_TABLE),
        _ddb("UpdateItem", org.PAYMENTS_TABLE), _kms("Decrypt", APP_KEY, weight=2),
        Call("logs", "CreateLogStream", {"logGroupName": "/aws/lambda/payments-worker",
                                         "logStreamName": "2026/11/24/[$LATEST]{v}"},
             variants=("5f0c1a", "8e2d4b"), weight=0.3),
    )),
    Workload(as_service("lambda.amazonaws.com"), 3, (
        _assume(org.role(PROD, "payments-worker"), "payments-worker"),
        _assume(org.role(DEV, "dev-lambda-runner"), "dev-lambda-runner"),
    )),
    Workload(as_service("ecs-tasks.amazonaws.com"), 2, (
        _assume(org.role(PROD, "orders-api"), "3f2a9c0b7d4e4b1c8a6f5e2d1c0b9a87"),
        _assume(org.role(DEV, "reporting-job"), "8d1e5c3b2a7f4e6d9c0b1a2f3e4d5c6b"),
    )),
    Workload(as_service("glue.amazonaws.com"), 0.5, (
        _assume(org.role(DATA, "analytics-etl"), "GlueJobRunnerSession"),)),
    Workload(PROD_POWER, 8, (
        _ec2("DescribeInstances", weight=4), _ec2("DescribeSecurityGroups"), _ec2("DescribeVpcs"),
        _ec2("DescribeSubnets"), _ec2("DescribeVolumes"),
        _ec2("DescribeImages", params={"imagesSet": {"items": [{"imageId": "ami-0c55b159cbfafe1f0"}]}}),
        _ec2("DescribeRegions", params={"regionSet": {}}),
        _ec2("DescribeInstances", region=SECOND_REGION, weight=2),
        _run_instances("subnet-0a1b2c3d4e5f60789", weight=0.3),
        _run_instances("subnet-0f9e8d7c6b5a40321", region=SECOND_REGION, weight=0.2),
        _instances("StopInstances", weight=0.2), _instances("StartInstances", weight=0.2),
        Call("ec2", "CreateTags", {"resourcesSet": {"items": [{"resourceId": "{v}"}]},
                                   "tagSet": {"items": [{"key": "owner", "value": "bob"}]}},
             variants=_INSTANCES, weight=0.2),
        Call("monitoring", "GetMetricData", {"startTime": "Nov 24, 2026, 1:00:00 AM",
                                             "endTime": "Nov 24, 2026, 2:00:00 AM"}, weight=2),
        Call("monitoring", "DescribeAlarms", {"maxRecords": 100}),
        Call("monitoring", "PutMetricAlarm", {"alarmName": "orders-5xx", "metricName": "5XXError",
                                              "namespace": "AWS/ApiGateway", "threshold": 5.0}, weight=0.1),
        Call("logs", "FilterLogEvents", {"logGroupName": "/ecs/orders-api", "filterPattern": "ERROR"}),
        Call("logs", "DescribeLogGroups", {"limit": 50}),
        Call("lambda", "ListFunctions20150331", {}),
        Call("lambda", "GetFunction20150331v2", {"functionName": "payments-worker"}),
        Call("lambda", "GetFunctionConfiguration20150331v2", {"functionName": "payments-worker"}),
        Call("lambda", "Invoke", {"functionName": PAYMENTS_FUNCTION, "invocationType": "Event"},
             (("AWS::Lambda::Function", PAYMENTS_FUNCTION, PROD),),
             weight=0.3),
        _ddb("DescribeTable", org.ORDERS_TABLE), Call("dynamodb", "ListTables", {}),
        Call("cloudformation", "DescribeStacks", {"stackName": "orders-service"}),
        Call("cloudformation", "DescribeStackEvents", {"stackName": "orders-service"}),
        Call("ecs", "ListClusters", {}),
        Call("ecs", "DescribeServices", {"cluster": "prod", "services": ["orders-api"]}),
        Call("ssm", "GetParameter", {"name": "/orders/feature-flags", "withDecryption": False}),
        Call("ssm", "GetParametersByPath", {"path": "/orders/", "recursive": True}),
        Call("s3", "ListBuckets", {"Host": "s3.amazonaws.com"}),
        _s3("GetBucketLocation", ASSETS_BUCKET, owner=PROD),
        _s3("GetBucketPolicy", ASSETS_BUCKET, owner=PROD),
        _s3("GetBucketAcl", ASSETS_BUCKET, owner=PROD), _s3("ListObjects", ASSETS_BUCKET, owner=PROD),
        _sqs("GetQueueAttributes", ORDERS_QUEUE), Call("sns", "ListTopics", {}),
        _kms("DescribeKey", APP_KEY), Call("iam", "ListRoles", {"maxItems": 100}),
        Call("sts", "GetCallerIdentity", {}),
    )),
    Workload(PROD_ADMIN, 2, (
        Call("iam", "GetRole", {"roleName": "orders-api"}),
        Call("iam", "ListAttachedRolePolicies", {"roleName": "payments-worker"}),
        Call("iam", "GetRolePolicy", {"roleName": "payments-worker", "policyName": "PaymentsWorker"}),
        Call("iam", "ListPolicies", {"scope": "AWS", "onlyAttached": True}),
        Call("cloudtrail", "DescribeTrails", {"trailNameList": [], "includeShadowTrails": True}),
        Call("cloudtrail", "LookupEvents", {"maxResults": 50}),
        Call("guardduty", "ListFindings", {"detectorId": "12abc34d567e8fa901bc2d34e56789f0"}),
        Call("config", "DescribeConfigRules", {}),
        Call("organizations", "DescribeOrganization", {}),
    )),
    Workload(CI_DEPLOY, 4, (
        Call("cloudformation", "CreateChangeSet", {
            "stackName": "orders-service", "changeSetName": "deploy-{v}", "changeSetType": "UPDATE",
            "roleARN": f"arn:aws:iam::{PROD}:role/service/cfn-deployer"}, variants=("481", "482", "483")),
        Call("cloudformation", "ExecuteChangeSet", {"stackName": "orders-service",
                                                    "changeSetName": "deploy-{v}"}, variants=("481", "482")),
        Call("cloudformation", "DescribeStacks", {"stackName": "orders-service"}, weight=3),
        Call("lambda", "UpdateFunctionCode20150331v2", {"functionName": "payments-worker",
                                                        "publish": True}),
        Call("ecr", "GetAuthorizationToken", {}, weight=2),
        Call("ecr", "BatchGetImage", {"repositoryName": "orders-api", "registryId": PROD,
                                      "imageIds": [{"imageTag": "latest"}]}),
        Call("ecr", "GetDownloadUrlForLayer", {"repositoryName": "orders-api", "registryId": PROD,
                                               "layerDigest": "sha256:{v}"}, variants=("4f1c", "9a7e")),
        Call("ecr", "PutImage", {"repositoryName": "orders-api", "registryId": PROD, "imageTag": "v1.{v}"},
             variants=("41", "42")),
        Call("ecs", "UpdateService", {"cluster": "prod", "service": "orders-api",
                                      "forceNewDeployment": True}),
        Call("ecs", "DescribeServices", {"cluster": "prod", "services": ["orders-api"]}),
        Call("iam", "GetRole", {"roleName": "orders-api"}),
    )),
    Workload(ANALYTICS_ETL, 6, (
        _s3("GetObject", EXPORTS_BUCKET, "daily/{v}.csv.gz", PROD, variants=("2026-11-22", "2026-11-23"),
            weight=3),
        _s3("ListObjects", EXPORTS_BUCKET, owner=PROD),
        _s3("PutObject", LAKE_BUCKET, "{v}", DATA, variants=_LAKE_KEYS, weight=2),
        _s3("GetObject", LAKE_BUCKET, "{v}", DATA, variants=_LAKE_KEYS, weight=2),
        _assume(org.role(PROD, "analytics-reader"), "etl-nightly", weight=0.2),
        Call("glue", "GetTable", {"databaseName": "lake", "name": "{v}"}, variants=("orders", "customers")),
        Call("glue", "GetDatabase", {"name": "lake"}),
        Call("athena", "StartQueryExecution", {"queryString": "SELECT count(*) FROM lake.orders",
                                               "workGroup": "primary"}),
        Call("athena", "GetQueryExecution", {"queryExecutionId": "{v}"},
             variants=("5b1f9a3c-0d2e-4f6a-8b7c-9d0e1f2a3b4c",)),
    )),
    Workload(ANALYTICS_READER, 1, (
        _s3("GetObject", ASSETS_BUCKET, "{v}", PROD, variants=_OBJECTS),
        _s3("ListObjects", ASSETS_BUCKET, owner=PROD),
    )),
    Workload(ML_TRAINING, 2, (_s3("GetObject", LAKE_BUCKET, "{v}", DATA, variants=_LAKE_KEYS),)),
    Workload(DATA_ANALYST, 2, (
        Call("athena", "StartQueryExecution", {"queryString": "SELECT * FROM lake.customers LIMIT 10",
                                               "workGroup": "primary"}),
        Call("athena", "GetQueryResults", {"queryExecutionId": "6c2a0b4d-1e3f-4a5b-9c8d-7e6f5a4b3c2d"}),
        _s3("GetObject", ATHENA_BUCKET, "results/{v}.csv", DATA, variants=("6c2a0b4d", "7d3b1c5e")),
        Call("glue", "GetTable", {"databaseName": "lake", "name": "customers"}),
        Call("glue", "GetDatabases", {}),
    )),
    Workload(SECURITY_AUDIT, 2, (
        Call("iam", "ListUsers", {}), Call("iam", "ListRoles", {}),
        Call("iam", "GetAccountAuthorizationDetails", {"filter": ["Role", "User", "Group"]}, weight=0.2),
        Call("cloudtrail", "DescribeTrails", {}),
        Call("cloudtrail", "GetTrailStatus", {"name": "acme-security-trail"}),
        Call("guardduty", "ListDetectors", {}), Call("config", "DescribeConfigRules", {}),
        Call("iam", "ListAccessKeys", {"userName": "alice"}),
    )),
    Workload(LOG_SHIPPER, 4, (
        _s3("PutObject", AUDIT_BUCKET, "app-logs/2026/11/24/{v}.log.gz", SECURITY,
            variants=("web-01", "web-02", "worker-01"), weight=4),
        _s3("GetObject", AUDIT_BUCKET, "app-logs/2026/11/23/web-01.log.gz", SECURITY),
        _s3("ListObjects", AUDIT_BUCKET, owner=SECURITY),
    )),
    Workload(MGMT_ROOT, 0.3, (
        Call("organizations", "ListAccounts", {}), Call("organizations", "DescribeOrganization", {}),
        Call("ce", "GetCostAndUsage", {"granularity": "MONTHLY", "metrics": ["UnblendedCost"]}),
    )),
    Workload(MGMT_ADMIN, 1, (
        Call("organizations", "ListAccounts", {}),
        Call("organizations", "ListPoliciesForTarget",
             {"targetId": "{v}", "filter": "SERVICE_CONTROL_POLICY"}, variants=(PROD, DEV, SANDBOX)),
        Call("organizations", "DescribeAccount", {"accountId": "{v}"}, variants=(PROD, DATA)),
        Call("sso", "ListPermissionSets", {"instanceArn": "arn:aws:sso:::instance/ssoins-7223a1b2c3d4e5f6"}),
    )),
    Workload(ALICE, 3, (
        _assume(org.role(DEV, "dev-provisioner"), "alice"),
        _ec2("DescribeInstances", region=SECOND_REGION),
        _s3("PutObject", SCRATCH_BUCKET, "alice/{v}", DEV, variants=("notes.txt", "data.csv")),
        Call("lambda", "ListFunctions20150331", {}, region=SECOND_REGION),
        Call("sts", "GetCallerIdentity", {}),
    )),
    Workload(BOB, 3, (
        _s3("GetObject", SCRATCH_BUCKET, "bob/{v}", DEV, variants=("report.html", "model.pkl")),
        _s3("DeleteObject", SCRATCH_BUCKET, "bob/tmp-{v}", DEV, variants=("1", "2")),
        Call("logs", "FilterLogEvents", {"logGroupName": "/aws/lambda/dev-api", "filterPattern": "ERROR"}),
        Call("lambda", "Invoke", {"functionName": f"arn:aws:lambda:{HOME_REGION}:{DEV}:function:dev-api"},
             (("AWS::Lambda::Function", f"arn:aws:lambda:{HOME_REGION}:{DEV}:function:dev-api", DEV),)),
        Call("dynamodb", "Scan", {"tableName": "dev-sessions"},
             (("AWS::DynamoDB::Table", f"arn:aws:dynamodb:{HOME_REGION}:{DEV}:table/dev-sessions", DEV),)),
    )),
    Workload(CAROL, 2, (
        Call("cloudformation", "DescribeStacks", {"stackName": "dev-api"}),
        _ec2("DescribeSecurityGroups"), Call("iam", "ListRoles", {}),
        _s3("ListObjects", SCRATCH_BUCKET, owner=DEV),
    )),
    Workload(DAVE, 2, (
        Call("lambda", "UpdateFunctionCode20150331v2", {"functionName": "dev-api", "publish": True}),
        Call("lambda", "GetFunction20150331v2", {"functionName": "dev-api"}),
        _ec2("DescribeSubnets"), Call("sts", "GetCallerIdentity", {}),
    )),
    Workload(DEV_RUNNER, 4, (
        _s3("GetObject", SCRATCH_BUCKET, "inputs/{v}.json", DEV, variants=("a", "b", "c")),
        _s3("PutObject", SCRATCH_BUCKET, "outputs/{v}.json", DEV, variants=("a", "b")),
        Call("dynamodb", "PutItem",
             {"tableName": "dev-sessions", "key": {"pk": "HIDDEN_DUE_TO_SECURITY_REASONS"}},
             (("AWS::DynamoDB::Table", f"arn:aws:dynamodb:{HOME_REGION}:{DEV}:table/dev-sessions", DEV),)),
        Call("logs", "CreateLogStream", {"logGroupName": "/aws/lambda/dev-api",
                                         "logStreamName": "2026/11/24/[$LATEST]77aa"}, weight=0.3),
    )),
    Workload(DEV_PROVISIONER, 0.5, (
        Call("iam", "CreateRole", {"roleName": "dev-{v}", "path": "/",
                                   "permissionsBoundary": org.DEVELOPER_BOUNDARY},
             variants=("etl", "api")),
        Call("iam", "TagRole", {"roleName": "dev-etl", "tags": [{"key": "owner", "value": "alice"}]}),
        Call("iam", "GetRole", {"roleName": "dev-lambda-runner"}), Call("iam", "ListRoles", {}),
    )),
    Workload(REPORTING_JOB, 1, (
        _s3("GetObject", SCRATCH_BUCKET, "inputs/{v}.json", DEV, variants=("a", "b")),
        _s3("PutObject", SCRATCH_BUCKET, "reports/{v}.html", DEV, variants=("daily", "weekly")),
    )),
    Workload(SANDBOX_ADMIN, 2, (
        _ec2("DescribeInstances"), _run_instances("subnet-0123456789abcdef0", weight=0.3),
        _instances("TerminateInstances", weight=0.2),
        _s3("PutObject", SANDBOX_BUCKET, "test/{v}.txt", SANDBOX, variants=("a", "b")),
        Call("lambda", "CreateFunction20150331", {"functionName": "hello-{v}", "runtime": "python3.12"},
             variants=("world", "test")),
        Call("cloudformation", "CreateStack", {"stackName": "sandbox-{v}"}, variants=("vpc", "api")),
        Call("dynamodb", "CreateTable", {"tableName": "sandbox-items"}),
    )),
)


# --- the denials -------------------------------------------------------------------------------

# AWS's wordings of a denial, by style (see analyzer/data/denial_messages.json for the parser).
_NOT_AUTHORIZED = "User: {principal} is not authorized to perform: {action} on resource: {resource}"
MESSAGES: Mapping[str, str] = MappingProxyType({
    "no_identity": _NOT_AUTHORIZED + " because no identity-based policy allows the {action} action",
    "no_boundary": _NOT_AUTHORIZED + " because no permissions boundary allows the {action} action",
    "no_scp": _NOT_AUTHORIZED + " because no service control policy allows the {action} action",
    "no_resource": _NOT_AUTHORIZED + " because no resource-based policy allows the {action} action",
    "deny_scp": _NOT_AUTHORIZED + " with an explicit deny in a service control policy: {policy_arn}",
    "deny_identity": _NOT_AUTHORIZED + " with an explicit deny in an identity-based policy",
    "deny_boundary": _NOT_AUTHORIZED + " with an explicit deny in a permissions boundary",
    "deny_resource": _NOT_AUTHORIZED + " with an explicit deny in a resource-based policy",
    "deny_endpoint": _NOT_AUTHORIZED + " with an explicit deny in a VPC endpoint policy",
    "no_endpoint": _NOT_AUTHORIZED + " because no VPC endpoint policy allows the {action} action",
    "plain": _NOT_AUTHORIZED,
    "s3_plain": "Access Denied",
    "ec2_encoded": "You are not authorized to perform this operation. Encoded authorization failure "
                   "message: {encoded}",
    "ec2_encoded_detailed": "You are not authorized to perform this operation. " + _NOT_AUTHORIZED
                            + " with an explicit deny in a service control policy. Encoded authorization "
                              "failure message: {encoded}",
    "none": "",
})


@dataclass(frozen=True, slots=True)
class Scenario:
    """One kind of denial: who, which call, what AWS answered, and which policy causes it.

    ``action`` and ``resource`` are the IAM action and resource the engine evaluates (they
    are also what AWS names in the message); ``message_resource`` is the resource as the
    message words it when that differs (S3 quotes it, IAM names ``role <name>``).
    """

    code: str  # the reason code the analyzer must report (analyzer/data/reasons.json)
    why: str
    actor: Actor
    call: Call
    action: str
    resource: str
    error_code: str
    message: str  # a key of MESSAGES
    weight: float
    message_resource: str | None = None
    policy_arn: str = ""


_S3_ERROR = "AccessDenied"
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("EXPLICIT_DENY_SCP", "DenyUnapprovedRegions on the Workloads OU: eu-central-1 is not approved",
             PROD_POWER, _run_instances("subnet-0e1d2c3b4a5968778", region=DENIED_REGION),
             "ec2:RunInstances", f"arn:aws:ec2:{DENIED_REGION}:{PROD}:instance/*",
             "Client.UnauthorizedOperation", "ec2_encoded_detailed", 6),
    Scenario("EXPLICIT_DENY_SCP", "DenyUnapprovedRegions, in EC2's older, encoded-only message",
             PROD_POWER, _ec2("DescribeInstances", region=DENIED_REGION),
             "ec2:DescribeInstances", "*", "Client.UnauthorizedOperation", "ec2_encoded", 10),
    Scenario("EXPLICIT_DENY_SCP",
             "ProtectAuditTrail on the root: only SecurityBreakGlass may stop CloudTrail",
             PROD_ADMIN, Call("cloudtrail", "StopLogging",
                              {"name": f"arn:aws:cloudtrail:{HOME_REGION}:{PROD}:trail/acme-prod-audit"}),
             "cloudtrail:StopLogging", f"arn:aws:cloudtrail:{HOME_REGION}:{PROD}:trail/acme-prod-audit",
             "AccessDeniedException", "deny_scp", 2, policy_arn=org.PROTECT_AUDIT_TRAIL.arn or ""),
    Scenario("NO_ALLOW_SCP", "SandboxAllowList has no rds:* (allow-list OU)",
             SANDBOX_ADMIN, Call("rds", "CreateDBInstance", {
                 "dBInstanceIdentifier": "{v}", "engine": "postgres", "dBInstanceClass": "db.t4g.micro"},
                 variants=("test-postgres", "perf-test")),
             "rds:CreateDBInstance", f"arn:aws:rds:{HOME_REGION}:{SANDBOX}:db:{{v}}", "AccessDenied",
             "no_scp", 3),
    Scenario("NO_ALLOW_SCP", "SandboxAllowList has no sagemaker:*",
             SANDBOX_ADMIN, Call("sagemaker", "CreateNotebookInstance",
                                 {"notebookInstanceName": "explore", "instanceType": "ml.t3.medium"}),
             "sagemaker:CreateNotebookInstance",
             f"arn:aws:sagemaker:{HOME_REGION}:{SANDBOX}:notebook-instance/explore",
             "AccessDeniedException", "no_scp", 1),
    Scenario("EXPLICIT_DENY_RCP", "EnforceTrustedS3Access on the root: the partner account is not Acme's, "
             "although the lake's bucket policy grants it", PARTNER_ETL,
             _s3("GetObject", LAKE_BUCKET, "shared/{v}", DATA,
                 variants=("orders.parquet", "customers.parquet")),
             "s3:GetObject", f"arn:aws:s3:::{LAKE_BUCKET}/shared/{{v}}", _S3_ERROR, "s3_plain", 4),
    Scenario("EXPLICIT_DENY_RESOURCE", "the audit bucket's DenyLogDeletion statement",
             LOG_SHIPPER, _s3("DeleteObject", AUDIT_BUCKET, "app-logs/2026/11/{v}/web-01.log.gz", SECURITY,
                              variants=("01", "02", "03")),
             "s3:DeleteObject", f"arn:aws:s3:::{AUDIT_BUCKET}/app-logs/2026/11/{{v}}/web-01.log.gz",
             _S3_ERROR, "deny_resource", 4,
             message_resource=f'"arn:aws:s3:::{AUDIT_BUCKET}/app-logs/2026/11/{{v}}/web-01.log.gz"'),
    Scenario("EXPLICIT_DENY_ENDPOINT", "the S3 endpoint's NoUploadsOutsideOrganization statement: "
             "the partner's bucket is outside the organization", ORDERS_API,
             _s3("PutObject", VENDOR_BUCKET, "inbound/orders-{v}.csv", PARTNER,
                 variants=("2026-11-22", "2026-11-23")),
             "s3:PutObject", f"arn:aws:s3:::{VENDOR_BUCKET}/inbound/orders-{{v}}.csv", _S3_ERROR,
             "deny_endpoint", 2,
             message_resource=f'"arn:aws:s3:::{VENDOR_BUCKET}/inbound/orders-{{v}}.csv"'),
    Scenario("NO_ALLOW_ENDPOINT", "the S3 endpoint's policy allows only the organization's "
             "resources", ORDERS_API,
             _s3("GetObject", VENDOR_BUCKET, "outbound/prices-{v}.csv", PARTNER,
                 variants=("2026-11-22", "2026-11-23")),
             "s3:GetObject", f"arn:aws:s3:::{VENDOR_BUCKET}/outbound/prices-{{v}}.csv", _S3_ERROR,
             "no_endpoint", 2,
             message_resource=f'"arn:aws:s3:::{VENDOR_BUCKET}/outbound/prices-{{v}}.csv"'),
    Scenario("NO_ALLOW_IDENTITY", "orders-api's OrdersService policy has no dynamodb:DeleteItem",
             ORDERS_API, _ddb("DeleteItem", org.ORDERS_TABLE), "dynamodb:DeleteItem", org.ORDERS_TABLE,
             "AccessDeniedException", "no_identity", 8),
    Scenario("NO_ALLOW_IDENTITY", "reporting-job may read only its scratch bucket",
             REPORTING_JOB, _s3("ListObjects", SCRATCH_BUCKET, owner=DEV), "s3:ListBucket",
             f"arn:aws:s3:::{SCRATCH_BUCKET}", _S3_ERROR, "no_identity", 3,
             message_resource=f'"arn:aws:s3:::{SCRATCH_BUCKET}"'),
    Scenario("EXPLICIT_DENY_IDENTITY", "the Developers group's NoIamPrivilegeEscalation policy",
             DAVE, Call("iam", "AttachRolePolicy", {
                 "roleName": "dev-lambda-runner",
                 "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
             "iam:AttachRolePolicy", f"arn:aws:iam::{DEV}:role/dev-lambda-runner", "AccessDenied",
             "deny_identity", 2, message_resource="role dev-lambda-runner"),
    Scenario("EXPLICIT_DENY_IDENTITY", "the Developers group's NoIamPrivilegeEscalation policy",
             BOB, Call("iam", "CreateAccessKey", {"userName": "bob"}), "iam:CreateAccessKey",
             f"arn:aws:iam::{DEV}:user/bob", "AccessDenied", "deny_identity", 1,
             message_resource="user bob"),
    Scenario("NO_ALLOW_BOUNDARY", "DeveloperBoundary does not allow sns:Publish",
             DEV_RUNNER, Call("sns", "Publish", {"topicArn": BUILD_TOPIC, "subject": "build {v}"},
                              (("AWS::SNS::Topic", BUILD_TOPIC, DEV),), variants=("passed", "failed")),
             "sns:Publish", BUILD_TOPIC, "AuthorizationError", "no_boundary", 5),
    Scenario("EXPLICIT_DENY_BOUNDARY", "DeveloperBoundary's NoLongTermCredentials statement",
             DEV_PROVISIONER, Call("iam", "CreateUser", {"userName": "{v}"},
                                   variants=("temp-contractor", "ci-bot")),
             "iam:CreateUser", f"arn:aws:iam::{DEV}:user/{{v}}", "AccessDenied", "deny_boundary", 2),
    Scenario("NO_ALLOW_RESOURCE_CROSS_ACCOUNT", "acme-prod-exports' bucket policy grants analytics-etl only",
             ML_TRAINING, _s3("GetObject", EXPORTS_BUCKET, "daily/{v}.csv.gz", PROD,
                              variants=("2026-11-21", "2026-11-22", "2026-11-23")),
             "s3:GetObject", f"arn:aws:s3:::{EXPORTS_BUCKET}/daily/{{v}}.csv.gz", _S3_ERROR, "s3_plain", 5),
    Scenario("NO_ALLOW_IDENTITY_AND_RESOURCE_CROSS_ACCOUNT",
             "reporting-job has no sqs permission and the orders queue policy admits only SNS",
             REPORTING_JOB, _sqs("SendMessage", ORDERS_QUEUE), "sqs:sendmessage", ORDERS_QUEUE,
             "AccessDenied", "plain", 4),
    Scenario("NO_ALLOW_RESOURCE_REQUIRED", "the payments key policy names orders-api, not payments-worker, "
             "and does not delegate to the account", PAYMENTS_WORKER, _kms("Decrypt", PAYMENTS_KEY),
             "kms:Decrypt", PAYMENTS_KEY, "AccessDeniedException", "no_resource", 6),
    Scenario("NO_ALLOW_RESOURCE_REQUIRED", "dev-provisioner's trust policy names alice only",
             CAROL, _assume(org.role(DEV, "dev-provisioner"), "carol"), "sts:AssumeRole",
             org.role(DEV, "dev-provisioner").arn, "AccessDenied", "plain", 3),
    Scenario("INVALID_ACTION", "a console page's internal call that maps to no IAM action",
             BOB, Call("billingconsole", "GetBillingPreferences", {}), "", "", "AccessDenied", "none", 1),
)


# --- rendering ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Template:
    """One rendered event (with placeholders) and what it stands for.

    ``code`` is None for allowed traffic, else the scenario's reason code; ``weight`` is
    its share within its kind (allowed or denied).
    """

    event: Mapping[str, Any]
    account: str  # the account whose trail folder receives it (recipientAccountId)
    region: str
    weight: float
    code: str | None = None
    scenario: int | None = None  # index in SCENARIOS
    principal: str = ""  # for denials: the caller as AWS names it
    action: str = ""
    resource: str = ""


def _fill(value: Any, variant: str) -> Any:
    if isinstance(value, str):
        return value.replace("{v}", variant)
    if isinstance(value, Mapping):
        return {key: _fill(item, variant) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_fill(item, variant) for item in value]
    return value


def _encoded_message(seed: str) -> str:
    """An opaque stand-in for EC2's encoded authorization message (only STS can decode real ones)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return _stable(seed, 344, alphabet)


def _event(actor: Actor, call: Call, variant: str, error: tuple[str, str] | None = None) -> dict[str, Any]:
    """A CloudTrail record (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html)."""
    account = actor.account or (call.resources[0][2] if call.resources else PROD)
    host = call.params.get("Host") if call.params else None
    event: dict[str, Any] = {
        "eventVersion": "1.10" if call.is_data_event else "1.09",
        "userIdentity": actor.identity(),
        "eventTime": TIME,
        "eventSource": call.event_source,
        "eventName": call.name,
        "awsRegion": call.region,
        "sourceIPAddress": actor.ip,
        "userAgent": actor.agent,
    }
    if error is not None:
        event["errorCode"], message = error
        if message:
            event["errorMessage"] = message
    event["requestParameters"] = _fill(call.params, variant) if call.params is not None else None
    event["responseElements"] = None if error is not None else _fill(call.response, variant)
    if call.service == "s3":
        event["additionalEventData"] = {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                                        "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader",
                                        "x-amz-id-2": _stable(call.name + variant, 56)}
    event["requestID"] = REQUEST_ID
    event["eventID"] = EVENT_ID
    event["readOnly"] = call.read_only
    if call.resources:
        event["resources"] = [
            {"accountId": owner, "type": kind, "ARN": _fill(arn, variant)} if owner
            else {"type": kind, "ARN": _fill(arn, variant)}
            for kind, arn, owner in call.resources]
    event["eventType"] = "AwsApiCall"
    event["managementEvent"] = not call.is_data_event
    # A service or another account's caller is logged by the resource's account.
    foreign = actor.kind in ("AWSService", "AWSAccount") and call.resources
    event["recipientAccountId"] = (call.resources[-1][2] if foreign else "") or account
    if actor.kind == "AWSService":
        event["sharedEventID"] = _stable(f"{actor.name}{call.name}{variant}", 32)
    if actor.vpce and call.service in ("s3", "dynamodb"):
        event["vpcEndpointId"] = actor.vpce
        event["vpcEndpointAccountId"] = actor.account
    event["eventCategory"] = "Data" if call.is_data_event else "Management"
    if actor.kind != "AWSService":
        event["tlsDetails"] = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                               "clientProvidedHostHeader":
                                   host or f"{call.service}.{call.region}.amazonaws.com"}
    if actor.agent == CONSOLE:
        event["sessionCredentialFromConsole"] = "true"
    return event


def _error(scenario: Scenario, variant: str) -> tuple[str, str]:
    resource = scenario.resource.replace("{v}", variant)
    values = {
        "principal": scenario.actor.arn, "action": scenario.action,
        "resource": (scenario.message_resource or resource).replace("{v}", variant),
        "policy_arn": scenario.policy_arn,
        "encoded": _encoded_message(f"{scenario.code}{scenario.action}{variant}"),
    }
    return scenario.error_code, MESSAGES[scenario.message].format(**values)


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every template, allowed and denied; built once per run (a few hundred entries)."""

    allowed: tuple[Template, ...]
    denied: tuple[Template, ...]


def templates() -> Catalog:
    """Render every workload call and scenario variant once."""
    allowed = []
    for workload in WORKLOADS:
        total = sum(call.weight for call in workload.calls)
        for call in workload.calls:
            for variant in call.variants:
                event = _event(workload.actor, call, variant)
                weight = workload.weight * call.weight / total / len(call.variants)
                allowed.append(Template(event, event["recipientAccountId"], call.region, weight))
    denied = []
    for index, scenario in enumerate(SCENARIOS):
        for variant in scenario.call.variants:
            event = _event(scenario.actor, scenario.call, variant, _error(scenario, variant))
            denied.append(Template(event, event["recipientAccountId"], scenario.call.region,
                                   scenario.weight / len(scenario.call.variants), scenario.code, index,
                                   scenario.actor.arn, scenario.action,
                                   scenario.resource.replace("{v}", variant)))
    return Catalog(tuple(allowed), tuple(denied))


def shuffled_denials(catalog: Catalog, count: int, rng: random.Random) -> list[int]:
    """``count`` denial template indexes: every template at least once (when ``count`` allows),
    the rest drawn by weight, so the same few requests repeat as real denials do."""
    indexes = list(range(len(catalog.denied)))
    rng.shuffle(indexes)
    picked = indexes[:count]
    if count > len(picked):
        weights = [template.weight for template in catalog.denied]
        picked += rng.choices(range(len(catalog.denied)), weights, k=count - len(picked))
    rng.shuffle(picked)
    return picked
