"""The peer: what a user would write instead with AWS SDK for pandas (awswrangler), on the same local cloud."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from pipeline.tools.bench.cloud import scratch_table

INSTALL_HINT = "pip install -e '.[bench]'   (or: pip install awswrangler matplotlib)"


class PeerUnavailableError(RuntimeError):
    """awswrangler is not installed."""


def _wrangler(endpoint: str) -> Any:
    try:
        import awswrangler as wr
    except ImportError as exc:
        raise PeerUnavailableError(
            f"the awswrangler peer needs AWS SDK for pandas: {INSTALL_HINT}; or run with --skip-peer"
        ) from exc
    wr.config.s3_endpoint_url = endpoint
    wr.config.dynamodb_endpoint_url = endpoint
    return wr


def _decimals(values: Any) -> Any:
    """DynamoDB takes no floats: awswrangler users convert them to Decimal (NaN becomes a missing value)."""
    return values.map(lambda v: None if v != v else Decimal(repr(v)))


def run_peer(
    endpoint: str, bucket: str, key: str, results_bucket: str, prefix: str, chunksize: int = 50_000
) -> dict[str, Any]:
    """Read the ingested object in chunks with `wr.s3.read_csv`, `wr.dynamodb.put_df` every row into a scratch
    table and `wr.s3.to_csv` it day-partitioned; seconds in total and per step."""
    wr = _wrangler(endpoint)
    with scratch_table("bench-peer") as table:
        spent = dict.fromkeys(("read", "dynamodb", "s3"), 0.0)
        rows = 0
        started = time.perf_counter()
        mark = started
        for chunk in wr.s3.read_csv(f"s3://{bucket}/{key}", chunksize=chunksize):
            chunk["pk"] = "orders#" + chunk["order_id"].astype(str)
            chunk["dt"] = chunk["order_ts"].astype(str).str[:10]
            items = chunk.drop_duplicates("pk", keep="last")  # BatchWriteItem refuses a key twice in one call
            for name in items.columns[items.dtypes == "float64"]:
                items[name] = _decimals(items[name])
            now = time.perf_counter()
            spent["read"] += now - mark
            wr.dynamodb.put_df(items.drop(columns=["dt"]), table)
            mark = time.perf_counter()
            spent["dynamodb"] += mark - now
            wr.s3.to_csv(
                chunk.drop(columns=["pk"]),
                f"s3://{results_bucket}/{prefix}",
                dataset=True,
                partition_cols=["dt"],
                mode="append",
                index=False,
            )
            now = time.perf_counter()
            spent["s3"] += now - mark
            mark = now
            rows += len(chunk)
        seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "steps_s": {k: round(v, 2) for k, v in spent.items()},
        "awswrangler": wr.__version__,
    }
