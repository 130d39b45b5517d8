"""Alembic migrations on SQLite and Postgres: upgrade from empty, idempotence, no drift between the
models and the migrations, upgrading a database that holds data, and `devlog-server migrate`."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import delete, inspect
from sqlalchemy.engine import Connection

from devlog_server.cli import main
from devlog_server.db import load_metadata
from devlog_server.db.engine import Database
from devlog_server.db.migrate import alembic_config, current_revision, head_revision, upgrade
from devlog_server.db.models import EVENTS
from tests.pg import throwaway_database
from tests.server.rollups import rollups_and_expected


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    with throwaway_database("devlog_migrate_test") as url:
        yield url


def _diffs(connection: Any) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, load_metadata()))


def test_upgrade_from_empty_is_idempotent_and_matches_the_models(empty_url: str) -> None:
    async def run() -> tuple[str | None, set[str], list[Any]]:
        db = Database(empty_url)
        try:
            assert await current_revision(db) is None
            await upgrade(db)
            await upgrade(db)  # a second run is a no-op
            revision = await current_revision(db)
            async with db.engine.connect() as conn:
                tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
                diffs = await conn.run_sync(_diffs)
            return revision, tables, diffs
        finally:
            await db.dispose()

    revision, tables, diffs = asyncio.run(run())
    assert revision == head_revision()
    assert {"events", "api_keys", "collectors", "ingest_rejections", "workspaces", "alembic_version"} <= tables
    assert diffs == [], f"models and migrations differ; write a migration: {diffs}"


def test_events_indexes_serve_the_filters(empty_url: str) -> None:
    async def run() -> set[tuple[str, ...]]:
        db = Database(empty_url)
        try:
            await upgrade(db)
            async with db.engine.connect() as conn:
                indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("events"))
            return {tuple(ix["column_names"]) for ix in indexes}
        finally:
            await db.dispose()

    indexes = asyncio.run(run())
    for columns in [
        ("workspace", "ts"),
        ("ts", "id"),
        ("session_id", "ts"),
        ("agent", "ts"),
        ("kind", "ts"),
        ("user_name", "ts"),
    ]:
        assert columns in indexes


def _event_row(n: int, workspace: str) -> dict[str, Any]:
    ts = datetime(2026, 11, 1, 9, tzinfo=UTC) + timedelta(minutes=n)
    body = {
        "id": f"e{n}",
        "ts": ts.isoformat(),
        "agent": "claude",
        "kind": "response",
        "session_id": "s1",
        "workspace": workspace,
        "usage": {"input_tokens": n, "output_tokens": 10 * n},
    }
    return {
        "id": f"e{n}", "ts": ts, "received_at": ts, "agent": "claude", "kind": "response", "session_id": "s1",
        "workspace": workspace, "input_tokens": n, "output_tokens": 10 * n, "cache_creation_tokens": 0,
        "cache_read_tokens": 0, "reasoning_tokens": 0, "key_id": "k1", "body": json.dumps(body),
    }  # fmt: skip


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


def test_supersede_migration_upgrades_a_database_with_data_and_downgrades(empty_url: str) -> None:
    """0003supersede on a database already holding events and rollups: the rollups stay as they are,
    later deletes are taken out of them; downgrading removes the trigger and upgrading again works."""

    async def rollups(db: Database) -> Any:
        async with db.engine.connect() as conn:
            actual, expected = await rollups_and_expected(conn)
        assert actual == expected
        return actual

    async def delete_event(db: Database, event_id: str) -> None:
        async with db.engine.begin() as conn:
            await conn.execute(delete(EVENTS).where(EVENTS.c.id == event_id))

    async def run() -> None:
        db = Database(empty_url)
        try:
            await upgrade(db, "0002dashboard")
            async with db.engine.begin() as conn:
                await conn.execute(EVENTS.insert(), [_event_row(n, "/a" if n < 3 else "/b") for n in range(5)])
            before = await rollups(db)
            await upgrade(db)
            assert await current_revision(db) == head_revision()
            assert await rollups(db) == before
            await delete_event(db, "e4")
            after = await rollups(db)
            assert sorted(v[0] for v in after.values()) == [1, 3]
            await delete_event(db, "e3")
            assert {key[4] for key in await rollups(db)} == {"/a"}

            async with db.engine.begin() as conn:
                await conn.run_sync(_downgrade, "0002dashboard")
            assert await current_revision(db) == "0002dashboard"
            await delete_event(db, "e2")  # no delete trigger any more: the rollup keeps counting it
            async with db.engine.connect() as conn:
                stale, expected = await rollups_and_expected(conn)
            assert next(iter(stale.values()))[0] == 3 and next(iter(expected.values()))[0] == 2
            await upgrade(db)
            assert await current_revision(db) == head_revision()
        finally:
            await db.dispose()

    asyncio.run(run())


def test_migrate_command(empty_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["migrate"], env={"DEVLOG_SERVER_DATABASE_URL": empty_url}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"database at revision {head_revision()}" in result.output
    again = runner.invoke(main, ["migrate"], env={"DEVLOG_SERVER_DATABASE_URL": empty_url}, catch_exceptions=False)
    assert again.exit_code == 0


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DEVLOG_SERVER_DATABASE_URL": "mysql://x"}, "DEVLOG_SERVER_DATABASE_URL: must be a sqlite+aiosqlite://"),
        ({"DEVLOG_SERVER_PORT": "eighty"}, "DEVLOG_SERVER_PORT: Input should be a valid integer"),
        ({"DEVLOG_SERVER_TRUSTED_PROXIES": "not-an-address"}, "DEVLOG_SERVER_TRUSTED_PROXIES: "),
    ],
)
def test_invalid_settings_are_one_line_naming_the_variable(env: dict[str, str], expected: str) -> None:
    result = CliRunner().invoke(main, ["migrate"], env=env)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: invalid DEVLOG_SERVER_* settings: ")
    assert expected in lines[0]
