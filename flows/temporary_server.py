"""Finds or starts the Prefect API for one ``access-undenied run``, out of the terminal's reach.

``python -m flows.temporary_server`` is started by ``flows.prefect_api`` in a
session of its own, before the run's process imports anything of Prefect.
It reads Prefect's settings and answers on standard output, one line each:

* ``configured URL``: an API is configured (``PREFECT_API_URL`` or the active
  profile); nothing is started and this process ends.
* ``starting URL``, then ``ready``: no API is configured and Prefect's
  temporary server is allowed (``server.ephemeral.enabled``), so a local server
  is started with Prefect's public command (``prefect server start`` on a free
  local port, without UI, scheduling or analytics) recording into
  ``PREFECT_HOME``'s database. The URL comes first, so the run's process can
  name it in ``PREFECT_API_URL`` before it imports Prefect, and every thread and
  process of the run reports there. The server stops once this process's
  standard input closes: when the run's process ends, however it ends.
* ``error: ...``: what went wrong, in one line.

This process stays beside the run for the whole night, so it does not import Prefect
itself (about 70 MB resident, counted in the run's process tree): a short-lived
``python -m flows.temporary_server --settings`` reads the three settings it needs.

Why a separate process in its own session: Ctrl-C at a terminal signals the
whole foreground process group. A server started from the run's own process
belonged to that group, so it died with the Ctrl-C while the flow engine went
on trying to record the interrupted run on it, retrying for over a minute. Why
the URL before the import: Prefect fixes its process-wide settings when it is
imported, and a thread that reads them without the run's context would
otherwise start a temporary server of its own.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

# How this process and the keeper start the Pythons of their own: `python -m` would put the
# working folder first on the module path, and a scratch folder's bisect.py or json.py
# would stand in for the standard library's in the keeper and the server (one that ran
# `access-undenied run` again started a process a second, each starting the next: found by
# a held-out probe). -P leaves the working folder out.
PYTHON = (sys.executable, "-P")

NO_API = (
    "no Prefect API: set PREFECT_API_URL to a running server (`prefect server start`), "
    "or allow Prefect's temporary server (PREFECT_SERVER_EPHEMERAL_ENABLED=true)"
)


def _say(line: str) -> None:
    """One line to the run's process. Gone already (Ctrl-C while the server started), it
    reads nothing more: the line is dropped, and standard output pointed at /dev/null so
    Python's flush at exit does not print the broken pipe either."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _free_local_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


class _StderrTail:
    """The server's standard error, passed on to the keeper's own (the caller's terminal
    at ``-v``, else nowhere) and its last lines kept: when the server ends before it
    answers, the error names why (an unwritable ``PREFECT_HOME``, say: "unable to open
    database file") rather than only its exit code."""

    _EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception): ")

    def __init__(self, server: subprocess.Popen) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=40)
        self._thread = threading.Thread(target=self._pump, args=(server.stderr,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.append(line.strip())
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(line)

    def finish(self) -> None:
        """Wait (briefly) until the ended server's last lines are read."""
        self._thread.join(5)

    def reason(self) -> str | None:
        """The last exception line, else the last line that is not blank."""
        lines = [line for line in self._lines if line]
        for line in reversed(lines):
            if self._EXCEPTION.match(line):
                return line
        return lines[-1] if lines else None


def _stop(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (the command and its uvicorn), then SIGKILL."""
    for sent, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(server.pid, sent)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def print_settings() -> None:
    """``--settings``: the API URL, whether the temporary server is allowed and its start-up
    timeout, as one JSON line."""
    from prefect.settings import Settings
    from pydantic import ValidationError

    try:
        settings = Settings()
    except ValidationError as error:
        sys.exit(settings_problem(error))
    ephemeral = settings.server.ephemeral
    print(json.dumps([settings.api.url, ephemeral.enabled, ephemeral.startup_timeout_seconds]))


def settings_problem(error: ValidationError) -> str:
    """Pydantic's error about Prefect's settings in one line: each setting and what is wrong."""
    return "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())


def _settings() -> tuple[str | None, bool, float]:
    child = [*PYTHON, "-m", "flows.temporary_server", "--settings"]
    result = subprocess.run(child, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        raise RuntimeError(f"cannot read Prefect's settings: {reason}")
    api_url, enabled, timeout = json.loads(result.stdout)
    return api_url, bool(enabled), float(timeout)


def main() -> int:
    try:
        api_url, enabled, startup_timeout = _settings()
    except RuntimeError as error:
        _say(f"error: {error}")
        return 1
    if api_url:
        _say(f"configured {api_url}")
        return 0
    if not enabled:
        _say(f"error: {NO_API}")
        return 1
    port = _free_local_port()
    api_url = f"http://127.0.0.1:{port}/api"
    command = [*PYTHON, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    # Its services record task runs (from events); a run needs no scheduling.
    command += ["--port", str(port), "--no-ui", "--analytics-off", "--no-scheduler", "--no-late-runs"]
    server = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # its banner; errors go to stderr
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,  # one process group to stop, command and uvicorn alike
    )
    stderr = _StderrTail(server)
    try:
        _say(f"starting {api_url}")
        deadline = time.monotonic() + startup_timeout
        while not _answers(api_url):
            if server.poll() is not None:
                stderr.finish()
                reason = stderr.reason()
                why = f": {reason}" if reason else ""
                _say(f"error: `prefect server start` ended with exit code {server.returncode}{why}")
                return 1
            if time.monotonic() > deadline:
                _say(
                    f"error: Prefect's temporary server did not answer within "
                    f"{startup_timeout:.0f} s "
                    "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)"
                )
                return 1
            time.sleep(0.1)
        _say("ready")
        sys.stdin.read()  # returns at end of file: the run's process has closed its end
        return 0
    finally:
        _stop(server)


if __name__ == "__main__":
    if sys.argv[1:] == ["--settings"]:
        print_settings()
    else:
        sys.exit(main())
