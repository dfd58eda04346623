"""Cold-start import time of every Lambda handler: the median over fresh interpreter processes."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

import handlers

LIGHT_LIMIT_MS = 300  # handlers that do not touch pandas / pyarrow
HEAVY_LIMIT_MS = 1200  # handlers that run the page code (pyarrow): the page processor, and the upload
HEAVY = ("page_worker", "upload")  # processor, which processes small files inline


def handler_modules() -> list[str]:
    """`handlers.<name>` for every handler module."""
    folder = Path(handlers.__file__).parent
    return sorted(f"handlers.{p.stem}" for p in folder.glob("*.py") if p.stem != "__init__")


def _import_profile(module: str) -> tuple[float, dict[str, float]]:
    """Milliseconds to import ``module`` in a fresh process, and the milliseconds spent in each top-level
    package (own import time of its modules, from -X importtime)."""
    env = {k: v for k, v in os.environ.items() if k != "PIPELINE_CALL_LOG"}
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return parse_importtime(result.stderr, module)


def parse_importtime(stderr: str, module: str) -> tuple[float, dict[str, float]]:
    """From -X importtime output: cumulative ms of ``module`` and own ms by top-level package."""
    total, by_package = 0.0, dict[str, float]()
    for line in stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        own, cumulative, name = int(parts[0]), int(parts[1]), parts[2].strip()
        package = name.split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + own / 1000
        if name == module:
            total = cumulative / 1000
    return total, by_package


def cold_starts(runs: int = 5) -> dict[str, dict[str, object]]:
    """Per handler module: median import milliseconds over ``runs`` fresh processes, its limit, and the
    packages its import spends most time in (last run)."""
    out: dict[str, dict[str, object]] = {}
    for module in handler_modules():
        samples: list[float] = []
        top: dict[str, float] = {}
        for _ in range(runs):
            ms, top = _import_profile(module)
            samples.append(ms)
        heaviest = sorted(top.items(), key=lambda kv: kv[1], reverse=True)[:4]
        name = module.removeprefix("handlers.")
        limit = HEAVY_LIMIT_MS if name in HEAVY else LIGHT_LIMIT_MS
        out[name] = {
            "median_ms": round(statistics.median(samples)),
            "limit_ms": limit,
            "heaviest_imports_ms": {k: round(v) for k, v in heaviest},
        }
    return out
