"""`pipeline package` and `pipeline destroy`: build the Lambda artefacts for AWS, and remove a stage."""

from __future__ import annotations

import hashlib
from pathlib import Path

import click

from pipeline.cli.target import resolve
from pipeline.cli.views import console, emit_json, err, rows_table
from pipeline.errors import PipelineError


@click.command("package")
@click.option("--arch", type=click.Choice(["x86_64", "arm64"]), default="x86_64", show_default=True)
@click.option("--runtime", type=click.Choice(["python3.12", "python3.13"]), default="python3.12", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("dist/lambda"), show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def package_command(arch: str, runtime: str, out: Path, as_json: bool) -> None:
    """Build the code zip, the dependencies layer, the state machine and the packaged template into --out."""
    from pipeline.deploy import package

    platform = package.Platform(runtime, arch)
    if not as_json:
        err.print(f"building for {platform} (wheels cached in {package.wheel_cache(platform)})")
    artefacts = package.build(platform=platform)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, data in artefacts.files().items():
        (out / name).write_bytes(data)
        rows.append({"file": str(out / name), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    if as_json:
        emit_json({"runtime": runtime, "arch": arch, "pins": package.pins(), "artefacts": rows})
        return
    table = rows_table(
        ["artefact", "size", "sha256"],
        [(r["file"], f"{r['bytes'] / 1024:,.1f} KiB", r["sha256"]) for r in rows],
        f"Lambda artefacts for {platform}",
    )
    console.print(table)
    console.print("layer pins: " + ", ".join(f"{k}=={v}" for k, v in package.pins().items()))


@click.command()
@click.option("--stage", required=True, help="Stage whose stack is deleted.")
@click.option("--local", "use_local", is_flag=True, help="The stage is in the embedded local cloud.")
@click.option("--region", default=None)
@click.option("--profile", default=None)
@click.option("--force", is_flag=True, help="Empty the stage's buckets (every object version) before deleting.")
def destroy(stage: str, use_local: bool, region: str | None, profile: str | None, force: bool) -> None:
    """Delete a stage's stack; refuses while its buckets hold data unless --force."""
    from pipeline.deploy import stack

    cloud = resolve(stage, region, profile, local=use_local)
    if cloud.local and not cloud.local.ready():
        raise PipelineError("the local cloud is not running: run `pipeline local start`")
    stack.destroy(stack.target(cloud.stage), lambda line: err.print(line), force=force)
