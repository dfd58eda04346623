"""botocore's own errors, raised by real clients with nothing stubbed, become one line naming the call.

A user without a region or credentials runs `pipeline outputs --stage prod`: the boundary prints one line that
says which service and operation failed and what to do; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore import exceptions as boto
from click.testing import CliRunner

from pipeline.runtime import aws
from pipeline.tools.cli.errors import describe
from pipeline.tools.cli.main import cli


@pytest.fixture
def bare(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """No region, no credentials, no metadata service: a machine where AWS was never configured.

    `--region` and `--profile` set the process's variables (`pipeline.tools.cli.target.resolve`): all are put back."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("AWS_", "PIPELINE_")):
            monkeypatch.delenv(name)
    (tmp_path / "config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(aws, "_recent", None)
    aws.remember_calls()
    yield monkeypatch
    os.environ.clear()
    os.environ.update(saved)
    aws.reset()


def test_no_region_names_the_client_and_the_remedy(bare: pytest.MonkeyPatch) -> None:
    with pytest.raises(boto.NoRegionError) as raised:
        aws.client("dynamodb")
    assert describe(raised.value) == (
        "AWS dynamodb client: no AWS region is set: pass --region, or set AWS_DEFAULT_REGION "
        "(or a region in your AWS profile)"
    )


def test_no_credentials_names_the_operation_and_the_resource(bare: pytest.MonkeyPatch) -> None:
    bare.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with pytest.raises(boto.NoCredentialsError) as raised:
        aws.client("dynamodb").scan(TableName="pipeline-prod-jobs")
    assert describe(raised.value) == (
        "AWS dynamodb Scan on table pipeline-prod-jobs failed: no AWS credentials found: "
        "run `aws configure` or `aws sso login`, or set AWS_PROFILE"
    )


def test_an_unreachable_endpoint_names_the_operation(bare: pytest.MonkeyPatch) -> None:
    bare.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    bare.setenv("AWS_ACCESS_KEY_ID", "test")
    bare.setenv("AWS_SECRET_ACCESS_KEY", "test")
    bare.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9")  # discard: nobody listens
    bare.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(boto.EndpointConnectionError) as raised:
        aws.client("sqs").get_queue_url(QueueName="pipeline-prod-pages")
    assert describe(raised.value) == (
        "AWS sqs GetQueueUrl on queue pipeline-prod-pages failed: cannot reach http://127.0.0.1:9/: "
        "check your network connection and the region"
    )


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        (None, "error: AWS cloudformation client: no AWS region is set"),
        ("eu-west-1", "error: AWS cloudformation DescribeStacks on stack pipeline-prod failed: no AWS credentials"),
    ],
)
def test_the_cli_prints_one_line_and_debug_the_traceback(
    bare: pytest.MonkeyPatch, region: str | None, expected: str
) -> None:
    if region:
        bare.setenv("AWS_DEFAULT_REGION", region)
    args = ["outputs", "--stage", "prod"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and result.stderr.startswith(expected), result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    debug = CliRunner().invoke(cli, ["--debug", *args])
    assert isinstance(debug.exception, boto.NoRegionError | boto.NoCredentialsError)


def test_region_and_profile_options_reach_botocore(bare: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`--region` on the command (or its group) replaces a missing region; `--profile` picks the profile."""
    result = CliRunner().invoke(cli, ["jobs", "show", "abc", "--stage", "prod", "--region", "eu-west-1"])
    assert result.stderr.startswith("error: AWS cloudformation DescribeStacks on stack pipeline-prod failed: no AWS"), (
        result.output
    )
    grouped = CliRunner().invoke(cli, ["jobs", "--stage", "prod", "--region", "eu-west-1", "show", "abc"])
    assert grouped.stderr == result.stderr
    missing = CliRunner().invoke(cli, ["outputs", "--stage", "prod", "--profile", "nobody"])
    assert missing.exit_code == 1 and "nobody" in missing.stderr and "--profile" in missing.stderr, missing.output
