"""`pipeline schema infer`: drafts decided by the validator itself, so `check` on the same file rejects nothing."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.runtime.errors import TerminalError
from pipeline.tools.cli.main import cli
from pipeline.tools.schema.check import Paging, check_file
from pipeline.tools.schema.infer import ENUM_MAX, infer
from pipeline.tools.schema.sample import read_sample

WHOLE = Paging(inline_max_bytes=1 << 40, page_rows=50_000)


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _kinds(draft) -> dict[str, tuple[str, bool]]:
    return {c.name: (c.kind, c.nullable) for c in draft.columns}


# ------------------------------------------------------------------ types, nulls, rules


def test_each_column_gets_the_tightest_type_every_value_meets(tmp_path):
    header = ["id", "flag", "bit", "zip", "big", "qty", "price", "day", "at", "local", "slashed", "word"]
    rows = [
        [f"K{i}", ["yes", "no"][i % 2], str(i % 2), f"{i:05d}", str(2**63 + i), str(i - 5), f"{i}.25",
         f"2024-02-{i % 28 + 1:02d}", f"2024-03-01T10:00:{i % 60:02d}Z", f"2024-03-01 10:00:{i % 60:02d}",
         f"2024/03/{i % 28 + 1:02d}", f"w{i}"]
        for i in range(40)
    ]  # fmt: skip
    draft = infer(_write(tmp_path / "types.csv", header, rows))
    assert _kinds(draft) == {
        "id": ("string", False),
        "flag": ("boolean", False),
        "bit": ("integer", False),  # 0/1 without a word stays an integer
        "zip": ("string", False),  # leading zeros kept
        "big": ("string", False),  # beyond 64 bits: kept as text, no digit lost
        "qty": ("integer", False),
        "price": ("number", False),
        "day": ("date", False),
        "at": ("timestamp", False),
        "local": ("timestamp", False),
        "slashed": ("string", False),
        "word": ("string", False),
    }
    why = {c.name: c.why for c in draft.columns}
    assert "leading zeros" in why["zip"] and "64 bits" in why["big"] and "YYYY-MM-DD only" in why["slashed"]
    assert "with an offset" in why["at"] and "without offset" in why["local"]
    assert check_file(draft.file and Path(draft.file), draft.contract(), WHOLE).rows_rejected == 0


def test_nulls_spellings_enum_and_max_length(tmp_path):
    rows = [
        [str(i), ["red", "green", "blue"][i % 3], "NA" if i % 7 == 0 else str(i), "x" * (i % 37)] for i in range(300)
    ]
    draft = infer(_write(tmp_path / "n.csv", ["id", "colour", "score", "note"], rows))
    colour, score, note = draft.columns[1:]
    assert colour.enum == ["blue", "green", "red"] and colour.max_length is None
    assert (score.kind, score.nullable, score.nulls) == ("integer", True, 43)
    assert draft.null_values == ["", "NA"]  # "" is null in every column; NA was seen
    assert note.nullable and note.max_length == 50 and note.longest == 36
    document = draft.document()
    assert document["properties"]["score"]["type"] == ["integer", "null"]
    assert document["x-null-values"] == ["", "NA"]
    assert check_file(Path(draft.file), draft.contract(), WHOLE).rows_rejected == 0


def test_enum_only_for_repeated_low_cardinality_text(tmp_path):
    few = [[str(i), f"v{i % (ENUM_MAX + 1)}"] for i in range(1000)]
    assert infer(_write(tmp_path / "a.csv", ["id", "v"], few)).columns[1].enum is None  # 21 distinct: too many
    rare = [[str(i), f"v{i % 5}"] for i in range(20)]
    assert infer(_write(tmp_path / "b.csv", ["id", "v"], rare)).columns[1].enum is None  # seen 4 times each


# ------------------------------------------------------------------ key, partition, DynamoDB


def test_primary_key_single_then_composite_then_evidence_of_duplicates(tmp_path):
    single = infer(_write(tmp_path / "s.csv", ["n", "order_id"], [[str(i % 3), f"O{i}"] for i in range(30)]))
    assert single.primary_key == ["order_id"] and "unique in all 30 sampled rows" in single.key_evidence
    pairs = [[f"s{i // 10}", str(i % 10), "x"] for i in range(50)]
    composite = infer(_write(tmp_path / "c.csv", ["store", "day", "v"], pairs))
    assert composite.primary_key == ["store", "day"] and "no single column is unique" in composite.key_evidence
    dupes = infer(_write(tmp_path / "d.csv", ["a", "b"], [["x", "y"]] * 5 + [["x", "z"]]))
    assert "would be rejected as duplicates" in dupes.key_evidence
    assert dupes.sample_rejects == {"a, b: duplicate primary key": 4}


def test_partition_by_day_or_month_from_rows_a_day(tmp_path):
    busy = [[str(i), f"2024-01-{i % 3 + 1:02d}"] for i in range(600)]
    assert infer(_write(tmp_path / "busy.csv", ["id", "sold_on"], busy)).partition == {
        "column": "sold_on", "granularity": "day", "name": "dt"
    }  # fmt: skip
    sparse = [[str(i), f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}"] for i in range(100)]
    assert infer(_write(tmp_path / "sparse.csv", ["id", "sold_on"], sparse)).partition["granularity"] == "month"


def test_rows_over_the_dynamodb_item_limit_turn_dynamodb_off(tmp_path):
    draft = infer(_write(tmp_path / "wide.csv", ["id", "blob"], [["1", "x" * 500_000], ["2", "y"]]))
    assert draft.dynamodb is False and "over DynamoDB" in draft.dynamodb_evidence
    assert draft.document()["x-dynamodb"] is False and draft.columns[1].max_length == 500_000


# ------------------------------------------------------------------ sampling


def test_a_large_file_is_sampled_at_its_start_and_spread_through_it(tmp_path):
    rows = [[str(i), str(i * 3), '"quoted,\nlines"' if i % 5 == 0 else "plain"] for i in range(60_000)]
    rows[45_000][1] = "NULL"  # only a spread block can see it
    path = _write(tmp_path / "big.csv", ["id", "n", "text"], rows)
    sample = read_sample(path, head_rows=5_000, blocks=40, block_rows=200)
    assert not sample.complete and sample.head_rows == 5_000
    assert sample.spread_blocks == 40 and sample.skipped_blocks == 0 and sample.spread_rows > 5_000
    assert not sample.rejects  # every spread block started on a true record boundary despite the quoted newlines
    assert 50_000 < sample.estimated_rows < 70_000
    draft = infer(path, head_rows=5_000, blocks=200)
    assert _kinds(draft)["n"] == ("integer", True)


def test_a_gzip_file_is_read_through_and_named_without_its_suffixes(tmp_path):
    path = tmp_path / "Sales 2024.csv.gz"
    path.write_bytes(gzip.compress(b"id,amount\n1,2.5\n2,3\n"))
    draft = infer(path)
    assert draft.dataset == "sales_2024" and _kinds(draft)["amount"] == ("number", False)


# ------------------------------------------------------------------ bad input: clear messages, no tracebacks


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"id,name\n", "the file has a header but no rows"),
        (b"\xffid,n\xe9\n1,2\n", "the header is not valid UTF-8"),
        ("id,name\n1,x\n".encode("utf-16"), "it looks like UTF-16 text"),
        (b"PK\x03\x04rest of a zip", "it looks like a zip archive"),
        (b"id;name;price\n1;a;2\n", "the header looks semicolon-delimited"),
        (b'{"a": 1, "b": [1, 2, 3]}\n{"a": 2}\n{"a": 3, "c": 4}\n', "does not look like comma-separated text"),
    ],
)
def test_a_file_that_cannot_be_drafted_gets_one_clear_line(tmp_path, content, message):
    path = tmp_path / "input.csv"
    path.write_bytes(content)
    with pytest.raises(TerminalError, match=message):  # SampleError, or the header check's own HeaderError
        infer(path)
    result = CliRunner().invoke(cli, ["schema", "infer", str(path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert message in " ".join(result.output.split())


def test_bad_column_names_are_renamed_with_the_mapping_and_a_fixed_copy(tmp_path):
    source = _write(
        tmp_path / "raw.csv",
        ["Sample Number", "Culmen Length (mm)", "", "score", "score", "1960"],
        [[str(i), "39.1", "x", "1", "2", "3"] for i in range(5)],
    )
    draft = infer(source)
    names = [c.name for c in draft.columns]
    assert names == ["sample_number", "culmen_length_mm", "column_3", "score", "score_2", "c_1960"]
    assert draft.renamed == {"Sample Number": "sample_number", "Culmen Length (mm)": "culmen_length_mm",
                             "": "column_3", "1960": "c_1960"} | {"score": "score_2"}  # fmt: skip
    assert any("does not rename columns" in w and "duplicated: score" in w for w in draft.warnings)
    schemas = tmp_path / "schemas"
    fixed = tmp_path / "fixed.csv"
    result = CliRunner().invoke(
        cli, ["schema", "infer", str(source), "--write", "--schemas", str(schemas), "--fixed-copy", str(fixed)]
    )
    assert result.exit_code == 0, result.output
    assert "header the files must carry" in result.output and "culmen_length_mm" in result.output
    assert fixed.read_text().splitlines()[0] == ",".join(names)
    assert fixed.read_text().splitlines()[1:] == source.read_text().splitlines()[1:]
    check = CliRunner().invoke(cli, ["schema", "check", str(fixed), "--dataset", "raw", "--schemas", str(schemas)])
    assert check.exit_code == 0, check.output
    refused = CliRunner().invoke(cli, ["schema", "check", str(source), "--dataset", "raw", "--schemas", str(schemas)])
    assert refused.exit_code == 1 and "header does not match dataset 'raw'" in " ".join(refused.output.split())


def test_the_draft_is_written_only_when_asked_and_never_over_a_file(tmp_path):
    source = _write(tmp_path / "things.csv", ["id"], [["a"], ["b"]])
    schemas = tmp_path / "schemas"
    shown = CliRunner().invoke(cli, ["schema", "infer", str(source), "--schemas", str(schemas)])
    assert shown.exit_code == 0 and "nothing written" in shown.output and not schemas.exists()
    as_json = CliRunner().invoke(cli, ["schema", "infer", str(source), "--json", "--write", "--schemas", str(schemas)])
    report = json.loads(as_json.stdout)
    assert report["contract"]["x-primary-key"] == ["id"] and report["written"] == str(schemas / "things.schema.json")
    again = CliRunner().invoke(cli, ["schema", "infer", str(source), "--write", "--schemas", str(schemas)])
    assert again.exit_code == 1 and "exists: pass --force" in again.output


# ------------------------------------------------------------------ the property: check agrees with infer

_VALUES = st.sampled_from(
    ["0", "1", "01", "-7", "+3", "9223372036854775807", "9223372036854775808", "1.5", ".5", "1e5", "1E-3", "inf",
     "true", "False", "yes", "N", "2024-02-29", "2023-02-29", "2024-13-01", "0001-01-01", "2024-01-01T00:00:00Z",
     "2024-01-01 23:59:59.123456", "2024-01-01T24:00:00", "2024-01-01T10:00:00+05:30", "2024-01-01T10:00:00+25:00",
     "NA", "", "NULL", "null", "x", "a,b", 'say "hi"', "two\nlines", "  padded  ", "é"]
)  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(_VALUES, min_size=4, max_size=4), min_size=1, max_size=30))
def test_check_rejects_nothing_on_the_file_a_draft_was_made_from(tmp_path, rows):
    """Whatever the values, the drafted rules are the validator's own: the same file passes them all."""
    path = _write(tmp_path / "gen.csv", ["row_id", "a", "b", "c", "d"], [[str(i), *r] for i, r in enumerate(rows)])
    draft = infer(path)
    report = check_file(path, draft.contract(), WHOLE)
    assert (report.rows_rejected, report.failed) == (0, None), (draft.document(), report.rejects)
    assert report.rows_valid == len(rows)


def test_check_of_the_inferred_orders_sample_matches_the_sample_itself(tmp_path):
    from pipeline.tools.sample import write_orders

    path = tmp_path / "orders.csv"
    write_orders(path, 3_000, seed=5, start_id=1)
    draft = infer(path, "orders_draft")
    assert draft.sample_rejects == {} or set(draft.sample_rejects) <= {"order_id, order_ts: duplicate primary key"}
    report = check_file(path, draft.contract(), WHOLE)
    assert report.rows_rejected == sum(draft.sample_rejects.values())
    buffer = io.StringIO(draft.text())
    assert json.load(buffer)["$schema"] == "https://json-schema.org/draft/2020-12/schema"
