"""A new store's first load, built beside its name and put in place whole (`store/first_load.py`).

Checked against the usual path (WAL, into a store that exists): the same rows and rollup; and for
what a load may meet: a stop between commits, kill -9, a failed write, a store made meanwhile, a
second collector. Real SQLite files in tmp_path, real forks for kill -9, the real CLI.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from devlog_collector import collect as collect_module
from devlog_collector.cli import cli
from devlog_collector.collect import Collector
from devlog_collector.config import Config
from devlog_collector.errors import StoreLocked
from devlog_collector.storage_location import first_load_path
from devlog_collector.store import Store, first_load
from tests.collector.collect_helpers import killed_mid_run, line, make_config
from tests.collector.test_bulk_load import _config, _contents, _write_history


def _first_load(config: Config, **collect_args: object) -> tuple[Store, str | None, collect_module.CollectResult]:
    aside = first_load.begin(config.storage.db_path())
    assert aside is not None
    result = Collector(aside, config, chunk_bytes=16 * 1024).collect(**collect_args)  # type: ignore[arg-type]
    store, not_kept = first_load.publish(aside)
    return store, not_kept, result


def _one_log(tmp_path: Path, lines: int) -> Config:
    """A log of `lines` records under tmp_path/logs, and a config collecting it into tmp_path/store."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(b"".join(line(n) for n in range(lines)))
    return make_config(logs, storage={"path": str(tmp_path / "store")})


def _ids(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return sorted(r[0] for r in db.execute("SELECT id FROM events"))


def _leftovers(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if ".first-load" in p.name)


@pytest.mark.parametrize("bulk", [True, False])
def test_a_first_load_built_aside_stores_exactly_what_the_usual_path_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bulk: bool
) -> None:
    """With and without the deferred indexes of a large load; the store is WAL once in place."""
    monkeypatch.setattr(collect_module, "BULK_LOAD_MIN_BYTES", 1 if bulk else 10**12)
    logs = tmp_path / "logs"
    _write_history(logs)
    config = _config(logs, tmp_path / "aside")
    path = config.storage.db_path()
    seen: list[tuple[bool, bool]] = []

    def progress(files: int, done: int) -> None:
        seen.append((path.exists(), first_load_path(path).exists()))

    store, not_kept, result = _first_load(config, progress=progress)
    with store:
        assert not_kept is None
        assert str(store.db.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
        assert Collector(store, config).collect().events_added == 0  # a re-run adds nothing
    assert seen and set(seen) == {(False, True)}  # no store under its name while it loaded
    assert _leftovers(path) == []
    assert path.stat().st_mode & 0o777 == 0o600
    usual_config = _config(logs, tmp_path / "usual")
    with Store.open(usual_config.storage.db_path()) as usual:  # (exists before the pass: the usual path)
        usual.acquire_writer_lock()
        expected = Collector(usual, usual_config, chunk_bytes=16 * 1024).collect()
    assert (result.events_added, result.events_updated) == (expected.events_added, expected.events_updated)
    assert _contents(path) == _contents(usual_config.storage.db_path())


def test_a_stop_between_commits_puts_what_was_loaded_in_place(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for f in range(6):
        (logs / f"{f}.jsonl").write_bytes(b"".join(line(f * 1000 + n) for n in range(1000)))
    config = make_config(logs, storage={"path": str(tmp_path / "store")})
    path = config.storage.db_path()
    aside = first_load.begin(path)
    assert aside is not None
    files_read: list[int] = []
    collector = Collector(aside, config, should_stop=lambda: len(files_read) >= 3)
    result = collector.collect(progress=lambda files, done: files_read.append(files))
    store, not_kept = first_load.publish(aside)
    with store:
        assert result.interrupted and not_kept is None
        assert 0 < result.events_added < 6000
        assert len(_ids(path)) == result.events_added
        store.acquire_writer_lock()  # (held already: the lock passed on)
        assert Collector(store, config).collect().events_added == 6000 - result.events_added
    assert len(_ids(path)) == 6000


def test_kill_9_during_a_first_load_leaves_no_store_and_the_next_run_loads_it_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collect_module, "BULK_LOAD_MIN_BYTES", 1)
    logs = tmp_path / "logs"
    logs.mkdir()
    for f in range(3):
        (logs / f"{f}.jsonl").write_bytes(b"".join(line(f * 3000 + n, text="t" * (n % 300)) for n in range(3000)))
    rng = random.Random(5)
    killed_unpublished = 0
    for attempt in range(12):
        config = make_config(logs, storage={"path": str(tmp_path / f"run{attempt}")})
        path = config.storage.db_path()
        killed = killed_mid_run(lambda: _first_load(config)[0].close(), rng.uniform(0.01, 0.3))
        if killed and not path.exists():
            killed_unpublished += 1
            assert first_load_path(path).exists()  # (only the side file is left; the next writer deletes it)
            store, not_kept, result = _first_load(config)
            assert not_kept is None and result.events_added == 9000
        else:
            store = Store.open(path)
            store.acquire_writer_lock()
            assert Collector(store, config).collect().events_added == 0
        store.close()
        assert _leftovers(path) == []
        with contextlib.closing(sqlite3.connect(path)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert len(_ids(path)) == 9000
    assert killed_unpublished >= 4  # most attempts really were killed mid-load


def test_a_failed_write_throws_the_load_away(tmp_path: Path) -> None:
    """The journal is in memory and nothing is synced: after a failed write the file is not trusted."""
    config = _one_log(tmp_path, 50)
    path = config.storage.db_path()
    aside = first_load.begin(path)
    assert aside is not None
    Collector(aside, config).collect()
    with pytest.raises(sqlite3.OperationalError), aside.transaction() as db:
        db.execute("INSERT INTO no_such_table VALUES (1)")
    store, not_kept = first_load.publish(aside)
    with store:
        assert not_kept == "a write of it failed"
        assert _ids(path) == []  # a new, empty store under the name; the caller collects into it
        assert Collector(store, config).collect().events_added == 50
    assert _leftovers(path) == []


def test_a_store_made_meanwhile_is_kept_and_the_cli_collects_into_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process made the store under its name while the first load ran (say `devlog remote
    add`): the load never replaces it; `devlog collect` reads the logs again into that store."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(b"".join(line(n) for n in range(40)))
    monkeypatch.setenv("DEVLOG_CONFIG", str(tmp_path / "config.yaml"))
    store_dir = tmp_path / "store"
    (tmp_path / "config.yaml").write_text(
        f"collect:\n  agents: []\n  generic:\n    - {{name: test, glob: '{logs}/*.jsonl', "
        "mapping: {ts: ts, session_id: sid, kind: kind, id: uuid, text: text}}\n"
        f"storage:\n  path: {store_dir}\n  min_free_bytes: 0\n"
    )
    path = store_dir / "events.db"
    publish = first_load.publish

    def made_meanwhile(aside: Store) -> tuple[Store, bool]:
        other_path = tmp_path / "other.db"
        with Store.open(other_path) as other:  # (made elsewhere, then there: the lock never stops a rename)
            other.set_meta("made_by", "another process")
        other_path.rename(path)
        return publish(aside)

    monkeypatch.setattr(first_load, "publish", made_meanwhile)
    result = CliRunner().invoke(cli, ["collect", "--json"])
    assert result.exit_code == 0, result.output
    assert "the first load was not kept (a store was made under its name meanwhile)" in result.stderr
    assert json.loads(result.stdout)["events_added"] == 40
    with Store.open(path, readonly=True) as store:
        assert store.get_meta("made_by") == "another process"
    assert len(_ids(path)) == 40
    assert _leftovers(path) == []


def test_a_second_collector_neither_loads_nor_touches_the_first_ones_load(tmp_path: Path) -> None:
    path = tmp_path / "store" / "events.db"
    aside = first_load.begin(path)
    assert aside is not None
    try:
        with pytest.raises(StoreLocked, match="another devlog process"):
            first_load.begin(path)
        assert first_load_path(path).exists()
        assert not path.exists()
    finally:
        first_load.discard(aside)
    assert _leftovers(path) == []
    assert first_load.begin(path) is not None  # (the lock was released with it)


def test_an_existing_store_is_never_loaded_aside(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    Store.open(path).close()
    assert first_load.begin(path) is None
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere.db")  # (a dangling link is a store's name taken, too)
    assert first_load.begin(path) is None


def test_status_says_a_first_load_is_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from devlog_collector.cli.status_cmd import gather_status

    store_dir = tmp_path / "store"
    monkeypatch.setenv("DEVLOG_CONFIG", str(tmp_path / "config.yaml"))
    (tmp_path / "config.yaml").write_text(
        f"storage:\n  path: {store_dir}\nexport:\n  remotes:\n    team:\n      url: http://127.0.0.1:9\n"
        "      api_key: dvl_x\n      workspaces: {include: ['/w/**']}\n"
    )
    aside = first_load.begin(store_dir / "events.db")
    assert aside is not None
    try:
        facts = gather_status()["store"]
        assert facts["exists"] is False and facts["first_load_bytes"] > 0 and facts["first_load_running"]
        table = CliRunner().invoke(cli, ["status"], env={"COLUMNS": "200"}).output
        assert "the first load is running (" in table and "the store appears when it ends" in table
        for command in (["query"], ["stats"], ["sql", "SELECT 1"]):  # (said "run `devlog collect` first")
            said = CliRunner().invoke(cli, command).output
            assert "yet: the first load is running" in said, said
        for command in (["export", "--status"], ["export", "--dry-run"]):  # (said "0 pending", as if selecting nothing)
            said = CliRunner().invoke(cli, command).output
            assert "warning: no store at" in said and "the first load is running" in said, said
        statuses = json.loads(CliRunner().invoke(cli, ["export", "--status", "--json"]).stdout)
        assert [r["status"] for r in statuses] == ["waiting"], statuses  # (it said "synced", 0 pending)
        said = CliRunner().invoke(cli, ["export"]).output  # (the send itself: "run `devlog collect` first")
        assert "yet: the first load is running" in said, said
    finally:
        first_load.discard(aside)
    assert "first_load_bytes" not in gather_status()["store"]
    side = first_load_path(store_dir / "events.db")
    side.write_bytes(b"x" * 5000)  # (what a crashed first load leaves, with no collector running)
    facts = gather_status()["store"]
    assert facts["first_load_running"] is False and "an interrupted first load left" in facts["first_load_note"]
    assert "deletes it and loads again" in CliRunner().invoke(cli, ["status"], env={"COLUMNS": "500"}).output


def test_a_deleted_stores_write_ahead_log_is_never_applied_to_the_new_one(tmp_path: Path) -> None:
    """`devlog start` stops when its store is deleted and leaves the store's `-wal` and `-shm`: the
    next first load was linked under the name and SQLite applied that log to it (a damaged store)."""
    config = _one_log(tmp_path, 300)
    path = config.storage.db_path()
    old = Store.open(path)
    old.acquire_writer_lock()
    Collector(old, make_config(tmp_path / "none", storage={"path": str(tmp_path / "store")})).collect()
    with old.transaction() as db:  # (pages in the log, not yet in the store)
        db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [(f"k{n}", "x" * 3000) for n in range(200)])
    kept = {suffix: Path(f"{path}{suffix}").read_bytes() for suffix in ("-wal", "-shm")}
    assert len(kept["-wal"]) > 100_000
    old.close()
    path.unlink()
    for suffix, data in kept.items():  # (what the deleted store left under its name)
        Path(f"{path}{suffix}").write_bytes(data)
    store, not_kept, result = _first_load(config)
    store.close()
    assert not_kept is None and result.events_added == 300
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM meta WHERE key LIKE 'k%'").fetchone()[0] == 0
    assert len(_ids(path)) == 300


def test_a_side_file_left_by_a_crash_after_the_link_is_removed_by_the_next_writer(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(b"".join(line(n) for n in range(20)))
    monkey_env = {"DEVLOG_CONFIG": str(tmp_path / "config.yaml")}
    (tmp_path / "config.yaml").write_text(
        f"collect:\n  agents: []\n  generic:\n    - {{name: test, glob: '{logs}/*.jsonl', "
        "mapping: {ts: ts, session_id: sid, kind: kind, id: uuid, text: text}}\n"
        f"storage:\n  path: {tmp_path / 'store'}\n  min_free_bytes: 0\n"
    )
    assert CliRunner().invoke(cli, ["collect"], env=monkey_env).exit_code == 0
    path = tmp_path / "store" / "events.db"
    os.link(path, first_load_path(path))  # (killed between the link and the side file's removal)
    Path(f"{first_load_path(path)}.lock").write_bytes(b"")
    assert CliRunner().invoke(cli, ["collect"], env=monkey_env).exit_code == 0
    assert _leftovers(path) == []
    assert len(_ids(path)) == 20
