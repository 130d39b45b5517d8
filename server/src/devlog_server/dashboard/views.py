"""The dashboard's pages: route handlers that run the queries and render the Jinja templates.

Every page except sign-in needs a session (`Viewer`, provided as a dependency; without one the
browser is redirected to the sign-in form) and reads only the workspaces that session's key may
read. Pages are plain GET forms and links, so they work without JavaScript; htmx (hx-boost) only
makes navigation and filtering swap the page body instead of reloading it.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal
from urllib.parse import quote, urlencode

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie, ResponseHeader
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_401_UNAUTHORIZED

from devlog_server import __version__
from devlog_server.dashboard import queries
from devlog_server.dashboard.filters import PERIODS, Filters, parse_filters, subfolder_counts
from devlog_server.dashboard.links import session_id_from_path
from devlog_server.dashboard.present import chart_payload, colour, colour_map, sparkline_svg
from devlog_server.dashboard.session import (
    COOKIE_PATH,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    SIGNIN_CSRF_COOKIE,
    CsrfError,
    SignInRequired,
    Viewer,
    check_origin,
    create_session,
    delete_session,
    require_viewer,
    safe_next,
    tokens_match,
    verify_key,
)
from devlog_server.dashboard.slices import DISTINCT_METRICS, Dimension, Totals, has_any_events, load_slices
from devlog_server.errors import DATABASE_ERRORS, problem_for
from devlog_server.queries import collectors_health, recent_rejections
from devlog_server.state import server_state
from devlog_server.text import safe_text, text_problem

__all__ = ["DashboardController", "error_page"]

Metric = Literal["events", "sessions", "developers", "tokens", "cost"]
METRICS: Final[dict[str, tuple[str, str]]] = {
    "tokens": ("Tokens", "tokens"),
    "cost": ("Cost", "USD"),
    "events": ("Events", "events"),
    "sessions": ("Sessions", "sessions"),
    "developers": ("Active developers", "developers"),
}
NAV: Final[tuple[tuple[str, str, str], ...]] = (
    ("overview", "/dashboard", "Overview"),
    ("people", "/dashboard/people", "People & projects"),
    ("tools", "/dashboard/tools", "Tools"),
    ("sessions", "/dashboard/sessions", "Sessions"),
    ("ingest", "/dashboard/ingest", "Ingest health"),
)
SECURITY_HEADERS: Final = [
    ResponseHeader(name="Cache-Control", value="no-store"),
    ResponseHeader(name="X-Frame-Options", value="DENY"),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="same-origin"),
    ResponseHeader(
        name="Content-Security-Policy",
        value="default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    ),
]
PAGE_SIZE: Final = 50
#: Rows of the overview's "By model" table; the models after them are summed in one last row.
MODEL_ROWS: Final = 12
SORT_PARAMS: Final = ("usort", "psort", "wsort")


def _request_path(request: Request[Any, Any, Any]) -> str:
    """The request's path as a URL path again: Litestar's is percent-decoded, and a session page's path
    holds an escaped id (`dashboard.links`) that a link or redirect must not send decoded."""
    return quote(request.url.path)


def _query(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {name: str(request.query_params.get(name) or "") for name in request.query_params}


def _page_number(value: str | None) -> int:
    """The sessions page asked for, counted from 1 as the page shows it; anything else is page 1.

    Links made before pages were counted from 1 said `page=0` for the first page: that is page 1 too.
    """
    try:
        return max(1, int(value or 1))
    except ValueError:
        return 1


def _choice(value: str | None, allowed: Sequence[str], default: str) -> str:
    return value if value is not None and value in allowed else default


def _search(query: dict[str, str]) -> str | None:
    """The sessions list's search text (`q`), as the list reads it."""
    return safe_text((query.get("q") or "").strip(), 200).strip() or None


def _list_query(filters: Filters, search: str | None, page: int) -> str:
    """The query string of a sessions list page: its filters, search and page (page 1 is the bare URL).

    Session links carry it, so the session page's links lead back to the same filters, search and page.
    """
    return filters.query(q=search, page=str(page) if page > 1 else None)


def _unfiltered(filters: Filters) -> bool:
    return not (filters.workspace or filters.agent or filters.user or filters.model)


async def _page(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    active: str,
    filters: Filters,
    *,
    choices: dict[str, list[str]] | None = None,
    **context: Any,
) -> dict[str, Any]:
    """The context every signed-in page shares: viewer, filters, filter choices, navigation.

    `choices` may be passed when the page already holds the period's unfiltered slices.
    """
    if choices is None:
        state = server_state(request)
        async with state.db.read() as conn:
            choices = await queries.filter_choices(conn, filters, viewer.allowed)
    elif viewer.allowed is not None:
        choices = {**choices, "workspace": sorted(set(choices["workspace"]) | set(viewer.allowed))}
    return {
        "viewer": viewer,
        "filters": filters,
        "choices": choices,
        "subfolders": subfolder_counts(choices["workspace"]),
        "periods": PERIODS,
        "nav": [item for item in NAV if item[0] != "ingest" or viewer.sees_ingest_health],
        "active": active,
        "path": _request_path(request),
        "version": __version__,
        "colour": colour,
        "sparkline": sparkline_svg,
        **context,
    }


#: Shown on the sign-in form when a browser's session stopped being valid.
SESSION_ENDED: Final = (
    "Your session has ended: it expired, or its key was revoked or no longer has the read scope. Sign in again."
)


def _sign_in_redirect(request: Request[Any, Any, Any], _exc: Exception) -> Response[Any]:
    """Send a browser without a session to the sign-in form (htmx requests get HX-Redirect)."""
    target = _request_path(request) + (f"?{request.url.query}" if request.url.query else "")
    params: dict[str, str] = {}
    if target.rstrip("/") != "/dashboard":
        params["next"] = target
    if request.cookies.get(SESSION_COOKIE):  # it had a session, no longer valid: say so on the form
        params["ended"] = "1"
    location = "/dashboard/sign-in" + ("?" + urlencode(params) if params else "")
    if request.headers.get("hx-request"):
        return Response(content=None, status_code=204, headers={"HX-Redirect": location})
    return Redirect(location, status_code=HTTP_303_SEE_OTHER)


def error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A readable error page for 403 (CSRF), 404, 405 and 503 inside the dashboard (with the error's status)."""
    status = getattr(exc, "status_code", 500)
    title = {403: "Not allowed", 404: "Not found", 405: "Method not allowed", 503: "Temporarily unavailable"}.get(
        status, "Something went wrong"
    )
    headers = {h.name: h.value for h in SECURITY_HEADERS if h.value}
    if status in (405, 503) and isinstance(getattr(exc, "headers", None), dict):
        headers.update(exc.headers)  # type: ignore[attr-defined]  # Allow, Retry-After
    return Template(
        template_name="error.html.j2",
        context={"title": title, "detail": getattr(exc, "detail", ""), "status": status, "version": __version__},
        status_code=status,
        headers=headers,
    )


def _database_error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A database failure on any page, sign-in included, as the HTML error page: the status, detail and
    Retry-After are the API's (`errors.problem_for`, which also logs it), the body is not problem JSON."""
    return error_page(request, problem_for(exc))


def _kpi_series(per_bucket: Sequence[Totals]) -> dict[str, list[float]]:
    """The KPI cards' sparkline values, one list per card."""
    return {
        "events": [float(t.events) for t in per_bucket],
        "sessions": [float(t.sessions) for t in per_bucket],
        "developers": [float(t.developers) for t in per_bucket],
        "prompts": [float(t.prompts) for t in per_bucket],
        "tokens": [float(t.tokens) for t in per_bucket],
        "cost": [t.cost_usd for t in per_bucket],
    }


class DashboardController(Controller):
    """Every dashboard route, under /dashboard."""

    path = "/dashboard"
    include_in_schema = False
    response_headers = SECURITY_HEADERS
    dependencies = {"viewer": Provide(require_viewer)}
    exception_handlers = {
        SignInRequired: _sign_in_redirect,
        CsrfError: error_page,
        NotFoundException: error_page,
        **dict.fromkeys(DATABASE_ERRORS, _database_error_page),
    }

    # --- sign-in / sign-out -------------------------------------------------------------------

    @get("/sign-in", name="dashboard:sign-in")
    async def sign_in_form(
        self, request: Request[Any, Any, Any], next: FromQuery[str | None] = None, ended: FromQuery[str | None] = None
    ) -> Template:
        """The sign-in form (sets the double-submit CSRF cookie it posts back)."""
        notice = SESSION_ENDED if ended == "1" else None
        return self._sign_in_page(request, next_url=safe_next(next), notice=notice)

    def _sign_in_page(
        self,
        request: Request[Any, Any, Any],
        *,
        next_url: str,
        error: str | None = None,
        status: int = 200,
        notice: str | None = None,
    ) -> Template:
        csrf = secrets.token_urlsafe(32)
        return Template(
            template_name="sign_in.html.j2",
            context={"csrf_token": csrf, "next": next_url, "error": error, "notice": notice, "version": __version__},
            status_code=status,
            cookies=[
                Cookie(
                    key=SIGNIN_CSRF_COOKIE,
                    value=csrf,
                    path=COOKIE_PATH,
                    httponly=True,
                    samesite="strict",
                    secure=request.url.scheme == "https",
                    max_age=3600,
                )
            ],
        )

    @post("/sign-in", name="dashboard:sign-in-post", status_code=HTTP_303_SEE_OTHER)
    async def sign_in(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Check the pasted key; on success start a session and go to the requested page."""
        check_origin(request)
        form = await request.form()
        if not tokens_match(request.cookies.get(SIGNIN_CSRF_COOKIE), str(form.get("csrf_token") or "")):
            raise CsrfError(detail="the sign-in form expired: reload the page and try again")
        next_url = safe_next(str(form.get("next") or ""))
        state = server_state(request)
        key = await verify_key(state, str(form.get("api_key") or "")[:1024])
        if key is None:
            return self._sign_in_page(
                request,
                next_url=next_url,
                error="That key was not accepted. Use an API key with the read scope that has not been revoked.",
                status=HTTP_401_UNAUTHORIZED,
            )
        token, _ = await create_session(state, key)
        return Redirect(
            next_url,
            status_code=HTTP_303_SEE_OTHER,
            cookies=[
                Cookie(
                    key=SESSION_COOKIE,
                    value=token,
                    path=COOKIE_PATH,
                    httponly=True,
                    samesite="lax",
                    secure=request.url.scheme == "https",
                    max_age=int(SESSION_LIFETIME.total_seconds()),
                ),
                Cookie(key=SIGNIN_CSRF_COOKIE, value="", path=COOKIE_PATH, max_age=0, expires=0),
            ],
        )

    @post("/sign-out", name="dashboard:sign-out", status_code=HTTP_303_SEE_OTHER)
    async def sign_out(self, request: Request[Any, Any, Any], viewer: NamedDependency[Viewer]) -> Redirect:
        """End the session (CSRF-protected) and return to the sign-in form."""
        check_origin(request)
        form = await request.form()
        if not tokens_match(viewer.csrf_token, str(form.get("csrf_token") or "")):
            raise CsrfError(detail="missing or wrong CSRF token")
        await delete_session(server_state(request), viewer.token_hash)
        return Redirect(
            "/dashboard/sign-in",
            status_code=HTTP_303_SEE_OTHER,
            cookies=[Cookie(key=SESSION_COOKIE, value="", path=COOKIE_PATH, max_age=0, expires=0)],
        )

    # --- pages --------------------------------------------------------------------------------

    @get("/", name="dashboard:overview")
    async def overview(self, request: Request[Any, Any, Any], viewer: NamedDependency[Viewer]) -> Template:
        """Overview: KPI cards, activity over time split by agent or model, breakdowns, top lists."""
        query = _query(request)
        filters = parse_filters(query)
        metric: Metric = _choice(query.get("metric"), list(METRICS), "tokens")  # type: ignore[assignment]
        split: Literal["agent", "model"] = _choice(query.get("split"), ["agent", "model"], "agent")  # type: ignore[assignment]
        state = server_state(request)
        async with state.db.read() as conn:
            slices = await load_slices(conn, filters, viewer.allowed)
            never_received = not slices.slices and not await has_any_events(conn, viewer.allowed)
        by_model, more_models = slices.breakdown_with_rest("model", limit=MODEL_ROWS)
        title, unit = METRICS[metric]
        model_colours = colour_map([b.key for b in by_model])
        filters = slices.filters  # (its bucket: the one the period is drawn in)
        context = await _page(
            request,
            viewer,
            "overview",
            filters,
            choices=slices.choices() if _unfiltered(filters) else None,
            totals=slices.totals(),
            kpi_labels=slices.labels,
            kpi_series=_kpi_series(slices.per_bucket()),
            chart=chart_payload(
                slices.series(split, metric),
                title=f"{title} per {filters.bucket}" + ("" if metric in DISTINCT_METRICS else f", by {split}"),
                unit=unit,
                colours=model_colours if split == "model" else None,
            ),
            model_colours=model_colours,
            metric=metric,
            split=split,
            metrics=METRICS,
            never_received=never_received,
            distinct_metric=metric in DISTINCT_METRICS,
            extra_params={"metric": metric, "split": split},
            by_agent=slices.breakdown("agent"),
            by_model=by_model,
            more_models=more_models,
            unpriced=slices.unpriced("model"),
            unpriced_agents=slices.unpriced("agent"),
            top_users=slices.breakdown("user", limit=5),
            top_workspaces=slices.breakdown("workspace", limit=5),
        )
        return Template(template_name="overview.html.j2", context=context)

    @get("/people", name="dashboard:people")
    async def people(self, request: Request[Any, Any, Any], viewer: NamedDependency[Viewer]) -> Template:
        """People and projects: per-user and per-workspace tables with sparklines, sortable."""
        query = _query(request)
        filters = parse_filters(query)
        state = server_state(request)
        async with state.db.read() as conn:
            slices = await load_slices(conn, filters, viewer.allowed)
        filters = slices.filters  # (its bucket: the one the trends are drawn in)
        sort_keys = {
            "name": lambda b: (b.key or "").lower(),
            "sessions": lambda b: b.totals.sessions,
            "days": lambda b: b.totals.active_days,
            "events": lambda b: b.totals.events,
            "prompts": lambda b: b.totals.prompts,
            "tokens": lambda b: b.totals.tokens,
            "cost": lambda b: b.totals.cost_usd,
            "last": lambda b: b.totals.last_ts or datetime.min.replace(tzinfo=UTC),
        }
        tables = {}
        dimensions: tuple[tuple[str, str, Dimension], ...] = (
            ("users", "usort", "user"),
            ("projects", "psort", "project"),
            ("workspaces", "wsort", "workspace"),
        )
        for name, param, dimension in dimensions:
            rows, lines = slices.breakdown(dimension), slices.sparklines(dimension)
            raw = query.get(param) or "-cost"
            if raw.lstrip("-") not in sort_keys:
                raw = "-cost"  # a value this page cannot use: the default, not its direction
            descending = raw.startswith("-")
            field = raw.lstrip("-")
            rows = sorted(rows, key=sort_keys[field], reverse=descending)
            tables[name] = {
                "name": name,
                "rows": rows,
                "lines": lines,
                "param": param,
                "sort": field,
                "desc": descending,
            }
        context = await _page(
            request,
            viewer,
            "people",
            filters,
            choices=slices.choices() if _unfiltered(filters) else None,
            tables=tables,
            query=query,
            extra_params={k: query[k] for k in SORT_PARAMS if query.get(k)},
            sort_params=SORT_PARAMS,
        )
        return Template(template_name="people.html.j2", context=context)

    @get("/tools", name="dashboard:tools")
    async def tools(self, request: Request[Any, Any, Any], viewer: NamedDependency[Viewer]) -> Template:
        """Tools: calls by tool and agent, failure rates, file edits per project, errors per agent."""
        filters = parse_filters(_query(request))
        state = server_state(request)
        async with state.db.read() as conn:
            usage = await queries.tool_usage(conn, filters, viewer.allowed)
            edits = await queries.file_edits(conn, filters, viewer.allowed)
            errors = await queries.error_counts(conn, filters, viewer.allowed)
        per_tool: dict[str, dict[str, int]] = {}
        for row in usage:
            per_tool.setdefault(row.tool, {})[row.agent] = row.calls or row.results
        top_tools = sorted(per_tool, key=lambda t: -sum(per_tool[t].values()))[:15]
        agents = sorted({row.agent for row in usage})
        chart = {
            "type": "bar",
            "horizontal": True,
            "title": "Tool calls by tool and agent",
            "unit": "calls",
            "labels": top_tools,
            "total": sum(per_tool[t].get(a, 0) for t in top_tools for a in agents),
            "datasets": [
                {
                    "label": agent,
                    "data": [per_tool[t].get(agent, 0) for t in top_tools],
                    "backgroundColor": colour(agent),
                    "stack": "s",
                }
                for agent in agents
            ],
        }
        context = await _page(request, viewer, "tools", filters, usage=usage, edits=edits, errors=errors, chart=chart)
        return Template(template_name="tools.html.j2", context=context)

    @get("/sessions", name="dashboard:sessions")
    async def sessions(self, request: Request[Any, Any, Any], viewer: NamedDependency[Viewer]) -> Template:
        """Sessions: searchable, filterable list, most recent first, paged."""
        query = _query(request)
        filters = parse_filters(query)
        search = _search(query)
        asked = _page_number(query.get("page"))
        state = server_state(request)
        async with state.db.read() as conn:
            listed = await queries.sessions_page(
                conn, filters, viewer.allowed, search=search, page=asked, page_size=PAGE_SIZE
            )
        context = await _page(
            request,
            viewer,
            "sessions",
            filters,
            rows=listed.rows,
            count=listed.count,
            search=search,
            page=listed.number,
            pages=listed.pages,
            past_the_end=asked if asked > listed.pages else None,
            list_query=_list_query(filters, search, listed.number),
            # A filter change keeps the search (and starts again at page 1).
            extra_params={"q": search} if search else {},
        )
        return Template(template_name="sessions.html.j2", context=context)

    @get("/sessions/{session_id:path}", name="dashboard:session")
    async def session(
        self, request: Request[Any, Any, Any], viewer: NamedDependency[Viewer], session_id: FromPath[str]
    ) -> Template:
        """One session's conversation in order: prompts, responses, tool calls and results, edits."""
        try:
            session_id = session_id_from_path(session_id)
        except UnicodeDecodeError as exc:  # a hand-made `%ff`: no stored id has it
            raise NotFoundException(detail="no such session (or not one this key may read)") from exc
        if text_problem(session_id) is not None:
            raise NotFoundException(detail="no such session (or not one this key may read)")
        state = server_state(request)
        async with state.db.read() as conn:
            events, truncated = await queries.session_events(conn, session_id, viewer.allowed)
            totals = await queries.session_totals(conn, session_id, viewer.allowed) if events else None
        if not events or totals is None:
            raise NotFoundException(detail="no such session (or not one this key may read)")
        query = _query(request)
        filters = parse_filters(query)
        context = await _page(
            request,
            viewer,
            "sessions",
            filters,
            # The list this session was opened from: its filters, search and page.
            list_query=_list_query(filters, _search(query), _page_number(query.get("page"))),
            session_id=session_id,
            events=events,
            truncated=truncated,
            first=events[0],
            totals=totals,
            has_text=any(event.text for event in events),
        )
        return Template(template_name="session.html.j2", context=context)

    @get("/ingest", name="dashboard:ingest")
    async def ingest(self, request: Request[Any, Any, Any], viewer: NamedDependency[Viewer]) -> Template:
        """Ingest health: collectors (last seen, created/duplicate/rejected), recent rejections."""
        filters = parse_filters(_query(request))
        state = server_state(request)
        collectors: list[Any] = []
        rejections: list[Any] = []
        chart = None
        if viewer.sees_ingest_health:
            async with state.db.read() as conn:
                collectors = await collectors_health(conn)
                rejections = await recent_rejections(conn, limit=100)
                slices = await load_slices(conn, filters, None)
            series = slices.series("agent", "events")
            filters = slices.filters  # (its bucket: the one the period is drawn in)
            # Events by their own time (when the agent did the work), not by arrival: an export of a
            # month's history lands in one day. Whether collectors still send: their "last seen".
            title = f"Events per {filters.bucket} of their own time, by agent"
            chart = chart_payload(series, title=title, unit="events")
        reasons = Counter(r.reason.split(":", 1)[0] for r in rejections)
        context = await _page(
            request,
            viewer,
            "ingest",
            filters,
            collectors=collectors,
            rejections=rejections,
            reasons=reasons.most_common(),
            chart=chart,
            now=datetime.now(UTC),
        )
        return Template(template_name="ingest.html.j2", context=context)
