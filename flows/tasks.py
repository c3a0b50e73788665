"""Prefect tasks: each wraps one ``analyzer.pipeline.stages`` function.

Caching and retries are decided here, where Prefect is: the snapshot's id and
time are cached by the file's identity (path, size, modification time), so a re-run does
not re-hash an unchanged snapshot; reading retries only transient errors
(throttling, network), decided in ``analyzer.errors.is_transient``; analysis
batches retry on any failure because they are pure and idempotent.

An analysis batch's result is persisted (plain JSON, see ``flows.results``) and
cached on (snapshot id, batch content, work folder): re-running a night after a
crash analyses only the batches that had not finished. Its reason rows are in
the batch's Parquet part, whose name is fixed by the same identity, so a batch
that runs twice is written once.

A task that reads or writes AWS (S3, Athena) in this run carries the ``AWS_TAG`` tag
(``on_aws``): a Prefect tag concurrency limit on it (``prefect concurrency-limit create
access-undenied-aws 4``) bounds how many run at once across every run. Only then: a
tagged task asks the Prefect server for a slot before it starts, a round trip that waits
behind the server's backlog of the run's task reports (measured: the write stage of a
local 1M-event run took 2.5-2.9 s tagged against 0.5 s untagged).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.settings import get_current_settings

from analyzer.errors import is_transient
from analyzer.pipeline import stages, work
from analyzer.pipeline.batches import BatchRef, BatchResult
from analyzer.pipeline.changes import ChangesRef
from analyzer.pipeline.settings import PipelineSettings
from flows.results import JSON, refuse_foreign_record

AWS_TAG = "access-undenied-aws"
P = ParamSpec("P")
R = TypeVar("R")
# Prefect's local results folder (PREFECT_RESULTS_LOCAL_STORAGE_PATH).
RESULTS = Path(get_current_settings().results.local_storage_path).expanduser()


def on_aws(task: Task[P, R], touches_aws: bool) -> Task[P, R]:
    """``task`` tagged ``AWS_TAG`` when this run's call of it reads or writes AWS."""
    return task.with_options(tags={AWS_TAG}) if touches_aws else task


def _retry_transient(_task, _run, state) -> bool:
    try:
        state.result()
    except Exception as error:  # the state's exception is what we classify
        return is_transient(error)
    return False


def _snapshot_cache_key(_context, parameters: dict[str, Any]) -> str | None:
    settings = parameters["settings"]
    identities = []
    for location in (settings.snapshot, *settings.earlier_snapshots):
        if location.startswith("s3://"):
            return None  # no cheap identity for remote objects here: always re-hash
        stat = os.stat(location)
        identities.append(f"{os.path.abspath(location)}\0{stat.st_size}\0{stat.st_mtime_ns}")
    identity = "\n".join(identities)
    return refuse_foreign_record(RESULTS, f"snapshot-info-{hashlib.sha256(identity.encode()).hexdigest()}")


@task(
    name="snapshot-info",
    cache_key_fn=_snapshot_cache_key,
    persist_result=True,
    result_serializer=JSON,
    result_storage=RESULTS,
    cache_expiration=timedelta(days=7),
)
def snapshot_info(settings: PipelineSettings) -> dict[str, Any]:
    """The snapshot's ``SnapshotInfo`` as plain JSON data (what is persisted and cached)."""
    return dataclasses.asdict(stages.snapshot_info(settings))


@task(
    name="read-denials",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=_retry_transient,
)
def read_denials(settings: PipelineSettings, snapshots_collected: Sequence[datetime] = ()) -> stages.Denials:
    return stages.read_denials(settings, snapshots_collected)


@task(name="group-denials", cache_policy=NO_CACHE)
def group_denials(
    denials: stages.Denials,
    settings: PipelineSettings,
    snapshot_id: str,
    earlier: tuple[tuple[str, str], ...] = (),
) -> stages.Grouped:
    return stages.group(denials, settings, snapshot_id, earlier)


def _batch_cache_key(_context, parameters: dict[str, Any]) -> str:
    batch: BatchRef = parameters["batch"]
    changes: ChangesRef | None = parameters.get("changes")
    work_folder = batch.groups_uri.rsplit("/", 1)[0]
    history = changes.key if changes else ""
    identity = "\0".join((parameters["snapshot"], batch.content_hash, work_folder, history))
    return refuse_foreign_record(RESULTS, f"analyze-batch-{hashlib.sha256(identity.encode()).hexdigest()}")


@task(
    name="analyze-batch",
    cache_key_fn=_batch_cache_key,
    persist_result=True,
    result_serializer=JSON,
    result_storage=RESULTS,
    cache_expiration=timedelta(days=7),
    retries=2,
    retry_delay_seconds=1,
)
def analyze_batch(
    batch: BatchRef,
    snapshot_location: str,
    snapshot: str,
    s3_options_json: str,
    changes: ChangesRef | None = None,
) -> dict[str, Any]:
    """The batch's ``BatchResult`` as plain JSON data (what is persisted and cached)."""
    return dataclasses.asdict(
        work.analyze_batch(batch, snapshot_location, snapshot, s3_options_json, changes)
    )


@task(
    name="write-tables",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=_retry_transient,
)
def write_tables(
    settings: PipelineSettings,
    grouped: stages.Grouped,
    results: list[BatchResult],
    snapshot: str,
    report: Any,
) -> stages.Summary:
    return stages.write(settings, grouped, results, snapshot, report)
