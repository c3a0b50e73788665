"""The snapshot model: loading, content hash, format checks and ``policies_for``.

``tests/data/snapshots/org.json`` is a small organization: management account
111111111111, prod 222222222222 (in OU Prod, with an RCP) and sandbox 333333333333
(under the root). Its policy documents use every accepted encoding (objects, JSON
strings, URL-encoded strings) and an AWS managed policy referenced by ARN.
"""

import gc
import gzip
import json
import weakref
from pathlib import Path

import pytest

from analyzer.actions import rcp_supported_services
from analyzer.engine.evaluation import evaluate
from analyzer.engine.model import Decision, PolicyType, ReasonKind, Request
from analyzer.engine.principals import parse_principal
from analyzer.errors import SnapshotError
from analyzer.snapshot import (
    FORMAT,
    TargetType,
    load_scp_file,
    load_snapshot,
    snapshot_from_dict,
    snapshot_resolver,
    write_snapshot,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "snapshots"
ORG_FILE = DATA / "org.json"
MGMT, PROD, SANDBOX = "111111111111", "222222222222", "333333333333"
ALICE = f"arn:aws:iam::{PROD}:user/staff/alice"
APP_SESSION = f"arn:aws:sts::{PROD}:assumed-role/App/i-0123"
KEY = f"arn:aws:kms:us-east-1:{PROD}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def snap():
    return load_snapshot(ORG_FILE)


def _raw():
    return json.loads(ORG_FILE.read_text())


def test_snapshot_id_is_a_content_hash_independent_of_formatting_and_compression(tmp_path, snap):
    compact = tmp_path / "s.json"
    compact.write_text(json.dumps(_raw(), separators=(",", ":")))
    zipped = tmp_path / "s.json.gz"
    zipped.write_bytes(gzip.compress(ORG_FILE.read_bytes()))
    assert len(snap.snapshot_id) == 64
    assert load_snapshot(compact).snapshot_id == snap.snapshot_id
    assert load_snapshot(zipped).snapshot_id == snap.snapshot_id
    changed = _raw()
    changed["collectedAt"] = "2027-01-01T00:00:00Z"
    assert snapshot_from_dict(changed).snapshot_id != snap.snapshot_id


def test_write_snapshot_round_trips_and_is_reproducible(tmp_path, snap):
    first, second = tmp_path / "a.json.gz", tmp_path / "b.json.gz"
    write_snapshot(snap.data, first)
    write_snapshot(snap.data, second)
    assert first.read_bytes() == second.read_bytes()
    assert load_snapshot(first).snapshot_id == snap.snapshot_id


def test_user_gets_inline_group_and_managed_policies_with_their_targets(snap):
    applied = snapshot_resolver(snap).policies_for(
        parse_principal(ALICE), "arn:aws:s3:::data-bucket/report.csv", action="s3:GetObject"
    )
    got = [(a.policy_name, a.target, a.target_type, a.managed) for a in applied.identity]
    assert got == [
        ("ReadData", ALICE, TargetType.USER, False),  # URL-encoded document
        ("ListData", f"arn:aws:iam::{PROD}:group/devs", TargetType.GROUP, False),  # JSON string
        ("QueueReader", f"arn:aws:iam::{PROD}:group/devs", TargetType.GROUP, True),
    ]
    queue_reader = applied.identity[2]
    assert queue_reader.policy.arn == f"arn:aws:iam::{PROD}:policy/QueueReader"
    assert queue_reader.policy.policy_id == "ANPAQUEUE"
    # the default version (v2), not v1 which denies everything
    assert queue_reader.policy.statements[0].sid == "ReadQueues"
    assert applied.permissions_boundary is None
    assert dict(applied.principal_tags) == {"team": "data"}
    # the object maps to its bucket's policy, and the bucket to its account
    assert applied.resource.target == "arn:aws:s3:::data-bucket"
    assert applied.resource.policy.statements[0].sid == "DenyOthers"
    assert applied.resource_account == PROD


def test_a_snapshot_without_the_organization_key_knows_no_scps_rather_than_none():
    """``"organization": null`` says the accounts are in no organization; a snapshot put
    together by hand without the key says nothing, so its SCPs are unknown (a held-out
    probe got 'Allowed' with the organization's deny left out)."""
    raw = _raw()
    del raw["organization"]
    applied = snapshot_resolver(snapshot_from_dict(raw)).policies_for(
        parse_principal(ALICE), "arn:aws:s3:::data-bucket/report.csv", action="s3:GetObject"
    )
    assert applied.scp is None
    assert any(
        part.policy_type == PolicyType.SCP and '"organization" key' in part.reason for part in applied.unknown
    )
    raw["organization"] = None
    applied = snapshot_resolver(snapshot_from_dict(raw)).policies_for(
        parse_principal(ALICE), "arn:aws:s3:::data-bucket/report.csv", action="s3:GetObject"
    )
    assert not [part for part in applied.unknown if part.policy_type == PolicyType.SCP]


def test_a_caller_of_another_partition_is_not_the_account_of_the_same_number():
    """Account numbers are per partition: alice in aws-cn is not the aws account's alice, so
    her policies are unknown, not the aws user's (a held-out probe got a confident deny)."""
    china = ALICE.replace("arn:aws:", "arn:aws-cn:")
    applied = snapshot_resolver(load_snapshot(ORG_FILE)).policies_for(
        parse_principal(china), "arn:aws-cn:s3:::data-bucket/report.csv", action="s3:GetObject"
    )
    assert applied.identity == ()
    [unknown] = [part for part in applied.unknown if part.policy_type == PolicyType.IDENTITY]
    assert "partition aws-cn" in unknown.reason and "partition aws:" in unknown.reason


def test_a_node_whose_policies_could_not_be_read_makes_only_its_accounts_scps_unknown():
    """The collector keeps the tree when one node's policies cannot be listed, with a gap
    naming the node: the accounts under it must not read that level as 'no SCP allows'."""
    raw = _raw()
    raw["organization"]["nodes"]["ou-ab12-prod1234"]["policies"] = []  # what could be read
    raw["gaps"] = [
        {
            "account": MGMT,
            "service": "organizations",
            "operation": "ListPoliciesForTarget",
            "error": "ServiceException",
            "message": "try again later",
            "resource": "ou-ab12-prod1234",
        }
    ]
    resolver = snapshot_resolver(snapshot_from_dict(raw))
    under = resolver.policies_for(parse_principal(ALICE), "*", action="s3:ListAllMyBuckets")
    # The levels read are kept (their denies still apply), the unread one's allows unknown.
    assert under.scp is not None and under.scp[1] == ()
    [unknown] = [part for part in under.unknown if part.policy_type == PolicyType.SCP]
    assert "ou-ab12-prod1234: ListPoliciesForTarget failed" in unknown.reason
    beside = resolver.policies_for(
        parse_principal(f"arn:aws:iam::{SANDBOX}:role/Reader"), "*", action="s3:ListAllMyBuckets"
    )
    assert beside.scp is not None and not [p for p in beside.unknown if p.policy_type == PolicyType.SCP]


def test_a_role_missing_from_an_account_whose_iam_was_not_read_is_unread_not_deleted():
    """The collector writes empty authorization details when GetAccountAuthorizationDetails
    fails, with a gap: a caller then missing was said to be deleted since the event, with a
    remedy about recreating it (held-out probe)."""
    raw = _raw()
    raw["accounts"][PROD]["authorizationDetails"] = {
        "UserDetailList": [],
        "GroupDetailList": [],
        "RoleDetailList": [],
        "Policies": [],
    }
    raw["gaps"] = [
        {
            "account": PROD,
            "service": "iam",
            "operation": "GetAccountAuthorizationDetails",
            "error": "ServiceUnavailable",
            "message": "try again later",
        }
    ]
    applied = snapshot_resolver(snapshot_from_dict(raw)).policies_for(
        parse_principal(ALICE), "arn:aws:s3:::data-bucket/report.csv", action="s3:GetObject"
    )
    [unknown] = [part for part in applied.unknown if part.policy_type == PolicyType.IDENTITY]
    assert "IAM could not be read" in unknown.reason and "GetAccountAuthorizationDetails" in unknown.reason
    assert "deleted" not in unknown.reason and "collect the account again" in unknown.remedy


def test_a_group_the_snapshot_lacks_is_an_unknown_part_never_no_policies():
    """A user's GroupList naming a group absent from the snapshot (created after it was
    collected): that group's policies apply and may deny, so they are unknown — taking
    them as none answered 'Allowed' (found by a held-out probe)."""
    raw = _raw()
    [alice] = raw["accounts"][PROD]["authorizationDetails"]["UserDetailList"]
    alice["GroupList"] = ["devs", "Fresh"]
    applied = snapshot_resolver(snapshot_from_dict(raw)).policies_for(
        parse_principal(ALICE), "arn:aws:s3:::data-bucket/report.csv", action="s3:GetObject"
    )
    assert [a.policy_name for a in applied.identity] == ["ReadData", "ListData", "QueueReader"]
    [unknown] = [part for part in applied.unknown if "Fresh" in part.missing]
    assert unknown.policy_type == PolicyType.IDENTITY and "'Fresh' is not in account" in unknown.reason


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_a_bucket_missing_from_the_snapshot_is_assumed_the_callers_in_every_partition(snap, partition):
    applied = snapshot_resolver(snap).policies_for(
        parse_principal(ALICE), f"arn:{partition}:s3:::elsewhere/k", action="s3:GetObject"
    )
    assert applied.resource_account == PROD
    assert any(
        f"the account of the bucket of arn:{partition}:s3:::elsewhere/k is not known" in w
        for w in applied.warnings
    )


def test_role_session_uses_the_role_policies_boundary_and_tags(snap):
    applied = snapshot_resolver(snap).policies_for(parse_principal(APP_SESSION), KEY, action="kms:Decrypt")
    assert [a.policy_name for a in applied.identity] == ["UseKey", "AmazonS3ReadOnlyAccess"]
    assert applied.identity[1].policy.arn == "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    boundary = applied.permissions_boundary
    assert boundary.policy_type == PolicyType.PERMISSIONS_BOUNDARY
    assert boundary.target == f"arn:aws:iam::{PROD}:role/app/App"
    assert boundary.policy.statements[0].sid == "Boundary"
    assert dict(applied.principal_tags) == {"app": "billing"}
    assert applied.resource.policy_name == "KMSKeyPolicy"
    assert applied.resource.target == KEY


def test_aws_managed_policy_is_found_in_another_account(snap):
    # AmazonS3ReadOnlyAccess is listed only in the sandbox account's Policies.
    applied = snapshot_resolver(snap).policies_for(
        parse_principal(APP_SESSION), "*", action="s3:ListAllMyBuckets"
    )
    assert applied.identity[1].policy.statements[0].effect == "Allow"
    assert not [w for w in applied.warnings if "AmazonS3ReadOnlyAccess" in w]


def test_trust_policy_is_the_resource_policy_only_for_assume_role(snap):
    role = f"arn:aws:iam::{PROD}:role/app/App"
    assumed = snapshot_resolver(snap).policies_for(parse_principal(ALICE), role, action="sts:AssumeRole")
    assert assumed.resource.policy_name == "RoleTrustPolicy"
    assert assumed.resource.target == role
    passed = snapshot_resolver(snap).policies_for(parse_principal(ALICE), role, action="iam:PassRole")
    assert passed.resource is None


@pytest.mark.parametrize(
    ("resource", "stored"),
    [
        (f"arn:aws:kms:us-east-1:{PROD}:alias/data", KEY),
        (
            f"arn:aws:lambda:us-east-1:{PROD}:function:worker:live",
            f"arn:aws:lambda:us-east-1:{PROD}:function:worker",
        ),
        (
            f"arn:aws:secretsmanager:us-east-1:{PROD}:secret:db-password",
            f"arn:aws:secretsmanager:us-east-1:{PROD}:secret:db-password-AbCdEf",
        ),
        (f"arn:aws:sqs:us-east-1:{PROD}:jobs", f"arn:aws:sqs:us-east-1:{PROD}:jobs"),
    ],
)
def test_resource_arn_variants_find_the_stored_policy(snap, resource, stored):
    applied = snapshot_resolver(snap).policies_for(parse_principal(ALICE), resource, action="x:Y")
    assert applied.resource is not None
    assert applied.resource.target == stored


def test_scp_levels_run_from_the_root_to_the_account(snap):
    applied = snapshot_resolver(snap).policies_for(parse_principal(ALICE), "*", action="ec2:RunInstances")
    assert [[a.target for a in level] for level in applied.scp] == [
        ["r-ab12"],
        ["ou-ab12-prod1234", "ou-ab12-prod1234"],
        [PROD],
    ]
    assert [level[0].target_type for level in applied.scp] == [
        TargetType.ROOT,
        TargetType.OU,
        TargetType.ACCOUNT,
    ]
    deny = applied.scp[1][1]
    assert (deny.policy_id, deny.policy_name, deny.level) == ("p-denyregions", "DenyRegions", 1)
    assert deny.policy.arn.endswith("/service_control_policy/p-denyregions")
    assert applied.level_targets(PolicyType.SCP) == ("r-ab12", "ou-ab12-prod1234", PROD)
    assert not applied.is_management_account
    # RCPs follow the resource's account: the prod bucket has three levels, the last with TLS
    assert [len(level) for level in applied.rcp] == [1, 1, 2]
    on_bucket = snapshot_resolver(snap).policies_for(
        parse_principal(ALICE), "arn:aws:s3:::data-bucket/x", action="s3:GetObject"
    )
    assert [a.policy_name for a in on_bucket.rcp[-1]] == ["RCPFullAWSAccess", "EnforceTls"]


def test_management_account_has_no_scps_or_rcps(snap):
    assert snap.is_management_account(MGMT)
    applied = snapshot_resolver(snap).policies_for(
        parse_principal(f"arn:aws:iam::{MGMT}:root"),
        f"arn:aws:sqs:us-east-1:{MGMT}:q",
        action="sqs:SendMessage",
    )
    assert applied.is_management_account
    assert applied.scp is None
    assert applied.rcp is None
    assert applied.identity == ()


def test_org_without_rcps_gives_none_and_policy_set_feeds_the_engine(snap):
    no_rcps = snap.with_organization(load_scp_file(DATA / "scp_data.json"))
    assert no_rcps.snapshot_id != snap.snapshot_id
    request = Request.build(ALICE, "ec2:RunInstances", "*", context={"aws:RequestedRegion": "eu-west-1"})
    applied = snapshot_resolver(no_rcps).policies_for(
        request.principal, request.resource, action=request.action
    )
    assert applied.rcp is None
    assert len(applied.scp) == 3
    evaluation = evaluate(request, applied.policy_set, rcp_supported_services())
    assert evaluation.decision == Decision.EXPLICITLY_DENIED
    reason = evaluation.reasons[0]
    assert (reason.policy_type, reason.kind) == (PolicyType.SCP, ReasonKind.EXPLICIT_DENY)
    attachment = applied.attachment_for(reason.policy)
    assert attachment.target == "ou-ab12-prod1234"
    assert attachment is applied.attachment_at(reason.policy_type, reason.level, reason.policy_index)


def test_engine_allows_what_the_snapshot_grants(snap):
    request = Request.build(
        ALICE,
        "s3:GetObject",
        "arn:aws:s3:::data-bucket/report.csv",
        context={"aws:PrincipalOrgID": "o-exampleorg1", "aws:SecureTransport": "true"},
    )
    applied = snapshot_resolver(snap).policies_for(request.principal, request.resource, action=request.action)
    evaluation = evaluate(request, applied.policy_set, rcp_supported_services())
    assert evaluation.decision == Decision.ALLOWED, evaluation.reasons


def test_original_scp_file_loads_and_names_the_management_account():
    org = load_scp_file(DATA / "scp_data.json")
    assert org.management_account_id == MGMT  # read from the root's ARN
    assert [node.id for node in org.path(PROD)] == ["r-ab12", "ou-ab12-prod1234", PROD]
    assert json.loads(json.dumps(org.to_nodes_json()))[PROD]["policies"][0]["Id"] == "p-FullAWSAccess"


def test_a_resource_policy_the_collector_could_not_read_is_unknown(snap):
    assert [g.error for g in snap.gaps_for(SANDBOX, "s3")] == ["AccessDenied"]
    applied = snapshot_resolver(snap).policies_for(
        parse_principal(f"arn:aws:iam::{SANDBOX}:role/Reader"),
        "arn:aws:s3:::unknown-bucket",
        resource_account=SANDBOX,
        action="s3:GetObject",
    )
    assert applied.resource is None
    [unknown] = [part for part in applied.unknown if part.policy_type == PolicyType.RESOURCE]
    assert "could not be read" in unknown.reason and "AccessDenied" in unknown.reason


def test_a_bucket_named_by_a_gap_is_its_gap_accounts_and_its_policy_unknown():
    """The collector reads a bucket only in the account whose bucket list holds it: its gap
    says whose it is. The owner was taken from stored policies only, so the bucket was
    assumed the caller's and its gap, of another account, never matched (held-out probe)."""
    data = _raw()
    data["gaps"].append(
        {
            "account": MGMT,
            "service": "s3",
            "operation": "GetBucketPolicy",
            "error": "AccessDenied",
            "message": "denied",
            "resource": "arn:aws:s3:::locked",
        }
    )
    applied = snapshot_resolver(snapshot_from_dict(data)).policies_for(
        parse_principal(ALICE), "arn:aws:s3:::locked/k.csv", action="s3:GetObject"
    )
    assert applied.resource_account == MGMT
    assert not any("is not known" in warning for warning in applied.warnings)
    [unknown] = [part for part in applied.unknown if part.policy_type == PolicyType.RESOURCE]
    assert unknown.account == MGMT and "GetBucketPolicy" in unknown.reason


def _listing():
    """org.json whose accounts record the buckets they list: PROD its data-bucket, MGMT a
    policy-less ``logs``, SANDBOX none (its ListBuckets failed: a gap of org.json)."""
    data = _raw()
    for account, names in ((MGMT, ["logs"]), (PROD, ["data-bucket"]), (SANDBOX, [])):
        data["accounts"][account]["bucketNames"] = names
    return snapshot_resolver(snapshot_from_dict(data))


def test_a_bucket_no_account_listed_is_of_an_unknown_account_with_its_policy_and_rcps_unknown():
    """A bucket absent from the snapshot was assumed to be the caller's, without a policy, so
    a request its policy or its account's RCPs deny came out Allowed (held-out probe): with
    the accounts' bucket lists, a bucket none lists is another account's."""
    applied = _listing().policies_for(
        parse_principal(ALICE), "arn:aws:s3:::elsewhere/k.csv", action="s3:GetObject"
    )
    assert applied.resource is None and applied.rcp is None and applied.resource_account is None
    assert applied.scp is not None  # the caller's own SCPs are known all the same
    assert not any("assuming" in warning for warning in applied.warnings)
    resource, rcps = applied.unknown
    assert (resource.policy_type, resource.account) == (PolicyType.RESOURCE, None)
    assert (rcps.policy_type, rcps.account) == (PolicyType.RCP, None)
    assert "bucket elsewhere is in none of the bucket lists" in resource.reason
    assert f"s3:ListBuckets {SANDBOX}: AccessDenied" in resource.reason  # it may be SANDBOX's
    assert "collect the account that owns the bucket" in resource.remedy
    assert resource.depends_on("aws:resourceaccount") and rcps.depends_on("aws:resourceorgid")


def test_a_listed_bucket_is_its_listing_accounts_and_a_created_one_the_callers():
    resolver = _listing()
    alice = parse_principal(ALICE)
    logs = resolver.policies_for(alice, "arn:aws:s3:::logs/k.csv", action="s3:GetObject")
    assert (logs.resource_account, logs.resource, logs.unknown) == (MGMT, None, ())
    data = resolver.policies_for(alice, "arn:aws:s3:::data-bucket/k.csv", action="s3:GetObject")
    assert data.resource_account == PROD and data.resource.target == "arn:aws:s3:::data-bucket"
    # an owner the event names, whose list lacks the bucket: a bucket newer than the snapshot
    newer = resolver.policies_for(
        alice, "arn:aws:s3:::newer/k.csv", resource_account=MGMT, action="s3:GetObject"
    )
    [unknown] = newer.unknown
    assert (unknown.policy_type, unknown.account) == (PolicyType.RESOURCE, MGMT)
    assert f"bucket newer is not in the bucket list of account {MGMT}" in unknown.reason
    # CreateBucket names a bucket that does not exist yet: its creator will own it
    created = resolver.policies_for(alice, "arn:aws:s3:::new-bucket", action="s3:CreateBucket")
    assert (created.resource_account, created.resource, created.unknown) == (PROD, None, ())
    # a snapshot without bucket lists cannot tell: the caller's, as before, and said so
    before = snapshot_resolver(snapshot_from_dict(_raw())).policies_for(
        alice, "arn:aws:s3:::elsewhere/k.csv", action="s3:GetObject"
    )
    assert before.resource_account == PROD and before.unknown == ()
    assert any("assuming it is the caller's account" in warning for warning in before.warnings)


def test_another_resources_gap_is_not_a_note_of_this_ones_answer():
    """A gap names the resource the collector could not read: it is a note of the answers
    about that resource (or, without a resource, about the whole service), not of every
    answer about the service in that account (live mode, collecting as events need, noted
    one bucket's ListBuckets gap on other buckets' answers; held-out probe)."""
    data = _raw()
    gap = {"account": MGMT, "service": "s3", "operation": "GetBucketPolicy", "error": "AccessDenied"}
    data["gaps"].append({**gap, "message": "denied", "resource": "arn:aws:s3:::locked"})
    data["accounts"][MGMT].setdefault("resourcePolicies", {})["arn:aws:s3:::open"] = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}],
    }
    resolver = snapshot_resolver(snapshot_from_dict(data))

    def notes(bucket):
        applied = resolver.policies_for(
            parse_principal(ALICE), f"arn:aws:s3:::{bucket}/k", action="s3:GetObject"
        )
        return [warning for warning in applied.warnings if "gap" in warning]

    assert notes("open") == []
    data["gaps"].append({**gap, "message": "all of s3"})  # a gap of the service: every bucket's
    resolver = snapshot_resolver(snapshot_from_dict(data))
    assert [note for note in notes("open") if "all of s3" in note]
    assert not [note for note in notes("open") if "locked" in note]


def _in_regions(regions, gaps=()):
    """org.json with the regions read in PROD (None: not recorded) and more gaps."""
    data = _raw()
    if regions is not None:
        data["accounts"][PROD]["collectedRegions"] = regions
    data["gaps"] += gaps
    return snapshot_resolver(snapshot_from_dict(data))


@pytest.mark.parametrize(
    ("resource", "action"),
    [
        (f"arn:aws:sqs:eu-west-1:{PROD}:jobs-eu", "sqs:SendMessage"),
        (f"arn:aws:lambda:eu-west-1:{PROD}:function:worker:prod", "lambda:InvokeFunction"),
        (f"arn:aws:sns:eu-west-1:{PROD}:alerts", "sns:Publish"),
        (f"arn:aws:secretsmanager:eu-west-1:{PROD}:secret:db", "secretsmanager:GetSecretValue"),
        (f"arn:aws:ecr:eu-west-1:{PROD}:repository/app", "ecr:BatchGetImage"),
        (f"arn:aws:kms:eu-west-1:{PROD}:alias/data", "kms:Decrypt"),
    ],
)
def test_a_resource_in_a_region_not_read_has_an_unknown_policy(resource, action):
    """A snapshot collected with --regions us-east-1 held nothing of eu-west-1, and a queue
    there was taken to have no policy: allowed where its policy denied (held-out probe)."""
    applied = _in_regions(["us-east-1"]).policies_for(parse_principal(ALICE), resource, action=action)
    assert applied.resource is None
    [unknown] = applied.unknown
    assert unknown.policy_type == PolicyType.RESOURCE and unknown.account == PROD
    assert f"region eu-west-1 of account {PROD} was not read" in unknown.reason
    assert "(it read us-east-1)" in unknown.reason
    assert "--regions including eu-west-1" in unknown.remedy


def test_a_resource_missing_from_a_region_read_has_no_policy_and_without_regions_as_before():
    queue = f"arn:aws:sqs:us-east-1:{PROD}:no-policy"
    elsewhere = f"arn:aws:sqs:eu-west-1:{PROD}:no-policy"
    for resolver, resource in ((_in_regions(["us-east-1"]), queue), (_in_regions(None), elsewhere)):
        applied = resolver.policies_for(parse_principal(ALICE), resource, action="sqs:SendMessage")
        assert applied.resource is None and applied.unknown == ()
    # the policies stored are read whatever the regions say
    stored = _in_regions([]).policies_for(
        parse_principal(ALICE), f"arn:aws:sqs:us-east-1:{PROD}:jobs", action="sqs:SendMessage"
    )
    assert stored.resource is not None and stored.unknown == ()


def test_regions_not_listed_are_unknown_when_describe_regions_failed():
    """Without DescribeRegions the collector read its home region only, and a snapshot
    without ``collectedRegions`` does not name it: the regions its ARNs name were read."""
    failed = {
        "account": PROD,
        "service": "ec2",
        "operation": "DescribeRegions",
        "error": "UnauthorizedOperation",
        "message": "denied",
    }
    resolver = _in_regions(None, [failed])
    applied = resolver.policies_for(
        parse_principal(ALICE), f"arn:aws:sqs:eu-west-1:{PROD}:jobs-eu", action="sqs:SendMessage"
    )
    [unknown] = applied.unknown
    assert "(it read us-east-1)" in unknown.reason and "DescribeRegions" in unknown.reason
    home = resolver.policies_for(
        parse_principal(ALICE), f"arn:aws:sqs:us-east-1:{PROD}:no-policy", action="sqs:SendMessage"
    )
    assert home.unknown == ()


def test_missing_account_and_principal_are_unknown_parts_saying_why(snap):
    [account] = (
        snapshot_resolver(snap)
        .policies_for(parse_principal("arn:aws:iam::444444444444:user/bob"), "*")
        .unknown[:1]
    )
    assert (account.policy_type, account.account) == (PolicyType.IDENTITY, "444444444444")
    assert "account 444444444444 is not in the snapshot" in account.reason
    assert "snapshot --accounts 444444444444" in account.remedy
    ghost = snapshot_resolver(snap).policies_for(
        parse_principal(f"arn:aws:sts::{PROD}:assumed-role/Ghost/s"), "*"
    )
    [deleted] = [part for part in ghost.unknown if part.policy_type == PolicyType.IDENTITY]
    assert f"role Ghost in account {PROD}" in deleted.missing
    assert "role 'Ghost' is not in" in deleted.reason and "deleted" in deleted.reason
    assert ghost.identity == () and ghost.scp is not None  # the SCPs are still known
    external = snapshot_resolver(snap).policies_for(
        parse_principal(ALICE), "arn:aws:sqs:us-east-1:444444444444:q", action="sqs:SendMessage"
    )
    assert external.resource is None
    assert any(
        part.policy_type == PolicyType.RESOURCE and part.account == "444444444444"
        for part in external.unknown
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"\x1f\x8b\x08\x00garbage", "corrupt gzip"),
        (
            json.dumps({"format": "access-undenied-snapshot/2", "accounts": {}}).encode(),
            "format 'access-undenied-snapshot/2' is not supported",
        ),
        (json.dumps({"accounts": {}}).encode(), "not a policy snapshot"),
        (json.dumps({"format": FORMAT, "accounts": {"12": {}}}).encode(), "not 12 digits"),
        (
            json.dumps({"format": FORMAT, "accounts": {"111111111111": {"secretArns": "x"}}}).encode(),
            r"\[111111111111\]\.secretArns must be a list of ARNs",
        ),
        (
            json.dumps(
                {"format": FORMAT, "accounts": {"111111111111": {"vpcEndpoints": {"vpce-1": "vpc-1"}}}}
            ).encode(),
            r"vpcEndpoints\[vpce-1\] must be an object",
        ),
        (
            json.dumps(
                {"format": FORMAT, "accounts": {"111111111111": {"collectedRegions": "us-east-1"}}}
            ).encode(),
            r"\[111111111111\]\.collectedRegions must be a list of region names",
        ),
        (
            json.dumps({"format": FORMAT, "accounts": {"111111111111": {"bucketNames": ["a", 1]}}}).encode(),
            r"\[111111111111\]\.bucketNames must be a list of bucket names",
        ),
        (
            json.dumps(
                {
                    "format": FORMAT,
                    "accounts": {},
                    "organization": {
                        "nodes": {
                            "r-1": {
                                "id": "r-1",
                                "organization_node_type": "x",
                                "policies": [],
                                "parent": "r-0",
                            }
                        }
                    },
                }
            ).encode(),
            "parent 'r-0'",
        ),
    ],
)
def test_bad_snapshot_files_give_one_clear_message(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(SnapshotError, match=message) as caught:
        load_snapshot(path)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_file_is_a_snapshot_error(tmp_path):
    with pytest.raises(SnapshotError, match="cannot read snapshot"):
        load_snapshot(tmp_path / "absent.json")


def test_each_organization_reads_its_own_id_once_from_its_nodes():
    """The id is read when the organization is built (its nodes do not change): each
    organization answers with its own, and one without ARNs has none."""
    from analyzer.snapshot.organization import NODE_ACCOUNT, NODE_ROOT_OR_OU, Organization, OrgNode

    def tree(org_id):
        arn = f"arn:aws:organizations::999999999999:root/{org_id}/r-ab12" if org_id else None
        return Organization(
            "999999999999",
            {
                "r-ab12": OrgNode("r-ab12", arn, "Root", NODE_ROOT_OR_OU, None),
                "111122223333": OrgNode("111122223333", None, "dev", NODE_ACCOUNT, "r-ab12"),
            },
        )

    first, second, bare = tree("o-aaaaaaaaaa"), tree("o-bbbbbbbbbb"), tree(None)
    assert first.context_keys("111122223333", "aws:Principal") == {
        "aws:PrincipalOrgID": "o-aaaaaaaaaa",
        "aws:PrincipalOrgPaths": ["o-aaaaaaaaaa/r-ab12/"],
    }
    assert second.organization_id == "o-bbbbbbbbbb"
    assert bare.organization_id is None and bare.context_keys("111122223333", "aws:Principal") == {}


def test_a_snapshots_resolver_is_dropped_with_it():
    # The resolver refers to its snapshot; held in a mapping keyed weakly by the snapshot
    # it kept every snapshot ever resolved alive (each state a history rebuilds).
    snapshot = snapshot_from_dict(_raw())
    resolver = snapshot_resolver(snapshot)
    assert snapshot_resolver(snapshot) is resolver
    gone = weakref.ref(snapshot)
    del snapshot, resolver
    gc.collect()
    assert gone() is None


@pytest.mark.parametrize(
    "collected_at",
    ["yesterday", "2026-13-45T99:00:00Z", "2026-11-24", "2026-11-24T25:00:00Z", "", 1764000000, ["x"]],
    ids=str,
)
def test_a_collected_at_that_is_not_a_time_is_bad_input(tmp_path, collected_at):
    """The history places a snapshot by its collectedAt: one that is not a time would be
    placed nowhere and silently change the answers."""
    path = tmp_path / "bad-time.json"
    path.write_text(json.dumps({**_raw(), "collectedAt": collected_at}))
    with pytest.raises(SnapshotError, match="collectedAt") as caught:
        load_snapshot(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert repr(collected_at) in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "collected_at",
    [
        "2026-11-24T02:00:00Z",  # what the collector writes
        "2026-11-24T02:00:00.123Z",  # CloudTrail, AWS APIs' JSON
        "2026-11-24T02:00:00.123456+00:00",  # boto3 / the AWS CLI
        "2026-11-24T03:00:00+01:00",
        "2026-11-24T02:00Z",
        None,  # unknown: usable alone, named when several snapshots are placed in time
    ],
)
def test_collected_at_in_the_iso_forms_aws_and_the_collector_write_is_accepted(collected_at):
    assert snapshot_from_dict({**_raw(), "collectedAt": collected_at}).collected_at == collected_at


def test_what_the_collector_writes_is_accepted():
    from datetime import UTC, datetime

    written = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert snapshot_from_dict({**_raw(), "collectedAt": written}).collected_at == written
