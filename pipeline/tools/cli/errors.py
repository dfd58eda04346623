"""The CLI's error boundary: any error becomes one line (what failed, on what, what to do) and exit code 1.

AWS errors name the operation and the resource (the latest call of that operation, `pipeline.runtime.aws.recent_call`);
`--debug` (or `PIPELINE_DEBUG=1`) shows the Python traceback instead.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from pipeline.runtime.errors import PipelineError

if TYPE_CHECKING:
    from botocore import exceptions as boto

DEBUG_ENV = "PIPELINE_DEBUG"

_MISSING = {
    "ResourceNotFoundException",
    "NoSuchBucket",
    "NoSuchKey",
    "NotFound",
    "404",
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
    "NotFoundException",
    "NotFoundFault",
    "StateMachineDoesNotExist",
    "ExecutionDoesNotExist",
    "EntityNotFoundException",
}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "Forbidden", "403"}
_BAD_CREDENTIALS = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "InvalidToken",
}
_THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "SlowDown",
}
_PARAMETERS = {
    "TableName": "table",
    "Bucket": "bucket",
    "QueueUrl": "queue",
    "QueueName": "queue",
    "TopicArn": "topic",
    "StateMachineArn": "state machine",
    "stateMachineArn": "state machine",
    "executionArn": "execution",
    "FunctionName": "function",
    "DatabaseName": "Glue database",
    "WorkGroup": "workgroup",
    "StackName": "stack",
}


def _local() -> bool:
    """Whether this command talks to the local cloud (`pipeline.tools.cli.target.resolve` set its endpoint)."""
    return bool(os.environ.get("AWS_ENDPOINT_URL"))


def _resource(operation: str) -> str:
    from pipeline.runtime import aws

    recent = aws.recent_call(operation)
    if not recent:
        return ""
    params = recent[1]
    if params.get("Bucket") and params.get("Key"):
        return f"s3://{params['Bucket']}/{params['Key']}"
    for name, noun in _PARAMETERS.items():
        if isinstance(params.get(name), str):
            return f"{noun} {params[name].rsplit(':', 1)[-1] if name.endswith(('Arn', 'arn')) else params[name]}"
    if params.get("RequestItems"):
        return f"table {', '.join(params['RequestItems'])}"
    return ""


def _hint(code: str) -> str:
    if code in _MISSING:
        if _local():
            return (
                "the local cloud does not have it: `pipeline local start` repairs a stack whose resources are "
                "missing, `pipeline deploy --local` (re)creates the stack"
            )
        return "check the stage name, or deploy it: `pipeline deploy --stage NAME`"
    if code in _DENIED:
        return "your AWS principal is not allowed this: attach docs/deployer-policy.json (see the README, On AWS)"
    if code in _BAD_CREDENTIALS:
        return "your AWS credentials are invalid or expired: refresh them (`aws sso login`, `aws configure`)"
    if code in _THROTTLED:
        return "AWS is throttling the requests: try again in a minute"
    return ""


def _client_error(exc: boto.ClientError) -> str:
    error: dict[str, Any] = exc.response.get("Error", {})
    code = str(error.get("Code") or "Unknown")
    message = str(error.get("Message") or "").strip().rstrip(".")
    from pipeline.runtime import aws

    operation = exc.operation_name
    recent = aws.recent_call(operation)
    service = f"{recent[0]} " if recent else ""
    where = _resource(operation)
    line = f"AWS {service}{operation}{f' on {where}' if where else ''} failed: {code}"
    line += f": {message}" if message and message != code else ""
    hint = _hint(code)
    return f"{line}; {hint}" if hint else line


def describe(exc: BaseException) -> str:
    """One line for the user: what failed, on which resource, and what to do."""
    from botocore import exceptions as boto  # here, not at the top: `pipeline --help` need not load botocore

    from pipeline.runtime import aws

    if isinstance(exc, PipelineError):
        return str(exc)
    if isinstance(exc, boto.ClientError):
        return _client_error(exc)
    line = _plain(exc)
    call = aws.failed_call(exc)
    if call is None:
        return line
    service, operation = call
    if not operation:  # the client could not be made
        return f"AWS {service} client: {line}"
    where = _resource(operation)
    return f"AWS {service} {operation}{f' on {where}' if where else ''} failed: {line}"


def _plain(exc: BaseException) -> str:
    from botocore import exceptions as boto

    if isinstance(exc, boto.NoRegionError):
        return "no AWS region is set: pass --region, or set AWS_DEFAULT_REGION (or a region in your AWS profile)"
    if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
        return "no AWS credentials found: run `aws configure` or `aws sso login`, or set AWS_PROFILE"
    if isinstance(exc, boto.ProfileNotFound):
        return f"{exc}: check --profile / AWS_PROFILE against ~/.aws/config"
    if isinstance(exc, boto.TokenRetrievalError | boto.SSOTokenLoadError | boto.UnauthorizedSSOTokenError):
        return f"your AWS SSO session has expired or is missing ({exc}): run `aws sso login`"
    if isinstance(exc, boto.EndpointConnectionError | boto.ConnectTimeoutError | boto.ReadTimeoutError):
        url = getattr(exc, "kwargs", {}).get("endpoint_url", "the endpoint")
        if _local():
            return f"the local cloud at {url} does not answer: start it with `pipeline local start`"
        return f"cannot reach {url}: check your network connection and the region"
    if isinstance(exc, boto.ParamValidationError):
        return f"invalid AWS request: {exc}"
    if isinstance(exc, boto.BotoCoreError):
        return f"AWS client error: {exc}"
    try:
        from pyathena.error import Error as AthenaError
    except ImportError:  # pragma: no cover - pyathena is a dependency
        AthenaError = ()  # type: ignore[assignment,misc]
    if isinstance(exc, AthenaError):
        return f"Athena query failed: {exc}"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror or exc}: {exc.filename}"
    return f"unexpected {type(exc).__name__}: {exc} (a bug: run again with --debug for the traceback, and report it)"


def debugging(ctx: click.Context | None = None) -> bool:
    flag = bool(ctx and ctx.find_root().params.get("debug"))
    return flag or os.environ.get(DEBUG_ENV, "") not in ("", "0")


class ErrorBoundary(click.Group):
    """The `pipeline` group: whatever a command raises becomes `error: <one line>` and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        from pipeline.runtime import aws

        aws.remember_calls()
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if debugging(ctx):
                raise
            from pipeline.tools.cli.views import err

            err.print(f"[red]error:[/] {escape(describe(exc))}", soft_wrap=True)
            sys.exit(1)
