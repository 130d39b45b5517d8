"""What the `devlog-server` commands print when the database cannot be used or a setting is wrong:
one line naming the database URL (password masked) or the variable and the reason, exit status 2,
never a traceback. `serve` runs as a real process so a failure inside uvicorn's lifespan would show."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from devlog_server.cli import main
from tests.pg import ADMIN_URL, require_postgres


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
