"""Parsing one page of CSV records into string rows and row-level rejects."""

from __future__ import annotations

from pipeline.runtime.rows.parse import parse_page

HEADER = ["a", "b"]


def test_well_formed_rows_parse_as_strings_with_line_numbers():
    page = parse_page(b"1,x\n2,y\n", HEADER)
    assert page.table.column_names == HEADER
    assert page.table.to_pylist() == [{"a": "1", "b": "x"}, {"a": "2", "b": "y"}]
    assert page.lines.tolist() == [2, 3]
    assert page.rejects == []
    assert page.input_rows == 2


def test_first_line_offsets_line_numbers():
    page = parse_page(b"1,x\n2,y\n", HEADER, first_line=1001)
    assert page.lines.tolist() == [1001, 1002]


def test_row_with_too_many_fields_is_rejected_with_line_and_reason():
    page = parse_page(b"1,x\n2,y,extra\n3,z\n", HEADER)
    assert page.table.to_pylist() == [{"a": "1", "b": "x"}, {"a": "3", "b": "z"}]
    assert page.lines.tolist() == [2, 4]
    [reject] = page.rejects
    assert reject.line == 3
    assert reject.reasons == ["expected 2 fields, found 3"]
    assert reject.raw == "2,y,extra"


def test_row_with_too_few_fields_is_rejected_with_line_and_reason():
    page = parse_page(b"1\n2,y\n", HEADER)
    assert [(r.line, r.reasons, r.raw) for r in page.rejects] == [(2, ["expected 2 fields, found 1"], "1")]
    assert page.table.to_pylist() == [{"a": "2", "b": "y"}]


def test_every_row_ragged_gives_an_empty_table_with_the_header():
    page = parse_page(b"1\n2,3,4\n", HEADER)
    assert page.table.num_rows == 0
    assert page.table.column_names == HEADER
    assert [r.line for r in page.rejects] == [2, 3]
    assert page.input_rows == 2


def test_invalid_utf8_record_is_rejected_and_other_rows_survive():
    body = "1,ok\n2,caf\xe9\n3,é\n".encode().replace(b"caf\xc3\xa9", b"caf\xe9")
    page = parse_page(body, HEADER)
    assert page.table.to_pylist() == [{"a": "1", "b": "ok"}, {"a": "3", "b": "é"}]
    assert page.lines.tolist() == [2, 4]
    [reject] = page.rejects
    assert reject.line == 3
    assert reject.reasons == ["not valid UTF-8 (byte 5 of the record)"]
    assert reject.raw == "2,caf\\xe9"


def test_invalid_utf8_and_ragged_rows_are_both_rejected_in_line_order():
    page = parse_page(b"\xff,1\n1,2,3\n4,5\n", HEADER)
    assert [r.line for r in page.rejects] == [2, 3]
    assert page.table.to_pylist() == [{"a": "4", "b": "5"}]


def test_quoted_multiline_field_parses_into_one_value():
    page = parse_page(b'1,"first\nsecond\nthird"\n2,"x, ""quoted"""\n', HEADER)
    assert page.table.to_pylist() == [{"a": "1", "b": "first\nsecond\nthird"}, {"a": "2", "b": 'x, "quoted"'}]
    assert page.lines.tolist() == [2, 5]


def test_crlf_records_parse_without_carriage_returns():
    page = parse_page(b"1,x\r\n2,y\r\n", HEADER)
    assert page.table.to_pylist() == [{"a": "1", "b": "x"}, {"a": "2", "b": "y"}]


def test_blank_lines_are_skipped_but_line_numbers_stay_physical():
    page = parse_page(b"\n1,x\n\n\n2,y\n", HEADER)
    assert page.lines.tolist() == [3, 6]
    assert page.input_rows == 2


def test_empty_fields_stay_empty_strings():
    page = parse_page(b'1,\n,""\n', HEADER)
    assert page.table.to_pylist() == [{"a": "1", "b": ""}, {"a": "", "b": ""}]


def test_unterminated_quote_rejects_the_last_record():
    page = parse_page(b'1,x\n2,"open\n', HEADER)
    assert page.table.to_pylist() == [{"a": "1", "b": "x"}]
    [reject] = page.rejects
    assert reject.line == 3
    assert reject.reasons == ["unterminated quoted field"]


def test_raw_text_returns_the_original_record():
    page = parse_page(b'1,"a\nb"\n2,y\n', HEADER)
    assert page.raw_text(0) == '1,"a\nb"'
    assert page.raw_text(1) == "2,y"


def test_other_delimiter():
    page = parse_page(b"1;x,y\n", HEADER, delimiter=";")
    assert page.table.to_pylist() == [{"a": "1", "b": "x,y"}]


def test_empty_body_gives_no_rows():
    page = parse_page(b"", HEADER)
    assert page.table.num_rows == 0
    assert page.rejects == []


def test_stray_quote_in_unquoted_field_is_a_row_reject_not_a_page_crash():
    body = b'1,TV 55", stand 40"\n2,x\n'  # e.g. a note written with inch marks
    page = parse_page(body, HEADER)  # currently: ArrowInvalid: Expected 2 columns, got 3
    assert page.input_rows == 2
    assert {"a": "2", "b": "x"} in page.table.to_pylist()


# ------------------------------------------------------------------ CR-only (old Mac) line endings


def _python_rows(body: bytes) -> list[list[str]]:
    """The oracle: Python's csv module, which ends a record at LF, CR LF or a lone CR."""
    import csv
    import io

    return [row for row in csv.reader(io.StringIO(body.decode(), newline="")) if row]


def test_cr_only_line_endings_end_records_as_pythons_csv_and_pyarrow_read_them():
    import io

    import pyarrow.csv as pacsv

    body = b'1,x\r2,"two\rlines"\r3,"say ""hi"""\r\r4,z'
    page = parse_page(body, HEADER)
    assert page.rejects == []
    assert [list(r.values()) for r in page.table.to_pylist()] == _python_rows(body)
    arrow = pacsv.read_csv(
        io.BytesIO(body),
        read_options=pacsv.ReadOptions(column_names=HEADER),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={"a": "string", "b": "string"}),
    )
    assert arrow.to_pylist() == page.table.to_pylist()
    assert page.lines.tolist() == [2, 3, 5, 7]  # a CR is a line break, inside quotes too; line 6 is blank


def test_a_lone_cr_in_an_unquoted_field_ends_its_record_as_csv_readers_do():
    body = b"1,x\n2,a\rb\n3,y\n"  # Python's csv and pyarrow both read 2,a | b
    page = parse_page(body, HEADER)
    assert [list(r.values()) for r in page.table.to_pylist()] == [r for r in _python_rows(body) if len(r) == 2]
    assert [(r.line, r.reasons, r.raw) for r in page.rejects] == [(4, ["expected 2 fields, found 1"], "b")]
    assert page.lines.tolist() == [2, 3, 5]
