"""Read endpoints: `GET /api/v1/events`, `GET /api/v1/stats`, `GET /api/v1/whoami` (scope `read`,
except whoami which any valid key may call). Results never include workspaces outside the key's globs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, get_args

from litestar import Request, get
from litestar.params import Parameter

from devlog_server import __version__
from devlog_server.api.openapi import BEARER_SECURITY, problem_responses
from devlog_server.auth import authenticate
from devlog_server.errors import invalid_parameter
from devlog_server.ingest import workspace_filter_problem
from devlog_server.queries import EventFilters, allowed_workspaces, list_events, stats
from devlog_server.schemas import EventPage, GroupBy, StatsResponse
from devlog_server.state import server_state
from devlog_server.text import text_problem
from devlog_shared import EventKind, ServerLimits, WhoAmI
from devlog_shared.limits import MAX_YEAR, MIN_YEAR

__all__ = ["CHOICE_PARAMETERS", "get_events", "get_stats", "whoami"]

Order = Literal["asc", "desc"]
Kind = Annotated[EventKind | None, Parameter(description="Only events of this kind.")]
OrderParam = Annotated[Order, Parameter(description="Oldest first (asc) or newest first (desc).")]
By = Annotated[GroupBy, Parameter(description="What to group by.")]
#: The query parameters that take one of a few values, and those values (a 400 lists them, `errors.py`).
CHOICE_PARAMETERS: Final = {"by": get_args(GroupBy), "kind": get_args(EventKind), "order": get_args(Order)}
_ERRORS = problem_responses(400, 401, 403, 429, 503)
Text = Annotated[str | None, Parameter(max_length=4096)]
Workspace = Annotated[
    str | None, Parameter(max_length=4096, description="Folder prefix: matches this folder and everything below it.")
]
ModelName = Annotated[str | None, Parameter(max_length=4096, description="Only events of this model (exact match).")]
Since = Annotated[
    datetime | None, Parameter(description="Events at or after this RFC 3339 date-time (UTC if no offset).")
]
Until = Annotated[datetime | None, Parameter(description="Events before this RFC 3339 date-time (UTC if no offset).")]


def _filters(
    workspace: str | None,
    agent: str | None,
    kind: str | None,
    session_id: str | None,
    since: datetime | None,
    until: datetime | None,
    user: str | None,
    model: str | None,
) -> EventFilters:
    texts = (("workspace", workspace), ("agent", agent), ("session_id", session_id), ("user", user), ("model", model))
    for name, value in texts:
        problem = text_problem(value)
        if problem is not None:
            raise invalid_parameter(name, f"query parameter {name!r} {problem}")
    problem = workspace_filter_problem(workspace) if workspace else None
    if problem is not None:
        raise invalid_parameter("workspace", f"query parameter 'workspace' {problem}")
    since, until = _utc_bound("since", since), _utc_bound("until", until)
    if since is not None and until is not None and since >= until:
        # (an empty answer to a question nobody meant to ask: `until` is exclusive)
        raise invalid_parameter("until", "query parameter 'until' must be later than 'since'")
    return EventFilters(
        workspace=workspace,
        agent=agent,
        kind=kind,
        session_id=session_id,
        since=since,
        until=until,
        user=user,
        model=model,
    )


def _utc_bound(name: str, value: datetime | None) -> datetime | None:
    """A time filter in UTC, refused with a 400 outside the years events may have (not a 500 on overflow)."""
    if value is None:
        return None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise invalid_parameter(name, f"query parameter {name!r} must be between {MIN_YEAR} and {MAX_YEAR}")
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


@get(
    "/api/v1/events",
    operation_id="listEvents",
    tags=["read"],
    security=BEARER_SECURITY,
    summary="List events",
    responses=_ERRORS,
)
async def get_events(
    request: Request[Any, Any, Any],
    workspace: Workspace = None,
    agent: Text = None,
    kind: Kind = None,
    session_id: Text = None,
    since: Since = None,
    until: Until = None,
    user: Text = None,
    model: ModelName = None,
    limit: Annotated[
        int, Parameter(ge=1, description="Page size; larger values are capped at the server's max page size.")
    ] = 100,
    cursor: Annotated[str | None, Parameter(max_length=1024, description="`next_cursor` of the previous page.")] = None,
    order: OrderParam = "desc",
) -> EventPage:
    """Events matching the filters, ordered by (ts, id), one page at a time (keyset pagination)."""
    state = server_state(request)
    key = await authenticate(request, "read")
    filters = _filters(workspace, agent, kind, session_id, since, until, user, model)
    async with state.db.read() as conn:
        allowed = await allowed_workspaces(conn, key.matcher)
        return await list_events(
            conn,
            filters,
            allowed=allowed,
            limit=min(limit, state.settings.max_page_size),
            cursor=cursor,
            order=order,
        )


@get(
    "/api/v1/stats",
    operation_id="getStats",
    tags=["read"],
    security=BEARER_SECURITY,
    summary="Grouped totals",
    responses=_ERRORS,
)
async def get_stats(
    request: Request[Any, Any, Any],
    by: By = "day",
    workspace: Workspace = None,
    agent: Text = None,
    kind: Kind = None,
    session_id: Text = None,
    since: Since = None,
    until: Until = None,
    user: Text = None,
    model: ModelName = None,
    limit: Annotated[int, Parameter(ge=1, le=10_000, description="Most groups returned.")] = 1000,
) -> StatsResponse:
    """Event counts (by kind), distinct sessions, tokens and cost, grouped by day/agent/workspace/project/model/user."""
    state = server_state(request)
    key = await authenticate(request, "read")
    filters = _filters(workspace, agent, kind, session_id, since, until, user, model)
    async with state.db.read() as conn:
        allowed = await allowed_workspaces(conn, key.matcher)
        return await stats(conn, filters, by=by, allowed=allowed, dialect=state.db.dialect, limit=limit)


@get(
    "/api/v1/whoami",
    operation_id="whoAmI",
    tags=["read"],
    security=BEARER_SECURITY,
    summary="The calling key",
    responses=_ERRORS,
)
async def whoami(request: Request[Any, Any, Any]) -> WhoAmI:
    """The calling key's name, scopes and workspace globs, and the limits to size batches by."""
    state = server_state(request)
    key = await authenticate(request, None)
    settings = state.settings
    return WhoAmI(
        key_name=key.name,
        key_id=key.id,
        scopes=list(key.scopes),
        workspaces=list(key.workspaces),
        limits=ServerLimits(
            max_events_per_batch=settings.max_events_per_batch,
            max_body_bytes=settings.max_body_bytes,
            max_event_bytes=settings.max_event_bytes,
            rate_limit_per_minute=settings.rate_limit_per_minute or None,
        ),
        server_version=__version__,
    )
