"""A dataset with `"x-format": "parquet"` through the real pipeline: an inline file and a paged one, read back.

A stage of its own (`e2epq`) is deployed from a temporary schemas folder holding the shipped `orders` and
`events_pq` (a nullable column of every type, partitioned by day, only `NULL` is null, Parquet). Each file is
uploaded as a user would; the rows come back through the local Athena (unmodified pyathena) equal to the
DynamoDB items and to Python's `csv` reading the uploaded file, cell by cell and exactly (no encoded form);
the objects are Parquet files under `dt=` folders, and `pipeline reconcile` is clean for both jobs. The stage
compacts (`CompactOutputs=1`): the paged Parquet job skips compaction (ADR 10 concatenates text) and completes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from pipeline.runtime.contract.loader import load_contract, load_contract_file
from pipeline.runtime.jobs import JobStore
from pipeline.runtime.sinks import parquet_format
from tests.conformance import corpus, matrix
from tests.conformance.readers import athena_rows, dynamodb_rows
from tests.conformance.truth import stored_rows
from tests.e2e.conftest import assert_reconciled, deploy_stage, job_output_keys, ops

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
DATASET = "events_pq"
HEADER = ["id", "s", "n", "x", "b", "d", "ts"]
EVENTS: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": DATASET,
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "s": {"type": ["string", "null"]},
        "n": {"type": ["integer", "null"]},
        "x": {"type": ["number", "null"]},
        "b": {"type": ["boolean", "null"]},
        "d": {"type": ["string", "null"], "format": "date"},
        "ts": {"type": "string", "format": "date-time"},
    },
    "required": ["id", "ts"],
    "additionalProperties": False,
    "x-primary-key": ["id"],
    "x-partition": {"column": "ts", "granularity": "day"},
    "x-null-values": ["NULL"],
    "x-format": "parquet",
}
# Values a text table could not carry as they are: read back exactly from Parquet.
HOSTILE = [
    ["", "NULL", "NULL", "NULL", "NULL", "2024-05-01T00:00:00Z"],
    ["NULL", "NULL", "NULL", "NULL", "NULL", "2024-05-01T12:00:00.123456Z"],
    ["line one\nline two", str(-(2**63)), "-0.0", "true", "0001-01-01", "0001-01-01T00:00:00Z"],
    ["crlf\r\nand tab\t", str(2**63 - 1), "1e125", "false", "9999-12-31", "9999-12-31T23:59:59.999999Z"],
    ["astral 😀𝄞 and \ufeff BOM", "0", "0.30000000000000004", "y", "2024-02-29", "2024-05-02T01:00:00+05:30"],
    ["\\N", "1", "-1e-130", "no", "1970-01-01", "2024-05-02T23:59:59.999999-01:00"],
    ["back\\slash \\n typed", "42", "123456789012345678", "1", "2024-05-03", "2024-05-03T00:00:00Z"],
    [" ", "-1", "5e-7", "f", "1582-10-10", "1582-10-10T10:10:10Z"],
]
PAGED_ROWS = 12_000  # three pages of 5,000 rows (InlineMaxBytes 300,000)


def _rows(prefix: str, fields: list[list[str]]) -> list[list[str]]:
    return [[f"{prefix}-{i:05d}", *f] for i, f in enumerate(fields)]


def inline_file() -> bytes:
    return corpus.csv_bytes(HEADER, _rows("inline", HOSTILE), crlf=True)


def paged_file() -> bytes:
    rng = random.Random(14)
    fields = []
    for i in range(PAGED_ROWS):
        text = corpus.generated_text(rng) if i % 3 else "NULL"
        day = 1 + i % 28
        fields.append(
            [
                text,
                str(rng.randint(-(2**63), 2**63 - 1)),
                repr(rng.uniform(-1e6, 1e6)),
                rng.choice(["true", "false", "NULL"]),
                f"2023-{1 + i % 12:02d}-{day:02d}",
                f"2024-06-{day:02d}T{i % 24:02d}:{i % 60:02d}:{i % 59:02d}.{i:06d}Z",
            ]
        )
    rows = _rows("paged", fields)
    rows.append([rows[7][0], *fields[PAGED_ROWS - 1][:-1], "2024-06-08T08:08:08Z"])  # page 1's key again, last page
    body = corpus.csv_bytes(HEADER, rows)
    assert len(body) > 300_000
    return body


@pytest.fixture(scope="module")
def parquet_stage(local_cloud, tmp_path_factory) -> Iterator[dict[str, Any]]:
    schemas = tmp_path_factory.mktemp("parquet-schemas")
    (schemas / "orders.schema.json").write_bytes((REPO / "schemas" / "orders.schema.json").read_bytes())
    (schemas / f"{DATASET}.schema.json").write_text(json.dumps(EVENTS, indent=1))
    with pytest.MonkeyPatch.context() as patch:  # the build and reconcile read this folder
        patch.setenv("PIPELINE_SCHEMAS_DIR", str(schemas))
        load_contract.cache_clear()
        stack = deploy_stage(local_cloud, "e2epq")  # the template's default: compaction on (ADR 10)
        contract = load_contract_file(schemas / f"{DATASET}.schema.json")
        s3 = boto3.client("s3")
        uploads = {"inline": inline_file(), "paged": paged_file()}
        keys = {name: f"{DATASET}/{name}.csv" for name in uploads}
        for name, body in uploads.items():
            s3.put_object(Bucket=stack["IngestBucket"], Key=keys[name], Body=body)
        jobs = ops.wait_for(stack, [{"key": keys[n], "version_id": ""} for n in uploads], lambda _: None, 900)
        yield {
            "stack": stack,
            "contract": contract,
            "bodies": uploads,
            "jobs": dict(zip(uploads, jobs, strict=True)),
        }
    load_contract.cache_clear()


def _objects(stack: dict[str, str], job_id: str) -> dict[str, bytes]:
    s3 = boto3.client("s3")
    return {
        key: s3.get_object(Bucket=stack["ResultsBucket"], Key=key)["Body"].read()
        for key in job_output_keys(stack, job_id)  # the compacted files, not the page files they replaced
    }


@pytest.mark.parametrize("name", ["inline", "paged"])
def test_a_parquet_dataset_reads_back_exactly_through_athena_and_dynamodb(parquet_stage, name):
    stack, contract = parquet_stage["stack"], parquet_stage["contract"]
    job = parquet_stage["jobs"][name]
    body = parquet_stage["bodies"][name]
    truth = stored_rows(body, contract)
    assert job["status"] == "COMPLETE", job.get("cause")
    superseded = 1 if name == "paged" else 0  # the paged file repeats a key of its first page on its last
    assert (int(job["rows_valid"]), int(job["rows_rejected"])) == (len(truth), superseded)
    assert (int(job.get("pages_total") or 0) > 1) == (name == "paged"), job
    athena = athena_rows(stack, f"SELECT * FROM {contract.table_name} WHERE id LIKE '{name}-%'")
    results = [
        matrix.compare("athena", contract, truth, athena, matrix.exact, with_partition=True),
        matrix.compare("dynamodb", contract, truth, dynamodb_rows(stack, contract, job["job_id"]), matrix.stored),
    ]
    assert all(r.ok for r in results), matrix.report(name, results)


def test_the_objects_are_parquet_files_of_the_contract_under_day_folders(parquet_stage):
    stack, contract = parquet_stage["stack"], parquet_stage["contract"]
    objects = _objects(stack, parquet_stage["jobs"]["paged"]["job_id"])
    assert len(objects) == 28, sorted(objects)[:5]  # 28 days, each compacted into one file of the job
    assert all("-c0000.parquet" in key for key in objects), sorted(objects)[:5]
    for key, body in objects.items():
        assert key.startswith(f"{DATASET}/dt=2024-06-") and key.endswith(".parquet"), key
        assert body[:4] == body[-4:] == b"PAR1"
        assert parquet_format.read(body).schema == parquet_format.arrow_schema(contract)
    table = boto3.client("glue").get_table(DatabaseName=stack["GlueDatabase"], Name=contract.table_name)["Table"]
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == parquet_format.SERDE
    assert table["StorageDescriptor"]["InputFormat"] == parquet_format.INPUT_FORMAT
    assert table["Parameters"]["classification"] == "parquet"


def test_an_aggregate_over_the_parquet_table_matches_the_source(parquet_stage):
    stack, contract = parquet_stage["stack"], parquet_stage["contract"]
    truth = stored_rows(parquet_stage["bodies"]["paged"], contract)
    sql = (
        f"SELECT dt, count(*) AS n, count(s) AS texts, sum(CASE WHEN b THEN 1 ELSE 0 END) AS trues "
        f"FROM {contract.table_name} WHERE id LIKE 'paged-%' GROUP BY dt ORDER BY dt"
    )
    got = {r["dt"]: (r["n"], r["texts"], r["trues"]) for r in athena_rows(stack, sql)}
    want: dict[str, list[int]] = {}
    for row in truth:
        counts = want.setdefault(row["ts"].date().isoformat(), [0, 0, 0])
        counts[0] += 1
        counts[1] += row["s"] is not None
        counts[2] += row["b"] is True
    assert got == {day: tuple(c) for day, c in want.items()}


def test_reconcile_is_clean_for_both_jobs(parquet_stage):
    paged = JobStore(parquet_stage["stack"]["JobsTable"]).get(parquet_stage["jobs"]["paged"]["job_id"])
    compaction = paged["compaction"]
    assert (compaction["status"], compaction["superseded"], compaction["files"]) == ("DONE", 1, 28), compaction
    for name, job in parquet_stage["jobs"].items():
        counts = assert_reconciled(parquet_stage["stack"], job["job_id"])
        assert counts["s3_output_rows"] == counts["distinct_keys"] == int(job["rows_valid"]), name
