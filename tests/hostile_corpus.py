"""CloudTrail events, a snapshot and log files built from tests/data/hostile/payloads.json.

Each payload lands where an outsider can put it: the object key of a denied S3
request (and so the resource ARN), the user agent, the error message quoting
the key, the event id, and, in the snapshot, the name of the denying inline
policy and its statement's Sid. The logs for ``run`` also hold the PutRolePolicy that
put that policy in force before the denials, with the same payloads and a hostile
caller and event id, so the root cause the report names is data too. Keys under
``deny/`` meet that explicit deny; the others miss an allow, so both the deny table and
the proposed policy show data.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import cloudtrail_changes as ct

PAYLOADS: dict[str, str] = json.loads((Path(__file__).parent / "data/hostile/payloads.json").read_text())
ACCOUNT = "123456789012"
BUCKET = "victim-bucket"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/App"
DAY = "2026-11-23"


@dataclass(frozen=True)
class Corpus:
    events_dir: Path  # one JSON file per payload, named after it (file names are data too)
    broken_file: Path  # an unreadable file with a hostile name: its warning quotes the name
    logs_root: Path  # the same events as S3-delivery .json.gz files, for `run`
    snapshot: Path


def file_name(name: str, payload: str) -> str:
    """A hostile but legal file name: no '/', no NUL, at most 200 bytes."""
    cleaned = payload.replace("/", "∕").replace("\0", "")
    return f"{name}-{cleaned}"[:60]


def _event(index: int, name: str, payload: str, denied_key: bool) -> dict:
    key = ("deny/" if denied_key else "") + payload
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAAPP:s-1",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/App/s-1",
            "accountId": ACCOUNT,
            "accessKeyId": "ASIAEXAMPLE",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAAPP",
                    "arn": ROLE,
                    "accountId": ACCOUNT,
                    "userName": "App",
                },
                "attributes": {"creationDate": f"{DAY}T09:00:00Z", "mfaAuthenticated": "false"},
            },
        },
        "eventTime": f"{DAY}T10:{index % 60:02d}:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.10",
        "userAgent": payload,
        "requestParameters": {"bucketName": BUCKET, "key": key},
        "responseElements": None,
        "requestID": f"req-{index}",
        "eventID": f"ev-{index}-{payload}",
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": False,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Data",
        "errorCode": "AccessDenied",
        "errorMessage": f"User: {ROLE} is not authorized to perform: s3:GetObject on "
        f"resource: arn:aws:s3:::{BUCKET}/{key} ({payload})",
        "resources": [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{BUCKET}/{key}"}],
    }


POLICY_NAME = PAYLOADS["markdown_link"] + PAYLOADS["html_img"] + PAYLOADS["bidi_rlo"]
CHANGE_ID = "change-" + PAYLOADS["attr_break"]


def change_event() -> dict:
    """The PutRolePolicy that put the denying inline policy in force before the denials,
    as CloudTrail logs it (tests/data/history/README.md): its name, Sid and event id are
    the payloads, so the root cause the report shows is data too."""
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAADMIN:" + PAYLOADS["html_script"],
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/" + PAYLOADS["html_script"],
            "accountId": ACCOUNT,
        },
        "eventTime": f"{DAY}T09:30:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "PutRolePolicy",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.10",
        "userAgent": PAYLOADS["ansi_color"],
        "requestParameters": {
            "roleName": "App",
            "policyName": POLICY_NAME,
            "policyDocument": json.dumps(_role_policy()),
        },
        "responseElements": None,
        "requestID": "req-change",
        "eventID": CHANGE_ID,
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }


def events() -> list[dict]:
    return [
        _event(2 * i + denied, name, payload, bool(denied))
        for i, (name, payload) in enumerate(PAYLOADS.items())
        for denied in (0, 1)
    ]


def _role_policy() -> dict:
    statements = [
        {"Sid": "List", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}"}
    ]
    hostile_sid = {
        "Sid": PAYLOADS["rich_markup"] + PAYLOADS["html_script"] + PAYLOADS["osc8_link"],
        "Effect": "Deny",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/deny/*",
    }
    return {"Version": "2012-10-17", "Statement": [*statements, hostile_sid]}


def snapshot() -> dict:
    role = {
        "Path": "/",
        "RoleName": "App",
        "RoleId": "AROAAPP",
        "Arn": ROLE,
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        },
        "RolePolicyList": [{"PolicyName": POLICY_NAME, "PolicyDocument": _role_policy()}],
        "AttachedManagedPolicies": [],
        "Tags": [],
        "InstanceProfileList": [],
    }
    return {
        "format": "access-undenied-snapshot/1",
        "collectedAt": f"{DAY}T12:00:00Z",
        "accounts": {ACCOUNT: ct.role_account(role)},
    }


def write(root: Path) -> Corpus:
    root.mkdir(parents=True, exist_ok=True)
    events_dir = root / "events"
    events_dir.mkdir()
    logs_day = root / "logs/AWSLogs" / ACCOUNT / "CloudTrail/us-east-1" / DAY.replace("-", "/")
    logs_day.mkdir(parents=True)
    records = events()
    names = list(PAYLOADS.items())
    for i, (name, payload) in enumerate(names):
        pair = records[2 * i : 2 * i + 2]
        (events_dir / (file_name(name, payload) + ".json")).write_text(json.dumps({"Records": pair}))
        with gzip.open(logs_day / (file_name(name, payload) + ".json.gz"), "wt") as handle:
            json.dump({"Records": pair}, handle)
    with gzip.open(logs_day / "policy-change.json.gz", "wt") as handle:
        json.dump({"Records": [change_event()]}, handle)
    broken = events_dir / (file_name("broken", PAYLOADS["clear_screen"] + PAYLOADS["rich_markup"]) + ".json")
    broken.write_text('{"Records": [')
    snapshot_file = root / "snapshot.json"
    snapshot_file.write_text(json.dumps(snapshot()))
    return Corpus(events_dir, broken, root / "logs", snapshot_file)
