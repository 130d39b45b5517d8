"""`devlog demo`: deterministic, realistic logs that every agent's own parser reads without a problem."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from devlog_collector import demo
from devlog_collector.cli import cli
from devlog_collector.config import parse_config
from devlog_collector.sources import load_source_class
from devlog_collector.sources.base import Problem, Source, SourceFile
from devlog_shared import Event

END = datetime(2026, 3, 2, tzinfo=UTC)


def parse_all(source: Source) -> tuple[list[Event], list[tuple[SourceFile, Problem]]]:
    """Everything `source` yields for its discovered files, read the way the engine reads each mode."""
    events: list[Event] = []
    problems: list[tuple[SourceFile, Problem]] = []
    for file in source.discover():
        state: dict[str, Any] = {}
        if file.mode == "append":
            data = file.path.read_bytes()
            complete = data[: data.rfind(b"\n") + 1]
            lines = list(enumerate(complete.split(b"\n")[:-1], start=1))
            items = list(source.parse_lines(file, lines, state))
        else:
            items = list(source.parse_document(file, state))
        for item in items:
            if isinstance(item, Problem):
                problems.append((file, item))
            else:
                events.append(item)
    return events, problems


def demo_events(directory: Path) -> dict[str, list[Event]]:
    result: dict[str, list[Event]] = {}
    for agent, roots in demo.roots(directory).items():
        events, problems = parse_all(load_source_class(agent)(roots))
        assert not problems, f"{agent}: {[(str(f.path.name), p.position, p.message) for f, p in problems[:5]]}"
        result[agent] = events
    return result


def tree(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != ".demo.lock"
    }


def test_same_seed_same_logs_other_seed_other_logs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = demo.generate(tmp_path / "a", seed=3, home=home, end=END)
    demo.generate(tmp_path / "b", seed=3, home=home, end=END)
    demo.generate(tmp_path / "c", seed=4, home=home, end=END)
    a, b, c = tree(tmp_path / "a"), tree(tmp_path / "b"), tree(tmp_path / "c")
    assert a == b
    assert a != c
    assert first.sessions == len(demo.AGENTS) * 6
    assert set(first.by_workspace) == {str(home / w) for w in demo.WORKSPACES}


def test_every_agent_parses_cleanly_in_every_workspace(tmp_path: Path) -> None:
    home = tmp_path / "home"
    demo.generate(tmp_path / "logs", home=home, end=END)
    events = demo_events(tmp_path / "logs")
    workspaces = {str(home / w) for w in demo.WORKSPACES}
    for agent, agent_events in events.items():
        seen = Counter(e.workspace for e in agent_events)
        assert set(seen) == workspaces, f"{agent} events by workspace: {dict(seen)}"
        kinds = {e.kind for e in agent_events}
        assert {"prompt", "response", "file_edit"} <= kinds, f"{agent} kinds: {kinds}"
        assert all(e.ts < END for e in agent_events), f"{agent} has events after the demo's end"
        if agent in ("claude", "codex", "gemini"):  # agents whose logs carry full token usage
            assert sum(e.usage.total for e in agent_events if e.usage) > 0


def test_live_steps_add_activity_without_touching_history(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    demo.generate(directory, home=tmp_path / "home", end=END)
    before = {a: {e.id for e in evs} for a, evs in demo_events(directory).items()}
    changes = [change for _ in range(6) for change in demo.live_step(directory)]
    assert changes
    after = {a: {e.id for e in evs} for a, evs in demo_events(directory).items()}
    for agent in demo.AGENTS:
        assert before[agent] <= after[agent], f"{agent} lost history after live steps"
    assert sum(len(after[a]) for a in after) > sum(len(before[a]) for a in before)
    touched = {change.agent for change in changes}
    assert all(len(after[a]) > len(before[a]) for a in touched), "a live step wrote nothing its parser reads"
    manifest = demo.load_manifest(directory)
    assert manifest["live_steps"] == 6


def test_cli_prints_a_valid_roots_config_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    directory = tmp_path / "logs"
    first = runner.invoke(cli, ["demo", str(directory), "--seed", "1", "--sessions", "2", "--end", "2026-03-02"])
    assert first.exit_code == 0, first.output
    config, warnings = parse_config(YAML(typ="safe").load(first.stdout))
    assert not warnings
    assert {a: [Path(p) for p in paths] for a, paths in config.collect.roots.items()} == demo.roots(directory)

    again = runner.invoke(cli, ["demo", str(directory)])
    assert again.exit_code == 2
    assert "already holds demo data" in again.stderr and "--force" in again.stderr

    forced = runner.invoke(cli, ["demo", str(directory), "--force", "--json", "--sessions", "1", "--end", "2026-03-02"])
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)["sessions"] == len(demo.AGENTS)

    live = runner.invoke(cli, ["demo", str(directory), "--live", "--iterations", "2", "--interval", "0"])
    assert live.exit_code == 0, live.output
    assert "live:" in live.stderr
    assert demo.load_manifest(directory)["live_steps"] == 2


def test_live_without_a_demo_writes_one_first_and_missing_demo_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(demo.DemoError, match="holds no demo"):
        demo.live_step(tmp_path / "nothing")
    result = CliRunner().invoke(cli, ["demo", str(tmp_path / "new"), "--live", "--iterations", "1", "--sessions", "1"])
    assert result.exit_code == 0, result.output
    assert demo.load_manifest(tmp_path / "new")["live_steps"] == 1


def test_cursor_demo_keeps_auth_rows_out_and_maps_every_composer(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    demo.generate(directory, home=tmp_path / "home", end=END)
    db = sqlite3.connect(directory / "cursor/User/globalStorage/state.vscdb")
    try:
        keys = [k for (k,) in db.execute("SELECT key FROM ItemTable")]
        composers = {
            k.split(":", 1)[1] for (k,) in db.execute("SELECT key FROM cursorDiskKV WHERE key LIKE 'composerData:%'")
        }
    finally:
        db.close()
    assert not [k for k in keys if k.startswith("cursorAuth")]
    mapped: set[str] = set()
    for workspace_db in (directory / "cursor/User/workspaceStorage").glob("*/state.vscdb"):
        conn = sqlite3.connect(workspace_db)
        try:
            (value,) = conn.execute("SELECT value FROM ItemTable WHERE key = 'composer.composerData'").fetchone()
        finally:
            conn.close()
        mapped |= {c["composerId"] for c in json.loads(value)["allComposers"]}
    assert composers == mapped
