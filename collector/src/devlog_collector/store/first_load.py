"""A new store's first load: built beside the store's name, then put in place whole.

In WAL mode every page of a first history load is written twice (into the `-wal` at each commit,
then into the store by a checkpoint), with the checkpoints and their locking there so that readers
can read while the writer writes. Those were about a sixth of a first load of 150 MB
(docs/benchmarks.md). A store that does not exist yet has no readers to allow for, so the first pass
into it is built in `<store>.first-load` instead: the journal in memory (a failed statement still
rolls back), no syncs, an exclusive lock (`Store.open(aside=True)`). When the pass ends, or stops
between two commits (Ctrl-C, SIGTERM, a disk-space pause), the file is synced and linked to the
store's name, and the store then opens as usual (WAL, readers welcome).

What a crash leaves: a crash or `kill -9` mid-load leaves only the side file, which the next writer
deletes before it starts over. Nothing is lost: the store did not exist, and the agents' logs still
hold everything the load had read; the store never exists half-written. A failed write (a full
disk), or a store made under the name meanwhile by another process, and the side file is deleted
and the caller runs the pass again into the store as usual. Readers meanwhile find no store yet, and
`devlog status` says a first load is running (`storage_location.first_load_path`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO

from devlog_collector.log import get_logger
from devlog_collector.storage_location import first_load_path
from devlog_collector.store import Store, take_writer_lock

__all__ = ["begin", "discard", "publish", "remove_leftovers"]

log = get_logger("store")


def begin(path: Path) -> Store | None:
    """A store built aside for the first load into `path`, holding `path`'s writer lock; None when
    the store exists already (the caller opens it as usual).

    Raises:
        StoreLocked: another process collects into `path` (it may be building it aside itself).
        StoreError: the side file cannot be made (as `Store.open`).
    """
    path = path.expanduser()
    if os.path.lexists(path):
        return None
    lock = take_writer_lock(path)  # (before the side file is touched: another collector may be building it)
    try:
        if os.path.lexists(path):  # made (and its lock released) between the check and the lock
            lock.close()
            return None
        side = first_load_path(path)
        _remove(side)  # a crashed load's, if any
        store = Store.open(side, aside=True)
    except BaseException:
        lock.close()
        raise
    store.home = path
    store.adopt_writer_lock(lock)
    log.info("first_load_aside", path=str(side))
    return store


def publish(store: Store) -> tuple[Store, str | None]:
    """Put the store built aside in place and open it as usual; the writer lock passes on to it.

    Returns the store at the store's name, and None when it is the one built aside, else why the
    load was not kept (a write of it failed, or another process made a store under the name
    meanwhile): then the side file is deleted and the caller collects again into the store returned.
    """
    path, side = store.home, store.path
    lock = store.hand_over_writer_lock()
    not_kept = "a write of it failed" if store.write_failed else None
    store.close()
    try:
        if not_kept is None:
            not_kept = _link(side, path)
    finally:
        _remove(side)
    if not_kept is not None:
        log.info("first_load_discarded", path=str(side), reason=not_kept)
        # A new store to make (its migrations take the lock themselves), or another process's:
        # opened as any writer opens a store, then locked again (StoreLocked if another took it).
        _release(lock)
        opened = Store.open(path)
        try:
            opened.acquire_writer_lock()
        except BaseException:
            opened.close()
            raise
        return opened, not_kept
    try:
        opened = Store.open(path)  # (migrated already: the lock is not needed for that)
    except BaseException:
        _release(lock)
        raise
    if lock is not None:
        opened.adopt_writer_lock(lock)
    log.info("first_load_published", path=str(path))
    return opened, None


def discard(store: Store) -> None:
    """Throw away a store built aside that is not to be published (an error ended its pass)."""
    store.close()  # (releases the writer lock)
    _remove(store.path)


def remove_leftovers(path: Path) -> None:
    """Delete what a first load into the store at `path` may have left (the writer, holding the
    lock, of a store that exists: a crash between the link and the side file's removal leaves it)."""
    _remove(first_load_path(path))


def _link(side: Path, path: Path) -> str | None:
    """Sync the side file and give it the store's name; why not, if a store took the name meanwhile."""
    with open(side, "rb") as handle:
        os.fsync(handle.fileno())
    # A write-ahead log, its index or a rollback journal under the store's name with no store there
    # belong to a store that was deleted (`devlog start` stops when its store is, and leaves them).
    # SQLite would apply them to the new store when it opens it: a store made of two, damaged.
    for stale in ("-wal", "-shm", "-journal"):
        if not os.path.lexists(path):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{path}{stale}").unlink()
    try:
        os.link(side, path)  # fails rather than replace a store another process made meanwhile
    except FileExistsError:
        return "a store was made under its name meanwhile"
    except OSError:  # a file system without hard links: a rename, only while the name is still free
        if os.path.lexists(path):
            return "a store was made under its name meanwhile"
        side.replace(path)
    _sync_folder(path.parent)
    return None


def _remove(side: Path) -> None:
    """Delete the side file and what its connection may have left beside it."""
    for leftover in (side, Path(f"{side}-journal"), Path(f"{side}.lock")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # (not every platform or file system can sync a folder)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _release(lock: IO[bytes] | None) -> None:
    if lock is not None:
        with contextlib.suppress(OSError):
            lock.close()
