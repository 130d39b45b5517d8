"""Where the daemon watches an agent's home (`Source.watch_paths`), and which changed paths there make
it look for new logs (`Source.may_hold_logs`).

A root is the agent's whole home folder, where the agent (or VS Code) also writes files devlog never
reads, often: each such write used to cost a discovery and a pass over every tracked file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devlog_collector.sources import load_source_class

ROOT = Path("/home/dev/agent-home")


@pytest.mark.parametrize(
    ("agent", "relative", "expected"),
    [
        ("claude", "projects", True),
        ("claude", "projects/-home-dev-api", True),
        ("claude", "projects/-home-dev-api/9f1c.jsonl", True),
        ("claude", "projects/-home-dev-api/9f1c/subagents/agent-1.jsonl", True),
        ("claude", "history.jsonl", False),
        ("claude", "todos/a.json", False),
        ("claude", "shell-snapshots/snap.sh", False),
        ("codex", "sessions/2026/12/04", True),
        ("codex", "sessions/2026/12/04/rollout-2026-12-04T10-00-00-x.jsonl", True),
        ("codex", "archived_sessions/2026/11/30/rollout-x.jsonl", True),
        ("codex", "history.jsonl", False),
        ("codex", "log/codex-tui.log", False),
        ("gemini", "tmp", True),
        ("gemini", "tmp/3b44bc68", True),
        ("gemini", "tmp/3b44bc68/chats/session-x.jsonl", True),
        ("gemini", "tmp/3b44bc68/.project_root", True),
        ("gemini", "tmp/3b44bc68/logs.json", False),
        ("gemini", "settings.json", False),
        ("copilot", "workspaceStorage/ab12", True),
        ("copilot", "workspaceStorage/ab12/chatSessions/s.jsonl", True),
        ("copilot", "workspaceStorage/ab12/workspace.json", True),
        ("copilot", "workspaceStorage/ab12/state.vscdb", False),
        ("copilot", "workspaceStorage/ab12/ms-python.python/cache.json", False),
        ("copilot", "globalStorage/emptyWindowChatSessions/s.json", True),
        ("copilot", "globalStorage/state.vscdb", False),
        ("copilot", "History/-12ab/entries.json", False),
        ("cursor", "globalStorage/state.vscdb", True),
        ("cursor", "globalStorage/state.vscdb-wal", True),
        ("cursor", "workspaceStorage/ab12/state.vscdb", True),
        ("cursor", "workspaceStorage/ab12/workspace.json", True),
        ("cursor", "workspaceStorage/ab12/anysphere.cursor/x.json", False),
        ("cursor", "globalStorage/storage.json", False),
        ("cursor", "History/-12ab/entries.json", False),
    ],
)
def test_only_changes_where_logs_live_make_the_daemon_look(agent: str, relative: str, expected: bool) -> None:
    source = load_source_class(agent)([ROOT])
    assert source.may_hold_logs(ROOT / relative) is expected
    assert source.may_hold_logs(Path("/elsewhere") / relative) is False


@pytest.mark.parametrize(
    ("agent", "present", "watched"),
    [
        ("claude", ["projects", "todos", "shell-snapshots"], ["projects"]),
        ("claude", ["todos"], ["."]),  # no projects/ yet: the home, so its creation is seen
        ("codex", ["sessions", "log"], ["sessions"]),
        ("codex", ["sessions", "archived_sessions"], ["sessions", "archived_sessions"]),
        ("gemini", ["tmp", "history"], ["tmp"]),
        ("copilot", ["workspaceStorage", "globalStorage/ms-python.python", "History/-1a2b"], ["workspaceStorage"]),
        ("copilot", ["workspaceStorage", "globalStorage/emptyWindowChatSessions"],
         ["workspaceStorage", "globalStorage/emptyWindowChatSessions"]),
        ("cursor", ["globalStorage", "workspaceStorage", "History/-1a2b", "logs"],
         ["globalStorage", "workspaceStorage"]),
    ],
)  # fmt: skip
def test_the_daemon_watches_only_where_logs_live(
    tmp_path: Path, agent: str, present: list[str], watched: list[str]
) -> None:
    """VS Code's `History/` alone can hold thousands of folders: watching a whole `User` folder spent
    the system's file-watch limit (inotify's max_user_watches) on folders devlog never reads."""
    for name in present:
        (tmp_path / name).mkdir(parents=True)
    source = load_source_class(agent)([tmp_path, tmp_path / "missing-root"])
    assert source.watch_paths() == [tmp_path / name for name in watched]  # (tmp_path / "." is tmp_path)


@pytest.mark.parametrize(
    ("agent", "present", "awaited"),
    [
        ("claude", ["projects"], []),
        ("claude", ["todos"], []),  # the home itself is watched: projects/ appearing is seen
        ("codex", ["sessions"], ["archived_sessions"]),
        ("codex", ["sessions", "archived_sessions"], []),
        ("copilot", ["workspaceStorage"], ["globalStorage/emptyWindowChatSessions"]),
        ("cursor", ["globalStorage"], ["workspaceStorage"]),
    ],
)
def test_a_log_folder_not_made_yet_beside_a_watched_one_is_looked_for(
    tmp_path: Path, agent: str, present: list[str], awaited: list[str]
) -> None:
    """Codex's `archived_sessions/` made after the daemon started watching `sessions/` was only found
    by the 30 s rescan: its lines arrived up to 25 s late."""
    for name in present:
        (tmp_path / name).mkdir(parents=True)
    source = load_source_class(agent)([tmp_path, tmp_path / "missing-root"])
    assert source.awaited_paths() == [tmp_path / name for name in awaited]
