"""No upload without a job: a burst of uploads all finish, and `pipeline sweep` gives a version whose notification
was lost, or whose processor was killed, a job, once; a late original notification changes nothing."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from pipeline.runtime.jobs import JobStore
from pipeline.tools.sample import write_orders
from pipeline.tools.sample.orders import HEADER
from tests.e2e.conftest import (
    assert_reconciled,
    athena_count,
    job_output_keys,
    output_rows,
    records_for_job,
    unique_prefix,
    wait_job,
)

pytestmark = pytest.mark.e2e

BURST = int(os.environ.get("E2E_BURST_FILES", "160"))
FINISHED = ("COMPLETE", "FAILED")
IDS = "order_id BETWEEN %(lo)s AND %(hi)s"


def _cli(*args: str) -> dict[str, Any]:
    from click.testing import CliRunner

    from pipeline.tools.cli.main import cli

    result = CliRunner().invoke(cli, [*args, "--stage", "e2e", "--json"], env={"PIPELINE_LOCAL": "1"})
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def _since() -> str:
    """A `--since` just before the next upload (S3 keeps LastModified to the second)."""
    return (datetime.now(UTC) - timedelta(seconds=2)).isoformat()


def _ids(start_id: int, rows: int) -> dict[str, str]:
    return {"lo": f"ORD-{start_id:08d}", "hi": f"ORD-{start_id + rows - 1:08d}"}


def _wait_all(store: JobStore, uploads: list[tuple[str, str]], stall: float = 240) -> dict[str, dict[str, Any]]:
    """The job of every (key, version) once all are finished; fails when nothing moved on for ``stall`` s."""
    last, moved = -1, time.monotonic()
    while True:
        jobs = {(j.get("key"), j.get("version_id")): j for j in store.jobs()}
        found = {u: jobs.get(u) for u in uploads}
        done = sum(1 for j in found.values() if j and j.get("status") in FINISHED)
        if done == len(uploads):
            return {key: job for (key, _), job in found.items() if job}
        if done != last:
            last, moved = done, time.monotonic()
        if time.monotonic() - moved > stall:
            states = Counter(str(job.get("status")) if job else "NO JOB" for job in found.values())
            pytest.fail(f"{len(uploads) - done} of {len(uploads)} uploads never finished: {dict(states)}")
        time.sleep(2)


def test_a_burst_of_uploads_ends_with_every_version_finished_and_nothing_to_sweep(
    stack: dict[str, str], aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    """Issue 12, finding 1: 175 uploads at once left 98 without a job and 15 stuck in RECEIVED."""
    prefix, s3 = unique_prefix(), aws_clients["s3"]
    plan: list[tuple[str, bytes, dict[str, int] | None]] = []
    for i in range(BURST):
        key = f"orders/{prefix}/burst-{i:03d}.csv"
        path = tmp_path / f"{i}.csv"
        if i % 40 == 39:  # a file that fails, with a reason
            plan.append((key, (",".join(HEADER) + "\n").encode(), None))
            continue
        rows, start_id = (12_000, 41_000_000 + i * 20_000) if i in (10, 90) else (40, 40_000_000 + i * 100)
        counts = write_orders(path, rows, seed=500 + i, start_id=start_id)
        plan.append((key, path.read_bytes(), counts))
    since = _since()

    def put(entry: tuple[str, bytes, Any]) -> tuple[str, str]:
        return entry[0], s3.put_object(Bucket=stack["IngestBucket"], Key=entry[0], Body=entry[1])["VersionId"]

    started = time.monotonic()
    with ThreadPoolExecutor(32) as pool:  # all at once
        uploads = list(pool.map(put, plan))
    uploaded = time.monotonic() - started
    jobs = _wait_all(JobStore(stack["JobsTable"]), uploads)
    print(f"\n{BURST} uploads in {uploaded:.1f}s, every job finished {time.monotonic() - started:.1f}s after the first")

    for key, _, counts in plan:
        job = jobs[key]
        if counts is None:
            assert job["status"] == "FAILED" and job["error"] == "EmptyFile", job
            assert "header but no rows" in job["cause"], job
        else:
            assert job["status"] == "COMPLETE", job
            assert (job["rows_valid"], job["rows_rejected"]) == (counts["valid"], counts["invalid"]), job
    paged = [jobs[key] for key, _, counts in plan if counts and counts["valid"] + counts["invalid"] > 1000]
    assert [j["mode"] for j in paged] == ["paged", "paged"]
    for job in paged:
        assert_reconciled(stack, job["job_id"])
    valid = sum(c["valid"] for _, _, c in plan if c)
    assert athena_count(stack, IDS, {"lo": "ORD-40000000", "hi": "ORD-42999999"}) == valid  # DuckDB over S3

    assert _cli("sweep", "--dataset", "orders", "--since", since, "--older-than", "0")["swept"] == []
    for queue in ("UploadsDeadLetterQueueUrl", "InventoryDeadLetterQueueUrl"):
        attributes = aws_clients["sqs"].get_queue_attributes(
            QueueUrl=stack[queue], AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == "0", queue


# ------------------------------------------------------------------ lost and killed deliveries


@contextmanager
def held_deliveries(stack: dict[str, str], sqs: Any) -> Iterator[Callable[[str], dict[str, str]]]:
    """Stop the event source mappings of the uploads and inventory queues; yield `take(key)`, which removes the
    queued notifications of ``key`` from both queues and returns their bodies; start the mappings again."""
    lam = boto3.client(
        "lambda",
        endpoint_url=stack["Endpoint"],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    mappings = [
        m["UUID"]
        for function in ("UploadFunction", "InventoryFunction")
        for m in lam.list_event_source_mappings(FunctionName=stack[function])["EventSourceMappings"]
    ]
    assert len(mappings) == 2, mappings

    def take(key: str) -> dict[str, str]:
        bodies: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while len(bodies) < 2:
            assert time.monotonic() < deadline, f"the notification of {key} never reached the queues: {bodies}"
            for queue in ("UploadsQueueUrl", "InventoryQueueUrl"):
                for message in sqs.receive_message(QueueUrl=stack[queue], MaxNumberOfMessages=10).get("Messages", []):
                    if [r.key for r in _refs(message["Body"])] == [key]:
                        bodies[queue] = message["Body"]
                    sqs.delete_message(QueueUrl=stack[queue], ReceiptHandle=message["ReceiptHandle"])
            time.sleep(0.5)
        return bodies

    for uuid in mappings:
        lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    time.sleep(2)  # a poll pass already under way finishes first
    try:
        yield take
    finally:
        for uuid in mappings:
            lam.update_event_source_mapping(UUID=uuid, Enabled=True)


def _upload_unannounced(
    stack: dict[str, str],
    aws_clients: dict[str, Any],
    tmp_path: Path,
    start_id: int,
    rows: int = 1_500,
    key: str | None = None,
) -> tuple[str, str, dict[str, int], dict[str, str]]:
    """Upload a file whose notifications are taken out of both queues: no job will ever see it by itself."""
    path = tmp_path / f"{start_id}-unannounced.csv"
    counts = write_orders(path, rows, seed=start_id % 1000 + 1, start_id=start_id)
    key = key or f"orders/{unique_prefix()}/unannounced.csv"
    with held_deliveries(stack, aws_clients["sqs"]) as take:
        version = aws_clients["s3"].put_object(Bucket=stack["IngestBucket"], Key=key, Body=path.read_bytes())
        bodies = take(key)
    return key, str(version["VersionId"]), counts, bodies


def _refs(body: str) -> list[Any]:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from pipeline.runtime.arrival.events import objects_from_sqs

    return objects_from_sqs(SQSRecord({"messageId": "m", "body": body, "attributes": {}}))


def _ref(body: str) -> Any:
    [ref] = _refs(body)
    return ref


def _snapshot(stack: dict[str, str], aws_clients: dict[str, Any], job_id: str) -> tuple[Any, ...]:
    job = JobStore(stack["JobsTable"]).get(job_id) or {}
    keys = job_output_keys(stack, job_id)
    items = records_for_job(aws_clients, stack, job_id)
    return (
        job["status"],
        job["rows_valid"],
        job["rows_rejected"],
        keys,
        output_rows(aws_clients, stack["ResultsBucket"], keys),
        len(items),
    )


def _drained(sqs: Any, stack: dict[str, str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    while any(
        int(v)
        for queue in ("UploadsQueueUrl", "InventoryQueueUrl")
        for v in sqs.get_queue_attributes(QueueUrl=stack[queue], AttributeNames=names)["Attributes"].values()
    ):
        assert time.monotonic() < deadline, "the queues were not drained"
        time.sleep(0.5)
    time.sleep(2)  # the last invocation's writes land


def test_sweep_gives_a_version_whose_notification_was_lost_one_job_and_a_late_notification_changes_nothing(
    stack: dict[str, str], aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    store, key = JobStore(stack["JobsTable"]), f"orders/{unique_prefix()}/daily.csv"
    first_path = tmp_path / "first.csv"  # the key's first version arrives normally
    write_orders(first_path, 1_500, seed=41, start_id=42_000_000)
    aws_clients["s3"].put_object(Bucket=stack["IngestBucket"], Key=key, Body=first_path.read_bytes())
    first_job = wait_job(stack, key, timeout=300)
    assert first_job["status"] == "COMPLETE" and first_job.get("sequencer")

    since = _since()  # its second version's notification is lost
    _, version, counts, bodies = _upload_unannounced(stack, aws_clients, tmp_path, 42_000_000, key=key)
    ref = _ref(bodies["UploadsQueueUrl"])
    assert store.get(ref.job_id) is None  # really lost: nothing knows about this version

    first = _cli("sweep", "--dataset", "orders", "--since", since, "--older-than", "0")["swept"]
    assert [(s["key"], s["version_id"], s["reason"], s["job_id"]) for s in first] == [
        (key, version, "no job", ref.job_id)
    ]
    assert _cli("sweep", "--dataset", "orders", "--since", since, "--older-than", "0")["swept"] == []  # idempotent

    from pipeline.tools.cli import ops

    job = ops.wait_for(stack, [{"key": key, "version_id": version}], lambda jobs: None, timeout=300)[0]
    assert (job["job_id"], job["status"], job["sweeps"]) == (ref.job_id, "COMPLETE", 1), job
    assert "sequencer" not in job  # swept: S3's listing of the key's versions ordered it after the first
    assert (store.get(first_job["job_id"]) or {}).get("superseded_by") == ref.job_id
    assert (job["rows_valid"], job["rows_rejected"]) == (counts["valid"], counts["invalid"])
    assert assert_reconciled(stack, job["job_id"])["key_newest_complete"] == ref.job_id
    ids = _ids(42_000_000, 1_500)
    assert athena_count(stack, IDS, ids) == counts["valid"]  # the second version's rows only
    before = _snapshot(stack, aws_clients, job["job_id"])

    for queue, body in bodies.items():  # the original notification turns up after all
        aws_clients["sqs"].send_message(QueueUrl=stack[queue], MessageBody=body)
    _drained(aws_clients["sqs"], stack)
    assert sorted(j["job_id"] for j in store.jobs() if j.get("key") == key) == sorted([first_job["job_id"], ref.job_id])
    assert _snapshot(stack, aws_clients, job["job_id"]) == before
    assert athena_count(stack, IDS, ids) == counts["valid"]
    assert (store.get(ref.job_id) or {}).get("sequencer") == ref.sequencer  # recorded by the late inventory
    assert _cli("sweep", "--dataset", "orders", "--since", since, "--older-than", "0")["swept"] == []


def _as_if_killed_mid_file(store: JobStore, ref: Any, minutes_ago: int = 60) -> None:
    """The job as a processor leaves it when it is killed (out of memory) after claiming it."""
    then = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(timespec="milliseconds")
    store.update_job(
        ref.job_id,
        {**ref.arrival_fields(), "dataset": "orders", "status": "PROCESSING", "started_at": then, "received_at": then},
        add={"attempts": 1},
    )


def test_sweep_redrives_an_inline_job_whose_processor_was_killed_mid_file(
    stack: dict[str, str], aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    since = _since()
    key, version, counts, bodies = _upload_unannounced(stack, aws_clients, tmp_path, 42_100_000)
    store = JobStore(stack["JobsTable"])
    ref = _ref(bodies["UploadsQueueUrl"])
    _as_if_killed_mid_file(store, ref)

    swept = _cli("sweep", "--dataset", "orders", "--since", since)["swept"]  # the default deadline: 30 minutes
    assert [(s["key"], s["version_id"], s["reason"]) for s in swept] == [(key, version, "PROCESSING stopped")]
    job = wait_job(stack, key, timeout=300)
    assert (job["job_id"], job["status"], job["attempts"]) == (ref.job_id, "COMPLETE", 2), job
    assert job["rows_valid"] == counts["valid"]
    assert_reconciled(stack, job["job_id"])
    assert athena_count(stack, IDS, _ids(42_100_000, 1_500)) == counts["valid"]


def test_an_upload_that_fails_every_delivery_fails_its_job_with_a_reason_and_redrives(
    stack: dict[str, str], aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    since = _since()
    _, _, counts, bodies = _upload_unannounced(stack, aws_clients, tmp_path, 42_200_000)
    store = JobStore(stack["JobsTable"])
    ref = _ref(bodies["UploadsQueueUrl"])
    _as_if_killed_mid_file(store, ref, minutes_ago=1)
    # what the uploads queue does after the last delivery (UploadMaxReceives) of a killed invocation
    aws_clients["sqs"].send_message(QueueUrl=stack["UploadsDeadLetterQueueUrl"], MessageBody=bodies["UploadsQueueUrl"])

    deadline = time.monotonic() + 120
    while (job := store.get(ref.job_id) or {}).get("status") != "FAILED":
        assert time.monotonic() < deadline, f"the dead-letter consumer never failed the job: {job}"
        time.sleep(1)
    assert job["error"] == "UploadNotProcessed", job
    assert "started it 1 time and never finished" in job["cause"], job
    assert f"pipeline redrive {ref.job_id}" in job["cause"], job
    assert _cli("sweep", "--dataset", "orders", "--since", since, "--older-than", "0")["swept"] == []

    report = _cli("redrive", ref.job_id[:12], "--wait")
    assert report["redriven"][0]["action"] == "reprocessed", report
    job = store.get(ref.job_id) or {}
    assert job["status"] == "COMPLETE" and job["rows_valid"] == counts["valid"], job
    assert "error" not in job and "cause" not in job, job
    assert_reconciled(stack, ref.job_id)
