"""One object key, one current output: a newer upload of the same key replaces the older job's output files.

Each object key has a `LATEST` item in the jobs table naming the job of its newest completed version, in
S3's own event order (the notification `sequencer`). When a job completes, it takes that place unless a
newer version already holds it; the job that loses has its output files deleted and is marked
`superseded_by` the winner, so Athena never counts both versions of a file.
"""

from __future__ import annotations

import hashlib
from typing import Any

from botocore.exceptions import ClientError

from pipeline import aws
from pipeline.jobs.store import JobStore, now_iso

LATEST_ITEM = "LATEST"


def object_item_id(bucket: str, key: str) -> str:
    """The jobs-table partition of an object key's `LATEST` item."""
    return "OBJECT#" + hashlib.sha256(f"{bucket}\n{key}".encode()).hexdigest()[:24]


def arrival_order(job: dict[str, Any]) -> str:
    """A string that sorts uploads of one key in S3's event order, as DynamoDB compares strings (bytewise).

    S3's rule for two sequencers of one key: "first right pad the shorter value with zeros, and then do a
    lexicographical comparison". Zero is the lowest hex digit, so that is the same as dropping trailing zeros
    and comparing what is left with a prefix sorting first; the space after it sorts below every digit, so
    the event time and job id that break ties never change that order. The leading `r` sorts above the
    left-padded strings stored before (all digits), so the first job to settle a key after the change wins.
    """
    sequencer = str(job.get("sequencer") or "").upper().rstrip("0")
    return f"r {sequencer} {job.get('event_time') or ''} {job['job_id']}"


def _claim_latest(store: JobStore, job: dict[str, Any]) -> tuple[str | None, str | None]:
    """Make ``job`` the key's latest; return (the job it displaced, None) or (None, the newer job that holds it)."""
    ddb = aws.client("dynamodb")
    key = {"job_id": {"S": object_item_id(job["bucket"], job["key"])}, "item": {"S": LATEST_ITEM}}
    order = arrival_order(job)
    try:
        old = ddb.update_item(
            TableName=store.table,
            Key=key,
            UpdateExpression="SET latest_job = :job, latest_order = :order, #k = :key, updated_at = :now",
            ConditionExpression="attribute_not_exists(latest_order) OR latest_order <= :order",
            ExpressionAttributeNames={"#k": "key"},
            ExpressionAttributeValues={
                ":job": {"S": job["job_id"]},
                ":order": {"S": order},
                ":key": {"S": job["key"]},
                ":now": {"S": now_iso()},
            },
            ReturnValues="ALL_OLD",
        ).get("Attributes", {})
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        holder = ddb.get_item(TableName=store.table, Key=key, ConsistentRead=True)["Item"]["latest_job"]["S"]
        return None, holder
    displaced = old.get("latest_job", {}).get("S")
    return (displaced if displaced != job["job_id"] else None), None


def retire(store: JobStore, job_id: str, winner: str, results_bucket: str) -> int:
    """Delete a superseded job's output files and mark it; return how many files were deleted."""
    keys = store.output_keys(job_id)
    s3 = aws.client("s3")
    for i in range(0, len(keys), 1000):
        s3.delete_objects(
            Bucket=results_bucket, Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True}
        )
    store.update_job(job_id, {"superseded_by": winner, "superseded_at": now_iso(), "outputs_deleted": len(keys)})
    return len(keys)


def settle_latest(store: JobStore, job: dict[str, Any], results_bucket: str) -> dict[str, Any]:
    """After ``job`` completed: keep only the newest version's output of its key; return the job as it stands."""
    displaced, newer = _claim_latest(store, job)
    if newer:
        retire(store, job["job_id"], newer, results_bucket)
        return store.get(job["job_id"]) or job
    if displaced:
        retire(store, displaced, job["job_id"], results_bucket)
    return job


def complete(store: JobStore, job_id: str, results_bucket: str) -> dict[str, Any]:
    """Settle the key's latest version, then mark the job COMPLETE: once a job reads COMPLETE, the output
    it superseded is already gone."""
    settle_latest(store, store.get(job_id) or {"job_id": job_id}, results_bucket)
    return store.finish(job_id)
