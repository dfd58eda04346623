"""The data a stage keeps when its stack is deleted (`DeletionPolicy: Retain...`), found by name and removed on request.

Buckets, tables and log groups of the template are kept by CloudFormation when the stack goes. Their names are
fixed by the template (`${AWS::StackName}-...`), so they are derived here from the template for any stage, with
or without its stack, and a new stack of the same stage would collide with them until they are removed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from pipeline.runtime import aws
from pipeline.runtime.errors import PipelineError

KEPT_POLICIES = ("Retain", "RetainExceptOnCreate")
# The property that names each kind of resource the template keeps.
NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Logs::LogGroup": "LogGroupName",
}
Progress = Callable[[str], None]


class RetainedError(PipelineError):
    """A kept resource the template names in a way this module cannot resolve, or of a kind it cannot remove."""


@dataclass(frozen=True)
class Kept:
    """One resource the stack keeps: its logical id, type and physical name."""

    logical_id: str
    type: str
    name: str

    @property
    def kind(self) -> str:
        return {"AWS::S3::Bucket": "bucket", "AWS::DynamoDB::Table": "table", "AWS::Logs::LogGroup": "log group"}[
            self.type
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


def _substitute(value: Any, pseudo: dict[str, str], logical_id: str) -> str:
    text = value.get("Fn::Sub") if isinstance(value, dict) else value
    if not isinstance(text, str):
        raise RetainedError(f"{logical_id}: its name must be a string or a plain Fn::Sub, not {value!r}")

    def one(match: re.Match[str]) -> str:
        if match.group(1) not in pseudo:
            raise RetainedError(f"{logical_id}: its name uses ${{{match.group(1)}}}, which only the stack knows")
        return pseudo[match.group(1)]

    return re.sub(r"\$\{([^}]+)\}", one, text)


def kept_resources(template: dict[str, Any], stack_name: str, account: str, region: str) -> list[Kept]:
    """Every resource of ``template`` that a deleted stack ``stack_name`` leaves behind, with its name."""
    pseudo = {"AWS::StackName": stack_name, "AWS::AccountId": account, "AWS::Region": region}
    kept = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("DeletionPolicy") not in KEPT_POLICIES:
            continue
        prop = NAME_PROPERTY.get(resource["Type"])
        if prop is None or prop not in resource.get("Properties", {}):
            raise RetainedError(f"{logical_id}: a kept {resource['Type']} needs a fixed {prop or 'name'} here")
        kept.append(Kept(logical_id, resource["Type"], _substitute(resource["Properties"][prop], pseudo, logical_id)))
    return kept


def _missing(exc: ClientError) -> bool:
    return aws.error_code(exc) in ("404", "NoSuchBucket", "NotFound", "ResourceNotFoundException")


def exists(resource: Kept) -> bool:
    """Whether ``resource`` is there (a bucket name another account holds counts: the name is taken)."""
    try:
        if resource.type == "AWS::S3::Bucket":
            aws.client("s3").head_bucket(Bucket=resource.name)
        elif resource.type == "AWS::DynamoDB::Table":
            aws.client("dynamodb").describe_table(TableName=resource.name)
        else:
            groups = aws.client("logs").describe_log_groups(logGroupNamePrefix=resource.name)["logGroups"]
            return any(g["logGroupName"] == resource.name for g in groups)
    except ClientError as exc:
        if _missing(exc):
            return False
        if aws.error_code(exc) in ("403", "AccessDenied", "Forbidden"):
            return True
        raise RetainedError(f"cannot tell whether {resource} exists: {exc}") from exc
    return True


def empty_bucket(bucket: str, progress: Progress) -> int:
    """Delete every object version and delete marker of ``bucket``; how many were deleted."""
    s3 = aws.client("s3")
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        objects = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        for i in range(0, len(objects), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects[i : i + 1000], "Quiet": True})
        deleted += len(objects)
    if deleted:
        progress(f"emptied bucket {bucket} ({deleted} object versions)")
    return deleted


def _delete_bucket(bucket: str, progress: Progress, attempts: int = 5) -> None:
    """Empty and delete ``bucket``; objects that land meanwhile (late access-log deliveries) are emptied again."""
    for attempt in range(attempts):
        empty_bucket(bucket, progress)
        try:
            aws.client("s3").delete_bucket(Bucket=bucket)
            return
        except ClientError as exc:
            if aws.error_code(exc) != "BucketNotEmpty" or attempt == attempts - 1:
                raise
            time.sleep(2.0 * (attempt + 1))


def remove(resource: Kept, progress: Progress) -> None:
    """Delete ``resource`` and what it holds (a bucket is emptied of every version first)."""
    try:
        _remove(resource, progress)
    except ClientError as exc:
        raise RetainedError(f"could not delete {resource}: {exc}") from exc
    progress(f"deleted {resource}")


def _remove(resource: Kept, progress: Progress) -> None:
    if resource.type == "AWS::S3::Bucket":
        _delete_bucket(resource.name, progress)
    elif resource.type == "AWS::DynamoDB::Table":
        dynamodb = aws.client("dynamodb")
        dynamodb.delete_table(TableName=resource.name)
        dynamodb.get_waiter("table_not_exists").wait(TableName=resource.name, WaiterConfig={"Delay": 2})
    else:
        aws.client("logs").delete_log_group(logGroupName=resource.name)
