"""A stage's life through the real CLI on the local cloud: deploy, redeploy, run, destroy, collide, delete the data.

Issue 12: a plain `pipeline deploy` reset earlier `-p` values to the template defaults (finding 9); stateful
resources had no `DeletionPolicy` (finding 10); the deployer policy was admin-equivalent (finding 3). Every command
runs as a subprocess with `PIPELINE_CALL_LOG` set, and each AWS call it made is judged against the deployer's
policies (docs/deployer-policy*.json, docs/operator-policy.json).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from pipeline.tools.local import LocalCloud
from pipeline.tools.sample import write_orders
from tests.iam.actions import Account, UnmappedCall, requests_for
from tests.iam.calls import read_calls
from tests.iam.deployer import Request, deployer_policies, judge

pytestmark = pytest.mark.e2e
STAGE = "e2ekeep"  # deployed, changed, destroyed, refused, emptied, redeployed, emptied: no upload ever runs in it
STACK = f"pipeline-{STAGE}"
RUN_STAGE = "e2erun"  # the run commands' stage; it stays, so test_permissions judges its functions' calls too


@dataclass
class Run:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    @property
    def said(self) -> str:
        """stderr with rich's line wrapping undone."""
        return " ".join(self.err.split())


def _client(local_cloud: LocalCloud, service: str) -> Any:
    return boto3.client(
        service, endpoint_url=local_cloud.endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip


@pytest.fixture(scope="module")
def runs(local_cloud: LocalCloud, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Runs the whole life of stage `e2ekeep` once, recording each command and what the cloud held in between."""
    tmp = tmp_path_factory.mktemp("lifecycle")
    log = tmp / "cli-calls.jsonl"
    env = {**os.environ, "PIPELINE_LOCAL": "1", "PIPELINE_CALL_LOG": str(log)}
    done: dict[str, Any] = {"log": log}

    def cli(name: str, *args: str) -> Run:
        command = [sys.executable, "-c", "from pipeline.tools.cli.main import cli; cli()", *args]
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
        done[name] = Run(tuple(args), proc.returncode, proc.stdout, proc.stderr)
        return done[name]

    def page_rows() -> tuple[str, str]:
        stack = _client(local_cloud, "cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
        parameter = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["PageRows"]
        env_vars = _client(local_cloud, "lambda").get_function_configuration(FunctionName=f"{STACK}-upload")
        return parameter, env_vars["Environment"]["Variables"]["PIPELINE_PAGE_ROWS"]

    stage = ("--stage", STAGE)
    cli("first", "deploy", *stage, "-p", "PageRows=7000", "-p", "InlineMaxBytes=300000")
    done["rows_after_first"] = page_rows()
    cli("plain", "deploy", *stage)
    done["rows_after_plain"] = page_rows()
    cli("changed", "deploy", *stage, "-p", "PageRows=8000")
    done["rows_after_changed"] = page_rows()
    cli("bad_parameter", "deploy", *stage, "-p", "PageRows")
    # run a stage: each command the deployer policies must cover
    run = ("--stage", RUN_STAGE)
    write_orders(tmp / "orders.csv", 300, seed=5, start_id=97_000_000)
    cli("run_deploy", "deploy", *run, "-p", "InlineMaxBytes=300000")
    cli("outputs", "outputs", *run, "--json")
    cli("ingest", "ingest", str(tmp / "orders.csv"), "--dataset", "orders", *run, "--wait")
    cli("jobs", "jobs", *run, "--json")
    cli("executions", "executions", *run)
    cli("query", "query", *run, "SELECT count(*) AS n FROM orders")
    cli("redrive", "redrive", *run, "--interrupted")
    # destroy keeps the data; a new stack would collide with it; --delete-data removes it
    s3 = _client(local_cloud, "s3")
    results = f"{STACK}-results-000000000000-us-east-1"  # no notification: writing here runs no function
    s3.put_object(Bucket=results, Key="orders/dt=2026-12-01/part-kept.tsv", Body=b"kept\n")
    cli("destroy", "destroy", *stage)
    done["kept_output"] = [v["Key"] for v in s3.list_object_versions(Bucket=results).get("Versions", [])]
    done["kept_jobs_table"] = _client(local_cloud, "dynamodb").describe_table(TableName=f"{STACK}-jobs")["Table"][
        "TableName"
    ]
    cli("collide", "deploy", *stage)
    cli("delete_data", "destroy", *stage, "--delete-data")
    done["buckets_after"] = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(f"{STACK}-")]
    done["tables_after"] = [
        t for t in _client(local_cloud, "dynamodb").list_tables()["TableNames"] if t.startswith(f"{STACK}-")
    ]
    done["log_groups_after"] = [
        g["logGroupName"]
        for g in _client(local_cloud, "logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{STACK}-")[
            "logGroups"
        ]
    ]
    cli("fresh", "deploy", *stage)
    cli("cleanup", "destroy", *stage, "--delete-data")
    done["cli"] = cli
    return done


def test_a_plain_deploy_keeps_the_parameters_the_stage_was_deployed_with(runs: dict[str, Any]) -> None:
    """Before the fix the plain deploy put PageRows back to the template's 50000 (stack and function alike)."""
    assert runs["first"].code == 0, runs["first"].err
    assert runs["rows_after_first"] == ("7000", "7000")
    assert runs["plain"].code == 0, runs["plain"].err
    assert runs["rows_after_plain"] == ("7000", "7000")
    assert "keeping PageRows=7000, InlineMaxBytes=300000" in runs["plain"].said


def test_a_changed_parameter_is_shown_old_to_new(runs: dict[str, Any]) -> None:
    assert runs["changed"].code == 0, runs["changed"].err
    assert "parameter PageRows: '7000' -> '8000'" in runs["changed"].said
    assert runs["rows_after_changed"] == ("8000", "8000")
    bad = runs["bad_parameter"]
    assert bad.code == 1 and "expected KEY=VALUE" in bad.said and "Traceback" not in bad.err


def test_the_stage_runs_with_the_deployer_commands(runs: dict[str, Any]) -> None:
    for name in ("run_deploy", "outputs", "ingest", "jobs", "executions", "query", "redrive"):
        assert runs[name].code == 0, (name, runs[name].err)
    assert "COMPLETE" in runs["ingest"].out


def test_destroy_keeps_the_data_and_lists_it(runs: dict[str, Any]) -> None:
    destroy = runs["destroy"]
    assert destroy.code == 0, destroy.err
    for kept in (f"bucket {STACK}-ingest-000000000000-us-east-1", f"table {STACK}-jobs", f"table {STACK}-records",
                 f"log group /aws/lambda/{STACK}-upload", "--delete-data"):  # fmt: skip
        assert kept in destroy.said, kept
    assert runs["kept_output"] == ["orders/dt=2026-12-01/part-kept.tsv"]  # the data is still there
    assert runs["kept_jobs_table"] == f"{STACK}-jobs"


def test_a_new_stack_of_the_stage_refuses_to_collide_with_kept_data(runs: dict[str, Any]) -> None:
    collide = runs["collide"]
    assert collide.code == 1 and "Traceback" not in collide.err
    assert f"stage {STAGE} still holds data kept from an earlier stack" in collide.said
    assert f"pipeline destroy --stage {STAGE} --delete-data" in collide.said


def test_delete_data_removes_buckets_tables_and_logs_and_frees_the_names(runs: dict[str, Any]) -> None:
    assert runs["delete_data"].code == 0, runs["delete_data"].err
    assert (runs["buckets_after"], runs["tables_after"], runs["log_groups_after"]) == ([], [], [])
    assert runs["fresh"].code == 0, runs["fresh"].err
    assert runs["cleanup"].code == 0, runs["cleanup"].err


def test_every_call_the_commands_made_is_allowed_by_the_deployer_policies(runs: dict[str, Any]) -> None:
    # the local deploy creates the boundary on first use: an administrator's `pipeline bootstrap` on AWS
    bootstrap = {"CreatePolicy", "CreatePolicyVersion", "GetPolicyVersion", "ListPolicyVersions", "DeletePolicyVersion"}
    # `pipeline ingest`'s memory check of the local cloud lists its tables (tools/local/capacity); never on a stage
    local_only = {("dynamodb", "ListTables")}
    calls = [
        c
        for c in read_calls(runs["log"])
        if c.function is None and c.operation not in bootstrap and (c.service, c.operation) not in local_only
    ]
    where = Account("aws", "us-east-1", "000000000000")
    requests, unmapped = set(), []
    for call in calls:
        try:
            requests.update(requests_for(call, where))
        except UnmappedCall as exc:
            unmapped.append(str(exc))
    assert not unmapped, "\n".join(sorted(set(unmapped)))
    operations = {(c.service, c.operation) for c in calls}
    assert {("cloudformation", "CreateChangeSet"), ("s3", "DeleteBucket"), ("dynamodb", "DeleteTable"),
            ("logs", "DeleteLogGroup"), ("iam", "GetPolicy"), ("s3", "PutObject")} <= operations  # fmt: skip
    verdicts = judge([Request(r.action, r.resource, identity=tuple(deployer_policies())) for r in sorted(requests)])
    problems = [f"{v.request}: {v.ministack} / iam-simulate {v.simulator} {v.errors or ''}" for v in verdicts
                if not (v.agreed() and v.ministack == "Allowed")]  # fmt: skip
    assert not problems, "\n".join(problems)



def test_bootstrap_makes_the_shipped_document_the_boundary(runs: dict[str, Any], local_cloud: LocalCloud) -> None:
    """`pipeline bootstrap` (an administrator's, once per account) replaces a boundary that drifted."""
    from pipeline.tools.deploy import boundary

    iam = _client(local_cloud, "iam")
    arn = boundary.arn("aws", "000000000000")
    stale = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(stale), SetAsDefault=True)
    run = runs["cli"]("bootstrap", "bootstrap")
    assert run.code == 0 and arn in run.out, run.err
    assert "updated the permissions boundary" in run.said
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    held = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    assert (json.loads(held) if isinstance(held, str) else held) == boundary.document()
    assert runs["cli"]("again", "bootstrap").code == 0  # up to date: nothing to do
