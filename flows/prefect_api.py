"""The Prefect API a local ``access-undenied run`` reports to, chosen the public way.

With an API configured (``PREFECT_API_URL`` in the environment or the active
Prefect profile) the flow run is recorded on that server and nothing is started; from
the environment it is taken as it is, from a profile the keeper below finds it.

Without one, and with Prefect's temporary server allowed (the
``server.ephemeral.enabled`` setting, on in Prefect's default profile), a
local server records the run in ``PREFECT_HOME``'s database and stops when
the command ends. Both the choice and the server belong to a small keeper
process (``flows.temporary_server``, which explains why) in a session of its
own: Ctrl-C at a terminal does not stop the server before the interrupted run
is recorded on it, the server boots while the caller imports and warms up the
pipeline, and its URL is in ``PREFECT_API_URL`` before this process imports
Prefect, so every thread, pool process and Dask worker of the run reports to
it instead of starting a temporary server of its own. Only Prefect's public
settings and ``prefect server start`` are used.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

from analyzer.errors import PipelineError
from flows.temporary_server import PYTHON, settings_problem


class _Keeper:
    """``flows.temporary_server``: the run's Prefect API, found or started in a session of its own."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [*PYTHON, "-m", "flows.temporary_server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # Prefect's lines about the server only at -v INFO: otherwise nothing holds the
            # caller's stderr open after this process has ended.
            stderr=None if logging.getLogger().isEnabledFor(logging.INFO) else subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # out of the terminal's process group: see flows.temporary_server
        )

    def answer(self, timeout: float) -> tuple[str, str]:
        """The keeper's next line as (word, rest): configured/starting URL, ready, or error."""
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(self._read_line()), daemon=True)
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            raise PipelineError(
                f"Prefect's temporary server did not start within {timeout:.0f} s "
                "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)"
            )
        word, _, rest = lines[0].partition(" ")
        if word == "error:":
            raise PipelineError(
                rest if rest.startswith("no Prefect API") else f"Prefect's temporary server: {rest}"
            )
        if not word:
            raise PipelineError(
                f"Prefect's temporary server did not start (exit code {self._process.wait()})"
            )
        return word, rest

    def _read_line(self) -> str:
        assert self._process.stdout is not None
        return self._process.stdout.readline().strip()

    def stop(self, wait: bool) -> None:
        """Let the keeper stop the server; ``wait`` until it has (not after Ctrl-C)."""
        assert self._process.stdin is not None
        with contextlib.suppress(OSError):
            self._process.stdin.close()
        if wait:
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()


@contextlib.contextmanager
def prefect_api(
    while_starting: Callable[[], None] | None = None, once_named: Callable[[], None] | None = None
) -> Iterator[str]:
    """Make sure the body's flow run has an API to report to; yield its URL.

    Both hooks run in any case, meant for imports and warm-up that overlap the
    server's start: ``while_starting`` first, and it must not import Prefect
    (whose settings would then be fixed before the URL is known);
    ``once_named`` after the URL is in ``PREFECT_API_URL``.
    """
    if "prefect" in sys.modules:
        # Prefect's settings are already fixed in this process (a test harness, a
        # caller of its own): they decide, and only a configured API is used.
        from prefect.settings import get_current_settings

        api_url = str(get_current_settings().api.url or "")
        if not api_url:
            raise PipelineError("Prefect was imported before its API was chosen: set PREFECT_API_URL")
    else:
        # Prefect reads its environment variables before its files and profiles: one set
        # here is the API. Asking the keeper would start two interpreters to read the
        # settings (about 2 s on 2 cores, half of it waited for after the warm-up).
        api_url = os.environ.get("PREFECT_API_URL", "")
    if api_url.strip():
        if while_starting:
            while_starting()
        _check_settings()
        if once_named:
            once_named()
        yield api_url
        return
    keeper = _Keeper()
    previous = os.environ.get("PREFECT_API_URL")
    try:
        if while_starting:
            while_starting()
        # Reading Prefect's settings takes the keeper about a second; the server's own
        # start-up is bounded by PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.
        word, api_url = keeper.answer(60)
        if word == "configured":
            if once_named:
                once_named()
            yield api_url
            return
        # Threads without the run's context and child processes read the environment.
        os.environ["PREFECT_API_URL"] = api_url
        if once_named:
            once_named()
        keeper.answer(_startup_timeout() + 30)  # "ready"
        from prefect.settings import temporary_settings

        # Heartbeats let a lasting server notice a run that died; this server ends with
        # the run, and ending the heartbeat thread costs up to a second per run.
        with temporary_settings(updates={"flows.heartbeat_frequency": None}):
            yield api_url
    except KeyboardInterrupt:
        # The process ends now (analyzer.cli.entry); the keeper stops the server after it.
        # Until then the run's other threads may still report: the environment keeps
        # naming this server.
        keeper.stop(wait=False)
        raise
    except BaseException:
        _deliver_reports()
        _restore_api_url(previous)
        keeper.stop(wait=True)
        raise
    _deliver_reports()
    _restore_api_url(previous)
    keeper.stop(wait=True)


def _deliver_reports(timeout: float = 5) -> None:
    """Send the events and logs Prefect still queues for the temporary server, before it stops.

    Prefect sends them from background services that drain only at interpreter exit: by then
    the server was gone, and Prefect logged "Service 'EventsWorker' failed with 7 pending
    items" under the run's one error line (seen in a full test run, when a run failed
    right after its flow started). Prefect's own test harness drains them the same way before
    it stops its server. Nothing to send if Prefect's event worker was never imported.
    """
    if "prefect.events.worker" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=timeout)
    EventsWorker.drain_all(timeout=timeout)


def _check_settings() -> None:
    """Import Prefect and read its settings as the run will, saying in one line what is wrong
    with them: as the keeper does when it reads them (``flows.temporary_server``).

    Importing Prefect reads them first and prints a settings error whole, over many lines:
    what it prints meanwhile is held back, and passed on only when the settings are good."""
    held = io.StringIO()
    with contextlib.redirect_stderr(held):
        from prefect.settings import Settings
    from pydantic import ValidationError

    try:
        Settings()
    except ValidationError as error:
        raise PipelineError(f"cannot read Prefect's settings: {settings_problem(error)}") from None
    sys.stderr.write(held.getvalue())


def _startup_timeout() -> float:
    from prefect.settings import get_current_settings

    return float(get_current_settings().server.ephemeral.startup_timeout_seconds)


def _restore_api_url(previous: str | None) -> None:
    if previous is None:
        os.environ.pop("PREFECT_API_URL", None)
    else:
        os.environ["PREFECT_API_URL"] = previous
