"""A reader of Hive text tables that follows open-source Trino's rules, byte for byte (a test oracle).

Written from Trino's `lib/trino-hive-formats` (trinodb/trino), the library Athena engine v3's Hive
connector reads TEXTFILE / LazySimpleSerDe tables with. Each step names the file it follows (the blob
commits read are in `docs/output-format.md`):

* **Lines** -- `line/text/TextLineReader.java`: a UTF-8 BOM at the start of the file is skipped; a record
  ends at LF, at CR, or at CR LF; the last record needs no terminator; an empty line in the middle is a
  record.
* **Table options** -- `encodings/text/TextEncodingOptions.java` `fromSchema`: `field.delim` (else
  `serialization.format`, else Ctrl-A), `serialization.null.format` (default `\\N`), `escape.delim` (no
  escaping unless set), `serialization.last.column.takes.rest`. There is no `serialization.escape.crlf`.
  A one-character value is that byte; a value that parses as a Java byte (`"9"`) is that byte value.
* **Fields** -- `line/simple/SimpleDeserializer.java`: split on the separator byte; with an escape byte,
  the byte after it never splits; missing fields are NULL, extra fields are dropped; a field whose raw
  bytes equal the null sequence is NULL (compared before any unescaping).
* **Values** -- `encodings/text/StringEncoding.java` `unescape`: the escape byte is dropped and the byte
  after it written literally (`\\n` reads `n`); `LongEncoding`, `DoubleEncoding` (`NumberParser`, else
  `Double.parseDouble`), `BooleanEncoding`, `DateEncoding`, `TimestampEncoding` with
  `HiveFormatUtils`'s default timestamp parser: an unparsable number, boolean or timestamp is NULL.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

DEFAULT_SEPARATOR = 1
DEFAULT_NULL_SEQUENCE = b"\\N"
BOM = b"\xef\xbb\xbf"

# Java's Double.parseDouble grammar (FloatingDecimal.readJavaFormatString), without hex floats: optional
# whitespace, sign, digits with an optional point and exponent, an optional f/F/d/D suffix; NaN, Infinity.
_JAVA_DOUBLE = re.compile(
    r"[\x00-\x20]*[+-]?(NaN|Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[fFdD]?)[\x00-\x20]*\Z", re.DOTALL
)
# HiveFormatUtils.DEFAULT_TIMESTAMP_PARSER: y-M-d[ H:m:s[.f{1,9}]], after trim(); ISO_LOCAL_DATE_TIME as fallback.
_HIVE_TIMESTAMP = re.compile(r"(\d{1,10})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,9}))?)?\Z")
# LongEncoding.parseLong: [+-] and then something; leading zeros skipped, at most 19 digits; '.' and digits after
# it are checked and ignored.
_LONG = re.compile(rb"([+-]?)(?=[\s\S])0*([0-9]{0,19})(?:\.[0-9]*)?\Z")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})\Z")  # Joda ISODateTimeFormat.date()


def _option_byte(value: str | None, default: int) -> int:
    """TextEncodingOptions.getByte: empty -> default; Byte.parseByte if it parses; else the first char."""
    if value is None or value == "":
        return default
    try:
        number = int(value, 10)
    except ValueError:
        return ord(value[0]) & 0xFF
    if not -128 <= number <= 127 or not re.fullmatch(r"[+-]?\d+", value):
        return ord(value[0]) & 0xFF
    return number & 0xFF


class TrinoTextOptions:
    """The options `TextEncodingOptions.fromSchema` reads from a table's SerDe parameters."""

    def __init__(self, parameters: dict[str, str]) -> None:
        self.separator = _option_byte(
            parameters.get("field.delim", parameters.get("serialization.format")), DEFAULT_SEPARATOR
        )
        null = parameters.get("serialization.null.format")
        self.null_sequence = DEFAULT_NULL_SEQUENCE if null is None else null.encode("utf-8")
        escape = parameters.get("escape.delim")
        self.escape = None if escape is None else _option_byte(escape, ord("\\"))
        self.last_column_takes_rest = parameters.get("serialization.last.column.takes.rest", "").lower() == "true"


def lines(data: bytes) -> list[bytes]:
    """The records of one file, cut as TextLineReader cuts them."""
    position = len(BOM) if data.startswith(BOM) else 0
    records: list[bytes] = []
    end = len(data)
    while position < end:
        lf, cr = data.find(b"\n", position), data.find(b"\r", position)
        stops = [i for i in (lf, cr) if i >= 0]
        if not stops:
            records.append(data[position:])
            break
        stop = min(stops)
        records.append(data[position:stop])
        position = stop + 1
        if data[stop] == 0x0D and position < end and data[position] == 0x0A:
            position += 1
    return records


def fields(line: bytes, options: TrinoTextOptions, column_count: int) -> list[bytes | None]:
    """SimpleDeserializer.deserialize: raw field bytes, None for the null sequence and for missing fields."""
    found: list[bytes] = []
    start = 0
    i = 0
    while i < len(line):
        byte = line[i]
        if byte == options.separator:
            found.append(line[start:i])
            start = i + 1
            if options.last_column_takes_rest and len(found) == column_count - 1:
                break
        elif options.escape is not None and byte == options.escape:
            i += 1  # the byte after the escape never splits
        i += 1
    found.append(line[start:])
    out: list[bytes | None] = [None if f == options.null_sequence else f for f in found[:column_count]]
    return out + [None] * (column_count - len(out))


def unescape(value: bytes, escape: int) -> bytes:
    """StringEncoding.unescape: drop the escape byte and write the byte after it literally."""
    out = bytearray()
    i = 0
    while i < len(value):
        if value[i] == escape and i + 1 < len(value):
            out.append(value[i + 1])
            i += 2
            continue
        out.append(value[i])
        i += 1
    return bytes(out)


def _long(raw: bytes) -> int | None:
    """LongEncoding.parseLong: sign, digits, a fraction that is checked and dropped; else (or out of range) NULL."""
    m = _LONG.match(raw)
    if not m:
        return None
    value = int(m[2] or b"0")
    value = -value if m[1] == b"-" else value
    return value if -(2**63) <= value <= 2**63 - 1 else None


def _double(raw: bytes) -> float | None:
    """NumberParser.parseDouble / Double.parseDouble; NumberFormatException reads as NULL."""
    text = raw.decode("latin-1")
    if not _JAVA_DOUBLE.match(text):
        return None
    core = text.strip("".join(map(chr, range(33)))).rstrip("fFdD")
    return float(core.replace("Infinity", "inf").replace("NaN", "nan"))


def _boolean(raw: bytes) -> bool | None:
    """BooleanEncoding: TRUE / FALSE in any case; anything else is NULL."""
    upper = raw.upper()
    return True if upper == b"TRUE" else False if upper == b"FALSE" else None


def _date(raw: bytes) -> date:
    """DateEncoding: Joda ISODateTimeFormat.date() in UTC (ISO chronology, proleptic Gregorian)."""
    m = _ISO_DATE.match(raw.decode("ascii"))
    if not m:
        raise ValueError(f"Trino fails the query on an unparsable date: {raw!r}")
    return date(int(m[1]), int(m[2]), int(m[3]))


def _timestamp(raw: bytes) -> datetime | None:
    """TimestampEncoding: shorter than 8 bytes is NULL; HiveFormatUtils' default parser, else NULL."""
    if len(raw) < 8:
        return None
    m = _HIVE_TIMESTAMP.match(raw.decode("latin-1").strip())
    if not m:
        return None
    y, mo, d, h, mi, s, frac = m.groups()
    micros = int((frac or "0").ljust(9, "0")[:6])
    try:
        return datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), micros)
    except ValueError:
        return None


def decode(raw: bytes | None, glue_type: str, options: TrinoTextOptions) -> Any:
    """The value Trino returns for one raw field of a column of ``glue_type``."""
    if raw is None:
        return None
    if glue_type == "string":
        if options.escape is not None:
            raw = unescape(raw, options.escape)
        return raw.decode("utf-8", errors="surrogateescape")
    if glue_type == "bigint":
        return _long(raw)
    if glue_type == "double":
        return _double(raw)
    if glue_type == "boolean":
        return _boolean(raw)
    if glue_type == "date":
        return _date(raw)
    if glue_type == "timestamp":
        return _timestamp(raw)
    raise ValueError(f"no Trino text decoder for type {glue_type}")


def read_table(table_input: dict[str, Any], files: dict[str, bytes]) -> list[dict[str, Any]]:
    """Every row of ``files`` (S3 key -> body) read through a Glue ``TableInput`` as Trino reads it.

    Partition columns take their value from the key's `name=value/` folder, as the Hive connector does.
    """
    storage = table_input["StorageDescriptor"]
    columns = [(c["Name"], c["Type"]) for c in storage["Columns"]]
    partition_names = [p["Name"] for p in table_input.get("PartitionKeys", [])]
    options = TrinoTextOptions(storage["SerdeInfo"]["Parameters"])
    rows: list[dict[str, Any]] = []
    for key in sorted(files):
        folders = dict(part.split("=", 1) for part in key.split("/")[:-1] if "=" in part)
        for line in lines(files[key]):
            raw = fields(line, options, len(columns))
            row = {name: decode(value, kind, options) for (name, kind), value in zip(columns, raw, strict=True)}
            row.update({name: folders.get(name) for name in partition_names})
            rows.append(row)
    return rows
