"""The command line as a user runs it: a real process, no AWS credentials."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "tests/data/conformance/basic.json"


def run(*args, env_extra=None):
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        {
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "AWS_EC2_METADATA_DISABLED": "true",
            **(env_extra or {}),
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "analyzer", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


@pytest.mark.parametrize("args", [["--help"], ["simulate", "--help"]])
def test_help_needs_no_credentials(args):
    result = run(*args)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def test_simulate_check_passes_on_the_conformance_suite():
    result = run("simulate", "--cases", str(CONFORMANCE), "--check")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    cases = json.loads(CONFORMANCE.read_text())
    assert lines[-1] == f"{len(cases)} passed, 0 failed"
    first = json.loads(lines[0])
    assert first["name"] == cases[0]["name"] and first["decision"] == "Allowed"


def test_simulate_check_fails_on_a_wrong_expectation(tmp_path):
    case = json.loads(CONFORMANCE.read_text())[0]
    case["expected"] = {"decision": "ExplicitlyDenied", "deniedBy": ["scp"]}
    path = tmp_path / "wrong.json"
    path.write_text(json.dumps([case]))
    result = run("simulate", "--cases", str(path), "--check")
    assert result.returncode == 1
    assert result.stdout.strip().splitlines()[-1] == "0 passed, 1 failed"
    assert "FAIL identity allow grants same-account access" in result.stderr


def test_a_failing_cases_name_is_shown_as_data(tmp_path):
    """A case's name (a file someone else may have written) forged a second FAIL line and
    carried terminal escapes (held-out probe)."""
    case = json.loads(CONFORMANCE.read_text())[0]
    case["name"] = "c1[bold]X[/]\x1b[2J\nFAIL forged-case: fake\u202e"
    case["expected"] = {"decision": "ExplicitlyDenied", "deniedBy": ["scp"]}
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps([case]))
    result = run("simulate", "--cases", str(path), "--check")
    [line] = [line for line in result.stderr.splitlines() if "FAIL" in line]
    assert line.startswith("FAIL c1[bold]X[/]\\x1b[2J\\nFAIL forged-case: fake\\u202e: expected ")


def test_reasons_name_the_denying_statement(tmp_path):
    case = {
        "name": "scp deny",
        "request": {
            "principal": "arn:aws:iam::111122223333:role/App",
            "action": "s3:GetObject",
            "resource": "arn:aws:s3:::b/k",
        },
        "policies": {
            "identity": [
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            ],
            "scp": [
                [
                    {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                    },
                    {
                        "Version": "2012-10-17",
                        "Id": "p-deny",
                        "Statement": [
                            {"Sid": "Other", "Effect": "Deny", "Action": "ec2:*", "Resource": "*"},
                            {"Sid": "DenyS3", "Effect": "Deny", "Action": "s3:*", "Resource": "*"},
                        ],
                    },
                ]
            ],
        },
    }
    path = tmp_path / "c.json"
    path.write_text(json.dumps([case]))
    result = run("simulate", "--cases", str(path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "name": "scp deny",
        "decision": "ExplicitlyDenied",
        "deniedBy": ["scp"],
        "reasons": [
            {
                "policyType": "scp",
                "effect": "Deny",
                "level": 0,
                "policyIndex": 1,
                "policyId": "p-deny",
                "sid": "DenyS3",
                "statementIndex": 1,
            }
        ],
    }


def test_bad_file_is_one_line_and_exit_1(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("[{")
    result = run("simulate", "--cases", str(path))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert str(path) in result.stderr and "not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_error_exits_2():
    result = run("simulate")
    assert result.returncode == 2
    assert "--cases" in result.stderr


def test_readme_test_command_is_what_ci_runs():
    """README's second shell block is the test command and .ci/run runs it verbatim."""
    readme = (ROOT / "README.md").read_text()
    blocks = [block.split("```", 1)[0].strip() for block in readme.split("```sh\n")[1:]]
    test_command = blocks[1]
    assert "pytest" in test_command and "pip install" in test_command
    assert test_command in (ROOT / ".ci/run").read_text()


@pytest.mark.parametrize("command", ["analyze", "run"])
def test_a_snapshot_whose_collected_at_is_not_a_time_is_one_error_line(command, tmp_path):
    data_dir = ROOT / "tests/data/analyze"
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(
        json.dumps({**json.loads((data_dir / "snapshot.json").read_text()), "collectedAt": "yesterday"})
    )
    events = str(data_dir / "events.json")
    where = (
        ["--events-file", events]
        if command == "analyze"
        else ["--logs", events, "--out", str(tmp_path / "out")]
    )
    result = run(command, *where, "--snapshot", str(snapshot))
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {snapshot}: collectedAt 'yesterday'"), result.stderr
    assert not (tmp_path / "out").exists()


def test_aws_error_text_in_the_message_only_note_is_data(tmp_path):
    """Credentials refused: the note saying why carried AWS's (here a stranger endpoint's)
    error text raw, and a newline in it forged a warning line (held-out probe)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>"
        "<Message>bad token [bold]X[/]\nwarning: FORGED LINE\u2028</Message></Error>"
        "<RequestId>r</RequestId></ErrorResponse>"
    ).encode()

    class Refusing(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(403)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"Records": []}))
    try:
        result = run(
            "analyze",
            "--events-file",
            str(events),
            env_extra={
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_port}",
                "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
                "AWS_SECRET_ACCESS_KEY": "secret",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_MAX_ATTEMPTS": "1",
            },
        )
    finally:
        server.shutdown()
    [note] = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert "bad token [bold]X[/]\\nwarning: FORGED LINE\\u2028" in note
    assert not [line for line in result.stderr.splitlines() if line.startswith("warning: FORGED")]
