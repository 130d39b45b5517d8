"""What the `devlog-server` commands print when the database cannot be used or a setting is wrong:
one line naming the database URL (password masked) or the variable and the reason, exit status 2,
never a traceback. `serve` runs as a real process so a failure inside uvicorn's lifespan would show.
The same for `serve --no-migrate` on a database that is not at this release's migration, and for a
port that is already in use."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from devlog_server.cli import main
from devlog_server.db.migrate import head_revision, upgrade_sync
from tests.pg import ADMIN_URL, require_postgres, throwaway_database


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _refused_url() -> str:
    return f"postgresql+asyncpg://postgres:s3cret-pass@127.0.0.1:{_closed_port()}/devlog"


def _missing_database_url() -> str:
    require_postgres()
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/devlog_nosuch_{uuid.uuid4().hex[:8]}"


def _one_error_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    assert lines[0].startswith("error: cannot connect to the database "), lines[0]
    return lines[0]


@pytest.mark.parametrize("command", [["migrate"], ["keys", "list"], ["keys", "create", "x"], ["keys", "revoke", "x"]])
def test_refused_connection_is_one_line_with_the_password_masked(command: list[str]) -> None:
    url = _refused_url()
    result = CliRunner().invoke(main, command, env={"DEVLOG_SERVER_DATABASE_URL": url})
    assert result.exit_code == 2, result.output
    line = _one_error_line(result.output)
    assert line.endswith(": connection refused")
    assert url.replace("s3cret-pass", "***") in line and "s3cret-pass" not in result.output


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["migrate"], ["keys", "list"]])
def test_missing_postgres_database_is_one_line(command: list[str]) -> None:
    url = _missing_database_url()
    result = CliRunner().invoke(main, command, env={"DEVLOG_SERVER_DATABASE_URL": url})
    assert result.exit_code == 2, result.output
    line = _one_error_line(result.output)
    name = url.rsplit("/", 1)[1]
    assert url in line and line.endswith(f'database "{name}" does not exist')


def test_sqlite_file_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    url = f"sqlite+aiosqlite:///{blocker}/server.db"
    result = CliRunner().invoke(main, ["keys", "list"], env={"DEVLOG_SERVER_DATABASE_URL": url})
    assert result.exit_code == 2, result.output
    assert url in _one_error_line(result.output)


def _serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "devlog_server", "serve", "--host", "127.0.0.1", "--port", "0", *args]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DEVLOG_SERVER_")}
    return subprocess.run(command, env={**clean, **env}, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("args", [(), ("--no-migrate",)])
def test_serve_fails_fast_when_the_database_refuses(args: tuple[str, ...]) -> None:
    url = _refused_url()
    result = _serve({"DEVLOG_SERVER_DATABASE_URL": url}, *args)
    assert result.returncode == 2, result.stderr
    line = _one_error_line(result.stderr)
    assert line.endswith(": connection refused") and "s3cret-pass" not in result.stderr


@pytest.mark.postgres
def test_serve_fails_fast_when_the_database_does_not_exist() -> None:
    url = _missing_database_url()
    result = _serve({"DEVLOG_SERVER_DATABASE_URL": url})
    assert result.returncode == 2, result.stderr
    assert "does not exist" in _one_error_line(result.stderr)


def test_serve_refuses_invalid_bootstrap_keys_before_starting(tmp_path: Path) -> None:
    env = {
        "DEVLOG_SERVER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        "DEVLOG_SERVER_BOOTSTRAP_KEYS": "justname",
    }
    result = _serve(env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "error: invalid DEVLOG_SERVER_* settings: "
        "DEVLOG_SERVER_BOOTSTRAP_KEYS: entry 1 is not name:secret[:scopes[:globs]]"
    ]
    assert not (tmp_path / "serve.db").exists()  # stopped before touching the database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database that nobody has migrated."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    with throwaway_database("devlog_nomigrate_test") as url:
        yield url


def _error_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in output, output
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


@pytest.mark.parametrize("bootstrap", [False, True], ids=["no-keys", "bootstrap-keys"])
def test_serve_no_migrate_refuses_a_database_that_was_never_migrated(unmigrated_url: str, bootstrap: bool) -> None:
    """Not "ready" and then a 500 on every request (or a traceback from the bootstrap keys): one line."""
    env = {"DEVLOG_SERVER_DATABASE_URL": unmigrated_url}
    if bootstrap:
        env["DEVLOG_SERVER_BOOTSTRAP_KEYS"] = "ci:ci-secret-0123456789"
    result = _serve(env, "--no-migrate")
    assert result.returncode == 2, result.stderr
    assert _error_line(result.stderr) == (
        f"error: the database {unmigrated_url} is not migrated (it has no devlog tables): run "
        "`devlog-server migrate` first, or start `serve` without --no-migrate"
    )


def test_serve_no_migrate_names_the_migration_a_database_is_at(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    upgrade_sync(url, "0001initial")
    result = _serve({"DEVLOG_SERVER_DATABASE_URL": url}, "--no-migrate")
    assert result.returncode == 2, result.stderr
    assert _error_line(result.stderr) == (
        f"error: the database {url} is at migration 0001initial, not {head_revision()} as this release needs: "
        "run `devlog-server migrate` first, or start `serve` without --no-migrate"
    )
    upgrade_sync(url)
    conn = sqlite3.connect(tmp_path / "old.db")
    try:
        with conn:  # as if a newer release had migrated it
            conn.execute("UPDATE alembic_version SET version_num = '0099future'")
    finally:
        conn.close()
    newer = _serve({"DEVLOG_SERVER_DATABASE_URL": url}, "--no-migrate")
    assert newer.returncode == 2, newer.stderr
    assert "is at migration 0099future, which this devlog-server release does not know" in _error_line(newer.stderr)


def _at_future_revision(url: str) -> None:
    """Make the database at `url` look migrated by a newer release."""
    import asyncio

    from sqlalchemy import text

    from devlog_server.db.engine import Database

    async def bump() -> None:
        db = Database(url)
        try:
            async with db.write() as conn:
                await conn.execute(text("UPDATE alembic_version SET version_num = '0099future'"))
        finally:
            await db.dispose()

    upgrade_sync(url)
    asyncio.run(bump())


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_database_a_newer_release_migrated_is_one_line_for_every_command(tmp_path: Path, dialect: str) -> None:
    """`migrate`, `serve` and `keys` printed Alembic's 112-line traceback ("Can't locate revision")."""
    with contextlib.ExitStack() as stack:
        if dialect == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'newer.db'}"
        else:
            url = stack.enter_context(throwaway_database())
        _at_future_revision(url)
        expected = (
            "is at migration 0099future, which this devlog-server release does not know (a newer release "
            "migrated it): run that release or a newer one"
        )
        for command in (["migrate"], ["keys", "list"]):
            result = CliRunner().invoke(main, command, env={"DEVLOG_SERVER_DATABASE_URL": url})
            assert result.exit_code == 2, result.output
            assert "Traceback" not in result.output and expected in result.output, result.output
        served = _serve({"DEVLOG_SERVER_DATABASE_URL": url})
        assert served.returncode == 2 and expected in _error_line(served.stderr), served.stderr


def test_two_migrates_at_once_on_sqlite_take_turns(tmp_path: Path) -> None:
    """From an older release's database, the second one replayed the first's steps and failed with a
    traceback ("trigger events_dashboard_unrollup already exists"). A third connection holds the write
    lock while both start, so both are surely at the same point when it is released."""
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade_sync(url, "0002dashboard")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DEVLOG_SERVER_")},
        "DEVLOG_SERVER_DATABASE_URL": url,
    }
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    runs = [
        subprocess.Popen([sys.executable, "-m", "devlog_server", "migrate"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    time.sleep(3)  # (both started and waiting for the lock; each waits up to 10 s)
    holder.execute("COMMIT")
    holder.close()
    for run in runs:
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0 and "Traceback" not in err, err
        assert out.strip() == f"database at revision {head_revision()}"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_says_in_one_line_that_the_port_is_in_use(tmp_path: Path, workers: str) -> None:
    """Not `server_started` (and bootstrap keys created) followed by uvicorn's bind error: one line,
    before the database is touched."""
    env = {
        "DEVLOG_SERVER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        "DEVLOG_SERVER_BOOTSTRAP_KEYS": "ci:ci-secret-0123456789",
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DEVLOG_SERVER_")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "devlog_server", "serve", "--host", "127.0.0.1", "--port", str(port)]
        result = subprocess.run(
            [*command, "--workers", workers], env={**clean, **env}, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 2, result.stderr
    assert _error_line(result.stderr) == (
        f"error: port {port} on 127.0.0.1 is already in use (is another devlog-server running?): stop what "
        "listens there or choose another port (--port or DEVLOG_SERVER_PORT)"
    )
    assert not (tmp_path / "serve.db").exists()


def test_serve_names_a_host_it_cannot_listen_on(tmp_path: Path) -> None:
    env = {"DEVLOG_SERVER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DEVLOG_SERVER_")}
    command = [sys.executable, "-m", "devlog_server", "serve", "--host", "192.0.2.1", "--port", "0"]
    result = subprocess.run(command, env={**clean, **env}, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert _error_line(result.stderr) == (
        "error: cannot listen on 192.0.2.1: not an address of this machine (--host or DEVLOG_SERVER_HOST)"
    )


def test_a_new_sqlite_database_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """It holds every event and the keys' hashes; SQLite created it 0644 (a docs-truth pass). An
    existing file keeps the mode its owner gave it."""
    import stat

    from devlog_server.db.engine import Database

    path = tmp_path / "data" / "devlog-server.db"
    Database(f"sqlite+aiosqlite:///{path}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    shared = tmp_path / "shared.db"
    shared.touch(mode=0o640)
    shared.chmod(0o640)
    Database(f"sqlite+aiosqlite:///{shared}")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o640
