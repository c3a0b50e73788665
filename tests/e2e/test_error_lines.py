"""Errors that name the cause (issue 17 item 8): one line with the path, AWS's error and
the hint, never a traceback without ``-v DEBUG``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "analyzer", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def _no_credentials(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def test_report_on_s3_without_credentials_names_the_path_the_error_and_the_hint(tmp_path):
    run = _cli(
        _no_credentials(tmp_path),
        "report",
        "--results",
        "s3://audit/nightly",
        "--html",
        str(tmp_path / "r.html"),
    )
    assert run.returncode == 1
    [line] = run.stderr.splitlines()
    assert line.startswith("error: s3://audit/nightly: ")
    assert "NoCredentialsError" in line and "--profile" in line
    assert not (tmp_path / "r.html").exists()


def test_an_unknown_profile_is_named(tmp_path):
    run = _cli(
        _no_credentials(tmp_path),
        "--profile",
        "nosuch",
        "report",
        "--results",
        "s3://audit/nightly",
        "--html",
        str(tmp_path / "r.html"),
    )
    assert run.returncode == 1
    [line] = run.stderr.splitlines()
    assert "nosuch" in line and "--profile" in line


def test_a_missing_bucket_on_the_endpoint_is_one_line(aws, tmp_path):
    run = _cli(
        aws, "report", "--results", "s3://no-such-bucket-ux/nightly", "--html", str(tmp_path / "r.html")
    )
    assert run.returncode == 1
    [line] = run.stderr.splitlines()
    assert line.startswith("error: s3://no-such-bucket-ux/nightly: ") and "Traceback" not in line


def test_a_traceback_only_with_debug(tmp_path):
    run = _cli(
        _no_credentials(tmp_path),
        "-v",
        "DEBUG",
        "report",
        "--results",
        "s3://audit/nightly",
        "--html",
        str(tmp_path / "r.html"),
    )
    assert run.returncode == 1
    assert "Traceback" in run.stderr


def test_json_logs_are_one_object_per_line(tmp_path):
    run = _cli(
        _no_credentials(tmp_path),
        "-v",
        "DEBUG",
        "--log-format",
        "json",
        "report",
        "--results",
        "s3://audit/[bold]x\x1b[2J",
        "--html",
        str(tmp_path / "r.html"),
    )
    assert run.returncode == 1
    logged = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    assert any("NoCredentialsError" in entry.get("exception", "") for entry in logged)
    assert "\x1b" not in run.stderr  # JSON escapes it; the error line shows it as \x1b
    assert run.stderr.splitlines()[-1].startswith("error: s3://audit/[bold]x\\x1b[2J: ")
