"""The CLI's error boundary: an AWS error is one line naming the operation, the resource and what to do."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import click
import pytest
from botocore import exceptions as boto
from botocore.config import Config
from botocore.stub import Stubber
from click.testing import CliRunner

from pipeline.runtime import aws
from pipeline.tools.cli.errors import ErrorBoundary, describe
from pipeline.tools.cli.main import cli


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment `pipeline.tools.cli.target.resolve` sets for the local cloud, with call recording on."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4599")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(aws, "_recent", None)
    aws.remember_calls()
    yield
    aws.reset()


def _scan_missing_table() -> None:
    """What `pipeline local start` hit in the issue: Scan of a jobs table the saved state had lost."""
    client = aws.client("dynamodb")
    with Stubber(client) as stub:
        stub.add_client_error("scan", "ResourceNotFoundException", "Requested resource not found")
        client.scan(TableName="pipeline-local-jobs")


def test_a_missing_table_names_the_operation_the_table_and_the_remedy(local: None) -> None:
    with pytest.raises(boto.ClientError) as raised:
        _scan_missing_table()
    line = describe(raised.value)
    assert line.startswith(
        "AWS dynamodb Scan on table pipeline-local-jobs failed: "
        "ResourceNotFoundException: Requested resource not found;"
    )
    assert "`pipeline local start` repairs a stack" in line and "\n" not in line


def test_aws_errors_say_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    def error(code: str) -> boto.ClientError:
        return boto.ClientError({"Error": {"Code": code, "Message": "m"}}, "PutObject")

    assert "attach docs/deployer-policy.json" in describe(error("AccessDenied"))
    assert "`aws sso login`" in describe(error("ExpiredToken"))
    assert "try again in a minute" in describe(error("ThrottlingException"))
    assert "`pipeline deploy --stage NAME`" in describe(error("NoSuchBucket"))
    assert "AWS region" in describe(boto.NoRegionError())
    assert "no AWS credentials found" in describe(boto.NoCredentialsError())
    remote = describe(boto.EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com"))
    assert remote == (
        "cannot reach https://dynamodb.eu-west-1.amazonaws.com: check your network connection and the region"
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    local = describe(boto.EndpointConnectionError(endpoint_url="http://127.0.0.1:4566/"))
    assert local == "the local cloud at http://127.0.0.1:4566/ does not answer: start it with `pipeline local start`"


@click.group(cls=ErrorBoundary)
@click.option("--debug", is_flag=True)
def demo(debug: bool) -> None:
    """A group with the boundary, to raise what a command could raise."""


@demo.command()
def scan() -> None:
    _scan_missing_table()


@demo.command()
def bug() -> None:
    raise KeyError("cursor")


def _run(*args: str, **env: str) -> Any:
    return CliRunner().invoke(demo, list(args), env=env)


def test_the_boundary_prints_one_line_and_exits_1(local: None) -> None:
    result = _run("scan")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: AWS dynamodb Scan on table")
    assert "Traceback" not in result.stderr + result.stdout


def test_debug_shows_the_traceback(local: None) -> None:
    assert isinstance(_run("--debug", "scan").exception, boto.ClientError)
    assert isinstance(_run("scan", PIPELINE_DEBUG="1").exception, boto.ClientError)


def test_an_unexpected_error_is_one_line_that_asks_for_a_report(local: None) -> None:
    result = _run("bug")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: unexpected KeyError: 'cursor' (a bug: run again with --debug for the traceback, and report it)"
    )


def test_the_pipeline_command_has_the_boundary_and_the_debug_flag() -> None:
    assert isinstance(cli, ErrorBoundary)
    assert "--debug" in CliRunner().invoke(cli, ["--help"]).output


def test_a_real_client_error_from_an_unreachable_local_cloud_is_one_line(local: None) -> None:
    """No stub: botocore's own error for a local endpoint nobody listens on (port 9, discard, is never served)."""
    config = Config(retries={"max_attempts": 1}, connect_timeout=2)
    client = boto3.client("sts", endpoint_url="http://127.0.0.1:9", region_name="us-east-1", config=config)
    with pytest.raises(boto.EndpointConnectionError) as raised:
        client.get_caller_identity()
    assert describe(raised.value).startswith("the local cloud at http://127.0.0.1:9/ does not answer")
