"""Build hook: ship the deployment data (template, state machines, schemas) inside the wheel.

The repository keeps them top-level (`cloudformation/`, `statemachines/`, `schemas/`, and
`docs/permissions-boundary.json`); a wheel carries copies
under `pipeline/_shipped/`, where `pipeline package` and `pipeline deploy` find them outside a checkout.
Everything else is in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = {
    "cloudformation": "template.yaml",
    "statemachines": "*.asl.json",
    "schemas": "*.schema.json",
    "docs": "permissions-boundary.json",  # `pipeline deploy`'s IAM permissions boundary
}


class BuildWithShippedData(build_py):
    """`build_py`, then copy the deployment data into the build's `pipeline/_shipped/`."""

    def run(self) -> None:
        super().run()
        for folder, pattern in SHIPPED.items():
            for source in sorted((ROOT / folder).glob(pattern)):
                target = Path(self.build_lib) / "pipeline" / "_shipped" / folder / source.name
                self.mkpath(str(target.parent))
                self.copy_file(str(source), str(target))


setup(cmdclass={"build_py": BuildWithShippedData})
