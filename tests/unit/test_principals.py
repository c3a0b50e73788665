"""How callers are parsed and how Principal / NotPrincipal elements name them."""

import pytest

from analyzer.engine.principals import Grant, PrincipalKind, PrincipalSpec, parse_principal

USER = "arn:aws:iam::111122223333:user/team/alice"
SESSION = "arn:aws:sts::111122223333:assumed-role/App/build-42"


def spec(aws):
    return PrincipalSpec.parse({"AWS": aws}, "Principal")


@pytest.mark.parametrize(
    ("arn", "kind", "account"),
    [
        (USER, PrincipalKind.USER, "111122223333"),
        (SESSION, PrincipalKind.ASSUMED_ROLE, "111122223333"),
        ("arn:aws:iam::111122223333:role/path/App", PrincipalKind.ROLE, "111122223333"),
        ("arn:aws:iam::111122223333:root", PrincipalKind.ROOT, "111122223333"),
        ("arn:aws:sts::111122223333:federated-user/bob", PrincipalKind.FEDERATED_USER, "111122223333"),
        ("arn:aws-us-gov:iam::111122223333:user/gov", PrincipalKind.USER, "111122223333"),
        ("lambda.amazonaws.com", PrincipalKind.SERVICE, None),
        (None, PrincipalKind.ANONYMOUS, None),
    ],
)
def test_parse(arn, kind, account):
    principal = parse_principal(arn)
    assert (principal.kind, principal.account) == (kind, account)


@pytest.mark.parametrize(
    ("caller", "named", "grant"),
    [
        (USER, USER, Grant.DIRECT),
        (USER, "111122223333", Grant.ACCOUNT),
        (USER, "arn:aws:iam::111122223333:root", Grant.ACCOUNT),
        (USER, "arn:aws:iam::444455556666:root", None),
        (SESSION, SESSION, Grant.DIRECT),
        # a role ARN names its sessions whatever the role's path
        (SESSION, "arn:aws:iam::111122223333:role/service/App", Grant.ROLE),
        (SESSION, "arn:aws:iam::111122223333:role/Other", None),
        (SESSION, "*", Grant.DIRECT),
        (USER, [USER, "111122223333"], Grant.DIRECT),  # the strongest naming wins
    ],
)
def test_grant(caller, named, grant):
    assert parse_principal(caller).grant(spec(named)) == grant


def test_service_principals_match_case_insensitively():
    caller = parse_principal("SNS.amazonaws.com")
    assert caller.grant(PrincipalSpec.parse({"Service": "sns.amazonaws.com"}, "P")) == Grant.DIRECT


def test_anonymous_is_named_only_by_everyone():
    anonymous = parse_principal(None)
    assert anonymous.grant(spec("*")) == Grant.DIRECT
    assert anonymous.grant(spec("111122223333")) is None


@pytest.mark.parametrize(
    ("caller", "listed", "spared"),
    [
        (USER, [USER, "arn:aws:iam::111122223333:root"], True),
        (USER, [USER], False),  # the account must be listed too
        (USER, ["arn:aws:iam::111122223333:root"], False),
        (SESSION, [SESSION, "111122223333"], True),
        (SESSION, ["arn:aws:iam::111122223333:role/App", "111122223333"], True),
        ("arn:aws:iam::111122223333:root", ["111122223333"], True),
    ],
)
def test_not_principal(caller, listed, spared):
    assert parse_principal(caller).spared_by(spec(listed)) is spared


def test_service_linked_roles_are_recognised():
    assert parse_principal(
        "arn:aws:iam::111122223333:role/aws-service-role/elasticloadbalancing.amazonaws.com/"
        "AWSServiceRoleForElasticLoadBalancing"
    ).is_service_linked_role
    assert parse_principal(
        "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForECS/ecs"
    ).is_service_linked_role
    assert not parse_principal(SESSION).is_service_linked_role
