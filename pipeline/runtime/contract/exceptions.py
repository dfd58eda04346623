"""Errors raised while loading or resolving dataset contracts."""

from __future__ import annotations

from pipeline.runtime.errors import TerminalError


class ContractError(TerminalError):
    """A schema file is not a valid dataset contract."""


class UnknownDatasetError(TerminalError):
    """An object key names a dataset that has no schema."""
