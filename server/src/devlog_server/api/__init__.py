"""HTTP route handlers of the API (versioned under /api/v1) and the operational endpoints."""

from __future__ import annotations

from litestar import Router
from litestar.handlers import HTTPRouteHandler
from litestar.types import ControllerRouterHandler

from devlog_server.api.admin import create_key_endpoint, ingest_health, list_keys_endpoint, revoke_key_endpoint
from devlog_server.api.allow import allow_handlers
from devlog_server.api.guards import check_query_parameters
from devlog_server.api.ingest import post_events
from devlog_server.api.read import get_events, get_stats, whoami
from devlog_server.api.system import healthz, metrics, readyz

__all__ = ["API_V1", "ROUTE_HANDLERS"]

_API_V1_HANDLERS: list[HTTPRouteHandler] = [
    post_events,
    get_events,
    get_stats,
    whoami,
    list_keys_endpoint,
    create_key_endpoint,
    revoke_key_endpoint,
    ingest_health,
]

#: The versioned API; a query parameter its route does not declare, given twice or empty is a 400 (see `api.guards`).
#: The OPTIONS handlers come first so that their `Allow` is the one answered (see `api.allow`).
API_V1 = Router(
    "/",
    route_handlers=[*allow_handlers(_API_V1_HANDLERS), *_API_V1_HANDLERS],
    guards=[check_query_parameters],
)

ROUTE_HANDLERS: list[ControllerRouterHandler] = [
    API_V1,
    healthz,
    readyz,
    metrics,
]
