"""CloudTrail's record fields, declared once (issue 13 item 6).

One tree of CloudTrail's own (camelCase) field names and their kinds, from which the
other spellings are derived instead of being written out again:

* the Athena CloudTrail table (``sql/athena_cloudtrail_table.sql``) and Athena-layout
  Parquet use the same names lower-cased; free-form JSON fields are text there and
  ``readOnly``-like flags are the text "true"/"false" (``ATHENA_TO_JSON``,
  ``ATHENA_JSON_TEXT``, ``ATHENA_BOOLEAN_TEXT`` turn such a row back into an event);
* the pipeline reads only ``PIPELINE_FIELDS`` (``pipeline_record``): the DuckDB read
  schema of ``.json.gz`` files and the ``cloudtrail`` view are built from it
  (``analyzer/pipeline/schema.py``).

``optional_text`` and ``json_object`` read one field of a record as written by strangers:
a value of the wrong kind reads as absent.

Kinds: ``STRING``; ``JSON`` (free-form JSON, text in Athena); ``BOOLEAN`` (a JSON boolean,
text in Athena); ``MAP`` (string to string); a dict is a struct; a one-item list is a list
of that struct.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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

# What the pipeline reads of each record (everything sql/denials.sql selects).
PIPELINE_FIELDS = (
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",  # policy changes: the new policy's ARN, a Lambda statement
    "additionalEventData",
    "eventID",
    "resources",
    "recipientAccountId",
    "vpcEndpointId",
    "vpcEndpointAccountId",
    "tlsDetails",
)
# Parts of the pipeline's fields it does not read (kept out of the narrow read schema).
_PIPELINE_SKIPS = {
    "userIdentity": ("onBehalfOf", "identityProvider", "credentialId", "inScopeOf"),
    "sessionContext": ("ec2RoleDelivery", "webIdFederationData"),
}


def _names(tree: Mapping[str, Any]) -> Iterator[str]:
    for name, kind in tree.items():
        yield name
        if isinstance(kind, Mapping):
            yield from _names(kind)
        elif isinstance(kind, list):
            yield from _names(kind[0])


def _narrow(tree: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, kind in tree.items():
        if isinstance(kind, Mapping):
            skipped = _PIPELINE_SKIPS.get(name, ())
            out[name] = _narrow({k: v for k, v in kind.items() if k not in skipped})
        else:
            out[name] = kind
    return out


def pipeline_record() -> dict[str, Any]:
    """The part of ``RECORD`` the pipeline reads."""
    return _narrow({name: RECORD[name] for name in PIPELINE_FIELDS})


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


def optional_text(value: Any) -> str | None:
    """``value`` when it is a non-empty string, else None (a field written by strangers)."""
    return value if isinstance(value, str) and value else None


def json_object(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one (event fields are optional and
    written by strangers: a string where an object belongs reads as absent)."""
    return value if isinstance(value, Mapping) else {}
