"""The pipeline's AWS-facing tasks obey a Prefect tag concurrency limit (issue 20, item 4).

``docs/nightly-pipeline.md`` tells operators to bound concurrent AWS reads and writes
across every run with ``prefect concurrency-limit create access-undenied-aws N``. This
test creates that limit on the session's Prefect server, holds its only slot as another
run would, and shows the nightly flow's AWS task (here: writing the tables to S3 on the
session's moto server) waits for it, while its local tasks are untagged and do not ask
the server for a slot.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from analyzer.demo import generate
from flows.nightly import nightly
from flows.tasks import AWS_TAG


@pytest.mark.usefixtures("prefect_harness")
def test_aws_tasks_wait_for_a_slot_of_the_tag_limit(tmp_path, aws):
    import boto3
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.concurrency.sync import concurrency

    boto3.client("s3").create_bucket(Bucket="au-limited")
    demo = generate(tmp_path / "demo", events=200, seed=5)
    outcome: dict = {}

    def run() -> None:
        out = "s3://au-limited/nightly"
        outcome["state"] = nightly(
            logs=str(demo.json_root), snapshot=str(demo.snapshot), out=out, return_state=True
        )

    with get_client(sync_client=True) as client:
        client.create_concurrency_limit(tag=AWS_TAG, concurrency_limit=1)
        # Prefect remembers for a few seconds (5 s in 3.9, prefect.concurrency.services) that a
        # tag had no limit; an earlier test's run may have left that memory in this process.
        time.sleep(6)
        try:
            with concurrency(f"tag:{AWS_TAG}", occupy=1):  # another run's AWS task holds the slot
                flow = threading.Thread(target=run)
                flow.start()
                flow.join(timeout=8)
                assert flow.is_alive(), "the flow finished while the only slot of its AWS tag was taken"
                released = datetime.now(UTC)
            flow.join(timeout=180)
            assert not flow.is_alive()
        finally:
            client.delete_concurrency_limit_by_tag(AWS_TAG)
        state = outcome["state"]
        assert state.is_completed()
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )
    tagged = [run for run in runs if AWS_TAG in run.tags]
    # Only the task that touches AWS in this run is tagged (local logs and snapshot are not),
    # and it started after the slot was given back.
    assert [run.name.rsplit("-", 1)[0] for run in tagged] == ["write-tables"]
    assert all(run.start_time >= released for run in tagged if run.start_time is not None)
    assert {run.name.rsplit("-", 1)[0] for run in runs} >= {"snapshot-info", "read-denials", "analyze-batch"}
