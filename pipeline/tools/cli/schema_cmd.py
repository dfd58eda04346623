"""`pipeline schema infer|check|diff`: draft a contract from a file, dry-run it offline, compare it with a stage."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.runtime.errors import PipelineError
from pipeline.tools.cli import views
from pipeline.tools.cli.options import aws_options, json_option, target

FILE = click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
SCHEMAS = click.option(
    "--schemas",
    "schemas_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Schemas folder (default $PIPELINE_SCHEMAS_DIR, else ./schemas, else the shipped ones).",
)
JSON = json_option


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
    views.show_draft(
        draft, path, target, fixed_copy if copied is not None else None, copied, _schemas(schemas_dir), as_json
    )


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
    views.show_check(report, with_lines, as_json)
    sys.exit(1 if report.failed else 2 if report.rows_rejected else 0)


# ------------------------------------------------------------------ diff
@schema.command("diff")
@click.argument("dataset", required=False)
@aws_options
@SCHEMAS
@JSON
def diff_command(dataset: str | None, schemas_dir: Path | None, as_json: bool) -> None:
    """Compare the contracts in the schemas folder with the stage's deployed ones and classify every change.

    Exit status: 0 when `pipeline deploy` would apply every change, 2 when it would refuse some.
    """
    from pipeline.tools.schema.evolve import plan
    from pipeline.tools.schema.metaschema import load_checked_contracts, load_checked_dataset

    folder = _schemas(schemas_dir)
    contracts = {dataset: load_checked_dataset(dataset, folder)} if dataset else load_checked_contracts(folder)
    cloud = target()
    if cloud.local and not cloud.local.running():
        raise PipelineError("the local cloud is not running: run `pipeline local start`")
    diffs = plan(cloud.stack_name, contracts)
    if dataset:
        diffs = [d for d in diffs if d.dataset == dataset]
    views.show_diff(cloud.stage, diffs, as_json)
    sys.exit(2 if any(d.level for d in diffs) else 0)
