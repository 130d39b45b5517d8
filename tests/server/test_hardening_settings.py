"""Settings the server must refuse with one line naming the variable (exit status 2, no traceback):
database URLs it cannot use (a port that is not a number, an unclosed IPv6 bracket, no host or no
database, which libpq would fill in with defaults), log levels it does not know, timeouts that are
not a positive finite number; and a key pepper set but empty, which gets the same start-up warning
as an unset one. SQLite URLs keep working."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
from click.testing import CliRunner

from devlog_server.cli import main
from devlog_server.runner import startup_warnings
from devlog_server.settings import ServerSettings


def _one_settings_line(env: dict[str, str], *command: str) -> str:
    result = CliRunner().invoke(main, list(command or ["migrate"]), env=env)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: invalid DEVLOG_SERVER_* settings: "), lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql+asyncpg://postgres:s3cret@127.0.0.1:abc/x", "its port 'abc' is not a number"),
        ("postgresql+asyncpg://postgres:s3cret@[::1/x", "its IPv6 host has no closing ']'"),
        ("postgresql+asyncpg://postgres:s3cret@127.0.0.1:/x", "it has a ':' but no port after it"),
        ("postgresql+asyncpg://postgres:s3cret@127.0.0.1:70000/x", "its port 70000 is not between 1 and 65535"),
        ("postgresql+asyncpg://", "names no Postgres host"),
        ("postgresql://", "names no Postgres host"),
        ("postgresql+asyncpg://postgres:s3cret@127.0.0.1:5432", "names no Postgres database"),
        ("postgresql+asyncpg://postgres:s3cret@127.0.0.1:5432/", "names no Postgres database"),
        (
            "postgresql://postgres:s3cret@127.0.0.1:5432/x?sslrootcert=/ca.pem",
            "takes no sslrootcert= parameter: set PGSSLROOTCERT in the server's environment instead",
        ),
        ("postgresql://postgres:s3cret@127.0.0.1/x?sslmode=require&connect_timeout=5", "takes no connect_timeout="),
    ],
)
@pytest.mark.parametrize("command", [["migrate"], ["keys", "list"], ["serve"]])
def test_an_unusable_database_url_is_one_line_naming_the_variable(url: str, problem: str, command: list[str]) -> None:
    line = _one_settings_line({"DEVLOG_SERVER_DATABASE_URL": url}, *command)
    assert "DEVLOG_SERVER_DATABASE_URL: " in line and problem in line
    assert "s3cret" not in line


def test_sqlite_urls_keep_working(tmp_path: Path) -> None:
    for url in (f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"):
        result = CliRunner().invoke(main, ["migrate"], env={"DEVLOG_SERVER_DATABASE_URL": url})
        assert result.exit_code == 0, result.output
        assert "database at revision" in result.output
    assert (tmp_path / "a.db").exists() and (tmp_path / "b.db").exists()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://devlog:s3cret@db.internal/devlog",
        "postgresql+asyncpg://devlog@[::1]:5432/devlog?sslmode=require",
        "postgresql+asyncpg://devlog@/devlog?host=/run/postgresql",
        "postgresql+asyncpg://devlog@db/devlog?application_name=api&target_session_attrs=read-write",
    ],
)
def test_complete_postgres_urls_are_accepted(url: str) -> None:
    assert ServerSettings(database_url=url).database_url == url


def test_an_unknown_log_level_is_refused() -> None:
    line = _one_settings_line({"DEVLOG_SERVER_LOG_LEVEL": "bogus"})
    assert "DEVLOG_SERVER_LOG_LEVEL: must be one of debug, info, warning, error, got 'bogus'" in line
    assert ServerSettings(log_level="WARNING").log_level == "warning"


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "0", "-1"])
@pytest.mark.parametrize("variable", ["DEVLOG_SERVER_DB_TIMEOUT_SECONDS", "DEVLOG_SERVER_SHUTDOWN_TIMEOUT_SECONDS"])
def test_a_timeout_must_be_a_positive_finite_number(variable: str, value: str) -> None:
    line = _one_settings_line({variable: value})
    assert f"{variable}: " in line


@pytest.mark.parametrize("value", ["inf", "nan", "-1"])
def test_the_key_cache_time_must_be_finite_and_not_negative(value: str) -> None:
    line = _one_settings_line({"DEVLOG_SERVER_KEY_CACHE_SECONDS": value})
    assert "DEVLOG_SERVER_KEY_CACHE_SECONDS: " in line


def test_an_empty_key_pepper_is_warned_about_like_an_unset_one(monkeypatch: pytest.MonkeyPatch) -> None:
    unset_warnings = startup_warnings(ServerSettings(host="127.0.0.1"))
    pepper_warning = [w for w in unset_warnings if "DEVLOG_SERVER_KEY_PEPPER" in w]
    assert pepper_warning
    monkeypatch.setenv("DEVLOG_SERVER_KEY_PEPPER", "")
    empty = ServerSettings(host="127.0.0.1")
    assert startup_warnings(empty) == unset_warnings
    # it behaves exactly like unset: key hashes made before stay valid
    assert empty.key_pepper is None and empty.pepper_bytes == b""
    monkeypatch.setenv("DEVLOG_SERVER_KEY_PEPPER", "a-real-pepper")
    assert not [w for w in startup_warnings(ServerSettings(host="127.0.0.1")) if "KEY_PEPPER" in w]


def test_settings_errors_are_pydantic_errors_for_embedders() -> None:
    with pytest.raises(pydantic.ValidationError, match="names no Postgres database"):
        ServerSettings(database_url="postgresql+asyncpg://u@h")


def test_a_body_limit_below_the_event_limit_is_warned_about() -> None:
    def said(**limits: int) -> list[str]:
        return [w for w in startup_warnings(ServerSettings(host="127.0.0.1", **limits)) if "MAX_BODY_BYTES" in w]

    assert said() == []  # 16 MiB bodies, 1 MiB events
    (warning,) = said(max_body_bytes=300_000)
    assert warning.startswith("DEVLOG_SERVER_MAX_BODY_BYTES (300000) is below DEVLOG_SERVER_MAX_EVENT_BYTES (1048576)")
