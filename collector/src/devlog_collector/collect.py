"""The collect engine: every enabled source's files into the store, incrementally and exactly once.

Why it is built this way (see docs/collector.md and pipeline-reliability §1/§2/§8):

* **One transaction per step.** The events parsed from a chunk of a file, the file's advanced cursor
  and the chunk's parse problems are committed together (`Store.commit`). A crash at any instant
  keeps all of a step or none of it; event ids are deterministic, so re-reading a step after a crash
  inserts nothing twice.
* **Append-mode files are tailed by byte offset.** The cursor points just past the last complete
  `\\n`; a partial last line is never parsed until its newline arrives (no idle flush that could
  re-frame a record). The file's identity is (dev, inode) plus a hash of its first <=1 KiB, and a
  marker (hash of the <=64 bytes before the offset) is checked on every open: truncation,
  copy-truncate, replacement or an in-place rewrite all mean "re-read from 0 with empty state".
* **Streaming.** Files are read in chunks (`CHUNK_BYTES`), so memory is bounded by the chunk plus
  `collect.max_line_bytes`; longer lines are skipped and reported, never loaded.
* **Document and SQLite files** (whole-file rewrites, agent databases) are re-parsed when their
  size/mtime (and for SQLite the `-wal` file's) change; ids make re-emission harmless.
* **Fast skip.** All cursors are loaded with one query and each file costs one `stat` when unchanged.
* **Bad input never stops collection.** Whatever one file does (invalid bytes, a parser bug, a
  vanished file, permission denied, a symlink loop, a locked database) becomes a `ParseProblem`
  with its file and position, recorded once, and the pass goes on with the next file.
* **Disk pressure pauses, never corrupts.** Before each commit the store's free space is checked
  against `storage.min_free_bytes`; below it (or on SQLITE_FULL) the pass stops without advancing
  any cursor (the agents' files still hold the data) and reports why; the next pass resumes.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import hashlib
import io
import os
import sqlite3
import stat as stat_mod
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import msgspec

from devlog_collector import disk_full_marker
from devlog_collector.config import Config
from devlog_collector.errors import StoreError
from devlog_collector.log import get_logger
from devlog_collector.sizes import disk_free, human_bytes
from devlog_collector.sources import load_source_class, source_roots
from devlog_collector.sources._values import FIRST_SEEN_KEY, cap_text
from devlog_collector.sources.base import (
    DEPENDS_ON_KEY,
    RECHECK_AFTER_KEY,
    Problem,
    Source,
    SourceFile,
    file_signature,
)
from devlog_collector.store import Store, now_ms, store_gone_error
from devlog_collector.store.records import CollectCursor, ParseProblem
from devlog_collector.workspace import (
    WorkspaceInfo,
    WorkspaceResolver,
    credential_free_git,
    current_user,
    machine_id,
    normalise_file_path,
    normalise_workspace,
    spelling_depends_on_environment,
)
from devlog_shared import Event, GitInfo
from devlog_shared.limits import MAX_COST_USD, MAX_TEXT_CHARS, MAX_TOKENS, MAX_YEAR, MIN_YEAR

__all__ = [
    "CHUNK_BYTES",
    "AgentTotals",
    "CollectResult",
    "Collector",
    "DiskPressure",
    "Tracked",
    "build_sources",
    "source_agent",
    "source_id",
]

log = get_logger("collect")

#: Workspace/project/git/machine/user combinations whose enrichment is remembered (see `enrich`).
_ENRICHMENTS_KEPT: Final = 4096
#: Bytes read from an append-mode file per step (one transaction per step).
CHUNK_BYTES: Final = 4 * 1024 * 1024
#: A pass with at least this much to read (and more than the store holds) builds the secondary
#: indexes once at its end instead of keeping them current (`Store.begin_bulk_load`).
BULK_LOAD_MIN_BYTES: Final = 64 * 1024 * 1024
#: Document-mode events are committed in batches of this many (the cursor goes with the last batch).
DOCUMENT_BATCH: Final = 5000
#: Problems listed per commit (a chunk of a log, or a whole document); the rest are summed up in one
#: more problem. A file of garbage (millions of bad lines) must not become millions of rows.
MAX_PROBLEMS_PER_COMMIT: Final = 100
#: Seconds between two checks that the store is still the file this writer opened (`check_store`).
STORE_CHECK_SECONDS: Final = 2.0
HEAD_BYTES: Final = 1024
MARKER_BYTES: Final = 64
#: A file modified less than this long before we stat it is "racy" (file-system timestamps are
#: coarse: a rewrite within the same tick can keep size and mtime): its size/mtime are not trusted
#: for the fast skip, so the next pass verifies it by content (as git does for its index).
RACY_NS: Final = 1_000_000_000
#: Key the engine keeps its own per-file data under inside a cursor's `state` (hidden from sources).
ENGINE_STATE_KEY: Final = "__devlog"
#: Allocations between two young-generation GC passes while collecting (Python's default: 700).
#: Parsing makes millions of short-lived, acyclic dicts and structs; with the default, the cyclic
#: GC ran thousands of times per history load and also re-scanned every object alive since start-up.
COLLECT_GC_GEN0_THRESHOLD: Final = 50_000
_SQLITE_FULL: Final = 13
_UTF8_BOM: Final = b"\xef\xbb\xbf"


class DiskPressure(StoreError):
    """The store's disk is (nearly) full: collection pauses until space returns.

    `disk_full`: a write failed for want of space (not the `storage.min_free_bytes` check).
    """

    def __init__(self, message: str, *, disk_full: bool = False) -> None:
        super().__init__(message)
        self.disk_full = disk_full


def source_id(source: Source) -> str:
    """The key of a source's cursors and parse errors (`claude`, `generic:<name>`, ...)."""
    return str(getattr(source, "source_id", source.name))


def source_agent(source: Source) -> str:
    """The agent name a source's events carry."""
    return str(getattr(source, "agent", source.name))


def build_sources(config: Config) -> tuple[list[Source], list[str]]:
    """The enabled sources of `config` (built-in agents, then generic entries).

    Roots come from `collect.roots.<agent>` when set, else the source's `default_roots()` (which
    honour the agent's own environment variable). Returns the sources and warnings about sources
    that could not be loaded.
    """
    from devlog_collector.sources.generic import GenericJsonlSource

    sources: list[Source] = []
    warnings: list[str] = []
    if not config.collect.enabled:
        return sources, warnings
    for name in config.collect.agents:
        try:
            cls = load_source_class(name)
        except (ImportError, AttributeError) as exc:
            warnings.append(f"{name}: source not available ({exc})")
            continue
        sources.append(cls(source_roots(cls, config)))
    sources.extend(GenericJsonlSource(entry) for entry in config.collect.generic)
    return sources, warnings


@dataclass(frozen=True)
class Tracked:
    """One file of one source."""

    source: Source
    file: SourceFile

    @property
    def key(self) -> tuple[str, str]:
        return source_id(self.source), str(self.file.path)


@dataclass
class AgentTotals:
    """What one pass did for one source."""

    files: int = 0
    files_read: int = 0
    events_added: int = 0
    #: Stored events replaced by a newer copy (a rewritten document, a larger usage total).
    events_updated: int = 0
    problems: int = 0
    bytes_read: int = 0


@dataclass
class CollectResult:
    """The outcome of a pass: per-source totals, and why it stopped early (if it did)."""

    agents: dict[str, AgentTotals] = field(default_factory=dict)
    paused: str | None = None
    interrupted: bool = False
    #: Files a pass with a deadline left for later (in order).
    remaining: list[Tracked] = field(default_factory=list)

    def totals(self, name: str) -> AgentTotals:
        return self.agents.setdefault(name, AgentTotals())

    @property
    def events_added(self) -> int:
        return sum(t.events_added for t in self.agents.values())

    @property
    def events_updated(self) -> int:
        return sum(t.events_updated for t in self.agents.values())

    @property
    def files_read(self) -> int:
        return sum(t.files_read for t in self.agents.values())

    @property
    def problems(self) -> int:
        return sum(t.problems for t in self.agents.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "agents": {name: vars(t) for name, t in sorted(self.agents.items())},
            "events_added": self.events_added,
            "events_updated": self.events_updated,
            "files_read": self.files_read,
            "problems": self.problems,
            "paused": self.paused,
            "interrupted": self.interrupted,
        }


class _Stop(Exception):
    """Internal: the caller asked the pass to stop."""


ProgressCallback = Callable[[int, int], None]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def _fewer_gc_passes() -> Iterator[None]:
    """Run a pass with the cyclic GC mostly out of the way (about 5-10 % of a history load's CPU).

    Objects alive before the pass (modules, config, caches) are frozen, so GC passes never walk
    them, and the young generation is collected every `COLLECT_GC_GEN0_THRESHOLD` allocations.
    Reference counting still frees everything the parsers drop; both settings are restored after.
    """
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(COLLECT_GC_GEN0_THRESHOLD, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _head_fingerprint(head: bytes) -> str:
    return f"{len(head)}:{_sha(head)}"


def _head_matches(fingerprint: str | None, head: bytes) -> bool:
    if not fingerprint:
        return True
    length, _, digest = fingerprint.partition(":")
    if not length.isdigit() or len(head) < int(length):
        return False
    return _sha(head[: int(length)]) == digest


def _pread(fd: int, size: int, offset: int) -> bytes:
    chunks = []
    while size > 0:
        data = os.pread(fd, size, offset)
        if not data:
            break
        chunks.append(data)
        size -= len(data)
        offset += len(data)
    return b"".join(chunks)


class Collector:
    """Runs collection passes over a set of sources into one store (the caller holds the writer lock).

    Args:
        store: the store, opened for writing.
        config: the collector configuration (`collect.max_line_bytes`, `storage.min_free_bytes`).
        sources: the sources to read (default: `build_sources(config)`).
        should_stop: polled between steps; a True stops the pass after the current commit.
        chunk_bytes: bytes per append-mode step (tests use small chunks).
        resolver: workspace metadata cache (shared across passes by the daemon).
    """

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        sources: list[Source] | None = None,
        should_stop: Callable[[], bool] | None = None,
        chunk_bytes: int = CHUNK_BYTES,
        resolver: WorkspaceResolver | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.warnings: list[str] = []
        if sources is None:
            sources, self.warnings = build_sources(config)
        self.sources = sources
        self.should_stop = should_stop or (lambda: False)
        self.chunk_bytes = max(1, chunk_bytes)
        self.max_line = config.collect.max_line_bytes
        self.min_free = config.storage.min_free_bytes
        self.resolver = resolver or WorkspaceResolver()
        #: (workspace, project, git, machine, user) -> (normalised workspace, the resolver's answer
        #: for it, the fields `enrich` changes): see `enrich`.
        self._enrichments: dict[tuple[Any, ...], tuple[str, WorkspaceInfo | None, dict[str, Any]]] = {}
        self.machine = machine_id()
        self.user = current_user()
        self._known_problems: set[tuple[str, str, str, str]] = {
            (s, p, pos, msg)
            for s, p, pos, msg in store.db.execute("SELECT source, path, position, message FROM parse_errors")
        }
        #: Files with recorded problems (a quick test before looking through `_known_problems`).
        self._problem_files: set[tuple[str, str]] = {(k[0], k[1]) for k in self._known_problems}
        self._progress: ProgressCallback | None = None
        self._files_done = 0
        self._bytes_done = 0
        #: True while `mark_current` reads a file only for its cursor and parser state.
        self._discarding = False
        self._next_store_check = time.monotonic() + STORE_CHECK_SECONDS
        #: The current disk-pressure pause has been logged (reset when a pass completes).
        self._pause_logged = False
        #: Databases that were locked when read: `devlog start` reads them again soon (a lock that ends
        #: without a write changes no file, so no change would wake it before the next full pass).
        self.retry_soon: set[Tracked] = set()
        #: This pass stored something / paused because a write found the disk full (`disk_full_marker`).
        self._wrote = False
        self._disk_full = False

    # -- discovery -----------------------------------------------------------------------------

    def discover(self, result: CollectResult | None = None) -> list[Tracked]:
        """Every file of every source; a source whose discovery fails is reported, not fatal."""
        tracked: list[Tracked] = []
        seen: set[tuple[str, str]] = set()
        for source in self.sources:
            sid = source_id(source)
            source.unlisted.clear()
            try:
                for file in source.discover():
                    item = Tracked(source, file)
                    if not _is_utf8(item.key[1]):
                        self._unreadable_name(sid, item.key[1], result)
                        continue
                    if item.key not in seen:
                        seen.add(item.key)
                        tracked.append(item)
                self._report_unlisted(sid, source.unlisted, result)
                self._forget_discovery_failure(sid)
            except Exception as exc:  # noqa: BLE001 - a broken source must not stop the others
                message = f"discovery failed: {type(exc).__name__}: {exc}"
                log.warning("source_discovery_failed", source=sid, error=type(exc).__name__)
                added = self._record_standalone(
                    [ParseProblem(sid, str(source.roots[0]) if source.roots else "", "discovery", message)]
                )
                if result is not None:
                    result.totals(sid).problems += added
        return tracked

    def _report_unlisted(self, sid: str, unlisted: list[tuple[Path, str]], result: CollectResult | None) -> None:
        """Record the folders a discovery could not list (their logs are missing), and drop the
        recorded ones that list again, so `devlog status` shows exactly the current ones."""
        current = {str(path): reason for path, reason in unlisted if _is_utf8(str(path))}
        listed_again = {k for k in self._known_problems if k[0] == sid and k[2] == "folder" and k[1] not in current}
        if listed_again:
            with contextlib.suppress(sqlite3.Error), self.store.transaction() as db:
                db.executemany(
                    "DELETE FROM parse_errors WHERE source = ? AND path = ? AND position = 'folder'",
                    [(sid, k[1]) for k in listed_again],
                )
                self._known_problems -= listed_again
        if not current:
            return
        problems = [
            ParseProblem(sid, path, "folder", f"cannot list this folder ({reason}): the logs in it are not collected")
            for path, reason in current.items()
        ]
        for problem in problems:
            if (problem.source, problem.path, problem.position, problem.message) not in self._known_problems:
                log.warning("folder_not_listed", source=sid, path=problem.path, reason=current[problem.path])
        added = self._record_standalone(problems)
        if result is not None:
            result.totals(sid).problems += added

    def _forget_discovery_failure(self, sid: str) -> None:
        """Drop a recorded "discovery failed" of a source whose discovery works again."""
        stale = {k for k in self._known_problems if k[0] == sid and k[2] == "discovery"}
        if not stale:
            return
        with contextlib.suppress(sqlite3.Error), self.store.transaction() as db:
            db.execute("DELETE FROM parse_errors WHERE source = ? AND position = 'discovery'", (sid,))
            self._known_problems -= stale

    def _forget_file_problems(self, sid: str, path: str) -> None:
        """Drop the `file`-level problems (cannot open, read failed) of a log that opens now, so
        `devlog status` no longer shows them. (Line problems stay: a line is not re-read.)"""
        if (sid, path) not in self._problem_files:
            return
        stale = {k for k in self._known_problems if k[0] == sid and k[1] == path and k[2] == "file"}
        if not stale:
            return
        with contextlib.suppress(sqlite3.Error), self.store.transaction() as db:
            db.execute("DELETE FROM parse_errors WHERE source = ? AND path = ? AND position = 'file'", (sid, path))
            self._known_problems -= stale

    def _unreadable_name(self, sid: str, path: str, result: CollectResult | None) -> None:
        """A file whose name is not UTF-8 cannot be a cursor key, an event's source or a problem's
        path (SQLite text is UTF-8): it is reported (its name with the bad bytes escaped) and skipped."""
        shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        message = "file name is not valid UTF-8: skipped (rename the file to collect it)"
        added = self._record_standalone([ParseProblem(sid, shown, "file", message)])
        if result is not None:
            result.totals(sid).problems += added

    # -- passes --------------------------------------------------------------------------------

    def collect(
        self,
        tracked: Iterable[Tracked] | None = None,
        *,
        progress: ProgressCallback | None = None,
        result: CollectResult | None = None,
        deadline: float | None = None,
    ) -> CollectResult:
        """One pass over `tracked` (default: everything discovered now).

        Returns per-source totals; `paused` says why the pass stopped early for disk pressure. With a
        `deadline` (a `time.monotonic()` value), files not started by then are left in `remaining`
        (the daemon reads a burst of new files in slices between live changes).
        """
        result = result or CollectResult()
        for source in self.sources:
            result.totals(source_id(source))  # every enabled source shows up, even with no files
        items = list(tracked) if tracked is not None else self.discover(result)
        # A live pass over a few files loads only their cursors (not thousands, each pass).
        cursors = (
            self.store.cursors_for([item.key for item in items]) if tracked is not None else self.store.all_cursors()
        )
        self._progress = progress
        self._files_done = 0
        self._bytes_done = 0
        self._wrote = self._disk_full = False
        # Not in a sliced pass (the daemon's backlog, `deadline`): each slice would rebuild the indexes.
        bulk = deadline is None and self._large_load(items, cursors)
        if bulk:
            try:
                self.store.begin_bulk_load()
            except sqlite3.OperationalError as exc:  # a full disk: read on as usual, and its commits pause
                log.warning("history_load_not_prepared", error=str(exc))
                bulk = False
        try:
            with _fewer_gc_passes():
                self._collect_items(items, cursors, result, progress, deadline)
        finally:
            if bulk:
                self._end_bulk_load()
        self._progress = None
        if tracked is None and not (result.interrupted or result.paused or result.remaining):
            self.forget_vanished(items, cursors)
        if result.paused is None:
            self._pause_logged = False
        if self._disk_full:
            disk_full_marker.mark(self.store.home)  # for `devlog status`, which runs in another process
        elif self._wrote and result.paused is None:
            disk_full_marker.clear(self.store.home)
        return result

    def forget_vanished(
        self, discovered: list[Tracked], cursors: dict[tuple[str, str], CollectCursor] | None = None
    ) -> int:
        """Drop the cursors and recorded problems of files that are gone: not in `discovered` (a
        whole discovery, after the pass over it), not on disk, and not renamed to an untracked name
        in the same folder (a rotation: its last lines are read once the name is back, by that
        cursor). `devlog status` counted a deleted or renamed-away file as tracked for good. A file
        that comes back is read again from its start, which stores nothing twice (deterministic
        ids). Returns how many were dropped."""
        found = {item.key for item in discovered}
        enabled = {source_id(source) for source in self.sources}
        if cursors is not None:  # (the pass's own, loaded before it: files it added are in `found`)
            rows = [(key[0], key[1], c.dev, c.ino) for key, c in cursors.items() if key not in found]
        else:
            rows = self.store.db.execute("SELECT source, path, dev, ino FROM collect_cursors").fetchall()
        gone: list[tuple[str, str]] = []
        for source, path, dev, ino in rows:
            if source not in enabled or (source, path) in found or Path(path).exists():
                continue
            renamed = _find_by_identity(Path(path).parent, dev, ino) if dev is not None and ino is not None else None
            if renamed is None or (source, str(renamed)) in found:
                gone.append((source, path))
        if not gone:
            return 0
        with self.store.transaction() as db:
            db.executemany("DELETE FROM collect_cursors WHERE source = ? AND path = ?", gone)
            db.executemany("DELETE FROM parse_errors WHERE source = ? AND path = ?", gone)
        vanished = set(gone)
        self._known_problems = {k for k in self._known_problems if (k[0], k[1]) not in vanished}
        self._problem_files -= vanished
        log.info("vanished_files_forgotten", files=len(gone))
        return len(gone)

    def _large_load(self, items: list[Tracked], cursors: dict[tuple[str, str], CollectCursor]) -> bool:
        """Whether this pass should build the secondary indexes once at its end (see `Store`).

        Worth it when there is much to read (a first history load) and more than the store holds:
        rebuilding costs a scan of the whole table per index.
        """
        pending = self._pending(items, cursors)[1]
        if pending < BULK_LOAD_MIN_BYTES:
            return False
        try:
            stored = self.store.path.stat().st_size
        except OSError:
            return False
        if pending < stored:
            return False
        log.info("history_load_defers_indexes", pending_bytes=pending, store_bytes=stored)
        return True

    def _end_bulk_load(self) -> None:
        try:
            started = time.monotonic()
            self.store.end_bulk_load()
            log.info("secondary_indexes_built", seconds=round(time.monotonic() - started, 2))
        except sqlite3.Error as exc:  # e.g. the disk filled up: the next writer to start retries
            log.warning("secondary_indexes_not_built", error=str(exc))

    def _collect_items(
        self,
        items: list[Tracked],
        cursors: dict[tuple[str, str], CollectCursor],
        result: CollectResult,
        progress: ProgressCallback | None,
        deadline: float | None = None,
    ) -> None:
        for index, item in enumerate(items):
            if deadline is not None and index and time.monotonic() >= deadline:
                result.remaining = items[index:]
                break
            sid = source_id(item.source)
            totals = result.totals(sid)
            totals.files += 1
            if self.should_stop():
                result.interrupted = True
                break
            try:
                self._collect_file(item, cursors.get(item.key), totals)
            except DiskPressure as exc:
                result.paused = str(exc)
                self._disk_full = exc.disk_full
                # Once per pause, not once per pass (the daemon retries every second or so).
                (log.debug if self._pause_logged else log.warning)("collection_paused", reason=str(exc))
                self._pause_logged = True
                break
            except _Stop:
                result.interrupted = True
                break
            self._files_done += 1
            if progress is not None:
                progress(self._files_done, self._bytes_done)

    def pending(self, tracked: Iterable[Tracked]) -> tuple[int, int]:
        """(files, bytes) that a pass over `tracked` would read, estimated from stat (for progress)."""
        return self._pending(tracked, self.store.all_cursors())

    def _pending(self, tracked: Iterable[Tracked], cursors: dict[tuple[str, str], CollectCursor]) -> tuple[int, int]:
        files = 0
        total = 0
        for item in tracked:
            try:
                st = item.file.path.stat()
            except OSError:
                continue
            cursor = cursors.get(item.key)
            if cursor is not None and self._unchanged(item, cursor, st):
                continue
            files += 1
            if (
                item.file.mode == "append"
                and cursor is not None
                and cursor.ino == st.st_ino
                and cursor.offset <= st.st_size
            ):
                total += st.st_size - cursor.offset
            else:
                total += st.st_size
        return files, total

    def mark_current(self, tracked: Iterable[Tracked]) -> int:
        """`start --no-history`: remember files as read up to now without storing their events.

        Append files are parsed to their last complete line with every event and problem dropped:
        what the parser carries from line to line (a Codex session's folder, model and running
        token totals, Claude's pending tool names, line numbers) is then in the cursor, so lines
        appended later get the same context and ids as in a full collect. (Parsing costs a fraction
        of storing.) Document and SQLite files record their current size/mtime and that events
        older than now are history (they are dropped when the document is re-parsed after a
        change). Files that already have a cursor are left alone. Returns the number of files marked.
        """
        cursors = self.store.all_cursors()
        marked = 0
        now = now_ms()
        for item in tracked:
            if item.key in cursors:
                continue
            sid, path = item.key
            if item.file.mode == "append":
                self._discarding = True
                try:
                    self._collect_append(item, None, AgentTotals())
                except OSError:
                    continue
                except _Stop:  # SIGINT/SIGTERM: what is marked stays; the rest is history next time
                    break
                finally:
                    self._discarding = False
                marked += 1
                continue
            try:
                st = item.file.path.stat()
            except OSError:
                continue
            size, mtime = self._document_signature(item.file, st)
            cursor = CollectCursor(
                sid, path, st.st_dev, st.st_ino, size, mtime, 0, None, None,
                {ENGINE_STATE_KEY: {"not_before_ms": now}}, 0,
            )  # fmt: skip
            self._commit([], cursor, [])
            marked += 1
        return marked

    # -- run records ---------------------------------------------------------------------------

    def use_store(self, store: Store) -> None:
        """Go on in `store`: the same store under its own name, once a first load built aside is in
        place (`store/first_load.py`)."""
        self.store = store

    def begin_run(self) -> int:
        """Record the start of a collect run (shown by `devlog status`); returns its id."""
        with self.store.transaction() as db:
            cur = db.execute("INSERT INTO collect_runs (started_at) VALUES (?)", (now_ms(),))
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, result: CollectResult) -> None:
        """Record the end of a run."""
        with contextlib.suppress(sqlite3.Error), self.store.transaction() as db:
            db.execute(
                "UPDATE collect_runs SET finished_at = ?, events_added = ?, files_read = ? WHERE id = ?",
                (now_ms(), result.events_added, result.files_read, run_id),
            )

    def record_progress(self, run_id: int, result: CollectResult) -> None:
        """Record what a run that is still going has done so far (`devlog start`; its end stays unset,
        so a daemon killed later shows as interrupted, with what it had done)."""
        with contextlib.suppress(sqlite3.Error), self.store.transaction() as db:
            db.execute(
                "UPDATE collect_runs SET events_added = ?, files_read = ? WHERE id = ?",
                (result.events_added, result.files_read, run_id),
            )

    # -- one file ------------------------------------------------------------------------------

    def _document_signature(self, file: SourceFile, st: os.stat_result) -> tuple[int, int]:
        size, mtime = st.st_size, st.st_mtime_ns
        if file.mode == "sqlite":
            with contextlib.suppress(OSError):
                wal = Path(f"{file.path}-wal").stat()
                if wal.st_size > 0:  # (an empty -wal holds no commit: our own read may have created it)
                    size += wal.st_size
                    mtime = max(mtime, wal.st_mtime_ns)
        return size, mtime

    def _unchanged(self, item: Tracked, cursor: CollectCursor, st: os.stat_result) -> bool:
        if cursor.dev != st.st_dev or cursor.ino != st.st_ino:
            return False
        recheck = cursor.state.get(RECHECK_AFTER_KEY)
        if isinstance(recheck, int) and now_ms() >= recheck:
            return False  # the source held something back until then (see sources.base)
        if item.file.mode == "append":
            if item.source.reading is not None and _recorded_reading(cursor) != item.source.reading:
                return False  # read under another mapping: read again (`Source.reading`)
            return cursor.size == st.st_size and cursor.mtime_ns == st.st_mtime_ns
        depends = cursor.state.get(DEPENDS_ON_KEY)
        if isinstance(depends, dict) and any(file_signature(Path(p)) != sig for p, sig in depends.items()):
            return False  # a file its events depend on changed (see sources.base)
        return (cursor.size, cursor.mtime_ns) == self._document_signature(item.file, st)

    def _collect_file(self, item: Tracked, cursor: CollectCursor | None, totals: AgentTotals) -> None:
        sid, path = item.key
        try:
            st = item.file.path.stat()
        except FileNotFoundError:
            return  # gone since discovery (rotation, cleanup): nothing to read
        except OSError as exc:
            totals.problems += self._record_standalone(
                [ParseProblem(sid, path, "file", _os_message("cannot stat", exc))]
            )
            return
        if not stat_mod.S_ISREG(st.st_mode):
            totals.problems += self._record_standalone([ParseProblem(sid, path, "file", "not a regular file")])
            return
        if cursor is not None and self._unchanged(item, cursor, st):
            return
        totals.files_read += 1
        if item.file.mode == "append":
            self._collect_append(item, cursor, totals)
        else:
            self._collect_document(item, cursor, st, totals)

    def _collect_append(self, item: Tracked, cursor: CollectCursor | None, totals: AgentTotals) -> None:
        sid, path = item.key
        try:
            handle = open(item.file.path, "rb", buffering=0)  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return
        except OSError as exc:
            totals.problems += self._record_standalone(
                [ParseProblem(sid, path, "file", _os_message("cannot open", exc))]
            )
            return
        with handle:
            fd = handle.fileno()
            self._forget_file_problems(sid, path)  # (it opens now: "cannot open" is past)
            try:
                if cursor is not None and cursor.offset and _identity(os.fstat(fd)) != (cursor.dev, cursor.ino):
                    self._drain_renamed(item, cursor, totals)  # (the file the cursor was in: rotated?)
                self._tail(item, cursor, fd, totals)
            except OSError as exc:
                totals.problems += self._record_standalone(
                    [ParseProblem(sid, path, "file", _os_message("read failed", exc))]
                )

    def _resume_point(
        self, cursor: CollectCursor | None, st: os.stat_result, fd: int, head: bytes, reading: str | None
    ) -> tuple[int, int, dict[str, Any]]:
        """(offset, lines before it, source state) to continue from; (0, 0, {}) to re-read."""
        if cursor is None or cursor.offset == 0:
            return 0, 0, {}
        if _remapped(cursor, reading):
            log.info("file_reread", path=cursor.path, reason="the source's mapping changed")
            return 0, 0, {}
        reason = _not_read_up_to(cursor, st, fd, head)
        if reason is None:
            return cursor.offset, cursor.line_no, dict(cursor.state)
        log.info("file_reread", path=cursor.path, reason=reason)
        return 0, 0, {}

    def _drain_renamed(self, item: Tracked, cursor: CollectCursor, totals: AgentTotals) -> None:
        """Read what was appended to a log file after our last read and before it was renamed away.

        A log rotated by rename (`x.jsonl` -> `x.jsonl.1`, then a new `x.jsonl`) leaves its last
        lines under a name the source may not match: they would be lost (pipeline-reliability §3:
        tailers follow the file by its identity, not its name). The file is looked for by its
        (device, inode) in its folder and read on from the cursor when it is provably the file the
        cursor was in (size, first bytes and the bytes before the offset, as for any resume: an
        inode number reused by another file is not read). Its lines keep their file's name and
        numbering; the new file at the name is then read from its start as usual.
        """
        if cursor.dev is None or cursor.ino is None:
            return
        renamed = _find_by_identity(item.file.path.parent, cursor.dev, cursor.ino)
        if renamed is None:
            return
        try:
            handle = open(renamed, "rb", buffering=0)  # noqa: SIM115 - closed below
        except OSError:
            return
        with handle:
            fd = handle.fileno()
            st = os.fstat(fd)
            if st.st_size <= cursor.offset or (st.st_dev, st.st_ino) != (cursor.dev, cursor.ino):
                return
            if _not_read_up_to(cursor, st, fd, _pread(fd, HEAD_BYTES, 0)) is not None:
                return
            log.info("renamed_file_drained", path=cursor.path, renamed=str(renamed), bytes=st.st_size - cursor.offset)
            self._tail(item, cursor, fd, totals)

    def _tail(self, item: Tracked, cursor: CollectCursor | None, fd: int, totals: AgentTotals) -> None:
        sid, path = item.key
        st = os.fstat(fd)
        head = _pread(fd, HEAD_BYTES, 0)
        reading = item.source.reading
        offset, line_no, state = self._resume_point(cursor, st, fd, head, reading)
        engine_state = state.pop(ENGINE_STATE_KEY, None)
        # Read again from the start (the file was replaced or truncated, or the mapping changed): the
        # first step's problems replace the file's recorded ones, which may be gone now; after a
        # mapping change the events are the file's current reading and replace differing copies.
        restart = cursor is not None and cursor.offset > 0 and offset == 0
        if reading is not None:
            engine_state = {**(engine_state if isinstance(engine_state, dict) else {}), "reading": reading}
            if restart and cursor is not None and _remapped(cursor, reading):
                # Up to here the file's events replace their stored copies, also after an interruption
                # (the cursor keeps the mark until a step reaches it; see `_remapped_step`).
                engine_state["remap_until"] = max(st.st_size, 1)
        os.lseek(fd, offset, os.SEEK_SET)
        base = offset  # file offset where `parts` begins
        parts: list[bytes] = []
        parts_len = 0
        skipping = 0  # > 0: bytes of an over-long line being skipped
        committed = cursor if cursor is not None and offset == cursor.offset else None
        problems: list[ParseProblem] = []
        while True:
            if self.should_stop():
                raise _Stop
            chunk = os.read(fd, self.chunk_bytes)
            if not chunk:
                break
            totals.bytes_read += len(chunk)
            self._bytes_done += len(chunk)
            if skipping:
                newline = chunk.find(b"\n")
                if newline < 0:
                    skipping += len(chunk)
                    base += len(chunk)
                    continue
                line_no += 1
                problems.append(ParseProblem(sid, path, f"line {line_no}", self._long_line_message(skipping + newline)))
                base += newline + 1
                chunk = chunk[newline + 1 :]
                skipping = 0
                # Move the cursor past the skipped line now (a line boundary), reporting it once.
                committed = self._commit_step(
                    item, fd, st, head, base, line_no, state, engine_state, [], problems, totals,
                    restart=restart, remapped=_remapped_step(engine_state, base),
                )  # fmt: skip
                problems, restart = [], False
            last = chunk.rfind(b"\n")
            if last < 0:
                parts.append(chunk)
                parts_len += len(chunk)
                if parts_len > self.max_line:
                    skipping, base, parts, parts_len = parts_len, base + parts_len, [], 0
                continue
            data = b"".join([*parts, chunk[: last + 1]]) if parts else chunk[: last + 1]
            rest = chunk[last + 1 :]
            end = base + len(data)
            lines: list[tuple[int, bytes]] = []
            # (`BytesIO.readlines` finds each newline with memchr; `bytes.split` compared byte by byte:
            # ~4 instructions a byte, 3 % of a history load)
            for raw in io.BytesIO(data).readlines():
                line_no += 1
                raw = raw[:-1]  # (each ends with its newline: `data` ends at one)
                if len(raw) > self.max_line:
                    problems.append(ParseProblem(sid, path, f"line {line_no}", self._long_line_message(len(raw))))
                    continue
                if raw.endswith(b"\r"):
                    raw = raw[:-1]
                if line_no == 1 and raw.startswith(_UTF8_BOM):
                    raw = raw[3:]  # Windows tools start UTF-8 text files with a byte-order mark
                if raw and not raw.isspace():
                    lines.append((line_no, raw))
            del data
            events = self._parse_lines(item, lines, state, problems)
            committed = self._commit_step(
                item, fd, st, head, end, line_no, state, engine_state, events, problems, totals,
                restart=restart, remapped=_remapped_step(engine_state, end),
            )  # fmt: skip
            problems, restart = [], False
            base, parts, parts_len = end, ([rest] if rest else []), len(rest)
            if parts_len > self.max_line:
                skipping, base, parts, parts_len = parts_len, base + parts_len, [], 0
        held: list[Event] = []
        recheck = state.get(RECHECK_AFTER_KEY)
        if isinstance(recheck, int) and now_ms() >= recheck:  # nothing new: the source decides (sources.base)
            held = self._parse_lines(item, [], state, problems, at_end=True)
        if (
            held
            or problems
            or committed is None
            or committed.size != st.st_size
            or committed.mtime_ns != st.st_mtime_ns
            or (reading is not None and _recorded_reading(committed) != reading)  # (adopted: record it)
        ):
            # Nothing (more) to parse, but remember the file's size/mtime so the next pass skips it.
            resume = base if not skipping else base - skipping
            self._commit_step(
                item, fd, st, head, resume, line_no, state, engine_state, held, problems, totals, final=True,
                restart=restart, remapped=_remapped_step(engine_state, resume),
            )  # fmt: skip

    def _long_line_message(self, length: int) -> str:
        return f"line of {length} bytes is longer than collect.max_line_bytes ({self.max_line}); skipped"

    def _parse_lines(
        self,
        item: Tracked,
        lines: list[tuple[int, bytes]],
        state: dict[str, Any],
        problems: list[ParseProblem],
        *,
        at_end: bool = False,
    ) -> list[Event]:
        """The events of `lines` (`problems` gets theirs); `at_end`: no lines, the source's look at
        what it held back (`RECHECK_AFTER_KEY`)."""
        if not lines and not at_end:
            return []
        sid, path = item.key
        before = msgspec.json.encode(state)
        try:
            return self._gather(item.source.parse_lines(item.file, lines, state), sid, path, problems)
        except Exception:  # noqa: BLE001 - isolate the line that breaks the parser, keep the rest
            log.warning("parser_failed_chunk", source=sid, path=path)
        state.clear()
        state.update(msgspec.json.decode(before))
        events: list[Event] = []
        for line in lines:
            mark = len(problems)
            try:
                events.extend(self._gather(item.source.parse_lines(item.file, [line], state), sid, path, problems))
            except Exception as exc:  # noqa: BLE001
                del problems[mark:]
                problems.append(
                    ParseProblem(sid, path, f"line {line[0]}", f"parser error: {type(exc).__name__}: {exc}")
                )
        return events

    def _gather(
        self, items: Iterator[Event | Problem], sid: str, path: str, problems: list[ParseProblem]
    ) -> list[Event]:
        events: list[Event] = []
        if self._discarding:  # `mark_current`: the parser runs for its state; nothing is kept
            for _entry in items:
                pass
            return events
        last: _Context | None = None  # (see `_Context`)
        for entry in items:
            if isinstance(entry, Event):
                refusal = _out_of_range(entry)
                if refusal is None:
                    if entry.text is not None and len(entry.text) > MAX_TEXT_CHARS:
                        entry = _capped(entry)
                    if (
                        last is not None
                        and entry.workspace == last.workspace
                        and entry.git == last.git
                        and entry.project == last.project
                        and entry.machine == last.machine
                        and entry.user == last.user
                        and entry.file is None
                    ):
                        events.append(
                            msgspec.structs.replace(
                                entry,
                                workspace=last.enriched.workspace,
                                project=last.enriched.project,
                                git=last.enriched.git,
                                machine=last.enriched.machine,
                                user=last.enriched.user,
                            )
                        )
                    else:
                        enriched = self.enrich(entry)
                        last = _Context(entry, enriched) if entry.file is None else None
                        events.append(enriched)
                else:
                    problems.append(ParseProblem(sid, path, _position(entry), refusal))
            else:
                problems.append(ParseProblem(sid, path, entry.position, entry.message))
        return events

    def _commit_step(
        self,
        item: Tracked,
        fd: int,
        st: os.stat_result,
        head: bytes,
        offset: int,
        line_no: int,
        state: dict[str, Any],
        engine_state: Any,
        events: list[Event],
        problems: list[ParseProblem],
        totals: AgentTotals,
        *,
        final: bool = False,
        restart: bool = False,
        remapped: bool = False,
    ) -> CollectCursor:
        """Commit one step of a file's read. `restart`: the first step of a read again from the file's
        start (its problems replace the recorded ones); `remapped`: a step of a read under a changed
        mapping (its events replace differing stored copies, as a whole document's would)."""
        sid, path = item.key
        if self._discarding:  # `mark_current`: the cursor and the parser's state only
            events, problems = [], []
        length = min(MARKER_BYTES, offset)
        marker = _sha(_pread(fd, length, offset - length))
        # Size/mtime say "read up to here as of this stat"; stored only once every byte the stat
        # knew of has been consumed, so an interrupted read is never fast-skipped later.
        done = (final or offset >= st.st_size) and not _racy(st)
        saved_state = dict(state)
        if engine_state is not None:
            saved_state[ENGINE_STATE_KEY] = engine_state
        cursor = CollectCursor(
            sid, path, st.st_dev, st.st_ino, st.st_size if done else None, st.st_mtime_ns if done else None,
            offset, _head_fingerprint(head), marker, saved_state, line_no,
        )  # fmt: skip
        added, recorded = self._commit(
            events, cursor, problems, current_state=remapped, restate_problems=restart, totals=totals
        )
        totals.events_added += added
        totals.problems += recorded
        return cursor

    def _collect_document(
        self, item: Tracked, cursor: CollectCursor | None, st: os.stat_result, totals: AgentTotals
    ) -> None:
        sid, path = item.key
        # Taken before the read: a write that lands while we read (Cursor commits to its `-wal` at any
        # moment) must make the signature after the read differ, so the file is read again.
        size, mtime = self._document_signature(item.file, st)
        same_file = cursor is not None and cursor.dev == st.st_dev and cursor.ino == st.st_ino
        state = dict(cursor.state) if cursor is not None and same_file else {}
        if cursor is not None and not same_file:
            # Replaced by a save through a temporary file + rename (VS Code compacting a chat log):
            # the same document, so records without a time of their own keep the one they were
            # first given (not the new mtime), and a `--no-history` start's cutoff still holds.
            for key in (FIRST_SEEN_KEY, ENGINE_STATE_KEY):
                if key in cursor.state:
                    state[key] = cursor.state[key]
        engine_state = state.pop(ENGINE_STATE_KEY, None)
        not_before = engine_state.get("not_before_ms") if isinstance(engine_state, dict) else None
        events: list[Event] = []
        problems: list[ParseProblem] = []
        try:
            for entry in item.source.parse_document(item.file, state):
                if self.should_stop():
                    raise _Stop
                if isinstance(entry, Event):
                    refusal = _out_of_range(entry)
                    if refusal is not None:
                        problems.append(ParseProblem(sid, path, _position(entry), refusal))
                        continue
                    if not_before is not None and entry.ts.timestamp() * 1000 < not_before:
                        continue
                    if entry.text is not None and len(entry.text) > MAX_TEXT_CHARS:
                        entry = _capped(entry)
                    events.append(self.enrich(entry))
                    if len(events) >= DOCUMENT_BATCH:
                        added, _ = self._commit(
                            events, None, [], current_state=True, replaces=item.file.replaces, totals=totals,
                            where=item.key,
                        )  # fmt: skip
                        totals.events_added += added
                        events = []
                else:
                    problems.append(ParseProblem(sid, path, entry.position, entry.message))
        except _Stop:
            raise
        except DiskPressure:
            raise
        except Exception as exc:  # noqa: BLE001 - a parser bug costs this file, not the pass
            problems.append(ParseProblem(sid, path, "file", f"parser error: {type(exc).__name__}: {exc}"))
        retry = False
        try:
            after = item.file.path.stat()
            if self._document_signature(item.file, after) != (size, mtime) or after.st_ino != st.st_ino:
                retry = True  # changed while we read it: read it again next pass
                problems = []  # (likely artefacts of a half-written file)
        except OSError:
            retry = True
        if _racy_mtime(mtime):  # (for SQLite, the newer of the database's and its `-wal`'s)
            retry = True
        if item.file.mode == "sqlite" and not events and any(p.position == "database" for p in problems):
            retry = True  # locked or unreadable right now: try again next pass (reported once)
            # A lock can end without a write, and then no change wakes the daemon: it asks again soon.
            self.retry_soon.add(item)
        if engine_state is not None:
            state[ENGINE_STATE_KEY] = engine_state
        new_cursor = CollectCursor(
            sid, path, st.st_dev, st.st_ino, None if retry else size, None if retry else mtime,
            0, None, None, state, 0,
        )  # fmt: skip
        self._bytes_done += st.st_size
        totals.bytes_read += st.st_size
        added, recorded = self._commit(
            events, new_cursor, problems, current_state=True, replaces=item.file.replaces, totals=totals
        )
        totals.events_added += added
        totals.problems += recorded

    # -- enrichment ----------------------------------------------------------------------------

    def enrich(self, event: Event) -> Event:
        """Normalised workspace and file path; project, git, machine and user (fields the source left unset).

        The changes depend only on the event's workspace, project, git, machine and user (and its file,
        when it names one), and a history's events share a handful of those: they are worked out once
        per combination and reused while the resolver's answer for the workspace stays the same.
        """
        file = event.file
        if file is not None and file.path:
            return self._enrich(event)
        workspace = event.workspace
        key = (workspace, event.project, event.git, event.machine, event.user)
        known = self._enrichments.get(key)
        if known is not None:
            normalised, info, changes = known
            if info is None or self.resolver.resolve(normalised) is info:
                return msgspec.structs.replace(event, **changes) if changes else event
        enriched = self._enrich(event)
        if not workspace or not spelling_depends_on_environment(workspace):
            normalised = enriched.workspace or ""
            info = self.resolver.resolve(normalised) if normalised else None
            if len(self._enrichments) >= _ENRICHMENTS_KEPT:
                self._enrichments.clear()
            self._enrichments[key] = (normalised, info, _changed_fields(event, enriched))
        return enriched

    def _enrich(self, event: Event) -> Event:
        changes: dict[str, Any] = {}
        git = event.git
        if git is not None and git.remote:
            git = credential_free_git(git)
        if event.workspace:
            workspace = normalise_workspace(event.workspace, relative_to_cwd=False)
            if workspace != event.workspace:
                changes["workspace"] = workspace or None
            if workspace:
                info = self.resolver.resolve(workspace)
                if not event.project and info.project:
                    changes["project"] = info.project
                git = _merge_git(git, info.git)
        elif event.workspace is not None:
            changes["workspace"] = None  # "" is no folder (and the server refuses it)
        file = event.file
        if file is not None and file.path:
            path = normalise_file_path(file.path, changes.get("workspace", event.workspace))
            if path != file.path:
                changes["file"] = msgspec.structs.replace(file, path=path)
        if git is not event.git:
            changes["git"] = git
        if not event.machine:
            changes["machine"] = self.machine
        if not event.user:
            changes["user"] = self.user
        return msgspec.structs.replace(event, **changes) if changes else event

    # -- the write path ------------------------------------------------------------------------

    def disk_ok(self) -> bool:
        """True when the store's disk has at least `storage.min_free_bytes` free."""
        try:
            self._check_disk()
        except DiskPressure:
            return False
        return True

    def check_store(self, *, now: bool = False) -> None:
        """Stop (StoreError, one line at the CLI) when the store's files are no longer the ones open
        (deleted, moved, replaced): a history pass went on writing into a deleted file for its whole
        length and then reported every event added. Before a commit, one stat every
        `STORE_CHECK_SECONDS`; `now` (the daemon, also while paused) checks whatever the time."""
        moment = time.monotonic()
        if not now and moment < self._next_store_check:
            return
        self._next_store_check = moment + STORE_CHECK_SECONDS
        problem = self.store.gone_from_disk()
        if problem is not None:
            log.info("store_gone", problem=problem)  # (the CLI prints the one error line)
            raise store_gone_error(self.store.path, problem)

    def _check_disk(self) -> None:
        if self.min_free <= 0:
            return
        free = disk_free(self.store.path)
        if free is not None and free < self.min_free:
            raise DiskPressure(
                f"only {human_bytes(free)} free on the store's disk ({self.store.path.parent}), "
                f"below storage.min_free_bytes ({human_bytes(self.min_free)})"
            )

    def _commit(
        self,
        events: list[Event],
        cursor: CollectCursor | None,
        problems: list[ParseProblem],
        *,
        current_state: bool = False,
        restate_problems: bool | None = None,
        replaces: tuple[Path, ...] = (),
        totals: AgentTotals | None = None,
        where: tuple[str, str] | None = None,
    ) -> tuple[int, int]:
        """Store a step atomically; returns (events added, new problems recorded).

        `current_state`: the events are a whole document's current state (see `Store.commit`), also
        for copies read from the files in `replaces`. Replaced copies are counted into `totals`.
        `restate_problems` (by default `current_state`): `problems` are all the file has now and
        replace its recorded ones.
        An event SQLite cannot hold (a value past its integers, a string that is not Unicode: a
        parser let a hostile value through) is skipped and reported at its file (`cursor`'s, or
        `where`), and the rest stored: one record must not stop every later pass of every agent.
        """
        restate = current_state if restate_problems is None else restate_problems
        try:
            return self._commit_once(events, cursor, problems, current_state, restate, replaces, totals)
        except _UNSTORABLE as exc:
            origin = (cursor.source, cursor.path) if cursor is not None else where
            refused = {id(e): reason for e in events if (reason := self.store.unstorable(e)) is not None}
            if origin is None or not refused:
                raise
            source, path = origin
            log.warning("unstorable_events", source=source, path=path, count=len(refused), error=type(exc).__name__)
            skipped = "record skipped: it cannot be stored"
            kept = [e for e in events if id(e) not in refused]
            problems = problems + [
                ParseProblem(source, path, _position(e), f"{skipped} ({refused[id(e)]})")
                for e in events
                if id(e) in refused
            ]
            return self._commit_once(kept, cursor, problems, current_state, restate, replaces, totals)

    def _commit_once(
        self,
        events: list[Event],
        cursor: CollectCursor | None,
        problems: list[ParseProblem],
        current_state: bool,
        restate_problems: bool,
        replaces: tuple[Path, ...],
        totals: AgentTotals | None,
    ) -> tuple[int, int]:
        current, hidden = _listed_problems(problems)
        fresh = [p for p in current if (p.source, p.path, p.position, p.message[:1000]) not in self._known_problems]
        # A whole document's read states all of its problems: they replace the earlier ones (a
        # half-written file's "invalid JSON" goes away once a read of it is clean); so does the
        # first step of a log read again from its start.
        replace = (cursor.source, cursor.path) if restate_problems and cursor is not None else None
        self._check_disk()
        self.check_store()
        replaced_before = self.store.replaced
        try:
            added = self.store.commit(
                events,
                cursor,
                current if replace else fresh,
                search_index=False,
                current_state=current_state,
                problems_replace=replace,
                replaces=tuple(str(path) for path in replaces),
            )
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL or "full" in str(exc).lower():
                raise DiskPressure(f"the store's disk is full ({exc})", disk_full=True) from exc
            raise
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DiskPressure(f"the store's disk is full ({exc.strerror})", disk_full=True) from exc
            raise
        self._wrote = True
        if totals is not None:
            totals.events_updated += self.store.replaced - replaced_before
        if replace is not None:
            self._known_problems = {k for k in self._known_problems if (k[0], k[1]) != replace}
        for problem in current if replace else fresh:
            self._known_problems.add((problem.source, problem.path, problem.position, problem.message[:1000]))
            self._problem_files.add((problem.source, problem.path))
        for problem in fresh:
            log.info("parse_problem", source=problem.source, path=problem.path, position=problem.position)
        summarised = hidden - 1 if hidden and fresh and fresh[-1] is current[-1] else 0
        return added, len(fresh) + summarised

    def _record_standalone(self, problems: list[ParseProblem]) -> int:
        try:
            return self._commit([], None, problems)[1]
        except DiskPressure:
            raise
        except sqlite3.Error:
            return 0


_TOKEN_FIELDS: Final = (
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "reasoning_tokens",
)


#: What storing a value SQLite cannot hold raises (an integer past 64 bits, a lone surrogate, a type
#: the driver cannot bind, an attribute msgspec cannot encode).
_UNSTORABLE: Final = (OverflowError, ValueError, TypeError, sqlite3.InterfaceError, msgspec.EncodeError)


class _Context:
    """The fields `enrich` works from, of one event, and that event enriched.

    The events of one read share a few such contexts (all the events of a Claude Code line share
    one), and the ones that follow an event with the same context are enriched alike: `_gather`
    copies the enriched fields onto them (one `replace` with its keywords written out) instead of
    calling `enrich`, whose cache lookup (a hash of the five fields), the resolver's check and a
    `replace(**changes)` cost ~4,000 instructions more per event. A read is parsed in moments, so
    the resolver's answer, checked for the first event of each context, holds for the rest of it.
    Events that name a file are enriched one by one (their path is normalised against the workspace).
    """

    __slots__ = ("enriched", "git", "machine", "project", "user", "workspace")

    def __init__(self, event: Event, enriched: Event) -> None:
        self.workspace, self.project, self.git = event.workspace, event.project, event.git
        self.machine, self.user = event.machine, event.user
        self.enriched = enriched


def _changed_fields(before: Event, after: Event) -> dict[str, Any]:
    """The fields `enrich` set on `before` to make `after` (it never touches the others)."""
    return {
        name: getattr(after, name)
        for name in ("workspace", "project", "git", "machine", "user")
        if getattr(after, name) is not getattr(before, name)
    }


def _capped(event: Event) -> Event:
    """`event` with its text cut to `MAX_TEXT_CHARS` (for sources that do not cap their own: an
    80 MiB prompt was stored whole, and the server would refuse to take it)."""
    attrs = dict(event.attrs)
    return msgspec.structs.replace(event, text=cap_text(event.text or "", MAX_TEXT_CHARS, attrs), attrs=attrs)


def _recorded_reading(cursor: CollectCursor) -> Any:
    """The source reading (`Source.reading`) `cursor`'s file was last read under, or None."""
    engine_state = cursor.state.get(ENGINE_STATE_KEY)
    return engine_state.get("reading") if isinstance(engine_state, dict) else None


def _remapped_step(engine_state: Any, end: int) -> bool:
    """Whether a step of a read ending at `end` is still part of a re-read under a changed mapping
    (`remap_until` in the engine's state: the file's size when it began); the mark is dropped by the
    step that reaches it. An interrupted re-read so goes on correcting where it stopped."""
    until = engine_state.get("remap_until") if isinstance(engine_state, dict) else None
    if not isinstance(until, int):
        return False
    if end >= until:
        del engine_state["remap_until"]
    return True


def _remapped(cursor: CollectCursor, reading: str | None) -> bool:
    """Whether `cursor`'s file was read under another reading than `reading`. A cursor that recorded
    none (written by a devlog from before readings were recorded, or marked by a `--no-history`
    start then) takes the current one without a re-read: an upgrade changes nothing collected."""
    recorded = _recorded_reading(cursor)
    if reading is None or not isinstance(recorded, str) or recorded == reading:
        return False
    if recorded.partition(":")[0] != reading.partition(":")[0]:  # (ids would change: see `Source.reading`)
        log.warning("mapping_id_changed", path=cursor.path, note="lines already collected keep their ids")
        return False
    return True


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _not_read_up_to(cursor: CollectCursor, st: os.stat_result, fd: int, head: bytes) -> str | None:
    """None when the open file (`st`, `fd`, its first bytes `head`) is the one `cursor` read up to its
    offset; else why not ("replaced", "truncated", "rewritten")."""
    if cursor.dev != st.st_dev or cursor.ino != st.st_ino:
        return "replaced"
    if st.st_size < cursor.offset:
        return "truncated"
    if not _head_matches(cursor.head_hash, head):
        return "rewritten"
    length = min(MARKER_BYTES, cursor.offset)
    if cursor.marker is not None and _sha(_pread(fd, length, cursor.offset - length)) != cursor.marker:
        return "rewritten"
    return None


def _find_by_identity(folder: Path, dev: int, ino: int) -> Path | None:
    """The regular file in `folder` (not below it) whose (device, inode) is (`dev`, `ino`), if any."""
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.inode() != ino:
                    continue
                with contextlib.suppress(OSError):
                    st = entry.stat(follow_symlinks=False)
                    if st.st_dev == dev and stat_mod.S_ISREG(st.st_mode):
                        return Path(entry.path)
    except OSError:
        return None
    return None


def _out_of_range(event: Event) -> str | None:
    """Why `event` cannot be stored (a token count or a year past `devlog_shared.limits`), or None."""
    usage = event.usage
    if usage is not None and (usage.total > MAX_TOKENS or usage.reasoning_tokens > MAX_TOKENS):
        for name in _TOKEN_FIELDS:
            if getattr(usage, name) > MAX_TOKENS:
                return f"record skipped: `{name}` is {getattr(usage, name)}, implausibly large (over {MAX_TOKENS:,})"
    if not MIN_YEAR <= event.ts.year <= MAX_YEAR:
        return f"record skipped: its time {event.ts.isoformat()} is outside the years {MIN_YEAR}-{MAX_YEAR}"
    cost = event.cost_usd
    if cost is not None and not 0 <= cost <= MAX_COST_USD:  # (NaN fails both comparisons)
        return f"record skipped: its cost {cost!r} is not a plausible amount (0 to {MAX_COST_USD:,.0f} USD)"
    return None


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes of a file name (surrogate escapes)
        return False
    return True


def _position(event: Event) -> str:
    return event.source.key if event.source is not None and event.source.key else "record"


def _listed_problems(problems: list[ParseProblem]) -> tuple[list[ParseProblem], int]:
    """(`problems` once each, in order, past `MAX_PROBLEMS_PER_COMMIT` one more that sums up the
    rest; how many that one stands for, or 0)."""
    unique = list(dict.fromkeys(problems))
    if len(unique) <= MAX_PROBLEMS_PER_COMMIT:
        return unique, 0
    listed, rest = unique[:MAX_PROBLEMS_PER_COMMIT], unique[MAX_PROBLEMS_PER_COMMIT:]
    first = rest[0]
    summary = (
        f"{len(rest):,} more problems from {first.position} to {rest[-1].position} "
        f"(only the first {MAX_PROBLEMS_PER_COMMIT} of a read are listed one by one)"
    )
    return [*listed, ParseProblem(first.source, first.path, first.position, summary)], len(rest)


def _racy(st: os.stat_result) -> bool:
    return _racy_mtime(st.st_mtime_ns)


def _racy_mtime(mtime_ns: int) -> bool:
    return time.time_ns() - mtime_ns < RACY_NS


def _merge_git(from_source: GitInfo | None, from_disk: GitInfo | None) -> GitInfo | None:
    """The source's git facts win; the repository's files fill what it left out.

    The commit on disk is only added when the branch agrees (a historical event recorded on
    another branch does not get today's commit).
    """
    if from_disk is None:
        return from_source
    if from_source is None:
        return from_disk
    remote = from_source.remote or from_disk.remote
    branch = from_source.branch or from_disk.branch
    commit = from_source.commit
    if commit is None and (from_source.branch is None or from_source.branch == from_disk.branch):
        commit = from_disk.commit
    if (remote, branch, commit) == (from_source.remote, from_source.branch, from_source.commit):
        return from_source
    return GitInfo(remote=remote, branch=branch, commit=commit)


def _os_message(what: str, exc: OSError) -> str:
    reason = exc.strerror or type(exc).__name__
    if exc.errno == errno.ELOOP:
        reason = "symlink loop"
    return f"{what}: {reason}"


def newest_event_time(store: Store) -> datetime | None:  # pragma: no cover - convenience for status
    """Timestamp of the newest stored event."""
    from devlog_collector.store import ms_to_datetime

    row = store.db.execute("SELECT max(ts) FROM events").fetchone()
    return ms_to_datetime(row[0]) if row and row[0] is not None else None
