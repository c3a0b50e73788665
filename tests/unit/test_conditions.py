"""Condition operators, one behaviour per test row (AWS's condition operator reference)."""

import pytest

from analyzer.engine.conditions import parse_conditions
from analyzer.engine.context import normalize_context
from analyzer.errors import PolicyParseError, UnsupportedOperator


def holds(block, context, variables=True):
    conditions = parse_conditions(block, variables_enabled=variables)
    ctx = normalize_context(context)
    return all(c.evaluate(ctx) for c in conditions)


@pytest.mark.parametrize(
    ("block", "context", "expected"),
    [
        ({"StringEquals": {"k": ["a", "b"]}}, {"k": "b"}, True),  # values are OR-ed
        ({"StringEquals": {"k": "a", "j": "b"}}, {"k": "a", "j": "c"}, False),  # keys AND-ed
        ({"StringEquals": {"k": "a"}}, {}, False),
        ({"StringNotEquals": {"k": "a"}}, {}, True),  # negated operators hold for absent keys
        ({"StringNotLike": {"k": "a*"}}, {}, True),
        ({"StringEqualsIfExists": {"k": "a"}}, {}, True),
        ({"StringEqualsIfExists": {"k": "a"}}, {"k": "b"}, False),
        ({"StringEqualsIgnoreCase": {"k": "ABC"}}, {"k": "abc"}, True),
        ({"StringNotEqualsIgnoreCase": {"k": "ABC"}}, {"k": "abc"}, False),
        ({"StringLike": {"k": "a?c*"}}, {"k": "abcdef"}, True),
        ({"StringLike": {"k": "a.c"}}, {"k": "abc"}, False),  # regex metacharacters are literal
        ({"StringLike": {"k": "A*"}}, {"k": "abc"}, False),  # case-sensitive
        ({"NumericLessThan": {"k": "10"}}, {"k": "9.5"}, True),
        ({"NumericGreaterThanEquals": {"k": 10}}, {"k": "10"}, True),
        ({"NumericEquals": {"k": "10"}}, {"k": "ten"}, False),  # unparsable never matches
        ({"NumericNotEquals": {"k": "10"}}, {"k": "11"}, True),
        ({"DateGreaterThan": {"k": "2024-01-01T00:00:00Z"}}, {"k": "2024-01-02T00:00:00Z"}, True),
        ({"DateLessThan": {"k": "2024-01-01T00:00:00Z"}}, {"k": "1700000000"}, True),  # epoch
        ({"DateEquals": {"k": "2024-01-01T00:00:00Z"}}, {"k": "2024-01-01T00:00:00+00:00"}, True),
        ({"Bool": {"k": True}}, {"k": "true"}, True),
        ({"Bool": {"k": "false"}}, {"k": "TRUE"}, False),
        ({"BinaryEquals": {"k": "QmluYXJ5"}}, {"k": "QmluYXJ5"}, True),
        ({"BinaryEquals": {"k": "QmluYXJ5"}}, {"k": "QmluYXJ6"}, False),
        ({"IpAddress": {"k": "203.0.113.0/24"}}, {"k": "203.0.113.9"}, True),
        ({"IpAddress": {"k": "203.0.113.7"}}, {"k": "203.0.113.7"}, True),  # no mask: /32
        ({"IpAddress": {"k": "2001:db8::/32"}}, {"k": "2001:db8:1::5"}, True),
        ({"IpAddress": {"k": "2001:db8::/32"}}, {"k": "203.0.113.9"}, False),
        ({"NotIpAddress": {"k": "10.0.0.0/8"}}, {"k": "11.0.0.1"}, True),
        (
            {"ArnLike": {"k": "arn:aws:sns:*:111122223333:topic-*"}},
            {"k": "arn:aws:sns:us-east-1:111122223333:topic-a"},
            True,
        ),
        # ARN wildcards do not cross the colons of the first five segments.
        (
            {"ArnLike": {"k": "arn:aws:sns:*:topic-a"}},
            {"k": "arn:aws:sns:us-east-1:111122223333:topic-a"},
            False,
        ),
        (
            {"ArnNotEquals": {"k": "arn:aws:iam::111122223333:role/A"}},
            {"k": "arn:aws:iam::111122223333:role/B"},
            True,
        ),
        ({"Null": {"k": "true"}}, {}, True),
        ({"Null": {"k": "false"}}, {"k": "x"}, True),
        ({"Null": {"k": "true"}}, {"k": "x"}, False),
        # set operators
        ({"ForAllValues:StringEquals": {"k": ["a", "b"]}}, {}, True),
        ({"ForAllValues:StringEquals": {"k": ["a", "b"]}}, {"k": []}, True),
        ({"ForAllValues:StringEquals": {"k": ["a", "b"]}}, {"k": ["a", "c"]}, False),
        ({"ForAnyValue:StringEquals": {"k": ["a", "b"]}}, {}, False),
        ({"ForAnyValue:StringEquals": {"k": ["a", "b"]}}, {"k": ["c", "b"]}, True),
        ({"ForAllValues:StringNotEquals": {"k": ["a"]}}, {"k": ["b", "c"]}, True),
        ({"ForAnyValue:StringNotEquals": {"k": ["a"]}}, {"k": ["a", "c"]}, True),
        ({"ForAnyValue:StringEqualsIfExists": {"k": ["a"]}}, {}, True),
        # a negated operator on a multi-valued key is true only when no value matches
        ({"StringNotEquals": {"k": "a"}}, {"k": ["a", "b"]}, False),
        ({"StringEquals": {"k": "a"}}, {"k": ["a", "b"]}, True),
        # keys are case-insensitive, values are not
        ({"StringEquals": {"AWS:PrincipalTag/Team": "blue"}}, {"aws:principaltag/team": "blue"}, True),
        # variables
        ({"StringEquals": {"k": "${aws:username}"}}, {"k": "alice", "aws:username": "alice"}, True),
        ({"StringEquals": {"k": "${aws:username}"}}, {"k": "alice"}, False),
        ({"StringEquals": {"k": "${aws:PrincipalTag/team, 'none'}"}}, {"k": "none"}, True),
        ({"StringLike": {"k": "${aws:username}/*"}}, {"k": "a*/x", "aws:username": "a*"}, True),
        # a substituted value is literal: its * is not a wildcard
        ({"StringLike": {"k": "${aws:username}/*"}}, {"k": "ab/x", "aws:username": "a*"}, False),
        ({"StringEquals": {"k": "${*}"}}, {"k": "*"}, True),
        ({"StringEquals": {"k": "a${$}b"}}, {"k": "a$b"}, True),
    ],
)
def test_operator(block, context, expected):
    assert holds(block, context) is expected


def test_variables_stay_literal_without_version_2012():
    assert holds({"StringEquals": {"k": "${aws:username}"}}, {"k": "${aws:username}"}, variables=False)


@pytest.mark.parametrize(
    ("block", "error", "message"),
    [
        ({"StringEqualz": {"k": "a"}}, UnsupportedOperator, "StringEqualz"),
        ({"ForSomeValues:StringEquals": {"k": "a"}}, UnsupportedOperator, "ForSomeValues"),
        ({"StringEquals": "a"}, PolicyParseError, "StringEquals"),
        ({"StringEquals": {"k": {"nested": 1}}}, PolicyParseError, "StringEquals/k"),
        (["StringEquals"], PolicyParseError, "Condition must be an object"),
    ],
)
def test_malformed_conditions_are_named(block, error, message):
    with pytest.raises(error, match=message):
        parse_conditions(block, variables_enabled=True)
