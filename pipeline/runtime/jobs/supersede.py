"""One object key, one current output: a newer upload of the same key replaces the older jobs' output files.

Each object key has a `LATEST` item in the jobs table naming the job of its newest completed version. When a
job completes, it takes that place unless a newer version already holds it; the job that loses has its output
files deleted and is marked `superseded_by` the winner, so Athena never counts two versions of a file.
A job that fails after writing part of its output (the pages that finished) is remembered on the same item
(`failed_jobs`) until a newer version completes and retires that output too; a job that fails after a newer
version completed retires its own output at once.

Newer means S3's order of the key's versions: `is_newer` is the one place that decides it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from botocore.exceptions import ClientError

from pipeline.runtime import aws
from pipeline.runtime.jobs.model import JobStatus
from pipeline.runtime.jobs.store import JobStore, now_iso
from pipeline.runtime.messages import JobItem

LATEST_ITEM = "LATEST"
_CLAIM_ATTEMPTS = 20


def object_item_id(bucket: str, key: str) -> str:
    """The jobs-table partition of an object key's `LATEST` item."""
    return "OBJECT#" + hashlib.sha256(f"{bucket}\n{key}".encode()).hexdigest()[:24]


def arrival_order(job: JobItem) -> str:
    """A string that sorts uploads of one key in S3's event order, as DynamoDB compares strings (bytewise).

    S3's rule for two sequencers of one key: "first right pad the shorter value with zeros, and then do a
    lexicographical comparison". Zero is the lowest hex digit, so that is the same as dropping trailing zeros
    and comparing what is left with a prefix sorting first; the space after it sorts below every digit, so
    the event time and job id that break ties never change that order. The leading `r` sorts above the
    left-padded strings stored before (all digits), so the first job to settle a key after the change wins.
    """
    sequencer = str(job.get("sequencer") or "").upper().rstrip("0")
    return f"r {sequencer} {job.get('event_time') or ''} {job['job_id']}"


def version_positions(bucket: str, key: str) -> dict[str, int]:
    """The key's object versions in S3's own order, newest first: version id -> position (0 is the newest)."""
    positions: dict[str, int] = {}
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": key}
    s3 = aws.client("s3")
    while True:
        page = s3.list_object_versions(**kwargs)
        for version in page.get("Versions", []):  # sorted by key, each key's versions newest first
            if version["Key"] == key:
                positions.setdefault(version["VersionId"], len(positions))
        listed = [v["Key"] for v in (*page.get("Versions", []), *page.get("DeleteMarkers", []))]
        if not page.get("IsTruncated") or any(k > key for k in listed):
            return positions
        kwargs.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page.get("NextVersionIdMarker", ""))


def is_newer(job: JobItem, other: JobItem) -> bool:
    """True when ``job`` is a later upload of its key than ``other``.

    Two jobs that came from S3 notifications compare by their event sequencers (`arrival_order`). A job
    handed over by `pipeline sweep` has no sequencer until its own notification arrives; then S3's listing of
    the key's versions (newest first) decides, which is the same order.
    """
    if job.get("sequencer") and other.get("sequencer"):
        return arrival_order(job) > arrival_order(other)
    positions = version_positions(job["bucket"], job["key"])
    mine, theirs = positions.get(str(job.get("version_id"))), positions.get(str(other.get("version_id")))
    if mine is not None and theirs is not None and mine != theirs:
        return mine < theirs
    if (mine is None) != (theirs is None):  # a version deleted from the bucket counts as the older one
        return mine is not None
    return arrival_order(job) > arrival_order(other)


def _latest_key(job: JobItem) -> dict[str, Any]:
    return {"job_id": {"S": object_item_id(job["bucket"], job["key"])}, "item": {"S": LATEST_ITEM}}


def latest_holder(store: JobStore, bucket: str, key: str) -> str | None:
    """The job holding the object key's `LATEST` item (its newest completed version), if any."""
    item = aws.client("dynamodb").get_item(
        TableName=store.table, Key=_latest_key({"bucket": bucket, "key": key}), ConsistentRead=True
    )
    return item.get("Item", {}).get("latest_job", {}).get("S")


def _claim_latest(store: JobStore, job: JobItem) -> tuple[str | None, str | None, set[str]]:
    """Make ``job`` the key's latest.

    Returns (the job it displaced, None, the key's failed jobs) or (None, the newer job that holds it, {}).
    The claim is conditional on the holder read before it, so two completions never both win.
    """
    ddb = aws.client("dynamodb")
    key, job_id = _latest_key(job), job["job_id"]
    for _ in range(_CLAIM_ATTEMPTS):
        item = ddb.get_item(TableName=store.table, Key=key, ConsistentRead=True).get("Item", {})
        holder = item.get("latest_job", {}).get("S")
        if holder and holder != job_id and not is_newer(job, store.get(holder) or {"job_id": holder}):
            return None, holder, set()
        values = {
            ":job": {"S": job_id},
            ":order": {"S": arrival_order(job)},
            ":key": {"S": job["key"]},
            ":now": {"S": now_iso()},
            ":self": {"SS": [job_id]},
        }
        if holder:
            values[":holder"] = {"S": holder}
        try:
            new = ddb.update_item(
                TableName=store.table,
                Key=key,
                UpdateExpression=(
                    "SET latest_job = :job, latest_order = :order, #k = :key, updated_at = :now "
                    "DELETE failed_jobs :self"
                ),
                ConditionExpression="latest_job = :holder" if holder else "attribute_not_exists(latest_job)",
                ExpressionAttributeNames={"#k": "key"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if aws.error_code(exc) != "ConditionalCheckFailedException":
                raise
            continue  # another completion moved the holder: read it again
        failed = set(new.get("failed_jobs", {}).get("SS", [])) - {job_id}
        return (holder if holder != job_id else None), None, failed
    raise RuntimeError(f"could not settle the latest version of {job['key']} after {_CLAIM_ATTEMPTS} attempts")


def _forget_failed(store: JobStore, job: JobItem, failed_id: str) -> None:
    aws.client("dynamodb").update_item(
        TableName=store.table,
        Key=_latest_key(job),
        UpdateExpression="DELETE failed_jobs :f",
        ExpressionAttributeValues={":f": {"SS": [failed_id]}},
    )


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


def settle_latest(store: JobStore, job: JobItem, results_bucket: str) -> JobItem:
    """After ``job`` completed: keep only the newest version's output of its key; return the job as it stands."""
    displaced, newer, failed = _claim_latest(store, job)
    if newer:
        retire(store, job["job_id"], newer, results_bucket)
        return store.get(job["job_id"]) or job
    if displaced:
        retire(store, displaced, job["job_id"], results_bucket)
    for failed_id in sorted(failed):  # partial output of older versions that failed
        older = store.get(failed_id)
        if older and older.get("status") == JobStatus.FAILED and is_newer(job, older):
            retire(store, failed_id, job["job_id"], results_bucket)
            _forget_failed(store, job, failed_id)
    return job


def settle_failed(store: JobStore, job: JobItem, results_bucket: str) -> JobItem:
    """After ``job`` failed: retire the output it left if a newer version of its key has completed, else
    remember it on the key so that the next newer version to complete retires it; return the job."""
    if not job.get("bucket") or not store.output_keys(job["job_id"]):
        return job
    item = aws.client("dynamodb").update_item(
        TableName=store.table,
        Key=_latest_key(job),
        UpdateExpression="SET #k = :key ADD failed_jobs :self",
        ExpressionAttributeNames={"#k": "key"},
        ExpressionAttributeValues={":key": {"S": job["key"]}, ":self": {"SS": [job["job_id"]]}},
        ReturnValues="ALL_NEW",
    )["Attributes"]
    holder = item.get("latest_job", {}).get("S")
    if holder and holder != job["job_id"]:
        winner = store.get(holder)
        if winner and is_newer(winner, job):
            retire(store, job["job_id"], holder, results_bucket)
            _forget_failed(store, job, job["job_id"])
            return store.get(job["job_id"]) or job
    return job


def complete(store: JobStore, job_id: str, results_bucket: str, job: JobItem | None = None) -> JobItem:
    """Settle the key's latest version, then mark the job COMPLETE: once a job reads COMPLETE, the output
    it superseded is already gone. ``job``: the job item as the caller last wrote it (saves reading it)."""
    settle_latest(store, job or store.get(job_id) or {"job_id": job_id}, results_bucket)
    return store.finish(job_id)


def fail(
    store: JobStore, job_id: str, error: str, cause: str, results_bucket: str, extra: dict[str, Any] | None = None
) -> JobItem:
    """Mark the job FAILED with a readable error and cause, then settle the output it may have left."""
    return settle_failed(store, store.fail(job_id, error, cause, extra), results_bucket)
