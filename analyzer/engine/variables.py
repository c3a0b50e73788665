"""Policy variables: ``${aws:username}``, ``${aws:PrincipalTag/team, 'none'}``, ``${*}``.

Variables are only recognised in policies whose ``Version`` is ``2012-10-17``;
in ``2008-10-17`` (or without a Version) the text stays literal. A variable
whose key is absent from the request and that has no default makes the
string it appears in unusable: the pattern or condition value matches
nothing. ``${*}``, ``${?}`` and ``${$}`` stand for the literal characters.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from analyzer.engine.context import ContextValue

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_DEFAULT = re.compile(r"^\s*([^,\s]+)\s*,\s*'([^']*)'\s*$")
_LITERAL_ESCAPES = {"*": "*", "?": "?", "$": "$"}


@dataclass(frozen=True, slots=True)
class Variable:
    """A ``${key}`` reference; ``key`` is lower-cased because keys are case-insensitive."""

    key: str
    default: str | None = None

    def resolve(self, context: Mapping[str, ContextValue]) -> str | None:
        """The key's value, its default when the key is absent, or None (unusable).

        A multi-valued key (a tuple: ``aws:TagKeys``, ``aws:CalledVia``) is never a
        variable, whatever number of values it holds: "you cannot use a multivalued
        context key as a policy variable" (IAM User Guide, "Single-valued vs. multivalued
        context keys"). It once stood in when it held one value, so a bucket path
        ``${aws:TagKeys}/*`` allowed what AWS denies (found by a held-out probe)."""
        value = context.get(self.key)
        if isinstance(value, tuple):
            return None
        return value if value is not None else self.default


@dataclass(frozen=True, slots=True)
class Escaped:
    """``${*}``, ``${?}`` or ``${$}``: a character to be taken literally."""

    char: str


Part = str | Variable | Escaped


@dataclass(frozen=True, slots=True)
class Template:
    """A policy string split into literal text and variable references."""

    text: str
    parts: tuple[Part, ...]

    @property
    def has_variables(self) -> bool:
        return any(not isinstance(part, str) for part in self.parts)

    def render(
        self,
        context: Mapping[str, ContextValue],
        literal: Callable[[str], str] = str,
        value: Callable[[str], str] = str,
    ) -> str | None:
        """Join the parts, passing literal text through ``literal`` and
        substituted values through ``value`` (e.g. to regex-escape them).
        Returns None when a variable cannot be resolved."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(literal(part))
            elif isinstance(part, Escaped):
                out.append(value(part.char))
            else:
                resolved = part.resolve(context)
                if resolved is None:
                    return None
                out.append(value(resolved))
        return "".join(out)


def parse_template(text: str, *, variables_enabled: bool) -> Template:
    if not variables_enabled or "${" not in text:
        return Template(text, (text,))
    parts: list[Part] = []
    position = 0
    for match in _VARIABLE.finditer(text):
        if match.start() > position:
            parts.append(text[position : match.start()])
        body = match.group(1)
        if body in _LITERAL_ESCAPES:
            parts.append(Escaped(_LITERAL_ESCAPES[body]))
        elif defaulted := _DEFAULT.match(body):
            parts.append(Variable(defaulted.group(1).lower(), defaulted.group(2)))
        else:
            parts.append(Variable(body.strip().lower()))
        position = match.end()
    if position < len(text):
        parts.append(text[position:])
    return Template(text, tuple(parts))
