"""Fixtures for the ingest-server suite: real SQLite files and a real Postgres database.

`backend` is parametrised over SQLite and Postgres (marked `postgres`). Postgres gets one throwaway
database per test session, migrated once, with every table emptied before each test; SQLite gets a
copy of a migrated template file per test. Apps are built with `create_app(settings)` (no
extensions) and driven through Litestar's test client; keys come from `DEVLOG_SERVER_BOOTSTRAP_KEYS`.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from devlog_server.app import create_app
from devlog_server.db.engine import Database
from devlog_server.db.migrate import upgrade_sync
from devlog_server.settings import ServerSettings
from tests.pg import throwaway_database

#: name -> (token, scopes, globs) of the keys every test app starts with.
KEYS: dict[str, tuple[str, str, str]] = {
    "full": ("full-token-0123456789", "ingest+read", ""),
    "ingest": ("ingest-token-0123456789", "ingest", ""),
    "read": ("read-token-0123456789", "read", ""),
    "admin": ("admin-token-0123456789", "admin", ""),
    "srv": ("srv-token-0123456789", "ingest+read", "/srv/**"),
    "home": ("home-token-0123456789", "ingest+read", "~/work/**|/opt/shared"),
}
#: Emptied before each Postgres test. TRUNCATE fires no DELETE trigger, so the rollup is emptied with `events`.
TABLES = ("events", "dashboard_rollups", "collectors", "ingest_rejections", "workspaces", "api_keys")


def bootstrap_spec() -> str:
    return ",".join(
        f"{name}:{token}:{scopes}" + (f":{globs}" if globs else "") for name, (token, scopes, globs) in KEYS.items()
    )


def auth(name: str) -> dict[str, str]:
    """The Authorization header of one of the bootstrap keys."""
    return {"Authorization": f"Bearer {KEYS[name][0]}"}


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with throwaway_database("devlog_server_test") as url:
        upgrade_sync(url)
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade_sync(f"sqlite+aiosqlite:///{path}")
    return path


def _empty_postgres(url: str) -> None:
    async def run() -> None:
        db = Database(url)
        try:
            async with db.write() as conn:
                await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY"))
        finally:
            await db.dispose()

    asyncio.run(run())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty database of each backend."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        _empty_postgres(url)
        return url
    path = tmp_path / "server.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def settings_factory(database_url: str) -> Callable[..., ServerSettings]:
    def make(**overrides: Any) -> ServerSettings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "bootstrap_keys": bootstrap_spec(),
            "key_cache_seconds": 0,
            "rate_limit_per_minute": 0,
            "key_pepper": "test-pepper",
            **overrides,
        }
        return ServerSettings(**values)

    return make


@pytest.fixture
def client_factory(settings_factory: Callable[..., ServerSettings]) -> Iterator[Callable[..., TestClient[Any]]]:
    clients: list[TestClient[Any]] = []

    def make(**overrides: Any) -> TestClient[Any]:
        client: TestClient[Any] = TestClient(create_app(settings_factory(**overrides), extensions=()))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(client_factory: Callable[..., TestClient[Any]]) -> TestClient[Any]:
    return client_factory()


# ------------------------------------------------------------------ event builders

BASE_TS = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


def event(n: int, **fields: Any) -> dict[str, Any]:
    """A valid event as a JSON-ready dict (override any field)."""
    doc: dict[str, Any] = {
        "id": f"evt-{n:06d}",
        "ts": (BASE_TS + timedelta(minutes=n)).isoformat(),
        "agent": "claude",
        "kind": "prompt",
        "session_id": f"sess-{n // 10}",
        "workspace": "/srv/app",
        "text": f"prompt number {n}",
    }
    doc.update(fields)
    return doc


def batch(events: list[dict[str, Any]], machine: str = "laptop-1") -> dict[str, Any]:
    return {
        "schema_version": 1,
        "collector": {"name": "devlog", "version": "0.1.0", "machine": machine},
        "events": events,
    }


def post(client: TestClient[Any], events: list[dict[str, Any]], key: str = "full", **kwargs: Any) -> Any:
    return client.post("/api/v1/events", json=batch(events, **kwargs), headers=auth(key))


def post_gzip(client: TestClient[Any], payload: bytes, key: str = "full") -> Any:
    headers = {**auth(key), "Content-Encoding": "gzip", "Content-Type": "application/json"}
    return client.post("/api/v1/events", content=gzip.compress(payload), headers=headers)


def encode(obj: Any) -> bytes:
    return msgspec.json.encode(obj)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with `status`; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert "detail" in body
    return body
