"""Values derived from frozen objects and reused across calls, kept beside the objects.

A frozen dataclass is not written to (not even its ``__dict__``, as ``functools.cached_property``
would): what is computed from one lives here, keyed by the object's id, and each entry is
dropped when its object is collected (so an id is never reused while its entry lives). A
race between threads at worst computes a value twice.
"""

from __future__ import annotations

import weakref
from typing import Any

DERIVED: dict[int, dict[str, Any]] = {}


def derived(obj: Any) -> dict[str, Any]:
    """The cache of values derived from the frozen ``obj`` (empty at first)."""
    key = id(obj)
    got = DERIVED.get(key)
    if got is None:
        got = DERIVED[key] = {}
        weakref.finalize(obj, DERIVED.pop, key, None)
    return got
