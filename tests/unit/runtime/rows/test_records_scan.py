"""Record boundaries in raw CSV bytes: quotes, CRLF, blank lines, physical line numbers."""

from __future__ import annotations

import pytest

from pipeline.runtime.rows.records import scan_records, split_header


def _spans(buf: bytes, **kwargs) -> list[bytes]:
    index = scan_records(buf, **kwargs)
    return [buf[s:e] for s, e in zip(index.starts.tolist(), index.ends.tolist(), strict=True)]


def test_scan_finds_one_record_per_line():
    index = scan_records(b"a,b\nc,d\ne,f\n")
    assert len(index) == 3
    assert index.starts.tolist() == [0, 4, 8]
    assert index.ends.tolist() == [3, 7, 11]
    assert index.lines.tolist() == [1, 2, 3]
    assert index.fields.tolist() == [2, 2, 2]
    assert index.unterminated is False


def test_scan_of_empty_buffer_has_no_records():
    index = scan_records(b"")
    assert len(index) == 0
    assert index.unterminated is False


def test_scan_excludes_crlf_terminators_from_records():
    buf = b"a,b\r\nc,d\r\n"
    assert _spans(buf) == [b"a,b", b"c,d"]
    assert scan_records(buf).lines.tolist() == [1, 2]


def test_scan_keeps_last_record_without_trailing_newline():
    assert _spans(b"a,b\nc,d") == [b"a,b", b"c,d"]
    assert _spans(b"a,b\r\nc,d\r") == [b"a,b", b"c,d"]


def test_scan_skips_blank_lines_but_counts_them_in_line_numbers():
    buf = b"\na,b\n\n\r\nc,d\n\n"
    index = scan_records(buf)
    assert _spans(buf) == [b"a,b", b"c,d"]
    assert index.lines.tolist() == [2, 5]


def test_scan_line_numbers_start_at_first_line():
    assert scan_records(b"a\nb\n", first_line=41).lines.tolist() == [41, 42]


def test_quoted_newline_keeps_one_record_and_advances_physical_lines():
    buf = b'1,"two\nlines"\n2,"three\r\nline\nnote"\n3,x\n'
    index = scan_records(buf, first_line=2)
    assert _spans(buf, first_line=2) == [b'1,"two\nlines"', b'2,"three\r\nline\nnote"', b"3,x"]
    assert index.lines.tolist() == [2, 4, 7]
    assert index.fields.tolist() == [2, 2, 2]


def test_quoted_delimiters_do_not_count_as_fields():
    index = scan_records(b'a,"x,y,z",b\n"1,2",3\n')
    assert index.fields.tolist() == [3, 2]


def test_escaped_quotes_keep_quote_parity():
    buf = b'a,"say ""hi"", then\nleave",b\nc,d,e\n'
    assert _spans(buf) == [b'a,"say ""hi"", then\nleave",b', b"c,d,e"]
    assert scan_records(buf).fields.tolist() == [3, 3]


def test_ragged_rows_report_their_field_count():
    assert scan_records(b"a\na,b,c\n,,,\n").fields.tolist() == [1, 3, 4]


def test_custom_delimiter_counts_fields():
    index = scan_records(b'a;b;c\n"x;y";z\n', delimiter=b";")
    assert index.fields.tolist() == [3, 2]


def test_unterminated_quote_is_flagged_and_runs_to_the_end():
    buf = b'1,ok\n2,"never closed\n3,x\n'
    index = scan_records(buf)
    assert index.unterminated is True
    assert _spans(buf)[-1] == b'2,"never closed\n3,x\n'
    assert index.lines.tolist() == [1, 2]


def test_closed_quotes_are_not_flagged_unterminated():
    assert scan_records(b'1,"a\nb"\n').unterminated is False


def test_memoryview_input_is_accepted():
    buf = b"a,b\nc,d\n"
    assert scan_records(memoryview(buf)).starts.tolist() == [0, 4]


# ------------------------------------------------------------------ split_header


@pytest.mark.parametrize(
    ("buf", "header", "offset"),
    [
        (b"h1,h2\nx,y\n", b"h1,h2", 6),
        (b"h1,h2\r\nx,y\r\n", b"h1,h2", 7),
        (b"h1,h2", b"h1,h2", 5),
        (b"h1,h2\n", b"h1,h2", 6),
        (b"\n\nh1,h2\nx\n", b"h1,h2", 8),
        (b'"h\n1",h2\nx\n', b'"h\n1",h2', 9),
    ],
)
def test_split_header_returns_header_and_data_offset(buf, header, offset):
    assert split_header(buf) == (header, offset)


def test_split_header_does_not_swallow_a_following_blank_line():
    head, offset = split_header(b"h1,h2\n\nx,y\n")
    assert head == b"h1,h2"
    assert offset == 6  # the blank line belongs to the data (line 2)


def test_split_header_of_empty_buffer():
    assert split_header(b"") == (b"", 0)
    assert split_header(b"\n\n") == (b"", 2)


def test_a_file_with_cr_only_line_endings_has_one_record_per_line():
    buf = b'h1,h2\r1,x\r2,"a\rb"\r\r3,y'
    assert split_header(buf) == (b"h1,h2", 6)
    index = scan_records(buf[6:], first_line=2)
    assert [buf[6:][s:e] for s, e in zip(index.starts.tolist(), index.ends.tolist(), strict=True)] == [
        b"1,x",
        b'2,"a\rb"',
        b"3,y",
    ]
    assert index.lines.tolist() == [2, 3, 6]


def test_split_header_takes_one_terminator_of_any_kind():
    assert split_header(b"h\r\rx\n") == (b"h", 2)  # the second CR is a blank line of the data
    assert split_header(b"h\r\nx") == (b"h", 3)
    assert split_header(b"\r\rh\rx") == (b"h", 4)
