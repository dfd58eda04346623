"""The wheel deploys: `pip install .` (not editable) carries the template, state machines and schemas, and its
`pipeline package` builds the same code zip as the repository, from any directory.

The wheel is built as `pip wheel .` builds it (in build isolation: setuptools>=77 comes from the package index
or pip's cache; checkov pins this venv's `packaging` below what that setuptools needs) and installed with
`--no-deps --no-index` into a fresh venv that borrows this venv's site-packages for its dependencies.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from pipeline.tools.deploy import package

REPO = Path(__file__).resolve().parents[4]
# what a wheel is built from (a clean copy: a stale build/ in the checkout cannot leak into it)
BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "pipeline", "handlers",
                "cloudformation", "statemachines", "schemas", "docs/permissions-boundary.json")  # fmt: skip
PLATFORM = package.Platform("python3.12", "x86_64")


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel of this tree installed (not editable); returns its bin folder."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    for name in BUILD_INPUTS:
        path = REPO / name
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "_schemas"))
        else:
            shutil.copy(path, target)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run([*pip, "wheel", str(source), "--no-deps", "-w", str(work / "dist")], cwd=work,
                           capture_output=True, text=True, check=False, timeout=600)  # fmt: skip
    if built.returncode and "setuptools" in built.stderr and "from versions: none" in built.stderr:
        pytest.skip("no package index reachable for the build backend (setuptools>=77)")
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (work / "dist").glob("*.whl")
    target = work / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    _run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)], cwd=work)
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run([str(python), "-c", where], work).stdout.strip())
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return target / "bin"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PIPELINE_SCHEMAS_DIR", "PYTHONPATH")}
    return env | extra


def test_the_installed_package_is_the_wheel_not_this_checkout(installed, tmp_path):
    done = _run([str(installed / "python"), "-c", "import pipeline; print(pipeline.__file__)"], tmp_path, _env())
    location = Path(done.stdout.strip())
    assert REPO not in location.parents and installed.parent in location.parents
    shipped = location.parent / "_shipped"
    assert (shipped / "cloudformation" / "template.yaml").is_file()
    assert sorted(p.name for p in (shipped / "schemas").iterdir()) == sorted(
        p.name for p in (REPO / "schemas").glob("*.schema.json")
    )


def test_package_from_any_directory_builds_what_the_repository_builds(installed, tmp_path):
    if not package.wheel_cache(PLATFORM).is_dir():
        pytest.skip("no cached layer wheels (tests/unit/tools/deploy/test_packaging.py fills the cache)")
    out = tmp_path / "artefacts"
    done = _run([str(installed / "pipeline"), "package", "--out", str(out), "--json"], tmp_path, _env())
    assert "Traceback" not in done.stderr
    expected = package.build(platform=PLATFORM, cache=package.wheel_cache(PLATFORM))  # from the repository
    built = {p.name: p.read_bytes() for p in out.iterdir()}
    assert built == expected.files()  # same code zip (same sha256 in its name), layer, state machine, template
    assert f"code-{expected.code_sha256[:20]}.zip" in built


def test_user_schemas_come_from_the_current_directory(installed, tmp_path):
    project = tmp_path / "project"
    (project / "schemas").mkdir(parents=True)
    document = json.loads((REPO / "schemas" / "orders.schema.json").read_text())
    document["title"] = "my-orders"
    (project / "schemas" / "myorders.schema.json").write_text(json.dumps(document))
    _run([str(installed / "pipeline"), "sample", "orders", "--rows", "200", "--out", "sample.csv"], project, _env())
    done = subprocess.run([str(installed / "pipeline"), "schema", "check", "sample.csv", "--dataset", "myorders",
                           "--json"], cwd=project, env=_env(), capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode in (0, 2), done.stderr  # 2: the sample's deliberate bad rows are rejected
    report = json.loads(done.stdout)
    assert report["dataset"] == "myorders" and report["rows_input"] == 200
    assert report["rows_valid"] + report["rows_rejected"] == 200 and report["status"] != "FAILED"
    missing = subprocess.run([str(installed / "pipeline"), "schema", "check", "sample.csv", "--dataset", "orders"],
                             cwd=project, env=_env(), capture_output=True, text=True, check=False)  # fmt: skip
    assert missing.returncode != 0 and "no schema for dataset 'orders'" in missing.stderr + missing.stdout
    assert "Traceback" not in missing.stderr
    template = tmp_path / "template.json"  # the current directory's contracts are the ones packaged
    _run([str(installed / "pipeline"), "package", "--template-out", str(template)], project, _env())
    tables = [r["Properties"]["TableInput"]["Name"] for r in json.loads(template.read_text())["Resources"].values()
              if r["Type"] == "AWS::Glue::Table"]  # fmt: skip
    assert tables == ["myorders"]
