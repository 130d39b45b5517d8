"""The dashboard's queries over the `dashboard_rollups` table (see `tables.py`) and, for one session's
timeline and prompt search, over `events`. The overview and people pages aggregate in `slices.py`.

Every query is bounded by the page's period (whole UTC days, the rollup's primary-key prefix) and by
the workspaces the signed-in key may read (the same `allowed_workspaces` list the API applies), so a
page costs a scan of a few tens of thousands of rollup rows, not of the events themselves. The
numbers mean exactly what `GET /api/v1/stats` reports: events, distinct sessions, tokens and cost
with the same filters (the tests compare them). Only the session page's timeline and the prompt-text
search read `events` directly, both through its indexes; the session page's totals come from the
rollup, so they cover the whole session however many of its events the timeline lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, case, cast, false, func, literal_column, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from devlog_server.dashboard.filters import Filters
from devlog_server.dashboard.tables import RollupModel
from devlog_server.db.models import EventModel
from devlog_server.queries import workspace_prefix_condition
from devlog_shared import Event, decode_event

__all__ = [
    "FileEditRow",
    "SessionRow",
    "SessionTotals",
    "SessionsPage",
    "ToolRow",
    "conditions",
    "error_counts",
    "file_edits",
    "filter_choices",
    "session_events",
    "session_totals",
    "sessions_page",
    "tool_usage",
]

R: Final = RollupModel.__table__.c
E: Final = EventModel.__table__.c
Dimension = Literal["agent", "model", "user", "workspace", "project", "tool"]
Metric = Literal["events", "sessions", "developers", "tokens", "cost"]
_COLUMN_OF: Final = {
    "agent": R.agent,
    "model": R.model,
    "user": R.user_name,
    "workspace": R.workspace,
    "project": R.project,
    "tool": R.tool_name,
}
MAX_SESSION_EVENTS: Final = 2000
#: Most sessions a prompt-text search collects (their ids become an IN list on the rollup).
MAX_PROMPT_MATCHES: Final = 5000


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite aggregates of DateTime columns may come back as text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _none(value: str | None) -> str | None:
    """Rollup dimensions store unset values as ''; pages show them as None."""
    return value or None


def conditions(filters: Filters, allowed: Sequence[str] | None) -> list[ColumnElement[bool]]:
    """WHERE conditions on the rollup for the page's filters and the key's visible workspaces."""
    conds: list[ColumnElement[bool]] = []
    if allowed is not None:
        conds.append(R.workspace.in_(list(allowed)) if allowed else false())
    if filters.since_key:
        conds.append(R.day >= filters.since_key)
    if filters.until_key:
        conds.append(R.day < filters.until_key)
    if filters.workspace:
        conds.append(workspace_prefix_condition(R.workspace, filters.workspace))
    if filters.agent:
        conds.append(R.agent == filters.agent)
    if filters.user:
        conds.append(R.user_name == filters.user)
    if filters.model:
        conds.append(R.model == filters.model)
    return conds


def _kind_sum(kind: str, column: Any = None) -> Any:
    return func.coalesce(func.sum(case((R.kind == kind, column if column is not None else R.events), else_=0)), 0)


@dataclass(frozen=True)
class ToolRow:
    """Calls and failures of one tool as used by one agent."""

    tool: str
    agent: str
    calls: int
    results: int
    failures: int

    @property
    def failure_rate(self) -> float | None:
        """Failed share of the calls (None when the agent recorded neither calls nor results)."""
        base = self.calls or self.results
        return min(1.0, self.failures / base) if base else None


async def tool_usage(conn: AsyncConnection, filters: Filters, allowed: Sequence[str] | None) -> list[ToolRow]:
    """Tool calls, results and failures per (tool, agent), most called first.

    Agents record a tool's status on its call, its result or both, so a tool's failures are the larger
    of its failed calls and its failed results (never their sum, which would count one failure twice).
    """
    query = (
        select(
            R.tool_name,
            R.agent,
            _kind_sum("tool_call").label("calls"),
            _kind_sum("tool_result").label("results"),
            _kind_sum("tool_call", R.failures).label("failed_calls"),
            _kind_sum("tool_result", R.failures).label("failed_results"),
        )
        .where(*conditions(filters, allowed), R.kind.in_(("tool_call", "tool_result")), R.tool_name != "")
        .group_by(R.tool_name, R.agent)
    )
    rows = [
        ToolRow(
            tool=row.tool_name,
            agent=row.agent,
            calls=int(row.calls),
            results=int(row.results),
            failures=max(int(row.failed_calls), int(row.failed_results)),
        )
        for row in await conn.execute(query)
    ]
    return sorted(rows, key=lambda r: (-(r.calls or r.results), r.tool, r.agent))


@dataclass(frozen=True)
class FileEditRow:
    """File edits in one workspace."""

    workspace: str | None
    project: str | None
    edits: int
    lines_added: int
    lines_removed: int
    sessions: int
    developers: int


async def file_edits(conn: AsyncConnection, filters: Filters, allowed: Sequence[str] | None) -> list[FileEditRow]:
    """`file_edit` events and lines added/removed per workspace, most edits first."""
    query = (
        select(
            R.workspace,
            func.max(R.project).label("project"),
            func.sum(R.events).label("edits"),
            func.sum(R.lines_added).label("lines_added"),
            func.sum(R.lines_removed).label("lines_removed"),
            func.count(func.distinct(R.session_id)).label("sessions"),
            func.count(func.distinct(func.nullif(R.user_name, ""))).label("developers"),
        )
        .where(*conditions(filters, allowed), R.kind == "file_edit")
        .group_by(R.workspace)
        .order_by(literal_column("edits").desc(), R.workspace)
        .limit(500)
    )
    return [
        FileEditRow(
            workspace=_none(row.workspace),
            project=_none(row.project),
            edits=int(row.edits),
            lines_added=int(row.lines_added),
            lines_removed=int(row.lines_removed),
            sessions=int(row.sessions),
            developers=int(row.developers),
        )
        for row in await conn.execute(query)
    ]


async def error_counts(conn: AsyncConnection, filters: Filters, allowed: Sequence[str] | None) -> dict[str, int]:
    """`error` events per agent."""
    query = (
        select(R.agent, func.sum(R.events)).where(*conditions(filters, allowed), R.kind == "error").group_by(R.agent)
    )
    return {agent: int(count) for agent, count in await conn.execute(query)}


@dataclass(frozen=True)
class SessionRow:
    """One line of the sessions list."""

    session_id: str
    first_ts: datetime
    last_ts: datetime
    agent: str
    user: str | None
    workspace: str | None
    project: str | None
    model: str | None
    events: int
    prompts: int
    tool_calls: int
    tokens: int
    cost_usd: float

    @property
    def duration(self) -> timedelta:
        """Time from the first to the last event."""
        return self.last_ts - self.first_ts


def _like(column: Any, text: str) -> ColumnElement[bool]:
    return func.lower(column).contains(text.lower(), autoescape=True)  # type: ignore[no-any-return]


def _event_text(dialect: str) -> ColumnElement[Any]:
    """An event's `text` as stored in its JSON `body` (read by the database's JSON functions).

    Matching the raw body instead found JSON key names (`text`, `session_id`: every session) and
    missed quotes, backslashes and `\\u00e9`-style escapes in the text (`"make test"`, `C:\\repo`).
    """
    if dialect == "postgresql":
        text: ColumnElement[Any] = cast(E.body, JSONB)["text"].astext
        return text
    return func.json_extract(E.body, "$.text")


@dataclass(frozen=True)
class SessionsPage:
    """One page of the sessions list: its rows, how many sessions match, its number and the page count."""

    rows: list[SessionRow]
    count: int
    number: int
    """Counted from 1, as the page's URL and heading show it."""
    pages: int
    """At least 1 (an empty list is one empty page)."""


async def sessions_page(
    conn: AsyncConnection,
    filters: Filters,
    allowed: Sequence[str] | None,
    *,
    search: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> SessionsPage:
    """Page `page` (counted from 1) of the sessions with activity in the period, most recent first.

    `search` matches a session id, workspace, project, user or model, or the text of one of the
    session's prompts in the period (prompt events are read through the (kind, ts) index). The
    sessions are counted first so that a page past the end (an old bookmark, a list that shrank)
    is the last page rather than an empty one that says nothing matches; below 1 is page 1.
    """
    conds = conditions(filters, allowed)
    if search:
        prompt_conds: list[ColumnElement[bool]] = [E.kind == "prompt", _like(_event_text(conn.dialect.name), search)]
        if filters.since:
            prompt_conds.append(E.ts >= filters.since)
        if filters.until:
            prompt_conds.append(E.ts < filters.until)
        if allowed is not None:
            prompt_conds.append(E.workspace.in_(list(allowed)) if allowed else false())
        matched = select(E.session_id).where(*prompt_conds).distinct().limit(MAX_PROMPT_MATCHES)
        prompt_sessions = list((await conn.execute(matched)).scalars())
        conds.append(
            or_(
                _like(R.session_id, search),
                _like(R.workspace, search),
                _like(R.project, search),
                _like(R.user_name, search),
                _like(R.model, search),
                R.session_id.in_(prompt_sessions),
            )
        )
    count = int((await conn.execute(select(func.count(func.distinct(R.session_id))).where(*conds))).scalar_one())
    pages = max(1, -(-count // page_size))
    number = min(max(1, page), pages)
    tokens = R.input_tokens + R.output_tokens + R.cache_creation_tokens + R.cache_read_tokens
    query = (
        select(
            R.session_id,
            func.min(R.first_ts).label("first_ts"),
            func.max(R.last_ts).label("last_ts"),
            func.max(R.agent).label("agent"),
            func.max(R.user_name).label("user_name"),
            func.max(R.workspace).label("workspace"),
            func.max(R.project).label("project"),
            func.max(R.model).label("model"),
            func.sum(R.events).label("events"),
            _kind_sum("prompt").label("prompts"),
            _kind_sum("tool_call").label("tool_calls"),
            func.sum(tokens).label("tokens"),
            func.sum(R.cost_usd).label("cost_usd"),
        )
        .where(*conds)
        .group_by(R.session_id)
        .order_by(literal_column("last_ts").desc(), R.session_id)
        .limit(page_size)
        .offset((number - 1) * page_size)
    )
    rows = [
        SessionRow(
            session_id=row.session_id,
            first_ts=_utc(row.first_ts),
            last_ts=_utc(row.last_ts),
            agent=row.agent,
            user=_none(row.user_name),
            workspace=_none(row.workspace),
            project=_none(row.project),
            model=_none(row.model),
            events=int(row.events),
            prompts=int(row.prompts),
            tool_calls=int(row.tool_calls),
            tokens=int(row.tokens),
            cost_usd=round(float(row.cost_usd), 6),
        )
        for row in await conn.execute(query)
    ]
    return SessionsPage(rows=rows, count=count, number=number, pages=pages)


async def session_events(
    conn: AsyncConnection, session_id: str, allowed: Sequence[str] | None, *, limit: int = MAX_SESSION_EVENTS
) -> tuple[list[Event], bool]:
    """The session's events the key may read, in conversation order, and whether more were left out."""
    conds: list[ColumnElement[bool]] = [E.session_id == session_id]
    if allowed is not None:
        conds.append(E.workspace.in_(list(allowed)) if allowed else false())
    query = select(E.body).where(*conds).order_by(E.ts, E.id).limit(limit + 1)
    bodies = list((await conn.execute(query)).scalars())
    events = [decode_event(body) for body in bodies[:limit]]
    rank = {kind: i for i, kind in enumerate(KIND_ORDER)}
    # A reply stored as its text and, beside it at the same time, its usage record (Claude Code): the
    # usage after the text, in every turn (the ids, random, put it before or after).
    events.sort(key=lambda e: (e.ts, rank.get(e.kind, len(rank)), e.text is None and e.usage is not None))
    return events, len(bodies) > limit


@dataclass(frozen=True)
class SessionTotals:
    """The header of a session page: totals over every event of the session the key may read."""

    events: int
    kinds: dict[str, int]
    tokens: int
    cost_usd: float
    models: list[str]
    first_ts: datetime
    last_ts: datetime


async def session_totals(conn: AsyncConnection, session_id: str, allowed: Sequence[str] | None) -> SessionTotals | None:
    """Events per kind, tokens, cost, models and first/last time of one whole session (None: no events).

    Read from the rollup (one row per day, kind, model... of the session, through its session_id
    index) rather than from the events the page lists, which stop at `MAX_SESSION_EVENTS`.
    """
    conds: list[ColumnElement[bool]] = [R.session_id == session_id]
    if allowed is not None:
        conds.append(R.workspace.in_(list(allowed)) if allowed else false())
    tokens = R.input_tokens + R.output_tokens + R.cache_creation_tokens + R.cache_read_tokens
    query = (
        select(
            R.kind,
            R.model,
            func.sum(R.events).label("events"),
            func.sum(tokens).label("tokens"),
            func.sum(R.cost_usd).label("cost_usd"),
            func.min(R.first_ts).label("first_ts"),
            func.max(R.last_ts).label("last_ts"),
        )
        .where(*conds)
        .group_by(R.kind, R.model)
    )
    rows = (await conn.execute(query)).all()
    if not rows:
        return None
    kinds: dict[str, int] = {}
    for row in rows:
        kinds[row.kind] = kinds.get(row.kind, 0) + int(row.events)
    return SessionTotals(
        events=sum(kinds.values()),
        kinds=kinds,
        tokens=sum(int(row.tokens) for row in rows),
        cost_usd=round(sum(float(row.cost_usd) for row in rows), 6),
        models=sorted({row.model for row in rows if row.model}),
        first_ts=min(_utc(row.first_ts) for row in rows),
        last_ts=max(_utc(row.last_ts) for row in rows),
    )


#: Order of kinds recorded at the same instant (a call before its result, a prompt before its answer).
KIND_ORDER: Final = ("session_start", "prompt", "response", "tool_call", "tool_result", "file_edit", "command", "error")


async def filter_choices(
    conn: AsyncConnection, filters: Filters, allowed: Sequence[str] | None
) -> dict[str, list[str]]:
    """The values the filter bar offers for the period: workspaces, agents, users and models seen."""
    period = Filters(period=filters.period, since_day=filters.since_day, until_day=filters.until_day)
    query = (
        select(R.workspace, R.agent, R.user_name, R.model)
        .where(*conditions(period, allowed))
        .group_by(R.workspace, R.agent, R.user_name, R.model)
        .limit(20_000)
    )
    seen: dict[str, set[str]] = {"workspace": set(), "agent": set(), "user": set(), "model": set()}
    for row in await conn.execute(query):
        for name, value in zip(("workspace", "agent", "user", "model"), row, strict=True):
            if value:
                seen[name].add(value)
    if allowed is not None:
        seen["workspace"] |= set(allowed)
    return {name: sorted(values) for name, values in seen.items()}
