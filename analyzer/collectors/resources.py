"""Resource-based policies: S3 buckets, KMS keys, Lambda functions, SQS queues, SNS topics,
Secrets Manager secrets and ECR repositories; and each VPC endpoint's VPC and policy
(requests through an endpoint are evaluated against its policy and carry ``aws:SourceVpc``,
which CloudTrail does not record).

``collect(account, service, region)`` lists one service in one region and reads every
policy; ``fetch_policy(account, arn)`` reads a single resource's policy (live mode).
A failure on one resource becomes a gap for that resource and the others are still read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from analyzer.arn import Arn
from analyzer.collectors.aws import AWS_FAILURES, Account, error_code, make_gap
from analyzer.snapshot.model import LIST_BUCKETS, Gap

SERVICES = ("s3", "kms", "lambda", "sqs", "sns", "secretsmanager", "ecr", "ec2")
GLOBAL_SERVICES = frozenset({"s3"})
# "This resource has no policy" answers, which are not gaps.
_NO_POLICY = frozenset(
    {
        "NoSuchBucketPolicy",
        "ResourceNotFoundException",
        "RepositoryPolicyNotFoundException",
        "NotFoundException",
        "NoSuchBucket",
    }
)


@dataclass
class Found:
    policies: dict[str, Any] = field(default_factory=dict)
    kms_aliases: dict[str, str] = field(default_factory=dict)
    secret_arns: list[str] = field(default_factory=list)
    bucket_names: list[str] = field(default_factory=list)
    vpc_endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    out: list[Any] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        out.extend(page.get(key) or ())
    return out


def _read(
    found: Found,
    account: Account,
    service: str,
    operation: str,
    region: str | None,
    arn: str,
    call: Callable[..., Any],
    policy: Callable[[Any], Any],
    **request: Any,
) -> None:
    """Read one resource's policy into ``found`` (``policy`` takes it out of the response to
    ``call(**request)``); no policy is not a gap, an error is."""
    try:
        document = policy(call(**request))
    except ClientError as error:
        if error_code(error) not in _NO_POLICY:
            found.gaps.append(make_gap(error, account.account_id, service, operation, region, arn))
        return
    except AWS_FAILURES as error:
        found.gaps.append(make_gap(error, account.account_id, service, operation, region, arn))
        return
    if document:
        found.policies[arn] = document


def _s3(account: Account, region: str, found: Found) -> None:
    client = account.client("s3", region)
    for bucket in client.list_buckets().get("Buckets") or ():
        name = bucket["Name"]
        found.bucket_names.append(name)
        _read(
            found,
            account,
            "s3",
            "GetBucketPolicy",
            None,
            f"arn:{account.partition}:s3:::{name}",
            client.get_bucket_policy,
            lambda response: response["Policy"],
            Bucket=name,
            ExpectedBucketOwner=account.account_id,
        )


def _kms(account: Account, region: str, found: Found) -> None:
    client = account.client("kms", region)
    for key in _pages(client, "list_keys", "Keys"):
        _read(
            found,
            account,
            "kms",
            "GetKeyPolicy",
            region,
            key["KeyArn"],
            client.get_key_policy,
            lambda response: response["Policy"],
            KeyId=key["KeyId"],
            PolicyName="default",
        )
    prefix = f"arn:{account.partition}:kms:{region}:{account.account_id}:key/"
    for alias in _pages(client, "list_aliases", "Aliases"):
        if alias.get("TargetKeyId") and alias.get("AliasArn"):
            found.kms_aliases[alias["AliasArn"]] = prefix + alias["TargetKeyId"]


def _lambda(account: Account, region: str, found: Found) -> None:
    """Each function's policy, and each alias's own: a request for ``function:f:alias`` is
    decided by the alias's policy (a snapshot's lookup tries it before the function's)."""
    client = account.client("lambda", region)
    for function in _pages(client, "list_functions", "Functions"):
        arns = [function["FunctionArn"]]
        try:
            arns += [
                alias["AliasArn"]
                for alias in _pages(client, "list_aliases", "Aliases", FunctionName=function["FunctionName"])
            ]
        except AWS_FAILURES as error:
            found.gaps.append(
                make_gap(error, account.account_id, "lambda", "ListAliases", region, function["FunctionArn"])
            )
        for arn in arns:
            _read(
                found,
                account,
                "lambda",
                "GetPolicy",
                region,
                arn,
                client.get_policy,
                lambda response: response["Policy"],
                FunctionName=arn,
            )


def _sqs(account: Account, region: str, found: Found) -> None:
    client = account.client("sqs", region)
    for url in _pages(client, "list_queues", "QueueUrls"):
        name = url.rstrip("/").rsplit("/", 1)[-1]
        arn = f"arn:{account.partition}:sqs:{region}:{account.account_id}:{name}"
        _read(
            found,
            account,
            "sqs",
            "GetQueueAttributes",
            region,
            arn,
            client.get_queue_attributes,
            lambda response: response.get("Attributes", {}).get("Policy"),
            QueueUrl=url,
            AttributeNames=["Policy"],
        )


def _sns(account: Account, region: str, found: Found) -> None:
    client = account.client("sns", region)
    for topic in _pages(client, "list_topics", "Topics"):
        arn = topic["TopicArn"]
        _read(
            found,
            account,
            "sns",
            "GetTopicAttributes",
            region,
            arn,
            client.get_topic_attributes,
            lambda response: response["Attributes"].get("Policy"),
            TopicArn=arn,
        )


def _secretsmanager(account: Account, region: str, found: Found) -> None:
    client = account.client("secretsmanager", region)
    for secret in _pages(client, "list_secrets", "SecretList"):
        arn = secret["ARN"]
        found.secret_arns.append(arn)
        _read(
            found,
            account,
            "secretsmanager",
            "GetResourcePolicy",
            region,
            arn,
            client.get_resource_policy,
            lambda response: response.get("ResourcePolicy"),
            SecretId=arn,
        )


def _ecr(account: Account, region: str, found: Found) -> None:
    client = account.client("ecr", region)
    for repository in _pages(client, "describe_repositories", "repositories"):
        _read(
            found,
            account,
            "ecr",
            "GetRepositoryPolicy",
            region,
            repository["repositoryArn"],
            client.get_repository_policy,
            lambda response: response["policyText"],
            repositoryName=repository["repositoryName"],
        )


def _endpoint_entry(endpoint: Mapping[str, Any]) -> dict[str, Any]:
    """What a snapshot keeps of a DescribeVpcEndpoints entry (AWS's own field names)."""
    return {key: endpoint[key] for key in ("VpcId", "ServiceName", "PolicyDocument") if endpoint.get(key)}


def _ec2(account: Account, region: str, found: Found) -> None:
    client = account.client("ec2", region)
    for endpoint in _pages(client, "describe_vpc_endpoints", "VpcEndpoints"):
        if endpoint.get("VpcEndpointId"):
            found.vpc_endpoints[endpoint["VpcEndpointId"]] = _endpoint_entry(endpoint)


_COLLECTORS: dict[str, Callable[[Account, str, Found], None]] = {
    "s3": _s3,
    "kms": _kms,
    "lambda": _lambda,
    "sqs": _sqs,
    "sns": _sns,
    "secretsmanager": _secretsmanager,
    "ecr": _ecr,
    "ec2": _ec2,
}
_LIST_OPERATIONS = {
    "s3": LIST_BUCKETS,
    "kms": "ListKeys",
    "lambda": "ListFunctions",
    "sqs": "ListQueues",
    "sns": "ListTopics",
    "secretsmanager": "ListSecrets",
    "ecr": "DescribeRepositories",
    "ec2": "DescribeVpcEndpoints",
}


def collect(account: Account, service: str, region: str) -> Found:
    """Every resource policy of one service in one region (S3: all buckets, once)."""
    found = Found()
    try:
        _COLLECTORS[service](account, region, found)
    except AWS_FAILURES as error:
        found.gaps.append(
            make_gap(
                error,
                account.account_id,
                service,
                _LIST_OPERATIONS[service],
                None if service in GLOBAL_SERVICES else region,
            )
        )
    return found


def enabled_regions(account: Account) -> list[str]:
    """Regions enabled for the account (opt-in regions only when opted in)."""
    regions = account.client("ec2").describe_regions(AllRegions=False)["Regions"]
    return sorted(region["RegionName"] for region in regions)


def fetch_policy(account: Account, arn: str) -> tuple[str, Any] | None:
    """(stored ARN, document) of one resource's policy, or None when it has none.

    Raises ClientError/BotoCoreError for access errors (the caller records a gap).
    """
    parsed = Arn.parse(arn)
    if parsed is None:
        return None
    service, region, resource = parsed.service, parsed.region or account.region, parsed.resource
    try:
        if service == "s3":
            bucket = parsed.bucket
            client = account.client("s3", region)
            return (
                f"arn:{account.partition}:s3:::{bucket}",
                client.get_bucket_policy(Bucket=bucket, ExpectedBucketOwner=account.account_id)["Policy"],
            )
        if service == "kms":
            client = account.client("kms", region)
            key_arn = client.describe_key(KeyId=arn)["KeyMetadata"]["Arn"]
            return key_arn, client.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]
        if service == "lambda":
            # a version's or alias's own policy; without one the resolver asks for the
            # function's next (snapshot lookups try them in the same order)
            return arn, account.client("lambda", region).get_policy(FunctionName=arn)["Policy"]
        if service == "sqs":
            client = account.client("sqs", region)
            url = client.get_queue_url(QueueName=resource, QueueOwnerAWSAccountId=parsed.account)["QueueUrl"]
            policy = (
                client.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
                .get("Attributes", {})
                .get("Policy")
            )
            return (arn, policy) if policy else None
        if service == "sns":
            attributes = account.client("sns", region).get_topic_attributes(TopicArn=arn)["Attributes"]
            return (arn, attributes["Policy"]) if attributes.get("Policy") else None
        if service == "secretsmanager":
            answer = account.client("secretsmanager", region).get_resource_policy(SecretId=arn)
            policy = answer.get("ResourcePolicy")
            return (answer.get("ARN", arn), policy) if policy else None
        if service == "ecr" and resource.startswith("repository/"):
            answer = account.client("ecr", region).get_repository_policy(
                repositoryName=resource.split("/", 1)[1]
            )
            return arn, answer["policyText"]
    except ClientError as error:
        if error_code(error) in _NO_POLICY or error_code(error) == "AWS.SimpleQueueService.NonExistentQueue":
            return None
        raise
    return None


def secret_arn(account: Account, arn: str) -> str | None:
    """The full ARN of the secret ``arn`` names (possibly without its suffix), or None."""
    parsed = Arn.parse(arn)
    region = (parsed.region if parsed else "") or account.region
    try:
        return account.client("secretsmanager", region).describe_secret(SecretId=arn)["ARN"]
    except ClientError as error:
        if error_code(error) in _NO_POLICY:
            return None
        raise


def vpc_endpoint(account: Account, endpoint_id: str, region: str) -> dict[str, Any] | None:
    """A VPC endpoint of ``account`` in ``region`` as a snapshot keeps it, or None."""
    client = account.client("ec2", region)
    try:
        endpoints = client.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"]
    except ClientError as error:
        if error_code(error) in ("InvalidVpcEndpointId.NotFound", "InvalidVpcEndpointId.Malformed"):
            return None
        raise
    return next((_endpoint_entry(e) for e in endpoints), None)


def as_document(raw: Any) -> Any:
    """Store JSON-string policies as objects (both are valid in a snapshot)."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw
