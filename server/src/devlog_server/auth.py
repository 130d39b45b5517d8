"""Authentication and authorisation of API requests: bearer key -> `ApiKey`, scope, rate limit.

Every API request presents `Authorization: Bearer <token>`. Unknown, malformed or revoked tokens get
401, a key without the scope the route needs gets 403, and a key over its request rate gets 429 with
`Retry-After`. Nothing here ever logs a token.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from devlog_server.errors import ApiError
from devlog_server.keys import ApiKey, find_key, touch_key
from devlog_server.ratelimit import RateLimiter
from devlog_server.state import server_state

__all__ = ["authenticate", "record_key_use"]

_TOUCH_EVERY_SECONDS: Final = 60.0
_log = structlog.get_logger("devlog_server.auth")


def _unauthorised(detail: str) -> ApiError:
    return ApiError(401, detail, code="unauthorized", headers={"WWW-Authenticate": 'Bearer realm="devlog"'})


def _bearer_token(header: str | None) -> str:
    if not header:
        raise _unauthorised("missing API key: send Authorization: Bearer <key>")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorised("malformed Authorization header: send Authorization: Bearer <key>")
    return token.strip()


async def authenticate(request: Any, scope: str | None) -> ApiKey:
    """The key of `request` if it may use `scope` (None: any valid key); raises ApiError 401/403/429 otherwise."""
    state = server_state(request)
    token = _bearer_token(request.headers.get("authorization"))
    key = state.keys.get(token)
    if key is None:
        async with state.db.read() as conn:
            key = await find_key(conn, token, pepper=state.settings.pepper_bytes)
        if key is None:
            _log.info("auth_failed", reason="unknown_key", path=request.url.path)
            raise _unauthorised("invalid API key")
        state.keys.put(token, key)
    if key.revoked:
        _log.info("auth_failed", reason="revoked", key_id=key.id, path=request.url.path)
        raise _unauthorised("this API key has been revoked")
    if scope is not None and not key.has_scope(scope):
        raise ApiError(
            403,
            f"this API key lacks the {scope!r} scope (it has: {', '.join(key.scopes)})",
            code="missing_scope",
        )
    wait = state.limiter.acquire(key.id)
    if wait > 0:
        raise ApiError(
            429,
            f"rate limit of {state.limiter.per_minute} requests/minute exceeded for this key; retry later",
            code="rate_limited",
            headers={"Retry-After": RateLimiter.retry_after(wait)},
        )
    await record_key_use(state, key)
    return key


async def record_key_use(state: Any, key: ApiKey) -> None:
    """Set the key's `last_used_at` (at most once a minute per key and process): an API request, or a
    dashboard page of a session signed in with it, both use it (the rotation advice watches it)."""
    now = time.monotonic()
    if now - state.last_touch.get(key.id, -_TOUCH_EVERY_SECONDS * 2) < _TOUCH_EVERY_SECONDS:
        return
    state.last_touch[key.id] = now
    async with state.db.write() as conn:
        await touch_key(conn, key.id, datetime.now(UTC))
