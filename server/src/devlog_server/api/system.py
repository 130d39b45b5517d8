"""Operational endpoints: liveness, readiness (database reachable) and Prometheus metrics.

They need no key, so orchestrators and scrapers can call them; they reveal no event data.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec

from devlog_server.errors import is_database_outage
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
    """200 when the database answers, 503 (with Retry-After) when it does not."""
    state = server_state(request)
    try:
        await state.db.ping()
    except Exception as exc:
        if not is_database_outage(exc) and not isinstance(exc, OSError):
            raise
        return Response(
            HealthStatus(status="unavailable", database=state.db.dialect),
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return Response(HealthStatus(status="ok", database=state.db.dialect))


@get("/metrics", operation_id="metrics", tags=["ops"], summary="Prometheus metrics", media_type="text/plain")
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Counters and histograms in the Prometheus text format."""
    body = server_state(request).metrics.render()
    # Litestar appends `; charset=utf-8` to every text/* media type, so it is not written here.
    return Response(body, media_type="text/plain; version=0.0.4")
