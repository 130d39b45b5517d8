"""Shared builders for the exporter tests: generated events, stores, configs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devlog_collector.config import Config, parse_config
from devlog_collector.store import Store
from devlog_shared.events import Event, ToolInfo, Usage
from devlog_shared.ids import event_id

BASE_TS = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def make_events(
    n: int,
    workspaces: list[str | None],
    *,
    start: int = 0,
    text: str | None = None,
    attrs: dict[str, Any] | None = None,
    agent: str = "claude",
) -> list[Event]:
    events = []
    for i in range(start, start + n):
        ws = workspaces[i % len(workspaces)]
        kind = ("prompt", "response", "tool_call")[i % 3]
        events.append(
            Event(
                id=event_id(agent, "gen", i),
                ts=BASE_TS + timedelta(seconds=i),
                agent=agent,
                kind=kind,
                session_id=f"s{i // 10}",
                workspace=ws,
                model="claude-sonnet-4-5" if kind == "response" else None,
                usage=Usage(input_tokens=10 + i % 7, output_tokens=20) if kind == "response" else None,
                tool=ToolInfo(name="Bash", status="ok") if kind == "tool_call" else None,
                text=text if text is not None else f"message {i} in {ws}",
                attrs=dict(attrs or {}),
            )
        )
    return events


def fill_store(db: Path, events: list[Event], chunk: int = 2000) -> None:
    with Store.open(db) as store:
        for i in range(0, len(events), chunk):
            store.commit(events[i : i + chunk])


def config(remotes: dict[str, dict[str, Any]], export_default: str = "none") -> Config:
    cfg, problems = parse_config({"export": {"remotes": remotes}, "export_default": export_default})
    assert not problems
    return cfg


def remote(
    url: str, include: list[str] | None = None, exclude: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "url": url,
        "api_key": "k-test",
        "timeout": "2s",
        "workspaces": {"include": include or [], "exclude": exclude or []},
    }
    spec.update(extra)
    return spec


def cursor_row(db: Path, name: str) -> tuple[Any, ...] | None:
    with Store.open(db) as store:
        row = store.db.execute(
            "SELECT last_seq, status, paused_reason, last_error FROM export_cursors WHERE remote = ?", (name,)
        ).fetchone()
    return tuple(row) if row else None


def dead_letters(db: Path, name: str) -> list[tuple[str, str]]:
    with Store.open(db) as store:
        return [
            tuple(r)
            for r in store.db.execute(
                "SELECT event_id, reason FROM dead_letters WHERE remote = ? ORDER BY seq", (name,)
            )
        ]
