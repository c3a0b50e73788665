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
  take no room on screen (zero-width space and joiners, BOM, soft hyphen), so two names
  that differ only by one do not read the same.
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

import json
import logging
import re

from rich.markup import escape as _rich_escape

# Bidirectional formatting characters (Unicode UAX #9, "explicit formatting"):
# LRM, RLM, ALM, LRE..RLO, LRI..PDI. They reorder what follows them on screen.
_BIDI = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Characters that take no room on screen: zero-width space, non-joiner and joiner, word
# joiner, invisible operators, zero-width no-break space (BOM) and soft hyphen. Shown raw,
# "a\u200bb" reads as "ab" while it is another key, bucket or user name.
_INVISIBLE = "\u00ad\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff"
_HIDDEN = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f\u2028\u2029{_BIDI}{_INVISIBLE}]")


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(value: object) -> str:
    """``value`` as text with every control and bidi-override character shown as an escape.

    Newlines and tabs are escaped too: one field stays one line, so a value
    cannot forge the next line of a message.
    """
    return _HIDDEN.sub(_escape, "" if value is None else str(value))


def visible_lines(value: object) -> str:
    """``visible`` that keeps line breaks: for text whose lines are ours to lay out (a
    pretty-printed policy in a report; HTML shows a stray newline as a space anyway)."""
    return "\n".join(visible(line) for line in ("" if value is None else str(value)).split("\n"))


def markup_literal(value: object) -> str:
    """``visible(value)`` safe to embed in rich markup: brackets are escaped."""
    return _rich_escape(visible(value))


_MARKDOWN_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# Characters with a meaning in CommonMark/GFM inline syntax or tables.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")
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
