"""Daily token totals of Claude Code and Codex logs must equal what ccusage reports for the same files.

ccusage is the tool users already run over these logs, so devlog's numbers are checked against it:
the fixtures are collected by the real engine into a real store, the store's usage is summed per UTC
day, and `ccusage <agent> daily --json --offline` (TZ=UTC) is run over the same folders.

The binary comes from `scripts/install-ccusage.sh` (pinned version, installed into `.tools/`); CI
exports its path in `DEVLOG_CCUSAGE`. Without it the test is skipped locally and FAILS under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any, Final

import pytest

from devlog_collector.collect import Collector
from devlog_collector.config import parse_config
from devlog_collector.store import Store

REPO: Final = Path(__file__).parents[3]
FIXTURES: Final = REPO / "tests" / "fixtures"
# Read at import: the autouse isolation fixture clears DEVLOG_* variables before each test.
_ENV_BINARY: Final = os.environ.get("DEVLOG_CCUSAGE")
_LOCAL_BINARY: Final = REPO / ".tools" / "ccusage" / "node_modules" / ".bin" / "ccusage"
_IN_CI: Final = os.environ.get("CI", "").lower() in ("1", "true", "yes")
FIELDS: Final = ("input", "output", "cache_creation", "cache_read", "reasoning")


def ccusage_binary() -> Path:
    for candidate in (_ENV_BINARY, str(_LOCAL_BINARY)):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    message = "ccusage not installed: run scripts/install-ccusage.sh (or set DEVLOG_CCUSAGE)"
    if _IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def ccusage_daily(binary: Path, agent: str, env: dict[str, str]) -> dict[str, dict[str, int]]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TZ": "UTC", "NO_COLOR": "1", **env}
    done = subprocess.run(
        [str(binary), agent, "daily", "--json", "--offline"],
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    days: dict[str, dict[str, int]] = {}
    for day in report["daily"]:
        totals = {
            "input": day["inputTokens"],
            "output": day["outputTokens"],
            "cache_creation": day["cacheCreationTokens"],
            "cache_read": day["cacheReadTokens"],
        }
        if "reasoningOutputTokens" in day:  # Codex reports the reasoning part of output too
            totals["reasoning"] = day["reasoningOutputTokens"]
        days[day["date"]] = totals
    return days


def devlog_daily(agent: str, root: Path, tmp_path: Path) -> dict[str, dict[str, int]]:
    """Collect `root` with the real engine into a fresh store and sum its usage per UTC day."""
    config, _ = parse_config(
        {
            "collect": {"agents": [agent], "roots": {agent: [str(root)]}},
            "storage": {"path": str(tmp_path / f"store-{agent}"), "min_free_bytes": 0},
        }
    )
    with Store.open(config.storage.db_path()) as store:
        store.acquire_writer_lock()
        Collector(store, config).collect()
    db = sqlite3.connect(config.storage.db_path())
    try:
        rows = db.execute(
            "SELECT strftime('%Y-%m-%d', ts / 1000, 'unixepoch') AS day, SUM(input_tokens), SUM(output_tokens), "
            "SUM(cache_creation_tokens), SUM(cache_read_tokens), SUM(reasoning_tokens) FROM events WHERE agent = ? "
            "AND input_tokens + output_tokens + cache_creation_tokens + cache_read_tokens > 0 GROUP BY day",
            (agent,),
        ).fetchall()
    finally:
        db.close()
    days = {day: dict(zip(FIELDS, sums, strict=True)) for day, *sums in rows}
    if agent != "codex":  # ccusage reports reasoning tokens for Codex only
        for totals in days.values():
            del totals["reasoning"]
    return days


def test_claude_daily_tokens_equal_ccusage(tmp_path: Path) -> None:
    binary = ccusage_binary()
    root = tmp_path / "claude-home"
    shutil.copytree(FIXTURES / "claude" / "home", root)
    expected = ccusage_daily(binary, "claude", {"HOME": str(tmp_path / "nohome"), "CLAUDE_CONFIG_DIR": str(root)})
    assert len(expected) == 5, "the fixtures cover five days"
    assert devlog_daily("claude", root, tmp_path) == expected


def test_cache_writes_given_only_as_their_split_equal_ccusage(tmp_path: Path) -> None:
    """A usage with the 5 min / 1 h split of its cache writes but no `cache_creation_input_tokens`."""
    binary = ccusage_binary()
    root = tmp_path / "claude-home"
    usage = {"input_tokens": 5, "output_tokens": 7, "cache_read_input_tokens": 100,
             "cache_creation": {"ephemeral_5m_input_tokens": 4000, "ephemeral_1h_input_tokens": 5000}}  # fmt: skip
    record = {
        "type": "assistant", "uuid": "u-split", "sessionId": "5b0e7c3a-1d2e-4f5a-8b9c-0d1e2f3a4b5c",
        "timestamp": "2026-04-01T12:00:00.000Z", "cwd": "/home/dev/acme-api", "version": "2.1.90",
        "requestId": "req_split", "userType": "external", "isSidechain": False,
        "message": {"id": "msg_split", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                    "usage": usage, "content": [{"type": "text", "text": "ok"}]},
    }  # fmt: skip
    session = root / "projects" / "-home-dev-acme-api" / "5b0e7c3a-1d2e-4f5a-8b9c-0d1e2f3a4b5c.jsonl"
    session.parent.mkdir(parents=True)
    session.write_text(json.dumps(record, separators=(",", ":")) + "\n")
    expected = ccusage_daily(binary, "claude", {"HOME": str(tmp_path / "nohome"), "CLAUDE_CONFIG_DIR": str(root)})
    assert expected["2026-04-01"]["cache_creation"] == 9000
    assert devlog_daily("claude", root, tmp_path) == expected


def test_usage_edge_cases_equal_ccusage(tmp_path: Path) -> None:
    """One response a day: a cache-write split that disagrees with `cache_creation_input_tokens` (or is
    empty, partial, null, malformed), an empty, null or numeric `sessionId`, and a fast-mode copy of
    a response tied on tokens with a standard one."""
    binary = ccusage_binary()
    root = tmp_path / "claude-home"
    session = "5b0e7c3a-1d2e-4f5a-8b9c-0d1e2f3a4b5d"

    def reply(day: int, n: int, usage_extra: dict[str, Any], **record_extra: Any) -> dict[str, Any]:
        usage = {"input_tokens": 3, "output_tokens": 40, "cache_creation_input_tokens": 900,
                 "cache_read_input_tokens": 5000, **usage_extra}  # fmt: skip
        record = {
            "type": "assistant", "uuid": f"u-{day}-{n}", "sessionId": session,
            "timestamp": f"2026-04-{day:02d}T12:00:0{n}.000Z", "cwd": "/home/dev/acme-api", "version": "2.1.90",
            "requestId": f"req_{day}", "userType": "external", "isSidechain": False,
            "message": {"id": f"msg_{day}", "type": "message", "role": "assistant", "model": "claude-opus-4-6",
                        "usage": usage, "content": [{"type": "text", "text": "ok"}]},
        }  # fmt: skip
        record.update(record_extra)
        return record

    records = [
        reply(1, 0, {"cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 100}}),
        reply(2, 0, {"cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 5000}}),
        reply(3, 0, {"cache_creation": {}}),
        reply(4, 0, {"cache_creation": {"ephemeral_5m_input_tokens": 40}}),
        reply(5, 0, {"cache_creation": None}),
        reply(6, 0, {"cache_creation": {"ephemeral_5m_input_tokens": "7"}}),
        reply(7, 0, {"cache_creation": "900"}),
        reply(8, 0, {}, sessionId=""),
        reply(9, 0, {}, sessionId=None),
        reply(10, 0, {}, sessionId=5),
        reply(11, 0, {}),
        reply(11, 1, {"speed": "fast"}),
    ]
    path = root / "projects" / "-home-dev-acme-api" / f"{session}.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
    expected = ccusage_daily(binary, "claude", {"HOME": str(tmp_path / "nohome"), "CLAUDE_CONFIG_DIR": str(root)})
    assert sorted(expected) == ["2026-04-01", "2026-04-02", "2026-04-03", "2026-04-04", "2026-04-05", "2026-04-11"]
    assert devlog_daily("claude", root, tmp_path) == expected
    [store] = (tmp_path / "store-claude").glob("*.db")
    with sqlite3.connect(store) as db:  # (the fast copy of the tied response is the one kept, as in ccusage)
        assert db.execute("SELECT fast FROM events WHERE input_tokens > 0 AND ts >= 1775865600000").fetchall() == [(1,)]


def test_codex_daily_tokens_equal_ccusage(tmp_path: Path) -> None:
    binary = ccusage_binary()
    root = tmp_path / "codex-home"
    shutil.copytree(FIXTURES / "codex" / "home", root)
    expected = ccusage_daily(binary, "codex", {"HOME": str(tmp_path / "nohome"), "CODEX_HOME": str(root)})
    assert len(expected) == 4, "the fixtures cover four days"
    assert devlog_daily("codex", root, tmp_path) == expected


def test_a_second_collect_changes_no_totals(tmp_path: Path) -> None:
    root = tmp_path / "claude-home"
    shutil.copytree(FIXTURES / "claude" / "home", root)
    first = devlog_daily("claude", root, tmp_path)
    assert devlog_daily("claude", root, tmp_path) == first


def _codex_rollout(day: int, session: str, meta_extra: dict[str, Any], before: list[dict[str, Any]]) -> str:
    """A rollout whose two first token_count rows share a second (a replay burst if it is a fork)."""
    stamp = f"2026-04-{day:02d}T10:00:00"

    def row(at: str, total: int) -> dict[str, Any]:
        usage = {"input_tokens": total, "cached_input_tokens": total // 2, "output_tokens": total // 10,
                 "reasoning_output_tokens": 0, "total_tokens": total + total // 10}  # fmt: skip
        info = {"total_token_usage": usage}
        return {"timestamp": at, "type": "event_msg", "payload": {"type": "token_count", "info": info}}

    payload = {"id": session, "timestamp": f"{stamp}.000Z", "cwd": "/w", "cli_version": "0.118.0", **meta_extra}
    records = [
        {"timestamp": f"{stamp}.000Z", "type": "session_meta", "payload": payload},
        *before,
        {"timestamp": f"{stamp}.050Z", "type": "turn_context", "payload": {"model": "gpt-5.3-codex"}},
        row(f"{stamp}.200Z", 1000),
        row(f"{stamp}.300Z", 3000),
        row(f"2026-04-{day:02d}T10:00:09.000Z", 4000),
    ]
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)


def test_codex_forks_are_recognised_as_ccusage_does(tmp_path: Path) -> None:
    """Only a first `session_meta` naming a fork or a spawning parent makes the head a replay."""
    binary = ccusage_binary()
    parent = "019d4c2a-7b1e-7c3a-9f00-2c5b6e1d8a41"
    mention = {"timestamp": "2026-04-01T10:00:00.010Z", "type": "response_item",
               "payload": {"type": "message", "role": "user", "content": [{"type": "input_text",
                                                                           "text": "thread_spawn"}]}}  # fmt: skip
    variants: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [
        ({"forked_from_id": parent}, []),  # a fork: replay skipped
        ({"source": {"subagent": {"thread_spawn": {"parent_thread_id": parent}}}, "instructions": "x" * 20000}, []),
        ({"forked_from_id": ""}, []),  # not a fork
        ({"source": {"subagent": {"thread_spawn": {"depth": 1}}}}, []),  # no parent named: not a fork
        ({"source": "cli"}, [mention]),  # the word in a message: not a fork
        ({}, [{"timestamp": "2026-04-01T10:00:00.010Z", "type": "session_meta",
               "payload": {"id": parent, "forked_from_id": "x"}}]),  # only a later meta names it: not a fork
    ]  # fmt: skip
    root = tmp_path / "codex-home"
    folder = root / "sessions" / "2026" / "04"
    folder.mkdir(parents=True)
    for day, (extra, before) in enumerate(variants, 1):
        session = f"019d4c2a-dddd-7c3a-9f00-00000000000{day}"
        text = _codex_rollout(day, session, extra, before).replace("2026-04-01T", f"2026-04-{day:02d}T")
        (folder / f"rollout-2026-04-{day:02d}T10-00-00-{session}.jsonl").write_text(text)
    expected = ccusage_daily(binary, "codex", {"HOME": str(tmp_path / "nohome"), "CODEX_HOME": str(root)})
    devlog = devlog_daily("codex", root, tmp_path)
    assert devlog == expected
    assert [devlog[f"2026-04-{day:02d}"]["output"] for day in range(1, 7)] == [100, 100, 400, 400, 400, 400]


def test_codex_replay_bursts_are_chains_of_rows_at_most_a_second_apart(tmp_path: Path) -> None:
    """A fork's replay is its leading token_count rows each <= 1000 ms after the previous one, even
    across a second boundary (as ccusage decides); a longer gap ends it."""
    binary = ccusage_binary()
    bursts = [
        ["10:05:26.100", "10:05:27.050", "10:30:00.000"],  # 950 ms across a second: a replay
        ["10:05:26.100", "10:05:27.100", "10:30:00.000"],  # exactly 1000 ms: a replay
        ["10:05:26.100", "10:05:27.101", "10:30:00.000"],  # 1001 ms: no replay
        ["10:05:26.800", "10:05:26.900", "10:05:27.050", "10:05:27.200", "10:30:00.000"],  # a chain
        ["10:05:26.100", "10:05:26.900", "10:05:28.500", "10:05:28.950", "10:30:00.000"],  # chain broken
    ]
    root = tmp_path / "codex-home"
    folder = root / "sessions" / "2026" / "04"
    folder.mkdir(parents=True)
    for day, times in enumerate(bursts, 1):
        session = f"019d4c2a-eeee-7c3a-9f00-00000000000{day}"
        meta = {"id": session, "timestamp": f"2026-04-{day:02d}T10:00:00.000Z", "cwd": "/w",
                "cli_version": "0.118.0", "forked_from_id": "019d4c2a-7b1e-7c3a-9f00-2c5b6e1d8a41"}  # fmt: skip
        records: list[dict[str, Any]] = [
            {"timestamp": f"2026-04-{day:02d}T10:00:00.000Z", "type": "session_meta", "payload": meta},
            {"timestamp": f"2026-04-{day:02d}T10:00:00.100Z", "type": "turn_context", "payload": {"model": "gpt-5.2"}},
        ]
        for n, at in enumerate(times, 1):
            usage = {"input_tokens": 1000 * n, "cached_input_tokens": 100 * n, "output_tokens": 10 * n,
                     "reasoning_output_tokens": 0, "total_tokens": 1010 * n}  # fmt: skip
            payload = {"type": "token_count", "info": {"total_token_usage": usage}}
            records.append({"timestamp": f"2026-04-{day:02d}T{at}Z", "type": "event_msg", "payload": payload})
        text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        (folder / f"rollout-2026-04-{day:02d}T10-00-00-{session}.jsonl").write_text(text)
    expected = ccusage_daily(binary, "codex", {"HOME": str(tmp_path / "nohome"), "CODEX_HOME": str(root)})
    devlog = devlog_daily("codex", root, tmp_path)
    assert devlog == expected
    assert [devlog[f"2026-04-{day:02d}"]["output"] for day in range(1, 6)] == [10, 10, 30, 10, 30]
