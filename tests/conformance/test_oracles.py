"""The oracles themselves: the Trino-rules reader follows Trino's source, Hive's SerDe is really Hive's.

Each Trino case names the rule of `lib/trino-hive-formats` it checks. The Hive cases read hand-made bytes
through the Java classes and pin what they return, including the behaviour that decided the format (ADR 4).
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from tests.conformance import hive_serde, trino_text
from tests.conformance.trino_text import TrinoTextOptions, fields, lines

# The SerDe parameters of ADR 1's format, which the pipeline deployed before ADR 4.
ADR1 = {
    "field.delim": "\t",
    "serialization.format": "\t",
    "escape.delim": "\\",
    "serialization.escape.crlf": "true",
    "serialization.null.format": "",
}
ADR4 = {"field.delim": "\t", "serialization.format": "\t", "serialization.null.format": "\\N"}


def _table(parameters: dict[str, str], columns: list[tuple[str, str]], partitions: tuple[str, ...] = ()) -> dict:
    return {
        "PartitionKeys": [{"Name": p, "Type": "string"} for p in partitions],
        "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": t} for n, t in columns],
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                "Parameters": parameters,
            },
        },
    }


TEXT2 = [("k", "string"), ("v", "string")]
# ADR 1's writer output for: k1 'line one\nline two', k2 'crlf\r\nend', k3 '' (not null), k4 'tab\there'
ADR1_FILE = b"k1\tline one\\nline two\nk2\tcrlf\\r\\nend\nk3\t\nk4\ttab\\\there\n"


# ------------------------------------------------------------------ Trino rules


def test_trino_rules_on_adr1_files_lose_line_breaks_and_empty_strings_as_issue_14_says():
    rows = trino_text.read_table(_table(ADR1, TEXT2), {"part.tsv": ADR1_FILE})
    assert [r["v"] for r in rows] == ["line onenline two", "crlfrnend", None, "tab\there"]


def test_trino_line_reader_skips_a_leading_bom_and_ends_records_at_lf_cr_and_crlf():  # TextLineReader
    assert lines(b"\xef\xbb\xbfa\nb\rc\r\nd") == [b"a", b"b", b"c", b"d"]
    assert lines(b"a\n\nb\n") == [b"a", b"", b"b"]
    assert lines(b"a\xef\xbb\xbf\n\xef\xbb\xbfb\n") == [b"a\xef\xbb\xbf", b"\xef\xbb\xbfb"]  # only at the start
    assert lines(b"") == []


def test_trino_fields_compare_the_null_sequence_before_unescaping():  # SimpleDeserializer
    escaped = TrinoTextOptions({"field.delim": "\t", "escape.delim": "\\"})  # null sequence defaults to \N
    assert fields(b"a\t\\N\t\\\\N", escaped, 3) == [b"a", None, b"\\\\N"]
    assert fields(b"a\\\tb\tc", escaped, 2) == [b"a\\\tb", b"c"]  # an escaped separator does not split
    plain = TrinoTextOptions(ADR4)
    assert fields(b"a\t\tc\td", plain, 3) == [b"a", b"", b"c"]  # extra fields dropped
    assert fields(b"a", plain, 3) == [b"a", None, None]  # missing fields are NULL


def test_trino_options_read_delimiters_as_characters_or_byte_numbers():  # TextEncodingOptions.getByte
    assert TrinoTextOptions({"field.delim": "9"}).separator == 9
    assert TrinoTextOptions({"serialization.format": ","}).separator == ord(",")
    assert TrinoTextOptions({}).separator == 1 and TrinoTextOptions({}).null_sequence == b"\\N"
    assert TrinoTextOptions({"escape.delim": "\\"}).escape == ord("\\")
    assert TrinoTextOptions(ADR1).null_sequence == b"" and TrinoTextOptions(ADR4).escape is None


def test_trino_typed_decoding_follows_its_encodings():
    options = TrinoTextOptions(ADR4)
    assert trino_text.decode(b"-9223372036854775808", "bigint", options) == -(2**63)
    assert trino_text.decode(b"9223372036854775808", "bigint", options) is None  # overflow reads NULL
    assert trino_text.decode(b"12.9", "bigint", options) == 12  # LongEncoding drops a checked fraction
    assert trino_text.decode(b"1e+20", "double", options) == 1e20
    assert trino_text.decode(b"-0", "double", options) == 0.0
    assert trino_text.decode(b"nan", "double", options) is None  # Java spells it NaN
    assert trino_text.decode(b"TRUE", "boolean", options) is True
    assert trino_text.decode(b"yes", "boolean", options) is None
    assert trino_text.decode(b"0001-01-01", "date", options) == date(1, 1, 1)
    assert trino_text.decode(b"2024-03-01 10:00:00.123456789", "timestamp", options) == datetime(
        2024, 3, 1, 10, 0, 0, 123456
    )
    assert trino_text.decode(b"2024-03", "timestamp", options) is None  # under 8 bytes


# ------------------------------------------------------------------ Hive's own classes


def test_hive_honours_escape_crlf_where_trino_does_not(hive):
    rows = hive_serde.read_table(_table(ADR1, TEXT2), {"part.tsv": ADR1_FILE})
    assert sorted((r["k"], r["v"]) for r in rows) == [
        ("k1", "line one\nline two"),
        ("k2", "crlf\r\nend"),
        ("k3", None),
        ("k4", "tab\there"),
    ]


def test_hive_without_an_escape_character_returns_the_raw_bytes_and_reads_backslash_n_as_null(hive):
    body = "\ufeffk0\tdropped bom\nk1\t\\N\nk2\t\nk3\t\\\\N\nk4\ta\\tb\\nc\\\\\nk5\t\ufeffkept\n".encode()
    rows = hive_serde.read_table(_table(ADR4, TEXT2), {"part.tsv": body})
    got = {r["k"]: r["v"] for r in rows}
    assert got == {"k0": "dropped bom", "k1": None, "k2": "", "k3": "\\\\N", "k4": "a\\tb\\nc\\\\", "k5": "\ufeffkept"}
    assert got == {r["k"]: r["v"] for r in trino_text.read_table(_table(ADR4, TEXT2), {"part.tsv": body})}


def test_hive_reads_partitions_from_the_folders_it_is_given(hive):
    table = _table(ADR4, [("n", "bigint"), ("ts", "timestamp"), ("d", "date")], partitions=("dt",))
    files = {
        "dt=2024-01-01/a.tsv": b"1\t0001-01-01 00:00:00.000000\t9999-12-31\n",
        "dt=2024-01-02/a.tsv": b"\\N\t\\N\t\\N\n",
    }
    rows = sorted(hive_serde.read_table(table, files), key=lambda r: r["dt"])
    assert rows == [
        {"n": 1, "ts": datetime(1, 1, 1), "d": date(9999, 12, 31), "dt": "2024-01-01"},
        {"n": None, "ts": None, "d": None, "dt": "2024-01-02"},
    ]
    assert rows == sorted(trino_text.read_table(table, files), key=lambda r: r["dt"])


@pytest.mark.parametrize("value", ["1582-10-10"])
def test_hive_2_reads_the_ten_missing_days_of_1582_ten_days_later(hive, value):
    """Hive 2.3 parses dates with java.sql.Date (Julian before 1582-10-15); Trino and DuckDB do not.

    Not a property of the format: documented in docs/output-format.md, and the corpus avoids these days.
    """
    rows = hive_serde.read_table(_table(ADR4, [("d", "date")]), {"a.tsv": f"{value}\n".encode()})
    assert rows == [{"d": date(1582, 10, 20)}]
    assert trino_text.read_table(_table(ADR4, [("d", "date")]), {"a.tsv": f"{value}\n".encode()}) == [
        {"d": date(1582, 10, 10)}
    ]
