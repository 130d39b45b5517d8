"""Claude Code source: discovery, every record kind, usage keys and the engine's keep-largest store."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from devlog_collector.collect import Collector
from devlog_collector.config import Config, parse_config
from devlog_collector.sources import load_source_class
from devlog_collector.sources.base import SourceFile
from devlog_collector.sources.claude import TOOL_TEXT_LIMIT, ClaudeCodeSource
from devlog_collector.store import Store
from devlog_shared import Event, event_id
from tests.collector.sources.contract import check_fixture, check_garbage, parse, split

FIXTURES = Path(__file__).parents[2] / "fixtures" / "claude" / "home"
S1 = "0b6c2e1a-5d3f-4c1e-9a8b-7f6e5d4c3b2a"
S2 = "7d1e9f20-3c4b-4a5d-8e6f-1a2b3c4d5e6f"
S3 = "c4f0a1b2-8d7e-4f6a-b5c4-d3e2f1a0b9c8"
PROJECT = FIXTURES / "projects" / "-home-dev-acme-api"
MAIN = PROJECT / f"{S1}.jsonl"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    copy = tmp_path / "claude-home"
    shutil.copytree(FIXTURES, copy)
    return copy


def events_of(path: Path) -> list[Event]:
    events, _ = parse(ClaudeCodeSource([]), SourceFile(path=path, mode="append"))
    return events


def of(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e.kind == kind]


def usage_records(events: list[Event]) -> list[Event]:
    return [e for e in events if e.usage is not None]


def config_for(root: Path, tmp_path: Path) -> Config:
    config, _ = parse_config(
        {
            "collect": {"agents": ["claude"], "roots": {"claude": [str(root)]}},
            "storage": {"path": str(tmp_path / "store"), "min_free_bytes": 0},
        }
    )
    return config


def run_collect(config: Config) -> int:
    with Store.open(config.storage.db_path()) as store:
        store.acquire_writer_lock()
        return Collector(store, config).collect().events_added


def stored_usage(config: Config) -> dict[str, tuple[int, int, int, int, str]]:
    db = sqlite3.connect(config.storage.db_path())
    try:
        rows = db.execute(
            "SELECT id, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, ts FROM events "
            "WHERE input_tokens + output_tokens + cache_creation_tokens + cache_read_tokens > 0"
        ).fetchall()
    finally:
        db.close()
    return {row[0]: (row[1], row[2], row[3], row[4], str(row[5])) for row in rows}


# -- registration and discovery ----------------------------------------------------------------


def test_registered_under_claude() -> None:
    assert load_source_class("claude") is ClaudeCodeSource


def test_default_roots_honour_claude_config_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", f"{tmp_path / 'a'}, {tmp_path / 'b'},")
    assert ClaudeCodeSource.default_roots() == [tmp_path / "a", tmp_path / "b"]
    monkeypatch.delenv("CLAUDE_CONFIG_DIR")
    assert ClaudeCodeSource.default_roots() == [Path.home() / ".claude", Path.home() / ".config" / "claude"]


def test_claude_config_dir_naming_the_projects_folder_stands_for_the_folder_above(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """ccusage reads `CLAUDE_CONFIG_DIR=~/.claude/projects`; devlog found no logs there."""
    (tmp_path / "home" / ".claude" / "projects" / "-w").mkdir(parents=True)
    (tmp_path / "home" / ".claude" / "projects" / "-w" / "s.jsonl").write_text("")
    (tmp_path / "odd" / "projects" / "projects").mkdir(parents=True)  # (a config folder that is named projects)
    monkeypatch.setenv(
        "CLAUDE_CONFIG_DIR", f"{tmp_path / 'home' / '.claude' / 'projects'},{tmp_path / 'odd' / 'projects'}"
    )
    roots = ClaudeCodeSource.default_roots()
    assert roots == [tmp_path / "home" / ".claude", tmp_path / "odd" / "projects"]
    assert [f.path.name for f in ClaudeCodeSource(roots).discover()] == ["s.jsonl"]


def test_discovers_sessions_subagents_and_sibling_agents_once(home: Path, tmp_path: Path) -> None:
    xdg = tmp_path / "xdg" / "claude"
    (xdg / "projects" / "-srv-tool").mkdir(parents=True)
    (xdg / "projects" / "-srv-tool" / "s.jsonl").write_text("")
    (xdg / "projects" / "-srv-tool" / "notes.txt").write_text("")
    link = tmp_path / "link-to-home"
    link.symlink_to(home)
    source = ClaudeCodeSource([home, xdg, home, link, tmp_path / "missing"])
    found = [f.path.relative_to(f.path.parents[2]).as_posix() for f in source.discover()]
    names = [Path(p).name for p in found]
    assert names == [
        f"{S1}.jsonl",
        "agent-5e1f2a3b.jsonl",
        "agent-aside_question-9f8e.jsonl",
        f"{S2}.jsonl",
        "agent-0ld5ib1.jsonl",
        f"{S3}.jsonl",
        "s.jsonl",
    ]
    assert all(f.mode == "append" for f in source.discover())


# -- the contract ------------------------------------------------------------------------------


def test_every_fixture_meets_the_contract() -> None:
    source = ClaudeCodeSource([FIXTURES])
    files = list(source.discover())
    assert len(files) == 6
    for file in files:
        # usage records repeat on every line of a streamed response: one id, several copies
        check_fixture(source, file, unique_ids=False)


def test_garbage_lines_are_problems() -> None:
    problems = check_garbage(ClaudeCodeSource([]), SourceFile(path=Path("x.jsonl"), mode="append"))
    messages = {p.message for p in problems}
    assert "line is not valid UTF-8" in messages
    assert "assistant line without a message object" in messages


def test_bad_lines_of_a_fixture_are_reported_with_their_line() -> None:
    _, problems = parse(
        ClaudeCodeSource([]), SourceFile(FIXTURES / "projects" / "-home-dev-legacy-tool" / f"{S3}.jsonl", "append")
    )
    assert [(p.position, p.message.split(":")[0]) for p in problems] == [
        ("line 3", "invalid JSON"),
        ("line 4", "line is not valid UTF-8"),
        ("line 5", "usage not counted"),
        ("line 7", "assistant line without a message object"),
    ]


def test_user_lines_with_unusable_content_or_result_ids_are_problems_not_silence() -> None:
    """A user line whose content is a number, and tool results with no usable `tool_use_id`, were
    dropped without a word (a new-user test): their output is not kept, and `devlog status` says so."""
    base = {"type": "user", "sessionId": "s1", "timestamp": "2026-03-01T09:00:00.000Z", "cwd": "/w"}
    lines = [
        {**base, "uuid": "u1", "message": {"role": "user", "content": 42}},
        {**base, "uuid": "u2", "message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": None, "content": "out"},
            {"type": "tool_result", "tool_use_id": ["toolu_1"], "content": "out"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "kept"},
        ]}},
        {**base, "uuid": "u3", "message": {"role": "user"}},  # no content at all: nothing to say
    ]  # fmt: skip
    raw = [(n, json.dumps(line).encode()) for n, line in enumerate(lines, start=1)]
    events, problems = split(ClaudeCodeSource([]).parse_lines(SourceFile(Path("x.jsonl"), "append"), raw, {}))
    assert [(p.position, p.message) for p in problems] == [
        ("line 1", "user line whose content is neither text nor a list of blocks"),
        ("line 2", "tool_result without a tool_use_id: its output is not kept"),
        ("line 2", "tool_result without a tool_use_id: its output is not kept"),
    ]
    assert [e.text for e in events if e.kind == "tool_result"] == ["kept"]


# -- content events ----------------------------------------------------------------------------


def test_prompts_are_what_the_user_typed() -> None:
    events = events_of(MAIN)
    prompts = of(events, "prompt")
    assert [p.text for p in prompts] == [
        "Add a /health endpoint to the API and a test for it",
        "Here is the failing CI screenshot, fix it",
        "Now make the probe fast",
    ]
    assert prompts[1].attrs == {"images": 1}
    assert prompts[0].id == event_id("claude", "a0000000-0000-4000-8000-000000000002")
    first = prompts[0]
    assert first.workspace == "/home/dev/acme-api"
    assert first.git is not None and first.git.branch == "main"
    assert first.agent_version == "2.1.90"
    assert first.session_id == S1
    assert first.source is not None and first.source.key == "line 3"


def test_responses_tools_commands_and_results() -> None:
    events = events_of(MAIN)
    texts = [e for e in of(events, "response") if e.text]
    assert texts[0].text == "I'll add the route to app.py and a test."
    assert texts[0].model == "claude-sonnet-4-5-20250929"
    assert texts[0].usage is None and texts[0].attrs["message_id"] == "msg_01HealthA"
    calls = {e.tool.call_id: e for e in of(events, "tool_call") if e.tool}
    assert set(calls) == {
        "toolu_01EditApp",
        "toolu_01WriteTest",
        "toolu_01BashTests",
        "toolu_01EditMissing",
        "toolu_01TaskFixture",
    }
    edit_call = calls["toolu_01EditApp"]
    assert edit_call.id == event_id("claude", "tool_call", "toolu_01EditApp")
    assert edit_call.attrs["input"] == {"file_path": "/home/dev/acme-api/app.py"}
    assert json.loads(edit_call.text or "")["old_string"] == "app = Flask(__name__)"
    (command,) = of(events, "command")
    assert command.text == "pytest -q tests/test_health.py"
    assert command.parent_id == calls["toolu_01BashTests"].id
    assert command.attrs == {"description": "Run the new test"}
    results = {e.tool.call_id: e for e in of(events, "tool_result") if e.tool}
    assert results["toolu_01BashTests"].tool is not None
    assert (results["toolu_01BashTests"].tool.name, results["toolu_01BashTests"].tool.status) == ("Bash", "error")
    assert results["toolu_01EditApp"].tool is not None and results["toolu_01EditApp"].tool.status == "ok"
    assert results["toolu_01EditApp"].parent_id == edit_call.id
    assert results["toolu_01TaskFixture"].text == "The fixture is in tests/conftest.py and takes no app argument."


def test_file_edits_come_from_structured_patches_of_successful_edits() -> None:
    edits = of(events_of(MAIN), "file_edit")
    assert [(e.tool.name if e.tool else None, e.file) for e in edits] == [
        ("Edit", _file("/home/dev/acme-api/app.py", 4, 0)),
        ("Write", _file("/home/dev/acme-api/tests/test_health.py", 3, 0)),
    ]  # the failed Edit of conftest.py is not an edit
    assert edits[0].parent_id == event_id("claude", "tool_call", "toolu_01EditApp")
    replayed, multi = of(events_of(PROJECT / f"{S2}.jsonl"), "file_edit")
    assert replayed.id == edits[0].id  # the resumed session replays the first edit: same event
    assert multi.tool is not None and multi.tool.name == "MultiEdit"
    assert multi.file == _file("/home/dev/acme-api/app.py", 3, 1)


def _file(path: str, added: int, removed: int) -> object:
    from devlog_shared import FileInfo

    return FileInfo(path=path, lines_added=added, lines_removed=removed)


def test_errors_from_api_error_lines() -> None:
    errors = of(events_of(MAIN), "error")
    assert [(e.attrs.get("status"), e.text) for e in errors] == [
        ("529", "Overloaded"),
        ("529", 'API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'),
    ]
    assert errors[0].attrs["retry_attempt"] == 1


def test_session_start_once_per_session_not_for_sub_agents() -> None:
    starts = of(events_of(MAIN), "session_start")
    assert [(s.id, s.ts.isoformat()) for s in starts] == [
        (event_id("claude", "session", S1), "2026-03-02T09:14:00.100000+00:00")
    ]
    assert of(events_of(PROJECT / S1 / "subagents" / "agent-5e1f2a3b.jsonl"), "session_start") == []
    assert [s.session_id for s in of(events_of(PROJECT / f"{S2}.jsonl"), "session_start")] == [S2]


def test_a_file_that_begins_with_another_sessions_lines_starts_its_own_session(tmp_path: Path) -> None:
    envelope = {"type": "user", "cwd": "/w", "message": {"role": "user", "content": "hello"}}
    copied = [{**envelope, "sessionId": "old", "uuid": f"o{n}", "timestamp": f"2026-03-01T10:00:0{n}.000Z"}
              for n in range(3)]  # fmt: skip
    own = [{**envelope, "sessionId": "new", "uuid": f"n{n}", "timestamp": f"2026-03-02T08:00:0{n}.000Z"}
           for n in range(2)]  # fmt: skip
    path = tmp_path / "new.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in copied + own))
    starts = of(events_of(path), "session_start")
    assert [(s.session_id, s.ts.isoformat()) for s in starts] == [
        ("old", "2026-03-01T10:00:00+00:00"),  # the same id as the old session's own start: stored once
        ("new", "2026-03-02T08:00:00+00:00"),
    ]
    # a file read before sessions were told apart (its state says only "started") starts none again
    later = [(9, json.dumps({**own[0], "sessionId": "newer", "uuid": "x9"}).encode())]
    file = SourceFile(path=path, mode="append")
    assert of(split(ClaudeCodeSource([]).parse_lines(file, later, {"started": True}))[0], "session_start") == []
    assert of(split(ClaudeCodeSource([]).parse_lines(file, later, {"started": ["new"]}))[0], "session_start") != []


def test_tool_output_is_capped(tmp_path: Path) -> None:
    line = {
        "type": "user",
        "uuid": "u-big",
        "sessionId": "s",
        "timestamp": "2026-03-02T10:00:00.000Z",
        "message": {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_big", "content": "x" * 100_000}],
        },
    }
    events, problems = split(
        ClaudeCodeSource([]).parse_lines(
            SourceFile(tmp_path / "s.jsonl", "append"), [(1, json.dumps(line).encode())], {}
        )
    )
    (result,) = of(events, "tool_result")
    assert problems == []
    assert result.text is not None and len(result.text) == TOOL_TEXT_LIMIT
    assert result.attrs == {"truncated": True, "text_length": 100_000}


# -- usage -------------------------------------------------------------------------------------


def test_one_usage_id_per_response_across_lines_and_files() -> None:
    main = usage_records(events_of(MAIN))
    by_id: dict[str, list[Event]] = {}
    for event in main:
        by_id.setdefault(event.id, []).append(event)
    streamed = by_id[event_id("claude", "usage", "msg_01HealthA")]
    assert [e.usage.output_tokens for e in streamed if e.usage] == [212]  # 3 lines, the largest copy
    assert all(e.kind == "response" and e.attrs["usage_record"] and e.text is None for e in main)
    sub = usage_records(events_of(PROJECT / S1 / "subagents" / "agent-5e1f2a3b.jsonl"))
    progress_copy = event_id("claude", "usage", "msg_01SubA")
    assert progress_copy in by_id and progress_copy in {e.id for e in sub}
    btw = usage_records(events_of(PROJECT / S1 / "subagents" / "agent-aside_question-9f8e.jsonl"))
    assert btw[0].id == event_id("claude", "usage", "msg_01HealthF")  # the replayed parent response
    assert btw[0].attrs["request_id"] == "req_011BtwReplay" and btw[0].attrs["is_sidechain"] is True
    resumed = usage_records(events_of(PROJECT / f"{S2}.jsonl"))
    assert event_id("claude", "usage", "msg_01HealthA") in {e.id for e in resumed}


def test_usage_fields_fast_mode_cost_and_synthetic() -> None:
    main = usage_records(events_of(MAIN))
    fast = next(e for e in main if e.attrs.get("message_id") == "msg_01FastH")
    assert fast.model == "claude-opus-4-6" and fast.attrs["speed"] == "fast"
    assert fast.usage is not None and (fast.usage.input_tokens, fast.usage.cache_read_tokens) == (10, 26001)
    assert not any(e.model == "<synthetic>" for e in events_of(MAIN))
    assert not any("8c1f0e2a" in str(e.attrs.get("message_id")) for e in main)  # zero-usage API error notice
    legacy = usage_records(events_of(FIXTURES / "projects" / "-home-dev-legacy-tool" / f"{S3}.jsonl"))
    assert [e.cost_usd for e in legacy] == [0.12, 0.56]  # the non-semver line is not counted


def test_requestless_usage_is_keyed_by_session_and_time() -> None:
    gateway = [
        e for e in usage_records(events_of(PROJECT / f"{S2}.jsonl")) if e.attrs.get("message_id") == "msg_gw_0001"
    ]
    assert len({e.id for e in gateway}) == len(gateway) == 2  # two timestamps; the exact re-write collapses


def test_store_keeps_the_largest_copy_and_recollect_adds_nothing(home: Path, tmp_path: Path) -> None:
    config = config_for(home, tmp_path)
    assert run_collect(config) > 0
    stored = stored_usage(config)
    streamed = stored[event_id("claude", "usage", "msg_01HealthA")]
    assert streamed[:4] == (3, 212, 1821, 20410)
    midnight = stored[event_id("claude", "usage", "msg_01MidnightG")]
    assert midnight[1] == 377
    assert run_collect(config) == 0


def test_live_tail_upgrades_placeholder_usage(home: Path, tmp_path: Path) -> None:
    target = home / "projects" / "-home-dev-acme-api" / f"{S1}.jsonl"
    (home / "projects" / "-home-dev-acme-api" / f"{S2}.jsonl").unlink()  # it holds a copy of the final line
    lines = target.read_bytes().splitlines(keepends=True)
    target.write_bytes(b"".join(lines[:5]))  # up to the second placeholder line of msg_01HealthA
    config = config_for(home, tmp_path)
    run_collect(config)
    key = event_id("claude", "usage", "msg_01HealthA")
    assert stored_usage(config)[key][1] == 2
    with target.open("ab") as handle:
        handle.write(lines[5][:40])  # a partial line is not parsed
    run_collect(config)
    assert stored_usage(config)[key][1] == 2
    with target.open("ab") as handle:
        handle.write(lines[5][40:] + b"".join(lines[6:]))
    run_collect(config)
    assert stored_usage(config)[key][1] == 212


def _fixture_lines() -> list[bytes]:
    return [line for path in sorted(FIXTURES.rglob("*.jsonl")) for line in path.read_bytes().split(b"\n") if line]


def test_lines_skipped_unparsed_are_lines_that_yield_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast skip of bookkeeping lines never drops what the full parse of the line would give."""
    from devlog_collector.sources import claude

    envelope = '"sessionId":"s1","cwd":"/w","timestamp":"2026-03-01T10:00:00.000Z","uuid":"u9"'
    usage = '{"input_tokens":5,"output_tokens":7}'
    inner = f'{{"type":"assistant","requestId":"r9","message":{{"id":"m9","model":"claude-x","usage":{usage}}}}}'
    untyped = inner.replace('"type":"assistant",', "")  # no activity marker left: only `usage` tells
    synthetic = [
        f'{{"type":"progress","data":{{"type":"bash_progress","output":"ok"}},{envelope}}}'.encode(),
        f'{{"type":"progress","data":{{"type":"agent_progress","message":{inner}}},{envelope}}}'.encode(),
        f'{{"type": "assistant", "requestId":"r1","message":{{"id":"m1","model":"claude-x","content":[{{"type":"text","text":"hi"}}]}},{envelope}}}'.encode(),  # noqa: E501
        f'{{"type":"file-history-snapshot","messageId":"m2","snapshot":{{}},{envelope}}}'.encode(),
        b'{"type":"progress","data":{"output":"\xff\xfe"},"uuid":"u3"}',
        b'{"type":"progress","data":{"output":[1,2,}}',
        b'{"type":"queue-operation","operation":"enqueue","content":"caf\xc3\xa9"}',
        b'{"message":{"id":"m4","model":"claude-x","usage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-03-01T10:00:00Z"}',
        b'["not", "an", "object"]',
        b'{"type":42}',
        f'{{"type":"progress","data":{{"message":{untyped}}},{envelope}}}'.encode(),
        f'{{"data":{{"type":"progress"}},"type":"user","message":{{"role":"user","content":"hello"}},{envelope}}}'.encode(),
    ]
    lines = _fixture_lines() + synthetic
    file = SourceFile(path=MAIN, mode="append")
    numbered = list(enumerate(lines, 1))
    fast = split(claude._TranscriptParser(file, {}).parse(numbered))
    skipped = [raw for raw in lines if claude._yields_nothing(raw)]
    monkeypatch.setattr(claude, "_yields_nothing", lambda raw: False)
    full = split(claude._TranscriptParser(file, {}).parse(numbered))
    assert fast == full
    for raw in skipped:
        assert split(claude._TranscriptParser(file, {}).parse([(1, raw)])) == ([], []), raw
    assert synthetic[0] in skipped and synthetic[3] in skipped and synthetic[6] in skipped
    assert not {synthetic[i] for i in (1, 2, 4, 5, 7, 8, 10, 11)} & set(skipped)
    assert len(full[1]) >= 3  # the invalid UTF-8, the malformed line and the array are still reported


def test_a_slash_command_is_stored_as_typed(tmp_path: Path) -> None:
    markup = "<command-message>model</command-message>\n<command-name>/model</command-name>\n"
    markup += "<command-args>opus</command-args>"
    bare = "<command-name>/clear</command-name>\n<command-message>clear</command-message>\n"
    bare += "<command-args></command-args>"
    envelope = {"sessionId": "s1", "cwd": "/w", "timestamp": "2026-03-01T10:00:00.000Z"}
    lines = [
        {**envelope, "type": "user", "uuid": f"u{n}", "message": {"role": "user", "content": text}}
        for n, text in enumerate([markup, bare])
    ]
    path = tmp_path / "s1.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    prompts = of(events_of(path), "prompt")
    expected = [("/model opus", "/model"), ("/clear", "/clear")]
    assert [(p.text, p.attrs.get("slash_command")) for p in prompts] == expected


def test_shell_mode_and_interrupt_markers(tmp_path: Path) -> None:
    """`!ls` is stored as typed; its output and the marker of an interrupted reply are nobody's prompt."""
    envelope = {"sessionId": "s1", "cwd": "/w", "timestamp": "2026-03-01T10:00:00.000Z"}
    contents: list[object] = [
        "<bash-input>ls -la</bash-input>",
        "<bash-stdout>total 0\ndrwxr-xr-x 2 dev dev 40 .</bash-stdout><bash-stderr></bash-stderr>",
        [{"type": "text", "text": "[Request interrupted by user]"}],
        [{"type": "text", "text": "[Request interrupted by user for tool use]"}],
        "<bash-input>  </bash-input>",  # nothing typed: kept as written
        "please look at [Request interrupted by user] in the logs",  # typed text that mentions it
    ]
    lines = [
        {**envelope, "type": "user", "uuid": f"u{n}", "message": {"role": "user", "content": content}}
        for n, content in enumerate(contents)
    ]
    path = tmp_path / "s1.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    prompts = of(events_of(path), "prompt")
    assert [(p.text, p.attrs.get("shell_mode")) for p in prompts] == [
        ("!ls -la", True),
        ("<bash-input>  </bash-input>", None),
        ("please look at [Request interrupted by user] in the logs", None),
    ]


def test_a_lone_surrogate_escape_costs_one_character_not_the_line(tmp_path: Path) -> None:
    """JavaScript writes a string cut mid-emoji as `\\ud83d`: the line is read with U+FFFD there."""
    base = {"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": "/home/dev/x",
            "sessionId": S1, "version": "2.1.90"}  # fmt: skip
    prompt = {**base, "type": "user", "uuid": "u1", "timestamp": "2026-03-01T10:00:00.000Z",
              "message": {"role": "user", "content": "cut CUT here"}}  # fmt: skip
    reply = {**base, "type": "assistant", "uuid": "u2", "timestamp": "2026-03-01T10:00:01.000Z", "requestId": "r1",
             "message": {"id": "m1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                         "content": [{"type": "text", "text": "done CUT"}], "stop_reason": "end_turn",
                         "usage": {"input_tokens": 10, "output_tokens": 5}}}  # fmt: skip
    path = tmp_path / f"{S1}.jsonl"
    lines = [json.dumps(r, separators=(",", ":")).replace("CUT", "\\ud83d") for r in (prompt, reply)]
    path.write_text("\n".join(lines) + "\n")
    events, problems = parse(ClaudeCodeSource([]), SourceFile(path=path, mode="append"))
    assert problems == []
    assert [e.text for e in of(events, "prompt")] == ["cut \ufffd here"]
    assert "done \ufffd" in [e.text for e in of(events, "response")]
    assert sum(e.usage.total for e in usage_records(events)) == 15  # (ccusage skips such a line: docs/sources.md)


def test_one_hour_cache_writes_and_web_searches_are_recorded(tmp_path: Path) -> None:
    usage = {
        "input_tokens": 12,
        "output_tokens": 40,
        "cache_creation_input_tokens": 3000,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
        "server_tool_use": {"web_search_requests": 3, "web_fetch_requests": 1},
    }
    record = {
        "type": "assistant", "uuid": "u-search", "sessionId": "s-search", "timestamp": "2026-04-01T12:00:00Z",
        "cwd": "/home/dev/acme-api", "version": "2.1.90", "requestId": "req_search",
        "message": {"id": "msg_search", "model": "claude-sonnet-4-5-20250929", "usage": usage,
                    "content": [{"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
                                 "input": {"query": "sqlite wal"}}]},
    }  # fmt: skip
    path = tmp_path / "projects" / "-home-dev-acme-api" / "s-search.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record) + "\n")
    [counted] = usage_records(events_of(path))
    assert counted.attrs["cache_creation_1h_tokens"] == 2000 and counted.attrs["web_search_requests"] == 3
    assert counted.usage is not None and counted.usage.cache_creation_tokens == 3000


def test_cache_writes_given_only_as_their_split_are_counted_as_its_sum(tmp_path: Path) -> None:
    """A usage with `cache_creation` (5 min / 1 h) but no `cache_creation_input_tokens`: ccusage counts
    the split's sum, devlog counted 0."""
    usage = {"input_tokens": 5, "output_tokens": 7, "cache_read_input_tokens": 100,
             "cache_creation": {"ephemeral_5m_input_tokens": 4000, "ephemeral_1h_input_tokens": 5000}}  # fmt: skip
    record = {
        "type": "assistant", "uuid": "u-split", "sessionId": "s-split", "timestamp": "2026-04-01T12:00:00Z",
        "cwd": "/home/dev/acme-api", "version": "2.1.90", "requestId": "req_split",
        "message": {"id": "msg_split", "model": "claude-sonnet-4-5-20250929", "usage": usage,
                    "content": [{"type": "text", "text": "ok"}]},
    }  # fmt: skip
    path = tmp_path / "projects" / "-home-dev-acme-api" / "s-split.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record) + "\n")
    [counted] = usage_records(events_of(path))
    assert counted.usage is not None and counted.usage.cache_creation_tokens == 9000
    assert counted.attrs["cache_creation_1h_tokens"] == 5000


_BAD_COUNT = "usage not counted: `{}` is not a non-negative integer"
_MISSING = "usage not counted: `input_tokens`/`output_tokens` missing"
_SPLIT = {"ephemeral_5m_input_tokens": 4, "ephemeral_1h_input_tokens": 6}


@pytest.mark.parametrize(
    ("usage", "counted"),
    [
        ({"input_tokens": 3, "output_tokens": 5}, (3, 5, 0, 0)),
        ({"input_tokens": 3, "output_tokens": 5, "cache_read_input_tokens": 7, "service_tier": "x"}, (3, 5, 0, 7)),
        ({"input_tokens": 1, "output_tokens": 2, "cache_creation": _SPLIT}, (1, 2, 10, 0)),
        # Where the split is given, its sum is the cache writes' total, as ccusage counts them.
        ({"input_tokens": 1, "output_tokens": 2, "cache_creation_input_tokens": 9, "cache_creation": {}}, (1, 2, 0, 0)),
        (
            {"input_tokens": 1, "output_tokens": 2, "cache_creation_input_tokens": 9, "cache_creation": _SPLIT},
            (1, 2, 10, 0),
        ),
        (
            {"input_tokens": 1, "output_tokens": 2, "cache_creation_input_tokens": 9, "cache_creation": None},
            (1, 2, 9, 0),
        ),
        (
            {"input_tokens": 1, "output_tokens": 2, "cache_creation": {"ephemeral_1h_input_tokens": 3, "other": 50}},
            (1, 2, 3, 0),
        ),
        (
            {"input_tokens": 1, "output_tokens": 2, "cache_creation": {"ephemeral_5m_input_tokens": None}},
            _BAD_COUNT.format("cache_creation.ephemeral_5m_input_tokens"),
        ),
        (
            {"input_tokens": 1, "output_tokens": 2, "cache_creation": {"ephemeral_1h_input_tokens": -5}},
            _BAD_COUNT.format("cache_creation.ephemeral_1h_input_tokens"),
        ),
        (
            {"input_tokens": 1, "output_tokens": 2, "cache_creation": "900"},
            "usage not counted: `cache_creation` is not an object",
        ),
        ({"input_tokens": 2**70, "output_tokens": 1}, (2**70, 1, 0, 0)),  # (refused later, by the engine's bound)
        ({"input_tokens": True, "output_tokens": 1}, _BAD_COUNT.format("input_tokens")),
        ({"input_tokens": 1, "output_tokens": 1.0}, _BAD_COUNT.format("output_tokens")),
        (
            {"input_tokens": 1, "output_tokens": 1, "cache_creation_input_tokens": None},
            _BAD_COUNT.format("cache_creation_input_tokens"),
        ),
        (
            {"input_tokens": 1, "output_tokens": 1, "cache_read_input_tokens": -1},
            _BAD_COUNT.format("cache_read_input_tokens"),
        ),
        ({"input_tokens": "1", "output_tokens": -1}, _BAD_COUNT.format("input_tokens")),  # the first bad one
        ({"output_tokens": 1}, _MISSING),
        ({"input_tokens": 1, "cache_read_input_tokens": 1}, _MISSING),
    ],
)
def test_token_counts_are_checked_as_ccusage_counts_them(
    tmp_path: Path, usage: dict[str, object], counted: tuple[int, ...] | str
) -> None:
    record = {
        "type": "assistant", "sessionId": "s1", "timestamp": "2026-03-01T09:00:00.000Z", "cwd": "/w", "uuid": "u1",
        "version": "2.0.1", "requestId": "r1",
        "message": {"id": "m1", "model": "claude-x", "role": "assistant", "content": [], "usage": usage},
    }  # fmt: skip
    path = tmp_path / "s1.jsonl"
    path.write_text(json.dumps(record) + "\n")
    events, problems = parse(ClaudeCodeSource([]), SourceFile(path, "append"))
    usages = [e.usage for e in events if e.usage is not None]
    if isinstance(counted, str):
        assert usages == [] and [(p.position, p.message) for p in problems] == [("line 1", counted)]
    else:
        assert problems == [] and len(usages) == 1
        u = usages[0]
        assert (u.input_tokens, u.output_tokens, u.cache_creation_tokens, u.cache_read_tokens) == counted


def test_each_lines_session_folder_version_and_branch_are_its_own_when_they_change_line_by_line(
    tmp_path: Path,
) -> None:
    """Consecutive lines usually share these (and reuse the previous line's fields): a change in any
    one of them, and a change back, is each line's own."""
    contexts = [("s1", "/a", "main", "2.0.1"), ("s1", "/a", "main", "2.0.1"), ("s1", "/b", "main", "2.0.1"),
                ("s1", "/a", "main", "2.0.1"), ("s1", "/a", "dev", "2.0.1"), ("s2", "/a", "dev", "2.0.1"),
                ("s2", "/a", "dev", "2.0.2"), ("s1", "/a", "main", "2.0.1"), ("s1", "/b", "main", "2.0.1")]  # fmt: skip
    lines = [
        {"type": "user", "sessionId": session, "cwd": cwd, "gitBranch": branch, "version": version,
         "uuid": f"u{n}", "timestamp": f"2026-03-01T09:00:{n:02d}.000Z",
         "message": {"role": "user", "content": f"prompt {n}"}}
        for n, (session, cwd, branch, version) in enumerate(contexts)
    ]  # fmt: skip
    path = tmp_path / "s1.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    events, problems = parse(ClaudeCodeSource([]), SourceFile(path, "append"))
    prompts = {e.text: e for e in events if e.kind == "prompt"}
    assert problems == []
    for n, (session, cwd, branch, version) in enumerate(contexts):
        event = prompts[f"prompt {n}"]
        assert (event.session_id, event.workspace, event.git.branch if event.git else None, event.agent_version) == (
            session, cwd, branch, version,
        ), n  # fmt: skip


def test_a_sub_agents_tool_calls_results_and_edits_are_marked_as_its_replies_are(tmp_path: Path) -> None:
    """Only a sub-agent's prompts and replies carried `is_sidechain`: its tool calls, commands,
    results and edits could not be told from the main agent's (a new-user test)."""
    base = {"parentUuid": None, "isSidechain": True, "agentId": "a1b2", "userType": "external",
            "cwd": "/home/dev/x", "sessionId": S1, "version": "2.1.90"}  # fmt: skip
    call = {**base, "type": "assistant", "uuid": "u1", "timestamp": "2026-03-01T10:00:00.000Z", "requestId": "r1",
            "message": {"id": "m1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                        "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash",
                                     "input": {"command": "grep -rn retry ."}}],
                        "usage": {"input_tokens": 10, "output_tokens": 5}}}  # fmt: skip
    result = {**base, "type": "user", "uuid": "u2", "timestamp": "2026-03-01T10:00:01.000Z",
              "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                                       "content": "client.py:3: RETRIES = 3"}]}}  # fmt: skip
    main = {**call, "isSidechain": False, "uuid": "u3", "requestId": "r2", "agentId": None,
            "message": {**call["message"], "id": "m2", "content": [{"type": "tool_use", "id": "toolu_2",
                        "name": "Bash", "input": {"command": "ls"}}]}}  # fmt: skip
    # Its task and a text reply: they carried `is_sidechain` but not `agent_id` (a later new-user test).
    task = {**base, "type": "user", "uuid": "u0", "timestamp": "2026-03-01T09:59:59.000Z",
            "message": {"role": "user", "content": "Survey the retry code"}}  # fmt: skip
    reply = {
        **call,
        "uuid": "u4",
        "timestamp": "2026-03-01T10:00:02.000Z",
        "requestId": "r3",
        "message": {**call["message"], "id": "m3", "content": [{"type": "text", "text": "RETRIES is 3"}]},
    }
    path = tmp_path / f"{S1}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in (task, call, result, reply, main)))
    events = events_of(path)
    marked = {(e.kind, e.tool.call_id if e.tool else e.text): e.attrs.get("agent_id") for e in events
              if e.attrs.get("is_sidechain") is True}  # fmt: skip
    assert marked == {
        ("tool_call", "toolu_1"): "a1b2", ("command", "toolu_1"): "a1b2", ("tool_result", "toolu_1"): "a1b2",
        ("prompt", "Survey the retry code"): "a1b2", ("response", "RETRIES is 3"): "a1b2",
        ("response", None): "a1b2",  # (the usage record of the first reply)
    }  # fmt: skip
    assert not any(e.attrs.get("is_sidechain") for e in events if e.tool and e.tool.call_id == "toolu_2")
