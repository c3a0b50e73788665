"""The report reads its tables from S3 (a moto server) through s3fs, honouring AWS_ENDPOINT_URL."""

from __future__ import annotations

import boto3
from report_tables import LATEST, write_results

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
