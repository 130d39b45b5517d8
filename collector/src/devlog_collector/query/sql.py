"""`devlog sql`: read-only SQL over the local store, for everything the filters do not cover.

Read-only is enforced three times over: the store is opened `mode=ro` with `PRAGMA query_only`
(`Store.open(readonly=True)`), and an SQLite authorizer refuses every action that is not a read
(insert, update, delete, create, drop, alter, attach, detach, transactions, writing pragmas, ...)
while the statement is compiled, so even a statement SQLite would otherwise accept is refused
before it runs. One statement per call.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from typing import Any, Final

from devlog_collector.errors import UserError
from devlog_collector.store import Store

__all__ = ["READ_PRAGMAS", "SqlResult", "run_readonly_sql"]

#: Pragmas that only report something and are allowed without an argument.
READ_PRAGMAS: Final = frozenset({
    "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list", "database_list",
    "collation_list", "function_list", "module_list", "pragma_list", "compile_options", "page_count", "page_size",
    "freelist_count", "user_version", "schema_version", "data_version", "encoding", "journal_mode",
})  # fmt: skip

#: Pragmas whose argument names a table or index (they never write).
_ARGUMENT_PRAGMAS: Final = frozenset({"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo",
                                      "foreign_key_list"})  # fmt: skip
_ALLOWED_ACTIONS: Final = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                                     getattr(sqlite3, "SQLITE_RECURSIVE", 33)})  # fmt: skip
_ACTION_NAMES: Final = {
    1: "create index", 2: "create table", 3: "create temp index", 4: "create temp table", 5: "create temp trigger",
    6: "create temp view", 7: "create trigger", 8: "create view", 9: "delete", 10: "drop index", 11: "drop table",
    12: "drop temp index", 13: "drop temp table", 14: "drop temp trigger", 15: "drop temp view", 16: "drop trigger",
    17: "drop view", 18: "insert", 19: "pragma", 22: "transaction", 23: "update", 24: "attach", 25: "detach",
    26: "alter table", 27: "reindex", 28: "analyze", 29: "create virtual table", 30: "drop virtual table",
    32: "savepoint",
}  # fmt: skip
_WRITE_FUNCTIONS: Final = frozenset({"load_extension", "writefile", "fts3_tokenizer", "readfile", "edit"})


class SqlResult:
    """Column names and rows of one read-only statement."""

    def __init__(self, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.columns = columns
        self.rows = rows


def _authorizer(refused: list[str]) -> Callable[[int, str | None, str | None, str | None, str | None], int]:
    def check(action: int, arg1: str | None, arg2: str | None, db_name: str | None, source: str | None) -> int:
        if action in _ALLOWED_ACTIONS:
            if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _WRITE_FUNCTIONS:
                refused.append(f"function {arg2}()")
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK
        pragma = (arg1 or "").lower()
        if action == sqlite3.SQLITE_PRAGMA and (
            pragma in _ARGUMENT_PRAGMAS or (pragma in READ_PRAGMAS and arg2 is None)
        ):
            return sqlite3.SQLITE_OK
        what = _ACTION_NAMES.get(action, f"action {action}")
        refused.append(f"{what} {arg1}" if arg1 and action != sqlite3.SQLITE_TRANSACTION else what)
        return sqlite3.SQLITE_DENY

    return check


def run_readonly_sql(store: Store, statement: str, *, max_rows: int | None = None) -> SqlResult:
    """Run one read-only statement; UserError for writes, syntax errors and several statements.

    Args:
        store: A store opened with `readonly=True`.
        statement: One SQL statement (a trailing `;` is fine).
        max_rows: Stop after this many rows (None: all).
    """
    if not store.readonly:
        raise ValueError("devlog sql needs a store opened read-only")
    text = statement.strip()
    if not text:
        raise UserError("sql: empty statement")
    body = text.rstrip().rstrip(";").rstrip()
    if sqlite3.complete_statement(body + ";") and _has_second_statement(body):
        raise UserError("sql: only one statement at a time")
    _connect_virtual_tables(store)
    refused: list[str] = []
    store.db.set_authorizer(_authorizer(refused))
    try:
        cursor = store.db.execute(body)
        rows = cursor.fetchall() if max_rows is None else cursor.fetchmany(max_rows)
        columns = [d[0] for d in cursor.description or ()]
    except sqlite3.DatabaseError as exc:
        if refused:
            raise UserError(f"sql: refused, devlog sql is read-only (not allowed: {refused[0]})") from None
        message = str(exc)
        if "readonly" in message or "read-only" in message or "query_only" in message:
            raise UserError(f"sql: refused, devlog sql is read-only ({message})") from None
        raise UserError(f"sql: {message}") from None
    except sqlite3.Warning as exc:
        raise UserError(f"sql: {exc}") from None
    finally:
        store.db.set_authorizer(None)
    return SqlResult(columns, rows)


def _connect_virtual_tables(store: Store) -> None:
    """Open the FTS5 tables before the authorizer is set.

    FTS5 checks its own schema with internal statements the first time a connection uses a table;
    the authorizer would refuse those although nothing is written (the connection is read-only).
    """
    for (name,) in store.db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'"
    ).fetchall():
        with contextlib.suppress(sqlite3.Error):
            store.db.execute(f'SELECT rowid FROM "{name}" LIMIT 0').fetchall()


def _has_second_statement(body: str) -> bool:
    """True if `body` holds more than one complete statement (semicolons inside strings are fine)."""
    statement = ""
    for char in body:
        statement += char
        if char == ";" and sqlite3.complete_statement(statement):
            return bool(body[len(statement) :].strip())
    return False
