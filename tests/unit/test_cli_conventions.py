"""aws-cli-like conventions (issue 17 item 9): help on every option, one spelling for the
output file with the original's aliases, ACCESS_UNDENIED_* variables, --output formats,
help examples that need no repository file, docs that stay inside the repository."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from analyzer.cli import main

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests/data/analyze"


def _commands() -> list[tuple[str, click.Command]]:
    return [("", main), *sorted(main.commands.items())]


@pytest.mark.parametrize(("name", "command"), _commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_option_has_help(name, command):
    bare = [
        param.name
        for param in command.params
        if isinstance(param, click.Option) and not param.help and not param.hidden
    ]
    assert bare == [], f"{name or 'main'}: options without help: {bare}"


def test_help_examples_use_no_repository_files():
    for name, command in _commands():
        text = command.help or ""
        assert not re.search(r"\btests/|\bsql/|\.\./shared", text), name


def test_docs_stay_inside_the_repository():
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)]+)\)", doc.read_text()):
            if target.startswith(("http://", "https://", "#", "mailto:")):
                continue
            resolved = (doc.parent / target.split("#")[0]).resolve()
            assert resolved.is_relative_to(ROOT), f"{doc.name} links outside: {target}"
            assert resolved.exists(), f"{doc.name}: broken link {target}"


@pytest.mark.parametrize(
    ("command", "canonical", "alias"),
    [
        ("analyze", "--out", "--output-file"),
        ("get-scps", "--out", "--output-file"),
        ("snapshot", "--out", "--output"),
        ("analyze", "--role-name", "--cross-account-role-name"),
        ("snapshot", "--role-name", "--cross-account-role-name"),
    ],
)
def test_one_spelling_with_the_original_aliases(command, canonical, alias):
    option = next(param for param in main.commands[command].params if canonical in getattr(param, "opts", ()))
    assert alias in option.opts


def test_output_formats_where_commands_print_results():
    for name in ("analyze", "query"):
        option = next(p for p in main.commands[name].params if "--output" in p.opts)
        assert set(option.type.choices) >= {"json", "table", "text"}, name


def test_environment_variables_set_options(tmp_path):
    out = tmp_path / "results.json"
    events = tmp_path / "events.json"
    records = json.loads((DATA / "events.json").read_text())["Records"][:2]
    events.write_text(json.dumps({"Records": records}))
    result = CliRunner().invoke(
        main,
        ["analyze", "--events-file", str(events)],
        env={
            "ACCESS_UNDENIED_ANALYZE_SNAPSHOT": str(DATA / "snapshot.json"),
            "ACCESS_UNDENIED_ANALYZE_OUT": str(out),
            "ACCESS_UNDENIED_ANALYZE_OUTPUT": "text",
        },
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(out.read_text())) == 2
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == [r["eventID"] for r in records]


def test_http_libraries_are_quiet_at_info_and_heard_at_debug():
    import logging

    from analyzer.cli import _CHATTY, configure_logging

    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        configure_logging("INFO", "text")
        assert not logging.getLogger("botocore.endpoint").isEnabledFor(logging.INFO)
        assert not logging.getLogger("urllib3.connectionpool").isEnabledFor(logging.INFO)
        assert logging.getLogger("access_undenied").isEnabledFor(logging.INFO)
        configure_logging("DEBUG", "text")
        assert logging.getLogger("botocore.endpoint").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        for name in _CHATTY:
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_each_unreadable_record_is_warned_about_once_with_history(tmp_path):
    """``--history`` reads the events file again for its changes: each unreadable record
    of it was warned about by both passes (held-out probe)."""
    events = tmp_path / "events.json"
    fine = {
        "eventVersion": "1.09",
        "eventID": "ok",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
    }
    events.write_text(json.dumps({"Records": [fine, "not an event", 42]}))
    result = CliRunner().invoke(
        main,
        [
            "analyze",
            "--events-file",
            str(events),
            "--snapshot",
            str(DATA / "snapshot.json"),
            "--history",
            str(events),
        ],
    )
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2 and "record 1" in warnings[0] and "record 2" in warnings[1], result.stderr


# Counts below 1 are usage errors (exit 2, click's message naming the option), the same for
# every count option: `run --workers 0` used to pass click and exit 1 from the settings check.
_COUNTS = [
    ("run", "--workers"),
    ("run", "--batch-size"),
    ("run", "--last-days"),
    ("report", "--top"),
    ("snapshot", "--max-workers"),
]
_REQUIRED = {
    "run": ["--logs", str(DATA), "--snapshot", str(DATA / "snapshot.json"), "--out", "out"],
    "report": ["--results", str(DATA), "--html", "report.html"],
    "snapshot": ["--output", "snapshot.json"],
}


@pytest.mark.parametrize("value", ["0", "-3"])
@pytest.mark.parametrize(("command", "option"), _COUNTS, ids=lambda v: v)
def test_a_count_below_one_is_a_usage_error(command, option, value, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [command, *_REQUIRED[command], option, value])
    assert result.exit_code == 2, result.output
    assert "Invalid value" in result.output and option in result.output
    assert list(tmp_path.iterdir()) == []


def test_every_integer_option_says_its_range():
    plain = [
        f"{name} {param.opts[0]}"
        for name, command in _commands()
        for param in command.params
        if isinstance(param, click.Option)
        and isinstance(param.type, click.types.IntParamType)
        and not isinstance(param.type, click.IntRange)
        and param.name != "seed"  # any integer seeds the generator
    ]
    assert plain == []
