"""Bind NULLs and byte strings without `sqlite3`'s failing adaptation lookups.

Python's `sqlite3` binds `int`, `float`, `str` and `bytearray` parameters directly, but sends every
other value, `None` and `bytes` included, through its adaptation protocol first: a registry lookup
keyed by the value's type, then `PrepareProtocol.__adapt__` and the value's `__conform__`. Before
Python 3.12 the first of those attribute lookups on a type raises an `AttributeError` (message
formatted, then discarded) every time it misses, about 0.7 µs per NULL or blob on a 2-core VM: an
event row binds three or four NULLs and one blob body, so a history load of 139,000 events spent
~0.4 s of its ~5 s there (docs/benchmarks.md, "Collector").

Registering identity adapters for exactly `NoneType` and `bytes` ends the search at the registry:
the value handed back is the same object, bound as NULL or BLOB exactly as before. The registry is
the `sqlite3` module's own, so this holds for every connection in the process; that is why it is
done once, at import of the store, and with adapters that change nothing.
"""

from __future__ import annotations

import sqlite3
from typing import Final

__all__ = ["register_identity_adapters"]

#: Looked up with `.get`: `None` -> `None`, a C-level callable of one argument (no Python frame per NULL).
_NOTHING: Final[dict[object, None]] = {}


def register_identity_adapters() -> None:
    """Make `None` and `bytes` parameters skip the failing part of the adaptation protocol."""
    sqlite3.register_adapter(type(None), _NOTHING.get)
    sqlite3.register_adapter(bytes, bytes)  # bytes(b) is b itself for an exact `bytes`
