"""The ``analyze`` result for one event, in the original tool's JSON shape.

Original-compatible keys come first (``EventId``, ``AssessmentResult``,
``ResultDetails`` with ``PoliciesToAdd`` / ``ExplicitDenyPolicies``, and
``UnknownPolicies`` when part of the policies could not be read), then what this
project adds: ``Principal`` (the IAM identity, = ``aws:PrincipalArn``),
``PrincipalSessionArn``, ``Action``, ``Resource`` (from the event, on every
result), every ``Reason``, the ``ReasonCode``, missing condition keys and notes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from analyzer.engine.model import Decision, ReasonKind
from analyzer.events.messages import DenialHint
from analyzer.explain.explanation import Explanation, Finding
from analyzer.explain.registry import reason_info
from analyzer.explain.remediation import VERSION, Proposal

_EXPLICIT_FIRST = {Decision.EXPLICITLY_DENIED: 0, Decision.IMPLICITLY_DENIED: 1, Decision.ALLOWED: 2}


@dataclass(frozen=True, slots=True)
class NamedRequest:
    """An action and resource the event names, known even when nothing is explained."""

    action: str
    resource: str


@dataclass(frozen=True, slots=True)
class EventResult:
    """Everything ``analyze`` concludes about one denied event.

    ``principal`` is the IAM identity policies attach to (the role of a session),
    ``session_arn`` the session when there is one; ``requests`` are what the event
    names, so ``Error`` and ``Invalid action`` results still say who did what.
    """

    event_id: str
    principal: str | None = None
    explanations: tuple[Explanation, ...] = ()
    code: str | None = None  # set for INVALID_ACTION / ERROR results
    error_message: str | None = None
    notes: tuple[str, ...] = field(default=())
    session_arn: str | None = None
    requests: tuple[NamedRequest, ...] = ()
    hint: DenialHint | None = None  # what AWS's own error message said

    @property
    def primary(self) -> Explanation | None:
        """The action whose result the AssessmentResult reports: decided ones first,
        explicit denies first among them."""
        if not self.explanations:
            return None
        return min(self.explanations, key=lambda e: (not e.decided, _EXPLICIT_FIRST[e.evaluation.decision]))

    @property
    def reason_code(self) -> str:
        if self.code is not None:
            return self.code
        primary = self.primary
        return primary.code if primary is not None else "ERROR"

    @property
    def assessment_result(self) -> str:
        return reason_info(self.reason_code).assessment_result


def _aws_message(result: EventResult) -> dict[str, Any] | None:
    """What AWS's own error message said (policy type and ARN, deny kind, authorization
    id, whether EC2's encoded message was decoded, and the decoded text)."""
    hint = result.hint
    if hint is None or hint.is_empty:
        return None
    fields = {
        "PolicyType": str(hint.policy_type) if hint.policy_type else None,
        "PolicyArn": hint.policy_arn,
        "DenyKind": None
        if hint.explicit is None
        else "explicit deny"
        if hint.explicit
        else "no policy allows",
        "AuthorizationId": hint.authorization_id,
        "EncodedMessage": str(hint.decode_status) if hint.encoded_message else None,
        "DecodedMessage": hint.decoded_message,
    }
    return {key: value for key, value in fields.items() if value is not None} or None


def _explicit_deny_policy(finding: Finding) -> dict[str, Any]:
    attachment = finding.attachment
    reason = finding.reason
    policy = reason.policy
    return {
        "AttachmentTargetArn": attachment.target if attachment else None,
        "PolicyArn": (
            attachment.policy_arn if attachment and attachment.policy_arn else policy.arn if policy else None
        ),
        "PolicyName": (
            attachment.policy_name
            if attachment and attachment.policy_name
            else policy.name
            if policy
            else None
        ),
        "PolicyStatement": dict(reason.statement.source) if reason.statement else None,
    }


def _policies_to_add(proposals: Iterable[Proposal]) -> list[dict[str, Any]]:
    """One policy per (policy type, attachment target), statements of every action merged."""
    merged: dict[tuple[str, str, int | None], dict[str, Any]] = {}
    for proposal in proposals:
        key = (str(proposal.policy_type), proposal.target_arn, proposal.level)
        entry = merged.setdefault(
            key,
            {
                "AttachmentTargetArn": proposal.target_arn,
                "PolicyType": str(proposal.policy_type),
                "Policy": {"Version": VERSION, "Statement": []},
            },
        )
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
    if (rule := reason.rule) is not None:  # AWS's fixed rule: no policy to name
        out["Rule"] = rule.name
        out["Documentation"] = rule.documentation
        out["Remediation"] = finding.info.remediation
        return out
    if attachment is not None:
        out["AttachmentTargetArn"] = attachment.target
        out["PolicyArn"] = attachment.policy_arn
        out["PolicyName"] = attachment.policy_name
    elif reason.policy is not None:
        out["PolicyArn"] = reason.policy.arn
        out["PolicyName"] = reason.policy.name
    elif explanation.fix.via_role is not None:
        # the fix creates a role of the resource's account: its statements attach to that
        # role and to the caller, not where this policy type was missing
        out["Remediation"] = finding.info.remediation
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
                if edit.request_change:
                    out["RequestChange"] = edit.request_change
                out["SuggestedStatement"] = dict(edit.statement)
                out["SuggestionVerified"] = edit.verified
                out["SuggestionCheck"] = edit.check
    return out


def reasons_json(explanation: Explanation) -> list[dict[str, Any]]:
    """The ``Reasons`` entries of one explanation, as ``result_json`` renders them."""
    return [_reason(finding, explanation) for finding in explanation.findings]


def policies_to_add_json(explanations: Iterable[Explanation]) -> list[dict[str, Any]] | None:
    """``PoliciesToAdd``: the proposals of the implicitly denied explanations, merged;
    None when there are none (an explicit deny is lifted by editing it, not by adding)."""
    proposals = [
        p
        for e in explanations
        if e.evaluation.decision == Decision.IMPLICITLY_DENIED
        for p in e.fix.proposals
    ]
    return _policies_to_add(proposals) if proposals else None


def _actions(result: EventResult) -> list[dict[str, Any]]:
    """Every action of the event, with its own result when it was explained."""
    if result.explanations:
        return [
            {
                "Action": e.request.action,
                "Resource": e.request.resource,
                "Decision": str(e.evaluation.decision) if e.decided else None,
                "ReasonCode": e.code,
            }
            for e in result.explanations
        ]
    return [{"Action": r.action, "Resource": r.resource} for r in result.requests]


def result_json(result: EventResult) -> dict[str, Any]:
    out: dict[str, Any] = {"EventId": result.event_id, "AssessmentResult": result.assessment_result}
    primary = result.primary
    details: dict[str, Any] = {}
    findings = [(f, e) for e in result.explanations for f in e.findings]
    denies = [f for f, _ in findings if f.reason.kind == ReasonKind.EXPLICIT_DENY]
    rules = [(f, rule) for f in denies if (rule := f.reason.rule) is not None]
    if rules:
        details["ServiceRules"] = [
            {"Rule": rule.name, "Code": f.code, "Title": f.info.title, "Documentation": rule.documentation}
            for f, rule in rules
        ]
    if len(denies) > len(rules):
        details["ExplicitDenyPolicies"] = [_explicit_deny_policy(f) for f in denies if f.reason.rule is None]
    if to_add := policies_to_add_json(result.explanations):
        details["PoliciesToAdd"] = to_add
    unknown = list(dict.fromkeys(part for e in result.explanations for part in e.unknown))
    if unknown:
        details["UnknownPolicies"] = [part.to_json() for part in unknown]
    message = _aws_message(result)
    if message:
        details["AwsMessage"] = message
    if details:
        out["ResultDetails"] = details
    error_message = result.error_message
    if error_message is None and primary is not None and not primary.decided:
        error_message = "the known policies do not decide it; missing: " + "; ".join(
            part.missing for part in unknown
        )
    if error_message:
        out["ErrorMessage"] = error_message
    named = result.requests[0] if result.requests else None
    out["Principal"] = result.principal
    out["PrincipalSessionArn"] = result.session_arn
    out["Action"] = primary.request.action if primary else named.action if named else None
    out["Resource"] = primary.request.resource if primary else named.resource if named else None
    out["ReasonCode"] = result.reason_code
    out["Reasons"] = [reason for e in result.explanations for reason in reasons_json(e)]
    actions = _actions(result)
    if len(actions) > 1:
        out["Actions"] = actions
    missing = list(dict.fromkeys(k for e in result.explanations for k in e.missing_context_keys))
    if missing:
        out["MissingContextKeys"] = missing
    verified = [e.fix.verified for e in result.explanations if e.fix.verified is not None]
    if verified:
        out["FixVerified"] = all(verified)
        out["FixCheck"] = next(
            (e.fix.check for e in result.explanations if e.fix.verified is False), None
        ) or next(e.fix.check for e in result.explanations if e.fix.check)
    notes = list(dict.fromkeys([*result.notes, *(n for e in result.explanations for n in e.notes)]))
    if notes:
        out["Notes"] = notes
    return out
