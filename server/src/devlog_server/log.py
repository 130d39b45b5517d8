"""Structured JSON logs (structlog) on stderr, for the app and for uvicorn/alembic via stdlib logging.

Event names are snake_case facts with key/value fields (`batch_ingested key_id=... created=...`).
Never log API keys, tokens, request bodies or event text: log ids, counts and durations.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

__all__ = ["configure_logging"]


def configure_logging(level: str = "info", json: bool = True) -> None:
    """Route structlog and stdlib logging to stderr as JSON lines (or console lines)."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error", "alembic"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Access logs stay off: their lines hold full query strings (dashboard searches over prompt text).
    # uvicorn's `access_log=False` only unhooks this logger before the app factory runs; this function
    # runs again in the factory (every worker), so it must not re-attach it. With no handler anywhere
    # up the chain, uvicorn's protocols skip access logging altogether.
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    # (Alembic's plugin set-up says "setup plugin ..." seven times on every start: noise, not news.)
    for name in ("sqlalchemy.engine", "aiosqlite", "asyncio", "alembic.runtime.plugins"):
        logging.getLogger(name).setLevel(logging.WARNING)
