"""Reconcile a job to the row: input = valid + rejected, S3 output rows = valid, DynamoDB holds every key, and
the table holds output of the object key's newest completed version only."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from pipeline.runtime import aws
from pipeline.runtime.arrival.events import ObjectRef
from pipeline.runtime.contract import Contract, ContractError, UnknownDatasetError, load_contract
from pipeline.runtime.jobs.model import JobStatus
from pipeline.runtime.jobs.store import JobStore
from pipeline.runtime.jobs.supersede import is_newer, latest_holder, version_positions
from pipeline.runtime.messages import JobItem
from pipeline.runtime.sinks.dynamodb import key_texts, record_key
from pipeline.runtime.sinks.parquet_format import EXTENSION as PARQUET_EXTENSION
from pipeline.runtime.sinks.text_format import records, split_line


@dataclass
class Reconciliation:
    """The counts compared and every difference found."""

    job_id: str
    counts: dict[str, int | str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _pk_value(kind: str, text: str | None) -> str | None:
    if text is None:
        return None
    if kind == "timestamp":
        return text.replace(" ", "T") + "Z"
    return text


def parquet_keys(body: bytes, contract: Contract) -> list[str]:
    """The records-table key of every row of a Parquet output object (only the key columns are read)."""
    from pipeline.runtime.sinks import parquet_format

    table = parquet_format.read(body, columns=list(contract.primary_key))
    return key_texts(table, contract).to_pylist() if table.num_rows else []


def _missing_keys(table: str, keys: list[str]) -> list[str]:
    ddb = aws.client("dynamodb")
    missing: list[str] = []
    for i in range(0, len(keys), 100):
        chunk = keys[i : i + 100]
        request: dict[str, Any] = {table: {"Keys": [{"pk": {"S": k}} for k in chunk], "ProjectionExpression": "pk"}}
        found: set[str] = set()
        while request:
            response = ddb.batch_get_item(RequestItems=request)
            found.update(item["pk"]["S"] for item in response["Responses"].get(table, []))
            request = response.get("UnprocessedKeys") or {}
        missing.extend(k for k in chunk if k not in found)
    return missing


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if aws.error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def _allow_large_fields() -> None:
    """Rejected rows keep fields of any size (a 1 MB field included); the csv module's default stops at 128 KiB."""
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))


def reconcile(job_id: str, jobs_table: str, records_table: str, results_bucket: str) -> Reconciliation:
    """Compare the job's counters with what its outputs, rejects and DynamoDB actually hold."""
    _allow_large_fields()
    store = JobStore(jobs_table)
    job = store.get(job_id)
    result = Reconciliation(job_id)
    if job is None:
        result.problems.append("no such job")
        return result
    status, cause = job.get("status"), job.get("cause")
    if status == JobStatus.RECEIVED:
        result.problems.append("job is RECEIVED: it has not been processed yet, so there is nothing to reconcile")
        return result
    if status != JobStatus.COMPLETE:
        result.problems.append(f"job is {status}" + (f": {cause}" if cause else ""))
    if not job.get("dataset"):
        result.problems.append("the job has no dataset (it stopped before one was known): nothing to compare")
        return result
    try:
        contract = load_contract(job["dataset"])
    except (UnknownDatasetError, ContractError) as exc:
        result.problems.append(f"its dataset has no usable contract, so its rows cannot be checked: {exc}")
        return result
    s3 = aws.client("s3")
    pages = store.pages(job_id)
    rows_in, valid = int(job.get("rows_input") or 0), int(job.get("rows_valid") or 0)
    rejected = int(job.get("rows_rejected") or 0)
    output_rows, reject_rows = 0, 0
    keys: set[str] = set()
    positions = [contract.column_names.index(c) for c in contract.primary_key]
    kinds = [contract.column(c).kind for c in contract.primary_key]
    superseded = job.get("superseded_by")
    compaction = job.get("compaction") or {}
    compacted = compaction.get("status") == "DONE"
    if compacted:  # the compacted files replaced the pages' (ADR 10): those must be gone
        outputs = [key for item in store.compactions(job_id) for key in item.get("outputs") or {}]
        left = [k for p in pages for k in p.get("outputs") or {} if _exists(s3, results_bucket, k)]
        if left:
            result.problems.append(f"compaction left {len(left)} page file(s) in the table, e.g. {left[0]}")
    else:
        outputs = [key for page in pages for key in page.get("outputs") or {}]
        if status == JobStatus.COMPLETE and any(p.get("key_index_key") for p in pages) and not compaction:
            result.problems.append("the job's pages wrote key indexes but its compaction did not finish")
    for key in outputs:
        if superseded:  # a newer upload of the same key replaced this job's output: it must be gone
            if _exists(s3, results_bucket, key):
                result.problems.append(f"superseded by {superseded} but its output {key} is still there")
            continue
        body = s3.get_object(Bucket=results_bucket, Key=key)["Body"].read()
        if key.endswith(PARQUET_EXTENSION):  # a Parquet dataset's output: rows from the footer, keys typed
            found = parquet_keys(body, contract)
            output_rows += len(found)
            keys.update(found)
            continue
        for line in records(body.decode("utf-8")):  # not splitlines(): U+2028, \x85, \x0c ... are data
            output_rows += 1
            fields = split_line(line)
            values = [_pk_value(k, fields[p]) for p, k in zip(positions, kinds, strict=True)]
            keys.add(record_key(contract.dataset, values))
    reject_keys = [str(p["rejects_key"]) for p in pages if p.get("rejects_key")]
    if compaction.get("rejects_key"):
        reject_keys.append(str(compaction["rejects_key"]))
    for key in reject_keys:
        body = s3.get_object(Bucket=results_bucket, Key=key)["Body"].read().decode("utf-8")
        reject_rows += max(0, sum(1 for _ in csv.reader(io.StringIO(body))) - 1)  # minus the header
    result.counts = {
        "input": rows_in,
        "valid": valid,
        "rejected": rejected,
        "s3_output_rows": output_rows,
        "rejects_file_rows": reject_rows,
        "distinct_keys": len(keys),
        "pages": len(pages),
    }
    if compaction:
        result.counts["compaction"] = str(compaction.get("status"))
        result.counts["superseded_rows"] = int(compaction.get("superseded") or 0)
        result.counts["compacted_files"] = int(compaction.get("files") or 0)
    if rows_in != valid + rejected:
        result.problems.append(f"input rows {rows_in} != valid {valid} + rejected {rejected}")
    if output_rows != valid and not superseded:
        result.problems.append(f"S3 output rows {output_rows} != valid rows {valid}")
    if compacted and not superseded and output_rows != len(keys):
        result.problems.append(f"{output_rows - len(keys)} output rows repeat a primary key after compaction")
    if reject_rows != rejected:
        result.problems.append(f"rejects files hold {reject_rows} rows, job says {rejected}")
    if superseded:
        result.counts["superseded_by"] = superseded
    if contract.store_in_dynamodb and not superseded:  # a newer version may have changed or kept its keys
        missing = _missing_keys(records_table, sorted(keys))
        result.counts["dynamodb_missing"] = len(missing)
        if missing:
            result.problems.append(f"{len(missing)} valid keys missing from DynamoDB, e.g. {missing[:3]}")
    if job.get("bucket") and job.get("key"):
        _check_key_versions(store, job, results_bucket, result)
    return result


def _check_key_versions(store: JobStore, job: JobItem, results_bucket: str, result: Reconciliation) -> None:
    """The object key's rows in the table come from its newest completed version only.

    S3's own listing of the key's versions (newest first) is the reference: the newest version whose job is
    COMPLETE must hold the key's `LATEST` item, and no other version's job may still have output files, except
    a newer one still running (Athena sees both versions while it runs).
    """
    s3 = aws.client("s3")
    positions = version_positions(job["bucket"], job["key"])
    jobs = [
        found
        for version in sorted(positions, key=positions.__getitem__)
        if (found := store.get(ObjectRef(job["bucket"], job["key"], 0, "", version, None, "").job_id))
    ]
    if job["job_id"] not in {j["job_id"] for j in jobs}:
        jobs.append(job)  # a job whose id predates version-based ids, or whose version was deleted
    newest = next((j for j in jobs if j.get("status") == JobStatus.COMPLETE), None)
    result.counts["key_versions"] = len(positions)
    result.counts["key_newest_complete"] = newest["job_id"] if newest else ""
    if newest:
        holder = latest_holder(store, job["bucket"], job["key"])
        if holder != newest["job_id"]:
            result.problems.append(
                f"S3's newest complete version of the key is job {newest['job_id']}; the jobs table names {holder}"
            )
        if newest.get("superseded_by"):
            result.problems.append(f"the key's newest complete version, job {newest['job_id']}, was retired")
    for other in jobs:
        if newest and other["job_id"] == newest["job_id"]:
            continue
        running = other.get("status") in (JobStatus.RECEIVED, JobStatus.PROCESSING, JobStatus.PAGING)
        if running and (newest is None or is_newer(other, newest)):
            continue
        left = [k for k in store.output_keys(other["job_id"]) if _exists(s3, results_bucket, k)]
        if left:
            result.problems.append(
                f"{len(left)} output file(s) of job {other['job_id']} ({other.get('status')}, version "
                f"{other.get('version_id')}) are still in the table; only the newest complete version's may be"
            )
