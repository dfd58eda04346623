"""Shared helpers for the unit tests: contracts, the parse+validate chain, a LazySimpleSerDe reader and a fake AWS
endpoint that records what botocore sends."""

from __future__ import annotations

import http.server
import json
import re
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.runtime.contract import Contract
from pipeline.runtime.contract.loader import load_contract_file, parse_contract
from pipeline.runtime.rows.parse import parse_page
from pipeline.runtime.rows.validate import ValidatedPage, validate_page
from pipeline.runtime.sinks.dynamodb import encode_items

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"
EVENTS = REPO / "tests" / "events"

try:  # keep hypothesis' caches out of the repository (the property tests also run without a database)
    from hypothesis.configuration import set_hypothesis_home_dir
except ImportError:  # hypothesis is optional: its tests skip themselves
    pass
else:
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "s3-csv-pipeline-hypothesis")


# ------------------------------------------------------------------ contracts


def make_contract(
    properties: dict[str, dict[str, Any]],
    required: list[str] | None = None,
    *,
    dataset: str = "things",
    key: str = "id",
    **extra: Any,
) -> Contract:
    """A contract with a required string primary key ``id`` followed by ``properties``.

    ``extra`` is merged into the document, e.g. ``**{"x-null-values": ["NULL"]}``.
    """
    document: dict[str, Any] = {
        "type": "object",
        "properties": {key: {"type": "string"}, **properties},
        "required": [key, *(required or [])],
        "x-primary-key": [key],
        **extra,
    }
    return parse_contract(dataset, document)


def every_kind_contract() -> Contract:
    """A nullable column of every kind (string, integer, number, boolean, date, timestamp) after `id`."""
    return make_contract(
        {
            "s": {"type": ["string", "null"]},
            "n": {"type": ["integer", "null"]},
            "x": {"type": ["number", "null"]},
            "b": {"type": ["boolean", "null"]},
            "d": {"type": ["string", "null"], "format": "date"},
            "ts": {"type": ["string", "null"], "format": "date-time"},
        },
        dataset="props",
    )


SECOND_DATASET = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "customer-accounts",
    "type": "object",
    "properties": {
        "account_id": {"type": "integer", "minimum": 1},
        "opened": {"type": "string", "format": "date"},
        "name": {"type": ["string", "null"], "maxLength": 200},
    },
    "required": ["account_id", "opened"],
    "additionalProperties": False,
    "x-primary-key": ["account_id"],
    "x-partition": {"column": "opened", "granularity": "month", "name": "month"},
}


def schemas_with_a_second_dataset(folder: Path) -> Path:
    """``folder`` holding the shipped schemas plus a second dataset, `customer-accounts`, as a user would add one."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in SCHEMAS.glob("*.schema.json"):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "customer-accounts.schema.json").write_text(json.dumps(SECOND_DATASET, indent=2), encoding="utf-8")
    return folder


def orders_document() -> dict[str, Any]:
    """The shipped orders schema as a fresh dict (safe to mutate)."""
    return json.loads((SCHEMAS / "orders.schema.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def orders_contract() -> Contract:
    return load_contract_file(SCHEMAS / "orders.schema.json")


def validate_csv(
    contract: Contract, body: str | bytes, header: list[str] | None = None, first_line: int = 2
) -> ValidatedPage:
    """Run data records (no header line) through parse_page and validate_page."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    names = header if header is not None else contract.column_names
    return validate_page(parse_page(raw, names, first_line=first_line), contract)


def build_items(table: Any, contract: Contract, job_id: str, lines: Any) -> list[dict[str, Any]]:
    """Low-level DynamoDB items for every row, as dicts (what ``encode_items`` sends, parsed back)."""
    return [json.loads(text) for text in encode_items(table, contract, job_id, lines).to_pylist()]


def reasons_by_line(page: ValidatedPage) -> dict[int, list[str]]:
    return {r.line: r.reasons for r in page.rejects}


# ----------------------------------------------- reference LazySimpleSerDe reader
#
# What Athena, Hive and Trino do with the result files (field.delim=TAB, serialization.null.format='\N',
# no escape.delim; tests/conformance checks these rules against Hive's own classes and Trino's source):
#   * TextInputFormat splits the object into records on LF (and would on a bare CR too);
#   * each record is split on every TAB (no escape character is declared, so none is special);
#   * a field equal to the null format (`\N`) is NULL, compared before anything else;
#   * otherwise a text field is returned as it is: its stored value is `decoded` of it (ADR 4's five
#     visible sequences `\\`, `\t`, `\n`, `\r`, `\ufeff`).

SERDE_TIMESTAMP = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$")
NULL_FORMAT = "\\N"
_SEQUENCE = re.compile(r"\\(\\|t|n|r|ufeff)")
_DECODED = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r", "ufeff": "\ufeff"}


def decoded(text: str) -> str:
    """ADR 4's decoding: one left-to-right pass over the five visible sequences."""
    return _SEQUENCE.sub(lambda m: _DECODED[m[1]], text)


def serde_split(line: str) -> list[str]:
    """Split one record on TABs, keeping each raw field as it is."""
    return line.split("\t")


def serde_unescape(field: str) -> str | None:
    """The stored value of one raw text field: None for the null format, the documented decoding otherwise."""
    if field == NULL_FORMAT:
        return None
    return decoded(field)


def serde_records(body: bytes) -> list[str]:
    """The records of a result object, as TextInputFormat would cut them."""
    text = body.decode("utf-8")
    if not text:
        return []
    assert text.endswith("\n"), "every record must be LF-terminated"
    assert "\r" not in text, "a bare CR would also end a record for TextInputFormat"
    return text[:-1].split("\n")


def serde_value(field: str, kind: str) -> Any:
    """Decode one raw field as Athena would for a column of ``kind`` (strict: malformed text fails)."""
    if kind == "string":
        return serde_unescape(field)
    if field == NULL_FORMAT:
        return None
    if kind == "integer":
        assert re.fullmatch(r"-?[0-9]+", field), field
        return int(field)
    if kind == "number":
        return float(field)
    if kind == "boolean":
        assert field in ("true", "false"), field
        return field == "true"
    if kind == "date":
        return date.fromisoformat(field)
    if kind == "timestamp":
        m = SERDE_TIMESTAMP.match(field)
        assert m, f"not a Hive timestamp: {field!r}"
        y, mo, d, h, mi, s, frac = m.groups()
        micros = int((frac or "0").ljust(6, "0")[:6])
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micros, tzinfo=UTC)
    raise AssertionError(kind)


def serde_rows(body: bytes, contract: Contract) -> list[dict[str, Any]]:
    """Every row of a result object decoded with the contract's column types."""
    rows = []
    for record in serde_records(body):
        fields = serde_split(record)
        assert len(fields) == len(contract.columns), (record, fields)
        rows.append({c.name: serde_value(f, c.kind) for c, f in zip(contract.columns, fields, strict=True)})
    return rows


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def run_async(coroutine: Any) -> Any:
    """``asyncio.run`` in a thread of its own: an earlier test of the session (Playwright's sync API in the
    console test) can leave this thread marked as running an event loop, where ``asyncio.run`` refuses."""
    import asyncio
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:  # the caller's context variables go with it
        return pool.submit(contextvars.copy_context().run, asyncio.run, coroutine).result()


# ------------------------------------------------------------------ a fake AWS endpoint


@dataclass
class FakeEndpoint:
    """A local HTTP server answering every request with one JSON body; ``requests`` holds each one's headers."""

    port: int
    requests: list[dict[str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def fake_aws_endpoint(status: int, body: bytes) -> Iterator[FakeEndpoint]:
    """Serve ``status`` and ``body`` (an `application/x-amz-json-1.0` error, say) on a free port of loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        endpoint = FakeEndpoint(int(probe.getsockname()[1]))

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            endpoint.requests.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", endpoint.port), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield endpoint
    finally:
        server.shutdown()
