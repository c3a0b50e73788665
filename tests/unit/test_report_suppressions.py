"""Suppression rules: matching, expiry, malformed files, and the Arrow and SQL filters."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from report_tables import APP, CI, DEV, TODAY, write_rules

from analyzer.errors import SuppressionError
from analyzer.suppressions import Rule, Suppressions, load_suppressions, parse_suppressions


@pytest.fixture
def rules(tmp_path: Path) -> Suppressions:
    return load_suppressions(write_rules(tmp_path / "expected.yaml"), TODAY)


@pytest.mark.parametrize(
    ("principal", "action", "resource", "account", "expected"),
    [
        (CI, "s3:ListBucket", "arn:aws:s3:::probe-x", "111111111111", 1),
        ("arn:aws:iam::333333333333:role/ci-build", "s3:ListAllMyBuckets", None, "333333333333", 1),
        # A `*` in the account segment of an ARN pattern never spans a colon.
        ("arn:aws:iam::1:2:role/ci-x", "s3:ListBucket", None, "1", None),
        (CI, "s3:GetObject", "arn:aws:s3:::probe-x", "111111111111", None),
        (APP, "sqs:sendmessage", "arn:aws:sqs:us-east-1:111111111111:q", "111111111111", 2),
        (APP, "sqs:SendMessage", "arn:aws:sqs:us-east-1:111111111111:q", "222222222222", None),
        # Rule 3 matches but expired: it is not applied.
        (DEV, "ec2:RunInstances", None, "222222222222", None),
    ],
)
def test_rule_for_matches_aws_style_wildcards(rules, principal, action, resource, account, expected):
    rule = rules.rule_for(principal, action, resource, account)
    assert (rule.index if rule else None) == expected


def test_a_resource_pattern_does_not_match_a_missing_resource():
    rule = Rule(index=1, reason="r", resource="arn:aws:s3:::*")
    assert not rule.matches(APP, "s3:ListAllMyBuckets", None, "111111111111")
    assert Rule(index=1, reason="r", action="s3:*").matches(APP, "s3:ListAllMyBuckets", None, None)


def test_expired_rules_are_warned_about_not_applied(rules, tmp_path):
    assert [rule.index for rule in rules.active] == [1, 2]
    assert [rule.index for rule in rules.expired] == [3]
    assert rules.warnings == (
        f"{tmp_path / 'expected.yaml'}: rule 3 expired on 2025-01-31 and is not applied "
        "(old exception for developers)",
    )
    # The expiry date is the last day a rule applies.
    late = load_suppressions(tmp_path / "expected.yaml", date(2100, 1, 1))
    assert [rule.index for rule in late.active] == [1]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("suppressions:\n  - principal: x\n", "rule 1: 'reason' is required"),
        (
            "suppressions:\n  - reason: r\n    action: s3:*\n  - reason: all\n",
            "rule 2: give at least one of principal, action, resource, account",
        ),
        (
            "suppressions:\n  - reason: r\n    account: 111111111111\n",
            "rule 1: 'account' must be a non-empty string (quote account ids)",
        ),
        (
            "suppressions:\n  - reason: r\n    action: s3:*\n    expires: soon\n",
            "rule 1: 'expires' must be a date (YYYY-MM-DD), got 'soon'",
        ),
        ("suppressions:\n  - reason: r\n    actoin: s3:*\n", "rule 1: unknown field(s) actoin"),
        ("suppressions:\n  - just a string\n", "rule 1: must be a mapping"),
        ("rules: []\n", "expected a mapping with a single key 'suppressions'"),
        ("suppressions: {a: 1}\n", "'suppressions' must be a list of rules"),
        ("suppressions: [\n", "not valid YAML"),
    ],
)
def test_malformed_files_name_the_file_and_rule(tmp_path, text, problem):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SuppressionError) as caught:
        load_suppressions(path, TODAY)
    assert str(caught.value).startswith(f"{path}: ")
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_empty_file_suppresses_nothing():
    assert parse_suppressions(None, "empty.yaml", TODAY) == Suppressions(source="empty.yaml")


def _groups() -> pa.Table:
    return pa.table(
        {
            "principal_arn": [CI, APP, DEV],
            "action": ["s3:ListBucket", "s3:GetObject", "ec2:RunInstances"],
            "resource_arn": ["arn:aws:s3:::probe-x", "arn:aws:s3:::data/a", None],
            "account_id": ["111111111111", "111111111111", "222222222222"],
        }
    )


def test_filter_arrow_drops_suppressed_rows(rules):
    kept = rules.filter_arrow(_groups())
    assert kept.column("principal_arn").to_pylist() == [APP, DEV]
    assert Suppressions().filter_arrow(_groups()).num_rows == 3


def test_register_gives_a_sql_expression_naming_the_rule(rules):
    con = duckdb.connect()
    expression = rules.register(con)
    groups = _groups()  # noqa: F841 - read by DuckDB's replacement scan
    assert con.execute(f"SELECT {expression} FROM groups").fetchall() == [(1,), (None,), (None,)]
    assert Suppressions().register(con) == "CAST(NULL AS INTEGER)"
