"""Builders for query tests: events constructed here and stored with the real `Store.commit()`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devlog_collector.config import Config
from devlog_collector.store import Store
from devlog_shared import Event, FileInfo, ToolInfo, Usage

_counter = 0


def at(text: str) -> datetime:
    """An aware UTC datetime from `2026-03-02T09:14:03` (naive text is UTC)."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def ev(
    ts: str,
    kind: str = "response",
    *,
    agent: str = "claude",
    session: str = "sess-a",
    workspace: str | None = "/w/work/api",
    model: str | None = None,
    usage: tuple[int, int, int, int] | tuple[int, int, int, int, int] | None = None,
    text: str | None = None,
    cost: float | None = None,
    tool: str | None = None,
    file: str | None = None,
    ident: str | None = None,
    **extra: Any,
) -> Event:
    """One event; `usage` is (input, output, cache_creation, cache_read[, reasoning])."""
    global _counter
    _counter += 1
    u = None
    if usage is not None:
        inp, out, cc, cr, *rest = usage
        u = Usage(
            input_tokens=inp,
            output_tokens=out,
            cache_creation_tokens=cc,
            cache_read_tokens=cr,
            reasoning_tokens=rest[0] if rest else 0,
        )
    return Event(
        id=ident or f"ev-{_counter}",
        ts=at(ts),
        agent=agent,
        kind=kind,  # type: ignore[arg-type]
        session_id=session,
        workspace=workspace,
        project=workspace.rsplit("/", 1)[-1] if workspace else None,
        model=model,
        usage=u,
        cost_usd=cost,
        text=text,
        tool=ToolInfo(name=tool) if tool else None,
        file=FileInfo(path=file, lines_added=3, lines_removed=1) if file else None,
        **extra,
    )


def store_with(path: Path, events: list[Event]) -> Store:
    """A real store at `path` holding `events` (committed in one transaction)."""
    store = Store.open(path)
    store.commit(events)
    return store


def default_db() -> Path:
    """The store path the CLI uses under the test's DEVLOG_HOME."""
    return Config().storage.db_path()
