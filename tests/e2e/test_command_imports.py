"""Commands that do not run the pipeline load no Prefect, FastAPI or matplotlib module.

Each command runs as a user runs it, the real CLI in a subprocess (against the moto
server where it calls AWS), and reports the modules loaded when the process exits.
The pipeline's ``run`` fails fast the same way: a bad location is reported before
Prefect is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"prefect", "fastapi", "matplotlib"}

# Registered first, so it runs last at exit: every module the command loaded is there.
_SCRIPT = """
import atexit, json, os, sys
def _report():
    with open(os.environ["LOADED_MODULES_FILE"], "w") as file:
        json.dump(sorted({name.partition(".")[0] for name in sys.modules}), file)
atexit.register(_report)
from analyzer.cli import main
main(sys.argv[1:], prog_name="access-undenied")
"""


def errors(stderr: str) -> list[str]:
    """Stderr without the progress lines a run prints every few seconds off a terminal."""
    return [line for line in stderr.splitlines() if not line.startswith("running the pipeline")]


def run_cli(
    tmp_path: Path, env: dict[str, str] | None, *args: str
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """The CLI's result and the top-level modules it had loaded when it exited."""
    report = tmp_path / "loaded-modules.json"
    environment = {**(env or os.environ), "LOADED_MODULES_FILE": str(report)}
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    return result, set(json.loads(report.read_text()))


def test_analyze_loads_no_prefect(tmp_path):
    data = ROOT / "tests/data/analyze"
    result, loaded = run_cli(
        tmp_path,
        None,
        "analyze",
        "--events-file",
        str(data / "events.json"),
        "--snapshot",
        str(data / "snapshot.json"),
        "--output-file",
        str(tmp_path / "out.json"),
    )
    assert result.returncode in (0, 1), result.stderr
    assert json.loads((tmp_path / "out.json").read_text())  # it analysed something
    assert loaded & HEAVY == set()


def test_simulate_loads_no_prefect(tmp_path):
    result, loaded = run_cli(
        tmp_path, None, "simulate", "--cases", str(ROOT / "tests/cases/wildcards.json"), "--check"
    )
    assert result.returncode == 0, result.stderr
    assert "passed" in result.stdout
    assert loaded & HEAVY == set()


def test_get_scps_and_snapshot_load_no_prefect(moto_org, aws, tmp_path):
    scps = tmp_path / "scp_data.json"
    result, loaded = run_cli(tmp_path, aws, "get-scps", "--output-file", str(scps))
    assert result.returncode == 0, result.stderr
    assert json.loads(scps.read_text())
    assert loaded & HEAVY == set()

    snapshot = tmp_path / "snapshot.json"
    result, loaded = run_cli(tmp_path, aws, "snapshot", "--output", str(snapshot))
    assert result.returncode == 0, result.stderr
    assert json.loads(snapshot.read_text())["accounts"]
    assert loaded & HEAVY == set()


@pytest.mark.parametrize(
    "problem", ["missing logs", "missing snapshot", "bad snapshot", "output is a file", "bad suppressions"]
)
def test_run_reports_a_bad_location_before_prefect_starts(tmp_path, problem):
    logs = tmp_path / "logs"
    logs.mkdir()
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_bytes((ROOT / "tests/data/analyze/snapshot.json").read_bytes())
    out = tmp_path / "out"
    if problem == "missing logs":
        logs = tmp_path / "no-such-logs"
    elif problem == "missing snapshot":
        snapshot = tmp_path / "no-such-snapshot.json"
    elif problem == "bad snapshot":
        snapshot.write_text('{"accounts": {}}')
    elif problem == "output is a file":
        out.write_text("a file")
    else:
        suppressions = tmp_path / "suppressions.yaml"
        suppressions.write_text("suppress: [unclosed")
    # An empty PREFECT_HOME: a Prefect server that started would create its database there.
    home = tmp_path / "prefect-home"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(home)

    extra = ["--suppressions", str(suppressions)] if problem == "bad suppressions" else []
    result, loaded = run_cli(
        tmp_path, env, "run", "--logs", str(logs), "--snapshot", str(snapshot), "--out", str(out), *extra
    )

    assert result.returncode == 1
    [line] = errors(result.stderr)
    assert line.startswith("error: ")
    named = {
        "missing logs": logs,
        "missing snapshot": snapshot,
        "bad snapshot": snapshot,
        "output is a file": out,
    }.get(problem, tmp_path / "suppressions.yaml")
    assert str(named) in line
    assert loaded & HEAVY == set()
    assert not (home / "prefect.db").exists()
