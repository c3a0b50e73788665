"""Neighbouring requests that a least-privilege fix must leave as they were.

A fix that lets one request through is only least privilege if it lets nothing
else through: the edited deny statement must still deny the other principals,
actions and resources it denied before, and a proposed allow must not allow
others that were not allowed. ``neighbours`` builds a small sample of such
requests around the denied one, each differing in one dimension:

* principals: a role and a user of the caller's account, a role of another
  account, and the principals the statement itself names (``Principal``
  values and ``aws:PrincipalArn`` condition values, wildcards filled in);
* actions: other actions of the statement's ``Action`` patterns (from AWS's
  service authorization data, the request's service first);
* resources: other resources of the statement's ``Resource`` patterns, and a
  sibling of the requested resource. When the request itself names its resources by a
  pattern (an API acting on every database of a catalog, ``database/*``), what the
  pattern covers is the request, not a neighbour.

The sample is small and deterministic; it can show that a fix is too broad,
never prove that it is narrow.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum

from analyzer.actions import service_actions
from analyzer.engine.context import derive_context
from analyzer.engine.matching import Wildcard
from analyzer.engine.model import Request
from analyzer.engine.policy import Statement
from analyzer.engine.principals import parse_principal
from analyzer.engine.service_rules import permission_set_role_pattern

PROBE_NAME = "au-probe"
OTHER_ACCOUNT = "000000000000"  # reserved-looking id no real account uses
_PER_KIND = 4
_PRINCIPAL_KEYS = ("aws:principalarn", "aws:principalaccount", "aws:userid", "aws:username")


class Dimension(StrEnum):
    PRINCIPAL = "principal"
    ACTION = "action"
    RESOURCE = "resource"


ALL_DIMENSIONS = frozenset(Dimension)


@dataclass(frozen=True, slots=True)
class Probe:
    """A request like the denied one but for ``dimension`` = ``value``."""

    dimension: Dimension
    value: str
    request: Request


def _concrete(pattern: str, account: str | None) -> str:
    """A value ``pattern`` matches: the account wildcard becomes the caller's account,
    other wildcards a probe name."""
    parts = pattern.split(":", 5)
    if len(parts) == 6 and parts[4] in ("*", "?") and account:
        parts[4] = account
        pattern = ":".join(parts)
    return pattern.replace("*", PROBE_NAME).replace("?", "x")


def _as_list(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _named_principals(statement: Statement) -> Iterator[str]:
    principal = statement.source.get("Principal")
    if isinstance(principal, dict):
        yield from _as_list(principal.get("AWS"))
    for operator, block in (statement.source.get("Condition") or {}).items():
        if not isinstance(block, dict) or "Not" in operator:
            continue
        for key, values in block.items():
            if key.lower() == "aws:principalarn":
                yield from _as_list(values)


def as_principal(request: Request, arn: str) -> Request:
    """``request`` made by ``arn``: the principal keys of the context follow it. Probes use
    it for other callers, a fix through a role of the resource's account for that role."""
    principal = parse_principal(arn)
    keys = {"aws:principalaccount": principal.account, "aws:principalarn": arn} if principal.account else None
    return replace(
        request, principal=principal, context=derive_context(request.context, keys, drop=_PRINCIPAL_KEYS)
    )


def _same_permission_set_role(arn: str, own: frozenset[str]) -> bool:
    """Whether ``arn`` is the caller's own Identity Center role as Identity Center may
    re-create it (another suffix): a statement that admits it on purpose (a pattern that
    survives the re-creation) grants no one else."""
    return any(
        (pattern := permission_set_role_pattern(mine)) is not None and Wildcard.arn(pattern).matches(arn)
        for mine in own
    )


def _principal_probes(request: Request, statement: Statement, own: frozenset[str]) -> Iterator[Probe]:
    caller = request.principal
    partition, account = caller.partition, caller.account or OTHER_ACCOUNT
    candidates = [
        *(_concrete(value, account) for value in _named_principals(statement)),
        f"arn:{partition}:iam::{account}:role/{PROBE_NAME}",
        f"arn:{partition}:iam::{account}:user/{PROBE_NAME}",
        f"arn:{partition}:iam::{OTHER_ACCOUNT}:role/{PROBE_NAME}",
    ]
    for arn in dict.fromkeys(candidates):
        if arn not in own and arn.startswith("arn:") and not _same_permission_set_role(arn, own):
            yield Probe(Dimension.PRINCIPAL, arn, as_principal(request, arn))


def _action_probes(request: Request, statement: Statement) -> Iterator[Probe]:
    service = request.service
    patterns = [] if statement.not_action else _as_list(statement.source.get("Action"))
    if patterns and not any("*" in p or "?" in p for p in patterns):
        candidates: Iterable[str] = patterns  # listed actions: no need to search them
    else:
        services = [service, *sorted({p.split(":", 1)[0].lower() for p in patterns if ":" in p} - {service})]
        candidates = (action for prefix in services for action in service_actions(prefix))
    found = 0
    for action in candidates:
        if found >= _PER_KIND:
            return
        if action.lower() != request.action.lower() and statement.matches_action(action.lower()):
            found += 1
            yield Probe(Dimension.ACTION, action, replace(request, action=action))


def _sibling(resource: str) -> str | None:
    """The requested resource with its last name replaced: another object of the bucket,
    another item of the same type."""
    for separator in ("/", ":"):
        head, sep, tail = resource.rpartition(separator)
        if sep and tail and head.count(":") >= 5:
            return f"{head}{sep}{PROBE_NAME}"
    return None


def _resource_probes(request: Request, statement: Statement) -> Iterator[Probe]:
    if request.resource == "*":
        return
    account = request.principal.account
    patterns = [] if statement.not_resource else _as_list(statement.source.get("Resource"))
    candidates = [*(_concrete(p, account) for p in patterns if p != "*"), _sibling(request.resource)]
    requested = Wildcard.arn(request.resource)  # a pattern covers resources of the request's own
    found = 0
    for arn in dict.fromkeys(c for c in candidates if c):
        if found >= _PER_KIND:
            return
        if not requested.matches(arn):
            found += 1
            yield Probe(Dimension.RESOURCE, arn, replace(request, resource=arn))


def neighbours(
    request: Request,
    statement: Statement,
    own_principals: Iterable[str] = (),
    dimensions: Collection[Dimension] = ALL_DIMENSIONS,
) -> tuple[Probe, ...]:
    """Requests around ``request`` that ``statement`` may cover (see module docstring).

    ``own_principals`` are the caller's own ARNs (session, role): a principal probe
    never stands for the caller itself. Only probes of ``dimensions`` are built: a
    check that ignores a dimension (an identity policy's other principals) would
    otherwise pay for requests it throws away.
    """
    own = frozenset([request.principal.arn, *own_principals])
    return (
        *(_principal_probes(request, statement, own) if Dimension.PRINCIPAL in dimensions else ()),
        *(_action_probes(request, statement) if Dimension.ACTION in dimensions else ()),
        *(_resource_probes(request, statement) if Dimension.RESOURCE in dimensions else ()),
    )
