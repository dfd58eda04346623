"""One factory for AWS clients: endpoint and region from the environment, created lazily, cached per process."""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"max_attempts": 8, "mode": "adaptive"}, max_pool_connections=32)

CALL_LOG_ENV = "PIPELINE_CALL_LOG"
_LOGGED_PARAMS = (
    "Bucket",
    "Key",
    "VersionId",
    "TableName",
    "IndexName",
    "QueueUrl",
    "QueueName",
    "QueueOwnerAWSAccountId",
    "TopicArn",
    "TargetArn",
    "StateMachineArn",
    "stateMachineArn",
    "executionArn",
    "FunctionName",
    "DatabaseName",
    "Name",
    "WorkGroup",
    "StackName",
    "PolicyArn",
    "logGroupName",
)


def _call_params(params: dict[str, Any]) -> dict[str, Any]:
    """The resource-naming subset of a call's parameters (table names of batch and transact calls included).

    Transact items are logged as `Op:table` (`Put:jobs`): IAM authorises each item as its single-item action.
    """
    out = {name: params[name] for name in _LOGGED_PARAMS if isinstance(params.get(name), str)}
    if isinstance(params.get("RequestItems"), dict):
        out["RequestItems"] = sorted(params["RequestItems"])
    if isinstance(params.get("TransactItems"), list):
        out["TransactItems"] = sorted(
            {
                f"{name}:{op['TableName']}"
                for item in params["TransactItems"]
                for name, op in item.items()
                if isinstance(op, dict) and op.get("TableName")
            }
        )
    if isinstance(params.get("Delete"), dict):  # s3 DeleteObjects: IAM authorises s3:DeleteObject per key
        objects = params["Delete"].get("Objects", [])
        out["Keys"] = sorted({str(o.get("Key")) for o in objects})
        if any(o.get("VersionId") for o in objects):  # ... and s3:DeleteObjectVersion for a version
            out["Versioned"] = True
    return out


def _log_call(path: str) -> Any:
    def log(params: dict[str, Any], model: Any, **_: Any) -> None:
        line = {
            "function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
            "service": model.service_model.service_name,
            "operation": model.name,
            "params": _call_params(params),
        }
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:  # one write() of one line: appends from concurrent processes and threads never interleave
            os.write(fd, (json.dumps(line, default=str) + "\n").encode())
        finally:
            os.close(fd)

    return log


_recent: dict[str, tuple[str, dict[str, Any]]] | None = None  # operation -> (service, resource params): CLI only


def remember_calls() -> None:
    """Keep the resource names of the latest call of each operation, so an error can name its resource.

    Off unless asked (the CLI asks): Lambda handlers make tens of thousands of calls per job.
    """
    global _recent
    if _recent is None:
        _recent = {}
        reset()


def recent_call(operation: str) -> tuple[str, dict[str, Any]] | None:
    """(service, resource-naming parameters) of the latest ``operation`` call, when `remember_calls` is on."""
    return (_recent or {}).get(operation)


def _remember(params: dict[str, Any], model: Any, **_: Any) -> None:
    if _recent is not None:
        _recent[model.name] = (model.service_model.service_name, _call_params(params))


@cache
def _session() -> boto3.session.Session:
    session = boto3.session.Session()
    path = os.environ.get(CALL_LOG_ENV)
    if path:  # request accounting (benchmark, permission check): one JSON line per API call
        session.events.register("before-parameter-build", _log_call(path))
    if _recent is not None:
        session.events.register("before-parameter-build", _remember)
    return session


@cache
def client(service: str) -> Any:
    """A boto3 client for ``service``; `AWS_ENDPOINT_URL` (set only locally) points it at the local cloud."""
    return _session().client(service, config=_CONFIG)


def region() -> str:
    """The region clients use: the environment, else the profile's, else us-east-1."""
    return _session().region_name or "us-east-1"


def reset() -> None:
    """Forget cached clients (tests that switch endpoints call this)."""
    client.cache_clear()
    _session.cache_clear()


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore `ClientError` (`ConditionalCheckFailedException`, `404`, ...); "" if none."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
