"""Insert rows several at a time: one `INSERT ... VALUES (...), (...), ...` per batch of rows.

`executemany` runs its statement once per row, and each run has a cost of its own besides storing
the row: Python's `sqlite3` releases and retakes the GIL around every step and resets the statement,
and SQLite begins and ends a statement (its mutexes and journal checks included). A first history
load stores ~140,000 rows; one statement per 64 of them ran ~3,300 fewer instructions per row (about
a tenth of storing one; 1.6 % of a whole collect, docs/benchmarks.md "Collector").

The rows of a multi-row statement are inserted in their order, so they get consecutive `seq`s as
they would one by one, fire the same per-row triggers, and a conflict clause applies to each row.
The batch never binds more parameters than the linked SQLite allows (999 before SQLite 3.32).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from itertools import chain
from typing import Any, Final

__all__ = ["RowBatchInsert"]

#: Rows per statement, at most (fewer when the SQLite limit on parameters is lower).
ROWS_PER_STATEMENT: Final = 64


class RowBatchInsert:
    """`INSERT INTO <table> (<columns>) VALUES <rows> <tail>` for any number of rows."""

    def __init__(self, head: str, width: int, tail: str = "") -> None:
        """`head` is `INSERT INTO t (a, b, ...) VALUES`; `width` the number of columns; `tail` what
        follows the rows (a conflict clause), if anything."""
        self.head, self.width, self.tail = head, width, tail
        self._row = "(" + ", ".join("?" * width) + ")"
        self.one_row = self._sql(1)
        self._batch_sql: dict[int, str] = {}

    def _sql(self, rows: int) -> str:
        return f"{self.head} {', '.join([self._row] * rows)}{self.tail}"

    def batch_rows(self, db: sqlite3.Connection) -> int:
        """Rows per statement on `db`: `ROWS_PER_STATEMENT`, or fewer to stay within its parameter limit."""
        return max(1, min(ROWS_PER_STATEMENT, db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // self.width))

    def run(self, db: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> int:
        """Insert `rows` in order; returns how many rows were inserted (conflicts skipped by `tail` not counted)."""
        per = self.batch_rows(db)
        whole = len(rows) - len(rows) % per if per > 1 else 0
        changed = 0
        if whole:
            sql = self._batch_sql.get(per)
            if sql is None:
                sql = self._batch_sql[per] = self._sql(per)
            for start in range(0, whole, per):
                changed += db.execute(sql, tuple(chain.from_iterable(rows[start : start + per]))).rowcount
        if whole < len(rows):
            changed += db.executemany(self.one_row, rows[whole:]).rowcount
        return changed
