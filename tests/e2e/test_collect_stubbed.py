"""Collector paths moto cannot produce, tested with botocore's Stubber.

moto answers every call it implements as if the caller were allowed (it enforces no
IAM by default), so access errors on one resource or one API, and an organization
whose RCP policy type is not enabled (moto enables RCPs on every root), are replayed
here from the response and error shapes AWS documents for those operations.
"""

import boto3
from botocore.stub import Stubber

from analyzer.collectors import iam as iam_collector
from analyzer.collectors import resources
from analyzer.collectors.aws import Account
from analyzer.collectors.organization import read_tree
from analyzer.collectors.snapshot import _AccountData, _iam

ACCOUNT = "111111111111"
POLICY = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}]}'
)


class _Stubbed(Account):
    """An account whose clients are stubbed (no network)."""

    def __init__(self, **clients):
        session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
        super().__init__(ACCOUNT, session)
        self.stubs = {}
        for service, client in clients.items():
            self._clients[(service, "us-east-1")] = client
            self.stubs[service] = Stubber(client)


def _client(service):
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        endpoint_url="https://example.invalid",
    )


def test_clients_retry_adaptively():
    client = Account(
        ACCOUNT, boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    ).client("sqs")
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 8}


def test_access_denied_on_one_bucket_is_a_gap_and_the_others_are_read():
    account = _Stubbed(s3=_client("s3"))
    stub = account.stubs["s3"]
    stub.add_response(
        "list_buckets", {"Buckets": [{"Name": "secret"}, {"Name": "open"}], "Owner": {"ID": "abc"}}
    )
    stub.add_client_error(
        "get_bucket_policy",
        "AccessDenied",
        "Access Denied",
        403,
        expected_params={"Bucket": "secret", "ExpectedBucketOwner": ACCOUNT},
    )
    stub.add_response(
        "get_bucket_policy",
        {"Policy": POLICY},
        expected_params={"Bucket": "open", "ExpectedBucketOwner": ACCOUNT},
    )
    with stub:
        found = resources.collect(account, "s3", "us-east-1")
    assert list(found.policies) == ["arn:aws:s3:::open"]
    [gap] = found.gaps
    assert (gap.account, gap.service, gap.operation, gap.error, gap.resource) == (
        ACCOUNT,
        "s3",
        "GetBucketPolicy",
        "AccessDenied",
        "arn:aws:s3:::secret",
    )


def test_a_bucket_without_policy_is_not_a_gap():
    account = _Stubbed(s3=_client("s3"))
    stub = account.stubs["s3"]
    stub.add_response("list_buckets", {"Buckets": [{"Name": "plain"}], "Owner": {"ID": "abc"}})
    stub.add_client_error("get_bucket_policy", "NoSuchBucketPolicy", "The bucket policy does not exist", 404)
    with stub:
        found = resources.collect(account, "s3", "us-east-1")
    assert found.policies == {} and found.gaps == []


def test_listing_denied_for_a_service_is_one_gap():
    account = _Stubbed(sns=_client("sns"))
    account.stubs["sns"].add_client_error(
        "list_topics", "AuthorizationError", "not authorized to perform: SNS:ListTopics", 403
    )
    with account.stubs["sns"]:
        found = resources.collect(account, "sns", "us-east-1")
    assert [(g.service, g.operation, g.region, g.error) for g in found.gaps] == [
        ("sns", "ListTopics", "us-east-1", "AuthorizationError")
    ]


def test_authorization_details_denied_is_a_gap_not_a_failure():
    account = _Stubbed(iam=_client("iam"))
    account.stubs["iam"].add_client_error(
        "get_account_authorization_details",
        "AccessDenied",
        "User is not authorized to perform: iam:GetAccountAuthorizationDetails",
        403,
    )
    entry, gaps = _AccountData(), []
    with account.stubs["iam"]:
        _iam(account, entry, iam_collector.AwsManagedPolicies(), gaps)
    assert [(g.service, g.operation, g.error) for g in gaps] == [
        ("iam", "GetAccountAuthorizationDetails", "AccessDenied")
    ]
    assert entry.details["UserDetailList"] == []


def test_organization_without_rcps_enabled_is_read_with_scps_only():
    client = _client("organizations")
    stub = Stubber(client)
    root_arn = f"arn:aws:organizations::{ACCOUNT}:root/o-abcdefghij/r-ab12"
    stub.add_response(
        "list_roots", {"Roots": [{"Id": "r-ab12", "Arn": root_arn, "Name": "Root", "PolicyTypes": []}]}
    )
    stub.add_response(
        "list_policies_for_target",
        {
            "Policies": [
                {
                    "Id": "p-FullAWSAccess",
                    "Name": "FullAWSAccess",
                    "Type": "SERVICE_CONTROL_POLICY",
                    "Arn": "arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess",
                    "Description": "Allows access to every operation",
                    "AwsManaged": True,
                }
            ]
        },
        {"TargetId": "r-ab12", "Filter": "SERVICE_CONTROL_POLICY"},
    )
    stub.add_response(
        "describe_policy", {"Policy": {"PolicySummary": {"Id": "p-FullAWSAccess"}, "Content": POLICY}}
    )
    stub.add_client_error(
        "list_policies_for_target",
        "PolicyTypeNotEnabledException",
        "This operation can be performed only for enabled policy types.",
        400,
        expected_params={"TargetId": "r-ab12", "Filter": "RESOURCE_CONTROL_POLICY"},
    )
    stub.add_response("list_accounts_for_parent", {"Accounts": []}, {"ParentId": "r-ab12"})
    stub.add_response(
        "list_organizational_units_for_parent", {"OrganizationalUnits": []}, {"ParentId": "r-ab12"}
    )
    with stub:
        nodes, gaps = read_tree(client)
    assert gaps == ()
    assert nodes["r-ab12"]["policies"][0]["PolicyDocument"] == POLICY
    assert [p["Type"] for p in nodes["r-ab12"]["policies"]] == ["SERVICE_CONTROL_POLICY"]
    stub.assert_no_pending_responses()


def test_a_failed_organizations_call_costs_its_node_not_the_tree():
    """One OU's policies could not be listed (a held-out probe's fault proxy: the whole
    organization, and every account but the caller's, were dropped). The tree keeps every
    node, the account under that OU included; the gap names the OU and the call."""
    client = _client("organizations")
    stub = Stubber(client)
    root_arn = f"arn:aws:organizations::{ACCOUNT}:root/o-abcdefghij/r-ab12"
    ou_arn = f"arn:aws:organizations::{ACCOUNT}:ou/o-abcdefghij/ou-ab12-11111111"
    stub.add_response("list_roots", {"Roots": [{"Id": "r-ab12", "Arn": root_arn, "Name": "Root"}]})
    for policy_type in ("SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"):
        stub.add_response(
            "list_policies_for_target", {"Policies": []}, {"TargetId": "r-ab12", "Filter": policy_type}
        )
    stub.add_response("list_accounts_for_parent", {"Accounts": []}, {"ParentId": "r-ab12"})
    stub.add_response(
        "list_organizational_units_for_parent",
        {"OrganizationalUnits": [{"Id": "ou-ab12-11111111", "Arn": ou_arn, "Name": "Prod"}]},
        {"ParentId": "r-ab12"},
    )
    stub.add_client_error("list_policies_for_target", "ServiceException", "try again later", 500)
    stub.add_response(
        "list_policies_for_target",
        {"Policies": []},
        {"TargetId": "ou-ab12-11111111", "Filter": "RESOURCE_CONTROL_POLICY"},
    )
    member = {
        "Id": "222222222222",
        "Arn": f"arn:aws:organizations::{ACCOUNT}:account/o-abcdefghij/222222222222",
    }
    stub.add_response(
        "list_accounts_for_parent",
        {"Accounts": [{**member, "Name": "prod"}]},
        {"ParentId": "ou-ab12-11111111"},
    )
    for policy_type in ("SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"):
        stub.add_response(
            "list_policies_for_target", {"Policies": []}, {"TargetId": "222222222222", "Filter": policy_type}
        )
    stub.add_response(
        "list_organizational_units_for_parent", {"OrganizationalUnits": []}, {"ParentId": "ou-ab12-11111111"}
    )
    with stub:
        nodes, gaps = read_tree(client, account_id=ACCOUNT)
    stub.assert_no_pending_responses()
    assert set(nodes) == {"r-ab12", "ou-ab12-11111111", "222222222222"}
    assert nodes["222222222222"]["parent"] == "ou-ab12-11111111"
    [gap] = gaps
    assert (gap.operation, gap.resource, gap.error) == (
        "ListPoliciesForTarget",
        "ou-ab12-11111111",
        "ServiceException",
    )
