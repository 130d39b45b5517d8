"""Browser sign-in for the dashboard: API key -> server-side session cookie, CSRF tokens, sign-out.

A person signs in by pasting an API key with the `read` scope. The server checks it exactly as the
API does (`keys.find_key`), then creates a session: a random 256-bit token goes into an HttpOnly,
SameSite=Lax cookie scoped to `/dashboard` (Secure when the request arrived over TLS); the database
keeps only the token's SHA-256 with the key id, a per-session CSRF token and the expiry. The raw
API key is never stored or put in a cookie. Every page re-reads the key, so revoking it (or
removing its `read` scope) signs its sessions out at once.

CSRF: forms of a signed-in page carry the session's CSRF token (compared in constant time); the
sign-in form, which has no session yet, uses a double-submit cookie. POSTs the browser marks as
cross-site (`Sec-Fetch-Site`) are refused outright.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import posixpath
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import structlog
from litestar import Request
from litestar.exceptions import HTTPException
from sqlalchemy import delete, insert, select

from devlog_server.auth import record_key_use
from devlog_server.dashboard.tables import DashboardSessionModel
from devlog_server.db.models import ApiKeyModel
from devlog_server.keys import ApiKey, find_key
from devlog_server.queries import allowed_workspaces
from devlog_server.state import ServerState, server_state

__all__ = [
    "SESSION_COOKIE",
    "SIGNIN_CSRF_COOKIE",
    "CsrfError",
    "SignInRequired",
    "Viewer",
    "check_origin",
    "create_session",
    "current_viewer",
    "delete_session",
    "require_viewer",
    "safe_next",
    "verify_key",
]

SESSION_COOKIE: Final = "devlog_session"
SIGNIN_CSRF_COOKIE: Final = "devlog_signin_csrf"
COOKIE_PATH: Final = "/dashboard"
SESSION_LIFETIME: Final = timedelta(hours=12)
READ_SCOPE: Final = "read"
_log = structlog.get_logger("devlog_server.dashboard")


class SignInRequired(Exception):
    """No valid session: the page redirects to the sign-in form."""


class CsrfError(HTTPException):
    """A form arrived without the right CSRF token (or from another origin)."""

    status_code = 403


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the signed-in key, its session's CSRF token and the workspaces it may read."""

    key: ApiKey
    csrf_token: str
    allowed: list[str] | None
    token_hash: str

    @property
    def unrestricted(self) -> bool:
        """True when the key has no workspace globs (it sees everything, including ingest health)."""
        return self.allowed is None

    @property
    def sees_ingest_health(self) -> bool:
        """True for keys that may see ingest health: the `admin` scope, as `GET /api/v1/ingest-health` needs,
        and no workspace limits (the page covers every workspace and collector on the server)."""
        return self.key.has_scope("admin") and self.unrestricted


def token_hash(token: str) -> str:
    """What the sessions table stores for a cookie token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _key_from_row(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        scopes=tuple(row.scopes.split()),
        workspaces=tuple(json.loads(row.workspaces)),
        hint=row.hint,
        created_at=_utc(row.created_at),
        revoked_at=_utc(row.revoked_at) if row.revoked_at else None,
        last_used_at=_utc(row.last_used_at) if row.last_used_at else None,
    )


async def verify_key(state: ServerState, token: str) -> ApiKey | None:
    """The key for a pasted token if it may sign in (valid, not revoked, `read` scope), else None."""
    token = token.strip()
    if not token:
        return None
    async with state.db.read() as conn:
        key = await find_key(conn, token, pepper=state.settings.pepper_bytes)
    if key is None or key.revoked or not key.has_scope(READ_SCOPE):
        return None
    return key


async def create_session(state: ServerState, key: ApiKey) -> tuple[str, datetime]:
    """Store a new session for `key`; returns the cookie token and its expiry (signing in uses the key)."""
    await record_key_use(state, key)
    token = secrets.token_urlsafe(32)
    now = _now()
    expires = now + SESSION_LIFETIME
    async with state.db.write() as conn:
        await conn.execute(delete(DashboardSessionModel).where(DashboardSessionModel.expires_at < now))
        await conn.execute(
            insert(DashboardSessionModel).values(
                token_hash=token_hash(token),
                key_id=key.id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=expires,
            )
        )
    _log.info("dashboard_sign_in", key_id=key.id)
    return token, expires


async def delete_session(state: ServerState, hashed: str) -> None:
    """Forget a session (sign-out)."""
    async with state.db.write() as conn:
        await conn.execute(delete(DashboardSessionModel).where(DashboardSessionModel.token_hash == hashed))


async def current_viewer(request: Request[Any, Any, Any]) -> Viewer | None:
    """The viewer of a request with a live session whose key may still read, else None."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 128:
        return None
    state = server_state(request)
    hashed = token_hash(token)
    s = DashboardSessionModel.__table__.c
    k = ApiKeyModel.__table__.c
    query = (
        select(s.csrf_token, s.expires_at, k.id, k.name, k.scopes, k.workspaces, k.hint, k.created_at, k.revoked_at)
        .add_columns(k.last_used_at)
        .select_from(DashboardSessionModel.__table__.join(ApiKeyModel.__table__, k.id == s.key_id))
        .where(s.token_hash == hashed)
    )
    async with state.db.read() as conn:
        row = (await conn.execute(query)).first()
        if row is None or _utc(row.expires_at) <= _now():
            return None
        key = _key_from_row(row)
        if key.revoked or not key.has_scope(READ_SCOPE):
            return None
        allowed = await allowed_workspaces(conn, key.matcher)
    await record_key_use(state, key)
    return Viewer(key=key, csrf_token=row.csrf_token, allowed=allowed, token_hash=hashed)


async def require_viewer(request: Request[Any, Any, Any]) -> Viewer:
    """The signed-in viewer; raises SignInRequired (-> redirect to sign-in) when there is none."""
    viewer = await current_viewer(request)
    if viewer is None:
        raise SignInRequired
    return viewer


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of two CSRF tokens (False when either is missing)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def check_origin(request: Request[Any, Any, Any]) -> None:
    """Refuse a form POST the browser says came from another site (`Sec-Fetch-Site: cross-site`).

    The Fetch metadata header is set by the browser and passes through reverse proxies unchanged,
    unlike Origin-vs-Host comparisons, which break when a proxy rewrites Host or terminates TLS.
    The CSRF tokens remain the primary defence; this refuses cross-site posts before any work.
    """
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        raise CsrfError(detail="cross-site form refused")


def safe_next(value: str | None, default: str = "/dashboard") -> str:
    """A post-sign-in destination inside the dashboard (never an absolute or protocol-relative URL).

    The path must be `/dashboard` or below it as written: backslashes, control characters and `.` or
    `..` segments (also percent-encoded) are refused rather than normalised, because a browser resolves
    `/dashboard/../api/v1/keys` to a path outside the dashboard.
    """
    if not value or "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    for path in (parts.path, unquote(parts.path)):
        if path != "/dashboard" and not path.startswith("/dashboard/"):
            return default
        if "\\" in path or any(segment in (".", "..") for segment in path.split("/")):
            return default
        if posixpath.normpath(path) != path.rstrip("/") and path.rstrip("/") != "/dashboard":
            return default
    return value


def workspace_visible(allowed: Sequence[str] | None, workspace: str | None) -> bool:
    """Whether a workspace is one the viewer may see."""
    return allowed is None or (workspace is not None and workspace in allowed)
