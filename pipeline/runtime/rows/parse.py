"""Parse the records of one CSV page into a table of strings, setting aside records that cannot be rows."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from pipeline.runtime.rows.records import RecordIndex, scan_records


@dataclass
class Reject:
    """A rejected record: where it was, every rule it broke, and its original text."""

    line: int
    reasons: list[str]
    raw: str


@dataclass
class ParsedPage:
    """Rows that parsed (all values still strings), their line numbers, and records that did not."""

    table: pa.Table
    lines: np.ndarray
    rejects: list[Reject] = field(default_factory=list)
    body: bytes = b""
    starts: np.ndarray | None = None
    ends: np.ndarray | None = None

    def raw_text(self, row: int) -> str:
        """The original text of parsed row ``row``."""
        assert self.starts is not None and self.ends is not None
        return _text(self.body, int(self.starts[row]), int(self.ends[row]))

    @property
    def input_rows(self) -> int:
        return self.table.num_rows + len(self.rejects)


def _text(buf: bytes, start: int, end: int) -> str:
    return bytes(buf[start:end]).decode("utf-8", errors="backslashreplace")


def _read_strings(buf: bytes, header: list[str], delimiter: str) -> pa.Table:
    return pacsv.read_csv(
        io.BytesIO(buf),
        read_options=pacsv.ReadOptions(column_names=header, use_threads=True, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=True),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    )


def _keep(buf: bytes, index: RecordIndex, keep: np.ndarray) -> bytes:
    """Concatenate the kept records, one per line."""
    spans = zip(index.starts[keep].tolist(), index.ends[keep].tolist(), strict=True)
    return b"\n".join(buf[s:e] for s, e in spans)


def parse_page(body: bytes, header: list[str], *, delimiter: str = ",", first_line: int = 2) -> ParsedPage:
    """Parse ``body`` (data records only, no header) whose first byte is on line ``first_line``."""
    index = scan_records(body, delimiter.encode(), first_line)
    keep = index.fields == len(header)
    rejects: list[Reject] = []
    bad = np.flatnonzero(~keep)
    for i in bad.tolist():
        s, e = int(index.starts[i]), int(index.ends[i])
        rejects.append(
            Reject(
                int(index.lines[i]), [f"expected {len(header)} fields, found {int(index.fields[i])}"], _text(body, s, e)
            )
        )
    if index.unterminated and len(index) and keep[-1]:
        keep[-1] = False
        s, e = int(index.starts[-1]), int(index.ends[-1])
        rejects.append(Reject(int(index.lines[-1]), ["unterminated quoted field"], _text(body, s, e)))
    data = body if keep.all() else _keep(body, index, keep)
    try:
        table = _read_strings(data, header, delimiter) if keep.any() else _empty(header)
    except pa.ArrowInvalid as exc:
        if "utf8" not in str(exc).lower():
            table = _read_record_by_record(body, index, keep, header, delimiter, rejects)
            rejects.sort(key=lambda r: r.line)
            return ParsedPage(
                table=table,
                lines=index.lines[keep],
                rejects=rejects,
                body=body,
                starts=index.starts[keep],
                ends=index.ends[keep],
            )
        for i in np.flatnonzero(keep).tolist():
            s, e = int(index.starts[i]), int(index.ends[i])
            try:
                bytes(body[s:e]).decode("utf-8")
            except UnicodeDecodeError as err:
                keep[i] = False
                rejects.append(
                    Reject(
                        int(index.lines[i]), [f"not valid UTF-8 (byte {err.start} of the record)"], _text(body, s, e)
                    )
                )
        data = _keep(body, index, keep)
        table = _read_strings(data, header, delimiter) if keep.any() else _empty(header)
    lines = index.lines[keep]
    if table.num_rows != lines.size:
        raise ValueError(f"record scan found {lines.size} rows but the CSV parser found {table.num_rows}")
    rejects.sort(key=lambda r: r.line)
    return ParsedPage(
        table=table, lines=lines, rejects=rejects, body=body, starts=index.starts[keep], ends=index.ends[keep]
    )


def _read_record_by_record(
    body: bytes, index: RecordIndex, keep: np.ndarray, header: list[str], delimiter: str, rejects: list[Reject]
) -> pa.Table:
    """Slow path for pages the fast parser refuses (stray quotes): parse each record on its own."""
    rows: list[list[str]] = []
    for i in np.flatnonzero(keep).tolist():
        s, e = int(index.starts[i]), int(index.ends[i])
        text = _text(body, s, e)
        try:
            fields = next(csv.reader(io.StringIO(text), delimiter=delimiter, strict=True))
            bytes(body[s:e]).decode("utf-8")
        except (csv.Error, StopIteration, UnicodeDecodeError) as exc:
            keep[i] = False
            rejects.append(Reject(int(index.lines[i]), [f"malformed CSV record: {exc}"], text))
            continue
        if len(fields) != len(header):
            keep[i] = False
            rejects.append(Reject(int(index.lines[i]), [f"expected {len(header)} fields, found {len(fields)}"], text))
            continue
        rows.append(fields)
    return pa.table({name: pa.array([r[j] for r in rows], pa.string()) for j, name in enumerate(header)})


def _empty(header: list[str]) -> pa.Table:
    return pa.table({name: pa.array([], pa.string()) for name in header})
