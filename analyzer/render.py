"""Human-readable rendering of ``analyze`` results on a terminal (rich)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table


@lru_cache(maxsize=1)
def _out() -> Console:
    return Console()


def render_result(document: dict[str, Any], console: Console | None = None) -> None:
    """One panel per event: verdict, request, every reason, and the fix."""
    console = console or _out()
    title = f"[bold]{document['AssessmentResult']}[/bold]  ({document['ReasonCode']})"
    lines = [f"Event     {document['EventId']}",
             f"Principal {document.get('Principal')}",
             f"Action    {document.get('Action')}",
             f"Resource  {document.get('Resource')}"]
    if document.get("ErrorMessage"):
        lines.append(f"[red]Error[/red]     {document['ErrorMessage']}")
    console.print(Panel("\n".join(lines), title=title, expand=False))
    if document["Reasons"]:
        table = Table("Code", "Policy", "Attached to", "Statement", show_lines=False)
        for reason in document["Reasons"]:
            statement = reason.get("Sid") or (
                f"#{reason['StatementIndex']}" if "StatementIndex" in reason else "—")
            table.add_row(reason["Code"], reason.get("PolicyName") or reason.get("PolicyArn")
                          or reason["PolicyType"], reason.get("AttachmentTargetArn") or "—",
                          statement)
        console.print(table)
    for reason in document["Reasons"]:
        if "Suggestion" in reason:
            console.print(f"[yellow]{reason['Suggestion']}[/yellow]")
    for fix in document.get("ResultDetails", {}).get("PoliciesToAdd", []):
        console.print(f"Add to {fix['PolicyType']} of [bold]{fix['AttachmentTargetArn']}[/bold]:")
        console.print(Syntax(json.dumps(fix["Policy"], indent=2), "json"))
    for key in document.get("MissingContextKeys", []):
        console.print(f"[dim]assumed absent: {key}[/dim]")
    for note in document.get("Notes", []):
        console.print(f"[dim]note: {note}[/dim]")
