"""The job commands on jobs that have not finished or failed before their dataset was known, and `query -p`.

`pipeline reconcile`, `jobs show` and `redrive` answer such jobs in readable lines (never a traceback), and so
do the console's job endpoints; `pipeline query -p` pastes quoted values in and names every parameter mistake.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from pipeline.runtime.arrival.events import ObjectRef
from pipeline.runtime.jobs import JobStore
from pipeline.tools.cli.main import cli
from pipeline.tools.console.api import ConsoleApi
from tests.e2e.conftest import athena_count, unique_prefix, upload_orders, wait_job

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def early_jobs(stack: dict[str, str], aws_clients: dict[str, Any]) -> Iterator[dict[str, str]]:
    """One job per early state: RECEIVED (only its arrival recorded, as the inventory does), PROCESSING (claimed,
    as the upload processor does), and FAILED before any dataset (a real upload at the bucket's top level)."""
    store = JobStore(stack["JobsTable"])
    prefix = unique_prefix()
    jobs: dict[str, str] = {}
    for state in ("RECEIVED", "PROCESSING"):
        ref = ObjectRef(
            bucket=stack["IngestBucket"],
            key=f"orders/{prefix}/{state.lower()}.csv",
            size=20,
            etag="0" * 32,
            version_id=None,
            sequencer="0055AED6DCD90281E5",
            event_time="2026-01-01T00:00:00.000Z",
        )
        store.record_arrival(ref.job_id, ref.arrival_fields())
        if state == "PROCESSING":
            assert store.claim(ref.job_id, {**ref.arrival_fields(), "dataset": "orders"}) is not None
        jobs[state] = ref.job_id
    key = f"{prefix}-no-dataset.csv"
    aws_clients["s3"].put_object(Bucket=stack["IngestBucket"], Key=key, Body=b"a,b\n1,2\n")
    failed = wait_job(stack, key, timeout=120)
    assert failed["status"] == "FAILED" and not failed.get("dataset"), failed
    jobs["FAILED"] = failed["job_id"]
    yield jobs


def _run(command: str, *args: str) -> Result:
    """`pipeline <command> --stage e2e <args>` in this process (the local cloud's e2e stage)."""
    result = CliRunner().invoke(cli, [command, "--stage", "e2e", *args], env={"PIPELINE_LOCAL": "1"})
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    assert "Traceback" not in result.output, result.output
    return result


@pytest.mark.parametrize("state", ["RECEIVED", "PROCESSING", "FAILED"])
def test_reconcile_says_what_an_unfinished_job_is(early_jobs: dict[str, str], state: str) -> None:
    result = _run("reconcile", early_jobs[state])
    assert result.exit_code == 1, result.output
    expected = {
        "RECEIVED": "✗ job is RECEIVED: it has not been processed yet, so there is nothing to reconcile",
        "PROCESSING": "✗ job is PROCESSING",
        "FAILED": "✗ the job has no dataset (it stopped before one was known): nothing to compare",
    }[state]
    assert expected in result.output.splitlines(), result.output
    as_json = _run("reconcile", early_jobs[state], "--json")
    assert as_json.exit_code == 1 and '"ok": false' in as_json.output


@pytest.mark.parametrize("state", ["RECEIVED", "PROCESSING", "FAILED"])
def test_jobs_show_and_the_console_show_an_unfinished_job(
    early_jobs: dict[str, str], stack: dict[str, str], state: str
) -> None:
    result = _run("jobs", "show", early_jobs[state][:12])
    assert result.exit_code == 0 and early_jobs[state] in result.output, result.output
    shown = ConsoleApi(stack, "e2e").job(early_jobs[state])
    assert shown["job"]["status"] == state and shown["progress"]["percent"] == 0 and shown["pages"] == []


def test_redrive_answers_an_unprocessed_job_in_one_line(early_jobs: dict[str, str]) -> None:
    """The RECEIVED job's object was never written (as if deleted since): the processor's failure is one line."""
    result = _run("redrive", early_jobs["RECEIVED"])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("error: the upload processor failed again") and "NoSuchKey" in result.output


def test_query_parameters_are_bound_server_side_and_mistakes_named(
    stack: dict[str, str], aws_clients: dict[str, Any], tmp_path: Any
) -> None:
    key, counts = upload_orders(aws_clients, stack, tmp_path, 200, start_id=91_000_000, seed=12)
    assert wait_job(stack, key)["status"] == "COMPLETE"
    low, high = "ORD-91000000", "ORD-91000199"
    sql = "SELECT count(*) AS n FROM orders WHERE order_id BETWEEN %(low)s AND %(high)s AND order_id LIKE 'ORD-91%%'"
    result = _run("query", sql, "-p", f"low={low}", "-p", f"high={high}", "--json")
    assert result.exit_code == 0, result.output
    expected = athena_count(stack, "order_id BETWEEN %(low)s AND %(high)s", {"low": low, "high": high})
    assert f'"n": {expected}' in result.output and expected == counts["valid"]
    quoted = _run("query", "SELECT %(v)s AS v", "-p", "v=it's; DROP TABLE orders --", "--json")
    assert quoted.exit_code == 0 and '"v": "it\'s; DROP TABLE orders --"' in quoted.output, quoted.output
    athena = aws_clients["athena"]
    ids = athena.list_query_executions(WorkGroup=stack["AthenaWorkGroup"])["QueryExecutionIds"]
    executions = athena.batch_get_query_execution(QueryExecutionIds=ids[-50:])["QueryExecutions"]  # oldest first
    sent = next(e for e in executions if e["Query"] == "SELECT ? AS v")
    assert sent["ExecutionParameters"] == ["'it''s; DROP TABLE orders --'"], sent  # bound by the engine, not pasted
    for args, reason in (
        (["SELECT count(*) FROM orders WHERE order_id LIKE 'O%' AND dt = %(dt)s", "-p", "dt=x"], "write a literal %"),
        (["SELECT %(id)s", "-p", "other=1"], "no -p id=VALUE was given"),
        (["SELECT %(id)s", "-p", "id"], "a query parameter is NAME=VALUE"),
    ):
        failed = _run("query", *args)
        lines = failed.output.strip().splitlines()
        assert failed.exit_code == 1 and len(lines) == 1 and reason in lines[0], failed.output
