"""A small recording, fault-injecting HTTP proxy in front of the moto server.

Faults come from the server side, as the developers' guide asks, not from patching our
own code: the proxy records every AWS call a CLI run makes and answers chosen calls with
an HTTP 500 and an HTML body (a broken load balancer), a 200 whose body is cut short
(botocore raises ``ResponseParserError``), or S3's own 403 ``AccessDenied`` (credentials
that may not write there). Every other call goes to moto unchanged.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message><RequestId>PROXY</RequestId></Error>"
)


@dataclass
class Proxy:
    """What the CLI sent, and which calls to fail (each a predicate on the call's text:
    its method, path, X-Amz-Target header and body)."""

    url: str
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, body)
    fail: Callable[[str], bool] = lambda call: False
    garble: Callable[[str], bool] = lambda call: False
    refuse: Callable[[str], bool] = lambda call: False

    def assumed_roles(self) -> list[str]:
        return [
            urllib.parse.parse_qs(body).get("RoleArn", [""])[0]
            for _, _, body in self.calls
            if "Action=AssumeRole&" in body + "&"
        ]


@contextmanager
def serve(moto_server: str) -> Iterator[Proxy]:
    """A proxy on 127.0.0.1 in front of ``moto_server``, for as long as the block runs."""
    state = Proxy("")

    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1, so a client that sends "Expect: 100-continue" before an S3 PUT's body
        # (botocore does) is told to go on rather than left waiting for an answer.
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            text = body.decode("utf-8", "replace")
            state.calls.append((self.command, self.path, text))
            call = f"{self.command} {self.path} {self.headers.get('X-Amz-Target', '')} {text}"
            if state.refuse(call):
                self._reply(403, "application/xml", _ACCESS_DENIED)
                return
            if state.garble(call):
                self._reply(200, "text/xml", b"<GetTopicAttributesResponse><GetTopicAttributesResult><Attri")
                return
            if state.fail(call):
                self._reply(500, "text/html", b"<html><body><h1>500 Internal Server Error</h1></body></html>")
                return
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in ("host", "content-length", "connection", "expect")
            }
            if body and not any(k.lower() == "content-type" for k in headers):
                # urllib would call it a form ("application/x-www-form-urlencoded"), which
                # moto's server parses away, storing an S3 PUT's object empty.
                headers["Content-Type"] = "binary/octet-stream"
            request = urllib.request.Request(
                moto_server + self.path, data=body or None, headers=headers, method=self.command
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    status, reply, reply_headers = response.status, response.read(), response.headers
            except urllib.error.HTTPError as error:
                status, reply, reply_headers = error.code, error.read(), error.headers
            self.send_response(status)
            for key, value in reply_headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                    self.send_header(key, value)
            # A HEAD's answer has no body but says the object's size (s3fs reads it there).
            size = reply_headers.get("Content-Length", "0") if self.command == "HEAD" else str(len(reply))
            self.send_header("Content-Length", size)
            self.end_headers()
            self.wfile.write(reply)

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
