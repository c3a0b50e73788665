"""The nightly denial report over the pipeline's result tables.

``build_report`` opens the tables (``results.py``), aggregates in DuckDB
(``aggregates.py``) and returns frozen ``ReportData``; ``render_html`` and
``render_markdown`` (``render.py``) turn it into a self-contained HTML page
with SVG charts (``charts.py``) or Markdown tables for tickets.
"""

from __future__ import annotations

from analyzer.report.aggregates import ReportData, collect
from analyzer.report.render import render_html, render_markdown
from analyzer.report.results import open_results
from analyzer.suppressions import Suppressions

__all__ = ["ReportData", "build_report", "render_html", "render_markdown"]


def build_report(
    results: str,
    *,
    previous: str | None = None,
    suppressions: Suppressions | None = None,
    profile: str | None = None,
    top: int = 10,
) -> ReportData:
    """Aggregate the latest run under ``results`` against the run before it.

    ``previous`` names another results root whose latest run is the baseline
    instead; ``top`` bounds every list.
    """
    suppressions = suppressions or Suppressions()
    con, runs = open_results(results, previous=previous, suppressions=suppressions, profile=profile)
    try:
        return collect(con, runs, results=results, suppressions=suppressions, top=top)
    finally:
        con.close()
