"""The collector's error tree, handled once at the CLI edge (`cli/__init__.py`).

CollectorError
├── UserError(problems)   bad input from the user (config, flags); printed without a traceback, exit 2
├── StoreError            the local SQLite store cannot be opened or written
│   └── StoreLocked       another process holds the store's writer lock
├── SourceError           a log source could not be read (per file; collection goes on)
└── ExportError
    ├── RemoteUnavailable retryable: connection errors, timeouts, 408/429/5xx
    └── RemoteRejected    not retryable: 401/403/404 and other 4xx
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "CollectorError",
    "ExportError",
    "RemoteRejected",
    "RemoteUnavailable",
    "SourceError",
    "StoreError",
    "StoreLocked",
    "UserError",
    "store_failure",
]


class CollectorError(Exception):
    """Root of the collector's errors."""


class UserError(CollectorError):
    """Something the user can fix: each entry of `problems` is one actionable line."""

    exit_code = 2

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        return self.message + "\n" + "\n".join(f"  - {p}" for p in self.problems)


class StoreError(CollectorError):
    """The local store cannot be opened, migrated or written."""


class StoreLocked(StoreError):
    """Another devlog process is writing to the store."""


class SourceError(CollectorError):
    """A source file could not be read or parsed."""


class ExportError(CollectorError):
    """Sending events to a remote failed."""

    def __init__(self, message: str, *, status_code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


class RemoteUnavailable(ExportError):
    """A transient failure: retry later with backoff."""


class RemoteRejected(ExportError):
    """The remote refused the request for a reason retrying will not fix."""


#: What SQLite says of a store file that is damaged or not a database at all (Python's
#: `sqlite_errorname`, or the message of an older SQLite).
_DAMAGED: tuple[str, ...] = ("SQLITE_CORRUPT", "SQLITE_NOTADB", "malformed", "not a database")


#: What SQLite says when a write (or making the `-shm` file a WAL store needs to be opened at all)
#: finds no space: "database or disk is full", or only "disk I/O error".
_NO_SPACE: tuple[str, ...] = ("SQLITE_FULL", "SQLITE_IOERR", "disk is full", "disk I/O error")
#: Free bytes under which a failed write is put down to a full disk.
NEARLY_FULL_BYTES = 1024 * 1024


def store_failure(message: str, exc: BaseException, path: Path | None = None) -> str:
    """`message`, plus what to do when SQLite calls the store damaged (`exc` is an sqlite3 error),
    or when the store's disk (`path`'s) is full.

    The store is a copy of what the agents' logs held, so moving it aside and collecting again
    rebuilds it (as far as the agents have kept their logs); export cursors restart, and servers
    skip what they already hold. A full disk is not damage: SQLite then often says only "disk I/O
    error" (it cannot make the `-shm` file a store in WAL mode is opened with), which read like it.
    """
    text = f"{getattr(exc, 'sqlite_errorname', '')} {exc}"
    from devlog_collector.sizes import disk_free

    free = disk_free(path) if path is not None and any(mark in text for mark in _NO_SPACE) else None
    if free is not None and free < NEARLY_FULL_BYTES:
        return (
            f"{message}: the store's disk is full ({free:,} bytes free): free some space and run it again "
            "(nothing collected is lost; collection goes on from where it stopped)"
        )
    if not any(mark in text for mark in _DAMAGED):
        return message
    return (
        f"{message}; the store is damaged: move the store file aside (keep it for inspection) and run "
        "`devlog collect` to rebuild it from the agents' logs (exports then start over; servers skip what "
        "they already hold)"
    )
