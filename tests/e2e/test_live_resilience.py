"""Live ``analyze`` against the moto server through a small recording, fault-injecting proxy.

The proxy (``tests/aws_proxy.py``) records every AWS call the CLI makes, answers
chosen calls with an HTTP 500 and an HTML body, as a broken load balancer would, and
others with a 200 whose body is cut short (botocore raises ``ResponseParserError``,
which is not a ``BotoCoreError``). Two
properties are checked from what went over the wire, not from our code:

* one failing call costs at most its own event: every other event is explained and the
  output file is complete (issue 13 item 4);
* live mode enters only trusted accounts: no ``sts:AssumeRole`` into an account an event
  names that is neither the caller's, its organization's nor given with ``--accounts``
  (issue 19 item 2).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from aws_proxy import Proxy

ROOT = Path(__file__).resolve().parents[2]
OUTSIDER = "444455556666"  # an account in no organization of ours: anyone's
ENCODED = (
    "You are not authorized to perform this operation. Encoded authorization failure "
    "message: Rm9yY2VkLWZhaWx1cmUtZm9yLWEtdGVzdA"
)


def _event(
    event_id: str,
    identity: dict,
    source: str,
    name: str,
    params: dict,
    *,
    message: str = "Access Denied",
    code: str = "AccessDenied",
    resources: list | None = None,
) -> dict:
    return {
        "eventVersion": "1.09",
        "eventTime": "2026-11-24T10:00:00Z",
        "eventID": event_id,
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.9",
        "userAgent": "aws-cli/2",
        "errorCode": code,
        "errorMessage": message,
        "requestParameters": params,
        "userIdentity": identity,
        "resources": resources or [],
        "tlsDetails": {"tlsVersion": "TLSv1.3"},
    }


def _alice(account: str) -> dict:
    """The moto organization's user alice (staff/), as CloudTrail names her."""
    return {
        "type": "IAMUser",
        "principalId": "AIDAALICE",
        "accountId": account,
        "arn": f"arn:aws:iam::{account}:user/staff/alice",
        "userName": "alice",
    }


def _session(account: str, role: str) -> dict:
    return {
        "type": "AssumedRole",
        "principalId": f"AROA{role.upper()}:s",
        "accountId": account,
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/s",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "arn": f"arn:aws:iam::{account}:role/{role}",
                "accountId": account,
                "userName": role,
            }
        },
    }


def _analyze(
    proxy: Proxy, aws: dict[str, str], events: list[dict], out: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    events_file = out.parent / "events.json"
    events_file.write_text(json.dumps({"Records": events}))
    env = {**aws, "AWS_ENDPOINT_URL": proxy.url, "AWS_MAX_ATTEMPTS": "2", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "analyzer",
            "analyze",
            "--events-file",
            str(events_file),
            "--output-file",
            str(out),
            "--suppress-output",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


def test_an_http_500_costs_no_other_event(moto_org, aws, proxy, tmp_path):
    prod = moto_org.prod
    alice = _alice(prod)
    events = [
        _event(
            "ev-read", alice, "s3.amazonaws.com", "PutObject", {"bucketName": "prod-data", "key": "a.csv"}
        ),
        # EC2's encoded message: decoding it is the call that gets the 500
        _event(
            "ev-encoded",
            alice,
            "ec2.amazonaws.com",
            "StopInstances",
            {"instancesSet": {"items": [{"instanceId": "i-0123456789abcdef0"}]}},
            message=ENCODED,
            code="Client.UnauthorizedOperation",
        ),
        # reading this topic's policy gets a body cut short
        _event(
            "ev-topic",
            alice,
            "sns.amazonaws.com",
            "Publish",
            {"topicArn": f"arn:aws:sns:us-east-1:{prod}:alerts"},
        ),
        *[
            _event(
                f"ev-after-{n}",
                alice,
                "s3.amazonaws.com",
                "DeleteObject",
                {"bucketName": "prod-data", "key": f"{n}.csv"},
            )
            for n in range(5)
        ],
    ]
    proxy.fail = lambda call: "Action=DecodeAuthorizationMessage" in call
    proxy.garble = lambda call: "Action=GetTopicAttributes" in call
    out = tmp_path / "results.json"
    run = _analyze(proxy, aws, events, out)
    assert "Traceback" not in run.stderr
    # The exit code says whether every event got an answer (the queue's may not have).
    assert run.returncode in (0, 1), run.stderr
    assert "8 denied" in run.stderr
    results = {result["EventId"]: result for result in json.loads(out.read_text())}
    assert list(results) == [event["eventID"] for event in events]  # the file is complete
    assert any("DecodeAuthorizationMessage" in body for _, _, body in proxy.calls)
    assert results["ev-encoded"]["ResultDetails"]["AwsMessage"]["EncodedMessage"] == "failed"
    assert results["ev-encoded"]["Action"] == "ec2:StopInstances"
    # The topic's policy could not be read: an unknown part of that event's answer (as any
    # AWS failure is), said in one line, the request still named.
    topic = results["ev-topic"]
    assert topic["AssessmentResult"] == "Error" and "\n" not in topic["ErrorMessage"]
    [unread] = [p for p in topic["ResultDetails"]["UnknownPolicies"] if p["PolicyType"] == "resource"]
    assert "ResponseParserError" in unread["Reason"]
    # Named on stderr too: with --suppress-output the summary's "1 error" said nothing more.
    assert f"warning: eventID ev-topic: {topic['ErrorMessage']}" in run.stderr.splitlines()
    assert (topic["Action"], topic["Resource"]) == ("sns:Publish", f"arn:aws:sns:us-east-1:{prod}:alerts")
    for n in range(5):  # after the failures, explained as usual
        after = results[f"ev-after-{n}"]
        assert after["AssessmentResult"] == "Missing allow in an identity-based policy"
        assert after["Principal"] == f"arn:aws:iam::{prod}:user/staff/alice"


def test_live_mode_enters_only_trusted_accounts(moto_org, aws, proxy, tmp_path):
    prod = moto_org.prod
    importer = _session(OUTSIDER, "Importer")
    events = [
        # An outsider reading a bucket of ours: its own account is never entered; the bucket
        # policy (which grants it nothing) decides.
        _event(
            "ev-outsider",
            importer,
            "s3.amazonaws.com",
            "GetObject",
            {"bucketName": "prod-data", "key": "a.csv"},
            resources=[{"ARN": "arn:aws:s3:::prod-data/a.csv", "accountId": prod, "type": "AWS::S3::Object"}],
        ),
        # A member account of the organization is trusted and entered as before.
        _event(
            "ev-member",
            _session(moto_org.sandbox, "AccessUndeniedRole"),
            "sqs.amazonaws.com",
            "DeleteQueue",
            {"queueUrl": f"https://sqs.us-east-1.amazonaws.com/{moto_org.sandbox}/q"},
        ),
    ]
    out = tmp_path / "results.json"
    run = _analyze(proxy, aws, events, out)
    assert run.returncode == 0, run.stderr
    roles = proxy.assumed_roles()
    assert not [arn for arn in roles if OUTSIDER in arn], roles
    assert any(moto_org.sandbox in arn for arn in roles)  # the recording does see AssumeRole
    outsider = {r["EventId"]: r for r in json.loads(out.read_text())}["ev-outsider"]
    assert outsider["AssessmentResult"] == "Missing allow in a resource-based policy in cross-account access"
    identity = next(
        part for part in outsider["ResultDetails"]["UnknownPolicies"] if part["PolicyType"] == "identity"
    )
    assert "outside the trusted accounts" in identity["Reason"]
    assert f"--accounts {OUTSIDER}" in identity["HowToGet"]

    # Named with --accounts, the same account is trusted: its role is assumed.
    proxy.calls.clear()
    run = _analyze(proxy, aws, events[:1], tmp_path / "trusted.json", "--accounts", OUTSIDER)
    assert run.returncode == 0, run.stderr
    assert any(OUTSIDER in arn for arn in proxy.assumed_roles())


def test_a_strangers_bucket_lends_no_policy(moto_org, aws, proxy, tmp_path):
    """An S3 ARN names no account, so a bucket absent from the caller's account was taken to
    be the caller's and its policy read from there: a bucket an outsider owns, whose policy
    grants our user everything, made AWS's cross-account deny read as 'Allowed'. The bucket
    list of the account says whose it is; the stranger's policy is never read."""
    import boto3

    prod = moto_org.prod
    bucket = "stranger-bucket-live-1"
    credentials = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{OUTSIDER}:role/Owner", RoleSessionName="setup"
    )["Credentials"]
    stranger = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    ).client("s3")
    stranger.create_bucket(Bucket=bucket)
    alice = f"arn:aws:iam::{prod}:user/staff/alice"
    grant = {
        "Effect": "Allow",
        "Principal": {"AWS": alice},
        "Action": "s3:*",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    stranger.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [grant]})
    )
    identity = _alice(prod)
    events = [
        _event("ev-stranger", identity, "s3.amazonaws.com", "PutObject", {"bucketName": bucket, "key": "a"})
    ]

    out = tmp_path / "results.json"
    run = _analyze(proxy, aws, events, out)
    assert "Traceback" not in run.stderr
    assert not [path for _, path, _ in proxy.calls if bucket in path and "policy" in path], proxy.calls
    [result] = json.loads(out.read_text())
    # Alice's own policies lack the allow; whose the bucket is, and its policy, are unknown.
    assert result["AssessmentResult"] == "Error"
    [unknown] = [
        part for part in result["ResultDetails"]["UnknownPolicies"] if part["PolicyType"] == "resource"
    ]
    assert f"not one of account {prod}'s" in unknown["Reason"]


def test_an_account_entered_whose_iam_read_fails_is_not_told_to_create_the_role(
    moto_org, aws, proxy, tmp_path
):
    """Live: the role was assumed, then GetAccountAuthorizationDetails failed: the answer
    said the account could not be read and to create the role there (held-out probe)."""
    prod = moto_org.prod
    alice = _alice(prod)
    events = [
        _event("ev-put", alice, "s3.amazonaws.com", "PutObject", {"bucketName": "prod-data", "key": "a.csv"})
    ]
    proxy.fail = lambda call: "Action=GetAccountAuthorizationDetails" in call
    out = tmp_path / "results.json"
    run = _analyze(proxy, aws, events, out)
    assert "Traceback" not in run.stderr and run.returncode in (0, 1), run.stderr
    [result] = json.loads(out.read_text())
    [identity] = [p for p in result["ResultDetails"]["UnknownPolicies"] if p["PolicyType"] == "identity"]
    assert "IAM could not be read" in identity["Reason"], identity
    assert "create the role" not in identity["HowToGet"]


def test_an_unread_scp_leaves_the_nodes_rcps_known(moto_org, aws, proxy, tmp_path):
    """Live: the Prod OU's SCP could not be described. The gap named the node only, so the
    account's RCPs on that path were declared unknown too (held-out probe)."""
    prod = moto_org.prod
    put = {"bucketName": "prod-data", "key": "a.csv"}
    events = [_event("ev-put", _alice(prod), "s3.amazonaws.com", "PutObject", put)]
    proxy.fail = lambda call: "DescribePolicy" in call and moto_org.deny_regions_scp in call
    out = tmp_path / "results.json"
    run = _analyze(proxy, aws, events, out)
    assert "Traceback" not in run.stderr and run.returncode in (0, 1), run.stderr
    assert any(moto_org.deny_regions_scp in body for _, _, body in proxy.calls)  # it was asked for
    [result] = json.loads(out.read_text())
    unknown = [part["PolicyType"] for part in result["ResultDetails"]["UnknownPolicies"]]
    assert unknown == ["scp"], result["ResultDetails"]["UnknownPolicies"]


def test_an_organization_node_id_named_as_an_account_is_not_entered(moto_org, aws, proxy, tmp_path):
    """An ARN in the event naming the organization's root (or an OU) where the account
    belongs: the root's id is a node of the tree, so live mode took it for one of the
    organization's accounts and tried to assume a role there (held-out probe)."""
    key = f"arn:aws:kms:us-east-1:{moto_org.root_id}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    events = [
        _event(
            "ev-root-id",
            _alice(moto_org.prod),
            "kms.amazonaws.com",
            "Decrypt",
            {"keyId": key},
            resources=[{"ARN": key, "accountId": moto_org.root_id, "type": "AWS::KMS::Key"}],
        )
    ]
    run = _analyze(proxy, aws, events, tmp_path / "results.json")
    assert "Traceback" not in run.stderr and run.returncode in (0, 1), run.stderr
    assert not [arn for arn in proxy.assumed_roles() if moto_org.root_id in arn], proxy.assumed_roles()
