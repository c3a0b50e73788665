"""``analyze --history`` and ``run`` on a timeline recorded against the moto server.

The test makes each policy change with boto3 in an organization of its own (a management
account of its own, so the session's shared ``moto_org`` is untouched) and writes, for each,
the CloudTrail record AWS would log (``tests/cloudtrail_changes.py``; shapes per
``tests/data/history/README.md``), delivered in the S3 layout. Then it collects a snapshot
with the real CLI, after every change was reverted, and explains denials from before,
during and after a bad SCP, a removed inline statement and a bucket policy deny later
reverted. ``run`` over the same logs (the denials delivered beside the changes) must write
each change to ``changes/`` and name, per group, the root cause and fix ``analyze`` names.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import cloudtrail_changes as ct
import duckdb
import pytest

CLI = str(Path(sys.executable).parent / "access-undenied")
MANAGEMENT = "210987654321"  # the management account of this test's own organization
BUCKET = "history-e2e-data"
BENIGN_SCP, BAD_SCP = ct.BENIGN_SCP, ct.BAD_SCP
READS, LIST_ONLY = ct.reads(BUCKET), ct.list_only(BUCKET)


def _credentials(session, account: str, role: str) -> dict[str, str]:
    found = session.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="history-e2e"
    )["Credentials"]
    return {
        "aws_access_key_id": found["AccessKeyId"],
        "aws_secret_access_key": found["SecretAccessKey"],
        "aws_session_token": found["SessionToken"],
    }


class Recorder:
    """Makes changes and writes what CloudTrail would log, on a clock of its own
    (ten minutes a step, ending well before the snapshot is collected)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=12)
        self.logged: dict[str, list[dict]] = {}
        self.denials: list[dict] = []

    def tick(self) -> str:
        self.now += timedelta(minutes=10)
        return self.now.strftime("%Y-%m-%dT%H:%M:%SZ")

    def log(self, event: dict) -> str:
        self.logged.setdefault(event["recipientAccountId"], []).append(event)
        return event["eventID"]

    def deny(self, event: dict) -> str:
        self.denials.append(event)
        return event["eventID"]

    def deliver(self, root: Path, keep=lambda event: True) -> Path:
        """Write the logged events as CloudTrail delivers them to S3 (one file per account)."""
        for account, events in self.logged.items():
            day = self.now.strftime("%Y/%m/%d")
            folder = root / "AWSLogs" / account / "CloudTrail" / "us-east-1" / day
            folder.mkdir(parents=True, exist_ok=True)
            kept = [e for e in events if keep(e)]
            (folder / f"{account}_CloudTrail_us-east-1_history.json.gz").write_bytes(
                gzip.compress(json.dumps({"Records": kept}).encode())
            )
        return root / "AWSLogs"


@pytest.fixture(scope="module")
def timeline(aws, tmp_path_factory):
    """The recorded timeline, the snapshot collected after it, and the ids to expect."""
    base = boto3.Session()
    management = boto3.Session(**_credentials(base, MANAGEMENT, "Admin"))
    orgs = management.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    root_id = orgs.list_roots()["Roots"][0]["Id"]
    if not any(
        t["Type"] == "SERVICE_CONTROL_POLICY" and t["Status"] == "ENABLED"
        for t in orgs.list_roots()["Roots"][0]["PolicyTypes"]
    ):
        orgs.enable_policy_type(RootId=root_id, PolicyType="SERVICE_CONTROL_POLICY")
    workload = orgs.create_account(AccountName="workload", Email="workload@example.com")[
        "CreateAccountStatus"
    ]["AccountId"]
    member = boto3.Session(**_credentials(management, workload, "OrganizationAccountAccessRole"))
    iam, s3 = member.client("iam"), member.client("s3")
    iam.create_role(
        RoleName="AccessUndeniedRole",
        AssumeRolePolicyDocument=ct.text(
            ct.doc(
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"AWS": f"arn:aws:iam::{MANAGEMENT}:root"},
                }
            )
        ),
    )
    trust = ct.doc(
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}}
    )
    iam.create_role(RoleName="App", AssumeRolePolicyDocument=ct.text(trust))
    s3.create_bucket(Bucket=BUCKET)

    rec, ids = Recorder(), {}
    benign_bucket = ct.doc(
        {
            "Sid": "KeepBucket",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:DeleteBucket",
            "Resource": f"arn:aws:s3:::{BUCKET}",
        }
    )
    deny_bucket = ct.doc(
        {
            "Sid": "Quarantine",
            "Effect": "Deny",
            "Principal": {"AWS": f"arn:aws:iam::{workload}:role/App"},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
        }
    )

    def update_scp(document, key):
        orgs.update_policy(PolicyId=scp_id, Content=ct.text(document))
        ids[key] = rec.log(ct.org_update_policy(MANAGEMENT, rec.tick(), scp_id, scp_arn, "Guard", document))

    def put_reads(document, key):
        iam.put_role_policy(RoleName="App", PolicyName="Reads", PolicyDocument=ct.text(document))
        ids[key] = rec.log(ct.put_role_policy(workload, rec.tick(), "App", "Reads", document))

    def put_bucket(document, key):
        s3.put_bucket_policy(Bucket=BUCKET, Policy=ct.text(document))
        ids[key] = rec.log(ct.put_bucket_policy(workload, rec.tick(), BUCKET, document))

    def denied(key, action="GetObject"):
        # An object of its own per denial: each is its own (principal, action, resource) group in `run`.
        event = ct.get_object_denied(workload, rec.tick(), "App", BUCKET, f"{key}.csv", f"denied-{key}")
        event["eventName"] = action
        ids[key] = rec.deny(event)

    # Setup, logged like everything else.
    summary = orgs.create_policy(
        Name="Guard", Description="Guard", Type="SERVICE_CONTROL_POLICY", Content=ct.text(BENIGN_SCP)
    )["Policy"]["PolicySummary"]
    scp_id, scp_arn = summary["Id"], summary["Arn"]
    ids["scp-created"] = rec.log(
        ct.org_create_policy(MANAGEMENT, rec.tick(), scp_id, scp_arn, "Guard", BENIGN_SCP)
    )
    orgs.attach_policy(PolicyId=scp_id, TargetId=workload)
    ids["scp-attached"] = rec.log(ct.org_attach_policy(MANAGEMENT, rec.tick(), scp_id, workload))
    put_reads(READS, "reads-created")
    put_bucket(benign_bucket, "bucket-created")
    denied("before", "PutObject")  # never allowed: no logged change explains it
    # A bad SCP, reverted.
    update_scp(BAD_SCP, "scp-bad")
    denied("during-scp")
    update_scp(BENIGN_SCP, "scp-fixed")
    # An inline statement removed, then restored.
    put_reads(LIST_ONLY, "inline-cut")
    denied("after-scp")
    put_reads(READS, "inline-back")
    # A bucket policy deny, reverted.
    put_bucket(deny_bucket, "bucket-deny")
    denied("bucket")
    put_bucket(benign_bucket, "bucket-back")

    out = tmp_path_factory.mktemp("history")
    env = {**aws, **{k.upper(): v for k, v in _credentials(base, MANAGEMENT, "Admin").items()}}
    snapshot = out / "snapshot.json.gz"
    result = subprocess.run(
        [CLI, "snapshot", "--accounts", "all", "--regions", "us-east-1", "--out", str(snapshot)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    events = out / "denials.json"
    events.write_text(json.dumps({"Records": rec.denials}))
    return {
        "env": env,
        "snapshot": snapshot,
        "events": events,
        "recorder": rec,
        "ids": ids,
        "out": out,
        "workload": workload,
        "scp_arn": scp_arn,
    }


def _analyze(timeline, *extra: str) -> dict[str, dict]:
    result = subprocess.run(
        [
            CLI,
            "analyze",
            "--events-file",
            str(timeline["events"]),
            "--snapshot",
            str(timeline["snapshot"]),
            "--json",
            *extra,
        ],
        env=timeline["env"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    documents = json.loads(result.stdout)
    # Exit 1 exactly when some denial got no answer (Error), as for any analyze run.
    assert result.returncode == int(any(d["AssessmentResult"] == "Error" for d in documents)), result.stderr
    return {doc["EventId"]: doc for doc in documents}


def test_analyze_history_names_the_change_behind_each_denial(timeline):
    ids = timeline["ids"]
    logs = timeline["recorder"].deliver(timeline["out"] / "all")
    results = _analyze(timeline, "--history", str(logs))
    snapshot_only = _analyze(timeline)

    during = results[ids["during-scp"]]
    assert during["AssessmentResult"] == "Explicit deny in a service-control policy"
    assert during["RootCause"]["EventId"] == ids["scp-bad"]
    assert during["RootCause"]["EventName"] == "UpdatePolicy"
    assert during["RootCause"]["PolicyArn"] == timeline["scp_arn"]
    assert "FreezeS3Reads" in during["RootCause"]["Summary"]
    assert during["FixedBy"]["EventId"] == ids["scp-fixed"]

    after = results[ids["after-scp"]]
    assert after["AssessmentResult"] == "Missing allow in an identity-based policy"
    assert after["RootCause"]["EventId"] == ids["inline-cut"]
    assert after["RootCause"]["AttachmentTargetArn"] == f"arn:aws:iam::{timeline['workload']}:role/App"
    assert after["FixedBy"]["EventId"] == ids["inline-back"]

    bucket = results[ids["bucket"]]
    assert bucket["AssessmentResult"] == "Explicit deny in a resource-based policy"
    assert bucket["RootCause"]["EventId"] == ids["bucket-deny"]
    assert bucket["FixedBy"]["EventId"] == ids["bucket-back"]

    before = results[ids["before"]]
    assert before["AssessmentResult"] == "Missing allow in an identity-based policy"
    assert before["RootCause"] is None  # no logged change explains it: it never was allowed

    for key in ("during-scp", "after-scp", "bucket"):
        # The snapshot, collected once everything was reverted, finds no reason ...
        assert snapshot_only[ids[key]]["AssessmentResult"] == "Allowed"
        assert "RootCause" not in snapshot_only[ids[key]]
        # ... the policies at the event's time do, and the result says it used them.
        state = results[ids[key]]["PolicyStateAt"]
        assert state["Time"] == next(
            e["eventTime"] for e in timeline["recorder"].denials if e["eventID"] == ids[key]
        )
        assert "rolled back" in state["Source"]
        assert any("differ from the snapshot's" in n for n in results[ids[key]]["Notes"])


def test_a_log_that_does_not_reach_back_gives_partial_answers(timeline):
    ids = timeline["ids"]
    setup = {ids["scp-created"], ids["scp-attached"], ids["reads-created"], ids["bucket-created"]}
    logs = timeline["recorder"].deliver(
        timeline["out"] / "partial", keep=lambda event: event["eventID"] not in setup
    )
    results = _analyze(timeline, "--history", str(logs))
    before = results[ids["before"]]
    # Before the first logged change the SCP, the inline policy and the bucket policy are
    # unknown: no confident answer.
    assert before["AssessmentResult"] == "Error"
    assert "partly known" in before["ErrorMessage"]
    assert before["PolicyStateAt"]["Unknown"]
    # The bad SCP's own statement denies: still definite, and still named.
    during = results[ids["during-scp"]]
    assert during["AssessmentResult"] == "Explicit deny in a service-control policy"
    assert during["RootCause"]["EventId"] == ids["scp-bad"]


def test_history_from_s3_with_session_policies(timeline, tmp_path):
    """``--history s3://...`` read through the moto server, and the session policies of
    sessions made with boto3 (their AssumeRole logged as AWS would) decide denials."""
    rec, workload, env = timeline["recorder"], timeline["workload"], timeline["env"]
    base = boto3.Session()
    member = boto3.Session(**_credentials(base, workload, "OrganizationAccountAccessRole"))
    sts = member.client("sts")
    deny_get = ct.doc(
        {"Sid": "NoObjects", "Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
    )
    list_only = ct.list_only(BUCKET)
    sessions, denials = [], []
    for name, policy in (("denying", deny_get), ("capped", list_only)):
        made = sts.assume_role(
            RoleArn=f"arn:aws:iam::{workload}:role/App", RoleSessionName=name, Policy=ct.text(policy)
        )
        key = made["Credentials"]["AccessKeyId"]
        sessions.append(
            ct.assume_role(workload, rec.tick(), "App", name, key, policy=policy, event_id=f"made-{name}")
        )
        denials.append(
            ct.get_object_denied(
                workload,
                rec.tick(),
                "App",
                BUCKET,
                "report.csv",
                f"session-{name}",
                access_key=key,
                session=name,
            )
        )
    logs = rec.deliver(tmp_path / "logs")
    sessions_file = logs / workload / "CloudTrail" / "us-east-1" / "sessions.json"
    sessions_file.write_text(json.dumps({"Records": sessions}))

    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket="history-e2e-trail")
    for path in logs.rglob("*.json*"):
        s3.upload_file(str(path), "history-e2e-trail", f"AWSLogs/{path.relative_to(logs).as_posix()}")
    events = tmp_path / "denials.json"
    events.write_text(json.dumps({"Records": [*rec.denials, *denials]}))
    result = subprocess.run(
        [
            CLI,
            "analyze",
            "--events-file",
            str(events),
            "--snapshot",
            str(timeline["snapshot"]),
            "--history",
            "s3://history-e2e-trail/AWSLogs/",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr
    results = {doc["EventId"]: doc for doc in json.loads(result.stdout)}
    ids = timeline["ids"]
    # The changes were read from S3: the same causes as from the local folder.
    assert results[ids["during-scp"]]["RootCause"]["EventId"] == ids["scp-bad"]
    assert results[ids["bucket"]]["FixedBy"]["EventId"] == ids["bucket-back"]
    # And so were the sessions' AssumeRole events.
    assert results["session-denying"]["AssessmentResult"] == "Explicit deny in a session policy"
    assert results["session-capped"]["AssessmentResult"] == "Missing allow in a session policy"
    # Without the history the sessions' creation is not known: no reason found, and it says why.
    alone = _analyze({**timeline, "events": events})
    assert alone["session-denying"]["AssessmentResult"] == "Allowed"
    assert any("could not be checked" in note for note in alone["session-denying"]["Notes"])


def test_an_unreadable_s3_history_is_a_warning_not_a_failure(timeline):
    result = subprocess.run(
        [
            CLI,
            "analyze",
            "--events-file",
            str(timeline["events"]),
            "--snapshot",
            str(timeline["snapshot"]),
            "--history",
            "s3://history-e2e-no-such-bucket/AWSLogs/",
            "--json",
        ],
        env=timeline["env"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "warning: s3://history-e2e-no-such-bucket/AWSLogs/: cannot list" in result.stderr
    documents = json.loads(result.stdout)
    assert {d["EventId"] for d in documents} == {e["eventID"] for e in timeline["recorder"].denials}


def _table(out: Path, name: str) -> list[dict]:
    query = f"select * from read_parquet('{out}/{name}/**/*.parquet', hive_partitioning=true)"
    result = duckdb.connect().execute(query)
    names = [column[0] for column in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _run(logs: Path, timeline, out: Path, runner: str) -> list[dict]:
    from flows.nightly import with_runner

    with_runner(runner, 2)(logs=str(logs), snapshot=str(timeline["snapshot"]), out=str(out), batch_size=2)
    return _table(out, "reasons")


@pytest.mark.usefixtures("prefect_harness")
def test_run_names_the_root_cause_and_fix_analyze_names(timeline, tmp_path):
    ids, recorder = timeline["ids"], timeline["recorder"]
    logs = recorder.deliver(tmp_path / "logs")
    (logs / "denials.json").write_text(timeline["events"].read_text())  # one trail, one scan
    analyzed = _analyze(timeline, "--history", str(logs))

    reasons = {row["sample_event_id"]: row for row in _run(logs, timeline, tmp_path / "out", "threads")}

    changes = {row["event_id"]: row for row in _table(tmp_path / "out", "changes")}
    logged = {event["eventID"]: event for events in recorder.logged.values() for event in events}
    assert changes.keys() == logged.keys()
    bad = changes[ids["scp-bad"]]
    assert (bad["event_name"], bad["account_id"], bad["policy_arn"]) == (
        "UpdatePolicy",
        MANAGEMENT,
        timeline["scp_arn"],
    )
    assert bad["changed_by"] == logged[ids["scp-bad"]]["userIdentity"]["arn"]
    assert "FreezeS3Reads" in json.loads(bad["document"])["Statement"][1]["Sid"]
    assert changes[ids["inline-cut"]]["target_arn"] == f"arn:aws:iam::{timeline['workload']}:role/App"

    expected_roots = {
        "before": None,
        "during-scp": ("scp-bad", "scp-fixed"),
        "after-scp": ("inline-cut", "inline-back"),
        "bucket": ("bucket-deny", "bucket-back"),
    }
    for key, expected in expected_roots.items():
        row, document = reasons[ids[key]], analyzed[ids[key]]
        root, fixed = document["RootCause"], document.get("FixedBy")
        assert row["assessment_result"] == document["AssessmentResult"], key
        assert row["root_cause_event_id"] == (root and root["EventId"]), key
        assert row["fixed_by_event_id"] == (fixed and fixed["EventId"]), key
        if expected is None:
            root_columns = ("root_cause_time", "root_cause_changed_by", "root_cause_event_name")
            assert [row[column] for column in root_columns] == [None] * 3
            continue
        assert (row["root_cause_event_id"], row["fixed_by_event_id"]) == (ids[expected[0]], ids[expected[1]])
        assert row["root_cause_time"].strftime("%Y-%m-%dT%H:%M:%SZ") == root["EventTime"]
        assert row["root_cause_changed_by"] == root["ChangedBy"]
        assert row["root_cause_event_name"] == root["EventName"]
        assert row["root_cause_summary"] == root["Summary"]
        # The answer at the event's time differs from the snapshot's, and says so.
        assert "differ from the snapshot's" in row["notes"]
    assert reasons[ids["during-scp"]]["assessment_result"] == "Explicit deny in a service-control policy"
    # The view of the groups a change explains joins each to its change.
    connection = duckdb.connect()
    connection.execute(f"SET VARIABLE results = '{tmp_path / 'out'}'")
    connection.execute((Path(__file__).parents[2] / "sql" / "views.sql").read_text())
    explained = connection.sql("select root_cause_event_id, changed_policy_arn from root_causes").fetchall()
    assert sorted(explained) == sorted(
        [
            (ids["scp-bad"], timeline["scp_arn"]),
            (ids["inline-cut"], None),
            (ids["bucket-deny"], None),
        ]
    )

    # Worker processes build the same timeline from the changes' work file.
    in_processes = _run(logs, timeline, tmp_path / "out-processes", "processes")
    volatile = {"analyzed_at"}

    def comparable(rows):
        return sorted(tuple((k, str(v)) for k, v in row.items() if k not in volatile) for row in rows)

    assert comparable(in_processes) == comparable(reasons.values())


@pytest.mark.usefixtures("prefect_harness")
def test_run_evaluates_the_session_policy_the_session_was_created_with(timeline, tmp_path):
    """``run`` reads the AssumeRole that made a session (with moto's real key) in the scan
    that reads the session's denial, and the session policy decides it, as in ``analyze``."""
    rec, workload = timeline["recorder"], timeline["workload"]
    member = boto3.Session(**_credentials(boto3.Session(), workload, "OrganizationAccountAccessRole"))
    deny_get = ct.doc(
        {"Sid": "NoObjects", "Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
    )
    made = member.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{workload}:role/App", RoleSessionName="run-denying", Policy=ct.text(deny_get)
    )
    key = made["Credentials"]["AccessKeyId"]
    records = [
        ct.assume_role(workload, rec.tick(), "App", "run-denying", key, policy=deny_get, event_id="run-made"),
        ct.get_object_denied(
            workload,
            rec.tick(),
            "App",
            BUCKET,
            "run.csv",
            "run-denied",
            access_key=key,
            session="run-denying",
        ),
    ]
    logs = rec.deliver(tmp_path / "logs")
    (logs / "sessions.json").write_text(json.dumps({"Records": records}))

    reasons = {row["sample_event_id"]: row for row in _run(logs, timeline, tmp_path / "out", "threads")}

    denied = reasons["run-denied"]
    assert denied["assessment_result"] == "Explicit deny in a session policy"
    assert denied["statement_sid"] == "NoObjects"
    assert "run-made" in denied["reasons"]  # the policy is named after the call that passed it
