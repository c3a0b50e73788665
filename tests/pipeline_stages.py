"""The pipeline's stages called as the nightly flow calls them, without Prefect: what a
test of the stages' outputs needs, written once."""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.pipeline import stages, work
from analyzer.pipeline.batches import BatchResult
from analyzer.pipeline.settings import PipelineSettings


@dataclass(frozen=True)
class StagesRun:
    grouped: stages.Grouped
    results: list[BatchResult]
    summary: stages.Summary


def run_stages(settings: PipelineSettings) -> StagesRun:
    """Scan, group, analyse every batch in this process and write the tables."""
    info = stages.snapshot_info(settings)
    denials = stages.read_denials(settings, info.collected_times())
    grouped = stages.group(denials, settings, info.snapshot_id, info.earlier_refs)
    results = [
        work.analyze_batch(
            ref, settings.snapshot, info.snapshot_id, stages.s3_options_json(settings), grouped.changes
        )
        for ref in stages.batches(grouped)
    ]
    summary = stages.write(settings, grouped, results, info.snapshot_id, denials.report)
    return StagesRun(grouped, results, summary)
