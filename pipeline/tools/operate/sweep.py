"""Compare the ingest bucket with the jobs table: every object version without a job, or with a job that
nothing will move on, is handed to processing again, idempotently.

A version is handed over by recording its job (as the inventory would) and sending its notification to the
uploads queue, the same way S3 and SNS deliver it; the job id comes from bucket, key and version id, so the
version's own notification, arriving late, is the same job and changes nothing. A job that a sweep handed
over is left alone for `HANDOVER_GRACE_S` at least, so a second sweep does nothing while the first works.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from botocore.exceptions import ClientError

from pipeline.runtime import aws
from pipeline.runtime.arrival.events import ObjectRef, sns_envelope
from pipeline.runtime.errors import PipelineError
from pipeline.runtime.jobs.model import JOB_ITEM, JobStatus
from pipeline.runtime.jobs.store import JobStore, now_iso
from pipeline.runtime.messages import JobItem
from pipeline.tools.operate.redrive import STUCK_AFTER_S, RedriveError, is_interrupted, redrive

DEFAULT_DEADLINE_S = STUCK_AFTER_S  # a claimed inline job is finished or dead by then
HANDOVER_GRACE_S = 300
_RELATIVE = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class Reason(StrEnum):
    """Why a version needs handing over again."""

    NO_JOB = "no job"
    NEVER_PROCESSED = "RECEIVED, never processed"
    PROCESSING_STOPPED = "PROCESSING stopped"
    EXECUTION_ENDED = "PAGING, its execution ended"


@dataclass(frozen=True)
class Stray:
    """One object version a sweep found, and what it did about it."""

    job_id: str
    key: str
    version_id: str
    reason: Reason
    status: str
    last_activity: str
    action: str = ""

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`--since`: an ISO 8601 date or time (UTC unless it says otherwise) or an age such as `90m`, `2h`, `7d`."""
    now = now or datetime.now(UTC)
    if match := _RELATIVE.match(text.strip()):
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise PipelineError(f"--since {text!r} is neither an ISO 8601 time nor an age like 30m, 2h or 7d") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def versions(bucket: str, prefix: str = "", since: datetime | None = None) -> Iterator[ObjectRef]:
    """Every object version in the bucket under ``prefix`` (delete markers skipped), modified at ``since`` or later."""
    paginator = aws.client("s3").get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            if since and version["LastModified"] < since:
                continue
            yield ObjectRef(
                bucket=bucket,
                key=version["Key"],
                size=int(version.get("Size") or 0),
                etag=version.get("ETag", "").strip('"'),
                version_id=version.get("VersionId"),
                sequencer=None,  # a listing has none; the version id identifies the upload
                event_time=_iso(version["LastModified"]),
            )


def _get_jobs(store: JobStore, job_ids: list[str]) -> dict[str, JobItem]:
    """The JOB items of ``job_ids`` (BatchGetItem, 100 at a time)."""
    from pipeline.runtime.jobs.store import _deserialize

    ddb = aws.client("dynamodb")
    found: dict[str, JobItem] = {}
    for i in range(0, len(job_ids), 100):
        keys = [{"job_id": {"S": j}, "item": {"S": JOB_ITEM}} for j in job_ids[i : i + 100]]
        request: dict[str, Any] = {store.table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            response = ddb.batch_get_item(RequestItems=request)
            for item in response["Responses"].get(store.table, []):
                job = cast(JobItem, _deserialize(item))
                found[job["job_id"]] = job
            request = response.get("UnprocessedKeys") or {}
    return found


def _jobs_by_version(store: JobStore) -> dict[tuple[str, str, str], JobItem]:
    """Every job by (bucket, key, version id): finds jobs whose id predates version-based job ids."""
    return {(j.get("bucket", ""), j.get("key", ""), str(j.get("version_id") or "")): j for j in store.jobs()}


def _last_activity(job: JobItem) -> str:
    fields = ("received_at", "inventoried_at", "started_at", "swept_at", "redriven_at", "updated_at")
    times = (job.get(f) for f in fields)
    return max((str(t) for t in times if t), default="")


def _stale(moment: str, deadline: datetime) -> bool:
    try:
        return datetime.fromisoformat(moment.replace("Z", "+00:00")) <= deadline
    except ValueError:
        return True


def _reason(job: JobItem | None, ref: ObjectRef, deadline: datetime, now: datetime) -> Reason | None:
    """Why ``ref`` needs handing over, or None when its job is finished or can still move on by itself."""
    if job is None:
        return Reason.NO_JOB if _stale(ref.event_time, deadline) else None
    status = job.get("status")
    if status in (JobStatus.COMPLETE, JobStatus.FAILED) or job.get("superseded_by"):
        return None
    handed_over = min(deadline, now - timedelta(seconds=HANDOVER_GRACE_S))
    if job.get("swept_at") and not _stale(str(job["swept_at"]), handed_over):  # a sweep handed it over just now
        return None
    if status == JobStatus.PAGING:
        return Reason.EXECUTION_ENDED if is_interrupted(job) else None
    if not _stale(_last_activity(job), deadline):
        return None
    return Reason.PROCESSING_STOPPED if status == JobStatus.PROCESSING else Reason.NEVER_PROCESSED


def find(
    outs: dict[str, str],
    *,
    dataset: str | None = None,
    since: datetime | None = None,
    older_than: float = DEFAULT_DEADLINE_S,
    now: datetime | None = None,
) -> list[tuple[ObjectRef, JobItem | None, Stray]]:
    """Every version (of ``dataset``, modified since ``since``) without a job, or whose job has not moved for
    ``older_than`` seconds (RECEIVED, PROCESSING) or whose execution ended while it was PAGING."""
    now = now or datetime.now(UTC)
    deadline = now - timedelta(seconds=older_than)
    store = JobStore(outs["JobsTable"])
    refs = list(versions(outs["IngestBucket"], f"{dataset}/" if dataset else "", since))
    jobs = _get_jobs(store, sorted({r.job_id for r in refs}))
    unmatched = [r for r in refs if r.job_id not in jobs and _stale(r.event_time, deadline)]
    by_version = _jobs_by_version(store) if unmatched else {}
    found = []
    for ref in refs:
        job = jobs.get(ref.job_id) or by_version.get((ref.bucket, ref.key, str(ref.version_id or "")))
        reason = _reason(job, ref, deadline, now)
        if reason is None:
            continue
        job_id = job["job_id"] if job else ref.job_id
        stray = Stray(
            job_id, ref.key, ref.version_id or "", reason, (job or {}).get("status", ""), _last_activity(job or {})
        )
        found.append((ref, job, stray))
    return found


def _hand_over(outs: dict[str, str], store: JobStore, ref: ObjectRef) -> None:
    """Record the version's job (as the inventory would) and send its notification to the uploads queue."""
    swept = now_iso()
    arrival = {**ref.arrival_fields(), "received_at": swept, "status": JobStatus.RECEIVED.value}
    store.update_job(ref.job_id, {"swept_at": swept}, add={"sweeps": 1}, if_not_exists=arrival)
    aws.client("sqs").send_message(
        QueueUrl=outs["UploadsQueueUrl"], MessageBody=sns_envelope(ref, outs["IngestTopicArn"], swept)
    )


def sweep(
    outs: dict[str, str],
    *,
    dataset: str | None = None,
    since: datetime | None = None,
    older_than: float = DEFAULT_DEADLINE_S,
    dry_run: bool = False,
) -> list[Stray]:
    """Find the strays (see `find`) and hand each to processing again; return them with what was done."""
    store = JobStore(outs["JobsTable"])
    done = []
    for ref, job, stray in find(outs, dataset=dataset, since=since, older_than=older_than):
        if dry_run:
            action = "found (dry run)"
        elif stray.reason == Reason.EXECUTION_ENDED:
            try:
                action = str(redrive(outs, stray.job_id, repage=True)["detail"])
            except (RedriveError, ClientError) as exc:
                action = f"not redriven: {exc}"
        elif job is not None and job["job_id"] != ref.job_id:
            action = "not handed over: its job predates version-based ids; run `pipeline redrive` on it"
        else:
            _hand_over(outs, store, ref)
            action = "handed to the upload processor again"
        done.append(Stray(**{**asdict(stray), "action": action}))
    return done
