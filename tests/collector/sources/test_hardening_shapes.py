"""A JSON value of the wrong type where a parser expects a string or number gives a clear Problem.

A dict or list used as a set member or dict key raises `TypeError: unhashable type`, which reached
`devlog status` as `parser error: TypeError: ...`; and `true == 1`, `false == 0` in Python, so a
boolean passed for a numeric tag (Copilot's `kind`, Cursor's bubble `type`) was taken for one.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from devlog_collector.sources.base import Problem, SourceFile
from devlog_collector.sources.codex import CodexSource
from devlog_collector.sources.copilot import CopilotSource, replay_operation_log
from devlog_collector.sources.cursor import CursorSource
from devlog_shared import Event

HOSTILE: list[Any] = [{}, [], {"a": 1}, [{}], True, 1.5, 0]
SESSION = "0199a000-0000-7000-8000-0000000000aa"
META = {"timestamp": "2026-01-01T10:00:00Z", "type": "session_meta", "payload": {"id": SESSION}}
PROMPT = {"timestamp": "2026-01-01T10:00:02Z", "type": "event_msg",
          "payload": {"type": "user_message", "message": "two"}}  # fmt: skip


def codex(records: list[dict[str, Any]]) -> tuple[list[Event], list[Problem]]:
    file = SourceFile(path=Path(f"/x/rollout-2026-01-01T10-00-00-{SESSION}.jsonl"), mode="append")
    lines = [(number, json.dumps(record).encode()) for number, record in enumerate(records, start=1)]
    items = list(CodexSource([]).parse_lines(file, lines, {}))
    return [i for i in items if isinstance(i, Event)], [i for i in items if isinstance(i, Problem)]


def test_codex_record_type_that_is_not_a_string() -> None:
    """The tester's line: `{"timestamp": ..., "type": {}}`."""
    events, problems = codex([META, {"timestamp": "2026-05-13T09:01:00.000Z", "type": {}}, PROMPT])
    assert problems == [Problem("line 2", "`type` is not a string")]
    assert [e.kind for e in events] == ["session_start", "prompt"]


@pytest.mark.parametrize("value", HOSTILE)
def test_codex_type_fields_of_any_wrong_type_are_clear_problems(value: Any) -> None:
    bad_record = {"timestamp": "2026-01-01T10:00:01Z", "type": value, "payload": {"type": "user_message"}}
    bad_event = {"timestamp": "2026-01-01T10:00:01Z", "type": "event_msg", "payload": {"type": value}}
    bad_item = {"timestamp": "2026-01-01T10:00:01Z", "type": "response_item", "payload": {"type": value}}
    bad_legacy = {"type": value, "role": "user", "content": []}  # a pre-2025-09 unwrapped item
    events, problems = codex([META, bad_record, bad_event, bad_item, bad_legacy, PROMPT])
    assert [(p.position, p.message) for p in problems] == [
        ("line 2", "`type` is not a string"),
        ("line 3", "`payload.type` is not a string"),
        ("line 4", "`payload.type` is not a string"),
        ("line 5", "`type` is not a string"),
    ]
    assert [e.kind for e in events] == ["session_start", "prompt"]


def test_copilot_operation_kinds_are_integers_not_booleans() -> None:
    snapshot = {"version": 3, "sessionId": "s1", "requests": []}
    log = [{"kind": False, "v": {"sessionId": "bogus"}}, {"kind": 0, "v": snapshot}, {"kind": True, "k": ["x"], "v": 1},
           {"kind": 1.0, "k": ["customTitle"], "v": "t"}, {"kind": 1, "k": [True], "v": 2}]  # fmt: skip
    session, problems = replay_operation_log(b"".join(json.dumps(op).encode() + b"\n" for op in log))
    assert session == snapshot
    assert [(p.position, p.message) for p in problems] == [
        ("line 1", "operation before the initial snapshot"),
        ("line 3", "unknown operation kind True"),
        ("line 4", "unknown operation kind 1.0"),
        ("line 5", "cannot set [True]"),
    ]


def test_copilot_a_boolean_path_element_is_not_a_list_index() -> None:
    snapshot = {"sessionId": "s1", "requests": [{"requestId": "r0"}, {"requestId": "r1"}]}
    log = [{"kind": 0, "v": snapshot}, {"kind": 1, "k": ["requests", True, "requestId"], "v": "changed"}]
    session, problems = replay_operation_log(b"".join(json.dumps(op).encode() + b"\n" for op in log))
    assert session is not None and [r["requestId"] for r in session["requests"]] == ["r0", "r1"]
    assert [p.message for p in problems] == ["operation path element True does not exist"]


def test_copilot_session_document_with_wrong_types_never_fails_a_request(tmp_path: Path) -> None:
    sessions = tmp_path / "User" / "workspaceStorage" / "h1" / "chatSessions"
    sessions.mkdir(parents=True)
    path = sessions / "s1.json"
    for value in HOSTILE:
        request = {"requestId": "r1", "timestamp": 1767261600000, "message": {"text": "hi"}, "result": {},
                   "response": [{"kind": value, "value": "x"}, {"kind": "toolInvocationSerialized", "toolId": value},
                                {"kind": "textEditGroup", "uri": value}]}  # fmt: skip
        path.write_text(json.dumps({"sessionId": "s1", "creationDate": 1767261600000, "requests": [request]}))
        items = list(CopilotSource([tmp_path / "User"]).parse_document(SourceFile(path=path, mode="document"), {}))
        assert [i for i in items if isinstance(i, Problem)] == [], value


def test_cursor_bubble_type_true_is_not_a_prompt(tmp_path: Path) -> None:
    user = tmp_path / "Cursor" / "User"
    (user / "globalStorage").mkdir(parents=True)
    db = sqlite3.connect(user / "globalStorage" / "state.vscdb")
    db.execute("CREATE TABLE cursorDiskKV (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
    composer = {"composerId": "c1", "createdAt": 1767261600000, "lastUpdatedAt": 1767261660000,
                "fullConversationHeadersOnly": [{"bubbleId": "b1"}, {"bubbleId": "b2"}]}  # fmt: skip
    rows = {
        "composerData:c1": composer,
        "bubbleId:c1:b1": {"type": True, "text": "not a prompt", "createdAt": "2026-01-01T10:00:01Z"},
        "bubbleId:c1:b2": {"type": 1, "text": "a prompt", "createdAt": "2026-01-01T10:00:02Z"},
    }
    db.executemany("INSERT INTO cursorDiskKV VALUES (?, ?)", [(k, json.dumps(v)) for k, v in rows.items()])
    db.commit()
    db.close()
    path = user / "globalStorage" / "state.vscdb"
    items = list(CursorSource([user]).parse_document(SourceFile(path=path, mode="sqlite"), {}))
    assert [i.text for i in items if isinstance(i, Event) and i.kind == "prompt"] == ["a prompt"]
