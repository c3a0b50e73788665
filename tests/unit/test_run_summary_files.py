"""The run's summary is honest about its log files (docs/nightly-pipeline.md: the summary
lists any file that was skipped).

A held-out run over 416 files, three of them damaged (a truncated ``.json.gz``, an empty
one, a ``.json`` holding no CloudTrail event), said "log files read 416": the three were
counted as read, and only the warnings below said otherwise. The figure now says how many
of the files had problems, and each problem is still a one-line warning naming its file.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import cloudtrail_changes as ct
from history_nights import ACCOUNT, role_snapshot
from pipeline_stages import run_stages

from analyzer.pipeline import stages
from analyzer.pipeline.reading import ReadReport
from analyzer.pipeline.settings import PipelineSettings
from flows.run_command import print_summary


def _logs(folder: Path) -> dict[str, Path]:
    day = folder / "AWSLogs" / ACCOUNT / "CloudTrail" / "us-east-1" / "2026" / "11" / "24"
    day.mkdir(parents=True)
    denials = [
        ct.get_object_denied(ACCOUNT, f"2026-11-24T{hour:02d}:00:00Z", "App", "data", "a.csv", f"deny-{hour}")
        for hour in range(4)
    ]
    whole = gzip.compress(json.dumps({"Records": denials}).encode())
    files = {
        "good": day / f"{ACCOUNT}_CloudTrail_us-east-1_20261124T0100Z_good.json.gz",
        "truncated": day / f"{ACCOUNT}_CloudTrail_us-east-1_20261124T0200Z_truncated.json.gz",
        "empty": day / f"{ACCOUNT}_CloudTrail_us-east-1_20261124T0300Z_empty.json.gz",
        "not CloudTrail": day / f"{ACCOUNT}_CloudTrail_us-east-1_20261124T0400Z_other.json",
    }
    files["good"].write_bytes(whole)
    files["truncated"].write_bytes(whole[: len(whole) * 2 // 3])
    files["empty"].write_bytes(gzip.compress(b""))
    files["not CloudTrail"].write_text(json.dumps({"foo": 1, "bar": [1, 2, 3]}))
    return files


def test_the_summary_counts_the_files_with_problems_and_names_each(tmp_path, capsys):
    files = _logs(tmp_path / "logs")
    snapshot = role_snapshot(tmp_path / "snapshot.json", "2026-11-25T06:00:00Z", ct.list_only("data"))
    settings = PipelineSettings(
        logs=str(tmp_path / "logs"), snapshot=str(snapshot), out=str(tmp_path / "out"), workers=1
    )
    summary = run_stages(settings).summary

    figures = dict(summary.figures())
    assert "log files read" not in figures
    assert figures["log files"] == "4, 3 with problems (below)"
    print_summary(summary)
    lines = capsys.readouterr().err.splitlines()
    for kind in ("truncated", "empty", "not CloudTrail"):
        assert [line for line in lines if line.startswith(f"warning: {files[kind]}: ")], kind
    assert not [line for line in lines if str(files["good"]) in line]


def test_a_file_with_several_bad_records_is_one_file_with_problems():
    report = ReadReport(files=9)
    report.of_file("/logs/a.json", "/logs/a.json: record 3: not a CloudTrail event")
    report.of_file("/logs/a.json", "/logs/a.json: record 7: not JSON")
    report.of_file("s3://b/AWSLogs/b.json.gz", "s3://b/AWSLogs/b.json.gz: empty, no CloudTrail event in it")
    report.problems.append(
        "eventID x (s3.amazonaws.com GetObject): a denied event with no readable eventTime"
    )
    summary = stages.Summary(
        "2026-11-24", "0" * 64, 9, 0, 0, {}, 0, 0, [], problems=report.problems, problem_files=2
    )
    assert len(report.problem_files) == 2
    assert dict(summary.figures())["log files"] == "9, 2 with problems (below)"
    clean = stages.Summary("2026-11-24", "0" * 64, 1_234, 0, 0, {}, 0, 0, [])
    assert dict(clean.figures())["log files"] == 1_234
