"""Real AWS credentials in the user's environment never reach the local cloud.

The oracle is the HTTP request itself: a tiny server on a free port records what botocore sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FakeEndpoint, fake_aws_endpoint

from pipeline.runtime import aws
from pipeline.tools.local import LocalCloud


@pytest.fixture
def recorder() -> Iterator[FakeEndpoint]:
    with fake_aws_endpoint(400, b'{"__type": "ResourceNotFoundException", "message": "recorded"}') as endpoint:
        yield endpoint


def test_a_real_session_token_and_profile_are_dropped_for_the_local_cloud(
    recorder: FakeEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEYOFTHEUSER")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "real-session-token")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "real-legacy-token")
    monkeypatch.setenv("AWS_PROFILE", "prod-admin")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "https://dynamodb.eu-west-1.amazonaws.com")
    for name in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION"):  # restored after the test
        monkeypatch.setenv(name, "")
    LocalCloud(tmp_path, recorder.port).activate()
    try:
        with pytest.raises(Exception, match="recorded"):
            aws.client("dynamodb").describe_table(TableName="t")
    finally:
        aws.reset()

    (request,) = recorder.requests  # it came here, not to the AWS endpoint of AWS_ENDPOINT_URL_DYNAMODB
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
