"""What a night's run leaves in the Prefect UI: stage timings, and two keyed artifacts.

Keyed artifacts keep their history under one name, so the UI shows the nights side
by side: ``access-undenied-top-reasons`` (a table of the night's AssessmentResults)
and ``access-undenied-summary`` (Markdown). Every value that can come from data (an
AssessmentResult, a warning quoting a file name or an event) goes through the
project's one Markdown escaping function, ``analyzer.untrusted.markdown_text``, so it
is shown as text, never as markup, a link or HTML.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from analyzer.pipeline.stages import Summary
from analyzer.untrusted import markdown_text

TOP_REASONS_KEY = "access-undenied-top-reasons"
SUMMARY_KEY = "access-undenied-summary"
STAGES = ("scan", "group", "analyze", "write")


class StageClock:
    """Wall-clock seconds per pipeline stage, in the order the stages ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def line(self) -> str:
        return "stage timings: " + ", ".join(
            f"{name} {seconds:.2f} s" for name, seconds in self.seconds.items()
        )


def top_reasons_rows(summary: Summary) -> list[dict[str, object]]:
    return [
        {"AssessmentResult": markdown_text(result), "groups": count}
        for result, count in summary.by_result.items()
    ]


def summary_markdown(summary: Summary) -> str:
    """The run's summary as Markdown: every data value escaped as a table cell."""
    rows: list[tuple[str, str | int]] = list(summary.figures())
    rows += [(f"{name} (s)", f"{seconds:.2f}") for name, seconds in summary.timings.items()]
    lines = [f"# access-undenied run for {markdown_text(summary.run_date)}", "", "| | |", "|---|---:|"]
    lines += [f"| {label} | {markdown_text(value)} |" for label, value in rows]  # our labels
    notes = [*summary.problems, *summary.warnings]
    if notes:
        lines += ["", "## Warnings", "", "| warning |", "|---|"]
        lines += [f"| {markdown_text(note)} |" for note in notes]
    if summary.outputs:
        lines += ["", "## Tables written", "", "| location |", "|---|"]
        lines += [f"| {markdown_text(output)} |" for output in summary.outputs]
    return "\n".join(lines) + "\n"


def publish(summary: Summary) -> None:
    """Create the night's two keyed artifacts (inside the flow run)."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    create_table_artifact(
        key=TOP_REASONS_KEY,
        table=top_reasons_rows(summary),
        description=f"Distinct denials per AssessmentResult, {markdown_text(summary.run_date)}",
    )
    create_markdown_artifact(
        key=SUMMARY_KEY, markdown=summary_markdown(summary), description="access-undenied run summary"
    )
