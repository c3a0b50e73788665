"""A small recorded night with a snapshot on each side of it, for the pipeline's history
tests (the stages in ``tests/unit``, the ``run`` command in ``tests/e2e``).

At 04:00 a PutRolePolicy cut role App's s3:GetObject (CloudTrail logs only the new
document); at 04:30 App was denied reading data/a.csv, with the message AWS now writes.
The morning's snapshot (after the night) has the cut policy; the previous night's (before
it) still has the allow.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import cloudtrail_changes as ct

from analyzer.snapshot.model import new_snapshot_data, write_snapshot

ACCOUNT = "111111111111"
CUT_ID, DENIAL_ID = "inline-cut", "deny-1"


def role_snapshot(path: Path, collected_at: str, inline: dict, bucket_policy: dict | None = None) -> Path:
    """An account whose role App has ``inline`` as its policy Reads (and whose bucket data
    has ``bucket_policy``), written to ``path``."""
    role = {
        "RoleName": "App",
        "Arn": f"arn:aws:iam::{ACCOUNT}:role/App",
        "RolePolicyList": [{"PolicyName": "Reads", "PolicyDocument": inline}],
        "AttachedManagedPolicies": [],
        "AssumeRolePolicyDocument": ct.doc(),
    }
    account = ct.role_account(role, {} if bucket_policy is None else {"arn:aws:s3:::data": bucket_policy})
    write_snapshot(new_snapshot_data({ACCOUNT: account}, None, collected_at), path)
    return path


@dataclass(frozen=True)
class AllowCutNight:
    logs: Path
    morning: Path  # collected after the night
    previous: Path  # collected before it


def allow_cut_night(folder: Path) -> AllowCutNight:
    """The night of 2026-11-24 (see the module docstring), written under ``folder``."""
    cut = ct.put_role_policy(ACCOUNT, "2026-11-24T04:00:00Z", "App", "Reads", ct.list_only("data"))
    cut["eventID"] = CUT_ID
    denied = ct.with_message(
        ct.get_object_denied(ACCOUNT, "2026-11-24T04:30:00Z", "App", "data", "a.csv", DENIAL_ID),
        "because no identity-based policy allows the s3:GetObject action",
    )
    (folder / "logs").mkdir(parents=True)
    (folder / "logs" / "night.json.gz").write_bytes(
        gzip.compress(json.dumps({"Records": [cut, denied]}).encode())
    )
    return AllowCutNight(
        folder / "logs",
        role_snapshot(folder / "morning.json", "2026-11-25T06:00:00Z", ct.list_only("data")),
        role_snapshot(folder / "previous.json", "2026-11-23T06:00:00Z", ct.reads("data")),
    )
