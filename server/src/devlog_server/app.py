"""The application factory: `create_app(settings)` builds one Litestar app with its own state.

Nothing is read from the environment at import time; callers pass `ServerSettings` (the CLI reads
them from `DEVLOG_SERVER_*`). Extensions (the dashboard) are Litestar init plugins added through
`devlog_server.extensions`, so the API stays usable and testable on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins import PluginProtocol
from litestar.plugins.problem_details import ProblemDetailsPlugin

from devlog_server import __version__
from devlog_server.api import ROUTE_HANDLERS
from devlog_server.bootstrap import bootstrap_keys
from devlog_server.db.engine import Database
from devlog_server.errors import problem_details_config
from devlog_server.extensions import EXTENSIONS, Extension, load_extensions
from devlog_server.metrics import Metrics, metrics_middleware
from devlog_server.ratelimit import RateLimiter
from devlog_server.settings import ServerSettings
from devlog_server.state import STATE_KEY, KeyCache, ServerState

__all__ = ["create_app"]

_log = structlog.get_logger("devlog_server.app")


def _openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="devlog ingest server",
        version=__version__,
        description="Receives AI-coding-agent events exported by devlog collectors; serves queries and stats.",
        path="/schema",
        render_plugins=[SwaggerRenderPlugin()],
        components=Components(
            security_schemes={
                "bearerAuth": SecurityScheme(
                    type="http", scheme="bearer", description="An API key: Authorization: Bearer dvl_<id>_<secret>"
                )
            },
        ),
    )


def create_app(
    settings: ServerSettings | None = None,
    *,
    extensions: Sequence[str | Extension] | None = None,
) -> Litestar:
    """Build the server app for `settings` (default: from the environment).

    Args:
        settings: The server's settings; tests pass their own.
        extensions: Extensions to add (import paths or callables); default `extensions.EXTENSIONS`.
    """
    settings = settings if settings is not None else ServerSettings()
    db = Database(settings.database_url, pool_size=settings.db_pool_size, timeout=settings.db_timeout_seconds)
    metrics = Metrics()
    state = ServerState(
        settings=settings,
        db=db,
        metrics=metrics,
        limiter=RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst),
        keys=KeyCache(settings.key_cache_seconds),
    )

    async def on_startup(app: Litestar) -> None:
        if settings.bootstrap_keys is not None:
            await bootstrap_keys(db, settings.bootstrap_keys.get_secret_value(), settings.pepper_bytes)
        _log.info("server_started", database=db.dialect, version=__version__)

    async def on_shutdown(app: Litestar) -> None:
        await db.dispose()

    plugins: list[PluginProtocol] = [ProblemDetailsPlugin(problem_details_config())]
    plugins += load_extensions(EXTENSIONS if extensions is None else extensions, settings)
    return Litestar(
        route_handlers=list(ROUTE_HANDLERS),
        plugins=plugins,
        openapi_config=_openapi_config(),
        state=State({STATE_KEY: state}),
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        middleware=[metrics_middleware(metrics)],
        # The ingest route enforces max_body_bytes itself as the body streams in, with a 413 that
        # names the limit (also for chunked bodies that send no Content-Length); Litestar's own cap
        # is only the backstop for every other route, so it sits above that.
        request_max_body_size=2 * settings.max_body_bytes + 1024,
        logging_config=None,
        debug=False,
    )
