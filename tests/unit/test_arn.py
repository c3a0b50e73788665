"""One ARN type: fields as AWS defines them, round trips, and what is not an ARN."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzer.arn import Arn, is_account_id, partition_of


@pytest.mark.parametrize(
    ("text", "fields", "resource_type", "resource_id", "account_id"),
    [
        (
            "arn:aws:iam::111122223333:role/service/orders-api",
            ("aws", "iam", "", "111122223333", "role/service/orders-api"),
            "role",
            "service/orders-api",
            "111122223333",
        ),
        (
            "arn:aws:lambda:us-east-1:111122223333:function:pay:live",
            ("aws", "lambda", "us-east-1", "111122223333", "function:pay:live"),
            "function",
            "pay:live",
            "111122223333",
        ),
        (
            "arn:aws:s3:::my-bucket/a/b:c.txt",
            ("aws", "s3", "", "", "my-bucket/a/b:c.txt"),
            "",
            "my-bucket/a/b:c.txt",
            None,
        ),
        (
            "arn:aws-cn:sqs:cn-north-1:111122223333:orders",
            ("aws-cn", "sqs", "cn-north-1", "111122223333", "orders"),
            "",
            "orders",
            "111122223333",
        ),
        (
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            ("aws", "iam", "", "aws", "policy/service-role/AWSLambdaBasicExecutionRole"),
            "policy",
            "service-role/AWSLambdaBasicExecutionRole",
            None,
        ),
        (
            "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/0f1e",
            ("aws-us-gov", "kms", "us-gov-west-1", "111122223333", "key/0f1e"),
            "key",
            "0f1e",
            "111122223333",
        ),
    ],
)
def test_fields_as_aws_defines_them(text, fields, resource_type, resource_id, account_id):
    arn = Arn.parse(text)
    assert arn is not None
    assert (arn.partition, arn.service, arn.region, arn.account, arn.resource) == fields
    assert (arn.resource_type, arn.resource_id, arn.account_id) == (resource_type, resource_id, account_id)
    assert str(arn) == text


@pytest.mark.parametrize(
    "text", ["*", "orders-api", "s3.amazonaws.com", "arn:aws:s3", "arn:other:s3:::b", "111122223333", ""]
)
def test_what_is_not_an_arn(text):
    assert Arn.parse(text) is None


def test_aws_owned_and_bucket():
    assert Arn.parse("arn:aws:iam::aws:policy/ReadOnlyAccess").is_aws_owned
    assert not Arn.parse("arn:aws:iam::111122223333:policy/Mine").is_aws_owned
    assert Arn.parse("arn:aws:s3:::logs/2026/x.gz").bucket == "logs"
    assert Arn.parse("arn:aws:sqs:us-east-1:111122223333:q").bucket is None


_segment = st.text(alphabet=st.characters(blacklist_characters=":\n", codec="utf-8"), max_size=8)


@given(
    partition=st.sampled_from(["aws", "aws-cn", "aws-us-gov"]),
    service=_segment,
    region=_segment,
    account=_segment,
    resource=st.text(max_size=20),
)
def test_parse_and_str_round_trip(partition, service, region, account, resource):
    arn = Arn(partition, service, region, account, resource)
    assert Arn.parse(str(arn)) == arn


@pytest.mark.parametrize(
    ("arn", "region", "partition"),
    [
        ("arn:aws-cn:iam::111122223333:user/u", "us-east-1", "aws-cn"),  # the ARN wins
        ("arn:aws-us-gov:sts::111122223333:assumed-role/r/s", None, "aws-us-gov"),
        (None, "cn-northwest-1", "aws-cn"),
        (None, "us-gov-west-1", "aws-us-gov"),
        (None, "eu-west-1", "aws"),
        (None, None, "aws"),
        ("arn:", "cn-north-1", "aws-cn"),  # not an ARN: the region decides
        ("arn:x:iam::111122223333:root", None, "aws"),
        ("", "us-gov-east-1", "aws-us-gov"),
        (None, "us-iso-east-1", "aws-iso"),
        (None, "us-isob-east-1", "aws-iso-b"),
        (None, "eu-isoe-west-1", "aws-iso-e"),
        (None, "us-isof-south-1", "aws-iso-f"),
        (None, "eusc-de-east-1", "aws-eusc"),
        (None, "apiso-northsouth-3r", "aws"),  # no such region (an anonymised log): the default
    ],
)
def test_partition_from_the_arn_else_the_region(arn, region, partition):
    assert partition_of(arn, region) == partition


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("111122223333", True),
        ("11112222333", False),
        ("1111222233334", False),
        ("111122223333\n", False),  # a regex "$" would let the newline through
        ("١١١١٢٢٢٢٣٣٣٣", False),  # digits, to str.isdigit and a regex "\d", but not an account id
        ("aws", False),
        ("", False),
    ],
)
def test_an_account_id_is_twelve_ascii_digits(text, expected):
    assert is_account_id(text) is expected


def test_an_account_field_with_a_newline_names_no_account():
    arn = Arn.parse("arn:aws:iam::111122223333\n:root")
    assert arn is not None and arn.account_id is None
