"""The AWS SDK's own settings win: `--stage` drops every endpoint override, and the user's retry settings are
honoured (ours apply only when they set none).

The oracle is botocore itself: the endpoint a client resolves, and the HTTP requests a tiny server receives.
"""

from __future__ import annotations

import http.server
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from botocore import exceptions as boto

from pipeline.runtime import aws
from pipeline.tools.cli.target import resolve
from pipeline.tools.deploy.stack import _template_url


@pytest.fixture
def clean_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """No AWS setting of this machine leaks in: an empty config file, fixed keys, one region."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "PIPELINE_LOCAL"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    aws.reset()
    yield monkeypatch
    aws.reset()


def test_a_stage_drops_every_endpoint_override(clean_aws: pytest.MonkeyPatch) -> None:
    clean_aws.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    clean_aws.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000")
    clean_aws.setenv("AWS_ENDPOINT_URL_DYNAMODB", "https://dynamodb.elsewhere.example")
    aws.client("s3")  # a client cached before the switch must not survive it either
    resolve("prod")
    assert not [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]
    assert aws.client("s3").meta.endpoint_url == "https://s3.eu-west-1.amazonaws.com"
    assert aws.client("dynamodb").meta.endpoint_url == "https://dynamodb.eu-west-1.amazonaws.com"


def test_the_template_url_follows_the_s3_endpoint_not_cloudformations(clean_aws: pytest.MonkeyPatch) -> None:
    clean_aws.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", "http://cfn.example:1")
    clean_aws.setenv("AWS_ENDPOINT_URL_S3", "http://s3.example:2/")
    assert _template_url("b", "t.yaml", "eu-west-1") == "http://s3.example:2/b/t.yaml"
    clean_aws.delenv("AWS_ENDPOINT_URL_S3")
    clean_aws.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    assert _template_url("b", "t.yaml", "eu-west-1") == "http://127.0.0.1:4566/b/t.yaml"
    clean_aws.delenv("AWS_ENDPOINT_URL")
    assert _template_url("b", "t.yaml", "eu-west-1") == "https://b.s3.eu-west-1.amazonaws.com/t.yaml"


class _Busy(http.server.BaseHTTPRequestHandler):
    """Answers every request with a retryable 503 and counts them."""

    count: ClassVar[int] = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).count += 1
        body = b'{"__type": "ServiceUnavailable", "message": "busy"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def busy(clean_aws: pytest.MonkeyPatch) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Busy)
    _Busy.count = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    clean_aws.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


def _attempts() -> int:
    aws.reset()
    _Busy.count = 0
    with pytest.raises(boto.ClientError):
        aws.client("dynamodb").list_tables()
    return _Busy.count


@pytest.mark.parametrize(
    ("variable", "value", "attempts"),
    [("AWS_MAX_ATTEMPTS", "2", 2), ("AWS_MAX_ATTEMPTS", "1", 1), ("AWS_RETRY_MODE", "standard", 3)],
)
def test_the_users_retry_settings_are_honoured(
    busy: str, clean_aws: pytest.MonkeyPatch, variable: str, value: str, attempts: int
) -> None:
    """AWS_RETRY_MODE alone: botocore's standard mode with its own 3 attempts, not our 8."""
    clean_aws.setenv(variable, value)
    assert _attempts() == attempts


def test_retry_settings_in_the_profile_are_honoured(busy: str, clean_aws: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "config").write_text("[default]\nmax_attempts = 2\n")
    assert _attempts() == 2


def test_our_retries_apply_when_the_user_set_none(clean_aws: pytest.MonkeyPatch) -> None:
    retries = aws.client("dynamodb").meta.config.retries  # a config's max_attempts counts retries: 8 + the first
    assert retries["mode"] == "adaptive" and retries["total_max_attempts"] == 9
    clean_aws.setenv("AWS_MAX_ATTEMPTS", "5")
    aws.reset()
    assert aws.client("dynamodb").meta.config.retries["total_max_attempts"] == 5
