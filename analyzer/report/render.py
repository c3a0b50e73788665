"""Render ``ReportData`` as one self-contained HTML file or as Markdown tables.

The HTML inlines its CSS, a few lines of JavaScript (copy buttons, and a
``data-js-errors`` attribute on ``<html>`` recording script errors so a test can
see them) and the charts as SVG: it opens offline and loads nothing. Key
numbers carry ``data-metric`` and their raw value in ``data-value`` so a test
can compare them with SQL over the same tables.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from analyzer.report.aggregates import Count, ReportData
from analyzer.report.charts import bar_chart, day_chart

if TYPE_CHECKING:
    import jinja2

BREAKDOWNS = {  # ReportData field: (section title, label column)
    "by_result": ("Denials by AssessmentResult", "AssessmentResult"),
    "by_account": ("Denials by account", "account"),
    "top_principals": ("Top principals", "principal"),
    "top_actions": ("Top actions", "action"),
}


def markdown_cell(value: object) -> str:
    """A value safe inside a Markdown table cell (pipes escaped, one line)."""
    if value is None:
        return ""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("analyzer.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["cell"] = markdown_cell
    environment.filters["number"] = lambda value: "" if value is None else f"{value:,}"
    environment.filters["signed"] = lambda value: "" if value is None else f"{value:+,}"
    return environment


def _breakdown_chart(name: str, rows: tuple[Count, ...]) -> str | None:
    if not rows:
        return None
    return bar_chart([row.label for row in rows], [row.events for row in rows], name)


def charts(data: ReportData) -> dict[str, str | None]:
    """SVG text per chart name (None when a chart would be empty)."""
    drawn = {name: _breakdown_chart(name, getattr(data, name)) for name in BREAKDOWNS}
    drawn["per_day"] = (day_chart([day.day for day in data.per_day],
                                  [day.events for day in data.per_day], "per_day")
                        if data.per_day else None)
    return drawn


def render_html(data: ReportData) -> str:
    from markupsafe import Markup

    svgs = {name: Markup(svg) if svg else None for name, svg in charts(data).items()}
    return _environment().get_template("report.html").render(
        data=data, charts=svgs, breakdowns=BREAKDOWNS)


def render_markdown(data: ReportData) -> str:
    return _environment().get_template("report.md").render(
        data=data, breakdowns=BREAKDOWNS)
