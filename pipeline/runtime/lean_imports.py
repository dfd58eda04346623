"""Keep pandas out of a Lambda process: the runtime never uses it, and pyarrow would import it anyway.

pyarrow checks, on its first array of a process (`pa.array`, `pa.scalar`, a table), whether pandas is
importable and, if it is, imports it (`pyarrow/pandas-shim.pxi`, `_check_import`): about a second of a cold
page on this project's 2-core machine, inside the first page's `validate` stage, in every fresh Lambda worker.
The AWS SDK for pandas layer the functions use for pyarrow ships pandas, and the local cloud's workers see the
development environment's. Measured here: `import pandas` after pyarrow costs 0.32 s of CPU (1.0 s of wall time
under load). Inside a Lambda runtime (`AWS_LAMBDA_FUNCTION_NAME` and `LAMBDA_TASK_ROOT` set, as AWS and
MiniStack set them for a worker) `import pandas` is made to fail with `ImportError`, which pyarrow takes as
"no pandas" and carries on; everywhere else (tests, the CLI) nothing changes.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

HIDDEN = "pandas"


class _Hidden(importlib.abc.MetaPathFinder):
    """Refuses to find pandas, so that importing it raises `ImportError` (`ModuleNotFoundError`)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname == HIDDEN or fullname.startswith(HIDDEN + "."):
            raise ModuleNotFoundError(f"{HIDDEN} is not used inside the pipeline's Lambdas", name=fullname)
        return None


def hide_pandas_in_lambda(environ: os._Environ[str] | dict[str, str] = os.environ) -> bool:
    """Hide pandas from this process when it is a Lambda that has not imported it yet; True when hidden."""
    in_lambda = environ.get("AWS_LAMBDA_FUNCTION_NAME") and environ.get("LAMBDA_TASK_ROOT")
    if not in_lambda or HIDDEN in sys.modules:
        return False
    if not any(isinstance(finder, _Hidden) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Hidden())
    return True
