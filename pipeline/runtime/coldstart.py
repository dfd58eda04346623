"""What a Lambda execution environment sets up once, before its handler module imports the rest.

pyarrow looks for pandas the first time it converts a Python object (its pandas shim, and the C++ sequence
converter on every `pa.array(list)` until pandas imports): with pandas installed, as it is in the AWS SDK for
pandas layer and in the local cloud's host environment, the first page of every cold worker imports all of
pandas (about 300 ms of CPU, measured in docs/benchmarks.md) and never uses it. The runtime never hands
pyarrow a pandas object, so inside a Lambda the import of pandas fails at once instead. Outside a Lambda (the
CLI, tests, the benchmark's peer) nothing changes.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

HIDDEN = ("pandas",)


class HiddenModules(importlib.abc.MetaPathFinder):
    """A meta path finder that makes importing ``names`` (and their submodules) raise ModuleNotFoundError."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.split(".", 1)[0] in self.names:
            raise ModuleNotFoundError(f"{fullname} is not used by the Lambda runtime", name=fullname)
        return None


def in_lambda(environ: dict[str, str] | None = None) -> bool:
    """True inside a Lambda execution environment (AWS, or a local cloud's worker)."""
    return bool((os.environ if environ is None else environ).get("AWS_LAMBDA_FUNCTION_NAME"))


def prepare(environ: dict[str, str] | None = None) -> bool:
    """Hide pandas from this process when it is a Lambda's and pandas is not imported yet; True if hidden."""
    if not in_lambda(environ) or any(name in sys.modules for name in HIDDEN):
        return False
    if not any(isinstance(finder, HiddenModules) for finder in sys.meta_path):
        sys.meta_path.insert(0, HiddenModules(HIDDEN))
    return True
