"""`split_line` decodes output lines exactly as the SerDe does, so reconciliation reads what Athena reads."""

from __future__ import annotations

import pyarrow as pa
import pytest
from conftest import make_contract

from pipeline.runtime.sinks.text_format import render_lines, split_line


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        "tab\there",
        "line\nbreak",
        "cr\rlf\r\n",
        "back\\slash",
        "\\n literal",
        'comma, "quoted"',
        "ünï ✓",
        "\ufeff",
        "",
    ],
)
def test_split_line_inverts_render_lines_for_tricky_text(text: str) -> None:
    contract = make_contract({"id": {"type": "string"}, "note": {"type": ["string", "null"]}})
    table = pa.table({"id": pa.array(["k"]), "note": pa.array([text])})
    line = render_lines(table, contract)[0].as_py()
    assert "\n" not in line
    assert split_line(line) == ["k", text]


def test_split_line_reads_the_null_format_as_null_and_empty_fields_as_empty_text() -> None:
    assert split_line("a\t\tc\t") == ["a", "", "c", ""]
    assert split_line("a\t\\N\t\\\\N") == ["a", None, "\\N"]
