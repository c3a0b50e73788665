"""How fast the engine decides: evaluations per second against a few dozen policies.

Run: ``python benchmarks/engine.py [--requests N]``. It builds a realistic policy
set (identity policies with wildcards, variables and conditions, a boundary,
three SCP levels, a bucket policy), then evaluates a rotating set of requests
against it and prints evaluations/second and microseconds per evaluation. Policy
parsing is timed separately: it happens once per distinct document.
"""

from __future__ import annotations

import argparse
import time

from analyzer.actions import rcp_supported_services
from analyzer.engine.evaluation import evaluate
from analyzer.engine.model import PolicySet, Request
from analyzer.engine.policy import parse_policy

ACCOUNT = "111122223333"


def _identity_documents(count: int) -> list[dict]:
    documents = []
    for i in range(count):
        documents.append(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": f"Read{i}",
                        "Effect": "Allow",
                        "Action": ["s3:Get*", "s3:List*"],
                        "Resource": [f"arn:aws:s3:::bucket-{i}", f"arn:aws:s3:::bucket-{i}/*"],
                    },
                    {
                        "Sid": f"Home{i}",
                        "Effect": "Allow",
                        "Action": "s3:*",
                        "Resource": f"arn:aws:s3:::home-{i}/${{aws:username}}/*",
                    },
                    {
                        "Sid": f"Tagged{i}",
                        "Effect": "Allow",
                        "Action": ["ec2:StartInstances", "ec2:StopInstances"],
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}},
                    },
                    {
                        "Sid": f"DenyInsecure{i}",
                        "Effect": "Deny",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ],
            }
        )
    return documents


def build_policies(identity_count: int = 20) -> PolicySet:
    full = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    regions = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyRegions",
                "Effect": "Deny",
                "NotAction": ["iam:*", "sts:*", "s3:*"],
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}},
            }
        ],
    }
    boundary = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:*", "ec2:*", "kms:Decrypt"], "Resource": "*"}],
    }
    bucket = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::bucket-3", "arn:aws:s3:::bucket-3/*"],
                "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"}},
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::bucket-3/*",
            },
        ],
    }
    return PolicySet(
        identity=tuple(parse_policy(d, require_resource=True) for d in _identity_documents(identity_count)),
        permissions_boundary=parse_policy(boundary, require_resource=True),
        scp=((parse_policy(full),), (parse_policy(full), parse_policy(regions)), (parse_policy(full),)),
        resource=parse_policy(bucket),
    )


def build_requests() -> list[Request]:
    context = {
        "aws:username": "alice",
        "aws:PrincipalTag/team": "blue",
        "aws:ResourceTag/team": "blue",
        "aws:SecureTransport": "true",
        "aws:RequestedRegion": "us-east-1",
        "aws:PrincipalOrgID": "o-abc123",
    }
    principal = f"arn:aws:iam::{ACCOUNT}:user/alice"
    return [
        Request.build(principal, "s3:GetObject", "arn:aws:s3:::bucket-3/report.csv", ACCOUNT, context),
        Request.build(principal, "s3:PutObject", "arn:aws:s3:::home-7/alice/notes.txt", ACCOUNT, context),
        Request.build(
            principal, "ec2:StartInstances", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0abc", None, context
        ),
        Request.build(
            principal, "dynamodb:GetItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Orders", None, context
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000)
    args = parser.parse_args()

    started = time.perf_counter()
    policies = build_policies()
    parse_seconds = time.perf_counter() - started
    policy_count = len(policies.identity) + 1 + sum(len(level) for level in policies.scp) + 1
    requests = build_requests()
    rcp_services = rcp_supported_services()
    for request in requests:  # warm caches (rendered variable patterns)
        evaluate(request, policies, rcp_services)

    started = time.perf_counter()
    for i in range(args.requests):
        evaluate(requests[i % len(requests)], policies, rcp_services)
    seconds = time.perf_counter() - started
    print(f"policies per request:      {policy_count}")
    print(f"parse + compile (once):    {parse_seconds * 1000:.1f} ms")
    print(f"evaluations:               {args.requests}")
    print(f"evaluations/second:        {args.requests / seconds:,.0f}")
    print(f"microseconds/evaluation:   {seconds / args.requests * 1e6:.1f}")


if __name__ == "__main__":
    main()
