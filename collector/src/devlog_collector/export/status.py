"""Per-remote export state as users see it (`devlog export --status`, `--dry-run`, `remote test`).

Pending counts are computed, not stored: the events after the remote's cursor grouped by workspace
(one indexed GROUP BY), then routed per workspace. When a remote's rules changed since its cursor was
written, the cursor will restart at 0 on the next pass, so pending counts from 0 here too.

Status values:

* `paused`   a 401/403/404 (or similar) stopped it; `devlog export` or a url/key change resumes it
             (after such a change it is shown as the next pass will find it: pending or synced).
* `synced`   nothing routed to it is waiting.
* `error`    events are waiting and the last attempt failed transiently (it is being retried).
* `pending`  events are waiting (not yet sent, or sending now).
* `waiting`  there is no store yet because its first load is running (or a crashed one left its
             side file): what it will select is not known until the store is in place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from devlog_collector.config import Config, mask_url
from devlog_collector.export.exporter import pause_lifted, rules_hash
from devlog_collector.export.routing import Router
from devlog_collector.store import Store, ms_to_datetime

__all__ = ["RemoteStatus", "pending_by_workspace", "remote_statuses", "workspace_counts"]


@dataclass
class RemoteStatus:
    """One row of `devlog export --status`."""

    name: str
    url: str
    auto_sync: bool
    content: str
    status: str
    pending: int
    sent_total: int
    last_seq: int
    dead_letters: int
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    paused_reason: str | None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("last_success_at", "last_error_at"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data


def workspace_counts(store: Store | None, after_seq: int = 0) -> dict[str | None, int]:
    """Events per workspace with seq > `after_seq`."""
    if store is None:
        return {}
    rows = store.db.execute(
        "SELECT workspace, count(*) FROM events WHERE seq > ? GROUP BY workspace", (after_seq,)
    ).fetchall()
    return {workspace: int(count) for workspace, count in rows}


def _cursor(store: Store | None, config: Config, remote: str) -> tuple[int, dict[str, Any]]:
    if store is None:
        return 0, {}
    row = store.db.execute(
        "SELECT last_seq, rules_hash, status, paused_reason, last_success_at, last_error, last_error_at, sent_total, "
        "paused_fingerprint FROM export_cursors WHERE remote = ?",
        (remote,),
    ).fetchone()
    if row is None:
        return 0, {}
    keys = ("last_seq", "rules_hash", "status", "paused_reason", "last_success_at", "last_error", "last_error_at")
    data = dict(zip(keys, row, strict=False))
    data["sent_total"] = row[7]
    settings = config.export.remotes[remote]
    # Paused under another url or key: the next pass resumes it (shown as what it will be then). With
    # no key here (a `${VAR}` this shell does not set, while the daemon that paused has it), nothing
    # says the key changed: still paused.
    if data["status"] == "paused" and settings.api_key and pause_lifted(row[8], settings):
        data["status"], data["paused_reason"] = "pending", None
    last_seq = int(row[0]) if row[1] == rules_hash(config, remote) else 0
    return last_seq, data


def pending_by_workspace(
    config: Config, store: Store | None, remote: str, *, from_start: bool = False
) -> dict[str | None, int]:
    """What the next export to `remote` would send: event counts per workspace."""
    router = Router(config)
    after = 0 if from_start else _cursor(store, config, remote)[0]
    return {ws: n for ws, n in workspace_counts(store, after).items() if router.matches(remote, ws)}


def remote_statuses(config: Config, store: Store | None) -> list[RemoteStatus]:
    """The state of every configured remote (`store` None: nothing collected yet)."""
    from devlog_collector.storage_location import first_load_note

    router = Router(config)
    result = []
    waiting = store is None and first_load_note(config.storage.db_path()) is not None
    for name, remote in sorted(config.export.remotes.items()):
        last_seq, data = _cursor(store, config, name)
        counts = workspace_counts(store, last_seq)
        pending = sum(n for ws, n in counts.items() if router.matches(name, ws))
        dead = 0
        # Rules changed since the last pass: it forgets the dead letters (re-sends what is still selected).
        if store is not None and data.get("rules_hash") in (None, rules_hash(config, name)):
            dead = int(store.db.execute("SELECT count(*) FROM dead_letters WHERE remote = ?", (name,)).fetchone()[0])
        stored_status = data.get("status")
        if waiting:
            status = "waiting"
        elif stored_status == "paused":
            status = "paused"
        elif pending == 0:
            status = "synced"
        elif stored_status == "error":
            status = "error"
        else:
            status = "pending"
        result.append(
            RemoteStatus(
                name=name,
                url=mask_url(remote.url),  # (shown by `--status`: credentials masked, as everywhere)
                auto_sync=remote.auto_sync,
                content=remote.content,
                status=status,
                pending=pending,
                sent_total=int(data.get("sent_total") or 0),
                last_seq=last_seq,
                dead_letters=dead,
                last_success_at=ms_to_datetime(data["last_success_at"]) if data.get("last_success_at") else None,
                last_error=data.get("last_error"),
                last_error_at=ms_to_datetime(data["last_error_at"]) if data.get("last_error_at") else None,
                paused_reason=data.get("paused_reason"),
            )
        )
    return result
