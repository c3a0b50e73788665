"""The report command: Markdown output, HTML self-containment, options and errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_tables import APP, LATEST, write_results, write_rules

from analyzer.cli import main
from analyzer.report.render import _environment
from analyzer.untrusted import markdown_text as markdown_cell


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return write_results(tmp_path_factory.mktemp("out"))


def _run(*args: str):
    return CliRunner().invoke(main, ["report", *args], catch_exceptions=False)


def test_markdown_tables_for_tickets(results, tmp_path):
    rules = write_rules(tmp_path / "expected.yaml")
    outcome = _run("--results", str(results), "--markdown", "-", "--suppressions", str(rules))
    assert outcome.exit_code == 0, outcome.output
    text = outcome.stdout
    assert text.startswith(f"# Access Undenied: denial report for {LATEST}\n")
    assert "| Denied events | 20 |" in text
    assert "| Suppressed as expected | 8 |" in text
    assert "| Since previous run | +5 |" in text
    assert "| Explicit deny in a service-control policy | 5 | 2 |" in text
    assert f"| {APP} | kms:Decrypt | arn:aws:kms:us-east-1:111111111111:key/k1 | 0 | 4 | +4 |" in text
    assert r"| 1 | principal=arn:aws:iam::\*:role/ci-\* action=s3:List\* |" in text
    assert '```json\n{\n  "Version": "2012-10-17"' in text
    # Every table row has as many cells as its header.
    for table in re.findall(r"((?:^\|.*\|\n)+)", text, flags=re.M):
        widths = {len(re.split(r"(?<!\\)\|", line)) for line in table.splitlines()}
        assert len(widths) == 1, table
    assert "rule 3 expired" in outcome.stderr


def test_markdown_cells_escape_pipes_newlines_html_and_links():
    assert markdown_cell("a|b\nc") == "a\\|b\\\\nc"
    assert markdown_cell(None) == ""
    assert markdown_cell("<img src=x onerror=alert(1)>&amp;") == (
        "&lt;img src=x onerror=alert\\(1\\)&gt;&amp;amp;"
    )
    assert markdown_cell("[open](https://evil.example) ![i](https://evil.example/p.png)") == (
        "\\[open\\]\\(https\\://evil.example\\) \\!\\[i\\]\\(https\\://evil.example/p.png\\)"
    )


def test_html_and_markdown_in_one_run_are_self_contained(results, tmp_path):
    html, markdown = tmp_path / "report.html", tmp_path / "report.md"
    outcome = _run("--results", str(results), "--html", str(html), "--markdown", str(markdown))
    assert outcome.exit_code == 0, outcome.output
    assert f"wrote {html}" in outcome.stderr and f"wrote {markdown}" in outcome.stderr
    page = html.read_text()
    assert len(page) < 150_000
    assert page.count("<svg") == 5
    # Nothing is fetched when the page is viewed: no external URL in a loading attribute.
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert "@import" not in page and "url(http" not in page
    assert 'data-metric="total-denials" data-value="20"' in page


def test_an_output_is_required(results):
    outcome = CliRunner().invoke(main, ["report", "--results", str(results)])
    assert outcome.exit_code == 2
    assert "give --html FILE and/or --markdown FILE" in outcome.output


def test_bad_results_is_one_line_and_exit_1(tmp_path):
    outcome = CliRunner().invoke(main, ["report", "--results", str(tmp_path / "nowhere"), "--markdown", "-"])
    assert outcome.exit_code == 1
    assert outcome.stderr.count("\n") == 1
    assert outcome.stderr.startswith(f"error: {tmp_path / 'nowhere'}/denials/: cannot read")


def test_malformed_suppressions_is_one_line_and_exit_1(results, tmp_path):
    rules = tmp_path / "expected.yaml"
    rules.write_text("suppressions:\n  - action: s3:*\n")
    outcome = CliRunner().invoke(
        main, ["report", "--results", str(results), "--markdown", "-", "--suppressions", str(rules)]
    )
    assert outcome.exit_code == 1
    assert (
        outcome.stderr == f"error: {rules}: rule 1: 'reason' is required: "
        "say why these denials are expected\n"
    )


def test_a_newline_in_data_is_shown_in_html_and_only_our_own_line_breaks_are_kept():
    """HTML shows a newline as a space, so ``a\\nb`` in a cell would read as ``a b``: data is
    shown with its newline escaped, while a policy we pretty-printed keeps its lines (and is
    still escaped: the ``lines`` filter's result passes as markup)."""
    template = _environment().from_string("<td>{{ value }}</td><pre>{{ policy | lines }}</pre>")
    page = template.render(value="a\nb<i>", policy='{\n  "Sid": "x<y>\x1b"\n}')
    assert page == "<td>a\\nb&lt;i&gt;</td><pre>{\n  &#34;Sid&#34;: &#34;x&lt;y&gt;\\x1b&#34;\n}</pre>"
