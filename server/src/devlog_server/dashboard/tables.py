"""The dashboard's own tables: a daily rollup of events, and signed-in browser sessions.

Why a rollup: the pages aggregate tokens, cost, sessions and developers over weeks of events; on a
1,000,000-event table the raw `GROUP BY`s take seconds. `dashboard_rollups` holds one row per
(UTC day, session, kind, agent, workspace, model, user, project, tool) with summed counters, so a
month of data is tens of thousands of rows instead of hundreds of thousands. Because `session_id`
is part of the grain, distinct sessions and distinct developers are still exact for any filter.
The table is kept by database triggers on `events` (statement-level with a transition table on
Postgres, per row on SQLite): inserts add (migration `0002dashboard`), deletes subtract and drop
emptied rows (`0003supersede`; ingest replaces a superseded event by a delete and an insert), in the
same transaction, so it can never drift from the events it summarises and the ingest code needs no
rollup logic. Unset dimensions are stored as '' (unique constraints treat NULLs as distinct) and
read back as None.

Why a sessions table: the sign-in cookie carries only a random token; the server keeps the SHA-256
of that token with the key id, so any worker process (or replica) can check it, sign-out and key
revocation take effect at once, and a database leak reveals no usable cookie.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from devlog_server.db.models import Base, PathText

__all__ = ["DashboardSessionModel", "RollupModel"]

UtcDateTime = DateTime(timezone=True)

#: Tool statuses (lower-cased) counted as failures; agents spell them differently.
FAILURE_STATUSES = ("error", "errored", "failed", "failure", "cancelled", "canceled", "rejected", "denied", "timeout")


class RollupModel(Base):
    """Per-day, per-session summed counters of events (see the module docstring)."""

    __tablename__ = "dashboard_rollups"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    agent: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace: Mapped[str] = mapped_column(PathText, primary_key=True)
    model: Mapped[str] = mapped_column(String, primary_key=True)
    user_name: Mapped[str] = mapped_column(String, primary_key=True)
    project: Mapped[str] = mapped_column(String, primary_key=True)
    tool_name: Mapped[str] = mapped_column(String, primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger)
    failures: Mapped[int] = mapped_column(BigInteger)
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_creation_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger)
    cost_usd: Mapped[float] = mapped_column(Float)
    lines_added: Mapped[int] = mapped_column(BigInteger)
    lines_removed: Mapped[int] = mapped_column(BigInteger)
    first_ts: Mapped[datetime] = mapped_column(UtcDateTime)
    last_ts: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_dashboard_rollups_session_id", "session_id"),
        Index("ix_dashboard_rollups_workspace_day", "workspace", "day"),
    )


class DashboardSessionModel(Base):
    """A signed-in browser session: the hash of its cookie token, the key, its CSRF token, expiry."""

    __tablename__ = "dashboard_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
