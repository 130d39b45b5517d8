"""Opening the store for reading only (queries, `devlog status`), wherever it lies.

A reader of a WAL-mode SQLite file needs the `-shm` file beside it, and creates it when it is
missing; in a folder this user cannot write (another user's store, a read-only mount or backup) it
cannot, and SQLite refuses to open the store at all. When the `-wal` holds nothing, the main file is
the whole store, and SQLite may then read it as an immutable file. When the `-wal` holds changes, it
cannot be read without them; the error says what to do.

Kept apart from `store/` so that `devlog status` can use it without importing the store module.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final
from urllib.parse import quote

__all__ = ["FOLDER_READ_ONLY_HINT", "connect_read_only", "shared_memory_refused"]

#: SQLite's errors for a WAL reader that cannot create or map the store's `-shm` file.
_NO_SHARED_MEMORY: Final = frozenset({"SQLITE_READONLY_DIRECTORY", "SQLITE_CANTOPEN", "SQLITE_READONLY_CANTINIT"})
FOLDER_READ_ONLY_HINT: Final = (
    " (its folder is read-only for this user and its write-ahead log events.db-wal holds recent changes: "
    "run any devlog command once as the store's owner, or copy the store with its -wal file to a folder "
    "you can write)"
)


def connect_read_only(path: Path, *, timeout: float = 5.0) -> sqlite3.Connection:
    """A `query_only` connection to the store at `path`, read so far that SQLite has opened it
    (its schema loaded); raises sqlite3.Error when the store cannot be read."""
    uri = f"file:{quote(str(path))}?mode=ro"  # (quoted: a `?` or `#` in a folder name ends the path)
    try:
        return _open(uri, timeout)
    except sqlite3.Error as exc:
        if not shared_memory_refused(exc) or _wal_holds_frames(path):
            raise
        return _open(f"{uri}&immutable=1", timeout)


def shared_memory_refused(exc: sqlite3.Error) -> bool:
    """Whether `exc` is SQLite failing to make or map the `-shm` file of a store it reads."""
    return getattr(exc, "sqlite_errorname", "") in _NO_SHARED_MEMORY


def _open(uri: str, timeout: float) -> sqlite3.Connection:
    db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=timeout)
    try:
        db.execute("PRAGMA query_only = ON")
        db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        db.close()
        raise
    return db


def _wal_holds_frames(path: Path) -> bool:
    try:
        return Path(f"{path}-wal").stat().st_size > 0
    except OSError:
        return False
