"""The conformance matrix: the corpus through the real pipeline, read back by every engine, cell by cell.

A stage of its own (`e2econf`) is deployed with the conformance contracts (`tests/conformance/schemas`, plus
one per csv-spectrum file) bundled through `PIPELINE_SCHEMAS_DIR`. Each corpus file is uploaded as a user
would, and the job's rows are read back through:

* **DynamoDB** (plain boto3 scan), which must hold the stored values themselves;
* **Athena** on the local cloud (pyathena's default cursor, `SELECT *` of the deployed Glue table);
* **Hive**: LazySimpleSerDe's Java classes over the job's S3 objects, with the deployed table's SerDe settings;
* **Trino**: `tests/conformance/trino_text.py`, Trino's text rules over the same objects and settings;
* for the Parquet twin of each corpus contract (`<name>_parquet`, `"x-format": "parquet"`): **pyarrow** reading
  the job's objects and **Hive's ParquetHiveSerDe** in place of the text readers, every value expected exactly;

and compared with **Python's csv** reading the uploaded file (`tests/conformance/truth.py`). The readers of
the raw table must return each text value's documented encoded form (ADR 4) and every other value exactly;
so they also agree with each other.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from pipeline.runtime.contract import Contract
from pipeline.runtime.contract.loader import load_contract
from pipeline.runtime.sinks import text_format
from pipeline.tools.local import LocalCloud
from tests.conformance import corpus, hive_serde, matrix, trino_text
from tests.conformance.readers import athena_rows, dynamodb_rows
from tests.conformance.spec import decoded
from tests.conformance.test_parquet_matrix import pyarrow_rows
from tests.conformance.truth import stored_rows
from tests.e2e.conftest import assert_reconciled, deploy_stage, job_output_keys, ops

pytestmark = pytest.mark.e2e

UPLOADS_AT_ONCE = 4
GENERATED_TEXT_ROWS = int(os.environ.get("CONFORMANCE_ROWS") or 6000)  # 2 pages of 5,000 rows


@dataclass
class Upload:
    """One corpus file, where it went and the job it became."""

    dataset: str
    body: bytes
    key: str = ""
    job: dict[str, Any] | None = None


@dataclass
class Conformance:
    stack: dict[str, str]
    contracts: dict[str, Contract]
    uploads: dict[str, Upload]
    spectrum: Path | None


def _corpus_files(spectrum: Path | None) -> dict[str, Upload]:
    files = {
        "text": Upload(
            "conformance_text", corpus.csv_bytes(["a", "b", "c", "rid"], corpus.text_rows(GENERATED_TEXT_ROWS))
        ),
        "typed": Upload(
            "conformance_typed",
            corpus.csv_bytes(corpus.TYPED_HEADER, corpus.typed_rows(corpus.TYPED_FIELDS), crlf=True),
        ),
        "bounds": Upload(
            "conformance_bounds", corpus.csv_bytes(corpus.TYPED_HEADER, corpus.typed_rows(corpus.BOUNDS_FIELDS))
        ),
    }
    for name in ("text", "typed", "bounds"):  # the same files into the Parquet twins of the contracts
        files[f"{name}{corpus.PARQUET_SUFFIX}"] = Upload(files[name].dataset + corpus.PARQUET_SUFFIX, files[name].body)
    if spectrum is not None:
        for path in sorted((spectrum / "csvs").glob("*.csv")):
            files[corpus.spectrum_name(path)] = Upload(corpus.spectrum_name(path), corpus.spectrum_body(path))
    return files


@pytest.fixture(scope="module")
def conformance(local_cloud: LocalCloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Conformance]:
    spectrum = corpus.spectrum_dir()
    schemas = tmp_path_factory.mktemp("conformance-schemas")
    contracts = corpus.write_schemas(schemas, spectrum)
    previous = os.environ.get("PIPELINE_SCHEMAS_DIR")
    os.environ["PIPELINE_SCHEMAS_DIR"] = str(schemas)  # bundled by the build, read by reconcile
    load_contract.cache_clear()
    try:
        stack = deploy_stage(local_cloud, "e2econf")
        _register_an_adr1_partition(stack, contracts["conformance_typed"], OLD_PARTITION)
        uploads = _corpus_files(spectrum)
        s3 = boto3.client("s3")
        waiting = list(uploads.values())
        while waiting:  # a few at a time: fifteen jobs at once overload a 2-core machine's Lambda workers
            batch, waiting = waiting[:UPLOADS_AT_ONCE], waiting[UPLOADS_AT_ONCE:]
            for upload in batch:  # one key per dataset: a re-run on kept state supersedes the last run
                upload.key = f"{upload.dataset}/corpus.csv"
                s3.put_object(Bucket=stack["IngestBucket"], Key=upload.key, Body=upload.body)
            jobs = ops.wait_for(stack, [{"key": u.key, "version_id": ""} for u in batch], lambda _: None, 900)
            for upload, job in zip(batch, jobs, strict=True):
                upload.job = job
        yield Conformance(stack, contracts, uploads, spectrum)
    finally:
        if previous is None:
            os.environ.pop("PIPELINE_SCHEMAS_DIR", None)
        else:
            os.environ["PIPELINE_SCHEMAS_DIR"] = previous
        load_contract.cache_clear()


OLD_PARTITION = "2024-01-01"  # a day of the typed corpus
ADR1_SERDE_PARAMETERS = {
    "field.delim": "\t",
    "serialization.format": "\t",
    "escape.delim": "\\",
    "serialization.escape.crlf": "true",
    "serialization.null.format": "",
}


def _register_an_adr1_partition(stack: dict[str, str], contract: Contract, value: str) -> None:
    """A partition as a deployment of ADR 1's format left it in Glue (its own, older SerDe settings)."""
    storage = _table_input(stack, contract)["StorageDescriptor"]
    old = {**storage, "SerdeInfo": {**storage["SerdeInfo"], "Parameters": ADR1_SERDE_PARAMETERS}}
    old["Location"] = f"s3://{stack['ResultsBucket']}/{contract.dataset}/dt={value}/"
    glue = boto3.client("glue")
    where = {"DatabaseName": stack["GlueDatabase"], "TableName": contract.table_name}
    with contextlib.suppress(glue.exceptions.EntityNotFoundException):  # a re-run on kept state
        glue.delete_partition(**where, PartitionValues=[value])
    glue.create_partition(**where, PartitionInput={"Values": [value], "StorageDescriptor": old})


def _table_input(stack: dict[str, str], contract: Contract) -> dict[str, Any]:
    """The deployed Glue table (what Athena on AWS would read with)."""
    return boto3.client("glue").get_table(DatabaseName=stack["GlueDatabase"], Name=contract.table_name)["Table"]


def _objects(stack: dict[str, str], contract: Contract, job_id: str) -> dict[str, bytes]:
    """The job's output objects, keyed relative to the table's location (`dt=.../part-...`): its page files, or
    the files its compaction wrote in their place (ADR 10)."""
    s3 = boto3.client("s3")
    keys = job_output_keys(stack, job_id)
    return {
        key.removeprefix(f"{contract.dataset}/"): s3.get_object(Bucket=stack["ResultsBucket"], Key=key)["Body"].read()
        for key in keys
    }


def matrix_for(conf: Conformance, name: str) -> list[matrix.Result]:
    """Every reader's result on one corpus file."""
    upload = conf.uploads[name]
    contract = conf.contracts[upload.dataset]
    job = upload.job or {}
    assert job.get("status") == "COMPLETE", job
    truth = stored_rows(upload.body, contract)
    assert int(job["rows_valid"]) == len(truth) and int(job["rows_rejected"]) == 0, job
    table = _table_input(conf.stack, contract)
    files = _objects(conf.stack, contract, job["job_id"])
    athena = athena_rows(conf.stack, f'SELECT * FROM "{contract.table_name}"')
    if contract.output_format == "parquet":  # exact values from every reader; Hive names old days its own way
        assert files and all(key.endswith(".parquet") for key in files), sorted(files)
        readers = {"athena": (athena, matrix.exact), "pyarrow": (pyarrow_rows(table, files), matrix.exact)}
        readers["hive"] = (hive_serde.read_table(table, files), matrix.hive_calendar)
    else:
        readers = {
            "athena": (athena, matrix.raw_text),
            "hive": (hive_serde.read_table(table, files), matrix.raw_text),
            "trino": (trino_text.read_table(table, files), matrix.raw_text),
        }
    results = [
        matrix.compare(reader, contract, truth, rows, expect, with_partition=True)
        for reader, (rows, expect) in readers.items()
    ]
    if contract.store_in_dynamodb:
        rows = dynamodb_rows(conf.stack, contract, job["job_id"])
        results.insert(0, matrix.compare("dynamodb", contract, truth, rows, matrix.stored))
    print("\n" + matrix.report(f"{name}: {len(truth)} rows x {len(contract.columns)} columns", results))
    return results


@pytest.mark.parametrize("name", ["text", "typed", "bounds"])
def test_every_engine_returns_each_stored_value_or_its_documented_encoding(conformance: Conformance, name: str):
    results = matrix_for(conformance, name)
    assert all(r.ok for r in results), matrix.report(name, results)


@pytest.mark.parametrize("name", [f"{n}{corpus.PARQUET_SUFFIX}" for n in ("text", "typed", "bounds")])
def test_every_engine_returns_each_stored_value_exactly_from_a_parquet_dataset(conformance: Conformance, name: str):
    """`"x-format": "parquet"`: the local Athena, pyarrow and Hive's ParquetHiveSerDe over the job's objects, and
    DynamoDB, each return the value Python's csv reads, with no encoding (Hive: its calendar before 1582)."""
    results = matrix_for(conformance, name)
    assert {r.reader for r in results} >= {"athena", "pyarrow", "hive"}
    assert all(r.ok for r in results), matrix.report(name, results)


def test_csv_spectrum_reads_back_the_same_through_every_engine(conformance: Conformance):
    names = [n for n in conformance.uploads if n.startswith("spectrum_")]
    assert len(names) == 12, names
    failed = {}
    for name in names:
        results = matrix_for(conformance, name)
        if not all(r.ok for r in results):
            failed[name] = matrix.report(name, results)
    assert not failed, "\n".join(failed.values())


def test_csv_spectrum_expected_records_are_what_athena_returns_once_decoded(conformance: Conformance):
    """The suite's own expected records, through pyathena and the documented decoding (csv as a cross-check)."""
    assert conformance.spectrum is not None
    for path in sorted((conformance.spectrum / "csvs").glob("*.csv")):
        upload = conformance.uploads[corpus.spectrum_name(path)]
        contract = conformance.contracts[upload.dataset]
        expected = corpus.spectrum_expected(conformance.spectrum, path)
        truth = stored_rows(upload.body, contract)
        if path.stem == "location_coordinates":  # the suite's JSON names another phone number than its CSV
            assert expected[0]["contact_phone_number"] == "1234567890"
            assert truth[0]["contact_phone_number"] == "2095257564"
            expected[0]["contact_phone_number"] = "2095257564"
        assert truth == expected, path.name
        rows = athena_rows(conformance.stack, f'SELECT * FROM "{contract.table_name}"')
        back = [{k: decoded(v) for k, v in row.items()} for row in rows]
        assert sorted(map(repr, back)) == sorted(map(repr, expected)), path.name  # in any order


def test_the_documented_sql_decoding_returns_the_stored_text_in_local_athena(conformance: Conformance):
    upload = conformance.uploads["text"]
    contract = conformance.contracts[upload.dataset]
    truth = {r["rid"]: r for r in stored_rows(upload.body, contract)}
    columns = ", ".join(f"{text_format.decode_sql(c, engine='duckdb')} AS {c}" for c in ("a", "b", "c"))
    rows = athena_rows(conformance.stack, f'SELECT rid, {columns} FROM "{contract.table_name}"')
    assert len(rows) == len(truth)
    wrong = [(r["rid"], c) for r in rows for c in ("a", "b", "c") if r[c] != truth[r["rid"]][c]]
    assert not wrong, wrong[:10]


def test_partitions_registered_under_the_old_format_take_the_tables_settings(conformance: Conformance):
    """Athena reads a partition with its own SerDe settings: an ADR 1 partition must not keep them."""
    contract = conformance.contracts["conformance_typed"]
    glue = boto3.client("glue")
    table = _table_input(conformance.stack, contract)["StorageDescriptor"]["SerdeInfo"]
    partitions = glue.get_partitions(DatabaseName=conformance.stack["GlueDatabase"], TableName=contract.table_name)
    found = {p["Values"][0]: p["StorageDescriptor"]["SerdeInfo"] for p in partitions["Partitions"]}
    assert set(found) == {"2024-01-01", "2024-01-02", "2024-12-31", "2025-01-01"}
    assert all(serde == table for serde in found.values()), found[OLD_PARTITION]
    assert table["Parameters"] == text_format.SERDE_PARAMETERS


def test_reconcile_agrees_on_every_corpus_job(conformance: Conformance):
    for upload in conformance.uploads.values():
        assert upload.job is not None
        counts = assert_reconciled(conformance.stack, upload.job["job_id"])
        assert counts["s3_output_rows"] == int(upload.job["rows_valid"]), upload.dataset
