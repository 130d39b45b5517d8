"""The hook through which optional parts (the team dashboard) add themselves to the app.

An extension is a callable `(settings) -> litestar.plugins.InitPluginProtocol`. Its plugin's
`on_app_init(app_config)` may append route handlers, a template config, static files, middleware or
dependencies to the app config; at request time it reaches the database, settings and metrics through
`devlog_server.state.server_state(request)`.

`EXTENSIONS` names the built-in ones by import path ("module:attribute") so that importing the API
never imports the dashboard; an extension whose module is not installed is skipped.
`create_app(settings, extensions=...)` takes an explicit list instead (tests build bare API apps).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

from litestar.plugins import PluginProtocol

from devlog_server.settings import ServerSettings

__all__ = ["EXTENSIONS", "Extension", "load_extensions"]

Extension = Callable[[ServerSettings], PluginProtocol]

#: Built-in extensions, loaded by default: "module:callable". The dashboard adds itself here.
EXTENSIONS: tuple[str, ...] = ("devlog_server.dashboard:dashboard_extension",)


def _resolve(spec: str) -> Extension | None:
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            return None
        raise
    factory: Any = getattr(module, attribute)
    return factory  # type: ignore[no-any-return]


def load_extensions(specs: Iterable[str | Extension], settings: ServerSettings) -> list[PluginProtocol]:
    """The plugins of the given extensions (import paths or callables)."""
    plugins: list[PluginProtocol] = []
    for spec in specs:
        factory = _resolve(spec) if isinstance(spec, str) else spec
        if factory is not None:
            plugins.append(factory(settings))
    return plugins
