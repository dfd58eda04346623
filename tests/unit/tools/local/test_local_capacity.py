"""The local cloud's size limit: rows estimated from a file, and the warning before a file would exceed it."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from pipeline.tools.local.capacity import CHECKPOINT_FACTOR, ITEM_BYTES, OPTIONS, Capacity, estimate_rows
from pipeline.tools.sample import write_orders

GB = 1_000_000_000


def _rows(path: Path) -> int:
    """Data records as Python's csv module counts them (quoted newlines included): the oracle."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


@pytest.mark.parametrize("rows", [10, 5_000, 60_000])
def test_rows_are_estimated_within_a_few_percent(tmp_path: Path, rows: int) -> None:
    path = tmp_path / "orders.csv"
    write_orders(path, rows, seed=5)
    assert abs(estimate_rows(path) - _rows(path)) <= max(2, 0.05 * _rows(path))
    zipped = tmp_path / "orders.csv.gz"
    zipped.write_bytes(gzip.compress(path.read_bytes()))
    assert abs(estimate_rows(zipped) - _rows(path)) <= max(2, 0.1 * _rows(path))


def test_an_empty_file_has_no_rows(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    assert estimate_rows(tmp_path / "empty.csv") == 0


def test_a_file_that_fits_gets_no_warning() -> None:
    laptop = Capacity(resident=int(0.3 * GB), items=0, available=20 * GB, total=24 * GB)
    assert laptop.warning(1_000_000) is None
    assert laptop.warning() is None


def test_a_file_past_the_safe_size_is_warned_about_with_the_options() -> None:
    laptop = Capacity(resident=int(6 * GB), items=1_050_000, available=8 * GB, total=24 * GB)
    warning = laptop.warning(1_200_000)
    assert warning is not None
    assert warning.startswith("this file (~1,200,000 rows) would bring the local cloud to about")
    assert "it holds 1,050,000 DynamoDB items in 6.0 GB now" in warning
    assert warning.endswith(OPTIONS)
    assert "x-dynamodb: false" in warning and "--stage NAME" in warning


def test_the_limit_leaves_room_for_a_checkpoint() -> None:
    """Rows that fit: the peak while a checkpoint is written stays within 80 % of what the server can have."""
    laptop = Capacity(resident=int(0.3 * GB), items=0, available=int(21.7 * GB), total=24 * GB)
    fit = laptop.rows_that_fit()
    assert laptop.warning(fit) is None
    assert laptop.warning(fit + 50_000) is not None
    assert (0.3 * GB + fit * ITEM_BYTES) * CHECKPOINT_FACTOR <= 0.8 * 22 * GB
