"""Resource policies of Lambda functions, SNS topics, Secrets Manager secrets and ECR
repositories, the secrets' full ARNs and the VPC of each VPC endpoint, read from the moto
server by the snapshot collector and by live mode.

The resources live in the sandbox account in a region no other test reads, so the
organization snapshot of ``test_collect.py`` is the same whichever module runs first.
"""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest

from analyzer.collectors.aws import Account, assume
from analyzer.collectors.live import live_resolver
from analyzer.collectors.resources import collect, fetch_policy, secret_arn, vpc_endpoint

REGION = "eu-west-2"


def _policy(sid: str, **statement) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": sid, "Effect": "Allow", **statement}]})


def _handler_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def sandbox(moto_org, aws):
    """The sandbox account with one resource of each kind with a policy and one without."""
    management = Account(moto_org.management, boto3.Session(region_name=REGION))
    session = assume(management, f"arn:aws:iam::{moto_org.sandbox}:role/OrganizationAccountAccessRole")
    account = Account(moto_org.sandbox, session)
    account.region = REGION
    other = f"arn:aws:iam::{moto_org.prod}:root"

    role = account.client("iam").create_role(
        RoleName="resource-test-lambda",
        AssumeRolePolicyDocument=_policy(
            "Lambda", Principal={"Service": "lambda.amazonaws.com"}, Action="sts:AssumeRole"
        ),
    )["Role"]["Arn"]
    functions = account.client("lambda", REGION)
    arns = {}
    for name in ("invoked-by-s3", "private", "aliased"):
        arns[name] = functions.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": _handler_zip()},
        )["FunctionArn"]
    functions.add_permission(
        FunctionName="invoked-by-s3",
        StatementId="S3Invokes",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::uploads",
    )
    version = functions.publish_version(FunctionName="aliased")["Version"]
    arns["alias"] = functions.create_alias(FunctionName="aliased", Name="prod", FunctionVersion=version)[
        "AliasArn"
    ]
    functions.add_permission(
        FunctionName="aliased",
        Qualifier="prod",
        StatementId="ProdAlias",
        Action="lambda:InvokeFunction",
        Principal=other,
    )

    topics = account.client("sns", REGION)
    arns["topic"] = topics.create_topic(Name="alerts")["TopicArn"]
    topics.set_topic_attributes(
        TopicArn=arns["topic"],
        AttributeName="Policy",
        AttributeValue=_policy(
            "ProdPublishes", Principal={"AWS": other}, Action="sns:Publish", Resource=arns["topic"]
        ),
    )

    secrets = account.client("secretsmanager", REGION)
    arns["secret"] = secrets.create_secret(Name="db-password", SecretString="s3cr3t")["ARN"]
    arns["plain secret"] = secrets.create_secret(Name="no-policy", SecretString="x")["ARN"]
    secrets.put_resource_policy(
        SecretId=arns["secret"],
        ResourcePolicy=_policy(
            "ProdReads", Principal={"AWS": other}, Action="secretsmanager:GetSecretValue", Resource="*"
        ),
    )

    repositories = account.client("ecr", REGION)
    arns["repository"] = repositories.create_repository(repositoryName="app")["repository"]["repositoryArn"]
    arns["plain repository"] = repositories.create_repository(repositoryName="no-policy")["repository"][
        "repositoryArn"
    ]
    ec2 = account.client("ec2", REGION)
    arns["vpc"] = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    arns["endpoint"] = ec2.create_vpc_endpoint(
        VpcId=arns["vpc"],
        ServiceName=f"com.amazonaws.{REGION}.s3",
        VpcEndpointType="Gateway",
        PolicyDocument=_policy(
            "OnlyUploads", Principal="*", Action="s3:GetObject", Resource="arn:aws:s3:::uploads/*"
        ),
    )["VpcEndpoint"]["VpcEndpointId"]

    repositories.set_repository_policy(
        repositoryName="app",
        policyText=_policy("ProdPulls", Principal={"AWS": other}, Action=["ecr:BatchGetImage"]),
    )
    return account, arns


def _sids(document) -> list[str]:
    document = json.loads(document) if isinstance(document, str) else document
    return [statement.get("Sid") for statement in document["Statement"]]


@pytest.mark.parametrize(
    ("service", "resource", "sid"),
    [
        ("lambda", "invoked-by-s3", "S3Invokes"),
        ("lambda", "alias", "ProdAlias"),
        ("sns", "topic", "ProdPublishes"),
        ("secretsmanager", "secret", "ProdReads"),
        ("ecr", "repository", "ProdPulls"),
    ],
)
def test_snapshot_collector_reads_each_policy(sandbox, service, resource, sid):
    account, arns = sandbox
    found = collect(account, service, REGION)
    assert found.gaps == []
    assert _sids(found.policies[arns[resource]]) == [sid]


def test_resources_without_a_policy_are_neither_stored_nor_gaps(sandbox):
    account, arns = sandbox
    for service, resource in (
        ("lambda", "private"),
        ("secretsmanager", "plain secret"),
        ("ecr", "plain repository"),
    ):
        found = collect(account, service, REGION)
        assert arns[resource] not in found.policies, resource
        assert found.gaps == []
        assert fetch_policy(account, arns[resource]) is None


def test_live_mode_reads_the_same_policies_under_the_stored_arn(sandbox):
    account, arns = sandbox
    # A qualified function ARN whose alias has no policy of its own: the function's policy,
    # stored under the function's ARN (where a snapshot's lookup falls back to).
    resolver = live_resolver(cross_account_role_name="AccessUndeniedRole")
    attachment, _ = resolver.resource_policy(arns["invoked-by-s3"] + ":live", "lambda:InvokeFunction")
    assert (attachment.target, [s.sid for s in attachment.policy.statements]) == (
        arns["invoked-by-s3"],
        ["S3Invokes"],
    )
    # An alias with a policy of its own: that policy, under the alias's ARN.
    stored, document = fetch_policy(account, arns["alias"])
    assert (stored, _sids(document)) == (arns["alias"], ["ProdAlias"])
    stored, document = fetch_policy(account, arns["topic"])
    assert (stored, _sids(document)) == (arns["topic"], ["ProdPublishes"])
    stored, document = fetch_policy(account, arns["repository"])
    assert (stored, _sids(document)) == (arns["repository"], ["ProdPulls"])
    # A secret named without its random suffix (as events often name it) is found, and
    # stored under its full ARN.
    by_name = arns["secret"].rsplit("-", 1)[0]
    stored, document = fetch_policy(account, by_name)
    assert (stored, _sids(document)) == (arns["secret"], ["ProdReads"])


def test_every_secret_is_indexed_by_its_full_arn(sandbox):
    """Secrets without a policy too: events name secrets by name, policies by full ARN."""
    account, arns = sandbox
    found = collect(account, "secretsmanager", REGION)
    assert set(found.secret_arns) == {arns["secret"], arns["plain secret"]}
    # live mode asks Secrets Manager for the full ARN of a secret named without it
    assert secret_arn(account, arns["plain secret"].rsplit("-", 1)[0]) == arns["plain secret"]
    missing = f"arn:aws:secretsmanager:{REGION}:{account.account_id}:secret:never-created"
    assert secret_arn(account, missing) is None


def test_vpc_endpoints_are_kept_with_their_vpc_and_policy(sandbox):
    account, arns = sandbox
    found = collect(account, "ec2", REGION)
    assert found.gaps == []
    entry = found.vpc_endpoints[arns["endpoint"]]
    assert (entry["VpcId"], entry["ServiceName"]) == (arns["vpc"], f"com.amazonaws.{REGION}.s3")
    assert _sids(entry["PolicyDocument"]) == ["OnlyUploads"]
    assert vpc_endpoint(account, arns["endpoint"], REGION) == entry  # live mode
    assert vpc_endpoint(account, "vpce-0123456789abcdef0", REGION) is None
