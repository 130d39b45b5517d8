"""Copilot Chat (VS Code) source: discovery, both file shapes, and every pitfall of the format."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from devlog_collector.sources import load_source_class
from devlog_collector.sources._vscode import WorkspaceResolver, uri_to_path
from devlog_collector.sources.base import Problem, SourceFile
from devlog_collector.sources.copilot import CopilotSource, replay_operation_log
from devlog_shared import Event, decode_event, encode_event, event_id
from tests.collector.collect_helpers import agent_config

FIXTURES = Path(__file__).parents[2] / "fixtures" / "copilot"
LEGACY_ID = "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
OPLOG_ID = "3b7e1f1b-2c4d-4a6e-9f10-5e8d7c6b5a49"
EMPTY_WINDOW_ID = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
LEGACY_HASH = "5e8f1c2a9b7d4e6f8a0b1c2d3e4f5a6b"
REMOTE_HASH = "0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a"
AN_HOUR_AGO = time.time() - 3600


def _age(root: Path) -> None:
    """Make every file look written an hour ago (history, not a chat being streamed)."""
    for path in root.rglob("*"):
        os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    root = tmp_path / "Code" / "User"
    shutil.copytree(FIXTURES / "User", root)
    _age(root)
    return root


def parse(source: CopilotSource, path: Path) -> tuple[list[Event], list[Problem]]:
    events: list[Event] = []
    problems: list[Problem] = []
    for item in source.parse_document(SourceFile(path=path, mode="document"), {}):
        (events if isinstance(item, Event) else problems).append(item)
    return events, problems


def session_file(user_dir: Path, storage_hash: str, session_id: str, suffix: str) -> Path:
    return user_dir / "workspaceStorage" / storage_hash / "chatSessions" / f"{session_id}{suffix}"


def check_events(events: list[Event]) -> None:
    """Invariants every parse must hold: unique ids, valid schema, round-trip through the codec."""
    counts = Counter(e.id for e in events)
    assert not [i for i, n in counts.items() if n > 1], "duplicate event ids"
    for event in events:
        assert decode_event(encode_event(event)) == event
        msgspec.json.encode(event.attrs)  # attrs stay JSON-able
        assert event.agent == "copilot"
        assert event.ts.tzinfo is not None


def by_kind(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e.kind == kind]


# -- discovery -------------------------------------------------------------------------------------


def test_registered_under_copilot() -> None:
    assert load_source_class("copilot") is CopilotSource


def test_default_roots_cover_vscode_builds_and_remote_servers(isolated_home: Path) -> None:
    roots = [str(r) for r in CopilotSource.default_roots()]
    assert any(r.endswith(os.path.join("Code", "User")) for r in roots)
    assert any("Code - Insiders" in r for r in roots)
    assert any("VSCodium" in r for r in roots)
    assert str(isolated_home / ".vscode-server" / "data" / "User") in roots


def test_discover_prefers_jsonl_over_json_and_includes_empty_window(user_dir: Path, tmp_path: Path) -> None:
    source = CopilotSource([user_dir, tmp_path / "missing"])
    found = {f.path.relative_to(user_dir).as_posix(): f.mode for f in source.discover()}
    assert found == {
        f"workspaceStorage/{LEGACY_HASH}/chatSessions/{LEGACY_ID}.json": "document",
        f"workspaceStorage/{REMOTE_HASH}/chatSessions/{OPLOG_ID}.jsonl": "document",
        f"globalStorage/emptyWindowChatSessions/{EMPTY_WINDOW_ID}.json": "document",
    }


# -- legacy whole-file session ---------------------------------------------------------------------


def test_legacy_session_emits_every_record_kind(user_dir: Path) -> None:
    events, problems = parse(CopilotSource([user_dir]), session_file(user_dir, LEGACY_HASH, LEGACY_ID, ".json"))
    check_events(events)
    assert [p.position for p in problems] == ["request 3"]  # the non-object request, nothing else

    start = by_kind(events, "session_start")[0]
    assert start.workspace == "/home/dev/acme api"  # percent-decoded folder URI
    assert start.attrs["title"] == "Retry for fetchUser"
    assert start.attrs["workspace_storage"] == LEGACY_HASH
    assert start.ts.isoformat() == "2026-01-12T10:00:00+00:00"

    prompts = {e.attrs["request_id"]: e for e in by_kind(events, "prompt")}
    assert set(prompts) == {"request_a1", "request_a2", "request_a3", "request_a5"}
    first = prompts["request_a1"]
    assert first.text == "add a retry with backoff to fetchUser in #file:api.ts"
    assert first.id == event_id("copilot", LEGACY_ID, "request_a1", "prompt")
    assert first.ts.isoformat() == "2026-01-12T10:00:13+00:00"
    assert first.attrs["participant"] == "github.copilot.editsAgent"
    # variable values as object, URI string, array and number: none of them breaks the file
    assert first.attrs["variables"] == [
        {"kind": "file", "name": "file:api.ts", "path": "/home/dev/acme api/src/api.ts"},
        {
            "kind": "promptFile",
            "name": "prompt:instructions",
            "path": "/home/dev/acme api/.github/copilot-instructions.md",
            "automatic": True,
        },
        {"kind": "generic", "name": "selection"},
        {"name": "workspace"},
    ]

    responses = {e.attrs["request_id"]: e for e in by_kind(events, "response")}
    answer = responses["request_a1"]
    assert answer.text == "I'll add a retry loop to `fetchUser`.\nDone: three attempts with exponential backoff."
    assert answer.model == "claude-sonnet-4.5"  # resolvedModel, vendor prefix stripped
    assert answer.attrs["model_id"] == "copilot/claude-sonnet-4.5"
    assert answer.usage is not None
    assert (answer.usage.input_tokens, answer.usage.output_tokens, answer.usage.cache_read_tokens) == (18734, 412, 0)
    assert answer.attrs["thinking_parts"] == 2
    assert answer.attrs["total_elapsed_ms"] == 9620
    assert answer.ts.isoformat() == "2026-01-12T10:00:22.620000+00:00"  # request time + totalElapsed
    assert answer.parent_id == first.id
    assert "The user wants" not in (answer.text or "")  # thinking is not response text

    tools = {e.tool.call_id: e for e in by_kind(events, "tool_call") if e.tool}
    assert set(tools) == {"toolu_01ReplaceApi", "toolu_02RunTests"}
    edit_tool = tools["toolu_01ReplaceApi"]
    assert edit_tool.tool is not None
    assert (edit_tool.tool.name, edit_tool.tool.status) == ("copilot_replaceString", "completed")
    assert edit_tool.text == "Edited api.ts"  # {value, uris} read, not "", and its link shown as VS Code does
    assert edit_tool.attrs["past_tense_message"] == "Edited [](file:///home/dev/acme%20api/src/api.ts)"
    assert edit_tool.attrs["invocation_message"].startswith("Editing ")
    assert edit_tool.attrs["edit_tool"] is True

    [edit] = by_kind(events, "file_edit")
    assert edit.file is not None and edit.file.path == "/home/dev/acme api/src/api.ts"
    assert edit.attrs["edit_count"] == 1

    [command] = by_kind(events, "command")
    assert command.text == "npm test -- api"
    assert command.parent_id == tools["toolu_02RunTests"].id
    assert command.attrs["shell"] == "sh"


def test_canceled_request_keeps_prompt_and_partial_response(user_dir: Path) -> None:
    events, _ = parse(CopilotSource([user_dir]), session_file(user_dir, LEGACY_HASH, LEGACY_ID, ".json"))
    prompt = next(e for e in by_kind(events, "prompt") if e.attrs["request_id"] == "request_a2")
    assert prompt.attrs["canceled"] is True
    assert prompt.ts.isoformat() == "2026-01-12T10:05:00+00:00"  # ISO string timestamp
    response = next(e for e in by_kind(events, "response") if e.attrs["request_id"] == "request_a2")
    assert response.attrs["canceled"] is True and response.text == "Adding a log line"
    assert response.usage is None


def test_unparsable_timestamp_falls_back_to_the_request_before_and_says_so(user_dir: Path) -> None:
    """(The session's creation date placed such a request before the ones that came first.)"""
    events, _ = parse(CopilotSource([user_dir]), session_file(user_dir, LEGACY_HASH, LEGACY_ID, ".json"))
    request_a3 = [e for e in events if e.attrs.get("request_id") == "request_a3"]
    assert {e.kind for e in request_a3} == {"prompt", "response", "error"}
    for event in request_a3:
        assert event.ts.isoformat() == "2026-01-12T10:05:00+00:00"  # request_a2's, never "now"
        assert event.attrs["ts_inferred"] is True
    prompts = [e.attrs["request_id"] for e in sorted(by_kind(events, "prompt"), key=lambda e: e.ts)]
    assert prompts.index("request_a2") < prompts.index("request_a3")
    [error] = by_kind(events, "error")
    assert error.text == "Sorry, your request failed. Please try again."
    # a request with its own timestamp is not marked
    assert "ts_inferred" not in next(e for e in events if e.attrs.get("request_id") == "request_a1").attrs


def test_old_build_shapes_plain_string_message_and_top_level_tokens(user_dir: Path) -> None:
    events, _ = parse(CopilotSource([user_dir]), session_file(user_dir, LEGACY_HASH, LEGACY_ID, ".json"))
    prompt = next(e for e in by_kind(events, "prompt") if e.attrs["request_id"] == "request_a5")
    assert prompt.text == "plain-string prompt from an old build"
    response = next(e for e in by_kind(events, "response") if e.attrs["request_id"] == "request_a5")
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (1200, 80)
    assert response.model == "gpt-4o"


def test_ids_are_stable_across_reparse_and_new_source_instances(user_dir: Path) -> None:
    path = session_file(user_dir, LEGACY_HASH, LEGACY_ID, ".json")
    first, _ = parse(CopilotSource([user_dir]), path)
    again, _ = parse(CopilotSource([user_dir]), path)
    assert first == again


# -- operation log ---------------------------------------------------------------------------------


def test_operation_log_is_replayed(user_dir: Path) -> None:
    path = session_file(user_dir, REMOTE_HASH, OPLOG_ID, ".jsonl")
    events, problems = parse(CopilotSource([user_dir]), path)
    check_events(events)
    # the torn middle line and the op on a missing request are reported; the partial last line is not
    assert [p.position for p in problems] == ["line 9", "line 11"]

    start = by_kind(events, "session_start")[0]
    assert start.workspace == "/srv/work/billing"  # path part of the vscode-remote URI
    assert start.attrs["remote"] == "ssh-remote+buildbox"
    assert start.attrs["title"] == "Fix rounding in charge()"  # kind:1 set applied
    assert start.attrs["file_format"] == "jsonl"
    assert "selected_model" not in start.attrs  # kind:3 deleted inputState

    responses = {e.attrs["request_id"]: e for e in by_kind(events, "response")}
    first = responses["request_b1"]
    # the kind:2 splice at index 1 replaced the incomplete tool part: no duplicate, final text
    assert first.text == "Looking at the billing code.\n\nPatched `charge()` to round half-even."  # (a tool between)
    assert first.model == "gpt-5-mini-2025-08-07"
    assert first.usage is not None and (first.usage.input_tokens, first.usage.output_tokens) == (9100, 230)
    [tool] = by_kind(events, "tool_call")
    assert tool.tool is not None and (tool.tool.name, tool.tool.status) == ("copilot_applyPatch", "completed")
    assert tool.text == "Applied patch to billing.py"
    [edit] = by_kind(events, "file_edit")
    assert edit.file is not None and edit.file.path == "/srv/work/billing/billing.py"
    assert edit.attrs["remote"] == "ssh-remote+buildbox"

    second = responses["request_b2"]  # completed via modelState.completedAt
    assert second.text == "Added `test_charge_rounding`."
    assert second.ts.isoformat() == "2026-02-18T08:09:50+00:00"
    assert second.model == "claude-opus-4.5"
    assert "STALE COPY" not in json.dumps([e.text for e in events])  # the .json twin was not read


def test_compaction_to_a_fresh_snapshot_yields_the_same_events(user_dir: Path) -> None:
    path = session_file(user_dir, REMOTE_HASH, OPLOG_ID, ".jsonl")
    source = CopilotSource([user_dir])
    before, _ = parse(source, path)
    state, _ = replay_operation_log(path.read_bytes())
    path.write_text(json.dumps({"kind": 0, "v": state}) + "\n")  # what VS Code does after 512 entries
    os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))
    after, problems = parse(source, path)
    assert problems == []
    assert after == before


def test_operation_log_semantics() -> None:
    log = [
        {"kind": 0, "v": {"a": {"list": [1, 2, 3]}, "gone": 1}},
        {"kind": 2, "k": ["a", "list"], "v": [9], "i": 1},  # truncate to 1 item, then push
        {"kind": 2, "k": ["a", "new"], "v": [1]},  # push creates a missing array
        {"kind": 1, "k": ["a", "list", 1], "v": 10},
        {"kind": 3, "k": ["gone"]},
        {"kind": 1, "k": [], "v": {"ignored": True}},  # VS Code ignores root sets
        {"kind": 7, "k": ["x"]},
    ]
    data = "\n".join(json.dumps(entry) for entry in log).encode() + b"\n"
    state, problems = replay_operation_log(data)
    assert state == {"a": {"list": [1, 10], "new": [1]}}
    assert problems == [Problem("line 7", "unknown operation kind 7")]

    empty, problems = replay_operation_log(b'{"kind":1,"k":["a"],"v":1}\n')
    assert empty is None
    assert [p.position for p in problems] == ["line 1", "file"]


def test_json_being_rewritten_gives_one_problem_and_no_events(user_dir: Path) -> None:
    path = session_file(user_dir, LEGACY_HASH, LEGACY_ID, ".json")
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # a read racing VS Code's non-atomic rewrite
    events, problems = parse(CopilotSource([user_dir]), path)
    assert events == []
    assert len(problems) == 1 and problems[0].position == "file" and "invalid JSON" in problems[0].message


def test_streaming_last_request_is_held_back_until_complete(user_dir: Path) -> None:
    path = session_file(user_dir, LEGACY_HASH, LEGACY_ID, ".json")
    session = json.loads(path.read_text())
    session["requests"] = [session["requests"][0] | {"result": None}]
    path.write_text(json.dumps(session))  # fresh mtime: VS Code is writing the reply right now
    events, _ = parse(CopilotSource([user_dir]), path)
    assert by_kind(events, "prompt") and not by_kind(events, "response")
    assert by_kind(events, "tool_call")  # finished tool calls are already final
    os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))  # nothing written for an hour: the reply is what it is
    events, _ = parse(CopilotSource([user_dir]), path)
    assert [e.text for e in by_kind(events, "response")] == [
        "I'll add a retry loop to `fetchUser`.\nDone: three attempts with exponential backoff."
    ]


def test_an_empty_result_is_a_finished_reply_not_a_streaming_one(user_dir: Path) -> None:
    """VS Code records `result: {}` for an extension's slash command or a participant that returns
    nothing: the reply was held back as "still streaming" for up to 10 minutes."""
    path = session_file(user_dir, LEGACY_HASH, LEGACY_ID, ".json")
    session = json.loads(path.read_text())
    session["requests"] = [session["requests"][0] | {"result": {}}]
    path.write_text(json.dumps(session))  # fresh mtime, as right after VS Code wrote it
    events, _ = parse(CopilotSource([user_dir]), path)
    assert len(by_kind(events, "response")) == 1


# -- other shapes ----------------------------------------------------------------------------------


def test_empty_window_session_with_array_values(user_dir: Path) -> None:
    path = user_dir / "globalStorage" / "emptyWindowChatSessions" / f"{EMPTY_WINDOW_ID}.json"
    events, problems = parse(CopilotSource([user_dir]), path)
    check_events(events)
    assert problems == []
    assert all(e.workspace is None for e in events)
    assert by_kind(events, "session_start")[0].attrs["empty_window"] is True
    assert by_kind(events, "session_start")[0].ts.isoformat() == "2025-11-03T18:20:00+00:00"  # ISO creationDate
    [prompt] = by_kind(events, "prompt")
    assert prompt.attrs["ts_inferred"] is True and prompt.ts.isoformat() == "2025-11-03T18:20:00+00:00"
    [response] = by_kind(events, "response")
    assert response.text == "`git rebase --onto new old branch`\n moves commits."
    assert response.model == "gpt-4o"


def test_array_value_scenario_gives_exactly_one_prompt_and_one_response(tmp_path: Path) -> None:
    """The original devlog's spec-013 case: thinking `value: []`, null kind, progress parts."""
    path = tmp_path / "array-values.json"
    shutil.copy(FIXTURES / "scenarios" / "array-values.json", path)
    os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))
    events, problems = parse(CopilotSource([]), path)
    assert problems == []
    assert Counter(e.kind for e in events) == {"session_start": 1, "prompt": 1, "response": 1}
    [response] = by_kind(events, "response")
    assert response.text == "The job fails in the lint step."
    assert response.session_id == "array-values"  # no sessionId in the file: its stem
    assert response.attrs["thinking_parts"] == 2


def test_missing_file_yields_nothing(tmp_path: Path) -> None:
    assert parse(CopilotSource([]), tmp_path / "gone.json") == ([], [])


# -- workspace resolution --------------------------------------------------------------------------


def test_workspace_json_scenario() -> None:
    info = WorkspaceResolver().resolve(FIXTURES / "scenarios")
    assert info.path == "/Users/dev/projects/sample-app"


def test_multi_root_workspace_uses_its_first_folder(tmp_path: Path) -> None:
    project = tmp_path / "work"
    (project / "api").mkdir(parents=True)
    workspace_file = project / "team.code-workspace"
    workspace_file.write_text(
        '{\n  // comments are allowed\n  "folders": [{"path": "api"}, {"path": "/opt/shared"},],\n}\n'
    )
    storage = tmp_path / "hash1"
    storage.mkdir()
    (storage / "workspace.json").write_text(json.dumps({"workspace": workspace_file.as_uri()}))
    info = WorkspaceResolver().resolve(storage)
    assert info.path == str(project / "api")
    assert info.attrs["workspace_file"] == str(workspace_file)
    assert info.attrs["workspace_folders"] == [str(project / "api"), "/opt/shared"]


def test_multi_root_folders_are_normalised_like_the_workspace(tmp_path: Path) -> None:
    project = tmp_path / "multi"
    project.mkdir()
    workspace_file = project / "team.code-workspace"
    workspace_file.write_text('{"folders": [{"path": "../backend"}, {"path": "/opt/shared/"}]}')
    storage = tmp_path / "hash2"
    storage.mkdir()
    (storage / "workspace.json").write_text(json.dumps({"workspace": workspace_file.as_uri()}))
    info = WorkspaceResolver().resolve(storage)
    assert info.attrs["workspace_folders"] == [str(tmp_path / "backend"), "/opt/shared"]


def test_multi_root_workspace_that_cannot_be_read_falls_back_to_its_folder(tmp_path: Path) -> None:
    storage = tmp_path / "hash2"
    storage.mkdir()
    (storage / "workspace.json").write_text('{"workspace": "file:///home/dev/ws/all.code-workspace"}')
    assert WorkspaceResolver().resolve(storage).path == "/home/dev/ws"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("file:///home/dev/my%20repo", ("/home/dev/my repo", None)),
        ("file:///c%3A/Users/dev/proj", ("c:/Users/dev/proj", None)),
        ("vscode-remote://wsl%2Bubuntu/home/dev/x", ("/home/dev/x", "wsl+ubuntu")),
        ({"scheme": "file", "path": "/srv/a b"}, ("/srv/a b", None)),
        ({"$mid": 1, "fsPath": "d:\\work\\x", "scheme": "file"}, ("d:\\work\\x", None)),
        (42, (None, None)),
    ],
)
def test_uri_to_path(uri: object, expected: tuple[str | None, str | None]) -> None:
    assert uri_to_path(uri) == expected


def test_a_reply_held_back_as_streaming_is_collected_when_the_file_never_changes_again(
    user_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VS Code closed (or crashed) mid-reply: the file stays as it is, and the reply must still land."""
    from datetime import timedelta

    from devlog_collector.collect import Collector
    from devlog_collector.sources import copilot
    from devlog_collector.store import Store

    monkeypatch.setattr(copilot, "IN_PROGRESS_WINDOW", timedelta(seconds=3))
    path = session_file(user_dir, LEGACY_HASH, LEGACY_ID, ".json")
    session = json.loads(path.read_text())
    session["requests"] = [session["requests"][0] | {"result": None}]
    path.write_text(json.dumps(session))
    written = time.time() - 1.5  # old enough for the engine to trust size/mtime, inside the window
    os.utime(path, (written, written))
    config = agent_config("copilot", user_dir, tmp_path / "store")
    with Store.open(config.storage.db_path()) as store:
        collector = Collector(store, config)
        items = [t for t in collector.discover() if t.file.path == path]

        def responses() -> int:
            return int(store.db.execute("SELECT count(*) FROM events WHERE kind = 'response'").fetchone()[0])

        collector.collect(items)
        assert responses() == 0  # held back: still streaming
        collector.collect(items)
        assert responses() == 0  # unchanged and not yet due: skipped
        time.sleep(max(0.0, written + 3 + 1.2 - time.time()))  # the window (and the margin) passes
        collector.collect(items)
        assert responses() == 1
        (state,) = [c.state for c in store.all_cursors().values() if c.path == str(path)]
        assert "recheck_after_ms" not in state


@pytest.mark.parametrize(
    ("reference", "shown"),
    [
        (
            {"inlineReference": {"$mid": 1, "scheme": "file", "fsPath": "/w/src/api.ts"}},
            "api.ts",
        ),
        ({"inlineReference": {"path": "/w/src/api.ts"}, "name": "api.ts#L10"}, "api.ts#L10"),
        (
            {"inlineReference": {"name": "fetchUser", "location": {"uri": {"path": "/w/src/u.ts"}}}},
            "fetchUser",
        ),
        ({"inlineReference": {"uri": {"path": "/w/docs/README.md"}, "range": {}}}, "README.md"),
        ({"inlineReference": "file:///c%3A/w/main.py"}, "main.py"),
    ],
)
def test_inline_references_stay_in_the_reply_text(tmp_path: Path, reference: dict[str, object], shown: str) -> None:
    parts = [{"value": "I updated "}, {"kind": "inlineReference", **reference}, {"value": " to retry."}]
    request = {"requestId": "r", "timestamp": 1764745200000, "message": {"text": "q"}, "response": parts,
               "result": {"timings": {"totalElapsed": 5}}}  # fmt: skip
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps({"version": 3, "sessionId": "inl", "creationDate": 1764745200000, "requests": [request]})
    )
    events, problems = parse(CopilotSource([]), path)
    assert problems == []
    assert [e.text for e in by_kind(events, "response")] == [f"I updated `{shown}` to retry."]


def test_times_inferred_for_a_file_without_any_stay_put_when_it_is_touched(tmp_path: Path) -> None:
    """Records with no time of their own get the file's mtime as first seen, not its mtime now:
    otherwise every touch would move them, and rewrite and re-export them."""
    from devlog_collector.collect import Collector
    from devlog_collector.store import Store

    user = tmp_path / "User"
    chats = user / "workspaceStorage" / "w1" / "chatSessions"
    chats.mkdir(parents=True)
    request = {"requestId": "r0", "message": {"text": "q0"}, "response": [{"value": "a0"}],
               "result": {"metadata": {"promptTokens": 100, "outputTokens": 10}}}  # fmt: skip
    path = chats / "s-1.json"
    path.write_text(json.dumps({"version": 3, "sessionId": "s-1", "requests": [request]}))
    os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))
    config = agent_config("copilot", user, tmp_path / "store")
    with Store.open(config.storage.db_path()) as store:
        Collector(store, config).collect()
        before = store.db.execute("SELECT seq, id, ts FROM events ORDER BY seq").fetchall()
        os.utime(path, (AN_HOUR_AGO + 600, AN_HOUR_AGO + 600))
        Collector(store, config).collect()
        assert store.db.execute("SELECT seq, id, ts FROM events ORDER BY seq").fetchall() == before
    assert len(before) == 3 and {ts for _, _, ts in before} == {int(AN_HOUR_AGO * 1000)}


@pytest.mark.parametrize("value", ["²", "٣", "9" * 5000, "１２"])
def test_value_helpers_never_raise_on_digit_like_strings(value: str) -> None:
    """`"²".isdigit()` is True and `int()` refuses 5,000 digits: a request must not be lost to either."""
    from devlog_collector.sources._values import as_int, parse_ts

    assert as_int(value) == 0
    assert parse_ts(value) is None


def test_a_session_with_bytes_that_are_not_utf8_is_read_with_replacement_characters(user_dir: Path) -> None:
    """One Latin-1 `é` in a whole-file session lost the whole session, reported as "invalid JSON
    (file being rewritten?)", which it was not."""
    path = session_file(user_dir, LEGACY_HASH, LEGACY_ID, ".json")
    whole = path.read_bytes()
    assert b"retry loop" in whole
    path.write_bytes(whole.replace(b"retry loop", b"retry caf\xe9 loop", 1))
    events, problems = parse(CopilotSource([user_dir]), path)
    assert any("retry caf\ufffd loop" in (e.text or "") for e in events)
    at = whole.index(b"retry loop") + len(b"retry caf")
    expected = f"not valid UTF-8 (invalid UTF-8 at byte {at}): read with U+FFFD in place of the bad bytes"
    assert expected in [p.message for p in problems]
    assert not any("being rewritten" in p.message for p in problems)


def test_tool_messages_read_as_vscode_shows_them() -> None:
    """`Edited [](file:///home/dev/acme%20api/src/api.ts)` was stored and shown as written; VS Code
    shows the file's name for a link without a label."""
    from devlog_collector.sources.copilot import _shown_links

    assert _shown_links("Edited [](file:///home/dev/acme%20api/src/api.ts)") == "Edited api.ts"
    assert _shown_links("Read [](file:///c%3A/w/x.py#L1-L20), lines 1 to 20") == "Read x.py, lines 1 to 20"
    assert _shown_links("Ran [pytest](command:run) in [the terminal]()") == "Ran pytest in the terminal"
    assert _shown_links("no links [here]") == "no links [here]"


def _request(request_id: str, minute: int, prompt: str, tokens: tuple[int, int]) -> dict[str, object]:
    return {
        "requestId": request_id, "timestamp": 1771402100000 + minute * 60_000, "modelId": "copilot/gpt-5-mini",
        "message": {"text": prompt}, "response": [{"value": f"answer to {prompt}"}],
        "result": {"metadata": {"promptTokens": tokens[0], "outputTokens": tokens[1]}},
    }  # fmt: skip


def test_a_request_undone_in_the_chat_is_kept_however_the_log_was_read(tmp_path: Path) -> None:
    """An undo truncates `requests` and pushes the new one (`kind:2` with `i`); the undone request
    was typed, answered and billed: a store that read the log before the undo and one that reads it
    only after hold the same events, the undone prompt marked `attrs.removed`."""
    import sqlite3

    from tests.collector.collect_helpers import collect

    user = tmp_path / "Code" / "User"
    chats = user / "workspaceStorage" / "abc" / "chatSessions"
    chats.mkdir(parents=True)
    (chats.parent / "workspace.json").write_text(json.dumps({"folder": "file:///home/me/undo"}))
    snapshot = {"version": 3, "sessionId": OPLOG_ID, "creationDate": 1771402100000, "requests": []}
    log = [
        {"kind": 0, "v": snapshot},
        {"kind": 2, "k": ["requests"], "v": [_request("r1", 1, "first", (1000, 10))]},
        {"kind": 2, "k": ["requests"], "v": [_request("r2", 2, "second", (2000, 20))]},
    ]
    path = chats / f"{OPLOG_ID}.jsonl"
    path.write_text("".join(json.dumps(entry) + "\n" for entry in log))
    _age(user)
    grown = agent_config("copilot", user, tmp_path / "grown")
    collect(grown)
    with path.open("a") as handle:  # undo "second", ask "third" instead
        handle.write(json.dumps({"kind": 2, "k": ["requests"], "v": [_request("r3", 3, "third", (3000, 30))], "i": 1}))
        handle.write("\n")
    _age(user)
    collect(grown)
    fresh = agent_config("copilot", user, tmp_path / "fresh")
    collect(fresh)

    def stored(config: object) -> list[tuple[object, ...]]:
        db = sqlite3.connect(config.storage.db_path())  # type: ignore[attr-defined]
        rows = db.execute(
            "SELECT id, kind, text, input_tokens + output_tokens, json_extract(body, '$.attrs.removed') "
            "FROM events ORDER BY ts, seq"
        ).fetchall()
        db.close()
        return rows

    assert stored(grown) == stored(fresh)
    prompts = [(text, removed) for _, kind, text, _, removed in stored(fresh) if kind == "prompt"]
    assert prompts == [("first", None), ("second", 1), ("third", None)]
    # the whole undone turn is marked, its reply too (only its prompt was)
    marked = sorted((kind, text) for _, kind, text, _, removed in stored(fresh) if removed)
    assert marked == [("prompt", "second"), ("response", "answer to second")]
    assert sum(tokens for *_, tokens, _ in stored(fresh)) == 6060


def test_text_on_both_sides_of_a_tool_call_stays_two_paragraphs(tmp_path: Path) -> None:
    """`...with exponential backoff.Added retries.`: the two blocks VS Code shows were glued together."""
    tool = {"kind": "toolInvocationSerialized", "toolId": "copilot_readFile", "toolCallId": "c1",
            "invocationMessage": "Reading client.ts", "isComplete": True}  # fmt: skip
    response = [{"value": "I'll wrap it "}, {"value": "in a retry loop."}, tool, {"value": "Added retries."}]
    request = {**_request("r1", 1, "add retries", (100, 10)), "response": response}
    snapshot = {"version": 3, "sessionId": OPLOG_ID, "creationDate": 1771402100000, "requests": [request]}
    path = tmp_path / f"{OPLOG_ID}.json"
    path.write_text(json.dumps(snapshot))
    os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))
    events, problems = parse(CopilotSource([tmp_path]), path)
    assert problems == []
    [reply] = by_kind(events, "response")
    assert reply.text == "I'll wrap it in a retry loop.\n\nAdded retries."


def test_a_workspace_json_written_after_the_session_was_read_gives_its_events_their_workspace(tmp_path: Path) -> None:
    """The session's events kept an empty workspace until the session file itself changed."""
    import sqlite3

    from tests.collector.collect_helpers import collect

    user = tmp_path / "Code" / "User"
    chats = user / "workspaceStorage" / "late" / "chatSessions"
    chats.mkdir(parents=True)
    snapshot = {"version": 3, "sessionId": OPLOG_ID, "creationDate": 1771402100000,
                "requests": [_request("r1", 1, "first", (1000, 10))]}  # fmt: skip
    (chats / f"{OPLOG_ID}.json").write_text(json.dumps(snapshot))
    _age(user)
    config = agent_config("copilot", user, tmp_path / "store")
    collect(config)

    def workspaces() -> set[object]:
        db = sqlite3.connect(config.storage.db_path())
        found = {row[0] for row in db.execute("SELECT workspace FROM events")}
        db.close()
        return found

    assert workspaces() == {None}
    (chats.parent / "workspace.json").write_text(json.dumps({"folder": "file:///home/me/late"}))
    _age(user)
    assert collect(config).events_updated == 3
    assert workspaces() == {"/home/me/late"}
    assert collect(config).files_read == 0  # (read with it now: unchanged)
