"""Compaction of a paged job (ADR 10): one row per primary key across pages, the last valid row in file order
winning, few files per partition, superseded rows rejected, DynamoDB fixed, and every step safe to repeat.

The oracle is Python's csv module reading the source file and a dict keyed by primary key, last row winning.
S3, the jobs table and the records table are small in-memory fakes of the calls compaction makes.
"""

from __future__ import annotations

import csv
import io
import json
import random
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import make_contract

from pipeline.runtime.config import Settings
from pipeline.runtime.jobs import compaction
from pipeline.runtime.pages.process import validate_records
from pipeline.runtime.sinks import parquet_format
from pipeline.runtime.sinks.dynamodb import encode_items, record_key
from pipeline.runtime.sinks.key_index import PageIndex, key_index_file, resolve
from pipeline.runtime.sinks.results import partition_files
from pipeline.runtime.sinks.text_format import records, split_line

HEADER = ["id", "day", "v"]
HEADER_LINE = "id,day,v\n"
JOB = "job-1"


def contract(output_format: str = "text"):
    return make_contract(
        {"day": {"type": "string", "format": "date"}, "v": {"type": ["integer", "null"]}},
        required=["day"],
        **{"x-partition": {"column": "day", "granularity": "day", "name": "dt"}, "x-format": output_format},
    )


def source_file(seed: int, rows: int = 400, keys: int = 60, days: int = 5) -> str:
    """A CSV with repeated keys over a few days; some rows invalid (a bad integer) so they never win."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for _ in range(rows):
        value = "oops" if rng.random() < 0.05 else str(rng.randint(0, 999))
        writer.writerow([f"k{rng.randrange(keys)}", f"2026-01-0{1 + rng.randrange(days)}", value])
    return out.getvalue()


def oracle(text: str) -> dict[str, tuple[int, list[str]]]:
    """id -> (line, row) of its last valid row in file order, read by the csv module."""
    last: dict[str, tuple[int, list[str]]] = {}
    for line, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if line > 1 and row[2].lstrip("-").isdigit():
            last[row[0]] = (line, row)
    return last


def pages_of(text: str, page_rows: int) -> list[tuple[int, int, int, bytes]]:
    """(page, first line, start byte, body) of pages of ``page_rows`` records (one line each here)."""
    data = text.encode()
    header_end = data.index(b"\n") + 1
    lines = data[header_end:].splitlines(keepends=True)
    out, offset = [], header_end
    for n, i in enumerate(range(0, len(lines), page_rows), start=1):
        body = b"".join(lines[i : i + page_rows])
        out.append((n, 2 + i, offset, body))
        offset += len(body)
    return out


class Crash(Exception):
    pass


class Writes:
    """Counts every write compaction makes (S3, the jobs table, the records table) and crashes after the n-th."""

    def __init__(self) -> None:
        self.crash_after: int | None = None
        self.calls = 0

    def tick(self) -> None:
        self.calls += 1
        if self.crash_after is not None and self.calls > self.crash_after:
            raise Crash("injected")


WRITES = Writes()


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.uploads: dict[str, list[bytes]] = {}

    def _tick(self) -> None:
        WRITES.tick()

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> None:
        self._tick()
        self.objects[Key] = Body

    def get_object(self, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[Key])}

    def create_multipart_upload(self, Bucket: str, Key: str) -> dict[str, str]:
        self._tick()
        self.uploads[Key] = []
        return {"UploadId": Key}

    def upload_part(self, Bucket: str, Key: str, UploadId: str, PartNumber: int, Body: bytes) -> dict[str, str]:
        self._tick()
        assert PartNumber == len(self.uploads[UploadId]) + 1
        self.uploads[UploadId].append(Body)
        return {"ETag": str(PartNumber)}

    def complete_multipart_upload(self, Bucket: str, Key: str, UploadId: str, MultipartUpload: Any) -> None:
        self._tick()
        assert [p["PartNumber"] for p in MultipartUpload["Parts"]] == list(range(1, len(self.uploads[Key]) + 1))
        self.objects[Key] = b"".join(self.uploads.pop(Key))

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> None:
        self._tick()
        for o in Delete["Objects"]:
            self.objects.pop(o["Key"], None)


class FakeRecords:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def get_item(self, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        item = self.items.get(Key["pk"]["S"])
        return {"Item": item} if item else {}

    def put_item(self, TableName: str, Item: dict[str, Any], ConditionExpression: str, **kw: Any) -> None:
        WRITES.tick()
        held = self.items.get(Item["pk"]["S"], {})
        if held.get("job_id") != kw["ExpressionAttributeValues"][":job"]:
            raise ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "PutItem")
        self.items[Item["pk"]["S"]] = Item


class FakeJobs:
    def __init__(self, job: dict[str, Any], pages: list[dict[str, Any]]) -> None:
        self.job = job
        self.page_items = pages
        self.compacted: dict[str, dict[str, Any]] = {}

    def get(self, job_id: str) -> dict[str, Any]:
        return json.loads(json.dumps(self.job))

    def pages(self, job_id: str) -> list[dict[str, Any]]:
        return self.page_items

    def compactions(self, job_id: str) -> list[dict[str, Any]]:
        return [self.compacted[k] for k in sorted(self.compacted)]

    def record_compaction(self, job_id: str, partition: str, outputs: dict[str, int], replaced: list[str]) -> None:
        WRITES.tick()
        self.compacted[partition] = {"partition": partition, "outputs": outputs, "replaced": replaced}

    def update_job(self, job_id: str, fields: dict[str, Any], *, add=None, condition=None, **_: Any) -> None:
        WRITES.tick()
        if condition and "compaction" in self.job:
            raise ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "UpdateItem")
        self.job.update(json.loads(json.dumps(fields)))
        for name, value in (add or {}).items():
            self.job[name] = self.job.get(name, 0) + value


def run_pages(text: str, page_rows: int, order: list[int] | None = None, output_format: str = "text"):
    """Process the pages as the page workers do (outputs, key indexes, DynamoDB items in ``order``)."""
    c = contract(output_format)
    s3, ddb = FakeS3(), FakeRecords()
    page_items, items_by_page = [], {}
    valid = rejected = 0
    for n, first, start, body in pages_of(text, page_rows):
        page = validate_records(body, HEADER, c, first_line=first)
        files = partition_files(page.table, c, JOB, n)
        s3.objects.update({k: b for k, (b, _) in files.items()})
        index = f"_keys/things/job={JOB}/page-{n:06d}.tsv"
        s3.objects[index] = key_index_file(page.table, page.lines, c)
        items_by_page[n] = [json.loads(t) for t in encode_items(page.table, c, JOB, page.lines).to_pylist()]
        valid, rejected = valid + page.table.num_rows, rejected + len(page.rejects)
        page_items.append(
            {
                "page": n,
                "outputs": {k: r for k, (_, r) in files.items()},
                "key_index_key": index,
                "start": start,
                "end": start + len(body),
                "first_line": first,
            }
        )
    for n in order or sorted(items_by_page):  # the last page processed wrote DynamoDB last
        for item in items_by_page[n]:
            ddb.items[item["pk"]["S"]] = item
    job = {
        "job_id": JOB,
        "dataset": "things",
        "bucket": "in",
        "key": "f.csv",
        "version_id": "v",
        "etag": "e",
        "cursor": {"header": ",".join(HEADER)},
        "rows_valid": valid,
        "rows_rejected": rejected,
    }
    return c, s3, ddb, FakeJobs(job, page_items)


@pytest.fixture
def fakes(monkeypatch):
    state: dict[str, Any] = {}

    def client(name: str) -> Any:
        return {"s3": state["s3"], "dynamodb": state["ddb"]}[name]

    def get_range(bucket, key, *, version_id, etag, start, end=None):
        return io.BytesIO(state["text"].encode()[start:end])

    monkeypatch.setattr(compaction.aws, "client", client)
    monkeypatch.setattr(compaction, "get_range", get_range)
    return state


def table_rows(s3: FakeS3) -> dict[str, list[list[str | None]]]:
    """Every row in the table's prefix, by object key."""
    return {
        k: [split_line(line) for line in records(b.decode())] for k, b in s3.objects.items() if k.startswith("things/")
    }


def settings(**kw: Any) -> Settings:
    return Settings(results_bucket="out", records_table="records", compact_outputs=1, **kw)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("page_rows", [7, 50, 400])
def test_resolution_keeps_the_last_valid_row_of_each_key(seed, page_rows):
    text = source_file(seed)
    c = contract()
    indexes = []
    for n, first, _, body in pages_of(text, page_rows):
        page = validate_records(body, HEADER, c, first_line=first)
        indexes.append(PageIndex.parse(n, key_index_file(page.table, page.lines, c)))
    resolution = resolve(indexes)
    kept = {int(line) for index in indexes for line in index.lines} - set(resolution.superseded)
    expected = oracle(text)
    assert kept == {line for line, _ in expected.values()}
    for line, winner in resolution.superseded.items():
        key = resolution.keys_of[line]
        assert winner == expected[key.split("#", 1)[1]][0]


@pytest.mark.parametrize("seed", range(4))
def test_compaction_gives_one_row_per_key_equal_to_dynamodb(fakes, seed):
    text = source_file(seed)
    c, s3, ddb, jobs = run_pages(text, 37, order=[11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1])  # pages out of order
    fakes.update(s3=s3, ddb=ddb, text=text)
    summary = compaction.compact(jobs, JOB, c, settings())

    expected = oracle(text)
    rows = [row for rs in table_rows(s3).values() for row in rs]
    assert sorted(r[0] for r in rows) == sorted(expected)  # one row per key
    for row in rows:
        line, source = expected[row[0]]
        assert row == [source[0], source[1], source[2]]
        item = ddb.items[record_key("things", [row[0]])]
        assert int(item["line"]["N"]) == line and item["v"]["N"] == source[2]  # DynamoDB equals the winner
    assert all(k.rsplit("/", 1)[1] == f"part-{JOB}-c0000.tsv" for k in table_rows(s3))  # one file per partition
    assert not [k for k in s3.objects if k.startswith("_keys/")]
    assert summary["files"] == len(table_rows(s3)) and summary["superseded"] > 0
    assert list(summary["timings_ms"]) == ["read_indexes", "resolve", "superseded", "dynamodb", "partitions"]
    assert all(ms >= 0 for ms in summary["timings_ms"].values())

    superseded = list(csv.reader(io.StringIO(s3.objects[summary["rejects_key"]].decode())))[1:]
    source_lines = text.split("\n")
    assert len(superseded) == summary["superseded"]
    for line, reason, record in superseded:
        winner = expected[record.split(",")[0]][0]
        assert record == source_lines[int(line) - 1] and f"superseded by line {winner}" in reason
    assert jobs.job["rows_valid"] == len(expected)
    assert jobs.job["rows_valid"] + jobs.job["rows_rejected"] == len(source_lines) - 2  # header, final LF


@pytest.mark.parametrize("seed", range(3))
def test_a_parquet_job_compacts_the_same_way(fakes, seed):
    """The same resolution over Parquet page files: one row per key, the winner's values, one file a day."""
    text = source_file(seed)
    c, s3, ddb, jobs = run_pages(text, 37, order=[11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1], output_format="parquet")
    fakes.update(s3=s3, ddb=ddb, text=text)
    summary = compaction.compact(jobs, JOB, c, settings())

    expected = oracle(text)
    files = {k: parquet_format.read(b) for k, b in s3.objects.items() if k.startswith("things/")}
    assert all(k.rsplit("/", 1)[1] == f"part-{JOB}-c0000.parquet" for k in files)  # one file per partition
    rows = [(k.split("dt=")[1].split("/")[0], r) for k, t in files.items() for r in t.to_pylist()]
    assert sorted(r["id"] for _, r in rows) == sorted(expected)  # one row per key
    for day, row in rows:
        _, source = expected[row["id"]]
        assert [row["id"], day, str(row["v"])] == source
    assert summary["status"] == "DONE" and summary["superseded"] > 0 and summary["files"] == len(files)
    assert jobs.job["rows_valid"] == len(expected) and not [k for k in s3.objects if k.startswith("_keys/")]


@pytest.mark.parametrize("part_bytes", [300, 1 << 20])
@pytest.mark.parametrize(("page_rows", "bound"), [(50, 2000), (200, 2000), (50, 700)])
def test_a_bigger_partition_is_cut_into_files_of_the_size_bound(fakes, monkeypatch, part_bytes, page_rows, bound):
    monkeypatch.setattr(compaction, "PART_BYTES", part_bytes)  # 300: every file a multipart upload
    text = source_file(1, rows=600, keys=400, days=1)
    c, s3, ddb, jobs = run_pages(text, page_rows)  # page files smaller and larger than the bound
    fakes.update(s3=s3, ddb=ddb, text=text)
    summary = compaction.compact(jobs, JOB, c, settings(compact_file_bytes=bound))
    files = {k: b for k, b in s3.objects.items() if k.startswith("things/")}
    assert summary["files"] == len(files) > 1 and max(len(b) for b in files.values()) <= bound
    assert min(len(b) for b in files.values()) > 0
    assert sorted(files) == [f"things/dt=2026-01-01/part-{JOB}-c{n:04d}.tsv" for n in range(len(files))]
    expected = oracle(text)
    rows = [row for k in sorted(files) for row in table_rows(s3)[k]]
    assert sorted(r[0] for r in rows) == sorted(expected)
    assert [r[0] for r in rows] == [r[0] for _, r in sorted(expected.values(), key=lambda lr: lr[0])]  # file order
    assert not s3.uploads


def test_a_crash_at_every_write_then_a_retry_gives_the_same_result(fakes, monkeypatch):
    monkeypatch.setattr(compaction, "PART_BYTES", 500)  # multipart uploads crash half-way too
    text = source_file(3)
    order = [2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 11]
    c, clean_s3, clean_ddb, clean_jobs = run_pages(text, 37, order)
    fakes.update(s3=clean_s3, ddb=clean_ddb, text=text)
    WRITES.calls, WRITES.crash_after = 0, None
    clean = compaction.compact(clean_jobs, JOB, c, settings())
    writes = WRITES.calls
    assert writes > 10 and clean["dynamodb_fixed"] > 0
    for crash_after in range(writes):
        _, s3, ddb, jobs = run_pages(text, 37, order)
        fakes.update(s3=s3, ddb=ddb)
        WRITES.calls, WRITES.crash_after = 0, crash_after
        with pytest.raises(Crash):
            compaction.compact(jobs, JOB, c, settings())
        WRITES.crash_after = None
        first = compaction.compact(jobs, JOB, c, settings())
        after = (dict(s3.objects), json.dumps(ddb.items, sort_keys=True), json.dumps(jobs.job, sort_keys=True))
        again = compaction.compact(jobs, JOB, c, settings())  # a redrive of a finished compaction: no change
        assert again == first
        assert (dict(s3.objects), json.dumps(ddb.items, sort_keys=True), json.dumps(jobs.job, sort_keys=True)) == after
        assert s3.objects == clean_s3.objects, crash_after  # the files, names and bytes of a run that never crashed
        assert ddb.items == clean_ddb.items, crash_after
        assert jobs.job["rows_valid"] == clean_jobs.job["rows_valid"] == len(oracle(text))
        assert jobs.compacted == clean_jobs.compacted


def test_a_page_file_whose_rows_are_all_superseded_leaves_no_empty_file(fakes):
    text = HEADER_LINE + "k1,2026-01-01,1\nk2,2026-01-02,2\nk1,2026-01-03,3\nk2,2026-01-03,4\n"
    c, s3, ddb, jobs = run_pages(text, 2)  # page 1 holds k1 and k2 on days 1 and 2; page 2 both on day 3
    fakes.update(s3=s3, ddb=ddb, text=text)
    summary = compaction.compact(jobs, JOB, c, settings())
    assert sorted(table_rows(s3)) == [f"things/dt=2026-01-03/part-{JOB}-c0000.tsv"]
    assert (summary["partitions"], summary["files"], summary["superseded"]) == (3, 1, 2)
    assert jobs.compacted["things/dt=2026-01-01/"]["outputs"] == {}


def test_a_job_with_a_page_written_without_key_index_is_left_as_it_is(fakes):
    text = source_file(2)
    c, s3, ddb, jobs = run_pages(text, 100)
    del jobs.page_items[1]["key_index_key"]
    fakes.update(s3=s3, ddb=ddb, text=text)
    before = table_rows(s3)
    assert compaction.compact(jobs, JOB, c, settings())["status"] == "SKIPPED"
    assert table_rows(s3) == before  # the page files stay, the key indexes go
    assert not [k for k in s3.objects if k.startswith("_keys/")]


def test_a_budget_that_runs_out_stops_between_partitions_and_the_next_call_resumes(fakes):
    """Each call with too little time left compacts one partition and returns `Unfinished`; calling again until
    done leaves exactly what one call with all the time it needs leaves."""
    text = source_file(4)
    order = [3, 1, 2, 5, 4, 7, 6, 9, 8, 11, 10]
    c, clean_s3, clean_ddb, clean_jobs = run_pages(text, 37, order)
    fakes.update(s3=clean_s3, ddb=clean_ddb, text=text)
    clean = compaction.compact(clean_jobs, JOB, c, settings(), compaction.Budget(lambda: 900.0))
    assert not isinstance(clean, compaction.Unfinished) and clean["partitions"] == 5

    _, s3, ddb, jobs = run_pages(text, 37, order)
    fakes.update(s3=s3, ddb=ddb)
    progress = []
    while True:
        result = compaction.compact(jobs, JOB, c, settings(), compaction.Budget(lambda: 10.0))  # under the reserve
        if not isinstance(result, compaction.Unfinished):
            break
        progress.append((result.compacted, result.partitions))
        assert "compaction" not in jobs.job and len(jobs.compacted) == result.compacted
    assert progress == [(1, 5), (2, 5), (3, 5), (4, 5)]  # one partition a call, never none
    assert result["status"] == "DONE" and result["superseded"] == clean["superseded"]
    assert s3.objects == clean_s3.objects and ddb.items == clean_ddb.items and jobs.compacted == clean_jobs.compacted
    assert jobs.job["rows_valid"] == clean_jobs.job["rows_valid"] == len(oracle(text))


def test_the_budget_keeps_twice_the_slowest_partition_in_reserve():
    left = [100.0]
    budget = compaction.Budget(lambda: left[0])
    assert not budget.exhausted()  # nothing started: the first partition always starts
    budget.started = 1
    assert not budget.exhausted()
    budget.took(55.0)
    budget.took(20.0)
    assert budget.exhausted()  # 100 s left, the slowest partition took 55 s: 110 s in reserve
    left[0] = 111.0
    assert not budget.exhausted()
    left[0] = compaction.MIN_RESERVE_SECONDS - 1
    budget.slowest = 0.0
    assert budget.exhausted()


def test_the_compact_step_of_a_stage_that_does_not_compact_calls_nothing():
    from pipeline.runtime.jobs.job_steps import compact_output

    # no table, no bucket: any call would fail
    assert compact_output("job-1", Settings(compact_outputs=0), lambda: 0.0) == {
        "job_id": "job-1",
        "done": True,
        "status": "OFF",
    }
