"""Bring your own data, end to end (issue 15): real CSV files, drafted, checked, deployed, ingested, queried, evolved.

One stage, `e2ebyod`, is deployed from a temporary schemas folder (`PIPELINE_SCHEMAS_DIR`): the shipped `orders`,
three contracts drafted by `infer` from real public CSV files shipped inside the `vega-datasets` wheel, and a small
`events` dataset whose contract then evolves. Oracles: DuckDB on the source files for the Athena aggregates, the
results bucket's own reject files and the job's outputs for `check`.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipeline.runtime.contract.loader import load_contract, load_contract_file
from pipeline.tools.cli import ops
from pipeline.tools.cli.target import Cloud
from pipeline.tools.sample import write_orders
from pipeline.tools.schema.check import Paging, check_file
from pipeline.tools.schema.evolve import EvolutionRefused
from pipeline.tools.schema.infer import infer
from tests.e2e.conftest import E2E_PARAMETERS, assert_reconciled, unique_prefix, wait_job

pytestmark = pytest.mark.e2e
STAGE = "e2ebyod"
PAGING = Paging(int(E2E_PARAMETERS["InlineMaxBytes"]), int(E2E_PARAMETERS["PageRows"]))

# (file in vega_datasets/_data, Athena SQL on the table, the same question for DuckDB on the source file)
REAL = {
    "airports": (
        "airports.csv",
        "SELECT country, count(*) AS n, round(sum(latitude), 4) AS lat, count(DISTINCT state) AS states, "
        "count(city) AS cities FROM {t} GROUP BY country ORDER BY country",
    ),
    "la-riots": (
        "la-riots.csv",
        "SELECT race, count(*) AS n, sum(age) AS ages, count(age) AS aged, count(DISTINCT neighborhood) AS places, "
        "CAST(min(death_date) AS VARCHAR) AS first FROM {t} GROUP BY race ORDER BY race",
    ),
    "us-employment": (
        "us-employment.csv",
        "SELECT year(month) AS y, count(*) AS n, sum(nonfarm) AS nonfarm, round(sum(utilities), 3) AS utilities "
        "FROM {t} GROUP BY year(month) ORDER BY y",
    ),
}
EVENTS_V1 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "event_id": {"type": "string"},
        "day": {"type": "string", "format": "date"},
        "amount": {"type": "integer"},
    },
    "required": ["event_id", "day", "amount"],
    "additionalProperties": False,
    "x-primary-key": ["event_id"],
    "x-partition": {"column": "day", "granularity": "day"},
}


def _real_file(name: str) -> Path:
    spec = importlib.util.find_spec("vega_datasets")
    assert spec and spec.submodule_search_locations, "vega-datasets is a test dependency: pip install -e '.[test]'"
    return Path(next(iter(spec.submodule_search_locations))) / "_data" / name


def _deploy(local_cloud, schemas: Path, evolution: Any = None) -> dict[str, str]:
    from pipeline.runtime.contract.loader import source_schemas_dir

    assert source_schemas_dir() == schemas  # set for the whole module by the `byod` fixture
    outs = ops.deploy(Cloud(STAGE, local_cloud), dict(E2E_PARAMETERS), print, evolution)
    return outs | {"Endpoint": local_cloud.endpoint}


def _athena(stack: dict[str, str], sql: str) -> list[tuple]:
    from pipeline.tools.query import run_query

    result = run_query(
        sql, database=stack["GlueDatabase"], workgroup=stack["AthenaWorkGroup"],
        output_location=stack["AthenaResultLocation"],
    )  # fmt: skip
    return [tuple(row) for row in result.rows]


def _normal(rows: list[tuple]) -> list[tuple]:
    return [tuple(round(float(v), 4) if isinstance(v, float) else v for v in row) for row in rows]


def _diff_command(expect: int = 0) -> dict[str, Any]:
    """`pipeline schema diff events --stage e2ebyod --json` through the CLI, against the local stage."""
    from click.testing import CliRunner

    from pipeline.tools.cli.main import cli

    result = CliRunner(env={"PIPELINE_LOCAL": "1"}).invoke(
        cli, ["schema", "diff", "events", "--stage", STAGE, "--json"]
    )
    assert result.exit_code == expect, result.output
    return json.loads(result.stdout)


def _upload(aws_clients, stack, dataset: str, path: Path) -> dict[str, Any]:
    key = f"{dataset}/{unique_prefix()}/{path.name}"
    aws_clients["s3"].put_object(Bucket=stack["IngestBucket"], Key=key, Body=path.read_bytes())
    return wait_job(stack, key)


def _job_rejects(aws_clients, stack, job: dict[str, Any]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    listing = aws_clients["s3"].list_objects_v2(
        Bucket=stack["ResultsBucket"], Prefix=f"_rejects/{job['dataset']}/job={job['job_id']}/"
    )
    for entry in listing.get("Contents", []):
        body = aws_clients["s3"].get_object(Bucket=stack["ResultsBucket"], Key=entry["Key"])["Body"].read().decode()
        for row in csv.DictReader(io.StringIO(body)):
            found[int(row["line"])] = row["reasons"].split("; ")
    return found


def _job_partitions(job_id: str, stack: dict[str, str]) -> dict[str, int]:
    from pipeline.runtime.jobs import JobStore

    store = JobStore(stack["JobsTable"])
    totals: dict[str, int] = {}
    for page in store.pages(job_id):
        for key, rows in (page.get("outputs") or {}).items():
            folder = key.split("/")[1]
            value = folder.split("=", 1)[1] if "=" in folder else ""
            totals[value] = totals.get(value, 0) + int(rows)
    return totals


@pytest.fixture(scope="module")
def byod(local_cloud, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The stage, deployed from drafts of the real files (each checked first: zero rejects)."""
    schemas = tmp_path_factory.mktemp("byod-schemas")
    shipped = Path(__file__).resolve().parents[2] / "schemas" / "orders.schema.json"
    (schemas / "orders.schema.json").write_bytes(shipped.read_bytes())
    (schemas / "events.schema.json").write_text(json.dumps(EVENTS_V1))
    drafts, checks = {}, {}
    for dataset, (name, _) in REAL.items():
        draft = infer(_real_file(name), dataset)
        (schemas / f"{dataset}.schema.json").write_text(draft.text())
        drafts[dataset] = draft
        checks[dataset] = check_file(_real_file(name), load_contract_file(schemas / f"{dataset}.schema.json"), PAGING)
    with pytest.MonkeyPatch.context() as patch:  # the build and the operator commands (reconcile) read this folder
        patch.setenv("PIPELINE_SCHEMAS_DIR", str(schemas))
        load_contract.cache_clear()
        yield {"schemas": schemas, "drafts": drafts, "checks": checks, "stack": _deploy(local_cloud, schemas)}
    load_contract.cache_clear()


# ------------------------------------------------------------------ real data


@pytest.mark.parametrize("dataset", list(REAL))
def test_a_real_file_drafted_checked_and_ingested_queries_as_duckdb_reads_the_source(byod, aws_clients, dataset):
    name, sql = REAL[dataset]
    draft, checked, stack = byod["drafts"][dataset], byod["checks"][dataset], byod["stack"]
    assert draft.sample.complete and not draft.sample_rejects and not draft.warnings
    assert (checked.status, checked.rows_rejected) == ("COMPLETE", 0)
    job = _upload(aws_clients, stack, dataset, _real_file(name))
    assert job["status"] == "COMPLETE", job.get("cause")
    assert (int(job["rows_valid"]), int(job["rows_rejected"])) == (checked.rows_valid, 0)
    assert _job_partitions(job["job_id"], stack) == checked.partitions
    assert_reconciled(stack, job["job_id"])
    table = dataset.replace("-", "_")
    source = f"read_csv('{_real_file(name)}', header = true, nullstr = {draft.null_values!r})"
    expected = _normal([tuple(r) for r in duckdb.sql(sql.format(t=source)).fetchall()])
    assert _normal(_athena(stack, sql.format(t=table))) == expected


def test_the_drafts_are_what_a_reviewer_expects(byod):
    airports, riots, employment = (byod["drafts"][d] for d in REAL)
    assert airports.primary_key == ["iata"] and airports.null_values == ["", "NA"]
    kinds = {c.name: (c.kind, c.nullable) for c in airports.columns}
    assert kinds["latitude"] == ("number", False) and kinds["state"] == ("string", True)
    assert next(c for c in airports.columns if c.name == "country").enum is not None
    assert {c.name: c.kind for c in riots.columns}["death_date"] == "date"
    assert riots.partition == {"column": "death_date", "granularity": "month", "name": "dt"}
    assert ("age", "integer", True) in {(c.name, c.kind, c.nullable) for c in riots.columns}
    assert employment.primary_key == ["month"] and employment.partition["column"] == "month"


# ------------------------------------------------------------------ check = ingest


def test_check_says_exactly_what_a_real_paged_ingest_does(byod, aws_clients, tmp_path):
    stack = byod["stack"]
    path = tmp_path / "orders-faulty.csv"
    write_orders(path, 12_000, seed=21, start_id=40_000_000)  # with the sample's faults; several pages of 5,000
    checked = check_file(path, load_contract_file(byod["schemas"] / "orders.schema.json"), PAGING, keep_lines=True)
    assert checked.mode == "paged" and checked.pages == 3 and checked.rows_rejected > 0
    job = _upload(aws_clients, stack, "orders", path)
    assert job["status"] == "COMPLETE"
    assert (int(job["rows_input"]), int(job["rows_valid"]), int(job["rows_rejected"])) == (
        checked.rows_input, checked.rows_valid, checked.rows_rejected,
    )  # fmt: skip
    assert _job_rejects(aws_clients, stack, job) == checked.reject_lines
    assert _job_partitions(job["job_id"], stack) == checked.partitions
    counts = assert_reconciled(stack, job["job_id"])
    assert checked.dynamodb_distinct_keys == checked.rows_valid and counts


# ------------------------------------------------------------------ evolution


def _events_file(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_safe_change_old_and_new_files_query_together_and_unsafe_ones_are_refused(
    byod, aws_clients, local_cloud, tmp_path
):
    stack, schemas = byod["stack"], byod["schemas"]
    old = _events_file(
        tmp_path / "old.csv", [{"event_id": f"A{i}", "day": "2024-05-01", "amount": i} for i in range(50)]
    )
    assert _upload(aws_clients, stack, "events", old)["status"] == "COMPLETE"

    v2 = json.loads(json.dumps(EVENTS_V1))
    v2["properties"]["amount"]["type"] = "number"  # widen
    v2["properties"]["channel"] = {"type": ["string", "null"], "enum": ["web", "shop"]}  # appended, nullable
    (schemas / "events.schema.json").write_text(json.dumps(v2))
    shown = _diff_command()
    assert shown["datasets"][0]["level"] == "safe"
    assert {(c["column"], c["change"]) for c in shown["datasets"][0]["changes"]} == {
        ("amount", "widen type"), ("channel", "append")
    }  # fmt: skip
    stack = _deploy(local_cloud, schemas)  # safe: applied without a flag
    glue = aws_clients["glue"]
    table = glue.get_table(DatabaseName=stack["GlueDatabase"], Name="events")["Table"]["StorageDescriptor"]
    assert [(c["Name"], c["Type"]) for c in table["Columns"]] == [
        ("event_id", "string"), ("day", "date"), ("amount", "double"), ("channel", "string")
    ]  # fmt: skip
    for partition in glue.get_partitions(DatabaseName=stack["GlueDatabase"], TableName="events")["Partitions"]:
        assert partition["StorageDescriptor"]["Columns"] == table["Columns"]  # synced to the new column list

    new = _events_file(
        tmp_path / "new.csv",
        [{"event_id": f"B{i}", "day": "2024-05-01", "amount": i + 0.5, "channel": ["web", "shop"][i % 2]}
         for i in range(30)],
    )  # fmt: skip
    assert _upload(aws_clients, stack, "events", new)["status"] == "COMPLETE"
    rows = _athena(stack, "SELECT count(*) AS n, sum(amount) AS total, count(channel) AS tagged, "
                          "count(*) FILTER (WHERE channel IS NULL) AS untagged FROM events")  # fmt: skip
    assert rows == [(80, float(sum(range(50)) + sum(i + 0.5 for i in range(30))), 30, 50)]
    by_file = _athena(stack, "SELECT substr(event_id, 1, 1) AS f, count(channel) AS c, sum(amount) AS a "
                             "FROM events GROUP BY 1 ORDER BY 1")  # fmt: skip
    assert by_file == [("A", 0, float(sum(range(50)))), ("B", 30, sum(i + 0.5 for i in range(30)))]

    v3 = json.loads(json.dumps(v2))
    del v3["properties"]["amount"]  # unsafe: remove a column
    v3["required"].remove("amount")
    (schemas / "events.schema.json").write_text(json.dumps(v3))
    assert _diff_command(expect=2)["datasets"][0]["changes"][0]["change"] == "remove"
    with pytest.raises(EvolutionRefused) as refused:
        _deploy(local_cloud, schemas)
    assert "dataset 'events' has unsafe changes (amount: removed" in str(refused.value)
    assert "events_v2.schema.json" in str(refused.value) and "--archive-output events" in str(refused.value)

    from pipeline.tools.schema.evolve import Evolution

    stack = _deploy(local_cloud, schemas, Evolution(archive_output=frozenset({"events"})))
    listing = aws_clients["s3"].list_objects_v2(Bucket=stack["ResultsBucket"], Prefix="_archive/events/")
    assert len(listing.get("Contents", [])) >= 2  # both files' outputs kept, out of the table's way
    assert not aws_clients["s3"].list_objects_v2(Bucket=stack["ResultsBucket"], Prefix="events/").get("Contents")
    assert _athena(stack, "SELECT count(*) AS n FROM events") == [(0,)]
    (schemas / "events.schema.json").write_text(json.dumps(v2))  # leave the stage as the other tests expect it
