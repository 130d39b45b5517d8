"""The server's tables, declared once for SQLAlchemy and Alembic autogenerate.

`events` is the big, (almost) append-only table: one row per event with its filterable fields as columns
(so filters and stats never parse JSON) and the full event JSON in `body`. A replayed id is a
duplicate; only a copy with other content and no lower token total replaces the stored row (deleted
and inserted again, see `devlog_server.ingest`), never an UPDATE in place. The other tables are
small: API keys (hashes only), per-collector ingest health, a bounded list of recent rejections and
the set of workspaces seen (used to apply a key's workspace globs to reads exactly as on ingest).

`workspace` uses the bytewise "C" collation on Postgres so a folder-prefix filter is an index range
scan (`workspace >= 'p/' AND workspace < 'p0'`), the same comparison SQLite makes natively.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import BigInteger, DateTime, Float, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "API_KEYS",
    "COLLECTORS",
    "EVENTS",
    "REJECTIONS",
    "WORKSPACES",
    "ApiKeyModel",
    "Base",
    "CollectorModel",
    "EventModel",
    "RejectionModel",
    "WorkspaceModel",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Bytewise ordering for path columns on Postgres (SQLite's default BINARY collation already is).
PathText = String().with_variant(String(collation="C"), "postgresql")
UtcDateTime = DateTime(timezone=True)


class Base(DeclarativeBase):
    """Declarative base with a fixed constraint naming convention (stable migration names)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class EventModel(Base):
    """One stored event. Written only by the bulk statements in `devlog_server.ingest` (no ORM objects)."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    agent: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    session_id: Mapped[str] = mapped_column(String(256))
    workspace: Mapped[str | None] = mapped_column(PathText)
    project: Mapped[str | None] = mapped_column(Text)
    user_name: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    machine: Mapped[str | None] = mapped_column(Text)
    tool_name: Mapped[str | None] = mapped_column(Text)
    file_path: Mapped[str | None] = mapped_column(Text)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_creation_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    key_id: Mapped[str] = mapped_column(String(32))
    collector: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_events_workspace_ts", "workspace", "ts"),
        Index("ix_events_ts_id", "ts", "id"),
        Index("ix_events_session_id_ts", "session_id", "ts"),
        Index("ix_events_agent_ts", "agent", "ts"),
        Index("ix_events_kind_ts", "kind", "ts"),
        Index("ix_events_user_name_ts", "user_name", "ts"),
    )


class ApiKeyModel(Base):
    """An API key: its id (the lookup part of the token), a keyed hash of the token, scopes and globs."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    salt: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[str] = mapped_column(String(128))
    workspaces: Mapped[str] = mapped_column(Text, default="[]")
    hint: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class CollectorModel(Base):
    """Ingest health per (key, collector machine): last seen and running counters."""

    __tablename__ = "collectors"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    machine: Mapped[str] = mapped_column(String(1024), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[str | None] = mapped_column(String(128))
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    batches: Mapped[int] = mapped_column(BigInteger, default=0)
    created: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)


class RejectionModel(Base):
    """A recent per-item rejection (bounded: only the newest `recent_rejections_kept` rows stay)."""

    __tablename__ = "ingest_rejections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    key_id: Mapped[str] = mapped_column(String(32))
    machine: Mapped[str] = mapped_column(String(1024))
    event_id: Mapped[str | None] = mapped_column(String(128))
    item_index: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)


class WorkspaceModel(Base):
    """Every distinct workspace ever stored: lets reads resolve a key's globs to an exact list."""

    __tablename__ = "workspaces"

    workspace: Mapped[str] = mapped_column(PathText, primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)


#: The tables, typed as `Table` for Core statements (the hot paths build no ORM objects).
EVENTS = cast(Table, EventModel.__table__)
API_KEYS = cast(Table, ApiKeyModel.__table__)
COLLECTORS = cast(Table, CollectorModel.__table__)
REJECTIONS = cast(Table, RejectionModel.__table__)
WORKSPACES = cast(Table, WorkspaceModel.__table__)
