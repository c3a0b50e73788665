"""Message-only mode: a console-pasted event, no snapshot, no AWS credentials.

``analyze`` must still name the principal (the role, not the session), the action and
the resource, say what AWS's message says and propose the fix it supports, exit 0,
and touch no network except botocore's short instance-metadata probe.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "111122223333"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/App/i-0abc"
TABLE = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/Orders"
# One event as the CloudTrail console's "View event" shows it.
EVENT = {
    "eventVersion": "1.09",
    "userIdentity": {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLE:i-0abc",
        "arn": SESSION,
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLE",
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:role/service/App",
                "userName": "App",
            }
        },
    },
    "eventTime": "2026-11-23T10:14:00Z",
    "eventSource": "dynamodb.amazonaws.com",
    "eventName": "GetItem",
    "awsRegion": "eu-west-1",
    "sourceIPAddress": "10.0.0.1",
    "userAgent": "aws-sdk-java",
    "errorCode": "AccessDeniedException",
    "errorMessage": f"User: {SESSION} is not authorized to perform: dynamodb:GetItem on "
    f"resource: {TABLE} because no identity-based policy allows the "
    "dynamodb:GetItem action",
    "requestParameters": {"tableName": "Orders", "key": {"id": {"S": "1"}}},
    "responseElements": None,
    "eventID": "ev-console-1",
    "eventType": "AwsApiCall",
    "recipientAccountId": ACCOUNT,
}


def _check(result: dict) -> None:
    assert result["Principal"] == f"arn:aws:iam::{ACCOUNT}:role/service/App"
    assert result["PrincipalSessionArn"] == SESSION
    assert (result["Action"], result["Resource"]) == ("dynamodb:GetItem", TABLE)
    assert result["AssessmentResult"] == "Missing allow in an identity-based policy"
    details = result["ResultDetails"]
    assert details["AwsMessage"] == {"PolicyType": "identity", "DenyKind": "no policy allows"}
    [fix] = details["PoliciesToAdd"]
    assert fix["AttachmentTargetArn"] == f"arn:aws:iam::{ACCOUNT}:role/service/App"
    assert fix["Policy"]["Statement"] == [
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE}
    ]
    assert all("no snapshot and no AWS credentials" in part["Reason"] for part in details["UnknownPolicies"])


@pytest.fixture
def event_file(tmp_path: Path) -> Path:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(EVENT, indent=2))
    return path


def _no_aws_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "nothing"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "nothing"),
    }


def test_console_event_without_snapshot_or_credentials(event_file, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "analyzer", "analyze", "--events-file", str(event_file), "--json"],
        capture_output=True,
        text=True,
        env={**_no_aws_env(tmp_path), "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    [result] = json.loads(run.stdout)
    _check(result)
    assert "no snapshot and no AWS credentials" in run.stderr
    assert "Traceback" not in run.stderr


def test_message_only_mode_opens_no_connection(event_file, tmp_path, monkeypatch):
    """Only the link-local instance-metadata probe may be tried (short, one attempt)."""
    from analyzer.cli import main

    for key in [key for key in os.environ if key.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in _no_aws_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    attempted: list[object] = []
    real_connect = socket.socket.connect

    def connect(self, address):
        attempted.append(address)
        if isinstance(address, tuple) and str(address[0]).startswith("169.254.169.254"):
            raise OSError("no instance metadata here")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    run = CliRunner().invoke(main, ["analyze", "--events-file", str(event_file), "--json"])
    assert run.exit_code == 0, run.output
    [result] = json.loads(run.stdout)
    _check(result)
    assert all(str(address[0]).startswith("169.254.169.254") for address in attempted)
