"""`devlog sql` edges: reading pragmas, trailing comments, duplicate column names, refusal wording
for statements SQLite refuses at internal tables, and Ctrl-C stopping a runaway statement."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devlog_collector.errors import UserError
from devlog_collector.query.sql import run_readonly_sql
from devlog_collector.store import Store
from tests.collector.query.helpers import default_db, ev, store_with


@pytest.fixture
def ro(tmp_path: Path) -> Store:
    path = tmp_path / "events.db"
    store_with(path, [ev("2026-03-01T10:00:00", "prompt", text="hi", ident="a")]).close()
    store = Store.open(path, readonly=True)
    yield store
    store.close()


@pytest.mark.parametrize(
    "pragma",
    ["integrity_check", "quick_check", "foreign_key_check", "table_list", "foreign_keys", "cache_size",
     "busy_timeout", "synchronous", "application_id", "auto_vacuum", "mmap_size", "integrity_check(events)"],
)  # fmt: skip
def test_reading_pragmas_are_allowed(ro: Store, pragma: str) -> None:
    result = run_readonly_sql(ro, f"PRAGMA {pragma}")
    assert result.columns


@pytest.mark.parametrize("statement", ["PRAGMA cache_size = 10", "PRAGMA foreign_keys = OFF", "PRAGMA optimize"])
def test_setting_pragmas_stay_refused(ro: Store, statement: str) -> None:
    with pytest.raises(UserError, match="read-only"):
        run_readonly_sql(ro, statement)


def test_a_trailing_comment_is_not_a_second_statement(ro: Store) -> None:
    assert run_readonly_sql(ro, "SELECT 1; -- why").rows == [(1,)]
    assert run_readonly_sql(ro, "SELECT 2; /* note */").rows == [(2,)]
    with pytest.raises(UserError, match="only one statement"):
        run_readonly_sql(ro, "SELECT 1; -- why\nSELECT 2")


def test_duplicate_column_names_are_kept_apart(ro: Store) -> None:
    result = run_readonly_sql(ro, "SELECT 1 AS a, 2 AS a, 3 AS a_2")
    assert result.columns == ["a", "a_2", "a_2_2"] and result.rows == [(1, 2, 3)]


@pytest.mark.parametrize(
    ("statement", "named"),
    [("DROP TABLE events", "not allowed: drop table)"), ("VACUUM", "not allowed: vacuum)"),
     ("DELETE FROM events", "not allowed: delete events)")],
)  # fmt: skip
def test_refusals_name_what_the_user_wrote(ro: Store, statement: str, named: str) -> None:
    with pytest.raises(UserError) as caught:
        run_readonly_sql(ro, statement)
    assert str(caught.value).endswith(named), str(caught.value)


def test_ctrl_c_stops_a_runaway_statement_and_changes_nothing(isolated_home: Path) -> None:
    store_with(default_db(), [ev("2026-03-01T10:00:00", "prompt", text="hi", ident="a")]).close()
    before = hashlib.sha256(default_db().read_bytes()).hexdigest()
    proc = subprocess.Popen(
        [sys.executable, "-m", "devlog_collector", "sql",
         "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"],
        env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(2.0)  # well inside the statement (it never ends on its own)
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("devlog sql ignored Ctrl-C") from None
    assert proc.returncode == 130, err  # (as `collect` and `start` on Ctrl-C; it was click's 1, "Aborted!")
    assert err.strip().endswith("interrupted") and "Aborted" not in err
    assert "Traceback" not in err
    assert hashlib.sha256(default_db().read_bytes()).hexdigest() == before


def test_a_damaged_store_is_a_store_error_with_what_to_do_not_a_usage_error(tmp_path: Path) -> None:
    """`devlog sql "PRAGMA quick_check"` on a damaged store said `sql: database disk image is
    malformed` with exit 2, the code of a mistyped statement."""
    from devlog_collector.errors import StoreError

    path = tmp_path / "events.db"
    events = [ev(f"2026-03-01T10:00:{n:02d}", "prompt", text="x" * 3000, ident=f"e{n}") for n in range(40)]
    store_with(path, events).close()
    import sqlite3

    with sqlite3.connect(path) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events'").fetchone()[0]
    with path.open("r+b") as handle:  # garbage over the events table's root page
        handle.seek(page_size * (root - 1))
        handle.write(b"\xff" * page_size)
    store = Store.open(path, readonly=True)
    try:
        with pytest.raises(StoreError, match="the store is damaged: move the store file aside"):
            run_readonly_sql(store, "SELECT count(*), sum(length(text)) FROM events")
    finally:
        store.close()
