"""Gemini `.jsonl`: the metadata line, incomplete files, and records told apart by their shape.

* Nothing is emitted until the metadata line (line 1) is complete: an empty file, or one holding
  half of that line, used to yield a session dated by the file's mtime that stayed for ever.
* The session id comes from that line only, and when it is unusable the fallback (the file name)
  is reported and stays the same on every later read, however the file grows.
* Every record is classified by its keys as the formats reference describes, in both file formats
  alike, and what cannot be used is reported: a numeric message id used to send the record into the
  metadata, and a message carrying a stray `$rewindTo` key was dropped, both silently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from devlog_collector.sources.base import Problem, SourceFile
from devlog_collector.sources.gemini import GeminiSource, replay_jsonl
from devlog_shared import Event, event_id

SID = "72556b70-bdf2-4838-aac5-2a6e445e1ced"
STEM = "session-2026-02-26T19-41-72556b70"
META = {"sessionId": SID, "projectHash": "ab", "startTime": "2026-02-26T19:41:08.870Z", "kind": "main"}


def msg(message_id: Any, text: str, **extra: Any) -> dict[str, Any]:
    return {"id": message_id, "timestamp": "2026-02-26T19:41:09.870Z", "type": "user", "content": text, **extra}


def jsonl(*records: Any) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def write(tmp_path: Path, data: bytes, suffix: str = ".jsonl") -> Path:
    chats = tmp_path / ".gemini" / "tmp" / "proj" / "chats"
    chats.mkdir(parents=True, exist_ok=True)
    path = chats / f"{STEM}{suffix}"
    path.write_bytes(data)
    return path


def parse(path: Path, state: dict[str, Any] | None = None) -> tuple[list[Event], list[Problem]]:
    file = SourceFile(path=path, mode="document")
    items = list(GeminiSource([path.parents[3]]).parse_document(file, {} if state is None else state))
    return [i for i in items if isinstance(i, Event)], [i for i in items if isinstance(i, Problem)]


# -- bugs 5 and 6: the metadata line ---------------------------------------------------------------


def test_an_empty_file_is_no_session_yet(tmp_path: Path) -> None:
    assert parse(write(tmp_path, b"")) == ([], [])
    assert parse(write(tmp_path, b"\n\n")) == ([], [])


def test_a_half_written_metadata_line_is_no_session_yet(tmp_path: Path) -> None:
    whole = jsonl(META, msg("u1", "hi"))
    path = write(tmp_path, whole[: whole.index(b"\n") // 2])
    assert parse(path) == ([], [])
    path.write_bytes(whole[: whole.index(b"\n")])  # all of it but the newline: still being written
    assert parse(path) == ([], [])
    path.write_bytes(whole)
    events, problems = parse(path)
    assert problems == [] and {e.session_id for e in events} == {SID}
    assert [e.kind for e in events] == ["session_start", "prompt"]


def test_an_incomplete_last_line_is_never_parsed(tmp_path: Path) -> None:
    """Even when what is there happens to be valid JSON (the writer has not added the newline)."""
    path = write(tmp_path, jsonl(META, msg("u1", "one")) + json.dumps(msg("u2", "two")).encode())
    events, problems = parse(path)
    assert problems == []
    assert [e.text for e in events if e.kind == "prompt"] == ["one"]


def test_a_complete_but_invalid_metadata_line_is_reported_and_the_fallback_id_is_stable(tmp_path: Path) -> None:
    head = b'{"sessionId": "' + SID.encode() + b'", "startTime": \n'
    path = write(tmp_path, head + jsonl(msg("u1", "one")))
    events, problems = parse(path)
    assert [p.position for p in problems] == ["line 1"]
    assert "session id is taken from the file name" in problems[0].message
    assert {e.session_id for e in events} == {STEM}
    first_ids = {e.id for e in events}

    # The file grows, even by a record naming the session: the ids of what was stored stay.
    path.write_bytes(head + jsonl(msg("u1", "one"), {"$set": {"sessionId": SID}}, dict(META), msg("u2", "two")))
    events, problems = parse(path)
    assert {e.session_id for e in events} == {STEM}
    assert first_ids <= {e.id for e in events}
    assert [p.position for p in problems] == ["line 1"]


def test_metadata_without_a_session_id_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, jsonl({"projectHash": "ab", "startTime": "2026-02-26T19:41:08.870Z"}, msg("u1", "one")))
    events, problems = parse(path)
    assert [(p.position, "sessionId" in p.message) for p in problems] == [("line 1", True)]
    assert {e.session_id for e in events} == {STEM}
    assert events[0].kind == "session_start" and events[0].ts.isoformat() == "2026-02-26T19:41:08.870000+00:00"


def test_a_first_record_that_is_a_message_is_reported_and_kept(tmp_path: Path) -> None:
    events, problems = parse(write(tmp_path, jsonl(msg("u1", "one"), msg("u2", "two"))))
    assert [p.position for p in problems] == ["line 1"] and "not the session metadata" in problems[0].message
    assert [e.text for e in events if e.kind == "prompt"] == ["one", "two"]
    assert {e.session_id for e in events} == {STEM}


def test_a_bom_before_the_metadata_line_gives_the_same_ids(tmp_path: Path) -> None:
    plain = jsonl(META, msg("u1", "one"))
    events, problems = parse(write(tmp_path, b"\xef\xbb\xbf" + plain))
    assert problems == []
    again, _ = parse(write(tmp_path, plain))
    assert [e.id for e in events] == [e.id for e in again] and {e.session_id for e in events} == {SID}


def test_a_session_read_half_written_then_whole_is_one_session(tmp_path: Path) -> None:
    """The tester's repro: collect while line 1 is being written, then again when it is done."""
    whole = jsonl(META, msg("u1", "one"))
    path = write(tmp_path, whole[:40])
    state: dict[str, Any] = {}
    first, _ = parse(path, state)
    path.write_bytes(whole)
    second, _ = parse(path, state)
    assert first == [] and {e.session_id for e in second} == {SID}


# -- bug 10: records told apart by shape -----------------------------------------------------------


def test_a_numeric_message_id_is_a_message_in_both_formats(tmp_path: Path) -> None:
    numeric = msg(12345, "numeric id prompt")
    events, problems = parse(write(tmp_path, jsonl(META, numeric, msg("u2", "after"))))
    assert problems == []
    prompts = [e for e in events if e.kind == "prompt"]
    assert [e.text for e in prompts] == ["numeric id prompt", "after"]
    assert prompts[0].id == event_id("gemini", SID, "12345", "prompt")
    assert prompts[0].attrs["message_id"] == "12345"
    start = next(e for e in events if e.kind == "session_start")
    assert "id" not in start.attrs and start.attrs["project_hash"] == "ab"  # not merged into metadata

    legacy, problems = parse(write(tmp_path, json.dumps({**META, "messages": [numeric]}).encode(), ".json"))
    assert problems == []
    assert [e.id for e in legacy if e.kind == "prompt"] == [prompts[0].id]


def test_the_last_copy_of_a_numeric_id_wins() -> None:
    _, messages, problems = replay_jsonl(jsonl(META, msg(7, "draft"), msg("x", "other"), msg(7, "final")))
    assert problems == []
    assert [(m["id"], m["content"]) for m in messages] == [(7, "final"), ("x", "other")]


def test_a_message_carrying_a_rewind_key_is_kept(tmp_path: Path) -> None:
    data = jsonl(META, msg("m-x", "after", **{"$rewindTo": "zzz"}), {"$rewindTo": "does-not-exist"})
    events, problems = parse(write(tmp_path, data))
    assert problems == []
    assert [e.text for e in events if e.kind == "prompt"] == ["after"]


def test_records_of_no_known_shape_are_reported_not_dropped_or_merged(tmp_path: Path) -> None:
    data = jsonl(
        META,
        {"foo": 1},
        {"$set": 5},
        {"$set": {"summary": "s", "messages": [msg("u1", "from set"), "junk", msg(None, "no id")]}},
        msg(None, "no id"),
        msg(1.5, "float id"),
        msg(True, "bool id"),
        {"id": "t", "timestamp": "2026-02-26T19:41:10Z", "type": {"x": 1}, "content": "typed"},
        msg("u2", "kept"),
    )
    events, problems = parse(write(tmp_path, data))
    assert [(p.position, p.message) for p in problems] == [
        ("line 2", "not session metadata, a message, `$set` or `$rewindTo`; skipped"),
        ("line 3", "`$set` is not an object; skipped"),
        ("line 4 $set messages[1]", "message is not an object; skipped"),
        ("line 4 $set messages[2]", "message without a usable `id`; skipped"),
        ("line 5", "message without a usable `id`; skipped"),
        ("line 6", "message without a usable `id`; skipped"),
        ("line 7", "message without a usable `id`; skipped"),
        ("message t", "`type` is not a string; skipped"),
    ]
    assert [e.text for e in events if e.kind == "prompt"] == ["from set", "kept"]
    assert next(e for e in events if e.kind == "session_start").attrs["summary"] == "s"


def test_a_later_metadata_record_is_merged_without_changing_the_session(tmp_path: Path) -> None:
    later = {"sessionId": "other-session", "summary": "resumed", "directories": ["/w/extra"]}
    events, problems = parse(write(tmp_path, jsonl(META, msg("u1", "one"), later)))
    assert problems == []
    assert {e.session_id for e in events} == {SID}
    start = next(e for e in events if e.kind == "session_start")
    assert start.attrs["summary"] == "resumed" and start.attrs["directories"] == ["/w/extra"]


def test_a_legacy_message_that_is_not_an_object_is_reported(tmp_path: Path) -> None:
    document = {**META, "messages": ["junk", msg("u1", "one")]}
    events, problems = parse(write(tmp_path, json.dumps(document).encode(), ".json"))
    assert [(p.position, p.message) for p in problems] == [("messages[0]", "message is not an object; skipped")]
    assert [e.text for e in events if e.kind == "prompt"] == ["one"]
