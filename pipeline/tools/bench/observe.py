"""What a benchmark run did in the cloud: AWS requests, Lambda invocations, state transitions, worker memory."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from pipeline.runtime import aws

REPORT = re.compile(r"REPORT RequestId: \S+\s+Duration: ([0-9.]+) ms.*?Memory Size: (\d+) MB")


def request_counts(call_log: Path) -> dict[str, Any]:
    """AWS API calls made by the Lambda functions (lines of the `PIPELINE_CALL_LOG` file), by service,
    by `service.Operation`, by function, and DynamoDB calls by table."""
    by_service: Counter[str] = Counter()
    by_operation: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    tables: dict[str, Counter[str]] = {}
    if call_log.exists():
        for line in call_log.read_text().splitlines():
            call = json.loads(line)
            if not call.get("function"):
                continue  # only the pipeline's own functions count
            by_service[call["service"]] += 1
            by_operation[f"{call['service']}.{call['operation']}"] += 1
            by_function[call["function"]] += 1
            if call["service"] == "dynamodb":
                params = call.get("params", {})
                names = [params["TableName"]] if "TableName" in params else []
                names += params.get("RequestItems", [])
                names += [t.rsplit(":", 1)[-1] for t in params.get("TransactItems", [])]  # "Put:table"
                for table in set(names):
                    tables.setdefault(table, Counter())[call["operation"]] += 1
    return {
        "total": sum(by_service.values()),
        "by_service": dict(by_service.most_common()),
        "by_operation": dict(by_operation.most_common()),
        "by_function": dict(by_function.most_common()),
        "dynamodb_tables": {table: dict(ops) for table, ops in tables.items()},
    }


def lambda_invocations(stack_name: str) -> dict[str, dict[str, Any]]:
    """Per function of the stack: invocations, summed duration and configured memory (from REPORT log lines)."""
    lam, logs = aws.client("lambda"), aws.client("logs")
    out: dict[str, dict[str, Any]] = {}
    for page in lam.get_paginator("list_functions").paginate():
        for function in page["Functions"]:
            name = function["FunctionName"]
            if not name.startswith(f"{stack_name}-"):
                continue
            durations = _report_durations(logs, f"/aws/lambda/{name}")
            out[name.removeprefix(f"{stack_name}-")] = {
                "invocations": len(durations),
                "duration_s": round(sum(durations), 3),
                "memory_mb": int(function.get("MemorySize") or 128),
            }
    return out


def _report_durations(logs: Any, group: str) -> list[float]:
    durations: list[float] = []
    kwargs: dict[str, Any] = {"logGroupName": group}
    try:
        while True:
            page = logs.filter_log_events(**kwargs)
            for event in page.get("events", []):
                match = REPORT.search(event.get("message", ""))
                if match:
                    durations.append(float(match.group(1)) / 1000)
            if not page.get("nextToken") or page["nextToken"] == kwargs.get("nextToken"):
                return durations
            kwargs["nextToken"] = page["nextToken"]
    except logs.exceptions.ResourceNotFoundException:
        return durations


def state_machine_activity(state_machine_arn: str) -> dict[str, Any]:
    """Executions, billed state transitions (states entered) and service integrations called by them."""
    sfn = aws.client("stepfunctions")
    executions, transitions = 0, 0
    integrations: Counter[str] = Counter()
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn):
        for execution in page["executions"]:
            executions += 1
            for history in sfn.get_paginator("get_execution_history").paginate(executionArn=execution["executionArn"]):
                for event in history["events"]:
                    if event["type"].endswith("StateEntered"):
                        transitions += 1
                    if event["type"] == "TaskScheduled":  # resource "arn:aws:states:::sns:publish" -> "sns:publish"
                        details = event.get("taskScheduledEventDetails", {})
                        resource = str(details.get("resource", ""))
                        integrations[resource.rsplit(":::", 1)[-1] or str(details.get("resourceType"))] += 1
    return {"executions": executions, "state_transitions": transitions, "integrations": dict(integrations)}


def bucket_bytes(bucket: str, prefix: str = "") -> dict[str, int]:
    """Objects and bytes under ``prefix``."""
    s3 = aws.client("s3")
    objects, size = 0, 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            objects += 1
            size += int(item["Size"])
    return {"objects": objects, "bytes": size}


class WorkerMemory:
    """Samples the peak resident memory (VmHWM) of every Lambda worker process under the local cloud,
    by function name, until stopped."""

    def __init__(self, server_pid: int | None, interval: float = 0.5) -> None:
        self.server_pid = server_pid
        self.interval = interval
        self.peak_mb: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WorkerMemory:
        if self.server_pid and Path("/proc").is_dir():
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        for pid in _descendants(self.server_pid) if self.server_pid else []:
            function, peak = _function_and_peak(pid)
            if function and peak:
                self.peak_mb[function] = max(self.peak_mb.get(function, 0.0), peak)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _function_and_peak(pid: int) -> tuple[str | None, float]:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None, 0.0
    function = next((e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"AWS_LAMBDA_FUNCTION_NAME=")), None)
    peak = next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")), 0.0)
    return function, peak
