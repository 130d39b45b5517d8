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

__all__ = [
    "CollectorError",
    "ExportError",
    "RemoteRejected",
    "RemoteUnavailable",
    "SourceError",
    "StoreError",
    "StoreLocked",
    "UserError",
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
