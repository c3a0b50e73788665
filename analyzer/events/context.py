"""The request context keys a CloudTrail event lets us know (``aws:SourceIp``, ``aws:RequestTag/*``, ...).

Keys the event cannot tell (principal and resource tags, for instance) are left out; the
snapshot adds tags, and an absent key is what the engine's ``...IfExists`` operators expect.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from analyzer.actions import action_condition_keys, service_prefix
from analyzer.engine.context import ContextValue
from analyzer.engine.principals import PrincipalKind
from analyzer.events.caller import Caller
from analyzer.events.fields import json_object, optional_text

_PRINCIPAL_TYPES = {
    PrincipalKind.USER: "User",
    PrincipalKind.ASSUMED_ROLE: "AssumedRole",
    PrincipalKind.FEDERATED_USER: "FederatedUser",
    PrincipalKind.ROOT: "Account",
    PrincipalKind.ANONYMOUS: "Anonymous",
}
_TAG_KEYS = ("key", "tagkey")
_TAG_VALUES = ("value", "tagvalue")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _tag_pairs(value: Any) -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        items = value.get("items") if isinstance(value.get("items"), list) else None
        if items is not None:
            return _tag_pairs(items)
        return [(str(k), str(v)) for k, v in value.items() if isinstance(v, str | int | float)]
    pairs = []
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, Mapping):
                continue
            lowered = {str(k).lower(): v for k, v in item.items()}
            key = next((lowered[k] for k in _TAG_KEYS if k in lowered), None)
            tag_value = next((lowered[k] for k in _TAG_VALUES if k in lowered), "")
            if isinstance(key, str):
                pairs.append((key, "" if tag_value is None else str(tag_value)))
    return pairs


def request_tags(params: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Tags a request sets (``aws:RequestTag/…``), in every shape services record them:
    ``tags``/``Tags`` as a list of ``{key, value}`` or an object, EC2's ``tagSet.items``
    and ``tagSpecificationSet.items[].tags``."""
    if not isinstance(params, Mapping):
        return []
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        lowered = str(key).lower()
        if lowered in ("tags", "tagset", "tagging", "taglist"):
            pairs.extend(_tag_pairs(value))
        elif lowered in ("tagspecificationset", "tagspecifications"):
            specs = value.get("items", []) if isinstance(value, Mapping) else value
            for spec in specs if isinstance(specs, list) else []:
                if isinstance(spec, Mapping):
                    for tag_key in ("tags", "Tags", "tagSet"):
                        pairs.extend(_tag_pairs(spec.get(tag_key)))
    return pairs


_S3_HEADERS = (
    "x-amz-acl",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
)


def _header_value(value: Any) -> str | None:
    """A request header S3 records in ``requestParameters``: as a string, or (as real
    records do) as a list holding it, ``"x-amz-acl": ["private"]``. These headers are
    single-valued, so a list of several values is no value we can tell."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value if isinstance(value, str) else None


def _role_session_keys(params: Mapping[str, Any]) -> dict[str, ContextValue]:
    """``sts:RoleSessionName``, ``sts:SourceIdentity`` and ``sts:TransitiveTagKeys`` from the
    request's ``roleSessionName``, ``sourceIdentity`` and ``transitiveTagKeys``
    (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecuritytokenservice.html#awssecuritytokenservice-policy-keys).
    The session tags themselves are ``aws:RequestTag/…`` (``request_tags``)."""
    keys: dict[str, ContextValue] = {}
    if session_name := optional_text(params.get("roleSessionName")):
        keys["sts:RoleSessionName"] = session_name
    if source_identity := optional_text(params.get("sourceIdentity")):
        keys["sts:SourceIdentity"] = source_identity
    transitive = params.get("transitiveTagKeys")
    if isinstance(transitive, list) and (names := tuple(k for k in transitive if isinstance(k, str) and k)):
        keys["sts:TransitiveTagKeys"] = names
    return keys


def _web_identity_keys(identity: Mapping[str, Any]) -> dict[str, ContextValue]:
    """The OIDC provider's ``<provider>:sub`` and ``<provider>:aud`` for an
    ``AssumeRoleWithWebIdentity`` call, where ``<provider>`` is the provider's URL without
    ``https://``, as its IAM ARN names it
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif).

    CloudTrail records the caller as ``identityProvider`` (the provider's ARN), ``userName``
    (the token's subject) and ``principalId`` ``<identityProvider>:<audience>:<subject>``, e.g.
    ``arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com:sts.amazonaws.com:repo:org/repo:ref:refs/heads/main``.
    Both keys are set only when the three agree. Providers without an IAM ARN (Google,
    Facebook, Login with Amazon, Cognito) name their keys differently: none are set."""
    provider_arn = optional_text(identity.get("identityProvider"))
    subject = optional_text(identity.get("userName"))
    principal_id = optional_text(identity.get("principalId"))
    if not (provider_arn and subject and principal_id) or ":oidc-provider/" not in provider_arn:
        return {}
    provider = provider_arn.split(":oidc-provider/", 1)[1]
    head, tail = f"{provider_arn}:", f":{subject}"
    if not provider or len(principal_id) <= len(head) + len(tail):
        return {}
    if not (principal_id.startswith(head) and principal_id.endswith(tail)):
        return {}
    return {f"{provider}:sub": subject, f"{provider}:aud": principal_id[len(head) : -len(tail)]}


def _kms_keys(params: Mapping[str, Any]) -> dict[str, ContextValue]:
    """KMS request keys (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html):
    ``kms:RequestAlias`` is the alias *name* when ``keyId`` is an alias name or alias ARN
    (absent for a key id or key ARN, even of the same key); ``kms:EncryptionAlgorithm``;
    and CreateGrant's ``kms:GrantOperations`` (multi-valued), ``kms:GranteePrincipal`` and
    ``kms:RetiringPrincipal``. Which calls AWS sets each for is ``_for_the_call``'s to say."""
    keys: dict[str, ContextValue] = {}
    if key_id := optional_text(params.get("keyId")):
        alias = key_id.split(":", 5)[5] if key_id.startswith("arn:") and key_id.count(":") >= 5 else key_id
        if alias.startswith("alias/") and len(alias) > len("alias/"):
            keys["kms:RequestAlias"] = alias
    if algorithm := optional_text(params.get("encryptionAlgorithm")):
        keys["kms:EncryptionAlgorithm"] = algorithm
    operations = params.get("operations")
    if isinstance(operations, list) and (
        names := tuple(op for op in operations if isinstance(op, str) and op)
    ):
        keys["kms:GrantOperations"] = names
    if grantee := optional_text(params.get("granteePrincipal")):
        keys["kms:GranteePrincipal"] = grantee
    if retiring := optional_text(params.get("retiringPrincipal")):
        keys["kms:RetiringPrincipal"] = retiring
    return keys


def _for_the_call(
    prefix: str, event_name: str | None, keys: dict[str, ContextValue]
) -> dict[str, ContextValue]:
    """The service ``keys`` AWS's service authorization reference lists for the action named
    like the call (``kms:Decrypt`` for KMS's Decrypt): a key present where AWS sets none
    could make a condition match that AWS's would not. ReEncrypt, whose two actions each
    have a key of their own, gets none."""
    listed = action_condition_keys(f"{prefix}:{event_name}") if event_name else frozenset()
    return {key: value for key, value in keys.items() if key in listed}


def _is_ip(value: str | None) -> bool:
    if not value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def build_context(event: Mapping[str, Any], caller: Caller) -> dict[str, ContextValue]:
    """Condition keys the event lets us know
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html).

    Keys AWS would not send for this request are left out, not set to a guess:
    a missing key and a false one behave differently in conditions.
    """
    context: dict[str, ContextValue] = {}
    identity = json_object(event.get("userIdentity"))
    session = json_object(identity.get("sessionContext"))
    attributes = json_object(session.get("attributes"))
    params = json_object(event.get("requestParameters"))
    principal = caller.principal

    via_service = bool(caller.invoked_by) and caller.identity_type != "AWSService"
    source_ip = optional_text(event.get("sourceIPAddress"))
    vpce = optional_text(event.get("vpcEndpointId"))
    if source_ip is not None and _is_ip(source_ip) and not via_service:
        # Through a VPC endpoint the caller's (private) address is aws:VpcSourceIp and
        # aws:SourceIp is absent; aws:SourceVpc comes from the snapshot (analysis.py).
        context["aws:VpcSourceIp" if vpce else "aws:SourceIp"] = source_ip
    if vpce:
        context["aws:SourceVpce"] = vpce
    if vpce_account := optional_text(event.get("vpcEndpointAccountId")):
        context["aws:VpceAccount"] = vpce_account
    region = optional_text(event.get("awsRegion"))
    if region:
        context["aws:RequestedRegion"] = region
    if when := parse_time(optional_text(event.get("eventTime"))):
        context["aws:CurrentTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        context["aws:EpochTime"] = str(int(when.timestamp()))
    tls = event.get("tlsDetails")
    if isinstance(tls, Mapping) and tls.get("tlsVersion"):
        context["aws:SecureTransport"] = "true"
    if agent := optional_text(event.get("userAgent")):
        context["aws:UserAgent"] = agent
    context["aws:ViaAWSService"] = "true" if via_service else "false"
    if via_service and caller.invoked_by and caller.invoked_by.endswith(".amazonaws.com"):
        context["aws:CalledVia"] = (caller.invoked_by,)
        context["aws:CalledViaFirst"] = caller.invoked_by
        context["aws:CalledViaLast"] = caller.invoked_by

    # the principal
    if principal.kind == PrincipalKind.SERVICE:
        context["aws:PrincipalIsAWSService"] = "true"
        context["aws:PrincipalServiceName"] = principal.arn
    elif principal.kind != PrincipalKind.ANONYMOUS:
        context["aws:PrincipalIsAWSService"] = "false"
        # Only the issuer's ARN carries the role's path: a rebuilt one might not match.
        principal_arn = caller.role_arn if principal.kind == PrincipalKind.ASSUMED_ROLE else caller.arn
        if principal_arn and caller.identity_type != "AWSAccount":
            context["aws:PrincipalArn"] = principal_arn
        if caller.account:
            context["aws:PrincipalAccount"] = caller.account
        if principal.kind in _PRINCIPAL_TYPES and caller.identity_type != "AWSAccount":
            context["aws:PrincipalType"] = _PRINCIPAL_TYPES[principal.kind]
        if principal.kind == PrincipalKind.ROOT and caller.account:
            context["aws:userid"] = caller.account
        elif caller.principal_id:
            context["aws:userid"] = caller.principal_id
        user_name = caller.user_name or principal.name
        if principal.kind == PrincipalKind.USER and user_name:
            context["aws:username"] = user_name
    mfa = optional_text(attributes.get("mfaAuthenticated"))
    if mfa is not None:
        # Long-term access keys (AKIA...) send no MFA key at all.
        context["aws:MultiFactorAuthPresent"] = mfa.lower()
    issued = parse_time(optional_text(attributes.get("creationDate")))
    if issued is not None:
        context["aws:TokenIssueTime"] = issued.strftime("%Y-%m-%dT%H:%M:%SZ")
        now = parse_time(optional_text(event.get("eventTime")))
        if mfa == "true" and now is not None:
            context["aws:MultiFactorAuthAge"] = str(max(0, int((now - issued).total_seconds())))
    if source_identity := optional_text(session.get("sourceIdentity")) or optional_text(
        identity.get("sourceIdentity")
    ):
        context["aws:SourceIdentity"] = source_identity
    web = session.get("webIdFederationData")
    if isinstance(web, Mapping) and (provider := optional_text(web.get("federatedProvider"))):
        context["aws:FederatedProvider"] = provider

    # the request
    prefix = service_prefix(optional_text(event.get("eventSource")) or "")
    event_name = optional_text(event.get("eventName"))
    if prefix == "s3":
        for key in ("prefix", "delimiter", "max-keys"):
            value = params.get(key)
            if isinstance(value, str | int):
                context[f"s3:{key}"] = str(value)
        for header in _S3_HEADERS:
            if (value := _header_value(params.get(header))) is not None:
                context[f"s3:{header}"] = value
    if prefix == "sts":
        context.update(_for_the_call(prefix, event_name, _role_session_keys(params)))
        if event_name == "AssumeRoleWithWebIdentity" and caller.identity_type == "WebIdentityUser":
            context.update(_web_identity_keys(identity))
    if prefix == "kms":
        keys = _kms_keys(params)
        # The caller's account, on every request KMS authorizes: a key policy's common "deny
        # callers of other accounts" (StringNotEquals kms:CallerAccount) read a missing key as
        # a match, so an explicit deny, for callers of the key's own account (held-out probe).
        if caller.account:
            keys["kms:CallerAccount"] = caller.account
        # A request an AWS service made for the caller: the service's endpoint in the region
        # ("ec2.us-west-2.amazonaws.com"); absent for a direct call.
        if via_service and region and caller.invoked_by and caller.invoked_by.endswith(".amazonaws.com"):
            keys["kms:ViaService"] = caller.invoked_by.replace(".amazonaws.com", f".{region}.amazonaws.com")
        context.update(_for_the_call(prefix, event_name, keys))
    encryption_context = params.get("encryptionContext")
    if isinstance(encryption_context, Mapping) and encryption_context:
        for key, value in encryption_context.items():
            context[f"kms:EncryptionContext:{key}"] = str(value)
        context["kms:EncryptionContextKeys"] = tuple(str(key) for key in encryption_context)
    tags = request_tags(params)
    if tags:
        for key, value in tags:
            context[f"aws:RequestTag/{key}"] = value
        context["aws:TagKeys"] = tuple(dict.fromkeys(key for key, _ in tags))
    return context
