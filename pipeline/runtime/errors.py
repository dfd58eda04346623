"""Base errors shared by every pipeline package; each says whether a retry can help."""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""

    transient: bool = False


class TerminalError(PipelineError):
    """Retrying will not help: the input or the configuration is wrong."""


class TransientError(PipelineError):
    """A retry may succeed (throttling, a dependency briefly unavailable)."""

    transient = True
