"""A moto server for end-to-end tests, reusable by every e2e test.

``moto_server`` starts one ``ThreadedMotoServer`` on 127.0.0.1 (a free port) for the
session. ``aws`` resets its state, points boto3 at it through ``AWS_ENDPOINT_URL``
(which botocore honours natively) with dummy credentials, and returns the
environment for subprocesses (the real CLI).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aws_proxy import Proxy, serve

MANAGEMENT_ACCOUNT = "123456789012"  # moto's default account: the caller's


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def proxy(moto_server: str) -> Iterator[Proxy]:
    """A recording, fault-injecting proxy in front of moto (``tests/aws_proxy.py``): point
    ``AWS_ENDPOINT_URL`` at its ``url``."""
    with serve(moto_server) as state:
        yield state


@pytest.fixture(scope="session")
def aws(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Send every AWS call of the session to moto (``AWS_ENDPOINT_URL``, dummy credentials,
    no user config files); returns the environment for subprocesses (the real CLI).

    The moto state is shared by the whole session: create resources with unique names.
    """
    home = tmp_path_factory.mktemp("aws")
    settings = {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        # AWS managed policies exist in real IAM; moto (in this process) loads them on request.
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in settings.items():
            patch.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "MOTO_ACCOUNT_ID"):
            patch.delenv(key, raising=False)
        request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()
        yield {**os.environ, **settings}


def _doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@dataclass(frozen=True)
class MotoOrg:
    """The organization ``moto_org`` builds (ids are moto's)."""

    management: str
    prod: str  # in OU Prod, where an SCP denies regions; has an RCP
    sandbox: str  # directly under the root
    root_id: str
    prod_ou: str
    deny_regions_scp: str
    tls_rcp: str
    bucket: str = "prod-data"
    queue_arn: str = ""
    key_arn: str = ""


def _session(account_id: str | None = None):
    import boto3

    base = boto3.Session()
    if account_id is None:
        return base
    credentials = base.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole", RoleSessionName="setup"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


@pytest.fixture(scope="session")
def moto_org(aws: dict[str, str]) -> MotoOrg:
    """Management + 2 member accounts, an OU, SCPs and RCPs; in prod a user in a group, a role
    with a permissions boundary, a bucket policy, a KMS key and a queue with a policy; the
    collector role ``AccessUndeniedRole`` in both members. Built once per session: read only."""
    management = _session()
    orgs = management.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    root_id = orgs.list_roots()["Roots"][0]["Id"]
    for policy_type in ("SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"):
        roots = orgs.list_roots()["Roots"][0]["PolicyTypes"]
        if not any(t["Type"] == policy_type and t["Status"] == "ENABLED" for t in roots):
            orgs.enable_policy_type(RootId=root_id, PolicyType=policy_type)
    prod_ou = orgs.create_organizational_unit(ParentId=root_id, Name="Prod")["OrganizationalUnit"]["Id"]
    accounts = [
        orgs.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["AccountId"]
        for name in ("prod", "sandbox")
    ]
    prod, sandbox = accounts
    orgs.move_account(AccountId=prod, SourceParentId=root_id, DestinationParentId=prod_ou)
    scp = orgs.create_policy(
        Name="DenyRegions",
        Description="only us-east-1",
        Type="SERVICE_CONTROL_POLICY",
        Content=_doc(
            {
                "Sid": "DenyOtherRegions",
                "Effect": "Deny",
                "Action": "ec2:*",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}},
            }
        ),
    )["Policy"]["PolicySummary"]["Id"]
    orgs.attach_policy(PolicyId=scp, TargetId=prod_ou)
    rcp = orgs.create_policy(
        Name="EnforceTls",
        Description="TLS only",
        Type="RESOURCE_CONTROL_POLICY",
        Content=_doc(
            {
                "Sid": "EnforceTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"BoolIfExists": {"aws:SecureTransport": "false"}},
            }
        ),
    )["Policy"]["PolicySummary"]["Id"]
    orgs.attach_policy(PolicyId=rcp, TargetId=prod)

    trust_management = _doc(
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        }
    )
    for account in accounts:
        _session(account).client("iam").create_role(
            RoleName="AccessUndeniedRole", AssumeRolePolicyDocument=trust_management
        )
    _session().client("iam").create_user(UserName="admin")

    session = _session(prod)
    iam = session.client("iam")
    iam.create_group(GroupName="devs")
    iam.put_group_policy(
        GroupName="devs",
        PolicyName="ListData",
        PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::prod-data"}
        ),
    )
    iam.create_user(UserName="alice", Path="/staff/", Tags=[{"Key": "team", "Value": "data"}])
    iam.add_user_to_group(GroupName="devs", UserName="alice")
    iam.put_user_policy(
        UserName="alice",
        PolicyName="ReadData",
        PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::prod-data/*"}
        ),
    )
    boundary = iam.create_policy(
        PolicyName="AppBoundary",
        PolicyDocument=_doc(
            {"Sid": "Boundary", "Effect": "Allow", "Action": ["s3:*", "sqs:*"], "Resource": "*"}
        ),
    )["Policy"]["Arn"]
    iam.create_role(
        RoleName="App",
        Path="/app/",
        PermissionsBoundary=boundary,
        AssumeRolePolicyDocument=_doc(
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}}
        ),
        Tags=[{"Key": "app", "Value": "billing"}],
    )
    iam.attach_role_policy(RoleName="App", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    s3 = session.client("s3")
    s3.create_bucket(Bucket="prod-data")
    s3.put_bucket_policy(
        Bucket="prod-data",
        Policy=_doc(
            {
                "Sid": "DenyInsecure",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::prod-data", "arn:aws:s3:::prod-data/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ),
    )
    kms = session.client("kms")
    key_arn = kms.create_key(Description="data key")["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/data", TargetKeyId=key_arn)
    sqs = session.client("sqs")
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:us-east-1:{prod}:jobs"
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "Policy": _doc(
                {
                    "Sid": "SandboxSends",
                    "Effect": "Allow",
                    "Principal": {"AWS": sandbox},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                }
            )
        },
    )
    return MotoOrg(
        MANAGEMENT_ACCOUNT, prod, sandbox, root_id, prod_ou, scp, rcp, queue_arn=queue_arn, key_arn=key_arn
    )
