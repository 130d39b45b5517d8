"""Operational endpoints: liveness, readiness (database reachable) and Prometheus metrics.

They need no key, so orchestrators and scrapers can call them; they reveal no event data.
"""

from __future__ import annotations

import functools
from typing import Any

from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec

from devlog_server.errors import NOT_MIGRATED, is_database_outage, is_missing_schema
from devlog_server.schemas import HealthStatus
from devlog_server.state import server_state

__all__ = ["healthz", "metrics", "readyz"]


@get("/healthz", operation_id="healthz", tags=["ops"], summary="Liveness")
async def healthz() -> HealthStatus:
    """200 while the process is up."""
    return HealthStatus(status="ok")


@get(
    "/readyz",
    operation_id="readyz",
    tags=["ops"],
    summary="Readiness",
    responses={503: ResponseSpec(HealthStatus, description="The database is unreachable.")},
)
async def readyz(request: Request[Any, Any, Any]) -> Response[HealthStatus]:
    """200 when the database answers at this release's migration; 503 (with Retry-After) when it does
    not answer, or has no devlog tables (dropped and created again under a running server: every
    API call would fail), or is at another migration."""
    state = server_state(request)
    try:
        revision = await state.db.schema_revision()
    except Exception as exc:
        if is_missing_schema(exc):
            return _unready(state, NOT_MIGRATED)
        if not is_database_outage(exc) and not isinstance(exc, OSError):
            raise
        return _unready(state, None)
    head = _head_revision()
    if revision != head:
        return _unready(state, f"the database is at migration {revision}, not {head} as this release needs")
    return Response(HealthStatus(status="ok", database=state.db.dialect))


def _unready(state: Any, detail: str | None) -> Response[HealthStatus]:
    return Response(
        HealthStatus(status="unavailable", database=state.db.dialect, detail=detail),
        status_code=503,
        headers={"Retry-After": "5"},
    )


@functools.cache
def _head_revision() -> str | None:
    from devlog_server.db.migrate import head_revision  # (Alembic's script directory: read once)

    return head_revision()


@get("/metrics", operation_id="metrics", tags=["ops"], summary="Prometheus metrics", media_type="text/plain")
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Counters and histograms in the Prometheus text format."""
    body = server_state(request).metrics.render()
    # Litestar appends `; charset=utf-8` to every text/* media type, so it is not written here.
    return Response(body, media_type="text/plain; version=0.0.4")
