"""Lambda artefacts for AWS: reproducible zips, a dependencies layer from Lambda wheels, what each may import."""

from __future__ import annotations

import ast
import io
import json
import stat
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO

from pipeline.runtime.contract import load_contracts
from pipeline.runtime.contract.loader import source_schemas_dir
from pipeline.tools.deploy import package
from pipeline.tools.deploy.datasets import logical_id
from pipeline.tools.deploy.package import FIXED_TIME, MAX_ZIP_BYTES, PackageError, Platform, build_code_zip, pins

# What a Lambda function can import besides the standard library and our two zips.
LAMBDA_RUNTIME = {"boto3", "botocore", "jmespath", "s3transfer", "urllib3", "dateutil", "six"}
PANDAS_LAYER = {"pandas", "numpy", "pyarrow"}
RUNTIME_DISTRIBUTIONS = {"boto3", "botocore", "jmespath", "s3transfer", "urllib3", "python-dateutil", "six"}
PLATFORM = Platform("python3.12", "x86_64")


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@pytest.fixture(scope="module")
def layer_zips() -> tuple[bytes, bytes]:
    """Two builds of the x86_64 layer: the first may download wheels, the second must come from the cache."""
    cache = package.wheel_cache(PLATFORM)
    try:
        first = package.build_layer_zip(PLATFORM, cache)
    except PackageError as exc:
        if "could not download" in str(exc):
            pytest.skip(f"no package index reachable and no cached wheels: {str(exc)[:200]}")
        raise
    return first, package.build_layer_zip(PLATFORM, cache, offline=True)


@pytest.fixture(scope="module")
def layer(layer_zips) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(layer_zips[0]))


# ------------------------------------------------------------------ zips


def test_deterministic_zip_ignores_input_order_and_fixes_metadata():
    entries = [("b/x.py", b"x = 1\n"), ("a.txt", b"a"), ("b/a.py", b"")]
    data = package.deterministic_zip(entries)
    assert data == package.deterministic_zip(list(reversed(entries)))
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist() == ["a.txt", "b/a.py", "b/x.py"]
    for info in archive.infolist():
        assert info.date_time == FIXED_TIME
        assert info.create_system == 3
        assert info.external_attr >> 16 == stat.S_IFREG | 0o644
        assert info.compress_type == zipfile.ZIP_DEFLATED


def test_code_zip_is_small_and_reproducible():
    first, second = build_code_zip(), build_code_zip()
    assert first == second
    assert len(first) < 1024 * 1024


def test_two_layer_builds_have_the_same_hash(layer_zips):
    first, second = layer_zips
    assert package.Layer(first, PLATFORM).sha256 == package.Layer(second, PLATFORM).sha256
    assert first == second


def test_layer_holds_only_stable_files_under_python(layer):
    names = layer.namelist()
    assert names == sorted(names)
    for name in names:
        assert name.startswith("python/"), name
        assert "__pycache__" not in name and not name.endswith(".pyc"), name
        assert not name.startswith("python/bin/"), name
        assert name.rsplit("/", 1)[-1] not in {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}, name
    assert {info.date_time for info in layer.infolist()} == {FIXED_TIME}


def test_layer_is_built_for_the_lambda_platform(layer):
    names = layer.namelist()
    assert "python/aws_lambda_powertools/__init__.py" in names
    assert "python/aws_xray_sdk/core/__init__.py" in names
    extensions = [n for n in names if n.endswith(".so")]
    assert extensions, "wrapt's C extension is expected"
    assert all("cpython-312-x86_64-linux-gnu" in n for n in extensions), extensions


def test_layer_and_code_are_under_the_size_limit(layer_zips):
    assert len(layer_zips[0]) < MAX_ZIP_BYTES
    assert len(build_code_zip()) < MAX_ZIP_BYTES
    with pytest.raises(PackageError, match="over the"):
        package.check_size("thing", b"x" * 11, limit=10)


def test_layer_dependency_closure_is_pinned(layer):
    """Installed with --no-deps: every requirement of a pinned package is pinned too, or in the runtime."""
    requirements = pytest.importorskip("packaging.requirements")
    pinned = {_norm(name) for name in pins()}
    environment = {"python_version": "3.12", "sys_platform": "linux", "platform_system": "Linux", "extra": ""}
    missing = []
    for name in layer.namelist():
        if not name.endswith(".dist-info/METADATA"):
            continue
        for line in layer.read(name).decode().splitlines():
            if not line.startswith("Requires-Dist:"):
                continue
            requirement = requirements.Requirement(line.removeprefix("Requires-Dist:").strip())
            if requirement.marker and not requirement.marker.evaluate(environment):
                continue
            if _norm(requirement.name) not in pinned | RUNTIME_DISTRIBUTIONS:
                missing.append(f"{name.split('/')[1]} needs {requirement}")
    assert missing == []
    dists = {_norm(n.split("/")[1].split("-")[0]) for n in layer.namelist() if ".dist-info/" in n}
    assert dists == pinned


def test_every_pin_is_exact(tmp_path):
    assert pins() and all(version[0].isdigit() for version in pins().values())
    loose = tmp_path / "req.txt"
    loose.write_text("aws-lambda-powertools>=3\n")
    with pytest.raises(PackageError, match="not pinned"):
        pins(loose)


def test_platforms_map_to_pip_options():
    assert Platform("python3.13", "arm64").pip_platform == "manylinux2014_aarch64"
    assert Platform("python3.13", "arm64").python_version == "3.13"
    assert Platform().pip_platform == "manylinux2014_x86_64"
    with pytest.raises(PackageError):
        Platform("python3.9", "x86_64")


def _top_level_imports(source: bytes) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_bundled_code_imports_only_what_lambda_has(layer):
    """Every import in the code zip (lazy ones included) is stdlib, ours, the runtime, the pandas layer or our layer."""
    ours = {"pipeline", "handlers"}
    layer_packages = {n.split("/")[1].removesuffix(".py") for n in layer.namelist() if ".dist-info" not in n}
    available = set(sys.stdlib_module_names) | ours | LAMBDA_RUNTIME | PANDAS_LAYER | layer_packages
    code = zipfile.ZipFile(io.BytesIO(build_code_zip()))
    problems = [
        f"{name}: {module}"
        for name in code.namelist()
        if name.endswith(".py")
        for module in _top_level_imports(code.read(name))
        if module not in available
    ]
    assert problems == []


# ------------------------------------------------------------------ everything, and the command


def test_build_with_a_platform_adds_the_layer(layer_zips):
    artefacts = package.build(platform=PLATFORM, cache=package.wheel_cache(PLATFORM))
    assert artefacts.layer is not None and artefacts.layer.zip == layer_zips[0]
    assert artefacts.layer.key == f"lambda/deps-python3.12-x86_64-{artefacts.layer.sha256[:20]}.zip"
    files = artefacts.files()
    assert set(files) == {
        artefacts.code_key.removeprefix("lambda/"),
        artefacts.layer.key.removeprefix("lambda/"),
        "batch.asl.json",
        "template.json",
    }
    resources = json.loads(files["template.json"])["Resources"]
    for contract in load_contracts(source_schemas_dir()).values():
        assert resources[logical_id(contract)]["Type"] == "AWS::Glue::Table"
    assert package.build().layer is None  # the local cloud deploys the code zip alone


def test_package_command_writes_and_reports_every_artefact(layer_zips, tmp_path: Path):
    from pipeline.tools.cli.main import cli

    result = CliRunner().invoke(cli, ["package", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["runtime"] == "python3.12" and report["arch"] == "x86_64"
    written = {Path(a["file"]).name: a for a in report["artefacts"]}
    assert len(written) == 4
    for name, entry in written.items():
        data = (tmp_path / name).read_bytes()
        assert entry["bytes"] == len(data) < MAX_ZIP_BYTES
        assert len(entry["sha256"]) == 64
    layer_entry = next(a for name, a in written.items() if name.startswith("deps-"))
    assert layer_entry["sha256"] == package.Layer(layer_zips[0], PLATFORM).sha256


def test_requirements_file_is_not_shipped_in_the_code_zip():
    names = zipfile.ZipFile(io.BytesIO(build_code_zip())).namelist()
    assert not any(n.endswith(".txt") for n in names)
    assert "pipeline/runtime/observability.py" in names
    assert not any(n.startswith(("pipeline/tools/query/", "pipeline/tools/console/")) for n in names)
    assert (REPO / "pipeline" / "tools" / "deploy" / "layer-requirements.txt").is_file()
