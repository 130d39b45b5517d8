"""Opening the lock files beside the store (`events.db.lock`, `events.db.export-<remote>.lock`).

A lock file is only ever a small regular file devlog made; when something else sits at its path (a
folder, a dangling symlink, a file of another user's), `open()` fails with an OSError that used to
end the command in a traceback. This turns it into one StoreError naming the file and the fix.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import IO

from devlog_collector.errors import StoreError

__all__ = ["open_lock_file"]


def open_lock_file(path: Path) -> IO[bytes]:
    """`path` opened for `flock` (created 0600 if missing); StoreError when it cannot be."""
    try:
        handle = path.open("a+b")
    except OSError as exc:
        what = "a folder" if path.is_dir() else exc.strerror or str(exc)
        raise StoreError(
            f"cannot open the lock file {path} ({what}): it should be a small file devlog can write; "
            "remove it (or fix its owner and mode) and try again"
        ) from exc
    with contextlib.suppress(OSError):
        path.chmod(0o600)
    return handle
