"""The report reads its tables from S3 (a moto server) through s3fs, honouring AWS_ENDPOINT_URL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import boto3
from report_tables import GROUPS, LATEST, SCP, change_row, write_results

from analyzer.report import build_report


def test_report_reads_s3_results(aws, tmp_path):
    local = write_results(tmp_path / "out")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="audit-results")
    for path in local.rglob("*.parquet"):
        s3.upload_file(str(path), "audit-results", f"nightly/{path.relative_to(local)}")
    report = build_report("s3://audit-results/nightly")
    assert report.runs.latest.isoformat() == LATEST
    assert report.totals.denials == build_report(str(local)).totals.denials == 20


def test_report_reads_the_changes_table_from_s3(aws, tmp_path):
    """``changes/`` is found on S3 too (DuckDB globs it through s3fs): the change behind a
    new denial is the same as from the local copy."""
    groups = {**GROUPS, "g-kms": replace(GROUPS["g-kms"], root_cause="ev-1")}
    change = change_row(
        "ev-1",
        datetime(2025, 3, 1, 21, tzinfo=UTC),
        "arn:aws:iam::1:user/x",
        "AttachPolicy",
        "scp",
        SCP,
        "ou-1",
        None,
    )
    local = write_results(tmp_path / "out", groups=groups, changes=(change,))
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="audit-changes")
    for path in local.rglob("*.parquet"):
        s3.upload_file(str(path), "audit-changes", f"nightly/{path.relative_to(local)}")
    causes = [
        g.root_cause for g in build_report("s3://audit-changes/nightly").new_denials.listed if g.root_cause
    ]
    assert causes == [g.root_cause for g in build_report(str(local)).new_denials.listed if g.root_cause]
    assert [(c.event_id, c.target_arn, c.logged) for c in causes] == [("ev-1", "ou-1", True)]
