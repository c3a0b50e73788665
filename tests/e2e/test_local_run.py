"""``access-undenied run`` with no Prefect API configured, as a user runs it the first time.

The real CLI runs in a subprocess with its own PREFECT_HOME and no PREFECT_* settings: it
must start Prefect's temporary server itself, record the flow run there, and stop it.
With an API configured (the session's test harness) it must start nothing.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from analyzer.demo import generate
from analyzer.prefect_api import api_for_local_run

CLI = str(Path(sys.executable).parent / "access-undenied")


def _servers_using(prefect_home: Path) -> list[int]:
    """Pids of Prefect server processes whose PREFECT_HOME is ``prefect_home``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if (b"prefect.server.api.server" in command
                and f"PREFECT_HOME={prefect_home}".encode() in environment):
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory) -> Path:
    """A PREFECT_HOME of its own (its database is created by the first run)."""
    return tmp_path_factory.mktemp("prefect-home")


def _run_cli(prefect_home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(prefect_home), DO_NOT_TRACK="1")
    return subprocess.run([CLI, "run", *args], env=env, capture_output=True, text=True,
                          timeout=600)


def test_run_without_an_api_starts_records_and_stops_a_temporary_server(prefect_home,
                                                                        tmp_path):
    demo = generate(tmp_path / "demo", events=300, seed=5)
    home = prefect_home
    out = tmp_path / "out"

    result = _run_cli(home, "--logs", str(demo.json_root), "--snapshot", str(demo.snapshot),
                      "--out", str(out))

    assert result.returncode == 0, result.stderr
    reasons = duckdb.sql(f"select count(*) from read_parquet('{out}/reasons/**/*.parquet')")
    assert reasons.fetchall()[0][0] == demo.denial_groups
    # The run was recorded on the temporary server's database, completed, without the
    # heartbeats that only matter to a server outliving the process.
    with sqlite3.connect(home / "prefect.db") as db:
        runs = db.execute("select f.name, r.state_type from flow_run r "
                          "join flow f on f.id = r.flow_id").fetchall()
        heartbeats = db.execute("select count(*) from events "
                                "where event = 'prefect.flow-run.heartbeat'").fetchone()[0]
    assert runs == [("access-undenied-nightly", "COMPLETED")]
    assert heartbeats == 0
    assert _servers_using(home) == []


def test_a_failing_run_ends_with_one_error_line_and_no_traceback(prefect_home, tmp_path):
    demo = generate(tmp_path / "demo", events=100, seed=5)
    snapshot = tmp_path / "not-a-snapshot.json"
    snapshot.write_text('{"accounts": {}}')

    result = _run_cli(prefect_home, "--logs", str(demo.json_root), "--snapshot", str(snapshot),
                      "--out", str(tmp_path / "out"))

    assert result.returncode == 1
    # Off a terminal a slow step also prints "running the pipeline... (5 s)" lines.
    [line] = [line for line in result.stderr.splitlines()
              if not line.startswith("running the pipeline")]
    assert line.startswith(f"error: {snapshot}: not a policy snapshot")
    assert _servers_using(prefect_home) == []


@pytest.mark.usefixtures("prefect_harness")
def test_a_configured_api_is_used_as_is():
    started = []
    with api_for_local_run(while_starting=lambda: started.append(True)) as url:
        assert url is None
    assert started == [True]  # the warm-up still runs


def test_a_server_that_does_not_answer_is_a_clear_error_and_is_stopped(monkeypatch,
                                                                        tmp_path):
    from analyzer.errors import PipelineError
    from analyzer.prefect_api import TemporaryServer

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    server = TemporaryServer()
    try:
        assert _servers_using(tmp_path) != []
        with pytest.raises(PipelineError, match="did not answer within 0 s"):
            server.wait_until_healthy(0)
    finally:
        server.stop()
    assert _servers_using(tmp_path) == []
