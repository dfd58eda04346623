"""Replace one MiniStack function by our wrapper of it, once, where MiniStack looks it up at call time."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any


def replace(module: ModuleType, name: str, wrap: Callable[[Any], Any], marker: str) -> bool:
    """Set ``module.<name>`` to ``wrap(original)``, marked with ``marker`` and ``__wrapped__`` (the original).

    Idempotent: a function carrying ``marker``, or wrapping one that does (two adaptations may wrap the same
    function, `_table_relation` say, in either order), is left alone (False is returned).
    """
    original = getattr(module, name)
    if wrapped_by(original, marker):
        return False
    wrapper = wrap(original)
    setattr(wrapper, marker, True)
    setattr(wrapper, "__wrapped__", original)  # noqa: B010  (the original, for the wrapper and for tests)
    setattr(module, name, wrapper)
    return True


def wrapped_by(function: Any, marker: str) -> bool:
    """Whether ``function`` or one it wraps (`__wrapped__`, all the way down) carries ``marker``."""
    while function is not None:
        if getattr(function, marker, False):
            return True
        function = getattr(function, "__wrapped__", None)
    return False
