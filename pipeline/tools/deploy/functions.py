"""Render the template's `Pipeline::Function` and `Pipeline::Alarm` entries into CloudFormation resources.

What every function shares (its role's trust policy, path and boundary, its log group, runtime, layers, tracing,
Powertools settings, the checkov reasons that hold for all of them, and its errors and throttles alarms) is written
once here; what differs (name, handler, sizes, environment, its own policy statements) stays in the template, next
to the rest of the stack (docs/adr/0008-functions-and-alarms-rendered-at-package-time.md). An entry

    UploadFunction:
      Type: Pipeline::Function
      Properties: {Name: upload, Title: upload processor, Handler: ..., Statements: [...], ...}

becomes `UploadRole` (its own policy: ``Statements`` plus writing to its own log group and X-Ray), `UploadLogGroup`,
`UploadFunction`, `UploadErrorsAlarm`, `UploadThrottlesAlarm` and an output `UploadFunction`. A `Pipeline::Alarm`
names only its metric; period, comparison and action are the same for every alarm of the stack.
"""

from __future__ import annotations

import copy
from typing import Any

from pipeline.runtime.errors import PipelineError

FUNCTION_TYPE = "Pipeline::Function"
ALARM_TYPE = "Pipeline::Alarm"

_FUNCTION_REQUIRED = {
    "Name", "Title", "Description", "Handler", "MemorySize", "Timeout", "ReservedConcurrentExecutions",
    "Environment", "Statements",
}  # fmt: skip
_FUNCTION_OPTIONAL = {"PandasLayer"}
_ALARM_REQUIRED = {"Name", "Description", "Namespace", "MetricName", "Dimensions", "Statistic"}
_ALARM_OPTIONAL = {"Threshold"}

# The same reason holds for every function; a reason of its own (CKV_AWS_116) stays in the template entry.
_FUNCTION_SKIPS = [
    {"id": "CKV_AWS_117", "comment": "The function only calls public AWS endpoints; a VPC adds NAT cost without a security gain here."},  # noqa: E501
    {"id": "CKV_AWS_173", "comment": "Environment variables hold resource names only, no secrets."},
]
_LOG_GROUP_SKIPS = [
    {"id": "CKV_AWS_158", "comment": "CloudWatch Logs encrypts at rest by default; a customer key is an account policy choice."},  # noqa: E501
    {"id": "CKV_AWS_66", "comment": "Retention is set from the LogRetentionDays parameter."},
]
_NO_VALUE = {"Ref": "AWS::NoValue"}
_DEPS_LAYER = {"Fn::If": ["HasDepsLayer", {"Ref": "DepsLayer"}, _NO_VALUE]}
_ONLY_DEPS_LAYER = {"Fn::If": ["HasDepsLayer", [{"Ref": "DepsLayer"}], _NO_VALUE]}
_BOUNDARY = {"Fn::If": ["HasPermissionsBoundary", {"Ref": "PermissionsBoundaryArn"}, _NO_VALUE]}
_LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
_PANDAS_LAYER = {
    "Fn::If": [
        "UseRegionalPandasLayer",
        {
            "Fn::Sub": [
                "arn:${AWS::Partition}:lambda:${AWS::Region}:336392948345:layer:AWSSDKPandas-Python312${Arm}:${Version}",
                {
                    "Arm": {"Fn::If": ["IsArm64", "-Arm64", ""]},
                    "Version": {"Fn::FindInMap": ["PandasLayerPython312", {"Ref": "AWS::Region"}, "Version"]},
                },
            ]
        },
        {"Ref": "PandasLayerArn"},
    ]
}


class TemplateError(PipelineError):
    """A `Pipeline::` entry of the template is missing a property or has one this renderer does not know."""


def _checked(logical_id: str, entry: dict[str, Any], required: set[str], optional: set[str]) -> dict[str, Any]:
    props = entry.get("Properties") or {}
    missing, unknown = required - props.keys(), props.keys() - required - optional
    if missing or unknown:
        problems = [f"missing {', '.join(sorted(missing))}"] * bool(missing)
        problems += [f"unknown {', '.join(sorted(unknown))}"] * bool(unknown)
        raise TemplateError(f"{logical_id} ({entry['Type']}): {'; '.join(problems)}")
    if unknown_keys := entry.keys() - {"Type", "Properties", "Metadata"}:
        raise TemplateError(f"{logical_id} ({entry['Type']}): unknown {', '.join(sorted(unknown_keys))}")
    return copy.deepcopy(props)


def _alarm(name: str, description: str, namespace: str, metric: str, dimensions: dict[str, Any], statistic: str,
           threshold: Any = 0) -> dict[str, Any]:  # fmt: skip
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": {"Fn::Sub": f"${{AWS::StackName}}-{name}"},
            "AlarmDescription": description,
            "Namespace": namespace,
            "MetricName": metric,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            "Statistic": statistic,
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": threshold,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": "AlarmTopic"}],
        },
    }


def _function_resources(logical_id: str, entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    if not logical_id.endswith("Function") or logical_id == "Function":
        raise TemplateError(f"{logical_id} ({FUNCTION_TYPE}): its logical id must be <Prefix>Function")
    props = _checked(logical_id, entry, _FUNCTION_REQUIRED, _FUNCTION_OPTIONAL)
    prefix, name, title = logical_id.removesuffix("Function"), props["Name"], props["Title"]
    role, log_group = f"{prefix}Role", f"{prefix}LogGroup"
    statements = [
        *props["Statements"],
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": {"Fn::GetAtt": [log_group, "Arn"]},
        },
        {
            "Sid": "Tracing",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": "*",  # X-Ray has no resource-level permissions
        },
    ]
    layers = (
        {"Fn::If": ["HasPandasLayer", [_PANDAS_LAYER, _DEPS_LAYER], _ONLY_DEPS_LAYER]}
        if props.get("PandasLayer")
        else _ONLY_DEPS_LAYER
    )
    environment = {
        "POWERTOOLS_LOG_LEVEL": {"Ref": "LogLevel"},
        "POWERTOOLS_METRICS_NAMESPACE": "CsvPipeline",
        "POWERTOOLS_TRACE_DISABLED": {"Fn::If": ["TraceHandlersOn", "false", "true"]},
        "PIPELINE_STAGE": {"Ref": "Stage"},
    }
    if clash := environment.keys() & props["Environment"].keys():
        raise TemplateError(f"{logical_id} ({FUNCTION_TYPE}): Environment sets {', '.join(sorted(clash))}, set here")
    skips = (entry.get("Metadata") or {}).get("checkov", {}).get("skip", [])
    by_function = {"FunctionName": {"Ref": logical_id}}
    throttled = f"The {title} was throttled (reserved concurrency or the account limit reached)."
    return {
        role: {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Path": "/pipeline/",  # the deployer policy manages and passes roles under this path only
                "PermissionsBoundary": copy.deepcopy(_BOUNDARY),
                "AssumeRolePolicyDocument": copy.deepcopy(_LAMBDA_TRUST),
                "Policies": [
                    {"PolicyName": name, "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}
                ],
            },
        },
        log_group: {
            "Type": "AWS::Logs::LogGroup",
            # Kept when the stack is deleted (`pipeline destroy --delete-data` removes it); retention still applies.
            "DeletionPolicy": "RetainExceptOnCreate",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "LogGroupName": {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{name}"},
                "RetentionInDays": {"Ref": "LogRetentionDays"},
            },
            "Metadata": {"checkov": {"skip": copy.deepcopy(_LOG_GROUP_SKIPS)}},
        },
        logical_id: {
            "Type": "AWS::Lambda::Function",
            "DependsOn": log_group,
            "Properties": {
                "FunctionName": {"Fn::Sub": f"${{AWS::StackName}}-{name}"},
                "Description": props["Description"],
                "Runtime": {"Ref": "LambdaRuntime"},
                "Architectures": [{"Ref": "LambdaArchitecture"}],
                "Handler": props["Handler"],
                "Role": {"Fn::GetAtt": [role, "Arn"]},
                "Code": {"S3Bucket": {"Ref": "ArtifactBucket"}, "S3Key": {"Ref": "CodeKey"}},
                "Layers": copy.deepcopy(layers),
                "MemorySize": props["MemorySize"],
                "Timeout": props["Timeout"],
                "ReservedConcurrentExecutions": props["ReservedConcurrentExecutions"],
                "TracingConfig": {"Mode": "Active"},
                "Environment": {"Variables": {**environment, **props["Environment"]}},
            },
            "Metadata": {"checkov": {"skip": [*skips, *copy.deepcopy(_FUNCTION_SKIPS)]}},
        },
        f"{prefix}ErrorsAlarm": _alarm(f"{name}-errors", f"The {title} raised errors.", "AWS/Lambda", "Errors",
                                       by_function, "Sum"),
        f"{prefix}ThrottlesAlarm": _alarm(f"{name}-throttles", throttled, "AWS/Lambda", "Throttles", by_function,
                                          "Sum"),
    }


def _alarm_resource(logical_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    props = _checked(logical_id, entry, _ALARM_REQUIRED, _ALARM_OPTIONAL)
    return _alarm(
        props["Name"], props["Description"], props["Namespace"], props["MetricName"], props["Dimensions"],
        props["Statistic"], props.get("Threshold", 0),
    )  # fmt: skip


def expand(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``template`` with every `Pipeline::` entry replaced by the CloudFormation resources it stands for."""
    resources: dict[str, Any] = {}
    outputs = dict(template.get("Outputs", {}))
    for logical_id, entry in template["Resources"].items():
        kind = entry.get("Type") if isinstance(entry, dict) else None
        if kind == FUNCTION_TYPE:
            rendered = _function_resources(logical_id, entry)
            outputs[logical_id] = {"Value": {"Ref": logical_id}}
        elif kind == ALARM_TYPE:
            rendered = {logical_id: _alarm_resource(logical_id, entry)}
        else:
            rendered = {logical_id: entry}
        if clash := (rendered.keys() - {logical_id}) & (template["Resources"].keys() | resources.keys()):
            raise TemplateError(f"{logical_id} renders {', '.join(sorted(clash))}, which the template already has")
        resources.update(rendered)
    return {**template, "Resources": resources, "Outputs": outputs}
