"""Response types of the read API (msgspec Structs; the ingest types come from `devlog_shared`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

import msgspec

from devlog_server.keys import KEY_NAME_PATTERN
from devlog_shared import Event

__all__ = [
    "CollectorHealth",
    "CreatedKeyInfo",
    "EventPage",
    "GroupBy",
    "HealthStatus",
    "IngestHealth",
    "KeyCreate",
    "KeyInfo",
    "Problem",
    "RecentRejection",
    "StatsGroup",
    "StatsResponse",
]

GroupBy = Literal["day", "agent", "workspace", "project", "model", "user"]


class EventPage(msgspec.Struct, kw_only=True, frozen=True):
    """One page of `GET /api/v1/events`; pass `next_cursor` as `cursor` for the next page (null at the end)."""

    events: list[Event]
    next_cursor: str | None = None


class StatsGroup(msgspec.Struct, kw_only=True, frozen=True):
    """Totals of one group (`key` is the day, agent, workspace, ...; null when the field is unset)."""

    key: str | None
    events: int
    sessions: int
    kinds: dict[str, int]
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_read_tokens: int
    reasoning_tokens: int
    cost_usd: float


class StatsResponse(msgspec.Struct, kw_only=True, frozen=True):
    """`GET /api/v1/stats`: one entry per group plus the total over all matching events."""

    by: GroupBy
    groups: list[StatsGroup]
    total: StatsGroup
    #: More groups matched than `limit` returned: for `by=day` the newest days are kept, for the
    #: others the groups with the most events (`total` always covers every matching event).
    truncated: bool = False


class HealthStatus(msgspec.Struct, kw_only=True, frozen=True):
    """`/healthz` and `/readyz` bodies."""

    status: Literal["ok", "unavailable"]
    database: str | None = None
    #: Why the server is not ready, when it is something to act on (a database nobody migrated).
    detail: str | None = None


class CollectorHealth(msgspec.Struct, kw_only=True, frozen=True):
    """Ingest health of one collector (per key and machine)."""

    key_id: str
    key_name: str | None
    machine: str
    name: str
    version: str | None
    first_seen: datetime
    last_seen: datetime
    batches: int
    created: int
    duplicates: int
    rejected: int


class RecentRejection(msgspec.Struct, kw_only=True, frozen=True):
    """One recently rejected event and why."""

    received_at: datetime
    key_id: str
    machine: str
    event_id: str | None
    index: int
    reason: str


class Problem(msgspec.Struct, kw_only=True, frozen=True):
    """An RFC 9457 problem details body (`application/problem+json`), the shape of every error response."""

    status: int
    title: str
    detail: str
    type: str | None = None


class KeyInfo(msgspec.Struct, kw_only=True, frozen=True):
    """An API key as the admin API shows it (never its secret)."""

    id: str
    name: str
    scopes: list[str]
    workspaces: list[str]
    hint: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


_NAME_SCHEMA: Final = msgspec.Meta(extra_json_schema={"extra": {"pattern": KEY_NAME_PATTERN}})


class KeyCreate(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """`POST /api/v1/keys` body.

    The name's pattern is stated for the OpenAPI document only (Litestar reads `extra`); `keys.create_key`
    enforces it (as a full match: Python's `$` would let a trailing newline through), with a 400 that
    says what a name may hold rather than msgspec's "expected str matching regex".
    """

    name: Annotated[str, _NAME_SCHEMA]
    scopes: list[Literal["ingest", "read", "admin"]] = msgspec.field(default_factory=lambda: ["ingest", "read"])
    workspaces: list[str] = msgspec.field(default_factory=list)


class CreatedKeyInfo(msgspec.Struct, kw_only=True, frozen=True):
    """A key just created: `token` is shown this once and never again."""

    key: KeyInfo
    token: str


class IngestHealth(msgspec.Struct, kw_only=True, frozen=True):
    """`GET /api/v1/ingest-health`: per-collector counters and the newest rejections."""

    collectors: list[CollectorHealth]
    recent_rejections: list[RecentRejection]
