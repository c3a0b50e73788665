"""Live mode: the resolver fetches only what a request needs, and agrees with a snapshot."""

import boto3
import pytest

from analyzer.collectors.live import live_resolver
from analyzer.collectors.snapshot import CollectOptions, collect_snapshot
from analyzer.engine.principals import parse_principal
from analyzer.errors import MissingAccountError
from analyzer.snapshot import snapshot_from_dict


def _fingerprint(applied):
    return [(a.policy_type, a.target, a.policy.content_hash) for a in applied.attachments()]


def test_live_fetches_lazily_and_matches_the_snapshot(moto_org, aws):
    resolver = live_resolver(cross_account_role_name="AccessUndeniedRole")
    alice = parse_principal(f"arn:aws:iam::{moto_org.prod}:user/staff/alice")
    applied = resolver.policies_for(alice, "arn:aws:s3:::prod-data/report.csv",
                                    action="s3:GetObject")
    source = resolver.source
    # one account's IAM, one bucket policy, the organization: nothing else was read
    assert sorted(what for what, _ in source.calls) == [
        "account", "caller", "details", "organization", "resource"]
    assert [a.policy_name for a in applied.identity] == ["ReadData", "ListData"]
    assert applied.resource.target == "arn:aws:s3:::prod-data"
    assert [a.policy_name for a in applied.rcp[-1]] == ["RCPFullAWSAccess", "EnforceTls"]
    again = resolver.policies_for(alice, "arn:aws:s3:::prod-data/other.csv",
                                  action="s3:GetObject")
    assert again.identity == applied.identity  # cached for the run, not refetched
    assert len(source.calls) == 5

    snapshot = snapshot_from_dict(collect_snapshot(
        boto3.Session(), CollectOptions(accounts=["all"], regions=["us-east-1"], progress=False)))
    for principal, resource, action in [
        (alice, "arn:aws:s3:::prod-data/report.csv", "s3:GetObject"),
        (parse_principal(f"arn:aws:sts::{moto_org.prod}:assumed-role/App/i-1"),
         moto_org.key_arn, "kms:Decrypt"),
        (parse_principal(f"arn:aws:sts::{moto_org.prod}:assumed-role/App/i-1"),
         f"arn:aws:kms:us-east-1:{moto_org.prod}:alias/data", "kms:Decrypt"),
        (alice, moto_org.queue_arn, "sqs:SendMessage"),
    ]:
        live = resolver.policies_for(principal, resource, action=action)
        offline = snapshot.policies_for(principal, resource, action=action)
        assert _fingerprint(live) == _fingerprint(offline), resource
        assert live.resource is not None


def test_live_unknown_account_is_a_clear_error(moto_org, aws, monkeypatch):
    resolver = live_resolver(cross_account_role_name="NoSuchRole",
                             session=boto3.Session())
    # moto lets any role be assumed; make the assumption fail as AWS would
    from analyzer.collectors import live

    def refuse(*args, **kwargs):
        from botocore.exceptions import ClientError
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}},
                          "AssumeRole")

    monkeypatch.setattr(live, "assume", refuse)
    with pytest.raises(MissingAccountError, match=r"sts:AssumeRole .*AccessDenied"):
        resolver.policies_for(parse_principal(f"arn:aws:iam::{moto_org.sandbox}:role/Reader"),
                              "*", action="s3:ListAllMyBuckets")
