"""One `Database` object per app: the async engine, and how reads and writes get a connection.

SQLite (the embedded default) allows one writer at a time, so writes are serialised in-process by an
asyncio lock and start with `BEGIN IMMEDIATE` (so a second process waits on `busy_timeout` instead of
failing a lock upgrade); WAL lets reads proceed meanwhile. Postgres uses a normal connection pool.

Commands check the connection first (`Database.check`), so a stopped database or a wrong URL is one
`DatabaseUnreachableError` line naming the URL (password masked) and the driver's reason, not a
traceback from inside Alembic or the app's lifespan. `read`, `write` and `ping` raise the same error
for any failure while opening a connection: the drivers report a refusal in many shapes (an OSError
per address tried, asyncpg's `CannotConnectNowError`, `TooManyConnectionsError`, "database is not
currently accepting connections", SQLAlchemy wrappers of them), and all of them mean the same to a
request: the database is unavailable, answer 503 and let the client retry.

Postgres URLs may carry libpq's `sslmode` (managed Postgres services hand out URLs with
`?sslmode=require`); asyncpg takes the same mode names as its `ssl` argument, so `asyncpg_url`
renames the parameter instead of letting asyncpg refuse an unknown keyword. libpq's
`application_name` becomes asyncpg's server setting of that name (default `devlog-server`).
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any, Final, Literal

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from devlog_server.errors import DatabaseUnreachableError

__all__ = ["SSL_MODES", "Database", "Dialect", "asyncpg_url", "check_database_url", "connect_failure_reason"]

_ERRNO_RE = re.compile(r"\[Errno (-?\d+)\]")

Dialect = Literal["postgresql", "sqlite"]

#: libpq's `sslmode` values; asyncpg's `ssl` connect argument accepts the same names.
SSL_MODES: Final = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def asyncpg_url(url: str | URL) -> URL:
    """`url` with a Postgres URL's libpq `sslmode=` query parameter given to asyncpg as `ssl=`.

    Raises ValueError (the settings check turns it into one line naming the variable) for a mode
    asyncpg does not know, a repeated `sslmode`, or `sslmode` together with `ssl`.
    """
    parsed = make_url(url)
    mode = parsed.query.get("sslmode")
    if mode is None or parsed.get_backend_name() != "postgresql":
        return parsed
    if not isinstance(mode, str):
        raise ValueError("give sslmode once in the URL")
    if "ssl" in parsed.query:
        raise ValueError("give sslmode or ssl in the URL, not both")
    if mode not in SSL_MODES:
        raise ValueError(f"sslmode={mode!r} in the URL is not one of {', '.join(SSL_MODES)}")
    return parsed.difference_update_query(["sslmode"]).update_query_dict({"ssl": mode})


#: Query parameters a Postgres URL may carry: asyncpg takes each as a text connect argument (`sslmode`
#: becomes `ssl`, `application_name` a server setting). Any other would reach asyncpg's `connect()` as
#: an unknown or mistyped argument and fail every connection.
URL_PARAMETERS: Final = frozenset({
    "sslmode", "ssl", "host", "application_name", "passfile", "target_session_attrs", "krbsrvname", "gsslib",
    "service", "servicefile", "prepared_statement_cache_size",
})  # fmt: skip
#: libpq parameters asyncpg reads from the environment instead of the URL.
_FROM_ENVIRONMENT: Final = {"sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
                            "sslcrl": "PGSSLCRL", "sslpassword": "PGSSLPASSWORD"}  # fmt: skip


def _unknown_parameter_problem(names: list[str]) -> str | None:
    """Why the URL's query parameters cannot be used, or None."""
    unknown = sorted(name for name in names if name not in URL_PARAMETERS)
    if not unknown:
        return None
    name = unknown[0]
    if name in _FROM_ENVIRONMENT:
        return f"takes no {name}= parameter: set {_FROM_ENVIRONMENT[name]} in the server's environment instead"
    return f"takes no {name}= parameter (a Postgres URL may carry: {', '.join(sorted(URL_PARAMETERS))})"


#: The user info of a URL as SQLAlchemy reads it (`user[:password]@`; the password may hold `:` and `/`).
_USERINFO_RE: Final = re.compile(r"[^:/]*(?::[^@]*)?@")


def _authority_problem(url: str) -> str | None:
    """What SQLAlchemy's parser trips on in the host and port of `url`, said without the password."""
    rest = url.split("://", 1)[1]
    userinfo = _USERINFO_RE.match(rest)
    hostport = re.split(r"[/?]", rest[userinfo.end() if userinfo else 0 :], maxsplit=1)[0]
    if hostport.startswith("["):
        if "]" not in hostport:
            return "its IPv6 host has no closing ']' (write [::1]:5432)"
        hostport = hostport.split("]", 1)[1]
    _, colon, port = hostport.partition(":")
    if colon and not port:
        return "it has a ':' but no port after it"
    if port and not port.isdigit():
        return f"its port {port[:20]!r} is not a number"
    return None


def check_database_url(url: str) -> None:
    """Raise ValueError saying what makes `url` unusable (the settings check names the variable).

    SQLAlchemy would raise its own errors only when the engine is built (`invalid literal for int()`
    for a port that is not a number, as a traceback), and libpq's defaults fill in whatever a
    Postgres URL leaves out: `postgresql+asyncpg://` connects to the database named after the OS user
    on the local socket, and the server would migrate that. So a Postgres URL must name its database
    and a host (or `?host=` with a Unix socket folder); SQLite URLs need only parse. Messages never
    repeat the URL, which may hold a password.
    """
    try:
        parsed = make_url(url)
    except (ValueError, ArgumentError):
        problem = _authority_problem(url) or "it cannot be parsed (expected scheme://user:password@host:port/database)"
        raise ValueError(f"is not a valid database URL: {problem}") from None
    if parsed.get_backend_name() != "postgresql":
        return
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise ValueError(f"is not a valid database URL: its port {parsed.port} is not between 1 and 65535")
    if not parsed.host and "host" not in parsed.query:
        raise ValueError("names no Postgres host: write postgresql+asyncpg://user:password@host/database")
    if not parsed.database:
        raise ValueError("names no Postgres database: end the URL with /<database name>")
    unknown = _unknown_parameter_problem(list(parsed.query))
    if unknown is not None:
        raise ValueError(unknown)
    asyncpg_url(parsed)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit at the driver level: transactions are begun explicitly (BEGIN IMMEDIATE for writes).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def connect_failure_reason(exc: BaseException) -> str:
    """Why connecting failed, in the driver's words where they are clear (`database "x" does not exist`)."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    message = str(exc).strip()
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host ({exc.strerror})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError):
        # asyncpg tries every address of a host name and reports them all in one OSError.
        codes = set(_ERRNO_RE.findall(message))
        if codes == {str(errno.ECONNREFUSED)}:
            return "connection refused"
        if exc.strerror and exc.filename is not None:
            return f"{exc.strerror}: {exc.filename}"
    first_line = message.splitlines()[0] if message else ""
    return first_line or type(exc).__name__


class Database:
    """The async engine of one server app plus its read/write connection helpers."""

    def __init__(self, url: str, *, pool_size: int = 10, timeout: float = 10.0) -> None:
        parsed = make_url(url)
        self.url = url
        self.display_url = parsed.render_as_string(hide_password=True)
        """The URL with any password masked: the only form of it that may be printed or logged."""
        self.dialect: Dialect = "postgresql" if parsed.get_backend_name() == "postgresql" else "sqlite"
        self._write_lock: asyncio.Lock | None = None
        if self.dialect == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                path = Path(database).expanduser()
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    # Created readable by its owner only (SQLite would make it 0644): it holds every
                    # event and the keys' hashes. (An existing file keeps the mode it was given.)
                    with suppress(FileExistsError):
                        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                except OSError as exc:
                    raise DatabaseUnreachableError(self.display_url, connect_failure_reason(exc)) from exc
            self.engine: AsyncEngine = create_async_engine(url, connect_args={"timeout": timeout})
            event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect)
            self._write_lock = asyncio.Lock()
        else:
            pg_url = asyncpg_url(parsed)
            # libpq's `application_name` is a server setting to asyncpg, not a connect keyword.
            name = pg_url.query.get("application_name")
            pg_url = pg_url.difference_update_query(["application_name"])
            self.engine = create_async_engine(
                pg_url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_timeout=timeout,
                connect_args={
                    "timeout": timeout,
                    "command_timeout": timeout * 6,
                    "server_settings": {"application_name": name if isinstance(name, str) else "devlog-server"},
                },
            )

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection; DatabaseUnreachableError when none can be opened (see the module docstring)."""
        async with AsyncExitStack() as stack:
            try:
                conn = await stack.enter_async_context(self.engine.connect())
            except Exception as exc:
                raise DatabaseUnreachableError(self.display_url, connect_failure_reason(exc)) from exc
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for queries (no transaction guarantees beyond each statement on SQLite)."""
        async with self._connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction, committed on success and rolled back on error."""
        lock = self._write_lock if self._write_lock is not None else nullcontext()
        async with lock, self._connect() as conn:
            if self.dialect == "sqlite":
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.rollback()
                raise
            await conn.commit()

    async def ping(self) -> None:
        """Run `SELECT 1`; raises when the database is unreachable."""
        async with self._connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def schema_revision(self) -> str | None:
        """The Alembic revision the database is at; raises when it cannot be read (unreachable, or no
        `alembic_version` table: never migrated, or dropped and created again under the server)."""
        async with self._connect() as conn:
            return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()

    async def check(self) -> None:
        """`ping`, raising DatabaseUnreachableError (URL masked, driver's reason) when it fails."""
        try:
            await self.ping()
        except DatabaseUnreachableError:
            raise
        except Exception as exc:
            raise DatabaseUnreachableError(self.display_url, connect_failure_reason(exc)) from exc

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
