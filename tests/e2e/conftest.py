"""One local cloud for the end-to-end suite, with the stack deployed from the real template."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from pipeline.runtime.aws import CALL_LOG_ENV
from pipeline.tools.cli import ops
from pipeline.tools.cli.target import Cloud
from pipeline.tools.local import LocalCloud
from pipeline.tools.local.server import recorded_port
from pipeline.tools.sample import write_orders

# Small pages so that modest files exercise the paging path.
E2E_PARAMETERS = {"PageRows": "5000", "InlineMaxBytes": "300000", "PagesPerIteration": "10", "PageMaxReceives": "2"}
CALL_LOG = "aws-calls.jsonl"  # in the cloud's state dir


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """test_permissions judges the AWS calls of every other test, so it runs last (a stable sort keeps the rest)."""
    items.sort(key=lambda item: item.path.name == "test_permissions.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    state = Path(os.environ.get("E2E_STATE_DIR") or tmp_path_factory.mktemp("local-cloud"))
    cloud = LocalCloud(state, int(os.environ.get("E2E_PORT") or recorded_port(state) or _free_port()))
    os.environ["PIPELINE_STATE_DIR"] = str(state)
    os.environ["PIPELINE_LOCAL_PORT"] = str(cloud.port)
    # every handler's AWS calls, for test_permissions: the server and its Lambda workers inherit the variable,
    # which is then dropped so that a private cloud a test starts does not write into this cloud's log
    (state / CALL_LOG).unlink(missing_ok=True)
    os.environ[CALL_LOG_ENV] = str(state / CALL_LOG)
    cloud.activate()
    cloud.start()
    del os.environ[CALL_LOG_ENV]
    yield cloud
    cloud.stop()


def deploy_stage(local_cloud: LocalCloud, stage: str, **overrides: str) -> dict[str, str]:
    """Deploy another stage into the session's local cloud (`E2E_PARAMETERS` plus ``overrides``); its outputs."""
    outs = ops.deploy(Cloud(stage, local_cloud), {**E2E_PARAMETERS, **overrides}, print)
    return outs | {"Endpoint": local_cloud.endpoint}


@pytest.fixture(scope="session")
def stack(local_cloud: LocalCloud) -> dict[str, str]:
    """Outputs of the `e2e` stage, deployed with `pipeline deploy --local` semantics."""
    cloud = Cloud("e2e", local_cloud)
    return ops.deploy(cloud, E2E_PARAMETERS, print) | {"Endpoint": local_cloud.endpoint}


@pytest.fixture(scope="session")
def aws_clients(local_cloud: LocalCloud) -> dict[str, Any]:
    """Plain boto3 clients pointed at the local cloud, as a user would create them."""
    kwargs = {
        "endpoint_url": local_cloud.endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
    names = ("s3", "dynamodb", "stepfunctions", "sns", "sqs", "glue", "athena")
    return {name: boto3.client(name, **kwargs) for name in names}


def run_cli(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """The installed `pipeline` command run as a user runs it, in a process of its own with ``env``."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("pipeline")), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli_ok(result: subprocess.CompletedProcess[str]) -> str:
    """The command's output, after checking that it succeeded without a traceback."""
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout


def unique_prefix() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


def wait_job(stack: dict[str, str], key: str, timeout: float = 900) -> dict[str, Any]:
    """The finished job of ``key``."""
    return ops.wait_for(stack, [{"key": key, "version_id": ""}], lambda jobs: None, timeout=timeout)[0]


def upload_orders(
    aws_clients: dict[str, Any],
    stack: dict[str, str],
    tmp_path: Path,
    rows: int,
    *,
    start_id: int,
    seed: int = 3,
    name: str = "orders.csv",
) -> tuple[str, dict[str, int]]:
    path = tmp_path / name
    counts = write_orders(path, rows, seed=seed, start_id=start_id)
    key = f"orders/{unique_prefix()}/{name}"
    aws_clients["s3"].put_object(Bucket=stack["IngestBucket"], Key=key, Body=path.read_bytes())
    return key, counts


def athena_count(stack: dict[str, str], where: str, params: dict[str, Any]) -> int:
    """count(*) through unmodified pyathena pointed at the local endpoint."""
    from pyathena import connect

    connection = connect(
        s3_staging_dir=stack["AthenaResultLocation"],
        region_name="us-east-1",
        endpoint_url=stack["Endpoint"],
        work_group=stack["AthenaWorkGroup"],
        schema_name=stack["GlueDatabase"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    cursor = connection.cursor()
    cursor.execute(f"SELECT count(*) FROM orders WHERE {where}", params)
    return int(cursor.fetchone()[0])


def records_for_job(aws_clients: dict[str, Any], stack: dict[str, str], job_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": stack["RecordsTable"],
        "FilterExpression": "job_id = :j",
        "ExpressionAttributeValues": {":j": {"S": job_id}},
    }
    while True:
        page = aws_clients["dynamodb"].scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def output_rows(aws_clients: dict[str, Any], bucket: str, keys: list[str]) -> int:
    total = 0
    for key in keys:
        body = aws_clients["s3"].get_object(Bucket=bucket, Key=key)["Body"].read()
        total += body.count(b"\n")
    return total


def job_output_keys(stack: dict[str, str], job_id: str) -> list[str]:
    """The job's output objects in the results bucket now: what its pages wrote or its compaction wrote in their
    place (`JobStore.output_keys` also names the page files a compaction deleted, for retiring; ADR 10)."""
    from pipeline.runtime.jobs import JobStore

    keys = JobStore(stack["JobsTable"]).output_keys(job_id)
    s3 = boto3.client(
        "s3", endpoint_url=stack["Endpoint"], region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test",
    )  # fmt: skip
    present: set[str] = set()
    for folder in sorted({key.rsplit("/", 1)[0] + f"/part-{job_id}-" for key in keys}):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack["ResultsBucket"], Prefix=folder):
            present.update(o["Key"] for o in page.get("Contents", []))
    return [key for key in keys if key in present]


def assert_reconciled(stack: dict[str, str], job_id: str) -> dict[str, int]:
    """`pipeline reconcile` agrees: input = valid + rejected, S3 rows = valid, DynamoDB holds every key."""
    from pipeline.tools.operate.reconcile import reconcile

    result = reconcile(job_id, stack["JobsTable"], stack["RecordsTable"], stack["ResultsBucket"])
    assert result.ok, result.problems
    return result.counts
