"""How the server connects to Postgres, and what requests get when it cannot.

* A libpq URL with `?sslmode=…` (as managed Postgres services hand out) migrates and serves: the mode
  reaches asyncpg as its `ssl` argument.
* A database that refuses connections is a 503 with Retry-After and one log line, never a 500 with a
  traceback: an unresolvable host, a Postgres that does not accept connections to the database
  (`ALLOW_CONNECTIONS false`, with its backends terminated), one starting up or out of connection slots.

The Postgres tests run `devlog-server serve` as a real process against a throwaway database, so the
answers and the log lines are exactly what a collector and an operator would see."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from click.testing import CliRunner
from litestar.testing import TestClient
from sqlalchemy.exc import DBAPIError

from devlog_server.app import create_app
from devlog_server.cli import main
from devlog_server.errors import _from_dbapi_error, is_database_outage
from devlog_server.settings import ServerSettings
from tests.pg import ADMIN_URL, throwaway_database
from tests.server.conftest import assert_problem, batch, event, post
from tests.server.processes import start_serve

TOKEN = "outage-test-secret-token-42"


def serve(tmp_path: Path, database_url: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    """`devlog-server serve` on a free loopback port against `database_url`, once /readyz answers 200."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVLOG_SERVER_")}
    env.update(
        DEVLOG_SERVER_DATABASE_URL=database_url,
        DEVLOG_SERVER_BOOTSTRAP_KEYS=f"team:{TOKEN}",
        DEVLOG_SERVER_KEY_CACHE_SECONDS="0",
        DEVLOG_SERVER_DB_TIMEOUT_SECONDS="3",
    )
    return start_serve(tmp_path, env)


@pytest.fixture
def stop() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def admin(*statements: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def log_records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


@pytest.mark.postgres
def test_a_database_that_refuses_connections_is_a_503_then_recovers(tmp_path: Path, stop: list[Any]) -> None:
    with throwaway_database("devlog_outage") as url:
        name = url.rsplit("/", 1)[1]
        process, base, log = serve(tmp_path, url)
        stop.append(process)
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        payload = batch([event(1), event(2)])
        assert client.post("/api/v1/events", json=payload).status_code == 200

        admin(
            f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
        )
        # The first request may find a pooled connection killed under it, the others cannot connect.
        for _ in range(3):
            for response in (
                client.post("/api/v1/events", json=payload),
                client.get("/api/v1/events"),
                client.get("/api/v1/stats"),
            ):
                body = assert_problem(response, 503)
                assert body["type"].endswith("/database_unavailable")
                assert response.headers["retry-after"] == "5"
        ready = httpx.get(base + "/readyz")
        assert ready.status_code == 503 and ready.headers["retry-after"]

        admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        response = client.post("/api/v1/events", json=payload)
        assert response.status_code == 200 and response.json()["duplicates"] == 2
        assert httpx.get(base + "/readyz").status_code == 200
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)

    records = log_records(log)
    outages = [r for r in records if r.get("event") == "database_unavailable"]
    assert len(outages) >= 9
    refused = [r for r in outages if "not currently accepting connections" in r.get("reason", "")]
    assert refused and {r["error"] for r in refused} == {"ObjectNotInPrerequisiteStateError"}
    assert all(r["level"] == "warning" and "exception" not in r for r in outages)
    assert all(r.get("reason") for r in outages), outages  # a connection killed in use names its reason too
    assert "request_failed" not in {r.get("event") for r in records}
    assert "Traceback" not in log.read_text()


@pytest.mark.postgres
def test_a_database_created_again_under_the_server_is_not_ready_and_says_to_migrate(
    tmp_path: Path, stop: list[Any]
) -> None:
    """Dropped and created again under a running server, the database has no tables: `/readyz` said
    200 (it only ran `SELECT 1`) while every API call was a 500 with a traceback."""
    with throwaway_database("devlog_recreated") as url:
        name = url.rsplit("/", 1)[1]
        process, base, log = serve(tmp_path, url)
        stop.append(process)
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert client.post("/api/v1/events", json=batch([event(1)])).status_code == 200
        admin(f'DROP DATABASE "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
        for _ in range(3):  # (the first may meet a pooled connection the drop killed: an outage 503)
            ready = httpx.get(base + "/readyz")
            assert ready.status_code == 503, ready.text
        assert "devlog-server migrate" in ready.json()["detail"]
        for response in (client.get("/api/v1/events"), client.post("/api/v1/events", json=batch([event(2)]))):
            body = assert_problem(response, 503)
            assert body["type"].endswith("/database_not_migrated") and "devlog-server migrate" in body["detail"]
        assert CliRunner().invoke(main, ["migrate"], env={"DEVLOG_SERVER_DATABASE_URL": url}).exit_code == 0
        assert httpx.get(base + "/readyz").status_code == 200
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert "Traceback" not in log.read_text()
    assert "setup plugin" not in log.read_text()  # (Alembic's plugin set-up: seven info lines per start)


def test_a_database_host_that_cannot_be_resolved_is_a_503() -> None:
    """asyncpg raises a bare OSError (socket.gaierror) here, not a ConnectionError."""
    settings = ServerSettings(
        database_url="postgresql+asyncpg://nobody@devlog-test.invalid:5432/nothing",
        db_timeout_seconds=2,
        key_cache_seconds=0,
    )
    with TestClient(create_app(settings, extensions=())) as client:
        response = post(client, [event(1)])
        assert_problem(response, 503)
        assert response.headers["retry-after"] == "5"
        assert client.get("/readyz").status_code == 503


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_server_that_cannot_serve_the_connection_is_an_outage(error: Exception) -> None:
    # As SQLAlchemy's asyncpg adapter raises them: its DBAPI error, raised from asyncpg's, wrapped.
    adapted = RuntimeError(str(error))
    adapted.__cause__ = error
    wrapped = DBAPIError("SELECT 1", None, adapted)
    assert is_database_outage(error) and is_database_outage(wrapped)
    problem = _from_dbapi_error(wrapped)
    assert problem.status_code == 503 and problem.headers == {"Retry-After": "5"}


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.UniqueViolationError("duplicate key value"),
        asyncpg.exceptions.ObjectNotInPrerequisiteStateError("currval of sequence is not yet defined"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_of_a_statement_on_a_working_connection_stay_500s(error: Exception) -> None:
    """Only failures to connect (whatever the reason) are outages; a statement error is a bug."""
    adapted = RuntimeError(str(error))
    adapted.__cause__ = error
    wrapped = DBAPIError("SELECT 1", None, adapted)
    assert not is_database_outage(wrapped)
    assert _from_dbapi_error(wrapped).status_code == 500


def test_a_missing_table_is_a_database_nobody_migrated_not_a_bug() -> None:
    """(Dropped and created again under the server: the 503 says to migrate; see the test above.)"""
    error = asyncpg.exceptions.UndefinedTableError('relation "events" does not exist')
    adapted = RuntimeError(str(error))
    adapted.__cause__ = error
    problem = _from_dbapi_error(DBAPIError("SELECT 1", None, adapted))
    assert problem.status_code == 503 and "devlog-server migrate" in str(problem.detail)


def libpq_url(url: str, sslmode: str) -> str:
    """The throwaway database's URL as a managed service would give it: `postgresql://…?sslmode=…`."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1) + f"?sslmode={sslmode}"


@pytest.mark.postgres
def test_a_libpq_url_with_sslmode_migrates_and_serves(tmp_path: Path, stop: list[Any]) -> None:
    with throwaway_database("devlog_sslmode") as url:
        named = libpq_url(url, "disable") + "&application_name=devlog-test"
        migrated = CliRunner().invoke(main, ["migrate"], env={"DEVLOG_SERVER_DATABASE_URL": named})
        assert migrated.exit_code == 0, migrated.output
        assert "database at revision" in migrated.output
        process, base, _ = serve(tmp_path, libpq_url(url, "prefer"))
        stop.append(process)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.post(base + "/api/v1/events", json=batch([event(1)]), headers=headers).status_code == 200
        assert [e["id"] for e in httpx.get(base + "/api/v1/events", headers=headers).json()["events"]] == ["evt-000001"]
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        # The test server speaks no TLS: `require` reaching asyncpg shows as its refusal, in one line.
        required = CliRunner().invoke(main, ["migrate"], env={"DEVLOG_SERVER_DATABASE_URL": libpq_url(url, "require")})
        assert required.exit_code == 2, required.output
        assert required.output.strip().endswith("rejected SSL upgrade"), required.output


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("sslmode=sometimes", "sslmode='sometimes' in the URL is not one of disable, allow, prefer, require"),
        ("sslmode=require&ssl=true", "give sslmode or ssl in the URL, not both"),
    ],
)
def test_an_unusable_sslmode_is_one_line_naming_the_setting(query: str, problem: str) -> None:
    result = CliRunner().invoke(main, ["migrate"], env={"DEVLOG_SERVER_DATABASE_URL": f"postgresql://h/db?{query}"})
    assert result.exit_code == 2
    assert result.output.startswith(f"error: invalid DEVLOG_SERVER_* settings: DEVLOG_SERVER_DATABASE_URL: {problem}")
    assert len(result.output.strip().splitlines()) == 1
