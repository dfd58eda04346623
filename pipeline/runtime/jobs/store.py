"""Read and write job and page items in the jobs table; every counter moves exactly once per page."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from pipeline.runtime import aws
from pipeline.runtime.jobs.model import COMPACT_PREFIX, FINISHED, JOB_ITEM, PAGE_PREFIX, page_item
from pipeline.runtime.messages import CompactionItem, JobItem, JobMode, JobStatus, PageDescriptor, PageItem, PageStatus

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def now_iso() -> str:
    """The current UTC time, ISO 8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(v) for v in value]
    return value


def _dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_dynamo(v) for v in value]
    return value


def _deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return _plain({k: _DESERIALIZER.deserialize(v) for k, v in item.items()})


def _update(
    names_values: dict[str, Any],
    *,
    add: dict[str, int | set[str]] | None = None,
    if_not_exists: dict[str, Any] | None = None,
    remove: tuple[str, ...] = (),
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """An UpdateExpression that sets, adds, defaults (``if_not_exists``) and removes attributes."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    sets, adds = [], []
    for i, (name, value) in enumerate(names_values.items()):
        names[f"#s{i}"] = name
        values[f":s{i}"] = _SERIALIZER.serialize(_dynamo(value))
        sets.append(f"#s{i} = :s{i}")
    for i, (name, value) in enumerate((if_not_exists or {}).items()):
        names[f"#d{i}"] = name
        values[f":d{i}"] = _SERIALIZER.serialize(_dynamo(value))
        sets.append(f"#d{i} = if_not_exists(#d{i}, :d{i})")
    for i, (name, value) in enumerate((add or {}).items()):
        names[f"#a{i}"] = name
        values[f":a{i}"] = _SERIALIZER.serialize(value) if isinstance(value, set) else {"N": str(value)}
        adds.append(f"#a{i} :a{i}")
    expression = ""
    if sets:
        expression += "SET " + ", ".join(sets)
    if adds:
        expression += " ADD " + ", ".join(adds)
    for i, name in enumerate(remove):
        names[f"#r{i}"] = name
    if remove:
        expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
    return expression.strip(), names, values


class JobStore:
    """The jobs table: one `JOB` item per job and one `PAGE#nnnnnn` item per processed page."""

    def __init__(self, table: str) -> None:
        self.table = table

    @property
    def _client(self) -> Any:
        return aws.client("dynamodb")

    def _key(self, job_id: str, item: str = JOB_ITEM) -> dict[str, Any]:
        return {"job_id": {"S": job_id}, "item": {"S": item}}

    def update_job(
        self,
        job_id: str,
        fields: dict[str, Any],
        *,
        add: dict[str, int | set[str]] | None = None,
        if_not_exists: dict[str, Any] | None = None,
        remove: tuple[str, ...] = (),
        condition: str | None = None,
        condition_values: dict[str, Any] | None = None,
    ) -> JobItem:
        """Set ``fields`` on the job item (creating it if needed); return the item after the update."""
        expression, names, values = _update(fields, add=add, if_not_exists=if_not_exists, remove=remove)
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Key": self._key(job_id),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
        }
        if condition:
            kwargs["ConditionExpression"] = condition
            names["#status"] = "status"
            if "#mode" in condition:
                names["#mode"] = "mode"
            values.update({k: _SERIALIZER.serialize(v) for k, v in (condition_values or {}).items()})
        return cast(JobItem, _deserialize(self._client.update_item(**kwargs)["Attributes"]))

    def record_arrival(self, job_id: str, arrival: dict[str, Any]) -> JobItem:
        """Record that an object arrived; safe to repeat and to race with the processor."""
        received = {"received_at": now_iso(), "status": JobStatus.RECEIVED.value}
        return self.update_job(job_id, {"inventoried_at": now_iso()}, if_not_exists={**arrival, **received})

    def claim(self, job_id: str, fields: dict[str, Any]) -> JobItem | None:
        """Mark the job PROCESSING unless it completed or is paging; None when it is not ours to run.

        A FAILED inline job may be claimed again: a retried delivery reprocesses it idempotently. A FAILED
        paged job is not: its pages and executions are resumed by `pipeline redrive`, never restarted.
        """
        try:
            return self.update_job(
                job_id,
                {**fields, "status": JobStatus.PROCESSING.value, "started_at": now_iso()},
                if_not_exists={"received_at": now_iso()},
                add={"attempts": 1},
                remove=("error", "cause", "finished_at", "duration_s"),  # of an earlier attempt that failed
                condition=(
                    "attribute_not_exists(#status) OR #status IN (:received, :processing) OR "
                    "(#status = :failed AND (attribute_not_exists(#mode) OR #mode <> :paged))"
                ),
                condition_values={
                    ":received": JobStatus.RECEIVED.value,
                    ":processing": JobStatus.PROCESSING.value,
                    ":failed": JobStatus.FAILED.value,
                    ":paged": JobMode.PAGED.value,
                },
            )
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise

    def fail(self, job_id: str, error: str, cause: str, extra: dict[str, Any] | None = None) -> JobItem:
        """Mark the job FAILED with a readable error and cause."""
        job: JobItem = self.get(job_id) or {}
        finished = now_iso()
        started = job.get("started_at") or job.get("received_at") or finished
        fields = {
            "status": JobStatus.FAILED.value,
            "error": error,
            "cause": cause,
            "finished_at": finished,
            "duration_s": round(_seconds_between(started, finished), 3),
        }
        return self.update_job(job_id, {**fields, **(extra or {})})

    def get(self, job_id: str) -> JobItem | None:
        """The job item, or None."""
        item = self._client.get_item(TableName=self.table, Key=self._key(job_id), ConsistentRead=True).get("Item")
        return cast(JobItem, _deserialize(item)) if item else None

    def record_page(self, job_id: str, page: int, result: PageItem, *, read_back: bool = True) -> JobItem | None:
        """Store a page's result and count it on the job, exactly once; None if the page was already counted.

        Returns the job as it stands afterwards (one more read), or ``{}`` without ``read_back``.
        """
        counts = {"rows_input": result["rows_input"], "rows_valid": result["rows_valid"]}
        counts["rows_rejected"] = result["rows_rejected"]
        expression, names, values = _update({"updated_at": now_iso()}, add={"pages_done": 1, **counts})
        page_fields = {k: v for k, v in result.items() if v is not None}
        page_fields |= {"page": page, "status": PageStatus.DONE.value, "finished_at": now_iso()}
        page_expression, page_names, page_values = _update(page_fields)  # keeps attempts and last_error
        page_names["#done_st"] = "status"
        page_values[":done"] = {"S": PageStatus.DONE.value}
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": self._key(job_id, page_item(page)),
                            "UpdateExpression": page_expression,
                            "ConditionExpression": "attribute_not_exists(#done_st) OR #done_st <> :done",
                            "ExpressionAttributeNames": page_names,
                            "ExpressionAttributeValues": page_values,
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": self._key(job_id),
                            "UpdateExpression": expression,
                            "ExpressionAttributeNames": names,
                            "ExpressionAttributeValues": values,
                        }
                    },
                ]
            )
        except ClientError as exc:
            if aws.error_code(exc) == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons") or []
                if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                    return None
            raise
        return self.get(job_id) if read_back else {}

    def record_page_failure(self, job_id: str, page: int, error: str) -> None:
        """Remember the last error of a page attempt (the dead-letter consumer reports it)."""
        expression, names, values = _update(
            {"last_error": error[:2000], "updated_at": now_iso()},
            if_not_exists={"page": page, "status": PageStatus.RETRYING.value},
            add={"attempts": 1},
        )
        self._client.update_item(
            TableName=self.table,
            Key=self._key(job_id, page_item(page)),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def mark_page_dead(self, job_id: str, page: int, descriptor: PageDescriptor) -> PageItem:
        """Mark a page FAILED for good (it reached the dead-letter queue); return the page item."""
        expression, names, values = _update(
            {"status": PageStatus.FAILED.value, "descriptor": descriptor, "updated_at": now_iso()},
            if_not_exists={"page": page},
        )
        item = self._client.update_item(
            TableName=self.table,
            Key=self._key(job_id, page_item(page)),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return cast(PageItem, _deserialize(item))

    def page_done(self, job_id: str, page: int) -> bool:
        """True when the page is already counted (a duplicate or redriven delivery can skip it)."""
        item = self._client.get_item(
            TableName=self.table,
            Key=self._key(job_id, page_item(page)),
            ConsistentRead=True,
            ProjectionExpression="#st",
            ExpressionAttributeNames={"#st": "status"},
        ).get("Item")
        return bool(item) and item.get("status", {}).get("S") == PageStatus.DONE.value

    def reopen_page(self, job_id: str, page: int) -> PageDescriptor | None:
        """Turn a FAILED page back into a pending one for a redrive; return its descriptor, None if not FAILED."""
        try:
            item = self._client.update_item(
                TableName=self.table,
                Key=self._key(job_id, page_item(page)),
                UpdateExpression="SET #st = :redriven, updated_at = :now",
                ConditionExpression="#st = :failed",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={
                    ":redriven": {"S": PageStatus.REDRIVEN.value},
                    ":failed": {"S": PageStatus.FAILED.value},
                    ":now": {"S": now_iso()},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return cast(PageItem, _deserialize(item)).get("descriptor")

    def _items(self, job_id: str, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "job_id = :j AND begins_with(#i, :p)",
            "ExpressionAttributeNames": {"#i": "item"},
            "ExpressionAttributeValues": {":j": {"S": job_id}, ":p": {"S": prefix}},
            "ConsistentRead": True,
        }
        while True:
            response = self._client.query(**kwargs)
            items.extend(_deserialize(i) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def mark_contract_changed(self, job_id: str, started_under: str, current: str) -> bool:
        """Note on the job that its pages met contract ``current`` (ADR 9), if the job still runs under
        ``started_under``; False when it does not (it was repaged under another contract since)."""
        try:
            self._client.update_item(
                TableName=self.table,
                Key=self._key(job_id),
                UpdateExpression="SET contract_changed = :current, updated_at = :now",
                ConditionExpression="contract = :started",
                ExpressionAttributeValues={
                    ":current": {"S": current},
                    ":started": {"S": started_under},
                    ":now": {"S": now_iso()},
                },
            )
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def delete_pages(self, job_id: str, pages: list[int]) -> None:
        """Delete page items of a job (a redrive that retires them; `pipeline.tools.operate.redrive`)."""
        requests = [{"DeleteRequest": {"Key": self._key(job_id, page_item(p))}} for p in pages]
        for i in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.table: requests[i : i + 25]}
            while pending:
                pending = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    def pages(self, job_id: str) -> list[PageItem]:
        """Every page item of a job, in page order."""
        return [cast(PageItem, i) for i in self._items(job_id, PAGE_PREFIX)]

    def compactions(self, job_id: str) -> list[CompactionItem]:
        """Every compacted partition of a job (ADR 10), in partition order."""
        return [cast(CompactionItem, i) for i in self._items(job_id, COMPACT_PREFIX)]

    def record_compaction(self, job_id: str, partition: str, outputs: dict[str, int], replaced: list[str]) -> None:
        """Remember a partition's compacted files and the page files they replace, before those are deleted."""
        expression, names, values = _update(
            {"partition": partition, "outputs": outputs, "replaced": replaced, "updated_at": now_iso()}
        )
        self._client.update_item(
            TableName=self.table,
            Key=self._key(job_id, COMPACT_PREFIX + partition),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def jobs(self) -> list[JobItem]:
        """Every job item, newest first."""
        items: list[JobItem] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "#i = :job",
            "ExpressionAttributeNames": {"#i": "item"},
            "ExpressionAttributeValues": {":job": {"S": JOB_ITEM}},
        }
        while True:
            response = self._client.scan(**kwargs)
            items.extend(cast(JobItem, _deserialize(i)) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return sorted(items, key=lambda j: j.get("received_at", ""), reverse=True)

    def note_outputs(self, job_id: str, page: int, keys: list[str]) -> None:
        """Remember the output keys a page is about to write (before it writes them)."""
        expression, names, values = _update(
            {"updated_at": now_iso()}, if_not_exists={"page": page}, add={"pending_outputs": set(keys)}
        )
        self._client.update_item(
            TableName=self.table,
            Key=self._key(job_id, page_item(page)),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def output_keys(self, job_id: str) -> list[str]:
        """Every output object key the job's pages wrote, or were about to write when they failed, and the files
        its compaction wrote (the page files they replaced are gone by then, which deleting again allows)."""
        pages = {
            key
            for page in self.pages(job_id)
            for key in [*(page.get("outputs") or {}), *(page.get("pending_outputs") or [])]
        }
        return sorted(pages | {key for item in self.compactions(job_id) for key in item.get("outputs") or {}})

    def finish(self, job_id: str) -> JobItem:
        """Mark the job COMPLETE with its duration, unless it already finished; return it."""
        job: JobItem = self.get(job_id) or {}
        if job.get("status") in FINISHED:
            return job
        started = job.get("started_at") or job.get("received_at") or now_iso()
        duration = _seconds_between(started, now_iso())
        return self.update_job(
            job_id, {"status": JobStatus.COMPLETE.value, "finished_at": now_iso(), "duration_s": round(duration, 3)}
        )


def _seconds_between(start: str, end: str) -> float:
    def parse(text: str) -> float:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    try:
        return max(0.0, parse(end) - parse(start))
    except ValueError:
        return 0.0
