"""Gemini CLI source: legacy JSON and JSONL recordings, re-appends, patches, rewinds, projects."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from devlog_collector.sources import load_source_class
from devlog_collector.sources.base import Problem, SourceFile
from devlog_collector.sources.gemini import REWOUND, GeminiSource, gemini_usage, replay_jsonl
from devlog_shared import Event, Usage, decode_event, encode_event, event_id

FIXTURES = Path(__file__).parents[2] / "fixtures" / "gemini" / "home"
SESSION = "3b44bc68-91f0-4c2e-8a55-0d9e2f6c1a77"
SUBAGENT = "5d2a7c10-4e3b-4f6a-9c8d-1e2f3a4b5c6d"
LEGACY_DIR = hashlib.sha256(b"/home/dev/legacy-tool").hexdigest()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    copy = tmp_path / ".gemini"
    shutil.copytree(FIXTURES, copy)
    return copy


def chats(root: Path, project: str = "acme-api") -> Path:
    return root / "tmp" / project / "chats"


def parse(path: Path, source: GeminiSource | None = None) -> tuple[list[Event], list[Problem]]:
    events: list[Event] = []
    problems: list[Problem] = []
    for item in (source or GeminiSource([])).parse_document(SourceFile(path=path, mode="document"), {}):
        (events if isinstance(item, Event) else problems).append(item)
    return events, problems


def check_events(events: list[Event]) -> None:
    counts = Counter(e.id for e in events)
    assert not [i for i, n in counts.items() if n > 1], "duplicate event ids"
    for event in events:
        assert decode_event(encode_event(event)) == event
        msgspec.json.encode(event.attrs)
        assert event.agent == "gemini"


def of(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e.kind == kind]


def test_registered_under_gemini() -> None:
    assert load_source_class("gemini") is GeminiSource


def test_default_root_honours_gemini_cli_home(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert GeminiSource.default_roots() == [isolated_home / ".gemini"]
    monkeypatch.setenv("GEMINI_CLI_HOME", "/srv/profiles/work")
    assert GeminiSource.default_roots() == [Path("/srv/profiles/work/.gemini")]


def test_discover_finds_json_jsonl_and_subagent_recordings(root: Path) -> None:
    found = sorted(f.path.relative_to(root).as_posix() for f in GeminiSource([root]).discover())
    assert found == sorted(
        [
            f"tmp/{LEGACY_DIR}/chats/session-2025-09-01T12-00-0f0e0d0c.json",
            "tmp/9d1f00aa11bb22cc/chats/session-2026-03-01T09-00-9d1f00aa.json",
            f"tmp/acme-api/chats/{SESSION}/{SUBAGENT}.jsonl",
            "tmp/acme-api/chats/session-2026-02-10T08-30-3b44bc68.json",
            "tmp/acme-api/chats/session-2026-02-10T08-30-3b44bc68.jsonl",
            "tmp/slug-only/chats/session-2026-03-01T09-00-slug-onl.json",
        ]
    )
    assert {f.mode for f in GeminiSource([root]).discover()} == {"document"}  # logs.json is not read


def test_jsonl_session_emits_final_copy_of_every_message(root: Path) -> None:
    events, problems = parse(chats(root) / "session-2026-02-10T08-30-3b44bc68.jsonl")
    check_events(events)
    assert problems == []  # the half-written last line is held back, not an error
    assert Counter(e.kind for e in events) == {
        "session_start": 1,
        "prompt": 4,
        "response": 3,
        "tool_call": 2,
        "tool_result": 2,
        "file_edit": 1,
        "command": 1,
        "error": 1,
    }
    assert {e.workspace for e in events} == {"/home/dev/acme-api"}  # from .project_root
    assert {e.session_id for e in events} == {SESSION}

    start = of(events, "session_start")[0]
    assert start.attrs["summary"] == "Fix README typo"  # from a $set patch
    assert start.attrs["session_kind"] == "main"
    assert start.ts.isoformat() == "2026-02-10T08:30:00+00:00"

    prompts = of(events, "prompt")
    assert prompts[0].text == "fix the typo in README @README.md"  # what the user typed, not the expansion
    assert prompts[0].id == event_id("gemini", SESSION, "6c1e0a4e-u1", "prompt")
    assert [p.text for p in prompts[1:]] == [
        "run the tests",
        "delete the whole docs folder",  # rewound in Gemini, but it was typed and answered
        "keep docs, just fix the README link",
    ]

    first, second, third = of(events, "response")
    # the message was appended three times: the last copy (tokens + tool call) wins, once
    assert first.usage == Usage(input_tokens=2292, output_tokens=306, cache_read_tokens=8120, reasoning_tokens=210)
    assert first.model == "gemini-2.5-pro" and first.text is None
    assert first.attrs["thoughts"] == 1
    assert second.text == "Running the test suite."
    assert second.usage == Usage(input_tokens=11122, output_tokens=40)  # tool-use prompt tokens are input
    assert third.usage == Usage(input_tokens=500, output_tokens=20, cache_read_tokens=11000)

    [edit] = of(events, "file_edit")
    assert edit.file is not None
    assert (edit.file.path, edit.file.lines_added, edit.file.lines_removed) == ("/home/dev/acme-api/README.md", 1, 1)
    assert edit.ts.isoformat() == "2026-02-10T08:30:10.204000+00:00"

    tools = {e.tool.name: e for e in of(events, "tool_call") if e.tool}
    assert tools["replace"].parent_id == first.id
    assert json.loads(tools["replace"].text or "")["old_string"] == "teh"
    shell = tools["run_shell_command"]
    assert shell.tool is not None and shell.tool.status == "success"  # the later copy's status
    [command] = of(events, "command")
    assert command.text == "npm test" and command.parent_id == shell.id
    assert command.attrs["directory"] == "/home/dev/acme-api"
    results = {e.tool.name: e.text for e in of(events, "tool_result") if e.tool}
    assert results["run_shell_command"] == "Command: npm test\nStdout: 12 passing\nExit Code: 0"

    [error] = of(events, "error")
    assert error.text == "[API Error: 429 Resource exhausted]"
    assert "Approaching quota" not in json.dumps([e.text for e in events])  # warnings/info are not events


def test_same_session_as_json_and_jsonl_dedupes_by_id(root: Path) -> None:
    jsonl, _ = parse(chats(root) / "session-2026-02-10T08-30-3b44bc68.jsonl")
    legacy, problems = parse(chats(root) / "session-2026-02-10T08-30-3b44bc68.json")
    assert problems == []
    assert {e.kind for e in legacy} == {"session_start", "prompt", "response", "tool_call", "tool_result", "file_edit"}
    newer = {e.id: e for e in jsonl}
    assert {e.id for e in legacy} <= set(newer)
    for event in legacy:
        if event.kind != "session_start":
            assert event.usage == newer[event.id].usage and event.text == newer[event.id].text


def test_ids_stable_across_reparse(root: Path) -> None:
    path = chats(root) / "session-2026-02-10T08-30-3b44bc68.jsonl"
    assert parse(path) == parse(path, GeminiSource([root]))


def test_subagent_recording(root: Path) -> None:
    events, problems = parse(chats(root) / SESSION / f"{SUBAGENT}.jsonl")
    check_events(events)
    assert problems == []
    assert {e.session_id for e in events} == {SUBAGENT}
    start = of(events, "session_start")[0]
    assert start.attrs["parent_session"] == SESSION and start.attrs["session_kind"] == "subagent"
    assert {e.workspace for e in events} == {"/home/dev/acme-api"}
    [result] = of(events, "tool_result")
    assert result.tool is not None and result.tool.status == "error" and result.text == "pattern too broad"
    [response] = of(events, "response")
    assert response.usage == Usage(input_tokens=2048, output_tokens=80, reasoning_tokens=16)


def test_legacy_hash_dir_is_mapped_through_projects_json(root: Path) -> None:
    events, problems = parse(chats(root, LEGACY_DIR) / "session-2025-09-01T12-00-0f0e0d0c.json", GeminiSource([root]))
    check_events(events)
    assert problems == []
    assert {e.workspace for e in events} == {"/home/dev/legacy-tool"}
    [response] = of(events, "response")
    # total == input + output + thoughts + cached here: cached is not part of input (ccusage's rule)
    assert response.usage == Usage(input_tokens=1500, output_tokens=250, cache_read_tokens=100, reasoning_tokens=50)
    [edit] = of(events, "file_edit")
    assert edit.file is not None and edit.file.path == "/home/dev/legacy-tool/CHANGELOG.md"
    untimed = next(e for e in of(events, "prompt") if e.attrs["message_id"] == "m3")
    # (the time of the message before it: messages are in order; it was the session's start)
    assert untimed.ts.isoformat() == "2025-09-01T12:00:30+00:00" and untimed.attrs["ts_inferred"] is True


@pytest.mark.parametrize(("project", "expected"), [("slug-only", "/home/dev/slug-only"), ("9d1f00aa11bb22cc", None)])
def test_project_from_slug_or_unknown(root: Path, project: str, expected: str | None) -> None:
    [path] = chats(root, project).glob("*.json")
    events, _ = parse(path, GeminiSource([root]))
    assert events and {e.workspace for e in events} == {expected}


def test_json_being_rewritten_gives_one_problem_and_no_events(root: Path) -> None:
    path = chats(root) / "session-2026-02-10T08-30-3b44bc68.json"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    events, problems = parse(path)
    assert events == []
    assert len(problems) == 1 and "invalid JSON" in problems[0].message


def test_bad_line_in_the_middle_is_reported_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "session-x.jsonl"
    path.write_text(
        '{"sessionId":"s1","startTime":"2026-01-01T00:00:00Z"}\n'
        "not json\n"
        '{"id":"u","timestamp":"2026-01-01T00:00:01Z","type":"user","content":"hi"}\n'
        '{"id":"g","timestamp":"bogus","type":"gemini","content":[{"text":"a"},{"functionCall":{}},{"text":"b"}]}\n'
    )
    events, problems = parse(path)
    assert problems == [Problem("line 2", problems[0].message)]
    assert [e.kind for e in events] == ["session_start", "prompt", "response"]
    assert events[2].text == "a\nb" and events[2].attrs["ts_inferred"] is True
    assert events[2].ts.isoformat() == "2026-01-01T00:00:01+00:00"  # (the prompt's, before it)


def test_a_jsonl_file_with_no_usable_record_is_no_session(tmp_path: Path) -> None:
    """Garbage (or a foreign file) in `chats/` became a session dated at the file's time, counted in
    its project's sessions for good; its problems are reported and nothing else."""
    path = tmp_path / "session-2026-12-06T10-05-garbage0.jsonl"
    path.write_bytes(b"\x00\x01garbage\n[1,2,3]\n")
    events, problems = parse(path)
    assert events == []
    assert [p.position for p in problems] == ["line 1", "line 2"]
    path.write_bytes(b'{"sessionId":"s2","startTime":"2026-01-01T00:00:00Z"}\n')  # a real start, no message yet
    events, _ = parse(path)
    assert [e.kind for e in events] == ["session_start"]


def test_an_unknown_message_type_is_reported_and_notices_are_not(tmp_path: Path) -> None:
    path = tmp_path / "session-y.jsonl"
    path.write_text(
        '{"sessionId":"s2","startTime":"2026-01-01T00:00:00Z"}\n'
        '{"id":"i","timestamp":"2026-01-01T00:00:01Z","type":"info","content":"model switched"}\n'
        '{"id":"w","timestamp":"2026-01-01T00:00:02Z","type":"warning","content":"slow"}\n'
        '{"id":"n","timestamp":"2026-01-01T00:00:03Z","type":"brandnew","content":"?"}\n'
        '{"id":"u","timestamp":"2026-01-01T00:00:04Z","type":"user","content":"hi"}\n'
    )
    events, problems = parse(path)
    assert [e.kind for e in events] == ["session_start", "prompt"]
    assert len(problems) == 1 and problems[0].message == "unknown message type 'brandnew'; skipped"


def test_replay_keeps_rewound_and_replaced_messages() -> None:
    log = [
        {"sessionId": "s", "startTime": "2026-01-01T00:00:00Z"},
        {"id": "a", "type": "user", "content": "one"},
        {"id": "b", "type": "gemini", "content": "two"},
        {"$rewindTo": "a"},
        {"$set": {"messages": [{"id": "a", "type": "user", "content": "one (compressed)"}], "summary": "s"}},
        {"id": "c", "type": "user", "content": "three"},
    ]
    metadata, messages, problems = replay_jsonl(("\n".join(json.dumps(x) for x in log) + "\n").encode())
    assert problems == [] and metadata["summary"] == "s" and metadata["sessionId"] == "s"
    assert [(m["id"], m["content"]) for m in messages] == [("a", "one (compressed)"), ("b", "two"), ("c", "three")]
    # `b` was taken back by the rewind; `a` was written again by the `$set` after it.
    assert [m.get(REWOUND, False) for m in messages] == [False, True, False]


def test_events_of_rewound_messages_are_marked_removed(root: Path) -> None:
    """As Copilot's undone requests: kept (typed, answered, billed) and marked, so `show` heads them."""
    path = chats(root, "rw") / "session-2026-03-01T09-00-rewind01.jsonl"
    path.parent.mkdir(parents=True)
    log = [
        {"sessionId": "sess-rw", "startTime": "2026-03-01T09:00:00Z"},
        {"id": "u1", "timestamp": "2026-03-01T09:00:01Z", "type": "user", "content": "use a real clock"},
        {"id": "g1", "timestamp": "2026-03-01T09:00:02Z", "type": "gemini", "content": "done"},
        {"id": "u2", "timestamp": "2026-03-01T09:00:03Z", "type": "user", "content": "use a mock clock instead"},
        {"id": "g2", "timestamp": "2026-03-01T09:00:04Z", "type": "gemini", "content": "switched"},
        {"$rewindTo": "u2"},
        {"id": "u3", "timestamp": "2026-03-01T09:00:05Z", "type": "user", "content": "keep the real clock"},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in log))
    events, problems = parse(path)
    assert problems == []
    texts = {e.text: e.attrs.get("removed", False) for e in events if e.text}
    assert texts == {"use a real clock": False, "done": False, "use a mock clock instead": True, "switched": True,
                     "keep the real clock": False}  # fmt: skip


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        ({}, None),
        ({"input": 0, "output": 0, "total": 0}, None),
        ({"total": 654}, Usage(output_tokens=654)),
        (
            {"input": 100, "output": 10, "cached": 200, "total": 310},
            Usage(input_tokens=100, output_tokens=10, cache_read_tokens=200),
        ),
        (
            {"input": 300, "output": 10, "cached": 200, "total": 310},
            Usage(input_tokens=100, output_tokens=10, cache_read_tokens=200),
        ),
        ({"input": 300, "output": 10, "cached": 200}, Usage(input_tokens=300, output_tokens=10, cache_read_tokens=200)),
    ],
)
def test_usage_follows_ccusage(tokens: dict[str, int], expected: Usage | None) -> None:
    assert gemini_usage(tokens) == expected


def test_a_lone_surrogate_escape_costs_one_character_not_the_session(root: Path) -> None:
    """Gemini CLI (JavaScript) writes a message cut mid-emoji with a lone `\\ud83d`."""
    path = chats(root, "cut") / "session-2026-03-01T09-00-cutcut01.json"
    path.parent.mkdir(parents=True)
    message = {"id": "u", "timestamp": "2026-03-01T09:00:01Z", "type": "user", "content": "cut CUT here"}
    document = {"sessionId": "sess-cut", "startTime": "2026-03-01T09:00:00Z", "messages": [message]}
    path.write_text(json.dumps(document).replace("CUT", "\\ud83d"))
    events, problems = parse(path)
    assert problems == []
    assert [e.text for e in of(events, "prompt")] == ["cut \ufffd here"]
    for event in events:
        assert decode_event(encode_event(event)) == event  # storable: no surrogate left in a str


def test_a_record_without_a_time_keeps_it_when_the_document_is_saved_by_rename(tmp_path: Path) -> None:
    """The first-seen mtime stands in for a missing time; a save through a temporary file and a
    rename (a new inode, a new mtime) is the same document, so the time must not move."""
    import os

    from tests.collector.collect_helpers import agent_config, collect

    chats_dir = tmp_path / "gemini" / "tmp" / "proj" / "chats"
    chats_dir.mkdir(parents=True)
    (chats_dir.parent / ".project_root").write_text("/home/dev/web-app")
    record = {"sessionId": "5e1c2a00-0000-4000-8000-0000000000ff", "projectHash": "x",
              "messages": [{"id": "u1", "type": "user", "content": "a prompt without a timestamp"}]}  # fmt: skip
    path = chats_dir / "session-2026-12-03T18-00-5e1c2a00.json"
    path.write_text(json.dumps(record))
    os.utime(path, (1_700_000_000, 1_700_000_000))
    config = agent_config("gemini", tmp_path / "gemini", tmp_path / "store")
    collect(config)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record))
    os.utime(temporary, (1_800_000_000, 1_800_000_000))
    os.replace(temporary, path)
    again = collect(config)
    assert again.events_updated == 0
    db = sqlite3.connect(config.storage.db_path())
    stamps = {row[0] for row in db.execute("SELECT ts FROM events WHERE kind = 'prompt'")}
    db.close()
    assert stamps == {1_700_000_000_000}


def test_a_too_deep_or_non_utf8_line_costs_that_line_not_the_session(tmp_path: Path) -> None:
    path = tmp_path / "session-z.jsonl"
    path.write_bytes(
        b'{"sessionId":"s1","startTime":"2026-01-01T00:00:00Z"}\n'
        + b"[" * 100_000 + b"]" * 100_000 + b"\n"
        + b'{"id":"u","timestamp":"2026-01-01T00:00:01Z","type":"user","content":"caf\xff"}\n'
        + b'{"id":"v","timestamp":"2026-01-01T00:00:02Z","type":"user","content":"raw \xed\xa0\x80 surrogate"}\n'
        + b'{"id":"w","timestamp":"2026-01-01T00:00:03Z","type":"user","content":"still here"}\n'
    )  # fmt: skip
    events, problems = parse(path)
    assert [(p.position, p.message) for p in problems] == [
        ("line 2", "invalid record: nested too deeply"),
        ("line 3", "invalid record: invalid UTF-8 at byte 73"),
    ]
    assert [e.text for e in events if e.kind == "prompt"] == ["raw \ufffd surrogate", "still here"]


def test_an_edit_without_a_diff_stat_counts_the_lines_of_its_file_diff(tmp_path: Path) -> None:
    """Builds before `resultDisplay.diffStat` record only `fileDiff` (a unified diff with file headers)."""
    diff = "Index: a.py\n===\n--- a.py\tCurrent\n+++ a.py\tProposed\n@@ -1,2 +1,3 @@\n-x = 1\n+x = 2\n+y = 3\n z\n"
    call = {"id": "write_file-1", "name": "write_file", "args": {"file_path": "/w/a.py"}, "status": "success",
            "resultDisplay": {"fileName": "a.py", "filePath": "/w/a.py", "fileDiff": diff}}  # fmt: skip
    reply = {"id": "g", "timestamp": "2026-01-01T00:00:01Z", "type": "gemini", "content": "", "toolCalls": [call]}
    path = tmp_path / "session-z.jsonl"
    path.write_text('{"sessionId":"s3","startTime":"2026-01-01T00:00:00Z"}\n' + json.dumps(reply) + "\n")
    events, problems = parse(path)
    assert problems == []
    [edit] = of(events, "file_edit")
    assert edit.file is not None and (edit.file.lines_added, edit.file.lines_removed) == (2, 1)


def test_a_removed_line_that_begins_with_dashes_is_a_change_not_a_file_header() -> None:
    """`--- users table (v1)` removed from an SQL file was skipped as a header: +2 -1 instead of +2 -2."""
    from devlog_collector.sources.gemini import _unified_diff_counts

    sql = (
        "Index: schema.sql\n===\n--- schema.sql\tCurrent\n+++ schema.sql\tProposed\n@@ -1,3 +1,3 @@\n"
        "--- users table (v1)\n+-- users table (v2)\n-  id int\n+  id bigint\n create table users;\n"
    )
    assert _unified_diff_counts(sql) == (2, 2)
    front_matter = (
        "--- README.md\tCurrent\n+++ README.md\tProposed\n@@ -1,5 +1,2 @@\n"
        "----\n-title: old\n----\n-draft: yes\n+title: new\n # Deploy\n\\ No newline at end of file\n"
        "@@ -9 +7,2 @@\n-last\n+++ counter\n+end\n"
    )
    assert _unified_diff_counts(front_matter) == (3, 5)
    assert _unified_diff_counts("--- a\n+++ b\n-x\n+y\n+z\n") == (2, 1)  # (no hunk headers)
    assert _unified_diff_counts("@@ -1,1 +1,1 @@\n-a\x0cb\n+c\n") == (1, 1)  # (a form feed inside a line)


def test_a_no_history_start_still_skips_the_history_of_a_document_saved_by_rename(tmp_path: Path) -> None:
    """`devlog start --no-history`, then the chat is saved through a temporary file and a rename (as
    VS Code compacts a Copilot log): the new inode dropped the cutoff, and the whole history came in."""
    import os

    from devlog_collector.collect import Collector
    from devlog_collector.store import Store
    from tests.collector.collect_helpers import agent_config, collect

    chats_dir = tmp_path / "gemini" / "tmp" / "proj" / "chats"
    chats_dir.mkdir(parents=True)
    (chats_dir.parent / ".project_root").write_text("/home/dev/web-app")
    old = {"id": "u1", "type": "user", "content": "an old prompt", "timestamp": "2020-01-01T10:00:00Z"}
    record = {"sessionId": "5e1c2a00-0000-4000-8000-0000000000fe", "projectHash": "x", "messages": [old]}
    path = chats_dir / "session-2026-12-03T18-00-5e1c2a00.json"
    path.write_text(json.dumps(record))
    config = agent_config("gemini", tmp_path / "gemini", tmp_path / "store")
    with Store.open(config.storage.db_path()) as store:
        collector = Collector(store, config)
        assert collector.mark_current(collector.discover()) == 1
    new = {"id": "u2", "type": "user", "content": "a new prompt", "timestamp": "2099-01-01T10:00:00Z"}
    record["messages"] = [old, new]
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record))
    os.replace(temporary, path)
    collect(config)
    db = sqlite3.connect(config.storage.db_path())
    texts = [row[0] for row in db.execute("SELECT text FROM events WHERE kind = 'prompt'")]
    db.close()
    assert texts == ["a new prompt"]


def test_a_tool_call_completed_later_stays_before_its_result(tmp_path: Path) -> None:
    """Gemini appends a message again when its tool call completes: the call (changed) is stored
    again, and it must still come before its result and command, as in a store that read the
    finished file once (`devlog show` lists a session by time, then by insertion)."""
    from tests.collector.collect_helpers import agent_config, collect

    session = "31313131-0000-4000-8000-000000000031"
    chats_dir = tmp_path / "gemini" / "tmp" / "proj" / "chats"
    chats_dir.mkdir(parents=True)
    (chats_dir.parent / ".project_root").write_text("/home/dev/g31")
    call = {"id": "sh1", "name": "run_shell_command", "args": {"command": "ls"}, "status": "executing",
            "timestamp": "2026-03-01T00:00:02.500Z"}  # fmt: skip
    reply = {"id": "g1", "timestamp": "2026-03-01T00:00:02.000Z", "type": "gemini", "content": "",
             "model": "gemini-2.5-pro", "toolCalls": [call],
             "tokens": {"input": 100, "output": 5, "cached": 0, "thoughts": 0, "tool": 0, "total": 105}}  # fmt: skip
    result = [{"functionResponse": {"id": "sh1", "name": "run_shell_command", "response": {"output": "a.txt"}}}]
    done = {**reply, "content": "Listed.", "toolCalls": [{**call, "status": "success", "result": result}],
            "tokens": {**reply["tokens"], "output": 20, "total": 120}}  # fmt: skip
    lines = [
        {"sessionId": session, "projectHash": "x", "startTime": "2026-03-01T00:00:00.000Z", "kind": "main"},
        {"id": "u1", "timestamp": "2026-03-01T00:00:01.000Z", "type": "user", "content": "list the files"},
        reply,
    ]
    path = chats_dir / "session-2026-03-01T00-00-31313131.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    grown = agent_config("gemini", tmp_path / "gemini", tmp_path / "grown")
    collect(grown)
    with path.open("a") as handle:
        handle.write(json.dumps(done) + "\n")
    assert collect(grown).events_updated >= 1
    fresh = agent_config("gemini", tmp_path / "gemini", tmp_path / "fresh")
    collect(fresh)

    def listing(config: object) -> list[tuple[str, str]]:
        db = sqlite3.connect(config.storage.db_path())  # type: ignore[attr-defined]
        rows = db.execute("SELECT kind, id FROM events ORDER BY ts, seq").fetchall()
        db.close()
        return rows

    kinds = [kind for kind, _ in listing(fresh)]
    assert kinds.index("tool_call") < kinds.index("tool_result")
    assert listing(grown) == listing(fresh)


def _shell_session(tmp_path: Path, command: str, output: str) -> tuple[list[Event], list[Problem]]:
    """A session of one reply that ran `command` through `run_shell_command`, which said `output`."""
    result = [{"functionResponse": {"id": "sh1", "name": "run_shell_command", "response": {"output": output}}}]
    call = {"id": "sh1", "name": "run_shell_command", "args": {"command": command}, "status": "success",
            "timestamp": "2026-03-01T00:00:02.500Z", "result": result}  # fmt: skip
    lines = [
        {"sessionId": "51515151-0000-4000-8000-000000000051", "projectHash": "x",
         "startTime": "2026-03-01T00:00:00.000Z", "kind": "main"},
        {"id": "g1", "timestamp": "2026-03-01T00:00:02.000Z", "type": "gemini", "content": "Running it.",
         "model": "gemini-2.5-pro", "toolCalls": [call]},
    ]  # fmt: skip
    path = tmp_path / "session-2026-03-01T00-00-51515151.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return parse(path)


def test_a_shell_command_that_exited_non_zero_is_a_failed_result(tmp_path: Path) -> None:
    """`run_shell_command` reports `success` when the tool ran; `Exit Code: 1` in its output is the
    command's failure, which showed as `(success)`."""
    events, problems = _shell_session(tmp_path, "npm test", "Command: npm test\nStdout: 1 failing\nExit Code: 1")
    assert problems == []
    [outcome] = [e for e in events if e.kind == "tool_result"]
    assert outcome.tool is not None and outcome.tool.status == "error" and outcome.attrs["exit_code"] == 1
    [called] = [e for e in events if e.kind == "tool_call"]
    assert called.tool is not None and called.tool.status == "success"  # (the call itself ran)


def test_a_shell_call_lists_call_command_result_in_that_order(tmp_path: Path) -> None:
    """As every other agent does (Gemini and Cursor listed the result before the command)."""
    events, _ = _shell_session(tmp_path, "ls", "Exit Code: 0")
    assert [e.kind for e in events if e.kind in ("tool_call", "command", "tool_result")] == [
        "tool_call", "command", "tool_result"
    ]  # fmt: skip


def test_a_message_re_appended_with_a_smaller_usage_replaces_the_copy_read_before(tmp_path: Path) -> None:
    """Gemini re-appends a message whole once it is final, and its usage can be smaller than the first
    copy's (its cached tokens counted apart). The store kept the first copy, and its empty text, after
    an incremental read, while a clean read (and ccusage) keep the last one: the day's tokens
    depended on when the file was read (a new-user test)."""
    import os
    import time

    from tests.collector.collect_helpers import agent_config, collect

    chats = tmp_path / "gemini" / "tmp" / "proj" / "chats"
    chats.mkdir(parents=True)
    path = chats / "session-2026-11-21T10-00-shrink01.jsonl"
    meta = {"sessionId": "shrink01", "projectHash": "s", "startTime": "2026-11-21T10:00:00.000Z", "kind": "main"}
    tokens = {"input": 5000, "output": 100, "cached": 0, "total": 5100}
    first = {"id": "g1", "timestamp": "2026-11-21T10:00:05.000Z", "type": "gemini", "content": "",
             "model": "gemini-2.5-pro", "tokens": tokens}  # fmt: skip
    final = {**first, "content": "Fixed 3 lint errors.",
             "tokens": {"input": 3000, "output": 60, "cached": 2000, "total": 3060}}  # fmt: skip
    path.write_text(json.dumps(meta) + "\n" + json.dumps(first) + "\n")
    then = time.time() - 60
    os.utime(path, (then, then))
    grown = agent_config("gemini", tmp_path / "gemini", tmp_path / "grown")
    collect(grown)
    with path.open("a") as handle:
        handle.write(json.dumps(final) + "\n")
    os.utime(path, (then + 30, then + 30))
    assert collect(grown).events_updated == 1
    fresh = agent_config("gemini", tmp_path / "gemini", tmp_path / "fresh")
    collect(fresh)

    def responses(config: object) -> list[tuple[object, ...]]:
        db = sqlite3.connect(config.storage.db_path())  # type: ignore[attr-defined]
        rows = db.execute(
            "SELECT id, text, input_tokens, output_tokens, cache_read_tokens FROM events WHERE kind = 'response'"
        ).fetchall()
        db.close()
        return rows

    assert responses(grown) == responses(fresh)
    assert [row[1:] for row in responses(fresh)] == [("Fixed 3 lint errors.", 1000, 60, 2000)]


def test_a_message_without_a_time_or_model_takes_those_of_the_message_before_it(tmp_path: Path) -> None:
    """A reply without `timestamp` was dated at the session's start (listed before the question it
    answers, its tokens on the start's day), and one without `model` was unpriced where ccusage
    prices it as the model before it (a new-user test)."""
    meta = {"sessionId": "nots", "projectHash": "n", "startTime": "2026-11-19T23:00:00.000Z", "kind": "main"}
    usage = {"input": 200, "output": 20, "cached": 0, "total": 220}
    records = [
        meta,
        {"id": "u1", "timestamp": "2026-11-19T23:00:01.000Z", "type": "user", "content": [{"text": "first"}]},
        {"id": "g1", "timestamp": "2026-11-19T23:00:05.000Z", "type": "gemini", "content": "first answer",
         "model": "gemini-2.5-pro", "tokens": usage},
        {"id": "u2", "timestamp": "2026-11-20T00:30:00.000Z", "type": "user", "content": [{"text": "second"}]},
        {"id": "g2", "type": "gemini", "content": "second answer", "tokens": usage},
    ]  # fmt: skip
    path = tmp_path / "session-2026-11-19T23-00-nots.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    events, problems = parse(path)
    assert problems == []
    [_, second] = of(events, "response")
    assert second.ts.isoformat() == "2026-11-20T00:30:00+00:00" and second.attrs["ts_inferred"] is True
    assert second.model == "gemini-2.5-pro" and second.attrs["model_inferred"] is True
    assert [e.kind for e in sorted(events, key=lambda e: e.ts)][-2:] == ["prompt", "response"]
