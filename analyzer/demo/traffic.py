"""Who calls what in the demo organization: ``traffic.yaml`` turned into CloudTrail templates.

The data file holds the callers, the allowed traffic (``workloads``) and the denial
scenarios, each with the reason code (``analyzer/data/reasons.json``) the analyzer must find
and the error AWS returns, in the shape AWS words it
(https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html). This
module knows only how AWS records a caller and a call: ``userIdentity`` per identity type,
request parameters and resources per kind of call (``traffic.yaml``'s header lists them).

``templates()`` renders every (caller, call, variant) once into a CloudTrail event whose
time and ids are still placeholders; the writer only fills those in, which is what makes
a million events cheap.

The data's policy changes (``traffic.yaml``'s ``changes``) are events too: Organizations
calls at fixed times, rendered in the shapes CloudTrail logs them
(``tests/data/history/README.md``). Calls and scenarios that name a change happen only
before it (``until``: a call a change stops, a denial a change fixes) or after it
(``after``); ``change_window`` says when that is.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from analyzer.arn import Arn
from analyzer.demo.data import DemoDataError, traffic_data
from analyzer.demo.org import DemoOrganization, Role, demo_organization, policy_document

# Placeholders the writer replaces per event (see ``analyzer.demo.writer``).
TIME, CREATED, EVENT_ID, REQUEST_ID = "@@TIME@@", "@@CREATED@@", "@@EVENTID@@", "@@REQUESTID@@"

# Object-level S3, item-level DynamoDB, Lambda Invoke, SQS and SNS messages are data events.
_DATA_EVENTS = frozenset(
    {
        ("s3", "GetObject"),
        ("s3", "PutObject"),
        ("s3", "HeadObject"),
        ("s3", "DeleteObject"),
        ("dynamodb", "GetItem"),
        ("dynamodb", "PutItem"),
        ("dynamodb", "UpdateItem"),
        ("dynamodb", "DeleteItem"),
        ("dynamodb", "Query"),
        ("dynamodb", "Scan"),
        ("lambda", "Invoke"),
        ("sqs", "SendMessage"),
        ("sqs", "ReceiveMessage"),
        ("sqs", "DeleteMessage"),
        ("sns", "Publish"),
    }
)
_READ_PREFIXES = (
    "Get",
    "List",
    "Describe",
    "Head",
    "Lookup",
    "Filter",
    "BatchGet",
    "Query",
    "Scan",
    "Search",
)
_EVENT_SOURCES = {"monitoring": "monitoring.amazonaws.com", "cloudwatch": "monitoring.amazonaws.com"}
_CONSOLE_AGENT = "CONSOLE"
_DOCUMENTATION_IP = "203.0.113.10"  # TEST-NET-3 (RFC 5737), for callers whose address says nothing


def _stable(text: str, size: int, alphabet: str = "0123456789abcdef") -> str:
    """A reproducible pseudo-random id derived from ``text``."""
    digest = hashlib.sha256(text.encode()).digest() * (size // 32 + 1)
    return "".join(alphabet[b % len(alphabet)] for b in digest[:size])


def _split(account_and_name: str) -> tuple[str, str]:
    account, _, name = account_and_name.partition("/")
    return account, name


# --- callers -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Actor:
    """Someone whose calls CloudTrail records, with the ``userIdentity`` type AWS gives it.

    ``kind`` is CloudTrail's type: ``IAMUser``, ``AssumedRole`` (a role session),
    ``Root``, ``AWSService`` (a service acting itself, e.g. assuming a role) or
    ``AWSAccount`` (a caller from another account as the resource owner's trail sees it).
    ``role_id``/``user_id`` are the IAM unique ids the organization gives it.
    """

    kind: str
    account: str
    name: str  # user name, role name, or service principal
    path: str = "/"
    session: str = ""
    ip: str = _DOCUMENTATION_IP
    agent: str = ""
    mfa: bool = False
    vpce: str | None = None  # the VPC endpoint its S3/DynamoDB calls go through
    unique_id: str = ""  # the role's or user's IAM unique id (AROA.../AIDA...)
    from_console: bool = False  # signed in to the console: CloudTrail marks its credentials so

    @property
    def arn(self) -> str:
        """The ARN AWS names in error messages (the session ARN for a role)."""
        if self.kind == "IAMUser":
            return f"arn:aws:iam::{self.account}:user{self.path}{self.name}"
        if self.kind in ("AssumedRole", "AWSAccount"):
            return f"arn:aws:sts::{self.account}:assumed-role/{self.name}/{self.session}"
        if self.kind == "Root":
            return f"arn:aws:iam::{self.account}:root"
        return self.name

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role{self.path}{self.name}"

    def identity(self) -> dict[str, Any]:
        """CloudTrail's ``userIdentity`` (session creation time is a placeholder)."""
        key = _stable(self.arn, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        attributes = {"creationDate": CREATED, "mfaAuthenticated": "true" if self.mfa else "false"}
        if self.kind == "IAMUser":
            return {
                "type": "IAMUser",
                "principalId": self.unique_id,
                "arn": self.arn,
                "accountId": self.account,
                "accessKeyId": f"AKIA{key}",
                "userName": self.name,
            }
        if self.kind == "AssumedRole":
            return {
                "type": "AssumedRole",
                "principalId": f"{self.unique_id}:{self.session}",
                "arn": self.arn,
                "accountId": self.account,
                "accessKeyId": f"ASIA{key}",
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": self.unique_id,
                        "arn": self.role_arn,
                        "accountId": self.account,
                        "userName": self.name,
                    },
                    "attributes": attributes,
                },
            }
        if self.kind == "AWSAccount":
            return {
                "type": "AWSAccount",
                "principalId": f"{self.unique_id}:{self.session}",
                "accountId": self.account,
            }
        if self.kind == "Root":
            return {
                "type": "Root",
                "principalId": self.account,
                "arn": self.arn,
                "accountId": self.account,
                "accessKeyId": f"ASIA{key}",
                "sessionContext": {"attributes": attributes},
            }
        return {"type": "AWSService", "invokedBy": self.name}


def _actor(data: Mapping[str, Any], demo: DemoOrganization, agents: Mapping[str, str]) -> Actor:
    """An actor of ``traffic.yaml``: ``role``, ``sso``, ``user``, ``root``, ``other_account`` or
    ``service``, with the defaults each kind has."""

    def agent(default: str) -> str:
        return agents[data.get("agent", default)]

    console = data.get("agent", _CONSOLE_AGENT if "sso" in data or "root" in data else "") == _CONSOLE_AGENT

    ip: str = data.get("ip", _DOCUMENTATION_IP)
    if "role" in data or "sso" in data:
        sso = "sso" in data
        role = demo.role(*_split(data["sso"] if sso else data["role"]))
        return Actor(
            "AssumedRole",
            role.account,
            role.name,
            role.path,
            data["email"] if sso else data["session"],
            data.get("ip", "10.20.31.44"),
            agent(_CONSOLE_AGENT if sso else "BOTO3"),
            mfa=sso,
            vpce=data.get("vpce"),
            unique_id=role.role_id,
            from_console=console,
        )
    if "user" in data:
        user = demo.user(*_split(data["user"]))
        return Actor(
            "IAMUser",
            user.account,
            user.name,
            ip=ip,
            agent=agent("CLI"),
            unique_id=user.user_id,
            from_console=console,
        )
    if "root" in data:
        return Actor(
            "Root", data["root"], "root", ip=ip, agent=agent(_CONSOLE_AGENT), mfa=True, from_console=console
        )
    if "other_account" in data:
        role = demo.role(*_split(data["other_account"]))
        return Actor(
            "AWSAccount",
            role.account,
            role.name,
            role.path,
            data["session"],
            ip,
            agent("BOTO3"),
            unique_id=role.role_id,
            from_console=console,
        )
    if "service" in data:
        return Actor("AWSService", "", data["service"], ip=data["service"], agent=data["service"])
    raise DemoDataError(f"traffic.yaml: an actor of no known kind: {sorted(data)}")


# --- calls -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """One API call as CloudTrail records it. ``{v}`` in any string is replaced by each of
    ``variants`` in turn, so one row yields several distinct requests (object keys, ids)."""

    service: str  # the eventSource's first label: s3 -> s3.amazonaws.com
    name: str  # eventName
    params: Mapping[str, Any] | None = None
    resources: tuple[tuple[str, str, str], ...] = ()  # (type, ARN, account)
    response: Mapping[str, Any] | None = None
    region: str = ""
    variants: tuple[str, ...] = ("",)
    weight: float = 1.0
    until: str | None = None  # made only before this policy change of traffic.yaml

    @property
    def event_source(self) -> str:
        return _EVENT_SOURCES.get(self.service, f"{self.service}.amazonaws.com")

    @property
    def read_only(self) -> bool:
        return self.name.startswith(_READ_PREFIXES) or self.name in ("ReceiveMessage", "GetCallerIdentity")

    @property
    def is_data_event(self) -> bool:
        return (self.service, self.name) in _DATA_EVENTS


def _arn(text: str) -> Arn:
    """The ARN a call of ``traffic.yaml`` names: a data error, not a crash, when it is not one."""
    parsed = Arn.parse(text)
    if parsed is None:
        raise DemoDataError(f"traffic.yaml: {text!r} is not an ARN")
    return parsed


def _queue_url(queue_arn: str) -> str:
    queue = _arn(queue_arn)
    return f"https://sqs.{queue.region}.amazonaws.com/{queue.account}/{queue.resource}"


def _s3(name: str, data: Mapping[str, Any], region: str) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    bucket = data["bucket"]
    params: dict[str, Any] = {"bucketName": bucket, "Host": f"{bucket}.s3.{region}.amazonaws.com"}
    resources: list[tuple[str, str, str]] = []
    if "key" in data:
        params["key"] = data["key"]
        resources.append(("AWS::S3::Object", f"arn:aws:s3:::{bucket}/{data['key']}", ""))
    elif name == "ListObjects":
        params.update({"list-type": "2", "prefix": "", "encoding-type": "url"})
    resources.append(("AWS::S3::Bucket", f"arn:aws:s3:::{bucket}", data.get("owner", "")))
    return params, resources


def _ddb(name: str, table_arn: str) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    params: dict[str, Any] = {"tableName": table_arn.rsplit("/", 1)[-1]}
    if name in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
        params["key"] = {"pk": "HIDDEN_DUE_TO_SECURITY_REASONS"}
    return params, [("AWS::DynamoDB::Table", table_arn, _arn(table_arn).account)]


def _sqs(name: str, queue_arn: str) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    params: dict[str, Any] = {"queueUrl": _queue_url(queue_arn)}
    if name == "ReceiveMessage":
        params.update({"maxNumberOfMessages": 10, "waitTimeSeconds": 20})
    if name == "DeleteMessage":
        params["receiptHandle"] = "HIDDEN_DUE_TO_SECURITY_REASONS"
    return params, [("AWS::SQS::Queue", queue_arn, _arn(queue_arn).account)]


def _kms(name: str, key_arn: str) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    params: dict[str, Any] = {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    if name in ("GenerateDataKey", "DescribeKey", "Encrypt"):
        params = {"keyId": key_arn, **({"keySpec": "AES_256"} if name == "GenerateDataKey" else {})}
    return params, [("AWS::KMS::Key", key_arn, _arn(key_arn).account)]


def _assume(role: Role, session: str) -> tuple[dict[str, Any], list[tuple[str, str, str]], dict[str, Any]]:
    session_arn = f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{session}"
    key = "ASIA" + _stable(role.arn + session, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    params = {"roleArn": role.arn, "roleSessionName": session, "durationSeconds": 3600}
    response = {
        "credentials": {"accessKeyId": key, "sessionToken": "IQoJb3JpZ2luX2VjEOf//////////wEaCXVz"},
        "assumedRoleUser": {"assumedRoleId": f"{role.role_id}:{session}", "arn": session_arn},
    }
    return params, [("AWS::IAM::Role", role.arn, role.account)], response


_INSTANCES = ("i-0a12b34c56d78e901", "i-0b23c45d67e89f012", "i-0c34d56e78f90a123")
_INSTANCE_TYPES = ("t3.micro", "m6i.large", "c7g.xlarge")


def _call(data: Mapping[str, Any], demo: DemoOrganization) -> Call:
    """A call of ``traffic.yaml``, by its kind (the mapping's first key)."""
    kind = next(iter(data))
    region = data.get("region", demo.home_region)
    variants = tuple(str(v) for v in data.get("variants", ("",)))
    params: Any
    resources: list[tuple[str, str, str]] = []
    response = None
    if kind == "s3":
        service, name = "s3", data["s3"]
        params, resources = _s3(name, data, region)
    elif kind == "ddb":
        service, name = "dynamodb", data["ddb"]
        params, resources = _ddb(name, data["table"])
    elif kind == "sqs":
        service, name = "sqs", data["sqs"]
        params, resources = _sqs(name, data["queue"])
    elif kind == "kms":
        service, name = "kms", data["kms"]
        params, resources = _kms(name, data["key"])
    elif kind == "assume":
        service, name = "sts", "AssumeRole"
        params, resources, response = _assume(demo.role(*_split(data["assume"])), data["session"])
    elif kind == "ec2":
        service, name = "ec2", data["ec2"]
        params = data.get("params", {"filterSet": {}})
    elif kind == "instances":
        service, name = "ec2", data["instances"]
        params = {"instancesSet": {"items": [{"instanceId": "{v}"}]}}
        variants = _INSTANCES
    elif kind == "run_instances":
        service, name = "ec2", "RunInstances"
        params = {
            "instancesSet": {"items": [{"imageId": "ami-0c55b159cbfafe1f0", "minCount": 1, "maxCount": 1}]},
            "instanceType": "{v}",
            "subnetId": data["run_instances"],
            "disableApiTermination": False,
            "tagSpecificationSet": {
                "items": [{"resourceType": "instance", "tags": [{"key": "team", "value": "orders"}]}]
            },
        }
        variants = _INSTANCE_TYPES
    elif kind == "call":
        service, _, name = data["call"].partition(":")
        params = data.get("params")
        resources = [(kind_, arn, owner) for kind_, arn, owner in data.get("resources", ())]
    else:
        raise DemoDataError(f"traffic.yaml: unknown kind of call {kind!r}")
    return Call(
        service,
        name,
        params,
        tuple(resources),
        response,
        region,
        variants,
        float(data.get("weight", 1.0)),
        data.get("until"),
    )


# --- policy changes ----------------------------------------------------------------------------


def _change_call(data: Mapping[str, Any], demo: DemoOrganization) -> Call:
    """One event of a policy change: an Organizations call by the management account, logged
    in us-east-1 (Organizations is a global service), with the request and response members
    CloudTrail records (tests/data/history/README.md lists the public samples)."""
    kind = next((key for key in ("create_policy", "attach_policy", "update_policy") if key in data), None)
    policy = demo.org_policies.get(str(data.get(kind or "", "")))
    if kind is None or policy is None:
        raise DemoDataError(f"traffic.yaml: a change event of no known kind or policy: {dict(data)}")
    if kind == "attach_policy":
        return Call(
            "organizations",
            "AttachPolicy",
            {"targetId": data["target"], "policyId": policy.id},
            region="us-east-1",
        )
    # The content the call sets: the policy as organization.yaml holds it (after every change),
    # or the ``document`` of an earlier version that a later change replaces.
    if "document" in data:
        content = json.dumps(policy_document(data["document"]))
    else:
        content = policy.document if isinstance(policy.document, str) else json.dumps(policy.document)
    summary = {
        "id": policy.id,
        "arn": policy.arn,
        "name": policy.name,
        "description": policy.description,
        "type": policy.type,
        "awsManaged": policy.aws_managed,
    }
    params = {"name": policy.name, "description": policy.description, "content": content}
    # UpdatePolicy names the policy it changes; CreatePolicy gives the new one's type.
    params |= {"policyId": policy.id} if kind == "update_policy" else {"type": policy.type}
    return Call(
        "organizations",
        "UpdatePolicy" if kind == "update_policy" else "CreatePolicy",
        params,
        response={"policy": {"policySummary": summary, "content": content}},
        region="us-east-1",
    )


def _seconds(text: str) -> int:
    """``HH:MM:SS`` as seconds after midnight."""
    try:
        hours, minutes, seconds = (int(part) for part in text.split(":"))
    except ValueError:
        raise DemoDataError(f"traffic.yaml: {text!r} is not a time of day (HH:MM:SS)") from None
    if not (0 <= hours < 24 and 0 <= minutes < 60 and 0 <= seconds < 60):
        raise DemoDataError(f"traffic.yaml: {text!r} is not a time of day (HH:MM:SS)")
    return hours * 3600 + minutes * 60 + seconds


@dataclass(frozen=True, slots=True)
class ChangeStep:
    """One event of a policy change, ``second`` seconds after midnight of the change's day."""

    second: int
    call: Call


@dataclass(frozen=True, slots=True)
class DemoChange:
    """A policy change of ``traffic.yaml``: who makes it, on which day of the window, and its
    events in time order."""

    name: str
    why: str
    actor: Actor
    day: int  # 0 is the window's first day
    steps: tuple[ChangeStep, ...]

    def time(self, step: ChangeStep, start: date, days: int) -> datetime:
        """When ``step`` happens in a window of ``days`` days from ``start``: on the change's
        day, or on the window's last day when the window is shorter."""
        midnight = datetime(start.year, start.month, start.day, tzinfo=UTC)
        return midnight + timedelta(days=min(self.day, days - 1), seconds=step.second)


def _change(data: Mapping[str, Any], actors: Mapping[str, Actor], demo: DemoOrganization) -> DemoChange:
    steps = tuple(
        sorted(
            (ChangeStep(_seconds(str(step["at"])), _change_call(step, demo)) for step in data["events"]),
            key=lambda step: step.second,
        )
    )
    if not steps or int(data["day"]) < 0:
        raise DemoDataError(f"traffic.yaml: change {data['name']} needs events and a day >= 0")
    return DemoChange(data["name"], data["why"], actors[data["actor"]], int(data["day"]), steps)


# --- the allowed traffic and the denials -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workload:
    """One caller and the calls it makes; ``weight`` is its share of the allowed traffic."""

    actor: Actor
    weight: float
    calls: tuple[Call, ...]


@dataclass(frozen=True, slots=True)
class Scenario:
    """One kind of denial: who, which call, what AWS answered, and which policy causes it.

    ``action`` and ``resource`` are the IAM action and resource the engine evaluates (they
    are also what AWS names in the message); ``message_resource`` is the resource as the
    message words it when that differs (S3 quotes it, IAM names ``role <name>``).
    """

    code: str  # the reason code the analyzer must report (analyzer/data/reasons.json)
    why: str
    actor: Actor
    call: Call
    action: str
    resource: str
    error_code: str
    message: str  # AWS's wording, with {principal}, {action}, {resource}... to fill in
    weight: float
    message_resource: str | None = None
    policy_arn: str = ""
    after: str | None = None  # denied only after this policy change of traffic.yaml
    until: str | None = None  # denied only before this policy change of traffic.yaml (its fix)


@dataclass(frozen=True)
class Traffic:
    """``traffic.yaml``, built: the allowed workloads, the denial scenarios and the policy
    changes between them."""

    workloads: tuple[Workload, ...]
    scenarios: tuple[Scenario, ...]
    changes: tuple[DemoChange, ...] = ()

    def change_window(self, start: date, days: int) -> dict[str, tuple[datetime, datetime]]:
        """Each change's first and last event time in a window of ``days`` days from ``start``:
        ``until`` calls stop before the first, ``after`` denials begin after the last."""
        return {
            change.name: (
                change.time(change.steps[0], start, days),
                change.time(change.steps[-1], start, days),
            )
            for change in self.changes
        }


@lru_cache(maxsize=1)
def traffic() -> Traffic:
    """The demo's traffic (built once per process)."""
    data = traffic_data()
    demo = demo_organization()
    agents = data["agents"]
    actors = {name: _actor(entry, demo, agents) for name, entry in data["actors"].items()}
    workloads = tuple(
        Workload(actors[w["actor"]], float(w["weight"]), tuple(_call(c, demo) for c in w["calls"]))
        for w in data["workloads"]
    )
    messages = data["messages"]
    scenarios = tuple(
        Scenario(
            s["code"],
            s["why"],
            actors[s["actor"]],
            _call(s["call"], demo),
            s["action"],
            s["resource"],
            s["error"],
            messages[s["message"]],
            float(s["weight"]),
            s.get("message_resource"),
            (demo.org_policies[s["policy"]].arn or "") if "policy" in s else "",
            s.get("after"),
            s.get("until"),
        )
        for s in data["scenarios"]
    )
    changes = tuple(_change(entry, actors, demo) for entry in data.get("changes", ()))
    named = {change.name for change in changes}
    for name in [c.until for w in workloads for c in w.calls] + [
        n for s in scenarios for n in (s.after, s.until)
    ]:
        if name is not None and name not in named:
            raise DemoDataError(f"traffic.yaml: no change named {name!r} under changes")
    return Traffic(workloads, scenarios, changes)


def scenarios() -> tuple[Scenario, ...]:
    return traffic().scenarios


# --- rendering ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Template:
    """One rendered event (with placeholders) and what it stands for.

    ``code`` is None for allowed traffic, else the scenario's reason code; ``weight`` is
    its share within its kind (allowed or denied).
    """

    event: Mapping[str, Any]
    account: str  # the account whose trail folder receives it (recipientAccountId)
    region: str
    weight: float
    code: str | None = None
    scenario: int | None = None  # index in traffic().scenarios
    principal: str = ""  # for denials: the caller as AWS names it
    action: str = ""
    resource: str = ""
    until: str | None = None  # made only before this change (allowed traffic, or a fixed denial)
    after: str | None = None  # a denial only after this change


def _fill(value: Any, variant: str) -> Any:
    if isinstance(value, str):
        return value.replace("{v}", variant)
    if isinstance(value, Mapping):
        return {key: _fill(item, variant) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_fill(item, variant) for item in value]
    return value


def _encoded_message(seed: str) -> str:
    """An opaque stand-in for EC2's encoded authorization message (only STS can decode real ones)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return _stable(seed, 344, alphabet)


def _event(actor: Actor, call: Call, variant: str, error: tuple[str, str] | None = None) -> dict[str, Any]:
    """A CloudTrail record (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html)."""
    account = actor.account or (call.resources[0][2] if call.resources else demo_organization().management)
    host = call.params.get("Host") if call.params else None
    event: dict[str, Any] = {
        "eventVersion": "1.10" if call.is_data_event else "1.09",
        "userIdentity": actor.identity(),
        "eventTime": TIME,
        "eventSource": call.event_source,
        "eventName": call.name,
        "awsRegion": call.region,
        "sourceIPAddress": actor.ip,
        "userAgent": actor.agent,
    }
    if error is not None:
        event["errorCode"], message = error
        if message:
            event["errorMessage"] = message
    event["requestParameters"] = _fill(call.params, variant) if call.params is not None else None
    event["responseElements"] = None if error is not None else _fill(call.response, variant)
    if call.service == "s3":
        event["additionalEventData"] = {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": 0,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": _stable(call.name + variant, 56),
        }
    event["requestID"] = REQUEST_ID
    event["eventID"] = EVENT_ID
    event["readOnly"] = call.read_only
    if call.resources:
        event["resources"] = [
            {"accountId": owner, "type": kind, "ARN": _fill(arn, variant)}
            if owner
            else {"type": kind, "ARN": _fill(arn, variant)}
            for kind, arn, owner in call.resources
        ]
    event["eventType"] = "AwsApiCall"
    event["managementEvent"] = not call.is_data_event
    # A service or another account's caller is logged by the resource's account.
    foreign = actor.kind in ("AWSService", "AWSAccount") and call.resources
    event["recipientAccountId"] = (call.resources[-1][2] if foreign else "") or account
    if actor.kind == "AWSService":
        event["sharedEventID"] = _stable(f"{actor.name}{call.name}{variant}", 32)
    if actor.vpce and call.service in ("s3", "dynamodb"):
        event["vpcEndpointId"] = actor.vpce
        event["vpcEndpointAccountId"] = actor.account
    event["eventCategory"] = "Data" if call.is_data_event else "Management"
    if actor.kind != "AWSService":
        event["tlsDetails"] = {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": host or f"{call.service}.{call.region}.amazonaws.com",
        }
    if actor.from_console:
        event["sessionCredentialFromConsole"] = "true"
    return event


def _error(scenario: Scenario, variant: str) -> tuple[str, str]:
    resource = scenario.resource.replace("{v}", variant)
    values = {
        "principal": scenario.actor.arn,
        "action": scenario.action,
        "resource": (scenario.message_resource or resource).replace("{v}", variant),
        "policy_arn": scenario.policy_arn,
        "encoded": _encoded_message(f"{scenario.code}{scenario.action}{variant}"),
    }
    return scenario.error_code, scenario.message.format(**values)


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every template, allowed and denied; built once per run (a few hundred entries)."""

    allowed: tuple[Template, ...]
    denied: tuple[Template, ...]
    changes: tuple[tuple[DemoChange, ChangeStep, Template], ...] = ()  # each policy-change event


def templates() -> Catalog:
    """Render every workload call and scenario variant once."""
    allowed = []
    demo_traffic = traffic()
    for workload in demo_traffic.workloads:
        total = sum(call.weight for call in workload.calls)
        for call in workload.calls:
            for variant in call.variants:
                event = _event(workload.actor, call, variant)
                weight = workload.weight * call.weight / total / len(call.variants)
                allowed.append(
                    Template(event, event["recipientAccountId"], call.region, weight, until=call.until)
                )
    denied = []
    for index, scenario in enumerate(demo_traffic.scenarios):
        for variant in scenario.call.variants:
            event = _event(scenario.actor, scenario.call, variant, _error(scenario, variant))
            denied.append(
                Template(
                    event,
                    event["recipientAccountId"],
                    scenario.call.region,
                    scenario.weight / len(scenario.call.variants),
                    scenario.code,
                    index,
                    scenario.actor.arn,
                    scenario.action,
                    scenario.resource.replace("{v}", variant),
                    until=scenario.until,
                    after=scenario.after,
                )
            )
    changes = []
    for change in demo_traffic.changes:
        for step in change.steps:
            event = _event(change.actor, step.call, "")
            changes.append(
                (change, step, Template(event, event["recipientAccountId"], step.call.region, 0.0))
            )
    return Catalog(tuple(allowed), tuple(denied), tuple(changes))


def shuffled_denials(catalog: Catalog, count: int, rng: random.Random) -> list[int]:
    """``count`` denial template indexes: every template at least once (when ``count`` allows),
    the rest drawn by weight, so the same few requests repeat as real denials do."""
    indexes = list(range(len(catalog.denied)))
    rng.shuffle(indexes)
    picked = indexes[:count]
    if count > len(picked):
        weights = [template.weight for template in catalog.denied]
        picked += rng.choices(range(len(catalog.denied)), weights, k=count - len(picked))
    rng.shuffle(picked)
    return picked
