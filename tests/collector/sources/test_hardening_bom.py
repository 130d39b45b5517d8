"""A UTF-8 byte-order mark (Windows editors and tools write one) at the start of a document or of a
side file changes nothing: the same events, the same ids, the same workspace as without it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devlog_collector.sources.base import Problem, Source, SourceFile
from devlog_collector.sources.copilot import CopilotSource
from devlog_collector.sources.gemini import GeminiSource
from devlog_shared import Event

BOM = b"\xef\xbb\xbf"
SESSION = {"version": 3, "sessionId": "s1", "creationDate": 1767261600000}
REQUEST = {"requestId": "r1", "timestamp": 1767261600000, "message": {"text": "hi"}, "response": [{"value": "ok"}],
           "result": {"metadata": {"promptTokens": 10, "outputTokens": 2}}}  # fmt: skip
GEMINI_META = {"sessionId": "g1", "startTime": "2026-01-01T10:00:00Z"}
GEMINI_MESSAGE = {"id": "u1", "timestamp": "2026-01-01T10:00:01Z", "type": "user", "content": "hi"}


def parse(source: Source, path: Path) -> tuple[list[Event], list[Problem]]:
    items = list(source.parse_document(SourceFile(path=path, mode="document"), {}))
    return [i for i in items if isinstance(i, Event)], [i for i in items if isinstance(i, Problem)]


def same_with_and_without_bom(source: Source, path: Path, data: bytes) -> list[Event]:
    path.write_bytes(data)
    plain, problems = parse(source, path)
    assert problems == [] and plain
    path.write_bytes(BOM + data)
    marked, problems = parse(source, path)
    assert problems == []
    assert marked == plain
    return marked


# -- documents -----------------------------------------------------------------------------------


def copilot_path(tmp_path: Path, name: str) -> Path:
    sessions = tmp_path / "User" / "workspaceStorage" / "h1" / "chatSessions"
    sessions.mkdir(parents=True, exist_ok=True)
    return sessions / name


def test_copilot_json_with_a_bom(tmp_path: Path) -> None:
    data = json.dumps({**SESSION, "requests": [REQUEST]}).encode()
    events = same_with_and_without_bom(CopilotSource([tmp_path / "User"]), copilot_path(tmp_path, "s1.json"), data)
    assert [e.kind for e in events] == ["session_start", "prompt", "response"]


def test_copilot_operation_log_with_a_bom(tmp_path: Path) -> None:
    """The op-log is split into lines by the parser itself: the mark sits before the `kind:0` line."""
    ops: list[dict[str, Any]] = [
        {"kind": 0, "v": {**SESSION, "requests": []}},
        {"kind": 2, "k": ["requests"], "v": [REQUEST]},
    ]
    data = b"".join(json.dumps(op).encode() + b"\n" for op in ops)
    source = CopilotSource([tmp_path / "User"])
    events = same_with_and_without_bom(source, copilot_path(tmp_path, "s1.jsonl"), data)
    assert [e.kind for e in events] == ["session_start", "prompt", "response"]


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_gemini_documents_with_a_bom(tmp_path: Path, suffix: str) -> None:
    chats = tmp_path / ".gemini" / "tmp" / "proj" / "chats"
    chats.mkdir(parents=True)
    if suffix == ".json":
        data = json.dumps({**GEMINI_META, "messages": [GEMINI_MESSAGE]}, indent=2).encode()
    else:
        data = json.dumps(GEMINI_META).encode() + b"\n" + json.dumps(GEMINI_MESSAGE).encode() + b"\n"
    events = same_with_and_without_bom(GeminiSource([tmp_path / ".gemini"]), chats / f"session-x{suffix}", data)
    assert {e.session_id for e in events} == {"g1"}


# -- side files ----------------------------------------------------------------------------------


def gemini_session(tmp_path: Path, project: str) -> tuple[Path, Path]:
    root = tmp_path / ".gemini"
    chats = root / "tmp" / project / "chats"
    chats.mkdir(parents=True)
    path = chats / "session-x.jsonl"
    path.write_bytes(json.dumps(GEMINI_META).encode() + b"\n" + json.dumps(GEMINI_MESSAGE).encode() + b"\n")
    return root, path


def test_gemini_project_root_with_a_bom(tmp_path: Path) -> None:
    root, path = gemini_session(tmp_path, "proj")
    (root / "tmp" / "proj" / ".project_root").write_bytes(BOM + b"/home/dev/app\n")
    events, _ = parse(GeminiSource([root]), path)
    assert {e.workspace for e in events} == {"/home/dev/app"}


def test_gemini_projects_registry_with_a_bom(tmp_path: Path) -> None:
    root, path = gemini_session(tmp_path, "my-app")
    (root / "projects.json").write_bytes(BOM + json.dumps({"projects": {"/home/dev/app": "my-app"}}).encode())
    events, _ = parse(GeminiSource([root]), path)
    assert {e.workspace for e in events} == {"/home/dev/app"}


def test_vscode_workspace_json_with_a_bom(tmp_path: Path) -> None:
    path = copilot_path(tmp_path, "s1.json")
    path.write_text(json.dumps({**SESSION, "requests": [REQUEST]}))
    manifest = tmp_path / "User" / "workspaceStorage" / "h1" / "workspace.json"
    manifest.write_bytes(BOM + b'{"folder": "file:///home/dev/app"}')
    events, _ = parse(CopilotSource([tmp_path / "User"]), path)
    assert {e.workspace for e in events} == {"/home/dev/app"}


def test_vscode_code_workspace_file_with_a_bom(tmp_path: Path) -> None:
    path = copilot_path(tmp_path, "s1.json")
    path.write_text(json.dumps({**SESSION, "requests": [REQUEST]}))
    workspace_file = tmp_path / "team" / "team.code-workspace"
    workspace_file.parent.mkdir()
    workspace_file.write_bytes(BOM + b'{\n  // shared\n  "folders": [{"path": "api"}, {"path": "/srv/web"}],\n}\n')
    manifest = tmp_path / "User" / "workspaceStorage" / "h1" / "workspace.json"
    manifest.write_text(json.dumps({"workspace": workspace_file.as_uri()}))
    events, _ = parse(CopilotSource([tmp_path / "User"]), path)
    assert {e.workspace for e in events} == {str(tmp_path / "team" / "api")}
