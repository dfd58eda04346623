"""Result files must read back through Athena's LazySimpleSerDe (reference decoder in conftest) unchanged."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pyarrow as pa
import pytest
from conftest import (
    make_contract,
    serde_records,
    serde_rows,
    serde_split,
    serde_unescape,
    validate_csv,
)

from pipeline.runtime.sinks.results import partition_files
from pipeline.runtime.sinks.text_format import (
    DELIMITER,
    NULL_TEXT,
    SERDE_PARAMETERS,
    decode_sql,
    decode_text,
    escape_text,
    records,
    render,
    render_lines,
    split_line,
)

TEXT_CONTRACT = make_contract({"s": {"type": ["string", "null"]}})

TRICKY_TEXT = [
    "plain",
    "tab\there",
    "\t",
    "\t\t",
    "ends with tab\t",
    "\tstarts with tab",
    "new\nline",
    "\n",
    "crlf\r\nline",
    "bare\rcr",
    "\r",
    "back\\slash",
    "\\",
    "\\\\",
    "ends with backslash\\",
    "\\t is not a tab",
    "\\n is not a newline",
    "\\\t",
    "\\\n",
    "comma, separated",
    'double "quotes"',
    "'single'",
    "Ünïcödé façade ✓ 😀 日本語",
    "N",
    "\\N",
    "NULL",
    " ",
    "\x00nul",
    "\x01\x02\x1f",
    "\u2028line separator\u2029",
    "\x85next line",
    "a" * 5000,
]


def _text_table(values: list[str | None]) -> pa.Table:
    return pa.table({"id": [f"id{i}" for i in range(len(values))], "s": pa.array(values, pa.string())})


def _round_trip(table: pa.Table, contract) -> list[dict]:
    return serde_rows(render(render_lines(table, contract)), contract)


# ------------------------------------------------------------------ reference decoder sanity


def test_reference_decoder_splits_on_every_tab_and_decodes_the_five_sequences():
    assert serde_split("a\tb\\tc\t") == ["a", "b\\tc", ""]
    fields = serde_split("a\\nb\t\\N\tc\\\\d\t\\r\t\t\\\\N\t\\ufeffx")
    assert [serde_unescape(f) for f in fields] == ["a\nb", None, "c\\d", "\r", "", "\\N", "\ufeffx"]


# ------------------------------------------------------------------ escaping


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("a\tb", "a\\tb"),
        ("a\nb", "a\\nb"),
        ("a\rb", "a\\rb"),
        ("a\\b", "a\\\\b"),
        ("\\n", "\\\\n"),
        ("\\\t", "\\\\\\t"),
        ("\\N", "\\\\N"),
        ("\ufeffbom", "\\ufeffbom"),
        ("", ""),
        ("plain", "plain"),
    ],
)
def test_escape_text_writes_backslash_tab_cr_lf_and_bom_as_visible_sequences(value, escaped):
    assert escape_text(pa.array([value])).to_pylist() == [escaped]
    assert decode_text(escaped) == value


def test_serde_parameters_match_the_format():
    assert SERDE_PARAMETERS["field.delim"] == DELIMITER == "\t"
    assert SERDE_PARAMETERS["serialization.null.format"] == NULL_TEXT == "\\N"
    assert "escape.delim" not in SERDE_PARAMETERS  # Hive and Trino unescape differently: no reader unescapes
    assert "serialization.escape.crlf" not in SERDE_PARAMETERS


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("value", TRICKY_TEXT, ids=[repr(v)[:30] for v in TRICKY_TEXT])
def test_tricky_text_round_trips_through_lazy_simple_serde(value):
    table = _text_table([value, "after"])
    lines = render_lines(table, TEXT_CONTRACT).to_pylist()
    assert len(lines) == 2
    for line in lines:
        assert "\n" not in line and "\r" not in line
    rows = _round_trip(table, TEXT_CONTRACT)
    assert rows == [{"id": "id0", "s": value}, {"id": "id1", "s": "after"}]


def test_every_tricky_text_in_one_file_keeps_one_record_per_row():
    table = _text_table(TRICKY_TEXT)
    body = render(render_lines(table, TEXT_CONTRACT))
    assert len(serde_records(body)) == len(TRICKY_TEXT)
    assert [r["s"] for r in serde_rows(body, TEXT_CONTRACT)] == TRICKY_TEXT


def test_text_with_tab_in_the_key_column_stays_in_its_field():
    table = pa.table({"id": ["a\tb\\"], "s": ["c\td"]})
    assert _round_trip(table, TEXT_CONTRACT) == [{"id": "a\tb\\", "s": "c\td"}]


def test_nulls_stay_null():
    table = _text_table([None, "x", None])
    assert [r["s"] for r in _round_trip(table, TEXT_CONTRACT)] == [None, "x", None]


def test_single_column_null_renders_as_the_null_format():
    contract = make_contract({}, dataset="single")
    lines = render_lines(pa.table({"id": pa.array(["a\tb", None, ""], pa.string())}), contract)
    assert lines.to_pylist() == ["a\\tb", "\\N", ""]


def test_empty_string_that_is_not_a_null_spelling_reads_back_as_empty_string():
    contract = make_contract({"s": {"type": ["string", "null"]}}, **{"x-null-values": ["NULL"]})
    page = validate_csv(contract, 'a,""\nb,NULL\n')
    assert page.table.column("s").to_pylist() == ["", None]
    rows = _round_trip(page.table, contract)
    assert [r["s"] for r in rows] == ["", None]


# ------------------------------------------------------------------ typed columns

TYPED = make_contract(
    {
        "n": {"type": ["integer", "null"]},
        "x": {"type": ["number", "null"]},
        "b": {"type": ["boolean", "null"]},
        "d": {"type": ["string", "null"], "format": "date"},
        "ts": {"type": ["string", "null"], "format": "date-time"},
    },
    dataset="typed",
)


def _typed_table() -> pa.Table:
    return pa.table(
        {
            "id": ["a", "b", "c", "d"],
            "n": pa.array([0, -(2**63) + 1, 2**63 - 1, None], pa.int64()),
            "x": pa.array([0.1 + 0.2, -1e-7, 1e20, None], pa.float64()),
            "b": pa.array([True, False, None, True]),
            "d": pa.array([date(2024, 2, 29), date(1970, 1, 1), None, date(9999, 12, 31)], pa.date32()),
            "ts": pa.array(
                [
                    datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC),
                    datetime(2024, 3, 1, 23, 59, 59, 123456, tzinfo=UTC),
                    datetime(1999, 12, 31, 0, 0, 0, 1, tzinfo=UTC),
                    None,
                ],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )


def test_typed_values_and_nulls_round_trip():
    table = _typed_table()
    assert _round_trip(table, TYPED) == table.to_pylist()


def test_timestamps_are_written_as_utc_with_microseconds():
    lines = render_lines(_typed_table(), TYPED).to_pylist()
    stamps = [serde_split(line)[5] for line in lines]
    assert stamps == [
        "2024-03-01 10:00:00.000000",
        "2024-03-01 23:59:59.123456",
        "1999-12-31 00:00:00.000001",
        "\\N",
    ]
    for stamp in stamps[:3]:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}", stamp)


def test_timestamps_with_offsets_are_written_in_utc():
    contract = make_contract({"ts": {"type": "string", "format": "date-time"}}, ["ts"])
    page = validate_csv(contract, "a,2024-03-01T00:30:00+01:00\n")
    assert render_lines(page.table, contract).to_pylist() == ["a\t2024-02-29 23:30:00.000000"]


def test_booleans_dates_and_numbers_use_hive_text():
    fields = serde_split(render_lines(_typed_table(), TYPED).to_pylist()[0])
    assert fields == ["a", "0", "0.30000000000000004", "true", "2024-02-29", "2024-03-01 10:00:00.000000"]


def test_render_terminates_every_line_with_lf():
    assert render(pa.array(["a", "b"])) == b"a\nb\n"
    assert render(pa.array([], pa.string())) == b""


# ------------------------------------------------------------------ from CSV to Athena


def test_csv_values_survive_parse_validate_and_result_files(orders_contract):
    body = (
        'ORD-00000001,1,2024-03-01T23:30:00-01:00,2024-03-03,SHIPPED,10.5,EUR,1,true,"tab\there, ""quoted""\n'
        'second line\\with backslash"\n'
        "ORD-00000002,2,2024-03-01 08:00:00.25,,NEW,0,USD,3,,NA\n"
        "ORD-00000003,3,2024-03-02T00:00:00Z,2024-03-02,PAID,999999.99,GBP,10000,false,Ünïcödé ✓\n"
    )
    page = validate_csv(orders_contract, body)
    assert page.rejects == []
    files = partition_files(page.table, orders_contract, "job", 1)
    decoded = []
    for key in sorted(files):
        content, count = files[key]
        rows = serde_rows(content, orders_contract)
        assert len(rows) == count
        decoded.extend(rows)
    assert sorted(decoded, key=lambda r: r["order_id"]) == page.table.to_pylist()


# ------------------------------------------------------------------ reading the output back


def test_records_cut_only_at_lf_so_unicode_line_separators_stay_in_their_row():
    """Regression: reconcile split objects with str.splitlines(), which also cuts at U+2028, NEL, FF, VT and
    \\x1c-\\x1e, so such a value broke its row into pieces (and reconcile raised IndexError)."""
    values = ["a\u2028b", "c\x85d", "e\x0cf", "g\x0bh", "i\x1cj", "k\x1dl", "m\x1en", "o\u2029p"]
    body = render(render_lines(_text_table(values), TEXT_CONTRACT))
    text = body.decode("utf-8")
    assert len(records(text)) == len(values)
    assert len(text.splitlines()) > len(values)  # what the old count did
    assert [split_line(line)[1] for line in records(text)] == values


def test_split_line_reads_null_empty_and_encoded_text():
    line = render_lines(_text_table(["", None, "x\ty\\N"]), TEXT_CONTRACT).to_pylist()
    assert [split_line(x) for x in line] == [["id0", ""], ["id1", None], ["id2", "x\ty\\N"]]


@pytest.mark.parametrize("engine", ["duckdb"])
def test_documented_sql_decoding_returns_the_stored_text(engine):
    """The local engine runs its expression here; the Athena (Trino) twin differs only in function names."""
    import duckdb

    values = [*TRICKY_TEXT, "", None, "\\\\n", "\\\n", "\ufeff\\ufeff"]
    encoded = escape_text(pa.array(values, pa.string())).to_pylist()
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t (i INTEGER, s VARCHAR)")
    connection.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(encoded)))
    decoded = connection.execute(f"SELECT {decode_sql('s', engine=engine)} FROM t ORDER BY i").fetchall()
    assert [row[0] for row in decoded] == values


def test_athena_decoding_uses_trino_functions_with_the_same_structure():
    athena, local = decode_sql("note"), decode_sql("note", engine="duckdb")
    assert athena.startswith("array_join(transform(split(note, '\\\\'), p -> replace(")
    assert local.startswith("array_to_string(list_transform(string_split(note, '\\\\'), lambda p: replace(")
    assert athena.split("p -> ", 1)[1] == local.split("lambda p: ", 1)[1]  # the same replacements, in order
    with pytest.raises(ValueError, match="engine"):
        decode_sql("note", engine="spark")  # type: ignore[arg-type]
