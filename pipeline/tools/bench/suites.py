"""The suites `pipeline bench --suite NAME` runs, and their bookkeeping: which run, percentiles, ratio rows."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT = "default"
SMALL_FILES = "small-files"
S3_ONLY = "s3-only"
QUERY = "query"
RESTART = "restart"
SCALE = "scale"
SUITES = (DEFAULT, SMALL_FILES, S3_ONLY, QUERY, RESTART, SCALE)
# a suite that measures the S3-only job's output or state needs that job first
NEEDS = {QUERY: S3_ONLY, RESTART: S3_ONLY}


def select(names: Iterable[str]) -> list[str]:
    """The suites to run, in their fixed order, with what each needs; none named means the default suite."""
    chosen = set(names) or {DEFAULT}
    unknown = chosen - set(SUITES)
    if unknown:
        raise ValueError(f"unknown suite {sorted(unknown)[0]!r}: choose from {', '.join(SUITES)}")
    chosen |= {NEEDS[name] for name in chosen if name in NEEDS}
    return [name for name in SUITES if name in chosen]


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p95 and max by the nearest-rank method (the smallest value with at least q of them at or below it)."""
    ordered = sorted(values)
    if not ordered:
        return {"p50": None, "p95": None, "max": None}

    def rank(q: float) -> float:
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 2)

    return {"p50": rank(0.50), "p95": rank(0.95), "max": round(ordered[-1], 2)}


@dataclass(frozen=True)
class RatioRow:
    """One line of the ratio table: a measure of the pipeline, its reference and pipeline / reference."""

    suite: str
    measure: str
    pipeline: str
    reference: str
    ratio: float | None
    goal: str = ""
    met: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ratio_row(
    suite: str,
    measure: str,
    value: float | None,
    reference_value: float | None,
    *,
    pipeline: str,
    reference: str,
    goal: tuple[str, float] | None = None,
) -> RatioRow:
    """A row whose ratio is ``value / reference_value`` (None when either is missing or zero), and its target
    verdict when ``goal`` (an operator and a limit on the ratio) is given."""
    ratio = round(value / reference_value, 3) if value and reference_value else None
    met = None
    if goal is not None and ratio is not None:
        op, limit = goal
        met = {">=": ratio >= limit, "<=": ratio <= limit}[op]
    text = f"{goal[0]} {goal[1]:,g}" if goal else ""
    return RatioRow(suite, measure, pipeline, reference, ratio, text, met)


def unfinished(result: dict[str, Any]) -> list[str]:
    """The suites of a run whose job (or jobs) did not end COMPLETE: the command then exits non-zero."""
    statuses = {DEFAULT: result["pipeline"].get("job_status")} if "pipeline" in result else {}
    statuses |= {name: suite.get("job_status") for name, suite in result.get("suites", {}).items()}
    return [name for name, status in statuses.items() if status is not None and status != "COMPLETE"]
