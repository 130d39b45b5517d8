"""`devlog sql`: read-only SQL over the local store, for everything the filters do not cover.

Read-only is enforced three times over: the store is opened `mode=ro` with `PRAGMA query_only`
(`Store.open(readonly=True)`), and an SQLite authorizer refuses every action that is not a read
(insert, update, delete, create, drop, alter, attach, detach, transactions, writing pragmas, ...)
while the statement is compiled, so even a statement SQLite would otherwise accept is refused
before it runs. One statement per call.
"""

from __future__ import annotations

import contextlib
import re
import signal
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any, Final

from devlog_collector.errors import StoreError, UserError, store_failure
from devlog_collector.store import Store

__all__ = ["READ_PRAGMAS", "SqlResult", "run_readonly_sql"]

#: Pragmas that only report something and are allowed without an argument (with one, most set a value).
READ_PRAGMAS: Final = frozenset({
    "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list", "database_list",
    "collation_list", "function_list", "module_list", "pragma_list", "compile_options", "page_count", "page_size",
    "freelist_count", "user_version", "schema_version", "data_version", "encoding", "journal_mode",
    "integrity_check", "quick_check", "foreign_key_check", "table_list", "foreign_keys", "cache_size",
    "busy_timeout", "synchronous", "application_id", "auto_vacuum", "mmap_size", "query_only", "temp_store",
    "wal_autocheckpoint", "journal_size_limit", "max_page_count", "secure_delete", "automatic_index",
    "recursive_triggers", "cache_spill", "locking_mode", "threads", "soft_heap_limit", "hard_heap_limit",
})  # fmt: skip

#: Pragmas whose argument names a table, an index or a row limit (they never write).
_ARGUMENT_PRAGMAS: Final = frozenset({"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo",
                                      "foreign_key_list", "integrity_check", "quick_check", "foreign_key_check",
                                      "table_list"})  # fmt: skip
#: Virtual-machine steps between two checks for Ctrl-C while a statement runs.
_INTERRUPT_CHECK_STEPS: Final = 20_000
_PRAGMA_FUNCTION: Final = re.compile(r"\bpragma_(\w+)", re.IGNORECASE)
_COMMENTS: Final = re.compile(r"\s*(?:--[^\n]*(?:\n|$)|/\*.*?(?:\*/|$))", re.DOTALL)
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
    _connect_virtual_tables(store, body)
    refused: list[str] = []
    store.db.set_authorizer(_authorizer(refused))
    try:
        with _interruptible(store.db) as interrupted:
            try:
                cursor = store.db.execute(body)
                rows = cursor.fetchall() if max_rows is None else cursor.fetchmany(max_rows)
                columns = [d[0] for d in cursor.description or ()]
            except sqlite3.OperationalError:
                if interrupted.is_set():
                    raise KeyboardInterrupt from None
                raise
    except sqlite3.DatabaseError as exc:
        if refused:
            raise UserError(
                f"sql: refused, devlog sql is read-only (not allowed: {_refusal(refused[0], body)})"
            ) from None
        message = str(exc)
        if "readonly" in message or "read-only" in message or "query_only" in message:
            raise UserError(f"sql: refused, devlog sql is read-only ({message})") from None
        damaged = store_failure(f"sql: {message}", exc)
        if damaged != f"sql: {message}":  # the store, not the statement: not a usage error (exit 1)
            raise StoreError(damaged) from None
        raise UserError(f"sql: {message}") from None
    except sqlite3.Warning as exc:
        raise UserError(f"sql: {exc}") from None
    finally:
        store.db.set_authorizer(None)
    return SqlResult(_unique(columns), rows)


@contextlib.contextmanager
def _interruptible(db: sqlite3.Connection) -> Iterator[threading.Event]:
    """Let Ctrl-C stop a long statement (a runaway recursive CTE, say).

    SQLite runs a statement inside one C call, where Python's own SIGINT handling cannot reach it;
    a progress handler polls a flag the SIGINT handler sets, and SQLite then stops the statement.
    """
    interrupted = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, lambda _signum, _frame: interrupted.set())
    db.set_progress_handler(lambda: 1 if interrupted.is_set() else 0, _INTERRUPT_CHECK_STEPS)
    try:
        yield interrupted
    finally:
        db.set_progress_handler(None, 0)
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _refusal(detail: str, statement: str) -> str:
    """What to name in a refusal: the statement's own words when SQLite's first refused action is
    internal bookkeeping (`DROP TABLE` is refused at `delete sqlite_master`, `VACUUM` at `attach`)."""
    words = statement.lower().split()
    keyword = words[0] if words else ""
    if "sqlite_" in detail or keyword == "vacuum":
        return " ".join(words[:2] if keyword in ("drop", "create", "alter") else words[:1])
    return detail


def _unique(columns: list[str]) -> list[str]:
    """Column names made unique (`SELECT 1 AS a, 2 AS a` -> a, a_2): json and csv keep every column."""
    seen: set[str] = set()
    result = []
    for name in columns:
        candidate, n = name, 1
        while candidate in seen:
            n += 1
            candidate = f"{name}_{n}"
        seen.add(candidate)
        result.append(candidate)
    return result


def _connect_virtual_tables(store: Store, statement: str) -> None:
    """Open the FTS5 tables, and the read pragmas' table-valued functions the statement names
    (`pragma_table_info('events')`), before the authorizer is set.

    FTS5 checks its own schema with internal statements the first time a connection uses a table,
    and a pragma's eponymous table is added to the connection's schema on first use; the authorizer
    would refuse those although nothing is written (the connection is read-only). SQLite only offers
    table-valued functions for pragmas that have no side effects, and only READ_PRAGMAS are opened.
    """
    for name in {m.lower() for m in _PRAGMA_FUNCTION.findall(statement)} & READ_PRAGMAS:
        with contextlib.suppress(sqlite3.Error):
            store.db.execute(f'SELECT * FROM "pragma_{name}" LIMIT 0').fetchall()
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
            return bool(_COMMENTS.sub("", body[len(statement) :]).strip())  # a trailing comment is fine
    return False
