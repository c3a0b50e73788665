"""One denied event, explained: the chain ``analyze`` and the pipeline share.

event → requests (one per IAM action) → policies from the snapshot (or live
AWS) → engine → explanation. A problem with one event (an unknown account, a
malformed policy) becomes an ``Error`` result for that event only; the
caller goes on with the others.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from analyzer.actions import rcp_supported_services
from analyzer.engine.context import ContextValue, normalize_context
from analyzer.engine.model import Request
from analyzer.engine.principals import PrincipalKind
from analyzer.errors import AnalyzerError
from analyzer.explain.explanation import Explanation, explain
from analyzer.explain.output import EventResult

if TYPE_CHECKING:
    from analyzer.events.mapping import DeniedEvent
    from analyzer.snapshot.index import AppliedPolicies, PolicyResolver, PolicySource

log = logging.getLogger(__name__)


def _endpoint(request: Request) -> tuple[str, str | None, str | None] | None:
    """(endpoint id, its account, region) when the request came through a VPC endpoint."""
    endpoint = request.context.get("aws:sourcevpce")
    if not isinstance(endpoint, str):
        return None
    owner = request.context.get("aws:vpceaccount")
    region = request.context.get("aws:requestedregion")
    return (endpoint, owner if isinstance(owner, str) else None,
            region if isinstance(region, str) else None)


def snapshot_context(request: Request, applied: AppliedPolicies,
                     source: PolicySource) -> Request:
    """Add the global condition keys AWS always sets and the snapshot knows:
    principal tags, the principal's and the resource's organization id and paths,
    whether the caller is an AWS service, and the VPC of the endpoint the request
    went through. Keys the event carried win."""
    known: dict[str, ContextValue | list[str]] = {
        f"aws:PrincipalTag/{key}": value for key, value in applied.principal_tags.items()}
    known["aws:PrincipalIsAWSService"] = (
        "true" if request.principal.kind == PrincipalKind.SERVICE else "false")
    organization = source.organization()
    if organization is not None:
        known.update(organization.context_keys(request.principal.account, "aws:Principal"))
        known.update(organization.context_keys(applied.resource_account, "aws:Resource"))
    if endpoint := _endpoint(request):
        vpc = (source.vpc_endpoint(*endpoint) or {}).get("VpcId")
        if vpc:
            known["aws:SourceVpc"] = vpc
    context = dict(request.context)
    for key, value in known.items():
        context.setdefault(key.lower(), value)
    return replace(request, context=normalize_context(context))


def explain_request(request: Request, resolver: PolicyResolver, *,
                    hint=None, principal_arn: str | None = None,
                    warnings: tuple[str, ...] = ()) -> tuple[Explanation, AppliedPolicies]:
    """Gather the policies for one request and explain the engine's decision."""
    resource = resolver.canonical_resource(request.resource)
    if resource != request.resource:
        request = replace(request, resource=resource)
    applied = resolver.policies_for(request.principal, request.resource,
                                    request.resource_account, request.action)
    if endpoint := _endpoint(request):
        policy, endpoint_warnings = resolver.endpoint_policy(
            *endpoint, partition=request.principal.partition)
        applied = replace(applied, endpoint=policy,
                          warnings=(*applied.warnings, *endpoint_warnings))
    request = snapshot_context(request, applied, resolver.source)
    if applied.resource_account and not request.resource_account:
        request = replace(request, resource_account=applied.resource_account)
    explanation = explain(
        request, applied.policy_set, rcp_supported_services(), applied=applied, hint=hint,
        principal_arn=principal_arn, warnings=(*warnings, *applied.warnings),
    )
    return explanation, applied


def analyze_event(event: DeniedEvent, resolver: PolicyResolver) -> EventResult:
    """Explain every action of one denied event; never raises for bad input."""
    event_id = event.event_id or f"{event.source}#{event.index}"
    if event.is_invalid_action:
        return EventResult(event_id, event.principal_arn, code="INVALID_ACTION",
                           notes=tuple(filter(None, [event.invalid_reason, *event.warnings])))
    explanations = []
    try:
        for request in event.requests():
            explanation, _ = explain_request(
                request, resolver, hint=event.hint,
                principal_arn=event.caller.role_arn or None, warnings=event.warnings,
            )
            explanations.append(explanation)
    except AnalyzerError as error:
        return EventResult(event_id, event.principal_arn, code="ERROR", error_message=str(error))
    except Exception as error:  # a bug must not stop the other events: report it as Error
        log.exception("analysing %s failed", event_id)
        return EventResult(event_id, event.principal_arn, code="ERROR",
                           error_message=f"internal error: {type(error).__name__}: {error}")
    return EventResult(event_id, event.principal_arn, tuple(explanations))
