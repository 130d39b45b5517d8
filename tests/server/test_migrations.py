"""Alembic migrations on SQLite and Postgres: upgrade from empty, idempotence, no drift between the
models and the migrations, and `devlog-server migrate`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect

from devlog_server.cli import main
from devlog_server.db import load_metadata
from devlog_server.db.engine import Database
from devlog_server.db.migrate import current_revision, head_revision, upgrade
from tests.pg import throwaway_database


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
