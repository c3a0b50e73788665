"""The nightly flow with its analysis batches on a Dask cluster (the ``[dask]`` extra).

The entry point of the ``nightly-dask`` deployment in ``deployments/prefect.yaml``.
The scheduler is named by ``ACCESS_UNDENIED_DASK_ADDRESS`` in the environment the
flow runs in (``tcp://`` or ``tls://``, secured by Dask's own configuration); without
it each run starts a local cluster of worker processes.
"""

from __future__ import annotations

import os

from flows.nightly import nightly, task_runner

nightly_on_dask = nightly.with_options(
    task_runner=task_runner(
        "dask",
        int(os.environ.get("ACCESS_UNDENIED_DASK_WORKERS", "4")),
        os.environ.get("ACCESS_UNDENIED_DASK_ADDRESS") or None,
    )
)
