"""CloudTrail's record fields, declared once (issue 13 item 6).

One tree of CloudTrail's own (camelCase) field names and their kinds, from which the
other spellings are derived instead of being written out again:

* the Athena CloudTrail table's DDL (``sql/athena_cloudtrail_table.sql``, rendered by
  ``analyzer/pipeline/athena_table.py``) and Athena-layout Parquet use the same names
  lower-cased; free-form JSON fields are text there and ``readOnly``-like flags are the
  text "true"/"false" (``ATHENA_TO_JSON``, ``ATHENA_JSON_TEXT``, ``ATHENA_BOOLEAN_TEXT``
  turn such a row back into an event);
* the pipeline's scan returns the flat ``ROW_COLUMNS`` (rendered into ``sql/denials.sql``,
  turned back into an event by ``analyzer/pipeline/grouping.py``) and reads only their
  fields (``pipeline_record``): the DuckDB read schema of ``.json.gz`` files and the
  ``cloudtrail`` view are built from it (``analyzer/pipeline/schema.py``).

``optional_text`` and ``json_object`` read one field of a record as written by strangers:
a value of the wrong kind reads as absent.

Kinds: ``STRING``; ``JSON`` (free-form JSON, text in Athena); ``BOOLEAN`` (a JSON boolean,
text in Athena); ``MAP`` (string to string); a dict is a struct; a one-item list is a list
of that struct.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

STRING = "string"
JSON = "json"
BOOLEAN = "boolean"
MAP = "map"

_SESSION_ISSUER = {
    "type": STRING,
    "principalId": STRING,
    "arn": STRING,
    "accountId": STRING,
    "userName": STRING,
}

RECORD: Mapping[str, Any] = {
    "eventVersion": STRING,
    "userIdentity": {
        "type": STRING,
        "principalId": STRING,
        "arn": STRING,
        "accountId": STRING,
        "invokedBy": STRING,
        "accessKeyId": STRING,
        "userName": STRING,
        "onBehalfOf": {"userId": STRING, "identityStoreArn": STRING},
        "sessionContext": {
            "attributes": {"mfaAuthenticated": STRING, "creationDate": STRING},
            "sessionIssuer": _SESSION_ISSUER,
            "ec2RoleDelivery": STRING,
            "webIdFederationData": {"federatedProvider": STRING, "attributes": MAP},
            "sourceIdentity": STRING,
        },
        "identityProvider": STRING,
        "credentialId": STRING,
        "inScopeOf": {
            "sourceArn": STRING,
            "sourceAccount": STRING,
            "issuerType": STRING,
            "credentialsIssuedTo": STRING,
        },
    },
    "eventTime": STRING,
    "eventSource": STRING,
    "eventName": STRING,
    "awsRegion": STRING,
    "sourceIPAddress": STRING,
    "userAgent": STRING,
    "errorCode": STRING,
    "errorMessage": STRING,
    "requestParameters": JSON,
    "responseElements": JSON,
    "additionalEventData": JSON,
    "requestID": STRING,
    "eventID": STRING,
    "readOnly": BOOLEAN,
    "resources": [{"ARN": STRING, "accountId": STRING, "type": STRING}],
    "eventType": STRING,
    "apiVersion": STRING,
    "managementEvent": BOOLEAN,
    "recipientAccountId": STRING,
    "serviceEventDetails": JSON,
    "sharedEventID": STRING,
    "vpcEndpointId": STRING,
    "vpcEndpointAccountId": STRING,
    "eventCategory": STRING,
    "addendum": {
        "reason": STRING,
        "updatedFields": STRING,
        "originalRequestID": STRING,
        "originalEventID": STRING,
    },
    "sessionCredentialFromConsole": BOOLEAN,
    "edgeDeviceDetails": JSON,
    "tlsDetails": {"tlsVersion": STRING, "cipherSuite": STRING, "clientProvidedHostHeader": STRING},
}

# The flat columns of the pipeline's scan (``sql/denials.sql``): column name -> the
# field's path in ``RECORD``. ``analyzer/pipeline/queries.py`` renders them into the
# scan's SELECT, ``analyzer/pipeline/grouping.py`` rebuilds an event from them, and the
# pipeline's read schema is exactly these fields (``pipeline_record``). Structs are
# flattened because drivers return Athena ROW values as text. A path through a list of
# structs (``resources.ARN``) is that field of every item joined by ``LIST_SEPARATOR``, an
# empty string for an item without it, so the columns of one list line up item by item
# and are put back together. Not a space: an S3 object's key, so its ARN, may hold one.
LIST_SEPARATOR = "\x1f"  # ASCII's unit separator: in no ARN, account ID or type
_ROW_PATHS: Mapping[str, str] = {
    "event_id": "eventID",
    "event_time": "eventTime",
    "account_id": "recipientAccountId",
    "region": "awsRegion",
    "event_source": "eventSource",
    "event_name": "eventName",
    "error_code": "errorCode",
    "error_message": "errorMessage",
    "source_ip": "sourceIPAddress",
    "user_agent": "userAgent",
    "event_version": "eventVersion",
    "vpc_endpoint_id": "vpcEndpointId",
    "vpc_endpoint_account_id": "vpcEndpointAccountId",
    "request_parameters": "requestParameters",
    "response_elements": "responseElements",  # policy changes: the new policy's ARN, a Lambda statement
    "additional_event_data": "additionalEventData",
    "identity_type": "userIdentity.type",
    "identity_principal_id": "userIdentity.principalId",
    "identity_arn": "userIdentity.arn",
    "identity_account_id": "userIdentity.accountId",
    "identity_invoked_by": "userIdentity.invokedBy",
    "identity_user_name": "userIdentity.userName",
    # Who a caller outside IAM is: a web identity or SAML provider, an Identity Center user
    # (without them `run` took such callers for anonymous ones; held-out probe).
    "identity_provider": "userIdentity.identityProvider",
    "on_behalf_of_user_id": "userIdentity.onBehalfOf.userId",
    "on_behalf_of_identity_store_arn": "userIdentity.onBehalfOf.identityStoreArn",
    "web_identity_provider": "userIdentity.sessionContext.webIdFederationData.federatedProvider",
    "access_key_id": "userIdentity.accessKeyId",  # finds the call that created the session
    "issuer_type": "userIdentity.sessionContext.sessionIssuer.type",
    "issuer_arn": "userIdentity.sessionContext.sessionIssuer.arn",
    "issuer_account_id": "userIdentity.sessionContext.sessionIssuer.accountId",
    "issuer_user_name": "userIdentity.sessionContext.sessionIssuer.userName",
    "mfa_authenticated": "userIdentity.sessionContext.attributes.mfaAuthenticated",
    "session_created": "userIdentity.sessionContext.attributes.creationDate",
    "source_identity": "userIdentity.sessionContext.sourceIdentity",
    "tls_version": "tlsDetails.tlsVersion",
    "resource_arns": "resources.ARN",
    # An S3 ARN names no account: the bucket's owner is known from the event only (a bucket
    # the snapshot does not know is then in another account, its policies unknown).
    "resource_account_ids": "resources.accountId",
    "resource_types": "resources.type",
}


@dataclass(frozen=True, slots=True)
class RowColumn:
    """One flat column of the scan: CloudTrail's field at ``path`` (its names from the
    record's root), of ``kind`` (``STRING`` or ``JSON`` text). ``listed`` is the length of
    the path's prefix that is a list of structs (the column is then that field of every
    item), or None."""

    name: str
    path: tuple[str, ...]
    kind: str
    listed: int | None = None

    @property
    def athena_path(self) -> tuple[str, ...]:
        """The path in the Athena table's lower-case spelling."""
        return tuple(part.lower() for part in self.path)


def _row_column(name: str, dotted: str) -> RowColumn:
    """The column, checked against ``RECORD``: a path it does not declare, a struct
    rather than a field, or more than one list on the way is a mistake in this file."""
    path = tuple(dotted.split("."))
    node: Any = RECORD
    listed = None
    for depth, part in enumerate(path):
        if not isinstance(node, Mapping) or part not in node:
            raise ValueError(f"row column {name}: {dotted} is not a field of RECORD")
        node = node[part]
        if isinstance(node, list):
            if listed is not None:
                raise ValueError(f"row column {name}: {dotted} crosses more than one list")
            listed, node = depth + 1, node[0]
    if node not in (STRING, JSON) or (listed is not None and node != STRING):
        raise ValueError(f"row column {name}: {dotted} is not a string or JSON field")
    return RowColumn(name, path, node, listed)


ROW_COLUMNS: tuple[RowColumn, ...] = tuple(_row_column(name, path) for name, path in _ROW_PATHS.items())


def _names(tree: Mapping[str, Any]) -> Iterator[str]:
    for name, kind in tree.items():
        yield name
        if isinstance(kind, Mapping):
            yield from _names(kind)
        elif isinstance(kind, list):
            yield from _names(kind[0])


def _keep(tree: Mapping[str, Any], paths: list[tuple[str, ...]]) -> dict[str, Any]:
    """The part of ``tree`` on ``paths``, in ``tree``'s order."""
    out: dict[str, Any] = {}
    for name, kind in tree.items():
        below = [path[1:] for path in paths if path[0] == name]
        if not below:
            continue
        if any(not rest for rest in below):
            out[name] = kind
        elif isinstance(kind, list):
            out[name] = [_keep(kind[0], below)]
        else:
            out[name] = _keep(kind, below)
    return out


def pipeline_record() -> dict[str, Any]:
    """The part of ``RECORD`` the pipeline reads: exactly the fields of ``ROW_COLUMNS``."""
    return _keep(RECORD, [column.path for column in ROW_COLUMNS])


def _athena_to_json() -> dict[str, str]:
    """Athena's lower-case spelling -> CloudTrail's; the first spelling of a name wins
    ("arn"; the reader spells the one field of ``resources`` "ARN" itself). Athena's table
    spells clientProvidedHostHeader "clienthostheader" in some AWS examples: both work."""
    names: dict[str, str] = {}
    for name in _names(RECORD):
        names.setdefault(name.lower(), name)
    names["clienthostheader"] = "clientProvidedHostHeader"
    return names


ATHENA_TO_JSON: Mapping[str, str] = _athena_to_json()
ATHENA_JSON_TEXT = frozenset(name.lower() for name, kind in RECORD.items() if kind == JSON)
ATHENA_BOOLEAN_TEXT = frozenset(name.lower() for name, kind in RECORD.items() if kind == BOOLEAN)
ATHENA_NESTED = frozenset(name.lower() for name, kind in RECORD.items() if isinstance(kind, Mapping | list))


def optional_text(value: Any) -> str | None:
    """``value`` when it is a non-empty string, else None (a field written by strangers)."""
    return value if isinstance(value, str) and value else None


def json_object(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one (event fields are optional and
    written by strangers: a string where an object belongs reads as absent)."""
    return value if isinstance(value, Mapping) else {}


def misshapen(event: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``event`` without the values whose shape is not ``RECORD``'s, and their names.

    Where ``RECORD`` declares a struct the value must be an object, where it declares a
    list of structs a list of objects (null items dropped). Strings, numbers and booleans
    are left as they are: a reader takes them as text. The pipeline's DuckDB scan reads
    every record of a file with ``RECORD``'s types and fails the whole file, and a retry of
    it, on one ``resources`` written as an object; ``analyze`` reads such a field as
    absent (``json_object``), and so does the scan once it is dropped here."""
    kept, dropped = _conform(event, RECORD, "")
    return kept, tuple(dropped)


def _conform(
    value: Mapping[str, Any], spec: Mapping[str, Any], prefix: str
) -> tuple[dict[str, Any], list[str]]:
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for name, item in value.items():
        kind = spec.get(name)
        where = f"{prefix}{name}"
        if item is None or not isinstance(kind, Mapping | list):
            kept[name] = item
        elif isinstance(kind, Mapping):
            if isinstance(item, Mapping):
                kept[name], below = _conform(item, kind, where + ".")
                dropped += below
            else:
                dropped.append(where)
        elif isinstance(item, list) and all(isinstance(entry, Mapping) or entry is None for entry in item):
            entries = [_conform(entry, kind[0], where + "[].") for entry in item if entry is not None]
            kept[name] = [entry for entry, _ in entries]
            dropped += [name for _, below in entries for name in below]
        else:
            dropped.append(where)
    return kept, dropped
