"""Build the Lambda code artefact reproducibly: same sources, same bytes, same hash."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.contract import load_contracts
from pipeline.deploy.cfn_yaml import load_template
from pipeline.deploy.datasets import add_dataset_tables

ROOT = Path(__file__).resolve().parents[2]
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
SOURCE_PACKAGES = ("handlers", "pipeline")
EXCLUDED_PARTS = {"__pycache__", "cli", "local", "deploy", "sample", "bench"}


@dataclass(frozen=True)
class Artefacts:
    """The built code zip, state machine definition and packaged template, with their content hashes."""

    code_zip: bytes
    code_sha256: str
    definitions: dict[str, bytes]
    template: dict

    @property
    def code_key(self) -> str:
        return f"lambda/code-{self.code_sha256[:20]}.zip"


def _sources(root: Path) -> list[tuple[str, bytes]]:
    files: list[tuple[str, bytes]] = []
    for package in SOURCE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            if EXCLUDED_PARTS & set(relative.parts[1:-1]):
                continue
            files.append((relative.as_posix(), path.read_bytes()))
    for path in sorted((root / "schemas").glob("*.schema.json")):
        files.append((f"pipeline/_schemas/{path.name}", path.read_bytes()))
    return files


def build_code_zip(root: Path = ROOT) -> bytes:
    """A zip of handlers/, the runtime parts of pipeline/ and the schemas, with fixed timestamps and order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in _sources(root):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def build(root: Path = ROOT) -> Artefacts:
    """Build every artefact a deployment needs from the working tree."""
    code = build_code_zip(root)
    definitions = {p.name: p.read_bytes() for p in sorted((root / "statemachines").glob("*.asl.json"))}
    for body in definitions.values():
        json.loads(body)  # fail early on a broken definition
    template = add_dataset_tables(
        load_template(root / "cloudformation" / "template.yaml"), load_contracts(root / "schemas")
    )
    return Artefacts(code, hashlib.sha256(code).hexdigest(), definitions, template)
