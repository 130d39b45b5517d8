"""The read side: event listing with keyset pagination, grouped stats, workspace scoping.

Filters are shared by `GET /api/v1/events` and `GET /api/v1/stats`. `workspace` is a folder prefix:
`/srv/app` matches `/srv/app` and everything below it (`/srv/app/api`), not `/srv/application`; it is
an index range scan on (workspace, ts). A key limited to workspace globs only ever sees workspaces its
globs match: the globs are resolved against the table of known workspaces (exactly as on ingest) and
become an `IN` list, so no filter combination can reach another workspace's rows.

Pagination is keyset on (ts, id) in the requested order, with an opaque cursor; rows inserted while
paging never shift or repeat pages.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Final, Literal

import msgspec
from sqlalchemy import ColumnElement, and_, case, false, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from devlog_server.db.models import API_KEYS, COLLECTORS, EVENTS, REJECTIONS, WORKSPACES
from devlog_server.errors import ApiError
from devlog_server.globs import WorkspaceMatcher
from devlog_server.schemas import CollectorHealth, EventPage, GroupBy, RecentRejection, StatsGroup, StatsResponse
from devlog_server.text import text_problem
from devlog_shared import EVENT_KINDS, decode_event

__all__ = [
    "EventFilters",
    "allowed_workspaces",
    "collectors_health",
    "decode_cursor",
    "encode_cursor",
    "list_events",
    "prefix_folder",
    "recent_rejections",
    "stats",
    "workspace_prefix_condition",
]

Order = Literal["asc", "desc"]
events_table: Final = EVENTS
_cursor_decoder: Final = msgspec.json.Decoder(list[str])


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class EventFilters:
    """Filters of the read endpoints (all optional; combined with AND)."""

    workspace: str | None = None
    agent: str | None = None
    kind: str | None = None
    session_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    user: str | None = None
    model: str | None = None


def prefix_folder(prefix: str) -> str:
    """A workspace filter as the prefix match reads it: a trailing `/` dropped, the root kept."""
    return prefix.rstrip("/") or prefix[:1]


def workspace_prefix_condition(column: Any, prefix: str) -> ColumnElement[bool]:
    """`column` is the folder `prefix` or below it (an index range scan; the API and dashboard share it).

    Stored workspaces separate folders with `/` only (Windows ones too: `C:/…`, see ingest), so a
    `\\` is part of a folder's name: `/srv/app\\notes` is a sibling of `/srv/app`, not below it.
    """
    stripped = prefix_folder(prefix)
    if stripped == "/":
        return and_(column >= "/", column < "0")  # (every POSIX and UNC workspace; not `C:/…`)
    return or_(column == stripped, and_(column >= stripped + "/", column < stripped + "0"))


def _conditions(filters: EventFilters, allowed: Sequence[str] | None) -> list[ColumnElement[bool]]:
    c = events_table.c
    conds: list[ColumnElement[bool]] = []
    if allowed is not None:
        conds.append(c.workspace.in_(list(allowed)) if allowed else false())
    if filters.workspace:
        conds.append(workspace_prefix_condition(events_table.c.workspace, filters.workspace))
    if filters.agent:
        conds.append(c.agent == filters.agent)
    if filters.kind:
        conds.append(c.kind == filters.kind)
    if filters.session_id:
        conds.append(c.session_id == filters.session_id)
    if filters.user:
        conds.append(c.user_name == filters.user)
    if filters.model:
        conds.append(c.model == filters.model)
    if filters.since:
        conds.append(c.ts >= _utc(filters.since))
    if filters.until:
        conds.append(c.ts < _utc(filters.until))
    return conds


async def allowed_workspaces(conn: AsyncConnection, matcher: WorkspaceMatcher) -> list[str] | None:
    """The known workspaces a key's globs allow (None when the key is unrestricted)."""
    if matcher.unrestricted:
        return None
    result = await conn.execute(select(WORKSPACES.c.workspace))
    return [w for w in result.scalars() if matcher.allows(w)]


def query_tag(filters: EventFilters, order: str) -> str:
    """A short digest of the filters and order a page was read with: its cursor carries it, so a
    cursor passed with other filters or the other order (which would page through another list from
    a position in this one, silently) is refused."""
    canonical = msgspec.json.encode([order, *(getattr(filters, f.name) for f in fields(filters))], enc_hook=str)
    return hashlib.sha256(canonical).hexdigest()[:12]


def encode_cursor(ts: datetime, event_id: str, tag: str) -> str:
    """An opaque cursor for the position just after (ts, id) in the list `tag` names (`query_tag`)."""
    raw = msgspec.json.encode([_utc(ts).isoformat(), event_id, tag])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _invalid_cursor(why: str) -> ApiError:
    return ApiError(400, f"invalid cursor: {why}; pass the next_cursor of a previous page", code="invalid_cursor")


def decode_cursor(cursor: str, tag: str | None = None) -> tuple[datetime, str]:
    """The (ts, id) position of a cursor; ApiError 400 when it was not made by this server.

    Cursors are opaque but not signed, so a hand-made one is checked as fully as any other input:
    a timestamp whose offset moves it past the last representable instant (`9999-12-31T23:59:59-01:00`)
    and an id the database cannot take as a parameter (a NUL character) are 400s, not 500s.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = _cursor_decoder.decode(raw)
    except (ValueError, msgspec.DecodeError) as exc:
        raise _invalid_cursor("it is not one this server made") from exc
    if len(parts) not in (2, 3):  # (2: a cursor of a release before query tags; still honoured)
        raise _invalid_cursor("it is not one this server made")
    ts_text, event_id = parts[0], parts[1]
    if len(parts) == 3 and tag is not None and parts[2] != tag:
        raise _invalid_cursor("it belongs to a query with other filters or the other order; start again without one")
    try:
        ts = _utc(datetime.fromisoformat(ts_text))
    except ValueError as exc:
        raise _invalid_cursor("its timestamp is not an ISO 8601 date-time") from exc
    except OverflowError as exc:
        raise _invalid_cursor("its timestamp is out of range") from exc
    problem = text_problem(event_id)
    if problem is not None:
        raise _invalid_cursor(f"its event id {problem}")
    return ts, event_id


async def list_events(
    conn: AsyncConnection,
    filters: EventFilters,
    *,
    allowed: Sequence[str] | None,
    limit: int,
    cursor: str | None = None,
    order: Order = "desc",
) -> EventPage:
    """One page of events matching `filters`, ordered by (ts, id)."""
    c = events_table.c
    conds = _conditions(filters, allowed)
    tag = query_tag(filters, order)
    if cursor:
        ts, event_id = decode_cursor(cursor, tag)
        position = tuple_(c.ts, c.id)
        conds.append(
            position < tuple_(literal(ts, c.ts.type), literal(event_id))
            if order == "desc"
            else position > tuple_(literal(ts, c.ts.type), literal(event_id))
        )
    ordering = (c.ts.desc(), c.id.desc()) if order == "desc" else (c.ts.asc(), c.id.asc())
    query = select(c.ts, c.id, c.body).where(*conds).order_by(*ordering).limit(limit + 1)
    rows = (await conn.execute(query)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    events = [decode_event(row.body) for row in rows]
    next_cursor = encode_cursor(rows[-1].ts, rows[-1].id, tag) if more and rows else None
    return EventPage(events=events, next_cursor=next_cursor)


def _group_expression(by: GroupBy, dialect: str) -> Any:
    c = events_table.c
    if by == "day":
        if dialect == "postgresql":
            return func.to_char(func.timezone("UTC", c.ts), "YYYY-MM-DD")
        return func.substr(c.ts, 1, 10)
    return {"agent": c.agent, "workspace": c.workspace, "project": c.project, "model": c.model, "user": c.user_name}[by]


def _aggregates() -> list[Any]:
    c = events_table.c
    columns: list[Any] = [
        func.count().label("events"),
        func.count(func.distinct(c.session_id)).label("sessions"),
    ]
    columns += [
        func.coalesce(func.sum(case((c.kind == kind, 1), else_=0)), 0).label(f"k_{kind}") for kind in EVENT_KINDS
    ]
    for name in ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "reasoning_tokens"):
        columns.append(func.coalesce(func.sum(c[name]), 0).label(name))
    columns.append(func.coalesce(func.sum(c.cost_usd), 0.0).label("cost_usd"))
    return columns


def _to_group(key: Any, row: Any) -> StatsGroup:
    return StatsGroup(
        key=None if key is None else str(key),
        events=int(row.events),
        sessions=int(row.sessions),
        kinds={kind: int(getattr(row, f"k_{kind}")) for kind in EVENT_KINDS if getattr(row, f"k_{kind}")},
        input_tokens=int(row.input_tokens),
        output_tokens=int(row.output_tokens),
        cache_creation_tokens=int(row.cache_creation_tokens),
        cache_read_tokens=int(row.cache_read_tokens),
        reasoning_tokens=int(row.reasoning_tokens),
        cost_usd=round(float(row.cost_usd), 6),
    )


async def stats(
    conn: AsyncConnection,
    filters: EventFilters,
    *,
    by: GroupBy,
    allowed: Sequence[str] | None,
    dialect: str,
    limit: int = 1000,
) -> StatsResponse:
    """Counts (by kind, sessions) and token/cost totals grouped `by`, plus the overall total."""
    conds = _conditions(filters, allowed)
    group = _group_expression(by, dialect).label("group_key")
    aggregates = _aggregates()
    grouped = select(group, *aggregates).where(*conds).group_by(group)
    # Days: the newest `limit` of them (in date order); other groupings: the largest groups.
    grouped = grouped.order_by(group.desc()) if by == "day" else grouped.order_by(func.count().desc(), group)
    rows = list((await conn.execute(grouped.limit(limit + 1))).all())
    truncated = len(rows) > limit
    rows = rows[:limit]
    if by == "day":
        rows.reverse()
    total_row = (await conn.execute(select(*aggregates).where(*conds))).one()
    return StatsResponse(
        by=by,
        groups=[_to_group(row.group_key, row) for row in rows],
        total=_to_group(None, total_row),
        truncated=truncated,
    )


async def collectors_health(conn: AsyncConnection) -> list[CollectorHealth]:
    """Every collector that has sent a batch, most recently seen first (for the ingest-health view)."""
    t = COLLECTORS.c
    query = (
        select(COLLECTORS, API_KEYS.c.name.label("key_name"))
        .select_from(COLLECTORS.outerjoin(API_KEYS, API_KEYS.c.id == t.key_id))
        .order_by(t.last_seen.desc())
    )
    return [
        CollectorHealth(
            key_id=row.key_id,
            key_name=row.key_name,
            machine=row.machine,
            name=row.name,
            version=row.version,
            first_seen=_utc(row.first_seen),
            last_seen=_utc(row.last_seen),
            batches=row.batches,
            created=row.created,
            duplicates=row.duplicates,
            rejected=row.rejected,
        )
        for row in await conn.execute(query)
    ]


async def recent_rejections(conn: AsyncConnection, limit: int = 100) -> list[RecentRejection]:
    """The newest per-item rejections, newest first."""
    t = REJECTIONS.c
    query = select(REJECTIONS).order_by(t.id.desc()).limit(limit)
    return [
        RecentRejection(
            received_at=_utc(row.received_at),
            key_id=row.key_id,
            machine=row.machine,
            event_id=row.event_id,
            index=row.item_index,
            reason=row.reason,
        )
        for row in await conn.execute(query)
    ]
