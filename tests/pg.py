"""Throwaway PostgreSQL databases for tests.

The server under test is real Postgres on 127.0.0.1 (trust auth on project machines). Its admin URL
comes from `DEVLOG_TEST_PG_URL` (default `postgresql://postgres@127.0.0.1:5432/postgres`). Each
test module/session creates its own database and drops it afterwards. When Postgres is unreachable
tests skip locally but FAIL under CI (`CI=true`), so a broken CI machine cannot pass silently.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import pytest

ADMIN_URL = os.environ.get("DEVLOG_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def postgres_available() -> bool:
    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(ADMIN_URL, timeout=3)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return _run(probe())


def require_postgres() -> None:
    """Skip (or fail under CI) when Postgres is not reachable."""
    if postgres_available():
        return
    message = f"PostgreSQL is not reachable at {ADMIN_URL}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI requires it)")
    pytest.skip(message)


@contextmanager
def throwaway_database(prefix: str = "devlog_test") -> Iterator[str]:
    """Create an empty database; yield its `postgresql+asyncpg://` URL; drop it afterwards."""
    require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    _run(create())
    base = ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield base.replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + name
    finally:
        _run(drop())
