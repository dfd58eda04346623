"""`pipeline schema infer|check|diff`: draft a contract from a file, dry-run it offline, compare it with a stage."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape

from pipeline.cli.views import console, emit_json, mapping_table, rows_table
from pipeline.runtime.errors import PipelineError

FILE = click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
SCHEMAS = click.option(
    "--schemas",
    "schemas_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Schemas folder (default $PIPELINE_SCHEMAS_DIR, else the repository's schemas/).",
)
JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def _schemas(folder: Path | None) -> Path:
    from pipeline.runtime.contract.loader import source_schemas_dir

    return folder or source_schemas_dir()


@click.group("schema")
def schema() -> None:
    """Dataset contracts: draft one from a CSV (infer), dry-run a file (check), compare with a stage (diff)."""


# ------------------------------------------------------------------ infer
@schema.command("infer")
@FILE
@click.option("--dataset", default=None, help="Dataset name (default: from the file name).")
@click.option("--rows", default=20_000, show_default=True, help="Rows read from the start of the file.")
@click.option("--blocks", default=50, show_default=True, help="Blocks of 200 rows sampled through the rest.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the draft here.")
@click.option("--write", is_flag=True, help="Write the draft to <schemas>/<dataset>.schema.json.")
@click.option("--force", is_flag=True, help="Overwrite an existing schema file.")
@click.option(
    "--fixed-copy",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="When columns are renamed, write a copy of the file whose header carries the contract's names.",
)
@SCHEMAS
@JSON
def infer_command(
    path: Path,
    dataset: str | None,
    rows: int,
    blocks: int,
    out: Path | None,
    write: bool,
    force: bool,
    fixed_copy: Path | None,
    schemas_dir: Path | None,
    as_json: bool,
) -> None:
    """Draft a contract from a sample of FILE and show the evidence; writes it only with --out or --write."""
    from pipeline.tools.schema.infer import fixed_copy as write_fixed_copy
    from pipeline.tools.schema.infer import infer

    draft = infer(path, dataset, head_rows=rows, blocks=blocks)
    target = out or (_schemas(schemas_dir) / f"{draft.dataset}.schema.json" if write else None)
    if target is not None and target.name != f"{draft.dataset}.schema.json":
        raise PipelineError(
            f"a contract of dataset {draft.dataset!r} is loaded from {draft.dataset}.schema.json, "
            f"not {target.name}: name the file so, or pass --dataset"
        )
    if target is not None:
        if target.exists() and not force:
            raise PipelineError(f"{target} exists: pass --force to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(draft.text(), encoding="utf-8")
    copied = write_fixed_copy(path, draft, fixed_copy) if fixed_copy and draft.renamed else None
    if as_json:
        emit_json(
            {
                "dataset": draft.dataset,
                "contract": draft.document(),
                "columns": [
                    {
                        "column": c.name,
                        "header": c.source,
                        "type": c.spec()["type"],
                        "nulls": c.nulls,
                        "distinct": c.distinct,
                        "examples": c.examples,
                        "why": c.why,
                    }
                    for c in draft.columns
                ],
                "sampled_rows": draft.sample.rows,
                "estimated_rows": draft.sample.estimated_rows,
                "primary_key": {"columns": draft.primary_key, "evidence": draft.key_evidence},
                "partition": {"spec": draft.partition, "evidence": draft.partition_evidence},
                "dynamodb": {"store": draft.dynamodb, "evidence": draft.dynamodb_evidence},
                "renamed": draft.renamed,
                "warnings": draft.warnings,
                "sample_rejects": draft.sample_rejects,
                "written": str(target) if target else None,
                "fixed_copy": str(fixed_copy) if copied is not None else None,
            }
        )
        return
    sample = draft.sample
    seen = (
        f"all {sample.head_rows:,} rows"
        if sample.complete
        else f"{sample.rows:,} rows: the first {sample.head_rows:,} and {sample.spread_rows:,} from "
        f"{sample.spread_blocks} blocks spread through the file (about {sample.estimated_rows:,} rows in all)"
    )
    table = rows_table(
        ["column", "type", "nulls", "distinct", "examples", "why"],
        [
            (
                c.name if c.name == c.source else f"{c.name} (header: {c.source!r})",
                _type_label(c),
                f"{c.nulls:,}",
                f"{c.distinct:,}",
                ", ".join(repr(e)[:30] for e in c.examples),
                c.why,
            )
            for c in draft.columns
        ],
        f"Draft contract for dataset {draft.dataset!r}, from {seen}",
    )
    console.print(table)
    console.print(f"[bold]primary key[/] {', '.join(draft.primary_key)}: {escape(draft.key_evidence)}")
    partition = draft.partition
    label = f"{partition['column']} by {partition['granularity']} as {partition['name']}=" if partition else "none"
    console.print(f"[bold]partition[/] {label}: {escape(draft.partition_evidence)}")
    console.print(f"[bold]DynamoDB[/] {'yes' if draft.dynamodb else 'no'}: {escape(draft.dynamodb_evidence)}")
    console.print(f"[bold]null spellings seen[/] {draft.null_values}")
    if draft.renamed:
        console.print(
            rows_table(["header name", "column"], list(draft.renamed.items()), "Renamed (not valid Athena/Glue names)")
        )
        console.print("header the files must carry: " + escape(",".join(c.name for c in draft.columns)))
    for warning in draft.warnings:
        console.print(f"[yellow]![/] {escape(warning)}")
    if draft.sample_rejects:
        console.print(
            "[yellow]![/] the draft still rejects sampled rows: "
            + escape("; ".join(f"{rule} ({n:,})" for rule, n in draft.sample_rejects.items()))
        )
    if copied is not None:
        console.print(f"wrote {fixed_copy} ({copied:,} bytes) with the contract's header")
    if target is not None:
        where = "" if target.parent == _schemas(schemas_dir) else f" --schemas {target.parent}"
        checked = fixed_copy if copied is not None else path
        console.print(f"wrote {target}; next: pipeline schema check {checked} --dataset {draft.dataset}{where}")
    else:
        console.print(
            f"nothing written: pass --write (to {_schemas(schemas_dir) / (draft.dataset + '.schema.json')}) "
            "or --out PATH"
        )


def _type_label(column) -> str:
    from pipeline.tools.schema.infer import KIND_LABEL

    label = KIND_LABEL.get(column.kind, column.kind)
    if column.with_offset is False:
        label += " (no offset)"
    if column.enum is not None:
        label += f" enum({len(column.enum)})"
    elif column.max_length is not None:
        label += f" ≤{column.max_length}"
    return label + (" | null" if column.nullable else "")


# ------------------------------------------------------------------ check
@schema.command("check")
@FILE
@click.option("--dataset", required=True, help="Dataset whose contract the file is checked against.")
@click.option("--page-rows", type=int, default=None, help="Rows per page when paged (default: the template's).")
@click.option(
    "--inline-max-bytes", type=int, default=None, help="Files up to this size are one page (default: the template's)."
)
@click.option("--lines", "with_lines", is_flag=True, help="With --json: every rejected line and its reasons.")
@SCHEMAS
@JSON
def check_command(
    path: Path,
    dataset: str,
    page_rows: int | None,
    inline_max_bytes: int | None,
    with_lines: bool,
    schemas_dir: Path | None,
    as_json: bool,
) -> None:
    """Run FILE through the pipeline's page code with no cloud: valid, rejected, partitions, DynamoDB keys.

    Exit status: 0 every row valid, 2 some rows rejected, 1 the file itself would fail.
    """
    from pipeline.tools.schema.check import Paging, check_file, default_paging
    from pipeline.tools.schema.metaschema import load_checked_dataset

    contract = load_checked_dataset(dataset, _schemas(schemas_dir))
    defaults = default_paging()
    paging = Paging(
        defaults.inline_max_bytes if inline_max_bytes is None else inline_max_bytes, page_rows or defaults.page_rows
    )
    report = check_file(path, contract, paging, keep_lines=with_lines)
    if as_json:
        emit_json(report.as_dict(lines=with_lines))
    else:
        _print_check(report)
    sys.exit(1 if report.failed else 2 if report.rows_rejected else 0)


def _print_check(report) -> None:
    summary = {
        "file": report.file,
        "dataset": report.dataset,
        "contract": report.contract,
        "status": report.status,
        "mode": f"{report.mode}, {report.pages} page(s)",
        "rows": f"{report.rows_input:,} in, {report.rows_valid:,} valid, {report.rows_rejected:,} rejected",
        "seconds": f"{report.seconds:.2f}",
    }
    if report.failed:
        summary["cause"] = report.failed
    console.print(mapping_table(summary, "What the pipeline would do"))
    if report.rejects:
        console.print(
            rows_table(
                ["rule", "records", "first lines", "first record"],
                [
                    (
                        r.rule,
                        f"{r.count:,}",
                        ", ".join(str(e["line"]) for e in r.examples),
                        repr(r.examples[0]["record"])[:80],
                    )
                    for r in sorted(report.rejects.values(), key=lambda r: -r.count)
                ],
                "Rejects by rule (a record breaking several rules counts under each)",
            )
        )
    if report.partitions:
        shown = list(report.partitions.items())
        rows = [(value or "(unpartitioned)", f"{count:,}") for value, count in shown[:20]]
        if len(shown) > 20:
            rows.append((f"... and {len(shown) - 20} more", f"{sum(c for _, c in shown[20:]):,}"))
        console.print(rows_table(["partition", "rows"], rows, f"Partitions written ({len(shown)})"))
    if report.store_in_dynamodb and report.rows_valid:
        console.print(
            f"DynamoDB: {report.dynamodb_items:,} items written, {report.dynamodb_distinct_keys:,} distinct keys; "
            f"first keys: {', '.join(report.dynamodb_key_examples)}"
        )
    elif not report.store_in_dynamodb:
        console.print("DynamoDB: not stored (x-dynamodb false)")


# ------------------------------------------------------------------ diff
@schema.command("diff")
@click.argument("dataset", required=False)
@click.option("--stage", default=None, help="AWS stage to compare with; omit for the embedded local cloud.")
@SCHEMAS
@JSON
def diff_command(dataset: str | None, stage: str | None, schemas_dir: Path | None, as_json: bool) -> None:
    """Compare the contracts in the schemas folder with the stage's deployed ones and classify every change.

    Exit status: 0 when `pipeline deploy` would apply every change, 2 when it would refuse some.
    """
    from pipeline.cli.target import resolve
    from pipeline.tools.schema.diff import Level
    from pipeline.tools.schema.evolve import plan
    from pipeline.tools.schema.metaschema import load_checked_contracts, load_checked_dataset

    folder = _schemas(schemas_dir)
    contracts = {dataset: load_checked_dataset(dataset, folder)} if dataset else load_checked_contracts(folder)
    cloud = resolve(stage)
    if cloud.local and not cloud.local.running():
        raise PipelineError("the local cloud is not running: run `pipeline local start`")
    diffs = plan(cloud.stack_name, contracts)
    if dataset:
        diffs = [d for d in diffs if d.dataset == dataset]
    if as_json:
        emit_json(
            {
                "stage": cloud.stage,
                "deployed": bool(diffs),
                "datasets": [
                    {
                        "dataset": d.dataset,
                        "status": d.status,
                        "level": str(d.level),
                        "ways_forward": d.ways_forward(),
                        "changes": [c.as_dict() for c in d.changes],
                    }
                    for d in diffs
                ],
            }
        )
    elif not diffs:
        console.print(f"stage {cloud.stage} has no stack yet: every dataset is new")
    else:
        rows = [(d.dataset, c.column or "", c.what, str(c.level), c.detail) for d in diffs for c in d.changes]
        console.print(
            rows_table(["dataset", "column", "change", "level", "detail"], rows, f"Contracts vs {cloud.stage}")
        )
        for d in diffs:
            verdict = {
                Level.SAFE: "[green]applied by deploy[/]",
                Level.STRICTER: "[yellow]refused unless allowed[/]",
                Level.UNSAFE: "[red]refused[/]",
            }[d.level]
            console.print(f"{d.dataset} ({d.status}): {verdict}" + (f": {escape(d.ways_forward())}" if d.level else ""))
    sys.exit(2 if any(d.level for d in diffs) else 0)
