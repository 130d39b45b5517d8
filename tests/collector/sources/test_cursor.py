"""Cursor source: real `state.vscdb` SQLite files built from JSON row fixtures.

The databases are generated per test (no binary fixtures): `tests/fixtures/cursor/global.json` holds
the global DB's rows (including auth tokens and unrelated keys that must never be read) and
`workspaces.json` the per-workspace DBs and `workspace.json` manifests.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from devlog_collector.sources import load_source_class
from devlog_collector.sources.base import Problem, SourceFile
from devlog_collector.sources.cursor import CursorSource
from devlog_shared import Event, Usage, decode_event, encode_event, event_id
from tests.collector.collect_helpers import agent_config

FIXTURES = Path(__file__).parents[2] / "fixtures" / "cursor"
A = "98251e54-6c0a-4d7e-9b1f-3a2c5d4e6f70"  # modern composer, mapped to /home/dev/shop
B = "1a2b3c4d-0000-4000-8000-00000000000b"  # legacy inline conversation, no workspace
C = "c0ffee00-1111-4222-8333-444455556666"  # still generating
E = "e0e0e0e0-3333-4444-8555-666677778888"  # composer row being written (invalid JSON)
SENTINELS = ("SENTINEL", "dev@example.test")


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _write_db(path: Path, tables: dict[str, dict[str, Any]], *, journal: str = "wal") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA journal_mode={journal}")
    db.execute("CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
    db.execute("CREATE TABLE cursorDiskKV (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
    for table, rows in tables.items():
        db.executemany(f"INSERT INTO {table} VALUES (?, ?)", [(k, _value(v)) for k, v in rows.items()])
    db.commit()
    db.close()


def build_user_dir(root: Path, *, generating_updated_at: int | None = None, journal: str = "wal") -> Path:
    """A Cursor `User` folder with a global DB and two workspace DBs."""
    user = root / "Cursor" / "User"
    rows = json.loads((FIXTURES / "global.json").read_text())
    composer = rows["cursorDiskKV"][f"composerData:{C}"]
    composer["lastUpdatedAt"] = generating_updated_at or int(time.time() * 1000)
    _write_db(user / "globalStorage" / "state.vscdb", rows, journal=journal)
    for storage_hash, spec in json.loads((FIXTURES / "workspaces.json").read_text()).items():
        folder = user / "workspaceStorage" / storage_hash
        _write_db(folder / "state.vscdb", {"ItemTable": spec["ItemTable"]})
        (folder / "workspace.json").write_text(json.dumps(spec["workspace.json"]))
    return user


def set_row(user: Path, key: str, value: Any) -> None:
    db = sqlite3.connect(user / "globalStorage" / "state.vscdb")
    db.execute("INSERT INTO cursorDiskKV VALUES (?, ?)", (key, _value(value)))
    db.commit()
    db.close()


def parse(user: Path, state: dict[str, Any] | None = None) -> tuple[list[Event], list[Problem], dict[str, Any]]:
    state = {} if state is None else state
    events: list[Event] = []
    problems: list[Problem] = []
    source = CursorSource([user])
    for item in source.parse_document(SourceFile(user / "globalStorage" / "state.vscdb", "sqlite"), state):
        (events if isinstance(item, Event) else problems).append(item)
    return events, problems, state


def check_events(events: list[Event]) -> None:
    counts = Counter(e.id for e in events)
    assert not [i for i, n in counts.items() if n > 1], "duplicate event ids"
    for event in events:
        assert decode_event(encode_event(event)) == event
        msgspec.json.encode(event.attrs)
        assert event.agent == "cursor"


def of(events: list[Event], kind: str, session: str | None = None) -> list[Event]:
    return [e for e in events if e.kind == kind and (session is None or e.session_id == session)]


@pytest.fixture
def user(tmp_path: Path) -> Path:
    return build_user_dir(tmp_path)


def test_registered_under_cursor() -> None:
    assert load_source_class("cursor") is CursorSource


def test_discover_finds_the_global_database(user: Path, tmp_path: Path) -> None:
    files = list(CursorSource([user, tmp_path / "nothing-here"]).discover())
    assert [(f.path, f.mode) for f in files] == [(user / "globalStorage" / "state.vscdb", "sqlite")]
    assert CursorSource.default_roots()[0].parts[-2:] == ("Cursor", "User")


def test_modern_composer_bubbles(user: Path) -> None:
    events, problems, _ = parse(user)
    check_events(events)
    removed = [e for e in events if e.attrs.get("removed") is True]
    # The bubble an edit left out of the header list: kept, marked, as Copilot's undone requests.
    assert [(e.kind, e.text) for e in removed] == [("response", "ORPHAN FROM AN EDITED MESSAGE")]
    mine = [e for e in events if e.session_id == A and e.attrs.get("removed") is not True]
    assert {e.workspace for e in mine} == {"/home/dev/shop"}  # via the workspace DB + workspace.json
    assert Counter(e.kind for e in mine) == {
        "session_start": 1,
        "prompt": 2,
        "response": 3,
        "tool_call": 2,
        "tool_result": 2,
        "file_edit": 2,
        "command": 1,
    }
    start = of(events, "session_start", A)[0]
    assert start.model == "claude-4.5-sonnet"
    assert start.ts.isoformat() == "2025-12-25T19:35:08.486000+00:00"
    assert start.attrs["title"] == "Add health check" and start.attrs["mode"] == "agent"
    assert start.attrs["branch"] == "feature/health" and start.attrs["context_tokens"] == 24873

    first_prompt, second_prompt = of(events, "prompt", A)
    assert first_prompt.id == event_id("cursor", A, "a-b1", "prompt")
    assert first_prompt.text == "add a /health endpoint to app.py"
    assert first_prompt.ts.isoformat() == "2025-12-25T19:35:10.120000+00:00"
    assert second_prompt.text == "thanks, ship it"
    assert second_prompt.attrs["ts_inferred"] is True and second_prompt.ts == start.ts  # composer createdAt

    answer, readme, shipped = of(mine, "response", A)
    assert answer.text == "I'll add a GET /health route."
    assert answer.model == "claude-4.5-sonnet-thinking"  # the bubble's modelInfo beats the composer's
    assert answer.usage == Usage(input_tokens=1200, output_tokens=340)
    assert answer.attrs["duration_ms"] == 3241 and answer.attrs["thinking_chars"] > 0
    assert readme.text == "Also add this to README:"
    assert shipped.usage is None  # 0/0 token counts are not usage
    assert shipped.ts.isoformat() == "2025-12-25T19:48:45+00:00"  # createdAt as epoch ms

    tools = {e.tool.name: e for e in of(events, "tool_call", A) if e.tool}
    edit_tool = tools["edit_file"]
    assert edit_tool.tool is not None and edit_tool.tool.call_id == "toolu_edit_1"
    assert edit_tool.tool.status == "completed"
    assert json.loads(edit_tool.text or "")["target_file"] == "/home/dev/shop/app.py"
    edits = {e.file.path: e for e in of(events, "file_edit", A) if e.file}
    assert set(edits) == {"/home/dev/shop/app.py", "/home/dev/shop/README.md"}
    assert edits["/home/dev/shop/app.py"].parent_id == edit_tool.id
    assert edits["/home/dev/shop/README.md"].attrs["from"] == "code_block"
    [command] = of(events, "command", A)
    assert command.text == "pytest -q tests/test_health.py" and command.parent_id == tools["run_terminal_cmd"].id
    results = {e.tool.name: e.text for e in of(events, "tool_result", A) if e.tool}
    assert results["run_terminal_cmd"] == '{"output":"1 passed","exitCode":0}'

    assert "ORPHAN" not in json.dumps([e.text for e in mine])  # bubbles not in the header list
    [half_written] = [p for p in problems if p.position == f"key bubbleId:{A}:a-b6"]
    assert "invalid bubble JSON" in half_written.message


def test_legacy_inline_conversation(user: Path) -> None:
    events, problems, _ = parse(user)
    mine = [e for e in events if e.session_id == B]
    assert [e.kind for e in mine] == ["session_start", "prompt", "response"]
    assert {e.workspace for e in mine} == {None}  # no workspace DB lists it
    prompt, response = mine[1:]
    assert prompt.text == "what does this regex do?"
    assert prompt.ts.isoformat() == "2025-01-01T10:00:01+00:00"  # timingInfo.clientStartTime
    assert response.model == "gpt-4o" and response.usage == Usage(input_tokens=800, output_tokens=45)
    assert any(p.position == f"key composerData:{B} conversation[2]" for p in problems)


def test_problems_for_broken_rows_and_no_session_for_empty_composers(user: Path) -> None:
    events, problems, _ = parse(user)
    positions = {p.position for p in problems}
    assert positions == {f"key bubbleId:{A}:a-b6", f"key composerData:{B} conversation[2]", f"key composerData:{E}"}
    sessions = {e.session_id for e in events}
    assert sessions == {A, B, C}  # the empty composer D is not a session, E is unreadable


def test_generating_composer_holds_back_its_unfinished_reply(tmp_path: Path) -> None:
    user = build_user_dir(tmp_path)
    events, _, state = parse(user)
    assert [e.kind for e in events if e.session_id == C] == ["session_start", "prompt"]
    assert C not in state["composers"]  # re-read until finished
    assert of(events, "session_start", C)[0].model == "default"  # Auto: Cursor picked the model

    rows = json.loads((FIXTURES / "global.json").read_text())["cursorDiskKV"]
    set_row(user, f"bubbleId:{C}:c-2", rows[f"bubbleId:{C}:c-2"] | {"text": "Let me look at cart.py first."})
    set_row(user, f"composerData:{C}", rows[f"composerData:{C}"] | {"status": "completed", "lastUpdatedAt": 1})
    events, _, state = parse(user, state)
    [reply] = of(events, "response", C)
    assert reply.text == "Let me look at cart.py first."
    assert state["composers"][C] == 1


def test_a_composer_stuck_generating_for_an_hour_is_final(tmp_path: Path) -> None:
    user = build_user_dir(tmp_path, generating_updated_at=int(time.time() * 1000) - 2 * 3_600_000)
    events, _, _ = parse(user)
    assert [e.text for e in of(events, "response", C)] == ["Let me look at"]


def test_unchanged_composers_are_skipped_and_ids_are_stable(user: Path) -> None:
    first, _, state = parse(user)
    # A has a header whose bubble row is missing (being written): not marked seen yet
    assert set(state["composers"]) == {B, "d0d0d0d0-2222-4333-8444-555566667777"}
    again, problems, _ = parse(user, json.loads(json.dumps(state)))  # state survives a JSON round trip
    assert {e.session_id for e in again} == {A, C}  # only those still being written are re-read
    # (the engine records each problem once, however often a re-read yields it)
    assert {p.position for p in problems} == {f"key composerData:{E}", f"key bubbleId:{A}:a-b6"}
    fresh, _, _ = parse(user)
    assert [e.id for e in fresh] == [e.id for e in first]

    # a changed composer is re-read in full and yields the same ids plus the new bubble
    rows = json.loads((FIXTURES / "global.json").read_text())["cursorDiskKV"]
    composer = rows[f"composerData:{B}"]
    composer["conversation"].insert(2, {"type": 1, "bubbleId": "b-3", "text": "and in Python?"})
    set_row(user, f"composerData:{B}", composer | {"lastUpdatedAt": 1735725800000})
    later, _, _ = parse(user, state)
    legacy_before = {e.id for e in first if e.session_id == B}
    legacy_after = {e.id for e in later if e.session_id == B}
    assert legacy_before < legacy_after and len(legacy_after - legacy_before) == 1


def test_locked_database_yields_a_problem_then_reads_once_released(tmp_path: Path) -> None:
    user = build_user_dir(tmp_path, journal="delete")
    writer = sqlite3.connect(user / "globalStorage" / "state.vscdb", isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")  # Cursor in the middle of a write
    try:
        events, problems, state = parse(user)
        assert events == []
        assert [p.position for p in problems] == ["database"] and "locked" in problems[0].message
        assert "composers" not in state
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    events, _, _ = parse(user)
    assert {e.session_id for e in events} == {A, B, C}


def test_auth_and_unrelated_keys_are_never_read(user: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    statements: list[tuple[str, str]] = []
    real_connect: Callable[..., sqlite3.Connection] = sqlite3.connect

    def traced_connect(database: str, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = real_connect(database, *args, **kwargs)
        connection.set_trace_callback(lambda sql: statements.append((str(database), sql)))
        return connection

    monkeypatch.setattr(sqlite3, "connect", traced_connect)
    events, problems, state = parse(user)
    assert events
    everything = json.dumps([encode_event(e).decode() for e in events] + [repr(p) for p in problems] + [state])
    for sentinel in SENTINELS:
        assert sentinel not in everything

    global_sql = [sql for db, sql in statements if "globalStorage" in db]
    workspace_sql = [sql for db, sql in statements if "workspaceStorage" in db]
    assert global_sql and workspace_sql
    assert not [sql for sql in global_sql if "ItemTable" in sql]  # where cursorAuth/* lives
    for sql in global_sql:
        if "cursorDiskKV" in sql and "sqlite_master" not in sql:
            assert "WHERE key" in sql, sql  # always bounded to the keys this source needs
            assert "'composerData:" in sql or f"'bubbleId:{A}:" in sql or "'bubbleId:" in sql, sql
    assert all("WHERE key = 'composer.composerData'" in sql for sql in workspace_sql if "ItemTable" in sql)


def test_database_without_cursor_tables_yields_nothing(tmp_path: Path) -> None:
    path = tmp_path / "Cursor" / "User" / "globalStorage" / "state.vscdb"
    path.parent.mkdir(parents=True)
    sqlite3.connect(path).close()
    assert parse(tmp_path / "Cursor" / "User")[:2] == ([], [])


def test_not_a_database_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "Cursor" / "User" / "globalStorage" / "state.vscdb"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not sqlite" * 100)
    events, problems, _ = parse(tmp_path / "Cursor" / "User")
    assert events == [] and [p.position for p in problems] == ["database"]


def _rows(path: Path) -> Iterator[tuple[str, str]]:
    db = sqlite3.connect(path)
    try:
        yield from db.execute("SELECT key, value FROM cursorDiskKV")
    finally:
        db.close()


def test_reading_does_not_modify_the_database(user: Path) -> None:
    path = user / "globalStorage" / "state.vscdb"
    before = sorted(_rows(path))
    parse(user)
    assert sorted(_rows(path)) == before


def test_a_bubble_row_written_after_its_header_is_still_collected(user: Path) -> None:
    """Cursor commits the composer's header list first and the bubble row a moment later."""
    _, _, state = parse(user)
    assert not [e for e in parse(user, state)[0] if "late reply" in (e.text or "")]
    set_row(user, f"bubbleId:{A}:a-b7", {"type": 2, "text": "the late reply", "createdAt": "2025-12-25T19:48:30Z"})
    later, _, state = parse(user, state)  # the composer's lastUpdatedAt did not change
    assert [e.text for e in later if e.session_id == A and "late reply" in (e.text or "")] == ["the late reply"]
    assert A in state["composers"]
    assert [e.session_id for e in parse(user, state)[0]] == [C] * len(parse(user, state)[0])


def test_a_composer_read_before_its_workspace_is_known_is_read_again_once_it_is(user: Path) -> None:
    """VS Code writes a workspace's item table lazily: the global composer row can come first."""
    composer_id = "f1f1f1f1-0000-4000-8000-00000000000f"
    composer = {"_v": 10, "composerId": composer_id, "createdAt": 1766692000000, "lastUpdatedAt": 1766692000000,
                "status": "completed", "fullConversationHeadersOnly": [{"bubbleId": "p", "type": 1}]}  # fmt: skip
    set_row(user, f"composerData:{composer_id}", composer)
    set_row(user, f"bubbleId:{composer_id}:p", {"type": 1, "text": "late workspace", "createdAt": 1766692000000})
    first, _, state = parse(user)
    assert {e.workspace for e in first if e.session_id == composer_id} == {None}
    assert composer_id in state["unmapped"]
    assert not [e for e in parse(user, state)[0] if e.session_id == composer_id]  # still unknown: not re-read
    workspace_db = user / "workspaceStorage" / "77aa88bb99cc00dd11ee22ff33aa44bb" / "state.vscdb"
    db = sqlite3.connect(workspace_db)
    listing = {"allComposers": [{"composerId": composer_id}]}
    db.execute("INSERT INTO ItemTable VALUES (?, ?)", ("composer.composerData", json.dumps(listing)))
    db.commit()
    db.close()
    later, _, state = parse(user, state)
    assert {e.workspace for e in later if e.session_id == composer_id} == {"/home/dev/empty"}
    assert {e.id for e in later if e.session_id == composer_id} == {e.id for e in first if e.session_id == composer_id}
    assert composer_id not in state["unmapped"]


def test_a_composer_left_generating_asks_to_be_read_again_when_it_counts_as_final(tmp_path: Path) -> None:
    """Cursor closed mid-reply: the database may never change again, so the engine must come back."""
    from devlog_collector.sources.base import RECHECK_AFTER_KEY
    from devlog_collector.sources.cursor import STALE_GENERATING_MS

    updated = int(time.time() * 1000) - 60_000
    user = build_user_dir(tmp_path, generating_updated_at=updated)
    _, _, state = parse(user)
    assert state[RECHECK_AFTER_KEY] == updated + STALE_GENERATING_MS + 1000
    stale = build_user_dir(tmp_path / "stale", generating_updated_at=updated - STALE_GENERATING_MS)
    events, _, state = parse(stale)
    assert RECHECK_AFTER_KEY not in state and C in {e.session_id for e in events}


def test_copies_left_by_a_killed_reader_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback copy of a database holds Cursor's sign-in tokens: it must not outlive its reader."""
    import tempfile

    from devlog_collector.sources import cursor

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = tmp_path / "devlog-cursor-dead"
    stale.mkdir()
    (stale / "state.vscdb").write_bytes(b"copy")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    fresh = tmp_path / "devlog-cursor-reading-now"
    fresh.mkdir()
    other = tmp_path / "someone-else"
    other.mkdir()
    os.utime(other, (old, old))
    cursor._remove_stale_copies()
    assert not stale.exists() and fresh.exists() and other.exists()


def test_a_workspace_database_naming_a_chat_later_brings_it_back_without_the_chat_changing(tmp_path: Path) -> None:
    """The engine reads the global database again when a workspace database changes while some chats
    have no folder, so a finished chat (its own database quiet) still gets its workspace."""
    from devlog_collector.collect import Collector
    from devlog_collector.store import Store

    user = build_user_dir(tmp_path, generating_updated_at=int(time.time() * 1000) - 2 * 3_600_000)
    composer_id = "f2f2f2f2-0000-4000-8000-00000000000f"
    composer = {"_v": 10, "composerId": composer_id, "createdAt": 1766692000000, "lastUpdatedAt": 1766692000000,
                "status": "completed", "fullConversationHeadersOnly": [{"bubbleId": "p", "type": 1}]}  # fmt: skip
    set_row(user, f"composerData:{composer_id}", composer)
    set_row(user, f"bubbleId:{composer_id}:p", {"type": 1, "text": "which folder?", "createdAt": 1766692000000})
    old = time.time() - 60
    for path in (user / "globalStorage").iterdir():
        os.utime(path, (old, old))
    config = agent_config("cursor", user, tmp_path / "store")
    with Store.open(config.storage.db_path()) as store:

        def workspaces() -> set[str | None]:
            rows = store.db.execute("SELECT workspace FROM events WHERE session_id = ?", (composer_id,))
            return {row[0] for row in rows}

        Collector(store, config).collect()
        assert workspaces() == {None}
        assert Collector(store, config).collect().files_read == 0  # nothing changed: not read
        db = sqlite3.connect(user / "workspaceStorage" / "77aa88bb99cc00dd11ee22ff33aa44bb" / "state.vscdb")
        listing = {"allComposers": [{"composerId": composer_id}]}
        db.execute("INSERT INTO ItemTable VALUES (?, ?)", ("composer.composerData", json.dumps(listing)))
        db.commit()
        db.close()
        Collector(store, config).collect()
        assert workspaces() == {"/home/dev/empty"}


def test_a_commit_cursor_makes_while_devlog_reads_is_collected_on_the_next_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cursor keeps its connection open, so its commits land in `state.vscdb-wal` only. A commit made
    during the read must not be taken for already read (the signature is taken before the read)."""
    from tests.collector.collect_helpers import collect

    user = build_user_dir(tmp_path)
    database = user / "globalStorage" / "state.vscdb"
    writer = sqlite3.connect(database)  # Cursor itself: open for the whole test, WAL mode
    writer.execute("INSERT INTO ItemTable VALUES ('cursor.warm', '1')")
    writer.commit()
    wal = Path(f"{database}-wal")
    assert wal.exists()
    old = time.time() - 60
    for path in (database, wal):
        os.utime(path, (old, old))
    reply = {"type": 2, "text": "the reply committed mid-read", "createdAt": "2025-12-25T19:48:30Z"}
    original = CursorSource.parse_document

    def parse_while_cursor_writes(self: CursorSource, file: SourceFile, state: dict[str, Any]) -> Iterator[Any]:
        written = False
        for item in original(self, file, state):
            if not written and file.path == database:
                writer.execute("INSERT INTO cursorDiskKV VALUES (?, ?)", (f"bubbleId:{A}:a-b7", json.dumps(reply)))
                writer.commit()
                os.utime(wal, (old, old))  # a coarse clock: only the WAL's size tells
                written = True
            yield item

    config = agent_config("cursor", user, tmp_path / "store")
    try:
        with monkeypatch.context() as patch:
            patch.setattr(CursorSource, "parse_document", parse_while_cursor_writes)
            collect(config)
        db = sqlite3.connect(config.storage.db_path())
        saved = db.execute("SELECT size, mtime_ns FROM collect_cursors WHERE path = ?", (str(database),)).fetchone()
        assert saved == (None, None)  # not "read up to here": the next pass reads it again
        collect(config)  # Cursor wrote nothing since
        texts = [row[0] for row in db.execute("SELECT text FROM events WHERE text LIKE '%committed mid-read%'")]
        db.close()
        assert texts == ["the reply committed mid-read"]
    finally:
        writer.close()


def test_thinking_alone_failed_edits_and_an_edit_named_twice(tmp_path: Path) -> None:
    """A bubble of thinking alone was an empty reply, a refused edit counted as an edit, and a tool's
    edit listed again by the same bubble's `codeBlocks` counted twice."""
    user = build_user_dir(tmp_path)
    composer = "d0d0d0d0-2222-4333-8444-555566667777"
    bubbles: list[dict[str, Any]] = [
        {"type": 1, "bubbleId": "d1", "createdAt": "2025-12-26T10:00:00.000Z", "text": "fix the server"},
        {"type": 2, "bubbleId": "d2", "createdAt": "2025-12-26T10:00:01.000Z", "text": "",
         "thinking": {"text": "Let me look at the server first."}, "tokenCount": {"inputTokens": 0, "outputTokens": 0}},
        {"type": 2, "bubbleId": "d3", "createdAt": "2025-12-26T10:00:02.000Z", "text": "",
         "toolFormerData": {"name": "search_replace", "toolCallId": "t-fail", "status": "error",
                            "rawArgs": json.dumps({"file_path": "/home/dev/web/src/a.ts", "old_string": "x"}),
                            "result": json.dumps({"error": "old_string not found"})}},
        {"type": 2, "bubbleId": "d4", "createdAt": "2025-12-26T10:00:03.000Z", "text": "",
         "toolFormerData": {"name": "edit_file", "toolCallId": "t-ok", "status": "completed",
                            "rawArgs": json.dumps({"target_file": "/home/dev/web/src/server.ts"}),
                            "result": json.dumps({"diff": {}})},
         "codeBlocks": [{"uri": {"fsPath": "/home/dev/web/src/server.ts"}, "codeBlockIdx": 0}]},
    ]  # fmt: skip
    header = [{"bubbleId": b["bubbleId"], "type": b["type"]} for b in bubbles]
    set_row(user, f"composerData:{composer}", {
        "_v": 10, "composerId": composer, "name": "Fix the server", "createdAt": 1766743200000,
        "lastUpdatedAt": 1766743203000, "status": "completed", "fullConversationHeadersOnly": header,
    })  # fmt: skip
    for bubble in bubbles:
        set_row(user, f"bubbleId:{composer}:{bubble['bubbleId']}", bubble)
    events, _, _ = parse(user)
    mine = [e for e in events if e.session_id == composer]
    assert Counter(e.kind for e in mine) == {"session_start": 1, "prompt": 1, "tool_call": 2, "tool_result": 2,
                                             "file_edit": 1}  # fmt: skip
    [edit] = of(mine, "file_edit")
    assert edit.file is not None and edit.file.path == "/home/dev/web/src/server.ts"


def _composer(user: Path, composer_id: str) -> dict[str, Any]:
    db = sqlite3.connect(user / "globalStorage" / "state.vscdb")
    try:
        return json.loads(db.execute("SELECT value FROM cursorDiskKV WHERE key = ?", (f"composerData:{composer_id}",))
                          .fetchone()[0])  # fmt: skip
    finally:
        db.close()


def test_a_composer_rewritten_without_a_new_stamp_is_read_again(user: Path) -> None:
    """A title set later left `lastUpdatedAt` alone: the change was never collected (a live-daemon pass)."""
    _, _, state = parse(user)
    assert B in state["composers"]  # (seen: not read again while its stamp stays)
    assert not [e for e in parse(user, json.loads(json.dumps(state)))[0] if e.session_id == B]
    composer = _composer(user, B)
    set_row(user, f"composerData:{B}", {**composer, "name": "Health and readiness endpoints"})
    later, _, _ = parse(user, json.loads(json.dumps(state)))
    [start] = of(later, "session_start", B)
    assert start.attrs["title"] == "Health and readiness endpoints"


def test_a_recent_composers_bubble_rewritten_alone_is_read_again(user: Path) -> None:
    """Cursor stamped the composer `completed`, then wrote the reply's final text and tokens: the
    reply stayed cut, with no tokens, for good (its stamp never moved again)."""
    now = int(time.time() * 1000)
    set_row(user, f"bubbleId:{A}:a-b7", {"type": 2, "text": "late", "createdAt": "2025-12-25T19:48:30Z"})
    composer = _composer(user, A)
    set_row(user, f"composerData:{A}", {**composer, "lastUpdatedAt": now})
    _, _, state = parse(user)
    assert A in state["composers"]  # (every bubble there: seen)
    bubble = {"type": 2, "bubbleId": "a-b2", "text": "The final reply.", "createdAt": "2025-12-25T19:35:12Z",
              "tokenCount": {"inputTokens": 900, "outputTokens": 60}}  # fmt: skip
    set_row(user, f"bubbleId:{A}:a-b2", bubble)
    later, _, _ = parse(user, state)
    [reply] = [e for e in later if e.id == event_id("cursor", A, "a-b2", "response")]
    assert reply.text == "The final reply." and reply.usage == Usage(input_tokens=900, output_tokens=60)


def test_bubbles_an_edit_left_out_of_the_header_list_are_kept_marked_removed(user: Path) -> None:
    """Edit and resend: the daemon, which read the chat before, kept the old turn unmarked; a fresh
    collect skipped it. Both now hold it, marked `removed`."""
    _, _, state = parse(user)
    composer = _composer(user, A)
    headers = composer["fullConversationHeadersOnly"]
    kept = [h for h in headers if h["bubbleId"] not in ("a-b4", "a-b5")]
    set_row(
        user, f"composerData:{A}", {**composer, "fullConversationHeadersOnly": kept, "lastUpdatedAt": 1766692200000}
    )
    reread, _, _ = parse(user, state)
    fresh, _, _ = parse(user)
    for events in (reread, fresh):
        gone = {e.id: e for e in events if e.session_id == A and e.attrs.get("removed") is True}
        assert {e.source.key.split(":")[-1] for e in gone.values() if e.source} >= {"a-b4", "a-b5"}
    assert sorted(e.id for e in reread if e.attrs.get("removed")) == sorted(
        e.id for e in fresh if e.attrs.get("removed")
    )
