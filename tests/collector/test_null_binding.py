"""The store's identity adapters: NULLs and blobs bind as before, without the failing adaptation search."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import devlog_collector.store  # noqa: F401 - registers the adapters on import
from devlog_collector.store.null_binding import register_identity_adapters


def test_the_store_registers_identity_adapters_for_none_and_bytes() -> None:
    assert (type(None), sqlite3.PrepareProtocol) in sqlite3.adapters
    assert (bytes, sqlite3.PrepareProtocol) in sqlite3.adapters


def test_none_and_bytes_are_stored_as_null_and_blob(tmp_path: Path) -> None:
    register_identity_adapters()
    db = sqlite3.connect(tmp_path / "t.db")
    db.execute("CREATE TABLE t (a, b, c)")
    blob = b"\x00\xff body"
    db.executemany("INSERT INTO t VALUES (?, ?, ?)", [(None, blob, "x"), (1, None, b"")])
    rows = db.execute("SELECT typeof(a), typeof(b), typeof(c), a, b, c FROM t ORDER BY rowid").fetchall()
    assert rows == [("null", "blob", "text", None, blob, "x"), ("integer", "null", "blob", 1, None, b"")]


def test_the_adapters_hand_back_the_same_object() -> None:
    blob = b"abc" * 100
    assert sqlite3.adapters[(bytes, sqlite3.PrepareProtocol)](blob) is blob
    assert sqlite3.adapters[(type(None), sqlite3.PrepareProtocol)](None) is None
