"""``run`` checks its local ``--out`` before Prefect starts (docs/nightly-pipeline.md): an
output folder that cannot be created or written is one error line and exit 1 within a second,
not a failure after the whole scan; the check leaves no folder behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analyzer.errors import PipelineError
from flows import preflight
from flows.preflight import check_output

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests/data/analyze"
SNAPSHOT = ("--snapshot", str(DATA / "snapshot.json"))


def test_an_output_folder_that_cannot_be_created_is_refused():
    # /proc takes no new folders, not even from root (which os.access lets write anything).
    with pytest.raises(PipelineError, match=r"^/proc/x: .*\(--out\)"):
        check_output("/proc/x")


def test_an_output_folder_that_cannot_be_created_deeper_is_refused():
    with pytest.raises(PipelineError, match=r"^/proc/self/x/y: .*\(--out\)"):
        check_output("/proc/self/x/y")


def test_an_existing_folder_that_takes_no_files_is_refused():
    with pytest.raises(PipelineError, match=r"^/proc/self: .*not writable.*\(--out\)"):
        check_output("/proc/self")


def test_a_writable_output_folder_passes_and_the_check_leaves_nothing(tmp_path):
    check_output(str(tmp_path / "a" / "b"))
    assert list(tmp_path.iterdir()) == []
    existing = tmp_path / "out"
    existing.mkdir()
    (existing / "kept.txt").write_text("x")
    check_output(str(existing))
    assert [path.name for path in existing.iterdir()] == ["kept.txt"]


def test_a_failed_check_removes_the_folders_it_created(tmp_path, monkeypatch):
    def refuse(folder: Path) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(preflight, "_probe_write", refuse)
    with pytest.raises(PipelineError, match="not writable"):
        check_output(str(tmp_path / "a" / "b"))
    assert list(tmp_path.iterdir()) == []


def test_s3_outputs_are_left_to_the_run():
    check_output("s3://bucket/prefix")


def test_run_with_an_uncreatable_out_fails_at_once_in_one_line(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "ACCESS_UNDENIED"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "analyzer",
            "run",
            "--logs",
            str(DATA / "events.json"),
            *SNAPSHOT,
            "--out",
            "/proc/x",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: /proc/x: "), result.stderr
    assert "--out" in lines[0]
    assert elapsed < 10, elapsed  # no Prefect, no scan (which took 20 s on the benchmark)
