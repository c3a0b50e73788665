"""Collect a snapshot from a moto organization through the real CLI and check it.

The CLI runs as a subprocess (the installed ``access-undenied`` script) against the
moto server of ``conftest.py``, found through ``AWS_ENDPOINT_URL`` only.
"""

import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from analyzer.actions import rcp_supported_services
from analyzer.engine.evaluation import evaluate
from analyzer.engine.model import Decision, PolicyType, ReasonKind, Request
from analyzer.snapshot import TargetType, load_scp_file, load_snapshot, snapshot_resolver

CLI = str(Path(sys.executable).parent / "access-undenied")
REGIONS = "us-east-1,eu-west-1"


def _cli(env, *args, code=0):
    result = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == code, result.stderr
    return result


def _member_env(env, account_id, tmp_path=None):
    """The environment of a caller in a member account (assumed-role credentials)."""
    credentials = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole", RoleSessionName="member"
    )["Credentials"]
    return {
        **env,
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }


@pytest.fixture(scope="module")
def org_snapshot(moto_org, aws, tmp_path_factory):
    out = tmp_path_factory.mktemp("snap") / "snapshot.json.gz"
    result = _cli(aws, "snapshot", "--accounts", "all", "--regions", REGIONS, "--output", str(out))
    assert "3 account(s), 0 gap(s)" in result.stderr
    return load_snapshot(out)


def test_snapshot_of_the_whole_organization(moto_org, org_snapshot):
    snap = org_snapshot
    assert snap.account_ids == {moto_org.management, moto_org.prod, moto_org.sandbox}
    assert snap.gaps == ()
    assert snap.organization.management_account_id == moto_org.management
    prod = snap.account(moto_org.prod)
    policies = prod["resourcePolicies"]
    assert policies["arn:aws:s3:::prod-data"]["Statement"][0]["Sid"] == "DenyInsecure"
    assert policies[moto_org.queue_arn]["Statement"][0]["Sid"] == "SandboxSends"
    assert moto_org.key_arn in policies
    assert prod["kmsAliases"][f"arn:aws:kms:us-east-1:{moto_org.prod}:alias/data"] == moto_org.key_arn
    # only the AWS managed policy in use is stored, not moto's thousand
    assert [p["Arn"] for p in prod["authorizationDetails"]["Policies"] if ":aws:policy/" in p["Arn"]] == [
        "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    ]


def test_collected_policies_apply_to_requests(moto_org, org_snapshot):
    snap = org_snapshot
    alice = f"arn:aws:iam::{moto_org.prod}:user/staff/alice"
    request = Request.build(alice, "ec2:RunInstances", "*", context={"aws:RequestedRegion": "eu-west-1"})
    applied = snapshot_resolver(snap).policies_for(request.principal, request.resource, action=request.action)
    assert [a.policy_name for a in applied.identity] == ["ReadData", "ListData"]
    assert dict(applied.principal_tags) == {"team": "data"}
    assert applied.level_targets(PolicyType.SCP) == (moto_org.root_id, moto_org.prod_ou, moto_org.prod)
    evaluation = evaluate(request, applied.policy_set, rcp_supported_services())
    assert evaluation.decision == Decision.EXPLICITLY_DENIED
    deny = applied.attachment_for(evaluation.reasons[0].policy)
    assert (deny.policy_type, deny.policy_id, deny.target, deny.target_type) == (
        PolicyType.SCP,
        moto_org.deny_regions_scp,
        moto_org.prod_ou,
        TargetType.OU,
    )

    # An object read without TLS: the bucket policy and the account's RCP both deny.
    request = Request.build(
        alice, "s3:GetObject", "arn:aws:s3:::prod-data/report.csv", context={"aws:SecureTransport": "false"}
    )
    applied = snapshot_resolver(snap).policies_for(request.principal, request.resource, action=request.action)
    assert applied.resource_account == moto_org.prod
    evaluation = evaluate(request, applied.policy_set, rcp_supported_services())
    denies = {
        (r.policy_type, applied.attachment_for(r.policy).target)
        for r in evaluation.reasons
        if r.kind == ReasonKind.EXPLICIT_DENY
    }
    assert denies == {(PolicyType.RCP, moto_org.prod), (PolicyType.RESOURCE, "arn:aws:s3:::prod-data")}

    session = f"arn:aws:sts::{moto_org.prod}:assumed-role/App/i-1"
    applied = snapshot_resolver(snap).policies_for(
        Request.build(session, "s3:ListBucket").principal, "arn:aws:s3:::prod-data", action="s3:ListBucket"
    )
    assert applied.permissions_boundary.policy_arn.endswith(":policy/AppBoundary")
    assert [a.policy_arn for a in applied.identity] == ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]
    management = snapshot_resolver(snap).policies_for(
        Request.build(f"arn:aws:iam::{moto_org.management}:user/admin", "s3:ListBucket").principal, "*"
    )
    assert management.scp is None and management.is_management_account


def test_a_resource_in_a_region_not_collected_has_an_unknown_policy(moto_org, org_snapshot):
    """The snapshot said nothing of the regions read, so a queue in another region was
    taken to have no policy (held-out probe): each account now records them."""
    for account in org_snapshot.account_ids:
        assert org_snapshot.account(account)["collectedRegions"] == ["eu-west-1", "us-east-1"]
    applied = snapshot_resolver(org_snapshot).policies_for(
        Request.build(f"arn:aws:iam::{moto_org.prod}:user/staff/alice", "sqs:SendMessage").principal,
        f"arn:aws:sqs:eu-west-2:{moto_org.prod}:jobs",
        action="sqs:SendMessage",
    )
    [unknown] = [part for part in applied.unknown if part.policy_type == PolicyType.RESOURCE]
    assert "region eu-west-2" in unknown.reason and "--regions including eu-west-2" in unknown.remedy


def test_regions_that_cannot_be_listed_leave_the_others_unknown(moto_org, aws, proxy, tmp_path):
    """DescribeRegions failed: the collector read its own region and recorded only the gap,
    so every other region's resources were taken to have no policy (held-out probe)."""
    proxy.fail = lambda call: "Action=DescribeRegions" in call
    out = tmp_path / "snapshot.json"
    _cli({**aws, "AWS_ENDPOINT_URL": proxy.url, "AWS_MAX_ATTEMPTS": "2"}, "snapshot", "--output", str(out))
    snap = load_snapshot(out)
    assert snap.account(moto_org.management)["collectedRegions"] == ["us-east-1"]
    assert [(g.service, g.operation) for g in snap.gaps] == [("ec2", "DescribeRegions")]


def test_every_bucket_an_account_lists_is_recorded_policy_or_not(moto_org, aws, tmp_path):
    """Only the buckets with a policy were stored, so a bucket the snapshot lacked was
    assumed the caller's, though it could be another account's (held-out probe): each
    account now records every bucket it lists, and a bucket none lists is unknown."""
    member = _member_env(aws, moto_org.sandbox)
    boto3.Session(
        aws_access_key_id=member["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=member["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=member["AWS_SESSION_TOKEN"],
    ).client("s3").create_bucket(Bucket="sandbox-plain")
    out = tmp_path / "snapshot.json"
    _cli(aws, "snapshot", "--accounts", moto_org.sandbox, "--regions", "us-east-1", "--output", str(out))
    snap = load_snapshot(out)
    sandbox = snap.account(moto_org.sandbox)
    assert sandbox["bucketNames"] == ["sandbox-plain"]
    assert not any(":s3:::" in arn for arn in sandbox["resourcePolicies"])
    resolver = snapshot_resolver(snap)
    caller = Request.build(f"arn:aws:iam::{moto_org.sandbox}:role/Reader", "s3:GetObject").principal
    plain = resolver.policies_for(caller, "arn:aws:s3:::sandbox-plain/k.csv", action="s3:GetObject")
    assert plain.resource_account == moto_org.sandbox and plain.resource is None
    assert not [part for part in plain.unknown if part.policy_type == PolicyType.RESOURCE]
    # prod's bucket, in no bucket list of this snapshot: another account's, policy unknown
    other = resolver.policies_for(caller, "arn:aws:s3:::prod-data/k.csv", action="s3:GetObject")
    assert other.resource_account is None
    [unknown] = [part for part in other.unknown if part.policy_type == PolicyType.RESOURCE]
    assert "in none of the bucket lists" in unknown.reason


def test_get_scps_writes_the_original_layout(moto_org, aws, tmp_path):
    out = tmp_path / "scp_data.json"
    _cli(aws, "get-scps", "--output-file", str(out))
    nodes = json.loads(out.read_text())
    assert set(nodes) == {
        moto_org.root_id,
        moto_org.prod_ou,
        moto_org.management,
        moto_org.prod,
        moto_org.sandbox,
    }
    for node in nodes.values():
        assert list(node) == ["arn", "id", "name", "organization_node_type", "policies", "parent"]
        for policy in node["policies"]:
            assert list(policy) == [
                "Id",
                "Arn",
                "Name",
                "Description",
                "Type",
                "AwsManaged",
                "PolicyDocument",
            ]
            assert isinstance(policy["PolicyDocument"], str)
    assert nodes[moto_org.prod]["organization_node_type"] == "AWSAccount"
    assert nodes[moto_org.prod_ou]["organization_node_type"] == "Organizational Unit or Organization Root"
    assert nodes[moto_org.prod]["parent"] == moto_org.prod_ou
    org = load_scp_file(out)
    assert org.management_account_id == moto_org.management
    assert [p.name for p in org.nodes[moto_org.prod_ou].policies] == [
        "FullAWSAccess",
        "DenyRegions",
        "RCPFullAWSAccess",
    ]


def test_get_scps_that_cannot_write_says_so_in_one_line(moto_org, aws, tmp_path):
    """The file was written in place (a full disk truncated it) and a failed write printed a
    traceback (found by a held-out probe)."""
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "scp_data.json"  # its folder is a file: nothing can be written
    result = _cli(aws, "get-scps", "--output-file", str(out), code=1)
    assert result.stderr.count("\n") == 1 and "cannot write it" in result.stderr
    assert "Traceback" not in result.stderr


def test_member_account_needs_the_management_role_for_scps(moto_org, aws, tmp_path):
    member = _member_env(aws, moto_org.sandbox)
    result = _cli(member, "get-scps", "--output-file", str(tmp_path / "x.json"), code=1)
    assert result.stderr.count("\n") == 1
    assert "not the management account" in result.stderr
    role = "arn:aws:iam::123456789012:role/OrganizationAccountAccessRole"
    _cli(member, "get-scps", "--output-file", str(tmp_path / "y.json"), "--management-account-role-arn", role)
    assert moto_org.prod in json.loads((tmp_path / "y.json").read_text())

    # A snapshot from the member without the role: the organization is a reported gap.
    out = tmp_path / "member.json"
    result = _cli(member, "snapshot", "--regions", "us-east-1", "--output", str(out))
    assert result.stderr.count("organizations:ListRoots") == 1  # each gap said once
    snap = load_snapshot(out)
    assert snap.account_ids == {moto_org.sandbox}
    assert snap.organization is None
    assert [g.error for g in snap.gaps] == ["NotManagementAccount"]


def test_profile_and_every_enabled_region(moto_org, aws, tmp_path):
    member = _member_env(aws, moto_org.prod)
    credentials = Path(aws["AWS_SHARED_CREDENTIALS_FILE"])
    credentials.write_text(
        "[prod]\n"
        f"aws_access_key_id = {member['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {member['AWS_SECRET_ACCESS_KEY']}\n"
        f"aws_session_token = {member['AWS_SESSION_TOKEN']}\n"
    )
    out = tmp_path / "prod.json"
    _cli(aws, "--profile", "prod", "snapshot", "--output", str(out), "--no-progress")
    snap = load_snapshot(out)
    assert snap.account_ids == {moto_org.prod}  # the profile's account, not the env's
    assert moto_org.queue_arn in snap.account(moto_org.prod)["resourcePolicies"]
    # without --regions every region moto reports as enabled was read (aliases exist in each)
    regions = {arn.split(":")[3] for arn in snap.account(moto_org.prod)["kmsAliases"]}
    assert len(regions) > 10


def test_unknown_profile_is_a_one_line_error(aws, tmp_path):
    result = _cli(aws, "--profile", "nope", "snapshot", "--output", str(tmp_path / "s.json"), code=1)
    assert result.stderr.startswith("error: AWS profile 'nope'")
    assert result.stderr.count("\n") == 1
