"""Many denials' fixes as one policy: the same grants, fewer statements."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from analyzer.explain.combine import combined
from analyzer.pipeline.work import backlog_rows

ACTIONS = ["s3:GetObject", "s3:PutObject", "kms:Decrypt", "sqs:SendMessage"]
RESOURCES = ["*", "arn:aws:s3:::b/r/1", "arn:aws:s3:::b/r/2", "arn:aws:kms:us-east-1:111122223333:key/k"]
CONDITIONS = [None, {"StringEquals": {"aws:SourceVpce": "vpce-1"}}]
PRINCIPALS = [None, {"AWS": "arn:aws:iam::111122223333:role/App"}]


def _names(value):
    return [value] if isinstance(value, str) else value


def _grants(statements) -> set[tuple[str, str, str]]:
    """(everything but Action and Resource, action, resource) for every grant."""
    granted = set()
    for statement in statements:
        rest = json.dumps(
            {key: value for key, value in statement.items() if key not in ("Action", "Resource")},
            sort_keys=True,
        )
        for action in _names(statement["Action"]):
            for resource in _names(statement.get("Resource", "(none)")):
                granted.add((rest, action, resource))
    return granted


@st.composite
def statements(draw):
    statement = {"Effect": "Allow"}
    if (principal := draw(st.sampled_from(PRINCIPALS))) is not None:
        statement["Principal"] = principal
    statement["Action"] = draw(
        st.one_of(st.sampled_from(ACTIONS), st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=3))
    )
    if draw(st.booleans()) or principal is None:  # only a trust policy's statements lack it
        statement["Resource"] = draw(st.sampled_from(RESOURCES))
    if (condition := draw(st.sampled_from(CONDITIONS))) is not None:
        statement["Condition"] = condition
    return statement


@given(st.lists(statements(), max_size=30))
def test_the_combined_statements_grant_exactly_what_the_fixes_granted(fixes):
    merged = combined(fixes)

    assert _grants(merged) == _grants(fixes)
    if all(isinstance(fix["Action"], str) for fix in fixes):  # as each denial's fix is
        assert len(merged) <= len(fixes)
    # No two statements could be one: alike but for Action, on the same resources.
    shapes = [
        json.dumps({key: value for key, value in statement.items() if key != "Action"}, sort_keys=True)
        for statement in merged
    ]
    assert len(shapes) == len(set(shapes))
    assert combined(list(reversed(fixes))) == merged  # the order of the denials does not matter


def test_a_nights_fixes_for_one_role_become_one_statement_per_set_of_resources():
    fixes = [
        {"Effect": "Allow", "Action": action, "Resource": "*"}
        for action in ("ec2:DescribeTags", "sqs:ListQueues", "ec2:DescribeTags", "iam:GetAccountSummary")
    ] + [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/r/1"},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/r/1"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/r/2"},
    ]

    assert combined(fixes) == [
        {
            "Effect": "Allow",
            "Action": ["ec2:DescribeTags", "iam:GetAccountSummary", "sqs:ListQueues"],
            "Resource": "*",
        },
        # GetObject on both objects, PutObject on one: no action gains a resource.
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": ["arn:aws:s3:::b/r/1", "arn:aws:s3:::b/r/2"],
        },
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/r/1"},
    ]
    assert combined(fixes, generalize=True)[1]["Resource"] == "arn:aws:s3:::b/r/*"


def test_trust_policy_statements_stay_without_a_resource_and_other_shapes_stay_as_they_are():
    role = {"AWS": "arn:aws:iam::111122223333:role/Ci"}
    odd = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    fixes = [
        {"Effect": "Allow", "Principal": role, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": role, "Action": "sts:TagSession"},
        odd,
        odd,
    ]

    assert combined(fixes) == [
        {"Effect": "Allow", "Principal": role, "Action": ["sts:AssumeRole", "sts:TagSession"]},
        odd,
    ]


def test_the_backlog_lists_every_missing_action_and_combines_its_policy():
    def reason(action: str, resource: str) -> dict:
        fix = {"Effect": "Allow", "Action": action, "Resource": resource}
        return {
            "principal_arn": "arn:aws:iam::111122223333:role/App",
            "account_id": "111122223333",
            "event_count": 1,
            "reason_code": "NO_ALLOW_IDENTITY",
            "fix_policy": json.dumps(
                [
                    {
                        "AttachmentTargetArn": "arn:aws:iam::111122223333:role/App",
                        "PolicyType": "identity",
                        "Policy": {"Version": "2012-10-17", "Statement": [fix]},
                    }
                ]
            ),
        }

    rows = [reason("sqs:ListQueues", "*"), reason("ec2:DescribeTags", "*"), reason("kms:Decrypt", "*")]
    [row] = backlog_rows(rows)

    assert row["missing_actions"] == ["ec2:DescribeTags", "kms:Decrypt", "sqs:ListQueues"]
    assert json.loads(row["suggested_policy"])["Statement"] == [
        {"Effect": "Allow", "Action": ["ec2:DescribeTags", "kms:Decrypt", "sqs:ListQueues"], "Resource": "*"}
    ]
