"""The conformance corpus: hostile text, every type at its bounds, generated rows, and csv-spectrum.

* `conformance_text` (all text, `x-null-values: []`): `TEXT_VALUES` in every column, plus generated rows.
* `conformance_typed` (a nullable column of every type, partitioned by day, only `NULL` is null): `TYPED_ROWS`.
* `conformance_bounds` (the same with `x-dynamodb: false`, by month): doubles DynamoDB cannot hold.
* csv-spectrum (npm package, fetched with `npm pack` at test time, never committed): each file under a
  contract of its own header, every column text and part of the primary key, nothing null.

Files are written with Python's `csv` (every field quoted), so the bytes are a CSV any parser reads alike.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from pipeline.runtime.contract import Contract
from pipeline.runtime.contract.loader import load_contract_file
from pipeline.runtime.contract.strict import column_name_proposal
from pipeline.runtime.rows.records import split_header

SCHEMAS = Path(__file__).with_name("schemas")
SPECTRUM_VERSION = "2.0.0"
SPECTRUM_CACHE = Path(os.environ.get("PIPELINE_TEST_CACHE") or Path.home() / ".cache" / "s3-csv-pipeline") / (
    f"csv-spectrum-{SPECTRUM_VERSION}"
)

TEXT_VALUES: list[str] = [
    "",
    " ",
    "  two leading spaces",
    "two trailing spaces  ",
    "\t",
    "tab\tinside",
    "\ttab first",
    "tab last\t",
    "\n",
    "line one\nline two",
    "\r",
    "bare\rcr",
    "crlf\r\nend",
    "\r\n",
    "\n\n\n",
    "\\",
    "\\\\",
    "back\\slash",
    "ends with a backslash\\",
    "\\n typed by a user",
    "\\t typed",
    "\\r typed",
    "\\\\n",
    "\\\n",
    "\\\t",
    "\\N",
    "\\\\N",
    "N",
    "NULL",
    "NA",
    "null",
    "\\ufeff typed",
    '"',
    '""',
    'say "hi"',
    "'single'",
    ",",
    "a,b,c",
    "Ünïcödé façade",
    "日本語のテキスト",
    "😀 astral 𝄞 𐍈",
    "\u2028line separator\u2029paragraph",
    "\x85next line",
    "\x0bvertical\x0cform feed",
    "\x1c\x1d\x1e\x1f",
    "\x00nul",
    "\x01\x02\x1b",
    "\ufeffbyte-order mark first",
    "byte-order\ufeffmark inside",
    "\u200bzero width",
    "C:\\Users\\me\\file.txt",
    '{"json": "with \\"escapes\\"\\n"}',
]
LONG_VALUES = ["x" * 100_000, "é" * 30_000, "😀" * 20_000]


def contract(name: str) -> Contract:
    return load_contract_file(SCHEMAS / f"{name}.schema.json")


def parquet_document(name: str) -> dict[str, Any]:
    """The schema document of corpus contract ``name`` as a Parquet dataset (`"x-format": "parquet"`)."""
    document = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return {**document, "x-format": "parquet"}


def parquet_contract(name: str) -> Contract:
    """Corpus contract ``name`` with `"x-format": "parquet"` (same dataset name, columns and partition)."""
    from pipeline.runtime.contract.loader import parse_contract

    return parse_contract(name, parquet_document(name))


def csv_bytes(header: list[str], rows: list[list[str]], *, crlf: bool = False) -> bytes:
    """A CSV file with every field quoted (LF or CRLF line ends)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def text_rows(generated: int = 0, seed: int = 14) -> list[list[str]]:
    """Rows of `conformance_text`: the BOM value first (it must start a file), each fixed value in all
    three columns, long values in the middle one, then ``generated`` random rows."""
    first = "\ufeffbyte-order mark first"
    values = [first, *(v for v in TEXT_VALUES if v != first)]
    rows = [[v, v, v, f"fixed-{i:04d}"] for i, v in enumerate(values)]
    rows += [["long", v, "long", f"long-{i}"] for i, v in enumerate(LONG_VALUES)]
    rng = random.Random(seed)
    rows += [[generated_text(rng), generated_text(rng), generated_text(rng), f"gen-{i:06d}"] for i in range(generated)]
    return rows


# Pieces a generated value is made of: the characters the format must carry, sequences a reader might
# decode, and ordinary text.
PIECES = ["\\", "\t", "\n", "\r", "\r\n", "\ufeff", "\\N", "\\n", "\\t", "\\\\", '"', ",", " ", "N", "é", "😀", "\x00"]


def generated_text(rng: random.Random) -> str:
    """A random value of 0-12 pieces: hostile pieces and random code points (no surrogates)."""
    parts = []
    for _ in range(rng.randrange(13)):
        if rng.random() < 0.5:
            parts.append(rng.choice(PIECES))
        else:
            cp = rng.choice([rng.randrange(0x20, 0x7F), rng.randrange(0xA0, 0xD800), rng.randrange(0x10000, 0x110000)])
            parts.append(chr(cp))
    return "".join(parts)


INT64 = (-(2**63), 2**63 - 1)

# Fields as written in the CSV (s, n, x, b, d, ts, day); row numbers are added by typed_rows.
TYPED_FIELDS: list[list[str]] = [
    ["\ufeffbom starts the file", "0", "0", "true", "2024-01-01", "2024-01-01T00:00:00Z", "2024-01-01"],
    ["", str(INT64[0]), "-0.0", "false", "0001-01-01", "0001-01-01T00:00:00Z", "2024-01-01"],
    ["NULL", str(INT64[1]), "1e125", "TRUE", "9999-12-31", "9999-12-31T23:59:59.999999Z", "2024-01-01"],
    ["NA", "NULL", "-9.99e125", "False", "NULL", "NULL", "2024-01-01"],
    ["\\N", "-1", "1e-130", "NULL", "2024-02-29", "2024-03-01T00:30:00+01:00", "2024-01-02"],
    ["line\nbreak", "+42", "-1e-130", "1", "1970-01-01", "2024-03-01T10:00:00.123456789Z", "2024-01-02"],
    ["tab\there", "007", "0.1", "0", "1999-12-31", "2024-03-01 10:00:00", "2024-01-02"],
    [
        "back\\slash",
        "9007199254740993",
        "0.30000000000000004",
        "yes",
        "2000-02-29",
        "2024-06-30T23:59:59.999Z",
        "2024-01-02",
    ],
    ["crlf\r\nend", "123456789", "1E5", "n", "1582-10-15", "2024-12-31T23:00:00-01:00", "2024-12-31"],
    ["😀", "-123456789", "+.5", "t", "1582-10-04", "2024-01-01T00:00:00+14:00", "2024-12-31"],
    ["trailing ", "2", "3.", "f", "0999-12-31", "2024-01-01T12:00:00-12:00", "2024-12-31"],
    ["NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "2024-12-31"],
    ["x", "3", "1.7976931348623157e125", "y", "2024-01-31", "2024-01-01T00:00:00.5+05:30", "2025-01-01"],
    ["y", "4", "2.2250738585072014e-125", "no", "2024-12-01", "2024-01-01T00:00:00.000001z", "2025-01-01"],
    ["z", "5", "123456789012345678", "false", "1900-01-01", "1900-01-01T00:00:00+0100", "2025-01-01"],
]

# Doubles only S3 and Athena can hold (x-dynamodb: false): IEEE 754's largest, smallest normal and subnormal.
BOUNDS_FIELDS: list[list[str]] = [
    ["max", "1", "1.7976931348623157e308", "true", "2024-01-01", "2024-01-01T00:00:00Z", "2024-01-15"],
    ["-max", "2", "-1.7976931348623157e308", "false", "2024-01-01", "2024-01-01T00:00:00Z", "2024-01-15"],
    ["min normal", "3", "2.2250738585072014e-308", "true", "2024-01-01", "2024-01-01T00:00:00Z", "2024-02-15"],
    ["min subnormal", "4", "5e-324", "true", "2024-01-01", "2024-01-01T00:00:00Z", "2024-02-15"],
    ["-min subnormal", "5", "-4.9406564584124654e-324", "true", "2024-01-01", "2024-01-01T00:00:00Z", "2024-02-15"],
    ["big exponent", "6", "1e+300", "true", "2024-01-01", "2024-01-01T00:00:00Z", "2024-03-15"],
]
TYPED_HEADER = ["s", "n", "x", "b", "d", "ts", "day", "rid"]


def typed_rows(fields: list[list[str]]) -> list[list[str]]:
    return [[*f, str(i)] for i, f in enumerate(fields)]


# ------------------------------------------------------------------ csv-spectrum


def spectrum_dir() -> Path:
    """The csv-spectrum package (csvs/*.csv, json/*.json), fetched once with `npm pack` into a cache folder.

    Skips the test where npm is missing or the registry unreachable, except under CI, where that fails.
    """
    marker = SPECTRUM_CACHE / "package" / "package.json"
    if marker.is_file():
        return marker.parent
    npm = shutil.which("npm")
    try:
        if npm is None:
            raise OSError("npm is not on PATH")
        SPECTRUM_CACHE.mkdir(parents=True, exist_ok=True)
        out = subprocess.run(
            [npm, "pack", f"csv-spectrum@{SPECTRUM_VERSION}", "--silent", "--pack-destination", str(SPECTRUM_CACHE)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        if os.environ.get("CI"):
            raise RuntimeError(f"could not fetch csv-spectrum with npm: {detail}") from exc
        pytest.skip(f"csv-spectrum not available (npm pack failed: {detail})")
    with tarfile.open(SPECTRUM_CACHE / out.stdout.strip().splitlines()[-1]) as archive:
        archive.extractall(SPECTRUM_CACHE, filter="data")
    return marker.parent


def spectrum_name(path: Path) -> str:
    return "spectrum_" + path.stem.lower()


def spectrum_header(path: Path) -> list[str]:
    """The file's header names (csv-spectrum's own, e.g. `Contact Phone Number`)."""
    return next(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


def spectrum_columns(path: Path) -> dict[str, str]:
    """Header name -> contract column: contracts take Athena/Glue names, as `pipeline schema infer` proposes them."""
    return {name: column_name_proposal(name) for name in spectrum_header(path)}


def spectrum_body(path: Path) -> bytes:
    """The file as uploaded after `schema infer --fixed-copy`: the contract's header, every other byte unchanged."""
    body = path.read_bytes()
    bom = b"\xef\xbb\xbf" if body.startswith(b"\xef\xbb\xbf") else b""
    raw_header, data_start = split_header(body[len(bom) :])
    terminator = body[len(bom) + len(raw_header) : len(bom) + data_start]  # the file's own: LF, CR LF or CR
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow(list(spectrum_columns(path).values()))
    return bom + line.getvalue().encode("utf-8") + terminator + body[len(bom) + data_start :]


def spectrum_schema(path: Path) -> dict[str, Any]:
    """A contract for one csv-spectrum file: its header's columns, all text, all in the key, none null."""
    columns = list(spectrum_columns(path).values())
    return {
        "type": "object",
        "description": f"csv-spectrum {SPECTRUM_VERSION} {path.name} (tests only)",
        "properties": {name: {"type": "string"} for name in columns},
        "required": columns,
        "x-primary-key": columns,
        "x-null-values": [],
    }


def spectrum_expected(directory: Path, path: Path) -> list[dict[str, str]]:
    """The records the suite says the file holds (its json/ twin; one object or a list), by contract column."""
    expected = json.loads((directory / "json" / f"{path.stem}.json").read_text(encoding="utf-8"))
    names = spectrum_columns(path)
    return [
        {names[k]: v for k, v in record.items()} for record in (expected if isinstance(expected, list) else [expected])
    ]


PARQUET_SUFFIX = "_parquet"  # `conformance_text_parquet`: the same contract as a Parquet dataset


def write_schemas(folder: Path, spectrum: Path | None) -> dict[str, Contract]:
    """Every conformance contract as schema files in ``folder`` (for `PIPELINE_SCHEMAS_DIR`); by dataset.

    Each corpus contract is there twice: as it is (text) and as `<name>_parquet` with `"x-format": "parquet"`."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in SCHEMAS.glob("*.schema.json"):
        shutil.copy(path, folder / path.name)
        name = path.name.removesuffix(".schema.json")
        parquet = {**parquet_document(name), "title": f"{name}{PARQUET_SUFFIX}"}
        (folder / f"{name}{PARQUET_SUFFIX}.schema.json").write_text(json.dumps(parquet, indent=1))
    if spectrum is not None:
        for path in sorted((spectrum / "csvs").glob("*.csv")):
            (folder / f"{spectrum_name(path)}.schema.json").write_text(json.dumps(spectrum_schema(path), indent=1))
    return {p.name.removesuffix(".schema.json"): load_contract_file(p) for p in sorted(folder.glob("*.schema.json"))}
