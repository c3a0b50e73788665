"""What a run leaves in Prefect: keyed artifacts (table + Markdown) and stage timings."""

from __future__ import annotations

import json
import re

import pytest

from analyzer.demo import generate
from analyzer.pipeline.stages import Summary
from flows import artifacts
from flows.nightly import nightly


def _artifacts(key: str) -> list:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_publishes_keyed_artifacts_and_stage_timings(tmp_path):
    demo = generate(tmp_path / "demo", events=600, seed=3)
    before = len(_artifacts(artifacts.SUMMARY_KEY))

    state = nightly(
        logs=str(demo.json_root), snapshot=str(demo.snapshot), out=str(tmp_path / "out"), return_state=True
    )
    summary = state.result()
    this_run = state.state_details.flow_run_id

    assert list(summary.timings) == ["scan", "group", "analyze", "write"]
    assert all(seconds >= 0 for seconds in summary.timings.values())
    [table] = [a for a in _artifacts(artifacts.TOP_REASONS_KEY) if a.flow_run_id == this_run]
    assert table.type == "table"
    rows = table.data if isinstance(table.data, list) else json.loads(table.data)
    assert sum(row["groups"] for row in rows) == summary.groups == demo.denial_groups
    summaries = _artifacts(artifacts.SUMMARY_KEY)
    assert len(summaries) == before + 1  # keyed: one more version in the history
    [markdown] = [a.data for a in summaries if a.flow_run_id == this_run]
    assert f"| denied events | {summary.denials} |" in markdown
    assert "| analyze (s) |" in markdown


def test_data_in_the_summary_is_shown_as_text():
    hostile = "<script>alert(1)</script> [open](https://evil.example) | & ![x](y)"
    summary = Summary(
        run_date="2026-11-24",
        snapshot_id="0" * 64,
        files=1,
        denials=1,
        groups=1,
        by_result={hostile: 1},
        backlog_principals=0,
        suppressed_groups=0,
        outputs=[f"/out/{hostile}"],
        problems=[hostile],
        warnings=[],
        timings={"scan": 0.5},
    )

    markdown = artifacts.summary_markdown(summary)
    [row] = artifacts.top_reasons_rows(summary)

    for text in (markdown, row["AssessmentResult"]):
        assert "<script>" not in text and "](https://" not in text
        assert " | & " not in text  # the pipe is escaped: no extra cell
    hostile_rows = [line for line in markdown.splitlines() if "script" in line]
    assert len(hostile_rows) == 2  # the warning and the output location, one cell each
    for line in hostile_rows:
        assert len(re.findall(r"(?<!\\)\|", line)) == 2  # only the cell's own borders
