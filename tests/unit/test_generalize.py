"""--generalize: opt-in merging of a principal's resources that share a path."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.explain.generalize import generalize_results, generalized
from analyzer.pipeline.work import backlog_rows

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        (
            ["arn:aws:s3:::b/reports/2024/q1.csv", "arn:aws:s3:::b/reports/2024/q2.csv"],
            "arn:aws:s3:::b/reports/2024/*",
        ),
        (["arn:aws:s3:::b/a.csv", "arn:aws:s3:::b/c.csv"], "arn:aws:s3:::b/*"),
        (["arn:aws:s3:::b1/a", "arn:aws:s3:::b2/a"], None),  # never across buckets
        (["arn:aws:dynamodb:us-east-1:1:table/A", "arn:aws:dynamodb:us-east-1:1:table/B"], None),
        (
            ["arn:aws:dynamodb:us-east-1:1:table/A/index/x", "arn:aws:dynamodb:us-east-1:1:table/A/index/y"],
            "arn:aws:dynamodb:us-east-1:1:table/A/index/*",
        ),
        (["arn:aws:s3:::b/a.csv"], None),  # one resource: nothing to merge
        (["arn:aws:s3:::b/a.csv", "*"], None),
    ],
)
def test_generalized(resources, expected):
    assert generalized(resources) == expected


def _document(resource):
    return {
        "FixVerified": True,
        "FixCheck": "verified: ...",
        "ResultDetails": {
            "PoliciesToAdd": [
                {
                    "AttachmentTargetArn": "arn:aws:iam::1:role/App",
                    "PolicyType": "identity",
                    "Policy": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": resource}],
                    },
                }
            ]
        },
    }


def test_results_are_generalized_per_principal_and_action():
    documents = generalize_results([_document("arn:aws:s3:::b/r/1"), _document("arn:aws:s3:::b/r/2")])
    for document in documents:
        statement = document["ResultDetails"]["PoliciesToAdd"][0]["Policy"]["Statement"][0]
        assert statement["Resource"] == "arn:aws:s3:::b/r/*"
        assert "--generalize" in document["Notes"][0]
        # Wider than the denials, so no longer verified as least privilege (it still was).
        assert document["FixVerified"] is False
        assert document["FixCheck"].startswith("not verified as least privilege: widened on request")
    alone = generalize_results([_document("arn:aws:s3:::b/r/1")])[0]
    assert alone["FixVerified"] is True and "Notes" not in alone


def test_backlog_generalizes_only_on_request():
    def reason(resource):
        return {
            "principal_arn": "arn:aws:iam::1:role/App",
            "account_id": "1",
            "event_count": 2,
            "reason_code": "NO_ALLOW_IDENTITY",
            "fix_policy": json.dumps(_document(resource)["ResultDetails"]["PoliciesToAdd"]),
        }

    rows = [reason("arn:aws:s3:::b/r/1"), reason("arn:aws:s3:::b/r/2")]
    [exact] = backlog_rows(rows)
    [merged] = backlog_rows(rows, generalize=True)
    assert json.loads(exact["suggested_policy"])["Statement"][0]["Resource"] == [
        "arn:aws:s3:::b/r/1",
        "arn:aws:s3:::b/r/2",
    ]
    assert json.loads(merged["suggested_policy"])["Statement"][0]["Resource"] == ("arn:aws:s3:::b/r/*")
    assert exact["event_count"] == merged["event_count"] == 4
    # A group a later logged change fixed needs nothing more.
    fixed = {**reason("arn:aws:s3:::b/r/3"), "fixed_by_event_id": "put-role-policy-later"}
    [same] = backlog_rows([*rows, fixed])
    assert same == exact


def test_analyze_generalize_flag(tmp_path):
    data = ROOT / "tests/data/analyze"
    records = json.loads((data / "events.json").read_text())["Records"]
    [missing] = [r for r in records if r["eventID"] == "ev-identity-missing"]
    second = json.loads(json.dumps(missing))
    second["eventID"] = "ev-identity-missing-2"
    second["requestParameters"]["key"] = "reports/q5.csv"
    path = tmp_path / "events.json"
    path.write_text(json.dumps({"Records": [missing, second]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "analyzer",
            "analyze",
            "--events-file",
            str(path),
            "--snapshot",
            str(data / "snapshot.json"),
            "--json",
            "--generalize",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    for result in json.loads(run.stdout):
        [fix] = result["ResultDetails"]["PoliciesToAdd"]
        assert fix["Policy"]["Statement"][0]["Resource"] == "arn:aws:s3:::data-bucket/reports/*"
