"""Successful CloudTrail policy-change events, recognised as ``PolicyChange``s.

Every API that changes a policy we evaluate is mapped to one or more ``Edit``s of a
``Slot``: one piece of policy state (an inline policy, whether a managed policy is
attached to a role, a bucket policy, an SCP's content, an account's parent OU...).
``analyzer.history.timeline`` applies the edits forward from a snapshot, or reverts
them backward, to rebuild the state at any time.

Field names and shapes are those CloudTrail logs (see ``tests/data/history/README.md``
for the public samples each was checked against). Request parameters are camelCase;
IAM and Organizations documents are JSON strings, S3's ``bucketPolicy`` is an object,
IAM response elements URL-encode documents. Where AWS logs no document (an
attachment names only the policy ARN) the edit says so and the timeline takes the
document from the snapshot. Failed calls (any ``errorCode``) change nothing and are
ignored. Everything here is read from event text written by strangers: values are
only ever compared and stored, never interpreted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from analyzer.arn import partition_of
from analyzer.engine.policy import canonical_json, load_document
from analyzer.errors import PolicyParseError
from analyzer.events.context import parse_time
from analyzer.events.records import EventRecord, ReadProblem
from analyzer.untrusted import shortened

ATTACHED = "attached"  # the value of an attachment / membership / existence slot when present

# AWS's default key policy (CreateKey without a policy): the account may use IAM policies.
# https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
_DEFAULT_KEY_POLICY_SID = "Enable IAM User Permissions"
# A gateway endpoint's default policy (ModifyVpcEndpoint ResetPolicy): full access.
# https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html
_FULL_ACCESS = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}


class SlotKind(StrEnum):
    INLINE = "inline"  # key: (entity kind, entity name, policy name)
    ATTACHMENT = "attachment"  # key: (entity kind, entity name, policy ARN)
    MANAGED = "managed"  # key: (policy ARN,): its default version's document
    BOUNDARY = "permissions-boundary"  # key: (entity kind, entity name): boundary ARN
    TRUST = "trust"  # key: (role name,)
    MEMBERSHIP = "group-membership"  # key: (group name, user name)
    ENTITY = "principal"  # key: (entity kind, entity name): exists or not
    TAG = "tag"  # key: (entity kind, entity name, tag key)
    ORG_POLICY = "organization-policy"  # key: (policy id,): its content
    ORG_ATTACHMENT = "organization-attachment"  # key: (policy id, target id)
    PARENT = "account-parent"  # key: (account id,): its parent node id
    POLICY_TYPE = "policy-type"  # key: (root id, policy type): enabled or not
    RESOURCE = "resource"  # key: (resource ARN,)
    ENDPOINT = "vpc-endpoint"  # key: (endpoint id,)


class EditOp(StrEnum):
    SET = "set"  # the slot's new value is ``value``
    ADD_STATEMENT = "add-statement"  # ``value`` is one statement (Lambda AddPermission)
    REMOVE_STATEMENT = "remove-statement"  # ``value`` is a statement id
    SET_VERSION = "set-version"  # ``value`` is a managed policy version id
    # The change set the slot, but its event does not show to what: the document is
    # absent, or CloudTrail omitted the parameters (``{"omitted": true}``, too large).
    SET_UNLOGGED = "set-unlogged"


@dataclass(frozen=True, slots=True)
class Slot:
    """One piece of policy state; ``account`` is the account that owns it."""

    kind: SlotKind
    account: str
    key: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Edit:
    """What one change did to one slot. Values are canonical JSON text for documents,
    ``ATTACHED`` for presence, an ARN or id for references, None for absence.
    ``previous`` is the value before the change when the event itself records it."""

    slot: Slot
    op: EditOp
    value: str | None
    previous: str | None = None
    previous_known: bool = False


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """One successful policy-change event (a row of the ``changes/`` table)."""

    event_id: str
    event_time: datetime
    account: str
    changed_by: str | None
    event_name: str
    policy_type: str
    policy_arn: str | None
    target_arn: str | None
    document: str | None  # the new document (JSON text) when the event carries it
    previous_document: str | None  # the document before, when the event carries it
    edits: tuple[Edit, ...]
    source: str = ""
    version_id: str | None = None  # CreatePolicy / CreatePolicyVersion: the new version's id
    # Organizations' CreatePolicy / UpdatePolicy: the policy's name, which a policy created
    # after the snapshot is known by only from the event.
    policy_name: str | None = None

    @property
    def when(self) -> str:
        return self.event_time.strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def document_text(raw: Any) -> str | None:
    """A document as canonical JSON text (object, JSON string or URL-encoded string);
    an unparseable document is kept as it was logged, so evaluating it reports the error."""
    if raw is None or raw == "":
        return None
    try:
        return canonical_json(load_document(raw, "logged document"))
    except PolicyParseError:
        return raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True)


@dataclass(frozen=True, slots=True)
class _Event:
    """The parts of a change event every recogniser needs."""

    raw: Mapping[str, Any]
    name: str
    account: str
    region: str
    partition: str
    request: Mapping[str, Any]
    response: Mapping[str, Any]

    def param(self, *names: str) -> Any:
        for name in names:
            value = self.request.get(name)
            if value is not None:
                return value
        return None

    def arn(self, service: str, resource: str, region: str | None = None, account: str | None = None) -> str:
        region = self.region if region is None else region
        return f"arn:{self.partition}:{service}:{region}:{account or self.account}:{resource}"


@dataclass(frozen=True, slots=True)
class _Recognised:
    policy_type: str
    edits: tuple[Edit, ...]
    policy_arn: str | None = None
    target_arn: str | None = None
    document: str | None = None
    previous: str | None = None
    version_id: str | None = None  # the managed policy version a document belongs to
    policy_name: str | None = None


Recogniser = Callable[[_Event], _Recognised | None]


# -- IAM ---------------------------------------------------------------------------------
_ENTITY_PARAMS = {"user": "userName", "role": "roleName", "group": "groupName"}


class UnusableChange(Exception):
    """A recognised change event whose parameters cannot be used (a name that is not
    text, a required one missing): the event is reported, never silently dropped."""


@dataclass(frozen=True, slots=True)
class ChangeProblem(ReadProblem):
    """A policy-change event that was read but cannot be used: unlike a record that
    cannot be read, only the pass that looks for changes finds it, so that pass says it."""


def _required(event: _Event, name: str) -> str:
    value = event.param(name)
    if not isinstance(value, str) or not value:
        shown = "missing" if value is None else f"not text ({shortened(json.dumps(value), 60)})"
        raise UnusableChange(f"requestParameters.{name} is {shown}")
    return value


def _entity(event: _Event, kind: str) -> tuple[str, str]:
    return kind, _required(event, _ENTITY_PARAMS[kind])


def _set_document(slot: Slot, raw: Any, *, created: bool = False) -> Edit:
    """The edit of a call that sets a document: to the logged one, or, where the event
    does not carry it (absent, or the parameters omitted), to a value not logged. A call
    that ``created`` the slot records what was there before: nothing."""
    document = document_text(raw)
    op = EditOp.SET_UNLOGGED if document is None else EditOp.SET
    return Edit(slot, op, document, None, previous_known=created)


def _entity_arn(event: _Event, kind: str, name: str) -> str:
    return f"arn:{event.partition}:iam::{event.account}:{kind}/{name}"


def _put_inline(kind: str) -> Recogniser:
    def recognise(event: _Event) -> _Recognised | None:
        entity, policy = _entity(event, kind), _required(event, "policyName")
        slot = Slot(SlotKind.INLINE, event.account, (*entity, policy))
        edit = _set_document(slot, event.param("policyDocument"))
        return _Recognised("inline", (edit,), None, _entity_arn(event, *entity), edit.value)

    return recognise


def _delete_inline(kind: str) -> Recogniser:
    def recognise(event: _Event) -> _Recognised | None:
        entity, policy = _entity(event, kind), _required(event, "policyName")
        slot = Slot(SlotKind.INLINE, event.account, (*entity, policy))
        return _Recognised("inline", (Edit(slot, EditOp.SET, None),), None, _entity_arn(event, *entity))

    return recognise


def _attachment(kind: str, attach: bool) -> Recogniser:
    def recognise(event: _Event) -> _Recognised | None:
        entity, arn = _entity(event, kind), _required(event, "policyArn")
        slot = Slot(SlotKind.ATTACHMENT, event.account, (*entity, arn))
        # Attaching changes "not attached" into "attached" (and detaching the reverse).
        edit = Edit(
            slot, EditOp.SET, ATTACHED if attach else None, None if attach else ATTACHED, previous_known=True
        )
        return _Recognised("attachment", (edit,), arn, _entity_arn(event, *entity))

    return recognise


def _boundary(kind: str, put: bool) -> Recogniser:
    def recognise(event: _Event) -> _Recognised | None:
        entity = _entity(event, kind)
        arn = _required(event, "permissionsBoundary") if put else None
        slot = Slot(SlotKind.BOUNDARY, event.account, entity)
        return _Recognised(
            "permissions-boundary", (Edit(slot, EditOp.SET, arn),), arn, _entity_arn(event, *entity)
        )

    return recognise


def _update_trust(event: _Event) -> _Recognised | None:
    role = _required(event, "roleName")
    edit = _set_document(Slot(SlotKind.TRUST, event.account, (role,)), event.param("policyDocument"))
    return _Recognised("trust", (edit,), None, _entity_arn(event, "role", role), edit.value)


def _membership(add: bool) -> Recogniser:
    def recognise(event: _Event) -> _Recognised | None:
        group, user = _required(event, "groupName"), _required(event, "userName")
        slot = Slot(SlotKind.MEMBERSHIP, event.account, (group, user))
        edit = Edit(
            slot, EditOp.SET, ATTACHED if add else None, None if add else ATTACHED, previous_known=True
        )
        return _Recognised(
            "group-membership", (edit,), _entity_arn(event, "group", group), _entity_arn(event, "user", user)
        )

    return recognise


def _tags(params: Any) -> list[tuple[str, str]]:
    return [
        (str(tag["key"]), str(tag.get("value", "")))
        for tag in params or ()
        if isinstance(tag, Mapping) and isinstance(tag.get("key"), str)
    ]


def _create_entity(kind: str) -> Recogniser:
    def recognise(event: _Event) -> _Recognised | None:
        entity = _entity(event, kind)
        edits = [
            Edit(
                Slot(SlotKind.ENTITY, event.account, entity), EditOp.SET, ATTACHED, None, previous_known=True
            )
        ]
        document = None
        if kind == "role":
            trust = Slot(SlotKind.TRUST, event.account, (entity[1],))
            edits.append(_set_document(trust, event.param("assumeRolePolicyDocument"), created=True))
            document = edits[-1].value
        if boundary := _text(event.param("permissionsBoundary")):
            edits.append(
                Edit(
                    Slot(SlotKind.BOUNDARY, event.account, entity),
                    EditOp.SET,
                    boundary,
                    None,
                    previous_known=True,
                )
            )
        for key, value in _tags(event.param("tags")):
            edits.append(
                Edit(
                    Slot(SlotKind.TAG, event.account, (*entity, key)),
                    EditOp.SET,
                    value,
                    None,
                    previous_known=True,
                )
            )
        return _Recognised("principal", tuple(edits), None, _entity_arn(event, *entity), document)

    return recognise


def _delete_entity(kind: str) -> Recogniser:
    def recognise(event: _Event) -> _Recognised | None:
        entity = _entity(event, kind)
        edit = Edit(
            Slot(SlotKind.ENTITY, event.account, entity), EditOp.SET, None, ATTACHED, previous_known=True
        )
        return _Recognised("principal", (edit,), None, _entity_arn(event, *entity))

    return recognise


def _tag_entity(kind: str, tag: bool) -> Recogniser:
    def recognise(event: _Event) -> _Recognised | None:
        entity = _entity(event, kind)
        if tag:
            pairs = _tags(event.param("tags"))
            edits = tuple(
                Edit(Slot(SlotKind.TAG, event.account, (*entity, key)), EditOp.SET, value)
                for key, value in pairs
            )
        else:
            keys = [k for k in event.param("tagKeys") or () if isinstance(k, str)]
            edits = tuple(
                Edit(Slot(SlotKind.TAG, event.account, (*entity, key)), EditOp.SET, None) for key in keys
            )
        return _Recognised("tags", edits, None, _entity_arn(event, *entity)) if edits else None

    return recognise


def _create_policy(event: _Event) -> _Recognised | None:
    policy = event.response.get("policy")
    if not isinstance(policy, Mapping) or (arn := _text(policy.get("arn"))) is None:
        raise UnusableChange("responseElements.policy.arn is missing")
    edit = _set_document(
        Slot(SlotKind.MANAGED, event.account, (arn,)), event.param("policyDocument"), created=True
    )
    version = _text(policy.get("defaultVersionId")) or "v1"
    return _Recognised("managed", (edit,), arn, None, edit.value, version_id=version)


def _delete_policy(event: _Event) -> _Recognised | None:
    arn = _required(event, "policyArn")
    slot = Slot(SlotKind.MANAGED, event.account, (arn,))
    return _Recognised("managed", (Edit(slot, EditOp.SET, None),), arn)


def _create_policy_version(event: _Event) -> _Recognised | None:
    arn = _required(event, "policyArn")
    document = document_text(event.param("policyDocument"))
    default = event.param("setAsDefault") in (True, "true")
    edits = (_set_document(Slot(SlotKind.MANAGED, event.account, (arn,)), document),) if default else ()
    # A version that is not made default changes nothing in force, but records the
    # version's document for a later SetDefaultPolicyVersion.
    version = event.response.get("policyVersion")
    version_id = _text(version.get("versionId")) if isinstance(version, Mapping) else None
    return _Recognised("managed", edits, arn, None, document, version_id=version_id)


def _set_default_version(event: _Event) -> _Recognised | None:
    arn, version = _required(event, "policyArn"), _required(event, "versionId")
    slot = Slot(SlotKind.MANAGED, event.account, (arn,))
    return _Recognised("managed", (Edit(slot, EditOp.SET_VERSION, version),), arn)


def _delete_policy_version(event: _Event) -> _Recognised | None:
    # The default version cannot be deleted, so nothing in force changes; recorded for
    # the changes table, and for knowing which versions existed when.
    arn = _text(event.param("policyArn"))
    return _Recognised("managed", (), arn, version_id=_text(event.param("versionId"))) if arn else None


# -- Organizations -----------------------------------------------------------------------
def _org_policy_type(arn: str | None, declared: Any) -> str:
    if declared == "RESOURCE_CONTROL_POLICY" or (arn and "/resource_control_policy/" in arn):
        return "rcp"
    if declared in (None, "SERVICE_CONTROL_POLICY") or (arn and "/service_control_policy/" in arn):
        return "scp"
    return "organization-policy"


def _summary(event: _Event) -> Mapping[str, Any]:
    policy = event.response.get("policy")
    summary = policy.get("policySummary") if isinstance(policy, Mapping) else None
    return summary if isinstance(summary, Mapping) else {}


def _org_create_or_update(event: _Event) -> _Recognised | None:
    summary = _summary(event)
    policy_id = _text(event.param("policyId")) or _text(summary.get("id"))
    if policy_id is None:
        raise UnusableChange("names no policy (requestParameters.policyId, responseElements.policy)")
    declared = summary.get("type") or event.param("type")
    if declared not in (None, "SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"):
        return None  # tag, backup and AI opt-out policies do not authorize requests
    content = event.param("content")
    if content is None and event.name == "UpdatePolicy":  # an UpdatePolicy that only renamed it
        return None
    arn = _text(summary.get("arn"))
    slot = Slot(SlotKind.ORG_POLICY, event.account, (policy_id,))
    edit = _set_document(slot, content, created=event.name == "CreatePolicy")
    return _Recognised(
        _org_policy_type(arn, declared),
        (edit,),
        arn or policy_id,
        None,
        edit.value,
        policy_name=_text(summary.get("name")) or _text(event.param("name")),
    )


def _org_delete(event: _Event) -> _Recognised | None:
    policy_id = _required(event, "policyId")
    slot = Slot(SlotKind.ORG_POLICY, event.account, (policy_id,))
    return _Recognised("organization-policy", (Edit(slot, EditOp.SET, None),), policy_id)


def _org_attachment(attach: bool) -> Recogniser:
    def recognise(event: _Event) -> _Recognised | None:
        policy_id, target = _required(event, "policyId"), _required(event, "targetId")
        slot = Slot(SlotKind.ORG_ATTACHMENT, event.account, (policy_id, target))
        edit = Edit(
            slot, EditOp.SET, ATTACHED if attach else None, None if attach else ATTACHED, previous_known=True
        )
        return _Recognised("organization-attachment", (edit,), policy_id, target)

    return recognise


def _move_account(event: _Event) -> _Recognised | None:
    account = _text(event.param("accountId"))
    source, destination = (_text(event.param("sourceParentId")), _text(event.param("destinationParentId")))
    if account is None or destination is None:
        raise UnusableChange("requestParameters.accountId or destinationParentId is missing or not text")
    slot = Slot(SlotKind.PARENT, event.account, (account,))
    return _Recognised(
        "account-parent", (Edit(slot, EditOp.SET, destination, source, source is not None),), None, account
    )


def _policy_type(enable: bool) -> Recogniser:
    def recognise(event: _Event) -> _Recognised | None:
        root, kind = _required(event, "rootId"), _text(event.param("policyType"))
        if kind not in ("SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"):
            return None
        slot = Slot(SlotKind.POLICY_TYPE, event.account, (root, kind))
        edit = Edit(
            slot, EditOp.SET, ATTACHED if enable else None, None if enable else ATTACHED, previous_known=True
        )
        return _Recognised("policy-type", (edit,), kind, root)

    return recognise


# -- resource policies -------------------------------------------------------------------
def _resource(
    event: _Event,
    arn: str,
    document: str | None,
    *,
    previous: str | None = None,
    previous_known: bool = False,
    policy_type: str = "resource",
    logged: bool = True,
) -> _Recognised:
    """A resource policy set to ``document`` (None: deleted), or, not ``logged``, to a
    document the event does not carry."""
    slot = Slot(SlotKind.RESOURCE, event.account, (arn,))
    op = EditOp.SET if logged else EditOp.SET_UNLOGGED
    return _Recognised(
        policy_type,
        (Edit(slot, op, document, previous, previous_known),),
        None,
        arn,
        document,
        previous,
    )


def _put_bucket_policy(event: _Event) -> _Recognised | None:
    arn = f"arn:{event.partition}:s3:::{_required(event, 'bucketName')}"
    document = document_text(event.param("bucketPolicy"))
    return _resource(event, arn, document, logged=document is not None)


def _delete_bucket_policy(event: _Event) -> _Recognised | None:
    return _resource(event, f"arn:{event.partition}:s3:::{_required(event, 'bucketName')}", None)


def _key_arn(event: _Event, key: str) -> str:
    return key if key.startswith("arn:") else event.arn("kms", f"key/{key}")


def _put_key_policy(event: _Event) -> _Recognised | None:
    key = _required(event, "keyId")
    document = document_text(event.param("policy"))
    return _resource(event, _key_arn(event, key), document, logged=document is not None)


def _create_key(event: _Event) -> _Recognised | None:
    metadata = event.response.get("keyMetadata")
    arn = _text(metadata.get("arn")) if isinstance(metadata, Mapping) else None
    if arn is None:
        raise UnusableChange("responseElements.keyMetadata.arn is missing")
    document = document_text(event.param("policy")) or canonical_json(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": _DEFAULT_KEY_POLICY_SID,
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{event.partition}:iam::{event.account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
    )
    return _resource(event, arn, document, previous_known=True)


def _set_queue_attributes(event: _Event) -> _Recognised | None:
    attributes, url = event.param("attributes"), _text(event.param("queueUrl"))
    if not isinstance(attributes, Mapping) or "Policy" not in attributes or url is None:
        return None
    parts = urlparse(url)
    path = [p for p in parts.path.split("/") if p]
    if len(path) != 2:
        return None
    host = parts.hostname or ""
    region = host.split(".")[1] if host.startswith("sqs.") and host.count(".") >= 2 else event.region
    arn = event.arn("sqs", path[1], region, path[0])
    policy = attributes.get("Policy")  # "" removes the queue's policy
    return _resource(event, arn, document_text(policy), logged=policy is not None)


def _set_topic_attributes(event: _Event) -> _Recognised | None:
    if event.param("attributeName") != "Policy":
        return None
    topic = _required(event, "topicArn")
    value = event.param("attributeValue")
    return _resource(event, topic, document_text(value), logged=value is not None)


def _function_arn(event: _Event) -> str | None:
    name = _text(event.param("functionName"))
    if name is None:
        return None
    arn = name if name.startswith("arn:") else event.arn("lambda", f"function:{name}")
    qualifier = _text(event.param("qualifier"))
    return f"{arn}:{qualifier}" if qualifier and arn.count(":") == 6 else arn


def _add_permission(event: _Event) -> _Recognised | None:
    arn = _function_arn(event)
    statement = event.response.get("statement")
    if arn is None or not isinstance(statement, str):
        raise UnusableChange("names no function or logs no added statement")
    try:
        parsed = json.loads(statement)
    except json.JSONDecodeError:
        return None
    if not isinstance(parsed, dict):
        return None
    text = canonical_json(parsed)
    slot = Slot(SlotKind.RESOURCE, event.account, (arn,))
    return _Recognised("resource", (Edit(slot, EditOp.ADD_STATEMENT, text),), None, arn, text)


def _remove_permission(event: _Event) -> _Recognised | None:
    arn, sid = _function_arn(event), _required(event, "statementId")
    if arn is None:
        raise UnusableChange("requestParameters.functionName is missing or not text")
    slot = Slot(SlotKind.RESOURCE, event.account, (arn,))
    return _Recognised("resource", (Edit(slot, EditOp.REMOVE_STATEMENT, sid),), None, arn)


def _secret_arn(event: _Event) -> str | None:
    secret = _text(event.param("secretId"))
    if secret is None:
        return None
    return secret if secret.startswith("arn:") else event.arn("secretsmanager", f"secret:{secret}")


def _put_secret_policy(event: _Event) -> _Recognised | None:
    arn = _secret_arn(event)
    if arn is None:
        raise UnusableChange("requestParameters.secretId is missing or not text")
    document = document_text(event.param("resourcePolicy"))
    return _resource(event, arn, document, logged=document is not None)


def _delete_secret_policy(event: _Event) -> _Recognised | None:
    arn = _secret_arn(event)
    return _resource(event, arn, None) if arn else None


def _repository_arn(event: _Event) -> str | None:
    name = _text(event.param("repositoryName"))
    if name is None:
        return None
    return event.arn("ecr", f"repository/{name}", account=_text(event.param("registryId")))


def _set_repository_policy(event: _Event) -> _Recognised | None:
    arn = _repository_arn(event)
    if arn is None:
        raise UnusableChange("requestParameters.repositoryName is missing or not text")
    document = document_text(event.param("policyText"))
    return _resource(event, arn, document, logged=document is not None)


def _delete_repository_policy(event: _Event) -> _Recognised | None:
    arn = _repository_arn(event)
    if arn is None:
        return None
    # ECR answers DeleteRepositoryPolicy with the policy it deleted.
    previous = document_text(event.response.get("policyText"))
    return _resource(event, arn, None, previous=previous, previous_known=previous is not None)


def _modify_vpc_endpoint(event: _Event) -> _Recognised | None:
    params = event.request.get("ModifyVpcEndpointRequest", event.request)
    if not isinstance(params, Mapping):
        return None
    endpoint = _text(params.get("VpcEndpointId") or params.get("vpcEndpointId"))
    policy = params.get("PolicyDocument") or params.get("policyDocument")
    reset = params.get("ResetPolicy") or params.get("resetPolicy")
    if endpoint is None or (policy is None and reset not in (True, "true")):
        return None  # a change of route tables, subnets or DNS only
    document = document_text(policy) if policy is not None else canonical_json(_FULL_ACCESS)
    slot = Slot(SlotKind.ENDPOINT, event.account, (endpoint,))
    target = event.arn("ec2", f"vpc-endpoint/{endpoint}")
    return _Recognised("vpc-endpoint", (Edit(slot, EditOp.SET, document),), None, target, document)


_RECOGNISERS: dict[tuple[str, str], Recogniser] = {
    **{("iam.amazonaws.com", f"Put{k.title()}Policy"): _put_inline(k) for k in ("user", "group", "role")},
    **{
        ("iam.amazonaws.com", f"Delete{k.title()}Policy"): _delete_inline(k)
        for k in ("user", "group", "role")
    },
    **{
        ("iam.amazonaws.com", f"Attach{k.title()}Policy"): _attachment(k, True)
        for k in ("user", "group", "role")
    },
    **{
        ("iam.amazonaws.com", f"Detach{k.title()}Policy"): _attachment(k, False)
        for k in ("user", "group", "role")
    },
    **{
        ("iam.amazonaws.com", f"Put{k.title()}PermissionsBoundary"): _boundary(k, True)
        for k in ("user", "role")
    },
    **{
        ("iam.amazonaws.com", f"Delete{k.title()}PermissionsBoundary"): _boundary(k, False)
        for k in ("user", "role")
    },
    **{("iam.amazonaws.com", f"Create{k.title()}"): _create_entity(k) for k in ("user", "role", "group")},
    **{("iam.amazonaws.com", f"Delete{k.title()}"): _delete_entity(k) for k in ("user", "role", "group")},
    **{("iam.amazonaws.com", f"Tag{k.title()}"): _tag_entity(k, True) for k in ("user", "role")},
    **{("iam.amazonaws.com", f"Untag{k.title()}"): _tag_entity(k, False) for k in ("user", "role")},
    ("iam.amazonaws.com", "UpdateAssumeRolePolicy"): _update_trust,
    ("iam.amazonaws.com", "AddUserToGroup"): _membership(True),
    ("iam.amazonaws.com", "RemoveUserFromGroup"): _membership(False),
    ("iam.amazonaws.com", "CreatePolicy"): _create_policy,
    ("iam.amazonaws.com", "DeletePolicy"): _delete_policy,
    ("iam.amazonaws.com", "CreatePolicyVersion"): _create_policy_version,
    ("iam.amazonaws.com", "SetDefaultPolicyVersion"): _set_default_version,
    ("iam.amazonaws.com", "DeletePolicyVersion"): _delete_policy_version,
    ("organizations.amazonaws.com", "CreatePolicy"): _org_create_or_update,
    ("organizations.amazonaws.com", "UpdatePolicy"): _org_create_or_update,
    ("organizations.amazonaws.com", "DeletePolicy"): _org_delete,
    ("organizations.amazonaws.com", "AttachPolicy"): _org_attachment(True),
    ("organizations.amazonaws.com", "DetachPolicy"): _org_attachment(False),
    ("organizations.amazonaws.com", "MoveAccount"): _move_account,
    ("organizations.amazonaws.com", "EnablePolicyType"): _policy_type(True),
    ("organizations.amazonaws.com", "DisablePolicyType"): _policy_type(False),
    ("s3.amazonaws.com", "PutBucketPolicy"): _put_bucket_policy,
    ("s3.amazonaws.com", "DeleteBucketPolicy"): _delete_bucket_policy,
    ("kms.amazonaws.com", "PutKeyPolicy"): _put_key_policy,
    ("kms.amazonaws.com", "CreateKey"): _create_key,
    ("sqs.amazonaws.com", "SetQueueAttributes"): _set_queue_attributes,
    ("sns.amazonaws.com", "SetTopicAttributes"): _set_topic_attributes,
    ("secretsmanager.amazonaws.com", "PutResourcePolicy"): _put_secret_policy,
    ("secretsmanager.amazonaws.com", "DeleteResourcePolicy"): _delete_secret_policy,
    ("ecr.amazonaws.com", "SetRepositoryPolicy"): _set_repository_policy,
    ("ecr.amazonaws.com", "DeleteRepositoryPolicy"): _delete_repository_policy,
    ("ec2.amazonaws.com", "ModifyVpcEndpoint"): _modify_vpc_endpoint,
}
# Change events whose request may have no parameters at all (the rest need some).
_NO_PARAMETERS = frozenset({"CreateKey"})
# Lambda versions its event names (AddPermission20150331v2): matched by prefix.
_LAMBDA = {"AddPermission": _add_permission, "RemovePermission": _remove_permission}
_LAMBDA_NAME = re.compile(r"^(AddPermission|RemovePermission)(\d{8}(v\d+)?)?$")

CHANGE_EVENT_NAMES = frozenset({name for _, name in _RECOGNISERS} | set(_LAMBDA))


@dataclass(frozen=True, slots=True)
class RecognisedEvents:
    """The events ``policy_change`` recognises, as data a query can filter on (the
    pipeline renders it into its SQL, so the registry above stays the one list): per
    ``eventSource`` the exact ``eventName``s, and the regular expression its versioned
    names match (Lambda's ``AddPermission20150331v2``), in syntax Athena and DuckDB share."""

    names: Mapping[str, frozenset[str]]
    patterns: Mapping[str, str]


def recognised_events() -> RecognisedEvents:
    names: dict[str, set[str]] = {}
    for source, name in _RECOGNISERS:
        names.setdefault(source, set()).add(name)
    return RecognisedEvents(
        {source: frozenset(found) for source, found in sorted(names.items())},
        {"lambda.amazonaws.com": _LAMBDA_NAME.pattern},
    )


def _recogniser(source: str, name: str) -> Recogniser | None:
    if source == "lambda.amazonaws.com":
        match = _LAMBDA_NAME.match(name)
        return _LAMBDA[match.group(1)] if match else None
    return _RECOGNISERS.get((source, name))


def changed_by(event: Mapping[str, Any]) -> str | None:
    """Who made the change: the caller's ARN (the session ARN for a role session),
    else the service that acted (``invokedBy``) or the principal id."""
    identity = event.get("userIdentity")
    if not isinstance(identity, Mapping):
        return None
    for key in ("arn", "invokedBy", "principalId"):
        if value := _text(identity.get(key)):
            return value
    return None


def policy_change(record: EventRecord) -> PolicyChange | None:
    """The change a successful policy-change event made; None for any other event, and
    for one that cannot be used (``read_change`` says why)."""
    change = read_change(record)
    return change if isinstance(change, PolicyChange) else None


def read_change(record: EventRecord) -> PolicyChange | ChangeProblem | None:
    """The change a successful policy-change event made; None for any other event; a
    problem naming the record and its eventID for a change event that cannot be used
    (no usable time or account, its parameters omitted, null or of the wrong shape), so
    it is reported instead of silently dropped."""
    raw = record.event
    source, name = _text(raw.get("eventSource")), _text(raw.get("eventName"))
    if source is None or name is None or record.error_code is not None:
        return None
    recognise = _recogniser(source, name)
    if recognise is None:
        return None
    try:
        return _read_change(record, name, recognise)
    except UnusableChange as error:
        event_id = raw.get("eventID")
        return ChangeProblem(
            record.source,
            f"{name} {error}: this policy change is not used, so what it changed is not known",
            record.index,
            event_id if isinstance(event_id, str) else None,
        )


def _read_change(record: EventRecord, name: str, recognise: Recogniser) -> PolicyChange | None:
    raw = record.event
    time_text = raw.get("eventTime")
    when = parse_time(time_text) if isinstance(time_text, str) else None
    if when is None:
        raise UnusableChange(f"has an eventTime that is not a time ({shortened(json.dumps(time_text), 60)})")
    identity = raw.get("userIdentity")
    account = _text(raw.get("recipientAccountId")) or (
        _text(identity.get("accountId")) if isinstance(identity, Mapping) else None
    )
    if account is None:
        raise UnusableChange("names no account (recipientAccountId)")
    request = raw.get("requestParameters")
    if isinstance(request, Mapping) and request.get("omitted") in (True, "true"):
        raise UnusableChange("has requestParameters CloudTrail omitted (too large to log)")
    if not isinstance(request, Mapping) and name not in _NO_PARAMETERS:
        raise UnusableChange(f"has requestParameters {shortened(json.dumps(request), 60)}")
    response = raw.get("responseElements")
    region = _text(raw.get("awsRegion")) or "us-east-1"
    caller_arn = _text(identity.get("arn")) if isinstance(identity, Mapping) else None
    event = _Event(
        raw,
        name,
        account,
        region,
        partition_of(caller_arn, region),
        request if isinstance(request, Mapping) else {},
        response if isinstance(response, Mapping) else {},
    )
    recognised = recognise(event)
    if recognised is None:
        return None
    event_id = _text(raw.get("eventID")) or f"{record.source}#{record.index}"
    return PolicyChange(
        event_id=event_id,
        event_time=when,
        account=account,
        changed_by=changed_by(raw),
        event_name=name,
        policy_type=recognised.policy_type,
        policy_arn=recognised.policy_arn,
        target_arn=recognised.target_arn,
        document=recognised.document,
        previous_document=recognised.previous,
        edits=recognised.edits,
        source=record.where,
        version_id=recognised.version_id,
        policy_name=recognised.policy_name,
    )


def policy_changes(records: Iterable[EventRecord | ReadProblem]) -> Iterator[PolicyChange]:
    """The policy changes among read events (problems and other events are skipped)."""
    for record in records:
        if isinstance(record, EventRecord):
            change = policy_change(record)
            if change is not None:
                yield change


def _removes(change: PolicyChange) -> bool:
    """Whether a change only removes (deletes a policy, detaches one, removes a
    statement or a member): a successful one needs what it removes to exist."""
    return bool(change.edits) and all(
        edit.op == EditOp.REMOVE_STATEMENT or (edit.op == EditOp.SET and edit.value is None)
        for edit in change.edits
    )


def order_key(change: PolicyChange) -> tuple[datetime, bool, str]:
    """Where a change goes in time order, whatever the layout of the logs it was read
    from: CloudTrail's times have whole seconds and a log file's records are in no
    particular order (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/
    cloudtrail-log-file-examples.html), so changes of the same second are ordered by what
    their success implies: one that only removes (DeleteRolePolicy, DetachRolePolicy...)
    after the others, as a Put or Attach of the same policy in that second must have come
    first for the removal to succeed when it was absent before; then by event id.
    ``analyzer.history.root_cause`` notes where the order is still a guess that matters."""
    return change.event_time, _removes(change), change.event_id


def read_changes(paths: Iterable[Path]) -> tuple[list[PolicyChange], list[ReadProblem]]:
    """Every policy change in the given files or folders (any accepted CloudTrail layout),
    in time order, each event once even when a file is given twice; and the read problems."""
    from analyzer.events.readers import read_events

    return collect_changes(read_events(list(dict.fromkeys(paths))))


def collect_changes(
    items: Iterable[EventRecord | ReadProblem],
) -> tuple[list[PolicyChange], list[ReadProblem]]:
    """Every policy change among read events (from files, folders or S3 alike), in time
    order, each event once even when it was read twice; and the read problems."""
    problems: list[ReadProblem] = []
    seen: dict[str, PolicyChange] = {}
    for item in items:
        if isinstance(item, ReadProblem):
            problems.append(item)
            continue
        change = read_change(item)
        if isinstance(change, ReadProblem):
            problems.append(change)
        elif change is not None:
            seen.setdefault(change.event_id, change)
    return sorted(seen.values(), key=order_key), problems
