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
of after it. No private setting or server internal is touched.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from analyzer.errors import PipelineError


class _EarlyStart:
    """Prefect's temporary server, started by a client created in a background thread."""

    def __init__(self) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, name="prefect-temporary-server",
                                        daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            from prefect import get_client

            get_client(sync_client=True)  # starts the server and waits until it is healthy
        except BaseException as error:  # reported by wait(), in the caller's thread
            self._error = error

    def wait(self, timeout: float) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise PipelineError(f"Prefect's temporary server did not start within {timeout:.0f} s "
                                "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)")
        if self._error is not None:
            raise PipelineError(f"Prefect's temporary server did not start: {self._error}")


@contextlib.contextmanager
def prefect_api(while_starting: Callable[[], None] | None = None) -> Iterator[str | None]:
    """Make sure the body's flow run has an API to report to.

    ``while_starting`` runs while a temporary server boots (imports and warm-up
    belong there); it runs in any case. Yields the configured API URL, or None
    when the run uses Prefect's temporary server.
    """
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url:
        if while_starting:
            while_starting()
        yield settings.api.url
        return
    if not settings.server.ephemeral.enabled:
        raise PipelineError("no Prefect API: set PREFECT_API_URL to a running server (`prefect "
                            "server start`), or allow Prefect's temporary server "
                            "(PREFECT_SERVER_EPHEMERAL_ENABLED=true)")
    early = _EarlyStart()
    if while_starting:
        while_starting()
    # The server's own start-up already waits this long; the margin covers the import.
    early.wait(settings.server.ephemeral.startup_timeout_seconds + 30)
    yield None
