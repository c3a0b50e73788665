"""The hostile corpus through ``run`` and ``report`` (issue 19 items 3 and 5).

``run`` writes the tables from log files whose keys, user agents, error messages,
event ids and file names are hostile, and whose snapshot names the denying policy
and Sid with HTML, markup and escapes. ``report --html`` is then opened in headless
Chromium: the DOM Chromium built must hold no element or attribute the data tried to
inject, and no script of the data's may have run (each payload would set
``data-pwned`` on ``<html>``). ``report --markdown`` is rendered with markdown-it:
no link, image or HTML tag of the data's comes out.
"""

from __future__ import annotations

import html as html_module
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from hostile_corpus import CHANGE_ID, PAYLOADS, write
from markdown_it import MarkdownIt
from test_report_chromium import CHROMIUM, _chromium

from analyzer.cli import main

pytestmark = pytest.mark.usefixtures("prefect_harness")


class Dom(HTMLParser):
    """Every element with its attributes, and the text, of a dumped DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.elements if tag == name]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("hostile-run")
    corpus = write(work / "corpus")
    out = work / "out"
    outcome = CliRunner().invoke(
        main, ["run", "--logs", str(corpus.logs_root), "--snapshot", str(corpus.snapshot), "--out", str(out)]
    )
    assert outcome.exit_code == 0, outcome.output
    assert "\x1b" not in outcome.output
    return out


def _report(results: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "analyzer", "report", "--results", str(results), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.fixture(scope="module")
def html(results, tmp_path_factory) -> Path:
    page = tmp_path_factory.mktemp("hostile-html") / "report.html"
    _report(results, "--html", str(page))
    return page


def _dom(page: Path, profile: Path) -> Dom:
    run = _chromium("--dump-dom", page.as_uri(), profile=profile)
    dom = Dom()
    dom.feed(run.stdout)
    return dom


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary")
def test_no_script_of_the_data_ran_and_no_element_was_injected(html, tmp_path):
    dom = _dom(html, tmp_path / "profile")
    root = dom.tags("html")[0]
    assert root.get("data-js-ready") == "true"  # our own scripts ran
    assert "data-pwned" not in root and "data-js-errors" not in root
    assert len(dom.tags("script")) == 2  # ours: the error recorder and the copy buttons
    for tag in ("img", "a", "iframe", "object", "embed", "link", "base", "form"):
        assert dom.tags(tag) == [], tag
    for tag, attrs in dom.elements:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        for name in ("href", "src", "xlink:href"):
            assert not (attrs.get(name) or "#").lstrip().lower().startswith(("javascript:", "http")), (
                tag,
                attrs,
            )
    text = "".join(dom.text)
    assert "[bold red]ALLOWED[/]" in text
    assert (
        "<script>document.documentElement.setAttribute('data-pwned','script')</script>" in text
    )  # the payload is shown as text
    assert "invoice\\u202eexe.pdf" in text and "\u202e" not in text  # bidi shown, not obeyed
    assert "\x1b" not in text and "\x00" not in text


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary")
def test_the_content_security_policy_blocks_a_script_that_slipped_through(html, tmp_path):
    page = html.read_text()
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert policy is not None
    directives = html_module.unescape(policy.group(1))
    assert "default-src 'none'" in directives
    assert "unsafe-inline" not in directives.split("style-src-attr")[0]
    # As if autoescaping had failed: the policy alone must stop the script and the beacon.
    injected = html.with_name("injected.html")
    injected.write_text(
        page.replace(
            "</body>",
            "<script>document.documentElement.setAttribute('data-pwned','csp')</script>"
            '<img src="http://127.0.0.1:9/beacon.png"></body>',
        )
    )
    dom = _dom(injected, tmp_path / "profile")
    root = dom.tags("html")[0]
    assert "data-pwned" not in root
    assert root.get("data-js-ready") == "true"


def test_the_change_behind_the_denials_is_named_as_text(html):
    """The run found the hostile PutRolePolicy behind the explicit denials; the report's first
    section names it (its event id intact as an attribute value, its caller as text)."""
    dom = Dom()
    dom.feed(html.read_text())
    causes = {attrs.get("data-root-cause") for _, attrs in dom.elements if "data-root-cause" in attrs}
    assert CHANGE_ID in causes
    text = "".join(dom.text)
    assert "PutRolePolicy" in text and PAYLOADS["html_script"] in text


def test_markdown_renders_no_link_image_or_html_of_the_data(results):
    text = _report(results, "--markdown", "-").stdout
    rendered = MarkdownIt("commonmark").enable("table").render(text)
    for tag in ("<a ", "<img", "<script", "<svg", "<iframe"):
        assert tag not in rendered, tag
    assert "\x1b" not in text and "\x00" not in text and "\u202e" not in text
    header_cells = None
    for line in text.splitlines():  # every table row has its header's number of cells
        if line.startswith("|"):
            cells = len(re.split(r"(?<!\\)\|", line))
            header_cells = header_cells or cells
            if line.startswith("|---") or line.startswith("|--"):
                continue
        else:
            header_cells = None
            continue
        assert cells == header_cells, line
    assert "[bold red]ALLOWED[/]" in rendered  # shown as text once rendered
    assert "[open](https://evil.example/md)" in rendered
