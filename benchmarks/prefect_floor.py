"""Fixed cost of our own making at 20k events: pipeline - plain first stage - Prefect's floor.

Prefect has a floor of its own: importing it and running a flow with one no-op task.
This benchmark times, in the same run and the same mode,

* ``access-undenied run`` on generated logs (each layout: ``.json.gz`` and Parquet),
* the plain DuckDB first stage over the same logs (``benchmarks/plain_first_stage.py``:
  the work no pipeline can avoid), and
* Prefect's floor: this file with ``--noop`` (``import prefect``, a flow, one no-op task),

in both modes a run meets: against a running ``prefect server start`` (PREFECT_API_URL
set, how a deployment runs) and with Prefect's temporary server (no API configured, a
local run). It prints the three figures per mode and layout and what is left:
``pipeline - plain - floor``, the target being at most 3 s (issue 20).

Each figure is the median of ``--repeat`` runs, every run a fresh process. Prefect's
database is created by a warm-up run first, so no figure includes its migrations.

Run: ``python benchmarks/prefect_floor.py [--events 20000] [--repeat 3] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
TARGET_SECONDS = 3.0


def noop_flow() -> None:
    """Prefect's floor: a flow with one task that does nothing."""
    from prefect import flow, task

    @task
    def nothing() -> None:
        return None

    @flow(name="prefect-floor")
    def floor() -> None:
        nothing()

    floor()


def _seconds(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return elapsed


def median_seconds(command: list[str], env: dict[str, str], repeat: int, out: Path | None = None) -> float:
    times = []
    for _ in range(repeat):
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)
        times.append(_seconds(command, env))
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noop", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--work", type=Path, default=None, help="Folder for the data and outputs (default: a temporary one)."
    )
    args = parser.parse_args(argv)
    if args.noop:
        noop_flow()
        return 0

    work = args.work or Path(tempfile.mkdtemp(prefix="prefect-floor-"))
    work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    from analyzer.demo import generate

    data = generate(work / "data", events=args.events, seed=7)
    print(
        f"{data.events:,} events, {data.denials:,} denied, {data.denial_groups:,} groups; "
        f"median of {args.repeat} run(s) each; {os.cpu_count()} CPUs"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    # The same start-up allowance the CLI gives Prefect's temporary server.
    env.update(
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        PREFECT_HOME=str(work / "prefect-home"),
        PYTHONPATH=str(ROOT),
    )
    floor = [PYTHON, str(Path(__file__).resolve()), "--noop"]
    layouts = {"json.gz": data.json_root, "parquet": data.parquet_root}
    plain = {
        layout: median_seconds(
            [
                PYTHON,
                str(ROOT / "benchmarks/plain_first_stage.py"),
                "--logs",
                str(logs),
                "--out",
                str(work / f"plain-{layout}"),
            ],
            env,
            args.repeat,
            work / f"plain-{layout}",
        )
        for layout, logs in layouts.items()
    }

    def measure(mode: str, mode_env: dict[str, str]) -> None:
        _seconds(floor, mode_env)  # warm-up: creates Prefect's database
        floor_seconds = median_seconds(floor, mode_env, args.repeat)
        for layout, logs in layouts.items():
            out = work / f"out-{mode}-{layout}"
            run = [
                PYTHON,
                "-m",
                "analyzer",
                "run",
                "--logs",
                str(logs),
                "--snapshot",
                str(data.snapshot),
                "--out",
                str(out),
            ]
            pipeline = median_seconds(run, mode_env, args.repeat, out)
            own = pipeline - plain[layout] - floor_seconds
            verdict = "ok" if own <= TARGET_SECONDS else "OVER"
            print(
                f"{mode:<18} {layout:<8} pipeline {pipeline:6.2f} s  plain stage "
                f"{plain[layout]:5.2f} s  Prefect floor {floor_seconds:5.2f} s  "
                f"own fixed cost {own:5.2f} s (target <= {TARGET_SECONDS:.0f} s: {verdict})"
            )

    measure("temporary server", env)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from pipeline import prefect_server  # the main benchmark's: one way to start a server

    with prefect_server(work, env) as (url, _started):
        measure("running server", {**env, "PREFECT_API_URL": url})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
