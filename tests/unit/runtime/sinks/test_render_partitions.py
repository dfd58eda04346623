"""`render_partitions` (one sort and one join per page) writes, per value, the bytes `render` writes for the
lines of that value selected one value at a time, in the same order."""

from __future__ import annotations

import pytest

hypothesis = pytest.importorskip("hypothesis")

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pipeline.runtime.sinks.text_format import render, render_partitions  # noqa: E402

LINE = st.lists(st.sampled_from(["a", "\\", "\t", "ü", "😀", "\\N", "x"]), max_size=6).map("".join)
DAY = st.sampled_from(["2024-01-01", "2024-01-02", "2024-02-29"])


def one_scan_per_value(lines: pa.Array, values: pa.Array) -> dict[str, tuple[bytes, int]]:
    """The oracle: filter the lines of each value (first appearance order) and render them."""
    files = {}
    for value in pc.unique(values).to_pylist():
        selected = pc.filter(lines, pc.equal(values, value))
        files[value] = (render(selected), len(selected))
    return files


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.tuples(LINE, DAY), max_size=40), st.integers(0, 5))
def test_same_files_as_one_scan_per_value(rows, skip) -> None:
    lines = pa.array([line for line, _ in rows], pa.string())
    values = pa.array([day for _, day in rows], pa.string())
    got = render_partitions(lines, values)
    assert got == one_scan_per_value(lines, values)
    assert list(got) == list(one_scan_per_value(lines, values))  # keyed in order of first appearance
    sliced = render_partitions(lines.slice(skip), values.slice(skip))  # arrays with an offset
    assert sliced == one_scan_per_value(lines.slice(skip), values.slice(skip))


def test_chunked_inputs_and_empty_lines() -> None:
    lines = pa.chunked_array([["", "b"], ["c", ""]], pa.string())
    values = pa.chunked_array([["d1", "d2"], ["d1", "d1"]], pa.string())
    assert render_partitions(lines, values) == {"d1": (b"\nc\n\n", 3), "d2": (b"b\n", 1)}
    assert render_partitions(pa.array([], pa.string()), pa.array([], pa.string())) == {}


def test_render_is_the_lines_each_terminated_by_lf() -> None:
    lines = pa.array(["ü", "", "a\\tb"], pa.string())
    assert render(lines) == "ü\n\na\\tb\n".encode()
    assert render(lines.slice(1)) == b"\na\\tb\n"
    assert render(pa.array([], pa.string())) == b""
