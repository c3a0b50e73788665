"""Sessions find an EC2 instance's role credentials through the instance-metadata service.

The metadata service is served here by a small local HTTP server (botocore honours
``AWS_EC2_METADATA_SERVICE_ENDPOINT``), answering IMDSv2 as AWS documents it: a PUT for a
token, then the role's name and its credentials.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from analyzer.collectors.aws import base_session, has_credentials

ROLE = "night-analyzer"
CREDENTIALS = "/latest/meta-data/iam/security-credentials/"


class _Metadata(BaseHTTPRequestHandler):
    def do_PUT(self) -> None:  # the IMDSv2 session token
        self._answer("a-token" if self.path == "/latest/api/token" else None)

    def do_GET(self) -> None:
        if self.headers.get("X-aws-ec2-metadata-token") != "a-token":
            self._answer(None, 401)
        elif self.path == CREDENTIALS:
            self._answer(ROLE)
        elif self.path == CREDENTIALS + ROLE:
            expires = (datetime.now(UTC) + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._answer(
                json.dumps(
                    {
                        "Code": "Success",
                        "Type": "AWS-HMAC",
                        "AccessKeyId": "ASIAINSTANCEROLE0001",
                        "SecretAccessKey": "secret",
                        "Token": "token",
                        "Expiration": expires,
                    }
                )
            )
        else:
            self._answer(None)

    def _answer(self, body: str | None, status: int = 200) -> None:
        data = (body or "").encode()
        self.send_response(status if body is not None or status != 200 else 404)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def metadata_service(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metadata)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_METADATA_SERVICE_TIMEOUT", raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "false")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{server.server_port}/")
    yield
    server.shutdown()


def test_an_instance_role_is_found_through_the_metadata_service(metadata_service):
    """The short metadata timeout was 0.25 s, which botocore reads through int(): 0, which
    urllib3 refuses, so on an EC2 instance the role's credentials were never found and
    live mode fell back to message-only answers."""
    session = base_session()
    assert has_credentials(session)
    assert session.get_credentials().access_key == "ASIAINSTANCEROLE0001"
