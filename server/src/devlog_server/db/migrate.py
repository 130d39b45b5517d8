"""Alembic, run programmatically: `devlog-server migrate`, `serve` at start-up, and the tests.

The Alembic config is built in code (no alembic.ini to find); the migration scripts live in
`devlog_server/db/migrations`. Upgrading is idempotent. The upgrade is one write transaction (an
advisory lock on Postgres, `BEGIN IMMEDIATE` on SQLite), so several processes starting at once
migrate one after the other.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from devlog_server.db.engine import Database
from devlog_server.errors import UserInputError

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "head_revision",
    "schema_problem",
    "upgrade",
    "upgrade_sync",
]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_ADVISORY_LOCK_ID = 0x64_65_76_6C  # "devl"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic `Config` pointing at the packaged migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """The newest revision shipped with this build."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade_with(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _stored_revision(connection: Connection) -> str | None:
    """The revision recorded in `alembic_version` (None when there is none), read without Alembic's
    migration context, which logs two lines of its own each time it is made."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


async def upgrade(db: Database, revision: str = "head") -> None:
    """Apply every pending migration up to `revision` in one transaction.

    The transaction is a write one from its start (`Database.write`: `BEGIN IMMEDIATE` on SQLite, the
    advisory lock on Postgres), so two processes migrating one database at once take turns: on SQLite
    the second read the old revision before the first had written the new one, replayed its steps
    and failed with a traceback ("trigger ... already exists"). A database a newer release migrated
    is refused in one line (Alembic's own answer was a traceback: "Can't locate revision").
    """
    async with db.write() as conn:
        current = await conn.run_sync(_stored_revision)
        if current is not None and current not in _known_revisions():
            raise UserInputError(_newer_release(db.display_url, current))
        await conn.run_sync(_upgrade_with, revision)


def _known_revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def _newer_release(display_url: str, current: str) -> str:
    return (
        f"the database {display_url} is at migration {current}, which this devlog-server release does "
        "not know (a newer release migrated it): run that release or a newer one"
    )


async def current_revision(db: Database) -> str | None:
    """The revision the database is at (None when never migrated)."""
    async with db.engine.connect() as conn:
        return await conn.run_sync(_stored_revision)


async def schema_problem(db: Database) -> str | None:
    """Why this build cannot serve `db` as it is, or None when the database is at this build's head.

    For `serve --no-migrate`: without the check a database nobody migrated passes the start-up
    connection check and `/readyz`, and then every request fails on a missing table.
    """
    current, head = await current_revision(db), head_revision()
    if current == head:
        return None
    if current is None:
        return (
            f"the database {db.display_url} is not migrated (it has no devlog tables): run "
            "`devlog-server migrate` first, or start `serve` without --no-migrate"
        )
    if current not in _known_revisions():
        return _newer_release(db.display_url, current)
    return (
        f"the database {db.display_url} is at migration {current}, not {head} as this release needs: run "
        "`devlog-server migrate` first, or start `serve` without --no-migrate"
    )


def upgrade_sync(url: str, revision: str = "head", **engine_options: Any) -> None:
    """`upgrade` for synchronous callers (tests, scripts): creates and disposes its own engine."""

    async def run() -> None:
        db = Database(url, **engine_options)
        try:
            await upgrade(db, revision)
        finally:
            await db.dispose()

    asyncio.run(run())
