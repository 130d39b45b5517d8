"""Alembic environment: migrations run on a connection handed in by `devlog_server.db.migrate`.

`alembic` on the command line (for authoring revisions) is also supported: without a connection in
`config.attributes`, an async engine is made from `sqlalchemy.url`.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from devlog_server.db import load_metadata

target_metadata = load_metadata()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or pass a connection in config.attributes['connection']")
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run `devlog-server migrate`")
run_migrations_online()
