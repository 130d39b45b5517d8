"""The records the collector writes beside events: a file's collect cursor and a parse problem.

They live apart from `Store` so that the read-only query commands, which never build one, do not
import msgspec (`devlog_collector.store` re-exports both on first use).
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["CollectCursor", "ParseProblem"]


class CollectCursor(msgspec.Struct):
    """How far a source file has been consumed (see migrations.py for the columns)."""

    source: str
    path: str
    dev: int | None = None
    ino: int | None = None
    size: int | None = None
    mtime_ns: int | None = None
    offset: int = 0
    head_hash: str | None = None
    marker: str | None = None
    state: dict[str, Any] = msgspec.field(default_factory=dict)
    line_no: int = 0


class ParseProblem(msgspec.Struct, frozen=True):
    """A record that could not be used, reported once per (file, position, message)."""

    source: str
    path: str
    position: str
    message: str
