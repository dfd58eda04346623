"""At `pipeline local start`: find pipeline stacks whose resources are gone, say so, and redeploy them.

A stack can be recorded while its resources are missing when a save of the local cloud was cut short before
saves were whole generations (the CloudFormation record was written, DynamoDB, Lambda, SNS, SQS... were not),
or when a service's saved state could not be loaded. Each resource is looked up by its physical id with its
own service's API, as a user would find it missing.

A stack update cannot recreate a resource CloudFormation believes exists, so the repair deletes the stack and
deploys it again. That is only done when no DynamoDB table of the stack still holds items. The stack keeps its
buckets, tables and log groups when deleted (`RetainExceptOnCreate`): those holding nothing are removed, buckets
holding objects are adopted into the new stack by an IMPORT change set (as on AWS), then the full deploy runs as
an update around them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from pipeline.runtime import aws

Progress = Callable[[str], None]
HEALTHY = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE")
NOUNS = {
    "AWS::DynamoDB::Table": ("table", "tables"),
    "AWS::Lambda::Function": ("function", "functions"),
    "AWS::SQS::Queue": ("queue", "queues"),
    "AWS::SNS::Topic": ("topic", "topics"),
    "AWS::SNS::Subscription": ("subscription", "subscriptions"),
    "AWS::StepFunctions::StateMachine": ("state machine", "state machines"),
    "AWS::S3::Bucket": ("bucket", "buckets"),
    "AWS::Glue::Database": ("Glue database", "Glue databases"),
    "AWS::Glue::Table": ("Glue table", "Glue tables"),
    "AWS::Athena::WorkGroup": ("Athena workgroup", "Athena workgroups"),
    "AWS::IAM::Role": ("role", "roles"),
    "AWS::Lambda::EventSourceMapping": ("event source mapping", "event source mappings"),
}
NAMED = ("AWS::DynamoDB::Table", "AWS::StepFunctions::StateMachine", "AWS::Glue::Database")


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    physical_id: str

    @property
    def short_name(self) -> str:
        return self.physical_id.rsplit(":", 1)[-1].rsplit("/", 1)[-1]


@dataclass
class StackHealth:
    """What a recorded stack has lost, and what data it still holds."""

    stack: str
    resources: list[Resource]
    missing: list[Resource] = field(default_factory=list)
    table_items: dict[str, int] = field(default_factory=dict)  # surviving tables and their item counts
    bucket_objects: dict[str, int] = field(default_factory=dict)  # surviving buckets and their object counts

    @property
    def stage(self) -> str:
        return self.stack.removeprefix("pipeline-")

    @property
    def repairable(self) -> bool:
        return not any(self.table_items.values())

    def missing_summary(self) -> str:
        by_type: dict[str, list[Resource]] = {}
        for resource in self.missing:
            by_type.setdefault(resource.type, []).append(resource)
        parts = []
        for rtype, found in sorted(by_type.items(), key=lambda kv: list(NOUNS).index(kv[0]) if kv[0] in NOUNS else 99):
            one, many = NOUNS.get(rtype, (rtype, rtype))
            if rtype in NAMED:
                parts.append(f"{one if len(found) == 1 else many} {', '.join(r.short_name for r in found)}")
            else:
                parts.append(f"{len(found)} {one if len(found) == 1 else many}")
        return "; ".join(parts)


_NOT_FOUND = {
    "ResourceNotFoundException",
    "EntityNotFoundException",
    "NoSuchEntity",
    "NoSuchBucket",
    "NotFound",
    "404",
    "NotFoundException",
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
    "StateMachineDoesNotExist",
    "InvalidRequestException",
}


def _look_up(resource: Resource, database: str | None) -> None:
    """Ask the resource's service for it by its physical id (raises ClientError when it is not there)."""
    rtype, pid = resource.type, resource.physical_id
    if rtype == "AWS::DynamoDB::Table":
        aws.client("dynamodb").describe_table(TableName=pid)
    elif rtype == "AWS::Lambda::Function":
        aws.client("lambda").get_function_configuration(FunctionName=pid)
    elif rtype == "AWS::SQS::Queue":
        aws.client("sqs").get_queue_attributes(QueueUrl=pid, AttributeNames=["QueueArn"])
    elif rtype == "AWS::SNS::Topic":
        aws.client("sns").get_topic_attributes(TopicArn=pid)
    elif rtype == "AWS::StepFunctions::StateMachine":
        aws.client("stepfunctions").describe_state_machine(stateMachineArn=pid)
    elif rtype == "AWS::S3::Bucket":
        aws.client("s3").head_bucket(Bucket=pid)
    elif rtype == "AWS::IAM::Role":
        aws.client("iam").get_role(RoleName=pid.rsplit("/", 1)[-1])
    elif rtype == "AWS::Glue::Database":
        aws.client("glue").get_database(Name=pid)
    elif rtype == "AWS::Glue::Table" and database:
        aws.client("glue").get_table(DatabaseName=database, Name=pid)
    elif rtype == "AWS::Athena::WorkGroup":
        aws.client("athena").get_work_group(WorkGroup=pid)
    elif rtype == "AWS::Lambda::EventSourceMapping":
        aws.client("lambda").get_event_source_mapping(UUID=pid)


def _exists(resource: Resource, database: str | None) -> bool:
    try:
        _look_up(resource, database)
    except ClientError as exc:
        if aws.error_code(exc) in _NOT_FOUND:
            return False
        raise
    return True


def _count_items(table: str) -> int:
    ddb = aws.client("dynamodb")
    count = int(ddb.describe_table(TableName=table)["Table"].get("ItemCount", 0))
    return count or int(ddb.scan(TableName=table, Select="COUNT", Limit=1).get("Count", 0))


def _count_objects(bucket: str) -> int:
    count = 0
    for page in aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket):
        count += int(page.get("KeyCount", 0))
    return count


def _holds_versions(bucket: str) -> bool:
    """Whether the bucket holds any object version or delete marker (noncurrent ones are data too)."""
    page = aws.client("s3").list_object_versions(Bucket=bucket, MaxKeys=1)
    return bool(page.get("Versions") or page.get("DeleteMarkers"))


def check(stack: str) -> StackHealth:
    """Which of a stack's resources are missing, and what data its surviving tables and buckets hold."""
    cfn = aws.client("cloudformation")
    resources = [
        Resource(r["LogicalResourceId"], r["ResourceType"], r.get("PhysicalResourceId", ""))
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack)
        for r in page["StackResourceSummaries"]
    ]
    health = StackHealth(stack, resources)
    database = next((r.physical_id for r in resources if r.type == "AWS::Glue::Database"), None)
    for resource in resources:
        if not _exists(resource, database):
            health.missing.append(resource)
        elif resource.type == "AWS::DynamoDB::Table":
            health.table_items[resource.physical_id] = _count_items(resource.physical_id)
        elif resource.type == "AWS::S3::Bucket":
            health.bucket_objects[resource.physical_id] = _count_objects(resource.physical_id)
    return health


def pipeline_stacks() -> list[str]:
    """Names of the pipeline stacks recorded in the (running) local cloud."""
    cfn = aws.client("cloudformation")
    names = []
    for page in cfn.get_paginator("list_stacks").paginate(StackStatusFilter=list(HEALTHY)):
        names += [s["StackName"] for s in page["StackSummaries"] if s["StackName"].startswith("pipeline-")]
    return names


def _parameters(stack: str) -> dict[str, str]:
    """The stack's own parameter values, less those `pipeline deploy` computes for every deployment."""
    computed = {"Stage", "ArtifactBucket", "CodeKey", "BatchDefinitionKey", "DepsLayerKey"}
    described: dict[str, Any] = aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {
        p["ParameterKey"]: p["ParameterValue"]
        for p in described.get("Parameters", [])
        if p["ParameterKey"] not in computed and "ParameterValue" in p
    }


def redeploy(health: StackHealth, progress: Progress) -> None:
    """Delete the stack, adopt the buckets it kept (with their objects) into a new one, and deploy it again with
    the parameters it had."""
    from pipeline.tools.deploy import stack as stack_ops

    parameters = _parameters(health.stack)
    cfn = aws.client("cloudformation")
    cfn.delete_stack(StackName=health.stack)
    for _ in range(600):
        try:
            status = cfn.describe_stacks(StackName=health.stack)["Stacks"][0]["StackStatus"]
        except ClientError as exc:
            if "does not exist" not in str(exc):
                raise
            break
        if not status.endswith("IN_PROGRESS"):
            break
        time.sleep(0.5)
    kept = _clear_kept_leftovers(health, progress)
    if kept:
        _import_kept(health.stack, kept, progress)
    progress(f"redeploying stack {health.stack} (stage {health.stage}) with its parameters")
    stack_ops.deploy_stage(health.stage, parameters, lambda line: None, local=True)


def _clear_kept_leftovers(health: StackHealth, progress: Progress) -> list[Any]:
    """Remove what the deleted stack kept (`DeletionPolicy: RetainExceptOnCreate`) and holds nothing: its log
    groups, and tables and buckets without items or object versions. Returns the kept resources that hold data
    (buckets with objects), which the new stack must adopt rather than create.
    """
    from pipeline.tools.deploy import package, retained

    account, region = aws.client("sts").get_caller_identity()["Account"], aws.region()
    holding: list[Any] = []
    for resource in retained.kept_resources(package.expanded_template(), health.stack, account, region):
        if not retained.exists(resource):
            continue
        if (resource.type == "AWS::DynamoDB::Table" and _count_items(resource.name)) or (
            resource.type == "AWS::S3::Bucket" and _holds_versions(resource.name)
        ):
            holding.append(resource)
            continue
        retained.remove(resource, lambda line: None)
        progress(f"removed the {resource} the broken stack kept, so that the redeploy can create it again")
    return holding


IMPORT_IDENTIFIERS = {"AWS::S3::Bucket": "BucketName", "AWS::DynamoDB::Table": "TableName"}


def _import_kept(stack: str, kept: list[Any], progress: Progress) -> None:
    """Adopt the kept buckets into a new stack of the same name with an IMPORT change set, as on AWS: a template
    of just those resources, each with its name only; the redeploy that follows is then an update that gives them
    their full properties and creates everything else around them."""
    cfn = aws.client("cloudformation")
    resources = {
        r.logical_id: {
            "Type": r.type,
            "DeletionPolicy": "RetainExceptOnCreate",
            "UpdateReplacePolicy": "Retain",
            "Properties": {IMPORT_IDENTIFIERS[r.type]: r.name},
        }
        for r in kept
    }
    body = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}
    progress("adopting the kept " + ", ".join(map(str, kept)) + " into the new stack (an IMPORT change set)")
    name = f"heal-import-{int(time.time())}"
    cfn.create_change_set(
        StackName=stack,
        ChangeSetName=name,
        ChangeSetType="IMPORT",
        TemplateBody=json.dumps(body),
        ResourcesToImport=[
            {
                "ResourceType": r.type,
                "LogicalResourceId": r.logical_id,
                "ResourceIdentifier": {IMPORT_IDENTIFIERS[r.type]: r.name},
            }
            for r in kept
        ],
    )
    cfn.get_waiter("change_set_create_complete").wait(
        StackName=stack, ChangeSetName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300}
    )
    cfn.execute_change_set(StackName=stack, ChangeSetName=name)
    cfn.get_waiter("stack_import_complete").wait(StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 600})


def lost_and_kept(health: StackHealth) -> str:
    """What data the missing resources held, and what was kept."""
    lost_tables = [r.short_name for r in health.missing if r.type == "AWS::DynamoDB::Table"]
    lost = (
        f"lost: table(s) {', '.join(lost_tables)} (job records and DynamoDB rows of the jobs before the save)"
        if lost_tables
        else "no DynamoDB data was lost"
    )
    if any(r.type in ("AWS::SQS::Queue", "AWS::StepFunctions::StateMachine") for r in health.missing):
        lost += ", queued messages and execution history"
    kept = ", ".join(f"{n:,} object(s) in {b}" for b, n in health.bucket_objects.items() if n)
    kept = kept or "no S3 objects"
    return f"{lost}; kept: {kept} (raw uploads and output files; upload a raw file again to rebuild its job)"
