"""Reading a flow run's task runs back from the Prefect API, for the pipeline's e2e tests."""

from __future__ import annotations

import time


def analysis_task_runs(flow_run_id) -> list:
    """The flow run's analyze-batch task runs, once the API has them all in a final state
    (task runs report their states in the background, after the flow has returned)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + 120
    with get_client(sync_client=True) as client:
        while True:
            runs = [
                run
                for run in client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
                )
                if run.name.startswith("analyze-batch")
            ]
            if (
                all(run.state is not None and run.state.is_final() for run in runs)
                or time.monotonic() > deadline
            ):
                return runs
            time.sleep(0.5)
