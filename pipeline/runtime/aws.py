"""One factory for AWS clients: endpoint and region from the environment, created lazily, cached per process."""

from __future__ import annotations

import contextlib
import io
import json
import os
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import NoRegionError, ProfileNotFound

# Our retries when the user chose none: many writers share DynamoDB's and S3's throughput, so adaptive mode (a
# client-side rate limiter) and 8 retries (9 attempts; botocore's default is 3). `AWS_MAX_ATTEMPTS` or
# `AWS_RETRY_MODE` (or `max_attempts` / `retry_mode` in the AWS profile) replace it: a client config would
# override them.
DEFAULT_RETRIES = {"max_attempts": 8, "mode": "adaptive"}
_RETRY_SETTINGS = (("AWS_MAX_ATTEMPTS", "max_attempts"), ("AWS_RETRY_MODE", "retry_mode"))

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
    body = params.get("Body")  # what a PutObject carried (benchmark accounting); botocore wraps bytes in BytesIO
    if isinstance(body, bytes | bytearray):
        out["Bytes"] = len(body)
    elif isinstance(body, io.BytesIO):
        out["Bytes"] = body.getbuffer().nbytes
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


FAILED_CALL = "pipeline_failed_call"  # the attribute naming the call on an error raised before AWS answered


def _mark_failed_call(exception: BaseException, event_name: str, **_: Any) -> None:
    """Name the call on an error raised before AWS answered (no credentials, no connection): `(service, op)`."""
    _after_call_error, service, operation = event_name.split(".", 2)
    with contextlib.suppress(AttributeError):  # an exception type with __slots__ keeps its plain message
        setattr(exception, FAILED_CALL, (service, operation))


def failed_call(exc: BaseException) -> tuple[str, str] | None:
    """(service, operation) of the call that raised ``exc`` when `remember_calls` is on; for a region missing,
    (service, "") of the client that could not be made."""
    return getattr(exc, FAILED_CALL, None)


@cache
def _session() -> boto3.session.Session:
    session = boto3.session.Session()
    path = os.environ.get(CALL_LOG_ENV)
    if path:  # request accounting (benchmark, permission check): one JSON line per API call
        session.events.register("before-parameter-build", _log_call(path))
    if _recent is not None:
        session.events.register("before-parameter-build", _remember)
        session.events.register("after-call-error", _mark_failed_call)
    return session


def _user_retries(session: boto3.session.Session) -> bool:
    """Whether the user set a retry setting, in the environment or in the AWS profile."""
    if any(os.environ.get(variable) for variable, _ in _RETRY_SETTINGS):
        return True
    try:
        profile = session._session.get_scoped_config()
    except ProfileNotFound:  # creating the client raises it with its own message
        return False
    return any(profile.get(name) for _, name in _RETRY_SETTINGS)


def client_config(session: boto3.session.Session) -> Config:
    """The client config: our connection pool, and our retries unless the user chose theirs."""
    if _user_retries(session):
        return Config(max_pool_connections=32)
    return Config(retries=dict(DEFAULT_RETRIES), max_pool_connections=32)


@cache
def client(service: str) -> Any:
    """A boto3 client for ``service``; `AWS_ENDPOINT_URL` (set only locally) points it at the local cloud."""
    session = _session()
    try:
        return session.client(service, config=client_config(session))
    except NoRegionError as exc:
        setattr(exc, FAILED_CALL, (service, ""))
        raise


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
