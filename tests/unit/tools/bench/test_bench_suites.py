"""The bookkeeping of `pipeline bench --suite`: selection, percentiles, ratio rows, the table and the exit status
(synthetic measurements; no cloud, no timing asserted)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline.runtime.contract.loader import SCHEMAS_ENV, load_contracts
from pipeline.tools.bench import raw_trip, report, suite_run, suites
from pipeline.tools.cli.main import cli


def test_no_suite_named_runs_the_default_one_alone() -> None:
    assert suites.select([]) == ["default"]
    assert suites.select(["default"]) == ["default"]


def test_suites_run_in_their_fixed_order_with_what_they_need() -> None:
    assert suites.select(["restart", "small-files"]) == ["small-files", "s3-only", "restart"]
    assert suites.select(["query"]) == ["s3-only", "query"]
    assert suites.select(["query", "default", "query"]) == ["default", "s3-only", "query"]


def test_an_unknown_suite_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'big'"):
        suites.select(["big"])


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(100, 0, -1)]  # 1..100, unsorted
    assert suites.percentiles(values) == {"p50": 50.0, "p95": 95.0, "max": 100.0}
    assert suites.percentiles([2.0, 1.0, 3.0]) == {"p50": 2.0, "p95": 3.0, "max": 3.0}
    assert suites.percentiles([4.2]) == {"p50": 4.2, "p95": 4.2, "max": 4.2}
    assert suites.percentiles([]) == {"p50": None, "p95": None, "max": None}


def test_a_ratio_row_divides_by_its_reference_and_judges_its_goal() -> None:
    row = suites.ratio_row("s3-only", "m", 150_000, 600_000, pipeline="p", reference="r", goal=(">=", 0.2))
    assert (row.ratio, row.goal, row.met) == (0.25, ">= 0.2", True)
    assert suites.ratio_row("q", "m", 3.0, 0.5, pipeline="p", reference="r", goal=("<=", 2)).met is False
    missing = suites.ratio_row("restart", "m", 2.0, None, pipeline="p", reference="—")
    assert (missing.ratio, missing.met, missing.goal) == (None, None, "")


def suite_results() -> dict[str, dict[str, Any]]:
    """The suites' results as `run_suites` returns them, with round numbers."""
    return {
        "small-files": {
            "files": 100,
            "complete": 100,
            "latency_s": {"p50": 3.0, "p95": 6.0, "max": 9.0},
            "single_file_s": {"p50": 1.5, "p95": 2.0, "max": 2.0, "runs": 5},
            "raw_round_trip_s": {"p50": 0.5, "p95": 0.6, "max": 0.6, "runs": 5},
            "job_status": "COMPLETE",
        },
        "s3-only": {
            "job_id": "j",
            "job_status": "COMPLETE",
            "rows": 200_000,
            "rows_valid": 199_000,
            "pages": 4,
            "end_to_end_s": 2.0,
            "rows_per_s": 100_000,
            "duckdb_s": 0.5,
            "duckdb_rows_per_s": 400_000,
        },
        "query": {
            "athena_count_s": 1.0,
            "athena_group_by_s": 2.0,
            "duckdb_count_s": 0.25,
            "duckdb_group_by_s": 0.5,
            "athena_rows": 199_000,
            "athena_groups": 90,
            "matches_job": True,
        },
        "restart": {
            "stop_s": 4.0,
            "start_s": 6.0,
            "saved": True,
            "state_mb": 12.5,
            "empty_start_s": 3.0,
            "job_status_after": "COMPLETE",
            "job_status": "COMPLETE",
        },
    }


def test_every_suite_has_its_ratio_rows() -> None:
    rows = {(r.suite, r.measure): r.ratio for r in suite_run.ratio_rows(suite_results())}
    assert rows[("small-files", "100 small files at once: p50 upload → COMPLETE")] == 6.0
    assert rows[("small-files", "100 small files at once: p95 upload → COMPLETE")] == 12.0
    assert rows[("small-files", "100 small files at once: max upload → COMPLETE")] == 18.0
    assert rows[("small-files", "1-row file alone: p50 upload → COMPLETE")] == 3.0
    assert rows[("s3-only", "S3-only dataset end to end (200,000 rows, 4 pages)")] == 0.25
    assert rows[("query", "Athena count(*) over the S3-only output")] == 4.0
    assert rows[("query", "Athena GROUP BY dt over the S3-only output")] == 4.0
    assert rows[("restart", "`pipeline local start` loading it (12.5 MB)")] == 2.0
    assert rows[("restart", "`pipeline local stop` with the jobs' state")] is None
    assert len(rows) == 9


def test_without_the_raw_round_trip_a_1_row_file_alone_is_the_reference() -> None:
    small = suite_results()["small-files"] | {"raw_round_trip_s": {"error": "CreateFunction refused"}}
    rows = suite_run.ratio_rows({"small-files": small})
    assert [r.ratio for r in rows] == [2.0, 4.0, 6.0]
    assert "no raw round trip: CreateFunction refused" in rows[0].reference


def test_only_the_suites_that_ran_have_rows() -> None:
    results = suite_results()
    only = suite_run.ratio_rows({"small-files": results["small-files"]})
    assert {r.suite for r in only} == {"small-files"}


def test_suite_rows_join_the_same_table_and_markdown() -> None:
    result: dict[str, Any] = {
        "when": "2026-12-02T03:00:00+0000",
        "machine": {
            "cpus": 2,
            "ministack": "1.5.33",
            "pyarrow": "25.0.1",
            "load_average": "3.0 2.0 1.0",
            "load_average_after": "9.0 5.0 3.0",
        },
        "rows": 200_000,
        "suites": suite_results(),
    }
    result["suite_rows"] = [r.as_dict() for r in suite_run.ratio_rows(result["suites"])]
    json.dumps(result)  # bench.json holds the rows as they are
    assert report.ratio_table(result).row_count == 9
    text = report.markdown(result)
    assert "load average 3.0 2.0 1.0 (at the end 9.0 5.0 3.0)" in text
    assert "| 100 small files at once: p95 upload → COMPLETE | 6.00 s (100/100 COMPLETE) |" in text
    assert "suite small-files, suite s3-only, suite query, suite restart" in text


def test_a_suite_whose_job_did_not_complete_is_named() -> None:
    result: dict[str, Any] = {"suites": suite_results()}
    assert suites.unfinished(result) == []
    result["suites"]["small-files"]["job_status"] = "97/100 COMPLETE"
    result["pipeline"] = {"job_status": "FAILED"}
    assert suites.unfinished(result) == ["default", "small-files"]


def test_the_s3_only_schema_is_orders_kept_out_of_dynamodb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCHEMAS_ENV, raising=False)
    with suite_run.s3_only_schemas(tmp_path) as folder:
        assert Path(os.environ[SCHEMAS_ENV]) == folder
        contracts = load_contracts(folder)
        contract, orders = contracts[suite_run.S3_DATASET], contracts["orders"]
        assert contract.store_in_dynamodb is False and orders.store_in_dynamodb is True
        assert [c.name for c in contract.columns] == [c.name for c in orders.columns]
    assert SCHEMAS_ENV not in os.environ
    assert not folder.exists()


def test_the_cli_refuses_an_unknown_suite() -> None:
    result = CliRunner().invoke(cli, ["bench", "--suite", "nope"])
    assert result.exit_code == 2
    assert "small-files" in result.output


def test_the_trivial_handler_prints_each_key_it_got_with_or_without_the_sns_envelope(
    capsys: pytest.CaptureFixture[str],
) -> None:
    namespace: dict[str, Any] = {}
    exec(raw_trip.HANDLER, namespace)  # the code the reference Lambda runs
    s3_event = {"Records": [{"s3": {"object": {"key": "bench-raw/raw-0.csv"}}}]}
    records = [{"body": json.dumps({"Message": json.dumps(s3_event)})}, {"body": json.dumps(s3_event)}]
    namespace["handler"]({"Records": [*records, {"body": json.dumps({"Event": "s3:TestEvent"})}]}, None)
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [(mark, key) for mark, _, key in lines] == [(raw_trip.MARK, "bench-raw/raw-0.csv")] * 2
    assert all(float(at) > 0 for _, at, _ in lines)


def test_page_stages_are_summed_over_pages() -> None:
    pages = [{"timings_ms": {"parse": 1200, "s3_write": 300}}, {"timings_ms": {"parse": 800}}, {}]
    assert suite_run.page_stages(pages) == {"parse": 2.0, "s3_write": 0.3}


def test_a_burst_beside_a_large_file_and_its_queryable_time_have_rows_of_their_own() -> None:
    small = suite_results()["small-files"] | {"all_queryable_s": 12.0, "all_complete_s": 10.0}
    small["under_load"] = {
        "files": 100,
        "complete": 100,
        "latency_s": {"p50": 4.0, "p95": 8.0, "max": 9.5},
        "all_queryable_s": 14.0,
        "all_complete_s": 11.0,
        "job_status": "COMPLETE",
        "large": {"rows": 1_000_000, "pages": 20, "end_to_end_s": 120.0, "rows_per_s": 8_333, "job_status": "COMPLETE"},
    }
    rows = {r.measure: r for r in suite_run.ratio_rows({"small-files": small})}
    queryable = rows["100 small files at once: first upload → all queryable in Athena"]
    assert queryable.ratio == 24.0 and "all COMPLETE after 10.00 s" in queryable.pipeline
    beside = "100 small files beside a 1,000,000-row file paging"
    assert rows[f"{beside}: p50 upload → COMPLETE"].ratio == 8.0
    assert rows[f"{beside}: first upload → all queryable in Athena"].ratio == 28.0
    large = rows["the 1,000,000-row file beside them (20 pages, DynamoDB)"]
    assert (large.ratio, large.pipeline) == (None, "120.0 s, 8,333 rows/s, COMPLETE")
    assert len(rows) == 4 + 4 + 1 + 1


def test_the_s3_only_job_is_set_against_the_raw_put_rate_of_its_own_objects() -> None:
    s3 = suite_results()["s3-only"] | {
        "put_objects": {"objects": 670, "bytes": 227_311_570, "mean_bytes": 339_271},
        "put_floor": {"objects_per_s": 209.6, "threads": 32, "object_bytes": 339_271},
        "put_floor_rows_per_s": 312_836,
    }
    row = next(r for r in suite_run.ratio_rows({"s3-only": s3}) if "PutObject" in r.measure)
    assert row.ratio == round(100_000 / 312_836, 3)
    assert "670 PutObject of 339,271 B" in row.pipeline and "209.6 objects/s (32 writers" in row.reference


def test_put_objects_counts_the_functions_puts_after_the_skipped_lines(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    calls = [
        {"function": "f", "service": "s3", "operation": "PutObject", "params": {"Bytes": 10}},  # skipped
        {"function": "f", "service": "s3", "operation": "PutObject", "params": {"Bytes": 100}},
        {"function": "f", "service": "s3", "operation": "GetObject", "params": {}},
        {"function": None, "service": "s3", "operation": "PutObject", "params": {"Bytes": 5}},  # not a function
        {"function": "g", "service": "s3", "operation": "PutObject", "params": {"Bytes": 300}},
    ]
    log.write_text("".join(json.dumps(c) + "\n" for c in calls))
    assert suite_run.put_objects(log, skip=1) == {"objects": 2, "bytes": 400, "mean_bytes": 200}
    assert suite_run.put_objects(tmp_path / "missing.jsonl") == {"objects": 0, "bytes": 0, "mean_bytes": 0}


def test_the_restart_row_says_whether_the_records_came_back() -> None:
    restart = suite_results()["restart"] | {
        "records_before": 1_000_000,
        "records_after": 1_000_000,
        "sampled_items": 1_000,
        "sampled_items_same": True,
    }
    row = next(r for r in suite_run.ratio_rows({"restart": restart}) if "local start" in r.measure)
    assert "1,000,000 of 1,000,000 records, 1,000 sampled items the same" in row.pipeline


@pytest.mark.parametrize("option", ["--files", "--rows"])
def test_the_cli_refuses_no_files_or_rows_in_one_line(option: str) -> None:
    result = CliRunner().invoke(cli, ["bench", "--suite", "small-files", option, "0"])
    assert result.exit_code == 2
    assert f"Invalid value for '{option}': 0 is not in the range x>=1" in result.output
    assert "Traceback" not in result.output


def test_sampled_items_compare_by_key_whatever_order_they_come_back_in() -> None:
    a, b = {"pk": {"S": "orders#1"}, "v": {"N": "1"}}, {"pk": {"S": "orders#2"}, "v": {"N": "2"}}
    assert suite_run._same_items([a, b], [b, a])
    assert not suite_run._same_items([a, b], [b, a | {"v": {"N": "9"}}])
    assert not suite_run._same_items([a, b], [a])
