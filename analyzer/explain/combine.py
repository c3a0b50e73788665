"""The least-privilege fixes of many denials as one policy.

Each denial group's fix is its own statement (one action on one resource). Where fixes go
into the same policy — a principal's identity policy in the backlog, any policy in the
report's "What to fix first" — a night of an organization gives hundreds of statements for
one policy (measured: up to 163 in each of the report's top ten at 27,892 groups), past what a
reader takes in or IAM's policy size limits allow. ``combined`` writes the same grants as
few statements: one per set of actions allowed on the same resources.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from analyzer.explain.generalize import generalized


def _names(value: Any) -> tuple[str, ...] | None:
    """An Action or Resource element as its names (None for any other shape)."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def _one_or_list(names: list[str]) -> str | list[str]:
    return names[0] if len(names) == 1 else names


def combined(statements: Iterable[Mapping[str, Any]], generalize: bool = False) -> list[dict[str, Any]]:
    """``statements`` as few statements granting exactly the same.

    Statements alike in everything but Action and Resource (Effect, Principal, Condition,
    the absence of Resource in a trust policy) are merged: each action is granted on the
    union of its resources, and actions granted on the same resources share one statement,
    so no action gains a resource it was not granted. With ``generalize`` an action's
    resources that share a path become one pattern (``generalized``, ``--generalize``).
    Statements of another shape (NotAction, NotResource, ...) are kept as they are, once.
    Statements come out sorted, so equal inputs give equal policies.
    """
    grants: dict[str, dict[str, set[str]]] = {}  # the rest of a statement -> action -> resources
    alike: dict[str, Mapping[str, Any]] = {}  # the first statement of each rest: its fields' order
    kept: list[dict[str, Any]] = []
    for statement in statements:
        actions = _names(statement.get("Action"))
        has_resource = "Resource" in statement
        resources = _names(statement["Resource"]) if has_resource else ()
        if actions is None or resources is None:
            if dict(statement) not in kept:
                kept.append(dict(statement))
            continue
        rest = {key: value for key, value in statement.items() if key not in ("Action", "Resource")}
        key = json.dumps([rest, has_resource], sort_keys=True)
        alike.setdefault(key, statement)
        by_action = grants.setdefault(key, {})
        for action in actions:
            by_action.setdefault(action, set()).update(resources)
    merged = []
    for key in sorted(grants):
        by_resources: dict[tuple[str, ...], list[str]] = {}
        for action, granted in sorted(grants[key].items()):
            pattern = generalized(granted) if generalize else None
            by_resources.setdefault((pattern,) if pattern else tuple(sorted(granted)), []).append(action)
        for on, allowed in by_resources.items():
            elements = {"Action": _one_or_list(allowed)}
            if on:  # a trust policy's statements name no resource
                elements["Resource"] = _one_or_list(list(on))
            merged.append({name: elements.get(name, value) for name, value in alike[key].items()})
    return merged + kept
