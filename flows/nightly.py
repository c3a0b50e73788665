"""The nightly flow: denials of a day across the organization -> reason and backlog tables.

Deployed by ``deployments/prefect.yaml``; run directly by ``access-undenied run``.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from typing import Literal

from prefect import flow, get_run_logger, unmapped
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

from analyzer.pipeline import heap, stages
from analyzer.pipeline.batches import BatchResult
from analyzer.pipeline.settings import DEFAULT_WORKERS, AthenaSettings, PipelineSettings, window
from analyzer.pipeline.storage import filesystem
from flows import artifacts, tasks


# Without ``with_runner`` (a deployment's entry point): one thread, as ``run`` uses by default
# (``DEFAULT_WORKERS``); Prefect's own default pool runs as many threads as cores plus four.
@flow(
    name="access-undenied-nightly",
    log_prints=True,
    # (Prefect's own documented form; its annotation wants a runner of PrefectFuture, which
    # the thread pool's PrefectConcurrentFuture is, but generics are invariant to mypy.)
    task_runner=ThreadPoolTaskRunner(max_workers=DEFAULT_WORKERS["threads"]),  # type: ignore[arg-type]
)
def nightly(
    logs: str,
    snapshot: str,
    out: str,
    source: Literal["duckdb", "athena"] = "duckdb",
    since: date | None = None,
    until: date | None = None,
    last_days: int | None = None,
    suppressions: str | None = None,
    generalize: bool = False,
    profile: str | None = None,
    batch_size: int | None = None,
    workers: int = DEFAULT_WORKERS["threads"],
    athena: AthenaSettings | None = None,
    earlier_snapshots: list[str] | None = None,
) -> stages.Summary:
    """Explain every distinct denial of the window and write the Parquet tables.

    ``last_days`` (for schedules) sets the window to the days before today (UTC)
    when ``since``/``until`` are not given: 1 is "yesterday". ``earlier_snapshots``
    (the previous night's snapshot, say) tell the history what a logged change replaced
    without logging it.
    """
    since, until = window(since, until, last_days)
    settings = PipelineSettings(
        logs=logs,
        snapshot=snapshot,
        out=out,
        source=source,
        since=since,
        until=until,
        suppressions=suppressions,
        generalize=generalize,
        profile=profile,
        batch_size=batch_size,
        workers=workers,
        athena=athena or AthenaSettings(),
        earlier_snapshots=tuple(earlier_snapshots or ()),
    )
    clock = artifacts.StageClock()
    snapshots = (settings.snapshot, *settings.earlier_snapshots)
    info = stages.SnapshotInfo(**tasks.on_aws(tasks.snapshot_info, any(map(_on_s3, snapshots)))(settings))
    snapshot_id = info.snapshot_id
    with clock.stage("scan"):
        # Changes up to the snapshots' times: the policies at each denial's time are rebuilt from them.
        reading = tasks.on_aws(tasks.read_denials, _on_s3(settings.logs) or settings.source == "athena")
        denials = reading(settings, info.collected_times())
    with clock.stage("group"):
        grouped = tasks.group_denials(denials, settings, snapshot_id, info.earlier_refs)
        heap.give_back_freed_memory()  # the stage's texts and tables, held otherwise all night
    with clock.stage("analyze"):
        results = _analyze(settings, grouped, snapshot_id)
        heap.give_back_freed_memory()
    with clock.stage("write"):
        writing = tasks.on_aws(tasks.write_tables, _on_s3(settings.out))
        summary = writing(settings, grouped, results, snapshot_id, denials.report)
    summary = replace(summary, timings=dict(clock.seconds))
    get_run_logger().info(clock.line())
    artifacts.publish(summary)
    return summary


def _on_s3(location: str) -> bool:
    return location.startswith("s3://")


def _exists(uri: str, s3_options: dict) -> bool:
    fs, path = filesystem(uri, s3_options)
    return fs.exists(path)


def _analyze(settings: PipelineSettings, grouped: stages.Grouped, snapshot_id: str) -> list[BatchResult]:
    """Every batch's result: computed, or cached from an earlier run of the same batches.

    A cached result whose part is gone (the run that wrote it committed and removed
    its work files) is computed again.
    """
    refs = stages.batches(grouped)
    options = stages.s3_options_json(settings)
    arguments = (
        unmapped(settings.snapshot),
        unmapped(snapshot_id),
        unmapped(options),
        unmapped(grouped.changes),
    )
    with _ctrl_c_held_back():
        futures = tasks.analyze_batch.map(refs, *arguments)
    results = [BatchResult(**future.result()) for future in futures]
    stale = [
        index for index, result in enumerate(results) if not _exists(result.part_uri, settings.s3_options())
    ]
    if stale:
        again = tasks.analyze_batch.with_options(refresh_cache=True).map(
            [refs[index] for index in stale], *arguments
        )
        for index, future in zip(stale, again, strict=True):
            results[index] = BatchResult(**future.result())
    return results


def task_runner(kind: str, workers: int, dask_address: str | None = None):
    """Where analysis batches run: threads (default), processes, or a Dask cluster.

    For Dask, ``dask_address`` (``tcp://`` or ``tls://``) is an existing scheduler, reached
    with Dask's own security configuration (``distributed.comm.tls.*``); without it a local
    cluster of ``workers`` single-threaded worker processes lives as long as the run.
    """
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(
            cluster_kwargs={
                "n_workers": workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": None,
            }
        )
    if kind == "processes":
        return ProcessPoolTaskRunner(max_workers=workers, initializer=leave_ctrl_c_to_the_flow)
    return ThreadPoolTaskRunner(max_workers=workers)


@contextlib.contextmanager
def _ctrl_c_held_back() -> Iterator[None]:
    """Hold Ctrl-C back from the threads and processes the task runner starts meanwhile.

    Ctrl-C at a terminal signals every process of the run. A new thread inherits
    its creator's signal mask and a new process its thread's, so the runner's
    threads leave Ctrl-C to the flow's thread, and a pool worker receives it only
    once ``leave_ctrl_c_to_the_flow`` lets it (one still importing would die of
    it with a traceback). A Ctrl-C meanwhile is delivered on the way out, not lost.
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


_worker_ready = False


def leave_ctrl_c_to_the_flow() -> None:
    """In a pool worker: end quietly on Ctrl-C, which the flow's process reports.

    A Ctrl-C pressed while the worker started (held back until now) ends it at
    once, before any work; later, ``SystemExit`` ends its batch (whose output is
    written atomically) and then the worker, without a traceback of its own.
    """
    signal.signal(signal.SIGINT, _end_quietly)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    global _worker_ready
    _worker_ready = True


def _end_quietly(_signum, _frame) -> None:
    if not _worker_ready:
        os._exit(130)  # nothing started yet; an exception here would be logged as the pool's
    raise SystemExit(130)


def with_runner(kind: str, workers: int, dask_address: str | None = None):
    """The flow with its task runner (see ``task_runner``)."""
    return nightly.with_options(task_runner=task_runner(kind, workers, dask_address))
