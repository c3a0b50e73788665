"""``run --task-runner dask`` on a real ``distributed`` cluster: a scheduler on 127.0.0.1
and separate ``dask worker`` processes, as a user runs one.

The tables must equal those of the default runner on the same input, and a worker
killed while it analyses batches must cost nothing: its batches run again on the
other worker, and no group is written twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from prefect_runs import analysis_task_runs

from analyzer.demo import generate
from flows.nightly import nightly, task_runner

pytestmark = pytest.mark.usefixtures("prefect_harness")
DASK = str(Path(sys.executable).parent / "dask")
# Columns that differ between two runs by design: when and by which run.
VOLATILE = {"analyzed_at"}


class Cluster:
    """A scheduler and worker processes of their own (no nanny: a killed worker stays dead)."""

    def __init__(self, folder: Path) -> None:
        self.scheduler_file = folder / "scheduler.json"
        self.processes: list[subprocess.Popen[bytes]] = []
        self._folder = folder
        self.processes.append(
            self._start(
                DASK,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(self.scheduler_file),
            )
        )
        deadline = time.monotonic() + 120
        while not self.scheduler_file.exists():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.2)
        self.address = json.loads(self.scheduler_file.read_text())["address"]
        self.workers = [self.add_worker(f"worker-{number}") for number in range(2)]

    def _start(self, *command: str) -> subprocess.Popen[bytes]:
        log = open(self._folder / f"{len(self.processes)}.log", "wb")  # noqa: SIM115  (the worker writes to it until killed)
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def add_worker(self, name: str) -> subprocess.Popen[bytes]:
        worker = self._start(
            DASK,
            "worker",
            "--scheduler-file",
            str(self.scheduler_file),
            "--name",
            name,
            "--nthreads",
            "1",
            "--no-nanny",
            "--no-dashboard",
            "--host",
            "127.0.0.1",
        )
        self.processes.append(worker)
        return worker

    def wait_for_workers(self, count: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(count, timeout=120)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def cluster(tmp_path) -> Iterator[Cluster]:
    running = Cluster(tmp_path)
    try:
        running.wait_for_workers(2)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("demo"), events=3000, seed=13)


def rows(out: Path, name: str) -> list[tuple]:
    relation = duckdb.sql(f"select * from read_parquet('{out}/{name}/**/*.parquet')")
    keep = [index for index, column in enumerate(relation.columns) if column not in VOLATILE]
    return sorted(tuple(str(row[index]) for index in keep) for row in relation.fetchall())


def run(demo, out: Path, runner, **options):
    flow = nightly.with_options(task_runner=runner)
    return flow(logs=str(demo.json_root), snapshot=str(demo.snapshot), out=str(out), **options)


@pytest.fixture(scope="module")
def default_tables(demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("out-default")
    run(demo, out, task_runner("threads", 2), batch_size=3)
    return {name: rows(out, name) for name in ("denials", "reasons", "backlog")}


def _kill_when_busy(cluster: Cluster, victim: subprocess.Popen[bytes], killed: list[int]) -> None:
    """SIGKILL the victim worker as soon as the scheduler has given it batches to analyse."""
    from distributed import Client

    with Client(cluster.address, timeout=60) as client:
        [address] = [
            address
            for address, info in client.scheduler_info()["workers"].items()
            if info["name"] == "worker-0"
        ]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if client.processing(workers=[address]).get(address):
                os.kill(victim.pid, signal.SIGKILL)
                killed.append(victim.pid)
                return
            time.sleep(0.01)


def test_a_dask_cluster_writes_the_tables_of_the_default_runner(demo, default_tables, cluster, tmp_path):
    out = tmp_path / "out-dask"
    state = run(demo, out, task_runner("dask", 2, cluster.address), batch_size=3, return_state=True)

    summary = state.result()
    assert summary.groups == demo.denial_groups
    assert summary.changes  # the demo's traffic changes policies: the workers got the timeline
    # The workers reported their task runs to the flow's API, each one finished.
    task_runs = analysis_task_runs(state.state_details.flow_run_id)
    assert task_runs and {task_run.state.type.value for task_run in task_runs} == {"COMPLETED"}
    for name, expected in default_tables.items():
        assert rows(out, name) == expected, name


def test_a_worker_killed_mid_run_is_survived_without_duplicates(demo, default_tables, cluster, tmp_path):
    out = tmp_path / "out-killed"
    killed: list[int] = []
    killer = threading.Thread(target=_kill_when_busy, args=(cluster, cluster.workers[0], killed))
    killer.start()
    try:
        summary = run(demo, out, task_runner("dask", 2, cluster.address), batch_size=1)
    finally:
        killer.join()

    assert killed == [cluster.workers[0].pid]
    assert cluster.workers[0].wait(timeout=10) == -signal.SIGKILL
    assert summary.groups == demo.denial_groups
    group_keys = [
        key
        for (key,) in duckdb.sql(
            f"select group_key from read_parquet('{out}/reasons/**/*.parquet')"
        ).fetchall()
    ]
    assert len(group_keys) == len(set(group_keys)) == demo.denial_groups
    for name, expected in default_tables.items():
        assert rows(out, name) == expected, name
