"""Cursor: a row whose text is not valid UTF-8 costs that row, not the whole database.

SQLite stores whatever bytes a writer hands it as TEXT; Python's sqlite3 then fails the whole query
on the first such value ("Could not decode to UTF-8 column 'value'"), which used to leave every
composer of the database unread, on every pass.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from devlog_collector.sources.base import Problem, SourceFile
from devlog_collector.sources.cursor import CursorSource
from devlog_shared import Event

GOOD = "aaaaaaaa-0000-4000-8000-000000000001"
BAD = "bbbbbbbb-0000-4000-8000-000000000002"
BROKEN = "cccccccc-0000-4000-8000-000000000003"


def _composer(composer_id: str, bubbles: list[str]) -> dict[str, Any]:
    return {
        "composerId": composer_id,
        "createdAt": 1767261600000,
        "lastUpdatedAt": 1767261660000,
        "fullConversationHeadersOnly": [{"bubbleId": b, "type": 1} for b in bubbles],
    }


def _bubble(bubble_id: str, text: str) -> str:
    return json.dumps({"type": 1, "bubbleId": bubble_id, "text": text, "createdAt": "2026-01-01T10:00:01Z"})


def _insert_text(db: sqlite3.Connection, table: str, key: str | bytes, value: bytes) -> None:
    """Store `value` as TEXT even when it is not UTF-8 (as a buggy or crashed writer can)."""
    db.execute(f"INSERT INTO {table} VALUES (CAST(? AS TEXT), CAST(? AS TEXT))", (key, value))


def build(tmp_path: Path) -> Path:
    user = tmp_path / "Cursor" / "User"
    (user / "globalStorage").mkdir(parents=True)
    db = sqlite3.connect(user / "globalStorage" / "state.vscdb")
    db.execute("CREATE TABLE cursorDiskKV (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
    rows = {
        f"composerData:{GOOD}": json.dumps(_composer(GOOD, ["g1", "g2"])),
        f"bubbleId:{GOOD}:g1": _bubble("g1", "first"),
        f"bubbleId:{GOOD}:g2": _bubble("g2", "second"),
        f"composerData:{BAD}": json.dumps(_composer(BAD, ["b1", "b2"])),
        f"bubbleId:{BAD}:b2": _bubble("b2", "kept"),
    }
    for key, value in rows.items():
        _insert_text(db, "cursorDiskKV", key, value.encode())
    _insert_text(db, "cursorDiskKV", f"bubbleId:{BAD}:b1", _bubble("b1", "a@").encode().replace(b"@", b"\xff"))
    broken = json.dumps(_composer(BROKEN, [])).encode().replace(b'"composerId"', b'"composer\xc3Id"')
    _insert_text(db, "cursorDiskKV", f"composerData:{BROKEN}", broken)
    _insert_text(db, "cursorDiskKV", b"composerData:dddd\xfe", json.dumps(_composer("x", [])).encode())
    db.commit()
    db.close()
    return user


def parse(user: Path, state: dict[str, Any]) -> tuple[list[Event], list[Problem]]:
    path = user / "globalStorage" / "state.vscdb"
    items = list(CursorSource([user]).parse_document(SourceFile(path=path, mode="sqlite"), state))
    return [i for i in items if isinstance(i, Event)], [i for i in items if isinstance(i, Problem)]


def test_an_invalid_utf8_value_costs_only_its_row(tmp_path: Path) -> None:
    events, problems = parse(build(tmp_path), {})
    prompts = {(e.session_id, e.text) for e in events if e.kind == "prompt"}
    assert prompts == {(GOOD, "first"), (GOOD, "second"), (BAD, "kept")}
    assert {e.session_id for e in events if e.kind == "session_start"} == {GOOD, BAD}
    by_position = {p.position: p.message for p in problems}
    assert "database" not in by_position
    assert "invalid UTF-8" in by_position[f"key bubbleId:{BAD}:b1"]
    assert "invalid UTF-8" in by_position[f"key composerData:{BROKEN}"]
    assert by_position["key composerData:dddd\ufffd"] == "key is not valid UTF-8; skipped"
    assert len(problems) == 3


def test_the_next_pass_does_not_read_the_database_again_for_the_bad_row(tmp_path: Path) -> None:
    user = build(tmp_path)
    state: dict[str, Any] = {}
    parse(user, state)
    assert set(state["composers"]) == {GOOD, BAD}  # read, bad bubble and all: not read again unchanged
    events, _ = parse(user, state)
    assert [e for e in events if e.session_id in (GOOD, BAD)] == []


def test_an_invalid_utf8_workspace_mapping_costs_only_that_workspace(tmp_path: Path) -> None:
    user = build(tmp_path)
    for name, folder, composers in (("w1", "/home/dev/good", [GOOD]), ("w2", "/home/dev/bad", [BAD])):
        storage = user / "workspaceStorage" / name
        storage.mkdir(parents=True)
        (storage / "workspace.json").write_text(json.dumps({"folder": f"file://{folder}"}))
        db = sqlite3.connect(storage / "state.vscdb")
        db.execute("CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
        value = json.dumps({"allComposers": [{"composerId": c} for c in composers], "note": "@"}).encode()
        _insert_text(db, "ItemTable", "composer.composerData", value.replace(b"@", b"\xff" if name == "w2" else b"ok"))
        db.commit()
        db.close()
    events, problems = parse(user, {})
    assert {e.workspace for e in events if e.session_id == GOOD} == {"/home/dev/good"}
    assert {e.workspace for e in events if e.session_id == BAD} == {None}
    assert "database" not in {p.position for p in problems}
