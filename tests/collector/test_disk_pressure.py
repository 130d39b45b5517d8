"""Disk pressure: collection pauses (cursors frozen, nothing corrupted) and resumes when space returns."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devlog_collector import disk_full_marker
from devlog_collector.cli.status_cmd import _disk_was_full
from devlog_collector.collect import Collector
from devlog_collector.store import Store
from tests.collector.collect_helpers import expected_id, line, make_config


def _ids(db_path: Path) -> set[str]:
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {r[0] for r in db.execute("SELECT id FROM events")}
    finally:
        db.close()


def _random_text_records(n: int) -> list[bytes]:
    """Lines of ~1.2 KiB of incompressible text each (enough of them fill the tiny tmpfs)."""
    return [
        json.dumps({"uuid": f"u{i}", "ts": 1760000000000 + i, "sid": "s", "text": os.urandom(600).hex()}).encode()
        + b"\n"
        for i in range(n)
    ]


def test_min_free_bytes_pauses_and_resumes(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(line(0) + line(1))
    config = make_config(logs)
    with Store.open(config.storage.db_path()) as store:
        assert Collector(store, config).collect().events_added == 2
    (logs / "a.jsonl").write_bytes((logs / "a.jsonl").read_bytes() + line(2))
    free = shutil.disk_usage(config.storage.db_path().parent).free
    starved = make_config(logs, storage={"min_free_bytes": free + 10**12})
    with Store.open(starved.storage.db_path()) as store:
        collector = Collector(store, starved)
        result = collector.collect()
        assert result.paused is not None
        assert "storage.min_free_bytes" in result.paused
        assert re.search(r"only \d+\.\d (KiB|MiB|GiB) free .*\(\d+\.\d GiB\)", result.paused), (
            result.paused
        )  # as status says it
        assert result.events_added == 0
        cursor = store.get_cursor("generic:testagent", str(logs / "a.jsonl"))
        assert cursor is not None
        assert cursor.offset == len(line(0) + line(1))  # not advanced
        assert not collector.disk_ok()
    assert _ids(config.storage.db_path()) == {expected_id(0), expected_id(1)}
    with Store.open(config.storage.db_path()) as store:
        resumed = Collector(store, config).collect()
    assert resumed.paused is None
    assert resumed.events_added == 1


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs for the store (root only)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_pauses_without_corruption_and_resumes(tmp_path: Path, tiny_fs: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    records = _random_text_records(4000)
    (logs / "a.jsonl").write_bytes(b"".join(records))
    config = make_config(logs, storage={"path": str(tiny_fs / "data"), "min_free_bytes": 0})
    with Store.open(config.storage.db_path()) as store:
        collector = Collector(store, config, chunk_bytes=64 * 1024)
        result = collector.collect()
        assert result.paused is not None  # SQLITE_FULL (or ENOSPC) turned into a pause
        assert "full" in result.paused
        stored = store.db.execute("SELECT count(*) FROM events").fetchone()[0]
        assert 0 < stored < 4000
        cursor = store.get_cursor("generic:testagent", str(logs / "a.jsonl"))
        assert cursor is not None
        assert cursor.offset == sum(len(r) for r in records[: cursor.line_no])  # the cursor matches the data
    assert len(_ids(config.storage.db_path())) == stored
    # `devlog status` (another process, later) says why collection stopped, though min_free_bytes is 0.
    said = _disk_was_full(config.storage.db_path())
    assert said is not None and "disk was full" in said
    subprocess.run(["mount", "-o", "remount,size=64m", str(tiny_fs)], check=True)
    with Store.open(config.storage.db_path()) as store:
        resumed = Collector(store, config, chunk_bytes=64 * 1024).collect()
    assert resumed.paused is None
    assert _ids(config.storage.db_path()) == {expected_id(n) for n in range(4000)}
    assert _disk_was_full(config.storage.db_path()) is None  # a pass that stored again removed the mark


def test_the_full_disk_mark_stays_until_a_pass_stores_again(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(line(0))
    os.utime(logs / "a.jsonl", (1_700_000_000, 1_700_000_000))  # not "racy": a pass skips it unread
    config = make_config(logs)
    db_path = config.storage.db_path()
    with Store.open(db_path) as store:
        assert Collector(store, config).collect().events_added == 1
        disk_full_marker.mark(db_path)  # as a pass whose write found the disk full leaves it
        assert Collector(store, config).collect().events_added == 0  # nothing written: nothing proven
        assert _disk_was_full(db_path) is not None
        (logs / "a.jsonl").write_bytes(line(0) + line(1))
        assert Collector(store, config).collect().events_added == 1
    assert _disk_was_full(db_path) is None


def test_a_large_load_that_fills_the_disk_gets_its_indexes_back_when_space_returns(
    tmp_path: Path, tiny_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devlog_collector import collect as collect_module
    from devlog_collector.store import DEFERRED_INDEXES_KEY

    monkeypatch.setattr(collect_module, "BULK_LOAD_MIN_BYTES", 1)  # every pass is a "large history load"
    logs = tmp_path / "logs"
    logs.mkdir()
    records = _random_text_records(4000)
    (logs / "a.jsonl").write_bytes(b"".join(records))
    config = make_config(logs, storage={"path": str(tiny_fs / "data"), "min_free_bytes": 0})

    def secondary_indexes(db: sqlite3.Connection) -> int:
        """The named indexes of `events`: the five secondary ones and (a new store's) id index."""
        sql = "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL"
        return int(db.execute(sql).fetchone()[0])

    # The disk is full, but the WAL still holds the frames of the insert that failed, and the next
    # transaction may reuse them: how many depends on exactly where the disk filled. Use them up with
    # committed filler rows (halving the size until not even a small one fits), so that building the
    # indexes at the end of the pass surely finds no room either.
    original_restore = Store.restore_secondary_indexes

    def restore_on_a_full_disk(self: Store) -> None:
        size = 256 * 1024
        with contextlib.suppress(sqlite3.OperationalError):
            self.db.execute("CREATE TABLE filler (x BLOB)")
        while size >= 512:
            try:
                self.db.execute("INSERT INTO filler VALUES (zeroblob(?))", (size,))
            except sqlite3.OperationalError:
                size //= 2
        original_restore(self)

    monkeypatch.setattr(Store, "restore_secondary_indexes", restore_on_a_full_disk)
    with Store.open(config.storage.db_path()) as store:
        store.acquire_writer_lock()
        result = Collector(store, config, chunk_bytes=64 * 1024).collect()  # no exception: a pause
        assert result.paused is not None and "full" in result.paused
        # No room to build them either: the pass says so in a warning and leaves the marker.
        assert store.get_meta(DEFERRED_INDEXES_KEY) is not None and secondary_indexes(store.db) == 0
    # A new process while the disk is still full: it cannot build the id index when it takes the
    # lock, and its inserts (which need that index) failed with "ON CONFLICT clause does not match
    # any PRIMARY KEY or UNIQUE constraint" instead of pausing as for any full disk.
    with (logs / "a.jsonl").open("ab") as more:
        more.write(b"".join(_random_text_records(4100)[4000:]))
    with Store.open(config.storage.db_path()) as store:
        store.acquire_writer_lock()
        again = Collector(store, config, chunk_bytes=64 * 1024).collect()
        assert again.paused is not None and "full" in again.paused
    monkeypatch.setattr(Store, "restore_secondary_indexes", original_restore)
    subprocess.run(["mount", "-o", "remount,size=64m", str(tiny_fs)], check=True)
    with Store.open(config.storage.db_path()) as store:
        store.acquire_writer_lock()  # rebuilds what the full disk prevented
        assert secondary_indexes(store.db) == 6 and store.get_meta(DEFERRED_INDEXES_KEY) is None
        resumed = Collector(store, config, chunk_bytes=64 * 1024).collect()
        assert resumed.paused is None
        assert secondary_indexes(store.db) == 6
    assert _ids(config.storage.db_path()) == {expected_id(n) for n in range(4100)}


def test_a_pause_is_logged_once_not_on_every_retry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from devlog_collector import collect as collect_module

    logged: list[tuple[str, str]] = []

    class Recorder:
        def __getattr__(self, level: str) -> Any:
            return lambda event, **_fields: logged.append((level, event))

    monkeypatch.setattr(collect_module, "log", Recorder())
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(line(0))
    free = shutil.disk_usage(tmp_path).free
    starved = make_config(logs, storage={"min_free_bytes": free + 10**12})
    with Store.open(starved.storage.db_path()) as store:
        collector = Collector(store, starved)
        for _ in range(3):  # the daemon retries every second or so
            assert collector.collect().paused is not None
    assert [level for level, event in logged if event == "collection_paused"] == ["warning", "debug", "debug"]


def test_a_store_that_cannot_be_opened_for_want_of_space_says_so(tmp_path: Path, tiny_fs: Path) -> None:
    """A closed WAL store needs a new `-shm` file to be opened at all: on a full disk SQLite says only
    "disk I/O error", which read like damage (and the advice for damage resets every export cursor)."""
    from click.testing import CliRunner

    from devlog_collector.cli import cli

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(b"".join(line(n) for n in range(20)))
    home = tiny_fs / "home"
    home.mkdir()
    mapping = "{id: uuid, ts: ts, session_id: sid, kind: kind, text: text, workspace: cwd}"
    (home / "config.yaml").write_text(
        "collect:\n  agents: []\n  generic:\n"
        f"    - {{name: testagent, glob: '{logs}/**/*.jsonl', mapping: {mapping}}}\n"
        "storage:\n  min_free_bytes: 0\n"
    )
    env = {"DEVLOG_HOME": str(home), "DEVLOG_CONFIG": str(home / "config.yaml")}
    runner = CliRunner()
    assert runner.invoke(cli, ["collect"], env=env).exit_code == 0
    with (tiny_fs / "filler").open("wb") as filler, contextlib.suppress(OSError):
        while True:
            filler.write(b"\0" * 65536)
            filler.flush()
    (logs / "a.jsonl").open("ab").write(b"".join(line(n) for n in range(20, 40)))

    collected = runner.invoke(cli, ["collect"], env=env)
    assert collected.exit_code == 1
    assert "the store's disk is full (0 bytes free): free some space and run it again" in collected.stderr
    status = json.loads(runner.invoke(cli, ["status", "--json"], env=env).stdout)["store"]
    assert "the store's disk is full" in status["error"] and "damaged" not in status["error"]
    assert "disk was full" in status["paused"]

    (tiny_fs / "filler").unlink()
    assert runner.invoke(cli, ["collect"], env=env).exit_code == 0
    assert len(_ids(home / "data" / "events.db")) == 40
