"""Small matplotlib charts rendered to inline SVG text.

Charts receive aggregates only (a few dozen bars at most), keep text as SVG
text rather than glyph outlines, and carry no date or random ids, so a report
stays small and two renders of the same data are identical. Each chart's
element ids get a prefix: several SVGs share one HTML document.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from analyzer.untrusted import visible

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.typing import RcKeyType

_ACCENT = "#2f6f9f"
# Inches. Charts take the page's full width and are never wider than it (1,050 px =
# 787 pt), so the browser never scales them down: text stays at FONT_PT.
_WIDE = 7.5
FONT_PT = 11  # SVG user units are points: labels render at 11 pt (legible: >= 10 pt)
_LABEL_CHARS = 46  # a label longer than this wraps onto further lines instead of being cut
_ID = re.compile(r'(id="|url\(#|href="#)')
_STYLE_ELEMENT = re.compile(r"<style[^>]*>.*?</style>", re.S)


_STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "access-undenied",
    "font.size": FONT_PT,
    "axes.spines.top": False,
    "axes.spines.right": False,
    # Labels are ARNs and texts strangers wrote: matplotlib would draw "$a_b$" as math
    # (and stop the report on "$\\evil{$"). Text is text.
    "text.parse_math": False,
}


def _render(draw: Callable[[Axes], None], size: tuple[float, float], prefix: str) -> str:
    """Draw on a fresh figure (no pyplot, so no global state) and return its SVG."""
    import matplotlib
    from matplotlib.figure import Figure

    buffer = io.StringIO()
    with matplotlib.rc_context(_STYLE), warnings.catch_warnings():
        # A label in a script the font lacks (a CJK or emoji principal name) is drawn as
        # boxes in the chart, and shown whole in its table; matplotlib's warning for each
        # glyph would only fill stderr.
        warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
        figure = Figure(figsize=size)
        draw(figure.subplots())
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]  # drop the XML prolog and doctype: inline in HTML
    # matplotlib's one <style> rule is in report.css: the page's CSP allows no other style.
    text = _STYLE_ELEMENT.sub("", text)
    return _ID.sub(lambda match: f"{match.group(1)}{prefix}-", text)


def _wrap(label: str) -> str:
    """The whole label, shown as data (control characters as their escapes, as in the
    tables beside the chart), on as many lines as it needs (ARNs have no spaces: cut
    anywhere)."""
    label = visible(label)
    return "\n".join(label[i : i + _LABEL_CHARS] for i in range(0, len(label), _LABEL_CHARS)) or " "


def bar_chart(labels: Sequence[str], values: Sequence[int], prefix: str) -> str:
    """Horizontal bars, largest first at the top (labels are ARNs and long texts)."""

    def draw(axes: Axes) -> None:
        from matplotlib.ticker import MaxNLocator

        positions = range(len(labels))
        axes.barh(positions, values, color=_ACCENT)
        axes.set_yticks(positions, [_wrap(label) for label in labels])
        axes.invert_yaxis()
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        for position, value in zip(positions, values, strict=True):
            axes.annotate(
                f"{value:,}", (value, position), xytext=(3, 0), textcoords="offset points", va="center"
            )
        axes.set_xlabel("denied events")

    lines = sum(_wrap(label).count("\n") + 1 for label in labels)
    return _render(draw, (_WIDE, 0.22 * max(lines, 1) + 0.2 * len(labels) + 0.8), prefix)


def day_chart(days: Sequence[date], values: Sequence[int], prefix: str) -> str:
    """Denied events per UTC day."""

    def draw(axes: Axes) -> None:
        import matplotlib.dates as mdates
        from matplotlib.ticker import MaxNLocator

        axes.bar(mdates.date2num(list(days)), values, color=_ACCENT, width=0.8)
        axes.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, len(days) // 10)))
        axes.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel("denied events")

    return _render(draw, (_WIDE, 2.4), prefix)
