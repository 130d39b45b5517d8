"""The team dashboard: server-rendered pages under /dashboard, added to the app as an extension.

`dashboard_extension(settings)` returns a Litestar init plugin (registered in
`devlog_server.extensions.EXTENSIONS`) that adds the page controller, the Jinja template engine, the
static files (CSS, JS, and the vendored htmx and Chart.js, so nothing is fetched from a CDN) and the
redirect to the sign-in form. The API works without it; the dashboard only reads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from litestar import Request, Response
from litestar.config.app import AppConfig
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.plugins import InitPluginProtocol
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from devlog_server import __version__
from devlog_server.dashboard.present import FILTERS, shown
from devlog_server.dashboard.views import DashboardController, error_page
from devlog_server.settings import ServerSettings

__all__ = ["DashboardPlugin", "dashboard_extension"]

PACKAGE_DIR: Final = Path(__file__).parent
TEMPLATES_DIR: Final = PACKAGE_DIR / "templates"
STATIC_DIR: Final = PACKAGE_DIR / "static"
ExceptionHandler = Callable[[Request[Any, Any, Any], Any], Response[Any]]


def _handler_for(handlers: dict[Any, ExceptionHandler], exc: Exception) -> ExceptionHandler | None:
    """The app-level handler Litestar would pick for `exc` (status code first, then the class hierarchy)."""
    status = getattr(exc, "status_code", None)
    if status in handlers:
        return handlers[status]
    return next((handlers[cls] for cls in type(exc).__mro__ if cls in handlers), None)


def _dashboard_errors(handlers: dict[Any, ExceptionHandler]) -> ExceptionHandler:
    """Routing errors (404 unknown page, 405 wrong method) under /dashboard become the dashboard's HTML
    error page; everywhere else they keep the app's handler (problem+json for the API)."""
    fallback = dict(handlers)

    def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        path = request.url.path
        if path == "/dashboard" or path.startswith("/dashboard/"):
            return error_page(request, exc)
        handler = _handler_for(fallback, exc)
        if handler is None:
            raise exc
        return handler(request, exc)

    return handle


class DashboardPlugin(InitPluginProtocol):
    """Adds the dashboard's routes, templates and static files to an app config."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        if app_config.template_config is not None:
            raise RuntimeError("the dashboard needs the app's template config, but another one is set")

        def engine_callback(engine: JinjaTemplateEngine) -> None:
            engine.engine.filters.update(FILTERS)
            engine.engine.finalize = shown  # (read when a template is compiled: on its first use)
            engine.engine.globals["static_version"] = __version__

        app_config.template_config = TemplateConfig(
            directory=TEMPLATES_DIR, engine=JinjaTemplateEngine, engine_callback=engine_callback
        )
        app_config.route_handlers.append(DashboardController)
        # Raised while routing, before any dashboard handler is chosen, so the controller's own
        # exception handlers never see them; these app-level ones defer to the previous handlers.
        handle = _dashboard_errors(dict(app_config.exception_handlers))
        app_config.exception_handlers[NotFoundException] = handle
        app_config.exception_handlers[MethodNotAllowedException] = handle
        app_config.route_handlers.append(
            create_static_files_router(
                path="/dashboard/static",
                directories=[STATIC_DIR],
                cache_control=CacheControlHeader(max_age=86400, public=True),
                include_in_schema=False,
                name="dashboard:static",
            )
        )
        return app_config


def dashboard_extension(settings: ServerSettings) -> DashboardPlugin:
    """The extension entry point named in `devlog_server.extensions.EXTENSIONS`."""
    return DashboardPlugin(settings)
