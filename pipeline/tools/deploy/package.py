"""Build the Lambda artefacts reproducibly: same sources and pins, same bytes, same hash.

Two zips: the code (`handlers/`, `pipeline/runtime/` and the schemas, nothing else), small and rebuilt on every
change, and a dependencies layer (`python/...`) with what neither the Lambda runtime nor the AWS SDK for
pandas managed layer provides, built with pip's platform options from Lambda-compatible wheels.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.runtime.contract.loader import source_schemas_dir
from pipeline.runtime.errors import PipelineError
from pipeline.tools.deploy.cfn_yaml import load_template
from pipeline.tools.deploy.datasets import add_dataset_tables
from pipeline.tools.deploy.functions import expand
from pipeline.tools.schema.metaschema import load_checked_contracts

ROOT = Path(__file__).resolve().parents[3]  # the repository, or the site-packages of a wheel install
SHIPPED = ROOT / "pipeline" / "_shipped"  # a wheel's copy of the top-level deployment data (setup.py)
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
SOURCE_PACKAGES = ("handlers", "pipeline/runtime")  # exactly what ships; operator tools live in pipeline/tools
BUNDLED_SCHEMAS = "pipeline/runtime/_schemas"
REQUIREMENTS = Path(__file__).with_name("layer-requirements.txt")
MAX_ZIP_BYTES = 10 * 1024 * 1024
RUNTIMES = ("python3.12", "python3.13")
ARCHITECTURES = ("x86_64", "arm64")
_PIP_PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
_VARIABLE_DIST_INFO = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


class PackageError(PipelineError):
    """An artefact could not be built, or is too large."""


@dataclass(frozen=True)
class Platform:
    """The Lambda runtime and architecture the dependencies layer is built for."""

    runtime: str = "python3.12"
    arch: str = "x86_64"

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES or self.arch not in ARCHITECTURES:
            raise PackageError(f"unsupported platform {self.runtime}/{self.arch}: use {RUNTIMES} and {ARCHITECTURES}")

    def __str__(self) -> str:
        return f"{self.runtime}/{self.arch}"

    @property
    def python_version(self) -> str:
        return self.runtime.removeprefix("python")

    @property
    def pip_platform(self) -> str:
        return _PIP_PLATFORMS[self.arch]


@dataclass(frozen=True)
class Layer:
    """The dependencies layer zip for one platform."""

    zip: bytes
    platform: Platform
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", hashlib.sha256(self.zip).hexdigest())

    @property
    def key(self) -> str:
        return f"lambda/deps-{self.platform.runtime}-{self.platform.arch}-{self.sha256[:20]}.zip"


@dataclass(frozen=True)
class Artefacts:
    """The built code zip, optional dependencies layer, state machine definitions and packaged template."""

    code_zip: bytes
    code_sha256: str
    definitions: dict[str, bytes]
    template: dict
    layer: Layer | None = None
    contracts: dict = field(default_factory=dict, compare=False)  # the checked contracts bundled in the code zip

    @property
    def code_key(self) -> str:
        return f"lambda/code-{self.code_sha256[:20]}.zip"

    def files(self) -> dict[str, bytes]:
        """Every artefact by file name, as `pipeline package --out` writes them."""
        out = {self.code_key.removeprefix("lambda/"): self.code_zip}
        if self.layer:
            out[self.layer.key.removeprefix("lambda/")] = self.layer.zip
        out.update(self.definitions)
        out["template.json"] = template_body(self.template)
        return out


def data_dir(root: Path, folder: str) -> Path:
    """A top-level deployment data folder (`cloudformation`, `statemachines`) of ``root``: the repository's own,
    or, for this installation outside a checkout, the wheel's copy."""
    in_tree = root / folder
    return SHIPPED / folder if root == ROOT and not in_tree.is_dir() else in_tree


def template_path(root: Path = ROOT) -> Path:
    """The source template (`cloudformation/template.yaml`)."""
    return data_dir(root, "cloudformation") / "template.yaml"


TEMPLATE = template_path()


def template_body(template: dict) -> bytes:
    """The packaged template as the bytes `pipeline deploy` uploads (stable key order)."""
    return json.dumps(template, indent=1, sort_keys=True).encode()


def deterministic_zip(entries: Iterable[tuple[str, bytes]]) -> bytes:
    """A zip of ``entries`` sorted by name, with a fixed timestamp, Unix permissions 0644 and level-9 deflate."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.create_system = 3  # Unix, whatever the building machine
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compresslevel=9)
    return buffer.getvalue()


def _sources(root: Path, schemas: Path) -> list[tuple[str, bytes]]:
    files: list[tuple[str, bytes]] = []
    for package in SOURCE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            files.append((path.relative_to(root).as_posix(), path.read_bytes()))
    for path in sorted(schemas.glob("*.schema.json")):
        files.append((f"{BUNDLED_SCHEMAS}/{path.name}", path.read_bytes()))
    return files


def schemas_of(root: Path) -> Path:
    """The schemas folder a build of ``root`` bundles: `PIPELINE_SCHEMAS_DIR` for this tree, else `<root>/schemas`."""
    return source_schemas_dir() if root == ROOT else root / "schemas"


def build_code_zip(root: Path = ROOT, schemas: Path | None = None) -> bytes:
    """A zip of handlers/, pipeline/runtime/ and the schemas, with fixed timestamps and order."""
    return deterministic_zip(_sources(root, schemas or schemas_of(root)))


# ------------------------------------------------------------------ dependencies layer


def pins(requirements: Path = REQUIREMENTS) -> dict[str, str]:
    """The pinned `name==version` lines of the layer requirements."""
    found: dict[str, str] = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not version.strip():
            raise PackageError(f"{requirements.name}: {line!r} is not pinned with ==")
        found[name.strip()] = version.strip()
    return found


def wheel_cache(platform: Platform) -> Path:
    """Where the platform's wheels are kept between builds (`$PIPELINE_WHEEL_CACHE`, default ~/.cache)."""
    base = os.environ.get("PIPELINE_WHEEL_CACHE") or Path.home() / ".cache" / "s3-csv-pipeline" / "wheels"
    return Path(base) / f"{platform.runtime}-{platform.arch}"


def _pip(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, env=env, check=False)


def _platform_args(platform: Platform) -> list[str]:
    return [
        "--platform",
        platform.pip_platform,
        "--implementation",
        "cp",
        "--python-version",
        platform.python_version,
        "--only-binary=:all:",
        "--no-deps",
    ]


def fetch_wheels(platform: Platform, cache: Path, requirements: Path = REQUIREMENTS) -> None:
    """Download the pinned Lambda-compatible wheels into ``cache`` (needs the package index)."""
    cache.mkdir(parents=True, exist_ok=True)
    done = _pip(["download", *_platform_args(platform), "--dest", str(cache), "-r", str(requirements)])
    if done.returncode:
        raise PackageError(f"pip could not download wheels for {platform}:\n{done.stderr[-2000:]}")


def _install(platform: Platform, cache: Path, target: Path, requirements: Path) -> subprocess.CompletedProcess[str]:
    args = ["install", *_platform_args(platform), "--no-index", "--find-links", str(cache), "--no-compile"]
    return _pip([*args, "--target", str(target), "-r", str(requirements)])


def _layer_entries(site: Path) -> list[tuple[str, bytes]]:
    entries = []
    for path in sorted(site.rglob("*")):
        relative = path.relative_to(site)
        if not path.is_file() or relative.parts[0] == "bin" or "__pycache__" in relative.parts:
            continue
        if path.suffix == ".pyc" or (relative.parts[0].endswith(".dist-info") and path.name in _VARIABLE_DIST_INFO):
            continue
        entries.append((f"python/{relative.as_posix()}", path.read_bytes()))
    return entries


def build_layer_zip(
    platform: Platform, cache: Path | None = None, requirements: Path = REQUIREMENTS, offline: bool = False
) -> bytes:
    """The dependencies layer: the pinned wheels installed for ``platform`` under `python/`, zipped reproducibly.

    Wheels come from ``cache``; missing ones are downloaded first unless ``offline``.
    """
    cache = cache or wheel_cache(platform)
    with tempfile.TemporaryDirectory(prefix="pipeline-layer-") as tmp:
        site = Path(tmp) / "python"
        done = _install(platform, cache, site, requirements) if cache.is_dir() else None
        if done is None or done.returncode:
            if offline:
                raise PackageError(f"wheels for {platform} are not all in {cache}")
            fetch_wheels(platform, cache, requirements)
            done = _install(platform, cache, site, requirements)
        if done.returncode:
            raise PackageError(f"pip could not install the layer for {platform}:\n{done.stderr[-2000:]}")
        return deterministic_zip(_layer_entries(site))


def check_size(name: str, data: bytes, limit: int = MAX_ZIP_BYTES) -> None:
    """Refuse an artefact over ``limit`` bytes zipped."""
    if len(data) > limit:
        raise PackageError(f"{name} is {len(data) / 2**20:.1f} MiB zipped, over the {limit / 2**20:.0f} MiB limit")


# ------------------------------------------------------------------ everything


def expanded_template(root: Path = ROOT) -> dict:
    """The source template with its `Pipeline::Function` and `Pipeline::Alarm` entries rendered (ADR 8)."""
    return expand(load_template(template_path(root)))


def packaged_template(root: Path = ROOT, contracts: dict | None = None) -> dict:
    """The template a deploy sends: expanded, plus one Glue table per checked contract (ADR 2)."""
    if contracts is None:
        contracts = load_checked_contracts(schemas_of(root))
    return add_dataset_tables(expanded_template(root), contracts)


def build(root: Path = ROOT, platform: Platform | None = None, cache: Path | None = None) -> Artefacts:
    """Build every artefact a deployment needs from the working tree; the layer only for a ``platform``.

    Every contract is checked first (keywords, JSON Schema 2020-12 metaschema, pipeline rules): the Lambdas trust
    the bundled copies and never import `jsonschema`.
    """
    schemas = schemas_of(root)
    contracts = load_checked_contracts(schemas)
    code = build_code_zip(root, schemas)
    check_size("code zip", code)
    layer = None
    if platform is not None:
        layer = Layer(build_layer_zip(platform, cache), platform)
        check_size("dependencies layer", layer.zip)
    definitions = {p.name: p.read_bytes() for p in sorted(data_dir(root, "statemachines").glob("*.asl.json"))}
    for body in definitions.values():
        json.loads(body)  # fail early on a broken definition
    template = packaged_template(root, contracts)
    return Artefacts(code, hashlib.sha256(code).hexdigest(), definitions, template, layer, contracts)
