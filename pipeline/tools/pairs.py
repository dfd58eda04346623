"""`NAME=VALUE` command-line pairs (`pipeline deploy -p`, `pipeline query -p`) as a dict."""

from __future__ import annotations

from collections.abc import Callable, Iterable


def name_value_pairs(pairs: Iterable[str], refuse: Callable[[str], Exception]) -> dict[str, str]:
    """Each ``NAME=VALUE`` (the name stripped, the value as given; a later name wins); ``refuse(pair)`` is raised
    for a pair without ``=`` or without a name."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise refuse(pair)
        out[name.strip()] = value
    return out
