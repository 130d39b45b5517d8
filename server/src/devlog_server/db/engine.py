"""One `Database` object per app: the async engine, and how reads and writes get a connection.

SQLite (the embedded default) allows one writer at a time, so writes are serialised in-process by an
asyncio lock and start with `BEGIN IMMEDIATE` (so a second process waits on `busy_timeout` instead of
failing a lock upgrade); WAL lets reads proceed meanwhile. Postgres uses a normal connection pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

__all__ = ["Database", "Dialect"]

Dialect = Literal["postgresql", "sqlite"]


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit at the driver level: transactions are begun explicitly (BEGIN IMMEDIATE for writes).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


class Database:
    """The async engine of one server app plus its read/write connection helpers."""

    def __init__(self, url: str, *, pool_size: int = 10, timeout: float = 10.0) -> None:
        parsed = make_url(url)
        self.url = url
        self.dialect: Dialect = "postgresql" if parsed.get_backend_name() == "postgresql" else "sqlite"
        self._write_lock: asyncio.Lock | None = None
        if self.dialect == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine: AsyncEngine = create_async_engine(url, connect_args={"timeout": timeout})
            event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect)
            self._write_lock = asyncio.Lock()
        else:
            self.engine = create_async_engine(
                url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_timeout=timeout,
                connect_args={
                    "timeout": timeout,
                    "command_timeout": timeout * 6,
                    "server_settings": {"application_name": "devlog-server"},
                },
            )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for queries (no transaction guarantees beyond each statement on SQLite)."""
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction, committed on success and rolled back on error."""
        lock = self._write_lock if self._write_lock is not None else nullcontext()
        async with lock, self.engine.connect() as conn:
            if self.dialect == "sqlite":
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.rollback()
                raise
            await conn.commit()

    async def ping(self) -> None:
        """Run `SELECT 1`; raises when the database is unreachable."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
