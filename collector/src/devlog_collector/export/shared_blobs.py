"""Encoded events shared by the remotes of one process that export with the same content policy.

Why: with several remotes (say a team and a personal server), each remote's thread would decode the
same stored event, price it, shape it by its content policy and encode it to JSON: the same bytes,
computed once per remote, all under one GIL. So three remotes exported at a third of one remote's
speed each at best. An event's exported JSON depends only on the stored row (immutable per `seq`: a
replaced copy gets a new seq), the content policy and the built-in redaction rules, so the first
remote to encode it leaves the bytes here and the others reuse them.

Bounded: least recently used entries are dropped beyond `max_bytes` (a remote far behind the others,
say a backfill, simply encodes its own). Thread-safe. Only exporters using the built-in redactor and
sharing a content policy with another remote use it (see `RemoteExporter`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final

__all__ = ["DEFAULT_MAX_BYTES", "SharedBlobs", "shared_blobs"]

#: Default bound of the process-wide cache.
DEFAULT_MAX_BYTES: Final = 32 * 1024 * 1024

Key = tuple[str, str, int, int]  # (store path, content policy, max event bytes, seq)


class SharedBlobs:
    """A byte-bounded LRU map of (store, content policy, seq) -> encoded event JSON."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Key, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key) -> bytes | None:
        with self._lock:
            blob = self._entries.get(key)
            if blob is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return blob

    def put(self, key: Key, blob: bytes) -> None:
        if len(blob) > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.size -= len(old)
            self._entries[key] = blob
            self.size += len(blob)
            while self.size > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self.size -= len(dropped)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.size = 0


_PROCESS_CACHE = SharedBlobs()


def shared_blobs() -> SharedBlobs:
    """The process-wide cache every `RemoteExporter` of this process shares."""
    return _PROCESS_CACHE
