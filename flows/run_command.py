"""``access-undenied run``: the batch pipeline (the Prefect flow in ``flows/nightly.py``).

The command is registered with the ``access-undenied`` CLI through the
``access_undenied.commands`` entry point (pyproject.toml), so ``analyzer``
never imports ``flows``. Importing this module costs only click: Prefect is
imported when the command runs, after the run's inputs have been checked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING

import click

from analyzer.errors import PipelineError

if TYPE_CHECKING:
    from analyzer.pipeline.stages import Summary


def _day(_ctx, _param, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def print_summary(summary: Summary) -> None:
    from rich.table import Table

    from analyzer.render import terminal_console
    from analyzer.untrusted import markup_literal as lit

    console = terminal_console(stderr=True)
    table = Table(title=f"access-undenied run for {lit(summary.run_date)}", show_header=False)
    for label, value in summary.figures():
        table.add_row(label, lit(value))
    for result, count in summary.by_result.items():
        table.add_row(f"  {lit(result)}", str(count))
    if summary.timings:
        table.add_row(
            "stage timings", ", ".join(f"{name} {seconds:.1f} s" for name, seconds in summary.timings.items())
        )
    console.print(table)
    # One line each, however long and wherever stderr goes (a log file is read with grep):
    # rich would wrap them at the terminal's width, or at 80 columns without a terminal.
    for problem in summary.problems:
        console.print(f"[yellow]warning:[/yellow] {lit(problem)}", soft_wrap=True)
    for warning in summary.warnings:
        console.print(f"[yellow]warning:[/yellow] {lit(warning)}", soft_wrap=True)
    for output in summary.outputs:
        console.print(f"wrote {lit(output)}", soft_wrap=True)


@click.command()
@click.option(
    "--source",
    type=click.Choice(["duckdb", "athena"]),
    default="duckdb",
    show_default=True,
    help="Read logs with embedded DuckDB, or query Athena.",
)
@click.option(
    "--logs",
    required=True,
    help="CloudTrail logs: a folder or s3:// prefix (S3-delivery .json.gz or "
    "Athena-layout Parquet). With --source athena: informational only.",
)
@click.option("--snapshot", required=True, help="Policy snapshot file (local or s3://).")
@click.option(
    "--earlier-snapshot",
    "earlier_snapshots",
    multiple=True,
    help="A snapshot collected before --snapshot (the previous night's, say; repeatable). "
    "With policy changes in the logs, what a change replaced without logging it is read "
    "from the snapshot nearest to it.",
)
@click.option("--out", required=True, help="Output folder or s3:// prefix for the tables.")
@click.option("--since", callback=_day, help="First day to analyse (YYYY-MM-DD, inclusive).")
@click.option("--until", callback=_day, help="Day to stop at (YYYY-MM-DD, exclusive).")
@click.option(
    "--last-days",
    type=click.IntRange(min=1),
    help="The N days before today (UTC): 1 is yesterday. Instead of --since/--until.",
)
@click.option(
    "--suppressions",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML file of expected denials to leave out of the backlog.",
)
@click.option(
    "--generalize",
    is_flag=True,
    help="In the backlog, merge a principal's resources sharing a path for one "
    "action into one pattern (broader than least privilege: opt-in).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Distinct denial groups per analysis task. Default: about two tasks per worker, "
    "each of 200 to 1,000 groups.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Parallel analysis tasks. Default: 1 with threads (the analysis is CPU-bound "
    "Python: more threads only contend for the interpreter lock), 4 with processes or a "
    "local Dask cluster.",
)
@click.option(
    "--task-runner",
    type=click.Choice(["threads", "processes", "dask"]),
    default="threads",
    show_default=True,
    help="Where analysis batches run: a thread pool, a process pool, or a Dask "
    "cluster (the [dask] extra; see --dask-address).",
)
@click.option(
    "--dask-address",
    default=None,
    metavar="tcp://HOST:PORT",
    help="With --task-runner dask: the scheduler of an existing cluster (tcp:// or "
    "tls://, secured by Dask's own configuration). Without it a local cluster "
    "of --workers worker processes is started for the run.",
)
@click.option(
    "--athena-database",
    default="default",
    show_default=True,
    help="With --source athena: the Glue database holding the CloudTrail table.",
)
@click.option(
    "--athena-table",
    default="cloudtrail",
    show_default=True,
    help="With --source athena: the CloudTrail table (AWS's CloudTrail table layout).",
)
@click.option(
    "--athena-s3-staging-dir",
    default=None,
    help="With --source athena: s3:// location where Athena writes query results "
    "(not needed when the work group sets one).",
)
@click.option(
    "--athena-work-group",
    default=None,
    help="With --source athena: the Athena work group (default: primary).",
)
@click.option(
    "--athena-region",
    default=None,
    help="With --source athena: the region of the Athena table (default: --region).",
)
@click.pass_context
def run(
    ctx: click.Context,
    source: str,
    logs: str,
    snapshot: str,
    earlier_snapshots: tuple[str, ...],
    out: str,
    since: date | None,
    until: date | None,
    last_days: int | None,
    suppressions: str | None,
    generalize: bool,
    batch_size: int | None,
    workers: int | None,
    task_runner: str,
    dask_address: str | None,
    athena_database: str,
    athena_table: str,
    athena_s3_staging_dir: str | None,
    athena_work_group: str | None,
    athena_region: str | None,
) -> None:
    """Run the batch pipeline: denials -> distinct groups -> reasons -> Parquet tables.

    \b
    Examples:
      access-undenied run --logs ./cloudtrail --snapshot snapshot.json.gz --out ./results
      access-undenied run --logs s3://trail-bucket/AWSLogs/ --snapshot snapshot.json.gz \\
          --out s3://reports/access-undenied --since 2026-11-24 --until 2026-11-25
      access-undenied run --source athena --logs cloudtrail --snapshot snapshot.json.gz \\
          --out s3://reports/au --athena-s3-staging-dir s3://athena-results/au/
      access-undenied run --logs s3://trail-bucket/AWSLogs/ --snapshot s3://audit/snap.json.gz \\
          --out s3://audit/results --task-runner dask --dask-address tls://scheduler:8786
      access-undenied run --logs ./cloudtrail --snapshot today.json.gz \\
          --earlier-snapshot yesterday.json.gz --out ./results --last-days 1
    """
    if since is not None and until is not None and since >= until:
        raise click.BadOptionUsage(  # a usage error (exit 2), like any other bad option
            "since", f"--since {since} must be before --until {until} (--until is exclusive)"
        )
    from analyzer.pipeline.settings import DEFAULT_WORKERS, AthenaSettings, window

    if last_days is not None and (since is not None or until is not None):
        raise click.UsageError("--last-days replaces --since/--until: give one or the other")
    since, until = window(since, until, last_days)
    if dask_address and task_runner != "dask":
        raise click.UsageError("--dask-address needs --task-runner dask")
    if dask_address and "://" not in dask_address:
        raise click.BadParameter(
            f"{dask_address!r} is not a scheduler address (tcp://HOST:PORT or tls://HOST:PORT)",
            param_hint="--dask-address",
        )
    if task_runner == "dask":
        from importlib.util import find_spec

        if find_spec("prefect_dask") is None or find_spec("distributed") is None:
            raise PipelineError(
                "--task-runner dask needs the [dask] extra: pip install 'access-undenied-aws[dask]'"
            )
    if workers is None:
        workers = DEFAULT_WORKERS[task_runner]
    athena = AthenaSettings(
        athena_database, athena_table, athena_s3_staging_dir, athena_work_group, athena_region
    )
    from analyzer.render import progress

    with progress("running the pipeline (Prefect flow)..."):
        summary = run_pipeline(
            logs=logs,
            snapshot=snapshot,
            earlier_snapshots=list(earlier_snapshots),
            out=out,
            source=source,
            since=since,
            until=until,
            suppressions=suppressions,
            generalize=generalize,
            profile=ctx.obj.get("profile"),
            batch_size=batch_size,
            workers=workers,
            athena=athena,
            task_runner=task_runner,
            dask_address=dask_address,
        )
    print_summary(summary)


@contextlib.contextmanager
def _ctrl_c_noticed() -> Iterator[threading.Event]:
    """An event set by Ctrl-C, which still raises ``KeyboardInterrupt`` as usual."""
    noticed = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield noticed  # signals reach only the main thread
        return

    def handler(signum, frame):
        noticed.set()
        signal.default_int_handler(signum, frame)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield noticed
    finally:
        signal.signal(signal.SIGINT, previous)


def run_pipeline(*, task_runner: str = "threads", dask_address: str | None = None, **parameters):
    """Run the flow quietly (Prefect's logs only at -v INFO or DEBUG) and return its summary."""
    from analyzer.pipeline.settings import PipelineSettings
    from flows.preflight import check_locations

    # Validate before starting Prefect, so bad options and paths fail fast with one line.
    settings = PipelineSettings(
        **{k: v for k, v in parameters.items() if k != "athena"},
        **({"athena": parameters["athena"]} if parameters.get("athena") else {}),
    )
    check_locations(settings)
    if not logging.getLogger().isEnabledFor(logging.INFO):
        # A failed task is reported by the CLI in one line (its traceback with -v DEBUG);
        # Prefect would also log it with a traceback at ERROR.
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
        # Prefect's queue services, drained after a failure or a Ctrl-C, warn "Still
        # processing items" (each logs under its class name; the log shipper too, on a
        # busy machine).
        for service in ("EventsWorker", "APILogWorker", "ConcurrencySlotAcquisitionWithLeaseService"):
            logging.getLogger(service).setLevel(logging.ERROR)
        # Prefect's background event loops, stopped at exit, may leave tasks pending; asyncio
        # logs each at ERROR ("Task was destroyed but it is pending"), nothing a user can act on.
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        # A local Dask cluster logs its start and stop at INFO: dozens of lines, and the
        # streams its shutdown closes with tracebacks. Dask's own setting, which its worker
        # processes inherit, keeps it to warnings (a worker lost, restarted).
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    # A local run phones nobody: Prefect's temporary server would try to send
    # analytics (and log an error on machines without Internet access).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # A first run creates Prefect's database before its temporary server answers: on a
    # busy machine that takes longer than Prefect's default 20 s.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from flows.prefect_api import prefect_api

    def warm_up():
        from analyzer.pipeline import stages

        stages.warm_up(settings)

    def import_prefect():
        import flows.nightly  # noqa: F401  (imports Prefect's flow engine)

    try:
        with prefect_api(while_starting=warm_up, once_named=import_prefect), _ctrl_c_noticed() as ctrl_c:
            from flows.nightly import with_runner

            flow = with_runner(task_runner, parameters["workers"], dask_address)
            try:
                summary = flow(**parameters)
            except Exception:
                if ctrl_c.is_set():
                    # A library turned the KeyboardInterrupt into an error of its own
                    # (DuckDB: "Query interrupted"): it is still the user's Ctrl-C.
                    raise KeyboardInterrupt from None
                raise
            if ctrl_c.is_set():
                # Prefect ignores a Ctrl-C that lands after the flow's body has ended; the
                # tables are complete, but the user asked to stop and gets no summary.
                raise KeyboardInterrupt
            return summary
    except PipelineError:
        raise
    except Exception as error:
        from analyzer.errors import AnalyzerError, aws_problem

        if isinstance(error, AnalyzerError):
            raise
        problem = aws_problem(error)
        if problem is None:
            first_line = str(error).strip().partition("\n")[0]  # DuckDB adds the query, marked
            raise PipelineError(f"the pipeline failed: {type(error).__name__}: {first_line}") from error
        places = [
            f"{name} {value}"
            for name in ("logs", "snapshot", "out")
            if str(value := parameters.get(name, "")).startswith("s3://")
        ]
        raise PipelineError(
            f"the pipeline failed on AWS ({', '.join(places) or 'AWS'}): {problem}"
        ) from error
