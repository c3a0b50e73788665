"""The ``access-undenied`` / ``access-undenied-aws`` command line.

Commands import what they need when they run, so ``--help`` needs no AWS
credentials, no network and no heavy imports. Errors caused by input
(``AnalyzerError``) become one line on stderr and exit code 1; usage errors
exit 2 (click's convention); tracebacks appear only with ``-v DEBUG``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

from analyzer.errors import AnalyzerError
from analyzer.untrusted import visible

LEVELS = ["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]
log = logging.getLogger("access_undenied")


class _Group(click.Group):
    """Turns ``AnalyzerError`` into a one-line message and exit code 1, Ctrl-C into 130."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AnalyzerError as error:
            if log.isEnabledFor(logging.DEBUG):
                log.exception("failed")
            click.echo(f"error: {visible(error)}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            # Output files were removed on the way out (ResultsFile, atomic writes).
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)


EXIT_INTERRUPTED = 130


def entry() -> None:
    """What ``access-undenied`` and ``python -m analyzer`` run: ``main``, ended at once after Ctrl-C.

    After Ctrl-C nothing is left to do: outputs are written atomically or
    removed on the way out, and the streams are flushed here. What Python would
    still do is slow (tearing down an interpreter holding Prefect, DuckDB and
    pyarrow takes about a second) or can hang (its exit handlers join pool
    workers started after the Ctrl-C, which never saw it), so the process ends
    at once; with pool workers, it terminates them and lets Python end as usual.
    Tests call ``main`` and keep their process.
    """
    try:
        main()
    except SystemExit as ending:
        if ending.code == EXIT_INTERRUPTED:
            _end_now()
        raise


def _end_now() -> None:
    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is not None:
        for child in multiprocessing.active_children():  # a process pool's workers
            child.terminate()
    if "multiprocessing.resource_tracker" in sys.modules:
        # A process pool's semaphores are unregistered by Python's own exit (ended at
        # once, their tracker would warn of leaks); its exit handlers join the workers
        # ended above.
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


# Libraries that log every HTTP request at INFO; their lines only help with -v DEBUG.
_CHATTY = ("botocore", "boto3", "urllib3", "s3fs", "aiobotocore", "httpx", "httpcore", "fsspec")


def configure_logging(level: str, log_format: str) -> None:
    """One stderr handler whose lines show data as data (``analyzer.untrusted``)."""
    from analyzer.untrusted import JsonFormatter, VisibleFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else VisibleFormatter("%(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(
            level if level == "DEBUG" else max(logging.WARNING, logging.getLevelName(level))
        )


ENV_PREFIX = "ACCESS_UNDENIED"


@click.group(
    cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": ENV_PREFIX}
)
@click.option(
    "--profile",
    default=None,
    help="AWS named profile for commands that call AWS (else AWS_PROFILE or the default credential chain).",
)
@click.option(
    "--region", default=None, help="AWS region for commands that call AWS (sets AWS_DEFAULT_REGION)."
)
@click.option(
    "-v",
    "--verbosity",
    default="WARNING",
    show_default=True,
    type=click.Choice(LEVELS, case_sensitive=False),
    help="Log level; INFO adds progress lines, DEBUG adds HTTP requests and tracebacks.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines as text (data escaped) or as one JSON object per line.",
)
@click.version_option(package_name="access-undenied-aws")
@click.pass_context
def main(
    ctx: click.Context, profile: str | None, region: str | None, verbosity: str, log_format: str
) -> None:
    """Explain AWS access-denied events and propose least-privilege fixes.

    Every option can also be set in the environment as ACCESS_UNDENIED_<OPTION>
    for global options and ACCESS_UNDENIED_<COMMAND>_<OPTION> for a command's
    (upper case, dashes as underscores), e.g. ACCESS_UNDENIED_PROFILE=audit,
    ACCESS_UNDENIED_ANALYZE_SNAPSHOT=snapshot.json.gz. Command output goes to
    stdout (--output json|table|text where a command prints results); messages,
    warnings and the summary line go to stderr. Exit codes: 0 success, 1 bad input
    or an unanswered event, 2 usage error, 130 interrupted.

    \b
    Shell completion (bash; zsh and fish alike):
      eval "$(_ACCESS_UNDENIED_COMPLETE=bash_source access-undenied)"

    \b
    Examples:
      access-undenied demo --events 2000 --out demo
      access-undenied analyze --events-file demo/data/cloudtrail \\
          --snapshot demo/data/snapshot.json --output text
      access-undenied query --results demo/results "from deny_hot_spots limit 5"
    """
    configure_logging(verbosity.upper(), log_format)
    if region:
        os.environ["AWS_DEFAULT_REGION"] = region  # boto3 and s3fs read it in every command
    ctx.obj = {"profile": profile, "region": region}


@main.command()
@click.option(
    "--cases",
    "cases_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file with an array of evaluation cases (spec/cases.md).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Compare each decision with the case's `expected` and end with "
    "'N passed, M failed'; exit 1 on any failure.",
)
def simulate(cases_file: Path, check: bool) -> None:
    """Evaluate authorization cases with the local engine, one JSON line per case.

    \b
    Example:
      access-undenied simulate --cases cases.json --check
    """
    from analyzer.cases import read_cases_file
    from analyzer.cases import simulate as run_cases
    from analyzer.untrusted import visible

    passed = failed = errors = 0
    for outcome in run_cases(read_cases_file(cases_file)):
        click.echo(json.dumps(outcome.to_json()))
        if outcome.error is not None:
            errors += 1
            click.echo(f"error: {cases_file}: {outcome.error}", err=True)
        if not check:
            continue
        problem = outcome.mismatch
        if problem is None:
            passed += 1
        else:
            failed += 1
            click.echo(f"FAIL {visible(outcome.name)}: {visible(problem)}", err=True)
    if check:
        click.echo(f"{passed} passed, {failed} failed")
        if failed:
            sys.exit(1)
    elif errors:
        sys.exit(1)


# Commands live with what they drive; registering them imports nothing heavy.
from analyzer.analyze_command import analyze  # noqa: E402  (registered after ``main`` exists)

main.add_command(analyze)

# Collector commands live with the collectors; registering them imports no boto3.
from analyzer.collectors.commands import get_scps, snapshot  # noqa: E402  (as above)

main.add_command(snapshot)
main.add_command(get_scps)

# The report command imports DuckDB, jinja2 and matplotlib only when it runs.
from analyzer.report.command import report  # noqa: E402  (as above)

main.add_command(report)

from analyzer.query_command import query  # noqa: E402  (as above)

main.add_command(query)


def _add_plugin_commands() -> None:
    """Commands registered under the ``access_undenied.commands`` entry point.

    ``run`` and ``demo`` drive the Prefect flow and live in ``flows/``, which
    imports ``analyzer`` and never the reverse; pyproject.toml registers them here.
    Loading one imports its click definition only.
    """
    from importlib.metadata import entry_points

    for entry in entry_points(group="access_undenied.commands"):
        if entry.name not in main.commands:
            main.add_command(entry.load(), entry.name)


_add_plugin_commands()
