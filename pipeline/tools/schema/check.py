"""`pipeline schema check`: run a local file through the page code, page by page, with no cloud.

The file is read and cut as the pipeline would: files up to `InlineMaxBytes` (and every `.gz`) are one page,
larger ones are cut into pages of `PageRows` records by the pager's own cutter. Each page goes through
`validate_records` (parse, validate, store rules: the code `process_page` runs before it writes), and what
would be written is derived with the writers' own functions: partition values (`partition_values`) and
DynamoDB keys (`records`' key builder). Nothing is sent anywhere.
"""

from __future__ import annotations

import gzip
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.runtime.arrival.upload import is_gzip
from pipeline.runtime.contract import Contract
from pipeline.runtime.errors import TerminalError
from pipeline.runtime.pages.process import validate_records
from pipeline.runtime.paging.cutter import cut_pages
from pipeline.runtime.paging.pager import HEADER_PROBE
from pipeline.runtime.rows.header import check_header, parse_header
from pipeline.runtime.rows.records import split_header
from pipeline.runtime.sinks.dynamodb import (
    key_texts,  # the records table's key of each row, as `encode_items` builds it
)
from pipeline.runtime.sinks.text_format import partition_values

EXAMPLES = 5  # rejects shown per rule
SHOWN_TEXT = 200  # characters of a rejected record shown
DISTINCT_KEYS_LIMIT = 5_000_000  # keys kept to count distinct DynamoDB keys exactly; beyond, a lower bound


@dataclass(frozen=True)
class Paging:
    """How the pipeline would cut the file: the stage's `InlineMaxBytes` and `PageRows`."""

    inline_max_bytes: int
    page_rows: int


@dataclass
class RuleCount:
    """How many records broke one rule, and the first few of them."""

    rule: str
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CheckReport:
    """What the pipeline would do with a file: a file-level failure, or counts, rejects, partitions and keys."""

    file: str
    dataset: str
    contract: str  # the contract's fingerprint
    mode: str = ""  # inline or paged
    pages: int = 0
    rows_input: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    rejects: dict[str, RuleCount] = field(default_factory=dict)
    reject_lines: dict[int, list[str]] = field(default_factory=dict)
    partitions: dict[str, int] = field(default_factory=dict)
    dynamodb_items: int = 0
    dynamodb_distinct_keys: int = 0
    dynamodb_key_examples: list[str] = field(default_factory=list)
    store_in_dynamodb: bool = True
    failed: str | None = None  # the cause a FAILED job would show
    seconds: float = 0.0

    @property
    def status(self) -> str:
        return "FAILED" if self.failed else "COMPLETE"

    def as_dict(self, lines: bool = False) -> dict[str, Any]:
        """JSON-ready; ``lines`` adds every rejected line with its reasons (large for a bad file)."""
        data = asdict(self)
        data["status"] = self.status
        data["rejects"] = [asdict(r) for r in sorted(self.rejects.values(), key=lambda r: -r.count)]
        data["reject_lines"] = {str(k): v for k, v in self.reject_lines.items()} if lines else None
        return data


_RULE_FORMS = (
    (re.compile(r"^(.*: duplicate primary key) .*, superseded by line \d+$"), r"\1"),
    (re.compile(r"^not valid UTF-8 \(byte \d+ of the record\)$"), "not valid UTF-8"),
    (re.compile(r"^(row too large for DynamoDB): .*$"), r"\1"),
    (re.compile(r"^malformed CSV record: .*$"), "malformed CSV record"),
)


def rule_of(reason: str) -> str:
    """The rule a reject reason is about, without the values that differ from row to row."""
    for pattern, replacement in _RULE_FORMS:
        if pattern.match(reason):
            return pattern.sub(replacement, reason)
    return reason


def _open(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if is_gzip(path.name) else path.open("rb")  # type: ignore[return-value]


def default_paging() -> Paging:
    """The template's defaults for `InlineMaxBytes` and `PageRows` (what a stage runs with unless told otherwise)."""
    from pipeline.tools.deploy.cfn_yaml import load_template
    from pipeline.tools.deploy.package import template_path

    parameters = load_template(template_path())["Parameters"]
    return Paging(int(parameters["InlineMaxBytes"]["Default"]), int(parameters["PageRows"]["Default"]))


def _pages(
    path: Path, contract: Contract, paging: Paging, report: CheckReport
) -> Iterator[tuple[list[str], bytes, int]]:
    """(body, first line) of every page, as the upload processor or the pager would cut them."""
    size = path.stat().st_size
    inline = size <= paging.inline_max_bytes or is_gzip(path.name)
    report.mode = "inline" if inline else "paged"
    with _open(path) as stream:
        try:
            probe = stream.read() if inline else stream.read(HEADER_PROBE)
        except (OSError, EOFError) as exc:
            raise TerminalError(f"the object ends in .gz but is not valid gzip: {exc}") from exc
        if not probe.strip():
            raise TerminalError("the file is empty")
        raw_header, data_start = split_header(probe)
        header = check_header(parse_header(raw_header), contract)
        first_line = raw_header.count(b"\n") + 2
        if inline:
            data = probe[data_start:]
            if not data.strip():
                raise TerminalError("the file has a header but no rows")
            yield header, data, first_line
            return
    with path.open("rb") as stream:
        stream.seek(data_start)
        spans = cut_pages(stream, start=data_start, first_line=first_line, rows=paging.page_rows, limit=2**62)
        with path.open("rb") as reader:
            for span in spans:
                reader.seek(span.start)
                yield header, reader.read(span.end - span.start), span.first_line


def check_file(path: Path, contract: Contract, paging: Paging, *, keep_lines: bool = False) -> CheckReport:
    """What the pipeline would do with ``path``: each page through the exact page code, nothing written."""
    started = time.perf_counter()
    report = CheckReport(
        str(path), contract.dataset, contract.fingerprint, store_in_dynamodb=contract.store_in_dynamodb
    )
    keys: list[pa.Array] = []
    kept_keys = 0
    try:
        for header, body, first_line in _pages(path, contract, paging, report):
            page = validate_records(body, header, contract, first_line=first_line)
            report.pages += 1
            report.rows_input += page.input_rows
            report.rows_valid += page.table.num_rows
            report.rows_rejected += len(page.rejects)
            for reject in page.rejects:
                if keep_lines:
                    report.reject_lines[reject.line] = list(reject.reasons)
                for reason in reject.reasons:
                    rule = rule_of(reason)
                    counted = report.rejects.setdefault(rule, RuleCount(rule))
                    counted.count += 1
                    if len(counted.examples) < EXAMPLES:
                        counted.examples.append(
                            {"line": reject.line, "reason": reason, "record": reject.raw[:SHOWN_TEXT]}
                        )
            if not page.table.num_rows:
                continue
            values = partition_values(page.table, contract)
            if values is None:
                report.partitions[""] = report.partitions.get("", 0) + page.table.num_rows
            else:
                for item in pc.value_counts(values).to_pylist():
                    report.partitions[item["values"]] = report.partitions.get(item["values"], 0) + item["counts"]
            if contract.store_in_dynamodb:
                page_keys = key_texts(page.table, contract)
                report.dynamodb_items += len(page_keys)
                if len(report.dynamodb_key_examples) < EXAMPLES:
                    report.dynamodb_key_examples += page_keys.slice(0, EXAMPLES).to_pylist()
                    del report.dynamodb_key_examples[EXAMPLES:]
                if kept_keys < DISTINCT_KEYS_LIMIT:
                    keys.append(page_keys)
                    kept_keys += len(page_keys)
    except TerminalError as exc:  # a header that does not match, an empty file: the job would be FAILED
        report.failed = str(exc)
    if keys:
        report.dynamodb_distinct_keys = pc.count_distinct(pa.chunked_array(keys)).as_py()
    report.partitions = dict(sorted(report.partitions.items()))
    report.seconds = round(time.perf_counter() - started, 3)
    return report
