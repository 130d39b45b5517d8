"""Prometheus metrics of one app, in its own registry (several apps may live in one test process).

Exposed at `GET /metrics`: HTTP requests by method, route and status; ingested events by outcome;
ingest batch latency. With several uvicorn workers each process reports its own counters (scrape
through a per-worker port or use replicas of one worker each; see docs/operations.md).
"""

from __future__ import annotations

import time
from typing import Any, cast

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest

__all__ = ["Metrics", "metrics_middleware"]

disable_created_metrics()  # type: ignore[no-untyped-call] # the *_created gauges double the output and nobody graphs them

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.175, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The counters and histograms of one server app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "devlog_http_requests",
            "HTTP requests handled, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "devlog_http_request_duration_seconds",
            "HTTP request duration by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events = Counter(
            "devlog_ingest_events",
            "Events received, by outcome (created, duplicate, rejected); updated: the duplicates that replaced "
            "the stored copy.",
            ["status"],
            registry=self.registry,
        )
        self.batches = Counter("devlog_ingest_batches", "Ingest batches stored.", registry=self.registry)
        self.ingest_latency = Histogram(
            "devlog_ingest_duration_seconds",
            "Time to validate and store one batch.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rejections = Counter(
            "devlog_ingest_rejections",
            "Per-item rejections by reason code.",
            ["reason"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


def metrics_middleware(metrics: Metrics) -> Any:
    """An ASGI middleware factory counting every HTTP request (route template, not raw path)."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            method = cast(str, scope.get("method", ""))
            start = time.perf_counter()
            status = 500

            async def send_wrapper(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_wrapper)
            finally:
                route = scope.get("path_template") or "unmatched"
                metrics.requests.labels(method, route, str(status)).inc()
                metrics.request_latency.labels(route).observe(time.perf_counter() - start)

        return middleware

    return factory
