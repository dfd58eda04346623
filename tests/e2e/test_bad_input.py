"""Bad input end to end: every case ends as a clear job, keeps its good rows and loses nothing.

All files are uploaded first and waited for together; each parametrised case then checks its own job.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import random
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from pipeline.cli import ops
from pipeline.jobs import JobStore
from tests.e2e.conftest import assert_reconciled, athena_count, job_output_keys, output_rows, unique_prefix

pytestmark = pytest.mark.e2e

HEADER = "order_id,customer_id,order_ts,ship_date,status,amount,currency,quantity,is_gift,note"
COLUMNS = HEADER.split(",")
DEFAULTS = {
    "customer_id": "42",
    "order_ts": "2024-05-01T10:00:00Z",
    "ship_date": "2024-05-02",
    "status": "PAID",
    "amount": "19.99",
    "currency": "EUR",
    "quantity": "2",
    "is_gift": "false",
    "note": "ok",
}
# Order ids unique to this run (a kept E2E_STATE_DIR may hold earlier runs): case i owns BASE + 100 * i + 0..99.
BASE = 70_000_000 + random.randrange(10_000) * 3_000
MB = 1_000_000
Items = dict[str, dict[str, Any]]


@dataclass
class Case:
    """One uploaded file and what must become of it."""

    name: str
    key: str
    body: bytes
    failed: str | None = None  # text the cause of a FAILED job must contain
    valid: list[str] = field(default_factory=list)  # order ids kept
    rejects: dict[int, list[str]] = field(default_factory=dict)  # line -> every reason (substrings)
    check: Callable[[Items], None] | None = None  # extra checks on the DynamoDB items by order id
    plain: bytes = b""  # the text of the file when ``body`` is compressed
    mode: str = "inline"  # how a COMPLETE job was processed: inline or paged by the state machine

    @property
    def order_ids(self) -> set[str]:
        return {m.decode() for m in re.findall(rb"ORD-[0-9]{8}", self.plain or self.body)}


def oid(case: int, n: int) -> str:
    return f"ORD-{BASE + 100 * case + n:08d}"


def line(order_id: str, columns: list[str] = COLUMNS, sep: str = ",", **values: str) -> str:
    """One CSV record (quoted where needed) with default values unless given."""
    row = {**DEFAULTS, "order_id": order_id, **values}
    out = io.StringIO()
    csv.writer(out, delimiter=sep, lineterminator="\r\n").writerow([row[c] for c in columns])  # quotes CR and LF
    return out.getvalue()[:-2]


def text(*lines: str, header: str = HEADER, newline: str = "\n") -> bytes:
    return newline.join([header, *lines, ""]).encode("utf-8")


def key(name: str, dataset: str = "orders") -> str:
    return f"{dataset}/{unique_prefix()}/{name}"


def _eq(order_id: str, column: str, expected: str | None) -> Callable[[Items], None]:
    def check(items: Items) -> None:
        value = items[order_id].get(column)
        assert (None if value is None else next(iter(value.values()))) == expected, (order_id, column, value)

    return check


def _all(*checks: Callable[[Items], None]) -> Callable[[Items], None]:
    def check(items: Items) -> None:
        for one in checks:
            one(items)

    return check


def build_cases() -> list[Case]:
    cases: list[Case] = []

    def add(name: str, **kwargs: Any) -> None:
        cases.append(Case(name, **kwargs))

    def o(n: int) -> str:
        return oid(len(cases), n)

    add("empty", key=key("empty.csv"), body=b"", failed="the file is empty")
    add("header-only", key=key("header-only.csv"), body=text(), failed="header but no rows")
    add("unknown-dataset", key=key("c.csv", "customers"), body=b"id,name\n1,a\n", failed="no schema for dataset")
    add("no-dataset-prefix", key=f"{unique_prefix()}.csv", body=text(line(o(1))), failed="no '<dataset>/' prefix")
    cols = [c for c in COLUMNS if c != "currency"]
    add(
        "missing-required-column",
        key=key("missing.csv"),
        body=text(line(o(1), cols), header=",".join(cols)),
        failed="missing required columns: currency",
    )
    cols = COLUMNS[:-2]
    add(
        "missing-optional-columns",
        key=key("optional.csv"),
        body=text(line(o(1), cols), line(o(2), cols, quantity="0"), header=",".join(cols)),
        valid=[o(1)],
        rejects={3: ["quantity: below minimum 1"]},
        check=_all(_eq(o(1), "note", None), _eq(o(1), "is_gift", None)),
    )
    cols = [*COLUMNS, "coupon"]
    add(
        "extra-column",
        key=key("extra.csv"),
        body=text(line(o(1), cols, coupon="X"), header=",".join(cols)),
        failed="unknown columns: coupon",
    )
    cols = list(reversed(COLUMNS))
    add(
        "reordered-columns",
        key=key("reordered.csv"),
        body=text(line(o(1), cols, customer_id="7", quantity="3"), line(o(2), cols, status="X"), header=",".join(cols)),
        valid=[o(1)],
        rejects={3: ["status: not one of"]},
        check=_all(_eq(o(1), "customer_id", "7"), _eq(o(1), "quantity", "3"), _eq(o(1), "status", "PAID")),
    )
    cols = [*COLUMNS, "status"]
    add(
        "duplicated-column",
        key=key("dup-col.csv"),
        body=text(line(o(1), cols), header=",".join(cols)),
        failed="duplicated columns: status",
    )
    add(
        "semicolon-delimiter",
        key=key("semicolons.csv"),
        body=text(line(o(1), sep=";"), header=HEADER.replace(",", ";")),
        failed="semicolon-delimited",
    )
    body = text(line(o(1)), line(o(2), note="café"), line(o(3)))
    add(
        "latin-1-row",
        key=key("latin1.csv"),
        body=body.replace("café".encode(), "café".encode("latin-1")),
        valid=[o(1), o(3)],
        rejects={3: ["not valid UTF-8"]},
    )
    add(
        "utf8-bom",
        key=key("bom.csv"),
        body=b"\xef\xbb\xbf" + text(line(o(1), note="Ünïcödé ✓"), line(o(2))),
        valid=[o(1), o(2)],
        check=_eq(o(1), "note", "Ünïcödé ✓"),
    )
    add(
        "crlf",
        key=key("crlf.csv"),
        body=text(line(o(1)), line(o(2), note="a\r\nb"), line(o(3), currency="JPY"), line(o(4)), newline="\r\n"),
        valid=[o(1), o(2), o(4)],
        rejects={5: ["currency: not one of"]},
        check=_all(_eq(o(1), "note", "ok"), _eq(o(2), "note", "a\r\nb"), _eq(o(4), "note", "ok")),
    )
    add(
        "quoted-newlines",
        key=key("multiline.csv"),
        body=text(
            line(o(1), note="two\nlines, a comma"),
            line(o(2), note='say "hi"\n\nthen go'),
            line(o(3), amount="-1"),
            line(o(4), note="\n"),
        ),
        valid=[o(1), o(2), o(4)],
        rejects={7: ["amount: below minimum 0"]},
        check=_all(_eq(o(1), "note", "two\nlines, a comma"), _eq(o(2), "note", 'say "hi"\n\nthen go')),
    )
    add(
        "stray-quotes",
        key=key("inches.csv"),
        body=text(line(o(1)), line(o(2), note="x").replace(",x", ',TV 55" screen'), line(o(3)), line(o(4))),
        valid=[o(1), o(2), o(3), o(4)],
        check=_eq(o(2), "note", 'TV 55" screen'),
    )
    add(
        "ragged-rows",
        key=key("ragged.csv"),
        body=text(line(o(1)), line(o(2), COLUMNS[:3]), line(o(3)) + ",extra", line(o(4)), line(o(5)) + ",,"),
        valid=[o(1), o(4)],
        rejects={3: ["expected 10 fields, found 3"], 4: ["expected 10 fields, found 11"], 6: ["found 12"]},
    )
    add(
        "one-mb-fields",
        key=key("huge-fields.csv"),
        mode="paged",  # over InlineMaxBytes
        body=text(line(o(1)), line(o(2), note="x" * MB), line(o(3), customer_id="9" * MB), line(o(4))),
        valid=[o(1), o(4)],
        rejects={3: ["note: longer than 2000 characters"], 4: ["customer_id: integer out of 64-bit range"]},
    )
    add(
        "integer-overflow",
        key=key("overflow.csv"),
        body=text(
            line(o(1), customer_id="9223372036854775807"),
            line(o(2), customer_id="9223372036854775808"),
            line(o(3), customer_id="-99999999999999999999999", quantity="10001"),
            line(o(4), quantity="10000", customer_id="+00000000000000000000042"),
            line(o(5), quantity="1.5", customer_id="0"),
        ),
        valid=[o(1), o(4)],
        rejects={
            3: ["customer_id: integer out of 64-bit range"],
            4: ["customer_id: integer out of 64-bit range", "quantity: above maximum 10000"],
            6: ["customer_id: below minimum 1", "quantity: not an integer"],
        },
        check=_all(_eq(o(1), "customer_id", "9223372036854775807"), _eq(o(4), "customer_id", "42")),
    )
    add(
        "invalid-dates-and-timestamps",
        key=key("dates.csv"),
        body=text(
            line(o(1), ship_date="2024-02-29", order_ts="2024-05-01T10:00:00.123+02:00"),
            line(o(2), ship_date="2024-02-30"),
            line(o(3), ship_date="2023-02-29", order_ts="2024-05-01T24:00:00Z"),
            line(o(4), ship_date="01/05/2024", order_ts="2024-05-01"),
            line(o(5), order_ts="2024-05-01T10:00:00+25:00"),
            line(o(6), order_ts="yesterday", ship_date="2024-13-01"),
        ),
        valid=[o(1)],
        rejects={
            3: ["ship_date: not a valid date"],
            4: ["ship_date: not a valid date", "order_ts: not a valid timestamp"],
            5: ["ship_date: not a valid date", "order_ts: not a valid timestamp"],
            6: ["order_ts: not a valid timestamp"],
            7: ["ship_date: not a valid date", "order_ts: not a valid timestamp"],
        },
        check=_all(_eq(o(1), "order_ts", "2024-05-01T08:00:00.123000Z"), _eq(o(1), "ship_date", "2024-02-29")),
    )
    add(
        "enum-and-pattern",
        key=key("enums.csv"),
        body=text(
            line(o(1), status="SHIPPED"),
            line(o(2), status="shipped"),
            line(o(3), currency="JPY", status="LOST", is_gift="maybe"),
            line(o(4)).replace(o(4), "ORD-123"),
            line(o(5)).replace("ORD-", "ord-"),
        ),
        valid=[o(1)],
        rejects={
            3: ["status: not one of"],
            4: ["status: not one of", "currency: not one of", "is_gift: not a boolean"],
            5: ["order_id: does not match"],
            6: ["order_id: does not match"],
        },
    )
    add(
        "duplicate-primary-keys",  # the last valid row of a key wins; earlier ones are rejected, not lost
        key=key("dup-keys.csv"),
        body=text(
            line(o(1), note="first"),
            line(o(2)),
            line(o(1), note="second"),
            line(o(1), note="third"),
            line(o(1), note="fourth", status="LOST"),
        ),
        valid=[o(1), o(2)],
        rejects={
            2: [f"order_id: duplicate primary key {o(1)}, superseded by line 5"],
            4: [f"order_id: duplicate primary key {o(1)}, superseded by line 5"],
            6: ["status: not one of"],
        },
        check=_all(_eq(o(1), "note", "third"), _eq(o(1), "line", "5")),
    )
    add(
        "key-with-spaces-and-unicode",
        key=key("März Bestellungen + 100% (ß) ü.csv"),
        body=text(line(o(1)), line(o(2))),
        valid=[o(1), o(2)],
    )
    plain = text(line(o(1)), line(o(2), quantity="x"), line(o(3)))
    add(
        "gzip",
        key=key("orders.csv.gz"),
        body=gzip.compress(plain),
        plain=plain,
        valid=[o(1), o(3)],
        rejects={3: ["quantity: not an integer"]},
    )
    add("gzip-invalid", key=key("broken.csv.gz"), body=text(line(o(1))), failed="not valid gzip")
    cols = [*COLUMNS, *(f"extra_{i:03d}" for i in range(490))]
    add(
        "500-columns",
        key=key("wide.csv"),
        body=text(line(o(1), cols, **dict.fromkeys(cols[10:], "v")), header=",".join(cols)),
        failed="unknown columns: extra_000, extra_001, extra_002, extra_003, extra_004, extra_005, extra_006, "
        "extra_007, extra_008, extra_009 and 480 more (490 in all)",
    )
    return cases


CASES = build_cases()


@contextlib.contextmanager
def big_csv_fields() -> Iterator[None]:
    """Let the csv module read rejected records longer than its 128 KiB default field limit."""
    previous = csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


@pytest.fixture(scope="module")
def jobs(stack: dict[str, str], aws_clients: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Upload every case, then wait for all of their jobs at once."""
    for case in CASES:
        aws_clients["s3"].put_object(Bucket=stack["IngestBucket"], Key=case.key, Body=case.body)
    uploads = [{"key": case.key, "version_id": ""} for case in CASES]
    finished = ops.wait_for(stack, uploads, lambda jobs: None, timeout=600)
    return {case.name: job for case, job in zip(CASES, finished, strict=True)}


def items_by_order_id(aws_clients: dict[str, Any], stack: dict[str, str], order_ids: set[str]) -> Items:
    """The records-table items of these order ids (BatchGetItem, not a table scan)."""
    keys = [{"pk": {"S": f"orders#{i}"}} for i in sorted(order_ids)]
    found: Items = {}
    for start in range(0, len(keys), 100):
        request: dict[str, Any] = {stack["RecordsTable"]: {"Keys": keys[start : start + 100]}}
        while request:
            response = aws_clients["dynamodb"].batch_get_item(RequestItems=request)
            found.update({i["order_id"]["S"]: i for i in response["Responses"].get(stack["RecordsTable"], [])})
            request = response.get("UnprocessedKeys") or {}
    return found


def rejected_lines(aws_clients: dict[str, Any], stack: dict[str, str], job_id: str) -> dict[int, list[str]]:
    """Line -> reasons of every record in the job's rejects files under `_rejects/`."""
    out: dict[int, list[str]] = {}
    for page in JobStore(stack["JobsTable"]).pages(job_id):
        if page.get("rejects_key"):
            assert page["rejects_key"].startswith("_rejects/orders/")
            body = aws_clients["s3"].get_object(Bucket=stack["ResultsBucket"], Key=page["rejects_key"])["Body"].read()
            with big_csv_fields():
                rows = list(csv.DictReader(io.StringIO(body.decode())))
            out.update({int(r["line"]): r["reasons"].split("; ") for r in rows})
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_input(
    case: Case, jobs: dict[str, dict[str, Any]], stack: dict[str, str], aws_clients: dict[str, Any]
) -> None:
    job = jobs[case.name]
    raw = aws_clients["s3"].get_object(Bucket=stack["IngestBucket"], Key=case.key)["Body"].read()
    assert raw == case.body, "the raw object must stay in the ingest bucket as uploaded"
    assert job["key"] == case.key
    items = items_by_order_id(aws_clients, stack, case.order_ids)
    if case.failed:
        assert job["status"] == "FAILED", job
        assert case.failed in job["cause"] and len(job["cause"]) < 800, job["cause"]
        assert not items, "a failed file writes no rows"
        return

    assert job["status"] == "COMPLETE", job
    assert job["mode"] == case.mode
    counts = (job["rows_input"], job["rows_valid"], job["rows_rejected"])
    assert counts == (len(case.valid) + len(case.rejects), len(case.valid), len(case.rejects))
    assert sorted(items) == sorted(case.valid)
    assert all(i["job_id"]["S"] == job["job_id"] for i in items.values())
    assert output_rows(aws_clients, stack["ResultsBucket"], job_output_keys(stack, job["job_id"])) == len(case.valid)
    rejects = rejected_lines(aws_clients, stack, job["job_id"])
    assert sorted(rejects) == sorted(case.rejects)
    for line_no, expected in case.rejects.items():
        assert len(rejects[line_no]) == len(expected), (line_no, rejects[line_no])  # every rule, and only those
        assert all(any(e in r for r in rejects[line_no]) for e in expected), (line_no, rejects[line_no])
    if case.check:
        case.check(items)
    assert_reconciled(stack, job["job_id"])  # reconcile itself reads rejected records of any size


def test_athena_sees_exactly_the_kept_rows(jobs: dict[str, dict[str, Any]], stack: dict[str, str]) -> None:
    assert all(job["status"] in ("COMPLETE", "FAILED") for job in jobs.values())
    expected = sum(len(case.valid) for case in CASES if not case.failed)
    where = "order_id BETWEEN %(lo)s AND %(hi)s"
    assert athena_count(stack, where, {"lo": oid(0, 0), "hi": oid(len(CASES), 0)}) == expected
