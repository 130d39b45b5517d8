"""A store deleted, moved or replaced under a writer, a history pass stopped early, a config file
removed: what `devlog collect` and `devlog start` do and say (new-user passes found each one).

* A store deleted during a history pass: the pass went on writing into the unlinked file for its
  whole length, said every event was added, and then blamed a "replacement" (the search indexer had
  made a new, empty file). Every writer now checks the store before its commits and stops.
* A DEVLOG_HOME moved while `devlog start` ran was called "deleted", with the advice to collect
  everything again; the store is intact at its new place, and the error says where.
* `devlog start` (and `start --once`) stopped by a signal before its history pass was through
  exited 0, so `devlog start --once && next-step` went on after a partial load.
* A config file removed while `devlog start` ran switched it to the defaults without a word.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import devlog_collector.collect as collect_module
from devlog_collector.collect import Collector
from devlog_collector.config import load_config
from devlog_collector.errors import StoreError
from devlog_collector.store import Store, store_gone_error
from devlog_collector.watch import CollectDaemon, DaemonOptions
from tests.collector.collect_helpers import line
from tests.collector.test_cli_collect import write_config
from tests.collector.test_config_reload import _daemon, _wait_for


def _logs(tmp_path: Path, files: int) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    for n in range(files):
        (logs / f"f{n:03d}.jsonl").write_bytes(line(2 * n) + line(2 * n + 1))
    write_config(logs)
    return logs


def test_a_store_deleted_during_a_pass_stops_it_before_its_next_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _logs(tmp_path, 20)
    monkeypatch.setattr(collect_module, "STORE_CHECK_SECONDS", 0.0)  # (every commit checks: no waiting)
    config, _ = load_config()
    path = config.storage.db_path()
    files_done: list[int] = []

    def delete_after_the_first_file(files: int, _bytes: int) -> None:
        files_done.append(files)
        if files == 1:
            path.unlink()

    with Store.open(path) as store:
        store.acquire_writer_lock()
        with pytest.raises(StoreError) as info:
            Collector(store, config).collect(progress=delete_after_the_first_file)
    assert max(files_done) == 1  # nothing more was read into the deleted file
    assert str(info.value) == (
        f"the store {path} was deleted while devlog was collecting into it: stopped; the events collected "
        "into it went with it; run devlog again to collect into a new store"
    )


def test_a_store_whose_folder_was_moved_is_found_at_its_new_place(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    with Store.open(home / "data" / "events.db") as store:
        store.acquire_writer_lock()
        moved = tmp_path / "elsewhere"
        shutil.move(home, moved)
        problem = store.gone_from_disk()
        assert problem == f"was moved to {moved / 'data' / 'events.db'}"
        message = str(store_gone_error(store.path, problem))
        assert "nothing is lost: set DEVLOG_HOME (or storage.path) to its new folder" in message
        shutil.rmtree(moved)  # now it is gone for good
        assert store.gone_from_disk() == "was deleted"


def test_start_stopped_before_its_history_pass_is_through_says_so_in_its_exit_status(tmp_path: Path) -> None:
    """Stopped at its first announcement (before any file is read): 128 + SIGINT, as `devlog collect`."""
    _logs(tmp_path, 5)
    config, _ = load_config()
    said: list[str] = []
    daemon: CollectDaemon

    def announce(message: str) -> None:
        said.append(message)
        if message.startswith("collecting history"):
            daemon.stop()

    daemon = CollectDaemon(config, DaemonOptions(once=True, force_polling=True, announce=announce))
    daemon.run()
    assert any(message.startswith("history pass interrupted") for message in said), said
    assert daemon.stopped_by == signal.SIGINT
    whole = CollectDaemon(config, DaemonOptions(once=True, force_polling=True))
    whole.run()  # the rest, through to the end: no exit status of its own
    assert whole.stopped_by is None and whole.totals.events_added == 10


def test_start_once_stopped_by_sigterm_during_history_exits_143(tmp_path: Path) -> None:
    _logs(tmp_path, 400)
    env = dict(os.environ, DEVLOG_FORCE_POLLING="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "devlog_collector", "start", "--once", "--no-progress"],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    for said in proc.stderr:
        if said.startswith("devlog: collecting history"):
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.stderr.read()
    code = proc.wait(timeout=60)
    if "history pass interrupted" in rest:  # (a fast machine may be through before the signal lands)
        assert code == 143, rest
    else:
        assert code == 0 and "history collected" in rest, rest


def test_a_config_file_removed_under_start_keeps_its_settings_and_says_so(tmp_path: Path) -> None:
    logs = _logs(tmp_path, 1)
    config_file = write_config(logs, "  retention_days: 400\n")
    env = dict(os.environ, DEVLOG_FORCE_POLLING="1")
    with _daemon(env) as (proc, lines):
        config_file.rename(config_file.with_suffix(".moved"))
        assert _wait_for(lambda: any("no longer exists: keeping the settings" in text for text in lines)), lines
        assert not any("min_free_bytes is now" in text for text in lines), lines  # (the default is 256 MiB)
        config_file.with_suffix(".moved").rename(config_file)
        (logs / "f000.jsonl").open("ab").write(line(100))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert str(config_file) in "".join(lines)


def test_files_gone_from_disk_are_no_longer_tracked_and_come_back_without_duplicates(tmp_path: Path) -> None:
    """`devlog status` counted deleted and renamed-away files as tracked for good."""
    import sqlite3

    from tests.collector.collect_helpers import collect

    logs = _logs(tmp_path, 4)
    (logs / "bad.jsonl").write_bytes(b"not json\n" + line(50))
    config, _ = load_config()

    def tracked() -> tuple[set[str], set[str], int]:
        with sqlite3.connect(config.storage.db_path()) as db:
            paths = {Path(row[0]).name for row in db.execute("SELECT path FROM collect_cursors")}
            problems = {Path(row[0]).name for row in db.execute("SELECT path FROM parse_errors")}
            events = db.execute("SELECT count(*) FROM events").fetchone()[0]
        return paths, problems, events

    collect(config)
    assert tracked() == ({"f000.jsonl", "f001.jsonl", "f002.jsonl", "f003.jsonl", "bad.jsonl"}, {"bad.jsonl"}, 9)
    (logs / "bad.jsonl").unlink()
    (logs / "f001.jsonl").rename(tmp_path / "f001.jsonl")  # out of the glob
    (logs / "f002.jsonl").rename(logs / "f002-renamed.jsonl")  # still in it
    collect(config)
    assert tracked() == ({"f000.jsonl", "f002-renamed.jsonl", "f003.jsonl"}, set(), 9)
    (tmp_path / "f001.jsonl").rename(logs / "f001.jsonl")  # back again: read again, stored once
    assert collect(config).events_added == 0
    assert tracked()[0] == {"f000.jsonl", "f001.jsonl", "f002-renamed.jsonl", "f003.jsonl"}


def test_a_store_a_newer_devlog_migrated_is_refused_for_writing_and_flagged_for_reading(tmp_path: Path) -> None:
    """An older devlog wrote into a newer one's store without a word (rows without the newer columns)."""
    import sqlite3

    from click.testing import CliRunner

    from devlog_collector.cli import cli

    _logs(tmp_path, 1)
    config, _ = load_config()
    path = config.storage.db_path()
    Store.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO _migrations VALUES ('m999_from_the_future', 0)")
    with pytest.raises(StoreError) as info:
        Store.open(path)
    assert str(info.value) == (
        f"the store {path} was upgraded by a newer devlog (its migration m999_from_the_future): this version "
        "would write rows without what that one added; run that version or a newer one"
    )
    result = CliRunner().invoke(cli, ["stats"])
    assert result.exit_code == 0, result.output
    assert f"warning: the store {path} was upgraded by a newer devlog (m999_from_the_future)" in result.stderr


def test_read_commands_say_when_the_store_is_not_upgraded_yet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """They never migrate, so an older store's figures (1-hour cache writes priced at the 5-minute
    rate before m050) differed from the upgraded store's without a word."""
    from click.testing import CliRunner

    from devlog_collector.cli import cli
    from tests.collector.collect_helpers import collect, write_as_before

    _logs(tmp_path, 1)
    config, _ = load_config()
    with monkeypatch.context() as patch:
        write_as_before(patch, "m050_price_extras")
        collect(config)
    said = CliRunner().invoke(cli, ["stats"]).stderr
    assert "was made by an older devlog and is not upgraded yet" in said
    collect(config)  # a writer upgrades it
    assert "warning" not in CliRunner().invoke(cli, ["stats"]).stderr
