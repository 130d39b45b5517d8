"""The store's fast write path: deferred full-text index (m011), batched usage rollup, insert policy.

Real SQLite files in tmp_path; every expectation is checked against a recomputation from `events`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner

from devlog_collector.config import parse_config
from devlog_collector.errors import StoreError
from devlog_collector.query.events import query_events
from devlog_collector.query.filters import FilterArgs, build_filters
from devlog_collector.store import (
    FTS_WATERMARK_KEY,
    ROLLUP_BATCH_MIN_EVENTS,
    SEARCH_INDEX_BATCH,
    Store,
    event_from_row,
)
from devlog_collector.store.migrations import MIGRATIONS, run_script, usage_rollup_batch_sql
from devlog_shared import Event, SourceRef, Usage
from tests.collector.collect_helpers import collect, line, make_config, write_as_before

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def ev(n: int, *, text: str | None = None, usage: int | None = None, session: str = "s1", ident: str = "") -> Event:
    return Event(
        id=ident or f"e{n}",
        ts=T0 + timedelta(minutes=n),
        agent="claude",
        kind="response",
        session_id=session,
        workspace=f"/w/p{n % 3}",
        model="m1" if usage is not None else None,
        usage=Usage(input_tokens=usage, output_tokens=1) if usage is not None else None,
        text=text,
    )


def fts_rowids(store: Store) -> set[int]:
    return {r[0] for r in store.db.execute("SELECT rowid FROM events_fts WHERE events_fts MATCH 'word'")}


def watermark(store: Store) -> int:
    return int(store.get_meta(FTS_WATERMARK_KEY) or -1)


def rollup(db: sqlite3.Connection) -> list[tuple[object, ...]]:
    return db.execute("SELECT * FROM usage_rollup ORDER BY 1, 2, 3, 4, 5, 6, 7, 8").fetchall()


def recomputed_rollup(db: sqlite3.Connection) -> list[tuple[object, ...]]:
    """The rollup rebuilt from scratch out of `events`, with the batch upsert over every row."""
    db.execute("SAVEPOINT recompute")
    try:
        db.execute("DELETE FROM usage_rollup")
        db.execute(usage_rollup_batch_sql(), (0,))
        return rollup(db)
    finally:
        db.execute("ROLLBACK TO recompute")
        db.execute("RELEASE recompute")


def test_collector_commits_defer_the_search_index_until_update(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(b"".join(line(n, text=f"word number {n}") for n in range(50)))
    config = make_config(logs)
    collect(config)
    with Store.open(config.storage.db_path()) as store:
        assert store.search_index_backlog() == 50
        assert fts_rowids(store) == set()
        assert store.update_search_index(limit=20) == 20
        assert len(fts_rowids(store)) == 20 and watermark(store) == 20
        assert store.update_search_index() == 30
        assert store.search_index_backlog() == 0
        assert fts_rowids(store) == {r[0] for r in store.db.execute("SELECT seq FROM events")}
        assert store.update_search_index() == 0
        store.db.execute("INSERT INTO events_fts (events_fts) VALUES ('integrity-check')")


def test_search_through_a_read_only_store_indexes_first(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(line(1, text="alpha webhook") + line(2, text="beta route"))
    config = make_config(logs)
    collect(config)
    with Store.open(config.storage.db_path(), readonly=True) as ro:
        filters = build_filters(ro, FilterArgs(search="webhook"))
        assert [e.text for e in query_events(ro, filters)] == ["alpha webhook"]
    with Store.open(config.storage.db_path()) as store:
        assert store.search_index_backlog() == 0


def test_search_index_update_runs_while_a_collector_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    writer = Store.open(path)
    writer.acquire_writer_lock()
    writer.commit([ev(n, text=f"word {n}") for n in range(SEARCH_INDEX_BATCH + 10)], search_index=False)
    done: list[int] = []
    with Store.open(path, readonly=True) as ro:
        thread = threading.Thread(target=lambda: done.append(ro.update_search_index()))
        thread.start()
        writer.commit([ev(100_000, text="word late")], search_index=False)  # the collector goes on meanwhile
        thread.join(30)
    assert done and done[0] >= SEARCH_INDEX_BATCH + 10
    writer.update_search_index()
    assert len(fts_rowids(writer)) == SEARCH_INDEX_BATCH + 11
    writer.close()


def test_small_commits_keep_a_caught_up_index_caught_up(tmp_path: Path) -> None:
    with Store.open(tmp_path / "events.db") as store:
        store.commit([ev(1, text="word one")])
        assert len(fts_rowids(store)) == 1 and store.search_index_backlog() == 0
        store.commit([ev(2, text="word two")], search_index=False)  # deferred: the index falls behind
        store.commit([ev(3, text="word three")])  # not caught up: left for update_search_index
        assert store.search_index_backlog() == 2
        assert store.update_search_index() == 2
        assert len(fts_rowids(store)) == 3


def test_delete_and_replace_keep_the_index_consistent(tmp_path: Path) -> None:
    with Store.open(tmp_path / "events.db") as store:
        store.commit([ev(1, text="word a"), ev(2, text="word b", usage=5, ident="u")])
        store.commit([ev(3, text="word c")], search_index=False)
        # unindexed row deleted: the delete trigger must not touch the index
        store.db.execute("DELETE FROM events WHERE id = 'e3'")
        store.db.execute("INSERT INTO events_fts (events_fts) VALUES ('integrity-check')")
        # a larger usage copy replaces an indexed row: old text out now, new copy indexed later
        store.commit([ev(4, text="word b2", usage=9, ident="u")], search_index=False)
        assert len(fts_rowids(store)) == 1
        store.update_search_index()
        texts = {r[0] for r in store.db.execute("SELECT e.text FROM events_fts f JOIN events e ON e.seq = f.rowid")}
        assert texts == {"word a", "word b2"}
        store.db.execute("INSERT INTO events_fts (events_fts) VALUES ('integrity-check')")


def test_store_created_by_m001_upgrades_keeping_its_index(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)")
    released = [(name, fn) for name, fn in MIGRATIONS if name in ("m001_initial", "m020_export_pause_fingerprint")]
    for name, fn in released:
        db.execute("BEGIN")
        fn(db)
        db.execute("INSERT INTO _migrations VALUES (?, 0)", (name,))
        db.execute("COMMIT")
    body = b'{"id":"x"}'
    for n in range(5):  # rows written by an old collector: the m001 trigger indexed them
        db.execute(
            "INSERT INTO events (id, ts, agent, kind, session_id, text, body, collected_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
            (f"old{n}", n, "claude", "prompt", "s", f"word old {n}", body),
        )
    db.execute("DELETE FROM events WHERE id = 'old4'")
    db.close()
    with Store.open(path) as store:
        assert watermark(store) == 4
        assert len(fts_rowids(store)) == 4
        assert store.search_index_backlog() == 0
        store.commit([ev(10, text="word new")], search_index=False)
        assert store.update_search_index() == 1
        assert len(fts_rowids(store)) == 5
        store.db.execute("DELETE FROM events WHERE id = 'old0'")
        store.db.execute("INSERT INTO events_fts (events_fts) VALUES ('integrity-check')")
        assert len(fts_rowids(store)) == 4


def test_pre_m011_store_opened_read_only_needs_no_index_update(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)")
    db.execute("BEGIN")
    MIGRATIONS[0][1](db)
    db.execute("COMMIT")
    db.close()
    with Store.open(path, readonly=True) as ro:
        assert ro.update_search_index() == 0 and ro.search_index_backlog() == 0


@pytest.mark.parametrize("size", [ROLLUP_BATCH_MIN_EVENTS - 1, ROLLUP_BATCH_MIN_EVENTS * 3])
def test_batched_rollup_equals_the_per_row_trigger(tmp_path: Path, size: int) -> None:
    with Store.open(tmp_path / "events.db") as store:
        events = [ev(n, usage=n, session=f"s{n % 4}", text="word") for n in range(size)]
        store.commit(events[: size // 2], search_index=False)
        # replacements of stored rows, in-batch duplicates, and new rows in one commit
        again = [ev(n, usage=n + 100, session=f"s{n % 4}") for n in range(0, size // 2, 3)]
        dupes = [ev(n, usage=1, session=f"s{n % 4}") for n in range(size // 2, size, 5)]
        store.commit(events[size // 2 :] + again + dupes, search_index=False)
        assert rollup(store.db) == recomputed_rollup(store.db)
        trigger = store.db.execute("SELECT sql FROM sqlite_master WHERE name = 'usage_rollup_insert'").fetchone()
        assert trigger is not None  # re-created after the batch
        totals = dict(store.db.execute("SELECT id, input_tokens FROM events"))
        assert len(totals) == size
        assert all(totals[f"e{n}"] == (n + 100 if n < size // 2 and n % 3 == 0 else n) for n in range(size))


def test_insert_policy_within_and_across_batches(tmp_path: Path) -> None:
    with Store.open(tmp_path / "events.db") as store:
        added = store.commit([ev(1, usage=5, ident="r"), ev(1, usage=9, ident="r"), ev(1, usage=7, ident="r")])
        assert added == 1
        assert store.db.execute("SELECT input_tokens FROM events WHERE id = 'r'").fetchone()[0] == 9
        seq = store.max_seq()
        assert store.commit([ev(1, usage=9, ident="r"), ev(1, usage=3, ident="r")]) == 0
        assert store.max_seq() == seq  # not larger: nothing replaced, no new seq
        assert store.replaced == 0
        assert store.commit([ev(1, usage=11, ident="r")]) == 0
        tokens, new_seq = store.db.execute("SELECT input_tokens, seq FROM events WHERE id = 'r'").fetchone()
        assert tokens == 11 and new_seq > seq  # replaced: exporters see it again
        assert store.replaced == 1


def _from(event: Event, path: str, **changes: object) -> Event:
    return msgspec.structs.replace(event, source=SourceRef(path=path, key="k"), **changes)


def _stored(store: Store, event_id: str) -> tuple[int, Event]:
    seq, body, text = store.db.execute("SELECT seq, body, text FROM events WHERE id = ?", (event_id,)).fetchone()
    return seq, event_from_row(body, text)


def test_a_re_read_document_replaces_what_it_said_before(tmp_path: Path) -> None:
    """A whole-document re-read (`current_state`) is the file's truth now: its changed copies win."""
    with Store.open(tmp_path / "events.db") as store:
        first = _from(ev(1, usage=5, ident="d"), "/logs/chat.json", attrs={"status": "running"})
        store.commit([first], current_state=True)
        seq, _ = _stored(store, "d")
        store.commit([first], current_state=True)  # unchanged: nothing rewritten
        assert _stored(store, "d")[0] == seq
        assert store.replaced == 0
        done = _from(first, "/logs/chat.json", attrs={"status": "done", "title": "Retry"}, workspace="/w/late")
        assert store.commit([done], current_state=True) == 0
        new_seq, stored = _stored(store, "d")
        assert new_seq > seq and stored == done
        assert store.replaced == 1
        assert rollup(store.db) == recomputed_rollup(store.db)
        other_file = _from(first, "/logs/copy.json", attrs={"status": "other"})
        store.commit([other_file], current_state=True)  # another file never overrides this one's copy
        appended = _from(done, "/logs/chat.json", attrs={"status": "x"})
        store.commit([appended])  # an append-mode read is not a document's current state
        assert _stored(store, "d") == (new_seq, done)
        assert store.replaced == 1
        # the document's own smaller usage now (Gemini re-appends a message with its final usage)
        smaller = _from(done, "/logs/chat.json", usage=Usage(input_tokens=1, output_tokens=1))
        store.commit([smaller], current_state=True)
        assert _stored(store, "d")[1] == smaller and store.replaced == 2
        assert rollup(store.db) == recomputed_rollup(store.db)
        larger = _from(done, "/logs/copy.json", usage=Usage(input_tokens=10, output_tokens=10))
        store.commit([larger], current_state=True)  # another file's larger usage replaces, as ever
        assert _stored(store, "d")[1] == larger


def test_a_document_replaces_what_the_file_it_took_over_from_said(tmp_path: Path) -> None:
    """VS Code converts `<id>.json` to `<id>.jsonl`: the log is the session's current state now."""
    with Store.open(tmp_path / "events.db") as store:
        old = _from(ev(1, usage=5, ident="c"), "/chats/s.json", attrs={"status": "incomplete"})
        store.commit([old], current_state=True)
        new = _from(old, "/chats/s.jsonl", attrs={"status": "completed", "title": "Titled"})
        store.commit([new], current_state=True)  # not named as taking over: the old copy stays
        assert _stored(store, "c")[1] == old
        store.commit([new], current_state=True, replaces=["/chats/s.json"])
        assert _stored(store, "c")[1] == new
        store.commit([old], current_state=True)  # the old file read again never takes it back
        assert _stored(store, "c")[1] == new
        assert rollup(store.db) == recomputed_rollup(store.db)


def test_equal_usage_copies_keep_the_one_from_the_file_read_first_in_a_clean_collect(tmp_path: Path) -> None:
    """A resumed session copies a response's usage into another file on a later day; which day the
    tokens count on must not depend on which file a store happened to see first (ccusage: path order)."""
    with Store.open(tmp_path / "events.db") as store:
        later_file = _from(ev(1, usage=5, ident="u"), "/p/ffff.jsonl")
        earlier_file = _from(ev(90, usage=5, ident="u"), "/p/0000.jsonl")
        store.commit([later_file])
        store.commit([earlier_file])
        assert _stored(store, "u")[1] == earlier_file
        store.commit([later_file])  # and not back again
        assert _stored(store, "u")[1] == earlier_file
        same_time = _from(ev(90, usage=5, ident="u"), "/a/aaaa.jsonl", attrs={"copy": True})
        seq = _stored(store, "u")[0]
        store.commit([same_time])  # the same time: no day depends on it, nothing is rewritten
        assert _stored(store, "u")[0] == seq
        assert rollup(store.db) == recomputed_rollup(store.db)


def test_changed_rollup_trigger_turns_batching_off(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with Store.open(path) as store:
        sql = store.db.execute("SELECT sql FROM sqlite_master WHERE name = 'usage_rollup_insert'").fetchone()[0]
        run_script(store.db, "DROP TRIGGER usage_rollup_insert;\n" + sql.replace("BEGIN", "WHEN 1 BEGIN", 1) + ";\n")
    with Store.open(path) as store:
        store.commit([ev(n, usage=n) for n in range(ROLLUP_BATCH_MIN_EVENTS * 2)], search_index=False)
        assert rollup(store.db) == recomputed_rollup(store.db)  # counted once, by the trigger


def test_daemon_indexes_history_and_live_events_in_the_background(tmp_path: Path) -> None:
    from devlog_collector.watch import CollectDaemon, DaemonOptions

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(b"".join(line(n, text=f"word {n}") for n in range(30)))
    config = make_config(logs)
    stop = threading.Event()
    daemon = CollectDaemon(config, DaemonOptions(force_polling=True, rescan_interval=0.5), stop_event=stop)
    thread = threading.Thread(target=daemon.run)
    thread.start()
    try:
        path = config.storage.db_path()

        def indexed() -> int:
            if not path.exists():
                return 0
            try:
                with Store.open(path, readonly=True) as ro:
                    return len(fts_rowids(ro)) if ro.search_index_backlog() == 0 else 0
            except (sqlite3.Error, StoreError):  # the daemon is still creating and migrating the store
                return 0

        deadline = time.monotonic() + 30
        while indexed() < 30 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert indexed() == 30
        with (logs / "a.jsonl").open("ab") as handle:
            handle.write(line(99, text="word live"))
        deadline = time.monotonic() + 30
        while indexed() < 31 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert indexed() == 31
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()


# -- large history loads build the secondary indexes once, at the end ---------------------------------


def index_sql(db: sqlite3.Connection) -> dict[str, str]:
    rows = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL"
    )
    return dict(rows.fetchall())


def test_secondary_index_definitions_match_the_migrations(tmp_path: Path) -> None:
    from devlog_collector.store.migrations import ID_INDEX, SECONDARY_INDEXES

    with Store.open(tmp_path / "s.db") as store:
        created = index_sql(store.db)
        expected = {**dict(SECONDARY_INDEXES), ID_INDEX[0]: ID_INDEX[1]}
        assert {name: " ".join(sql.split()) for name, sql in created.items()} == expected
        store.acquire_writer_lock()
        store.defer_secondary_indexes()
        assert index_sql(store.db) == {ID_INDEX[0]: ID_INDEX[1]}  # (only a bulk load drops the id index)
        store.restore_secondary_indexes()
        rebuilt = {name: sql.replace("IF NOT EXISTS ", "") for name, sql in index_sql(store.db).items()}
        assert rebuilt == expected


def test_an_interrupted_load_gets_its_indexes_back_from_the_next_writer(tmp_path: Path) -> None:
    from devlog_collector.store import DEFERRED_INDEXES_KEY

    path = tmp_path / "s.db"
    with Store.open(path) as store:
        store.acquire_writer_lock()
        store.commit([ev(n) for n in range(10)])
        store.defer_secondary_indexes()  # ... and the process dies here
    with Store.open(path) as reader_side:
        assert list(index_sql(reader_side.db)) == ["events_id"]  # opening alone (an exporter, a query) changes nothing
    with Store.open(path) as store:
        store.acquire_writer_lock()
        assert len(index_sql(store.db)) == 6
        assert store.get_meta(DEFERRED_INDEXES_KEY) is None


def test_a_large_pass_defers_the_indexes_and_stores_exactly_what_a_small_one_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devlog_collector import collect as collect_module

    logs = tmp_path / "logs"
    logs.mkdir()
    for f in range(4):
        (logs / f"{f}.jsonl").write_bytes(b"".join(line(f * 1000 + n, cwd=f"/w/p{n % 3}") for n in range(300)))
    seen_during_pass: list[int] = []

    def run(home: str, threshold: int) -> list[tuple[object, ...]]:
        monkeypatch.setattr(collect_module, "BULK_LOAD_MIN_BYTES", threshold)
        config = make_config(logs, storage={"path": str(tmp_path / home), "min_free_bytes": 0})
        path = config.storage.db_path()

        def progress(files: int, done: int) -> None:
            with sqlite3.connect(path) as db:
                seen_during_pass.append(len(index_sql(db)))

        with Store.open(path) as store:
            store.acquire_writer_lock()
            result = collect_module.Collector(store, config).collect(progress=progress)
            assert result.events_added == 1200
            assert len(index_sql(store.db)) == 6  # the five secondary ones and the id index
            events = store.db.execute("SELECT id, ts, kind, session_id, workspace, body FROM events ORDER BY id")
            return [*events.fetchall(), *rollup(store.db)]

    bulk = run("bulk", 1)
    assert seen_during_pass == [0, 0, 0, 0]  # no index at all while a first load ran (see test_bulk_load)
    seen_during_pass.clear()
    small = run("small", 10**12)
    assert seen_during_pass == [6, 6, 6, 6]
    strip = [tuple(v for v in row if not isinstance(v, bytes)) for row in bulk]
    assert strip == [tuple(v for v in row if not isinstance(v, bytes)) for row in small]


def test_a_pass_runs_with_fewer_gc_passes_and_restores_the_gc_settings(tmp_path: Path) -> None:
    import gc

    from devlog_collector.collect import COLLECT_GC_GEN0_THRESHOLD, Collector

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(b"".join(line(n) for n in range(20)))
    config = make_config(logs)
    before = gc.get_threshold()
    during: list[tuple[tuple[int, int, int], int]] = []

    def progress(files: int, done: int) -> None:
        during.append((gc.get_threshold(), gc.get_freeze_count()))

    with Store.open(config.storage.db_path()) as store:
        store.acquire_writer_lock()
        assert Collector(store, config).collect(progress=progress).events_added == 20
    assert during and all(t == (COLLECT_GC_GEN0_THRESHOLD, *before[1:]) and frozen > 0 for t, frozen in during)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_m040_reorders_the_rollup_keeping_its_rows_and_triggers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.db"
    with monkeypatch.context() as patch:
        write_as_before(patch, "m040_usage_rollup_model_first", "m050_price_extras")
        with Store.open(path) as store:
            store.commit([ev(n, usage=n, session=f"s{n % 3}", text="word") for n in range(200)], search_index=False)
            rows = rollup(store.db)
            triggers = store.db.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY 1"
            ).fetchall()
    with monkeypatch.context() as patch:
        write_as_before(patch, "m050_price_extras")
        with Store.open(path) as store:
            sql = store.db.execute("SELECT sql FROM sqlite_master WHERE name = 'usage_rollup'").fetchone()[0]
            assert "PRIMARY KEY (model, band, has_cost, bucket, agent, workspace, project, session_id)" in sql
            assert rollup(store.db) == rows
            assert (
                store.db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY 1").fetchall()
                == triggers
            )
    with Store.open(path) as store:  # m050 on top; then still maintained exactly
        assert rollup(store.db) == [(*row, 0, 0) for row in rows]
        store.commit([ev(500, usage=3, session="s9")], search_index=False)
        store.commit([ev(n, usage=n + 1000, session=f"s{n % 3}") for n in range(0, 200, 7)], search_index=False)
        store.db.execute("DELETE FROM events WHERE id IN ('e1', 'e2')")
        assert rollup(store.db) == recomputed_rollup(store.db)
        assert store.db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def priced_ev(n: int, *, one_hour: int = 0, searches: int = 0, fast: bool = False, cost: float | None = None) -> Event:
    attrs: dict[str, object] = {"usage_record": True}
    if one_hour:
        attrs["cache_creation_1h_tokens"] = one_hour
    if searches:
        attrs["web_search_requests"] = searches
    if fast:
        attrs["speed"] = "fast"
    return Event(
        id=f"p{n}",
        ts=T0 + timedelta(minutes=n),
        agent="claude",
        kind="response",
        session_id="s1",
        model="claude-opus-4-6",
        usage=Usage(input_tokens=10, output_tokens=20, cache_creation_tokens=1000),
        cost_usd=cost,
        attrs=attrs,
    )


def test_m050_fills_the_price_columns_of_stored_rows_and_the_rollup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store written before m050 gets the 1-hour cache writes and fast mode of its rows from their
    stored `attrs`; the rollup is rebuilt with them and the price mode, then kept exactly."""
    path = tmp_path / "events.db"
    stored = [priced_ev(1, one_hour=600), priced_ev(2, fast=True), priced_ev(3, one_hour=5000, fast=True, searches=2),
              priced_ev(4, cost=0.5, fast=True), priced_ev(5)]  # fmt: skip
    with monkeypatch.context() as patch:
        write_as_before(patch, "m050_price_extras")
        with Store.open(path) as store:
            store.commit(stored, search_index=False)
    with Store.open(path) as store:
        columns = "id, cache_creation_1h_tokens, web_search_requests, fast"
        assert store.db.execute(f"SELECT {columns} FROM events ORDER BY id").fetchall() == [
            ("p1", 600, 0, 0),
            ("p2", 0, 0, 1),
            ("p3", 1000, 2, 1),  # never more than the cache writes it is part of
            ("p4", 0, 0, 1),
            ("p5", 0, 0, 0),
        ]
        modes = store.db.execute(
            "SELECT has_cost, sum(requests), sum(cache_creation_1h_tokens), sum(web_search_requests) "
            "FROM usage_rollup GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert modes == [(0, 2, 600, 0), (1, 1, 0, 0), (2, 2, 1000, 2)]
        assert rollup(store.db) == recomputed_rollup(store.db)
        store.commit([priced_ev(6, one_hour=7, fast=True, searches=1)], search_index=False)  # per-row trigger
        store.commit([priced_ev(100 + n, one_hour=n) for n in range(100)], search_index=False)  # batch path
        store.db.execute("DELETE FROM events WHERE id = 'p3'")
        assert rollup(store.db) == recomputed_rollup(store.db)
        assert store.db.execute("SELECT sum(web_search_requests) FROM usage_rollup").fetchone() == (1,)


def _open_store(path: str) -> str:
    try:
        Store.open(Path(path)).close()
    except Exception as exc:  # (the test reports what went wrong in the child)
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def test_processes_opening_a_new_store_at_once_apply_each_migration_once(tmp_path: Path) -> None:
    """Migrations were chosen before taking the write lock: a second process starting on a new store
    (`devlog start` and `devlog collect` together) could run one again and fail ('table usage_rollup
    already exists'). And SQLite answers "database is locked" at once, without waiting, to a process
    that switches a new store to WAL while another one is switching or migrating it."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Pool(6) as pool:
        for attempt in range(20):
            path = str(tmp_path / f"store-{attempt}" / "events.db")
            Path(path).parent.mkdir()
            assert pool.map(_open_store, [path] * 6) == ["ok"] * 6
            with sqlite3.connect(path) as db:
                names = [row[0] for row in db.execute("SELECT name FROM _migrations")]
            assert len(names) == len(set(names)) == len(MIGRATIONS)


def test_a_store_is_not_upgraded_while_a_collector_holds_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An older devlog's `start` went on writing into a store a newer `devlog collect` had migrated
    (before finding the lock taken), leaving the new columns empty for good. Now the newer version
    upgrades a store only while nobody collects into it."""
    import fcntl

    import devlog_collector.store as store_module
    from devlog_collector.errors import StoreLocked
    from devlog_collector.store.migrations import pending

    path = tmp_path / "events.db"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)")
    for name, apply in MIGRATIONS[:-1]:  # a store an older devlog made: all but the newest migration
        old.execute("BEGIN IMMEDIATE")
        apply(old)
        old.execute("INSERT INTO _migrations VALUES (?, 0)", (name,))
        old.execute("COMMIT")
    monkeypatch.setattr(store_module, "MIGRATION_LOCK_WAIT_S", 0.3)
    with open(f"{path}.lock", "a+b") as held:  # the older devlog's `start`
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(StoreLocked, match="stop it before this version upgrades the store"):
            Store.open(path)
        assert pending(old) == [MIGRATIONS[-1][0]]  # nothing migrated under it
        fcntl.flock(held, fcntl.LOCK_UN)
    Store.open(path).close()
    assert pending(old) == []
    old.close()


def test_a_process_that_finds_the_lock_holder_migrating_a_new_store_waits_for_it_not_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`devlog start` and `devlog collect` started together on a new store: the one that found the
    other migrating waited the whole 10 s and then said an older devlog was in the way of an upgrade.
    It goes on as soon as nothing is pending; its own lock attempt then says who is collecting."""
    import fcntl

    import devlog_collector.store as store_module
    from devlog_collector.errors import StoreLocked
    from devlog_collector.store.migrations import migrate

    path = tmp_path / "events.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # `devlog start`, this version
    other.execute("PRAGMA journal_mode = WAL")
    other.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)")
    monkeypatch.setattr(store_module, "MIGRATION_LOCK_WAIT_S", 5.0)
    with open(f"{path}.lock", "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write(b"4242")  # (the holder's pid, as `acquire_writer_lock` writes it)
        held.flush()
        finishing = threading.Timer(0.3, migrate, args=(other,))
        finishing.start()
        started = time.monotonic()
        store = Store.open(path)
        waited = time.monotonic() - started
        finishing.join()
        try:
            assert waited < 2.5, f"waited {waited:.1f} s for a migration that ended after 0.3 s"
            with pytest.raises(
                StoreLocked, match=r"another devlog process \(pid 4242\) is collecting into .*: a `devlog st"
            ):
                store.acquire_writer_lock()
        finally:
            store.close()
    other.close()


def test_a_store_left_in_rollback_journal_mode_is_not_taken_for_one_that_lost_its_wal(tmp_path: Path) -> None:
    """Where WAL cannot run (some network mounts) there is never a `-wal` file: `devlog start` must
    not stop over its absence; in WAL mode, a deleted `-wal` is noticed."""
    path = tmp_path / "events.db"
    store = Store.open(path)
    try:
        assert store.gone_from_disk() is None
        Path(f"{path}-wal").unlink()
        assert store.gone_from_disk() is not None and "write-ahead log" in str(store.gone_from_disk())
        store.db.execute("PRAGMA journal_mode = DELETE")
        assert not Path(f"{path}-wal").exists()
        assert Store(store.db, path, readonly=False).gone_from_disk() is None
    finally:
        store.close()


@pytest.mark.parametrize("obstacle", ["folder", "dangling symlink"])
def test_a_lock_path_taken_by_something_else_is_one_clear_error(tmp_path: Path, obstacle: str) -> None:
    """`events.db.lock` as a folder or a dangling symlink ended `devlog collect` in a traceback."""
    from devlog_collector.export.exporter import RemoteExporter

    db = tmp_path / "data" / "events.db"
    Store.open(db).close()
    for lock in (Path(f"{db}.lock"), Path(f"{db}.export-team.lock")):
        lock.unlink(missing_ok=True)  # (the store's first open made the first one)
        if obstacle == "folder":
            lock.mkdir()
        else:
            lock.symlink_to(tmp_path / "gone" / "x.lock")
    with Store.open(db) as store, pytest.raises(StoreError, match=r"cannot open the lock file .*events\.db\.lock"):
        store.acquire_writer_lock()
    config, _ = parse_config(
        {"storage": {"path": str(db.parent)},
         "export": {"remotes": {"team": {"url": "http://127.0.0.1:9", "workspaces": {"include": ["/w/**"]}}}}}
    )  # fmt: skip
    exporter = RemoteExporter.open("team", config, db)
    try:
        with pytest.raises(StoreError, match=r"cannot open the lock file .*events\.db\.export-team\.lock"):
            exporter.sync()
    finally:
        exporter.close()


def test_a_lock_file_a_read_only_folder_cannot_hold_names_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a read-only mount the first collect said to "remove" a lock file that did not exist."""
    import errno

    from devlog_collector.cli import cli

    opened = Path.open

    def read_only_folder(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name.endswith(".lock") and not self.exists():  # (what the kernel answers there, as root too)
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return opened(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", read_only_folder)
    monkeypatch.setenv("DEVLOG_CONFIG", str(tmp_path / "config.yaml"))
    (tmp_path / "config.yaml").write_text(f"collect:\n  agents: []\nstorage:\n  path: {tmp_path / 'data'}\n")
    said = CliRunner().invoke(cli, ["collect"])
    assert said.exit_code == 1
    assert f"its folder {tmp_path / 'data'} must be writable" in said.output and "remove it" not in said.output


def test_new_stores_use_16_kib_pages_and_older_stores_keep_theirs(tmp_path: Path) -> None:
    """A store's page size is fixed when it is made; the WAL checkpoint size is the same in bytes."""
    with Store.open(tmp_path / "new.db") as store:
        assert store.db.execute("PRAGMA page_size").fetchone()[0] == 16384
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 2048  # 32 MiB
        store.begin_bulk_load()  # (checkpoints move to a thread of their own, then come back)
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        store.commit([ev(n, text="x" * 500) for n in range(50)])
        store.end_bulk_load()
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 2048
    older = tmp_path / "older.db"
    with sqlite3.connect(older) as db:
        db.execute("PRAGMA page_size = 8192")
        db.execute("CREATE TABLE before_16k (x)")  # (an 8 KiB store made by an earlier devlog)
    with Store.open(older) as store:
        assert store.db.execute("PRAGMA page_size").fetchone()[0] == 8192
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 4096
        assert store.commit([ev(n) for n in range(3)]) == 3


def test_search_through_a_store_that_cannot_be_written_says_what_it_misses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A read-only mount or a backup copy: the index cannot be brought up to date, and a search that
    quietly found nothing read as "no such text"."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(line(1, text="alpha webhook") + line(2, text="beta route"))
    config = make_config(logs)
    collect(config)
    import devlog_collector.store as store_module

    real_connect = sqlite3.connect

    def read_only_file_system(database: object, *args: object, **kwargs: object) -> sqlite3.Connection:
        if kwargs.get("uri"):  # the read-only connection itself opens by URI
            return real_connect(database, *args, **kwargs)  # type: ignore[arg-type]
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(store_module.sqlite3, "connect", read_only_file_system)
    with Store.open(config.storage.db_path(), readonly=True) as ro:
        filters = build_filters(ro, FilterArgs(search="webhook"))
        assert query_events(ro, filters) == []
        assert ro.search_index_error == "attempt to write a readonly database"
    err = capsys.readouterr().err
    assert "warning: --search does not see the 2 newest events" in err and "readonly database" in err
    monkeypatch.setattr(store_module.sqlite3, "connect", real_connect)
    with Store.open(config.storage.db_path(), readonly=True) as ro:  # writable again: indexed, no warning
        assert [e.text for e in query_events(ro, build_filters(ro, FilterArgs(search="webhook")))] == ["alpha webhook"]
    assert "warning" not in capsys.readouterr().err


def _order(store: Store) -> list[str]:
    return [r[0] for r in store.db.execute("SELECT id FROM events ORDER BY ts, seq")]


@pytest.mark.parametrize("padding", [0, ROLLUP_BATCH_MIN_EVENTS])
def test_a_re_read_document_keeps_its_order_among_events_of_the_same_time(tmp_path: Path, padding: int) -> None:
    """A tool call whose status changed is stored again; it stays before its command and result (same
    time), as in a store that read the final document once. `padding` events make the commit large
    enough for the batched usage rollup."""
    doc = "/logs/session.jsonl"

    def event(ident: str, minute: int, **changes: object) -> Event:
        return _from(ev(minute, ident=ident), doc, **changes)

    filler = [event(f"f{n}", 100 + n, usage=Usage(input_tokens=n + 1, output_tokens=1)) for n in range(padding)]
    prompt = event("prompt", 1)
    call = event("call", 2, attrs={"status": "executing"})
    command = event("command", 2)
    later = event("later", 3)
    done = event("call", 2, attrs={"status": "success"}, usage=Usage(input_tokens=3, output_tokens=2))
    result = event("result", 2)
    final = [prompt, done, command, result, later, *filler]
    with Store.open(tmp_path / "fresh.db") as fresh:
        fresh.commit(final, current_state=True)
        expected = _order(fresh)
    assert expected[:5] == ["prompt", "call", "command", "result", "later"]
    with Store.open(tmp_path / "grown.db") as store:
        store.commit([prompt, call, command, later, *filler], current_state=True)
        seqs = dict(store.db.execute("SELECT id, seq FROM events").fetchall())
        assert store.commit(final, current_state=True) == 1  # the result
        assert store.replaced == 1  # the call; the command was only moved behind it
        assert _order(store) == expected
        now = dict(store.db.execute("SELECT id, seq FROM events").fetchall())
        assert now["prompt"] == seqs["prompt"] and now["later"] == seqs["later"]  # other times keep their place
        assert now["command"] > now["call"] > seqs["command"]
        assert _stored(store, "call")[1] == done and _stored(store, "command")[1] == command
        assert rollup(store.db) == recomputed_rollup(store.db)
        assert store.commit(final, current_state=True) == 0  # read again unchanged: nothing moves
        assert dict(store.db.execute("SELECT id, seq FROM events").fetchall()) == now


def test_a_commit_that_fails_leaves_no_transaction_open(tmp_path: Path) -> None:
    """COMMIT can fail itself (a full disk, a deferred constraint): the transaction stayed open and
    every later `BEGIN IMMEDIATE` failed with "cannot start a transaction within a transaction"."""
    with Store.open(tmp_path / "s.db") as store:
        store.db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        store.db.execute("CREATE TABLE child (parent REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)")
        with pytest.raises(sqlite3.IntegrityError), store.transaction() as db:
            db.execute("INSERT INTO child VALUES (5)")  # (checked at COMMIT)
        assert not store.db.in_transaction
        assert store.commit([ev(1)]) == 1
