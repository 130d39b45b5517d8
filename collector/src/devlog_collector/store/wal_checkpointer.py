"""Checkpoints of the store's write-ahead log on a thread of their own, during a history load.

In WAL mode a commit only appends to the `-wal` file; copying those pages into the store and
syncing both files (a checkpoint) happens in whichever commit crosses `wal_autocheckpoint`, and the
collector waits for the disk there: about 1.4 s of a 9 s load of 150 MB on the benchmark VM, with
the CPU idle. During a history load the writer turns its automatic checkpoints off and this thread
runs them instead, on its own connection: SQLite lets a PASSIVE checkpoint copy committed pages
while the writer goes on appending, and Python's sqlite3 releases the GIL while SQLite works, so the
parser keeps the core busy while the disk syncs. Once the log is long, a FULL checkpoint finishes
the copy (the writer waits for the last few frames only) so that the log starts over, keeping its
size bounded (`RESTART_BYTES`). Durability is unchanged: commits are exactly as durable as before
(WAL, `synchronous = NORMAL`); only the copying into the main file moves.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Final

from devlog_collector.log import get_logger

__all__ = ["WalCheckpointer"]

log = get_logger("store")

#: Least time between two checkpoints (seconds): commits come every few milliseconds in a load, and
#: a checkpoint per commit would sync the same hot index pages over and over.
CHECKPOINT_GAP_S: Final = 0.25
#: WAL size past which a checkpoint also makes the log start over. A PASSIVE checkpoint
#: never waits for the writer, so while it copies, the writer appends more: the log is never all
#: copied when the writer begins its next transaction, and SQLite only starts a log over then. Left
#: alone, the `-wal` grew past the store's own size in a first load (417 MiB for a 419 MiB store).
#: Past this size (32 MiB, the writer's own auto-checkpoint size) a FULL checkpoint copies the few
#: frames the PASSIVE one left (the writer waits for that much only), and the writer's next
#: transaction starts the log over: 44-46 MiB at most in a 150 MB load with 8 KiB pages, 46-53 MiB
#: with 16 KiB ones (51 MiB before all this). Set in frames, from the store's page size.
RESTART_BYTES: Final = 32 * 1024 * 1024


class WalCheckpointer:
    """A daemon thread that runs `PRAGMA wal_checkpoint(PASSIVE)` after commits (`nudge`)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA busy_timeout = 30000")
        self._restart_frames = RESTART_BYTES // int(self._db.execute("PRAGMA page_size").fetchone()[0])
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._failed = False
        self._thread = threading.Thread(target=self._run, name="devlog-wal-checkpoint", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """Say that a commit has added to the WAL (cheap: sets an event)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the checkpoint under way (if any), stop the thread and close its connection."""
        self._stopping.set()
        self._wake.set()
        self._thread.join()
        self._db.close()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._stopping.is_set():
                return
            self._wake.clear()
            try:
                _, log_frames, _ = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if log_frames > self._restart_frames:
                    self._db.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
            except sqlite3.Error as exc:  # e.g. a full disk: the writer's own commits report it
                if not self._failed:
                    log.warning("wal_checkpoint_failed", error=str(exc))
                self._failed = True
            if self._stopping.wait(CHECKPOINT_GAP_S):
                return
