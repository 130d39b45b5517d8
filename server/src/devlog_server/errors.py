"""The server's errors, and how every failure becomes an RFC 9457 problem JSON response.

    ServerError
    ├── UserInputError            bad operator input (CLI arguments, settings, bootstrap keys): exit 2
    │   ├── UnknownKeyError       `keys revoke NAME_OR_ID` names no key (404 over the admin API)
    │   └── AmbiguousKeyError     ... or names two: one by id, another by name (409 over the admin API)
    ├── DatabaseUnreachableError  no connection to the configured database could be made:
    │                             exit 2 for a command, 503 with Retry-After for a request
    └── ApiError                  a request that cannot be served; carries its HTTP status and headers

HTTP errors from Litestar itself (404, 405, parameter validation), our `ApiError`s, database outages
(503 with Retry-After) and unexpected exceptions (500, details only in the log) are all rendered by
`problem_details_config()` as `application/problem+json` bodies, so a client always gets
`{"status", "title", "detail"}` and never a stack trace.

A database outage is logged as one `database_unavailable` warning line, never with a traceback: it
is not a bug, and a stopped database would otherwise flood the log with one traceback per request.
`Database` turns every failure to open a connection into `DatabaseUnreachableError` (see
`db/engine.py`); `is_database_outage` recognises the rest, a connection lost while in use.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Final

import structlog
from litestar.exceptions import HTTPException
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

__all__ = [
    "DATABASE_ERRORS",
    "AmbiguousKeyError",
    "ApiError",
    "DatabaseUnreachableError",
    "ServerError",
    "UnknownKeyError",
    "UserInputError",
    "invalid_parameter",
    "problem_details_config",
    "problem_for",
]

PROBLEM_BASE: Final = "https://devlog.dev/problems/"
DB_RETRY_AFTER_SECONDS: Final = 5

_log = structlog.get_logger("devlog_server.errors")


class ServerError(Exception):
    """Root of the server's own errors."""


class UserInputError(ServerError, ValueError):
    """Operator input that cannot be used (named argument, key, setting); the message says what to fix."""


class UnknownKeyError(UserInputError):
    """No key has the name or id an operator gave."""


class AmbiguousKeyError(UserInputError):
    """The name or id an operator gave is one key's id and another key's name; nothing was done."""


class DatabaseUnreachableError(ServerError):
    """The configured database cannot be connected to or opened; the message names it (password masked) and why.

    Raised for every failure while opening a connection, whatever the driver's reason: refused,
    timed out, starting up or shutting down, too many clients, connections not allowed, and also a
    database that is gone or refuses the server's credentials. The server checked all of that when
    it started, so at run time it is an operator's change in progress (a restore, a failover, a
    password rotation), not a fault of the request; the request gets a 503 and the collector retries.
    """

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot connect to the database {url}: {reason}")
        self.url = url
        self.reason = reason


class ApiError(ServerError):
    """A request that cannot be served; rendered as a problem details response."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.headers = headers or {}
        self.extra = extra or {}


def invalid_parameter(name: str, detail: str) -> ApiError:
    """A 400 for the query parameter `name`, which the problem names (`parameter`) as Litestar's own do."""
    return ApiError(400, detail, code="invalid_parameter", extra={"parameter": name})


def _problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> ProblemDetailsException:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return ProblemDetailsException(
        status_code=status,
        title=phrase,
        detail=detail,
        type_=PROBLEM_BASE + (code or _HTTP_CODES.get(status, "error")),
        headers=headers,
        extra=extra,
    )


def _from_api_error(exc: ApiError) -> ProblemDetailsException:
    return _problem(exc.status, exc.detail, code=exc.code, headers=exc.headers, extra=exc.extra)


def _from_http_exception(exc: HTTPException) -> ProblemDetailsException:
    if isinstance(exc, ProblemDetailsException):
        return exc
    extra: dict[str, Any] | None = None
    if isinstance(exc.extra, dict):
        extra = exc.extra
    elif isinstance(exc.extra, list):
        extra = {"errors": exc.extra}
    if exc.status_code == 413:  # Litestar's own body cap (the backstop above the ingest reader's)
        detail = "request body too large; send smaller batches (GET /api/v1/whoami lists the limits)"
        return _problem(413, detail, code="body_too_large", headers=exc.headers, extra=extra)
    detail = str(exc.detail)
    errors = extra.get("errors") if extra else None
    if exc.status_code == 400 and detail.startswith("Validation failed for") and isinstance(errors, list):
        # Litestar's detail repeats the whole URL (kilobytes for a long value); name the parameters,
        # and for a value outside a parameter's choices, the choices.
        named = [
            f"{e.get('key')}: {e.get('message')}{_choices_of(e.get('key'), e.get('message'))}"
            if e.get("key") != "data"  # (Litestar's name for the request body)
            else f"request body: {e.get('message')}"
            for e in errors
            if isinstance(e, dict)
        ]
        body_only = all(isinstance(e, dict) and e.get("key") == "data" for e in errors)
        what = "invalid request body" if body_only else "invalid request parameter" + ("s" if len(named) > 1 else "")
        detail = what + ": " + "; ".join(n.removeprefix("request body: ") if body_only else n for n in named)
    return _problem(exc.status_code, detail[:1000], headers=exc.headers, extra=extra)


def _choices_of(parameter: Any, message: Any) -> str:
    """` (one of: a, b, c)` for a value refused as not one of `parameter`'s choices, else nothing."""
    if not (isinstance(message, str) and message.startswith("Invalid enum value")):
        return ""
    from devlog_server.api.read import CHOICE_PARAMETERS  # (the parameters' own types; only on this error)

    choices = CHOICE_PARAMETERS.get(str(parameter))
    return f" (one of: {', '.join(choices)})" if choices else ""


#: The problem type of an error that names no code of its own (Litestar's, and a few of ours).
_HTTP_CODES: Final = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                      405: "method_not_allowed", 413: "body_too_large", 415: "unsupported_media_type",
                      422: "invalid_events", 429: "rate_limited", 500: "internal", 503: "unavailable"}  # fmt: skip


def _driver_error(exc: BaseException) -> BaseException:
    """The innermost error behind `exc` (asyncpg's, under SQLAlchemy's wrapper and its adapter's)."""
    for _ in range(5):  # the chains are two or three deep; the bound guards against cycles
        inner = getattr(exc, "orig", None) or exc.__cause__
        if inner is None:
            break
        exc = inner
    return exc


def _from_database_error(exc: Exception) -> ProblemDetailsException:
    from devlog_server.db.engine import connect_failure_reason

    driver_error = _driver_error(exc)
    reason = exc.reason if isinstance(exc, DatabaseUnreachableError) else connect_failure_reason(driver_error)
    _log.warning("database_unavailable", error=type(driver_error).__name__, reason=reason)
    return _problem(
        503,
        "the database is unavailable; retry later",
        code="database_unavailable",
        headers={"Retry-After": str(DB_RETRY_AFTER_SECONDS)},
    )


def _from_dbapi_error(exc: DBAPIError) -> ProblemDetailsException:
    if is_missing_schema(exc):
        _log.warning("database_not_migrated", error=type(_driver_error(exc)).__name__)
        return _problem(503, NOT_MIGRATED, code="database_not_migrated", headers={"Retry-After": "30"})
    if is_database_outage(exc):
        return _from_database_error(exc)
    if is_transient_conflict(exc):
        reason = "deadlock" if _sqlstate(exc) == "40P01" else "serialization_failure"
        _log.warning("database_conflict_retry", error=reason, sqlstate=_sqlstate(exc))
        return _problem(
            503,
            "the batch collided with another one writing the same events; retry it",
            code="write_conflict",
            headers={"Retry-After": "1"},
        )
    return _from_unexpected(exc)


def _from_unexpected(exc: Exception) -> ProblemDetailsException:
    _log.error("request_failed", error=type(exc).__name__, exc_info=exc)
    return _problem(500, "internal server error", code="internal")


#: The exceptions a database failure reaches a handler as (each is an outage, a write conflict, or a bug).
DATABASE_ERRORS: Final = (DatabaseUnreachableError, DBAPIError, PoolTimeoutError, ConnectionError, TimeoutError)

_MAPPING: Final[dict[type[Exception], Callable[[Any], ProblemDetailsException]]] = {
    ApiError: _from_api_error,
    DatabaseUnreachableError: _from_database_error,
    HTTPException: _from_http_exception,
    DBAPIError: _from_dbapi_error,
    PoolTimeoutError: _from_database_error,
    ConnectionError: _from_database_error,
    TimeoutError: _from_database_error,
    Exception: _from_unexpected,
}


def problem_details_config() -> ProblemDetailsConfig:
    """Problem details for every error path (see the module docstring)."""
    return ProblemDetailsConfig(exception_to_problem_detail_map=dict(_MAPPING))


def problem_for(exc: Exception) -> ProblemDetailsException:
    """The problem `exc` becomes, chosen (most specific class first) and logged as for the API.

    For a boundary that renders errors its own way, such as the dashboard's HTML error page: the
    status, detail and headers (503 with Retry-After for a database outage) are decided here only.
    """
    handler = next((_MAPPING[cls] for cls in type(exc).__mro__ if cls in _MAPPING), _from_unexpected)
    return handler(exc)


#: SQLSTATEs of a server that cannot serve this connection now: shut down by an administrator or a
#: crash (57P01, 57P02), starting up, shutting down or in recovery (57P03), out of connection slots
#: (53300). Class 08 (connection exceptions, e.g. 08003 "connection does not exist") counts too.
_OUTAGE_SQLSTATES: Final = frozenset({"57P01", "57P02", "57P03", "53300"})
#: Exceptions that are outages whatever their details: no connection could be opened (ours), the
#: driver's connection-level errors as SQLAlchemy classifies them, a pool or network timeout.
_OUTAGE_TYPES: Final = (
    DatabaseUnreachableError,
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    ConnectionError,
    TimeoutError,
)


def _sqlstate(exc: BaseException) -> str | None:
    """The Postgres SQLSTATE behind `exc`: on SQLAlchemy's wrapper, its DBAPI error, or the asyncpg
    error that the asyncpg adapter's DBAPI error was raised from; asyncpg's own errors carry it."""
    orig = getattr(exc, "orig", None) or exc
    state = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)
    return state if isinstance(state, str) else None


#: What a server whose database lost its tables (dropped and created again under it) answers.
NOT_MIGRATED: Final = (
    "the database has no devlog tables (was it created again?): run `devlog-server migrate`, or restart "
    "`devlog-server serve`, which migrates"
)


def is_missing_schema(exc: BaseException) -> bool:
    """Whether `exc` is a query failing on a table that does not exist (Postgres 42P01 `undefined_table`,
    SQLite's "no such table"): a database nobody migrated, not a bug and not an outage."""
    if _sqlstate(exc) == "42P01":
        return True
    return isinstance(exc, OperationalError) and "no such table" in str(_driver_error(exc))


def is_database_outage(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached (as opposed to a bug)."""
    if isinstance(exc, _OUTAGE_TYPES):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    state = _sqlstate(exc)
    return state is not None and (state in _OUTAGE_SQLSTATES or state.startswith("08"))


#: SQLSTATEs of a transaction Postgres aborted only because of another one (a deadlock between two
#: batches replacing the same events, a serialization failure): the same request succeeds on retry.
_TRANSIENT_SQLSTATES: Final = frozenset({"40P01", "40001"})


def is_transient_conflict(exc: BaseException) -> bool:
    """Whether `exc` is a deadlock or serialization failure that a retry of the request resolves."""
    return _sqlstate(exc) in _TRANSIENT_SQLSTATES
