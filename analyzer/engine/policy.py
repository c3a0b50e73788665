"""Policy documents parsed once into frozen, pre-compiled types.

``parse_policy`` accepts a document as AWS does (a JSON object, a JSON string,
or the URL-encoded string IAM's APIs return), validates it against the policy
grammar, and compiles every wildcard, variable and condition so that
evaluation does no parsing. Compiled statements are cached by the document's
content hash, so the same managed policy attached to a thousand roles is
compiled once.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from analyzer.engine.conditions import Condition, parse_conditions
from analyzer.engine.context import ContextValue
from analyzer.engine.matching import Wildcard, protect
from analyzer.engine.principals import PrincipalSpec
from analyzer.engine.variables import Template, Variable, parse_template
from analyzer.errors import PolicyParseError

VARIABLES_VERSION = "2012-10-17"
_STATEMENT_KEYS = frozenset(
    {
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Principal",
        "NotPrincipal",
        "Condition",
    }
)


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True, slots=True)
class ResourcePattern:
    """One ``Resource`` entry; compiled now unless it holds policy variables."""

    template: Template
    compiled: Wildcard | None

    def matches(self, arn: str, context: Mapping[str, ContextValue]) -> bool:
        """An entry naming a variable the request lacks "will not match any resource"
        (AWS, "Policy variables with no value"): in NotResource it exempts none."""
        if self.compiled is not None:
            return self.compiled.matches(arn)
        rendered = self.template.render(context, value=protect)
        return rendered is not None and Wildcard.arn(rendered).matches(arn)


@dataclass(frozen=True, slots=True)
class Statement:
    index: int
    sid: str | None
    effect: Effect
    actions: tuple[Wildcard, ...]
    not_action: bool
    resources: tuple[ResourcePattern, ...] | None  # None: the element is absent
    not_resource: bool
    principal: PrincipalSpec | None  # None: the element is absent
    not_principal: bool
    conditions: tuple[Condition, ...]
    source: Mapping[str, Any]
    # matches_action's answers by action: a least-privilege check tests the same
    # statement against the same actions for group after group, and the answer
    # depends on the action alone. Bounded, like CompiledDocument's, by the actions
    # a process evaluates.
    _action_hits: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)
    # The request-context keys deciding whether the statement applies may read: its
    # condition keys and the variables of its Resource entries and condition values.
    # Nothing else of the context is read, so a request differing only in other keys
    # gets the same answer from it.
    keys_read: frozenset[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        templates = [pattern.template for pattern in self.resources or ()]
        templates += [value.template for condition in self.conditions for value in condition.values]
        variables = {
            part.key for template in templates for part in template.parts if isinstance(part, Variable)
        }
        object.__setattr__(self, "keys_read", frozenset({*self.condition_keys, *variables}))

    def matches_action(self, action: str) -> bool:
        """``action`` must already be lower-case: action names are case-insensitive."""
        hit = self._action_hits.get(action)
        if hit is None:
            hit = any(pattern.matches(action) for pattern in self.actions) != self.not_action
            self._action_hits[action] = hit
        return hit

    def matches_resource(self, arn: str, context: Mapping[str, ContextValue]) -> bool:
        """A statement without Resource (trust policies, some resource policies)
        applies to the resource the policy is attached to."""
        if self.resources is None:
            return True
        hit = any(pattern.matches(arn, context) for pattern in self.resources)
        return hit != self.not_resource

    def conditions_hold(self, context: Mapping[str, ContextValue]) -> bool:
        return all(condition.evaluate(context) for condition in self.conditions)

    @property
    def condition_keys(self) -> frozenset[str]:
        return frozenset(condition.key for condition in self.conditions)


class CompiledDocument:
    """The compiled statements of one document, shared by every Policy with that content.

    ``statements_for`` memoizes which statements an action can match: the same
    few hundred actions are evaluated against the same managed policies again
    and again, and action matching is independent of the request otherwise.
    """

    __slots__ = ("_by_action", "statements", "version")

    def __init__(self, statements: tuple[Statement, ...], version: str | None):
        self.statements = statements
        self.version = version
        self._by_action: dict[str, tuple[Statement, ...]] = {}

    def statements_for(self, action: str) -> tuple[Statement, ...]:
        """Statements whose Action/NotAction covers ``action`` (lower-case)."""
        found = self._by_action.get(action)
        if found is None:
            found = tuple(s for s in self.statements if s.matches_action(action))
            self._by_action[action] = found
        return found


@dataclass(frozen=True, slots=True)
class Policy:
    """A parsed policy plus where it comes from (filled in by the snapshot)."""

    compiled: CompiledDocument
    content_hash: str
    document: Mapping[str, Any]
    policy_id: str | None = None  # the document's Id, an SCP's p-..., a managed policy id
    arn: str | None = None
    name: str | None = None

    @property
    def statements(self) -> tuple[Statement, ...]:
        return self.compiled.statements

    @property
    def version(self) -> str | None:
        return self.compiled.version

    def statements_for(self, action: str) -> tuple[Statement, ...]:
        return self.compiled.statements_for(action)


def load_document(raw: Any, where: str = "policy") -> dict[str, Any]:
    """A policy document from a dict, a JSON string or a URL-encoded JSON string."""
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("%7B") or text.startswith("%7b"):
            text = unquote(text)
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as error:
            raise PolicyParseError(f"{where}: not valid JSON ({error.msg} at {error.pos})") from None
    if not isinstance(raw, dict):
        raise PolicyParseError(f"{where}: a policy must be a JSON object, got {type(raw).__name__}")
    return raw


def _string_list(raw: Any, element: str) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(item, str) and item for item in items):
        raise PolicyParseError(f"{element} must be a non-empty string or list of strings")
    return items


def _actions(raw: Any, element: str) -> tuple[Wildcard, ...]:
    actions = _string_list(raw, element)
    for action in actions:
        if action != "*" and ":" not in action:
            raise PolicyParseError(f"{element}: {action!r} is not of the form service:action")
    return tuple(Wildcard.plain(action, ignore_case=True) for action in actions)


def _resources(raw: Any, element: str, variables: bool) -> tuple[ResourcePattern, ...]:
    patterns = []
    for text in _string_list(raw, element):
        template = parse_template(text, variables_enabled=variables)
        compiled = None if template.has_variables else Wildcard.arn(text)
        patterns.append(ResourcePattern(template, compiled))
    return tuple(patterns)


def _exclusive(raw: dict[str, Any], first: str, second: str, where: str) -> str | None:
    if first in raw and second in raw:
        raise PolicyParseError(f"{where}: {first} and {second} cannot be used together")
    return first if first in raw else second if second in raw else None


def _statement(raw: Any, index: int, variables: bool, require_resource: bool) -> Statement:
    where = f"Statement[{index}]"
    if not isinstance(raw, dict):
        raise PolicyParseError(f"{where} must be an object")
    unknown = set(raw) - _STATEMENT_KEYS
    if unknown:
        raise PolicyParseError(f"{where} has unknown element(s) {sorted(unknown)}")
    effect_text = raw.get("Effect")
    if effect_text not in (Effect.ALLOW, Effect.DENY):
        raise PolicyParseError(f'{where}: Effect must be "Allow" or "Deny", got {effect_text!r}')
    action_key = _exclusive(raw, "Action", "NotAction", where)
    if action_key is None:
        raise PolicyParseError(f"{where} needs Action or NotAction")
    resource_key = _exclusive(raw, "Resource", "NotResource", where)
    if resource_key is None and require_resource:
        raise PolicyParseError(f"{where} needs Resource or NotResource")
    principal_key = _exclusive(raw, "Principal", "NotPrincipal", where)
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise PolicyParseError(f"{where}: Sid must be a string")
    try:
        conditions = parse_conditions(raw.get("Condition"), variables_enabled=variables)
    except PolicyParseError as error:
        raise type(error)(f"{where}: {error}") from None
    return Statement(
        index=index,
        sid=sid,
        effect=Effect(effect_text),
        actions=_actions(raw[action_key], f"{where}/{action_key}"),
        not_action=action_key == "NotAction",
        resources=None
        if resource_key is None
        else _resources(raw[resource_key], f"{where}/{resource_key}", variables),
        not_resource=resource_key == "NotResource",
        principal=None
        if principal_key is None
        else PrincipalSpec.parse(raw[principal_key], f"{where}/{principal_key}"),
        not_principal=principal_key == "NotPrincipal",
        conditions=conditions,
        source=raw,
    )


def canonical_json(document: Any) -> str:
    """The JSON text content hashes are computed over: sorted keys, no spaces."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=16384)
def _compile(canonical: str, require_resource: bool) -> CompiledDocument:
    document = json.loads(canonical)
    version = document.get("Version")
    if version is not None and version not in ("2012-10-17", "2008-10-17"):
        raise PolicyParseError(f"unknown policy Version {version!r}")
    raw_statements = document.get("Statement")
    if raw_statements is None:
        raise PolicyParseError("policy has no Statement")
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list):
        raise PolicyParseError("Statement must be an object or a list of objects")
    variables = version == VARIABLES_VERSION
    statements = tuple(
        _statement(raw, index, variables, require_resource) for index, raw in enumerate(raw_statements)
    )
    return CompiledDocument(statements, version)


def parse_policy(
    raw: Any,
    *,
    where: str = "policy",
    require_resource: bool = False,
    arn: str | None = None,
    name: str | None = None,
    policy_id: str | None = None,
) -> Policy:
    """Parse and compile one policy document.

    ``require_resource`` is set for identity-based policies, boundaries, session
    policies and SCPs, where AWS rejects statements without Resource/NotResource;
    resource-based policies may omit it.
    """
    document = load_document(raw, where)
    canonical = canonical_json(document)
    try:
        compiled = _compile(canonical, require_resource)
    except PolicyParseError as error:
        raise PolicyParseError(f"{where}: {error}") from None
    document_id = document.get("Id")
    return Policy(
        compiled=compiled,
        content_hash=hashlib.sha256(canonical.encode()).hexdigest(),
        document=document,
        policy_id=policy_id or (document_id if isinstance(document_id, str) else None),
        arn=arn,
        name=name,
    )
