"""Check a file's header against its dataset contract before any row is read."""

from __future__ import annotations

import csv
import io

from pipeline.runtime.contract import Contract
from pipeline.runtime.errors import TerminalError

BOM = "\ufeff"
OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}
NOT_CSV = {
    b"\x1f\x8b": "gzip data: give the object key a .gz suffix to have it decompressed",
    b"\xff\xfe": "UTF-16 text: files must be UTF-8",
    b"\xfe\xff": "UTF-16 text: files must be UTF-8",
    b"PK\x03\x04": "a zip archive (an .xlsx workbook?): files must be UTF-8 CSV text",
}
LISTED = 10  # names shown in an error message before "and N more"


class HeaderError(TerminalError):
    """The header does not match the dataset's columns; no row of the file can be trusted."""


def parse_header(raw: bytes) -> list[str]:
    """The column names of a header record (UTF-8, BOM stripped, surrounding spaces trimmed)."""
    for signature, what in NOT_CSV.items():
        if raw.startswith(signature):
            raise HeaderError(f"the file is not CSV text, it looks like {what}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HeaderError(f"the header is not valid UTF-8 (byte {exc.start})") from exc
    text = text.removeprefix(BOM)
    return [name.strip() for name in next(csv.reader(io.StringIO(text)), [])]


def listed(names: list[str], limit: int = LISTED) -> str:
    """``names`` for a message: at most ``limit`` of them, then how many more; empty names shown as such."""
    shown = ", ".join(name or "(empty name)" for name in names[:limit])
    return shown + (f" and {len(names) - limit} more ({len(names)} in all)" if len(names) > limit else "")


def check_header(names: list[str], contract: Contract) -> list[str]:
    """Return ``names`` if none repeats, every required column is present and every column is known.

    Columns the schema does not list fail the file unless the contract allows them
    (`additionalProperties: true`); allowed extra columns are read and dropped.
    """
    if not names or names == [""]:
        raise HeaderError("the file has no header row")
    expected = contract.column_names
    duplicated = sorted({n for n in names if names.count(n) > 1})
    unknown = [] if contract.extra_columns_allowed else [n for n in names if n not in expected]
    missing = [c.name for c in contract.columns if c.required and c.name not in names]
    if len(names) == 1 and not set(expected) & set(names):
        for delimiter, label in OTHER_DELIMITERS.items():
            if delimiter in names[0]:
                raise HeaderError(
                    f"the header looks {label}-delimited; files must be comma-separated with columns "
                    f"{listed(expected, 50)}"
                )
    problems = []
    if duplicated:
        problems.append(f"duplicated columns: {listed(duplicated)}")
    if unknown:
        problems.append(f"unknown columns: {listed(unknown)}")
    if missing:
        problems.append(f"missing required columns: {listed(missing)}")
    if problems:
        raise HeaderError(
            f"header does not match dataset {contract.dataset!r} ({'; '.join(problems)}); "
            f"expected columns: {listed(expected, 50)}"
        )
    return names
