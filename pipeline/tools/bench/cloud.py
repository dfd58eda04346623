"""A private local cloud for one benchmark run: fresh state, a free port, every Lambda's AWS calls logged."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.runtime.aws import CALL_LOG_ENV
from pipeline.tools.cli import ops
from pipeline.tools.cli.target import Cloud
from pipeline.tools.local import LocalCloud

STAGE = "bench"


@dataclass(frozen=True)
class BenchCloud:
    """The deployed bench stage: its cloud, stack outputs and the file its Lambdas log their AWS calls to."""

    cloud: Cloud
    outputs: dict[str, str]
    call_log: Path
    start_s: float = 0.0  # the first start, with an empty state

    @property
    def local(self) -> LocalCloud:
        assert self.cloud.local
        return self.cloud.local


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def private_cloud(
    workdir: Path, progress: Callable[[str], None], *, keep: bool = False, parameters: dict[str, str] | None = None
) -> Iterator[BenchCloud]:
    """Start MiniStack in a fresh state dir with `PIPELINE_CALL_LOG` set (its Lambda workers inherit it),
    deploy the `bench` stage with ``parameters``, yield it, and stop it (deleting its state unless ``keep``).

    Nothing else shares this cloud, so request counts, timings and the Athena table hold this run only.
    """
    state = Path(tempfile.mkdtemp(prefix="pipeline-bench-", dir=os.environ.get("PIPELINE_BENCH_TMP")))
    call_log = workdir / "calls.jsonl"
    call_log.unlink(missing_ok=True)
    local = LocalCloud(state, _free_port())
    local.activate()
    previous = os.environ.get(CALL_LOG_ENV)
    os.environ[CALL_LOG_ENV] = str(call_log.resolve())
    started = time.perf_counter()
    try:  # only the server gets the variable: this process's own calls (polling, deploy) stay out of the log
        local.start()
        start_s = round(time.perf_counter() - started, 2)
    finally:
        if previous is None:
            os.environ.pop(CALL_LOG_ENV, None)
        else:
            os.environ[CALL_LOG_ENV] = previous
    try:
        progress(f"private local cloud at {local.endpoint} (state in {state})")
        cloud = Cloud(STAGE, local)
        outputs = ops.deploy(cloud, parameters or {}, progress)
        yield BenchCloud(cloud, {"Endpoint": local.endpoint, **outputs}, call_log, start_s)
    finally:
        local.stop(force=not keep)  # a state that is deleted next need not be saved first
        if not keep:
            shutil.rmtree(state, ignore_errors=True)


@contextmanager
def scratch_table(prefix: str) -> Iterator[str]:
    """A fresh on-demand table keyed by `pk` for a reference run; deleted afterwards, whatever happens."""
    from pipeline.runtime import aws

    ddb = aws.client("dynamodb")
    table = f"{prefix}-{int(time.time())}"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    try:
        yield table
    finally:
        ddb.delete_table(TableName=table)
