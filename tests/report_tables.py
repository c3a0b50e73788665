"""Small pipeline result tables (spec/interface.md, "Pipeline output tables") for report tests.

Two runs, ``dt=2025-03-01`` and ``dt=2025-03-02``, written with pyarrow in the
contract's schema. ``RULES`` is a suppression file whose first two rules match
the groups in ``SUPPRESSED`` and whose third rule has expired. Given ``changes``,
``reasons/`` gets the root-cause columns and a ``changes/`` table is written by the
pipeline's own writer (``analyzer.pipeline.changes.table``, the ``changes/`` columns of
``analyzer.result_tables``); without, the tables have the shape results had before root
causes were recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from analyzer.history.changes import PolicyChange
from analyzer.pipeline import changes as run_changes
from analyzer.pipeline import tables
from analyzer.result_tables import BACKLOG, DENIALS, REASONS, REASONS_ROOT_CAUSE

PREVIOUS, LATEST = "2025-03-01", "2025-03-02"
TODAY = date(2025, 3, 3)

APP = "arn:aws:iam::111111111111:role/App"
CI = "arn:aws:iam::111111111111:role/ci-deploy"
DEV = "arn:aws:iam::222222222222:user/dev"
SCP = "arn:aws:organizations::999999999999:policy/o-abc/service_control_policy/p-1"
NO_EC2 = "arn:aws:iam::222222222222:policy/NoEc2"

IDENTITY = "Missing allow in an identity-based policy"
SCP_DENY = "Explicit deny in a service-control policy"
IDENTITY_DENY = "Explicit deny in an identity-based policy"


@dataclass(frozen=True)
class Group:
    key: str
    principal: str
    action: str
    resource: str | None
    result: str
    policy_type: str | None = None
    policy_arn: str | None = None
    policy_name: str | None = None
    sid: str | None = None
    fix: str | None = None  # fix_policy as the pipeline writes it; default: an identity allow
    target: str | None = None  # attachment_target_arn; default: the principal
    root_cause: str | None = None  # the event id of the change that made it denied
    fixed_by: str | None = None
    summary: str | None = None  # the root cause's one-line diff

    @property
    def account(self) -> str:
        return self.principal.split(":")[4]


GROUPS = {
    group.key: group
    for group in [
        Group("g-get", APP, "s3:GetObject", "arn:aws:s3:::data/report.csv", IDENTITY, "identity"),
        Group(
            "g-kms",
            APP,
            "kms:Decrypt",
            "arn:aws:kms:us-east-1:111111111111:key/k1",
            SCP_DENY,
            "scp",
            SCP,
            "DenyRegions",
            "DenyKms",
        ),
        Group("g-list", CI, "s3:ListBucket", "arn:aws:s3:::probe-x", IDENTITY, "identity"),
        Group("g-sqs", APP, "sqs:SendMessage", "arn:aws:sqs:us-east-1:111111111111:q", IDENTITY, "identity"),
        Group("g-ec2", DEV, "ec2:RunInstances", None, IDENTITY_DENY, "identity", NO_EC2, "NoEc2", "DenyEc2"),
        Group(
            "g-put",
            DEV,
            "s3:PutObject",
            "arn:aws:s3:::data/x",
            SCP_DENY,
            "scp",
            SCP,
            "DenyRegions",
            "DenyWrites",
        ),
        Group("g-iam", DEV, "iam:CreateUser", "arn:aws:iam::222222222222:user/x", IDENTITY, "identity"),
    ]
}

# Events per group and run.
COUNTS = {
    PREVIOUS: {"g-get": 3, "g-list": 6, "g-ec2": 2, "g-iam": 2, "g-sqs": 1},
    LATEST: {"g-get": 5, "g-kms": 4, "g-list": 6, "g-sqs": 2, "g-ec2": 2, "g-put": 1},
}
SUPPRESSED = frozenset({"g-list", "g-sqs"})

RULES = """
suppressions:
  - principal: "arn:aws:iam::*:role/ci-*"
    action: "s3:List*"
    reason: CI checks that probe buckets exist
  - principal: arn:aws:iam::111111111111:role/App
    action: "SQS:Send*"
    account: "111111111111"
    reason: App retries to a queue it may not use yet
    expires: 2099-12-31
  - principal: arn:aws:iam::222222222222:user/*
    reason: old exception for developers
    expires: 2025-01-31
"""


# reasons/ as written before root causes were recorded: without the root-cause columns
# (nor the other regions' reasons, recorded later still).
_HISTORY = {*REASONS_ROOT_CAUSE.names, "root_cause_summary", "fixed_by_summary", "other_regions"}
LEGACY_REASONS = pa.schema([field for field in REASONS if field.name not in _HISTORY])


def change_row(
    event_id: str,
    event_time: datetime,
    changed_by: str | None,
    event_name: str,
    policy_type: str,
    policy_arn: str | None,
    target_arn: str | None,
    document: str | None,
    account: str = "999999999999",
) -> PolicyChange:
    """A policy change as the pipeline recognises it; ``write_results`` writes it to
    ``changes/`` with the pipeline's own writer, so these tables have its columns."""
    return PolicyChange(
        event_id, event_time, account, changed_by, event_name, policy_type, policy_arn, target_arn,
        document, previous_document=None, edits=(),
    )  # fmt: skip


def _policy(actions: list[str]) -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    )


def fix_to_add(policy_type: str, target: str, action: str, resource: str | None, **statement: object) -> str:
    """A reasons row's ``fix_policy`` for a missing allow: the pipeline's PoliciesToAdd list."""
    return json.dumps(
        [
            {
                "AttachmentTargetArn": target,
                "PolicyType": policy_type,
                "Policy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": action, "Resource": resource or "*", **statement}
                    ],
                },
            }
        ]
    )


def _default_fix(group: Group) -> str:
    """What the pipeline writes for the group: the identity allow or the suggested edit."""
    if group.result.startswith("Explicit deny"):
        return deny_edit(
            group.principal,
            group.policy_arn,
            f"Exempt {group.principal}",
            {"Sid": group.sid, "Effect": "Deny", "Action": group.action, "Resource": "*"},
        )
    return fix_to_add("identity", group.principal, group.action, group.resource)


def deny_edit(target: str, policy_arn: str | None, suggestion: str, statement: dict) -> str:
    """A reasons row's ``fix_policy`` for an explicit deny: the suggested edit."""
    return json.dumps(
        [
            {
                "AttachmentTargetArn": target,
                "PolicyArn": policy_arn,
                "Suggestion": suggestion,
                "SuggestedStatement": statement,
            }
        ]
    )


def _times(dt: str, count: int) -> list[datetime]:
    """The event times of a group's ``count`` events in run ``dt``: some fall on the day before."""
    start = datetime.fromisoformat(dt).replace(tzinfo=UTC)
    return [
        start - timedelta(hours=2) if number % 3 == 2 else start + timedelta(hours=number)
        for number in range(count)
    ]


def _denials(dt: str, groups: dict[str, Group], counts: dict[str, dict[str, int]]) -> pa.Table:
    rows = []
    for key, count in counts[dt].items():
        group = groups[key]
        # Some events fall on the day before the partition: the per-day chart spans days.
        for number, when in enumerate(_times(dt, count)):
            rows.append(
                {
                    "event_id": f"{dt}-{key}-{number}",
                    "event_time": when,
                    "account_id": group.account,
                    "region": "us-east-1",
                    "event_source": f"{group.action.split(':')[0]}.amazonaws.com",
                    "event_name": group.action.split(":")[1],
                    "error_code": "AccessDenied",
                    "error_message": "denied",
                    "principal_arn": group.principal,
                    "principal_type": "AssumedRole",
                    "action": group.action,
                    "resource_arn": group.resource,
                    "source_ip": "10.0.0.1",
                    "user_agent": "test",
                    "group_key": key,
                    "aws_policy_type": None,
                    "aws_policy_arn": None,
                    "authorization_id": None,
                }
            )
    return pa.Table.from_pylist(rows, schema=DENIALS)


def _reasons(
    dt: str,
    groups: dict[str, Group],
    counts: dict[str, dict[str, int]],
    changes: dict[str, PolicyChange] | None = None,
) -> pa.Table:
    analyzed = datetime.fromisoformat(dt).replace(tzinfo=UTC) + timedelta(days=1)
    rows = []
    for key, count in counts[dt].items():
        group = groups[key]
        cause = (changes or {}).get(group.root_cause or "")
        history = {
            "root_cause_event_id": group.root_cause,
            "root_cause_time": cause.event_time if cause else None,
            "root_cause_changed_by": cause.changed_by if cause else None,
            "root_cause_event_name": cause.event_name if cause else None,
            "fixed_by_event_id": group.fixed_by,
            "root_cause_summary": group.summary,
            "fixed_by_summary": None,
        }
        rows.append(
            {
                **(history if changes is not None else {}),
                "group_key": key,
                "principal_arn": group.principal,
                "account_id": group.account,
                "action": group.action,
                "resource_arn": group.resource,
                "event_count": count,
                "first_seen": min(_times(dt, count)),
                "last_seen": max(_times(dt, count)),
                "assessment_result": group.result,
                "policy_type": group.policy_type,
                "policy_arn": group.policy_arn,
                "policy_name": group.policy_name,
                "statement_sid": group.sid,
                "attachment_target_arn": group.target or group.principal,
                "fix_policy": group.fix or _default_fix(group),
                "snapshot_id": "snap-1",
                "analyzed_at": analyzed,
            }
        )
    schema = LEGACY_REASONS if changes is None else REASONS
    return pa.Table.from_pylist(rows, schema=schema)


def _backlog(dt: str, groups: dict[str, Group], counts: dict[str, dict[str, int]]) -> pa.Table:
    missing: dict[str, list[str]] = {}
    events: dict[str, int] = {}
    for key, count in counts[dt].items():
        group = groups[key]
        if group.result == IDENTITY:
            missing.setdefault(group.principal, []).append(group.action)
            events[group.principal] = events.get(group.principal, 0) + count
    rows = [
        {
            "principal_arn": principal,
            "account_id": principal.split(":")[4],
            "missing_actions": actions,
            "event_count": events[principal],
            "suggested_policy": _policy(actions),
        }
        for principal, actions in missing.items()
    ]
    return pa.Table.from_pylist(rows, schema=BACKLOG)


_WRITERS = {"denials": _denials, "backlog": _backlog}


def _write(root: Path, table: str, dt: str, rows: pa.Table) -> None:
    folder = root / table / f"dt={dt}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(rows, folder / "part-0.parquet")


def write_results(
    root: Path,
    runs: tuple[str, ...] = (PREVIOUS, LATEST),
    groups: dict[str, Group] | None = None,
    counts: dict[str, dict[str, int]] | None = None,
    changes: tuple[PolicyChange, ...] | None = None,
) -> Path:
    """Write every table's ``dt=`` partitions under ``root`` (the pipeline's ``--out``):
    ``GROUPS`` and ``COUNTS`` unless other groups and counts per run are given; with
    ``changes``, the root-cause columns and ``changes/`` (partitioned by event day)."""
    by_id = None if changes is None else {logged.event_id: logged for logged in changes}
    for dt in runs:
        for table, build in _WRITERS.items():
            _write(root, table, dt, build(dt, groups or GROUPS, counts or COUNTS))
        _write(root, "reasons", dt, _reasons(dt, groups or GROUPS, counts or COUNTS, by_id))
    if changes:
        tables.write_event_days(str(root), "changes", run_changes.table(changes), (), {})
    return root


def write_rules(path: Path) -> Path:
    path.write_text(RULES, encoding="utf-8")
    return path
