"""`devlog sql`: reads work (tables and documented views); anything that writes is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from devlog_collector.errors import UserError
from devlog_collector.query.sql import run_readonly_sql
from devlog_collector.store import Store
from tests.collector.query.helpers import ev, store_with


@pytest.fixture
def ro(tmp_path: Path) -> Store:
    path = tmp_path / "events.db"
    store_with(
        path,
        [
            ev("2026-03-01T10:00:00", "prompt", text="hi; there", ident="a"),
            ev("2026-03-01T10:05:00", model="gpt-5", usage=(1, 2, 3, 4), ident="b"),
        ],
    ).close()
    store = Store.open(path, readonly=True)
    yield store
    store.close()


def test_select_and_views(ro: Store) -> None:
    result = run_readonly_sql(ro, "SELECT id, kind FROM events ORDER BY seq;")
    assert result.columns == ["id", "kind"] and result.rows == [("a", "prompt"), ("b", "response")]
    v = run_readonly_sql(ro, "SELECT time, total_tokens FROM v_events WHERE id = 'b'")
    assert v.rows == [("2026-03-01T10:05:00.000Z", 10)]
    columns = {row[0] for row in run_readonly_sql(ro, "SELECT name FROM pragma_table_info('events')").rows}
    view = {row[0] for row in run_readonly_sql(ro, "SELECT name FROM pragma_table_info('v_events')").rows}
    assert view == columns | {"time", "collected_time", "total_tokens"}  # every column (query.md says so)
    collected = run_readonly_sql(ro, "SELECT collected_at, collected_time FROM v_events WHERE id = 'b'").rows[0]
    assert collected[1].startswith(datetime.fromtimestamp(collected[0] / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S."))
    s = run_readonly_sql(ro, "SELECT session_id, events, prompts, total_tokens, duration_s FROM v_sessions")
    assert s.rows == [("sess-a", 2, 1, 10, 300.0)]
    assert run_readonly_sql(ro, "SELECT id FROM events WHERE text = 'hi; there'").rows == [("a",)]
    fts = run_readonly_sql(ro, "SELECT rowid FROM events_fts WHERE events_fts MATCH 'there'")
    assert len(fts.rows) == 1
    assert run_readonly_sql(
        ro, "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3) SELECT sum(x) FROM n"
    ).rows == [(6,)]
    assert run_readonly_sql(ro, "PRAGMA table_info(events)").rows
    # The read pragmas' table-valued functions too (their first use adds a table to the schema).
    columns = run_readonly_sql(ro, "SELECT name FROM pragma_table_info('events') WHERE name = 'kind'")
    assert columns.rows == [("kind",)]
    assert run_readonly_sql(ro, "select * from PRAGMA_USER_VERSION").rows == [(0,)]
    assert ("events_ts",) in run_readonly_sql(ro, "SELECT name FROM pragma_index_list('events')").rows
    assert run_readonly_sql(ro, "SELECT * FROM events", max_rows=1).rows.__len__() == 1


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO meta (key, value) VALUES ('x', 'y')",
        "UPDATE events SET kind = 'error'",
        "DELETE FROM events",
        "DROP TABLE events",
        "DROP VIEW v_events",
        "CREATE TABLE t (x)",
        "CREATE TEMP TABLE t (x)",
        "ALTER TABLE events ADD COLUMN x",
        "ATTACH DATABASE '/tmp/other.db' AS other",
        "PRAGMA query_only = OFF",
        "PRAGMA user_version = 5",
        "PRAGMA journal_mode = DELETE",
        "BEGIN",
        "VACUUM",
        "REPLACE INTO meta (key, value) VALUES ('x', 'y')",
        "INSERT INTO events_fts (events_fts) VALUES ('delete-all')",
        "SELECT load_extension('x')",
    ],
)
def test_writes_are_refused(ro: Store, statement: str) -> None:
    with pytest.raises(UserError) as info:
        run_readonly_sql(ro, statement)
    message = str(info.value)
    assert message.startswith("sql: ") and "\n" not in message
    assert "read-only" in message or "not authorized" in message
    assert run_readonly_sql(ro, "SELECT count(*) FROM events").rows == [(2,)]


@pytest.mark.parametrize(
    "statement", ["SELECT * FROM pragma_user_version(5)", "SELECT * FROM pragma_journal_mode('delete')"]
)
def test_a_pragma_function_never_sets_a_value(ro: Store, statement: str) -> None:
    with pytest.raises(UserError, match=r"^sql: "):
        run_readonly_sql(ro, statement)
    assert run_readonly_sql(ro, "PRAGMA user_version").rows == [(0,)]
    assert run_readonly_sql(ro, "PRAGMA journal_mode").rows == [("wal",)]


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("SELECT 1; DELETE FROM events", "only one statement at a time"),
        ("SELEC 1", 'sql: near "SELEC": syntax error'),
        ("SELECT nope FROM events", "sql: no such column: nope"),
        ("   ", "sql: empty statement"),
    ],
)
def test_bad_sql_is_one_clear_line(ro: Store, statement: str, message: str) -> None:
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        run_readonly_sql(ro, statement)


def test_needs_a_readonly_store(tmp_path: Path) -> None:
    with Store.open(tmp_path / "rw.db") as rw, pytest.raises(ValueError, match="read-only"):
        run_readonly_sql(rw, "SELECT 1")
