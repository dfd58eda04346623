"""The matrix without a cloud: the page code's output objects read by Trino's rules, DuckDB and Hive.

Fast enough for hypothesis: generated rows go through parse, validate and `partition_files` in-process and
come back through the Trino-rules reader and the local Athena's DuckDB relation on every example; Hive's
SerDe (a JVM) reads the fixed corpus and one large seeded file. The full pipeline, DynamoDB and Athena
through pyathena are in `tests/e2e/test_conformance.py`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conformance import corpus, hive_serde, matrix, offline, trino_text
from tests.conformance.truth import stored_rows

TEXT = corpus.contract("conformance_text")
TYPED = corpus.contract("conformance_typed")
BOUNDS = corpus.contract("conformance_bounds")
BIG_ROWS = int(os.environ.get("CONFORMANCE_OFFLINE_ROWS") or 5000)

FILE_READERS = {"trino": trino_text.read_table, "duckdb": offline.duckdb_rows}


def _check(contract, body: bytes, readers: dict) -> list[matrix.Result]:
    truth = stored_rows(body, contract)
    files = offline.render_objects(contract, body)
    table = offline.table_input(contract)
    results = [
        matrix.compare(name, contract, truth, read(table, files), matrix.raw_text, with_partition=True)
        for name, read in readers.items()
    ]
    assert all(r.ok for r in results), matrix.report(contract.dataset, results)
    return results


PIECE = st.sampled_from(corpus.PIECES) | st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)
VALUE = st.lists(PIECE, max_size=10).map("".join)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(VALUE, VALUE, VALUE), min_size=1, max_size=15))
def test_any_text_reads_back_in_its_encoded_form_through_trino_rules_and_duckdb(values):
    rows = [[a, b, c, f"r{i}"] for i, (a, b, c) in enumerate(values)]
    _check(TEXT, corpus.csv_bytes(["a", "b", "c", "rid"], rows), FILE_READERS)


STAMP = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
    lambda t: t.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
)
TYPED_FIELDS = st.tuples(
    VALUE | st.just("NULL"),
    st.integers(-(2**63), 2**63 - 1).map(str) | st.just("NULL"),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e125, max_value=1e125)
    .filter(lambda x: x == 0 or abs(x) >= 1e-130)  # DynamoDB's range (a stored row); beyond it: conformance_bounds
    .map(repr)
    | st.just("NULL"),
    st.sampled_from(["true", "false", "TRUE", "f", "NULL"]),
    st.dates().map(lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}") | st.just("NULL"),
    STAMP | st.just("NULL"),
    st.dates(min_value=datetime(2020, 1, 1).date(), max_value=datetime(2020, 1, 5).date()).map(str),
)


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TYPED_FIELDS, min_size=1, max_size=10))
def test_any_typed_row_reads_back_exactly_through_trino_rules_and_duckdb(fields):
    rows = [[*f, str(i)] for i, f in enumerate(fields)]
    # dates before 1582-10-15 are fine for these readers; Hive's own reading of them is pinned in test_oracles
    _check(TYPED, corpus.csv_bytes(corpus.TYPED_HEADER, rows), FILE_READERS)


ALL_READERS = {**FILE_READERS, "hive": hive_serde.read_table}


def test_the_fixed_text_corpus_and_generated_rows_read_back_through_hive_too(hive):
    body = corpus.csv_bytes(["a", "b", "c", "rid"], corpus.text_rows(BIG_ROWS))
    results = _check(TEXT, body, ALL_READERS)
    assert results[0].cells == 4 * (len(corpus.TEXT_VALUES) + len(corpus.LONG_VALUES) + BIG_ROWS)


@pytest.mark.parametrize(("contract", "fields"), [(TYPED, corpus.TYPED_FIELDS), (BOUNDS, corpus.BOUNDS_FIELDS)])
def test_every_type_at_its_bounds_reads_back_exactly_through_hive_too(hive, contract, fields):
    _check(contract, corpus.csv_bytes(corpus.TYPED_HEADER, corpus.typed_rows(fields)), ALL_READERS)
