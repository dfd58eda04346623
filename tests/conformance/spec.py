"""The output format's documented encoded form of a text value, written from the ADR, not from the writer.

ADR 4 (`docs/adr/0004-output-text-the-same-in-every-engine.md`): in a string column, backslash, TAB, LF, CR and
U+FEFF are written as the visible sequences `\\\\`, `\\t`, `\\n`, `\\r` and `\\ufeff`; every other character as
itself; NULL as `\\N`. Every reader of the raw table returns this encoded form; `decoded` inverts it.
"""

from __future__ import annotations

import re

ENCODE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\ufeff": "\\ufeff"})
_SEQUENCE = re.compile(r"\\(\\|t|n|r|ufeff)")
_DECODE = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r", "ufeff": "\ufeff"}


def encoded(value: str | None) -> str | None:
    """What a raw Athena, Hive or Trino read of a string column returns for a stored ``value``."""
    return None if value is None else value.translate(ENCODE)


def decoded(text: str | None) -> str | None:
    """The stored value behind an encoded ``text`` (one left-to-right pass over the five sequences)."""
    return None if text is None else _SEQUENCE.sub(lambda m: _DECODE[m[1]], text)
