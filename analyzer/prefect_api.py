"""The Prefect API a local ``access-undenied run`` reports to.

With an API configured (``PREFECT_API_URL`` in the environment or the active
Prefect profile) nothing here changes anything: the flow run is recorded on
that server, heartbeats included, so it crashes visibly.

Without one, Prefect starts a temporary server the first time the flow needs
its API: after this process has finished importing, so the seconds the server
takes to import and boot are added to every run. ``api_for_local_run`` starts
the same server (Prefect's own app, launched the way
``prefect.server.api.server.SubprocessASGIServer`` launches it in Prefect 3.8)
*before* the pipeline is imported, lets the caller do its imports and warm-up
while it boots, and stops it when the run ends. Heartbeats are turned off for
such a run: they exist so a server notices a crashed run, and this server
ends with the process.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from analyzer.errors import PipelineError

_STOP_SECONDS = 5.0


class TemporaryServer:
    """A Prefect API server subprocess on a free local port."""

    def __init__(self) -> None:
        import prefect

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        # The server's output, kept for the error message if it fails; closed by stop().
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        environment = {**os.environ, "PREFECT_UI_ENABLED": "0",
                       "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn",
             "--app-dir", str(Path(prefect.__file__).parent.parent),
             "--factory", "prefect.server.api.server:create_app",
             "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "error", "--lifespan", "on"],
            env=environment, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_until_healthy(self, timeout: float) -> None:
        """Return once the API answers; a PipelineError with the server's output if it
        exits or does not answer in time (the caller still calls ``stop``)."""
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise PipelineError("Prefect's temporary server exited with code "
                                    f"{self._process.returncode}: {self._output()}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise PipelineError(f"Prefect's temporary server did not answer within "
                                    f"{timeout:.0f} s (PREFECT_SERVER_EPHEMERAL_STARTUP_"
                                    f"TIMEOUT_SECONDS): {self._output()}")
            time.sleep(0.05)

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.close()

    def _output(self) -> str:
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace").strip()
        return text[-2000:] or "(no output)"


def _send_pending_logs_and_events() -> None:
    """Let Prefect's log and event workers deliver what they hold while the server is up."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=_STOP_SECONDS)
    EventsWorker.drain_all(timeout=_STOP_SECONDS)


@contextlib.contextmanager
def api_for_local_run(while_starting=None) -> Iterator[str | None]:
    """Run the body against the configured API, or against a temporary server.

    ``while_starting`` is called while a temporary server boots (imports and
    warm-up belong there). Yields the temporary server's API URL, or None when
    an API is configured.
    """
    from prefect.context import refresh_global_settings_context
    from prefect.settings import get_current_settings, temporary_settings

    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled:
        if while_starting:
            while_starting()
        yield None
        return
    server = TemporaryServer()
    try:
        if while_starting:
            while_starting()
        server.wait_until_healthy(settings.server.ephemeral.startup_timeout_seconds)
        # The environment is what threads without a copied context fall back to.
        previous = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = server.api_url
        refresh_global_settings_context()
        try:
            with temporary_settings(updates={"api.url": server.api_url,
                                             "flows.heartbeat_frequency": None}):
                yield server.api_url
        finally:
            _send_pending_logs_and_events()
            if previous is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = previous
            refresh_global_settings_context()
    finally:
        server.stop()
