"""Render ``ReportData`` as one self-contained HTML file or as Markdown tables.

The HTML inlines its CSS, a few lines of JavaScript (copy buttons, and a
``data-js-errors`` attribute on ``<html>`` recording script errors so a test can
see them) and the charts as SVG: it opens offline and loads nothing. Its
Content-Security-Policy allows exactly those inline scripts and style (by
SHA-256 hash) and no network at all, so even a value that slipped past
autoescaping could neither run nor phone home. Key
numbers carry ``data-metric`` and their raw value in ``data-value`` so a test
can compare them with SQL over the same tables.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import TYPE_CHECKING

from analyzer.report.aggregates import Count, ReportData
from analyzer.report.charts import bar_chart, day_chart
from analyzer.untrusted import markdown_fence, markdown_text, visible, visible_lines

if TYPE_CHECKING:
    import jinja2

BREAKDOWNS = {  # ReportData field: (section title, label column)
    "by_result": ("Denials by AssessmentResult", "AssessmentResult"),
    "by_account": ("Denials by account", "account"),
    "top_principals": ("Top principals", "principal"),
    "top_actions": ("Top actions", "action"),
}


def _shown(value: object) -> object:
    """Every ``{{ value }}`` of both templates: data text with its control and bidi
    characters made visible, newlines too — HTML would show one as a space, so ``a\nb``
    would read as ``a b`` (autoescaping then handles HTML); our own markup as is."""
    from markupsafe import Markup

    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return value


def _lines(eval_ctx: jinja2.nodes.EvalContext, value: object) -> object:
    """``{{ value | lines }}``: a document we laid out on several lines (a pretty-printed
    policy in ``<pre>`` or a fenced block), its line breaks kept, everything else as
    ``_shown`` makes it (escaped for HTML here, since the result passes as markup)."""
    from markupsafe import Markup, escape

    text = visible_lines(value)
    return escape(text) if eval_ctx.autoescape else Markup(text)


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2
    from markupsafe import Markup

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("analyzer.report", "templates"),
        finalize=_shown,
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # Markup: what ``cell`` made is final, not data for ``_shown`` to escape a second time.
    environment.filters["cell"] = lambda value: Markup(markdown_text(value))
    environment.filters["lines"] = jinja2.pass_eval_context(_lines)
    environment.filters["fence"] = markdown_fence
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
    drawn["per_day"] = (
        day_chart([day.day for day in data.per_day], [day.events for day in data.per_day], "per_day")
        if data.per_day
        else None
    )
    return drawn


@dataclass(frozen=True, slots=True)
class PageAssets:
    """The report's own inline script and style, and the policy that allows only them."""

    errors_js: str
    copy_js: str
    css: str

    @property
    def policy(self) -> str:
        def digest(text: str) -> str:
            return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

        # Style attributes stay allowed: the SVG charts use them and no data reaches them.
        return (
            "default-src 'none'; "
            f"script-src {digest(self.errors_js)} {digest(self.copy_js)}; "
            f"style-src-elem {digest(self.css)}; style-src-attr 'unsafe-inline'; "
            "base-uri 'none'; form-action 'none'"
        )


@lru_cache(maxsize=1)
def page_assets() -> PageAssets:
    templates = files("analyzer.report") / "templates"
    return PageAssets(
        *(
            (templates / name).read_text(encoding="utf-8")
            for name in ("report-errors.js", "report-copy.js", "report.css")
        )
    )


def render_html(data: ReportData) -> str:
    from markupsafe import Markup

    svgs = {name: Markup(svg) if svg else None for name, svg in charts(data).items()}
    assets = page_assets()
    return (
        _environment()
        .get_template("report.html")
        .render(
            data=data,
            charts=svgs,
            breakdowns=BREAKDOWNS,
            assets={
                "policy": assets.policy,
                "errors_js": Markup(assets.errors_js),
                "copy_js": Markup(assets.copy_js),
                "css": Markup(assets.css),
            },
        )
    )


def render_markdown(data: ReportData) -> str:
    return _environment().get_template("report.md").render(data=data, breakdowns=BREAKDOWNS)
