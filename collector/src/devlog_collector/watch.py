"""`devlog start`: collect all history not yet collected, then follow the agents' logs live.

Why it looks like this:

* **File events are hints, passes are the truth.** watchfiles (inotify/FSEvents/ReadDirectoryChanges)
  says *which* files probably changed so they are read within a fraction of a second; a full
  re-discovery and pass every `rescan_interval` seconds catches whatever the OS did not report
  (overflowed queues, network file systems, new agent folders). When native watching cannot start
  (e.g. the inotify watch limit) or `DEVLOG_FORCE_POLLING=1`, watchfiles polls instead.
* **One writer.** The daemon holds the store's writer lock for its whole life; a second `devlog
  start` or `devlog collect` fails fast with a clear message.
* **Clean stop.** SIGINT/SIGTERM set a flag that the engine checks between steps, so the current
  commit finishes, the exporter threads finish their in-flight batch, and the lock is released.
* **Disk pressure pauses.** When the engine reports the store's disk as (nearly) full, nothing more
  is committed; the daemon says so once and resumes when space is back.
* **The search index follows in the background.** Collection commits leave full-text indexing to a
  thread with its own connection (`Store.update_search_index`, short batches), woken after the
  history pass and after every live pass that added events.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from devlog_collector.collect import Collector, CollectResult, DiskPressure, Tracked
from devlog_collector.config import Config
from devlog_collector.log import get_logger
from devlog_collector.sizes import human_bytes
from devlog_collector.stop_signals import stop_on_signals
from devlog_collector.store import Store, first_load
from devlog_collector.wording import counted

__all__ = ["CollectDaemon", "DaemonOptions"]

log = get_logger("watch")

#: How often the retention policy runs while the daemon is up.
RETENTION_INTERVAL_S: Final = 3600.0
#: Seconds between passes while no file watcher can run (see `_passes_without_watcher`).
PASS_INTERVAL_NO_WATCHER: Final = 1.0
#: Suffixes of files that belong to a database we track (changes to them mean the database changed).
_SQLITE_SIDE_FILES: Final = ("-wal", "-journal", "-shm")
#: Seconds of reading a live pass spends on its backlog (a full pass, a burst of new files) before
#: it goes back to the watcher, so lines appended meanwhile are not held up behind it.
BACKLOG_SLICE_S: Final = 0.5
#: A change that may mean new files (not a tracked file) makes the daemon look for them at most
#: this often; changes in between are looked at together.
DISCOVER_MIN_INTERVAL_S: Final = 1.0
#: How often the daemon checks whether the config file changed (export settings reload live).
CONFIG_CHECK_INTERVAL_S: Final = 2.0
#: Seconds between reads of a database that was locked (Cursor's `state.vscdb` mid-write).
LOCKED_RETRY_S: Final = 2.0
#: How often the daemon looks whether a configured root that did not exist (an agent not yet run on
#: this machine: no `~/.gemini`, no Cursor `User` folder) has appeared; the watcher cannot watch a
#: folder before it exists, and waiting for the next full pass kept its first logs out for ~30 s.
MISSING_ROOT_CHECK_S: Final = 1.0
#: Seconds between full passes with native file events (inotify, FSEvents): they seldom miss one.
RESCAN_INTERVAL_S: Final = 30.0
#: ... and while polling, which was seen to miss an append now and then (one made soon after the
#: previous change), so the full pass comes round sooner.
RESCAN_INTERVAL_POLLING_S: Final = 5.0
#: While polling, the daemon also stats every tracked file this often itself: the poller's misses
#: (about 2 % of lines under a steady load over 3,445 files) waited for the 5 s rescan, past the
#: 2 s promise. A stat per file a second, only in polling mode.
POLL_SWEEP_S: Final = 1.0


def _give_back_memory(store: Store) -> None:
    """Return what the history pass used to the system before the daemon settles in for days.

    A first load fills the writer's page cache (32 MiB), the id map and the parsers' buffers; freed
    by Python and SQLite, most of it stayed in the C allocator's heap, so the idle daemon held its
    load-time peak (~110 MiB after 150 MB of history, ~140 MiB after 290 MB) against ~30 MiB for the
    same daemon restarted. SQLite's `shrink_memory` empties the cache (it refills as needed) and
    glibc's `malloc_trim` hands free heap pages back (elsewhere, where it does not exist: nothing).
    """
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(sqlite3.Error):
        store.db.execute("PRAGMA shrink_memory")
    with contextlib.suppress(OSError, AttributeError, TypeError):  # (the process's own symbols: glibc's, if any)
        ctypes.CDLL(None).malloc_trim(0)


class _SearchIndexer:
    """Brings the full-text index up to date on its own connection whenever it is woken."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._wake = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="devlog-search-index", daemon=True)
        self._store: Store | None = None

    def start(self) -> None:
        # The connection is opened here, before the daemon says it is watching, not in the thread:
        # opened later, it could find the store's `-wal` deleted and make a new one, which hid the
        # deletion from `Collector.check_store` (and the daemon went on writing into the unlinked log).
        if not self.db_path.is_file():  # deleted under the writer: never make a new, empty one here
            log.warning("search_index_unavailable", path=str(self.db_path))
            return
        try:
            self._store = Store.open(self.db_path)
        except Exception:  # noqa: BLE001 - indexing must never stop collection
            log.warning("search_index_unavailable", path=str(self.db_path))
            return
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current batch (what is left is indexed by the next search or start)."""
        self._done.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        store = self._store
        assert store is not None  # (set by `start` before the thread runs)
        try:
            while not self._done.is_set():
                self._wake.wait()
                self._wake.clear()
                if self._done.is_set():
                    break
                try:
                    indexed = store.update_search_index(should_stop=self._done.is_set)
                except sqlite3.Error as exc:
                    log.warning("search_index_failed", error=str(exc))
                    continue
                if indexed:
                    log.info("search_index_updated", events=indexed)
        finally:
            store.close()


class _Exporter(Protocol):
    def start(self) -> None: ...

    def notify_new_events(self) -> None: ...

    def stop(self, timeout: float = 10.0) -> None: ...


@dataclass
class DaemonOptions:
    """How `devlog start` runs (the CLI fills it from flags)."""

    no_history: bool = False
    #: Leave after the history pass (and one live pass); for scripts and tests.
    once: bool = False
    #: Show a progress bar for the history pass (rich, on stderr).
    progress: bool = False
    #: None: native watching, falling back to polling; True: always poll.
    force_polling: bool | None = None
    #: Seconds between full passes over every tracked file, the safety net for changes the watcher
    #: did not report (file events say within a fraction of a second which files changed). None:
    #: `RESCAN_INTERVAL_S`, or `RESCAN_INTERVAL_POLLING_S` while polling.
    rescan_interval: float | None = None
    #: Seconds watchfiles waits to group a burst of changes.
    debounce_ms: int = 200
    #: Print what the daemon does (started, paused, resumed, stopped) on stderr.
    announce: Callable[[str], None] | None = None


class CollectDaemon:
    """The collector daemon (see the module docstring).

    Args:
        config: the collector configuration.
        options: behaviour flags.
        stop_event: set it to stop the daemon (signal handlers set it too).
    """

    def __init__(
        self, config: Config, options: DaemonOptions | None = None, stop_event: threading.Event | None = None
    ) -> None:
        self.config = config
        #: The collect and storage settings of the config last read (a change of them is said once).
        self._collect_seen = (config.collect, config.storage)
        self.options = options or DaemonOptions()
        self.stopping = stop_event or threading.Event()
        self.db_path = config.storage.db_path()
        self._paused: str | None = None
        self._last_retention = 0.0
        self._retention_said = False
        self._exporter: _Exporter | None = None
        self._watch_error: str | None = None
        self._config_seen = _config_stamp()
        self.totals = CollectResult()
        #: The store collected into (a new store's first load is built aside, then replaced by it).
        self._store: Store
        #: A stop came before the history pass was through (the command then exits 128 + the signal).
        self.history_interrupted = False
        #: The signal that stopped an unfinished history pass (set by `run`), else None.
        self.stopped_by: int | None = None
        if self.options.force_polling is None and os.environ.get("DEVLOG_FORCE_POLLING", "").lower() in (
            "1",
            "true",
            "yes",
        ):
            self.options.force_polling = True

    def _say(self, message: str) -> None:
        if self.options.announce is not None:
            self.options.announce(message)

    def _warn(self, event: str, message: str, **fields: Any) -> None:
        """A warning said once: as a line on stderr where the daemon announces (`devlog start`; the
        structured record then only at -v), else as the log record."""
        (log.info if self.options.announce is not None else log.warning)(event, **fields)
        self._say(message)

    # -- lifecycle -----------------------------------------------------------------------------

    def run(self) -> CollectResult:
        """Run until stopped (or after the first passes with `once`); returns what was collected.

        Raises:
            StoreLocked: another collector holds the store.
        """
        aside = first_load.begin(self.db_path)  # a store that does not exist yet is built beside its name
        self._store = aside if aside is not None else Store.open(self.db_path)
        try:
            if aside is None:
                self._store.acquire_writer_lock()
                first_load.remove_leftovers(self.db_path)  # (a crash between the link and the side file's removal)
            with stop_on_signals(self.stopping) as received:
                self._run(self._store)
        finally:
            if self._store.aside:  # an error ended the first load: nothing of it is kept
                first_load.discard(self._store)
            else:
                self._store.close()
        self._say(f"stopped: {counted(self.totals.events_added, 'event')} collected in this session")
        if self.history_interrupted:  # (as `devlog collect`: a script must not take a partial load as done)
            self.stopped_by = received[0] if received else signal.SIGINT
        return self.totals

    def _run(self, store: Store) -> None:
        collector = Collector(store, self.config, should_stop=self.stopping.is_set)
        for warning in collector.warnings:
            log.warning("source_unavailable", detail=warning)
        run_id = collector.begin_run()
        indexer = _SearchIndexer(self.db_path)
        history_read = False
        try:
            history_pending = True
            self._apply_retention(store)  # (first: its cutoff keeps older lines out of the history pass)
            if store.aside:  # a new store's first load: put in place before anything else opens the store
                self._history(collector, None, run_id)
                store, collector, run_id, history_pending = self._publish_first_load(collector, store, run_id)
                if history_pending:
                    self._apply_retention(store)
            self._exporter = self._start_exporter()
            if history_pending:
                self._history(collector, self._exporter, run_id)
            elif self._exporter is not None and self.totals.events_added:
                self._exporter.notify_new_events()
            history_read = not self.stopping.is_set()
            _give_back_memory(store)
            collector.record_progress(run_id, self.totals)
            indexer.start()
            indexer.notify()
            if not self.stopping.is_set() and not self.options.once:
                self._say("watching agent logs for changes (Ctrl-C to stop)")
                self._watch(collector, store, run_id, indexer)
        finally:
            if history_read:
                collector.finish_run(run_id, self.totals)
            else:  # stopped before the history was read: left unfinished, `devlog status` says "interrupted"
                collector.record_progress(run_id, self.totals)
            indexer.stop()
            if self._exporter is not None:
                self._exporter.stop()

    def _publish_first_load(
        self, collector: Collector, store: Store, run_id: int
    ) -> tuple[Store, Collector, int, bool]:
        """Put the first load built aside in place (`store/first_load.py`); returns the store, the
        collector and run to go on with, and whether the history is still to be read into it (the
        load was thrown away: a write failed, or a store was made under its name meanwhile)."""
        store, not_kept = first_load.publish(store)
        self._store = store
        if not_kept is None:
            collector.use_store(store)
            return store, collector, run_id, False
        self._say(f"the first load was not kept ({not_kept}): reading the history again into the store")
        self.totals = CollectResult()
        self.history_interrupted = False
        collector = Collector(store, self.config, should_stop=self.stopping.is_set)
        return store, collector, collector.begin_run(), not self.stopping.is_set()

    @property
    def paused(self) -> str | None:
        """Why collection is paused for disk space now (`--once`: the history pass stopped there)."""
        return self._paused

    def stop(self) -> None:
        """Ask the daemon to stop after the current commit."""
        self.stopping.set()

    def _start_exporter(self) -> _Exporter | None:
        if not self.config.export.remotes:
            return None
        from devlog_collector.errors import UserError
        from devlog_collector.export.daemon import ExportDaemon

        try:
            exporter = ExportDaemon(self.config, self.db_path)
        except UserError as exc:  # e.g. a glob the router cannot compile: collection goes on
            self._warn("export_disabled", f"nothing is exported until the config is fixed: {exc}", detail=exc.message)
            return None
        exporter.start()
        return exporter

    def _reload_config(self, collector: Collector) -> None:
        """Pick up export changes (`devlog remote add/remove`, edited rules) without a restart.

        The `export` and `export_default` sections are reloaded, and `storage.min_free_bytes` (a
        collection paused for disk space resumes once it is lowered); other collection settings
        need a restart. An invalid file keeps the previous settings and says why; so does a removed one.
        """
        stamp = _config_stamp()
        if stamp == self._config_seen:
            return
        self._config_seen = stamp
        from devlog_collector.config import load_config
        from devlog_collector.errors import UserError
        from devlog_collector.paths import config_path

        if stamp is None:  # removed (or moved away): not a wish to run on the defaults, most likely
            self._warn(
                "config_removed",
                f"config file {config_path()} no longer exists: keeping the settings devlog start is running "
                "with (it applies the file again when it comes back; restart it to run on the defaults)",
            )
            return

        try:
            fresh, _warnings = load_config()
            if fresh.export.remotes:
                from devlog_collector.export.routing import Router

                Router(fresh)  # refuses rules it cannot compile, naming them
        except UserError as exc:
            self._warn(
                "config_reload_failed",
                f"config changed but is not valid, keeping the previous settings: {exc}",
                detail=exc.message,
            )
            return
        import msgspec

        if fresh.storage.min_free_bytes != self.config.storage.min_free_bytes:
            self._apply_min_free(collector, fresh.storage.min_free_bytes)
            seen_collect, seen_storage = self._collect_seen
            self._collect_seen = (
                seen_collect,
                msgspec.structs.replace(seen_storage, min_free_bytes=fresh.storage.min_free_bytes),
            )
        if (fresh.collect, fresh.storage) != self._collect_seen:
            self._collect_seen = (fresh.collect, fresh.storage)
            if (fresh.collect, fresh.storage) == (self.config.collect, self.config.storage):
                self._say("config changed back: the collect and storage settings are the ones running again")
            else:
                self._warn(
                    "collect_config_changed",
                    "config changed: the collect and storage settings apply when `devlog start` is started "
                    "again (it goes on with the ones it started with)",
                )
        if fresh.export == self.config.export and fresh.export_default == self.config.export_default:
            return
        if self._exporter is not None:
            self._exporter.stop()
        self.config = msgspec.structs.replace(self.config, export=fresh.export, export_default=fresh.export_default)
        self._exporter = self._start_exporter()
        if self._exporter is not None:
            self._exporter.notify_new_events()
        names = ", ".join(sorted(self.config.export.remotes)) or "none"
        log.info("export_config_reloaded", remotes=names)
        self._say(f"export settings reloaded (remotes: {names})")

    def _apply_min_free(self, collector: Collector, min_free: int) -> None:
        import msgspec

        self.config = msgspec.structs.replace(
            self.config, storage=msgspec.structs.replace(self.config.storage, min_free_bytes=min_free)
        )
        collector.min_free = min_free
        shown = human_bytes(min_free) if min_free > 0 else "0 (no check)"
        log.info("min_free_bytes_reloaded", min_free_bytes=min_free)
        self._say(f"storage.min_free_bytes is now {shown}")

    def _apply_retention(self, store: Store) -> None:
        if self.config.storage.retention_days is None:
            return
        now = time.monotonic()
        if self._last_retention and now - self._last_retention < RETENTION_INTERVAL_S:
            return
        self._last_retention = now
        from devlog_collector.query.retention import apply_retention

        days = self.config.storage.retention_days
        first = not self._retention_said
        try:
            deleted = apply_retention(store, self.config)
        except Exception:  # retention must never stop collection
            log.exception("retention_failed")
            return
        if deleted:
            log.info("retention_applied", deleted=deleted)
        if deleted or first:
            # Said once at start (older lines in the agents' logs are skipped from here on, which
            # would otherwise read as a history pass that found nothing), then whenever it deletes.
            self._retention_said = True
            removed = f": {counted(deleted, 'event')} removed" if deleted else ""
            self._say(
                f"retention: events older than {counted(days, 'day')} are not kept (storage.retention_days){removed}"
            )

    # -- history -------------------------------------------------------------------------------

    def _history(self, collector: Collector, exporter: _Exporter | None, run_id: int | None = None) -> None:
        tracked = collector.discover(self.totals)
        if self.options.no_history:
            marked = collector.mark_current(tracked)
            self._say(f"skipping history: {marked} existing file{'s' if marked != 1 else ''} marked as read")
            return
        files, size = collector.pending(tracked)
        self._say(f"collecting history: {files} file{'s' if files != 1 else ''}, {human_bytes(size)} to read")
        recorded = time.monotonic()
        ongoing = CollectResult()  # what the history pass has done so far

        def record(files_done: int, bytes_done: int) -> None:  # a long history pass shows in `devlog status`
            nonlocal recorded
            if run_id is not None and time.monotonic() - recorded >= 10:
                collector.record_progress(run_id, ongoing)
                recorded = time.monotonic()

        if self.options.progress and files:
            self._pass_with_progress(collector, tracked, files, size, record, ongoing)
        else:
            self._pass(collector, tracked, progress=record, result=ongoing)
        if exporter is not None and self.totals.events_added:
            exporter.notify_new_events()
        if self.stopping.is_set():  # Ctrl-C during the history pass: what is stored stays, the rest waits
            self.history_interrupted = True
            self._say(
                f"history pass interrupted: {self.totals.events_added} events added so far; "
                "the rest is collected at the next start"
            )
        elif self._paused is not None:
            self._say(
                f"history pass paused for disk space: {self.totals.events_added} events added so far; "
                "the rest is collected when space returns"
            )
        else:
            collector.forget_vanished(tracked)
            self._say(f"history collected: {counted(self.totals.events_added, 'event')} added")

    def _pass_with_progress(
        self,
        collector: Collector,
        tracked: list[Tracked],
        files: int,
        size: int,
        record: Callable[[int, int], None],
        result: CollectResult,
    ) -> None:
        from rich.console import Console
        from rich.progress import Progress

        with Progress(*history_progress_columns(), console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("history", total=max(size, 1), files=f"0/{files} files")

            def update(files_done: int, bytes_done: int) -> None:
                shown = f"{min(files_done, files)}/{files} files"
                if files_done >= files:  # a large load builds its indexes now: seconds, say so
                    shown += ", indexing"
                progress.update(task, completed=min(bytes_done, size), files=shown)
                record(files_done, bytes_done)

            self._pass(collector, tracked, progress=update, result=result)

    def _pass(
        self,
        collector: Collector,
        tracked: Iterable[Tracked] | None,
        progress: Callable[[int, int], None] | None = None,
        result: CollectResult | None = None,
        deadline: float | None = None,
    ) -> CollectResult:
        result = collector.collect(tracked, progress=progress, result=result, deadline=deadline)
        for name, totals in result.agents.items():
            mine = self.totals.totals(name)
            mine.files_read += totals.files_read
            mine.events_added += totals.events_added
            mine.events_updated += totals.events_updated
            mine.problems += totals.problems
            mine.bytes_read += totals.bytes_read
            mine.files = max(mine.files, totals.files)
        self._note_pause(collector, result.paused)
        return result

    def _rescan_interval(self, polling: bool) -> float:
        if self.options.rescan_interval is not None:
            return self.options.rescan_interval
        return RESCAN_INTERVAL_POLLING_S if polling else RESCAN_INTERVAL_S

    def _after_pass(self, result: CollectResult, indexer: _SearchIndexer) -> None:
        """Wake the search indexer and the exporters when a live pass stored events."""
        if result.events_added:
            indexer.notify()
            if self._exporter is not None:
                self._exporter.notify_new_events()

    def _note_pause(self, collector: Collector, reason: str | None) -> None:
        if reason is not None and self._paused is None:
            self._paused = reason
            self._say(f"collection paused: {reason}; it resumes once space returns")
        elif reason is None and self._paused is not None:
            self._paused = None
            self._say("collection resumed: disk space is available again")

    # -- live ----------------------------------------------------------------------------------

    def _watch_roots(self, collector: Collector) -> list[Path]:
        roots: set[Path] = set()
        for source in collector.sources:
            with contextlib.suppress(OSError):
                roots.update(p for p in source.watch_paths() if p.is_dir())
        # Watching a folder and one of its subfolders would report changes twice.
        ordered = sorted(roots, key=lambda p: len(p.parts))
        kept: list[Path] = []
        for root in ordered:
            if not any(root.is_relative_to(k) for k in kept):
                kept.append(root)
        return kept

    def _passes_without_watcher(
        self, collector: Collector, tracked: list[Tracked], indexer: _SearchIndexer
    ) -> list[Tracked]:
        """Pass over every tracked file each `PASS_INTERVAL_NO_WATCHER` seconds for one rescan interval.

        Unchanged files cost a stat each, so this keeps new lines arriving within the live promise
        (2 s) while no watcher runs; then the files are discovered again for the next attempt.
        """
        deadline = time.monotonic() + self._rescan_interval(polling=True)
        while not self.stopping.is_set() and time.monotonic() < deadline:
            result = self._pass(collector, tracked)
            if result.events_added:
                indexer.notify()
                if self._exporter is not None:
                    self._exporter.notify_new_events()
            if self.stopping.wait(PASS_INTERVAL_NO_WATCHER):
                break
        return collector.discover(self.totals)

    def _watch(self, collector: Collector, store: Store, run_id: int, indexer: _SearchIndexer) -> None:
        from watchfiles import watch

        tracked = collector.discover(self.totals)
        by_path = _index(tracked)
        last_scan = last_discover = last_config_check = last_retry = time.monotonic()
        last_run_record = last_sweep = time.monotonic()
        sweep_seen: dict[str, tuple[int, int, int]] = {}  # (polling: each file's size, mtime, inode)
        # Files a full pass has still to read, in slices. At first, all of them: lines written while the
        # history pass read other files (or while it built its indexes) came before the watcher, which
        # reports only later changes; the safety rescan would find them only after RESCAN_INTERVAL_S.
        backlog: list[Tracked] = list(tracked)
        look_for_new = False  # a change may mean new files: discover (at most once a second)
        while not self.stopping.is_set():
            roots = self._watch_roots(collector)
            missing = _missing_roots(collector)
            last_root_check = time.monotonic()
            if not roots:
                deadline = time.monotonic() + self._rescan_interval(polling=bool(self.options.force_polling))
                while time.monotonic() < deadline and not _any_appeared(missing):
                    if self.stopping.wait(MISSING_ROOT_CHECK_S):
                        break
                if self.stopping.is_set():
                    break
                tracked = collector.discover(self.totals)
                by_path = _index(tracked)
                backlog = list(tracked)
                look_for_new = True  # (files made between that discovery and the watcher's start)
                continue
            polling = bool(self.options.force_polling)
            watched = _identities(roots)  # a root deleted and made again is another folder to watch
            log.info("watching", roots=[str(r) for r in roots], polling=polling)
            try:
                for changes in watch(
                    *roots,
                    watch_filter=None,
                    debounce=self.options.debounce_ms,
                    step=50,
                    stop_event=self.stopping,
                    rust_timeout=500,
                    yield_on_timeout=True,
                    raise_interrupt=False,
                    force_polling=polling,
                    poll_delay_ms=1000,
                    ignore_permission_denied=True,
                ):
                    if self.stopping.is_set():
                        break
                    now = time.monotonic()
                    rescan = now - last_scan >= self._rescan_interval(polling)
                    changed: list[Tracked] = []
                    for _change, raw_path in changes:
                        item = by_path.get(_owner_path(raw_path))
                        if item is None:
                            look_for_new = look_for_new or _may_hold_logs(collector, raw_path)
                        elif item not in changed:
                            changed.append(item)
                    if now - last_config_check >= CONFIG_CHECK_INTERVAL_S:
                        # (also while paused: a deleted store, or a lowered min_free_bytes, matters then)
                        collector.check_store(now=True)
                        self._reload_config(collector)
                        last_config_check = now
                    if self._paused is not None:
                        if not collector.disk_ok():
                            continue
                        rescan = True
                    if rescan or (look_for_new and now - last_discover >= DISCOVER_MIN_INTERVAL_S):
                        tracked = collector.discover(self.totals)
                        by_path = _index(tracked)
                        last_discover = now
                        look_for_new = False
                        if rescan:
                            last_scan = now
                        # Everything, in slices (changed files first, below): new files are read,
                        # moved or replaced ones re-read, dependencies of documents noticed.
                        backlog = tracked
                    if polling and now - last_sweep >= POLL_SWEEP_S:
                        last_sweep = now
                        changed += [item for item in _changed_since(tracked, sweep_seen) if item not in changed]
                    if collector.retry_soon and now - last_retry >= LOCKED_RETRY_S:
                        last_retry = now
                        changed += [item for item in collector.retry_soon if item not in changed]
                        collector.retry_soon.clear()
                    if changed:
                        self._after_pass(self._pass(collector, changed), indexer)
                    if backlog:
                        result = self._pass(collector, backlog, deadline=time.monotonic() + BACKLOG_SLICE_S)
                        backlog = result.remaining
                        self._after_pass(result, indexer)
                        if not backlog and not result.interrupted and result.paused is None:
                            collector.forget_vanished(tracked)  # (a whole discovery has been read)
                    if now - last_run_record >= 10:
                        collector.record_progress(run_id, self.totals)
                        last_run_record = now
                    self._apply_retention(store)
                    if rescan and self._watch_roots(collector) != roots:
                        break  # a new agent folder appeared (or one vanished): watch the new set
                    if now - last_root_check >= MISSING_ROOT_CHECK_S:
                        last_root_check = now
                        # An agent's home appeared, or a watched folder was deleted and made again
                        # (the watch went with the old one): read what is there, then watch anew.
                        if (missing and _any_appeared(missing)) or _identities(roots) != watched:
                            tracked = collector.discover(self.totals)
                            by_path = _index(tracked)
                            last_discover = now
                            backlog = list(tracked)
                            look_for_new = True  # (files made before the new watcher starts)
                            break
            except DiskPressure:  # pragma: no cover - the engine reports pressure in its result
                continue
            except (OSError, RuntimeError) as exc:
                if self.stopping.is_set():
                    break
                if polling:
                    # Even the polling watcher cannot run over these roots (a symlink loop inside one
                    # stops it at every start): collect by plain passes until the next attempt.
                    if str(exc) != self._watch_error:
                        self._watch_error = str(exc)
                        self._warn(
                            "watch_failed",
                            f"file watching failed ({exc}); checking the logs every second instead",
                            error=str(exc),
                        )
                    tracked = self._passes_without_watcher(collector, tracked, indexer)
                    by_path = _index(tracked)
                    last_scan = time.monotonic()
                else:
                    self._warn(
                        "watch_fallback_polling",
                        f"native file watching failed ({exc}); polling instead",
                        error=str(exc),
                    )
                    self.options.force_polling = True


def _config_stamp() -> tuple[int, int] | None:
    """(mtime, size) of the config file, None when there is none."""
    from devlog_collector.paths import config_path

    try:
        st = config_path().stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _missing_roots(collector: Collector) -> list[Path]:
    """The configured roots of every source that are not folders (yet), and the log folders not made
    yet beside ones that are watched (Codex's `archived_sessions/` once `sessions/` exists)."""
    missing: list[Path] = []
    for source in collector.sources:
        for root in source.roots:
            with contextlib.suppress(OSError):
                if not root.is_dir():
                    missing.append(root)
        with contextlib.suppress(OSError):
            missing.extend(source.awaited_paths())
    return missing


def _identities(roots: list[Path]) -> list[tuple[int, int] | None]:
    """(device, inode) of each root, None for one that is gone."""
    found: list[tuple[int, int] | None] = []
    for root in roots:
        try:
            st = root.stat()
        except OSError:
            found.append(None)
        else:
            found.append((st.st_dev, st.st_ino))
    return found


def _any_appeared(roots: list[Path]) -> bool:
    """Whether one of `roots` (missing until now) is a folder now."""
    for root in roots:
        with contextlib.suppress(OSError):
            if root.is_dir():
                return True
    return False


def _may_hold_logs(collector: Collector, raw: str) -> bool:
    """Whether a change at `raw` (no tracked file) may concern a source (see `Source.may_hold_logs`)."""
    path = Path(raw)
    return any(source.may_hold_logs(path) for source in collector.sources)


def _owner_path(raw: str) -> str:
    for suffix in _SQLITE_SIDE_FILES:
        if raw.endswith(suffix):
            return raw[: -len(suffix)]
    return raw


def history_progress_columns() -> tuple[Any, ...]:
    """The history pass's progress bar: one line in an 80-column terminal at its widest (`history`,
    a 20-column bar, `122.9/122.9 MiB`, `3445/3445 files, indexing`, the time left); the longer
    labels it had wrapped the sizes onto a second line."""
    from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn

    return (
        TextColumn("[bold]history"),
        BarColumn(bar_width=20),
        DownloadColumn(binary_units=True),  # as the `... MiB to read` line above
        TextColumn("{task.fields[files]}"),
        TimeRemainingColumn(),
    )


def _changed_since(tracked: list[Tracked], seen: dict[str, tuple[int, int, int]]) -> list[Tracked]:
    """The files whose size, mtime or inode differ from what `seen` holds for them (updated); a
    file not seen before is only noted (the passes that found it read it)."""
    changed: list[Tracked] = []
    for item in tracked:
        path = str(item.file.path)
        try:
            st = item.file.path.stat()
        except OSError:
            continue
        mark = (st.st_size, st.st_mtime_ns, st.st_ino)
        before = seen.get(path)
        seen[path] = mark
        if before is not None and before != mark:
            changed.append(item)
    return changed


def _index(tracked: list[Tracked]) -> dict[str, Tracked]:
    return {str(item.file.path): item for item in tracked}


def announce_to_stderr(message: str) -> None:
    """Print a daemon status line on stderr."""
    sys.stderr.write(f"devlog: {message}\n")
    sys.stderr.flush()
