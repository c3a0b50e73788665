"""How `access-undenied run` scales, against the plain DuckDB first stage (issue 20).

Run: ``python benchmarks/pipeline.py [--events 20000 1000000] [--work-dir DIR] [--keep]
[--no-s3]``, or on data another generator made: ``--data 20000=DIR1 --data 1000000=DIR2``
(each DIR holding ``snapshot.json`` and ``cloudtrail/`` and/or ``cloudtrail-parquet/``; the
layouts all of them hold are measured).

It generates, once (reused when ``--work-dir`` already holds them), an organization's
CloudTrail at realistic cardinality with ``benchmarks/org_data.py`` (5 accounts, 192
principals, 105 APIs, 5% denials in over 5,000 distinct (principal, action, resource)
groups at 1M events; 2,500 S3-delivery objects at every size), then, for the Athena-layout
Parquet and the S3-delivery ``.json.gz`` layout and each size, times in subprocesses (so
process start and imports count), in the same run:

* ``access-undenied run --logs ... --snapshot ... --out ...``, the real CLI;
* the plain first stage, ``benchmarks/plain_first_stage.py``: one DuckDB script that reads
  only the columns it needs, keeps the denials, derives principal and resource key, and
  writes the one-row-per-denial table (Hive-partitioned by day) and the groups table;

and, from ``s3://`` on a local moto S3 server holding the smallest set's objects, both again.

Targets (issue 20): the cost per additional event, ``(t(big) - t(small)) / (big - small)``,
at most 4x the plain stage's on Parquet and 1.5x on ``.json.gz``; from ``s3://`` at most 1.5x
the plain stage reading the same objects; the whole process tree's peak memory under 1 GB
(the runs against the running server, and the largest Parquet run once more with Prefect's
temporary server, which is then part of the tree);
analysis that grows with groups, not events (the stage profile — the pipeline's stages
called directly, one process — prints groups per second per worker). The fixed cost over
Prefect's floor is printed too.

Runs shorter than ``--repeat-below`` seconds are repeated ``--repeat`` times and the median
is used. The exit code is 0 even when a target is missed: this is a measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CLI = str(Path(PYTHON).with_name("access-undenied"))
GB = 1 << 30
FIXED_EVENTS = 100
LAYOUTS = {"parquet": "cloudtrail-parquet", "json.gz": "cloudtrail"}
TARGETS = {"parquet": 4.0, "json.gz": 1.5}
S3_TARGET = 1.5
PLAIN = str(Path(__file__).with_name("plain_first_stage.py"))
FIXED_TARGET = 8.0
MEMORY_TARGET = GB

# --- measuring a process tree ---------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    return children


def _tree(root: int) -> list[int]:
    children, found, todo = _children_map(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB; zeros once it has gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


@dataclass
class Measurement:
    seconds: float
    peak_rss: int  # bytes: the largest sum of the tree's resident sets seen (every 50 ms)
    peak_hwm: int  # bytes: the sum of each process's own high-water mark (an upper bound)
    processes: int
    output: str
    returncode: int


def measure(command: list[str], env: dict[str, str], cwd: Path) -> Measurement:
    """Run ``command``; wall time, and peak memory of it and every process it starts."""
    began = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peak, hwm, seen = 0, {}, set()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            total = 0
            for pid in _tree(process.pid):
                rss, high = _memory_kb(pid)
                total += rss
                hwm[pid] = max(hwm.get(pid, 0), high)
                seen.add(pid)
            peak = max(peak, total)
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    seconds = time.perf_counter() - began
    done.set()
    sampler.join()
    return Measurement(seconds, peak * 1024, sum(hwm.values()) * 1024, len(seen), output, process.returncode)


# --- data, environment, Prefect server -------------------------------------------------------


@dataclass(frozen=True)
class DataSet:
    events: int
    folder: Path
    denials: int
    groups: int

    @property
    def snapshot(self) -> Path:
        return self.folder / "snapshot.json"

    def logs(self, layout: str) -> Path:
        return self.folder / LAYOUTS[layout]


def dataset(work: Path, events: int, console: Console) -> DataSet:
    """The realistic data set of ``events`` events (``org_data``), generated unless there.

    Its counts come from the plain stage over the Parquet copy (a data set generated
    elsewhere, e.g. ``python benchmarks/org_data.py DIR``, can be moved into place)."""
    folder = work / f"org-{events}"
    meta_path = folder / "bench-meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("events") == events and meta.get("generator") == 1:
            return DataSet(events, folder, meta["denials"], meta["groups"])
    if not (folder / "snapshot.json").exists():
        sys.path.insert(0, str(Path(__file__).parent))
        import org_data

        began = time.perf_counter()
        with console.status(f"generating {events:,} events..."):
            made = org_data.generate(folder, events, objects=min(2500, max(10, events // 8)))
        console.print(
            f"generated {events:,} events ({made.objects:,} objects) in {time.perf_counter() - began:.1f} s"
        )
    data = counted(events, folder, work, console)
    meta = {"events": events, "generator": 1, "denials": data.denials, "groups": data.groups}
    meta_path.write_text(json.dumps(meta))
    return data


def counted(events: int, folder: Path, work: Path, console: Console) -> DataSet:
    """The data set in ``folder``, its denials and groups counted by the plain stage (over
    the Parquet copy when there is one)."""
    layout = "parquet" if (folder / LAYOUTS["parquet"]).exists() else "json.gz"
    check = work / f"plain-check-{events}"
    plain = json.loads(
        subprocess.run(
            [PYTHON, PLAIN, "--logs", str(folder / LAYOUTS[layout]), "--out", str(check)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    shutil.rmtree(check, ignore_errors=True)
    console.print(f"{events:,} events: {plain['denials']:,} denials in {plain['groups']:,} groups")
    return DataSet(events, folder, plain["denials"], plain["groups"])


def given_data(specs: list[str], work: Path, console: Console) -> dict[int, DataSet]:
    """``--data N=DIR`` data sets made by another generator: ``DIR/snapshot.json`` and the
    logs in ``DIR/cloudtrail/`` (S3 delivery) and/or ``DIR/cloudtrail-parquet/`` (Athena)."""
    data: dict[int, DataSet] = {}
    for spec in specs:
        size, _, folder = spec.partition("=")
        root = Path(folder).resolve()
        if not size.isdigit() or not (root / "snapshot.json").is_file():
            raise SystemExit(f"--data {spec}: expected EVENTS=DIR, DIR holding snapshot.json")
        if not any((root / name).is_dir() for name in LAYOUTS.values()):
            raise SystemExit(f"--data {spec}: DIR holds neither {' nor '.join(LAYOUTS.values())}")
        data[int(size)] = counted(int(size), root, work, console)
    return data


def base_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_HOME=str(work / "prefect-home"),
        PYTHONPATH=str(ROOT),
        # a loaded machine boots Prefect's temporary server slowly: wait, do not fail
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90",
    )
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def prefect_server(work: Path, env: dict[str, str]) -> Iterator[tuple[str, float]]:
    """A ``prefect server`` on a free port with its own PREFECT_HOME: (API URL, start time)."""
    port = _free_port()
    server_env = {**env, "PREFECT_HOME": str(work / "prefect-home-server")}
    log = (work / "prefect-server.log").open("w")
    began = time.perf_counter()
    process = subprocess.Popen(
        [
            str(Path(PYTHON).with_name("prefect")),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=server_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"prefect server exited; see {work / 'prefect-server.log'}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("prefect server did not become healthy in 120 s")
            time.sleep(0.2)
        yield url, time.perf_counter() - began
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# --- the measured commands -------------------------------------------------------------------


@dataclass
class Timed:
    runs: list[Measurement] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    @property
    def peak_rss(self) -> int:
        return max(run.peak_rss for run in self.runs)

    @property
    def peak_hwm(self) -> int:
        return max(run.peak_hwm for run in self.runs)


def repeated(
    command: list[str], env: dict[str, str], cwd: Path, repeat: int, below: float, before=None
) -> Timed:
    """``repeat`` runs (only one when the first takes ``below`` seconds or more)."""
    timed = Timed()
    for _ in range(repeat):
        if before:
            before()
        result = measure(command, env, cwd)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.output[-3000:]}")
        timed.runs.append(result)
        if result.seconds >= below:
            break
    return timed


def run_command(data: DataSet, layout: str, out: Path) -> list[str]:
    return [CLI, "run", "--logs", str(data.logs(layout)), "--snapshot", str(data.snapshot), "--out", str(out)]


def timed_run(data: DataSet, layout: str, work: Path, env: dict[str, str], args: argparse.Namespace) -> Timed:
    out = work / f"out-{layout}-{data.events}"
    return repeated(
        run_command(data, layout, out),
        env,
        work,
        args.repeat,
        args.repeat_below,
        before=lambda: shutil.rmtree(out, ignore_errors=True),
    )


def timed_baseline(
    logs: str, expected_denials: int, work: Path, env: dict[str, str], args: argparse.Namespace
) -> Timed:
    """The plain DuckDB first stage over ``logs``; it must find the same denials."""
    out = work / "out-plain"
    timed = repeated(
        [PYTHON, PLAIN, "--logs", logs, "--out", str(out)],
        env,
        work,
        args.repeat,
        args.repeat_below,
        before=lambda: shutil.rmtree(out, ignore_errors=True),
    )
    denials = json.loads(timed.runs[-1].output.strip().splitlines()[-1])["denials"]
    if denials != expected_denials:
        raise RuntimeError(f"the plain stage found {denials} denials, not {expected_denials}")
    return timed


# --- the stage profile (runs in a subprocess: --stage-profile) --------------------------------


def stage_profile(logs: str, snapshot: str, out: str) -> dict[str, Any]:
    """Each pipeline stage called directly, one thread, no Prefect: seconds per stage."""
    from analyzer.pipeline import stages, work
    from analyzer.pipeline.settings import PipelineSettings

    times: dict[str, Any] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        times[name] = now - clock
        clock = now

    settings = PipelineSettings(logs=logs, snapshot=snapshot, out=out)
    snapshot_id = stages.snapshot_info(settings).snapshot_id
    work.load_snapshot_once(settings.snapshot, snapshot_id, stages.s3_options_json(settings))
    lap("snapshot")
    denials = stages.read_denials(settings)
    lap("read (denials.sql)")
    grouped = stages.group(denials, settings, snapshot_id)
    lap("group (samples, mapping, groups.sql)")
    results = [
        work.analyze_batch(
            batch, settings.snapshot, snapshot_id, stages.s3_options_json(settings), grouped.changes
        )
        for batch in stages.batches(grouped)
    ]
    lap("analyze groups")
    stages.write(settings, grouped, results, snapshot_id, denials.report)
    lap("write tables")
    times["groups"] = sum(result.groups for result in results)
    times["denials"] = denials.rows.num_rows
    return times


def profiled(data: DataSet, layout: str, work: Path, env: dict[str, str]) -> dict[str, Any]:
    out = work / f"profile-{layout}-{data.events}"
    shutil.rmtree(out, ignore_errors=True)
    result = measure(
        [PYTHON, __file__, "--stage-profile", str(data.logs(layout)), str(data.snapshot), str(out)], env, work
    )
    if result.returncode != 0:
        raise RuntimeError(f"stage profile failed:\n{result.output[-3000:]}")
    return json.loads(result.output.rsplit("STAGES", 1)[1])


# --- report ------------------------------------------------------------------------------


def _mb(size: int) -> str:
    return f"{size / (1 << 20):,.0f} MB"


def _times(cost: float, reference: float) -> str:
    return f"{cost / reference:.2f}x" if reference > 0 else "inf x"


def _verdict(ok: bool) -> str:
    return "[bold green]PASS[/]" if ok else "[bold red]FAIL[/]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--events",
        type=int,
        nargs="+",
        default=[20_000, 1_000_000],
        help="data set sizes; the per-event cost uses the smallest and largest",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="where data sets and outputs go "
        "(default: a temporary folder); data sets already there are reused",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary work folder (a --work-dir is always kept)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per measurement (median), for runs shorter than --repeat-below",
    )
    parser.add_argument("--repeat-below", type=float, default=20.0, metavar="SECONDS")
    parser.add_argument("--no-s3", action="store_true", help="skip the s3:// measurement")
    parser.add_argument(
        "--data",
        action="append",
        metavar="EVENTS=DIR",
        help="measure on data another generator made instead of org_data.py's (two or more): "
        "DIR holds snapshot.json and cloudtrail/ (S3 delivery) and/or cloudtrail-parquet/ (Athena)",
    )
    parser.add_argument(
        "--stage-profile", nargs=3, metavar=("LOGS", "SNAPSHOT", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.stage_profile:
        print("STAGES", json.dumps(stage_profile(*args.stage_profile)))
        return 0
    sizes = sorted(set(args.events))
    if len(sizes) < 2 or (args.data and len(args.data) < 2):
        parser.error("--events (or --data) needs at least two sizes")

    console = Console(width=None if sys.stdout.isatty() else 150)
    temporary = args.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="au-bench-")) if temporary else args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    console.print(f"work folder: {work}   cores: {os.cpu_count()}   python: {PYTHON}")
    try:
        report(console, work, sizes, args)
    finally:
        if temporary and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            console.print(f"kept {work}")
    return 0


def report(console: Console, work: Path, sizes: list[int], args: argparse.Namespace) -> None:
    env = base_env(work)
    tiny = dataset(work, FIXED_EVENTS, console)
    if args.data:
        data = given_data(args.data, work, console)
        sizes = sorted(data)
    else:
        data = {size: dataset(work, size, console) for size in sizes}
    # The layouts every data set holds (a given data set may have only one).
    layouts = [layout for layout in LAYOUTS if all(d.logs(layout).is_dir() for d in data.values())]

    # Fixed cost: a tiny input, after one warm-up run that creates Prefect's database.
    # Everything after it runs against one running Prefect server (as a deployment does):
    # on a loaded machine the temporary server may not come up at all.
    fixed: dict[str, Timed] = {}
    warm = None
    with console.status("fixed cost, Prefect's ephemeral server..."):
        try:
            warm = measure(run_command(tiny, "parquet", work / "out-warmup"), env, work)
            fixed["ephemeral server"] = timed_run(tiny, "parquet", work, env, args)
        except RuntimeError as error:
            console.print(
                f"[red]run with Prefect's temporary server failed:[/] {str(error).strip().splitlines()[-1]}"
            )
    server = contextlib.ExitStack()
    with console.status("starting a Prefect server..."):
        url, started = server.enter_context(prefect_server(work, env))
    server_env = {**env, "PREFECT_API_URL": url}
    with console.status("fixed cost, a running Prefect server..."):
        measure(run_command(tiny, "parquet", work / "out-warmup"), server_env, work)
        fixed["running server"] = timed_run(tiny, "parquet", work, server_env, args)
    imports = repeated(
        [PYTHON, "-c", "import analyzer.cli, analyzer.pipeline.stages, flows.nightly"],
        env,
        work,
        args.repeat,
        args.repeat_below,
    )

    # Each layout and size: the run (against the running server), the plain stage, the stages.
    runs: dict[tuple[str, int], Timed] = {}
    baselines: dict[tuple[str, int], Timed] = {}
    profiles: dict[tuple[str, int], dict[str, Any]] = {}
    for layout in layouts:
        for size in sizes:
            with console.status(f"{layout}, {size:,} events: run..."):
                runs[layout, size] = timed_run(data[size], layout, work, server_env, args)
            with console.status(f"{layout}, {size:,} events: plain first stage..."):
                baselines[layout, size] = timed_baseline(
                    str(data[size].logs(layout)), data[size].denials, work, env, args
                )
            with console.status(f"{layout}, {size:,} events: stage profile..."):
                profiles[layout, size] = profiled(data[size], layout, work, env)
    # The largest run once more with Prefect's temporary server: a local run with no API
    # configured has the server in its process tree, and the memory target is the tree's.
    biggest = sizes[-1]
    local_big: Timed | None = None
    with console.status(f"{layouts[0]}, {biggest:,} events: run with the temporary server..."):
        try:
            local_big = timed_run(
                data[biggest], layouts[0], work, env, argparse.Namespace(repeat=1, repeat_below=0)
            )
        except RuntimeError as error:
            console.print(
                f"[red]run with Prefect's temporary server failed:[/] {str(error).strip().splitlines()[-1]}"
            )
    with_s3 = not args.no_s3 and "json.gz" in layouts
    s3 = from_s3(data[sizes[0]], work, server_env, args, console) if with_s3 else None
    server.close()

    table = Table(title="access-undenied run vs the plain DuckDB first stage (wall seconds, median)")
    for column in (
        "layout",
        "events",
        "denials",
        "groups",
        "run s",
        "plain s",
        "run peak tree RSS",
        "sum of HWMs",
        "procs",
        "plain peak",
    ):
        table.add_column(column, justify="left" if column == "layout" else "right")
    for (layout, size), timed in runs.items():
        base = baselines[layout, size]
        table.add_row(
            layout,
            f"{size:,}",
            f"{data[size].denials:,}",
            f"{data[size].groups:,}",
            f"{timed.seconds:.2f}",
            f"{base.seconds:.2f}",
            _mb(timed.peak_rss),
            _mb(timed.peak_hwm),
            str(max(r.processes for r in timed.runs)),
            _mb(base.peak_rss),
        )
    console.print(table)

    stage_names = [name for name in next(iter(profiles.values())) if name not in ("groups", "denials")]
    stage_table = Table(
        title="Stage profile: the pipeline's stages called directly "
        "(one process, one worker, no Prefect), seconds"
    )
    stage_table.add_column("layout")
    stage_table.add_column("events", justify="right")
    for name in stage_names:
        stage_table.add_column(name, justify="right")
    stage_table.add_column("groups", justify="right")
    stage_table.add_column("groups/s per worker", justify="right")
    for (layout, size), times in profiles.items():
        rate = times["groups"] / max(times["analyze groups"], 1e-9)
        stage_table.add_row(
            layout,
            f"{size:,}",
            *(f"{times[n]:.2f}" for n in stage_names),
            str(times["groups"]),
            f"{rate:,.0f}",
        )
    console.print(stage_table)

    fixed_table = Table(
        title=f"Fixed cost: run on {FIXED_EVENTS} events ({tiny.denials} denials, {tiny.groups} groups)"
    )
    for column in ("Prefect API", "seconds", "peak tree RSS", "note"):
        fixed_table.add_column(column, justify="right" if column != "note" else "left")
    if "ephemeral server" in fixed and warm is not None:
        fixed_table.add_row(
            "ephemeral server",
            f"{fixed['ephemeral server'].seconds:.2f}",
            _mb(fixed["ephemeral server"].peak_rss),
            f"warm-up run before it, not counted: {warm.seconds:.2f} s",
        )
    fixed_table.add_row(
        "running server",
        f"{fixed['running server'].seconds:.2f}",
        _mb(fixed["running server"].peak_rss),
        f"server's own start: {started:.1f} s (not in the tree)",
    )
    fixed_table.add_row(
        "imports alone",
        f"{imports.seconds:.2f}",
        _mb(imports.peak_rss),
        "python -c 'import analyzer.cli, ...stages, flows.nightly'",
    )
    console.print(fixed_table)

    small, big = sizes[0], sizes[-1]
    extra = big - small
    console.print(f"\nPer additional event, ({big:,} - {small:,} events):")
    for layout in layouts:
        run_cost = (runs[layout, big].seconds - runs[layout, small].seconds) / extra
        base_cost = (baselines[layout, big].seconds - baselines[layout, small].seconds) / extra
        ratio = run_cost / base_cost if base_cost > 0 else float("inf")
        console.print(
            f"  {layout:8} run {run_cost * 1e6:7.3f} us/event, plain stage "
            f"{base_cost * 1e6:7.3f} us/event, ratio {ratio:6.2f} "
            f"(target <= {TARGETS[layout]}x) {_verdict(ratio <= TARGETS[layout])}"
        )
    if s3 is not None:
        run_s3, plain_s3, objects = s3
        ratio = run_s3.seconds / plain_s3.seconds
        console.print(
            f"  from s3:// ({objects:,} objects, {small:,} events, moto): run "
            f"{run_s3.seconds:.2f} s, plain stage {plain_s3.seconds:.2f} s, ratio "
            f"{ratio:.2f} (target <= {S3_TARGET}x) {_verdict(ratio <= S3_TARGET)}"
        )
    for mode, timed in fixed.items():
        console.print(f"  fixed cost ({mode}): {timed.seconds:.2f} s on {FIXED_EVENTS} events")
    measured = [*runs.values(), *fixed.values(), *([local_big] if local_big else [])]
    peak = max(timed.peak_rss for timed in measured)
    bound = max(timed.peak_hwm for timed in measured)
    if local_big is not None:
        console.print(
            f"  {layouts[0]} at {biggest:,} events with Prefect's temporary server in the tree: "
            f"{local_big.seconds:.2f} s, peak tree {_mb(local_big.peak_rss)} "
            f"({_mb(local_big.peak_hwm)} as the sum of high-water marks)"
        )
    console.print(
        f"  peak memory of a run's process tree: {_mb(peak)} sampled every 50 ms, "
        f"{_mb(bound)} as the sum of per-process high-water marks "
        f"(target < 1 GB) {_verdict(bound < MEMORY_TARGET)}"
    )
    for layout in layouts:
        first, last = profiles[layout, small], profiles[layout, big]
        console.print(
            f"  analysis ({layout}): {first['groups']:,} groups at {small:,} events "
            f"{first['analyze groups']:.2f} s, {last['groups']:,} groups at {big:,} events "
            f"{last['analyze groups']:.2f} s: "
            f"{1000 * first['analyze groups'] / max(first['groups'], 1):.2f} and "
            f"{1000 * last['analyze groups'] / max(last['groups'], 1):.2f} ms per group"
        )


@contextlib.contextmanager
def moto_s3(work: Path, env: dict[str, str]) -> Iterator[str]:
    """A moto S3 server on a free port (its endpoint URL)."""
    port = _free_port()
    log = (work / "moto.log").open("w")
    process = subprocess.Popen(
        [str(Path(PYTHON).with_name("moto_server")), "-p", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def from_s3(
    data: DataSet, work: Path, env: dict[str, str], args: argparse.Namespace, console: Console
) -> tuple[Timed, Timed, int]:
    """The S3-delivery objects of ``data`` on a moto server: (run, plain stage, objects)."""
    import boto3

    with moto_s3(work, env) as url:
        s3_env = {
            **env,
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        client = boto3.client(
            "s3",
            endpoint_url=url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket="trail")
        root = data.logs("json.gz")
        files = [p for p in root.rglob("*.json.gz")]
        with console.status(f"uploading {len(files):,} objects to moto..."):
            for path in files:
                client.upload_file(str(path), "trail", str(path.relative_to(root)))
        logs = "s3://trail/AWSLogs/"
        out = work / "out-s3"
        with console.status("from s3://: run..."):
            run = repeated(
                [CLI, "run", "--logs", logs, "--snapshot", str(data.snapshot), "--out", str(out)],
                s3_env,
                work,
                args.repeat,
                args.repeat_below,
                before=lambda: shutil.rmtree(out, ignore_errors=True),
            )
        with console.status("from s3://: plain first stage..."):
            plain = timed_baseline(logs, data.denials, work, s3_env, args)
    return run, plain, len(files)


if __name__ == "__main__":
    sys.exit(main())
