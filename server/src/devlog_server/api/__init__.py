"""HTTP route handlers of the API (versioned under /api/v1) and the operational endpoints."""

from __future__ import annotations

from devlog_server.api.admin import create_key_endpoint, ingest_health, list_keys_endpoint, revoke_key_endpoint
from devlog_server.api.ingest import post_events
from devlog_server.api.read import get_events, get_stats, whoami
from devlog_server.api.system import healthz, metrics, readyz

__all__ = ["ROUTE_HANDLERS"]

ROUTE_HANDLERS = [
    post_events,
    get_events,
    get_stats,
    whoami,
    list_keys_endpoint,
    create_key_endpoint,
    revoke_key_endpoint,
    ingest_health,
    healthz,
    readyz,
    metrics,
]
