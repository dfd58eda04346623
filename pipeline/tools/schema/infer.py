"""`pipeline schema infer`: draft a dataset contract from a sample of a CSV file.

Every type is decided by the pipeline's own validator (`validate_page`) on the sampled values, so the draft's
rules are exactly the ones the pipeline enforces: a column is `integer` when every sampled value passes the
validator's integer rule (64-bit, optional sign), `date` when every value is a valid `YYYY-MM-DD`, and so on.
The tightest type wins, in this order: boolean, integer, number, date, date-time, string. The sample is held as
Arrow strings and checked with Arrow compute, which is what the validator runs on (pandas would add a copy).

Rules of thumb, all reported in the table's "why" column:

* null spellings: `x-null-values` lists the spellings actually seen, from a known list (`""`, `NA`, `NULL`,
  `N/A`, `null`, `None`, `NaN`, ...); `""` is always listed (an empty text reads back as NULL in Athena);
* boolean needs a word (`true`, `yes`, `f`, ...): a column of 0 and 1 stays an integer;
* integers with a leading zero (`00501`) or beyond 64 bits stay text, so no digit is lost;
* `enum` for text with at most `ENUM_MAX` distinct values, each seen `ENUM_MIN_REPEATS` times on average;
* `maxLength` is the longest sampled text rounded up to 1, 2 or 5 times a power of ten;
* primary key: a non-null column unique in the sample (identifier-like names first), else the smallest
  unique set of two or three such columns;
* partition: a non-null date or date-time column; by day when the sample averages `DAY_PARTITION_ROWS` rows
  a day or more, else by month;
* `x-dynamodb: false` when a sampled row would exceed DynamoDB's 400 KB item limit; advice when rows are wide.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.runtime.contract import Contract
from pipeline.runtime.contract.loader import DATASET_NAME, DIALECT
from pipeline.runtime.contract.strict import COLUMN_NAME, column_name_proposal
from pipeline.runtime.rows.header import OTHER_DELIMITERS
from pipeline.runtime.rows.parse import ParsedPage
from pipeline.runtime.rows.store_rules import DYNAMODB_ITEM_LIMIT, FIXED_SIZE, ITEM_OVERHEAD, apply_store_rules
from pipeline.runtime.rows.validate import validate_page
from pipeline.tools.schema.check import rule_of
from pipeline.tools.schema.metaschema import check_document
from pipeline.tools.schema.sample import Sample, SampleError, read_sample

KNOWN_NULLS = ("", "NA", "N/A", "n/a", "NULL", "null", "Null", "None", "none", "NaN", "nan", "#N/A", "NaT")
PROBE_ROWS = 2_000
KEY_POOL = 8  # columns with the most distinct values tried in sets of two and three
ENUM_MAX = 20
ENUM_MIN_REPEATS = 10
DAY_PARTITION_ROWS = 100
WIDE_ITEM_BYTES = 4096  # above this a DynamoDB write costs 4+ write units
KEY_HINT = re.compile(r"(^|_)(id|key|code|uuid|guid|number|no)$")
PARTITION_HINT = re.compile(r"date|time|day|_ts$|^ts$|created|updated|month")
SLASHED_DATE = r"^[0-9]{1,4}[/.][0-9]{1,2}[/.][0-9]{1,4}( [0-9]{1,2}:[0-9]{2}(:[0-9]{2})?)?$"
BOOLEAN_WORDS = ("true", "false", "t", "f", "yes", "no", "y", "n")
KINDS = ("boolean", "integer", "number", "date", "timestamp")
_SPEC = {
    "boolean": {"type": "boolean"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "date": {"type": "string", "format": "date"},
    "timestamp": {"type": "string", "format": "date-time"},
    "string": {"type": "string"},
}
KIND_LABEL = {"timestamp": "date-time"}


@dataclass
class ColumnDraft:
    """What the sample says about one column."""

    source: str  # the name in the file's header
    name: str  # the contract's (valid Athena/Glue) name
    kind: str = "string"
    nullable: bool = False
    nulls: int = 0
    distinct: int = 0
    examples: list[str] = field(default_factory=list)
    why: str = ""
    enum: list[str] | None = None
    max_length: int | None = None
    longest: int = 0
    with_offset: bool | None = None  # timestamps: every value had a zone / none had

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = dict(_SPEC[self.kind])
        if self.nullable:
            spec["type"] = [spec["type"], "null"]
        if self.enum is not None:
            spec["enum"] = list(self.enum)
        elif self.max_length is not None:
            spec["maxLength"] = self.max_length
        return spec


@dataclass
class Draft:
    """A drafted contract with the evidence for each decision."""

    dataset: str
    file: str
    columns: list[ColumnDraft]
    null_values: list[str]
    primary_key: list[str]
    key_evidence: str
    partition: dict[str, str] | None
    partition_evidence: str
    dynamodb: bool
    dynamodb_evidence: str
    renamed: dict[str, str]  # header name -> column name, for names Athena cannot take
    sample: Sample
    warnings: list[str] = field(default_factory=list)
    sample_rejects: dict[str, int] = field(default_factory=dict)  # what the draft itself rejects in the sample

    def document(self) -> dict[str, Any]:
        """The JSON Schema 2020-12 contract."""
        where = (
            f"all {self.sample.head_rows:,} rows"
            if self.sample.complete
            else f"the first {self.sample.head_rows:,} rows and {self.sample.spread_rows:,} rows spread through"
        )
        document: dict[str, Any] = {
            "$schema": DIALECT,
            "title": self.dataset,
            "description": f"Drafted by `pipeline schema infer` from {where} of {Path(self.file).name}; review it.",
            "type": "object",
            "properties": {c.name: c.spec() for c in self.columns},
            "required": [c.name for c in self.columns],
            "additionalProperties": False,
            "x-primary-key": self.primary_key,
        }
        if self.partition:
            document["x-partition"] = self.partition
        document["x-null-values"] = self.null_values
        if not self.dynamodb:
            document["x-dynamodb"] = False
        return document

    def text(self) -> str:
        return json.dumps(self.document(), indent=2, ensure_ascii=False) + "\n"

    def contract(self) -> Contract:
        """The draft as the pipeline loads it (keywords, metaschema and rules checked)."""
        return check_document(self.dataset, self.document())


def dataset_name(path: Path) -> str:
    """A dataset name from a file name: `Sales 2024.csv.gz` -> `sales_2024`."""
    stem = path.name
    for suffix in (".gz", ".csv", ".tsv", ".txt"):
        stem = stem.removesuffix(suffix)
    name = re.sub(r"[^a-z0-9_-]+", "_", stem.lower()).strip("_-")
    if not name or not name[0].isalpha():
        name = f"d_{name}"
    return name[:63]


def column_names(header: list[str]) -> dict[str, str]:
    """Contract names for header names: valid ones kept, others proposed, repeats and empties made unique."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for i, source in enumerate(header):
        name = source if COLUMN_NAME.match(source) else column_name_proposal(source or f"column_{i + 1}")
        base, n = name, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        taken.add(name)
        out[f"{i}:{source}"] = name
    return out


def _nice_bound(length: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is at least ``length``."""
    bound = 1
    while True:
        for step in (1, 2, 5):
            if bound * step >= length:
                return bound * step
        bound *= 10


def _synthetic_page(table: pa.Table) -> ParsedPage:
    """A parsed page over sampled values (its 'line' is the row's index in the sample)."""
    rows = table.num_rows
    return ParsedPage(
        table=table,
        lines=np.arange(rows, dtype=np.int64),
        body=b"",
        starts=np.zeros(rows, dtype=np.int64),
        ends=np.zeros(rows, dtype=np.int64),
    )


def _contract_for(names: list[str], kind: str, null_values: list[str]) -> Contract:
    from pipeline.runtime.contract.loader import parse_contract

    spec: dict[str, Any] = dict(_SPEC[kind])
    spec["type"] = [spec["type"], "null"]
    document = {
        "type": "object",
        "properties": {"__row": {"type": "string"}, **{n: dict(spec) for n in names}},
        "required": ["__row"],
        "x-primary-key": ["__row"],
        "x-null-values": null_values,
    }
    return parse_contract("infer", document)


def _failures(table: pa.Table, kind: str, null_values: list[str]) -> dict[str, list[int]]:
    """Per column, sample rows whose value the validator refuses as ``kind`` (nulls allowed).

    The validator builds a reject (in Python) per bad row, so a text column checked as an integer would cost a
    Python loop over the whole sample: columns are tried on the first `PROBE_ROWS` rows first, and only those
    that pass there are checked on the whole sample.
    """
    if table.num_rows <= PROBE_ROWS:
        return _validator_failures(table, kind, null_values)
    failing = _validator_failures(table.slice(0, PROBE_ROWS), kind, null_values)
    rest = [n for n in table.column_names if n not in failing]
    if rest:
        failing.update(_validator_failures(table.select(rest), kind, null_values))
    return failing


def _validator_failures(table: pa.Table, kind: str, null_values: list[str]) -> dict[str, list[int]]:
    names = table.column_names
    checked = table.append_column("__row", pa.array(np.arange(table.num_rows).astype(str)))
    page = validate_page(_synthetic_page(checked), _contract_for(names, kind, null_values))
    failing: dict[str, list[int]] = {}
    for reject in page.rejects:
        for reason in reject.reasons:
            column = reason.split(": ", 1)[0]
            failing.setdefault(column, []).append(reject.line)
    return failing


def _kinds_passed(table: pa.Table, null_values: list[str]) -> tuple[dict[str, dict[str, bool]], dict[str, dict]]:
    """Which kinds the validator accepts every sampled value of each column as, tightest first.

    A column stops being tried once it passes a kind that settles it (a boolean needs the integer answer too:
    0/1 columns stay integers), so most columns cost one or two validator passes, not five.
    """
    names = table.column_names
    passed: dict[str, dict[str, bool]] = {n: dict.fromkeys(KINDS, False) for n in names}
    first_bad: dict[str, dict[str, str]] = {n: {} for n in names}
    undecided = list(names)
    for kind in KINDS:
        if not undecided:
            break
        failing = _failures(table.select(undecided), kind, null_values)
        for n in undecided:
            passed[n][kind] = n not in failing
            if n in failing:
                first_bad[n][kind] = table.column(n)[failing[n][0]].as_py()
        undecided = [n for n in undecided if not passed[n][kind] or kind == "boolean"]
    return passed, first_bad


def _null_spellings(table: pa.Table) -> list[str]:
    seen = set()
    known = pa.array(KNOWN_NULLS)
    for name in table.column_names:
        present = pc.unique(pc.filter(table.column(name), pc.is_in(table.column(name), known)))
        seen |= set(present.to_pylist())
    return ["", *sorted(s for s in seen if s)]


def _examples(values: pa.ChunkedArray, present: pa.ChunkedArray, limit: int = 3) -> list[str]:
    shown: list[str] = []
    for value in pc.filter(values.slice(0, 10_000), present.slice(0, 10_000)).to_pylist():
        if value not in shown:
            shown.append(value)
        if len(shown) == limit:
            break
    return shown


def _describe_column(
    draft: ColumnDraft, values: pa.ChunkedArray, null_values: list[str], passed: dict[str, bool], first_bad: dict
) -> None:
    """Decide the kind of one column from which kinds every sampled value passed."""
    nulls = pa.array(null_values, pa.string())
    present = pc.invert(pc.is_in(values, nulls))
    count = pc.sum(present).as_py() or 0
    draft.nulls = len(values) - count
    draft.nullable = draft.nulls > 0
    texts = pc.filter(values, present)
    draft.distinct = pc.count_distinct(texts).as_py() if count else 0
    draft.examples = _examples(values, present)
    if not count:
        draft.kind, draft.why = "string", "every sampled value is null: typed as text until values arrive"
        draft.max_length = None
        return
    lower = pc.utf8_lower(texts)
    words = pc.any(pc.is_in(lower, pa.array(BOOLEAN_WORDS))).as_py()
    leading_zero = pc.any(pc.match_substring_regex(texts, r"^[+-]?0[0-9]")).as_py()
    if passed["boolean"] and words:
        draft.kind, draft.why = "boolean", f"every value is a boolean spelling ({', '.join(draft.examples)})"
    elif passed["integer"] and leading_zero:
        zero = pc.filter(texts, pc.match_substring_regex(texts, r"^[+-]?0[0-9]"))[0].as_py()
        draft.kind, draft.why = "string", f"digits with leading zeros (e.g. {zero!r}): kept as text so none is lost"
    elif passed["integer"]:
        draft.kind, draft.why = "integer", "every value is a 64-bit integer"
    elif passed["number"] and _all_digits(texts):
        draft.kind, draft.why = "string", "integers beyond 64 bits: kept as text so no digit is lost"
    elif passed["number"]:
        draft.kind, draft.why = "number", "every value is a number (double)"
    elif passed["date"]:
        draft.kind, draft.why = "date", "every value is a valid YYYY-MM-DD date"
    elif passed["timestamp"]:
        zoned = pc.match_substring_regex(texts, r"(Z|z|[+-][0-9]{2}:?[0-9]{2})$")
        draft.with_offset = bool(pc.all(zoned).as_py())
        mixed = not draft.with_offset and pc.any(zoned).as_py()
        draft.kind = "timestamp"
        draft.why = (
            "every value is a date-time with an offset (stored in UTC)"
            if draft.with_offset
            else "every value is a date-time, "
            + ("some with an offset, some without (those read as UTC)" if mixed else "without offset (read as UTC)")
        )
    else:
        draft.kind = "string"
        number, day = first_bad.get("number"), first_bad.get("date")
        slashed = pc.filter(texts, pc.match_substring_regex(texts, SLASHED_DATE))
        if len(slashed) and len(slashed) == count:
            draft.why = (
                f"dates written like {slashed[0].as_py()!r}: the pipeline reads dates as YYYY-MM-DD only, so text"
            )
        elif number == day:
            draft.why = f"text ({number!r}: not a number or date)"
        else:
            draft.why = f"text ({number!r}: not a number; {day!r}: not a date)"
    if draft.kind == "string":
        lengths = pc.utf8_length(texts)
        draft.longest = pc.max(lengths).as_py() or 0
        repeats = count / max(draft.distinct, 1)
        if draft.distinct <= ENUM_MAX and repeats >= ENUM_MIN_REPEATS and draft.longest <= 100:
            draft.enum = sorted(pc.unique(texts).to_pylist())
            draft.why += f"; {draft.distinct} distinct values, each seen about {repeats:.0f} times: enum"
        else:
            draft.max_length = _nice_bound(max(draft.longest, 1))
            draft.why += f"; longest {draft.longest} characters: maxLength {draft.max_length}"


def _all_digits(texts: pa.ChunkedArray) -> bool:
    return bool(pc.all(pc.match_substring_regex(texts, r"^[+-]?[0-9]+$")).as_py())


def _primary_key(table: pa.Table, columns: list[ColumnDraft]) -> tuple[list[str], str]:
    """The smallest set of non-null columns unique in the sample, with the evidence."""
    rows = table.num_rows
    usable = [c for c in columns if not c.nullable and c.kind in ("string", "integer", "date", "timestamp")]
    if not usable:
        raise SampleError(
            "every column has nulls (or holds numbers or booleans) in the sample: the pipeline keys rows by "
            "non-null text, integer, date or date-time columns (x-primary-key); add a key column to the file"
        )

    def rank(c: ColumnDraft) -> tuple:  # identifier-like names, then dates (time series), then text, then integers
        order = {"date": 0, "timestamp": 0, "string": 1, "integer": 2}[c.kind]
        return (not KEY_HINT.search(c.name), order, columns.index(c))

    singles = sorted((c for c in usable if c.distinct == rows), key=rank)
    if singles:
        best = singles[0]
        others = f"; other unique columns: {', '.join(c.name for c in singles[1:4])}" if len(singles) > 1 else ""
        return [best.name], f"{best.name} is unique in all {rows:,} sampled rows and never null{others}"
    pool = sorted(usable, key=lambda c: (-c.distinct, rank(c)))[:KEY_POOL]
    distinct = {c.name: c.distinct for c in pool}
    best_set: tuple[str, ...] = ()
    best_groups = 0
    pool.sort(key=columns.index)  # a set of columns is named in file order
    for size in (2, 3):
        for combo in itertools.combinations([c.name for c in pool], size):
            if np.prod([float(distinct[n]) for n in combo]) < rows:
                continue  # too few value combinations to tell every row apart
            groups = table.select(list(combo)).group_by(list(combo)).aggregate([]).num_rows
            if groups == rows:
                return list(combo), (
                    f"no single column is unique; ({', '.join(combo)}) is unique in all {rows:,} sampled rows"
                )
            if groups > best_groups:
                best_set, best_groups = combo, groups
    if not best_set:  # every set was too small to be unique: the most distinct three say how many rows collide
        best_set = tuple(c.name for c in pool[:3])
        best_groups = table.select(list(best_set)).group_by(list(best_set)).aggregate([]).num_rows
    return list(best_set), (
        f"no set of up to 3 non-null columns is unique: ({', '.join(best_set)}) has {best_groups:,} distinct values "
        f"in {rows:,} rows, so {rows - best_groups:,} rows share a key with a later row and would be rejected as "
        "duplicates (the last row of a key is kept); add a key column to the file if every row must be kept"
    )


def _partition(sample: Sample, table: pa.Table, columns: list[ColumnDraft]) -> tuple[dict[str, str] | None, str]:
    dated = [c for c in columns if c.kind in ("date", "timestamp") and not c.nullable]
    if not dated:
        return None, "no non-null date or date-time column: unpartitioned"
    dated.sort(key=lambda c: (not PARTITION_HINT.search(c.name), columns.index(c)))
    chosen = dated[0]
    days = pc.count_distinct(pc.utf8_slice_codeunits(table.column(chosen.name), 0, 10)).as_py() or 1
    per_day = table.num_rows / days
    granularity = "day" if per_day >= DAY_PARTITION_ROWS else "month"
    names = {c.name for c in columns}
    name = next(n for n in ("dt", "partition_dt", "dt_") if n not in names)
    evidence = f"{chosen.name}: about {per_day:,.0f} sampled rows a day over {days:,} days, " + (
        "partitioned by day" if granularity == "day" else f"under {DAY_PARTITION_ROWS} a day, so by month"
    )
    return {"column": chosen.name, "granularity": granularity, "name": name}, evidence


def _dynamodb(table: pa.Table, columns: list[ColumnDraft], key: list[str]) -> tuple[bool, str]:
    """False when a sampled row would be over DynamoDB's item limit (estimated as the store rules do)."""
    fixed = ITEM_OVERHEAD + sum(len(c.name.encode()) + FIXED_SIZE.get(c.kind, 0) for c in columns)
    size = np.full(table.num_rows, fixed, dtype=np.int64)
    for c in columns:
        if c.kind == "string":
            lengths = pc.fill_null(pc.binary_length(table.column(c.name)), 0).to_numpy(zero_copy_only=False)
            size += (2 if c.name in key else 1) * np.asarray(lengths, dtype=np.int64)
    largest, mean = int(size.max()), float(size.mean())
    if largest > DYNAMODB_ITEM_LIMIT:
        return False, (
            f"a sampled row would be a {largest:,}-byte item, over DynamoDB's {DYNAMODB_ITEM_LIMIT:,}: "
            "x-dynamodb false (S3 and Athena only)"
        )
    if mean > WIDE_ITEM_BYTES or len(columns) > 100:
        units = int(np.ceil(mean / 1024))
        return True, (
            f"wide rows ({len(columns)} columns, about {mean:,.0f} bytes an item): each DynamoDB write costs about "
            f"{units} write units; set x-dynamodb false if the data is only queried through Athena"
        )
    return True, f"items of about {mean:,.0f} bytes (largest {largest:,}): fine for DynamoDB"


def infer(
    path: Path, dataset: str | None = None, *, head_rows: int = 20_000, blocks: int = 50, block_rows: int = 200
) -> Draft:
    """Draft a contract for ``path`` from its sample."""
    name = dataset or dataset_name(path)
    if not DATASET_NAME.match(name):
        raise SampleError(f"dataset name {name!r} must match {DATASET_NAME.pattern}: pass --dataset")
    sample = read_sample(path, head_rows=head_rows, blocks=blocks, block_rows=block_rows)
    header = sample.header
    if len(header) == 1:
        for delimiter, label in OTHER_DELIMITERS.items():
            if delimiter in header[0]:
                raise SampleError(
                    f"the header looks {label}-delimited ({header[0][:80]!r}); the pipeline reads comma-separated "
                    "files only: convert the file first"
                )
    structural = len(sample.rejects)
    if structural and structural >= max(1, (sample.rows + structural) // 2):
        raise SampleError(
            f"{structural:,} of {sample.rows + structural:,} sampled records do not have the header's "
            f"{len(header)} fields (first: line {sample.rejects[0].line}, {sample.rejects[0].reasons[0]}): "
            "this does not look like comma-separated text with this header"
        )
    mapping = column_names(header)
    names = list(mapping.values())
    table = pa.table(dict(zip(names, sample.table.columns, strict=True)))
    null_values = _null_spellings(table)
    passed, first_bad = _kinds_passed(table, null_values)
    columns = []
    for (source, target), values in zip(mapping.items(), table.columns, strict=True):
        draft = ColumnDraft(source=source.split(":", 1)[1], name=target)
        _describe_column(draft, values, null_values, passed[target], first_bad[target])
        columns.append(draft)
    renamed = {c.source: c.name for c in columns if c.source != c.name}
    key, key_evidence = _primary_key(table, columns)
    partition, partition_evidence = _partition(sample, table, columns)
    dynamodb, dynamodb_evidence = _dynamodb(table, columns, key)
    result = Draft(
        dataset=name,
        file=str(path),
        columns=columns,
        null_values=null_values,
        primary_key=key,
        key_evidence=key_evidence,
        partition=partition,
        partition_evidence=partition_evidence,
        dynamodb=dynamodb,
        dynamodb_evidence=dynamodb_evidence,
        renamed=renamed,
        sample=sample,
    )
    if renamed:
        duplicated = [s for s, n in Counter(header).items() if n > 1]
        result.warnings.append(
            "the pipeline matches a file's header to the contract by name and does not rename columns: files of "
            "this dataset must carry the contract's names in their header"
            + (f" (duplicated: {', '.join(duplicated)})" if duplicated else "")
            + "; `--fixed-copy OUT.csv` writes a copy of this file with that header"
        )
    if structural:
        result.warnings.append(
            f"{structural:,} sampled records cannot be rows whatever the contract (first: line "
            f"{sample.rejects[0].line}, {sample.rejects[0].reasons[0]}); they would be rejected"
        )
    if sample.skipped_blocks:
        result.warnings.append(f"{sample.skipped_blocks} spread blocks were skipped: no record boundary found")
    result.sample_rejects = _self_check(result, table)
    return result


def _self_check(draft: Draft, table: pa.Table) -> dict[str, int]:
    """Validate the sample against the draft itself: which rules (if any) it would still reject rows for."""
    contract = draft.contract()
    parsed = _synthetic_page(table)
    page = apply_store_rules(validate_page(parsed, contract), parsed, contract)
    counts: Counter[str] = Counter()
    for reject in page.rejects:
        counts.update(rule_of(r) for r in reject.reasons)
    return dict(counts)


def fixed_copy(path: Path, draft: Draft, out: Path) -> int:
    """Write ``path`` to ``out`` with the draft's column names as its header (the data bytes unchanged)."""
    import csv
    import gzip
    import io
    import shutil

    from pipeline.tools.schema.sample import read_header

    _, data_start = read_header(path)
    line = io.StringIO()
    csv.writer(line, lineterminator="\n").writerow([c.name for c in draft.columns])
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as source, out.open("wb") as target:
        source.seek(data_start)
        target.write(line.getvalue().encode("utf-8"))
        shutil.copyfileobj(source, target, 1 << 20)
    return out.stat().st_size
