"""The report's charts show their labels (ARNs and texts strangers wrote) as data."""

from __future__ import annotations

import re
from html import unescape

from analyzer.report.charts import bar_chart


def test_chart_labels_are_text_not_math_nor_terminal_control():
    """matplotlib reads "$...$" as math: a principal named 'PRICE$5 and $6' was drawn
    'PRICE5and6' with 'and' in italics, and 'BAD$\\evilcmd{$X' stopped the whole report
    with a traceback; control characters went into the SVG raw (found by a held-out probe
    of hostile logs)."""
    labels = [
        "arn:aws:iam::111111111111:user/PRICE$5 and $6",
        "arn:aws:iam::111111111111:user/BAD$\\evilcmd{$X",
        "arn:aws:iam::111111111111:user/\x1b[2J\x07",
    ]
    svg = bar_chart(labels, [3, 2, 1], "principals")
    texts = "".join(unescape(text) for text in re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S))
    assert "user/PRICE$5 and $6" in texts
    assert "$\\\\evilcmd{$X" in texts  # the data's backslash shown doubled, as everywhere
    assert "\\x1b[2J\\x07" in texts
    assert "\x1b" not in svg and "\x07" not in svg
    assert "font-style:italic" not in svg


def test_a_label_the_font_cannot_draw_gives_no_warning(recwarn):
    svg = bar_chart(["arn:aws:iam::111111111111:user/数据-🚀"], [1], "principals")
    assert svg.startswith("<svg")
    assert not [w for w in recwarn if "missing from" in str(w.message)]
