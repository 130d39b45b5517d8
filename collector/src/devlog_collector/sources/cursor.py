"""Cursor (the IDE): composer conversations from its SQLite `state.vscdb` databases.

Cursor keeps chats in `<User>/globalStorage/state.vscdb`, table `cursorDiskKV`:
`composerData:<composerId>` is one conversation (header list, model config, timestamps) and
`bubbleId:<composerId>:<bubbleId>` one message (type 1 = user, 2 = assistant). Older builds kept the
messages inline in `composerData.conversation[]`. Which folder a composer belongs to is only in the
per-workspace databases: `workspaceStorage/<hash>/state.vscdb` `ItemTable['composer.composerData']`
lists `allComposers[].composerId`, and `workspaceStorage/<hash>/workspace.json` names the folder.

Reading rules, because the database belongs to a running editor and can be gigabytes:

* open with `mode=ro` (never `immutable`: Cursor writes while we read) and a short busy timeout; a
  locked database is one Problem and the engine retries on the next change. If a read-only open is
  impossible (e.g. a WAL database whose `-shm` cannot be created), copy the db and its `-wal` to a
  private temp dir and read the copy (copies a killed process left behind are swept later).
* open a database only when it and its `-wal`/`-shm`/`-journal` are regular files (SQLite's open of
  a FIFO blocks for ever), and read values as bytes: one row that is not valid UTF-8 is a Problem at
  its key instead of an error that ends the whole query.
* query only the key ranges this source needs (`composerData:*`, `bubbleId:<composer>:*`, and
  `composer.composerData` in workspace DBs) with range predicates that use the key index. Never
  `ItemTable` of the global DB: it holds `cursorAuth/*` tokens.
* `state["composers"]` remembers each composer's `lastUpdatedAt`; unchanged composers cost one
  small `json_extract` row and are not re-read. A composer is not marked seen while a header's
  bubble row is missing (Cursor writes the header list first), and `state["unmapped"]` lists the
  composers read before any workspace database named them: they are read again once one does (the
  events then carry the workspace, replacing the earlier copies).

Token counts: `tokenCount{inputTokens,outputTokens}` is 0/0 in builds since early 2026; devlog
attaches usage only when it is non-zero. A composer still `generating` has its trailing turn held
back (its text is incomplete) until it finishes or has been idle for an hour.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Final
from urllib.parse import quote

from devlog_collector.sources._side_files import NotARegularFile, is_regular_file
from devlog_collector.sources._values import (
    as_dict,
    as_int,
    as_list,
    as_str,
    clip,
    file_mtime,
    load_json_bytes,
    parse_ts,
    text_of,
)
from devlog_collector.sources._vscode import WorkspaceInfo, WorkspaceResolver, uri_to_path, workspace_storage_change
from devlog_collector.sources.base import (
    DEPENDS_ON_KEY,
    RECHECK_AFTER_KEY,
    Problem,
    Source,
    SourceFile,
    file_signature,
    marked_removed,
    vscode_user_dirs,
)
from devlog_shared import Event, EventKind, FileInfo, SourceRef, ToolInfo, Usage, event_id

__all__ = ["CursorDatabaseLocked", "CursorSource", "open_readonly"]

#: The problem of a database Cursor holds locked (the daemon reads it again every 2 s, `watch.py`).
_LOCKED: Final = (
    "locked by Cursor; read again every 2 s until it opens (`devlog start`), or at the next `devlog collect`"
)

#: Tool names (`toolFormerData.name`) that write a file named in their arguments.
EDIT_TOOLS = frozenset(
    {"edit_file", "edit_file_v2", "search_replace", "write", "apply_patch", "multi_edit", "create_file", "MultiEdit"}
)
#: Tool names that run a terminal command.
TERMINAL_TOOLS = frozenset({"run_terminal_cmd", "run_terminal_command", "run_terminal_command_v2"})
_PATH_ARGS = ("target_file", "file_path", "relative_workspace_path", "path", "filePath")
#: A composer still marked `generating` after this long is treated as finished (Cursor crashed).
STALE_GENERATING_MS = 3_600_000
#: A composer updated this recently is read again on every change of the database, even with its
#: `lastUpdatedAt` unchanged: Cursor may write a bubble's final text or a tool's status after it
#: stamped the composer, and such a write moves no stamp.
RECENT_COMPOSER_MS: Final = 600_000


class CursorDatabaseLocked(Exception):
    """The database is locked by Cursor right now."""


def open_readonly(path: Path, busy_timeout: float) -> tuple[sqlite3.Connection, Path | None]:
    """Open `path` read-only without blocking its writer; returns the connection and a temp dir to remove.

    Raises:
        CursorDatabaseLocked: the database is locked right now.
        sqlite3.Error: it cannot be read at all.
    """
    _check_regular(path)
    uri = f"file:{quote(str(path))}?mode=ro"
    db: sqlite3.Connection | None = None
    try:
        db = _connect(uri, busy_timeout)
        return db, None
    except sqlite3.OperationalError as exc:
        if _is_locked(exc):
            raise CursorDatabaseLocked(str(exc)) from exc
    # Read-only open failed (typically WAL without a writable -shm): read a private copy instead.
    _remove_stale_copies()
    scratch = Path(tempfile.mkdtemp(prefix=_COPY_PREFIX))
    try:
        for suffix in ("", "-wal"):
            source = path.with_name(path.name + suffix)
            if source.exists():
                shutil.copyfile(source, scratch / (path.name + suffix))
        copy = scratch / path.name
        try:
            db = _connect(f"file:{quote(str(copy))}?mode=ro", busy_timeout)
        except sqlite3.OperationalError:
            db = _connect(f"file:{quote(str(copy))}", busy_timeout)  # private copy: recovery may write
        return db, scratch
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _check_regular(path: Path) -> None:
    """Refuse a database, or a `-wal`/`-shm`/`-journal` beside it, that is not a regular file: SQLite's
    own open of a FIFO blocks until something writes to it, which would hang the collector.

    Raises:
        FileNotFoundError: the database does not exist.
        NotARegularFile: it or one of its companion files is a FIFO, device, socket or folder.
    """
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    for suffix in ("", "-wal", "-shm", "-journal"):
        companion = path.with_name(path.name + suffix)
        if (suffix == "" or companion.exists()) and not is_regular_file(companion):
            raise NotARegularFile(f"not a regular file: {companion}")


def _connect(uri: str, busy_timeout: float) -> sqlite3.Connection:
    """A connection that has read the schema, and whose text values never fail to decode.

    Python's default text factory raises on a TEXT value that is not UTF-8, and the error ends the
    whole query: one damaged row would make every row unreadable. Values are read as bytes
    (`CAST(value AS BLOB)`) and decoded by `_decode`, which reports a bad one at its key; any other
    text (keys, `json_extract` results) is decoded with U+FFFD for the bytes that are not UTF-8.
    """
    db = sqlite3.connect(uri, uri=True, timeout=busy_timeout, check_same_thread=False)
    try:
        db.text_factory = _text_with_replacements
        db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except BaseException:
        db.close()
        raise
    return db


def _text_with_replacements(data: bytes) -> str:
    return data.decode("utf-8", "replace")


_COPY_PREFIX: Final = "devlog-cursor-"
#: A private copy older than this was left by a devlog process that died while reading it.
_STALE_COPY_SECONDS: Final = 3600


def _remove_stale_copies() -> None:
    """Delete private copies a killed devlog left behind (0700 folders, but the database they hold
    includes Cursor's sign-in tokens, so they should not outlive the read)."""
    cutoff = time.time() - _STALE_COPY_SECONDS
    try:
        leftovers = list(Path(tempfile.gettempdir()).glob(f"{_COPY_PREFIX}*"))
    except OSError:
        return
    uid = os.getuid() if hasattr(os, "getuid") else None
    for folder in leftovers:
        try:
            st = folder.stat()
            if folder.is_dir() and (uid is None or st.st_uid == uid) and st.st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def _is_locked(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _prefix_range(prefix: str) -> tuple[str, str]:
    """`key >= lo AND key < hi` bounds selecting exactly the keys starting with `prefix` (ends in ':')."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _decode(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass")
    if not isinstance(value, bytes):
        return None, "value is not text"
    return load_json_bytes(value)


class CursorSource(Source):
    """Composer chats of the Cursor IDE."""

    name: ClassVar[str] = "cursor"
    env_var: ClassVar[str | None] = None
    root_layout: ClassVar[tuple[str, ...]] = ("workspaceStorage", "globalStorage")
    #: Seconds to wait for a lock held by Cursor before giving up until the next pass.
    busy_timeout: ClassVar[float] = 0.25

    def __init__(self, roots: Any) -> None:
        super().__init__(roots)
        self._workspaces = WorkspaceResolver()
        self._composer_maps: dict[Path, tuple[int, list[str]]] = {}

    @classmethod
    def default_roots(cls) -> list[Path]:
        """Cursor's `User` folder on this OS."""
        return vscode_user_dirs(["Cursor"])

    def discover(self) -> Iterator[SourceFile]:
        """The global `state.vscdb` of every root."""
        for root in self.roots:
            db = root / "globalStorage" / "state.vscdb"
            if self.is_log_file(db):
                yield SourceFile(path=db, mode="sqlite")

    #: `globalStorage/` (the chats' database) and `workspaceStorage/` (the databases that map chats to
    #: folders) of each root; not the rest of Cursor's `User` folder.
    log_folders: ClassVar[tuple[str, ...]] = ("globalStorage", "workspaceStorage")

    def may_hold_logs(self, path: Path) -> bool:
        """The global database, or a workspace's database or `workspace.json` (they map chats to folders)."""
        for root in self.roots:
            if path.parent == root / "globalStorage" and path.name.startswith("state.vscdb"):
                return True
            if workspace_storage_change(path, root, ("state.vscdb", "workspace.json")):
                return True
        return False

    def parse_document(self, file: SourceFile, state: dict[str, Any]) -> Iterator[Event | Problem]:
        """Yield events of composers that changed since `state` last saw them."""
        try:
            db, scratch = open_readonly(file.path, self.busy_timeout)
        except CursorDatabaseLocked:
            yield Problem("database", _LOCKED)
            return
        except FileNotFoundError:
            return  # deleted since discovery
        except (sqlite3.Error, OSError) as exc:
            yield Problem("database", f"cannot open read-only: {exc}")
            return
        try:
            yield from self._parse_db(db, file, state)
        except sqlite3.OperationalError as exc:
            if _is_locked(exc):
                yield Problem("database", _LOCKED)
            else:
                yield Problem("database", f"read failed: {exc}")
        except sqlite3.DatabaseError as exc:
            yield Problem("database", f"read failed: {exc}")
        finally:
            db.close()
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)

    # -- database ----------------------------------------------------------------------------

    def _parse_db(self, db: sqlite3.Connection, file: SourceFile, state: dict[str, Any]) -> Iterator[Event | Problem]:
        has_table = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cursorDiskKV'").fetchone()
        if not has_table:
            return  # builds before composers: nothing this source reads
        seen: dict[str, Any] = as_dict(state.get("composers"))
        sizes: dict[str, Any] = as_dict(state.get("composer_sizes"))
        lo, hi = _prefix_range("composerData:")
        stamps = db.execute(
            "SELECT key, CASE WHEN json_valid(CAST(value AS TEXT)) "
            "THEN json_extract(CAST(value AS TEXT), '$.lastUpdatedAt') END, length(value) "
            "FROM cursorDiskKV WHERE key >= ? AND key < ?",
            (lo, hi),
        ).fetchall()
        now_ms = int(time.time() * 1000)
        changed: list[str] = []
        size_of: dict[str, int] = {}
        for key, stamp, size in stamps:
            composer_id = key[len(lo) :]
            size_of[composer_id] = size
            if seen.get(composer_id) == stamp and composer_id not in sizes:
                sizes[composer_id] = size  # (a state from before sizes were kept: known from now on)
            if (
                stamp is None
                or seen.get(composer_id) != stamp
                or sizes.get(composer_id) != size  # rewritten without a new stamp (a title set later)
                or (type(stamp) is int and now_ms - stamp < RECENT_COMPOSER_MS)
            ):
                changed.append(key)
        unmapped = {c for c in as_list(state.get("unmapped")) if isinstance(c, str)}
        if not changed and not unmapped:
            state["composer_sizes"] = sizes
            state.pop(RECHECK_AFTER_KEY, None)  # nothing is held back any more
            state.pop(DEPENDS_ON_KEY, None)
            return
        workspace_of = self._workspace_map(file.path.parent.parent)
        # Composers read before their workspace database listed them (VS Code writes that one
        # lazily) are read again once it does, so their events get the workspace too.
        pending = set(changed)
        late = [f"{lo}{c}" for c in sorted(unmapped) if c in workspace_of and f"{lo}{c}" not in pending]
        recheck: list[int] = []
        for key in changed + late:
            composer_id = key[len(lo) :]
            unmapped.discard(composer_id)
            row = db.execute("SELECT CAST(value AS BLOB) FROM cursorDiskKV WHERE key = ?", (key,)).fetchone()
            if row is None:
                if "\ufffd" in key:  # (not found again: the stored key is not valid UTF-8)
                    yield Problem(f"key {key}", "key is not valid UTF-8; skipped")
                continue
            data, error = _decode(row[0])
            if error is not None or not isinstance(data, dict):
                yield Problem(f"key {key}", f"invalid composer JSON: {error or 'not an object'}")
                continue
            workspace = workspace_of.get(composer_id)
            if workspace is None:
                unmapped.add(composer_id)
            parser = _ComposerParser(db, file, composer_id, data, workspace or WorkspaceInfo(None), now_ms)
            yield from parser.parse()
            if parser.finished and data.get("lastUpdatedAt") is not None:
                seen[composer_id] = data["lastUpdatedAt"]
                sizes[composer_id] = size_of.get(composer_id)
            if parser.held_back_until_ms is not None:
                recheck.append(parser.held_back_until_ms + 1000)
        state["composers"] = seen
        state["composer_sizes"] = sizes
        state["unmapped"] = sorted(unmapped)
        # While some composers have no folder, a workspace database naming one later must bring
        # this database back (it may not change again itself): the engine watches them for us.
        if unmapped:
            state[DEPENDS_ON_KEY] = self._workspace_signatures(file.path.parent.parent)
        else:
            state.pop(DEPENDS_ON_KEY, None)
        # A composer left `generating` (Cursor closed mid-reply) is final after an hour's quiet even
        # if the database never changes again: have the engine read it then.
        if recheck:
            state[RECHECK_AFTER_KEY] = min(recheck)
        else:
            state.pop(RECHECK_AFTER_KEY, None)

    def _workspace_map(self, user_dir: Path) -> dict[str, WorkspaceInfo]:
        """composerId -> workspace, from every `workspaceStorage/<hash>/state.vscdb`."""
        mapping: dict[str, WorkspaceInfo] = {}
        storage = user_dir / "workspaceStorage"
        try:
            folders = sorted(p for p in storage.iterdir() if p.is_dir())
        except OSError:
            return mapping
        for folder in folders:
            ids = self._composer_ids(folder / "state.vscdb")
            if not ids:
                continue
            info = self._workspaces.resolve(folder)
            for composer_id in ids:
                mapping.setdefault(composer_id, info)
        return mapping

    @staticmethod
    def _workspace_signatures(user_dir: Path) -> dict[str, list[int] | None]:
        """{path: [size, mtime_ns]} of `workspaceStorage` (new folders) and each workspace database."""
        storage = user_dir / "workspaceStorage"
        paths = [storage]
        try:
            for folder in sorted(p for p in storage.iterdir() if p.is_dir()):
                paths += [folder / "state.vscdb", folder / "state.vscdb-wal"]
        except OSError:
            pass
        return {str(path): file_signature(path) for path in paths}

    def _composer_ids(self, db_path: Path) -> list[str]:
        try:
            stamp = db_path.stat().st_mtime_ns
            wal = db_path.with_name(db_path.name + "-wal")
            if wal.exists():
                stamp ^= wal.stat().st_mtime_ns
        except OSError:
            return []
        cached = self._composer_maps.get(db_path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        ids: list[str] = []
        try:
            db, scratch = open_readonly(db_path, self.busy_timeout)
        except (CursorDatabaseLocked, sqlite3.Error, OSError):
            return cached[1] if cached else []
        try:
            row = db.execute(
                "SELECT CAST(value AS BLOB) FROM ItemTable WHERE key = ?", ("composer.composerData",)
            ).fetchone()
            data, _ = _decode(row[0]) if row else (None, None)
            for composer in as_list(as_dict(data).get("allComposers")):
                composer_id = as_str(as_dict(composer).get("composerId"))
                if composer_id:
                    ids.append(composer_id)
        except sqlite3.Error:
            return cached[1] if cached else []
        finally:
            db.close()
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        self._composer_maps[db_path] = (stamp, ids)
        return ids


class _ComposerParser:
    """Events of one composer (conversation)."""

    def __init__(
        self,
        db: sqlite3.Connection,
        file: SourceFile,
        composer_id: str,
        data: dict[str, Any],
        workspace: WorkspaceInfo,
        now_ms: int,
    ) -> None:
        self.db = db
        self.file = file
        self.composer_id = composer_id
        self.data = data
        self.workspace = workspace
        self.now_ms = now_ms
        self.created = parse_ts(data.get("createdAt"))
        self.default_model = _model_name(as_dict(data.get("modelConfig")).get("modelName"))
        #: False when the trailing turn was held back (still generating) or a header's bubble row is
        #: not there yet: re-read next time.
        self.finished = True
        #: When a trailing turn held back as still generating counts as final (epoch ms).
        self.held_back_until_ms: int | None = None
        #: Bubble rows of this composer its header list no longer names (`_bubbles`).
        self.orphans: list[tuple[str, str, dict[str, Any]]] = []

    def _event(self, kind: EventKind, key: tuple[Any, ...], ts: datetime, position: str, **fields: Any) -> Event:
        return Event(
            id=event_id("cursor", self.composer_id, *key),
            ts=ts,
            agent="cursor",
            kind=kind,
            session_id=self.composer_id,
            workspace=self.workspace.path,
            source=SourceRef(path=str(self.file.path), key=position),
            **fields,
        )

    def _fallback_ts(self) -> datetime | None:
        return self.created or parse_ts(self.data.get("lastUpdatedAt")) or file_mtime(self.file.path)

    def parse(self) -> Iterator[Event | Problem]:
        bubbles = list(self._bubbles())
        if not bubbles:
            return  # an empty composer (a new chat tab nobody typed into) is not a session
        yield from self._session_start()
        # The header list's bubbles, then those an edit-and-resend (or a deleted message) left out
        # of it: kept, marked `removed` (as Copilot's undone requests), so a store that read the chat
        # before the edit and one that reads it after hold the same events.
        turns = [(bubble, False) for bubble in self._hold_back_generating_tail(bubbles)]
        turns += [(orphan, True) for orphan in self.orphans]
        for (bubble_id, position, bubble), removed in turns:
            if isinstance(bubble, Problem):
                yield bubble
                continue
            try:
                events = self._bubble(bubble_id, position, bubble)
                yield from marked_removed(events) if removed else events
            except Exception as exc:  # noqa: BLE001 - one odd bubble must not stop the others
                yield Problem(position, f"unexpected shape: {type(exc).__name__}: {exc}")

    def _session_start(self) -> Iterator[Event | Problem]:
        attrs: dict[str, Any] = dict(self.workspace.attrs)
        ts = self.created
        if ts is None:
            ts = self._fallback_ts()
            attrs["ts_inferred"] = True
        if ts is None:
            yield Problem(f"key composerData:{self.composer_id}", "composer has no usable timestamp")
            return
        data = self.data
        for key, attr in (
            ("name", "title"),
            ("status", "status"),
            ("unifiedMode", "mode"),
            ("forceMode", "force_mode"),
            ("createdOnBranch", "branch"),
            ("_v", "format_version"),
            ("isAgentic", "agentic"),
            ("totalLinesAdded", "lines_added"),
            ("totalLinesRemoved", "lines_removed"),
            ("filesChangedCount", "files_changed"),
        ):
            value = data.get(key)
            if isinstance(value, str | int | bool) and value != "":
                attrs[attr] = value
        model_config = as_dict(data.get("modelConfig"))
        if model_config.get("maxMode") is True:
            attrs["max_mode"] = True
        context_tokens = as_int(as_dict(data.get("promptTokenBreakdown")).get("totalUsedTokens"))
        if context_tokens:
            attrs["context_tokens"] = context_tokens  # a snapshot of the context, not spend
        sub = [s for s in as_list(data.get("subComposerIds")) if isinstance(s, str)]
        if sub:
            attrs["sub_composers"] = sub
        yield self._event(
            "session_start",
            ("session_start",),
            ts,
            f"key composerData:{self.composer_id}",
            model=self.default_model,
            attrs=attrs,
        )

    # -- bubbles -----------------------------------------------------------------------------

    def _bubbles(self) -> Iterator[tuple[str, str, dict[str, Any] | Problem]]:
        """(bubbleId, position, bubble or Problem) in conversation order; bubble rows the header
        list does not name go to `self.orphans` (oldest first)."""
        data = self.data
        inline = data.get("conversation")
        if isinstance(inline, list) and inline:
            for index, bubble in enumerate(inline):
                position = f"key composerData:{self.composer_id} conversation[{index}]"
                if not isinstance(bubble, dict):
                    yield "", position, Problem(position, "bubble is not an object")
                    continue
                yield as_str(bubble.get("bubbleId")) or f"index-{index}", position, bubble
            return
        headers = [as_dict(h) for h in as_list(data.get("fullConversationHeadersOnly"))]
        inline_map = as_dict(data.get("conversationMap"))
        stored = self._stored_bubbles() if not inline_map else {}

        def oldest_first(ids: Iterable[str]) -> list[str]:
            return sorted(ids, key=lambda b: (str(as_dict(stored[b][0]).get("createdAt") or ""), b))

        if not headers:
            # No header list: take every stored bubble, oldest first.
            headers = [{"bubbleId": b} for b in oldest_first(stored)]
        listed = {as_str(h.get("bubbleId")) for h in headers}
        for orphan_id in oldest_first(b for b in stored if b not in listed):
            raw, error = stored[orphan_id]
            if error is None and isinstance(raw, dict):  # (a broken row nobody shows any more: skipped)
                self.orphans.append((orphan_id, f"key bubbleId:{self.composer_id}:{orphan_id}", raw))
        for header in headers:
            bubble_id = as_str(header.get("bubbleId"))
            if bubble_id is None:
                continue
            position = f"key bubbleId:{self.composer_id}:{bubble_id}"
            if bubble_id in inline_map:
                bubble = inline_map[bubble_id]
                if isinstance(bubble, dict):
                    yield bubble_id, position, bubble
                continue
            if bubble_id not in stored:
                # A header written before its bubble row (or a deleted bubble): read this composer
                # again on the next change instead of marking it seen without that bubble.
                self.finished = False
                continue
            raw, error = stored[bubble_id]
            if error is not None or not isinstance(raw, dict):
                yield bubble_id, position, Problem(position, f"invalid bubble JSON: {error or 'not an object'}")
                continue
            if "type" not in raw and "type" in header:
                raw = {**raw, "type": header["type"]}
            yield bubble_id, position, raw

    def _stored_bubbles(self) -> dict[str, tuple[Any, str | None]]:
        lo, hi = _prefix_range(f"bubbleId:{self.composer_id}:")
        rows = self.db.execute("SELECT key, CAST(value AS BLOB) FROM cursorDiskKV WHERE key >= ? AND key < ?", (lo, hi))
        return {key[len(lo) :]: _decode(value) for key, value in rows}

    def _hold_back_generating_tail(
        self, bubbles: list[tuple[str, str, dict[str, Any] | Problem]]
    ) -> list[tuple[str, str, dict[str, Any] | Problem]]:
        """Drop the assistant bubbles after the last prompt while Cursor is still generating them."""
        if self.data.get("status") != "generating":
            return bubbles
        updated = as_int(self.data.get("lastUpdatedAt"))
        if updated and self.now_ms - updated > STALE_GENERATING_MS:
            return bubbles
        last_prompt = max(
            (i for i, (_, _, b) in enumerate(bubbles) if isinstance(b, dict) and _bubble_type(b) == 1),
            default=-1,
        )
        if last_prompt < len(bubbles) - 1:
            self.finished = False
            self.held_back_until_ms = (updated or self.now_ms) + STALE_GENERATING_MS
        return bubbles[: last_prompt + 1]

    def _bubble(self, bubble_id: str, position: str, bubble: dict[str, Any]) -> Iterator[Event | Problem]:
        kind = _bubble_type(bubble)
        attrs: dict[str, Any] = {}
        ts = parse_ts(bubble.get("createdAt")) or parse_ts(as_dict(bubble.get("timingInfo")).get("clientStartTime"))
        if ts is None:
            ts = self._fallback_ts()
            attrs["ts_inferred"] = True
        if ts is None:
            yield Problem(position, "no usable timestamp")
            return
        model = (
            _model_name(as_dict(bubble.get("modelInfo")).get("modelName"))
            or _model_name(bubble.get("modelType"))  # inline bubbles of older builds
            or self.default_model
        )
        if as_str(bubble.get("requestId")):
            attrs["request_id"] = bubble["requestId"]
        text = as_str(bubble.get("text")) or as_str(bubble.get("rawText"))
        if kind == 1:
            yield self._event("prompt", (bubble_id, "prompt"), ts, position, text=text or "", model=model, attrs=attrs)
            return
        if kind != 2:
            return  # unknown bubble type: newer Cursor; nothing we can name
        usage = _usage(bubble)
        thinking = text_of(as_dict(bubble.get("thinking")).get("text"))
        if thinking:
            attrs["thinking_chars"] = len(thinking)
        timing = as_dict(bubble.get("timingInfo"))
        start, end = as_int(timing.get("clientRpcSendTime")), as_int(timing.get("clientEndTime"))
        if start and end >= start:
            attrs["duration_ms"] = end - start
        tool = as_dict(bubble.get("toolFormerData"))
        response_id = event_id("cursor", self.composer_id, bubble_id, "response")
        if text or usage is not None:  # (a bubble of thinking alone, or a tool's, is no reply)
            yield self._event(
                "response",
                (bubble_id, "response"),
                ts,
                position,
                text=text,
                model=model,
                usage=usage,
                attrs=attrs,
            )
        edited: set[str] = set()
        if tool:
            for event in self._tool(bubble_id, position, tool, ts, model):
                if event.kind == "file_edit" and event.file is not None:
                    edited.add(event.file.path)
                yield event
        for index, block in enumerate(as_list(bubble.get("codeBlocks"))):
            block = as_dict(block)
            path, _ = uri_to_path(block.get("uri"))
            if path and path not in edited:  # (the tool's own edit of that file: counted once)
                yield self._event(
                    "file_edit",
                    (bubble_id, "code_block", as_int(block.get("codeBlockIdx")) if "codeBlockIdx" in block else index),
                    ts,
                    position,
                    parent_id=response_id,
                    model=model,
                    file=FileInfo(path=path),
                    attrs={
                        "from": "code_block",
                        **({"language": block["languageId"]} if as_str(block.get("languageId")) else {}),
                    },
                )

    def _tool(
        self, bubble_id: str, position: str, tool: dict[str, Any], ts: datetime, model: str | None
    ) -> Iterator[Event]:
        name = as_str(tool.get("name")) or "unknown"
        call_id = as_str(tool.get("toolCallId"))
        status = as_str(tool.get("status"))
        args = _tool_args(tool)
        raw_args = tool.get("rawArgs")
        args_text = raw_args if isinstance(raw_args, str) else json.dumps(args) if args else None
        tool_id = event_id("cursor", self.composer_id, bubble_id, "tool")
        info = ToolInfo(name=name, call_id=call_id, status=status)
        yield self._event(
            "tool_call",
            (bubble_id, "tool"),
            ts,
            position,
            text=clip(args_text) if args_text else None,
            model=model,
            tool=info,
        )
        if name in TERMINAL_TOOLS and as_str(args.get("command")):
            yield self._event(
                "command",
                (bubble_id, "command"),
                ts,
                position,
                parent_id=tool_id,
                text=args["command"],
                model=model,
                tool=info,
            )
        result = tool.get("result")
        if result not in (None, "") and status not in (None, "loading", "pending"):
            yield self._event(
                "tool_result",
                (bubble_id, "tool_result"),
                ts,
                position,
                parent_id=tool_id,
                text=clip(result if isinstance(result, str) else json.dumps(result)),
                model=model,
                tool=info,
            )
        if name in EDIT_TOOLS and (status or "").lower() not in _NOT_APPLIED:
            path = next((args[k] for k in _PATH_ARGS if as_str(args.get(k))), None)
            if path:
                yield self._event(
                    "file_edit",
                    (bubble_id, "edit"),
                    ts,
                    position,
                    parent_id=tool_id,
                    model=model,
                    file=FileInfo(path=path),
                    tool=info,
                    attrs={"from": "tool"},
                )


#: Tool statuses of an edit that did not happen (a failed or refused edit is no edit).
_NOT_APPLIED: Final = frozenset({"error", "errored", "failed", "cancelled", "canceled", "rejected", "denied"})


def _bubble_type(bubble: dict[str, Any]) -> int | None:
    kind = bubble.get("type")
    if isinstance(kind, bool):  # (`true == 1` in Python)
        return None
    if kind in (1, "user"):
        return 1
    if kind in (2, "ai", "assistant"):
        return 2
    return None


def _model_name(value: Any) -> str | None:
    """The model name as Cursor recorded it (`default`/`auto` when Cursor chose it)."""
    return as_str(value)


def _usage(bubble: dict[str, Any]) -> Usage | None:
    counts = as_dict(bubble.get("tokenCount"))
    input_tokens, output_tokens = as_int(counts.get("inputTokens")), as_int(counts.get("outputTokens"))
    if not input_tokens and not output_tokens:
        return None
    return Usage(input_tokens=input_tokens, output_tokens=output_tokens)


def _tool_args(tool: dict[str, Any]) -> dict[str, Any]:
    for key in ("rawArgs", "params", "args"):
        value = tool.get(key)
        if isinstance(value, str):
            parsed, _ = load_json_bytes(value.encode("utf-8", "surrogatepass"))
            value = parsed
        if isinstance(value, dict) and value:
            return value
    return {}
