"""Two batches replacing the same stored events at once, on Postgres: the copy with the larger usage
must win whichever commits first. The second batch's DELETE used to wait for the first's row locks,
find those rows gone, delete nothing, and insert nothing (its copies conflicted with the first
batch's): answered `duplicate`, `updated` 0, and the smaller copy stayed stored."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from litestar.testing import TestClient

from devlog_server import ingest
from devlog_server.app import create_app
from devlog_server.keys import find_key
from devlog_server.settings import ServerSettings
from devlog_server.state import server_state
from tests.server.conftest import KEYS, _empty_postgres, auth, bootstrap_spec, event, post

IDS = 20


def _copies(tokens: int) -> list[dict[str, Any]]:
    return [event(n, kind="response", text=f"{tokens} tokens", usage={"output_tokens": tokens}) for n in range(IDS)]


def test_of_two_batches_replacing_the_same_events_at_once_the_larger_copy_wins(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _empty_postgres(pg_url)
    settings = ServerSettings(
        database_url=pg_url, bootstrap_keys=bootstrap_spec(), rate_limit_per_minute=0, key_pepper="test-pepper"
    )
    with TestClient(create_app(settings, extensions=())) as client:
        assert post(client, _copies(5)).json()["created"] == IDS
        state = server_state(client.app)
        read_copies, record_health = ingest._stored_copies, ingest._record_health
        other_holds_locks = asyncio.Event()
        other: list[asyncio.Task[Any]] = []

        async def other_batch() -> Any:
            async with state.db.read() as conn:
                key = await find_key(conn, KEYS["full"][0], pepper=state.settings.pepper_bytes)
            assert key is not None
            body = json.dumps({"schema_version": 1, "events": _copies(10)}).encode()
            return await ingest.ingest_batch(state, key, body)

        async def stored_copies(conn: Any, dialect: str, ids: list[str]) -> Any:
            copies = await read_copies(conn, dialect, ids)
            if not other:  # the 20-token batch has read the 5-token copies: the 10-token batch replaces
                other.append(asyncio.create_task(other_batch()))  # them now and holds their row locks
                await other_holds_locks.wait()
            return copies

        async def health_after_a_pause(conn: Any, dialect: str, **kwargs: Any) -> None:
            if not other_holds_locks.is_set():  # the 10-token batch, past its DELETE and INSERT
                other_holds_locks.set()
                await asyncio.sleep(0.5)  # while the 20-token batch's DELETE waits for these locks
            await record_health(conn, dialect, **kwargs)

        monkeypatch.setattr(ingest, "_stored_copies", stored_copies)
        monkeypatch.setattr(ingest, "_record_health", health_after_a_pause)
        larger = post(client, _copies(20))
        smaller = client.blocking_portal.call(lambda: other[0])  # type: ignore[union-attr]
        assert smaller.response.updated == IDS
        assert larger.status_code == 200 and larger.json()["updated"] == IDS
        page = client.get("/api/v1/events", params={"limit": 100}, headers=auth("full")).json()["events"]
        assert sorted({e["usage"]["output_tokens"] for e in page}) == [20]
