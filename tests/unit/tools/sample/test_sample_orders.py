"""The sample orders generator: deterministic, and its counts agree with the real validator."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from pipeline.runtime.rows.header import check_header, parse_header
from pipeline.runtime.rows.parse import parse_page
from pipeline.runtime.rows.records import split_header
from pipeline.runtime.rows.validate import validate_page
from pipeline.tools.sample.orders import HEADER, write_orders


def _generate(rows: int, **kwargs) -> tuple[bytes, dict[str, int]]:
    out = io.StringIO()
    counts = write_orders(out, rows, **kwargs)
    return out.getvalue().encode("utf-8"), counts


def _validate(data: bytes, contract):
    raw_header, offset = split_header(data)
    names = check_header(parse_header(raw_header), contract)
    first_line = 1 + data.count(b"\n", 0, offset)
    return validate_page(parse_page(data[offset:], names, first_line=first_line), contract)


def test_same_seed_gives_the_same_file():
    assert _generate(300, seed=11) == _generate(300, seed=11)


def test_different_seeds_give_different_files():
    assert _generate(300, seed=1)[0] != _generate(300, seed=2)[0]


def test_writes_to_a_path(tmp_path):
    path = tmp_path / "orders.csv"
    counts = write_orders(path, 50, seed=3)
    assert path.read_bytes() == _generate(50, seed=3)[0]
    assert counts["rows"] == 50


def test_file_starts_with_the_orders_header(orders_contract):
    data, _ = _generate(5)
    assert data.split(b"\n", 1)[0].decode() == ",".join(HEADER)
    assert orders_contract.column_names == HEADER


def test_counts_add_up():
    _, counts = _generate(1000, seed=5, bad_fraction=0.1)
    assert counts["valid"] + counts["invalid"] == counts["rows"] == 1000
    assert 0 < counts["invalid"] < 1000


def test_generated_file_validates_to_the_reported_counts(orders_contract):
    data, counts = _generate(3000, seed=7, bad_fraction=0.05)
    page = _validate(data, orders_contract)
    assert page.input_rows == counts["rows"]
    assert page.table.num_rows == counts["valid"]
    assert len(page.rejects) == counts["invalid"]


def test_all_valid_file_has_no_rejects(orders_contract):
    data, counts = _generate(500, seed=9, bad_fraction=0.0)
    page = _validate(data, orders_contract)
    assert counts["invalid"] == 0
    assert page.rejects == []
    assert page.table.num_rows == 500


def test_generated_rows_keep_line_numbers_of_multiline_notes(orders_contract):
    data, _ = _generate(400, seed=13, bad_fraction=0.0)
    assert b"fragile\nhandle with care" in data  # some notes span two physical lines
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    next(reader)
    expected, previous_end = [], reader.line_num
    for _ in reader:
        expected.append(previous_end + 1)
        previous_end = reader.line_num
    page = _validate(data, orders_contract)
    assert page.lines.tolist() == expected
    assert expected[-1] > 401  # physical lines, not record numbers


def test_orders_fall_in_the_requested_window(orders_contract):
    data, _ = _generate(200, seed=21, bad_fraction=0.0, start=datetime(2023, 1, 1, tzinfo=UTC), days=2, start_id=1000)
    page = _validate(data, orders_contract)
    stamps = page.table.column("order_ts").to_pylist()
    assert min(stamps) >= datetime(2023, 1, 1, tzinfo=UTC)
    assert max(stamps) < datetime(2023, 1, 3, tzinfo=UTC)
    assert page.table.column("order_id").to_pylist()[0] == "ORD-00001000"
