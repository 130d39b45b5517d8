"""Persistence: the SQLAlchemy models, the engine wrapper and the Alembic migrations.

`MODEL_MODULES` lists every module that declares tables on `devlog_server.db.models.Base`; Alembic's
env and the no-drift test call `load_metadata()` so that tables of extensions (the dashboard) are
compared too. A module that is not installed is skipped.
"""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

__all__ = ["MODEL_MODULES", "load_metadata"]

#: Modules declaring tables; extensions add theirs here.
MODEL_MODULES: tuple[str, ...] = ("devlog_server.db.models", "devlog_server.dashboard.tables")


def load_metadata() -> MetaData:
    """`Base.metadata` with every table of `MODEL_MODULES` registered."""
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise
    from devlog_server.db.models import Base

    return Base.metadata
