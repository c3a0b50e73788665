"""Malformed policies and cases get a clear message naming the case; the rest still run."""

import pytest

from analyzer.cases import simulate
from analyzer.engine.policy import parse_policy
from analyzer.errors import PolicyParseError

GOOD = {
    "name": "good",
    "request": {
        "principal": "arn:aws:iam::111122223333:user/a",
        "action": "s3:GetObject",
        "resource": "arn:aws:s3:::b/k",
        "context": {},
    },
    "policies": {
        "identity": [
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ]
    },
    "expected": {"decision": "Allowed", "deniedBy": []},
}


def with_identity(name, identity):
    case = {**GOOD, "name": name}
    case["policies"] = {"identity": [identity]}
    return case


@pytest.mark.parametrize(
    ("identity", "message"),
    [
        ('{"Version": "2012-10-17", "Statement": [', "not valid JSON"),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:*",
                        "Resource": "*",
                        "Condition": {"StringEqualz": {"k": "v"}},
                    }
                ]
            },
            "unknown condition operator 'StringEqualz'",
        ),
        (
            {"Statement": [{"Effect": "Permit", "Action": "s3:*", "Resource": "*"}]},
            'Effect must be "Allow" or "Deny"',
        ),
        (
            {"Statement": [{"Effect": "Allow", "Action": "s3:*", "NotAction": "s3:Get*", "Resource": "*"}]},
            "Action and NotAction cannot be used together",
        ),
        ({"Statement": [{"Effect": "Allow", "Resource": "*"}]}, "needs Action or NotAction"),
        ({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}, "needs Resource or NotResource"),
        (
            {"Statement": [{"Effect": "Allow", "Action": "GetObject", "Resource": "*"}]},
            "not of the form service:action",
        ),
        (
            {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Extra": 1}]},
            "unknown element",
        ),
        ({"Version": "2020-01-01", "Statement": []}, "unknown policy Version"),
        ({"Version": "2012-10-17"}, "no Statement"),
    ],
)
def test_malformed_policy_is_reported_and_other_cases_run(identity, message):
    outcomes = list(simulate([with_identity("broken", identity), GOOD]))
    assert outcomes[0].error is not None
    assert "case 'broken'" in outcomes[0].error
    assert "policies.identity[0]" in outcomes[0].error
    assert message in outcomes[0].error
    assert outcomes[1].error is None and outcomes[1].mismatch is None


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ({**GOOD, "request": {**GOOD["request"], "action": "GetObject"}}, "request.action"),
        ({**GOOD, "policies": {"scp": [{"Statement": []}]}}, "policies.scp[0] must be a list"),
        ({**GOOD, "expected": {"decision": "Maybe"}}, "expected is malformed"),
        ("not a case", "a case must be an object"),
    ],
)
def test_malformed_case_is_reported(case, message):
    [outcome] = simulate([case])
    assert outcome.error is not None and message in outcome.error
    assert outcome.to_json()["error"] == outcome.error


def test_url_encoded_documents_are_accepted():
    policy = parse_policy(
        "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow"
        "%22%2C%22Action%22%3A%22s3%3A%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D"
    )
    assert policy.statements[0].matches_action("s3:getobject")


def test_unknown_action_is_reported_not_silently_allowed():
    case = {**GOOD, "request": {**GOOD["request"], "action": "s3:GetObjekt"}}
    case["policies"] = {
        "identity": [
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ]
    }
    [outcome] = simulate([case])
    assert "unknown action 's3:GetObjekt'" in outcome.to_json()["warnings"][0]


def test_identical_documents_are_compiled_once():
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    first = parse_policy(document, name="a")
    second = parse_policy(dict(document), name="b")
    assert first.statements is second.statements
    assert first.content_hash == second.content_hash
    assert (first.name, second.name) == ("a", "b")


def test_policy_parse_error_is_an_analyzer_error():
    with pytest.raises(PolicyParseError, match="where-it-came-from"):
        parse_policy("[]", where="where-it-came-from")
