"""Replace one MiniStack function by our wrapper of it, once, where MiniStack looks it up at call time."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any


def replace(module: ModuleType, name: str, wrap: Callable[[Any], Any], marker: str) -> bool:
    """Set ``module.<name>`` to ``wrap(original)``, marked with ``marker`` and ``__wrapped__`` (the original).

    Idempotent: a function already carrying ``marker`` is left alone (False is returned).
    """
    original = getattr(module, name)
    if getattr(original, marker, False):
        return False
    wrapper = wrap(original)
    setattr(wrapper, marker, True)
    setattr(wrapper, "__wrapped__", original)  # noqa: B010  (the original, for the wrapper and for tests)
    setattr(module, name, wrapper)
    return True
