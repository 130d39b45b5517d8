"""The interface every agent source implements, and what the collect engine gives it.

A source knows one agent's on-disk format and nothing about cursors, transactions or watching: the
engine (`devlog_collector.collect`) discovers files through the source, reads them incrementally and
commits what the source parsed together with the file's cursor.

Three read modes, chosen per file by the source (never by sniffing content):

* `append`   — JSONL written by appending (Claude Code, Codex, Gemini .jsonl). The engine hands the
  source only complete lines (bytes up to the last `\\n`) from the cursor's offset on, with their
  1-based line numbers, and persists `state` (a JSON-able dict the source may use to carry context
  across reads, e.g. Codex's previous cumulative token totals) with the offset. A source that holds
  a line's meaning back until later lines decide it (Codex: a forked thread's first usage row) may
  set `state[RECHECK_AFTER_KEY]`: once that time has passed and the file holds nothing new, the
  engine calls `parse_lines` with no lines, and the source decides what it held.
* `document` — a whole file rewritten in place (Copilot .json/.jsonl op-logs, Gemini legacy .json).
  The engine calls `parse_document` when size/mtime changed; ids make re-emission harmless. A
  source that held part of a document back because it looked unfinished (a reply still streaming)
  sets `state[RECHECK_AFTER_KEY]` (epoch ms): the engine reads the document again after that time
  even if it never changes again (the agent may have crashed mid-reply). A source whose events
  also depend on other files (Cursor: the workspace databases that map chats to folders) lists them
  in `state[DEPENDS_ON_KEY]` as {path: [size, mtime_ns]}; the document is read again when one changes.
* `sqlite`   — a database owned by the agent (Cursor `state.vscdb`). Same as `document`, but the
  source opens the file read-only itself.

Parsers never raise on bad input: they yield `Problem`s (counted and shown by `devlog status`) and
carry on. Events they yield carry the raw workspace path the agent recorded; the engine normalises
it and adds project, git, machine and user (`workspace.py`).
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final, Literal, TypeVar

import msgspec

from devlog_shared import Event

__all__ = [
    "DEPENDS_ON_KEY",
    "RECHECK_AFTER_KEY",
    "Problem",
    "ReadMode",
    "Source",
    "SourceFile",
    "file_signature",
    "find_files",
    "marked_removed",
    "under_any",
    "vscode_user_dirs",
    "watch_folders",
    "with_attrs",
]

ReadMode = Literal["append", "document", "sqlite"]
#: Key of a document's state holding the time (epoch ms) after which it is read again unchanged.
RECHECK_AFTER_KEY: Final = "recheck_after_ms"
#: Key of a document's state listing other files it depends on: {path: [size, mtime_ns]}.
DEPENDS_ON_KEY: Final = "depends_on"


def find_files(top: Path, unlisted: list[tuple[Path, str]], *, suffix: str, prefix: str = "") -> list[Path]:
    """Files under `top`, at any depth, named `prefix…suffix` (symlinked folders are not entered, as
    with pathlib's `**`), sorted as strings.

    A folder that cannot be listed (no permission: logs written by `sudo <agent>`) is appended to
    `unlisted` with the reason, for the engine to report; pathlib's `rglob` would skip it silently
    and its logs would be missing with no word. A folder that vanishes meanwhile is not a problem.
    """
    found: list[Path] = []

    def refused(exc: OSError) -> None:
        if not isinstance(exc, FileNotFoundError | NotADirectoryError) and exc.filename is not None:
            unlisted.append((Path(exc.filename), exc.strerror or str(exc)))

    for folder, _dirs, names in os.walk(top, onerror=refused):
        wanted = [name for name in names if name.endswith(suffix) and name.startswith(prefix)]
        if wanted and not os.access(folder, os.X_OK):  # readable, not searchable: names but no files
            unlisted.append((Path(folder), "permission denied: the folder can be listed but not entered"))
            continue
        found.extend(Path(folder, name) for name in wanted)
    found.sort(key=str)
    return found


def watch_folders(roots: Iterable[Path], names: Iterable[str]) -> list[Path]:
    """What to watch of each existing root: its subfolders `names` that exist, or the root itself
    while none does (so their creation is seen). An agent's home also holds folders devlog never
    reads (VS Code's `History/` has thousands): watching only where logs live spares the system's
    file-watch limit (inotify's max_user_watches)."""
    watched: list[Path] = []
    names = list(names)
    for root in roots:
        if not root.is_dir():
            continue
        present = [root / name for name in names if (root / name).is_dir()]
        watched.extend(present or [root])
    return watched


def awaited_folders(roots: Iterable[Path], names: Iterable[str]) -> list[Path]:
    """The subfolders `names` not made yet under roots where `watch_folders` watches another one: the
    watch does not see them appear (it is on the others), so the daemon looks for them every second."""
    awaited: list[Path] = []
    names = list(names)
    for root in roots:
        if not root.is_dir():
            continue
        missing = [root / name for name in names if not (root / name).is_dir()]
        if len(missing) < len(names):
            awaited.extend(missing)
    return awaited


def under_any(path: Path, folders: Iterable[Path]) -> bool:
    """Whether `path` is one of `folders` or inside one."""
    return any(path == folder or path.is_relative_to(folder) for folder in folders)


def file_signature(path: Path) -> list[int] | None:
    """[size, mtime_ns] of `path` (None if it cannot be read): what `DEPENDS_ON_KEY` records."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


@dataclass(frozen=True)
class SourceFile:
    """One file a source reads, and how.

    `replaces`: files this one took over from (a session converted from `<id>.json` to `<id>.jsonl`):
    a whole-document read of this file also replaces the differing copies read from them.
    """

    path: Path
    mode: ReadMode
    replaces: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Problem:
    """A record the source could not use: `position` is e.g. "line 12" or "key bubbleId:..."."""

    position: str
    message: str


_Item = TypeVar("_Item", Event, Event | Problem)


def with_attrs(items: Iterable[_Item], marks: dict[str, Any]) -> Iterator[_Item]:
    """`items` with `marks` added to the attrs of each event (problems pass as they are)."""
    for item in items:
        yield msgspec.structs.replace(item, attrs={**item.attrs, **marks}) if isinstance(item, Event) else item


def marked_removed(items: Iterable[Event | Problem]) -> Iterator[Event | Problem]:
    """`items` with `attrs.removed: true` on each event: a turn the chat no longer shows (a Cursor
    bubble an edit left behind, a Gemini message a rewind took back), kept because it happened."""
    return with_attrs(items, {"removed": True})


class Source(ABC):
    """Base class of agent sources; subclasses set `name` and implement discovery and parsing."""

    #: The agent name written into events and used in config (`collect.roots.<name>`).
    name: ClassVar[str]
    #: The agent's own environment variable that relocates its home folder, if any.
    env_var: ClassVar[str | None] = None
    #: The sub-folders a root (the agent's home folder) holds its logs in, one of them at least: what
    #: tells a root given one level too deep or too high (`root_problem`). Empty: not checked.
    root_layout: ClassVar[tuple[str, ...]] = ()

    def __init__(self, roots: Iterable[Path]) -> None:
        self.roots = [Path(r).expanduser() for r in roots]
        #: Folders the last `discover()` could not list, with the reason (`find_files`).
        self.unlisted: list[tuple[Path, str]] = []

    #: What this source makes of a file's bytes, as a short fingerprint, where the user decides it
    #: (a generic source's mapping); None for the built-in parsers. The engine records it in each
    #: file's cursor, and a file last read under another reading is read again from its start, its
    #: events replacing the copies stored before and its problems the old ones: a corrected mapping
    #: corrects what was collected with the wrong one. It is `<identity>:<content>`: a change of
    #: the part before the colon (what event ids derive from) is not read again, since every event
    #: would then be stored a second time under its new id; lines read later get the new ids.
    reading: str | None = None

    # -- where ---------------------------------------------------------------------------------

    @classmethod
    def root_problem(cls, root: Path) -> str | None:
        """Why `root`, which exists, cannot hold this agent's logs (None when it can, or is missing).

        A root is the agent's home folder (`~/.claude`, holding `projects/`), and the folder users
        point at instead is often the one that visibly holds the logs (`~/.claude/projects`) or the
        one above the home (`~` for `~/.gemini`): both are named with the folder that was meant.
        """
        try:
            if not root.exists():
                return None
            if not root.is_dir():
                return "not a folder"
            if not cls.root_layout or any((root / name).is_dir() for name in cls.root_layout):
                return None
            wanted = " or ".join(f"{name}/" for name in cls.root_layout)
            for guess in (root.parent, root / f".{cls.name}", root / "User"):
                if guess != root and any((guess / name).is_dir() for name in cls.root_layout):
                    return f"holds no {wanted}: did you mean {guess}?"
        except OSError as exc:
            return f"cannot be read: {exc.strerror or exc}"
        return f"holds no {wanted} yet"

    @classmethod
    @abstractmethod
    def default_roots(cls) -> list[Path]:
        """The agent's standard home folder(s) on this OS (honouring `env_var`)."""

    @abstractmethod
    def discover(self) -> Iterator[SourceFile]:
        """Every file under `self.roots` this source reads (missing roots yield nothing).

        The engine empties `self.unlisted` before each discovery and reports what it holds after.
        """

    def is_log_file(self, path: Path) -> bool:
        """`path.is_file()`, except that a file that cannot be looked at (its folder not searchable:
        logs written by `sudo <agent>`) is added to `unlisted` for the engine to report instead of
        ending the whole discovery with PermissionError."""
        try:
            return path.is_file()
        except OSError as exc:
            self.unlisted.append((path.parent, exc.strerror or str(exc)))
            return False

    #: The subfolders of a root where the agent writes its logs (the rest of its home is not watched:
    #: see `watch_folders`); empty: the whole root.
    log_folders: ClassVar[tuple[str, ...]] = ()

    def watch_paths(self) -> list[Path]:
        """Folders to watch for changes: each existing root's `log_folders` that exist, or the root."""
        if self.log_folders:
            return watch_folders(self.roots, self.log_folders)
        return [r for r in self.roots if r.exists()]

    def awaited_paths(self) -> list[Path]:
        """Log folders not made yet, whose creation `watch_paths` would not see (see `awaited_folders`)."""
        return awaited_folders(self.roots, self.log_folders)

    def may_hold_logs(self, path: Path) -> bool:
        """Whether a change at `path` (not a file already tracked) may concern this source: a new log,
        a folder that may hold logs, or a file its documents depend on. The daemon looks for new files
        only then; a root is the agent's whole home folder, where it also writes files devlog never
        reads (Claude Code's `history.jsonl`, VS Code's `state.vscdb`), often. True by default."""
        return True

    # -- how -----------------------------------------------------------------------------------

    def parse_lines(
        self, file: SourceFile, lines: Iterable[tuple[int, bytes]], state: dict[str, Any]
    ) -> Iterator[Event | Problem]:
        """Parse complete lines of an append-mode file (each without its newline).

        `state` is the dict persisted with the cursor; mutate it to carry context to the next read.
        It starts empty for a new (or re-read from 0) file.
        """
        raise NotImplementedError(f"{self.name} has no append-mode files")

    def parse_document(self, file: SourceFile, state: dict[str, Any]) -> Iterator[Event | Problem]:
        """Parse a whole document (document/sqlite mode)."""
        raise NotImplementedError(f"{self.name} has no document-mode files")


def vscode_user_dirs(product_names: Iterable[str]) -> list[Path]:
    """VS Code-style `User` folders for the given products on this OS (existing or not)."""
    home = Path.home()
    if sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    elif sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", home / "AppData" / "Roaming"))
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return [base / product / "User" for product in product_names]
