"""Retention: old events go, unless an auto-sync remote has not received them yet (or --force)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from devlog_collector.config import Config, parse_config
from devlog_collector.query.filters import Filters
from devlog_collector.query.pricing import Pricer
from devlog_collector.query.retention import apply_retention, prune
from devlog_collector.query.stats import compute_stats
from devlog_collector.store import Store
from devlog_shared import EVENT_KINDS
from tests.collector.query.helpers import at, ev, store_with

NOW = at("2026-06-01T00:00:00")
OLD, NEW = "2025-01-01T10:00:00", "2026-05-30T10:00:00"


def config(auto_sync: bool = True, **extra: Any) -> Config:
    raw = {
        "export": {
            "remotes": {
                "team": {
                    "url": "http://127.0.0.1:9",
                    "auto_sync": auto_sync,
                    "workspaces": {"include": ["/w/work/**"]},
                },
                "manual": {"url": "http://127.0.0.1:9", "workspaces": {"include": ["/w/**"]}},
            }
        },
        **extra,
    }
    return parse_config(raw)[0]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    events = [
        ev(OLD, "prompt", text="old work secret", workspace="/w/work/api", ident="old-work-1"),
        ev(
            OLD,
            "response",
            text="old work reply",
            workspace="/w/work/api",
            model="gpt-5",
            usage=(1, 1, 0, 0),
            ident="old-work-2",
        ),
        ev(OLD, "prompt", text="old personal", workspace="/w/personal/blog", ident="old-personal"),
        ev(OLD, "prompt", text="old nowhere", workspace=None, ident="old-none"),
        ev(NEW, "prompt", text="new work", workspace="/w/work/api", ident="new-work"),
    ]
    s = store_with(tmp_path / "events.db", events)
    yield s
    s.close()


def remaining(store: Store) -> set[str]:
    return {row[0] for row in store.db.execute("SELECT id FROM events")}


def set_cursor(store: Store, remote: str, last_seq: int) -> None:
    store.db.execute(
        "INSERT OR REPLACE INTO export_cursors (remote, last_seq, updated_at) VALUES (?, ?, 0)", (remote, last_seq)
    )


def seq_of(store: Store, ident: str) -> int:
    return int(store.db.execute("SELECT seq FROM events WHERE id = ?", (ident,)).fetchone()[0])


def test_unsent_events_of_an_auto_sync_remote_are_kept(store: Store) -> None:
    result = prune(store, config(), timedelta(days=365), now=NOW)
    assert remaining(store) == {"old-work-1", "old-work-2", "new-work"}
    assert (result.older, result.deleted, result.kept) == (4, 2, 2)
    assert result.kept_for_remotes == {"team": 2}


def test_received_events_are_pruned(store: Store) -> None:
    set_cursor(store, "team", seq_of(store, "old-work-1"))
    result = prune(store, config(), timedelta(days=365), now=NOW)
    assert remaining(store) == {"old-work-2", "new-work"}
    assert result.kept_for_remotes == {"team": 1}
    assert store.db.execute("SELECT last_seq FROM export_cursors WHERE remote = 'team'").fetchone()[0] == 1


def test_force_deletes_unsent_events_and_leaves_cursors_alone(store: Store) -> None:
    set_cursor(store, "team", 1)
    result = prune(store, config(), timedelta(days=365), force=True, now=NOW)
    assert remaining(store) == {"new-work"}
    assert result.deleted == 4 and result.kept == 0
    assert store.db.execute("SELECT remote, last_seq FROM export_cursors").fetchall() == [("team", 1)]


def test_manual_remotes_do_not_hold_events(store: Store) -> None:
    prune(store, config(auto_sync=False), timedelta(days=365), now=NOW)
    assert remaining(store) == {"new-work"}


def test_export_default_remote_keeps_events_without_workspace(store: Store) -> None:
    cfg = parse_config(
        {
            "export_default": "all",
            "export": {
                "remotes": {
                    "all": {
                        "url": "http://127.0.0.1:9",
                        "auto_sync": True,
                        "workspaces": {"exclude": ["/w/personal/**"]},
                    }
                }
            },
        }
    )[0]
    prune(store, cfg, timedelta(days=365), now=NOW)
    assert remaining(store) == {"old-work-1", "old-work-2", "old-none", "new-work"}


def test_dry_run_deletes_nothing(store: Store) -> None:
    result = prune(store, config(), timedelta(days=365), dry_run=True, now=NOW)
    assert (result.would_delete, result.deleted, result.kept, result.dry_run) == (2, 0, 2, True)
    assert result.to_json()["would_delete"] == 2 and result.to_json()["deleted"] == 0
    assert len(remaining(store)) == 5


def test_delete_keeps_full_text_index_and_rollup_consistent(store: Store, tmp_path: Path) -> None:
    prune(store, config(), timedelta(days=365), force=True, now=NOW)
    hits = store.db.execute("SELECT rowid FROM events_fts WHERE events_fts MATCH 'old'").fetchall()
    assert hits == []
    store.db.execute("INSERT INTO events_fts (events_fts) VALUES ('integrity-check')")
    pricer = Pricer.load(tmp_path / "p.json")
    fast = compute_stats(store, Filters(), by="month", pricer=pricer)
    slow = compute_stats(store, Filters(kinds=EVENT_KINDS), by="month", pricer=pricer)
    assert fast.total.to_json() == slow.total.to_json() and fast.total.events == 1
    assert store.db.execute("SELECT count(*) FROM usage_rollup").fetchone()[0] == 1  # emptied rows are removed


def test_apply_retention_uses_retention_days(store: Store) -> None:
    assert apply_retention(store, config()) == 0  # retention_days unset: nothing happens
    assert len(remaining(store)) == 5
    assert apply_retention(store, config(storage={"retention_days": 30})) == 2
    assert remaining(store) == {"old-work-1", "old-work-2", "new-work"}


def test_pruning_many_events_in_chunks(tmp_path: Path) -> None:
    events = [ev(OLD, "prompt", text=f"n{i}", ident=f"bulk-{i}") for i in range(12_000)]
    with store_with(tmp_path / "bulk.db", events) as s:
        result = prune(s, Config(), timedelta(days=1), now=NOW)
        assert result.deleted == 12_000
        assert s.db.execute("SELECT count(*) FROM events").fetchone()[0] == 0


def test_pruned_events_are_not_stored_again_when_their_document_is_read_again(tmp_path: Path) -> None:
    """Copilot, Gemini and Cursor re-read a whole session when it changes: what a prune deleted stays gone."""
    import json
    import os
    import time

    from devlog_collector.collect import Collector

    root = tmp_path / "gemini"
    chat = root / "tmp" / "acme" / "chats" / "session-2025-01-01T10-00-oldsess1.json"
    chat.parent.mkdir(parents=True)
    messages = [
        {"id": "u1", "timestamp": "2025-01-01T10:00:00Z", "type": "user", "content": "old prompt"},
        {"id": "g1", "timestamp": "2025-01-01T10:00:05Z", "type": "gemini", "content": "old answer",
         "tokens": {"input": 100, "output": 10, "total": 110}},
    ]  # fmt: skip

    def write(mtime: float) -> None:
        chat.write_text(json.dumps({"sessionId": "oldsess", "startTime": "2025-01-01T10:00:00Z", "messages": messages}))
        os.utime(chat, (mtime, mtime))

    cfg = parse_config({"collect": {"agents": ["gemini"], "roots": {"gemini": [str(root)]}},
                        "storage": {"min_free_bytes": 0}})[0]  # fmt: skip
    write(time.time() - 60)
    with Store.open(tmp_path / "events.db") as s:
        assert Collector(s, cfg).collect().events_added >= 2
        kept = prune(s, cfg, timedelta(days=30), now=NOW)
        assert kept.deleted >= 2 and s.db.execute("SELECT count(*) FROM events").fetchone()[0] == 0
        # The agent adds a message: the document is read again whole.
        messages.append({"id": "u2", "timestamp": "2026-05-31T10:00:00Z", "type": "user", "content": "new prompt"})
        write(time.time() - 30)
        assert Collector(s, cfg).collect().events_added == 1
        assert [r[0] for r in s.db.execute("SELECT text FROM events WHERE kind = 'prompt'")] == ["new prompt"]
        # A later prune with an earlier cutoff never lowers the remembered one.
        prune(s, cfg, timedelta(days=3650), now=NOW)
        messages.append({"id": "u3", "timestamp": "2026-05-31T11:00:00Z", "type": "user", "content": "newer"})
        write(time.time() - 10)
        assert Collector(s, cfg).collect().events_added == 1
        assert (
            s.db.execute(
                "SELECT count(*) FROM events WHERE ts < ?", (int(at(OLD).timestamp() * 1000) + 60_000,)
            ).fetchone()[0]
            == 0
        )


def test_a_kept_old_event_may_still_be_replaced_by_a_newer_copy(store: Store) -> None:
    """Events a remote still awaits survive a prune; a newer copy of one still replaces it."""
    import msgspec

    from devlog_shared import Usage

    result = prune(store, config(), timedelta(days=30), now=NOW)
    assert result.kept >= 1
    old = store.db.execute("SELECT input_tokens FROM events WHERE id = 'old-work-2'").fetchone()
    assert old == (1,)
    bigger = msgspec.structs.replace(
        ev(OLD, "response", text="old work reply", workspace="/w/work/api", model="gpt-5", ident="old-work-2"),
        usage=Usage(input_tokens=50, output_tokens=1),
    )
    store.commit([bigger, ev(OLD, "prompt", text="old personal", workspace="/w/personal/blog", ident="old-personal")])
    assert store.db.execute("SELECT input_tokens FROM events WHERE id = 'old-work-2'").fetchone() == (50,)
    assert store.db.execute("SELECT count(*) FROM events WHERE id = 'old-personal'").fetchone() == (0,)
