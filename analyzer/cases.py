"""Evaluation cases (``spec/cases.md``): one request plus every policy that applies.

Each case is parsed on its own, so a malformed case becomes a ``CaseError``
naming the case and the problem while the other cases still evaluate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analyzer.actions import action_exists, rcp_supported_services
from analyzer.engine.evaluation import evaluate
from analyzer.engine.model import (
    Decision,
    Evaluation,
    PolicySet,
    PolicyType,
    Reason,
    ReasonKind,
    Request,
)
from analyzer.engine.policy import Policy, parse_policy
from analyzer.errors import AnalyzerError, CaseError

_REQUIRES_RESOURCE = {
    PolicyType.IDENTITY,
    PolicyType.PERMISSIONS_BOUNDARY,
    PolicyType.SESSION,
    PolicyType.SCP,
}


@dataclass(frozen=True, slots=True)
class Expected:
    decision: Decision
    denied_by: frozenset[PolicyType] | None


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    request: Request
    policies: PolicySet
    expected: Expected | None


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """The result of one case: an evaluation, or the error that prevented it."""

    name: str
    evaluation: Evaluation | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()
    expected: Expected | None = None

    @property
    def mismatch(self) -> str | None:
        """Why the outcome disagrees with ``expected`` (None when it agrees)."""
        if self.error is not None:
            return f"error: {self.error}"
        if self.expected is None or self.evaluation is None:
            return None
        got = self.evaluation
        if got.decision != self.expected.decision:
            return f"expected {self.expected.decision}, got {got.decision}"
        denied = frozenset(got.denied_by)
        if self.expected.denied_by is not None and denied != self.expected.denied_by:
            return f"expected deniedBy {sorted(self.expected.denied_by)}, got {sorted(denied)}"
        return None

    def to_json(self) -> dict[str, Any]:
        if self.evaluation is None:
            return {"name": self.name, "error": self.error}
        out: dict[str, Any] = {
            "name": self.name,
            "decision": str(self.evaluation.decision),
            "deniedBy": [str(t) for t in self.evaluation.denied_by],
            "reasons": [reason_json(r) for r in self.evaluation.reasons],
        }
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


def reason_json(reason: Reason) -> dict[str, Any]:
    """The ``simulate`` form of a reason (spec/cases.md)."""
    out: dict[str, Any] = {"policyType": str(reason.policy_type), "effect": str(reason.kind)}
    if reason.rule is not None:  # AWS's fixed rule: no policy, no statement
        out["rule"] = reason.rule.name
        return out
    if reason.level is not None:
        out["level"] = reason.level
    if reason.kind == ReasonKind.EXPLICIT_DENY:
        policy, statement = reason.policy, reason.statement
        out.update(
            {
                "policyIndex": reason.policy_index,
                "policyId": policy.policy_id if policy else None,
                "sid": statement.sid if statement else None,
                "statementIndex": statement.index if statement else None,
            }
        )
        if policy is not None and policy.arn:
            out["policyArn"] = policy.arn
    return out


def _policy(raw: Any, where: str, policy_type: PolicyType) -> Policy:
    return parse_policy(raw, where=where, require_resource=policy_type in _REQUIRES_RESOURCE)


def _policy_list(raw: Any, where: str, policy_type: PolicyType) -> tuple[Policy, ...]:
    if not isinstance(raw, list):
        raise CaseError(f"{where} must be a list of policies")
    return tuple(_policy(p, f"{where}[{i}]", policy_type) for i, p in enumerate(raw))


def _levels(raw: Any, where: str, policy_type: PolicyType) -> tuple[tuple[Policy, ...], ...]:
    if not isinstance(raw, list):
        raise CaseError(f"{where} must be a list of levels (lists of policies)")
    return tuple(_policy_list(level, f"{where}[{i}]", policy_type) for i, level in enumerate(raw))


def _policy_set(raw: Any) -> PolicySet:
    if not isinstance(raw, dict):
        raise CaseError("policies must be an object")

    def optional(key: str, build):
        value = raw.get(key)
        return None if value is None else build(value, f"policies.{key}")

    return PolicySet(
        identity=optional("identity", lambda v, w: _policy_list(v, w, PolicyType.IDENTITY)) or (),
        permissions_boundary=optional(
            "permissionsBoundary", lambda v, w: _policy(v, w, PolicyType.PERMISSIONS_BOUNDARY)
        ),
        session=optional("session", lambda v, w: _policy_list(v, w, PolicyType.SESSION)),
        scp=optional("scp", lambda v, w: _levels(v, w, PolicyType.SCP)),
        rcp=optional("rcp", lambda v, w: _levels(v, w, PolicyType.RCP)),
        resource=optional("resource", lambda v, w: _policy(v, w, PolicyType.RESOURCE)),
        endpoint=optional("endpoint", lambda v, w: _policy(v, w, PolicyType.ENDPOINT)),
    )


def _expected(raw: Any) -> Expected | None:
    if raw is None:
        return None
    try:
        denied = raw.get("deniedBy")
        return Expected(
            Decision(raw["decision"]),
            None if denied is None else frozenset(PolicyType(t) for t in denied),
        )
    except (KeyError, ValueError, AttributeError, TypeError) as error:
        raise CaseError(f"expected is malformed: {error}") from None


def _request(raw: Any) -> Request:
    if not isinstance(raw, dict):
        raise CaseError("request must be an object")
    action = raw.get("action")
    if not isinstance(action, str) or ":" not in action:
        raise CaseError(f"request.action must be 'service:Action', got {action!r}")
    resource = raw.get("resource", "*")
    if not isinstance(resource, str):
        raise CaseError("request.resource must be a string")
    context = raw.get("context") or {}
    if not isinstance(context, dict):
        raise CaseError("request.context must be an object")
    aws_managed = raw.get("resourceAwsManaged", False)
    if not isinstance(aws_managed, bool):
        raise CaseError("request.resourceAwsManaged must be true or false")
    return Request.build(
        raw.get("principal"), action, resource, raw.get("resourceAccount"), context, aws_managed
    )


def parse_case(raw: Any, index: int) -> Case:
    name = raw.get("name") if isinstance(raw, dict) else None
    label = name if isinstance(name, str) else f"#{index}"
    try:
        if not isinstance(raw, dict):
            raise CaseError("a case must be an object")
        return Case(
            label,
            _request(raw.get("request")),
            _policy_set(raw.get("policies")),
            _expected(raw.get("expected")),
        )
    except AnalyzerError as error:
        raise CaseError(f"case {label!r}: {error}") from None


def read_cases_file(path: Path) -> list[Any]:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as error:
        raise CaseError(f"{path}: cannot read ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise CaseError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise CaseError(f"{path}: expected a JSON array of cases")
    return data


def run_case(case: Case) -> CaseOutcome:
    warnings: tuple[str, ...] = ()
    if not action_exists(case.request.action):
        warnings = (
            f"unknown action {case.request.action!r}: not in AWS's service "
            "authorization data; the decision assumes it exists",
        )
    evaluation = evaluate(case.request, case.policies, rcp_supported_services())
    return CaseOutcome(case.name, evaluation, warnings=warnings, expected=case.expected)


def simulate(raw_cases: list[Any]) -> Iterator[CaseOutcome]:
    """Evaluate every case, in order; a malformed case yields an outcome with ``error``."""
    for index, raw in enumerate(raw_cases):
        try:
            case = parse_case(raw, index)
        except CaseError as error:
            name = raw.get("name") if isinstance(raw, dict) else None
            yield CaseOutcome(name if isinstance(name, str) else f"#{index}", error=str(error))
            continue
        yield run_case(case)
