"""Errors raised while loading or resolving dataset contracts."""

from __future__ import annotations

from pipeline.runtime.errors import TerminalError


class ContractError(TerminalError):
    """A schema file is not a valid dataset contract."""


class UnknownDatasetError(TerminalError):
    """An object key names a dataset that has no schema."""


class ContractChangedError(TerminalError):
    """A job's page met a contract other than the one the job started under (it was redeployed meanwhile)."""

    def __init__(self, dataset: str, started_under: str, current: str) -> None:
        super().__init__(
            f"the contract of dataset {dataset} changed while this job ran (started under {started_under[:8]}, "
            f"this code has {current[:8]}); redrive the job to process it under the new contract"
        )
        self.dataset, self.started_under, self.current = dataset, started_under, current


def check_same_contract(dataset: str, started_under: str | None, current: str) -> None:
    """Raise `ContractChangedError` unless the job's recorded fingerprint is ``current`` (none recorded: a job
    from before fingerprints, accepted)."""
    if started_under and started_under != current:
        raise ContractChangedError(dataset, started_under, current)
