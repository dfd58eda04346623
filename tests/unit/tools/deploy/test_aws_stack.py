"""The template's AWS side (layers, tracing, Powertools, dashboard, alarms, kept data) and deploy parameters."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from pipeline.tools.deploy import parameters, retained, stack
from pipeline.tools.deploy.package import expanded_template
from pipeline.tools.deploy.stack import DeployError, pandas_layer_arn, platform_of

PANDAS_FUNCTIONS = {"UploadFunction", "PagerFunction", "PageWorkerFunction", "CompactFunction"}  # compact: ADR 10


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return expanded_template()


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["Ref"]} if isinstance(node.get("Ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


# ------------------------------------------------------------------ template


def test_every_function_runs_the_packaged_platform_with_the_deps_layer_and_tracing(template):
    functions = _functions(template)
    assert len(functions) == 6
    for name, props in functions.items():
        assert props["Runtime"] == {"Ref": "LambdaRuntime"}, name
        assert props["Architectures"] == [{"Ref": "LambdaArchitecture"}], name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert "DepsLayer" in _refs(props["Layers"]), name
        assert ("PandasLayerArn" in _refs(props["Layers"])) is (name in PANDAS_FUNCTIONS), name


def test_every_function_configures_powertools_from_its_environment(template):
    for name, props in _functions(template).items():
        env = props["Environment"]["Variables"]
        assert env["POWERTOOLS_SERVICE_NAME"], name
        assert env["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}, name
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "CsvPipeline", name
        assert env["POWERTOOLS_TRACE_DISABLED"] == {"Fn::If": ["TraceHandlersOn", "false", "true"]}, name
        assert env["PIPELINE_STAGE"] == {"Ref": "Stage"}, name


def test_deps_layer_is_built_for_the_same_platform(template):
    layer = template["Resources"]["DepsLayer"]
    assert layer["Condition"] == "HasDepsLayer"
    assert layer["Properties"]["CompatibleRuntimes"] == [{"Ref": "LambdaRuntime"}]
    assert layer["Properties"]["CompatibleArchitectures"] == [{"Ref": "LambdaArchitecture"}]
    assert layer["Properties"]["Content"]["S3Key"] == {"Ref": "DepsLayerKey"}


def test_state_machine_is_traced(template):
    assert template["Resources"]["BatchStateMachine"]["Properties"]["TracingConfiguration"] == {"Enabled": True}


def test_pandas_layer_mapping_has_a_version_per_region(template):
    mapping = template["Mappings"]["PandasLayerPython312"]
    assert "us-east-1" in mapping
    for region, entry in mapping.items():
        assert re.fullmatch(r"[a-z]{2}-[a-z]+-\d", region), region
        assert entry["Version"].isdigit(), region
    assert template["Parameters"]["PandasLayerArn"]["Default"] == stack.REGIONAL


def test_alarms_cover_dead_letters_errors_throttles_executions_and_page_age(template):
    """Plain single-metric alarms: the local cloud does not take metric math."""
    alarms = {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    by_metric: dict[str, set[str]] = {}
    for props in alarms.values():
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert "Metrics" not in props
        by_metric.setdefault(props["MetricName"], set()).update(_refs(props["Dimensions"]))
    functions = set(_functions(template))
    assert by_metric["Errors"] == functions
    assert by_metric["Throttles"] == functions
    assert by_metric["ExecutionsFailed"] == by_metric["ExecutionsTimedOut"] == {"BatchStateMachine"}
    assert "ApproximateNumberOfMessagesVisible" in by_metric
    assert "ApproximateAgeOfOldestMessage" in by_metric


def test_dashboard_shows_rows_latency_queue_and_executions(template):
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "X", body))["widgets"]
    titles = " | ".join(w["properties"]["title"] for w in widgets)
    for word in ("Rows", "latency", "queue", "executions", "errors"):
        assert word in titles
    for metric in ("RowsValid", "RowsRejected", "PageSeconds", "JobsFailed"):
        assert f'MetricName=\\"{metric}\\"' in body, metric
    names = set(re.findall(r"\$\{([A-Za-z:.]+)\}", body))
    queues = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"]
    assert names <= set(template["Resources"]) | {"AWS::Region", "Stage"} | {f"{q}.QueueName" for q in queues}
    for queue in queues:  # every queue's depth is on the dashboard
        assert f"${{{queue}.QueueName}}" in body, queue


# ------------------------------------------------------------------ deploy parameters


def test_local_parameters_attach_no_layer_and_disable_tracing():
    assert stack.LOCAL_PARAMETERS == {"PandasLayerArn": "", "TraceHandlers": "false"}


def test_platform_comes_from_the_parameters():
    assert str(platform_of({})) == "python3.12/x86_64"
    assert str(platform_of({"LambdaRuntime": "python3.13", "LambdaArchitecture": "arm64"})) == "python3.13/arm64"


def test_regional_pandas_layer_arn(template):
    version = template["Mappings"]["PandasLayerPython312"]["us-east-1"]["Version"]
    assert pandas_layer_arn(template, "us-east-1", {}) == (
        f"arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python312:{version}"
    )
    assert pandas_layer_arn(template, "us-east-1", {"LambdaArchitecture": "arm64"}).endswith(
        f"AWSSDKPandas-Python312-Arm64:{version}"
    )
    explicit = "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python313:9"
    assert pandas_layer_arn(template, "xx-nowhere-1", {"PandasLayerArn": explicit}) == explicit
    assert pandas_layer_arn(template, "us-east-1", {"PandasLayerArn": ""}) == ""


@pytest.mark.parametrize(
    ("region", "parameters"), [("xx-nowhere-1", {}), ("us-east-1", {"LambdaRuntime": "python3.13"})]
)
def test_no_regional_default_asks_for_an_explicit_arn(template, region, parameters):
    with pytest.raises(DeployError, match="PandasLayerArn="):
        pandas_layer_arn(template, region, parameters)


# ------------------------------------------------------------------ deploys keep parameters (issue 12, finding 9)
PREVIOUS = {
    "Stage": "dev", "ArtifactBucket": "a", "CodeKey": "code-1.zip", "BatchDefinitionKey": "b-1", "DepsLayerKey": "d-1",
    "PageRows": "10000", "PandasLayerArn": "arn:aws:lambda:eu-west-3:336392948345:layer:AWSSDKPandas-Python313:4",
    "LambdaRuntime": "python3.13", "LambdaArchitecture": "arm64", "InlineMaxBytes": "5000000",
}  # fmt: skip
MANAGED = {"Stage": "dev", "ArtifactBucket": "a", "CodeKey": "code-2.zip", "BatchDefinitionKey": "b-2"}


def test_a_plain_deploy_keeps_every_parameter_the_stage_runs_with(template):
    """Before the fix the change set named only the managed keys, so PageRows fell back to 50000, the layer ARN,
    runtime and architecture to their defaults."""
    plan = parameters.plan(template, MANAGED, PREVIOUS)
    sent = {p["ParameterKey"]: p for p in plan.cfn}
    for name in ("PageRows", "PandasLayerArn", "LambdaRuntime", "LambdaArchitecture", "InlineMaxBytes", "DepsLayerKey"):
        assert sent[name] == {"ParameterKey": name, "UsePreviousValue": True}, name
    assert sent["CodeKey"] == {"ParameterKey": "CodeKey", "ParameterValue": "code-2.zip"}
    assert "LogLevel" not in sent  # never set: stays at its default, as CloudFormation does
    assert plan.effective["PageRows"] == "10000" and plan.effective["LogLevel"] == "INFO"
    assert plan.changes == []
    assert plan.kept == ["PandasLayerArn", "LambdaRuntime", "LambdaArchitecture", "PageRows"]
    assert str(platform_of(plan.effective)) == "python3.13/arm64"  # the layer is built for what the stage runs


def test_a_changed_parameter_is_reported_old_to_new(template):
    plan = parameters.plan(template, {**MANAGED, "PageRows": "50000", "LogLevel": "DEBUG"}, PREVIOUS)
    assert [str(c) for c in plan.changes] == ["LogLevel: (new parameter) -> 'DEBUG'", "PageRows: '10000' -> '50000'"]
    assert {"ParameterKey": "PageRows", "ParameterValue": "50000"} in plan.cfn
    # the same value again is no change; the managed keys (new code every build) are never reported
    assert parameters.plan(template, {**MANAGED, "PageRows": "10000"}, PREVIOUS).changes == []


def test_a_new_stack_sends_only_what_is_given(template):
    plan = parameters.plan(template, {**MANAGED, "PageRows": "5000"}, None)
    assert all("UsePreviousValue" not in p for p in plan.cfn)
    assert plan.effective["PageRows"] == "5000" and plan.effective["InlineMaxBytes"] == "5000000"
    assert plan.changes == [] and plan.kept == []


def test_unknown_or_malformed_overrides_are_readable_errors(template):
    with pytest.raises(parameters.ParameterError, match="no parameter PageRow;"):
        parameters.plan(template, {"PageRow": "1"}, None)
    assert parameters.parse_overrides(["PageRows=10", "Failpoints=a=b", "LogLevel="]) == {
        "PageRows": "10", "Failpoints": "a=b", "LogLevel": ""
    }  # fmt: skip
    for bad in ("PageRows", "=10"):
        with pytest.raises(parameters.ParameterError, match="expected KEY=VALUE"):
            parameters.parse_overrides([bad])


# ------------------------------------------------------------------ what a deleted stack keeps (finding 10)
STATEFUL = ("AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::Logs::LogGroup", "AWS::SQS::Queue", "AWS::KMS::Key")


def test_every_stateful_resource_says_what_happens_to_its_data(template):
    """No stateful resource relies on the implicit `Delete`: each states both policies (checked before the fix:
    none had either)."""
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] in STATEFUL:
            assert resource.get("DeletionPolicy") and resource.get("UpdateReplacePolicy"), logical_id


def test_buckets_tables_and_logs_are_kept_and_named_for_any_stage(template):
    kept = {(k.type, k.name) for k in retained.kept_resources(template, "pipeline-dev", "123456789012", "eu-west-1")}
    assert kept == {
        ("AWS::S3::Bucket", "pipeline-dev-ingest-123456789012-eu-west-1"),
        ("AWS::S3::Bucket", "pipeline-dev-results-123456789012-eu-west-1"),
        ("AWS::S3::Bucket", "pipeline-dev-logs-123456789012-eu-west-1"),
        ("AWS::DynamoDB::Table", "pipeline-dev-records"),
        ("AWS::DynamoDB::Table", "pipeline-dev-jobs"),
        *(("AWS::Logs::LogGroup", f"/aws/lambda/pipeline-dev-{f}") for f in
          ("upload", "inventory", "pager", "page-worker", "job-steps", "compact")),
        ("AWS::Logs::LogGroup", "/aws/vendedlogs/states/pipeline-dev-batch"),
    }  # fmt: skip
    for logical_id in ("IngestBucket", "ResultsBucket", "RecordsTable", "JobsTable"):
        # a failed first deploy rolls back completely, so a retry does not collide with its own leftovers
        assert template["Resources"][logical_id]["DeletionPolicy"] == "RetainExceptOnCreate", logical_id
        assert template["Resources"][logical_id]["UpdateReplacePolicy"] == "Retain", logical_id


def test_a_kept_resource_whose_name_only_the_stack_knows_is_refused(template):
    changed = copy.deepcopy(template)
    changed["Resources"]["JobsTable"]["Properties"]["TableName"] = {"Fn::Sub": "${AWS::StackName}-${JobsSuffix}"}
    with pytest.raises(retained.RetainedError, match="JobsTable: its name uses"):
        retained.kept_resources(changed, "pipeline-dev", "1", "r")


def test_results_versions_and_athena_results_expire_ingest_versions_never(template):
    results = template["Resources"]["ResultsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    by_id = {r["Id"]: r for r in results}
    assert by_id["ExpireReplacedVersions"]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": {"Ref": "ResultsNoncurrentVersionDays"}
    }
    assert by_id["ExpireReplacedVersions"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert by_id["ExpireAthenaQueryResults"]["Prefix"] == "_athena/"
    ingest = template["Resources"]["IngestBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert [set(r) - {"Id", "Status"} for r in ingest] == [{"AbortIncompleteMultipartUpload"}]  # raw data is kept


def test_both_data_buckets_log_their_access_to_the_stack_log_bucket(template):
    resources = template["Resources"]
    for name, prefix in (("IngestBucket", "ingest/"), ("ResultsBucket", "results/")):
        assert resources[name]["Properties"]["LoggingConfiguration"] == {
            "DestinationBucketName": {"Ref": "AccessLogsBucket"}, "LogFilePrefix": prefix
        }  # fmt: skip
    grant = resources["AccessLogsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert grant["Principal"] == {"Service": "logging.s3.amazonaws.com"} and grant["Action"] == "s3:PutObject"


# ------------------------------------------------------------------ checkov skip reasons (finding 10)


def test_no_checkov_skip_claims_an_account_level_access_log_or_an_sns_retry(template):
    """The two reasons the review found untrue: S3 has no account-level access logging, and SNS does not retry a
    Lambda invocation that failed."""
    for logical_id, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert "account level" not in skip["comment"], logical_id
            assert "retried by SNS" not in skip["comment"] and "SNS retries" not in skip["comment"], logical_id
            if skip["id"] == "CKV_AWS_18":
                assert logical_id == "AccessLogsBucket"


class _Refusing:
    """A client whose every call fails with one error code."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __getattr__(self, name: str) -> Any:
        from botocore.exceptions import ClientError

        def call(**_: Any) -> Any:
            raise ClientError({"Error": {"Code": self.code, "Message": self.code}}, name)

        return call


@pytest.mark.parametrize(("code", "present"), [("404", False), ("NoSuchBucket", False), ("403", True)])
def test_a_kept_bucket_name_is_taken_when_it_exists_or_another_account_holds_it(monkeypatch, code, present):
    monkeypatch.setattr(retained.aws, "client", lambda name: _Refusing(code))
    assert retained.exists(retained.Kept("IngestBucket", "AWS::S3::Bucket", "pipeline-dev-ingest-1-r")) is present


def test_aws_errors_of_destroy_and_the_boundary_are_one_line_pipeline_errors(monkeypatch):
    from pipeline.runtime.errors import PipelineError
    from pipeline.tools.deploy import boundary

    monkeypatch.setattr(retained.aws, "client", lambda name: _Refusing("AccessDenied"))
    with pytest.raises(PipelineError, match="could not delete table pipeline-dev-jobs"):
        retained.remove(retained.Kept("JobsTable", "AWS::DynamoDB::Table", "pipeline-dev-jobs"), print)
    with pytest.raises(boundary.BoundaryError, match="cannot read the permissions boundary"):
        boundary.require("aws", "123456789012")
    monkeypatch.setattr(retained.aws, "client", lambda name: _Refusing("NoSuchEntity"))
    with pytest.raises(boundary.BoundaryMissingError, match="pipeline bootstrap"):
        boundary.require("aws", "123456789012")
