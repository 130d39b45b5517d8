"""The records the collector writes beside events (a file's collect cursor, a parse problem), and the
part of a stored event body its insert policy reads.

They live apart from `Store` so that the read-only query commands, which never build one, do not
import msgspec (`devlog_collector.store` re-exports both on first use).
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["CollectCursor", "ParseProblem", "StoredSource"]


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


class _SourcePath(msgspec.Struct):
    path: str | None = None


class StoredSource(msgspec.Struct):
    """Only the `source` of a stored event body: what the insert policy compares (`Store._supersede`)."""

    source: _SourcePath | None = None

    @staticmethod
    def decode(body: bytes) -> StoredSource:
        return _SOURCE_DECODER.decode(body)


_SOURCE_DECODER: msgspec.json.Decoder[StoredSource] = msgspec.json.Decoder(StoredSource)
