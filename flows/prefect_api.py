"""The Prefect API a local ``access-undenied run`` reports to, chosen the public way.

With an API configured (``PREFECT_API_URL`` in the environment or the active
Prefect profile) the flow run is recorded on that server and nothing is started.

Without one, Prefect's own documented behaviour applies: the first Prefect
client of the process starts a temporary server (allowed by the
``server.ephemeral.enabled`` setting, on in Prefect's default profile), the run
is recorded in ``PREFECT_HOME``'s database, and Prefect stops the server when
the process exits. The only thing done here is *when*: ``prefect_api`` asks for
that client from a background thread through the public ``prefect.get_client``,
so the server boots while the caller imports and warms up the pipeline instead
of after it, and then names that server's URL as the run's ``PREFECT_API_URL``, so
task runs in other processes (a process pool, Dask workers) report to it instead
of each starting a temporary server of its own. No private setting or server
internal is touched.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator

from analyzer.errors import PipelineError


class _EarlyStart:
    """Prefect's temporary server, started by a client created in a background thread."""

    def __init__(self) -> None:
        self._error: BaseException | None = None
        self.api_url = ""
        self._thread = threading.Thread(target=self._start, name="prefect-temporary-server", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            from prefect import get_client

            # Starts the server and waits until it answers.
            self.api_url = str(get_client(sync_client=True).api_url).rstrip("/")
        except BaseException as error:  # reported by wait(), in the caller's thread
            self._error = error

    def wait(self, timeout: float) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise PipelineError(
                f"Prefect's temporary server did not start within {timeout:.0f} s "
                "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)"
            )
        if self._error is not None:
            raise PipelineError(f"Prefect's temporary server did not start: {self._error}")


@contextlib.contextmanager
def prefect_api(while_starting: Callable[[], None] | None = None) -> Iterator[str]:
    """Make sure the body's flow run has an API to report to.

    ``while_starting`` runs while a temporary server boots (imports and warm-up
    belong there); it runs in any case. Yields the API URL the run reports to.
    """
    from prefect.settings import get_current_settings, temporary_settings

    settings = get_current_settings()
    if settings.api.url:
        if while_starting:
            while_starting()
        yield settings.api.url
        return
    if not settings.server.ephemeral.enabled:
        raise PipelineError(
            "no Prefect API: set PREFECT_API_URL to a running server (`prefect "
            "server start`), or allow Prefect's temporary server "
            "(PREFECT_SERVER_EPHEMERAL_ENABLED=true)"
        )
    early = _EarlyStart()
    if while_starting:
        while_starting()
    # The server's own start-up already waits this long; the margin covers the import.
    early.wait(settings.server.ephemeral.startup_timeout_seconds + 30)
    # Threads without a copied context and child processes read the environment.
    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = early.api_url
    try:
        with temporary_settings(updates={"api.url": early.api_url}):
            yield early.api_url
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous
