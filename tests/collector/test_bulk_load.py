"""A first history load without the event-id index (m060, `LoadedIds`) and with background checkpoints.

Everything is checked against what the indexed write path stores for the same files: the same
rows, the same replaced copies, the same rollup. Real SQLite files in tmp_path, real forks for kill -9.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devlog_collector import collect as collect_module
from devlog_collector.collect import Collector
from devlog_collector.config import Config, parse_config
from devlog_collector.store import DEFERRED_INDEXES_KEY, Store
from devlog_collector.store.migrations import ID_INDEX, id_index_is_named
from devlog_collector.store.wal_checkpointer import WalCheckpointer
from devlog_shared import Event, Usage
from tests.collector.collect_helpers import killed_mid_run, line, make_config

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _stamp(minute: int) -> str:
    return (T0 + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _user(session: str, n: int, minute: int, cwd: str) -> dict[str, Any]:
    return {
        "type": "user", "sessionId": session, "uuid": f"{session}-u{n}", "timestamp": _stamp(minute), "cwd": cwd,
        "version": "2.0.14", "message": {"role": "user", "content": f"prompt {n} of {session}"},
    }  # fmt: skip


def _assistant(session: str, uuid: str, message: str, minute: int, cwd: str, output: int) -> dict[str, Any]:
    return {
        "type": "assistant", "sessionId": session, "uuid": uuid, "timestamp": _stamp(minute), "cwd": cwd,
        "version": "2.0.14", "requestId": f"req_{message}",
        "message": {
            "id": message, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": f"answer {uuid}"}],
            "usage": {"input_tokens": 10, "output_tokens": output, "cache_creation_input_tokens": 100,
                      "cache_read_input_tokens": 1000},
        },
    }  # fmt: skip


def _write_history(root: Path) -> None:
    """Three projects' transcripts; a resumed session copies earlier lines (usage with a larger
    total, the same total, a smaller one) into a later file, and one file repeats its own lines."""
    rng = random.Random(7)
    for project in range(3):
        folder = root / "projects" / f"-home-dev-p{project}"
        folder.mkdir(parents=True)
        for session_no in range(4):
            session = f"s{project}-{session_no}"
            cwd = f"/home/dev/p{project}"
            lines: list[dict[str, Any]] = []
            for turn in range(40):
                minute = project * 1000 + session_no * 100 + turn
                lines.append(_user(session, turn, minute, cwd))
                message = f"msg_{session}_{turn}"
                lines.append(_assistant(session, f"{session}-a{turn}", message, minute, cwd, 1))  # streamed part
                lines.append(_assistant(session, f"{session}-b{turn}", message, minute, cwd, 20 + turn))
            if session_no == 3:  # resumed from session 0: copies of its usage, larger, equal and smaller
                earlier = f"s{project}-0"
                for turn in range(0, 40, 3):
                    output = {0: 500, 1: 20 + turn, 2: 5}[turn % 3]
                    lines.append(_assistant(session, f"{session}-c{turn}", f"msg_{earlier}_{turn}", 3000, cwd, output))
            if session_no == 2:
                lines += lines[:30]  # the same lines twice in one file
            rng.shuffle(lines[-10:])
            (folder / f"{session}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))


def _config(logs: Path, store: Path) -> Config:
    config, _ = parse_config(
        {"collect": {"agents": ["claude"], "roots": {"claude": [str(logs)]}},
         "storage": {"path": str(store), "min_free_bytes": 0}}
    )  # fmt: skip
    return config


def _contents(path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(events without seq and collect time, rollup rows), each sorted."""
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        columns = [r[1] for r in db.execute("PRAGMA table_info(events)") if r[1] not in ("seq", "collected_at")]
        events = db.execute(f"SELECT {', '.join(columns)} FROM events ORDER BY id").fetchall()
        rollup = db.execute("SELECT * FROM usage_rollup ORDER BY 1, 2, 3, 4, 5, 6, 7, 8").fetchall()
        return events, rollup
    finally:
        db.close()


def _named_indexes(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL"
        return {r[0] for r in db.execute(sql)}
    finally:
        db.close()


def _load(
    config: Config, monkeypatch: pytest.MonkeyPatch, *, bulk: bool, chunk_bytes: int = 8 * 1024, progress: Any = None
) -> collect_module.CollectResult:
    monkeypatch.setattr(collect_module, "BULK_LOAD_MIN_BYTES", 1 if bulk else 10**12)
    with Store.open(config.storage.db_path()) as store:
        store.acquire_writer_lock()
        return Collector(store, config, chunk_bytes=chunk_bytes).collect(progress=progress)


@pytest.mark.parametrize("bound", [None, 25])
def test_a_first_load_without_the_id_index_stores_exactly_what_the_indexed_path_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bound: int | None
) -> None:
    """Also when the in-memory ids reach their bound and the index is built in the middle of the load."""
    if bound is not None:
        monkeypatch.setattr("devlog_collector.store.loaded_ids.MAX_LOADED_IDS", bound)
    logs = tmp_path / "logs"
    _write_history(logs)
    seen: list[set[str]] = []
    bulk_config = _config(logs, tmp_path / "bulk")

    def progress(files: int, done: int) -> None:
        seen.append(_named_indexes(bulk_config.storage.db_path()))

    bulk = _load(bulk_config, monkeypatch, bulk=True, progress=progress)
    indexed = _load(_config(logs, tmp_path / "indexed"), monkeypatch, bulk=False)
    if bound is None:
        assert seen and all(names == set() for names in seen)  # not even the id index while it ran
    else:
        assert seen[-1] == {ID_INDEX[0]}  # built once the bound was reached; the rest still deferred
    assert (bulk.events_added, bulk.events_updated) == (indexed.events_added, indexed.events_updated)
    assert indexed.events_updated > 0  # the larger copies in the resumed sessions replaced stored ones
    assert _contents(bulk_config.storage.db_path()) == _contents(tmp_path / "indexed" / "events.db")
    assert ID_INDEX[0] in _named_indexes(bulk_config.storage.db_path())
    assert _load(bulk_config, monkeypatch, bulk=True).events_added == 0  # a re-run adds nothing


def test_a_commit_that_rolled_back_leaves_no_id_behind(tmp_path: Path) -> None:
    good = Event(id="e1", ts=T0, agent="claude", kind="prompt", session_id="s", text="hello")
    bad = Event(id="e2", ts=T0, agent="claude", kind="prompt", session_id="s", text="lone \udc80 surrogate")
    with Store.open(tmp_path / "s.db") as store:
        store.acquire_writer_lock()
        store.begin_bulk_load()
        with pytest.raises(UnicodeEncodeError):
            store.commit([good, bad])
        assert store.commit([good]) == 1  # not taken for stored by the attempt that rolled back
        assert store.commit([good]) == 0
        store.end_bulk_load()
        assert store.db.execute("SELECT count(*) FROM events").fetchone()[0] == 1


def test_a_store_that_holds_events_keeps_its_id_index_during_a_load(tmp_path: Path) -> None:
    usage = Usage(input_tokens=1, output_tokens=1)
    with Store.open(tmp_path / "s.db") as store:
        store.acquire_writer_lock()
        store.commit([Event(id="e0", ts=T0, agent="claude", kind="response", session_id="s", usage=usage)])
        store.begin_bulk_load()
        assert {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")} >= {"events_id"}
        larger = Usage(input_tokens=5, output_tokens=1)
        events = [Event(id="e0", ts=T0, agent="claude", kind="response", session_id="s", usage=larger)]
        events += [Event(id=f"e{n}", ts=T0, agent="claude", kind="prompt", session_id="s") for n in range(1, 100)]
        assert store.commit(events) == 99
        store.end_bulk_load()
        assert store.replaced == 1
        assert store.db.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone() == (100, 100)


def test_m060_rebuilds_only_an_empty_events_table_and_keeps_the_seq_counter(tmp_path: Path) -> None:
    from devlog_collector.store.migrations import MIGRATIONS

    before_m060 = [fn for name, fn in MIGRATIONS if name != "m060_droppable_id_index"]
    m060 = dict(MIGRATIONS)["m060_droppable_id_index"]
    for holds_events in (False, True):
        db = sqlite3.connect(tmp_path / f"old-{holds_events}.db", isolation_level=None)
        db.execute("BEGIN")
        for fn in before_m060:
            fn(db)
        columns = "id, ts, agent, kind, session_id, body, collected_at"
        for n in range(5):
            db.execute(f"INSERT INTO events ({columns}) VALUES (?, 0, 'a', 'prompt', 's', x'7b7d', 0)", (f"e{n}",))
        if not holds_events:
            db.execute("DELETE FROM events")  # the counter stays at 5: export cursors may point there
        m060(db)
        db.execute("COMMIT")
        assert id_index_is_named(db) is not holds_events
        assert db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone() == (5,)
        db.execute(f"INSERT INTO events ({columns}) VALUES ('new', 0, 'a', 'prompt', 's', x'7b7d', 0)")
        assert db.execute("SELECT seq FROM events WHERE id = 'new'").fetchone() == (6,)
        with pytest.raises(sqlite3.IntegrityError):  # unique either way
            db.execute(f"INSERT INTO events ({columns}) VALUES ('new', 0, 'a', 'prompt', 's', x'7b7d', 0)")
        triggers = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert triggers == {"events_fts_delete", "usage_rollup_insert", "usage_rollup_delete", "usage_rollup_update"}
        assert db.execute("SELECT count(*) FROM v_events").fetchone()[0] == (1 if not holds_events else 6)
        db.close()


def test_the_background_checkpointer_copies_the_wal_into_the_store(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store.open(path) as store:
        store.db.execute("PRAGMA wal_autocheckpoint = 0")
        size_before = path.stat().st_size
        store.commit([Event(id=f"e{n}", ts=T0, agent="a", kind="prompt", session_id="s", text="x" * 500)
                      for n in range(2000)])  # fmt: skip
        assert path.stat().st_size == size_before  # all of it still in the -wal
        checkpointer = WalCheckpointer(path)
        try:
            checkpointer.nudge()
            deadline = time.monotonic() + 10
            while path.stat().st_size == size_before and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            checkpointer.stop()
        assert path.stat().st_size > size_before + 500 * 2000


def test_kill_9_during_a_first_history_load_converges_to_a_clean_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed while the id index is dropped: the next writer builds it, and nothing is lost or doubled."""
    monkeypatch.setattr(collect_module, "BULK_LOAD_MIN_BYTES", 1)
    logs = tmp_path / "logs"
    logs.mkdir()
    for f in range(3):  # each file repeats a third of the previous one's records
        numbers = [*range(f * 3000 - 1000 if f else 0, (f + 1) * 3000)]
        (logs / f"{f}.jsonl").write_bytes(b"".join(line(n, text="t" * (n % 300)) for n in numbers))
    clean = make_config(logs, storage={"path": str(tmp_path / "clean")})
    _load(clean, monkeypatch, bulk=True, chunk_bytes=16 * 1024)
    with sqlite3.connect(clean.storage.db_path()) as db:
        expected = sorted(r[0] for r in db.execute("SELECT id FROM events"))
    assert len(expected) == 9000
    rng = random.Random(3)
    interrupted = 0
    for attempt in range(12):
        config = make_config(logs, storage={"path": str(tmp_path / f"run{attempt}")})

        def load(config: Config = config) -> None:
            with Store.open(config.storage.db_path()) as store:
                store.acquire_writer_lock(wait=True)
                Collector(store, config, chunk_bytes=16 * 1024).collect()

        interrupted += killed_mid_run(load, rng.uniform(0.05, 0.6))
        path = config.storage.db_path()
        if not path.exists():
            continue
        with Store.open(path) as store:
            store.acquire_writer_lock()  # builds the indexes an interrupted load left out
            assert store.get_meta(DEFERRED_INDEXES_KEY) is None
            Collector(store, config, chunk_bytes=16 * 1024).collect()
        assert ID_INDEX[0] in _named_indexes(path)
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            ids = sorted(r[0] for r in db.execute("SELECT id FROM events"))
        assert ids == expected
    assert interrupted >= 6  # most attempts really were killed mid-load


def test_a_sliced_pass_never_drops_the_indexes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon reads a backlog in 0.5 s slices (`deadline`): a load per slice would rebuild them each time."""
    monkeypatch.setattr(collect_module, "BULK_LOAD_MIN_BYTES", 1)
    logs = tmp_path / "logs"
    _write_history(logs)
    config = _config(logs, tmp_path / "store")
    seen: list[set[str]] = []
    with Store.open(config.storage.db_path()) as store:
        store.acquire_writer_lock()
        result = Collector(store, config, chunk_bytes=8 * 1024).collect(
            progress=lambda files, done: seen.append(_named_indexes(config.storage.db_path())),
            deadline=time.monotonic() + 600,
        )
    assert result.events_added > 0 and not result.remaining
    assert seen and all(len(names) == 6 for names in seen)


def test_the_wal_starts_over_while_a_writer_commits_without_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PASSIVE checkpoints alone never catch up with a writer that never pauses, and SQLite starts the
    log over only once all of it is copied: the log grew past the store's size in a first load."""
    monkeypatch.setattr("devlog_collector.store.wal_checkpointer.RESTART_BYTES", 2 * 1024 * 1024)
    monkeypatch.setattr("devlog_collector.store.wal_checkpointer.CHECKPOINT_GAP_S", 0.01)
    path = tmp_path / "s.db"
    wal = Path(f"{path}-wal")
    largest = 0
    with Store.open(path) as store:
        store.db.execute("PRAGMA wal_autocheckpoint = 0")
        checkpointer = WalCheckpointer(path)
        try:
            for batch in range(200):
                events = [Event(id=f"e{batch}-{n}", ts=T0, agent="a", kind="prompt", session_id="s",
                                text=os.urandom(400).hex()) for n in range(100)]  # fmt: skip
                store.commit(events)
                checkpointer.nudge()
                largest = max(largest, wal.stat().st_size)
                time.sleep(0.003)  # (the parser's turn)
        finally:
            checkpointer.stop()
    assert path.stat().st_size > 15 * 1024 * 1024  # the events reached the store itself
    assert largest < 96 * 1024 * 1024, f"the -wal grew to {largest / 2**20:.0f} MiB (it never started over)"


def test_loaded_ids_answer_for_a_whole_commit_and_stage_a_run_of_seqs() -> None:
    from devlog_collector.store.loaded_ids import LoadedIds

    loaded = LoadedIds()
    loaded.begin()
    loaded.stage_run(["a", "b", "c"], 10)
    assert loaded.seqs(["c", "x", "a"]) == [12, None, 10]  # the open transaction's additions count
    loaded.committed()
    loaded.begin()
    loaded.stage_run(["d"], 13)
    loaded.stage("a", 14)  # a replaced copy, stored again
    assert loaded.seqs(["a", "b", "d", "e"]) == [14, 11, 13, None]
    loaded.begin()  # that transaction rolled back: its additions are forgotten
    assert loaded.seqs(["a", "d"]) == [10, None] and len(loaded) == 3
