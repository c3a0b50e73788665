"""Cross-account access to a resource that takes no resource-based policy (an EC2 instance,
an RDS database, an IAM user): the fix can never be a statement on the resource. It goes
through a role of the resource's account instead, and is re-verified hop by hop; resources
that do take a policy (KMS, S3, SQS, SNS, Lambda, Secrets Manager) keep their statement.

The table-driven decisions are in tests/cases/cross_account_no_resource_policy.json."""

import cloudtrail_changes as ct
import pytest

from analyzer.actions import rcp_supported_services
from analyzer.engine.model import Decision, PolicySet, PolicyType, Request
from analyzer.engine.policy import parse_policy
from analyzer.explain.explanation import explain
from analyzer.explain.remediation import Proposal, verify

CALLER_ACCOUNT, OWNER = "111122223333", "444455556666"
OPS = f"arn:aws:iam::{CALLER_ACCOUNT}:role/Ops"
SESSION = f"arn:aws:sts::{CALLER_ACCOUNT}:assumed-role/Ops/oncall"
INSTANCE = f"arn:aws:ec2:us-east-1:{OWNER}:instance/i-0123456789abcdef0"
ROUTE_ROLE = f"arn:aws:iam::{OWNER}:role/Ops-from-{CALLER_ACCOUNT}"
MANAGEMENT = "999999999999"


def _allow(action, resource="*"):
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}],
    }


def _explain(action, resource, identity=(), resource_policy=None, scp=None, principal=SESSION):
    policies = PolicySet(
        identity=tuple(parse_policy(document) for document in identity),
        resource=None if resource_policy is None else parse_policy(resource_policy),
        scp=scp,
    )
    return explain(Request.build(principal, action, resource), policies, rcp_supported_services())


def _targets(explanation):
    return {(p.policy_type, p.target_arn): dict(p.statement) for p in explanation.fix.proposals}


def test_ec2_instance_of_another_account_is_reached_through_a_role_there():
    explanation = _explain("ec2:StopInstances", INSTANCE, identity=[_allow("ec2:StopInstances")])
    assert explanation.code == "NO_RESOURCE_POLICY_CROSS_ACCOUNT"
    assert explanation.assessment_result == "Missing allow in a resource-based policy in cross-account access"
    assert explanation.fix.via_role == ROUTE_ROLE
    assert _targets(explanation) == {
        (PolicyType.RESOURCE, ROUTE_ROLE): {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"AWS": OPS},
        },
        (PolicyType.IDENTITY, OPS): {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROUTE_ROLE},
        (PolicyType.IDENTITY, ROUTE_ROLE): {
            "Effect": "Allow",
            "Action": "ec2:StopInstances",
            "Resource": INSTANCE,
        },
    }
    assert explanation.fix.verified is True, explanation.fix.check
    assert any("take no resource-based policy" in note and ROUTE_ROLE in note for note in explanation.notes)


def test_no_statement_ever_targets_the_instance_nor_grants_the_caller_the_action():
    """Without an identity allow either, AWS's words stay those of the original tool, but
    the caller is not told to allow itself an action no policy could complete."""
    explanation = _explain("ec2:StopInstances", INSTANCE)
    assert explanation.assessment_result == (
        "Missing allows in an identity-based and a resource-based policy in cross-account access"
    )
    assert "NO_RESOURCE_POLICY_CROSS_ACCOUNT" in {finding.code for finding in explanation.findings}
    assert all(p.target_arn != INSTANCE for p in explanation.fix.proposals)
    granted_to_caller = {p.statement["Action"] for p in explanation.fix.proposals if p.target_arn == OPS}
    assert granted_to_caller == {"sts:AssumeRole"}
    assert explanation.fix.verified is True, explanation.fix.check


def test_a_caller_already_allowed_to_assume_roles_needs_only_the_role():
    explanation = _explain(
        "ec2:StopInstances", INSTANCE, identity=[_allow(["ec2:StopInstances", "sts:AssumeRole"])]
    )
    assert set(_targets(explanation)) == {
        (PolicyType.RESOURCE, ROUTE_ROLE),
        (PolicyType.IDENTITY, ROUTE_ROLE),
    }
    assert explanation.fix.verified is True


def test_an_scp_denying_sts_leaves_the_route_unverified_and_says_why():
    deny_sts = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*"}],
        }
    )
    full = parse_policy(_allow("*"))
    explanation = _explain(
        "ec2:StopInstances", INSTANCE, identity=[_allow("ec2:StopInstances")], scp=((full, deny_sts),)
    )
    assert explanation.fix.verified is False
    assert "sts:AssumeRole" in explanation.fix.check and "explicitly denied" in explanation.fix.check


@pytest.mark.parametrize(
    ("action", "resource", "why"),
    [
        ("iam:GetUser", f"arn:aws:iam::{OWNER}:user/carol", "iam resources of type user"),
        ("iam:GetRole", f"arn:aws:iam::{OWNER}:role/Audit", "trust policy grants only assuming the role"),
        ("rds:StopDBInstance", f"arn:aws:rds:us-east-1:{OWNER}:db:prod", "rds resources of type db"),
    ],
)
def test_other_resources_without_a_policy_take_the_same_route(action, resource, why):
    explanation = _explain(action, resource, identity=[_allow(action)])
    assert explanation.code == "NO_RESOURCE_POLICY_CROSS_ACCOUNT"
    assert (PolicyType.IDENTITY, ROUTE_ROLE) in _targets(explanation)
    assert all(p.target_arn != resource for p in explanation.fix.proposals)
    assert explanation.fix.verified is True, explanation.fix.check
    assert any(why in note for note in explanation.notes)


def test_a_resource_policy_statement_for_an_instance_is_never_verified():
    """The defect: this statement was proposed and called verified, though no EC2 instance
    can carry it. Re-evaluation alone cannot see that; the check must."""
    request = Request.build(SESSION, "ec2:StopInstances", INSTANCE)
    impossible = Proposal(
        PolicyType.RESOURCE,
        INSTANCE,
        {"Effect": "Allow", "Principal": {"AWS": OPS}, "Action": "ec2:StopInstances", "Resource": INSTANCE},
    )
    policies = PolicySet(identity=(parse_policy(_allow("ec2:StopInstances")),))
    verification = verify(request, policies, (impossible,), rcp_supported_services(), OPS)
    assert verification.verified is False
    assert "takes no resource-based policy" in verification.check


KEY = f"arn:aws:kms:us-east-1:{OWNER}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
QUEUE = f"arn:aws:sqs:us-east-1:{OWNER}:jobs"
TOPIC = f"arn:aws:sns:us-east-1:{OWNER}:alerts"
FUNCTION = f"arn:aws:lambda:us-east-1:{OWNER}:function:resize"
SECRET = f"arn:aws:secretsmanager:us-east-1:{OWNER}:secret:db-AbCdEf"


@pytest.mark.parametrize(
    ("action", "resource", "holder"),
    [
        ("kms:Decrypt", KEY, KEY),
        # S3 takes bucket policies, never object ones: with no bucket policy yet, the
        # statement was proposed for the object's ARN (held-out probe).
        ("s3:GetObject", "arn:aws:s3:::reports-bucket/q1.csv", "arn:aws:s3:::reports-bucket"),
        ("sqs:SendMessage", QUEUE, QUEUE),
        ("sns:Publish", TOPIC, TOPIC),
        ("lambda:InvokeFunction", FUNCTION, FUNCTION),
        ("secretsmanager:GetSecretValue", SECRET, SECRET),
    ],
)
def test_resources_that_take_a_policy_still_get_the_statement(action, resource, holder):
    policies = PolicySet(identity=(parse_policy(_allow(action)),))
    request = Request.build(SESSION, action, resource, OWNER)
    explanation = explain(request, policies, rcp_supported_services())
    assert explanation.code == "NO_ALLOW_RESOURCE_CROSS_ACCOUNT"
    assert explanation.fix.via_role is None
    [proposal] = explanation.fix.proposals
    assert proposal.policy_type == PolicyType.RESOURCE and proposal.target_arn == holder
    assert proposal.statement["Resource"] == resource
    assert proposal.statement["Principal"] == {"AWS": OPS}
    assert explanation.fix.verified is True
    assert explanation.evaluation.decision == Decision.IMPLICITLY_DENIED


def test_the_role_to_create_keeps_the_callers_account_within_iams_64_characters():
    name = "AWSReservedSSO_PowerUserAccess_7a6b5c4d3e2f1a0b" + "x" * 20
    session = f"arn:aws:sts::{CALLER_ACCOUNT}:assumed-role/{name}/bob@example.com"
    explanation = _explain("ec2:StopInstances", INSTANCE, identity=[_allow("*")], principal=session)
    role_name = explanation.fix.via_role.rsplit("/", 1)[-1]
    assert len(role_name) == 64 and role_name.endswith(f"-from-{CALLER_ACCOUNT}")


def test_an_identity_center_callers_own_statement_goes_through_its_permission_set():
    session = (
        f"arn:aws:sts::{CALLER_ACCOUNT}:assumed-role/AWSReservedSSO_PowerUserAccess_7a6b5c4d3e2f1a0b/bob"
    )
    explanation = _explain("ec2:StopInstances", INSTANCE, identity=[_allow("ec2:*")], principal=session)
    assert explanation.code == "NO_RESOURCE_POLICY_CROSS_ACCOUNT"
    # sts:AssumeRole on the new role is added through the permission set, not to the role.
    assert any("inline policy of permission set PowerUserAccess" in note for note in explanation.notes)
    # The role to create is named after the permission set: AWSReservedSSO_ names are
    # Identity Center's own, and this one is an ordinary role that takes its statement.
    assert explanation.fix.via_role == f"arn:aws:iam::{OWNER}:role/PowerUserAccess-from-{CALLER_ACCOUNT}"
    assert sum("Identity Center role" in note for note in explanation.notes) == 1
    # The new role trusts the caller's account, for this permission set's role whatever
    # its suffix; both hops re-verified with it.
    [trust] = [p for p in explanation.fix.proposals if p.policy_type == PolicyType.RESOURCE]
    assert trust.statement["Principal"] == {"AWS": f"arn:aws:iam::{CALLER_ACCOUNT}:root"}
    # (The session ARN omits the role's path: the pattern has the path Identity Center uses.)
    assert trust.statement["Condition"]["ArnLike"]["aws:PrincipalArn"] == (
        f"arn:aws:iam::{CALLER_ACCOUNT}:role/aws-reserved/sso.amazonaws.com/*AWSReservedSSO_PowerUserAccess_"
        + "?" * 16
    )
    assert explanation.fix.verified is True, explanation.fix.check


# -- the role's own account's SCPs, from a snapshot ----------------------------------------
def _organization_snapshot(owner_scps: list[dict], *, owner_read: bool = True):
    """Ops in CALLER_ACCOUNT may stop instances; OWNER's account has ``owner_scps`` beside
    FullAWSAccess (attached at every level, as AWS requires). Without ``owner_read`` the
    SCPs of OWNER's own node could not be read: the collector kept none and left a gap."""
    from analyzer.snapshot import snapshot_from_dict
    from analyzer.snapshot.model import Gap, new_snapshot_data

    ops = {
        "RoleName": "Ops",
        "Arn": OPS,
        "RolePolicyList": [{"PolicyName": "Stop", "PolicyDocument": _allow(["ec2:StopInstances"])}],
        "AttachedManagedPolicies": [],
        "AssumeRolePolicyDocument": _allow("sts:AssumeRole"),
    }
    accounts = {
        CALLER_ACCOUNT: {"authorizationDetails": {"RoleDetailList": [ops]}, "resourcePolicies": {}},
        OWNER: {"authorizationDetails": {}, "resourcePolicies": {}},
    }
    full = ct.customer_scp(MANAGEMENT, "FullAWSAccess", _allow("*"))
    owner_policies = [
        full,
        *(ct.customer_scp(MANAGEMENT, f"Owner{i}", document) for i, document in enumerate(owner_scps)),
    ]
    nodes = {
        "r-root": ct.org_node("r-root", None, [full]),
        CALLER_ACCOUNT: ct.org_node(CALLER_ACCOUNT, "r-root", [full]),
        OWNER: ct.org_node(OWNER, "r-root", owner_policies if owner_read else []),
    }
    organization = {"managementAccountId": MANAGEMENT, "nodes": nodes}
    gaps = (
        ()
        if owner_read
        else (
            Gap(
                MANAGEMENT,
                "organizations",
                "ListPoliciesForTarget",
                "AccessDenied",
                "denied",
                resource=OWNER,
                policy_type="SERVICE_CONTROL_POLICY",
            ),
        )
    )
    return snapshot_from_dict(new_snapshot_data(accounts, organization, "2026-12-01T00:00:00Z", gaps))


def _explain_with(snapshot):
    from analyzer.analysis import explain_request
    from analyzer.snapshot import snapshot_resolver

    request = Request.build(SESSION, "ec2:StopInstances", INSTANCE)
    explanation, _ = explain_request(request, snapshot_resolver(snapshot), principal_arn=OPS)
    return explanation


def test_the_route_is_checked_against_the_resource_accounts_scps():
    deny_stop = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "ec2:StopInstances", "Resource": "*"}],
    }
    denied = _explain_with(_organization_snapshot([deny_stop]))
    assert denied.code == "NO_RESOURCE_POLICY_CROSS_ACCOUNT"
    # The new role would be denied by its own account's SCP: never called verified.
    assert denied.fix.verified is False
    assert "explicitly denied (scp)" in denied.fix.check
    assert not any(f"SCPs of account {OWNER}" in note for note in denied.notes)

    allowed = _explain_with(_organization_snapshot([]))
    assert allowed.fix.verified is True, allowed.fix.check
    assert not any(f"SCPs of account {OWNER}" in note for note in allowed.notes)


def test_a_route_through_an_account_whose_scps_were_not_read_is_verified_against_the_known_only():
    """OWNER's own node could not be read: its level is unknown, not one without an allow.
    The route proposed an SCP statement for "scp level 1" (no such target) and called itself
    verified without saying the SCPs were unknown (held-out probe)."""
    explanation = _explain_with(_organization_snapshot([], owner_read=False))
    assert explanation.code == "NO_RESOURCE_POLICY_CROSS_ACCOUNT"
    assert PolicyType.SCP not in {proposal.policy_type for proposal in explanation.fix.proposals}
    assert (PolicyType.IDENTITY, ROUTE_ROLE) in _targets(explanation)
    assert explanation.fix.verified is True
    assert explanation.fix.check.startswith("verified against the known policies only")
    assert explanation.fix.check.endswith(f"not known: SCPs of account {OWNER}")
    assert any(f"SCPs of account {OWNER} could not be read" in note for note in explanation.notes)


def test_an_scp_statement_for_the_role_names_the_node_it_goes_on():
    """An allow-list on OWNER's node lacks the action: the statement goes on that node, by
    its id (it was proposed for "scp level 1", which names nothing)."""
    from analyzer.snapshot import snapshot_from_dict

    data = _organization_snapshot([_allow("s3:*")]).data
    owner = data["organization"]["nodes"][OWNER]
    owner["policies"] = [policy for policy in owner["policies"] if policy["Name"] != "FullAWSAccess"]
    explanation = _explain_with(snapshot_from_dict(data))
    assert (PolicyType.SCP, OWNER) in _targets(explanation)
    assert explanation.fix.verified is True, explanation.fix.check


def test_without_the_snapshot_the_route_says_the_owners_scps_were_not_checked():
    explanation = _explain("ec2:StopInstances", INSTANCE, identity=[_allow("ec2:StopInstances")])
    assert any(
        f"SCPs of account {OWNER} are not among this request's policies" in note for note in explanation.notes
    )
