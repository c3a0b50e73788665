"""Explanations: AssessmentResult choice, re-verified fixes, deny edits, missing keys."""

import json
from pathlib import Path

import pytest

from analyzer.actions import rcp_supported_services
from analyzer.cases import parse_case
from analyzer.engine.model import Decision, PolicySet, PolicyType, Request
from analyzer.engine.policy import parse_policy
from analyzer.explain.explanation import explain
from analyzer.explain.registry import registry

ROOT = Path(__file__).resolve().parents[2]
CASE_FILES = sorted(
    [*(ROOT / "tests/data/conformance").glob("*.json"), *(ROOT / "tests/cases").glob("*.json")]
)
ORIGINAL_RESULTS = {
    "Allowed",
    "Invalid action",
    "Error",
    "Missing allows in an identity-based and a resource-based policy in cross-account access",
    "Explicit deny in an identity-based policy",
    "Missing allow in an identity-based policy",
    "Explicit deny in a permissions boundary policy",
    "Missing allow in a permissions boundary policy",
    "Explicit deny in a resource-based policy",
    "Missing allow in a resource-based policy in cross-account access",
    "Explicit deny in a service-control policy",
    "Missing allow in a service-control policy",
    "Explicit deny in a resource control policy",
    "Explicit deny in a session policy",
    "Missing allow in a session policy",
    "Explicit deny in a VPC endpoint policy",
    "Missing allow in a VPC endpoint policy",
    "Missing allow in a resource-based policy",
    "Denied by an AWS service rule",
}


def _cases():
    for path in CASE_FILES:
        for index, raw in enumerate(json.loads(path.read_text())):
            yield pytest.param(parse_case(raw, index), id=f"{path.name}::{raw['name']}")


def test_every_assessment_result_is_a_contract_string():
    assert {info.assessment_result for info in registry().values()} <= ORIGINAL_RESULTS


def test_readme_lists_every_reason_code_with_its_assessment_result():
    """The README's table is what users read; it must not drift from reasons.json."""
    rows = {}
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("| AssessmentResult | ReasonCode |") + 2  # after the header and its rule
    for line in lines[start:]:
        if not line.startswith("|"):
            break  # the table ends at its first line that is not a row
        result, codes = (cell.strip() for cell in line.strip().strip("|").split("|"))
        for code in codes.split("`")[1::2]:
            if code.replace("_", "").isalpha() and code.isupper():  # codes, not other spans
                rows[code] = result
    assert {code: info.assessment_result for code, info in registry().items()} == rows


@pytest.mark.parametrize("case", list(_cases()))
def test_fixes_are_verified_by_the_engine(case):
    """Property over every case: a proposed fix, re-evaluated, allows the request, and a
    suggested deny edit removes the deny it targets."""
    explanation = explain(case.request, case.policies, rcp_supported_services())
    decision = explanation.evaluation.decision
    if PolicyType.SERVICE_RULE in explanation.evaluation.denied_by:
        # AWS's fixed rules: no policy edit can help, so none may be proposed
        assert explanation.code.startswith("AWS_RULE_")
        assert not explanation.fix.proposals and not explanation.fix.deny_edits
        return
    if decision == Decision.IMPLICITLY_DENIED and case.request.principal.is_service_linked_role:
        # only its service defines a service-linked role's policies: nothing to add to them
        assert not any(p.target_arn == case.request.principal.arn for p in explanation.fix.proposals)
    elif decision == Decision.IMPLICITLY_DENIED:
        # proposals are generated narrow: they must pass the least-privilege check too
        assert explanation.fix.proposals
        assert explanation.fix.verified is True, explanation.notes
    if decision == Decision.EXPLICITLY_DENIED and case.request.principal.in_account:
        assert explanation.fix.deny_edits
        for edit in explanation.fix.deny_edits:
            # the exemption always lifts the deny for the caller; it is verified only
            # when it lifts nothing else sampled, and the check says which it is
            assert "still denies the request" not in edit.check
            assert edit.verified == edit.check.startswith("verified"), edit.check
    if decision == Decision.ALLOWED:
        assert explanation.code == "ALLOWED" and not explanation.fix.proposals


@pytest.mark.parametrize("case", list(_cases()))
def test_without_fixes_the_decision_and_reasons_are_the_same(case):
    """The policy history's search explains earlier states without fixes: it must read
    the same decision and reasons there, and pay for no fix."""
    full = explain(case.request, case.policies, rcp_supported_services())
    bare = explain(case.request, case.policies, rcp_supported_services(), propose_fixes=False)
    assert (bare.evaluation, bare.code, bare.findings) == (full.evaluation, full.code, full.findings)
    assert not bare.fix.proposals and not bare.fix.deny_edits and bare.fix.verified is None


def _explain(
    principal,
    action,
    resource,
    *,
    identity=(),
    resource_policy=None,
    scp=None,
    resource_account=None,
    context=None,
):
    policies = PolicySet(
        identity=tuple(parse_policy(d) for d in identity),
        resource=None if resource_policy is None else parse_policy(resource_policy),
        scp=scp,
    )
    request = Request.build(principal, action, resource, resource_account, context or {})
    return explain(request, policies, rcp_supported_services())


CAROL = "arn:aws:iam::444455556666:user/carol"
OBJECT = "arn:aws:s3:::reports-bucket/q1.csv"


def test_cross_account_with_both_sides_missing():
    explanation = _explain(CAROL, "s3:GetObject", OBJECT, resource_account="111122223333")
    assert explanation.assessment_result == (
        "Missing allows in an identity-based and a resource-based policy in cross-account access"
    )
    targets = {(p.policy_type, p.target_arn) for p in explanation.fix.proposals}
    assert targets == {(PolicyType.IDENTITY, CAROL), (PolicyType.RESOURCE, "arn:aws:s3:::reports-bucket")}
    resource_statement = next(
        p.statement for p in explanation.fix.proposals if p.policy_type == PolicyType.RESOURCE
    )
    assert resource_statement["Principal"] == {"AWS": CAROL}
    assert explanation.fix.verified


def test_session_fix_attaches_to_the_role():
    explanation = _explain(
        "arn:aws:sts::111122223333:assumed-role/App/i-123",
        "sqs:SendMessage",
        "arn:aws:sqs:us-east-1:111122223333:jobs",
    )
    [proposal] = explanation.fix.proposals
    assert proposal.target_arn == "arn:aws:iam::111122223333:role/App"
    assert proposal.document == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": "arn:aws:sqs:us-east-1:111122223333:jobs",
            }
        ],
    }


@pytest.mark.parametrize(
    ("session", "expected"),
    [
        (
            "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_DataAnalyst_0123456789abcdef/ana",
            "inline policy of permission set DataAnalyst",
        ),
        ("arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForECS/ecs", "service-linked role"),
        ("arn:aws:sts::111122223333:assumed-role/App/i-123", None),
    ],
)
def test_a_role_only_aws_changes_is_told_where_the_statement_goes(session, expected):
    """AWS's fixed rules forbid adding a policy to an Identity Center role or a
    service-linked role: the notes say where its statement must go instead, and a
    service-linked role, which takes none, is proposed none (it was, and verified)."""
    explanation = _explain(session, "sqs:SendMessage", "arn:aws:sqs:us-east-1:111122223333:jobs")
    if expected == "service-linked role":
        assert explanation.fix.proposals == () and not explanation.fix.verified
        assert any(expected in note and "no statement can be added" in note for note in explanation.notes)
        return
    [proposal] = explanation.fix.proposals
    assert proposal.policy_type == PolicyType.IDENTITY
    if expected is None:
        assert proposal.note is None
        assert not any("permission set" in note or "service-linked" in note for note in explanation.notes)
    else:
        assert expected in proposal.note
        assert proposal.note in explanation.notes


def test_another_accounts_identity_center_role_is_granted_by_a_pattern_that_survives_its_re_creation():
    """Cross-account: the role's account as Principal and the role by aws:PrincipalArn with
    one ``?`` per suffix character (AWS's advice for permission sets), verified by
    re-evaluation with the aws:PrincipalArn AWS sets on every request of the role."""
    role = (
        "arn:aws:iam::444455556666:role/aws-reserved/sso.amazonaws.com/"
        + "AWSReservedSSO_Auditor_0123456789abcdef"
    )
    explanation = _explain(
        role, "s3:GetObject", OBJECT, identity=[_allow_all()], resource_account="111122223333"
    )
    [proposal] = explanation.fix.proposals
    assert proposal.policy_type == PolicyType.RESOURCE
    assert proposal.statement["Principal"] == {"AWS": "arn:aws:iam::444455556666:root"}
    assert proposal.statement["Condition"] == {"ArnLike": {"aws:PrincipalArn": role[:-16] + "?" * 16}}
    assert explanation.fix.verified, explanation.fix.check


def test_a_same_account_statement_names_the_role_and_warns_of_its_changing_arn():
    """In its own account a statement naming the account grants nothing by itself: the
    role is named, with AWS's warning and the pattern in a note."""
    role = (
        "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/"
        + "AWSReservedSSO_Auditor_0123456789abcdef"
    )
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    explanation = _explain(role, "kms:Decrypt", key, identity=[_allow_all()], resource_account="111122223333")
    [proposal] = explanation.fix.proposals
    assert proposal.policy_type == PolicyType.RESOURCE and proposal.statement["Principal"] == {"AWS": role}
    assert role[:-16] + "?" * 16 in proposal.note and proposal.note in explanation.notes
    assert explanation.fix.verified, explanation.fix.check


def _allow_all():
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def test_actions_without_resource_types_get_a_star():
    explanation = _explain(
        "arn:aws:iam::111122223333:user/alice", "s3:ListAllMyBuckets", "arn:aws:s3:::something"
    )
    assert explanation.fix.proposals[0].statement["Resource"] == "*"


def test_explicit_deny_edit_names_the_matching_condition():
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyOutsideRegions",
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}},
            }
        ],
    }
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    explanation = _explain(
        "arn:aws:iam::111122223333:user/alice",
        "ec2:RunInstances",
        "*",
        identity=[allow, deny],
        context={"aws:RequestedRegion": "us-east-1"},
    )
    assert explanation.assessment_result == "Explicit deny in an identity-based policy"
    [edit] = explanation.fix.deny_edits
    assert "aws:requestedregion" in edit.suggestion and edit.suggestion.startswith("Suggestion:")
    assert edit.statement["Condition"]["ArnNotLike"] == {
        "aws:PrincipalArn": "arn:aws:iam::111122223333:user/alice"
    }
    # Action "*": exempting alice lifts the deny on every other action too
    assert not edit.verified and "also lift the deny for action" in edit.check


def test_an_identity_center_role_is_exempted_whatever_its_suffix():
    """Identity Center re-creates a permission set's role with a new suffix: an exemption
    naming today's ARN would stop exempting it. One ``?`` per suffix character keeps it
    to this permission set, and re-evaluation still checks it."""
    role = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Ops_0123456789abcdef"
    session = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Ops_0123456789abcdef/ana"
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "NoStop", "Effect": "Deny", "Action": "ec2:StopInstances", "Resource": "*"}],
    }
    explanation = explain(
        Request.build(session, "ec2:StopInstances", "*", None, {"aws:PrincipalArn": role}),
        PolicySet(
            identity=(parse_policy(_allow_all()),), scp=((parse_policy(_allow_all()), parse_policy(deny)),)
        ),
        rcp_supported_services(),
        principal_arn=role,
    )
    [edit] = explanation.fix.deny_edits
    pattern = role[:-16] + "?" * 16
    assert edit.statement["Condition"]["ArnNotLike"] == {"aws:PrincipalArn": pattern}
    assert pattern in edit.suggestion and "whatever suffix Identity Center gives it" in edit.suggestion
    assert edit.verified, edit.check


def test_missing_condition_keys_are_listed():
    allow = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
            }
        ],
    }
    explanation = _explain("arn:aws:iam::111122223333:user/alice", "s3:GetObject", OBJECT, identity=[allow])
    assert explanation.missing_context_keys == ("Bool aws:multifactorauthpresent",)


def test_explicit_deny_outranks_missing_allow_in_evaluation_order():
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
    only_ec2 = parse_policy(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}
    )
    explanation = _explain(
        "arn:aws:iam::111122223333:user/alice", "s3:GetObject", OBJECT, identity=[deny], scp=((only_ec2,),)
    )
    assert explanation.code == "EXPLICIT_DENY_IDENTITY"
    assert [f.code for f in explanation.findings] == [
        "EXPLICIT_DENY_IDENTITY",
        "NO_ALLOW_SCP",
        "NO_ALLOW_IDENTITY",
    ]


KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ALICE = "arn:aws:iam::111122223333:user/alice"
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@pytest.mark.parametrize(
    ("principal", "action", "resource", "policy"),
    [
        (
            ALICE,
            "kms:Decrypt",
            KEY,
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::111122223333:user/bob"},
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                ],
            },
        ),
        (
            ALICE,
            "sts:AssumeRole",
            "arn:aws:iam::111122223333:role/Deploy",
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
        ),
    ],
)
def test_same_account_required_resource_policy_has_its_own_words(principal, action, resource, policy):
    """Issue 17 item 3: a key or trust policy that must grant even in-account is not
    cross-account access, and its AssessmentResult must not say so."""
    explanation = _explain(principal, action, resource, identity=[ALLOW_ALL], resource_policy=policy)
    assert explanation.code == "NO_ALLOW_RESOURCE_REQUIRED"
    assert explanation.assessment_result == "Missing allow in a resource-based policy"
    [proposal] = explanation.fix.proposals
    assert proposal.policy_type == PolicyType.RESOURCE and proposal.target_arn == resource


def test_cross_account_resource_policy_keeps_the_original_words():
    explanation = _explain(
        CAROL,
        "kms:Decrypt",
        KEY,
        identity=[ALLOW_ALL],
        resource_policy={"Version": "2012-10-17", "Statement": []},
    )
    assert explanation.assessment_result == (
        "Missing allow in a resource-based policy in cross-account access"
    )


ROLE = "arn:aws:iam::111122223333:role/App"
SESSION = "arn:aws:sts::111122223333:assumed-role/App/i-0abc"
BUCKET_OBJECT = "arn:aws:s3:::data-bucket/report.csv"


def test_exempting_the_only_principal_a_deny_targets_is_not_verified():
    """Issue 17 item 4: the bucket policy denies exactly this role (ArnLike on
    aws:PrincipalArn); an ArnNotLike with the same ARN disables the statement for
    everyone, so it must not be called verified, and the check says why."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyApp",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::data-bucket/*",
                "Condition": {"ArnLike": {"aws:PrincipalArn": ROLE}},
            }
        ],
    }
    explanation = _explain(
        SESSION,
        "s3:GetObject",
        BUCKET_OBJECT,
        identity=[ALLOW_ALL],
        resource_policy=policy,
        context={"aws:PrincipalArn": ROLE},
    )
    [edit] = explanation.fix.deny_edits
    assert edit.statement["Condition"] == {
        "ArnLike": {"aws:PrincipalArn": ROLE},
        "ArnNotLike": {"aws:PrincipalArn": ROLE},
    }
    assert edit.verified is False
    assert "disables it for everyone" in edit.check


def test_a_narrow_exemption_that_keeps_denying_others_is_verified():
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ProtectBucket",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:DeleteBucket",
                "Resource": "arn:aws:s3:::data-bucket",
            }
        ],
    }
    explanation = _explain(
        SESSION,
        "s3:DeleteBucket",
        "arn:aws:s3:::data-bucket",
        identity=[ALLOW_ALL],
        resource_policy=policy,
        context={"aws:PrincipalArn": ROLE},
    )
    [edit] = explanation.fix.deny_edits
    assert edit.verified is True, edit.check
    assert "principal arn:aws:iam::111122223333:user/au-probe" in edit.check


def test_region_deny_scp_leads_with_changing_the_request():
    """Issue 17 item 4: for a guardrail (here a region-deny SCP) the first fix is the
    allowed region, not an exemption of the caller's SSO role."""
    sso = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_PowerUser_0123456789abcdef/alice@example.com"
    deny_regions = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyOtherRegions",
                    "Effect": "Deny",
                    "NotAction": ["iam:*", "sts:*"],
                    "Resource": "*",
                    "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}},
                }
            ],
        }
    )
    full = parse_policy(ALLOW_ALL)
    explanation = _explain(
        sso,
        "ec2:RunInstances",
        "*",
        identity=[ALLOW_ALL],
        scp=((full, deny_regions),),
        context={"aws:RequestedRegion": "us-east-1"},
    )
    [edit] = explanation.fix.deny_edits
    assert edit.request_change == (
        "aws:RequestedRegion must be one of eu-west-1, eu-central-1 (it was us-east-1)"
    )
    assert edit.suggestion.startswith("Suggestion: change the request: aws:RequestedRegion")
    assert edit.suggestion.index("change the request") < edit.suggestion.index("ArnNotLike")
    assert edit.verified is False  # NotAction: exempting the role lifts it for everything


def test_required_tag_is_the_request_change():
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": "ec2:RunInstances",
                "Resource": "*",
                "Condition": {"Null": {"aws:RequestTag/CostCenter": "true"}},
            }
        ],
    }
    explanation = _explain(
        "arn:aws:iam::111122223333:user/alice", "ec2:RunInstances", "*", identity=[ALLOW_ALL, deny]
    )
    [edit] = explanation.fix.deny_edits
    assert edit.request_change == "send aws:RequestTag/CostCenter (it was absent)"


def test_a_proposal_broader_than_the_request_is_not_verified():
    """A statement with Resource "*" for an action that has resource types lets the
    caller reach other resources: not least privilege, and the check names one."""
    from analyzer.explain.remediation import Proposal, verify

    request = Request.build("arn:aws:iam::111122223333:user/alice", "s3:GetObject", BUCKET_OBJECT)
    broad = Proposal(
        PolicyType.IDENTITY,
        "arn:aws:iam::111122223333:user/alice",
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
    )
    narrow = Proposal(
        PolicyType.IDENTITY,
        "arn:aws:iam::111122223333:user/alice",
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": BUCKET_OBJECT},
    )
    result = verify(request, PolicySet(), (broad,), rcp_supported_services())
    assert not result.verified and "arn:aws:s3:::data-bucket/au-probe" in result.check
    assert verify(request, PolicySet(), (narrow,), rcp_supported_services()).verified


def test_a_request_on_every_resource_of_a_kind_is_not_broader_than_itself():
    """glue:GetDatabases acts on ``database/*`` (every database of the catalog): granting that
    pattern is the request itself, so a probe database it covers is no neighbour; a
    database of another region still is, and is named once however many proposals allow it."""
    from analyzer.explain.remediation import Proposal, verify

    every = "arn:aws:glue:us-east-1:111122223333:database/*"
    request = Request.build("arn:aws:iam::111122223333:role/etl", "glue:GetDatabases", every)
    exact = Proposal(
        PolicyType.IDENTITY,
        "arn:aws:iam::111122223333:role/etl",
        {"Effect": "Allow", "Action": "glue:GetDatabases", "Resource": every},
    )
    anywhere = Proposal(
        PolicyType.IDENTITY,
        "arn:aws:iam::111122223333:role/etl",
        {"Effect": "Allow", "Action": "glue:GetDatabases", "Resource": "arn:aws:glue:*:*:database/*"},
    )
    assert verify(request, PolicySet(), (exact,), rcp_supported_services()).verified
    broader = verify(request, PolicySet(), (anywhere, anywhere), rcp_supported_services())
    assert not broader.verified
    shown = broader.check.split("would also allow ", 1)[1]
    assert len(shown.split("; ")) == len(set(shown.split("; ")))  # each probe named once


@pytest.mark.parametrize(
    "dimensions",
    [
        frozenset({"action", "resource"}),
        frozenset({"principal"}),
        frozenset(),
    ],
)
def test_neighbours_of_some_dimensions_are_those_of_all_dimensions(dimensions):
    """Building only the probes a check looks at changes none of them: the same probes,
    in the same order, as building every probe and keeping those dimensions."""
    from analyzer.explain.probes import Dimension, neighbours

    statement = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Deny",
                "Action": "s3:Get*",
                "Resource": ["arn:aws:s3:::data-bucket/*", "arn:aws:s3:::other/*"],
                "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/Ops*"}},
            },
        }
    ).statements[0]
    request = Request.build(
        "arn:aws:sts::111122223333:assumed-role/App/s1",
        "s3:GetObject",
        BUCKET_OBJECT,
        context={"aws:PrincipalArn": "arn:aws:iam::111122223333:role/App", "aws:SourceIp": "10.1.2.3"},
    )
    wanted = frozenset(Dimension(d) for d in dimensions)
    every = neighbours(request, statement, ["arn:aws:iam::111122223333:role/App"])
    assert {probe.dimension for probe in every} == set(Dimension)
    some = neighbours(request, statement, ["arn:aws:iam::111122223333:role/App"], wanted)
    assert some == tuple(probe for probe in every if probe.dimension in wanted)


def test_kept_scans_tell_apart_a_not_principal_deny_with_and_without_a_boundary():
    """A NotPrincipal deny spares the principals it names, unless a permissions boundary
    applies: the same resource policy scanned for the same request says two things, so
    whether a boundary applies is part of what a kept scan is found by."""
    from analyzer.engine.evaluation import Scans, evaluate

    alice = "arn:aws:iam::111122223333:user/alice"
    request = Request.build(alice, "s3:GetObject", BUCKET_OBJECT, "111122223333")
    allow_all = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}
    bucket = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Deny",
                "NotPrincipal": {"AWS": [alice, "arn:aws:iam::111122223333:root"]},
                "Action": "s3:*",
                "Resource": "*",
            },
        }
    )
    free = PolicySet(identity=(parse_policy(allow_all),), resource=bucket)
    bounded = PolicySet(identity=free.identity, permissions_boundary=parse_policy(allow_all), resource=bucket)
    scans = Scans(request)
    assert evaluate(request, free, frozenset(), scans).decision == Decision.ALLOWED
    assert evaluate(request, bounded, frozenset(), scans).decision == Decision.EXPLICITLY_DENIED
    assert evaluate(request, free, frozenset(), scans).decision == Decision.ALLOWED
    with pytest.raises(ValueError, match="another request"):
        evaluate(Request.build(alice, "s3:PutObject", BUCKET_OBJECT), free, frozenset(), scans)
