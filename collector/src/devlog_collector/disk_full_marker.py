"""A mark beside the store that says the last write failed because its disk was full.

With `storage.min_free_bytes` set, collection pauses before the disk fills and `devlog status`
sees the same shortage itself. With it at 0 (or on a disk that fills faster than the check), the
first sign is SQLite's "database or disk is full": the collector pauses, but `devlog status`, run
later in another process, had no way to know. Recording it in the store is no answer, since that
write is exactly what fails. So the writer creates an empty file, `<store>.disk-full`: an empty
file takes an inode and no data block, so it can be made on a full disk, and its mtime says when.
The writer removes it once a pass completes without a pause. Only a writer makes it (the lock's
holder, or a process that could not even open the store to write for want of space) and only the
lock's holder removes it; readers only look.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["clear", "mark", "marked_at", "marker_path"]


def marker_path(db_path: Path) -> Path:
    """The mark's path beside the store file."""
    return Path(f"{db_path}.disk-full")


def mark(db_path: Path) -> None:
    """Create (or touch) the mark; does nothing when even that is impossible."""
    path = marker_path(db_path)
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        os.utime(path)


def clear(db_path: Path) -> None:
    """Remove the mark if it is there."""
    with contextlib.suppress(OSError):
        marker_path(db_path).unlink(missing_ok=True)


def marked_at(db_path: Path) -> float | None:
    """When the last write failed on a full disk (epoch seconds), or None if it has not since."""
    try:
        return marker_path(db_path).stat().st_mtime
    except OSError:
        return None
