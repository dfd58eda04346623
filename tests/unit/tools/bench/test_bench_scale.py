"""The scale suite's bookkeeping: the curve's spread, its ratio rows and the sizes the command takes."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from pipeline.tools.bench.scale import flatness, scale_rows
from pipeline.tools.cli.main import cli


def _point(rows: int, rows_per_s: int, floor: int, status: str = "COMPLETE") -> dict[str, Any]:
    return {
        "path": "dynamodb",
        "rows": rows,
        "job_status": status,
        "pages": 4,
        "end_to_end_s": rows / rows_per_s,
        "rows_per_s": rows_per_s,
        "floor_items_per_s": floor,
        "ratio_to_floor": round(rows_per_s / floor, 3),
        "peak_rss_mb": {"page-worker": 300, "pager": 120},
    }


def test_the_spread_is_relative_to_the_smallest_ratio() -> None:
    points = [_point(100_000, 9_000, 10_000), _point(1_000_000, 10_000, 10_000), _point(3_000_000, 8_000, 10_000)]
    assert flatness(points) == pytest.approx((1.0 - 0.8) / 0.8, abs=1e-3)
    assert flatness(points[:1]) is None  # one size has no curve


def test_each_size_is_a_row_against_its_floor_and_the_spread_is_judged() -> None:
    points = [_point(100_000, 9_500, 10_000), _point(1_000_000, 9_000, 10_000)]
    s3 = {**_point(10_000_000, 150_000, 1), "path": "s3-only", "duckdb_rows_per_s": 300_000}
    result = {"dynamodb": points, "s3_only": [s3], "flatness": flatness(points), "flat_within": 0.15}
    rows = scale_rows(result)
    assert [r.ratio for r in rows] == [0.95, 0.9, pytest.approx(0.056, abs=1e-3), 0.5]
    assert [r.met for r in rows] == [True, True, True, None]
    assert "page-worker 300 MB" in rows[0].pipeline and "10,000,000 rows" in rows[3].measure


@pytest.mark.parametrize("bad", ["1e6", "100,x", "0"])
def test_a_malformed_size_is_one_line(bad: str) -> None:
    result = CliRunner().invoke(cli, ["bench", "--suite", "scale", "--scale-rows", bad])
    assert result.exit_code == 2 and "--scale-rows" in result.output, result.output
