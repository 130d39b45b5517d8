"""The local SQLite store: every collected event, the collect cursors, and the export cursors.

One writer at a time (an exclusive `flock` on `<db>.lock`, held by `devlog start`/`collect`), any
number of readers (WAL mode). The store migrates itself on open, and its files are 0600.

The write path is `commit()`: the events parsed from a chunk of a source file, that file's advanced
cursor and any parse problems are written in ONE transaction. A crash at any instant therefore
either keeps all of it or none of it, and because event ids are deterministic a re-read after a
crash inserts nothing twice.

Insert policy: an event whose id is already stored is ignored, unless the new copy supersedes it
(`_supersedes`); then the stored copy is replaced and gets a new `seq`, so exporters send it again.
A copy supersedes the stored one when
* it comes from the same file re-read as a whole document (`current_state`: Copilot, Gemini and
  Cursor sessions are rewritten in place, so a title, a tool call's status or a workspace learnt
  later must reach the store; a generic log read again under a changed mapping) and its content
  differs, whatever its token total: the document's current state is what a fresh read would store
  (Gemini re-appends a message with its final, smaller, usage);
* it carries a larger token total (Claude Code streams one response over several lines and only
  some carry the final usage); otherwise a smaller total never replaces;
* with an equal total, it comes from the file that took over from the stored copy's (`replaces`:
  a session converted from `.json` to `.jsonl`) and its content differs;
* with an equal, non-zero total and another time, it comes from a file whose path sorts first: the
  copy a clean collect and ccusage keep (files are read in path order), so a store filled
  incrementally puts a resumed session's copied usage on the same day as a fresh one.
Rows go in several per statement; only when some ids were already present does the check look at
the stored copies (a history load almost never pays for it). A document read again as a whole keeps
its order: events it lists at the same time as a superseding copy, after it, are stored again behind
it (`_insert_in_document_order`), so `ORDER BY ts, seq` lists the document as a fresh read would.

The full-text index (`events_fts`) is filled *behind* the events, up to a watermark (meta key
`fts_indexed_seq`: every event with `seq` <= it is indexed, none above it). Tokenising `text` was
about half the cost of storing an event, so a bulk history load leaves it to `update_search_index()`,
which `devlog start` runs in the background and `--search` runs before searching. A commit made with
`search_index=True` (the default; small and live writes) indexes its own events in the same
transaction when the index is caught up, so it stays caught up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from devlog_collector.errors import StoreError, StoreLocked, store_failure
from devlog_collector.lock_files import open_lock_file
from devlog_collector.log import get_logger
from devlog_collector.paths import ensure_private_dir, home_dir
from devlog_collector.read_only_store import FOLDER_READ_ONLY_HINT, connect_read_only, shared_memory_refused
from devlog_collector.store.loaded_ids import LoadedIds
from devlog_collector.store.migrations import (
    ID_INDEX,
    SECONDARY_INDEXES,
    id_index_is_named,
    migrate,
    usage_rollup_add_sql,
    usage_rollup_batch_sql,
    usage_rollup_insert_trigger_sql,
)
from devlog_collector.store.migrations import pending as pending_migrations
from devlog_collector.store.migrations import unknown as unknown_migrations
from devlog_collector.store.null_binding import register_identity_adapters
from devlog_collector.store.rollup_rows import RollupOfRows
from devlog_collector.store.row_batches import RowBatchInsert

if TYPE_CHECKING:
    from devlog_collector.store.records import CollectCursor, ParseProblem
    from devlog_collector.store.wal_checkpointer import WalCheckpointer
    from devlog_shared import Event

register_identity_adapters()

__all__ = [
    "DEFERRED_INDEXES_KEY",
    "FTS_WATERMARK_KEY",
    "PRUNED_BEFORE_KEY",
    "SEARCH_INDEX_BATCH",
    "CollectCursor",
    "ParseProblem",
    "Store",
    "event_from_row",
    "now_ms",
    "price_extras",
    "store_gone_error",
    "take_writer_lock",
]

log = get_logger("store")

#: Meta key present while the secondary indexes are dropped for a large history load.
DEFERRED_INDEXES_KEY: Final = "secondary_indexes_deferred"
#: Meta key of the full-text index watermark: events with `seq` <= it are in `events_fts`, none above.
FTS_WATERMARK_KEY: Final = "fts_indexed_seq"
#: Meta key of the latest prune cutoff (epoch ms): an event older than it that is not stored is not
#: stored again (a session document an agent rewrites would otherwise bring pruned events back).
PRUNED_BEFORE_KEY: Final = "pruned_before_ms"
#: Events indexed per write transaction by `update_search_index` (keeps each transaction short, so a
#: search or the background indexer never holds up the collector for long).
SEARCH_INDEX_BATCH: Final = 2000
#: Page cache of the writer connection (KiB, as a negative `cache_size`). SQLite's default 2 MiB
#: cannot hold the event-id index's pages; random UUIDs then cost a cache miss per insert.
WRITER_CACHE_KIB: Final = 32 * 1024
#: WAL size before an automatic checkpoint on the writer (SQLite's default is 1,000 pages, 4 MiB at
#: its default page size): fewer, larger checkpoints (each one syncs) during a history load; the WAL
#: file is reset after each. Set in pages, from the store's page size.
WRITER_WAL_AUTOCHECKPOINT_BYTES: Final = 32 * 1024 * 1024
#: Bytes the WAL file is cut back to after a checkpoint: a burst (thousands of new files while
#: readers hold old snapshots) can grow it past the checkpoint size, and SQLite keeps a WAL's size.
WAL_SIZE_LIMIT: Final = 64 * 1024 * 1024
_SELECT_WATERMARK: Final = f"SELECT CAST(value AS INTEGER) FROM meta WHERE key = '{FTS_WATERMARK_KEY}'"
_SET_WATERMARK: Final = f"INSERT OR REPLACE INTO meta (key, value) VALUES ('{FTS_WATERMARK_KEY}', ?)"
_ROLLUP_BATCH: Final = usage_rollup_batch_sql()
_ROLLUP_ADD: Final = usage_rollup_add_sql()
#: Commits with at least this many events maintain the usage rollup once per commit (see
#: `_store_events`); smaller (live) ones leave it to the per-row trigger and change no schema.
ROLLUP_BATCH_MIN_EVENTS: Final = 64
#: Page size of new stores. Rows are ~1 KiB (body JSON + text) and vary widely: 16 KiB pages leave
#: less unused at their ends than 8 KiB ones and halve the reads and writes of a history load (a first
#: load of 150 MB: 5 % smaller store, about 6 % less time; 32 KiB pages gained nothing more and cost
#: each small live commit twice the WAL bytes).
NEW_STORE_PAGE_SIZE: Final = 16384
_INDEX_RANGE: Final = (
    "INSERT INTO events_fts (rowid, text) SELECT seq, text FROM events WHERE seq > ? AND seq <= ? AND text IS NOT NULL"
)

_EVENT_COLUMNS = (
    "id, ts, agent, kind, session_id, workspace, project, model, user, tool_name, file_path, "
    "input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, reasoning_tokens, "
    "cost_usd, text, body, collected_at, cache_creation_1h_tokens, web_search_requests, fast"
)
#: The rollup rows of a batch of `_INSERT` rows, worked out before they are stored (see `_store_events`).
_ROLLUP_OF_ROWS: Final = RollupOfRows([column.strip() for column in _EVENT_COLUMNS.split(",")])
#: Positions in an `_INSERT` row (`_row_values`) that the insert policy compares.
_ROW_TS, _ROW_TEXT, _ROW_BODY = 1, 17, 18
#: Rows into `events`, several per statement (`RowBatchInsert`); `_INSERT_NEW` and `_INSERT` are the
#: one-row statements. `_INSERT_ROWS` skips an id already stored, `_INSERT_NEW_ROWS` is for ids known new.
_INSERT_NEW_ROWS = RowBatchInsert(f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES", 23)
_INSERT_ROWS = RowBatchInsert(_INSERT_NEW_ROWS.head, 23, " ON CONFLICT (id) DO NOTHING")
_INSERT_NEW = _INSERT_NEW_ROWS.one_row
_INSERT = _INSERT_ROWS.one_row
_SELECT_STORED_ROW: Final = f"SELECT {_EVENT_COLUMNS} FROM events WHERE id = ?"
_SELECT_STORED_COPY: Final = (
    "SELECT input_tokens + output_tokens + cache_creation_tokens + cache_read_tokens, ts, body, text "
    "FROM events WHERE seq = ?"
)


_SELECT_CURSORS: Final = (
    "SELECT source, path, dev, ino, size, mtime_ns, offset, head_hash, marker, state, line_no FROM collect_cursors"
)
#: Beyond this many files, `cursors_for` reads every cursor in one query instead of one lookup each.
_CURSOR_LOOKUPS_MAX: Final = 256


def _cursors(rows: Iterable[tuple[Any, ...]]) -> dict[tuple[str, str], CollectCursor]:
    import msgspec

    from devlog_collector.store.records import CollectCursor

    result = {}
    for src, path, dev, ino, size, mtime_ns, offset, head_hash, marker, state, line_no in rows:
        result[(src, path)] = CollectCursor(
            src, path, dev, ino, size, mtime_ns, offset, head_hash, marker,
            msgspec.json.decode(state) if state else {}, line_no,
        )  # fmt: skip
    return result


#: Seconds a store that needs migrating waits for the writer lock (another process migrating it)
#: before concluding that a collector holds it.
MIGRATION_LOCK_WAIT_S: Final = 10.0


def _migrate_unless_collected_into(db: sqlite3.Connection, path: Path) -> None:
    """Apply the pending migrations holding the writer lock; refuse if a collector holds it.

    A collector that holds it (an older devlog's `start`, in the middle of an upgrade) would go on
    writing rows the way its own version knows into the changed schema, and leave the columns this
    version adds empty for good. So this version upgrades a store only while nobody collects into it.
    The holder may also be a process of this version that is migrating the same new store (`devlog
    start` and `devlog collect` started together): once nothing is pending any more, there is nothing
    to refuse, and the caller's own lock attempt says who is collecting.
    """
    lock_path = Path(f"{path}.lock")
    deadline = time.monotonic() + MIGRATION_LOCK_WAIT_S  # another process's migration is brief
    with open_lock_file(lock_path) as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not pending_migrations(db):
                    return  # the lock's holder migrated it meanwhile
                if time.monotonic() >= deadline:
                    raise StoreLocked(
                        f"another devlog process is collecting into {path} (perhaps an older devlog's "
                        "`start`): stop it before this version upgrades the store"
                    ) from None
                time.sleep(0.1)
        try:
            migrate(db)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: How long opening a store waits for another process that holds the lock SQLite needs to switch a
#: new store to WAL mode (the connection's busy timeout, which SQLite does not apply to that switch).
WAL_SWITCH_WAIT_S: Final = 30.0


def _switch_to_wal(db: sqlite3.Connection) -> None:
    """`PRAGMA journal_mode = WAL`, retried while another process holds the store's lock.

    Two processes opening a store that does not exist yet (`devlog start` and `devlog collect`
    started together) both switch it to WAL: SQLite answers "database is locked" at once, without
    waiting out the busy timeout, to the one that finds the other mid-switch or mid-migration.
    """
    deadline = time.monotonic() + WAL_SWITCH_WAIT_S
    delay = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _build_aside(db: sqlite3.Connection) -> None:
    """The settings of a new store's first load, built beside its name (`store/first_load.py`).

    No write-ahead log (each page is written once, not into the `-wal` and again by a checkpoint);
    the journal in memory, so a statement or transaction that fails still rolls back; no syncs;
    and an exclusive lock, taken at the first write and kept until the load ends (nobody else
    opens the side file). A crash can leave the file damaged: it is then deleted, never published.
    """
    db.execute("PRAGMA journal_mode = MEMORY")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA locking_mode = EXCLUSIVE")


def make_store_folder(path: Path) -> None:
    """Make the folder of the store at `path` (and devlog's home), private: they hold everything
    the agents saw (0700). Raises OSError."""
    home = home_dir()
    if home in path.parents:
        ensure_private_dir(home)
    ensure_private_dir(path.parent)


def _cannot_create(path: Path, exc: OSError) -> StoreError:
    from devlog_collector.storage_location import file_in_the_way

    blocking = file_in_the_way(path.parent)
    reason = f"{blocking} is a file, not a folder" if blocking is not None else exc.strerror
    return StoreError(f"cannot create the store at {path}: {reason}")


def take_writer_lock(path: Path, *, wait: bool = False) -> IO[bytes]:
    """Become the single writer of the store at `path` (its `.lock` file, with the holder's pid);
    raises StoreLocked if another process is, StoreError if the store's folder cannot be made.
    Returns the lock's open handle: closing it releases it.
    """
    try:
        make_store_folder(path)
    except OSError as exc:
        raise _cannot_create(path, exc) from exc
    handle = open_lock_file(Path(f"{path}.lock"))
    try:
        fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = ""
        with contextlib.suppress(OSError):
            handle.seek(0)
            holder = handle.read(32).decode("ascii", "replace").strip()
        handle.close()
        who = f"another devlog process (pid {holder})" if holder.isdigit() else "another devlog process"
        raise StoreLocked(
            f"{who} is collecting into {path}: a `devlog start` is running, or a `devlog collect` has not finished yet"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()).encode())
    handle.flush()
    return handle


def _wal_autocheckpoint_pages(db: sqlite3.Connection) -> int:
    """`WRITER_WAL_AUTOCHECKPOINT_BYTES` in pages of this store (8 KiB in stores made before 16 KiB)."""
    page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
    return max(1000, WRITER_WAL_AUTOCHECKPOINT_BYTES // page_size)


def now_ms() -> int:
    """Current time in epoch milliseconds."""
    return int(time.time() * 1000)


def __getattr__(name: str) -> Any:
    # CollectCursor and ParseProblem are msgspec Structs; only the collector needs them (see records.py).
    if name in ("CollectCursor", "ParseProblem"):
        from devlog_collector.store import records

        return getattr(records, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _schema() -> Any:
    """The event schema package, imported on first use: `devlog stats` and `status` never need it
    (it defines every msgspec struct of schema v1, ~5 ms of their start-up)."""
    global _SCHEMA, _replace, _encode_event
    if _SCHEMA is None:
        from msgspec.structs import replace

        import devlog_shared

        _SCHEMA, _replace, _encode_event = devlog_shared, replace, devlog_shared.encode_event
    return _SCHEMA


_SCHEMA: Any = None
_replace: Any = None  # msgspec.structs.replace, set by _schema()
_encode_event: Any = None  # devlog_shared.encode_event, set by _schema()


def _row_values(event: Event, collected_at: int, ts_ms: int | None = None) -> tuple[Any, ...]:
    """The `_INSERT` row of `event`; `ts_ms` is its time in epoch ms when the caller has it already
    (the events of one record share their `ts`, and working it out costs ~3,000 instructions)."""
    if _SCHEMA is None:
        _schema()
    usage = event.usage
    text = event.text
    tool = event.tool
    file = event.file
    if ts_ms is None:
        ts_ms = int(event.ts.timestamp() * 1000)
    body = _encode_event(_replace(event, text=None) if text is not None else event)
    # Two spellings of one row, without `*` unpacking (which builds a list first): most events
    # carry no usage, and their token and price columns are zeros.
    if usage is None:
        return (
            event.id, ts_ms, event.agent, event.kind, event.session_id, event.workspace, event.project,
            event.model, event.user, tool.name if tool is not None else None,
            file.path if file is not None else None, 0, 0, 0, 0, 0, event.cost_usd, text, body, collected_at,
            0, 0, 0,
        )  # fmt: skip
    one_hour, searches, fast = price_extras(event) if event.attrs else _NO_PRICE_EXTRAS
    return (
        event.id, ts_ms, event.agent, event.kind, event.session_id, event.workspace, event.project, event.model,
        event.user, tool.name if tool is not None else None, file.path if file is not None else None,
        usage.input_tokens, usage.output_tokens, usage.cache_creation_tokens, usage.cache_read_tokens,
        usage.reasoning_tokens, event.cost_usd, text, body, collected_at, one_hour, searches, fast,
    )  # fmt: skip


def _rows(events: Iterable[Event], collected_at: int) -> list[tuple[Any, ...]]:
    """The `_INSERT` rows of `events`; consecutive events with the same `ts` object (one record's)
    share the work of turning it into epoch ms."""
    rows: list[tuple[Any, ...]] = []
    last_ts: datetime | None = None
    ts_ms = 0
    for event in events:
        ts = event.ts
        if ts is not last_ts:
            last_ts, ts_ms = ts, int(ts.timestamp() * 1000)
        rows.append(_row_values(event, collected_at, ts_ms))
    return rows


_NO_PRICE_EXTRAS: Final = (0, 0, 0)
#: `devlog_shared.limits.MAX_TOKENS`, spelled out: importing it would load the event schema into
#: every query command that opens the store (a test keeps the two equal). A count past it (a hostile
#: `web_search_requests`) would overflow SQLite's integers and fail the whole commit.
_MAX_COUNT: Final = 10**12


def price_extras(event: Event) -> tuple[int, int, int]:
    """(1-hour cache write tokens, web searches, fast mode) of a model call, from its `attrs` (m050)."""
    attrs = event.attrs
    one_hour = attrs.get("cache_creation_1h_tokens")
    searches = attrs.get("web_search_requests")
    cache_creation = event.usage.cache_creation_tokens if event.usage is not None else 0
    return (
        min(one_hour, cache_creation) if type(one_hour) is int and one_hour > 0 else 0,
        searches if type(searches) is int and 0 < searches <= _MAX_COUNT else 0,
        1 if attrs.get("speed") == "fast" else 0,
    )


def _is_empty_file(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False


def _why_read_only(path: Path) -> str:
    """Why `path` cannot be written: its file system is mounted read-only, or its owner and mode."""
    try:
        mounted_read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # (no statvfs on Windows)
        mounted_read_only = False
    if mounted_read_only:
        return "its file system is mounted read-only"
    return "it is read-only for this user (check its owner and mode)"


def store_gone_error(path: Path, problem: str) -> StoreError:
    """The one error a writer stops with when its store's files are no longer the ones it opened
    (`Store.gone_from_disk`): what happened and what to do about it."""
    if problem == "was deleted":
        then = "the events collected into it went with it; run devlog again to collect into a new store"
    elif problem.startswith("was moved to"):
        then = "nothing is lost: set DEVLOG_HOME (or storage.path) to its new folder and run devlog again"
    elif problem == "was replaced by another file":
        then = "run devlog again to use the new file"
    else:
        then = "the store is intact: run devlog again to go on"
    return StoreError(f"the store {path} {problem} while devlog was collecting into it: stopped; {then}")


def _total(event: Event) -> int:
    return event.usage.total if event.usage is not None else 0


def _stored_path(body: bytes) -> str | None:
    """The `source.path` of a stored event body (None if it has none)."""
    from devlog_collector.store.records import StoredSource

    try:
        source = StoredSource.decode(body).source
    except ValueError:
        return None
    return source.path if source is not None else None


def _supersedes(
    event: Event, row: tuple[Any, ...], stored_total: int, stored_ts: int, body: bytes, text: str | None,
    current_state: bool, replaces: frozenset[str] = frozenset(),
) -> bool:  # fmt: skip
    """Whether a new copy (`event`, its row) replaces the stored one (the module docstring's rules)."""
    new_path = event.source.path if event.source is not None else None
    stored_path = _stored_path(body) if current_state else None
    if current_state and new_path is not None and new_path == stored_path:
        return _differs(body, text, row)  # what the document says now, a smaller usage too
    total = _total(event)
    if total != stored_total:
        return total > stored_total
    if current_state:  # (a file that took over from the stored copy's: not with less usage)
        return new_path is not None and stored_path in replaces and _differs(body, text, row)
    if total == 0 or row[_ROW_TS] == stored_ts or new_path is None:
        return False
    old_path = _stored_path(body)
    return old_path is not None and new_path < old_path


def _differs(body: bytes, text: str | None, row: tuple[Any, ...]) -> bool:
    """Whether a new copy's row says something else than the stored copy's body and text."""
    return bool(bytes(body) != row[_ROW_BODY] or text != row[_ROW_TEXT])


def _normalised_sql(sql: str) -> str:
    return " ".join(sql.replace("(", " ( ").replace(")", " ) ").replace(",", " , ").replace(";", " ; ").split())


def _batchable_rollup_trigger(db: sqlite3.Connection) -> str | None:
    """The stored SQL of the rollup insert trigger if it is exactly m030's, else None."""
    row = db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'usage_rollup_insert'").fetchone()
    if row is None or not row[0]:
        return None
    if _normalised_sql(row[0]) != _normalised_sql(usage_rollup_insert_trigger_sql()):
        return None
    return str(row[0])


def _version_note(db: sqlite3.Connection, path: Path) -> str | None:
    """Why a read-only command's answers may differ from what an up-to-date store gives (read-only
    opens never migrate: the next `devlog collect` or `devlog start` does)."""
    newer = unknown_migrations(db)
    if newer:
        return f"the store {path} was upgraded by a newer devlog ({newer[-1]}): this version may show it incompletely"
    if pending_migrations(db):
        return (
            f"the store {path} was made by an older devlog and is not upgraded yet: some figures (costs among them) "
            "may differ until `devlog collect` (or a restarted `devlog start`) upgrades it"
        )
    return None


def event_from_row(body: bytes, text: str | None) -> Event:
    """Rebuild the full event from its stored `body` and `text` columns."""
    event: Event = _schema().decode_event(body)
    return _replace(event, text=text) if text is not None else event


class Store:
    """Connection to the local store. Use `Store.open(path)`; close with `close()` or `with`."""

    def __init__(self, db: sqlite3.Connection, path: Path, *, readonly: bool, aside: bool = False) -> None:
        self.db = db
        self.path = path
        self.readonly = readonly
        #: A new store's first load, built beside the store's name (`store/first_load.py`): its path
        #: is the side file's, `home` the store's own (where status and the disk-full marker look).
        self.aside = aside
        self.home = path
        #: A transaction of this connection failed. A store built aside keeps its journal in memory
        #: and never syncs, so after a failed write it is not trusted: it is thrown away, not published.
        self.write_failed = False
        self._lock_file: IO[bytes] | None = None
        #: For a read-only store: why what it shows may differ from an up-to-date store's (made by an
        #: older devlog and not upgraded yet, or by a newer one), else None.
        self.version_note: str | None = None
        self._added = 0
        self._replaced = 0
        #: The rows the last `_insert_events` stored, when it can name exactly those (for the rollup).
        self._inserted_rows: list[tuple[Any, ...]] | None = None
        #: Stored copies replaced by a newer one (the insert policy), over this connection's life.
        self.replaced = 0
        #: Why the last `update_search_index` could not write the index (a read-only store), or None.
        self.search_index_error: str | None = None
        #: The rollup's insert trigger, when it is m030's (then large commits may batch; see
        #: `_store_events`); None when a later migration changed it: then the trigger always runs.
        self._rollup_trigger = None if readonly else _batchable_rollup_trigger(db)
        #: Whether the event ids are kept unique by m060's named index (which a first history load
        #: drops, see `begin_bulk_load`) rather than by m001's column constraint.
        self._named_id_index = not readonly and id_index_is_named(db)
        #: While a first history load runs without the id index: the ids it stored, and where.
        self._loaded_ids: LoadedIds | None = None
        self._id_index_dropped = False
        self._checkpointer: WalCheckpointer | None = None
        #: The writer's auto-checkpoint size (pages) that a history load turns off and restores.
        self._wal_autocheckpoint = 0
        try:
            opened = path.stat()
            self._identity: tuple[int, int] | None = (opened.st_dev, opened.st_ino)
        except OSError:
            self._identity = None
        #: Whether this writer really runs in WAL mode (a file system without shared memory, such as
        #: some network mounts, keeps SQLite's rollback journal: then there is no `-wal` to watch).
        self._wal = not readonly and str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"

    def gone_from_disk(self) -> str | None:
        """What happened to the store's files since it was opened, if they are no longer this
        connection's (deleted, replaced, the `-wal` removed); None while all is well.

        A long-lived writer (`devlog start`) would otherwise go on writing into a deleted file (lost
        at exit) or an unlinked WAL that no reader sees. A lost WAL is first checkpointed into the
        store through this connection, so nothing it held is lost.
        """
        try:
            current = self.path.stat()
        except FileNotFoundError:
            moved = self._moved_to()
            return f"was moved to {moved}" if moved is not None else "was deleted"
        except OSError:
            return None
        if self._identity is not None and (current.st_dev, current.st_ino) != self._identity:
            return "was replaced by another file"
        if self._wal and not Path(f"{self.path}-wal").exists():
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return "lost its write-ahead log (its -wal file was deleted; what it held is now in the store)"
        return None

    def _moved_to(self) -> Path | None:
        """Where the store is now if its folder was moved (not deleted) while this writer held it:
        the writer's lock file moved with it, and Linux names an open file's current path."""
        if self._lock_file is None:
            return None
        try:
            where = str(Path(f"/proc/self/fd/{self._lock_file.fileno()}").readlink())
        except (OSError, ValueError):  # (no /proc: macOS; a closed handle)
            return None
        if not where.endswith(".lock"):  # (ends with " (deleted)" when the folder went with it)
            return None
        moved = Path(where.removesuffix(".lock"))
        return moved if moved != self.path and moved.is_file() else None

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False, aside: bool = False) -> Store:
        """Open (creating and migrating if needed) the store at `path`.

        Read-only opens never create or migrate anything; they fail with StoreError if the store
        does not exist yet. `aside` opens a new store's first load (`store/first_load.py`, which
        calls it): no write-ahead log, the journal in memory, no syncs, and an exclusive lock.
        """
        path = path.expanduser()
        if readonly:
            if not path.exists():
                from devlog_collector.storage_location import no_store_yet

                raise StoreError(no_store_yet(path))
            if path.is_dir():
                raise StoreError(f"the store path {path} is a folder, not a devlog store (check storage.events_db)")
            try:
                db = connect_read_only(path)
                is_store = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone()
            except sqlite3.Error as exc:
                message = f"cannot open the store at {path}: {exc}"
                if shared_memory_refused(exc):
                    message += FOLDER_READ_ONLY_HINT
                raise StoreError(store_failure(message, exc)) from exc
            if is_store is None:
                db.close()
                if _is_empty_file(path):  # (created, then never set up: a collect interrupted at once)
                    raise StoreError(
                        f"the store at {path} is empty: run `devlog collect` (or `devlog start`) to set it up"
                    )
                raise StoreError(f"{path} is not a devlog store (it has no events table)")
            readable = cls(db, path, readonly=True)
            readable.version_note = _version_note(db, path)
            return readable
        if path.is_dir():
            raise StoreError(f"the store path {path} is a folder, not a devlog store (check storage.events_db)")
        try:
            make_store_folder(path)
            if not path.exists():
                fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            elif not os.access(path, os.W_OK):
                # SQLite would open it read-only without a word, and the first write would fail.
                with contextlib.suppress(OSError):
                    path.chmod(0o600)
                if not os.access(path, os.W_OK):
                    raise StoreError(f"cannot write the store at {path}: {_why_read_only(path)}")
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            if path.stat().st_size == 0:
                db.execute(f"PRAGMA page_size = {NEW_STORE_PAGE_SIZE}")  # only before the first table
            if aside:
                _build_aside(db)
            else:
                _switch_to_wal(db)
                db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA busy_timeout = 30000")
            db.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
            db.execute("PRAGMA temp_store = MEMORY")
            db.execute(f"PRAGMA wal_autocheckpoint = {_wal_autocheckpoint_pages(db)}")
            db.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
            newer = unknown_migrations(db)
            if newer:
                db.close()
                raise StoreError(
                    f"the store {path} was upgraded by a newer devlog (its migration {newer[-1]}): this version "
                    "would write rows without what that one added; run that version or a newer one"
                )
            if pending_migrations(db):
                _migrate_unless_collected_into(db, path)
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    Path(f"{path}{suffix}").chmod(0o600)
        except sqlite3.DatabaseError as exc:
            message = store_failure(f"cannot open the store at {path}: {exc}", exc, path)
            if "disk is full" in message:
                from devlog_collector import disk_full_marker

                disk_full_marker.mark(path)  # `devlog status` says "paused", as for a write that failed
            raise StoreError(message) from exc
        except OSError as exc:
            raise _cannot_create(path, exc) from exc
        return cls(db, path, readonly=False, aside=aside)

    def close(self) -> None:
        """Release the writer lock (if held) and close the connection."""
        self.release_writer_lock()
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the writer lock -----------------------------------------------------------------------

    def acquire_writer_lock(self, *, wait: bool = False) -> None:
        """Become the single writer (collector); raises StoreLocked if another process is."""
        if self._lock_file is not None:
            return
        self._lock_file = take_writer_lock(self.path, wait=wait)
        if self.get_meta(DEFERRED_INDEXES_KEY) is not None:
            # A history load that dropped the secondary indexes did not finish (crash, kill -9, a
            # full disk). Queries work without them, so a failure here (still no space) only warns.
            try:
                self.restore_secondary_indexes()
                log.info("secondary_indexes_restored_after_interrupted_load", path=str(self.path))
            except sqlite3.Error as exc:
                log.warning("secondary_indexes_not_restored", path=str(self.path), error=str(exc))
                # Without the event-id index an insert cannot skip a stored id (its conflict clause
                # names the index): each commit tries to build it first, and a full disk pauses
                # collection as any full disk does, instead of failing every insert.
                self._id_index_dropped = self._named_id_index and not self._has_id_index()

    def _has_id_index(self) -> bool:
        found = self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (ID_INDEX[0],))
        return found.fetchone() is not None

    def adopt_writer_lock(self, handle: IO[bytes]) -> None:
        """Hold the writer lock `take_writer_lock` (or `hand_over_writer_lock`) returned."""
        self._lock_file = handle

    def hand_over_writer_lock(self) -> IO[bytes] | None:
        """Give the writer lock to the caller, still held (`close` then leaves it alone)."""
        handle, self._lock_file = self._lock_file, None
        return handle

    def release_writer_lock(self) -> None:
        """Give up the writer lock."""
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    # -- bulk loads ----------------------------------------------------------------------------

    def begin_bulk_load(self) -> None:
        """Prepare a large history load (the writer only); `end_bulk_load` must follow.

        The secondary indexes are dropped (`defer_secondary_indexes`); on an empty store with m060's
        id index that index is dropped too, and the ids stored are kept in memory (`LoadedIds`)
        instead; WAL checkpoints move to a thread of their own (`WalCheckpointer`).
        """
        self.defer_secondary_indexes()
        if self._named_id_index and self.db.execute("SELECT 1 FROM events LIMIT 1").fetchone() is None:
            with self.transaction() as db:
                db.execute(f"DROP INDEX IF EXISTS {ID_INDEX[0]}")
            self._id_index_dropped = True
            self._loaded_ids = LoadedIds()
        if self._wal:
            from devlog_collector.store.wal_checkpointer import WalCheckpointer

            self._wal_autocheckpoint = int(self.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
            self.db.execute("PRAGMA wal_autocheckpoint = 0")
            self._checkpointer = WalCheckpointer(self.path)

    def end_bulk_load(self) -> None:
        """Hand checkpoints back to the writer and build every index the load dropped (one transaction)."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
            self.db.execute(f"PRAGMA wal_autocheckpoint = {self._wal_autocheckpoint}")
        self._loaded_ids = None
        self.restore_secondary_indexes()

    def defer_secondary_indexes(self) -> None:
        """Drop the secondary indexes of `events` for a large history load (the writer only).

        Keeping five indexes current while inserting is about a third of the cost of storing an
        event once they outgrow the page cache (random pages rewritten on every commit); building
        them once at the end is cheaper. The meta key makes the next writer rebuild them if this
        process dies first. Readers meanwhile get correct but slower answers (scans).
        """
        with self.transaction() as db:
            for name, _ in SECONDARY_INDEXES:
                db.execute(f"DROP INDEX IF EXISTS {name}")
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (DEFERRED_INDEXES_KEY, str(now_ms())))

    def restore_secondary_indexes(self) -> None:
        """Build any missing secondary index again (one transaction); a no-op when all exist.

        On a store with m060's id index, that index too (a load deduplicated in memory meanwhile).
        """
        with self.transaction() as db:
            if self._named_id_index:
                self._build_id_index(db)
            for _, create in SECONDARY_INDEXES:
                db.execute(create.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))
            db.execute("DELETE FROM meta WHERE key = ?", (DEFERRED_INDEXES_KEY,))
        self._id_index_dropped = False

    def _build_id_index(self, db: sqlite3.Connection) -> None:
        create = ID_INDEX[1].replace("CREATE UNIQUE INDEX", "CREATE UNIQUE INDEX IF NOT EXISTS", 1)
        try:
            db.execute(create)
        except sqlite3.IntegrityError:
            # Cannot happen through `LoadedIds`; should a store still hold two copies of an id,
            # keep the one the insert policy keeps (the larger token total, then the first stored).
            log.warning("duplicate_event_ids_removed", path=str(self.path))
            db.execute(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM (SELECT seq, row_number() OVER (PARTITION BY id "
                "ORDER BY input_tokens + output_tokens + cache_creation_tokens + cache_read_tokens DESC, seq) AS n "
                "FROM events) WHERE n > 1)"
            )
            db.execute(create)

    def _stop_loading_ids(self) -> None:
        """The in-memory ids reached their bound: build the id index now and use it from here on."""
        with self.transaction() as db:
            self._build_id_index(db)
        self._loaded_ids = None
        self._id_index_dropped = False
        log.info("event_id_index_built_during_load", path=str(self.path))

    # -- transactions --------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """`BEGIN IMMEDIATE` ... `COMMIT` (rolled back on any exception)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException:
            self.write_failed = True
            # (Also when COMMIT itself failed, say on a full disk: the transaction would stay open and
            # every later BEGIN fail. SQLite may have rolled back itself already.)
            if self.db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            raise

    # -- the collect write path ----------------------------------------------------------------

    def commit(
        self,
        events: Sequence[Event],
        cursor: CollectCursor | None = None,
        problems: Sequence[ParseProblem] = (),
        *,
        search_index: bool = True,
        current_state: bool = False,
        problems_replace: tuple[str, str] | None = None,
        replaces: Sequence[str] = (),
    ) -> int:
        """Store events, advance `cursor` and record `problems` atomically; returns events added.

        Args:
            events: the events to insert (see the module docstring for the insert policy).
            cursor: the file cursor to save in the same transaction.
            problems: parse problems to record in the same transaction.
            search_index: also add the new events to the full-text index in this transaction when
                the index is caught up. The collector passes False (history loads are indexed
                later, in bounded batches, by `update_search_index`).
            current_state: the events are the current state of the document (file or database) they
                were read from, so they supersede differing copies read from it before.
            replaces: paths of files the document took over from: with `current_state`, differing
                copies read from them are superseded too.
            problems_replace: (source, path) whose recorded problems `problems` replace (a whole
                document's read reports all of its problems; none means it is clean now).
        """
        self._replaced = 0
        loaded = self._loaded_ids
        if loaded is not None:
            loaded.begin()
        elif self._id_index_dropped:
            self.restore_secondary_indexes()  # a failed end of a load (a full disk): never insert without it
        with self.transaction() as db:
            if events:
                self._store_events(
                    db, events, search_index=search_index, current_state=current_state, replaces=frozenset(replaces)
                )
                added = self._added
            else:
                added = 0
            if cursor is not None:
                self._save_cursor(db, cursor)
            if problems_replace is not None:
                db.execute("DELETE FROM parse_errors WHERE source = ? AND path = ?", problems_replace)
            if problems:
                self._record_problems(db, problems)
        self.replaced += self._replaced  # (a rolled-back commit replaced nothing)
        if loaded is not None:
            loaded.committed()
            if loaded.full():
                self._stop_loading_ids()
        if self._checkpointer is not None:
            self._checkpointer.nudge()
        return added

    def _store_events(
        self,
        db: sqlite3.Connection,
        events: Sequence[Event],
        *,
        search_index: bool,
        current_state: bool = False,
        replaces: frozenset[str] = frozenset(),
    ) -> None:
        """Insert `events` in the open transaction, keeping the usage rollup and the search index.

        The usage rollup (m030) is kept by a per-row insert trigger, about a third of the cost of
        storing an event. For a large commit the trigger is dropped inside this transaction, the
        batch's rollup rows are added grouped and summed, and the trigger is re-created from its own
        stored SQL before the commit. Other connections never see the store without it (transactions
        are atomic, DDL included); a failure rolls all of it back. Rows deleted meanwhile (a replaced
        usage copy) are subtracted by the delete trigger as usual. The grouping is done on the rows
        just stored (`RollupOfRows`) when the insert can name exactly those, else by one grouped
        upsert over the rows stored after `before` (the same expressions in SQL).
        """
        before = db.execute("SELECT max(seq) FROM events").fetchone()[0] or 0
        watermark = self._watermark(db) if search_index else None
        trigger = self._rollup_trigger if len(events) >= ROLLUP_BATCH_MIN_EVENTS else None
        if trigger is not None:
            db.execute("DROP TRIGGER usage_rollup_insert")
        self._added = self._insert_events(db, events, current_state, replaces)
        if trigger is not None:
            if self._inserted_rows is not None:
                db.executemany(_ROLLUP_ADD, _ROLLUP_OF_ROWS.rows(self._inserted_rows))
            else:
                db.execute(_ROLLUP_BATCH, (before,))
            db.execute(trigger)
        if watermark is not None and watermark >= before:
            self._index_range(db, watermark, None)  # the index was caught up: keep it so

    def _insert_events(
        self,
        db: sqlite3.Connection,
        events: Sequence[Event],
        current_state: bool = False,
        replaces: frozenset[str] = frozenset(),
    ) -> int:
        # One copy per id first: the first copy, unless a later one carries a strictly larger token
        # total (what inserting them one by one under the insert policy would leave stored).
        unique = list(events)
        if len({event.id for event in events}) < len(unique):  # (usually every id is once)
            chosen: dict[str, Event] = {}
            for event in events:
                kept = chosen.get(event.id)
                larger = kept is not None and event.usage is not None and event.usage.total > _total(kept)
                if kept is None or larger:
                    chosen[event.id] = event
            unique = list(chosen.values())
        collected = now_ms()
        unique = self._not_pruned(db, unique, self._loaded_ids)
        rows = _rows(unique, collected)
        if self._loaded_ids is not None:
            return self._insert_loading(db, self._loaded_ids, unique, rows, current_state, replaces)
        if current_state:
            return self._insert_in_document_order(db, unique, rows, replaces)
        added = _INSERT_ROWS.run(db, rows)
        self._inserted_rows = rows if added == len(rows) else None  # (else which ones is not known)
        if added < len(rows):
            self._replaced += self._supersede(db, unique, rows, current_state, replaces)
        return added

    def _insert_loading(
        self,
        db: sqlite3.Connection,
        loaded: LoadedIds,
        events: list[Event],
        rows: list[tuple[Any, ...]],
        current_state: bool,
        replaces: frozenset[str],
    ) -> int:
        """`_insert_events` without the id index: `loaded` says which ids are stored (and where)."""
        fresh_ids: list[str] = []
        inserted: list[tuple[Any, ...]] = []
        known: list[tuple[Event, tuple[Any, ...], int]] = []
        ids = [event.id for event in events]
        for event_id, seq, event, row in zip(ids, loaded.seqs(ids), events, rows, strict=True):
            if seq is None:
                fresh_ids.append(event_id)
                inserted.append(row)
            elif current_state or (event.usage is not None and event.usage.total > 0):
                known.append((event, row, seq))
        fresh = len(fresh_ids)
        if fresh:
            _INSERT_NEW_ROWS.run(db, inserted)
            # One writer, AUTOINCREMENT: the rows got consecutive seqs ending at the last one.
            loaded.stage_run(fresh_ids, db.execute("SELECT last_insert_rowid()").fetchone()[0] - fresh + 1)
        for event, row, seq in known:
            stored = db.execute(_SELECT_STORED_COPY, (seq,)).fetchone()
            if stored is None:
                continue
            total, ts, body, text = stored
            if _supersedes(event, row, total, ts, body, text, current_state, replaces):
                db.execute("DELETE FROM events WHERE seq = ?", (seq,))
                db.execute(_INSERT_NEW, row)
                loaded.stage(event.id, db.execute("SELECT last_insert_rowid()").fetchone()[0])
                inserted.append(row)
                self._replaced += 1
        self._inserted_rows = inserted
        return fresh

    @staticmethod
    def _not_pruned(db: sqlite3.Connection, events: list[Event], loaded: LoadedIds | None = None) -> list[Event]:
        """`events` without those older than the latest prune cutoff that are not stored (pruned ones
        coming back); stored ones stay, so a newer copy may still replace them. During a load without
        the id index, `loaded` says which are stored."""
        row = db.execute("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?", (PRUNED_BEFORE_KEY,)).fetchone()
        if row is None:
            return events
        cutoff = datetime.fromtimestamp(row[0] / 1000, UTC)
        old = [event.id for event in events if event.ts < cutoff]
        if not old:
            return events
        stored: set[str] = set()
        if loaded is not None:
            stored.update(event_id for event_id in old if loaded.seq(event_id) is not None)
            old = []
        for start in range(0, len(old), 500):
            chunk = old[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            stored.update(r[0] for r in db.execute(f"SELECT id FROM events WHERE id IN ({marks})", chunk))
        return [event for event in events if event.ts >= cutoff or event.id in stored]

    def _insert_in_document_order(
        self, db: sqlite3.Connection, events: list[Event], rows: list[tuple[Any, ...]], replaces: frozenset[str]
    ) -> int:
        """`_insert_events` for a document read again as a whole (`current_state`): new, superseding
        and moved rows are stored in the document's order.

        Events with the same time are listed by `seq`. A superseding copy gets a new `seq`, so on its
        own it would move behind the events that follow it in the document at that same time (a tool
        call whose status changed behind its result, a cancelled prompt behind its tool calls), and a
        store filled as the document grew would list them otherwise than a store that read it once.
        So, from the first superseding copy of a session and time on, every later event of the
        document with that session and time is stored again behind it, in the document's order (an
        unchanged one as it is stored: same content, a new `seq`). Nothing inserted here is deleted
        here, so the usage rollup's triggers and batch sums stay exact.
        """
        stored = self._stored_copies(db, [event.id for event in events])
        if not stored:  # (every id is new: the writer holds the transaction, so none can appear meanwhile)
            added = _INSERT_NEW_ROWS.run(db, rows)
            self._inserted_rows = rows
            return added
        inserted: list[tuple[Any, ...]] = []
        pending: list[tuple[Any, ...]] = []
        moved_from: set[tuple[str, datetime]] = set()
        added = 0
        for event, row in zip(events, rows, strict=True):
            copy = stored.get(event.id)
            if copy is None:
                pending.append(row)
                added += 1
                continue
            at = (event.session_id, event.ts)
            if _supersedes(event, row, *copy, True, replaces):
                moved_from.add(at)
                self._replaced += 1
            elif at in moved_from:
                row = db.execute(_SELECT_STORED_ROW, (event.id,)).fetchone()
            else:
                continue  # stored and unchanged, before any change at its time: it keeps its place
            if pending:
                _INSERT_NEW_ROWS.run(db, pending)
                inserted += pending
                pending = []
            db.execute("DELETE FROM events WHERE id = ?", (event.id,))
            db.execute(_INSERT_NEW, row)
            inserted.append(row)
        if pending:
            _INSERT_NEW_ROWS.run(db, pending)
            inserted += pending
        self._inserted_rows = inserted
        return added

    @staticmethod
    def _stored_copies(db: sqlite3.Connection, ids: list[str]) -> dict[str, tuple[int, int, bytes, str | None]]:
        """The stored copies of `ids` that exist: id -> (token total, ts, body, text)."""
        found: dict[str, tuple[int, int, bytes, str | None]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for event_id, total, ts, body, text in db.execute(
                "SELECT id, input_tokens + output_tokens + cache_creation_tokens + cache_read_tokens, ts, body, text "
                f"FROM events WHERE id IN ({', '.join('?' * len(chunk))})",
                chunk,
            ):
                found[event_id] = (total, ts, body, text)
        return found

    @staticmethod
    def _supersede(
        db: sqlite3.Connection,
        events: list[Event],
        rows: list[tuple[Any, ...]],
        current_state: bool,
        replaces: frozenset[str] = frozenset(),
    ) -> int:
        """Some ids were stored before this batch: replace the stored copies these supersede (module
        docstring); returns how many were replaced."""
        candidates = {
            event.id: (event, row)
            for event, row in zip(events, rows, strict=True)
            if current_state or (event.usage is not None and event.usage.total > 0)
        }
        replaced = 0
        for event_id, copy in Store._stored_copies(db, list(candidates)).items():
            event, row = candidates[event_id]
            if _supersedes(event, row, *copy, current_state, replaces):
                db.execute("DELETE FROM events WHERE id = ?", (event_id,))
                db.execute(_INSERT, row)
                replaced += 1
        return replaced

    @staticmethod
    def unstorable(event: Event) -> str | None:
        """Why `event` cannot be stored (a value SQLite cannot hold), or None. For the rare commit
        that failed on one: the normal write path never checks (see `Collector._commit`)."""
        try:
            row = _row_values(event, 0)
        except Exception as exc:  # noqa: BLE001 - whatever encoding the event raises is the reason
            return f"{type(exc).__name__}: {exc}"[:300]
        for value in row:
            if type(value) is int and not -(2**63) <= value < 2**63:
                return "an integer past SQLite's 64 bits"
            if type(value) is str:
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return "text that is not valid Unicode (a lone surrogate)"
        return None

    # -- the full-text index -------------------------------------------------------------------

    @staticmethod
    def _watermark(db: sqlite3.Connection) -> int | None:
        """The full-text watermark; None on a store whose index is still kept by a trigger (pre-m011)."""
        row = db.execute(_SELECT_WATERMARK).fetchone()
        return None if row is None else int(row[0])

    @staticmethod
    def _index_range(db: sqlite3.Connection, after: int, limit: int | None) -> tuple[int, int] | None:
        """Index the events after seq `after` (at most `limit`) and move the watermark past them.

        Returns (events covered, new watermark), or None when there was nothing to index.
        """
        if limit is None:
            row = db.execute("SELECT count(*), max(seq) FROM events WHERE seq > ?", (after,)).fetchone()
        else:
            row = db.execute(
                "SELECT count(*), max(seq) FROM (SELECT seq FROM events WHERE seq > ? ORDER BY seq LIMIT ?)",
                (after, limit),
            ).fetchone()
        count, upto = row
        if not count:
            return None
        db.execute(_INDEX_RANGE, (after, upto))
        db.execute(_SET_WATERMARK, (str(upto),))
        return int(count), int(upto)

    def search_index_backlog(self) -> int:
        """Events stored but not yet in the full-text index (0 on a pre-m011 store)."""
        watermark = self._watermark(self.db)
        if watermark is None:
            return 0
        return int(self.db.execute("SELECT count(*) FROM events WHERE seq > ?", (watermark,)).fetchone()[0])

    def update_search_index(self, limit: int | None = None, *, should_stop: Callable[[], bool] | None = None) -> int:
        """Bring the full-text index up to date, in transactions of `SEARCH_INDEX_BATCH` events.

        Safe next to a running collector (each batch is a short write transaction; WAL readers are
        never blocked) and on a store opened read-only: then a second, writable connection is used
        just for this. Where the store cannot be written (permissions), the index is left as it is
        and searches see the events indexed so far.

        Args:
            limit: index at most this many events (None: everything not yet indexed).
            should_stop: polled between batches; True stops early (the rest stays for later).

        Returns:
            The number of events the index now covers that it did not before.
        """
        self.search_index_error = None
        if not self.readonly:
            return self._update_search_index(self.db, limit, should_stop)
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        except sqlite3.Error as exc:
            return self._search_index_not_updated(exc)
        try:
            db.execute("PRAGMA busy_timeout = 30000")
            db.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
            return self._update_search_index(db, limit, should_stop)
        except sqlite3.Error as exc:
            return self._search_index_not_updated(exc)
        finally:
            db.close()

    def _search_index_not_updated(self, exc: sqlite3.Error) -> int:
        self.search_index_error = str(exc)
        log.info("search_index_not_updated", path=str(self.path), error=str(exc))
        return 0

    def _update_search_index(
        self, db: sqlite3.Connection, limit: int | None, should_stop: Callable[[], bool] | None
    ) -> int:
        if self._watermark(db) is None:
            return 0  # a store not migrated to m011 yet: its trigger keeps the index complete
        done = 0
        while limit is None or done < limit:
            if should_stop is not None and should_stop():
                break
            batch = SEARCH_INDEX_BATCH if limit is None else min(SEARCH_INDEX_BATCH, limit - done)
            db.execute("BEGIN IMMEDIATE")
            try:
                # Read under the write lock: a concurrent indexer cannot have moved it meanwhile.
                watermark = self._watermark(db) or 0
                result = self._index_range(db, watermark, batch)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            if result is None:
                break
            done += result[0]
        if done:
            log.debug("search_index_updated", events=done)
        return done

    @staticmethod
    def _save_cursor(db: sqlite3.Connection, c: CollectCursor) -> None:
        import msgspec

        db.execute(
            "INSERT INTO collect_cursors (source, path, dev, ino, size, mtime_ns, offset, head_hash, marker, state, "
            "line_no, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (source, path) DO UPDATE SET dev = excluded.dev, ino = excluded.ino, size = excluded.size, "
            "mtime_ns = excluded.mtime_ns, offset = excluded.offset, head_hash = excluded.head_hash, "
            "marker = excluded.marker, state = excluded.state, line_no = excluded.line_no, "
            "updated_at = excluded.updated_at",
            (
                c.source,
                c.path,
                c.dev,
                c.ino,
                c.size,
                c.mtime_ns,
                c.offset,
                c.head_hash,
                c.marker,
                msgspec.json.encode(c.state) if c.state else None,
                c.line_no,
                now_ms(),
            ),
        )

    @staticmethod
    def _record_problems(db: sqlite3.Connection, problems: Sequence[ParseProblem]) -> None:
        now = now_ms()
        db.executemany(
            "INSERT INTO parse_errors (source, path, position, message, first_seen, last_seen) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, path, position, message) "
            "DO UPDATE SET count = count + 1, last_seen = excluded.last_seen",
            [(p.source, p.path, p.position, p.message[:1000], now, now) for p in problems],
        )

    def record_problems(self, problems: Sequence[ParseProblem]) -> None:
        """Record problems outside a collect commit (e.g. a file that vanished)."""
        if problems:
            with self.transaction() as db:
                self._record_problems(db, problems)

    def get_cursor(self, source: str, path: str) -> CollectCursor | None:
        """The stored cursor of one file, if any."""
        import msgspec

        from devlog_collector.store.records import CollectCursor

        row = self.db.execute(
            "SELECT dev, ino, size, mtime_ns, offset, head_hash, marker, state, line_no FROM collect_cursors "
            "WHERE source = ? AND path = ?",
            (source, path),
        ).fetchone()
        if row is None:
            return None
        dev, ino, size, mtime_ns, offset, head_hash, marker, state, line_no = row
        return CollectCursor(
            source=source,
            path=path,
            dev=dev,
            ino=ino,
            size=size,
            mtime_ns=mtime_ns,
            offset=offset,
            head_hash=head_hash,
            marker=marker,
            state=msgspec.json.decode(state) if state else {},
            line_no=line_no,
        )

    def all_cursors(self, source: str | None = None) -> dict[tuple[str, str], CollectCursor]:
        """Every stored cursor (one query; used to skip unchanged files fast)."""
        rows = self.db.execute(
            _SELECT_CURSORS + (" WHERE source = ?" if source else ""), (source,) if source else ()
        ).fetchall()
        return _cursors(rows)

    def cursors_for(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], CollectCursor]:
        """The stored cursors of `keys` (source, path), at least: a lookup each for a few files (a live
        pass), every cursor in one query past `_CURSOR_LOOKUPS_MAX`."""
        if len(keys) > _CURSOR_LOOKUPS_MAX:
            return self.all_cursors()
        sql = _SELECT_CURSORS + " WHERE source = ? AND path = ?"
        return _cursors([row for key in keys for row in self.db.execute(sql, key).fetchall()])

    # -- reading -------------------------------------------------------------------------------

    def events_after(self, seq: int, limit: int) -> list[tuple[int, Event]]:
        """Up to `limit` events with seq > `seq`, in seq order (the exporter's read path)."""
        rows = self.db.execute(
            "SELECT seq, body, text FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        return [(s, event_from_row(body, text)) for s, body, text in rows]

    def max_seq(self) -> int:
        """The newest insertion position (0 for an empty store)."""
        row = self.db.execute("SELECT max(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def get_meta(self, key: str) -> str | None:
        """A value from the store's `meta` table."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a value in the store's `meta` table."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def ms_to_datetime(ms: int) -> datetime:
    """Epoch milliseconds to an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
