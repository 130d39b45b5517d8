"""A transaction Postgres aborts only because another one collided with it is a 503 to retry, not a 500.

Two batches replacing the same events in opposite orders can deadlock; Postgres then aborts one of
them. The request is fine and succeeds when sent again, so the client must be told to retry.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from devlog_server.errors import _from_dbapi_error, is_transient_conflict

pytestmark = pytest.mark.postgres


async def _deadlock(url: str) -> DBAPIError:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as setup:
            await setup.execute(text("DROP TABLE IF EXISTS conflict_rows"))
            await setup.execute(text("CREATE TABLE conflict_rows (id int primary key)"))
            await setup.execute(text("INSERT INTO conflict_rows VALUES (1), (2)"))
        first, second = await engine.connect(), await engine.connect()
        try:
            await first.begin()
            await second.begin()
            await first.execute(text("UPDATE conflict_rows SET id = id WHERE id = 1"))
            await second.execute(text("UPDATE conflict_rows SET id = id WHERE id = 2"))
            results = await asyncio.gather(
                first.execute(text("UPDATE conflict_rows SET id = id WHERE id = 2")),
                second.execute(text("UPDATE conflict_rows SET id = id WHERE id = 1")),
                return_exceptions=True,
            )
        finally:
            await first.close()
            await second.close()
        async with engine.begin() as cleanup:
            await cleanup.execute(text("DROP TABLE conflict_rows"))
    finally:
        await engine.dispose()
    errors = [r for r in results if isinstance(r, DBAPIError)]
    assert len(errors) == 1, results
    return errors[0]


def test_a_deadlock_between_two_batches_is_a_503_to_retry(pg_url: str) -> None:
    error = asyncio.run(_deadlock(pg_url))
    assert is_transient_conflict(error)
    problem = _from_dbapi_error(error)
    assert problem.status_code == 503
    assert problem.headers == {"Retry-After": "1"}
