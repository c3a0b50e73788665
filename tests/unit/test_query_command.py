"""``access-undenied query``: SQL over the result tables and views in embedded DuckDB."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from report_tables import APP, LATEST, write_results

from analyzer.cli import main


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return write_results(tmp_path_factory.mktemp("out"))


def _query(*args: str):
    return CliRunner().invoke(main, ["query", *args])


def test_the_views_are_defined_and_json_is_exact(results):
    outcome = _query(
        "--results",
        str(results),
        "--output",
        "json",
        "select principal_arn, action, event_count, dt from latest_reasons where action = 's3:GetObject'",
    )
    assert outcome.exit_code == 0, outcome.output
    assert json.loads(outcome.stdout) == [
        {"principal_arn": APP, "action": "s3:GetObject", "event_count": 5, "dt": LATEST}
    ]
    assert outcome.stderr == "1 row(s)\n"


def test_text_is_tab_separated_without_a_header(results):
    outcome = _query(
        "--results",
        str(results),
        "--output",
        "text",
        "select action, count(*) from denials group by 1 order by 1",
    )
    assert outcome.exit_code == 0, outcome.output
    rows = [line.split("\t") for line in outcome.stdout.splitlines()]
    assert rows[0] == ["ec2:RunInstances", "4"] and all(len(row) == 2 for row in rows)


def test_a_table_shows_markup_in_data_as_text(results):
    outcome = _query("--results", str(results), "select '[bold red]ALLOWED[/] ' || chr(27) || '[2J' as k")
    assert outcome.exit_code == 0, outcome.output
    assert "[bold red]ALLOWED[/] \\x1b[2J" in outcome.stdout
    assert "\x1b" not in outcome.stdout


def test_bad_sql_is_one_line_and_exit_1(results):
    outcome = _query("--results", str(results), "selec 1")
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("error: Parser Error") and len(outcome.stderr.splitlines()) == 1


def test_column_names_are_data_too(results):
    """A PIVOT makes column names of values (user agents...): the header rendered them as
    Rich markup (held-out probe)."""
    outcome = _query("--results", str(results), 'select 1 as "[bold red]HEADER[/]"')
    assert outcome.exit_code == 0, outcome.output
    assert "[bold red]HEADER[/]" in outcome.stdout
