"""The team dashboard: server-rendered pages under /dashboard, added to the app as an extension.

`dashboard_extension(settings)` returns a Litestar init plugin (registered in
`devlog_server.extensions.EXTENSIONS`) that adds the page controller, the Jinja template engine, the
static files (CSS, JS, and the vendored htmx and Chart.js, so nothing is fetched from a CDN) and the
redirect to the sign-in form. The API works without it; the dashboard only reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from litestar.config.app import AppConfig
from litestar.datastructures import CacheControlHeader
from litestar.plugins import InitPluginProtocol
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from devlog_server import __version__
from devlog_server.dashboard.present import FILTERS
from devlog_server.dashboard.views import DashboardController
from devlog_server.settings import ServerSettings

__all__ = ["DashboardPlugin", "dashboard_extension"]

PACKAGE_DIR: Final = Path(__file__).parent
TEMPLATES_DIR: Final = PACKAGE_DIR / "templates"
STATIC_DIR: Final = PACKAGE_DIR / "static"


class DashboardPlugin(InitPluginProtocol):
    """Adds the dashboard's routes, templates and static files to an app config."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        if app_config.template_config is not None:
            raise RuntimeError("the dashboard needs the app's template config, but another one is set")

        def engine_callback(engine: JinjaTemplateEngine) -> None:
            engine.engine.filters.update(FILTERS)
            engine.engine.globals["static_version"] = __version__

        app_config.template_config = TemplateConfig(
            directory=TEMPLATES_DIR, engine=JinjaTemplateEngine, engine_callback=engine_callback
        )
        app_config.route_handlers.append(DashboardController)
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
