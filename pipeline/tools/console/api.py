"""What each console endpoint returns, built from the functions the CLI uses (ops, JobStore, executions, query)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, cast

from botocore.exceptions import ClientError

from pipeline.runtime import aws
from pipeline.runtime.errors import PipelineError
from pipeline.runtime.jobs import JobStatus, JobStore
from pipeline.runtime.messages import JobItem, execution_arn
from pipeline.tools.cli import ops
from pipeline.tools.console import graph, health, rejects, rows
from pipeline.tools.console.sql import Catalog, read_only_statement
from pipeline.tools.operate.executions import job_executions, list_executions, timeline

MAX_QUERY_ROWS = 50_000
TABLES_TTL_S = 30.0  # how long the console trusts its list of the Glue database's tables
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")  # ids are hex; users type a prefix
EXECUTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")  # Step Functions' own limit is 80 characters


class ApiError(PipelineError):
    """A request the console refuses, with its HTTP status."""

    status = 400


class NotFoundError(ApiError):
    status = 404


class ForbiddenError(ApiError):
    status = 403


class ConflictError(ApiError):
    status = 409


@dataclass
class ConsoleApi:
    """The console's data for one stage, from its stack outputs."""

    outs: dict[str, str]
    stage: str
    allow_writes: bool = False
    _definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    _tables: tuple[float, frozenset[str]] | None = None

    @property
    def store(self) -> JobStore:
        return JobStore(self.outs["JobsTable"])

    def info(self) -> dict[str, Any]:
        """Stage, endpoint and whether writes are allowed."""
        return {
            "stage": self.stage,
            "endpoint": self.outs.get("Endpoint", "AWS"),
            "allow_writes": self.allow_writes,
            "outputs": self.outs,
        }

    def jobs(self, dataset: str | None = None, status: str | None = None) -> dict[str, Any]:
        """Every job, newest first, filtered by dataset and status, with the values to filter by."""
        every = self.store.jobs()
        chosen = [
            j
            for j in every
            if (not dataset or j.get("dataset") == dataset) and (not status or j.get("status") == status)
        ]
        return {
            "jobs": [rows.job_row(j) for j in chosen],
            "total": len(every),
            "datasets": sorted({str(j["dataset"]) for j in every if j.get("dataset")}),
            "statuses": [s.value for s in JobStatus],
        }

    def _job(self, job_id: str) -> JobItem:
        if not JOB_ID.fullmatch(job_id):
            raise NotFoundError(f"no job {job_id[:200]!r}: job ids are letters, digits, - and _")
        job = self.store.get(job_id)
        if job is not None:
            return job
        try:
            return cast(JobItem, ops.resolve_job(self.outs, job_id))
        except PipelineError as exc:
            raise NotFoundError(f"no job {job_id!r}: {exc}") from exc

    def job(self, job_id: str) -> dict[str, Any]:
        """One job with its pages, outputs, first rejects and executions."""
        job = self._job(job_id)
        pages = self.store.pages(job["job_id"])
        return {
            "job": {**rows.visible(job), "file_name": rows.job_row(job)["file"]},
            "progress": rows.progress(job),
            "pages": pages,
            "outputs": rows.outputs(pages),
            "rejects": rejects.first_rejects(self.outs["ResultsBucket"], pages),
            "executions": job_executions(job),
        }

    def executions(self) -> list[dict[str, Any]]:
        """Every execution of the state machine with its job's file and page progress, newest first."""
        jobs_by_id = {j["job_id"]: j for j in self.store.jobs()}
        return list_executions(self.outs["StateMachineArn"], jobs_by_id)

    def execution(self, name: str) -> dict[str, Any]:
        """One execution: its timeline and the state machine graph coloured by it."""
        if not EXECUTION_NAME.fullmatch(name):
            raise NotFoundError(f"no execution {name[:200]!r}")
        arn = execution_arn(self.outs["StateMachineArn"], name)
        try:
            data = timeline(arn)
        except ClientError as exc:
            if aws.error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn", "ResourceNotFoundException"):
                raise NotFoundError(f"no execution {name!r}") from exc
            raise
        if arn not in self._definitions:
            self._definitions[arn] = graph.definition(self.outs["StateMachineArn"], arn)
        job_id = name.rsplit("-", 1)[0]
        return {**data, "job_id": job_id, "graph": graph.build(self._definitions[arn], data)}

    def table_names(self) -> frozenset[str]:
        """The tables of the stage's Glue database (listed at most every `TABLES_TTL_S` seconds)."""
        now = time.monotonic()
        if self._tables is None or now - self._tables[0] > TABLES_TTL_S:
            pages = aws.client("glue").get_paginator("get_tables").paginate(DatabaseName=self.outs["GlueDatabase"])
            self._tables = (now, frozenset(t["Name"].lower() for page in pages for t in page["TableList"]))
        return self._tables[1]

    def query(self, sql: Any) -> dict[str, Any]:
        """Run one read-only statement through the same Athena path as `pipeline query`, at most 50,000 rows.

        What runs is the statement as sqlglot rewrites it once checked (`ran`), with a LIMIT one past the cap.
        """
        from pipeline.tools.query import run_query

        if sql is not None and not isinstance(sql, str):
            raise ApiError("send the query as a JSON string in 'sql'")
        started = time.monotonic()
        catalog = Catalog(self.outs.get("GlueDatabase", ""), self.table_names)
        checked = read_only_statement(sql or "", catalog, row_cap=MAX_QUERY_ROWS + 1)
        result = run_query(
            checked.sql,
            database=self.outs["GlueDatabase"],
            workgroup=self.outs["AthenaWorkGroup"],
            output_location=self.outs["AthenaResultLocation"],
            max_rows=MAX_QUERY_ROWS,
        )
        return {
            "columns": result.columns,
            "rows": result.rows,
            "row_count": len(result.rows),
            "truncated": result.truncated,
            "row_cap": MAX_QUERY_ROWS,
            "ran": checked.sql,
            "query_id": result.query_id,
            "seconds": round(time.monotonic() - started, 3),
        }

    def health(self) -> dict[str, Any]:
        """Dead-letter queue depth, failed jobs and whether they can be redriven from here."""
        failed = [rows.job_row(j) for j in self.store.jobs() if j.get("status") == JobStatus.FAILED.value]
        queue = self.outs.get("PagesDeadLetterQueueUrl")
        return {
            "dead_letter_queue": health.dead_letter_depth(queue) if queue else None,
            "failed_jobs": failed,
            "redrive": health.redrive_status(self.allow_writes),
        }

    def redrive(self, job_id: str, confirm: Any) -> dict[str, Any]:
        """Redrive a failed job: the one action that writes, only with --allow-writes and a confirmation."""
        if not self.allow_writes:
            raise ForbiddenError("the console is read-only: start it with --allow-writes to redrive")
        function, note = health.redrive_function()
        if function is None:
            raise ConflictError(note)
        job = self._job(job_id)
        if not isinstance(confirm, str) or confirm != job["job_id"]:
            raise ApiError("confirm the redrive by sending the job's full id as 'confirm'")
        return {"job_id": job["job_id"], "result": function(self.outs, job["job_id"])}  # it decides what to redo
