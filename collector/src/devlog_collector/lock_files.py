"""Opening the lock files beside the store (`events.db.lock`, `events.db.export-<remote>.lock`).

A lock file is only ever a small regular file devlog made; when something else sits at its path (a
folder, a dangling symlink, a file of another user's), `open()` fails with an OSError that used to
end the command in a traceback. This turns it into one StoreError naming the file and the fix.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO

from devlog_collector.errors import StoreError

__all__ = ["open_lock_file", "writer_lock_held"]


def open_lock_file(path: Path) -> IO[bytes]:
    """`path` opened for `flock` (created 0600 if missing); StoreError when it cannot be."""
    try:
        handle = path.open("a+b")
    except OSError as exc:
        what = "a folder" if path.is_dir() else exc.strerror or str(exc)
        if not path.is_dir() and not os.path.lexists(path):  # (nothing to remove: the folder refuses it)
            raise StoreError(
                f"cannot create the lock file {path} ({what}): its folder {path.parent} must be writable "
                "(a read-only mount, or a folder of another user's?); choose another storage.path or fix it"
            ) from exc
        raise StoreError(
            f"cannot open the lock file {path} ({what}): it should be a small file devlog can write; "
            "remove it (or fix its owner and mode) and try again"
        ) from exc
    with contextlib.suppress(OSError):
        path.chmod(0o600)
    return handle


def writer_lock_held(db_path: Path) -> bool | None:
    """True if a collector holds the writer lock of the store at `db_path` (None if unknown)."""
    import fcntl

    lock = Path(f"{db_path}.lock")
    if not lock.exists():
        return False
    try:
        with lock.open("rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    except OSError:
        return None
