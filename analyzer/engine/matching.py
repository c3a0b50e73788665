"""Wildcard matching for actions, resource ARNs and string conditions.

AWS patterns know two wildcards: ``*`` (any run of characters) and ``?`` (one
character). Everything else is literal, so a pattern is ``re.escape``-d first
and only then are the escaped wildcards turned back into regex syntax; no
character is ever escaped by hand.

ARN patterns are matched segment by segment, like the ``ArnLike`` operator:
a wildcard in one of the first five segments (``arn:partition:service:
region:account``) never spans a colon, while the resource part may contain
colons and slashes. See
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_ESCAPED_STAR = re.escape("*")
_ESCAPED_QMARK = re.escape("?")


def _translate(pattern: str, *, star: str = ".*", qmark: str = ".") -> str:
    """Regex source for one wildcard pattern (no anchors)."""
    return re.escape(pattern).replace(_ESCAPED_STAR, star).replace(_ESCAPED_QMARK, qmark)


def has_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def wildcard_source(pattern: str) -> str:
    """Regex source matching ``pattern`` as a plain wildcard string."""
    return _translate(pattern)


def arn_source(pattern: str) -> str:
    """Regex source matching ``pattern`` as an ARN, segment by segment.

    A pattern that does not start with ``arn:`` (such as ``*``) is matched as a
    plain wildcard string. An ARN pattern with fewer than six segments can only
    match values with as many segments, so it never matches a complete ARN.
    """
    if not pattern.startswith("arn:"):
        return _translate(pattern)
    segments = pattern.split(":", 5)
    sources = [_translate(part, star="[^:]*", qmark="[^:]") for part in segments[:5]]
    if len(segments) == 6:
        sources.append(_translate(segments[5]))
    return ":".join(sources)


# Private-use characters that stand for a literal ``*``/``?`` inside a pattern
# while it is translated: substituted variable values and ``${*}`` must not
# act as wildcards.
_LITERAL_STAR = "\ue000"
_LITERAL_QMARK = "\ue001"


def protect(value: str) -> str:
    """Mark the wildcard characters of a substituted value as literal."""
    return value.replace("*", _LITERAL_STAR).replace("?", _LITERAL_QMARK)


def unprotect_source(source: str) -> str:
    """Turn protected characters in a translated regex source into escaped literals."""
    return source.replace(_LITERAL_STAR, _ESCAPED_STAR).replace(_LITERAL_QMARK, _ESCAPED_QMARK)


def unprotect_literal(text: str) -> str:
    return text.replace(_LITERAL_STAR, "*").replace(_LITERAL_QMARK, "?")


@lru_cache(maxsize=65536)
def compile_source(source: str, ignore_case: bool = False) -> re.Pattern[str]:
    """Compile an anchored regex; cached because rendered variable patterns repeat."""
    return re.compile(f"(?s:{source})\\Z", re.IGNORECASE if ignore_case else 0)


@dataclass(frozen=True, slots=True)
class Wildcard:
    """A compiled wildcard pattern; exact patterns skip the regex entirely."""

    text: str
    regex: re.Pattern[str] | None

    @classmethod
    def plain(cls, pattern: str, *, ignore_case: bool = False) -> Wildcard:
        text = pattern.lower() if ignore_case else pattern
        if not has_wildcard(text):
            return cls(unprotect_literal(text), None)
        return cls(text, compile_source(unprotect_source(wildcard_source(text))))

    @classmethod
    def arn(cls, pattern: str) -> Wildcard:
        """``pattern`` may contain protected literal characters (see ``protect``)."""
        return _arn_wildcard(pattern)

    @property
    def matches_everything(self) -> bool:
        return self.text == "*"

    def matches(self, value: str) -> bool:
        if self.regex is None:
            return value == self.text
        return self.regex.match(value) is not None


@lru_cache(maxsize=65536)
def _arn_wildcard(pattern: str) -> Wildcard:
    """Cached: patterns rendered from variables repeat across requests."""
    if not has_wildcard(pattern):
        return Wildcard(unprotect_literal(pattern), None)
    return Wildcard(pattern, compile_source(unprotect_source(arn_source(pattern))))
