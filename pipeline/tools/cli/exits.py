"""The exit codes of `pipeline` (docs/cli-conventions.md): scripts branch on them, so each means one thing."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """What a `pipeline` command's exit status says."""

    OK = 0
    ERROR = 1  # the command failed: an AWS error, a bad input file, a job that cannot be reconciled yet ...
    USAGE = 2  # click's own: an unknown option, a missing argument (and `schema check`/`diff`'s findings)
    NOT_COMPLETE = 3  # a job waited for (`ingest --wait`, `redrive --wait`, `sweep --wait`, `bench`) is not COMPLETE
    DISAGREES = 4  # `reconcile`: the job is COMPLETE but its stores disagree with its counts
