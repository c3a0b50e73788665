"""Live mode: the resolver fetches only what a request needs, and agrees with a snapshot."""

import re

import boto3

from analyzer.collectors.live import live_resolver
from analyzer.collectors.snapshot import CollectOptions, collect_snapshot
from analyzer.engine.principals import parse_principal
from analyzer.snapshot import snapshot_from_dict, snapshot_resolver


def _fingerprint(applied):
    return [(a.policy_type, a.target, a.policy.content_hash) for a in applied.attachments()]


def test_live_fetches_lazily_and_matches_the_snapshot(moto_org, aws):
    resolver = live_resolver(cross_account_role_name="AccessUndeniedRole")
    alice = parse_principal(f"arn:aws:iam::{moto_org.prod}:user/staff/alice")
    applied = resolver.policies_for(alice, "arn:aws:s3:::prod-data/report.csv", action="s3:GetObject")
    source = resolver.source
    # one account's IAM, its bucket list (whose the bucket is), one bucket policy, the
    # organization: nothing else was read
    assert sorted(what for what, _ in source.calls) == [
        "account",
        "buckets",
        "caller",
        "details",
        "organization",
        "resource",
    ]
    assert [a.policy_name for a in applied.identity] == ["ReadData", "ListData"]
    assert applied.resource.target == "arn:aws:s3:::prod-data"
    assert [a.policy_name for a in applied.rcp[-1]] == ["RCPFullAWSAccess", "EnforceTls"]
    again = resolver.policies_for(alice, "arn:aws:s3:::prod-data/other.csv", action="s3:GetObject")
    assert again.identity == applied.identity  # cached for the run, not refetched
    assert len(source.calls) == 6

    snapshot = snapshot_from_dict(
        collect_snapshot(
            boto3.Session(), CollectOptions(accounts=["all"], regions=["us-east-1"], progress=False)
        )
    )
    for principal, resource, action in [
        (alice, "arn:aws:s3:::prod-data/report.csv", "s3:GetObject"),
        (
            parse_principal(f"arn:aws:sts::{moto_org.prod}:assumed-role/App/i-1"),
            moto_org.key_arn,
            "kms:Decrypt",
        ),
        (
            parse_principal(f"arn:aws:sts::{moto_org.prod}:assumed-role/App/i-1"),
            f"arn:aws:kms:us-east-1:{moto_org.prod}:alias/data",
            "kms:Decrypt",
        ),
        (alice, moto_org.queue_arn, "sqs:SendMessage"),
    ]:
        live = resolver.policies_for(principal, resource, action=action)
        offline = snapshot_resolver(snapshot).policies_for(principal, resource, action=action)
        assert _fingerprint(live) == _fingerprint(offline), resource
        assert live.resource is not None


def test_live_unreadable_account_is_an_unknown_part_saying_why(moto_org, aws, monkeypatch):
    resolver = live_resolver(cross_account_role_name="NoSuchRole", session=boto3.Session())
    # moto lets any role be assumed; make the assumption fail as AWS would
    from analyzer.collectors import live

    def refuse(*args, **kwargs):
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "AssumeRole")

    monkeypatch.setattr(live, "assume", refuse)
    applied = resolver.policies_for(
        parse_principal(f"arn:aws:iam::{moto_org.sandbox}:role/Reader"), "*", action="s3:ListAllMyBuckets"
    )
    [identity] = [part for part in applied.unknown if part.policy_type == "identity"]
    assert re.search(r"sts:AssumeRole .*AccessDenied", identity.reason)
    assert "--cross-account-role-name" in identity.remedy


def _denied(event_id, identity, source, name, parameters, region="us-east-1"):
    return {
        "eventVersion": "1.09",
        "eventTime": "2026-11-24T10:00:00Z",
        "eventID": event_id,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "203.0.113.9",
        "userAgent": "aws-cli/2",
        "errorCode": "AccessDenied",
        "errorMessage": "Access Denied",
        "requestParameters": parameters,
        "userIdentity": identity,
        "tlsDetails": {"tlsVersion": "TLSv1.3"},
    }


def test_analyze_live_gives_what_analyze_with_a_snapshot_gives(moto_org, aws, tmp_path):
    """The CLI in live mode (events analysed in parallel, each policy fetched once) and with
    a snapshot of the same organization print the same results, in the events' order."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    prod = moto_org.prod
    alice = {
        "type": "IAMUser",
        "principalId": "AIDAALICE",
        "accountId": prod,
        "arn": f"arn:aws:iam::{prod}:user/staff/alice",
        "userName": "alice",
    }
    app = {
        "type": "AssumedRole",
        "principalId": "AROAAPP:i-1",
        "accountId": prod,
        "arn": f"arn:aws:sts::{prod}:assumed-role/App/i-1",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAAPP",
                "arn": f"arn:aws:iam::{prod}:role/app/App",
                "accountId": prod,
                "userName": "App",
            }
        },
    }
    events = [
        _denied(f"e{i}", who, *call)
        for i, (who, call) in enumerate(
            [
                (alice, ("s3.amazonaws.com", "GetObject", {"bucketName": "prod-data", "key": "a"})),
                (alice, ("ec2.amazonaws.com", "RunInstances", {"instancesSet": {}}, "eu-west-1")),
                (app, ("kms.amazonaws.com", "Decrypt", {"keyId": moto_org.key_arn})),
                (
                    alice,
                    (
                        "sqs.amazonaws.com",
                        "SendMessage",
                        {"queueUrl": f"https://sqs.us-east-1.amazonaws.com/{prod}/jobs"},
                    ),
                ),
                (app, ("s3.amazonaws.com", "PutObject", {"bucketName": "prod-data", "key": "b"})),
                (alice, ("s3.amazonaws.com", "DeleteBucket", {"bucketName": "prod-data"})),
            ]
            * 3
        )
    ]
    events_file = tmp_path / "events.json"
    events_file.write_text(json.dumps({"Records": events}))
    snapshot = tmp_path / "snapshot.json"
    cli = str(Path(sys.executable).parent / "access-undenied")

    def analyze(*args):
        run = subprocess.run(
            [cli, "analyze", "--events-file", str(events_file), "--json", *args],
            env=aws,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    collected = subprocess.run(
        [cli, "snapshot", "--accounts", "all", "--regions", "us-east-1", "--output", str(snapshot)],
        env=aws,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert collected.returncode == 0, collected.stderr
    live, offline = analyze(), analyze("--snapshot", str(snapshot))
    assert [r["EventId"] for r in live] == [e["eventID"] for e in events]

    def essentials(result):
        return (
            result["EventId"],
            result["AssessmentResult"],
            result.get("ReasonCode"),
            result.get("Action"),
            result.get("Resource"),
            json.dumps(result.get("ResultDetails"), sort_keys=True),
        )

    assert [essentials(r) for r in live] == [essentials(r) for r in offline]
    assert len({r["AssessmentResult"] for r in live}) >= 3


def test_live_fetches_each_policy_once_under_concurrency(moto_org, aws):
    from concurrent.futures import ThreadPoolExecutor

    resolver = live_resolver(cross_account_role_name="AccessUndeniedRole")
    alice = parse_principal(f"arn:aws:iam::{moto_org.prod}:user/staff/alice")
    with ThreadPoolExecutor(8) as pool:
        applied = list(
            pool.map(
                lambda i: resolver.policies_for(
                    alice, f"arn:aws:s3:::prod-data/{i % 2}", action="s3:GetObject"
                ),
                range(32),
            )
        )
    assert {tuple(a.policy_name for a in each.identity) for each in applied} == {("ReadData", "ListData")}
    calls = [what for what, _ in resolver.source.calls]
    assert len(calls) == len(set(resolver.source.calls))  # nothing fetched twice
    assert sorted(set(calls)) == ["account", "buckets", "caller", "details", "organization", "resource"]


def test_live_asks_kms_whether_a_key_is_aws_managed(moto_org, aws):
    """kms:DescribeKey's KeyManager decides it live (a snapshot uses the alias/aws/ aliases);
    asked once per key, and a customer managed key stays open to policy edits."""
    resolver = live_resolver(cross_account_role_name="AccessUndeniedRole")
    assert resolver.aws_managed_resource(moto_org.key_arn) is False
    assert resolver.aws_managed_resource(moto_org.key_arn) is False
    assert [what for what, _ in resolver.source.calls].count("aws-managed-key") == 1
    assert resolver.aws_managed_resource("arn:aws:s3:::prod-data") is False
