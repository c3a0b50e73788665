"""Prefect tasks: each wraps one ``analyzer.pipeline.stages`` function.

Caching and retries are decided here, where Prefect is: the snapshot's id is
cached by the file's identity (path, size, modification time), so a re-run does
not re-hash an unchanged snapshot; reading retries only transient errors
(throttling, network), decided in ``analyzer.errors.is_transient``; analysis
batches retry on any failure because they are pure and idempotent.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from analyzer.errors import is_transient
from analyzer.pipeline import stages, work
from analyzer.pipeline.batches import BatchRef, BatchResult
from analyzer.pipeline.settings import PipelineSettings


def _retry_transient(_task, _run, state) -> bool:
    try:
        state.result()
    except Exception as error:  # the state's exception is what we classify
        return is_transient(error)
    return False


def _snapshot_cache_key(_context, parameters: dict[str, Any]) -> str | None:
    location = parameters["settings"].snapshot
    if location.startswith("s3://"):
        return None  # no cheap identity for remote objects here: always re-hash
    stat = os.stat(location)
    return f"snapshot-id:{os.path.abspath(location)}:{stat.st_size}:{stat.st_mtime_ns}"


@task(name="snapshot-id", cache_key_fn=_snapshot_cache_key, persist_result=True,
      cache_expiration=timedelta(days=7))
def snapshot_id(settings: PipelineSettings) -> str:
    return stages.snapshot_id(settings)


@task(name="read-denials", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[2, 10, 30],
      retry_condition_fn=_retry_transient)
def read_denials(settings: PipelineSettings) -> stages.Denials:
    return stages.read_denials(settings)


@task(name="group-denials", cache_policy=NO_CACHE)
def group_denials(denials: stages.Denials, settings: PipelineSettings) -> stages.Grouped:
    return stages.group(denials, settings)


@task(name="analyze-batch", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def analyze_batch(batch: BatchRef, snapshot_location: str, snapshot: str,
                  s3_options_json: str) -> BatchResult:
    return work.analyze_batch(batch, snapshot_location, snapshot, s3_options_json)


@task(name="write-tables", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5,
      retry_condition_fn=_retry_transient)
def write_tables(settings: PipelineSettings, grouped: stages.Grouped,
                 results: list[BatchResult], snapshot: str,
                 report: Any) -> stages.Summary:
    return stages.write(settings, grouped, results, snapshot, report)
