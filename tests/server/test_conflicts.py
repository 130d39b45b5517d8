"""A transaction Postgres aborts only because another one collided with it is a 503 to retry, not a 500.

Two batches replacing the same events in opposite orders can deadlock; Postgres then aborts one of
them. The request is fine and succeeds when sent again, so the client must be told to retry.
"""

from __future__ import annotations

import asyncio
from typing import Any

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


def test_overlapping_batches_sent_at_once_are_all_stored_without_write_conflicts(pg_url: str) -> None:
    """Batches sharing ids, each in its own order, inserted their rows in that order: two batches
    then took the same index locks in opposite orders and Postgres aborted one as a deadlock (10 of
    12 such batches answered 503 in a new-user test). Rows are inserted in id order now."""
    import json
    import random

    from litestar.testing import TestClient

    from devlog_server import ingest
    from devlog_server.app import create_app
    from devlog_server.keys import find_key
    from devlog_server.settings import ServerSettings
    from devlog_server.state import server_state
    from tests.server.conftest import KEYS, _empty_postgres, auth, bootstrap_spec, event

    _empty_postgres(pg_url)
    settings = ServerSettings(
        database_url=pg_url, bootstrap_keys=bootstrap_spec(), rate_limit_per_minute=0, key_pepper="test-pepper"
    )
    rng = random.Random(7)
    shared = [event(n) for n in range(600)]
    bodies = [json.dumps({"schema_version": 1, "events": rng.sample(shared, 400)}).encode() for _ in range(8)]
    with TestClient(create_app(settings, extensions=())) as client:
        state = server_state(client.app)

        async def all_at_once() -> list[Any]:
            async with state.db.read() as conn:
                key = await find_key(conn, KEYS["full"][0], pepper=state.settings.pepper_bytes)
            assert key is not None
            return await asyncio.gather(*(ingest.ingest_batch(state, key, body) for body in bodies))

        results = client.blocking_portal.call(all_at_once)
        stored = client.get("/api/v1/stats", headers=auth("full")).json()
    assert [r.status_code for r in results] == [200] * 8
    assert sum(r.response.created for r in results) == len({e["id"] for b in bodies for e in json.loads(b)["events"]})
    assert stored["total"]["events"] == sum(r.response.created for r in results)
