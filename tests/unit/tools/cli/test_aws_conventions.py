"""The AWS SDK's own settings win: `--stage` drops every endpoint override, and the user's retry settings are
honoured (ours apply only when they set none).

The oracle is botocore itself: the endpoint a client resolves, and the HTTP requests a tiny server receives.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore import exceptions as boto
from conftest import FakeEndpoint, fake_aws_endpoint

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


@pytest.fixture
def busy(clean_aws: pytest.MonkeyPatch) -> Iterator[FakeEndpoint]:
    """An endpoint answering every request with a retryable 503."""
    with fake_aws_endpoint(503, b'{"__type": "ServiceUnavailable", "message": "busy"}') as endpoint:
        clean_aws.setenv("AWS_ENDPOINT_URL", endpoint.url)
        yield endpoint


def _attempts(busy: FakeEndpoint) -> int:
    aws.reset()
    busy.requests.clear()
    with pytest.raises(boto.ClientError):
        aws.client("dynamodb").list_tables()
    return len(busy.requests)


@pytest.mark.parametrize(
    ("variable", "value", "attempts"),
    [("AWS_MAX_ATTEMPTS", "2", 2), ("AWS_MAX_ATTEMPTS", "1", 1), ("AWS_RETRY_MODE", "standard", 3)],
)
def test_the_users_retry_settings_are_honoured(
    busy: FakeEndpoint, clean_aws: pytest.MonkeyPatch, variable: str, value: str, attempts: int
) -> None:
    """AWS_RETRY_MODE alone: botocore's standard mode with its own 3 attempts, not our 8."""
    clean_aws.setenv(variable, value)
    assert _attempts(busy) == attempts


def test_retry_settings_in_the_profile_are_honoured(
    busy: FakeEndpoint, clean_aws: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "config").write_text("[default]\nmax_attempts = 2\n")
    assert _attempts(busy) == 2


def test_our_retries_apply_when_the_user_set_none(clean_aws: pytest.MonkeyPatch) -> None:
    retries = aws.client("dynamodb").meta.config.retries  # a config's max_attempts counts retries: 8 + the first
    assert retries["mode"] == "adaptive" and retries["total_max_attempts"] == 9
    clean_aws.setenv("AWS_MAX_ATTEMPTS", "5")
    aws.reset()
    assert aws.client("dynamodb").meta.config.retries["total_max_attempts"] == 5
