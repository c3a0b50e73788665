"""Synthetic data for ``access-undenied demo``: an organization, its snapshot and CloudTrail logs.

``generate(out_dir, events=...)`` writes them and returns a ``DemoDataset`` with the paths and
the counts a pipeline run should find. Pure Python and pyarrow: no AWS, no network.
"""

from analyzer.demo.writer import DEFAULT_START, DemoDataset, DemoError, generate

__all__ = ["DEFAULT_START", "DemoDataset", "DemoError", "generate"]
