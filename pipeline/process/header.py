"""Check a file's header against its dataset contract before any row is read."""

from __future__ import annotations

import csv
import io

from pipeline.contract import Contract
from pipeline.errors import TerminalError

BOM = "\ufeff"
OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


class HeaderError(TerminalError):
    """The header does not match the dataset's columns; no row of the file can be trusted."""


def parse_header(raw: bytes) -> list[str]:
    """The column names of a header record (UTF-8, BOM stripped, surrounding spaces trimmed)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HeaderError(f"the header is not valid UTF-8 (byte {exc.start})") from exc
    text = text.removeprefix(BOM)
    return [name.strip() for name in next(csv.reader(io.StringIO(text)), [])]


def check_header(names: list[str], contract: Contract) -> list[str]:
    """Return ``names`` if every column is known, none repeats and every required column is present."""
    if not names or names == [""]:
        raise HeaderError("the file has no header row")
    expected = contract.column_names
    duplicated = sorted({n for n in names if names.count(n) > 1})
    unknown = [n for n in names if n not in expected]
    missing = [c.name for c in contract.columns if c.required and c.name not in names]
    if len(names) == 1 and not set(expected) & set(names):
        for delimiter, label in OTHER_DELIMITERS.items():
            if delimiter in names[0]:
                raise HeaderError(
                    f"the header looks {label}-delimited; files must be comma-separated with columns "
                    f"{', '.join(expected)}"
                )
    problems = []
    if duplicated:
        problems.append(f"duplicated columns: {', '.join(duplicated)}")
    if unknown:
        problems.append(f"unknown columns: {', '.join(unknown)}")
    if missing:
        problems.append(f"missing required columns: {', '.join(missing)}")
    if problems:
        raise HeaderError(
            f"header does not match dataset {contract.dataset!r} ({'; '.join(problems)}); "
            f"expected columns: {', '.join(expected)}"
        )
    return names
