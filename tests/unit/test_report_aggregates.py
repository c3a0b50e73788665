"""Report aggregates over small contract tables, checked against plain DuckDB queries."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from report_tables import (
    APP,
    COUNTS,
    DEV,
    LATEST,
    NO_EC2,
    PREVIOUS,
    SCP,
    SUPPRESSED,
    TODAY,
    fix_to_add,
    write_results,
    write_rules,
)

from analyzer.errors import ReportError
from analyzer.report import build_report
from analyzer.report.aggregates import _fixes, fix_kind, strip_actions
from analyzer.suppressions import load_suppressions


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return write_results(tmp_path_factory.mktemp("out"))


@pytest.fixture(scope="module")
def report(results, tmp_path_factory):
    rules = load_suppressions(write_rules(tmp_path_factory.mktemp("rules") / "s.yaml"), TODAY)
    return build_report(str(results), suppressions=rules)


def _sql(results: Path, table: str, query: str) -> list[tuple]:
    """``query`` over ``t``: one table's rows of the latest run, suppressed groups left out."""
    hidden = ", ".join(f"'{key}'" for key in sorted(SUPPRESSED))
    con = duckdb.connect()
    con.execute(
        f"CREATE VIEW t AS SELECT * FROM read_parquet('{results}/{table}/**/*.parquet', "
        f"hive_partitioning = true) WHERE CAST(dt AS VARCHAR) = '{LATEST}' "
        f"AND group_key NOT IN ({hidden})"
    )
    return con.execute(query).fetchall()


def test_totals(report, results):
    totals = report.totals
    assert totals.denials == sum(COUNTS[LATEST].values()) == 20
    assert totals.suppressed == 8
    assert totals.reported == _sql(results, "denials", "SELECT count(*) FROM t")[0][0] == 12
    assert totals.groups == 4
    assert (totals.principals, totals.accounts) == (2, 2)
    assert totals.previous_reported == 7
    assert totals.delta == 5
    assert (report.runs.latest.isoformat(), report.runs.previous.isoformat()) == (LATEST, PREVIOUS)


def test_breakdowns_equal_sql_over_denials(results, report):
    assert [(row.label, row.events) for row in report.top_principals] == _sql(
        results, "denials", "SELECT principal_arn, count(*) FROM t GROUP BY 1 ORDER BY 2 DESC"
    )
    assert [(row.label, row.events, row.groups) for row in report.by_account] == _sql(
        results,
        "denials",
        "SELECT account_id, count(*), count(DISTINCT group_key) FROM t GROUP BY 1 ORDER BY 2 DESC",
    )
    assert [(row.label, row.events) for row in report.top_actions][:2] == [
        ("s3:GetObject", 5),
        ("kms:Decrypt", 4),
    ]
    assert {row.label: row.events for row in report.by_result} == {
        "Explicit deny in a service-control policy": 5,
        "Missing allow in an identity-based policy": 5,
        "Explicit deny in an identity-based policy": 2,
    }
    assert sum(row.events for row in report.by_result) == report.totals.reported


def test_per_day_counts_every_run(report):
    assert [(day.day.isoformat(), day.events) for day in report.per_day] == [
        ("2025-02-28", 1),
        ("2025-03-01", 8),
        ("2025-03-02", 10),
    ]
    assert sum(day.events for day in report.per_day) == 12 + 7


def test_hot_spots_are_explicit_denies_by_statement(report):
    assert [(spot.policy_arn, spot.statement_sid, spot.groups, spot.events) for spot in report.hot_spots] == [
        (SCP, "DenyKms", 1, 4),
        (NO_EC2, "DenyEc2", 1, 2),
        (SCP, "DenyWrites", 1, 1),
    ]


def test_changes_since_the_previous_run(report):
    changes = report.changes
    assert (changes.new_groups, changes.resolved_groups, changes.changed_groups) == (2, 1, 1)
    assert [(c.action, c.after) for c in changes.new] == [("kms:Decrypt", 4), ("s3:PutObject", 1)]
    assert [(c.principal_arn, c.action, c.before) for c in changes.resolved] == [(DEV, "iam:CreateUser", 2)]
    assert [(c.action, c.before, c.after, c.delta) for c in changes.changed] == [("s3:GetObject", 3, 5, 2)]


def test_backlog_leaves_out_suppressed_actions_and_principals(report):
    assert report.backlog_principals == 1  # ci-deploy's only missing action is suppressed
    (entry,) = report.backlog
    assert (entry.principal_arn, entry.actions, entry.suppressed_actions) == (
        APP,
        ("s3:GetObject",),
        ("sqs:SendMessage",),
    )
    assert json.loads(entry.suggested_policy)["Statement"][0]["Action"] == ["s3:GetObject"]


def test_suppressed_counts_per_rule(report):
    assert [(count.rule.index, count.groups, count.events) for count in report.suppressed] == [
        (1, 1, 6),
        (2, 1, 2),
    ]
    assert len(report.warnings) == 1 and "rule 3 expired" in report.warnings[0]


def test_without_suppressions_nothing_is_hidden(results):
    report = build_report(str(results))
    assert report.totals.reported == report.totals.denials == 20
    assert report.backlog_principals == 2
    assert report.suppressed == () and report.warnings == ()


def test_previous_root_is_the_baseline(results, tmp_path):
    baseline = write_results(tmp_path / "last-week", runs=(LATEST,))
    report = build_report(str(results), previous=str(baseline))
    assert report.runs.previous.isoformat() == LATEST
    assert report.totals.delta == 0
    assert (report.changes.new_groups, report.changes.resolved_groups) == (0, 0)


def test_a_single_run_has_no_changes(tmp_path):
    report = build_report(str(write_results(tmp_path, runs=(LATEST,))))
    assert report.runs.previous is None and report.changes is None
    assert report.totals.delta is None


def test_missing_table_is_a_one_line_error(tmp_path):
    write_results(tmp_path)
    for part in (tmp_path / "backlog").rglob("*.parquet"):
        part.unlink()
    with pytest.raises(ReportError, match=r"backlog/: cannot read the Parquet table: .*No files"):
        build_report(str(tmp_path))


def test_missing_column_is_named(tmp_path):
    import pyarrow.parquet as pq

    write_results(tmp_path)
    for part in (tmp_path / "reasons").rglob("*.parquet"):
        pq.write_table(pq.read_table(part).drop_columns(["fix_policy"]), part)
    with pytest.raises(ReportError, match=r"reasons/: missing column\(s\) fix_policy"):
        build_report(str(tmp_path))


def test_strip_actions_keeps_other_statements():
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "SQS:SendMessage"], "Resource": "*"},
                {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"},
                {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
            ],
        }
    )
    stripped = json.loads(strip_actions(policy, ("sqs:sendmessage",)))
    assert stripped["Statement"] == [
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
    ]
    assert strip_actions("not json", ("x",)) == "not json"


def test_denials_partitioned_by_event_day_give_the_same_report(results, tmp_path):
    """The pipeline writes denials/ by the event's day and reasons/ by the run's day: the
    report must find each run's events all the same, and count each event once."""
    import shutil

    import pyarrow.parquet as pq

    moved = tmp_path / "out"
    shutil.copytree(results, moved)
    con = duckdb.connect()
    events = con.sql(
        f"SELECT * EXCLUDE (dt) FROM read_parquet('{results}/denials/**/*.parquet', hive_partitioning = true)"
    ).to_arrow_table()
    con.register("events", events)
    days = [row[0] for row in con.execute("SELECT DISTINCT CAST(event_time AS DATE) FROM events").fetchall()]
    shutil.rmtree(moved / "denials")
    for day in days:
        folder = moved / "denials" / f"dt={day}"
        folder.mkdir(parents=True)
        pq.write_table(
            con.sql(f"SELECT * FROM events WHERE CAST(event_time AS DATE) = DATE '{day}'").to_arrow_table(),
            folder / "part-0.parquet",
        )
    # A redelivered event (CloudTrail delivers at least once) is counted once.
    pq.write_table(
        con.sql("SELECT * FROM events LIMIT 1").to_arrow_table(),
        next((moved / "denials").iterdir()) / "part-1.parquet",
    )
    assert len(list((moved / "denials").iterdir())) == 3
    by_run, by_event_day = build_report(str(results)), build_report(str(moved))
    assert by_event_day.totals == by_run.totals
    assert by_event_day.runs.latest == by_run.runs.latest
    assert by_event_day.top_principals == by_run.top_principals
    assert by_event_day.changes == by_run.changes


@pytest.mark.parametrize(
    ("policy_type", "target", "kind"),
    [
        (
            "resource",
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "key policy",
        ),
        ("resource", "arn:aws:iam::111122223333:role/Ops", "trust policy"),
        ("resource", "arn:aws:s3:::reports", "resource policy"),
        ("identity", "arn:aws:iam::111122223333:role/App", "identity policy"),
        (
            "identity",
            "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_DataAnalyst_0123456789abcdef",
            "permission set DataAnalyst (inline policy)",
        ),
        ("scp", "ou-a1b2-pr0d0001", "SCP"),
    ],
)
def test_a_fix_is_named_for_where_a_user_puts_it(policy_type, target, kind):
    assert fix_kind(policy_type, target) == kind


def test_an_identity_center_permission_sets_fixes_are_one_entry_across_accounts():
    """Identity Center roles change only through their permission set, whose inline policy
    reaches every account it is assigned to: their fixes are one entry per permission set."""

    def sso(account: str, suffix: str) -> str:
        return (
            f"arn:aws:iam::{account}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_DataAnalyst_{suffix}"
        )

    first, second = sso("111122223333", "0123456789abcdef"), sso("444455556666", "fedcba9876543210")
    rows = [
        (first, "s3:GetObject", "arn:aws:s3:::reports-1/q1.csv", 5),
        (second, "s3:GetObject", "arn:aws:s3:::reports-4/q1.csv", 3),
        ("arn:aws:iam::111122223333:role/App", "sqs:SendMessage", "arn:aws:sqs:us-east-1:111122223333:q", 2),
    ]
    con = duckdb.connect()
    con.register(
        "reason_parts",  # the report's view of the latest run's groups, a reason each
        pa.table(
            {
                "group_key": [f"g{number}" for number in range(len(rows))],
                "principal_arn": [row[0] for row in rows],
                "action": [row[1] for row in rows],
                "event_count": [row[3] for row in rows],
                "fix_policy": [fix_to_add("identity", row[0], row[1], row[2]) for row in rows],
                "suppressed_by": pa.nulls(len(rows), pa.string()),
                "fixed_by_event_id": pa.nulls(len(rows), pa.string()),
                "assessment_result": ["Missing allow in an identity-based policy"] * len(rows),
            }
        ),
    )
    fixes, rest = _fixes(con, top=10)
    assert rest is None
    analyst, app = fixes
    assert analyst.kind == "permission set DataAnalyst (inline policy)"
    assert analyst.target == "its roles in 111122223333, 444455556666"
    assert (analyst.events, analyst.groups, analyst.principals) == (8, 2, 2)
    [statement] = json.loads(analyst.policy)["Statement"]  # one action: one statement
    assert statement["Resource"] == ["arn:aws:s3:::reports-1/q1.csv", "arn:aws:s3:::reports-4/q1.csv"]
    assert (app.kind, app.target) == ("identity policy", "arn:aws:iam::111122223333:role/App")
