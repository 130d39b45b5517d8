"""Codex source: discovery (active vs archived), message channels, tools, patches, token deltas."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from devlog_collector.sources import load_source_class
from devlog_collector.sources.base import SourceFile
from devlog_collector.sources.codex import CodexSource, patch_files
from devlog_shared import Event, FileInfo, event_id
from tests.collector.collect_helpers import agent_config
from tests.collector.sources.contract import check_fixture, check_garbage, parse, parse_chunked, split

FIXTURES = Path(__file__).parents[2] / "fixtures" / "codex" / "home"
A = "019cae10-7b1e-7c3a-9f00-2c5b6e1d8a41"
CHILD = "019cae11-1c2d-7e3f-8a9b-0c1d2e3f4a5b"
MAIN = FIXTURES / "sessions" / "2026" / "03" / "02" / f"rollout-2026-03-02T09-20-00-{A}.jsonl"
FORK = FIXTURES / "sessions" / "2026" / "03" / "02" / f"rollout-2026-03-02T09-30-00-{CHILD}.jsonl"
EARLY = (
    FIXTURES
    / "sessions"
    / "2025"
    / "09"
    / "10"
    / "rollout-2025-09-10T16-00-00-01994a2b-3c4d-7e5f-8a6b-7c8d9e0f1a2b.jsonl"
)
LEGACY = FIXTURES / "sessions" / "2025" / "08" / "01" / "rollout-2025-08-01-5973b6c0-94b8-487b-a530-2aeb6098ae0e.jsonl"


def events_of(path: Path) -> list[Event]:
    events, _ = parse(CodexSource([]), SourceFile(path=path, mode="append"))
    return events


def of(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e.kind == kind]


def usage_rows(events: list[Event]) -> list[tuple[str, str | None, int, int, int, int]]:
    return [
        (
            e.ts.isoformat(),
            e.model,
            e.usage.input_tokens,
            e.usage.cache_read_tokens,
            e.usage.output_tokens,
            e.usage.reasoning_tokens,
        )
        for e in events
        if e.usage is not None
    ]


def test_registered_under_codex() -> None:
    assert load_source_class("codex") is CodexSource


def test_default_roots_honour_codex_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "cx"))
    assert CodexSource.default_roots() == [tmp_path / "cx"]
    monkeypatch.delenv("CODEX_HOME")
    assert CodexSource.default_roots() == [Path.home() / ".codex"]


def test_discovery_prefers_the_active_copy(tmp_path: Path) -> None:
    home = tmp_path / "codex"
    shutil.copytree(FIXTURES, home)
    (home / "sessions" / "notes.jsonl").write_text("")  # not a rollout
    found = [f.path.relative_to(home).as_posix() for f in CodexSource([home, home]).discover()]
    assert found == [
        "sessions/2025/08/01/rollout-2025-08-01-5973b6c0-94b8-487b-a530-2aeb6098ae0e.jsonl",
        "sessions/2025/09/10/rollout-2025-09-10T16-00-00-01994a2b-3c4d-7e5f-8a6b-7c8d9e0f1a2b.jsonl",
        f"sessions/2026/03/02/rollout-2026-03-02T09-20-00-{A}.jsonl",
        f"sessions/2026/03/02/rollout-2026-03-02T09-30-00-{CHILD}.jsonl",
        # archived_sessions/2026/03/02/... has an active copy at the same relative path: skipped
        "archived_sessions/rollout-2025-09-10T16-00-00-01994a2b-3c4d-7e5f-8a6b-7c8d9e0f1a2b.jsonl",
        "archived_sessions/rollout-2026-02-20T11-00-00-019c8a00-0000-7000-8000-00000000a1c7.jsonl",
    ]


def test_every_fixture_meets_the_contract() -> None:
    source = CodexSource([FIXTURES])
    for file in source.discover():
        check_fixture(source, file, unique_ids=False)  # the two channels of one message share an id


def test_garbage_lines_are_problems() -> None:
    check_garbage(CodexSource([]), SourceFile(path=Path("rollout-x.jsonl"), mode="append"))


def test_bad_lines_are_reported() -> None:
    _, problems = parse(CodexSource([]), SourceFile(MAIN, "append"))
    assert [(p.position, p.message.split(":")[0]) for p in problems] == [
        ("line 38", "invalid JSON"),
        ("line 39", "line is not valid UTF-8"),
        ("line 40", "`event_msg` line without a payload object"),
    ]


def test_session_metadata() -> None:
    events = events_of(MAIN)
    (start,) = {e.id: e for e in of(events, "session_start")}.values()
    assert start.id == event_id("codex", A, "session")
    assert start.attrs == {"originator": "codex_cli_rs", "model_provider": "openai", "source_kind": "cli"}
    prompt = of(events, "prompt")[0]
    assert (prompt.session_id, prompt.workspace, prompt.agent_version) == (A, "/home/dev/acme-api", "0.118.0")
    assert prompt.git is not None
    assert (prompt.git.remote, prompt.git.branch, prompt.git.commit) == (
        "git@example.com:acme/api.git",
        "main",
        "3f9c1e2a7b",
    )


def test_forked_child_keeps_its_own_identity() -> None:
    events = events_of(FORK)
    (start,) = of(events, "session_start")
    assert start.session_id == CHILD
    assert start.attrs["subagent"] is True and start.attrs["parent_session"] == A
    assert start.attrs["agent_nickname"] == "Reviewer"


def test_messages_once_per_message_despite_two_channels() -> None:
    events = events_of(MAIN)
    prompts = {e.id: e.text for e in of(events, "prompt")}
    responses = {e.id: e.text for e in of(events, "response") if e.text}
    assert sorted(prompts.values()) == [
        "one more run please",
        "run the tests and fix what fails",
        "run the tests and fix what fails",  # typed again in the second turn: a second prompt
    ]
    assert list(responses.values()) == ["Fixed: the health route is registered in create_app; 2 tests pass."]
    response = next(e for e in of(events, "response") if e.text)
    assert response.model == "gpt-5.3-codex"


def test_tools_commands_and_results() -> None:
    events = events_of(MAIN)
    calls = {e.tool.call_id: e for e in of(events, "tool_call") if e.tool}
    assert {k: v.tool.name for k, v in calls.items() if v.tool} == {
        "call_Yx3pytest": "exec_command",
        "call_Pt4patch": "apply_patch",
        "call_Sh5shell": "shell",
        "call_Mc6mcp": "mcp__docs__search",
    }
    assert calls["call_Yx3pytest"].attrs == {"input": {"workdir": "/home/dev/acme-api"}}
    commands = of(events, "command")
    assert [(c.text, c.parent_id) for c in commands] == [
        ("pytest -q", calls["call_Yx3pytest"].id),
        ("pytest -q", calls["call_Sh5shell"].id),
    ]
    results = {e.tool.call_id: e for e in of(events, "tool_result") if e.tool}
    pytest_result = results["call_Yx3pytest"]
    assert pytest_result.tool is not None
    assert (pytest_result.tool.name, pytest_result.tool.status, pytest_result.attrs) == (
        "exec_command",
        "error",
        {"exit_code": 1},
    )
    assert pytest_result.text == "F.\n1 failed, 1 passed in 0.40s\n"
    assert pytest_result.parent_id == calls["call_Yx3pytest"].id
    shell_result = results["call_Sh5shell"]
    assert shell_result.tool is not None and shell_result.tool.status == "ok" and shell_result.attrs == {"exit_code": 0}


def test_apply_patch_file_edits() -> None:
    edits = of(events_of(MAIN), "file_edit")
    # Codex writes paths relative to the session's folder (/home/dev/acme-api): stored absolute
    assert [(e.attrs["action"], e.file) for e in edits] == [
        ("update", FileInfo(path="/home/dev/acme-api/app.py", lines_added=2, lines_removed=1)),
        ("add", FileInfo(path="/home/dev/acme-api/tests/test_ready.py", lines_added=2, lines_removed=0)),
        ("delete", FileInfo(path="/home/dev/acme-api/old_probe.py", lines_added=0, lines_removed=0)),
        ("update", FileInfo(path="/home/dev/acme-api/acme/probes.py", lines_added=1, lines_removed=1)),
    ]
    assert edits[3].attrs["moved_from"] == "/home/dev/acme-api/probes.py"
    patch = "*** Begin Patch\n*** Add File: a.txt\n+x\n*** End Patch\n+stray"
    assert patch_files(patch) == [("add", "a.txt", 1, 0, None)]
    moved = "*** Begin Patch\n*** Update File: x.py\n*** Move to: y/x.py\n-a\n+b\n*** End Patch"
    assert patch_files(moved) == [("update", "y/x.py", 1, 1, "x.py")]
    assert patch_files("not a patch") == []


@pytest.mark.parametrize(
    ("path", "cwd", "expected"),
    [
        ("src/a.py", "/home/dev/app", "/home/dev/app/src/a.py"),
        ("../lib/b.py", "/home/dev/app", "/home/dev/lib/b.py"),
        ("/etc/hosts", "/home/dev/app", "/etc/hosts"),
        ("src\\a.py", "C:\\work\\app", "C:\\work\\app\\src\\a.py"),
        ("a.py", None, "a.py"),
    ],
)
def test_patch_paths_become_absolute_in_the_session_folder(path: str, cwd: str | None, expected: str) -> None:
    from devlog_collector.sources.codex import _in_workspace

    assert _in_workspace(path, cwd) == expected


def test_errors() -> None:
    errors = of(events_of(MAIN), "error")
    assert [(e.attrs["subtype"], e.text) for e in errors] == [
        ("stream_error", "Reconnecting... 1/5 (stream disconnected before completion)"),
        ("error", "unexpected status 401 Unauthorized"),
    ]


def test_token_deltas_follow_ccusage() -> None:
    assert usage_rows(events_of(MAIN)) == [
        ("2026-03-02T09:20:08.200000+00:00", "gpt-5.3-codex", 534, 11776, 188, 64),
        # 09:20:08.900 repeats the same totals: skipped; info null: skipped
        ("2026-03-02T09:20:15.100000+00:00", "gpt-5.3-codex", 714, 11776, 422, 256),
        ("2026-03-02T09:20:20.100000+00:00", "gpt-5.3-codex", 1024, 11776, 240, 64),
        ("2026-03-02T09:20:22.100000+00:00", "gpt-5.3-codex", 1124, 11776, 170, 64),
        # compaction: the total went down, the call's own usage comes from last_token_usage
        ("2026-03-02T09:25:04+00:00", "gpt-5.2-codex", 4904, 4096, 300, 100),
        # no last_token_usage: the delta of totals
        ("2026-03-03T00:00:03+00:00", "gpt-5.2-codex", 3808, 8192, 400, 100),
        ("2026-03-03T00:00:09+00:00", "gpt-5.3-codex", 808, 8192, 200, 60),
    ]


def test_missing_model_falls_back_to_gpt5() -> None:
    events = [e for e in events_of(EARLY) if e.usage is not None]
    assert [(e.model, e.attrs.get("model_fallback")) for e in events] == [("gpt-5", True), ("gpt-5", True)]


def test_fork_replay_burst_is_not_counted() -> None:
    rows = usage_rows(events_of(FORK))
    assert rows == [
        ("2026-03-02T09:30:04+00:00", "gpt-5.3-codex-mini", 840, 2560, 140, 36),
        ("2026-03-02T09:30:05.100000+00:00", "gpt-5.3-codex-mini", 540, 2560, 60, 16),
    ]


def _tc(ts: str, total: tuple[int, int, int, int]) -> bytes:
    usage = dict(
        zip(("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens"), total, strict=True)
    )
    line = {
        "timestamp": ts,
        "type": "event_msg",
        "payload": {"type": "token_count", "info": {"total_token_usage": usage}},
    }
    return msgspec.json.encode(line)


def _meta(fork: bool) -> bytes:
    source: Any = {"subagent": {"thread_spawn": {"parent_thread_id": "p", "depth": 1}}} if fork else "cli"
    payload = {"id": "c", "timestamp": "2026-03-05T10:00:00Z", "cwd": "/w", "source": source}
    line = {"timestamp": "2026-03-05T10:00:00.000Z", "type": "session_meta", "payload": payload}
    return json.dumps(line, separators=(",", ":")).encode()


def test_fork_without_burst_counts_its_first_row_when_a_later_line_arrives(tmp_path: Path) -> None:
    path = tmp_path / "rollout-2026-03-05T10-00-00-c.jsonl"
    lines = [_meta(True), _tc("2026-03-05T10:00:01.000Z", (100, 0, 10, 0))]
    path.write_bytes(b"\n".join(lines) + b"\n")
    file = SourceFile(path, "append")
    events, _ = parse(CodexSource([]), file)
    assert [e for e in events if e.usage] == []  # held: a second row in the same second would make it a replay
    later = {"timestamp": "2026-03-05T10:00:03.000Z", "type": "event_msg", "payload": {"type": "task_complete"}}
    path.write_bytes(path.read_bytes() + json.dumps(later).encode() + b"\n")
    events, _ = parse_chunked(CodexSource([]), file)
    assert usage_rows(events) == [("2026-03-05T10:00:01+00:00", "gpt-5", 100, 0, 10, 0)]


def test_a_sub_agent_thread_with_one_usage_row_counts_it_once_nothing_more_comes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sub-agent that made one model call writes one `token_count` and finishes 10 ms later: the
    row was held for ever (ccusage counts it), however often devlog collected (a new-user test).
    The engine asks the source again once the row is `REPLAY_QUIET_MS` old and the file holds
    nothing new; a history read counts it in the same pass, a live read once that time has come."""
    import os
    import sqlite3

    from devlog_collector.sources import codex
    from tests.collector.collect_helpers import agent_config, collect

    day = tmp_path / "codex" / "sessions" / "2026" / "03" / "05"
    day.mkdir(parents=True)
    path = day / "rollout-2026-03-05T10-00-00-c.jsonl"
    done = {"timestamp": "2026-03-05T10:00:01.010Z", "type": "event_msg", "payload": {"type": "task_complete"}}
    path.write_bytes(b"\n".join([_meta(True), _tc("2026-03-05T10:00:01.000Z", (9000, 0, 120, 40)),
                                  json.dumps(done).encode()]) + b"\n")  # fmt: skip
    os.utime(path, (1_700_000_000, 1_700_000_000))
    config = agent_config("codex", tmp_path / "codex", tmp_path / "store")

    def tokens() -> list[tuple[int, int]]:
        db = sqlite3.connect(config.storage.db_path())
        rows = db.execute("SELECT input_tokens, output_tokens FROM events WHERE input_tokens > 0").fetchall()
        db.close()
        return rows

    collect(config)
    assert tokens() == [(9000, 120)]
    assert collect(config).files_read == 0  # (decided: nothing held any more)
    assert tokens() == [(9000, 120)]

    # live: the row is held while a replay burst could still follow it, then counted
    live = day / "rollout-2026-03-05T11-00-00-d.jsonl"
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now - 2))
    live.write_bytes(b"\n".join([_meta(True), _tc(stamp, (500, 0, 5, 0))]) + b"\n")
    os.utime(live, (now - 5, now - 5))
    collect(config)
    assert tokens() == [(9000, 120)]  # held
    assert collect(config).files_read == 0  # (not looked at again before its time)
    # ten seconds on: the engine's time to look again has come, and the row is old enough
    db = sqlite3.connect(config.storage.db_path())
    (state,) = db.execute("SELECT state FROM collect_cursors WHERE path = ?", (str(live),)).fetchone()
    held = json.loads(state)
    assert held["recheck_after_ms"] > now * 1000
    db.execute("UPDATE collect_cursors SET state = ? WHERE path = ?",
               (type(state)(json.dumps({**held, "recheck_after_ms": 1}).encode()), str(live)))  # fmt: skip
    db.commit()
    db.close()
    monkeypatch.setattr(codex, "REPLAY_QUIET_MS", 0)
    assert collect(config).files_read == 1
    assert sorted(tokens()) == [(500, 5), (9000, 120)]
    assert collect(config).files_read == 0


def test_a_fork_copied_in_while_it_is_read_counts_its_burst_once(tmp_path: Path) -> None:
    """A forked rollout copied into the sessions folder holds old times while the copy still writes
    it: a read that saw only its first row counted that row (old by its time), and the rest of the
    burst then as usage (an adversarial test). The file's own quiet decides now, not the row's time."""
    import os
    import sqlite3

    from tests.collector.collect_helpers import agent_config, collect

    day = tmp_path / "codex" / "sessions" / "2026" / "03" / "05"
    day.mkdir(parents=True)
    head = [_meta(True), _tc("2026-03-05T10:00:01.000Z", (100, 0, 10, 0))]
    rest = [_tc("2026-03-05T10:00:01.200Z", (300, 0, 30, 0)), _tc("2026-03-05T10:00:01.400Z", (500, 0, 50, 0)),
            _tc("2026-03-05T10:00:09.000Z", (800, 0, 90, 0))]  # fmt: skip
    copying = day / "rollout-2026-03-05T10-00-00-c.jsonl"
    copying.write_bytes(b"\n".join(head) + b"\n")  # (written just now: the copy goes on)
    config = agent_config("codex", tmp_path / "codex", tmp_path / "store")
    collect(config)
    with copying.open("ab") as handle:
        handle.write(b"\n".join(rest) + b"\n")
    old = time.time() - 60
    os.utime(copying, (old, old))
    collect(config)
    fresh = agent_config("codex", tmp_path / "codex", tmp_path / "fresh")
    collect(fresh)

    def usage(config: Any) -> list[tuple[int, int]]:
        db = sqlite3.connect(config.storage.db_path())
        query = "SELECT input_tokens, output_tokens FROM events WHERE input_tokens > 0 ORDER BY ts"
        rows = db.execute(query).fetchall()
        db.close()
        return rows

    assert usage(config) == usage(fresh) == [(300, 40)]  # (the burst of three only moves the baseline)


def test_no_replay_skipping_outside_forks(tmp_path: Path) -> None:
    path = tmp_path / "rollout-2026-03-05T10-00-00-c.jsonl"
    lines = [
        _meta(False),
        _tc("2026-03-05T10:00:01.000Z", (100, 0, 10, 0)),
        _tc("2026-03-05T10:00:01.500Z", (150, 0, 20, 0)),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    events, _ = parse(CodexSource([]), SourceFile(path, "append"))
    assert [r[2:] for r in usage_rows(events)] == [(100, 0, 10, 0), (50, 0, 10, 0)]


def test_usage_ids_ignore_the_file_so_copies_collapse() -> None:
    archived = FIXTURES / "archived_sessions" / "rollout-2025-09-10T16-00-00-01994a2b-3c4d-7e5f-8a6b-7c8d9e0f1a2b.jsonl"
    active = {e.id for e in events_of(EARLY) if e.usage}
    assert active and active == {e.id for e in events_of(archived) if e.usage}
    assert {e.id for e in events_of(EARLY)} == {e.id for e in events_of(archived)}


def test_legacy_rollout_without_envelopes() -> None:
    events = events_of(LEGACY)
    assert [e.kind for e in events] == ["session_start", "prompt", "tool_call", "command", "tool_result", "response"]
    assert events[1].text == "add type hints to utils.py"
    assert events[3].text == "sed -n 1,40p utils.py"
    assert all(e.ts.isoformat() == "2025-08-01T12:00:00+00:00" for e in events)


def _legacy_lines(*, environment: bool) -> list[dict[str, Any]]:
    context = (
        "<environment_context>\n  <cwd>/home/dev/old proj</cwd>\n  <approval_policy>on-request</approval_policy>\n"
    )
    lines: list[dict[str, Any]] = [
        {"id": "5973b6c0-94b8-487b-a530-2aeb6098ae0f", "timestamp": "2025-07-20T09:00:00.000Z", "instructions": None},
        {"record_type": "state"},
    ]
    if environment:
        lines.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": context}]})
    lines += [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list files"}]},
        {"type": "message", "id": "m1", "role": "assistant", "content": [{"type": "output_text", "text": "Two."}]},
    ]
    return lines


def test_an_older_rollout_takes_its_workspace_from_the_environment_context(tmp_path: Path) -> None:
    """Rollouts from before `cwd` was in the meta name the folder only in `<environment_context>`:
    every event, the session start included, carries it (export rules select by workspace)."""
    path = tmp_path / "rollout-2025-07-20T09-00-00-5973b6c0-94b8-487b-a530-2aeb6098ae0f.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in _legacy_lines(environment=True)))
    file = SourceFile(path=path, mode="append")
    events, problems = parse(CodexSource([]), file)
    assert problems == []
    assert [e.kind for e in events] == ["session_start", "prompt", "response"]
    assert {e.workspace for e in events} == {"/home/dev/old proj"}
    assert events[0].ts.isoformat() == "2025-07-20T09:00:00+00:00" and events[0].source.key == "line 1"
    # read a line at a time (the meta alone first), the state saved in between: the same events
    assert parse_chunked(CodexSource([]), file) == (events, [])


def test_an_older_rollout_without_an_environment_context_still_starts_its_session(tmp_path: Path) -> None:
    path = tmp_path / "rollout-2025-07-20T09-00-00-5973b6c0-94b8-487b-a530-2aeb6098ae0f.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in _legacy_lines(environment=False)))
    events, _ = parse(CodexSource([]), SourceFile(path=path, mode="append"))
    assert [(e.kind, e.workspace) for e in events] == [("session_start", None), ("prompt", None), ("response", None)]


def test_the_meta_cwd_wins_over_the_environment_context(tmp_path: Path) -> None:
    path = tmp_path / "rollout-2026-03-05T10-00-00-5973b6c0-94b8-487b-a530-2aeb6098ae0f.jsonl"
    lines = _legacy_lines(environment=True)
    lines[0] = {"timestamp": "2026-03-05T10:00:00.000Z", "type": "session_meta",
                "payload": {"id": "5973b6c0-94b8-487b-a530-2aeb6098ae0f", "cwd": "/home/dev/api"}}  # fmt: skip
    lines[2:] = [{"timestamp": "2026-03-05T10:00:01.000Z", "type": "response_item", "payload": p} for p in lines[2:]]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    events, _ = parse(CodexSource([]), SourceFile(path=path, mode="append"))
    assert [(e.kind, e.workspace) for e in events] == [
        ("session_start", "/home/dev/api"), ("prompt", "/home/dev/api"), ("response", "/home/dev/api"),
    ]  # fmt: skip


def test_user_context_is_not_a_prompt(tmp_path: Path) -> None:
    path = tmp_path / "rollout-x.jsonl"
    item = {
        "timestamp": "2026-03-05T10:00:00.000Z",
        "type": "response_item",
        "payload": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "# AGENTS.md instructions for /w\n..."}],
        },
    }
    events, problems = split(
        CodexSource([]).parse_lines(SourceFile(path, "append"), [(1, json.dumps(item).encode())], {})
    )
    assert (events, problems) == ([], [])


def test_a_remote_with_credentials_is_stored_without_them(tmp_path: Path) -> None:
    """Codex records `repository_url` as configured; a token in it must not reach the store."""
    from devlog_collector.collect import Collector
    from devlog_collector.store import Store, event_from_row

    home = tmp_path / "codex"
    target = home / MAIN.relative_to(FIXTURES)
    target.parent.mkdir(parents=True)
    token = "ghp_" + "abcdefghijklmnopqrstuvwxyz0123456789"
    url = f"https://alice:{token}@example.com/acme/api.git".encode()
    target.write_bytes(MAIN.read_bytes().replace(b"git@example.com:acme/api.git", url))
    config = agent_config("codex", home, tmp_path / "store")
    with Store.open(config.storage.db_path()) as store:
        Collector(store, config).collect()
        rows = store.db.execute("SELECT body, text FROM events").fetchall()
    remotes = {event.git.remote for event in (event_from_row(b, t) for b, t in rows) if event.git is not None}
    assert remotes == {"https://example.com/acme/api"}
    assert all(token not in bytes(body).decode() for body, _ in rows)


def test_a_lone_surrogate_escape_costs_one_character_not_the_line(tmp_path: Path) -> None:
    path = tmp_path / "rollout-2026-03-05T10-00-00-c.jsonl"
    message = {"timestamp": "2026-03-05T10:00:02.000Z", "type": "event_msg",
               "payload": {"type": "user_message", "message": "cut CUT here"}}  # fmt: skip
    lines = [_meta(False), json.dumps(message, separators=(",", ":")).replace("CUT", "\\ud83d").encode()]
    path.write_bytes(b"\n".join(lines) + b"\n")
    events, problems = parse(CodexSource([]), SourceFile(path, "append"))
    assert problems == []
    assert [e.text for e in of(events, "prompt")] == ["cut \ufffd here"]


def test_no_history_keeps_the_session_context_of_lines_appended_later(tmp_path: Path) -> None:
    """`start --no-history` marks existing rollouts as read: lines a session appends afterwards must
    get the folder, model, token deltas and ids a full collect gives them."""
    from devlog_collector.collect import Collector
    from devlog_collector.store import Store
    from tests.collector.collect_helpers import agent_config, collect

    rollout = FIXTURES / "sessions/2026/03/02/rollout-2026-03-02T09-20-00-019cae10-7b1e-7c3a-9f00-2c5b6e1d8a41.jsonl"
    lines = rollout.read_bytes().splitlines(keepends=True)
    split = 12  # after the session meta, the turn context and two cumulative token counts
    columns = "id, workspace, project, model, input_tokens, output_tokens, cache_read_tokens, reasoning_tokens"

    def stored(config: Any) -> set[tuple[Any, ...]]:
        db = sqlite3.connect(config.storage.db_path())
        try:
            return set(db.execute(f"SELECT {columns} FROM events"))
        finally:
            db.close()

    full_home, marked_home = tmp_path / "full", tmp_path / "marked"
    for home in (full_home, marked_home):
        target = home / "sessions" / "2026" / "03" / "02" / rollout.name
        target.parent.mkdir(parents=True)
    (full_home / "sessions" / "2026" / "03" / "02" / rollout.name).write_bytes(b"".join(lines))
    full = agent_config("codex", full_home, tmp_path / "full-store")
    collect(full)

    marked_file = marked_home / "sessions" / "2026" / "03" / "02" / rollout.name
    marked_file.write_bytes(b"".join(lines[:split]))
    marked = agent_config("codex", marked_home, tmp_path / "marked-store")
    with Store.open(marked.storage.db_path()) as store:
        collector = Collector(store, marked)
        assert collector.mark_current(collector.discover()) == 1
    assert stored(marked) == set()  # history is not stored
    with marked_file.open("ab") as handle:
        handle.write(b"".join(lines[split:]))
    collect(marked)
    later = stored(marked)
    assert later and later <= stored(full)  # same ids, folder, model and token deltas as a full collect
    assert any(row[4] for row in later) and {row[1] for row in later} != {None}


def _rollout(tmp_path: Path, payloads: list[tuple[str, dict[str, Any]]]) -> list[Event]:
    """Events of a current-format rollout made of a meta line and (type, payload) lines."""
    sid = "019cae20-0000-7000-8000-000000000001"
    meta = {"id": sid, "cwd": "/home/dev/api"}
    lines: list[dict[str, Any]] = [{"timestamp": "2026-03-05T10:00:00.000Z", "type": "session_meta", "payload": meta}]
    lines += [
        {"timestamp": f"2026-03-05T10:00:{n:02d}.000Z", "type": kind, "payload": payload}
        for n, (kind, payload) in enumerate(payloads, start=1)
    ]
    path = tmp_path / f"rollout-2026-03-05T10-00-00-{sid}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    events, problems = parse(CodexSource([]), SourceFile(path=path, mode="append"))
    assert problems == []
    return events


def test_a_prompt_with_an_image_is_one_prompt_on_both_channels(tmp_path: Path) -> None:
    """Newer builds wrap an attached image in `<image name=[Image #1]>` ... `</image>` text parts in the
    response item; the event copy has only the typed text. Both are the same prompt."""
    typed = "[Image #1]\n\nwhy is it unknown?"
    item = {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "<image name=[Image #1]>"},
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="},
        {"type": "input_text", "text": "</image>"},
        {"type": "input_text", "text": typed},
    ]}  # fmt: skip
    message = {"type": "user_message", "message": typed, "images": ["data:image/png;base64,iVBORw0KGgo="]}
    prompts = of(_rollout(tmp_path, [("response_item", item), ("event_msg", message)]), "prompt")
    assert {e.id: e.text for e in prompts} == {prompts[0].id: typed}  # one id: stored once


def test_an_aborted_turn_notice_is_not_a_prompt(tmp_path: Path) -> None:
    notice = "<turn_aborted>\nThe user interrupted the previous turn on purpose.\n</turn_aborted>"
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": notice}]}
    assert of(_rollout(tmp_path, [("response_item", item)]), "prompt") == []


PATCH = "*** Begin Patch\n*** Update File: src/a.py\n@@\n-x\n+y\n*** Add File: src/b.py\n+b\n*** End Patch\n"


@pytest.mark.parametrize(
    "arguments",
    [
        {"command": ["apply_patch", PATCH]},
        {"command": ["bash", "-lc", f"apply_patch <<'EOF'\n{PATCH}EOF\n"], "workdir": "/home/dev/api"},
    ],
    ids=["argv", "heredoc"],
)
def test_an_apply_patch_run_through_the_shell_tool_edits_files(tmp_path: Path, arguments: dict[str, Any]) -> None:
    call = {"type": "function_call", "name": "shell", "call_id": "call_sh1", "arguments": json.dumps(arguments)}
    applied = json.dumps({"output": "Success. Updated the following files:\nM src/a.py\nA src/b.py\n",
                          "metadata": {"exit_code": 0}})  # fmt: skip
    output = {"type": "function_call_output", "call_id": "call_sh1", "output": applied}
    events = _rollout(tmp_path, [("response_item", call), ("response_item", output)])
    kinds = ["session_start", "tool_call", "command", "file_edit", "file_edit", "tool_result"]
    assert [e.kind for e in events] == kinds
    edits = of(events, "file_edit")
    assert [(e.attrs["action"], e.file) for e in edits] == [
        ("update", FileInfo(path="/home/dev/api/src/a.py", lines_added=1, lines_removed=1)),
        ("add", FileInfo(path="/home/dev/api/src/b.py", lines_added=1, lines_removed=0)),
    ]
    assert {e.parent_id for e in edits} == {of(events, "tool_call")[0].id}


def test_a_patch_that_did_not_apply_is_no_edit(tmp_path: Path) -> None:
    """The edits wait for the output: a failed patch (exit code 1) was counted as edits."""
    call = {"type": "custom_tool_call", "name": "apply_patch", "call_id": "call_p1", "input": PATCH}
    failed = json.dumps({"output": "apply_patch verification failed: context not found", "metadata": {"exit_code": 1}})
    output = {"type": "custom_tool_call_output", "call_id": "call_p1", "output": failed}
    events = _rollout(tmp_path, [("response_item", call), ("response_item", output)])
    assert [e.kind for e in events] == ["session_start", "tool_call", "tool_result"]
    assert of(events, "tool_result")[0].tool.status == "error"  # type: ignore[union-attr]
    # and one with no output (the file ends at the call): no edit is claimed yet
    assert of(_rollout(tmp_path / "open", [("response_item", call)]), "file_edit") == []


def test_the_exit_code_of_the_unified_exec_tool_is_read_from_its_header(tmp_path: Path) -> None:
    """Current Codex writes `Chunk ID:` and `Wall time:` before `Process exited with code N`: a failed
    command was shown as ok."""
    call = {"type": "function_call", "name": "exec_command", "call_id": "call_x1",
            "arguments": json.dumps({"cmd": "pytest -q"})}  # fmt: skip
    header = "Chunk ID: 9a1f2c\nWall time: 5.7301 seconds\nProcess exited with code 1\nOriginal token count: 31\n"
    results = []
    for n, body in enumerate(
        [header + "Output:\nF....\n1 failed, 4 passed", "aborted", "Output:\nProcess exited with code 3"]
    ):
        output = {"type": "function_call_output", "call_id": "call_x1", "output": body}
        [result] = of(_rollout(tmp_path / str(n), [("response_item", call), ("response_item", output)]), "tool_result")
        results.append((result.tool.status, result.attrs.get("exit_code")))  # type: ignore[union-attr]
    # (a line that only looks like a header inside the command's output says nothing)
    assert results == [("error", 1), ("cancelled", None), ("ok", None)]


def test_a_shell_command_that_only_mentions_apply_patch_edits_nothing(tmp_path: Path) -> None:
    arguments = {"command": ["bash", "-lc", "grep -rn apply_patch docs/"]}
    call = {"type": "function_call", "name": "shell", "call_id": "call_sh2", "arguments": json.dumps(arguments)}
    assert of(_rollout(tmp_path, [("response_item", call)]), "file_edit") == []


def test_a_web_search_and_a_local_shell_call_carry_their_query_and_command(tmp_path: Path) -> None:
    """Both were empty tool calls in `show` and invisible to `--search`."""
    search = {"type": "web_search_call", "id": "ws_1", "status": "completed",
              "action": {"type": "search", "query": "pytest KeyError dict.get idiom"}}  # fmt: skip
    shell = {"type": "local_shell_call", "call_id": "ls_1", "status": "completed",
             "action": {"type": "exec", "command": ["rg", "-n", "get_user", "src"]}}  # fmt: skip
    events = _rollout(tmp_path, [("response_item", search), ("response_item", shell)])
    calls = {e.tool.name: e.text for e in of(events, "tool_call")}  # type: ignore[union-attr]
    assert json.loads(calls["web_search"] or "") == {"query": "pytest KeyError dict.get idiom"}
    assert json.loads(calls["local_shell"] or "")["command"] == ["rg", "-n", "get_user", "src"]
    assert [e.text for e in of(events, "command")] == ["rg -n get_user src"]
