"""A group denied in several regions (analyzer/pipeline/regions.py): the group is one
(principal, action, resource), "*" for EC2's Describe calls, so a role's denials of one
call in every region it tried fall into one group; a region-restricting SCP denies it in
some of them for another reason than elsewhere. The group's row is its latest denial's, and
names the other regions where the request is denied otherwise."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cloudtrail_changes as ct
import pyarrow.parquet as pq
from click.testing import CliRunner

from analyzer.cli import main
from analyzer.pipeline import regions, stages, work
from analyzer.pipeline.queries import athena_sql
from analyzer.pipeline.settings import PipelineSettings
from analyzer.report.aggregates import RegionResult, collect
from analyzer.report.render import render_html, render_markdown
from analyzer.report.results import open_results
from analyzer.result_tables import OTHER_REGION, OTHER_REGIONS_JSON_TYPE
from analyzer.snapshot.model import new_snapshot_data, write_snapshot
from analyzer.suppressions import Suppressions

MEMBER, MANAGEMENT, ROOT, OU = "111111111111", "999999999999", "r-root", "ou-root-sandbox1"
DAY = datetime(2026, 11, 24, tzinfo=UTC)
AWS_SCP_PREFIX = "arn:aws:organizations::aws:policy/service_control_policy/"
APP = f"arn:aws:iam::{MEMBER}:role/App"
SCP_ARN = f"arn:aws:organizations::{MANAGEMENT}:policy/o-example/service_control_policy/p-usonly"
US_ONLY = ct.doc(
    {
        "Sid": "OnlyUsEast1",
        "Effect": "Deny",
        "Action": "ec2:*",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}},
    }
)


def _snapshot(us_only: bool = True, collected: str = "2026-11-25T00:00:00Z") -> dict:
    """Role App may only read S3; the sandbox OU's SCP denies EC2 outside us-east-1 (when
    ``us_only``: the snapshot may be collected before it was attached)."""

    def scp(policy_id: str, name: str, document: dict, managed: bool = False) -> dict:
        return {
            "Id": policy_id,
            "Arn": f"{AWS_SCP_PREFIX}{policy_id}" if managed else SCP_ARN,
            "Name": name,
            "Type": "SERVICE_CONTROL_POLICY",
            "AwsManaged": managed,
            "PolicyDocument": json.dumps(document),
        }

    everything = ct.doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
    full = scp("p-FullAWSAccess", "FullAWSAccess", everything, managed=True)

    def node(node_id: str, parent: str | None, *policies: dict) -> dict:
        kind = "AWSAccount" if node_id.isdigit() else "Organizational Unit or Organization Root"
        return {
            "arn": None,
            "id": node_id,
            "name": node_id,
            "organization_node_type": kind,
            "policies": [full, *policies],
            "parent": parent,
        }

    role = {
        "RoleName": "App",
        "Arn": f"arn:aws:iam::{MEMBER}:role/App",
        "RolePolicyList": [{"PolicyName": "Reads", "PolicyDocument": ct.reads("data-bucket")}],
        "AttachedManagedPolicies": [],
        "AssumeRolePolicyDocument": ct.doc(),
    }
    accounts = {
        MEMBER: ct.role_account(role),
        MANAGEMENT: {"authorizationDetails": {}},
    }
    nodes = {
        ROOT: node(ROOT, None),
        OU: node(OU, ROOT, *([scp("p-usonly", "UsOnly", US_ONLY)] if us_only else [])),
        MEMBER: node(MEMBER, OU),
        MANAGEMENT: node(MANAGEMENT, ROOT),
    }
    return new_snapshot_data(accounts, {"managementAccountId": MANAGEMENT, "nodes": nodes}, collected)


def _at(hours: float) -> str:
    return (DAY + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _denied(source: str, name: str, region: str, hours: float, event_id: str) -> dict:
    when = _at(hours)
    error = "Client.UnauthorizedOperation" if source == "ec2.amazonaws.com" else "AccessDeniedException"
    return ct.record(
        source,
        name,
        MEMBER,
        when,
        None,
        identity=ct.actor(MEMBER, "App", "worker"),
        error_code=error,
        region=region,
        event_id=event_id,
    )


def _reasons(tmp_path: Path, events: list[dict], snapshot_data: dict | None = None) -> list[dict]:
    """The run's stages on ``events`` (S3 delivery, a file per event): scan, group, analysis,
    and the tables written to ``tmp_path / "out"``; the reason rows."""
    for number, event in enumerate(events):
        folder = tmp_path / "logs" / MEMBER / "CloudTrail" / event["awsRegion"] / "2026/11/24"
        folder.mkdir(parents=True, exist_ok=True)
        records = json.dumps({"Records": [event]}).encode()
        (folder / f"{number:03d}.json.gz").write_bytes(gzip.compress(records))
    snapshot = tmp_path / "snapshot.json"
    write_snapshot(snapshot_data or _snapshot(), snapshot)
    settings = PipelineSettings(
        logs=str(tmp_path / "logs"),
        snapshot=str(snapshot),
        out=str(tmp_path / "out"),
        since=DAY.date(),
        until=DAY.date() + timedelta(days=1),
    )
    info = stages.snapshot_info(settings)
    denials = stages.read_denials(settings, info.collected_times())
    grouped = stages.group(denials, settings, info.snapshot_id)
    results = [
        work.analyze_batch(ref, str(snapshot), info.snapshot_id, changes=grouped.changes)
        for ref in grouped.batches
    ]
    rows = [row for result in results for row in pq.read_table(result.part_uri).to_pylist()]
    stages.write(settings, grouped, results, str(snapshot), denials.report)
    return rows


def test_a_group_names_the_regions_where_its_request_is_denied_for_another_reason(tmp_path):
    events = [
        # ec2:DescribeInstances: no identity policy allows it anywhere, and the SCP denies
        # it outside us-east-1. Three denials in eu-west-1, one in ap-south-1, the latest
        # two in us-east-1.
        _denied("ec2.amazonaws.com", "DescribeInstances", "eu-west-1", 1, "ec2-eu-1"),
        _denied("ec2.amazonaws.com", "DescribeInstances", "eu-west-1", 2, "ec2-eu-2"),
        _denied("ec2.amazonaws.com", "DescribeInstances", "ap-south-1", 3, "ec2-ap-1"),
        _denied("ec2.amazonaws.com", "DescribeInstances", "eu-west-1", 4, "ec2-eu-3"),
        _denied("ec2.amazonaws.com", "DescribeInstances", "us-east-1", 5, "ec2-us-1"),
        _denied("ec2.amazonaws.com", "DescribeInstances", "us-east-1", 6, "ec2-us-2"),
        # ec2:DescribeVpcs, the latest in eu-west-1: the group's row is the SCP's.
        _denied("ec2.amazonaws.com", "DescribeVpcs", "us-east-1", 1, "vpc-us-1"),
        _denied("ec2.amazonaws.com", "DescribeVpcs", "eu-west-1", 2, "vpc-eu-1"),
        # dynamodb:ListTables: denied alike in both regions (no SCP on DynamoDB).
        _denied("dynamodb.amazonaws.com", "ListTables", "us-east-1", 1, "ddb-us-1"),
        _denied("dynamodb.amazonaws.com", "ListTables", "eu-west-1", 2, "ddb-eu-1"),
        # one region only
        _denied("ec2.amazonaws.com", "DescribeSubnets", "eu-west-1", 1, "subnets-eu-1"),
    ]
    rows = {row["action"]: row for row in _reasons(tmp_path, events)}
    assert rows.keys() == {
        "ec2:DescribeInstances",
        "ec2:DescribeVpcs",
        "dynamodb:ListTables",
        "ec2:DescribeSubnets",
    }

    instances = rows["ec2:DescribeInstances"]
    assert (instances["sample_event_id"], instances["event_count"]) == ("ec2-us-2", 6)
    assert instances["assessment_result"] == "Missing allow in an identity-based policy"
    scp = {
        "reason_code": "EXPLICIT_DENY_SCP",
        "assessment_result": "Explicit deny in a service-control policy",
        "policy_type": "scp",
        "policy_arn": SCP_ARN,
        "policy_name": "UsOnly",
        "statement_sid": "OnlyUsEast1",
        "attachment_target_arn": OU,
        "fix_policy": None,  # an explicit deny: no policy to add
    }
    assert json.loads(instances["other_regions"]) == [
        {"region": "eu-west-1", "event_count": 3, **scp},
        {"region": "ap-south-1", "event_count": 1, **scp},
    ]
    [note] = [note for note in json.loads(instances["notes"]) if "other regions" in note]
    assert note.startswith("this result is that of the group's latest denial, in us-east-1;")
    assert note.endswith(
        "3 in eu-west-1: Explicit deny in a service-control policy (UsOnly, statement OnlyUsEast1); "
        "1 in ap-south-1: Explicit deny in a service-control policy (UsOnly, statement OnlyUsEast1)"
    )

    vpcs = rows["ec2:DescribeVpcs"]
    assert (vpcs["assessment_result"], vpcs["statement_sid"]) == (scp["assessment_result"], "OnlyUsEast1")
    [elsewhere] = json.loads(vpcs["other_regions"])
    assert {key: value for key, value in elsewhere.items() if key != "fix_policy"} == {
        "region": "us-east-1",
        "event_count": 1,
        "reason_code": "NO_ALLOW_IDENTITY",
        "assessment_result": "Missing allow in an identity-based policy",
        "policy_type": "identity",
        "policy_arn": None,
        "policy_name": None,
        "statement_sid": None,
        "attachment_target_arn": APP,  # where the fix goes
    }
    # The group's last denial was the SCP's; in us-east-1 it still needs its identity allow.
    [fix] = json.loads(elsewhere["fix_policy"])
    assert (fix["PolicyType"], fix["AttachmentTargetArn"]) == ("identity", APP)
    assert fix["Policy"]["Statement"] == [{"Effect": "Allow", "Action": "ec2:DescribeVpcs", "Resource": "*"}]

    for alike in (rows["dynamodb:ListTables"], rows["ec2:DescribeSubnets"]):
        assert alike["other_regions"] is None
        assert not any("other regions" in note for note in json.loads(alike["notes"] or "[]"))


def test_the_views_and_the_report_count_each_denial_under_its_regions_reason(tmp_path):
    """``denials_by_reason``, ``deny_hot_spots`` (``query``) and the report's results and
    explicit-deny hot spots count a group's denials in another region under that region's
    reason: five SCP denials (three groups), four missing identity allows (three groups)."""
    events = [
        _denied("ec2.amazonaws.com", "DescribeInstances", "eu-west-1", 1, "ec2-eu-1"),
        _denied("ec2.amazonaws.com", "DescribeInstances", "eu-west-1", 2, "ec2-eu-2"),
        _denied("ec2.amazonaws.com", "DescribeInstances", "us-east-1", 3, "ec2-us-1"),
        _denied("ec2.amazonaws.com", "DescribeVpcs", "us-east-1", 1, "vpc-us-1"),
        _denied("ec2.amazonaws.com", "DescribeVpcs", "eu-west-1", 2, "vpc-eu-1"),
        _denied("ec2.amazonaws.com", "DescribeVpcs", "eu-west-1", 3, "vpc-eu-2"),
        _denied("ec2.amazonaws.com", "DescribeSubnets", "ap-south-1", 1, "subnets-ap-1"),
        _denied("dynamodb.amazonaws.com", "ListTables", "us-east-1", 1, "ddb-us-1"),
        _denied("dynamodb.amazonaws.com", "ListTables", "eu-west-1", 2, "ddb-eu-1"),
    ]
    _reasons(tmp_path, events)
    out = str(tmp_path / "out")

    def query(sql: str) -> list[list[str]]:
        outcome = CliRunner().invoke(main, ["query", "--results", out, "--output", "text", sql])
        assert outcome.exit_code == 0, outcome.output
        return [line.split("\t") for line in outcome.stdout.splitlines()]

    assert query("select reason_code, sum(events) from denials_by_reason group by 1 order by 1") == [
        ["EXPLICIT_DENY_SCP", "5"],
        ["NO_ALLOW_IDENTITY", "4"],
    ]
    assert query("select policy_name, statement_sid, groups, events from deny_hot_spots") == [
        ["UsOnly", "OnlyUsEast1", "3", "5"]
    ]

    con, runs = open_results(out)
    report = collect(con, runs, results=out, suppressions=Suppressions())
    by_result = {count.label: (count.events, count.groups) for count in report.by_result}
    assert by_result == {
        "Explicit deny in a service-control policy": (5, 3),
        "Missing allow in an identity-based policy": (4, 3),
    }
    [spot] = report.hot_spots
    assert (spot.policy_name, spot.statement_sid, spot.groups, spot.events) == ("UsOnly", "OnlyUsEast1", 3, 5)
    assert report.totals.denials == 9
    # New denials (a first run: every group) show the group's other regions' results.
    [instances] = [group for group in report.new_denials.listed if group.action == "ec2:DescribeInstances"]
    assert instances.assessment_result == "Missing allow in an identity-based policy"
    assert instances.elsewhere == (RegionResult("eu-west-1", 2, "Explicit deny in a service-control policy"),)
    assert "- 2 of them in eu-west-1: Explicit deny in a service-control policy" in render_markdown(report)
    assert 'data-other-region="eu-west-1">2 of them in eu-west-1' in render_html(report)
    # What to fix first and the backlog: the identity allows of every region where the
    # missing allow is the reason, DescribeVpcs's (last denied by the SCP) included.
    [identity] = [fix for fix in report.fixes if fix.policy_type == "identity"]
    assert (identity.target, identity.events, identity.groups) == (APP, 4, 3)
    assert identity.actions == ("dynamodb:ListTables", "ec2:DescribeInstances", "ec2:DescribeVpcs")
    assert query("select principal_arn, event_count, missing_actions from latest_backlog") == [
        [APP, "4", "['dynamodb:ListTables', 'ec2:DescribeInstances', 'ec2:DescribeVpcs']"]
    ]


def test_the_views_read_other_regions_as_the_pipeline_writes_them():
    assert OTHER_REGIONS_JSON_TYPE in athena_sql("views")
    assert tuple(OTHER_REGION.names[2:-1]) == regions.OUTCOME


def test_with_policy_changes_the_other_regions_are_evaluated_under_the_samples_policies(tmp_path):
    """The snapshot was collected before the SCP was created and attached (both logged): a
    group's sample is explained under the policies of its own time, and so is its request
    in the group's other regions, not under the snapshot as collected (where nothing denies
    EC2 in eu-west-1 but the missing allow, the sample's own reason)."""
    collected = DAY - timedelta(hours=1)
    changes = [
        ct.org_create_policy(
            MANAGEMENT, _at(-0.75), "p-usonly", SCP_ARN, "UsOnly", US_ONLY, event_id="create-scp"
        ),
        ct.org_attach_policy(MANAGEMENT, _at(-0.5), "p-usonly", OU, event_id="attach-scp"),
    ]
    events = [
        *changes,
        _denied("ec2.amazonaws.com", "DescribeInstances", "eu-west-1", 1, "ec2-eu-1"),
        _denied("ec2.amazonaws.com", "DescribeInstances", "us-east-1", 2, "ec2-us-1"),
    ]
    snapshot = _snapshot(us_only=False, collected=collected.strftime("%Y-%m-%dT%H:%M:%SZ"))
    [row] = _reasons(tmp_path, events, snapshot)
    assert row["assessment_result"] == "Missing allow in an identity-based policy"
    [entry] = json.loads(row["other_regions"])
    # Named as its CreatePolicy named it: the snapshot does not know it.
    assert (entry["region"], entry["policy_arn"], entry["policy_name"], entry["statement_sid"]) == (
        "eu-west-1",
        SCP_ARN,
        "UsOnly",
        "OnlyUsEast1",
    )


def test_an_explicit_deny_beside_a_missing_allow_keeps_its_deny_edit(tmp_path):
    """A request denied by a statement and allowed by none: its fix is the deny's edit (no
    added policy lifts a deny, so analyze's PoliciesToAdd is null), and ``fix_policy`` had
    lost it because the missing allow's proposals, withheld, stood in its place (found by a
    held-out probe comparing run and analyze)."""
    data = _snapshot()
    [role] = data["accounts"][MEMBER]["authorizationDetails"]["RoleDetailList"]
    deny = ct.doc(
        {"Sid": "NoTableListing", "Effect": "Deny", "Action": "dynamodb:ListTables", "Resource": "*"}
    )
    role["RolePolicyList"].append({"PolicyName": "Guard", "PolicyDocument": deny})

    [row] = _reasons(
        tmp_path, [_denied("dynamodb.amazonaws.com", "ListTables", "us-east-1", 1, "list")], data
    )

    assert row["reason_code"] == "EXPLICIT_DENY_IDENTITY"
    assert {reason["Code"] for reason in json.loads(row["reasons"])} >= {"NO_ALLOW_IDENTITY"}
    [edit] = json.loads(row["fix_policy"])
    assert edit["AttachmentTargetArn"] == APP
    assert "NoTableListing" in edit["Suggestion"]


def _mixed_night() -> tuple[dict, list[dict]]:
    """A snapshot whose role's own policies read the region (a region in a Resource
    variable, an allow only in eu-west-1) beside the OU's SCP, and denials in two regions
    each: some decided alike everywhere, some not."""
    data = _snapshot()
    [role] = data["accounts"][MEMBER]["authorizationDetails"]["RoleDetailList"]
    regional = ct.doc(
        {
            "Sid": "EuQueuesOnly",
            "Effect": "Allow",
            "Action": "sqs:ListQueues",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
        },
        {
            "Sid": "TablesOfTheRegion",
            "Effect": "Allow",
            "Action": "dynamodb:DescribeTable",
            "Resource": f"arn:aws:dynamodb:${{aws:RequestedRegion}}:{MEMBER}:table/t",
        },
    )
    role["RolePolicyList"].append({"PolicyName": "Regional", "PolicyDocument": regional})
    calls = [
        ("ec2.amazonaws.com", "DescribeInstances"),  # the SCP reads the region
        ("dynamodb.amazonaws.com", "ListTables"),  # nothing reads it
        ("sqs.amazonaws.com", "ListQueues"),  # the role's condition reads it
        ("iam.amazonaws.com", "ListRoles"),  # nothing reads it
    ]
    events = [
        _denied(source, name, region, hours, f"{name}-{region}")
        for source, name in calls
        for hours, region in ((1, "eu-west-1"), (2, "us-east-1"))
    ]
    return data, events


def test_a_request_no_statement_reads_the_region_of_is_not_evaluated_again_elsewhere(tmp_path, monkeypatch):
    """Evaluating a sample again in each other region is a quarter of the analysis at 1M
    events; a request no statement covering its action reads ``aws:RequestedRegion`` of
    (nor a VPC endpoint's, looked up by region) is decided alike everywhere, and is not."""
    evaluated = []
    original = work._Elsewhere.result

    def counted(self, event, found, region, *, fixes=False):
        evaluated.append((event.actions[0].action, region))
        return original(self, event, found, region, fixes=fixes)

    monkeypatch.setattr(work._Elsewhere, "result", counted)
    data, events = _mixed_night()
    rows = {row["action"]: row for row in _reasons(tmp_path, events, data)}
    assert {action for action, _ in evaluated} == {"ec2:DescribeInstances", "sqs:ListQueues"}
    assert rows["sqs:ListQueues"]["other_regions"] is not None  # allowed in eu-west-1
    assert rows["dynamodb:ListTables"]["other_regions"] is None


def test_skipping_the_regions_that_cannot_differ_changes_no_row(tmp_path, monkeypatch):
    """The same night with every other region evaluated: the same reason rows."""
    data, events = _mixed_night()

    def rows(folder: Path) -> list[dict]:
        found = _reasons(folder, events, data)
        return sorted(({**row, "analyzed_at": None} for row in found), key=lambda row: row["group_key"])

    skipping = rows(tmp_path / "skipping")
    monkeypatch.setattr(regions, "decided_alike_everywhere", lambda result: False)
    assert rows(tmp_path / "every") == skipping
