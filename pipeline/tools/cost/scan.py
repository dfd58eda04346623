"""What Athena scans for typical queries over a dataset's output, as text (ADR 4) or as Parquet (`x-format`).

The benchmark's file (`pipeline.tools.sample.write_orders`, the bench's seed) is run through the page code in
this process, page by page, and written both ways exactly as the page processors write it (`partition_files`).
Then, per query, the bytes Athena reads:

* **text**: every byte of every object the query touches. A delimited text file has no column layout: Trino's
  text reader reads whole lines whatever the query selects (and the files are not compressed).
* **Parquet**: the compressed column chunks of the columns the query reads (`total_compressed_size` of each
  row group's chunk, from the footers), plus each file's footer, which every query reads. `count(*)` reads
  footers only (row counts are in them).

No query here filters on a column, so no row group is skipped by statistics, and all of them read every
partition (a `WHERE dt = ...` cuts both formats alike). Athena bills the bytes scanned at $5 per TB, at least
10 MB per query: below that, the formats cost the same. Figures are scaled linearly from the sample to the
rows asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.runtime.contract import Contract
from pipeline.runtime.contract.loader import parse_contract
from pipeline.tools.cost.prices import PRICES


@dataclass(frozen=True)
class Query:
    """A typical query and the columns it reads (empty: none, `count(*)`; None: every column)."""

    name: str
    sql: str
    columns: tuple[str, ...] | None


QUERIES = (
    Query("count", "SELECT count(*) FROM orders", ()),
    Query(
        "revenue", "SELECT status, currency, sum(amount) FROM orders GROUP BY 1, 2", ("status", "currency", "amount")
    ),
    Query("one customer", "SELECT * FROM orders WHERE customer_id = 42", None),
)
SAMPLE_ROWS = 100_000


def _variants(contract: Contract) -> dict[str, Contract]:
    return {fmt: parse_contract(contract.dataset, {**contract.raw, "x-format": fmt}) for fmt in ("text", "parquet")}


def _parquet_bytes(body: bytes, columns: tuple[str, ...] | None) -> int:
    """Footer plus the column chunks of ``columns`` (None: all) of one Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(pa.BufferReader(body)).metadata
    total = metadata.serialized_size + 8  # the footer, its length and the magic
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            if columns is None or chunk.path_in_schema in columns:
                total += chunk.total_compressed_size
    return total


def measure(path: Path, contract: Contract, page_rows: int) -> dict[str, Any]:
    """Object bytes and bytes scanned per query of ``path``'s valid rows, written as text and as Parquet."""
    from pipeline.runtime.rows.parse import parse_page
    from pipeline.runtime.rows.store_rules import apply_store_rules
    from pipeline.runtime.rows.validate import validate_page
    from pipeline.runtime.sinks.results import partition_files
    from pipeline.tools.bench.references import pages

    formats = _variants(contract)
    objects = {fmt: 0 for fmt in formats}
    files = {fmt: 0 for fmt in formats}
    scanned = {fmt: {q.name: 0 for q in QUERIES} for fmt in formats}
    rows = 0
    for number, (body, header, first_line) in enumerate(pages(path, page_rows)):
        parsed = parse_page(body, header, first_line=first_line)
        validated = apply_store_rules(validate_page(parsed, contract), parsed, contract)
        rows += validated.table.num_rows
        for fmt, variant in formats.items():
            for data, _ in partition_files(validated.table, variant, "scan", number).values():
                objects[fmt] += len(data)
                files[fmt] += 1
                for query in QUERIES:
                    scanned[fmt][query.name] += len(data) if fmt == "text" else _parquet_bytes(data, query.columns)
    return {"rows": rows, "page_rows": page_rows, "object_bytes": objects, "files": files, "scanned": scanned}


def sample(rows: int, seed: int, page_rows: int, contract: Contract) -> dict[str, Any]:
    """`measure` of a benchmark file of ``rows`` rows generated with ``seed`` (in memory, nothing kept)."""
    import tempfile

    from pipeline.tools.sample import write_orders

    with tempfile.TemporaryDirectory(prefix="pipeline-scan-") as folder:
        path = Path(folder) / f"orders-{rows}.csv"
        write_orders(path, rows, seed=seed)
        return measure(path, contract, page_rows)


def priced(measured: dict[str, Any], rows: int) -> dict[str, Any]:
    """``measured`` scaled to a file of ``rows`` valid rows, each query priced (10 MB minimum per query)."""
    scale = rows / max(1, measured["rows"])
    minimum, price = PRICES["athena_min_bytes_per_query"], PRICES["athena_byte_scanned"]
    queries = []
    for query in QUERIES:
        line: dict[str, Any] = {"query": query.name, "sql": query.sql}
        for fmt in ("text", "parquet"):
            scanned = measured["scanned"][fmt][query.name] * scale
            line[f"{fmt}_bytes"] = round(scanned)
            line[f"{fmt}_usd"] = max(scanned, minimum) * price
        line["ratio"] = line["parquet_bytes"] / line["text_bytes"] if line["text_bytes"] else None
        queries.append(line)
    return {
        "rows": rows,
        "measured_rows": measured["rows"],
        "page_rows": measured["page_rows"],
        "object_bytes": {fmt: round(n * scale) for fmt, n in measured["object_bytes"].items()},
        "queries": queries,
        "how": "text: every byte of the objects; Parquet: footers plus the compressed chunks of the columns read",
    }


def scan_table(estimate: dict[str, Any]) -> Any:
    """The comparison as a rich table (for `pipeline cost`)."""
    from rich.table import Table

    table = Table(
        title=f"Athena bytes scanned, text vs Parquet (x-format), {estimate['rows']:,} valid rows "
        f"(measured on {estimate['measured_rows']:,}; $5/TB, 10 MB minimum per query)"
    )
    for column in ("query", "text", "Parquet", "Parquet / text", "text USD", "Parquet USD"):
        table.add_column(column, justify="left" if column == "query" else "right")
    objects = estimate["object_bytes"]
    table.add_row("stored objects", _size(objects["text"]), _size(objects["parquet"]), _share(objects), "", "")
    for line in estimate["queries"]:
        table.add_row(
            line["sql"],
            _size(line["text_bytes"]),
            _size(line["parquet_bytes"]),
            f"{line['ratio']:.1%}" if line["ratio"] is not None else "",
            f"{line['text_usd']:.6f}",
            f"{line['parquet_usd']:.6f}",
        )
    return table


def _share(objects: dict[str, int]) -> str:
    return f"{objects['parquet'] / objects['text']:.1%}" if objects["text"] else ""


def _size(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,.0f} B"
