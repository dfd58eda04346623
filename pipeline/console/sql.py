"""Keep the console's SQL box read-only: one statement, and only one that reads."""

from __future__ import annotations

import re

from pipeline.errors import TerminalError

READING = {"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "VALUES", "TABLE"}
WRITING = {"INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "DROP", "ALTER", "TRUNCATE", "VACUUM", "OPTIMIZE", "UNLOAD"}
_TOKEN = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|;|[A-Za-z_]+|.", re.S)


class NotReadOnlyError(TerminalError):
    """The statement would write, or there is more than one."""


def ensure_read_only(sql: str) -> str:
    """``sql`` up to its last token (no trailing semicolon or comment) if it is one statement that only reads."""
    tokens = [m for m in _TOKEN.finditer(sql) if not m.group().isspace() and not m.group().startswith(("--", "/*"))]
    while tokens and tokens[-1].group() == ";":
        tokens.pop()
    if not tokens:
        raise NotReadOnlyError("the query is empty")
    if any(m.group() == ";" for m in tokens):
        raise NotReadOnlyError("run one statement at a time")
    first = next((m.group().upper() for m in tokens if m.group() != "("), "")
    if first not in READING:
        raise NotReadOnlyError(f"the console runs read-only statements ({', '.join(sorted(READING))}), not {first}")
    if first == "EXPLAIN" and any(m.group().upper() in WRITING for m in tokens):  # EXPLAIN ANALYZE runs it
        raise NotReadOnlyError("the console does not explain statements that write")
    return sql[: tokens[-1].end()].strip()
