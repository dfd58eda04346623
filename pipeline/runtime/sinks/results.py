"""Write one page's valid rows as partitioned objects (text or Parquet) and its rejects as a CSV beside them."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.runtime import aws
from pipeline.runtime.contract import Contract
from pipeline.runtime.rows.parse import Reject
from pipeline.runtime.sinks.key_index import key_index_file, key_index_key
from pipeline.runtime.sinks.layout import output_key, rejects_key
from pipeline.runtime.sinks.text_format import (
    partition_groups,
    partition_values,
    render,
    render_lines,
    render_partitions,
)

REJECT_COLUMNS = ["line", "reasons", "record"]


def partition_files(table: pa.Table, contract: Contract, job_id: str, page: int) -> dict[str, tuple[bytes, int]]:
    """The output objects of one page: key -> (body, row count)."""
    if table.num_rows == 0:
        return {}
    if contract.output_format == "parquet":
        return parquet_files(table, contract, job_id, page)
    lines = render_lines(table, contract)
    values = partition_values(table, contract)
    if values is None:
        return {output_key(contract.dataset, None, None, job_id, page): (render(lines), table.num_rows)}
    name = contract.partition.name if contract.partition else None
    return {
        output_key(contract.dataset, name, value, job_id, page): file
        for value, file in render_partitions(lines, values).items()
    }


def parquet_files(table: pa.Table, contract: Contract, job_id: str, page: int) -> dict[str, tuple[bytes, int]]:
    """A Parquet dataset's output objects of one page: one file per partition (key -> (body, row count))."""
    from pipeline.runtime.sinks import parquet_format  # pyarrow.parquet only for a Parquet dataset

    values = partition_values(table, contract)
    if values is None:
        key = output_key(contract.dataset, None, None, job_id, page, parquet_format.EXTENSION)
        return {key: (parquet_format.file_bytes(table, contract), table.num_rows)}
    name = contract.partition.name if contract.partition else None
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.null_count:  # no partition value to file them under: every value on its own scan
        groups = [(v, table.filter(pc.equal(values, v))) for v in pc.unique(values).to_pylist()]
    else:
        dictionary, order, counts = partition_groups(values)
        grouped, starts = table.take(pa.array(order)), np.cumsum(counts) - counts
        groups = [(v, grouped.slice(int(a), int(n))) for v, a, n in zip(dictionary, starts, counts, strict=True)]
    return {
        output_key(contract.dataset, name, value, job_id, page, parquet_format.EXTENSION): (
            parquet_format.file_bytes(selected, contract),
            selected.num_rows,
        )
        for value, selected in groups
    }


def rejects_file(rejects: list[Reject]) -> bytes:
    """A CSV of rejected records: original line number, every rule broken, the record as it was."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REJECT_COLUMNS)
    for reject in rejects:
        writer.writerow([reject.line, "; ".join(reject.reasons), reject.raw])
    return out.getvalue().encode("utf-8")


def write_page(
    bucket: str,
    contract: Contract,
    job_id: str,
    page: int,
    table: pa.Table,
    rejects: list[Reject],
    before_write: Callable[[list[str]], None] | None = None,
    lines: np.ndarray | None = None,
) -> dict[str, object]:
    """Put the page's output and rejects objects; return their keys and row counts.

    ``before_write`` is told the output keys before any is written, so that output a crash leaves behind
    unrecorded can still be found (and retired). Given the rows' ``lines``, the page's key index is written
    too (a paged job that compacts, ADR 10).
    """
    files = partition_files(table, contract, job_id, page)
    if before_write and files:
        before_write(sorted(files))
    s3 = aws.client("s3")
    uploads = {key: body for key, (body, _) in files.items()}
    reject_key = None
    if rejects:
        reject_key = rejects_key(contract.dataset, job_id, page)
        uploads[reject_key] = rejects_file(rejects)
    index_key = None
    # the page's key index, for compaction across the job's pages (ADR 10), text and Parquet alike
    if lines is not None and table.num_rows:
        index_key = key_index_key(contract.dataset, job_id, page)
        uploads[index_key] = key_index_file(table, lines, contract)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda kv: s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), uploads.items()))
    return {
        "outputs": {key: rows for key, (_, rows) in files.items()},
        "rejects_key": reject_key,
        "key_index_key": index_key,
    }
