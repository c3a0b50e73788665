"""One denied event, explained: the chain ``analyze`` and the pipeline share.

event → requests (one per IAM action) → policies from the snapshot (or live
AWS, or none at all in message-only mode) → engine → explanation. Policies that
cannot be read are explained as unknown parts (partial knowledge), not errors.
Any failure while explaining one event (a malformed policy, an AWS error, a
bug) becomes an ``Error`` result for that event only, with a one-line reason;
the caller goes on with the others. Every result names the principal, actions
and resources the event names.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from analyzer.actions import rcp_supported_services, service_prefix
from analyzer.engine.context import ContextValue, derive_context
from analyzer.engine.model import Decision, PolicyType, Request
from analyzer.engine.principals import PrincipalKind, parse_principal
from analyzer.errors import AnalyzerError
from analyzer.explain.explanation import Explanation, explain
from analyzer.explain.output import EventResult, NamedRequest
from analyzer.snapshot.applied import Unknown, split_findings

if TYPE_CHECKING:
    from analyzer.events.mapping import DeniedEvent
    from analyzer.events.sessions import SessionPolicies
    from analyzer.snapshot.applied import AppliedPolicies
    from analyzer.snapshot.index import PolicyResolver
    from analyzer.snapshot.sources import PolicySource

log = logging.getLogger(__name__)


def _endpoint(request: Request) -> tuple[str, str | None, str | None] | None:
    """(endpoint id, its account, region) when the request came through a VPC endpoint."""
    endpoint = request.context.get("aws:sourcevpce")
    if not isinstance(endpoint, str):
        return None
    owner = request.context.get("aws:vpceaccount")
    region = request.context.get("aws:requestedregion")
    return (endpoint, owner if isinstance(owner, str) else None, region if isinstance(region, str) else None)


def snapshot_context(request: Request, applied: AppliedPolicies, source: PolicySource) -> Request:
    """Add the global condition keys AWS always sets and the snapshot knows:
    principal tags, the principal's and the resource's organization id and paths,
    whether the caller is an AWS service, and the VPC of the endpoint the request
    went through. Keys the event carried win."""
    known: dict[str, ContextValue | list[str]] = {
        f"aws:PrincipalTag/{key}": value for key, value in applied.principal_tags.items()
    }
    known["aws:PrincipalIsAWSService"] = (
        "true" if request.principal.kind == PrincipalKind.SERVICE else "false"
    )
    organization = source.organization()
    if organization is not None:
        known.update(organization.context_keys(request.principal.account, "aws:Principal"))
        known.update(organization.context_keys(applied.resource_account, "aws:Resource"))
    if endpoint := _endpoint(request):
        vpc = (source.vpc_endpoint(*endpoint) or {}).get("VpcId")
        if vpc:
            known["aws:SourceVpc"] = vpc
    added: dict[str, ContextValue | list[str]] = {}
    for key, value in known.items():
        if (lowered := key.lower()) not in request.context:
            added.setdefault(lowered, value)
    return replace(request, context=derive_context(request.context, added))


def explain_request(
    request: Request,
    resolver: PolicyResolver,
    *,
    hint=None,
    principal_arn: str | None = None,
    warnings: tuple[str, ...] = (),
    session: SessionPolicies | None = None,
    propose_fixes: bool = True,
    unknown: tuple[Unknown, ...] = (),
) -> tuple[Explanation, AppliedPolicies]:
    """Gather the policies for one request and explain the engine's decision.
    ``session`` is the caller's session as the call that created it logged it;
    ``propose_fixes`` as in ``explain``; ``unknown``: parts the event itself leaves unknown
    (``caller_unknown``), beside those the resolver finds."""
    resource = resolver.canonical_resource(request.resource)
    if resource != request.resource:
        request = replace(request, resource=resource)
    if resolver.aws_managed_resource(request.resource):
        request = replace(request, resource_aws_managed=True)
    applied = resolver.policies_for(
        request.principal, request.resource, request.resource_account, request.action
    )
    if endpoint := _endpoint(request):
        policy, found = resolver.endpoint_policy(*endpoint, partition=request.principal.partition)
        endpoint_warnings, endpoint_unknown = split_findings(found)
        applied = replace(
            applied,
            endpoint=policy,
            warnings=(*applied.warnings, *endpoint_warnings),
            unknown=(*applied.unknown, *endpoint_unknown),
        )
    if session is not None and session.matters:
        applied = _with_session(applied, session, resolver, request)
    if unknown:
        applied = replace(applied, unknown=(*applied.unknown, *unknown))
    request = snapshot_context(request, applied, resolver.source)
    if applied.resource_account and not request.resource_account:
        request = replace(request, resource_account=applied.resource_account)
    explanation = explain(
        request,
        applied.policy_set,
        rcp_supported_services(),
        applied=applied,
        hint=hint,
        principal_arn=principal_arn,
        warnings=(*warnings, *applied.warnings),
        propose_fixes=propose_fixes,
    )
    return explanation, applied


def _with_session(
    applied: AppliedPolicies, session: SessionPolicies, resolver: PolicyResolver, request: Request
) -> AppliedPolicies:
    """``applied`` with the session's policies; those the log or the source cannot show
    are unknown parts, so the answer is partial rather than confident."""
    session_arn = session.session_arn or request.principal.arn
    found, unknown = resolver.session_policies(
        session_arn,
        session.account or request.principal.account,
        session.inline,
        session.managed_arns,
        session.origin,
    )
    if session.unknown is not None:
        unknown = (
            *unknown,
            Unknown(
                PolicyType.SESSION,
                session.account,
                f"session policies of {session_arn}",
                session.unknown + f" ({session.origin})",
                "ask whoever created the session which session policy it passed (CloudTrail did not log it)",
            ),
        )
    if session.federated:
        applied = _federating_user(applied, session, resolver, request)
    # A federation token passed no session policy grants nothing: the engine caps a
    # federated user by its session policies, none being an empty set.
    return replace(applied, session=found or None, unknown=(*applied.unknown, *unknown))


def _federating_user(
    applied: AppliedPolicies, session: SessionPolicies, resolver: PolicyResolver, request: Request
) -> AppliedPolicies:
    """A federated user's identity policies and boundary are those of the IAM user that
    called GetFederationToken, which the resolver alone cannot name (it knows only the
    federated user's ARN)."""
    user = parse_principal(session.created_by)
    if request.principal.kind != PrincipalKind.FEDERATED_USER or user.kind != PrincipalKind.USER:
        return applied
    own = resolver.policies_for(user, request.resource, request.resource_account, request.action)
    identity_types = (PolicyType.IDENTITY, PolicyType.PERMISSIONS_BOUNDARY)
    return replace(
        applied,
        identity=own.identity,
        permissions_boundary=own.permissions_boundary,
        unknown=(
            *(u for u in applied.unknown if u.policy_type not in identity_types),
            *(u for u in own.unknown if u.policy_type in identity_types),
        ),
    )


def _session_unread(event: DeniedEvent) -> bool:
    """Whether the caller's session could carry session policies that the logs read do not
    show: a temporary session whose creating call was not read. An IAM user's or the root
    user's temporary key (GetSessionToken, a console sign-in) carries none: AWS offers no
    way to pass one there."""
    caller = event.caller
    temporary = (caller.access_key_id or "").startswith("ASIA") or caller.identity_type in (
        "AssumedRole",
        "FederatedUser",
    )
    return not event.session_read and temporary and caller.identity_type not in ("IAMUser", "Root")


def _session_note(event: DeniedEvent, explanation: Explanation) -> str | None:
    """Where it matters, say that the caller's session policies could not be checked
    (``_session_unread``): when nothing else explains the denial or when AWS's message
    blames a session policy."""
    caller = event.caller
    if not _session_unread(event):
        return None
    blamed = event.hint.policy_type == PolicyType.SESSION
    if not blamed and explanation.evaluation.decision != Decision.ALLOWED:
        return None
    return (
        "the session's policies could not be checked: the call that created the session "
        f"(AssumeRole, GetFederationToken...; access key {caller.access_key_id or 'not logged'}) "
        "is not among the events read, or the one read with that key made another session"
    )


def one_line(error: BaseException) -> str:
    """An exception as one line: its type (unless it is ours) and its first line."""
    text = (str(error).strip().splitlines() or [""])[0][:500]
    if isinstance(error, AnalyzerError):
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def named_result(event: DeniedEvent) -> EventResult:
    """The result of ``event`` before any explanation: what the event itself names (the
    principal, its session, every action and resource, AWS's message). Every result,
    ``Error`` included, starts from it."""
    requests = tuple(NamedRequest(a.action, a.resource) for a in event.actions) or (
        # No IAM action: name the operation as the event does, and what AWS's message named.
        NamedRequest(f"{service_prefix(event.event_source)}:{event.event_name}", event.hint.resource or "*"),
    )
    return EventResult(
        event.event_id or f"{event.source}#{event.index}",
        event.caller.identity_arn,
        session_arn=event.caller.session_arn,
        requests=requests,
        hint=event.hint,
    )


# How to learn a session's policies the logs read do not show.
_SESSION_REMEDY = (
    "add the CloudTrail logs of the day the session was created (or ask its creator "
    "which session policy it passed)"
)


def caller_unknown(event: DeniedEvent) -> tuple[Unknown, ...]:
    """What the event leaves unknown of its caller.

    CloudTrail's ``AWSAccount`` identity names only the caller's account (a principal of
    another account; the root user is ``Root``), so the identity policies, boundary and
    session that decided the call are those of some principal there, which the event does
    not name. A federated user may do only what the session policy of its
    GetFederationToken call allows: with that call not read, the cap is unknown, not absent.
    Nor is it absent when AWS's message blames a session policy of a session whose creating
    call was not read (``_session_unread``): the message proves the session has one, so
    finding none to blame would be a guess ("the policies changed"), not an answer."""
    caller = event.caller
    unknown = []
    if caller.identity_type == "AWSAccount" and caller.account is not None:
        unknown.append(
            Unknown(
                PolicyType.IDENTITY,
                caller.account,
                f"identity policies of the caller in account {caller.account}",
                "CloudTrail names only the caller's account (an AWSAccount identity): the principal "
                "there, and so its policies, are not in the event",
                "read the event in the caller's own account's CloudTrail, which names the principal",
            )
        )
    if event.session is None and caller.principal.kind == PrincipalKind.FEDERATED_USER:
        unknown.append(
            Unknown(
                PolicyType.SESSION,
                caller.principal.account,
                f"session policies of {caller.principal.arn}",
                "the GetFederationToken call that created the session was not among the events read, "
                "or the one read with its key made another session",
                _SESSION_REMEDY,
            )
        )
    elif event.hint.policy_type == PolicyType.SESSION and _session_unread(event):
        unknown.append(
            Unknown(
                PolicyType.SESSION,
                caller.principal.account,
                f"session policies of {caller.session_arn or caller.principal.arn}",
                "AWS's message blames a session policy, and the call that created the session "
                f"(access key {caller.access_key_id or 'not logged'}) was not among the events read, "
                "or the one read with that key made another session",
                _SESSION_REMEDY,
            )
        )
    return tuple(unknown)


def analyze_event(
    event: DeniedEvent,
    resolver: PolicyResolver,
    *,
    propose_fixes: bool = True,
    unknown: tuple[Unknown, ...] = (),
) -> EventResult:
    """Explain every action of one denied event; never raises (see the module doc).
    ``propose_fixes`` as in ``explain_request``; ``unknown``: parts the caller knows to be
    unknown beside the event's own (a rebuilt state's, ``analyzer.history.root_cause``)."""
    named = named_result(event)
    if event.is_invalid_action:
        return replace(
            named, code="INVALID_ACTION", notes=tuple(filter(None, [event.invalid_reason, *event.warnings]))
        )
    if event.caller.unreadable:
        why = event.caller.unreadable
        return replace(named, code="ERROR", error_message=f"the caller cannot be told: {why}")
    explanations = []
    unknown = (*caller_unknown(event), *unknown)
    try:
        for request in event.requests():
            explanation, _ = explain_request(
                request,
                resolver,
                hint=event.hint,
                principal_arn=event.caller.role_arn or None,
                warnings=event.warnings,
                session=event.session,
                propose_fixes=propose_fixes,
                unknown=unknown,
            )
            if note := _session_note(event, explanation):
                explanation = replace(explanation, notes=(*explanation.notes, note))
            explanations.append(explanation)
    except Exception as error:  # any failure costs this event only: report it as its Error
        if not isinstance(error, AnalyzerError):
            log.debug("analysing %s failed", named.event_id, exc_info=True)
        return replace(named, code="ERROR", error_message=one_line(error))
    return replace(named, explanations=tuple(explanations))
