"""The export wire contract between a collector and an ingest server.

Request: `POST /api/v1/events` with a `Batch` (JSON, optionally `Content-Encoding: gzip`).
Response: an `IngestResponse` listing every item's status in request order:

* `created`    stored now;
* `duplicate`  an event with that id was already stored (ingest is idempotent; not an error);
* `rejected`   failed validation or was not allowed (`reason` says why); never retried by collectors.

A `duplicate` whose content differs from the stored copy (a grown token usage, a title or status
learnt later) replaces it, unless its token total is lower: the server keeps the newest copy but
never lowers usage. Such an item is still reported `duplicate` (no new status, so collectors that
know only these three keep working); `IngestResponse.updated` counts them. Old collectors ignore
the field, as msgspec ignores unknown fields.

The server answers 200 when no item was rejected and 422 when some were, with the same body in both
cases; valid items of a 422 batch are stored. A collector therefore treats 200 and a 422 carrying an
`IngestResponse` alike: advance its cursor and dead-letter the rejected items.

Events inside a batch are kept as raw JSON (`msgspec.Raw`) at the envelope level so that one bad
event is rejected alone instead of failing the whole batch.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from devlog_shared.events import SCHEMA_VERSION, Event

__all__ = [
    "Batch",
    "BatchEnvelope",
    "CollectorInfo",
    "IngestResponse",
    "ItemResult",
    "ItemStatus",
    "ServerLimits",
    "WhoAmI",
]

ItemStatus = Literal["created", "duplicate", "rejected"]


class CollectorInfo(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """Who sent a batch."""

    name: str = "devlog"
    version: str | None = None
    machine: str | None = None


class Batch(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """What a collector sends (fully typed, used for encoding)."""

    schema_version: int = SCHEMA_VERSION
    sent_at: datetime | None = None
    collector: CollectorInfo = msgspec.field(default_factory=CollectorInfo)
    events: list[Event]


class BatchEnvelope(msgspec.Struct, kw_only=True, frozen=True):
    """What a server decodes first: the envelope typed, each event still raw JSON."""

    schema_version: Annotated[int, msgspec.Meta(ge=1)] = SCHEMA_VERSION
    sent_at: datetime | None = None
    collector: CollectorInfo = msgspec.field(default_factory=CollectorInfo)
    events: list[msgspec.Raw]


class ItemResult(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """The outcome for one event of a batch, in request order (`index`)."""

    index: int
    id: str | None = None
    status: ItemStatus
    reason: str | None = None


class IngestResponse(msgspec.Struct, kw_only=True, frozen=True):
    """Per-batch counts plus one result per item."""

    created: int
    duplicates: int
    rejected: int
    #: How many of the `duplicates` replaced the stored copy (0 from servers that predate it).
    updated: int = 0
    results: list[ItemResult]


class ServerLimits(msgspec.Struct, kw_only=True, frozen=True):
    """Limits a collector should size its batches by."""

    max_events_per_batch: int
    max_body_bytes: int
    max_event_bytes: int
    rate_limit_per_minute: int | None = None


class WhoAmI(msgspec.Struct, kw_only=True, frozen=True):
    """`GET /api/v1/whoami`: the calling key and the server's limits."""

    key_name: str
    key_id: str
    scopes: list[str]
    workspaces: list[str]
    limits: ServerLimits
    server_version: str | None = None
