"""Server settings, read from the environment (`DEVLOG_SERVER_*`) only.

The server is configured 12-factor style: every setting is an environment variable, nothing is read
at import time, and `create_app(settings)` takes a `ServerSettings` explicitly, so tests and embedding
code build apps with their own settings side by side.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["DEFAULT_DATABASE_URL", "ServerSettings"]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./devlog-server.db"
LOG_LEVELS: Final = ("debug", "info", "warning", "error")


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ServerSettings(BaseSettings):
    """Everything the server can be told; each field is `DEVLOG_SERVER_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="DEVLOG_SERVER_", extra="ignore", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    """SQLAlchemy async URL: `sqlite+aiosqlite:///path.db` (default, a file in the working directory)
    or `postgresql+asyncpg://user:pass@host/db` (production), optionally with libpq's `?sslmode=…`."""

    db_pool_size: int = Field(default=10, ge=1, le=200)
    """Postgres connection pool size per worker process."""

    db_timeout_seconds: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    """How long a request waits for a connection or a statement before answering 503."""

    host: str = "127.0.0.1"
    """Address `devlog-server serve` binds to (`--host` overrides)."""

    port: int = Field(default=8000, ge=0, le=65535)
    """Port `devlog-server serve` listens on (`--port` overrides)."""

    workers: int = Field(default=1, ge=1, le=64)
    """uvicorn worker processes (`--workers` overrides). Rate limits and key caches are per process."""

    certfile: Path | None = None
    """TLS certificate (PEM). With `keyfile`, the server speaks HTTPS itself."""

    keyfile: Path | None = None
    """TLS private key (PEM) for `certfile`."""

    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Comma-separated addresses/networks of reverse proxies whose X-Forwarded-For/-Proto are trusted."""

    shutdown_timeout_seconds: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    """On SIGTERM/SIGINT, how long in-flight requests may take to finish."""

    key_pepper: SecretStr | None = None
    """Server-wide secret mixed into every API key hash (recommended). Changing it invalidates all keys.
    Set but empty is the same as unset (None), so the start-up warning about it is not skipped."""

    bootstrap_keys: SecretStr | None = None
    """`name:secret[:scopes[:globs]],...`: keys created at start-up when absent (see docs/server.md)."""

    key_cache_seconds: float = Field(default=10.0, ge=0, allow_inf_nan=False)
    """How long a verified key is cached per process; a revocation elsewhere takes effect within this."""

    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    """Largest request body, on the wire and again after decompression (413 beyond)."""

    max_events_per_batch: int = Field(default=5000, ge=1)
    """Most events in one batch (413 beyond)."""

    max_event_bytes: int = Field(default=1024 * 1024, ge=256)
    """Largest single event's JSON; a bigger event is rejected alone (`event_too_large`)."""

    rate_limit_per_minute: int = Field(default=1200, ge=0)
    """Requests per minute per key (token bucket, per process); 0 disables rate limiting."""

    rate_limit_burst: int = Field(default=200, ge=1)
    """Requests a key may send back to back before the per-minute rate applies."""

    max_page_size: int = Field(default=1000, ge=1)
    """Most events `GET /api/v1/events` returns per page."""

    recent_rejections_kept: int = Field(default=1000, ge=0)
    """How many recent per-item rejections are kept for the ingest-health view."""

    log_level: str = "info"
    """Log level of the server's JSON logs (debug, info, warning, error)."""

    log_json: bool = True
    """JSON log lines (default); false renders human-readable console lines."""

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_proxies(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            if item != "*":
                ipaddress.ip_network(item, strict=False)
        return value

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            if value.startswith(("postgresql://", "postgres://")):
                value = "postgresql+asyncpg://" + value.split("://", 1)[1]
            elif value.startswith("sqlite://"):
                value = "sqlite+aiosqlite://" + value.split("://", 1)[1]
            else:
                raise ValueError("must be a sqlite+aiosqlite:// or postgresql+asyncpg:// URL")
        # Checked here so a URL that cannot be used (unparseable, no database, a bad sslmode) stops
        # every command with one line naming the variable, before anything connects.
        from devlog_server.db.engine import check_database_url

        check_database_url(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().lower()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, got {value[:40]!r}")
        return level

    @field_validator("key_pepper")
    @classmethod
    def _empty_pepper_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is not None and not value.get_secret_value() else value

    @field_validator("bootstrap_keys")
    @classmethod
    def _check_bootstrap_keys(cls, value: SecretStr | None) -> SecretStr | None:
        # Parsed here as well as at start-up so a bad entry stops `serve` (and every other command)
        # with one line before anything runs, instead of failing later inside the app's lifespan.
        from devlog_server.keys import parse_bootstrap_keys

        if value is not None:
            parse_bootstrap_keys(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _check_tls(self) -> ServerSettings:
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("certfile and keyfile must be given together")
        if self.certfile is not None and self.keyfile is not None:
            problem = tls_files_problem(self.certfile, self.keyfile)
            if problem is not None:
                raise ValueError(problem)
        return self

    @property
    def pepper_bytes(self) -> bytes:
        """The key pepper as bytes (empty when none is configured)."""
        return self.key_pepper.get_secret_value().encode() if self.key_pepper else b""


class _EncryptedKey(Exception):
    pass


def _no_password() -> bytes:
    raise _EncryptedKey


def tls_files_problem(certfile: Path, keyfile: Path) -> str | None:
    """Why the server could not speak TLS with `certfile` and `keyfile`, or None: checked with the
    settings, so a bad pair is one line naming the files instead of a traceback from uvicorn."""
    import ssl

    try:
        certificate, key = certfile.read_bytes(), keyfile.read_bytes()
    except OSError as exc:
        return f"cannot read the TLS files: {exc.strerror or exc}: {exc.filename}"
    if b"-----BEGIN CERTIFICATE-----" not in certificate:
        return f"certfile {certfile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
    if b"PRIVATE KEY-----" not in key:
        return f"keyfile {keyfile} holds no PEM private key (-----BEGIN PRIVATE KEY-----)"
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile, password=_no_password)
    except _EncryptedKey:
        return f"the TLS key {keyfile} is encrypted (protected by a passphrase): give the key unencrypted"
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            return f"keyfile {keyfile} is not the private key of certfile {certfile}"
        return f"certfile {certfile} and keyfile {keyfile} cannot be used for TLS: {exc.reason or exc}"
    except OSError as exc:
        return f"cannot read the TLS files: {exc.strerror or exc}: {exc.filename or certfile}"
    return None
