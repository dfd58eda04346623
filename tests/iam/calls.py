"""The AWS call log written by `pipeline.runtime.aws` when `PIPELINE_CALL_LOG` is set: one JSON object a line."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Call:
    """One API call: the Lambda function that made it (None outside Lambda), service, operation, resource params."""

    function: str | None
    service: str
    operation: str
    params: dict[str, Any] = field(default_factory=dict)


def read_calls(path: Path) -> list[Call]:
    """Every call in the log at ``path`` (a missing file is no calls); a malformed line raises ValueError."""
    if not path.exists():
        return []
    calls = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            calls.append(Call(raw.get("function") or None, raw["service"], raw["operation"], raw.get("params") or {}))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a call record: {line[:200]!r}") from exc
    return calls
