"""A paged job's key index and its resolution: which valid row of each primary key wins across pages.

Every page of a paged job that compacts (ADR 10) writes, beside its output, one small text object naming each
valid row it stored, in the order of its output files: `line TAB partition TAB key`, the key being the row's
records-table key (`record_key`) in the output's text escapes. `resolve` reads the pages' indexes and decides
the winner of every key the way DynamoDB should: the last valid row in file order (the highest line number;
line numbers count the whole file, and each page's rows are already one per key).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv

from pipeline.runtime.contract import Contract
from pipeline.runtime.sinks.dynamodb import key_texts
from pipeline.runtime.sinks.text_format import DELIMITER, escape_text, partition_values, render

KEY_INDEX_PREFIX = "_keys"
NO_PARTITION = ""


def key_index_key(dataset: str, job_id: str, page: int) -> str:
    """The object holding one page's key index, outside the table's prefix."""
    return f"{KEY_INDEX_PREFIX}/{dataset}/job={job_id}/page-{page:06d}.tsv"


def key_index_file(table: pa.Table, lines: np.ndarray, contract: Contract) -> bytes:
    """The key index of one page's valid rows (``lines`` their line numbers), in table order."""
    if table.num_rows == 0:
        return b""
    values = partition_values(table, contract)
    partition = pa.array([NO_PARTITION] * table.num_rows, pa.string()) if values is None else values
    line_text = pc.cast(pa.array(np.asarray(lines, dtype=np.int64)), pa.string())
    keys = escape_text(key_texts(table, contract))
    return render(pc.binary_join_element_wise(line_text, partition, keys, DELIMITER))


@dataclass(frozen=True)
class PageIndex:
    """One page's key index, read back: its rows' line numbers, partitions and keys, in output order."""

    page: int
    lines: np.ndarray
    partitions: pa.Array
    keys: pa.Array

    @classmethod
    def parse(cls, page: int, body: bytes) -> PageIndex:
        if not body:
            empty = pa.array([], pa.string())
            return cls(page, np.zeros(0, dtype=np.int64), empty, empty)
        table = csv.read_csv(
            io.BytesIO(body),
            read_options=csv.ReadOptions(column_names=["line", "partition", "key"], use_threads=False),
            parse_options=csv.ParseOptions(delimiter=DELIMITER, quote_char=False, escape_char=False),
            convert_options=csv.ConvertOptions(
                column_types={"line": pa.int64(), "partition": pa.string(), "key": pa.string()},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
            ),
        )
        return cls(
            page,
            np.asarray(table.column("line").to_numpy(), dtype=np.int64),
            table.column("partition").combine_chunks(),
            table.column("key").combine_chunks(),
        )

    def without_keys(self) -> PageIndex:
        """The same index without its keys (all compaction needs after `resolve`)."""
        return PageIndex(self.page, self.lines, self.partitions, pa.array([], pa.string()))

    @cached_property
    def lines_by_partition(self) -> dict[str, np.ndarray]:
        """Partition -> the line numbers of its rows, in output order (computed once: a page has one output
        file per partition, and comparing every row for every file was quadratic)."""
        if not len(self.lines):
            return {}
        encoded = pc.dictionary_encode(self.partitions)
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(encoded.dictionary) + 1))
        return {
            str(name): self.lines[order[bounds[i] : bounds[i + 1]]]
            for i, name in enumerate(encoded.dictionary.to_pylist())
        }


@dataclass(frozen=True)
class Resolution:
    """The outcome across a job's pages: every superseded row, by line, with the line that replaced it."""

    superseded: dict[int, int]  # line of a superseded row -> line of its key's winner
    pages_of: dict[int, int]  # line -> page, for the superseded rows and their winners
    keys_of: dict[int, str]  # line -> escaped records-table key, for the same rows
    rows: int  # valid rows before resolution

    @cached_property
    def superseded_lines(self) -> np.ndarray:
        """The superseded lines, sorted (searched once per output file)."""
        return np.sort(np.fromiter(self.superseded, dtype=np.int64, count=len(self.superseded)))

    def keep_mask(self, index: PageIndex, partition: str) -> np.ndarray:
        """Which rows of ``index``'s output file of ``partition`` stay (in the file's order)."""
        chosen = index.lines_by_partition.get(partition, np.zeros(0, dtype=np.int64))
        lost = self.superseded_lines
        if not len(lost):
            return np.ones(len(chosen), dtype=bool)
        at = np.minimum(np.searchsorted(lost, chosen), len(lost) - 1)
        return np.asarray(lost[at] != chosen, dtype=bool)


def resolve(indexes: Iterable[PageIndex]) -> Resolution:
    """The winner of every key across pages: its last valid row in file order (the highest line)."""
    pages, lines, keys = [], [], []
    for index in indexes:
        pages.append(np.full(len(index.lines), index.page, dtype=np.int64))
        lines.append(index.lines)
        keys.append(index.keys)
    if not sum(len(k) for k in keys):
        return Resolution({}, {}, {}, 0)
    table = pa.table(
        {
            "key": pa.chunked_array(keys, pa.string()),
            "line": pa.array(np.concatenate(lines)),
            "page": pa.array(np.concatenate(pages)),
        }
    )
    # Sorted by key, then line: a row is superseded when the next row has its key, and its winner is the last
    # row of its run. Sorting needs a few arrays of the row count; a hash group-by of a million distinct
    # strings measured four times the memory.
    order = pc.sort_indices(table, sort_keys=[("key", "ascending"), ("line", "ascending")])
    keys_sorted = table.column("key").take(order).combine_chunks()
    n = len(keys_sorted)
    same_as_next = np.asarray(
        pc.equal(keys_sorted.slice(0, n - 1), keys_sorted.slice(1)).to_numpy(zero_copy_only=False), dtype=bool
    )
    del keys_sorted
    lost = np.append(same_as_next, False)
    if not lost.any():
        return Resolution({}, {}, {}, table.num_rows)
    positions = np.arange(n)
    run_end = np.minimum.accumulate(np.where(lost, n, positions)[::-1])[::-1]  # the last row of each run
    sorted_lines = table.column("line").take(order).to_numpy()
    superseded = dict(zip(sorted_lines[lost].tolist(), sorted_lines[run_end[lost]].tolist(), strict=True))
    involved = np.union1d(positions[lost], run_end[lost])
    touched = table.take(pa.array(np.asarray(order)[involved]))
    return Resolution(
        superseded=superseded,
        pages_of=dict(zip(touched.column("line").to_pylist(), touched.column("page").to_pylist(), strict=True)),
        keys_of=dict(zip(touched.column("line").to_pylist(), touched.column("key").to_pylist(), strict=True)),
        rows=table.num_rows,
    )
