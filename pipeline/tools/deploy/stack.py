"""Deploy the packaged template through a CloudFormation change set, with progress, and read its outputs."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from pipeline.runtime import aws
from pipeline.runtime.errors import PipelineError
from pipeline.tools.deploy import boundary, parameters, retained
from pipeline.tools.deploy.package import Artefacts, Platform, template_body

Progress = Callable[[str], None]
DONE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE")
FAILED = (
    "ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "CREATE_FAILED",
    "ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_FAILED",
    "DELETE_FAILED",
    "DELETE_COMPLETE",
)


class DeployError(PipelineError):
    """The stack could not be created or updated; the message names the failing resources."""


@dataclass(frozen=True)
class Target:
    """Where a stage is deployed: its stack name and artefact bucket."""

    stage: str
    region: str
    account: str
    partition: str = "aws"

    @property
    def stack_name(self) -> str:
        return f"pipeline-{self.stage}"

    @property
    def artifact_bucket(self) -> str:
        return f"pipeline-artifacts-{self.account}-{self.region}"


# Parameters of a stage in the local cloud: handlers run on the host venv (no layers) and without X-Ray.
LOCAL_PARAMETERS = {"PandasLayerArn": "", "TraceHandlers": "false"}
REGIONAL = "regional"


def platform_of(parameters: dict[str, str]) -> Platform:
    """The Lambda runtime and architecture a deployment's parameters ask for (template defaults otherwise)."""
    return Platform(parameters.get("LambdaRuntime", "python3.12"), parameters.get("LambdaArchitecture", "x86_64"))


def pandas_layer_arn(template: dict[str, Any], region: str, parameters: dict[str, str]) -> str:
    """The AWS SDK for pandas layer the stack will use; a readable error where the template has no default."""
    chosen = parameters.get("PandasLayerArn", template["Parameters"]["PandasLayerArn"].get("Default", ""))
    if chosen != REGIONAL:
        return chosen
    platform = platform_of(parameters)
    mapping = template.get("Mappings", {}).get("PandasLayerPython312", {})
    if platform.runtime != "python3.12" or region not in mapping:
        raise DeployError(
            f"no default AWS SDK for pandas layer for {platform.runtime}/{platform.arch} in {region}: pass "
            "-p PandasLayerArn=<ARN from https://aws-sdk-pandas.readthedocs.io/en/stable/layers.html>"
        )
    arm = "-Arm64" if platform.arch == "arm64" else ""
    return f"arn:aws:lambda:{region}:336392948345:layer:AWSSDKPandas-Python312{arm}:{mapping[region]['Version']}"


def target(stage: str) -> Target:
    """The deployment target of ``stage`` in the current account and region."""
    identity = aws.client("sts").get_caller_identity()
    region = aws.client("s3").meta.region_name or "us-east-1"
    partition = str(identity.get("Arn", "arn:aws:")).split(":")[1] or "aws"
    return Target(stage, region, identity["Account"], partition)


def ensure_artifact_bucket(name: str, region: str) -> None:
    """Create the artefact bucket (private, encrypted) if it does not exist yet."""
    s3 = aws.client("s3")
    try:
        s3.head_bucket(Bucket=name)
        return
    except ClientError as exc:
        if aws.error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
    kwargs: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


def _upload(bucket: str, key: str, body: bytes) -> None:
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


def _template_url(bucket: str, key: str, region: str) -> str:
    """Where CloudFormation reads the uploaded template: the S3 endpoint the upload went to (S3's own variable
    first, as botocore resolves it), else S3's regional virtual-hosted URL."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        return f"{endpoint.rstrip('/')}/{bucket}/{key}"
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


def _stack(name: str) -> dict[str, Any] | None:
    try:
        return aws.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise


def _failure_reasons(name: str) -> str:
    events = aws.client("cloudformation").describe_stack_events(StackName=name)["StackEvents"]
    reasons = [
        f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
        for e in events
        if e.get("ResourceStatus", "").endswith("FAILED")
    ]
    return "; ".join(reasons[:5]) or "see the stack events"


def stack_parameters(name: str) -> dict[str, str] | None:
    """The parameters the stack ``name`` runs with, or None when there is no stack to update."""
    current = _stack(name)
    if current is None or current["StackStatus"] in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED"):
        return None
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in current.get("Parameters", [])}


def _report_parameters(plan: parameters.Plan, progress: Progress) -> None:
    for change in plan.changes:
        progress(f"parameter {change}")
    if plan.kept:
        progress("keeping " + ", ".join(f"{name}={plan.effective[name]}" for name in plan.kept))


def _refuse_kept_data(tgt: Target, template: dict[str, Any]) -> None:
    """A new stack of a stage whose last stack left data behind would collide with it: say so before trying."""
    leftovers = [
        r for r in retained.kept_resources(template, tgt.stack_name, tgt.account, tgt.region) if retained.exists(r)
    ]
    if leftovers:
        raise DeployError(
            f"stage {tgt.stage} still holds data kept from an earlier stack ({', '.join(map(str, leftovers))}); "
            f"a new stack cannot take these names. Save what you need, then remove them with "
            f"`pipeline destroy --stage {tgt.stage} --delete-data`, or deploy another stage"
        )


def deploy(tgt: Target, artefacts: Artefacts, given: dict[str, str], progress: Progress) -> dict[str, str]:
    """Upload artefacts, create and execute a change set, wait for it, and return the stack outputs.

    Parameters not in ``given`` keep the value the stack already has (`UsePreviousValue`); a new stack takes the
    template defaults.
    """
    cfn = aws.client("cloudformation")
    ensure_artifact_bucket(tgt.artifact_bucket, tgt.region)
    progress(f"uploading artefacts to s3://{tgt.artifact_bucket}/")
    _upload(tgt.artifact_bucket, artefacts.code_key, artefacts.code_zip)
    layer: dict[str, str] = {}
    if artefacts.layer:
        _upload(tgt.artifact_bucket, artefacts.layer.key, artefacts.layer.zip)
        layer = {"DepsLayerKey": artefacts.layer.key}
    definition = artefacts.definitions["batch.asl.json"]
    definition_key = f"statemachines/batch-{hashlib.sha256(definition).hexdigest()[:20]}.asl.json"
    _upload(tgt.artifact_bucket, definition_key, definition)
    body = template_body(artefacts.template)
    template_key = f"templates/{tgt.stack_name}-{hashlib.sha256(body).hexdigest()[:20]}.json"
    _upload(tgt.artifact_bucket, template_key, body)

    params = {
        "Stage": tgt.stage,
        "ArtifactBucket": tgt.artifact_bucket,
        "CodeKey": artefacts.code_key,
        "BatchDefinitionKey": definition_key,
        **layer,
        **given,
    }
    existing = _stack(tgt.stack_name)
    if existing and existing["StackStatus"] in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED"):
        progress(f"removing failed stack {tgt.stack_name} ({existing['StackStatus']})")
        cfn.delete_stack(StackName=tgt.stack_name)
        _wait(tgt.stack_name, progress, deleting=True)
        existing = None
    previous = stack_parameters(tgt.stack_name) if existing else None
    plan = parameters.plan(artefacts.template, params, previous)
    _report_parameters(plan, progress)
    if not existing:
        _refuse_kept_data(tgt, artefacts.template)
    change_type = "UPDATE" if existing else "CREATE"
    change_set = f"deploy-{int(time.time())}"
    cfn.create_change_set(
        StackName=tgt.stack_name,
        ChangeSetName=change_set,
        ChangeSetType=change_type,
        TemplateURL=_template_url(tgt.artifact_bucket, template_key, tgt.region),
        Parameters=plan.cfn,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    described = _wait_change_set(tgt.stack_name, change_set)
    if described is None:
        progress("no changes: the stack is up to date")
        return outputs(tgt.stack_name)
    for change in described.get("Changes", []):
        rc = change.get("ResourceChange", {})
        progress(f"  {rc.get('Action', '?'):<7} {rc.get('LogicalResourceId')} ({rc.get('ResourceType')})")
    cfn.execute_change_set(StackName=tgt.stack_name, ChangeSetName=change_set)
    _wait(tgt.stack_name, progress)
    return outputs(tgt.stack_name)


def _wait_change_set(stack: str, name: str) -> dict[str, Any] | None:
    cfn = aws.client("cloudformation")
    for _ in range(600):
        described = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
        status = described.get("Status")
        if status == "CREATE_COMPLETE":
            return described
        if status == "FAILED":
            reason = described.get("StatusReason", "")
            if "didn't contain changes" in reason or "No updates" in reason:
                cfn.delete_change_set(StackName=stack, ChangeSetName=name)
                return None
            raise DeployError(f"change set failed: {reason}")
        time.sleep(0.5)
    raise DeployError("timed out creating the change set")


def _wait(stack: str, progress: Progress, deleting: bool = False) -> None:
    seen = ""
    for _ in range(3600):
        current = _stack(stack)
        if current is None:
            if deleting:
                return
            raise DeployError(f"stack {stack} disappeared")
        status = current["StackStatus"]
        if status != seen:
            progress(f"stack {stack}: {status}")
            seen = status
        if status.endswith("IN_PROGRESS"):
            time.sleep(1)
            continue
        if deleting and status == "DELETE_COMPLETE":
            return
        if status in DONE:
            return
        if status in FAILED:
            raise DeployError(f"stack {stack} ended {status}: {_failure_reasons(stack)}")
        time.sleep(1)
    raise DeployError(f"timed out waiting for stack {stack}")


def outputs(stack: str) -> dict[str, str]:
    """The stack's outputs by key (empty if it does not exist)."""
    current = _stack(stack)
    if not current:
        return {}
    return {o["OutputKey"]: o["OutputValue"] for o in current.get("Outputs", [])}


def destroy(tgt: Target, progress: Progress, delete_data: bool = False) -> list[retained.Kept]:
    """Delete the stage's stack; its buckets, tables and log groups stay unless ``delete_data``. Returns what stays.

    With ``delete_data`` the kept resources are removed after the stack (buckets emptied of every version first),
    also when the stack itself is already gone, so a stage can be deployed afresh under the same name.
    """
    from pipeline.tools.deploy import package

    kept = retained.kept_resources(package.expanded_template(), tgt.stack_name, tgt.account, tgt.region)
    current = _stack(tgt.stack_name)
    if current is None:
        progress(f"stack {tgt.stack_name} does not exist")
    else:
        if delete_data:  # emptied first, so nothing lands in them between the stack's deletion and theirs
            for resource in kept:
                if resource.type == "AWS::S3::Bucket" and retained.exists(resource):
                    retained.empty_bucket(resource.name, progress)
        aws.client("cloudformation").delete_stack(StackName=tgt.stack_name)
        _wait(tgt.stack_name, progress, deleting=True)
        progress(f"stack {tgt.stack_name} deleted")
    present = [r for r in kept if retained.exists(r)]
    if delete_data:
        for resource in present:
            retained.remove(resource, progress)
        return []
    if present:
        progress("kept (the stage's data, which a stack deletion never removes):")
        for resource in present:
            progress(f"  {resource}")
        progress(
            f"remove them with `pipeline destroy --stage {tgt.stage} --delete-data`; until then a new stack of "
            f"stage {tgt.stage} cannot be created"
        )
    return present


def _local_boundary(tgt: Target, progress: Progress) -> str:
    """The local cloud's boundary, created from the shipped document on first use (what `pipeline bootstrap` does).

    MiniStack does not enforce IAM (nor attach a role's boundary); the parameter keeps the deploy as on AWS.
    """
    try:
        return boundary.require(tgt.partition, tgt.account)
    except boundary.BoundaryMissingError:
        return boundary.ensure(tgt.partition, tgt.account, progress)


def deploy_stage(
    stage: str, given: dict[str, str], progress: Progress, local: bool, evolution: Any = None
) -> dict[str, str]:
    """Build and deploy a stage: the code zip alone into the local cloud, code plus dependencies layer on AWS.

    Contract changes are compared with the stage's deployed contracts first (`pipeline.tools.schema.evolve`): unsafe
    ones are refused unless ``evolution`` (an `Evolution`) allows them; after the update, registered partitions
    of changed datasets take the tables' new column lists.
    """
    from pipeline.tools.deploy import package
    from pipeline.tools.schema import evolve

    tgt = target(stage)
    template = package.expanded_template()
    if local:  # MiniStack does not enforce IAM, but the roles carry the boundary all the same
        given = {
            **LOCAL_PARAMETERS,
            **given,
            "PermissionsBoundaryArn": _local_boundary(tgt, progress),
        }
        parameters.plan(template, given, None)  # unknown names fail before the build
        artefacts = package.build()
    else:
        given = {**given, "PermissionsBoundaryArn": boundary.require(tgt.partition, tgt.account)}
        effective = parameters.plan(template, given, stack_parameters(tgt.stack_name)).effective
        platform = platform_of(effective)
        layer_arn = pandas_layer_arn(template, tgt.region, effective)
        progress(f"AWS SDK for pandas layer: {layer_arn or 'none'}")
        progress(f"building the dependencies layer for {platform.runtime}/{platform.arch}")
        artefacts = package.build(platform=platform)
    progress(f"built code artefact {artefacts.code_key} ({len(artefacts.code_zip) / 1024:.0f} KiB)")
    if artefacts.layer:
        progress(f"built dependencies layer {artefacts.layer.key} ({len(artefacts.layer.zip) / 1024:.0f} KiB)")
    diffs = evolve.before_deploy(tgt.stack_name, artefacts.contracts, evolution or evolve.Evolution(), progress)
    outs = deploy(tgt, artefacts, given, progress)
    evolve.after_deploy(outs, diffs, progress)
    return outs
