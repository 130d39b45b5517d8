"""Structured logging to stderr (stdout is for data).

Console rendering on a TTY, JSON lines otherwise (daemons, containers). Event names are snake_case
facts with key/value fields. Never log prompt text, responses or keys: log ids, counts, paths.

structlog is imported lazily: `configure_logging` only records the settings, and `get_logger` returns
a stand-in that imports structlog the first time a message at an enabled level is logged. Modules can
keep a module-level `log = get_logger(...)`, and a quiet `devlog collect` or `devlog status` never
pays for the import (about 0.1 s with its dependencies).
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["configure_logging", "get_logger"]

_settings: dict[str, Any] = {"verbosity": 0, "json": None}
_applied = False


def configure_logging(verbosity: int = 0, json: bool | None = None) -> None:
    """Configure structlog; verbosity 0 = warnings, 1 = info, 2+ = debug."""
    global _applied
    _settings.update(verbosity=verbosity, json=json)
    _applied = False
    if "structlog" in sys.modules:
        _apply()


def _apply() -> None:
    global _applied
    import structlog

    json = _settings["json"]
    level = _threshold()
    use_json = (not sys.stderr.isatty()) if json is None else json
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Whatever `sys.stderr` is when a message is logged (not when logging was set up): a caller that
        # swaps it for a while (click's test runner, a captured run) must not leave loggers writing
        # to its closed stream.
        logger_factory=lambda *_args: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _applied = True


# The stdlib logging levels, as numbers: importing `logging` for its constants alone costs ~3 ms of
# every command's start-up (structlog imports it when a message is actually logged).
DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50
#: Level of each logging method name (what `make_filtering_bound_logger` filters on).
_METHOD_LEVELS: dict[str, int] = {
    "debug": DEBUG,
    "info": INFO,
    "msg": INFO,
    "warning": WARNING,
    "warn": WARNING,
    "error": ERROR,
    "exception": ERROR,
    "critical": CRITICAL,
    "fatal": CRITICAL,
}


def _threshold() -> int:
    verbosity = _settings["verbosity"]
    return WARNING if verbosity <= 0 else INFO if verbosity == 1 else DEBUG


def _discard(*_args: Any, **_kwargs: Any) -> None:
    return None


class _LazyLogger:
    """Stands in for a structlog logger until one is needed (see the module docstring)."""

    __slots__ = ("_logger", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, attr: str) -> Any:
        level = _METHOD_LEVELS.get(attr)
        if level is not None and level < _threshold():
            return _discard
        if self._logger is None:
            self._logger = _structlog_logger(self._name)
        return getattr(self._logger, attr)


def _structlog_logger(name: str) -> Any:
    import structlog

    if not _applied:
        _apply()
    return structlog.get_logger(component=name)


def get_logger(name: str) -> Any:
    """A logger tagged with the component name (structlog is imported on first real use)."""
    return _LazyLogger(name)
