"""Condition operators, IfExists, the set operators and missing-key rules.

Semantics follow
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
and .../reference_policies_condition-single-vs-multi-valued-context-keys.html:

* values listed for one key are OR-ed; keys and operators of a block are AND-ed;
* a key absent from the request fails a positive operator and satisfies a
  negated one (``StringNotEquals``, ``NotIpAddress``...), except that
  ``...IfExists`` is satisfied by an absent key and ``Null`` tests absence;
* ``ForAllValues`` is true for an absent or empty key, ``ForAnyValue`` false;
* a negated operator on a multi-valued key without a set operator is true only
  when *no* request value matches (it is the negation of the positive form).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from analyzer.engine.context import ContextValue, scalar_text
from analyzer.engine.matching import Wildcard, protect
from analyzer.engine.variables import Template, parse_template
from analyzer.errors import PolicyParseError, UnsupportedOperator


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _timestamp(text: str) -> float | None:
    """Dates are ISO 8601 (``2024-06-30T00:00:00Z``) or epoch seconds."""
    number = _number(text)
    if number is not None:
        return number
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _in_network(value: str, network: Any) -> bool:
    try:
        address = ipaddress.ip_address(value.strip().split("/")[0])
    except ValueError:
        return False
    return address.version == network.version and address in network


def _binary(text: str) -> bytes | str:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text


def _ordered(prepare: Callable[[str], Any], test: Callable[[Any, Any], bool]) -> Callable[[str, Any], bool]:
    """Comparator for Numeric*/Date*: both sides parsed, unparsable never matches."""

    def compare(request_value: str, comparand: Any) -> bool:
        parsed = prepare(request_value)
        return parsed is not None and comparand is not None and test(parsed, comparand)

    return compare


@dataclass(frozen=True, slots=True)
class Operator:
    """A base condition operator: how policy values are compiled and compared."""

    name: str
    negated: bool
    prepare: Callable[[str], Any]
    compare: Callable[[str, Any], bool]
    wildcard: bool = False  # policy values are patterns (variables substituted literally)
    # Policy variables are substituted only in the String and ARN operators' values: "You
    # can't use a policy variable with other operators, such as Numeric, Date, Boolean,
    # Binary, IP Address, or Null operators" (IAM User Guide, policy variables, Condition
    # element). Elsewhere ``${...}`` stays literal text, which matches no request value.
    variables: bool = False


def _family(
    prepare: Callable[[str], Any],
    compare: Callable[[str, Any], bool],
    names: dict[str, bool],
    *,
    wildcard: bool = False,
    variables: bool = False,
) -> dict[str, Operator]:
    return {
        name.lower(): Operator(name, negated, prepare, compare, wildcard, variables)
        for name, negated in names.items()
    }


# Numeric* and Date* share their comparisons; only the parsing differs.
_ORDERINGS: dict[str, tuple[Callable[[float, float], bool], bool]] = {
    "Equals": (lambda a, b: a == b, False),
    "NotEquals": (lambda a, b: a == b, True),
    "LessThan": (lambda a, b: a < b, False),
    "LessThanEquals": (lambda a, b: a <= b, False),
    "GreaterThan": (lambda a, b: a > b, False),
    "GreaterThanEquals": (lambda a, b: a >= b, False),
}
_ORDERED_FAMILIES = {"Numeric": _number, "Date": _timestamp}


_OPERATORS: dict[str, Operator] = {
    **_family(str, lambda v, p: v == p, {"StringEquals": False, "StringNotEquals": True}, variables=True),
    **_family(
        str.casefold,
        lambda v, p: v.casefold() == p,
        {"StringEqualsIgnoreCase": False, "StringNotEqualsIgnoreCase": True},
        variables=True,
    ),
    **_family(
        Wildcard.plain,
        lambda v, p: p.matches(v),
        {"StringLike": False, "StringNotLike": True},
        wildcard=True,
        variables=True,
    ),
    **_family(
        Wildcard.arn,
        lambda v, p: p.matches(v),
        {"ArnEquals": False, "ArnLike": False, "ArnNotEquals": True, "ArnNotLike": True},
        wildcard=True,
        variables=True,
    ),
    **{
        f"{family}{suffix}".lower(): Operator(f"{family}{suffix}", negated, parse, _ordered(parse, test))
        for family, parse in _ORDERED_FAMILIES.items()
        for suffix, (test, negated) in _ORDERINGS.items()
    },
    **_family(str.lower, lambda v, p: v.lower() == p, {"Bool": False}),
    **_family(_binary, lambda v, p: _binary(v) == p, {"BinaryEquals": False}),
    **_family(
        _network,
        lambda v, p: p is not None and _in_network(v, p),
        {"IpAddress": False, "NotIpAddress": True},
    ),
}

FOR_ALL_VALUES = "ForAllValues"
FOR_ANY_VALUE = "ForAnyValue"
_NULL = "null"


@dataclass(frozen=True, slots=True)
class ConditionValue:
    """One policy value: compiled once, or re-rendered when it holds variables."""

    template: Template
    compiled: Any

    def comparand(self, operator: Operator, context: Mapping[str, ContextValue]) -> Any:
        if not self.template.has_variables:
            return self.compiled
        rendered = self.template.render(context, value=protect if operator.wildcard else str)
        return None if rendered is None else operator.prepare(rendered)


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``operator: {key: values}`` test of a statement's Condition block."""

    operator_text: str
    key: str  # lower-cased
    operator: Operator | None  # None for Null
    qualifier: str | None  # ForAllValues / ForAnyValue
    if_exists: bool
    values: tuple[ConditionValue, ...]
    null_expected: tuple[bool, ...] = ()
    # The compared values when none holds a variable (all of them, compiled once):
    # most conditions, which need not be rendered against every request.
    constants: tuple[Any, ...] | None = None

    def evaluate(self, context: Mapping[str, ContextValue]) -> bool:
        raw = context.get(self.key)
        absent = raw is None or raw == ()
        if self.operator is None:
            return absent in self.null_expected
        if absent:
            if self.if_exists or self.qualifier == FOR_ALL_VALUES:
                return True
            if self.qualifier == FOR_ANY_VALUE:
                return False
            return self.operator.negated
        operator = self.operator
        comparands = self.constants
        if comparands is None:
            # A value naming a variable the request lacks is "effectively null": nothing is
            # equal to or like it, so StringEquals/StringLike do not match it and their
            # negations do ("Policy variables with no value",
            # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html:
            # with StringNotEquals against ${aws:PrincipalTag/Team}, "access is specifically
            # denied when aws:principaltag/Team is not set"). Left out, it matches nothing.
            comparands = tuple(
                c for value in self.values if (c := value.comparand(operator, context)) is not None
            )
        request_values: tuple[str, ...] = raw if isinstance(raw, tuple) else (raw,) if raw else ()

        def matches(value: str) -> bool:
            return any(operator.compare(value, comparand) for comparand in comparands)

        if self.qualifier == FOR_ALL_VALUES:
            return all(matches(v) != operator.negated for v in request_values)
        if self.qualifier == FOR_ANY_VALUE:
            return any(matches(v) != operator.negated for v in request_values)
        return any(matches(v) for v in request_values) != operator.negated


def _split_operator(text: str) -> tuple[str | None, str, bool]:
    qualifier = None
    name = text
    if ":" in text:
        prefix, name = text.split(":", 1)
        qualifier = {"forallvalues": FOR_ALL_VALUES, "foranyvalue": FOR_ANY_VALUE}.get(prefix.lower())
        if qualifier is None:
            raise UnsupportedOperator(f"unknown set operator {prefix!r} in {text!r}")
    if_exists = name.lower().endswith("ifexists") and name.lower() != "ifexists"
    if if_exists:
        name = name[: -len("IfExists")]
    return qualifier, name, if_exists


def _value_list(raw: Any, where: str) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    for item in items:
        if isinstance(item, dict | list) or item is None:
            raise PolicyParseError(f"{where}: condition values must be strings, got {item!r}")
    return [scalar_text(item) for item in items]


def parse_conditions(block: Any, *, variables_enabled: bool) -> tuple[Condition, ...]:
    """Parse a statement's ``Condition`` element into compiled conditions."""
    if block is None:
        return ()
    if not isinstance(block, dict):
        raise PolicyParseError(f"Condition must be an object, got {type(block).__name__}")
    conditions: list[Condition] = []
    for operator_text, tests in block.items():
        qualifier, name, if_exists = _split_operator(operator_text)
        if not isinstance(tests, dict):
            raise PolicyParseError(f"Condition operator {operator_text!r} must map keys to values")
        if name.lower() == _NULL:
            for key, raw in tests.items():
                expected = tuple(v.lower() == "true" for v in _value_list(raw, operator_text))
                conditions.append(Condition(operator_text, key.lower(), None, qualifier, False, (), expected))
            continue
        operator = _OPERATORS.get(name.lower())
        if operator is None:
            raise UnsupportedOperator(f"unknown condition operator {operator_text!r}")
        for key, raw in tests.items():
            values = []
            for text in _value_list(raw, f"{operator_text}/{key}"):
                template = parse_template(text, variables_enabled=variables_enabled and operator.variables)
                compiled = None if template.has_variables else operator.prepare(text)
                values.append(ConditionValue(template, compiled))
            constants = (
                None
                if any(value.template.has_variables for value in values)
                else tuple(value.compiled for value in values if value.compiled is not None)
            )
            conditions.append(
                Condition(
                    operator_text, key.lower(), operator, qualifier, if_exists, tuple(values), (), constants
                )
            )
    return tuple(conditions)
