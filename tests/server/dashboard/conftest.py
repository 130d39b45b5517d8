"""Fixtures for the dashboard page tests: an app with the dashboard, signed-in clients, seeded data.

Builds on the server suite's fixtures (`database_url` over SQLite and Postgres, the bootstrap keys
of `tests.server.conftest.KEYS`). The dashboard's own tables are emptied too on Postgres, where the
server suite's database is shared across tests.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from devlog_server.app import create_app
from devlog_server.db.engine import Database
from devlog_server.settings import ServerSettings
from tests.server.conftest import KEYS, auth
from tests.server.dashboard.teamdata import batches, team_events

DASHBOARD_TABLES = ("dashboard_rollups", "dashboard_sessions")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _empty_dashboard_tables(url: str) -> None:
    async def run() -> None:
        db = Database(url)
        try:
            async with db.write() as conn:
                await conn.execute(text(f"DELETE FROM {DASHBOARD_TABLES[0]}"))
                await conn.execute(text(f"DELETE FROM {DASHBOARD_TABLES[1]}"))
        finally:
            await db.dispose()

    asyncio.run(run())


@pytest.fixture
def dashboard_factory(
    database_url: str, settings_factory: Callable[..., ServerSettings]
) -> Iterator[Callable[..., TestClient[Any]]]:
    """Make test clients of an app WITH the dashboard (each has its own cookie jar)."""
    if database_url.startswith("postgresql"):
        _empty_dashboard_tables(database_url)
    settings = settings_factory()
    app = create_app(settings)
    clients: list[TestClient[Any]] = []

    def make() -> TestClient[Any]:
        client: TestClient[Any] = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def dash(dashboard_factory: Callable[..., TestClient[Any]]) -> TestClient[Any]:
    return dashboard_factory()


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client: TestClient[Any], key: str = "read") -> Any:
    """Sign `client` in with one of the bootstrap keys; returns the POST response."""
    form = client.get("/dashboard/sign-in")
    assert form.status_code == 200
    token = KEYS[key][0]
    return client.post(
        "/dashboard/sign-in",
        data={"csrf_token": csrf_of(form.text), "api_key": token, "next": "/dashboard"},
        follow_redirects=False,
    )


def seed_team(client: TestClient[Any], *, end: datetime | None = None, sessions: int = 60) -> list[dict[str, Any]]:
    """Post a realistic team's events through the ingest API; returns them."""
    events = team_events(end=end or datetime.now(UTC), sessions=sessions)
    for payload in batches(events):
        response = client.post("/api/v1/events", json=payload, headers=auth("full"))
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == 0, response.text
    return events
