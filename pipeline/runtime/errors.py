"""Base errors shared by every pipeline package: terminal (a retry cannot help) or transient (it may)."""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""


class TerminalError(PipelineError):
    """Retrying will not help: the input or the configuration is wrong."""


class TransientError(PipelineError):
    """A retry may succeed (throttling, a dependency briefly unavailable)."""
