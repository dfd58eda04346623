"""The typed shapes that cross stage boundaries, and the enums of every status and mode.

TypedDicts, not dataclasses: the shapes are JSON documents (state machine input, SNS/SQS bodies, DynamoDB
items) that stages pass on unchanged, and a TypedDict is a plain dict at run time (no conversion, no import
cost). Each shape built in more than one place has one helper here.

The walk of a large upload: `JobRef` + `Cursor` (the state machine's input) -> the pager publishes
`PageDescriptor`s -> a page worker turns each into a `PageItem` and counts it on the `JobItem`; the job
steps finalise the `JobItem` into a `JobSummary`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NotRequired, TypedDict


class JobStatus(StrEnum):
    """Where a job is: arrived, being processed inline or paged, or finished."""

    RECEIVED = "RECEIVED"
    PROCESSING = "PROCESSING"
    PAGING = "PAGING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


class PageStatus(StrEnum):
    """Where one page of a job is: retried after a failure, counted, failed for good (dead-lettered), redriven."""

    RETRYING = "RETRYING"
    DONE = "DONE"
    FAILED = "FAILED"
    REDRIVEN = "REDRIVEN"  # a FAILED page a redrive republished


class JobMode(StrEnum):
    """How a job's file is processed: in the upload function itself, or paged by the state machine."""

    INLINE = "inline"
    PAGED = "paged"


class JobRef(TypedDict):
    """The job in the state machine's input: which object version a paged job reads."""

    job_id: str
    dataset: str
    bucket: str
    key: str
    version_id: str
    etag: str
    size: int


class Cursor(TypedDict):
    """Where paging of a job stands: the next byte, page and line; kept on the job for `pipeline redrive`."""

    offset: int
    page: int
    line: int
    header: str
    done: bool
    continue_in_new_execution: bool
    iteration: int
    execution: NotRequired[int]
    contract: NotRequired[str]  # the fingerprint of the contract the header was checked against (ADR 9)


class ExecutionInput(TypedDict):
    """The batch state machine's input (and the pager's event and result)."""

    job: JobRef
    cursor: Cursor


class PagerEvent(ExecutionInput):
    """The pager's event: the state machine's input and, from the state machine, its execution's ARN."""

    execution_arn: NotRequired[str]


class PageDescriptor(TypedDict):
    """One page of a paged upload, as the pager publishes it and a page worker receives it."""

    job_id: str
    dataset: str
    bucket: str
    key: str
    version_id: str
    etag: str
    page: int
    start: int
    end: int
    first_line: int
    header: str
    contract: NotRequired[str]  # the fingerprint of the contract the job started under (ADR 9)
    oversized: NotRequired[bool]  # one record over the limit: rejected unread
    last_line: NotRequired[int]
    unterminated: NotRequired[bool]
    record_max: NotRequired[int]


class PageItem(TypedDict, total=False):
    """A page's item in the jobs table (`PAGE#<n>`): its counts, outputs and state."""

    job_id: str
    item: str
    page: int
    status: str  # a PageStatus value
    rows_input: int
    rows_valid: int
    rows_rejected: int
    outputs: dict[str, int]  # output object key -> rows written to it
    pending_outputs: list[str]  # a string set in DynamoDB, a list once read
    rejects_key: str | None
    key_index_key: str | None  # the page's key index, when its job compacts (ADR 10)
    timings_ms: dict[str, int]
    start: int
    end: int
    first_line: int
    attempts: int
    last_error: str
    contract: str  # the fingerprint of the contract the page was processed under
    descriptor: PageDescriptor
    finished_at: str
    updated_at: str


class JobItem(TypedDict, total=False):
    """A job's item in the jobs table (`JOB`): one uploaded object version, from arrival to its outcome."""

    job_id: str
    item: str
    status: str  # a JobStatus value
    mode: str  # a JobMode value
    dataset: str
    file: str
    bucket: str
    key: str
    size: int
    etag: str
    version_id: str
    sequencer: str
    event_time: str
    received_at: str
    inventoried_at: str
    started_at: str
    finished_at: str
    updated_at: str
    duration_s: float
    read_ms: int
    attempts: int
    rows_input: int
    rows_valid: int
    rows_rejected: int
    pages_total: int
    pages_done: int
    pages_published: int
    bytes_paged: int
    paging_done: bool
    failed_pages: list[int]
    outputs: list[str]
    outputs_deleted: int
    cursor: Cursor
    contract: str  # the fingerprint of the contract the job started under (a paged job; ADR 9)
    contract_changed: str  # the fingerprint a page or the pager met instead: a redrive retires the job's pages
    execution_arn: str
    executions: list[str]  # a string set in DynamoDB, a list once read
    task_token: str
    error: str
    cause: str
    superseded_by: str
    superseded_at: str
    latest_job: str
    redrives: int
    redriven_at: str
    compaction: CompactionSummary
    swept_at: str


class CompactionSummary(TypedDict, total=False):
    """What a paged job's compaction did (ADR 10), kept on the job once it finished."""

    status: str  # "DONE", or "SKIPPED" (a page was written without a key index)
    partitions: int
    files: int
    pages_files_deleted: int
    superseded: int
    rejects_key: str
    dynamodb_fixed: int
    max_file_bytes: int
    timings_ms: dict[str, int]  # read_indexes, resolve, superseded, dynamodb, partitions
    finished_at: str


class CompactStepResult(TypedDict, total=False):
    """What the `Compact job output` step returns: ``done`` false means "invoke me again" (it resumes)."""

    job_id: str
    done: bool
    status: str  # the compaction's status when done; "OFF" when the stage does not compact
    partitions: int
    compacted: int  # partitions finished so far, when not done


class CompactionItem(TypedDict, total=False):
    """One compacted partition's item in the jobs table (`COMPACT#<partition>`): the files it was written to."""

    job_id: str
    item: str
    partition: str
    outputs: dict[str, int]  # compacted object key -> rows
    replaced: list[str]  # the page files it replaced (deleted after this item was written)


class JobSummary(TypedDict, total=False):
    """What a subscriber of the job-events topic (and the job steps' caller) gets about a finished job."""

    job_id: str
    dataset: str
    file: str
    status: str
    rows_input: int
    rows_valid: int
    rows_rejected: int
    pages_total: int
    pages_done: int
    duration_s: float
    error: str
    cause: str
    superseded_by: str


def new_cursor(
    *,
    offset: int = 0,
    page: int = 0,
    line: int = 1,
    header: str = "",
    execution: int | None = None,
    contract: str | None = None,
) -> Cursor:
    """A cursor at the start of an execution: at the first data byte, or where ``offset``/``page``/``line`` say
    paging stopped (with the ``header`` read then, under the ``contract`` fingerprint); ``execution`` numbers
    the state machine execution."""
    cursor: Cursor = {
        "offset": offset,
        "page": page,
        "line": line,
        "header": header,
        "done": False,
        "continue_in_new_execution": False,
        "iteration": 0,
    }
    if execution is not None:
        cursor["execution"] = execution
    if contract:
        cursor["contract"] = contract
    return cursor


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN of the execution ``name`` of a state machine."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"
