"""What `run`'s tables say when part of the policies could not be read: the reason row
names the unknown parts (``unknown_policies``, analyze's UnknownPolicies), and so does the
backlog row its fix goes into, since the suggestion then rests on the known policies only
(found by a held-out probe: a role whose boundary the snapshot lacks got a backlog row and
``fix_verified`` true that read like any other, while its real boundary did not allow the
action)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from click.testing import CliRunner
from test_pipeline_regions import APP, MEMBER, _denied, _reasons, _snapshot

from analyzer.cli import main


def test_a_fix_over_an_unknown_boundary_says_so_in_the_reasons_and_the_backlog(tmp_path):
    data = _snapshot()
    [role] = data["accounts"][MEMBER]["authorizationDetails"]["RoleDetailList"]
    missing = f"arn:aws:iam::{MEMBER}:policy/NotCollected"
    role["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": missing}
    events = [
        _denied("dynamodb.amazonaws.com", "ListTables", "us-east-1", 1, "tables"),
        _denied("sqs.amazonaws.com", "ListQueues", "us-east-1", 2, "queues"),
    ]

    rows = _reasons(tmp_path, events, data)

    for row in rows:
        assert row["reason_code"] == "NO_ALLOW_IDENTITY"  # a boundary cannot grant: definite
        [part] = json.loads(row["unknown_policies"])
        assert part["PolicyType"] == "permissionsBoundary" and missing in part["Missing"], part
    [backlog] = pq.read_table(tmp_path / "out" / "backlog").to_pylist()
    assert backlog["principal_arn"] == APP
    assert backlog["missing_actions"] == ["dynamodb:ListTables", "sqs:ListQueues"]
    assert json.loads(backlog["unknown_policies"]) == [part]  # each part once


def test_rows_over_known_policies_name_no_unknown_part(tmp_path):
    rows = _reasons(tmp_path, [_denied("dynamodb.amazonaws.com", "ListTables", "us-east-1", 1, "t")])
    assert [row["unknown_policies"] for row in rows] == [None]
    [backlog] = pq.read_table(tmp_path / "out" / "backlog").to_pylist()
    assert backlog["unknown_policies"] is None


def test_the_views_read_older_results_without_the_column_beside_newer_ones(tmp_path):
    """An older run's partitions lack ``unknown_policies``: the views read them as null
    beside the newer ones (DuckDB takes the first file's columns unless told to unite them,
    which dropped the newer column from every partition)."""
    _reasons(tmp_path, [_denied("dynamodb.amazonaws.com", "ListTables", "us-east-1", 1, "t")])
    for table in ("reasons", "backlog"):
        [part] = (tmp_path / "out" / table).glob("dt=*/*.parquet")
        older = tmp_path / "out" / table / "dt=2000-01-01" / "part-0.parquet"
        older.parent.mkdir()
        pq.write_table(pq.read_table(part).drop_columns(["unknown_policies"]), older)
    for table in ("reasons", "backlog"):
        sql = f"select dt, unknown_policies from {table} order by dt"
        results = str(tmp_path / "out")
        result = CliRunner().invoke(main, ["query", "--results", results, "--output", "json", sql])
        assert result.exit_code == 0, result.output
        assert [row["unknown_policies"] for row in json.loads(result.stdout)] == [None, None]
        assert len({row["dt"] for row in json.loads(result.stdout)}) == 2
