"""Retention: delete events older than a cutoff, never losing what an auto-sync remote still awaits.

`devlog prune` and `storage.retention_days` (applied by `devlog start` at start and hourly) share
this code. The rule that makes pruning safe: an event that an `auto_sync` remote's routing rules
select, and that the remote has not confirmed yet (its seq is above the remote's export cursor, or
the remote has no cursor yet), is kept unless `--force`. Remotes without auto_sync are exported by
hand and do not hold events back.

Deleting goes through `DELETE FROM events`, so the store's triggers keep the full-text index and the
usage rollup consistent. Export cursors are positions in `seq` and are never touched: deleting
events below a cursor changes nothing for the exporter, and a forced delete above it only means
those events are not sent. Deletes run in chunks, each its own short transaction, so a collector
writing at the same time is never blocked for long.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from devlog_collector.config import Config
from devlog_collector.log import get_logger
from devlog_collector.store import PRUNED_BEFORE_KEY, Store

__all__ = ["PruneResult", "apply_retention", "prune"]

log = get_logger(__name__)

_CHUNK = 5000


@dataclass
class PruneResult:
    """What a prune did (or, with dry_run, would do: then `deleted` is 0 and `would_delete` the count)."""

    cutoff: datetime
    older: int = 0
    deleted: int = 0
    would_delete: int = 0
    kept_for_remotes: dict[str, int] = field(default_factory=dict)
    kept: int = 0
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        """Plain data for `--json` (`would_delete` only with dry_run)."""
        data: dict[str, Any] = {
            "cutoff": self.cutoff.isoformat(timespec="seconds"),
            "older_events": self.older,
            "deleted": self.deleted,
        }
        if self.dry_run:
            data["would_delete"] = self.would_delete
        return data | {
            "kept_unsent": self.kept,
            "kept_for_remotes": dict(sorted(self.kept_for_remotes.items())),
            "dry_run": self.dry_run,
        }


def _protected_clauses(store: Store, config: Config, cutoff_ms: int) -> list[tuple[str, str, list[Any]]]:
    """Per auto-sync remote: (remote, SQL selecting the old events it still awaits, params)."""
    from devlog_collector.export.routing import Router

    remotes = sorted(name for name, remote in config.export.remotes.items() if remote.auto_sync)
    if not remotes:
        return []
    router = Router(config)
    cursors = dict(
        store.db.execute(
            f"SELECT remote, last_seq FROM export_cursors WHERE remote IN ({', '.join('?' * len(remotes))})",
            remotes,
        ).fetchall()
    )
    lowest = min(int(cursors.get(r, 0)) for r in remotes)
    workspaces = [
        row[0]
        for row in store.db.execute(
            "SELECT DISTINCT workspace FROM events WHERE ts < ? AND seq > ?", (cutoff_ms, lowest)
        ).fetchall()
    ]
    clauses: list[tuple[str, str, list[Any]]] = []
    for remote in remotes:
        selected = [ws for ws in workspaces if ws is not None and router.matches(remote, ws)]
        with_null = None in workspaces and router.matches(remote, None)
        if not selected and not with_null:
            continue
        parts: list[str] = []
        params: list[Any] = [int(cursors.get(remote, 0))]
        if selected:
            parts.append("workspace IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(selected))
        if with_null:
            parts.append("workspace IS NULL")
        clauses.append((remote, f"(seq > ? AND ({' OR '.join(parts)}))", params))
    return clauses


def prune(store: Store, config: Config, older_than: timedelta, *, dry_run: bool = False, force: bool = False,
          now: datetime | None = None) -> PruneResult:  # fmt: skip
    """Delete events older than `older_than`, except those auto-sync remotes have not received yet.

    Args:
        store: The store, opened read-write (a read-only store is fine with dry_run).
        config: The configuration (remotes, their rules and auto_sync).
        older_than: Age cutoff (events with ts before now - older_than are candidates).
        dry_run: Count only, delete nothing.
        force: Also delete events not yet received by an auto-sync remote.
        now: Reference time (default: the current time).

    Returns:
        Counts of older events, deleted (with dry_run: would-be-deleted) events and events kept per remote.
    """
    try:
        cutoff = (now or datetime.now(UTC)) - older_than
    except OverflowError:  # further back than datetime goes: before any event (1970 on)
        cutoff = datetime(1970, 1, 1, tzinfo=UTC)
    cutoff_ms = int(cutoff.timestamp() * 1000)
    result = PruneResult(cutoff=cutoff, dry_run=dry_run)
    if not dry_run:
        _remember_cutoff(store, cutoff_ms)
    result.older = store.db.execute("SELECT count(*) FROM events WHERE ts < ?", (cutoff_ms,)).fetchone()[0]
    if result.older == 0:
        return result
    clauses = [] if force else _protected_clauses(store, config, cutoff_ms)
    for remote, single, single_params in clauses:
        result.kept_for_remotes[remote] = store.db.execute(
            f"SELECT count(*) FROM events WHERE ts < ? AND {single}",
            [cutoff_ms, *single_params],
        ).fetchone()[0]
    protected = " OR ".join(clause for _, clause, _ in clauses)
    params = [p for _, _, clause_params in clauses for p in clause_params]
    # coalesce: `workspace IN (...)` is NULL for events without a workspace, and NOT NULL would keep them
    condition = "ts < ?" + (f" AND NOT coalesce(({protected}), 0)" if protected else "")
    condition_params = [cutoff_ms, *params]
    if protected:
        result.kept = store.db.execute(
            f"SELECT count(*) FROM events WHERE ts < ? AND ({protected})",
            [cutoff_ms, *params],
        ).fetchone()[0]
    if dry_run:
        result.would_delete = result.older - result.kept
        return result
    while True:
        with store.transaction() as db:
            deleted = db.execute(
                f"DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE {condition} LIMIT {_CHUNK})",
                condition_params,
            ).rowcount
        result.deleted += deleted
        if deleted < _CHUNK:
            break
    log.info("events_pruned", deleted=result.deleted, kept_unsent=result.kept, cutoff=cutoff.isoformat(), force=force)
    return result


def _remember_cutoff(store: Store, cutoff_ms: int) -> None:
    """Keep the latest cutoff (`PRUNED_BEFORE_KEY`), so the collector never stores a pruned event again."""
    with store.transaction() as db:
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
            (PRUNED_BEFORE_KEY, str(cutoff_ms)),
        )


def apply_retention(store: Store, config: Config) -> int:
    """Apply `storage.retention_days` (no-op when unset); returns the number of events deleted.

    Called by `devlog start` when it starts and then hourly.
    """
    days = config.storage.retention_days
    if days is None:
        return 0
    return prune(store, config, timedelta(days=days)).deleted
