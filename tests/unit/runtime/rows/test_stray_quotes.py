"""Quotes inside unquoted fields are text (as pyarrow and Python's csv read them), not the start of a quoted field."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from pipeline.runtime.rows.parse import parse_page
from pipeline.runtime.rows.records import quote_parity, scan_records

HEADER = ["id", "note"]


def _records(buf: bytes) -> list[bytes]:
    index = scan_records(buf)
    return [buf[s:e] for s, e in zip(index.starts.tolist(), index.ends.tolist(), strict=True)]


def test_structural_quotes_keep_the_fast_answer():
    data = np.frombuffer(b'a,"x\n""y",b\n"",c\n', dtype=np.uint8)
    assert quote_parity(data).tolist() == (np.cumsum(data == ord('"')) & 1).tolist()


def test_a_quote_inside_an_unquoted_field_does_not_open_a_quoted_field():
    assert _records(b'1,TV 55" screen\n2,x\n3,y\n') == [b'1,TV 55" screen', b"2,x", b"3,y"]


def test_text_after_a_closing_quote_is_read_as_text_up_to_the_delimiter():
    index = scan_records(b'1,"bad "quote" x",z\n2,x\n')
    assert index.fields.tolist() == [3, 2]


def test_a_quoted_field_after_a_stray_quote_still_spans_lines():
    body = b'1,5" wide\n2,"two\nlines"\n3,x\n'
    assert _records(body) == [b'1,5" wide', b'2,"two\nlines"', b"3,x"]
    assert scan_records(body, first_line=2).lines.tolist() == [2, 3, 5]


def test_stray_quotes_keep_every_row_and_its_text():
    body = b'1,TV 55" screen\n2,x\n3,6" wide\n4,"quoted, with comma"\n'
    page = parse_page(body, HEADER)
    assert page.rejects == []
    assert page.table.column("note").to_pylist() == ['TV 55" screen', "x", '6" wide', "quoted, with comma"]
    assert page.lines.tolist() == [2, 3, 4, 5]


def test_an_opening_quote_without_its_closing_quote_is_still_unterminated():
    page = parse_page(b'1,x\n2,"open\n3,y\n', HEADER)
    assert page.table.column("id").to_pylist() == ["1"]
    assert [(r.line, r.reasons) for r in page.rejects] == [(3, ["unterminated quoted field"])]


hypothesis = pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FIELD = st.text(alphabet='a ,"\n\r', max_size=6)


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(st.lists(FIELD, min_size=1, max_size=3), min_size=1, max_size=6), st.booleans())
def test_records_and_fields_agree_with_pythons_csv_reader(rows, quote_all):
    """Any mix of quoted and unquoted fields, stray quotes included, splits as Python's csv module splits it."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerows(rows)
    text = out.getvalue()
    for row in rows:  # and the same rows written by hand, unquoted, where that is still one record per line
        if all("," not in f and "\n" not in f and "\r" not in f and not f.startswith('"') for f in row):
            text += ",".join(row) + "\n"
    index = scan_records(text.encode())
    expected = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    assert index.fields.tolist() == [len(r) for r in expected]
    assert not index.unterminated
