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

from pipeline.runtime.jobs import JobStore
from pipeline.runtime.jobs.supersede import object_item_id
from pipeline.tools.cli import ops
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
    pages: int | None = None  # how many pages a COMPLETE job had, when that matters

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


def gzip_stream(*parts: bytes | tuple[bytes, int]) -> bytes:
    """Gzip of ``parts`` written in turn (``(chunk, n)`` is ``chunk`` n times), never holding the whole text."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6) as writer:
        for part in parts:
            chunk, times = part if isinstance(part, tuple) else (part, 1)
            for _ in range(times):
                writer.write(chunk)
    return out.getvalue()


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
    add(
        "dates-outside-years-1-to-9999",
        key=key("years.csv"),
        body=text(
            line(o(1), order_ts="0001-01-01T00:00:00Z", ship_date="9999-12-31"),
            line(o(2), order_ts="9999-12-31T23:59:59-05:00"),  # 10000-01-01T04:59:59Z
            line(o(3), order_ts="0000-01-01T00:00:00Z"),
            line(o(4), ship_date="0000-01-01"),
            line(o(5), order_ts="0001-01-01T00:30:00+01:00"),  # 0000-12-31T23:30:00Z
            line(o(6), order_ts="9999-12-31T18:59:59-05:00"),  # 9999-12-31T23:59:59Z: the last second kept
        ),
        valid=[o(1), o(6)],
        rejects={
            3: ["order_ts: year outside 0001-9999 (as written or in UTC)"],
            4: ["order_ts: year outside 0001-9999 (as written or in UTC)"],
            5: ["ship_date: year outside 0001-9999"],
            6: ["order_ts: year outside 0001-9999 (as written or in UTC)"],
        },
        check=_all(
            _eq(o(1), "order_ts", "0001-01-01T00:00:00.000000Z"),
            _eq(o(1), "ship_date", "9999-12-31"),
            _eq(o(6), "order_ts", "9999-12-31T23:59:59.000000Z"),
        ),
    )
    add(
        "cr-only-line-endings",  # old Mac files: Python's csv and pyarrow end a record at a lone CR
        key=key("mac.csv"),
        body=text(line(o(1)), line(o(2), note="a\rb"), line(o(3), currency="JPY"), line(o(4)), newline="\r"),
        valid=[o(1), o(2), o(4)],
        rejects={5: ["currency: not one of"]},  # the CR inside o(2)'s quoted note is a line of its own
        check=_all(_eq(o(1), "note", "ok"), _eq(o(2), "note", "a\rb"), _eq(o(4), "quantity", "2")),
    )
    add(
        "gzip-one-300-mb-field",  # 0.3 MB of gzip: the upload processor used to peak at 2.9 GB
        key=key("bomb.csv.gz"),
        body=gzip_stream(text(line(o(1))), line(o(2), note="x")[:-1].encode() + b'"', (b"x" * MB, 300), b'"\n'),
        plain=text(line(o(1)), line(o(2))),
        failed="expands more than 200-fold when gunzipped",
    )
    add(
        "gzip-two-million-duplicate-rows",
        key=key("dupes.csv.gz"),
        body=gzip_stream(text(), ((line(o(1)) + "\n").encode(), 2_000_000)),
        plain=text(line(o(1))),
        failed="expands more than 200-fold when gunzipped",
    )
    bad = {i: line(o(3), status="LOST") for i in range(4, 6004)}  # 6,000 rejected rows: two pages of 5,000
    plain = text(line(o(1)), line(o(2)), *bad.values())
    add(
        "gzip-read-page-by-page",
        key=key("pages.csv.gz"),
        body=gzip.compress(plain),
        plain=plain,
        valid=[o(1), o(2)],
        rejects={n: ["status: not one of"] for n in bad},
        pages=2,
    )
    huge = line(o(2), note="x" * 17_000_000)  # over the 16 MiB record limit
    too_large = f"record too large: {len(huge) + 1:,} bytes, the limit is 16,777,216"
    add(
        "record-over-16-mib-paged",
        key=key("huge-record.csv"),
        mode="paged",
        body=text(line(o(1)), huge, line(o(3))),
        valid=[o(1), o(3)],
        rejects={3: [too_large]},
        pages=3,
    )
    add(
        "record-over-16-mib-gzip",
        key=key("huge-record.csv.gz"),
        body=gzip_stream(text(line(o(1))), (huge + "\n" + line(o(3)) + "\n").encode()),
        plain=text(line(o(1)), line(o(2)), line(o(3))),
        valid=[o(1), o(3)],
        rejects={3: [too_large]},
        pages=3,
    )
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


def rejected_lines(
    aws_clients: dict[str, Any], stack: dict[str, str], job_id: str, dataset: str = "orders"
) -> dict[int, list[str]]:
    """Line -> reasons of every record in the job's rejects files under `_rejects/`."""
    out: dict[int, list[str]] = {}
    for page in JobStore(stack["JobsTable"]).pages(job_id):
        if page.get("rejects_key"):
            assert page["rejects_key"].startswith(f"_rejects/{dataset}/")
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
    if case.pages is not None:
        assert job["pages_total"] == job["pages_done"] == case.pages, job
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


# ------------------------------------------------------------------ DynamoDB key limits (a dataset of its own)

KEYED_SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "x": {"type": ["number", "null"]}},
    "required": ["id"],
    "x-primary-key": ["id"],
    "x-null-values": [""],
}


@pytest.fixture(scope="module")
def keyed_stack(local_cloud: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Stage `e2ekeys`: the repository's code with one more schema, `keyed`, whose key is free text; page 1 of
    a file fails after its DynamoDB write on the first attempt (one-page files never reach it)."""
    import json
    import shutil

    from pipeline.tools.deploy import package, stack
    from tests.e2e.conftest import E2E_PARAMETERS

    root = tmp_path_factory.mktemp("keyed-root")
    for name in ("handlers", "pipeline", "statemachines", "cloudformation"):
        (root / name).symlink_to(package.ROOT / name)
    (root / "schemas").mkdir()
    shutil.copy(package.ROOT / "schemas" / "orders.schema.json", root / "schemas")
    (root / "schemas" / "keyed.schema.json").write_text(json.dumps(KEYED_SCHEMA))
    tgt = stack.target("e2ekeys")
    parameters = {
        **stack.LOCAL_PARAMETERS,
        **E2E_PARAMETERS,
        "Failpoints": "after-dynamodb:1:1",
        "PermissionsBoundaryArn": stack._local_boundary(tgt, print),  # as `pipeline deploy --local` passes it
    }
    outs = stack.deploy(tgt, package.build(root), parameters, print)
    return outs | {"Endpoint": local_cloud.endpoint, "SchemasDir": str(root / "schemas")}


def test_keys_dynamodb_refuses_reject_their_row_and_nothing_else(
    keyed_stack: dict[str, str], aws_clients: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """27 good keys, one key of 3,000 bytes, one of 2,049 UTF-8 bytes, one exactly at the 2,048-byte limit
    and a number DynamoDB cannot hold: MiniStack's DynamoDB (which enforces the limits) accepts every
    kept row, the others are rejected with the reason, and nothing fails."""
    prefix = unique_prefix()
    good = [f"{prefix}-{i:02d}" for i in range(27)]
    at_limit = "a" * (2048 - len("keyed#"))
    rows = [f"{k},1.5" for k in good[:19]]
    rows += ["L" * 3000 + ",2", "é" * 1022 + ",3", f"{at_limit},4", f"{prefix}-big,1e200"]
    rows += [f"{k},1.5" for k in good[19:]]
    key_name = f"keyed/{prefix}/keys.csv"
    aws_clients["s3"].put_object(Bucket=keyed_stack["IngestBucket"], Key=key_name, Body=text(*rows, header="id,x"))
    [job] = ops.wait_for(keyed_stack, [{"key": key_name, "version_id": ""}], lambda jobs: None, timeout=300)

    assert job["status"] == "COMPLETE", job
    assert (job["rows_input"], job["rows_valid"], job["rows_rejected"]) == (31, 28, 3)
    rejects = rejected_lines(aws_clients, keyed_stack, job["job_id"], dataset="keyed")
    assert rejects == {
        21: ["id: primary key too long for DynamoDB: the item key is 3,006 bytes (UTF-8), the limit is 2,048"],
        22: ["id: primary key too long for DynamoDB: the item key is 2,050 bytes (UTF-8), the limit is 2,048"],
        24: ["x: number out of DynamoDB's range (magnitudes 1E-130 to 9.99E+125, or 0)"],
    }
    stored = aws_clients["dynamodb"].batch_get_item(
        RequestItems={keyed_stack["RecordsTable"]: {"Keys": [{"pk": {"S": f"keyed#{k}"}} for k in [*good, at_limit]]}}
    )["Responses"][keyed_stack["RecordsTable"]]
    assert sorted(i["id"]["S"] for i in stored) == sorted([*good, at_limit])
    monkeypatch.setenv("PIPELINE_SCHEMAS_DIR", keyed_stack["SchemasDir"])  # reconcile reads the `keyed` contract
    assert_reconciled(keyed_stack, job["job_id"])


def test_a_retried_gzip_upload_resumes_after_the_pages_it_finished(
    keyed_stack: dict[str, str], aws_clients: dict[str, Any], tmp_path: Any
) -> None:
    """A .gz upload read page by page fails on page 1 (first attempt only); the same notification delivered
    again skips page 0, which stays as it was, and finishes the file with every row counted once."""
    import time

    from pipeline.tools.sample import write_orders

    path = tmp_path / "orders.csv"
    counts = write_orders(path, 12_000, seed=5, start_id=90_000_000)  # three pages of 5,000
    key_name = f"orders/{unique_prefix()}/resume.csv.gz"
    aws_clients["s3"].put_object(
        Bucket=keyed_stack["IngestBucket"], Key=key_name, Body=gzip.compress(path.read_bytes())
    )
    [failed] = ops.wait_for(keyed_stack, [{"key": key_name, "version_id": ""}], lambda jobs: None, timeout=300)
    assert failed["status"] == "FAILED" and "failpoint after-dynamodb hit on page 1" in failed["cause"], failed
    store = JobStore(keyed_stack["JobsTable"])
    before = {int(p["page"]): p for p in store.pages(failed["job_id"]) if p.get("status") == "DONE"}
    assert list(before) == [0]
    results = keyed_stack["ResultsBucket"]

    def written() -> dict[str, Any]:  # when each output object of page 0 was last written
        keys = sorted(before[0]["outputs"])
        return {k: aws_clients["s3"].head_object(Bucket=results, Key=k)["LastModified"] for k in keys}

    first_writes = written()
    assert first_writes
    time.sleep(1.1)  # S3 times are in whole seconds: a rewrite of page 0 would show

    aws_clients["sns"].publish(
        TopicArn=keyed_stack["IngestTopicArn"], Message=_notification(failed, failed["sequencer"])
    )
    job = _job_with_sequencer(keyed_stack, key_name, failed["sequencer"], status=("COMPLETE",))
    assert job["job_id"] == failed["job_id"] and job["pages_done"] == job["pages_total"] == 3
    assert (job["rows_input"], job["rows_valid"]) == (12_000, counts["valid"])
    assert written() == first_writes  # page 0 was skipped, not processed again
    assert_reconciled(keyed_stack, job["job_id"])


# ------------------------------------------------------------------ re-upload order by AWS's sequencer rule


def _notification(job: dict[str, Any], sequencer: str) -> str:
    """The S3 notification of the job's object version, with another sequencer."""
    import json
    from urllib.parse import quote_plus

    obj = {"key": quote_plus(job["key"], safe="/"), "size": job["size"], "eTag": job["etag"], "sequencer": sequencer}
    obj |= {"versionId": job["version_id"]} if job.get("version_id") else {}
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": job["event_time"],
        "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": job["bucket"]}, "object": obj},
    }
    return json.dumps({"Records": [record]})


def _job_with_sequencer(
    stack: dict[str, str], key: str, sequencer: str, status: tuple[str, ...] = ("COMPLETE", "FAILED")
) -> dict[str, Any]:
    """The job of ``key`` announced with ``sequencer``, once its status is one of ``status``."""
    import time

    store = JobStore(stack["JobsTable"])
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        found = [j for j in store.jobs() if j.get("key") == key and j.get("sequencer") == sequencer]
        if found and found[0].get("status") in status:
            return found[0]
        time.sleep(1)
    raise AssertionError(f"no job of {key} with sequencer {sequencer} reached {status}")


def _forget_jobs(stack: dict[str, str], aws_clients: dict[str, Any], partitions: list[str]) -> None:
    """Delete every jobs-table item of ``partitions`` (a job's items, or a key's LATEST slot)."""
    ddb = aws_clients["dynamodb"]
    for partition in partitions:
        pages = ddb.get_paginator("query").paginate(
            TableName=stack["JobsTable"],
            KeyConditionExpression="job_id = :j",
            ExpressionAttributeValues={":j": {"S": partition}},
            ProjectionExpression="job_id, #i",
            ExpressionAttributeNames={"#i": "item"},
            ConsistentRead=True,
        )
        for item in (i for page in pages for i in page["Items"]):
            ddb.delete_item(TableName=stack["JobsTable"], Key=item)


def test_the_version_with_the_newer_right_padded_sequencer_keeps_its_output(
    stack: dict[str, str], aws_clients: dict[str, Any]
) -> None:
    """Two versions of a key announced with sequencers of 18 and 16 digits. AWS: right-pad, then compare, so
    FFFFFFFFFFFFFFFF (16) is newer than FFFFFFFFFFFFFFFE00 (18); left-padding read it as older and deleted its
    output. Announced oldest first, the newer one must displace the older, and Athena count only its rows."""
    case = len(CASES) + 1  # order ids after every case's
    key_name = key("versions.csv")
    v1 = text(line(oid(case, 1)), line(oid(case, 2)))
    v2 = text(line(oid(case, 11)), line(oid(case, 12)), line(oid(case, 13)))
    versions = [
        aws_clients["s3"].put_object(Bucket=stack["IngestBucket"], Key=key_name, Body=body)["VersionId"]
        for body in (v1, v2)
    ]
    real = ops.wait_for(stack, [{"key": key_name, "version_id": v} for v in versions], lambda jobs: None, timeout=300)
    # A version's job id is its version id's (a redelivery with another sequencer is the same job), so forget the
    # two real jobs and the key's LATEST slot: the notifications below are then these versions' only announcements.
    _forget_jobs(stack, aws_clients, [j["job_id"] for j in real] + [object_item_id(stack["IngestBucket"], key_name)])
    older, newer = ("FFFFFFFFFFFFFFFE00", real[1]), ("FFFFFFFFFFFFFFFF", real[0])  # v2 as older, v1 as newer
    for sequencer, job in (older, newer):
        aws_clients["sns"].publish(TopicArn=stack["IngestTopicArn"], Message=_notification(job, sequencer))
        assert _job_with_sequencer(stack, key_name, sequencer)["status"] == "COMPLETE"

    loser = _job_with_sequencer(stack, key_name, older[0])
    winner = _job_with_sequencer(stack, key_name, newer[0])
    assert loser.get("superseded_by") == winner["job_id"], loser
    assert not winner.get("superseded_by"), winner
    where = "order_id BETWEEN %(lo)s AND %(hi)s"
    assert athena_count(stack, where, {"lo": oid(case, 1), "hi": oid(case, 2)}) == 2  # v1's rows, once
    assert athena_count(stack, where, {"lo": oid(case, 11), "hi": oid(case, 13)}) == 0
    # not `assert_reconciled`: it also checks the key's rows come from S3's newest version, which the sequencers
    # made up here contradict on purpose (S3 listed v2 as the newer); the counts above are the check


# ------------------------------------------------------------------ values Python cannot hold, from Athena


def test_query_and_console_show_a_timestamp_python_cannot_hold_as_text(
    jobs: dict[str, dict[str, Any]], stack: dict[str, str], aws_clients: dict[str, Any]
) -> None:
    """Output written before years were checked (`10000-01-01`, year 0000) comes back from Athena as text:
    `pipeline query` prints it, no traceback; the console's query endpoint answers 200 with it."""
    import json
    import threading
    import urllib.request

    from click.testing import CliRunner

    from pipeline.tools.cli.main import cli
    from pipeline.tools.console.api import ConsoleApi
    from pipeline.tools.console.server import ConsoleServer

    case = len(CASES) + 2
    garbled = (
        f"{oid(case, 1)}\t42\t10000-01-01 04:59:59.000000\t2024-05-02\tPAID\t19.99\tEUR\t2\tfalse\tgarbled\n"
        f"{oid(case, 2)}\t42\t0000-01-01 00:00:00.000000\t0000-01-01\tPAID\t19.99\tEUR\t2\tfalse\tyear zero\n"
    )
    output = f"orders/dt=10000-01-0/part-{unique_prefix()}-0.tsv"  # what a pipeline without the check wrote
    aws_clients["s3"].put_object(Bucket=stack["ResultsBucket"], Key=output, Body=garbled.encode())
    sql = f"SELECT order_id, order_ts, ship_date FROM orders WHERE order_id IN ('{oid(case, 1)}', '{oid(case, 2)}')"
    try:
        result = CliRunner().invoke(cli, ["query", sql, "--stage", "e2e", "--json"], env={"PIPELINE_LOCAL": "1"})
        assert result.exit_code == 0 and "Traceback" not in result.output, result.output
        rows = {r["order_id"]: r for r in json.loads(result.output)}
        assert rows[oid(case, 1)]["order_ts"].startswith("10000-01-01 04:59:59")
        assert rows[oid(case, 2)]["order_ts"]  # year 0000, in whatever text the engine writes it

        server = ConsoleServer(ConsoleApi(stack, "e2e"), 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            port = server.server_address[1]
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/query",
                data=json.dumps({"sql": sql}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=120) as response:
                assert response.status == 200
                answer = json.load(response)
        finally:
            server.shutdown()
        shown = {row[0]: row[1] for row in answer["rows"]}
        assert shown[oid(case, 1)].startswith("10000-01-01 04:59:59") and shown[oid(case, 2)]
    finally:
        aws_clients["s3"].delete_object(Bucket=stack["ResultsBucket"], Key=output)
