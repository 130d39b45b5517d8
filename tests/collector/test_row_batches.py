"""Rows inserted several per statement: order, conflicts, counts and SQLite's parameter limit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from devlog_collector.store.row_batches import ROWS_PER_STATEMENT, RowBatchInsert

HEAD = "INSERT INTO t (name, size) VALUES"


def _db(tmp_path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(tmp_path / "t.db")
    db.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, size INTEGER)")
    return db


@pytest.mark.parametrize("count", [0, 1, ROWS_PER_STATEMENT - 1, ROWS_PER_STATEMENT, 3 * ROWS_PER_STATEMENT + 5])
def test_rows_are_stored_in_order_with_consecutive_seqs(tmp_path: Path, count: int) -> None:
    db = _db(tmp_path)
    rows = [(f"n{i}", i) for i in range(count)]
    assert RowBatchInsert(HEAD, 2).run(db, rows) == count
    assert db.execute("SELECT seq, name, size FROM t ORDER BY seq").fetchall() == [
        (i + 1, f"n{i}", i) for i in range(count)
    ]


def test_a_conflict_clause_skips_stored_rows_and_they_are_not_counted(tmp_path: Path) -> None:
    db = _db(tmp_path)
    insert = RowBatchInsert(HEAD, 2, " ON CONFLICT (name) DO NOTHING")
    insert.run(db, [(f"n{i}", i) for i in range(0, 200, 2)])  # the even ones
    added = insert.run(db, [(f"n{i}", -1) for i in range(200)])
    assert added == 100
    assert db.execute("SELECT count(*), sum(size = -1) FROM t").fetchone() == (200, 100)
    # Without the clause, a stored name is an error and the statement's rows are not stored.
    with pytest.raises(sqlite3.IntegrityError):
        RowBatchInsert(HEAD, 2).run(db, [("new", 1), ("n0", 1)])


def test_a_batch_stays_within_the_sqlite_parameter_limit(tmp_path: Path) -> None:
    db = _db(tmp_path)
    db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 7)  # 3 rows of 2 parameters per statement
    insert = RowBatchInsert(HEAD, 2)
    assert insert.batch_rows(db) == 3
    assert insert.run(db, [(f"n{i}", i) for i in range(10)]) == 10
    db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 3)  # room for one row only: one statement per row
    assert insert.batch_rows(db) == 1
    assert insert.run(db, [("x", 1), ("y", 2)]) == 2
    assert [r[0] for r in db.execute("SELECT name FROM t ORDER BY seq")] == [*(f"n{i}" for i in range(10)), "x", "y"]
