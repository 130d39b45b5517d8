"""Side files that are not regular files (a FIFO, a device, a folder) never hang a parse.

`open()` of a FIFO blocks until a writer appears, and SQLite's open of one blocks too. Each test runs
the parse in a thread: if it is still blocked after a few seconds, the FIFOs are opened for writing
(which releases the reader) and the test fails, so a regression fails fast instead of hanging.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from devlog_collector.sources._side_files import (
    NotARegularFile,
    is_regular_file,
    read_regular_file,
    read_side_file,
)
from devlog_collector.sources.base import Problem, Source, SourceFile
from devlog_collector.sources.copilot import CopilotSource
from devlog_collector.sources.cursor import CursorSource
from devlog_collector.sources.gemini import GeminiSource
from devlog_shared import Event

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")

T = TypeVar("T")
SECONDS = 10.0


def finishes(call: Callable[[], T], *fifos: Path) -> T:
    """`call()`'s result; fails (after releasing the reader) if it blocks on one of `fifos`."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(SECONDS)
    if thread.is_alive():
        for fifo in fifos:
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # wakes a blocked reader with EOF
        thread.join(SECONDS)
        pytest.fail(f"the parse blocked on a FIFO ({', '.join(map(str, fifos))})")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def parse(source: Source, path: Path, mode: str = "document") -> tuple[list[Event], list[Problem]]:
    items = list(source.parse_document(SourceFile(path=path, mode=mode), {}))  # type: ignore[arg-type]
    return [i for i in items if isinstance(i, Event)], [i for i in items if isinstance(i, Problem)]


# -- the reader itself ---------------------------------------------------------------------------


def test_side_file_reader_reads_regular_files_only(tmp_path: Path) -> None:
    regular = tmp_path / "workspace.json"
    regular.write_bytes(b'{"folder": "file:///w"}')
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2048)

    assert read_side_file(regular) == b'{"folder": "file:///w"}'
    assert finishes(lambda: read_side_file(fifo), fifo) is None
    assert read_side_file(tmp_path) is None  # a folder
    assert read_side_file(tmp_path / "missing") is None
    assert read_side_file(Path("bad\x00name")) is None
    assert read_side_file(big, limit=1024) is None
    assert is_regular_file(regular) and not is_regular_file(fifo) and not is_regular_file(tmp_path / "missing")
    with pytest.raises(NotARegularFile):
        finishes(lambda: read_regular_file(fifo), fifo)
    with pytest.raises(FileNotFoundError):
        read_regular_file(tmp_path / "missing")


# -- Gemini --------------------------------------------------------------------------------------


def gemini_session(root: Path, project: str) -> Path:
    chats = root / "tmp" / project / "chats"
    chats.mkdir(parents=True)
    path = chats / "session-2026-01-01T10-00-s1.jsonl"
    meta = {"sessionId": "s1", "startTime": "2026-01-01T10:00:00Z", "directories": ["/from/directories"]}
    prompt = {"id": "u1", "timestamp": "2026-01-01T10:00:01Z", "type": "user", "content": "hi"}
    path.write_text(json.dumps(meta) + "\n" + json.dumps(prompt) + "\n")
    return path


def test_gemini_project_root_fifo_is_treated_as_missing(tmp_path: Path) -> None:
    root = tmp_path / ".gemini"
    path = gemini_session(root, "proj")
    marker = root / "tmp" / "proj" / ".project_root"
    os.mkfifo(marker)
    events, problems = finishes(lambda: parse(GeminiSource([root]), path), marker)
    assert problems == []
    assert {e.workspace for e in events} == {"/from/directories"}
    assert [e.kind for e in events] == ["session_start", "prompt"]


def test_gemini_projects_registry_fifo_is_treated_as_missing(tmp_path: Path) -> None:
    root = tmp_path / ".gemini"
    path = gemini_session(root, "my-slug")
    registry = root / "projects.json"
    os.mkfifo(registry)
    events, problems = finishes(lambda: parse(GeminiSource([root]), path), registry)
    assert problems == []
    assert {e.workspace for e in events} == {"/from/directories"}


def test_gemini_session_file_swapped_for_a_fifo_is_a_problem_not_a_hang(tmp_path: Path) -> None:
    """The engine checks the file it hands over, but it can be swapped in between."""
    chats = tmp_path / ".gemini" / "tmp" / "proj" / "chats"
    chats.mkdir(parents=True)
    fifo = chats / "session-2026-01-01T10-00-s1.jsonl"
    os.mkfifo(fifo)
    events, problems = finishes(lambda: parse(GeminiSource([tmp_path / ".gemini"]), fifo), fifo)
    assert events == [] and [p.position for p in problems] == ["file"]
    assert "not a regular file" in problems[0].message


# -- VS Code workspaces (Copilot) ----------------------------------------------------------------


def copilot_session(user: Path) -> Path:
    sessions = user / "workspaceStorage" / "h1" / "chatSessions"
    sessions.mkdir(parents=True)
    path = sessions / "s1.json"
    request = {"requestId": "r1", "timestamp": 1767261600000, "message": {"text": "hi"}, "response": [],
               "result": {}}  # fmt: skip
    path.write_text(json.dumps({"version": 3, "sessionId": "s1", "creationDate": 1767261600000, "requests": [request]}))
    return path


def test_vscode_workspace_json_fifo_is_treated_as_missing(tmp_path: Path) -> None:
    user = tmp_path / "Code" / "User"
    path = copilot_session(user)
    manifest = user / "workspaceStorage" / "h1" / "workspace.json"
    os.mkfifo(manifest)
    events, problems = finishes(lambda: parse(CopilotSource([user]), path), manifest)
    assert problems == [] and events
    assert {e.workspace for e in events} == {None}


def test_vscode_code_workspace_fifo_falls_back_to_its_folder(tmp_path: Path) -> None:
    user = tmp_path / "Code" / "User"
    path = copilot_session(user)
    folder = tmp_path / "projects"
    folder.mkdir()
    workspace_file = folder / "team.code-workspace"
    os.mkfifo(workspace_file)
    (user / "workspaceStorage" / "h1" / "workspace.json").write_text(json.dumps({"workspace": workspace_file.as_uri()}))
    events, problems = finishes(lambda: parse(CopilotSource([user]), path), workspace_file)
    assert problems == [] and events
    assert {e.workspace for e in events} == {str(folder)}  # as when the file cannot be read


# -- Cursor --------------------------------------------------------------------------------------

COMPOSER = "c0000000-0000-4000-8000-000000000001"


def cursor_user(tmp_path: Path) -> Path:
    user = tmp_path / "Cursor" / "User"
    (user / "globalStorage").mkdir(parents=True)
    db = sqlite3.connect(user / "globalStorage" / "state.vscdb")
    db.execute("CREATE TABLE cursorDiskKV (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
    composer = {"composerId": COMPOSER, "createdAt": 1767261600000, "lastUpdatedAt": 1767261660000,
                "fullConversationHeadersOnly": [{"bubbleId": "b1", "type": 1}]}  # fmt: skip
    bubble = {"type": 1, "bubbleId": "b1", "text": "hi", "createdAt": "2026-01-01T10:00:01Z"}
    db.execute("INSERT INTO cursorDiskKV VALUES (?, ?)", (f"composerData:{COMPOSER}", json.dumps(composer)))
    db.execute("INSERT INTO cursorDiskKV VALUES (?, ?)", (f"bubbleId:{COMPOSER}:b1", json.dumps(bubble)))
    db.commit()
    db.close()
    folder = user / "workspaceStorage" / "w1"
    folder.mkdir(parents=True)
    (folder / "workspace.json").write_text(json.dumps({"folder": "file:///home/dev/shop"}))
    return user


def test_cursor_workspace_database_fifo_is_treated_as_missing(tmp_path: Path) -> None:
    user = cursor_user(tmp_path)
    workspace_db = user / "workspaceStorage" / "w1" / "state.vscdb"
    os.mkfifo(workspace_db)
    global_db = user / "globalStorage" / "state.vscdb"
    events, problems = finishes(lambda: parse(CursorSource([user]), global_db, "sqlite"), workspace_db)
    assert problems == []
    assert [e.kind for e in events] == ["session_start", "prompt"]
    assert {e.workspace for e in events} == {None}  # the composer is not mapped (yet)


def test_cursor_workspace_database_with_a_fifo_wal_is_treated_as_missing(tmp_path: Path) -> None:
    user = cursor_user(tmp_path)
    workspace_db = user / "workspaceStorage" / "w1" / "state.vscdb"
    db = sqlite3.connect(workspace_db)
    db.execute("CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
    db.execute(
        "INSERT INTO ItemTable VALUES (?, ?)",
        ("composer.composerData", json.dumps({"allComposers": [{"composerId": COMPOSER}]})),
    )
    db.commit()
    db.close()
    wal = workspace_db.with_name("state.vscdb-wal")
    os.mkfifo(wal)
    global_db = user / "globalStorage" / "state.vscdb"
    events, problems = finishes(lambda: parse(CursorSource([user]), global_db, "sqlite"), wal)
    assert problems == [] and events


def test_cursor_global_database_swapped_for_a_fifo_is_one_problem(tmp_path: Path) -> None:
    global_db = tmp_path / "Cursor" / "User" / "globalStorage" / "state.vscdb"
    global_db.parent.mkdir(parents=True)
    os.mkfifo(global_db)
    events, problems = finishes(lambda: parse(CursorSource([global_db.parents[1]]), global_db, "sqlite"), global_db)
    assert events == [] and [p.position for p in problems] == ["database"]
    assert "not a regular file" in problems[0].message
