"""Real AWS credentials in the user's environment never reach the local cloud.

The oracle is the HTTP request itself: a tiny server on a free port records what botocore sends.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from pipeline.runtime import aws
from pipeline.tools.local import LocalCloud


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).requests.append({k.lower(): v for k, v in self.headers.items()})
        body = b'{"__type": "ResourceNotFoundException", "message": "recorded"}'
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Recorder)
    _Recorder.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield port
    server.shutdown()


def test_a_real_session_token_and_profile_are_dropped_for_the_local_cloud(
    recorder: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEYOFTHEUSER")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "real-session-token")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "real-legacy-token")
    monkeypatch.setenv("AWS_PROFILE", "prod-admin")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "https://dynamodb.eu-west-1.amazonaws.com")
    for name in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION"):  # restored after the test
        monkeypatch.setenv(name, "")
    LocalCloud(tmp_path, recorder).activate()
    try:
        with pytest.raises(Exception, match="recorded"):
            aws.client("dynamodb").describe_table(TableName="t")
    finally:
        aws.reset()

    (request,) = _Recorder.requests  # it came here, not to the AWS endpoint of AWS_ENDPOINT_URL_DYNAMODB
    assert "x-amz-security-token" not in request
    assert "Credential=test/" in request["authorization"]
    assert "AKIAREALKEYOFTHEUSER" not in str(request)


def test_the_server_gets_none_of_them_either(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator's Lambda workers inherit the server's environment."""
    monkeypatch.setenv("AWS_SESSION_TOKEN", "real-session-token")
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/prod")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "https://s3.amazonaws.com")
    environment = LocalCloud(tmp_path, 4599)._server_environment()
    for name in ("AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL_S3"):
        assert name not in environment
    assert environment["AWS_ACCESS_KEY_ID"] == "test"
