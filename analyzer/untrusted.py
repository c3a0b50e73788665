"""Showing text written by strangers: as data, never as markup or terminal control.

An event's object key, user agent and error message are chosen by whoever made
the denied request; file names, snapshot contents and AWS error texts are not
ours either. Shown raw, ``[bold red]ALLOWED[/]`` becomes bold red in rich,
``ESC]8;;https://evil/`` a clickable link in the terminal, ``ESC[2J`` a cleared
screen, U+202E reverses the rest of the line, and ``[x](https://evil)`` a link
in a ticket (compare tracing-subscriber's GHSA-xwfj-jgwm-7wp5, fixed the same
way: by escaping what is logged).

* ``visible`` is the one function every such string passes before it reaches a
  terminal or a log line: control characters (C0, DEL, C1), line and paragraph
  separators and bidirectional-formatting characters become their Python escape
  (``\\x1b``, ``\\u202e``), so they are seen, not obeyed; so do the characters that
  take no room on screen (Unicode's default-ignorable code points: zero-width space and
  joiners, BOM, soft hyphen, variation selectors, tags, Hangul fillers; private-use and
  unassigned ones; a combining mark with no visible base), so two names that differ only
  by one do not read the same.
* ``markup_literal`` is ``visible`` for text embedded in rich markup: it also
  escapes rich's markup brackets. Our rich consoles are made with
  ``emoji=False`` so ``:smile:`` stays text.
* ``markdown_text`` is ``visible`` for a Markdown table cell or heading (also used
  by Prefect artifacts): HTML, link and image syntax, emphasis and pipes are
  backslash-escaped or entity-encoded.

JSON output and output files never pass through here: JSON keeps the exact
value and escapes control characters itself.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import unicodedata

from rich.markup import escape as _rich_escape

# Characters that take no room on screen, so that "ad<U+3164>min" reads as "admin" while it
# is another name, or that reorder, break or colour the line (bidi overrides, line
# separators, terminal controls): every control, format, surrogate, private-use and
# unassigned character (general categories Cc, Cf, Cs, Co, Cn), the line and paragraph
# separators (Zl, Zp), and the rest of Unicode's Default_Ignorable_Code_Point: its
# Other_Default_Ignorable_Code_Point and Variation_Selector code points (PropList.txt,
# https://www.unicode.org/reports/tr44/#Default_Ignorable_Code_Point; Python's unicodedata
# has the categories but not these two properties), which include the Hangul fillers.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_OTHER_IGNORABLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u2065\u3164\uffa0\ufff0-\ufff8"
    "\U000e0000-\U000e0fff"  # tags, variation selectors 17-256 and reserved ignorables
    "\u180b-\u180d\u180f\ufe00-\ufe0f]"  # variation selectors
)
# Marks drawn on the character before them: without a visible base (at the start of a
# value, after a space or after an escape) they land on our text instead.
_MARKS = frozenset({"Mn", "Me"})
# Printable ASCII but the backslash is shown as it is; anything else is looked at one
# character at a time.
_NOT_PLAIN = re.compile(r"[^ -\[\]-~]")
# A backslash of the data's is doubled, as in Python's repr, so the escapes are
# unambiguous: ESC reads "\x1b", the four characters "\x1b" read "\\x1b".
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escaped(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


@functools.lru_cache(maxsize=4096)
def _kind(char: str) -> str:
    """Whether ``char`` is "hidden" (shown as its escape), a "mark" (shown on a visible base) or "shown"."""
    if char in _NAMED:
        return "hidden"
    category = unicodedata.category(char)
    if category in _HIDDEN_CATEGORIES or _OTHER_IGNORABLE.match(char):
        return "hidden"
    if category in _MARKS:
        return "mark"
    return "shown"


def visible(value: object) -> str:
    """``value`` as text with every character that is not seen as itself shown as an escape.

    Control, format (bidi overrides, zero-width characters), private-use, unassigned and
    other default-ignorable characters become ``\\x1b``, ``\\u202e``, ``\\U000e0041``;
    newlines and tabs are escaped too: one field stays one line, so a value cannot forge
    the next line of a message. A backslash is shown as ``\\\\``, so an escape always
    means the character, never the data's own text. Letters, combining marks on a visible base and emoji stay.
    """
    text = "" if value is None else str(value)
    if not _NOT_PLAIN.search(text):
        return text
    shown: list[str] = []
    base = False  # whether the last character shown can carry a combining mark
    for char in text:
        kind = _kind(char)
        if kind == "mark" and not base:
            kind = "hidden"
        if kind == "hidden":
            shown.append(_escaped(char))
            base = False
        else:
            shown.append(char)
            base = kind == "mark" or not char.isspace()
    return "".join(shown)


def visible_lines(value: object) -> str:
    """``visible`` that keeps line breaks and backslashes: for a JSON document whose lines
    are ours to lay out (a pretty-printed policy in a report; HTML shows a stray newline as
    a space anyway). Its backslashes are JSON's own escapes, already unambiguous, and the
    document stays one that can be copied as it is shown."""
    return "\n".join(
        "\\".join(visible(part) for part in line.split("\\"))
        for line in ("" if value is None else str(value)).split("\n")
    )


# One unit a cut may not split: a JSON surrogate pair, an escape (JSON's or ``visible``'s),
# or one character.
_UNIT = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r"|\\(?:u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|.)|.",
    re.S,
)


def shortened(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters for display, saying so: an ellipsis and
    how many characters were left out, never half of an escape such as ``\\u202e``."""
    if len(text) <= limit:
        return text
    kept = 0
    for unit in _UNIT.finditer(text):
        if unit.end() > limit:
            break
        kept = unit.end()
    return f"{text[:kept]}… ({len(text) - kept} more characters)"


def markup_literal(value: object) -> str:
    """``visible(value)`` safe to embed in rich markup: brackets are escaped."""
    return _rich_escape(visible(value))


_MARKDOWN_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# Characters with a meaning in CommonMark/GFM inline syntax or tables.
# GitHub also renders "$...$" as math (\\text, \\color, \\phantom can restyle or hide text):
# a backslash before the dollar keeps it text.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~$])")
# GFM's extended autolinks make a bare "https://..." or "www...." in text a live link; a
# backslash before the colon or the dot stops them and renders as the character itself
# (checked with cmark-gfm). E-mail autolinks cannot be stopped so, and lead nowhere but
# to a mailto: address.
_AUTOLINK = re.compile(r"(?i)(:)(?=//)|(?<![\w.-])(www)(\.)")


def markdown_text(value: object) -> str:
    """``visible(value)`` safe inside a Markdown table cell, heading or paragraph.

    HTML (``<``, ``>``, ``&``) becomes entities, so no tag or entity of the
    data's is interpreted; link, image, emphasis, code and table syntax is
    backslash-escaped, so ``[x](https://evil)`` stays text and a ``|`` cannot
    open a new cell; so is the colon of ``://`` and the dot of ``www.``, so a bare URL is
    not made a link by GFM's autolinks.
    """
    text = visible(value)
    text = "".join(_MARKDOWN_ENTITIES.get(char, char) for char in text)
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return _AUTOLINK.sub(lambda match: f"\\{match[1]}" if match[1] else f"{match[2]}\\.", text)


def markdown_fence(text: str) -> str:
    """A backtick fence longer than any backtick run in ``text`` (a code block it cannot close)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


class VisibleFormatter(logging.Formatter):
    """Log lines for a terminal or a plain-text log: the message through ``visible``.

    Tracebacks (``-v DEBUG``) keep their line breaks; they are our text.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = visible(record.message)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per log line (``--log-format json``): JSON escapes every value."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)
