"""Human-readable rendering of ``analyze`` results on a terminal (rich).

Every value of a result document comes from an event, a snapshot or AWS, so it
enters rich only through ``analyzer.untrusted.markup_literal``: markup in an
object key stays text and an escape sequence is shown, not obeyed. Table
columns wrap instead of cutting names short.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import click
from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from analyzer.untrusted import markup_literal as lit
from analyzer.untrusted import visible


@lru_cache(maxsize=1)
def _out() -> Console:
    return terminal_console()


def terminal_console(*, stderr: bool = False) -> Console:
    """A rich console that never turns ``:name:`` in data into an emoji."""
    return Console(stderr=stderr, emoji=False)


RESULT_LINE_KEYS = ("EventId", "AssessmentResult", "ReasonCode", "Principal", "Action", "Resource")


def result_line(document: dict[str, Any]) -> str:
    """``--output text``: one tab-separated line per event (like the aws cli's text output);
    each value through ``visible``, so a tab or newline in the data cannot add a column."""
    return "\t".join(visible(document.get(key)) for key in RESULT_LINE_KEYS)


def _history_lines(document: dict[str, Any]) -> list[str]:
    """With ``analyze --history``: which policies were used, the change behind the denial
    and the one that fixed it (all of it data from the logs, shown literally)."""
    lines = []
    if state := document.get("PolicyStateAt"):
        lines.append(f"Policies  at {lit(state.get('Time'))}: {lit(state.get('Source'))}")
    for label, key in (("Cause    ", "RootCause"), ("Fixed by ", "FixedBy")):
        if change := document.get(key):
            lines.append(
                f"{label} {lit(change.get('EventName'))} {lit(change.get('EventId'))} "
                f"at {lit(change.get('EventTime'))} by {lit(change.get('ChangedBy'))}: "
                f"{lit(change.get('Summary'))}"
            )
    if "RootCause" in document and document["RootCause"] is None:
        lines.append("Cause     no logged policy change explains it")
    return lines


def render_result(document: dict[str, Any], console: Console | None = None) -> None:
    """One panel per event: verdict, request, every reason, and the fix."""
    console = console or _out()
    title = Text.from_markup(  # a Panel would parse a str title with emoji codes on
        f"[bold]{lit(document['AssessmentResult'])}[/bold]  ({lit(document['ReasonCode'])})", emoji=False
    )
    lines = [
        f"Event     {lit(document['EventId'])}",
        f"Principal {lit(document.get('Principal'))}",
        f"Action    {lit(document.get('Action'))}",
        f"Resource  {lit(document.get('Resource'))}",
    ]
    if document.get("ErrorMessage"):
        lines.append(f"[red]Error[/red]     {lit(document['ErrorMessage'])}")
    lines += _history_lines(document)
    console.print(Panel("\n".join(lines), title=title, expand=False))
    if document["Reasons"]:
        table = Table("Code", "Policy", "Attached to", "Statement", show_lines=False)
        for column in table.columns:
            column.overflow = "fold"  # wrap long ARNs and Sids, never cut them with "…"
        for reason in document["Reasons"]:
            statement = reason.get("Sid") or (
                f"#{reason['StatementIndex']}" if "StatementIndex" in reason else "—"
            )
            table.add_row(
                lit(reason["Code"]),
                lit(reason.get("PolicyName") or reason.get("PolicyArn") or reason["PolicyType"]),
                lit(reason.get("AttachmentTargetArn") or "—"),
                lit(statement),
            )
        console.print(table)
    for reason in document["Reasons"]:
        if "Suggestion" in reason:
            console.print(f"[yellow]{lit(reason['Suggestion'])}[/yellow]")
    for fix in document.get("ResultDetails", {}).get("PoliciesToAdd", []):
        console.print(f"Add to {lit(fix['PolicyType'])} of [bold]{lit(fix['AttachmentTargetArn'])}[/bold]:")
        # json.dumps escapes control and non-ASCII characters; Syntax parses no markup.
        console.print(Syntax(json.dumps(fix["Policy"], indent=2), "json", word_wrap=True))
    for key in document.get("MissingContextKeys", []):
        console.print(f"[dim]assumed absent: {lit(key)}[/dim]")
    for note in document.get("Notes", []):
        console.print(f"[dim]note: {lit(note)}[/dim]")


# Seconds between progress lines when stderr is not a terminal (CI logs, cron mail).
PROGRESS_EVERY = 5.0


@contextmanager
def progress(message: str, every: float = PROGRESS_EVERY) -> Iterator[None]:
    """A spinner on a terminal; elsewhere one line every ``every`` seconds, so a long
    step never looks hung in a log. ``message`` is ours (it may hold markup)."""
    console = terminal_console(stderr=True)
    if console.is_terminal:
        with console.status(message):
            yield
        return
    plain = Text.from_markup(message).plain
    done = threading.Event()
    started = time.monotonic()

    def report() -> None:
        while not done.wait(every):
            click.echo(f"{plain} ({time.monotonic() - started:.0f} s)", err=True)

    thread = threading.Thread(target=report, name="progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
