"""A night re-run after a crash analyses only the batches that had not finished.

The first run is the real CLI, killed (SIGKILL, no clean-up) once a few batches
have written their parts; the second runs the same night against the same Prefect
API and results folder. Its analysis task runs are counted from Prefect's own
records: the finished batches come from the cache, only the rest are analysed,
and the tables hold every group once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import duckdb
import pytest
from prefect_runs import analysis_task_runs

from analyzer.demo import generate
from flows import tasks
from flows.nightly import nightly
from flows.results import is_plain_json_record

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_a_rerun_after_a_crash_analyses_only_unfinished_batches(tmp_path):
    from prefect.settings import get_current_settings

    demo = generate(tmp_path / "demo", events=3000, seed=21)
    out = tmp_path / "out"
    env = {
        **os.environ,
        "PREFECT_API_URL": get_current_settings().api.url,
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(tasks.RESULTS),
    }
    crashed = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "analyzer",
            "run",
            "--logs",
            str(demo.json_root),
            "--snapshot",
            str(demo.snapshot),
            "--out",
            str(out),
            "--batch-size",
            "1",
            "--workers",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while len(list((out / "_work").glob("reasons-*.parquet"))) < 4:
        assert crashed.poll() is None, "the first run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    crashed.send_signal(signal.SIGKILL)
    crashed.wait()
    finished = len(list((out / "_work").glob("reasons-*.parquet")))

    state = nightly(
        logs=str(demo.json_root),
        snapshot=str(demo.snapshot),
        out=str(out),
        batch_size=1,
        workers=1,
        return_state=True,
    )

    summary = state.result()
    runs: dict[str, int] = {}
    for task_run in analysis_task_runs(state.state_details.flow_run_id):
        runs[task_run.state.name] = runs.get(task_run.state.name, 0) + 1
    batches = sum(runs.values())
    assert batches >= demo.denial_groups // 2  # batches of one principal's groups
    # Every batch that had finished is a cache hit (its part was written before its result
    # record, so at most one in flight when killed may run again); the rest are analysed.
    assert finished - 1 <= runs.get("Cached", 0) <= finished
    assert runs.get("Completed", 0) == batches - runs.get("Cached", 0) > 0
    keys = [
        key
        for (key,) in duckdb.sql(
            f"select group_key from read_parquet('{out}/reasons/**/*.parquet')"
        ).fetchall()
    ]
    assert len(keys) == len(set(keys)) == demo.denial_groups == summary.groups


def test_a_stored_result_that_is_not_plain_json_is_never_loaded(tmp_path):
    """A results folder is writable storage: a record naming pickle is removed unread."""
    import pickle

    key = "analyze-batch-" + "0" * 64
    record = tasks.RESULTS / key
    tasks.RESULTS.mkdir(parents=True, exist_ok=True)
    payload = pickle.dumps(ValueError("would run on load"))
    record.write_text(
        json.dumps(
            {
                "metadata": {
                    "storage_key": str(record),
                    "expiration": None,
                    "serializer": {"type": "pickle", "picklelib": "cloudpickle"},
                    "prefect_version": "3.9.1",
                    "storage_block_id": None,
                },
                "result": payload.hex(),
            }
        )
    )
    assert not is_plain_json_record(record.read_bytes())

    from flows.results import refuse_foreign_record

    assert refuse_foreign_record(tasks.RESULTS, key) == key
    assert not record.exists()
    assert is_plain_json_record(
        json.dumps(
            {"metadata": {"serializer": {"type": "json", "object_decoder": None}}, "result": "{}"}
        ).encode()
    )
