"""`pipeline package` and `pipeline destroy`: build the Lambda artefacts for AWS, and remove a stage."""

from __future__ import annotations

import hashlib
from pathlib import Path

import click

from pipeline.runtime.errors import PipelineError
from pipeline.tools.cli.target import resolve
from pipeline.tools.cli.views import console, err, show_artefacts


@click.command("package")
@click.option("--arch", type=click.Choice(["x86_64", "arm64"]), default="x86_64", show_default=True)
@click.option("--runtime", type=click.Choice(["python3.12", "python3.13"]), default="python3.12", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("dist/lambda"), show_default=True)
@click.option(
    "--template-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Only write the packaged template (JSON, what a deploy sends) to this file; build nothing else.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def package_command(arch: str, runtime: str, out: Path, template_out: Path | None, as_json: bool) -> None:
    """Build the code zip, the dependencies layer, the state machine and the packaged template into --out."""
    from pipeline.tools.deploy import package

    if template_out is not None:  # for cfn-lint and checkov, which must see what is deployed (docs/adr/0008-*)
        body = package.template_body(package.packaged_template())
        template_out.parent.mkdir(parents=True, exist_ok=True)
        template_out.write_bytes(body)
        row = {"file": str(template_out), "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        show_artefacts("template only", runtime, arch, [row], {}, as_json)
        return
    platform = package.Platform(runtime, arch)
    if not as_json:
        err.print(f"building for {platform} (wheels cached in {package.wheel_cache(platform)})")
    artefacts = package.build(platform=platform)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, data in artefacts.files().items():
        (out / name).write_bytes(data)
        rows.append({"file": str(out / name), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    show_artefacts(str(platform), runtime, arch, rows, package.pins(), as_json)


@click.command()
@click.option("--stage", required=True, help="Stage whose stack is deleted.")
@click.option("--local", "use_local", is_flag=True, help="The stage is in the embedded local cloud.")
@click.option("--region", default=None)
@click.option("--profile", default=None)
@click.option(
    "--delete-data",
    "--force",
    "delete_data",
    is_flag=True,
    help="Also delete the data the stack keeps: buckets (every object version), tables and log groups.",
)
def destroy(stage: str, use_local: bool, region: str | None, profile: str | None, delete_data: bool) -> None:
    """Delete a stage's stack; its buckets, tables and log groups stay (and are listed) unless --delete-data."""
    from pipeline.tools.deploy import stack

    cloud = resolve(stage, region, profile, local=use_local)
    if cloud.local and not cloud.local.ready():
        raise PipelineError("the local cloud is not running: run `pipeline local start`")
    stack.destroy(stack.target(cloud.stage), lambda line: err.print(line), delete_data=delete_data)


@click.command()
@click.option("--region", default=None)
@click.option("--profile", default=None)
def bootstrap(region: str | None, profile: str | None) -> None:
    """Create (or update) the permissions boundary of the stacks' roles: once per account, by an administrator."""
    from pipeline.tools.deploy import boundary, stack

    resolve("bootstrap", region, profile)
    tgt = stack.target("bootstrap")
    policy_arn = boundary.ensure(tgt.partition, tgt.account, lambda line: err.print(line))
    console.print(policy_arn)
