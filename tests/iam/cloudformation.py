"""What CloudFormation asks IAM for, with the deployer's credentials, while it creates, reads, updates and deletes
the template's resources: the resource schemas' `handlers.<op>.permissions`, less what the template never uses.

The schemas are CloudFormation's registry schemas as cfn-lint ships them; each handler lists every permission it
may need for any property. `UNUSED` removes, per resource type, the actions of features the template does not
use, each with the reason, so a new property or resource type that needs more fails the deployer check until the
policy or this table says why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

ACCOUNT, REGION, STACK = "123456789012", "eu-west-1", "pipeline-dev"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/pipeline/pipeline-role-boundary"
VIA_CLOUDFORMATION = {"aws:CalledVia": ["cloudformation.amazonaws.com"]}
KEY_TAG = {"aws:ResourceTag/pipeline-stack": STACK}

_PARTS = {
    "bucket": f"arn:aws:s3:::{STACK}-ingest-{ACCOUNT}-{REGION}",
    "results": f"arn:aws:s3:::{STACK}-results-{ACCOUNT}-{REGION}",
    "artefact": f"arn:aws:s3:::pipeline-artifacts-{ACCOUNT}-{REGION}/lambda/code-0123456789abcdef0123.zip",
    "table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{STACK}-jobs",
    "topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}-ingest",
    "queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK}-pages",
    "key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "role": f"arn:aws:iam::{ACCOUNT}:role/pipeline/{STACK}-UploadRole-0A1B2C3D4E5F",
    "function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}-upload",
    "layer": f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{STACK}-deps",
    "mapping": f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
    "log-group": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{STACK}-upload",
    "state-machine": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}-batch",
    "catalog": f"arn:aws:glue:{REGION}:{ACCOUNT}:catalog",
    "database": f"arn:aws:glue:{REGION}:{ACCOUNT}:database/csv_pipeline_dev",
    "glue-table": f"arn:aws:glue:{REGION}:{ACCOUNT}:table/csv_pipeline_dev/orders",
    "workgroup": f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{STACK}",
    "alarm": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{STACK}-upload-errors",
    "dashboard": f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{STACK}",
}
ARN = dict(_PARTS)

_NO_VPC = "the functions run outside a VPC and mount no file system"
_NO_FUNCTION_KEY = "no KmsKeyArn: environment variables use Lambda's own key"
# fmt: off
UNUSED: dict[str, dict[str, str]] = {
    "AWS::Lambda::Function": {
        **dict.fromkeys(
            ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets",
             "ec2:DescribeVpcs", "elasticfilesystem:DescribeMountTargets", "s3files:ListMountTargets"], _NO_VPC),
        **dict.fromkeys(["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
                        _NO_FUNCTION_KEY),
        **dict.fromkeys(["lambda:GetCodeSigningConfig", "lambda:PutFunctionCodeSigningConfig",
                         "lambda:DeleteFunctionCodeSigningConfig"], "no CodeSigningConfigArn"),
        "lambda:PutRuntimeManagementConfig": "no RuntimeManagementConfig",
        "lambda:PutFunctionRecursionConfig": "no RecursiveLoop",
        **dict.fromkeys(["lambda:PutFunctionScalingConfig", "lambda:PassCapacityProvider",
                         "lambda:AssociateRuntimeAlias", "lambda:PublishVersion"],
                        "no capacity provider, runtime alias or published version"),
    },
    "AWS::Lambda::EventSourceMapping": dict.fromkeys(
        ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"], "no KmsKeyArn for filter criteria"
    ),
    "AWS::IAM::Role": {
        "iam:AttachRolePolicy": "inline policies only; attaching a managed policy is an escalation path, denied",
        "iam:DetachRolePolicy": "no managed policy is ever attached",
        "iam:DeleteRolePermissionsBoundary": "removing the boundary is the escalation it exists to stop, denied",
        "iam:UpdateAssumeRolePolicy": "trust policies never change; changing one is an escalation path, denied",
        "iam:UpdateRole": "no MaxSessionDuration",
        "iam:UpdateRoleDescription": "no Description",
        "iam:TagRole": "no Tags on roles",
        "iam:UntagRole": "no Tags on roles",
    },
    "AWS::KMS::Key": {
        "kms:DisableKey": "the key is never disabled (no Enabled: false)",
        "kms:EnableKey": "the key is never disabled (no Enabled: false)",
        "kms:DisableKeyRotation": "rotation stays on",
    },
    "AWS::S3::Bucket": {
        **dict.fromkeys(
            ["s3:PutAnalyticsConfiguration", "s3:DeleteBucketAnalyticsConfiguration", "s3:PutInventoryConfiguration",
             "s3:PutMetricsConfiguration", "s3:DeleteBucketMetricsConfiguration",
             "s3:PutIntelligentTieringConfiguration", "s3:PutBucketCORS", "s3:DeleteBucketCors",
             "s3:PutBucketWebsite", "s3:DeleteBucketWebsite", "s3:PutAccelerateConfiguration",
             "s3:PutBucketObjectLockConfiguration", "s3:PutObjectLockConfiguration", "s3:PutBucketAbac",
             "s3:CreateBucketMetadataTableConfiguration", "s3:DeleteBucketMetadataTableConfiguration",
             "s3:UpdateBucketMetadataAnnotationTableConfiguration",
             "s3:UpdateBucketMetadataInventoryTableConfiguration",
             "s3:UpdateBucketMetadataJournalTableConfiguration"],
            "a bucket feature the template does not configure"),
        **dict.fromkeys(["s3:PutBucketReplication", "s3:PutReplicationConfiguration", "s3:DeleteBucketReplication",
                         "iam:PassRole"], "no ReplicationConfiguration (and so no replication role)"),
        **dict.fromkeys(["s3:DeleteBucketEncryption", "s3:DeleteBucketLifecycle"],
                        "the template never removes the encryption or lifecycle it sets"),
        **dict.fromkeys(["s3:PutBucketAcl", "s3:PutObjectAcl"], "no ACLs (AccessControl unset; ACLs disabled)"),
        **dict.fromkeys(
            ["s3tables:CreateNamespace", "s3tables:CreateTable", "s3tables:CreateTableBucket", "s3tables:GetTable",
             "s3tables:GetTableMetadataLocation", "s3tables:PutTableBucketPolicy", "s3tables:PutTableEncryption",
             "s3tables:PutTablePolicy", "s3tables:UpdateTableMetadataLocation"], "no S3 metadata tables"),
    },
    "AWS::DynamoDB::Table": {
        **dict.fromkeys(
            ["dynamodb:EnableKinesisStreamingDestination", "dynamodb:DisableKinesisStreamingDestination",
             "dynamodb:UpdateKinesisStreamingDestination", "kinesis:DescribeStream", "kinesis:PutRecords"],
            "no KinesisStreamSpecification"),
        **dict.fromkeys(
            ["dynamodb:ImportTable", "dynamodb:DescribeImport", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem",
             "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:UpdateItem",
             "s3:GetObject",
             "s3:GetObjectMetadata", "s3:ListBucket", "logs:CreateLogGroup", "logs:CreateLogStream",
             "logs:DescribeLogGroups", "logs:DescribeLogStreams", "logs:PutLogEvents", "logs:PutRetentionPolicy"],
            "no ImportSourceSpecification (the import reads S3, writes items and logs)"),
        "dynamodb:UpdateContributorInsights": "no ContributorInsightsSpecification",
        **dict.fromkeys(["dynamodb:CreateTableReplica", "dynamodb:AssociateTableReplica",
                         "iam:CreateServiceLinkedRole"], "not a global table"),
        **dict.fromkeys(["dynamodb:PutResourcePolicy", "dynamodb:DeleteResourcePolicy"], "no ResourcePolicy"),
        "dynamodb:UpdateTimeToLive": "no TimeToLiveSpecification",
        **dict.fromkeys(["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:ListAliases", "kms:Encrypt",
                         "kms:RevokeGrant"], "SSE with the AWS managed key, not a customer key"),
    },
    "AWS::Logs::LogGroup": {
        **dict.fromkeys(["logs:AssociateKmsKey", "logs:DisassociateKmsKey"], "no KmsKeyId"),
        **dict.fromkeys(["logs:PutDataProtectionPolicy", "logs:DeleteDataProtectionPolicy"],
                        "no DataProtectionPolicy"),
        **dict.fromkeys(["logs:PutIndexPolicy", "logs:DeleteIndexPolicy"], "no FieldIndexPolicies"),
        **dict.fromkeys(["logs:CreateLogDelivery", "s3:REST.PUT.OBJECT", "firehose:TagDeliveryStream"],
                        "no delivery configured on the log group"),
        "logs:PutResourcePolicy": "no ResourcePolicyDocument",
        "logs:DeleteResourcePolicy": "no ResourcePolicyDocument",
        "logs:PutBearerTokenAuthentication": "no BearerTokenAuthenticationEnabled",
        "logs:PutLogGroupDeletionProtection": "no DeletionProtectionEnabled",
    },
    "AWS::SNS::Topic": {
        **dict.fromkeys(["iam:GetRole", "iam:PassRole"], "no DeliveryStatusLogging roles"),
        **dict.fromkeys(["sns:PutDataProtectionPolicy", "sns:GetDataProtectionPolicy"], "no DataProtectionPolicy"),
    },
    "AWS::SNS::Subscription": dict.fromkeys(["iam:GetRole", "iam:PassRole"], "no SubscriptionRoleArn (Firehose)"),
    "AWS::StepFunctions::StateMachine": dict.fromkeys(
        ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"], "no EncryptionConfiguration"
    ),
    "AWS::Glue::Database": {
        **dict.fromkeys(["glue:CreateConnection", "glue:DeleteConnection", "glue:GetConnection",
                         "glue:UpdateConnection", "glue:PassConnection"], "no Glue connections"),
        **dict.fromkeys(["lakeformation:DescribeLakeFormationIdentityCenterConfiguration",
                         "lakeformation:DescribeResource", "lakeformation:ListResources"],
                        "the catalog is not governed by Lake Formation"),
    },
    "AWS::Glue::Table": {
        "glue:GetSchemaVersion": "no schema registry reference",
        "glue:PassConnection": "no Glue connections",
        "glue:UpdateDatabase": "tables do not change their database",
        **dict.fromkeys(["iam:PassRole", "s3:GetObject", "s3:PutObject"], "no Iceberg / open-table format input"),
        **dict.fromkeys(["lakeformation:CreateTable", "lakeformation:DescribeLakeFormationIdentityCenterConfiguration",
                         "lakeformation:DescribeResource", "lakeformation:GetDataAccess",
                         "lakeformation:ListResources"],
                        "the catalog is not governed by Lake Formation"),
    },
    "AWS::Athena::WorkGroup": {
        **dict.fromkeys(["kms:Decrypt", "kms:GenerateDataKey"], "results use SSE_S3, not a customer key"),
        **dict.fromkeys(["iam:CreateServiceLinkedRole", "iam:PassRole"], "no Spark engine or execution role"),
    },
}
# fmt: on


@dataclass(frozen=True)
class Need:
    """One IAM request CloudFormation makes for a resource type: action, resource ARN, request context."""

    resource_type: str
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)


@cache
def handler_permissions(resource_type: str) -> frozenset[str]:
    """Every permission of the type's create, read, update and delete handlers (the registry schema, us-east-1)."""
    base = resources.files("cfnlint") / "data" / "schemas"
    providers = json.loads((base / "providers" / "us-east-1.json").read_text(encoding="utf-8"))
    schema = json.loads((base / "resources" / f"{providers[resource_type]}.json").read_text(encoding="utf-8"))
    handlers = schema.get("handlers", {})
    ops = ("create", "read", "update", "delete")
    return frozenset(p for op in ops for p in handlers.get(op, {}).get("permissions", []))


_PRIMARY = {
    "AWS::S3::Bucket": "bucket", "AWS::S3::BucketPolicy": "bucket", "AWS::DynamoDB::Table": "table",
    "AWS::SNS::Topic": "topic", "AWS::SNS::TopicPolicy": "topic", "AWS::SQS::Queue": "queue",
    "AWS::SQS::QueuePolicy": "queue", "AWS::KMS::Key": "key", "AWS::IAM::Role": "role",
    "AWS::Lambda::Function": "function", "AWS::Lambda::Permission": "function", "AWS::Lambda::LayerVersion": "layer",
    "AWS::Lambda::EventSourceMapping": "mapping", "AWS::Logs::LogGroup": "log-group",
    "AWS::StepFunctions::StateMachine": "state-machine", "AWS::Athena::WorkGroup": "workgroup",
    "AWS::CloudWatch::Alarm": "alarm", "AWS::CloudWatch::Dashboard": "dashboard",
}  # fmt: skip


def _requests(resource_type: str, action: str, types: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The (resource, context) pairs one handler action is authorised on, for this stack's resources.

    ``types`` are the action's resource types (iam-data); an action with none is authorised on ``*``.
    """
    service = action.split(":")[0]
    has_resource = bool(types)
    if service == "glue":  # catalog, database and table, as the action lists them
        parts = {"catalog": "catalog", "database": "database", "table": "glue-table"}
        return [(ARN[parts[t]], {}) for t in types if t in parts]
    if action == "iam:PassRole":
        to = "states.amazonaws.com" if resource_type == "AWS::StepFunctions::StateMachine" else "lambda.amazonaws.com"
        return [(ARN["role"], {"iam:PassedToService": to})]
    if service == "s3" and resource_type in ("AWS::Lambda::Function", "AWS::Lambda::LayerVersion",
                                             "AWS::StepFunctions::StateMachine"):  # fmt: skip
        return [(ARN["artefact"], {})]
    if service == "s3" and resource_type == "AWS::Athena::WorkGroup":
        bucket_level = action in ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads")
        return [(ARN["results"] if bucket_level else ARN["results"] + "/_athena/x.csv", {})]
    if action == "lambda:GetLayerVersion" and resource_type == "AWS::Lambda::Function":
        pandas = f"arn:aws:lambda:{REGION}:336392948345:layer:AWSSDKPandas-Python312:15"
        return [(ARN["layer"] + ":3", {}), (pandas, {})]
    if resource_type == "AWS::Lambda::LayerVersion" and action != "lambda:PublishLayerVersion":
        return [(ARN["layer"] + ":3", {})]
    if resource_type == "AWS::Lambda::EventSourceMapping":
        context = {"lambda:FunctionArn": ARN["function"]} if action.endswith("EventSourceMapping") else {}
        return [(ARN["mapping"] if has_resource else "*", context)]
    if resource_type == "AWS::Lambda::Permission" and action == "lambda:AddPermission":
        return [(ARN["function"], {"lambda:Principal": "sns.amazonaws.com"})]
    if resource_type == "AWS::SNS::Subscription":  # subscription calls are authorised on the topic
        return [(ARN["topic"], {})]
    if resource_type == "AWS::KMS::Key":
        if action == "kms:CreateKey":
            return [("*", {"aws:RequestTag/pipeline-stack": STACK})]
        if action == "kms:TagResource":
            return [(ARN["key"], {"aws:RequestTag/pipeline-stack": STACK})]
        return [(ARN["key"], dict(KEY_TAG))]
    if resource_type == "AWS::IAM::Role" and action in (
        "iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary",
        "iam:DeleteRole", "iam:DetachRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy",
    ):  # fmt: skip
        return [(ARN["role"], {"iam:PermissionsBoundary": BOUNDARY})]
    if resource_type == "AWS::S3::Bucket" and action == "s3:DeleteObject":
        return [(ARN["bucket"] + "/x", {})]
    if not has_resource:
        return [("*", {})]
    return [(ARN[_PRIMARY[resource_type]], {})]


def needs(template: dict[str, Any], resource_types: Any) -> list[Need]:
    """Every request CloudFormation makes for the template's resource types, with ``aws:CalledVia`` set.

    ``resource_types(action)`` lists the action's resource types (none: it is authorised on ``*``).
    """
    out = []
    for resource_type in sorted({r["Type"] for r in template["Resources"].values()}):
        unused = UNUSED.get(resource_type, {})
        for action in sorted(handler_permissions(resource_type) - set(unused)):
            for resource, context in _requests(resource_type, action, resource_types(action)):
                out.append(Need(resource_type, action, resource, {**context, **VIA_CLOUDFORMATION}))
    return out
