"""What one server app holds at run time: settings, database, key cache, rate limiter, metrics.

It lives in `app.state["devlog"]`; handlers (and extensions such as the dashboard) reach it with
`server_state(request)` instead of module globals, so several apps can coexist in one process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from devlog_server.db.engine import Database
from devlog_server.keys import ApiKey
from devlog_server.metrics import Metrics
from devlog_server.ratelimit import RateLimiter
from devlog_server.settings import ServerSettings

__all__ = ["STATE_KEY", "KeyCache", "ServerState", "server_state"]

STATE_KEY = "devlog"


class KeyCache:
    """Verified keys for a few seconds, so authenticating costs no database read per request.

    Entries are keyed by the full token (in memory only) and expire after `ttl` seconds; a revocation
    in this process busts its entry at once, one made elsewhere takes effect within `ttl`.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, ApiKey]] = {}

    def get(self, token: str) -> ApiKey | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(token)
        if entry is None:
            return None
        if time.monotonic() - entry[0] > self.ttl:
            self._entries.pop(token, None)
            return None
        return entry[1]

    def put(self, token: str, key: ApiKey) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[token] = (time.monotonic(), key)

    def forget_key(self, key_id: str) -> None:
        """Drop every cached token of `key_id` (after a revocation)."""
        for token in [t for t, (_, k) in self._entries.items() if k.id == key_id]:
            self._entries.pop(token, None)


@dataclass
class ServerState:
    """Run-time state of one app (see the module docstring)."""

    settings: ServerSettings
    db: Database
    metrics: Metrics
    limiter: RateLimiter
    keys: KeyCache
    known_workspaces: set[str] = field(default_factory=set)
    last_touch: dict[str, float] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)


def server_state(request_or_app: Any) -> ServerState:
    """The `ServerState` of the app serving `request_or_app` (a Request or a Litestar app)."""
    app = getattr(request_or_app, "app", request_or_app)
    state: ServerState = app.state[STATE_KEY]
    return state
