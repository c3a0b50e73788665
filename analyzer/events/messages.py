"""What AWS's own denial message says: action, resource, denying policy type and ARN.

AWS's messages have grown more precise over time
(https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html): older
ones say only ``is not authorized to perform: X on resource: Y``; newer ones add
``because no identity-based policy allows the X action`` or ``with an explicit deny in
a service control policy: arn:...``; EC2 returns an *encoded* authorization message
that only ``sts:DecodeAuthorizationMessage`` can read. The parsed ``DenialHint`` is
kept so the explanation step can compare AWS's verdict with its own.

The shapes are data (``analyzer/data/denial_messages.json``), one regex each, so a
new message shape is a data change with its own example and test.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Any

from analyzer.engine.model import PolicyType


class DecodeStatus(StrEnum):
    """Whether an EC2-style encoded message was decoded."""

    NONE = "none"  # no encoded message in the error
    NOT_DECODED = "not decoded"  # no live credentials, or decoding not asked for
    DECODED = "decoded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DenialHint:
    """AWS's own account of a denial, parsed from ``errorMessage``.

    Every field is optional: S3 says only ``Access Denied``. ``explicit`` is
    True for "with an explicit deny", False for "because no ... policy allows",
    None when the message does not say.
    """

    action: str | None = None
    resource: str | None = None
    principal: str | None = None
    policy_type: PolicyType | None = None
    policy_type_text: str | None = None
    policy_arn: str | None = None
    explicit: bool | None = None
    resource_kind: str | None = None  # "access key", "role"... when the message names, not ARNs
    resource_name: str | None = None
    encoded_message: str | None = None
    authorization_id: str | None = None
    decode_status: DecodeStatus = DecodeStatus.NONE
    decoded_message: str | None = None  # sts:DecodeAuthorizationMessage's JSON text
    patterns: tuple[str, ...] = ()  # ids of the message patterns that matched

    @property
    def is_empty(self) -> bool:
        return not self.patterns

    def with_decoded(self, status: DecodeStatus, decoded: str | None = None) -> DenialHint:
        """A copy recording the outcome of decoding the encoded message."""
        return replace(self, decode_status=status, decoded_message=decoded)


@dataclass(frozen=True, slots=True)
class MessagePattern:
    """One AWS message shape from the data file, with its example and expectation."""

    id: str
    regex: re.Pattern[str]
    sets: tuple[tuple[str, Any], ...]
    example: str
    expect: tuple[tuple[str, Any], ...]


_FIELDS = frozenset(DenialHint.__dataclass_fields__) - {"decode_status", "decoded_message", "patterns"}


@lru_cache(maxsize=1)
def _message_data() -> tuple[tuple[MessagePattern, ...], tuple[tuple[str, PolicyType], ...]]:
    data = json.loads((resources.files("analyzer") / "data" / "denial_messages.json").read_text())
    patterns = tuple(
        MessagePattern(
            entry["id"],
            re.compile(entry["regex"]),
            tuple(entry.get("sets", {}).items()),
            entry["example"],
            tuple(entry.get("expect", {}).items()),
        )
        for entry in data["messagePatterns"]
    )
    types = tuple((text.lower(), PolicyType(value)) for text, value in data["policyTypes"].items())
    return patterns, types


def message_patterns() -> tuple[MessagePattern, ...]:
    """Every known message shape, in the order they are tried."""
    return _message_data()[0]


def _policy_type(text: str) -> PolicyType | None:
    lowered = text.lower().strip()
    for wording, policy_type in _message_data()[1]:
        if lowered == wording:
            return policy_type
    return None


# AWS quotes some resources (``on resource: "arn:aws:s3:::bucket/key" because ...``), and
# the quoted part is the caller's: an S3 key may hold quotes and a whole forged reason
# ('x" with an explicit deny in a service control policy: arn:...'). The resource runs to
# the last quote AWS's own text follows (its reason, or the end), and the patterns read the
# message with it set aside, so nothing inside it can name a policy or cut it short.
_QUOTED_RESOURCE = re.compile(r'on resource: "(?P<resource>.*)"(?=\s+(?:because|with)\b|\.?\s*$)', re.DOTALL)
_SET_ASIDE = "\x1f"


@lru_cache(maxsize=4096)
def parse_denial_message(message: str | None) -> DenialHint:
    """Parse an ``errorMessage``; unknown shapes give an empty hint, never an error."""
    if not message:
        return DenialHint()
    quoted = _QUOTED_RESOURCE.search(message)
    if quoted is not None:
        start, end = quoted.span("resource")
        message = f"{message[:start]}{_SET_ASIDE}{message[end:]}"
    found: dict[str, Any] = {}
    matched: list[str] = []
    for pattern in message_patterns():
        match = pattern.regex.search(message)
        if match is None:
            continue
        matched.append(pattern.id)
        for name, value in (*match.groupdict().items(), *pattern.sets):
            if value is not None and name in _FIELDS and name not in found:
                found[name] = value
    if quoted is not None and found.get("resource") == _SET_ASIDE:
        found["resource"] = quoted.group("resource")
    if "policy_type_text" in found:
        found["policy_type"] = _policy_type(found["policy_type_text"])
    if "encoded_message" in found:
        found["decode_status"] = DecodeStatus.NOT_DECODED
    return DenialHint(**found, patterns=tuple(matched))


ENCODED_MESSAGE_PATTERN = "encoded_authorization_message"


def encoded_message_regex() -> str:
    """The regex of EC2's encoded authorization message (its pattern in the data file),
    with plain groups instead of Python's named ones, so SQL engines (RE2, Java) read it.

    The pipeline leaves the message out of the key that dedupes denials for mapping
    (sql/denials.sql): it is different on every call, even on retries of the same
    request, and nothing is read from it but the text itself."""
    [pattern] = [entry for entry in message_patterns() if entry.id == ENCODED_MESSAGE_PATTERN]
    return re.sub(r"\(\?P<\w+>", "(", pattern.regex.pattern)
