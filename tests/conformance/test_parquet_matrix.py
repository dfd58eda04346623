"""The matrix for Parquet datasets (`"x-format": "parquet"`), without a cloud: every reader returns the stored value.

The page code writes the objects in-process (`partition_files`, as a page processor does); three readers read
them: DuckDB through MiniStack's own table relation (what the local Athena runs), pyarrow's Parquet reader with
the partition from the folder name, and Hive 2.3's `ParquetHiveSerDe` through pyspark. No encoded form here:
text comes back as stored, and so does every typed value (a -0.0 too). The one exception is Hive's, pinned
below: dates and timestamps before 1582-10-15 are named in its Julian calendar (`matrix.hive_calendar`).
The full pipeline (DynamoDB, the local Athena through pyathena) is `tests/e2e/test_parquet_format.py`.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import PurePosixPath
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.runtime.sinks import parquet_format
from tests.conformance import corpus, hive_serde, matrix, offline
from tests.conformance.test_matrix_offline import BIG_ROWS, TYPED_FIELDS, VALUE
from tests.conformance.truth import stored_rows

TEXT = corpus.parquet_contract("conformance_text")
TYPED = corpus.parquet_contract("conformance_typed")
BOUNDS = corpus.parquet_contract("conformance_bounds")


def pyarrow_rows(table: dict[str, Any], files: dict[str, bytes]) -> list[dict[str, Any]]:
    """Every row of the objects as pyarrow reads them, the partition value from each object's folder."""
    rows: list[dict[str, Any]] = []
    for key, body in sorted(files.items()):
        folders = dict(p.split("=", 1) for p in PurePosixPath(key).parent.parts if "=" in p)
        rows += [{**row, **folders} for row in parquet_format.read(body).to_pylist()]
    return rows


FILE_READERS = {"duckdb": offline.duckdb_rows, "pyarrow": pyarrow_rows}


def _check(contract, body: bytes, readers: dict, expect=matrix.exact) -> list[matrix.Result]:
    truth = stored_rows(body, contract)
    files = offline.render_objects(contract, body)
    assert files and all(key.endswith(".parquet") for key in files), sorted(files)
    table = offline.table_input(contract)
    results = [
        matrix.compare(name, contract, truth, read(table, files), expect, with_partition=True)
        for name, read in readers.items()
    ]
    assert all(r.ok for r in results), matrix.report(contract.dataset, results)
    return results


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(VALUE, VALUE, VALUE), min_size=1, max_size=15))
def test_any_text_reads_back_exactly_from_parquet_through_duckdb_and_pyarrow(values):
    rows = [[a, b, c, f"r{i}"] for i, (a, b, c) in enumerate(values)]
    _check(TEXT, corpus.csv_bytes(["a", "b", "c", "rid"], rows), FILE_READERS)


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TYPED_FIELDS, min_size=1, max_size=10))
def test_any_typed_row_reads_back_exactly_from_parquet_through_duckdb_and_pyarrow(fields):
    rows = [[*f, str(i)] for i, f in enumerate(fields)]
    _check(TYPED, corpus.csv_bytes(corpus.TYPED_HEADER, rows), FILE_READERS)


def test_the_text_corpus_and_the_bounds_read_back_exactly_from_parquet():
    body = corpus.csv_bytes(["a", "b", "c", "rid"], corpus.text_rows(BIG_ROWS))
    results = _check(TEXT, body, FILE_READERS)
    assert results[0].cells == 4 * (len(corpus.TEXT_VALUES) + len(corpus.LONG_VALUES) + BIG_ROWS)
    for contract, fields in ((TYPED, corpus.TYPED_FIELDS), (BOUNDS, corpus.BOUNDS_FIELDS)):
        _check(contract, corpus.csv_bytes(corpus.TYPED_HEADER, corpus.typed_rows(fields)), FILE_READERS)


ALL_READERS = {**FILE_READERS, "hive": hive_serde.read_table}


def test_hive_parquet_serde_reads_the_text_corpus_exactly(hive):
    body = corpus.csv_bytes(["a", "b", "c", "rid"], corpus.text_rows(BIG_ROWS))
    results = _check(TEXT, body, {"hive": hive_serde.read_table})
    assert results[0].cells == 4 * (len(corpus.TEXT_VALUES) + len(corpus.LONG_VALUES) + BIG_ROWS)


def test_hive_parquet_serde_reads_every_type_at_its_bounds(hive):
    for contract, fields in ((TYPED, corpus.TYPED_FIELDS), (BOUNDS, corpus.BOUNDS_FIELDS)):
        body = corpus.csv_bytes(corpus.TYPED_HEADER, corpus.typed_rows(fields))
        _check(contract, body, {"hive": hive_serde.read_table}, expect=matrix.hive_calendar)


def test_hive_names_days_before_the_gregorian_reform_in_the_julian_calendar(hive):
    """What `matrix.hive_calendar` expects, pinned on Hive itself: the stored day count of 0001-01-01 reads
    0001-01-03, 1582-10-10 reads 1582-09-30, and from 1582-10-15 on nothing moves (DuckDB and pyarrow, the
    proleptic Gregorian readers, return every one as stored)."""
    rows = [
        ["a", "1", "0", "true", "0001-01-01", "0001-01-01T00:00:00Z", "2024-01-01"],
        ["b", "2", "0", "true", "1582-10-10", "1582-10-10T12:00:00Z", "2024-01-01"],
        ["c", "3", "0", "true", "1582-10-15", "1582-10-15T00:00:00Z", "2024-01-01"],
    ]
    body = corpus.csv_bytes(corpus.TYPED_HEADER, corpus.typed_rows(rows))
    files = offline.render_objects(TYPED, body)
    read = {r["s"]: (r["d"], r["ts"]) for r in hive_serde.read_table(offline.table_input(TYPED), files)}
    assert read == {
        "a": (date(1, 1, 3), datetime(1, 1, 3)),
        "b": (date(1582, 9, 30), datetime(1582, 9, 30, 12)),
        "c": (date(1582, 10, 15), datetime(1582, 10, 15)),
    }
    for reader in FILE_READERS.values():
        got = {r["s"]: r["d"] for r in reader(offline.table_input(TYPED), files)}
        assert got == {"a": date(1, 1, 1), "b": date(1582, 10, 10), "c": date(1582, 10, 15)}
