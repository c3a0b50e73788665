"""The ``analyze`` result for one event, in the original tool's JSON shape.

Original-compatible keys come first (``EventId``, ``AssessmentResult``,
``ResultDetails`` with ``PoliciesToAdd`` / ``ExplicitDenyPolicies``), then what
this project adds: ``Principal``, ``Action``, ``Resource``, every ``Reason``,
the ``ReasonCode``, missing condition keys and notes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from analyzer.engine.model import Decision, ReasonKind
from analyzer.explain.explanation import Explanation, Finding
from analyzer.explain.registry import reason_info
from analyzer.explain.remediation import VERSION, Proposal

_EXPLICIT_FIRST = {Decision.EXPLICITLY_DENIED: 0, Decision.IMPLICITLY_DENIED: 1,
                   Decision.ALLOWED: 2}


@dataclass(frozen=True, slots=True)
class EventResult:
    """Everything ``analyze`` concludes about one denied event."""

    event_id: str
    principal: str | None = None
    explanations: tuple[Explanation, ...] = ()
    code: str | None = None  # set for INVALID_ACTION / ERROR results
    error_message: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def primary(self) -> Explanation | None:
        """The action whose result the AssessmentResult reports: explicit denies first."""
        if not self.explanations:
            return None
        return min(self.explanations, key=lambda e: _EXPLICIT_FIRST[e.evaluation.decision])

    @property
    def reason_code(self) -> str:
        if self.code is not None:
            return self.code
        primary = self.primary
        return primary.code if primary is not None else "ERROR"

    @property
    def assessment_result(self) -> str:
        return reason_info(self.reason_code).assessment_result


def _explicit_deny_policy(finding: Finding) -> dict[str, Any]:
    attachment = finding.attachment
    reason = finding.reason
    policy = reason.policy
    return {
        "AttachmentTargetArn": attachment.target if attachment else None,
        "PolicyArn": (attachment.policy_arn if attachment and attachment.policy_arn
                      else policy.arn if policy else None),
        "PolicyName": (attachment.policy_name if attachment and attachment.policy_name
                       else policy.name if policy else None),
        "PolicyStatement": dict(reason.statement.source) if reason.statement else None,
    }


def _policies_to_add(proposals: Iterable[Proposal]) -> list[dict[str, Any]]:
    """One policy per (policy type, attachment target), statements of every action merged."""
    merged: dict[tuple[str, str, int | None], dict[str, Any]] = {}
    for proposal in proposals:
        key = (str(proposal.policy_type), proposal.target_arn, proposal.level)
        entry = merged.setdefault(key, {
            "AttachmentTargetArn": proposal.target_arn,
            "PolicyType": str(proposal.policy_type),
            "Policy": {"Version": VERSION, "Statement": []},
        })
        if proposal.policy_arn:
            entry["PolicyArn"] = proposal.policy_arn
        statement = dict(proposal.statement)
        if statement not in entry["Policy"]["Statement"]:
            entry["Policy"]["Statement"].append(statement)
    return list(merged.values())


def _reason(finding: Finding, explanation: Explanation) -> dict[str, Any]:
    reason, attachment = finding.reason, finding.attachment
    out: dict[str, Any] = {
        "Code": finding.code,
        "Action": explanation.request.action,
        "Resource": explanation.request.resource,
        "PolicyType": str(reason.policy_type),
        "Effect": str(reason.kind),
        "Title": finding.info.title,
    }
    if reason.level is not None:
        out["Level"] = reason.level
    if attachment is not None:
        out["AttachmentTargetArn"] = attachment.target
        out["PolicyArn"] = attachment.policy_arn
        out["PolicyName"] = attachment.policy_name
    elif reason.policy is not None:
        out["PolicyArn"] = reason.policy.arn
        out["PolicyName"] = reason.policy.name
    else:  # a missing allow with no policy to name: where the fix attaches
        for proposal in explanation.fix.proposals:
            if proposal.policy_type == reason.policy_type and proposal.level == reason.level:
                out["AttachmentTargetArn"] = proposal.target_arn
    if reason.kind == ReasonKind.EXPLICIT_DENY and reason.statement is not None:
        out["Sid"] = reason.statement.sid
        out["StatementIndex"] = reason.statement.index
        out["Statement"] = dict(reason.statement.source)
        for edit in explanation.fix.deny_edits:
            if edit.reason is reason:
                out["Suggestion"] = edit.suggestion
                out["SuggestedStatement"] = dict(edit.statement)
                out["SuggestionVerified"] = edit.verified
    return out


def result_json(result: EventResult) -> dict[str, Any]:
    out: dict[str, Any] = {"EventId": result.event_id,
                           "AssessmentResult": result.assessment_result}
    primary = result.primary
    details: dict[str, Any] = {}
    findings = [(f, e) for e in result.explanations for f in e.findings]
    denies = [f for f, _ in findings if f.reason.kind == ReasonKind.EXPLICIT_DENY]
    if denies:
        details["ExplicitDenyPolicies"] = [_explicit_deny_policy(f) for f in denies]
    proposals = [p for e in result.explanations
                 if e.evaluation.decision == Decision.IMPLICITLY_DENIED for p in e.fix.proposals]
    if proposals:
        details["PoliciesToAdd"] = _policies_to_add(proposals)
    if details:
        out["ResultDetails"] = details
    if result.error_message:
        out["ErrorMessage"] = result.error_message
    out["Principal"] = result.principal
    out["Action"] = primary.request.action if primary else None
    out["Resource"] = primary.request.resource if primary else None
    out["ReasonCode"] = result.reason_code
    out["Reasons"] = [_reason(f, e) for f, e in findings]
    if len(result.explanations) > 1:
        out["Actions"] = [{"Action": e.request.action, "Resource": e.request.resource,
                           "Decision": str(e.evaluation.decision), "ReasonCode": e.code}
                          for e in result.explanations]
    missing = list(dict.fromkeys(k for e in result.explanations for k in e.missing_context_keys))
    if missing:
        out["MissingContextKeys"] = missing
    verified = [e.fix.verified for e in result.explanations if e.fix.verified is not None]
    if verified:
        out["FixVerified"] = all(verified)
    notes = list(dict.fromkeys([*result.notes, *(n for e in result.explanations
                                                  for n in e.notes)]))
    if notes:
        out["Notes"] = notes
    return out
