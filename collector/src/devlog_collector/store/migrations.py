"""Versioned, append-only schema migrations of the local store.

Each migration is a function registered in order; its name is recorded in `_migrations` in the same
transaction that applies it, so a crash mid-migration leaves the store at the previous version. A
released migration is never edited: change the schema by appending a new one.

Design notes (why the tables look like this):

* `events.seq` is the insertion order; export cursors are positions in it, so a remote added later
  can start from 0 and backfill exactly what its rules match.
* `events.id` is the deterministic event id (unique; since m060 by a named index that a first
  history load builds at its end): re-reading a file is a no-op.
* Filterable fields are columns (indexed for time, workspace, agent, session and kind); the full
  event (minus `text`, which has its own column for FTS) is kept in `body` as schema-v1 JSON so
  exports reproduce exactly what was parsed.
* `collect_cursors` lives in the same database as `events` so that events and the cursor advance
  commit in one transaction (SQLite in WAL mode is not atomic across attached databases).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Final

__all__ = [
    "ID_INDEX",
    "MIGRATIONS",
    "SECONDARY_INDEXES",
    "id_index_is_named",
    "migrate",
    "migration",
    "pending",
    "rollup_columns",
    "rollup_kinds",
    "run_script",
    "usage_rollup_add_sql",
]

#: The secondary indexes of `events` (name, CREATE statement), exactly as m001 created them. A large
#: history load drops them and builds them again at its end (see `Store.defer_secondary_indexes`); a
#: migration that changes one of them must change it here too (a test compares both).
SECONDARY_INDEXES: tuple[tuple[str, str], ...] = (
    ("events_ts", "CREATE INDEX events_ts ON events (ts)"),
    ("events_workspace_ts", "CREATE INDEX events_workspace_ts ON events (workspace, ts)"),
    ("events_agent_ts", "CREATE INDEX events_agent_ts ON events (agent, ts)"),
    ("events_session_ts", "CREATE INDEX events_session_ts ON events (session_id, ts)"),
    ("events_kind_ts", "CREATE INDEX events_kind_ts ON events (kind, ts)"),
)

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    run_script(
        db,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            ts INTEGER NOT NULL,                 -- epoch milliseconds, UTC
            agent TEXT NOT NULL,
            kind TEXT NOT NULL,
            session_id TEXT NOT NULL,
            workspace TEXT,
            project TEXT,
            model TEXT,
            user TEXT,
            tool_name TEXT,
            file_path TEXT,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            reasoning_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            text TEXT,
            body BLOB NOT NULL,                  -- the event as schema-v1 JSON, without `text`
            collected_at INTEGER NOT NULL        -- epoch milliseconds
        );
        CREATE INDEX events_ts ON events (ts);
        CREATE INDEX events_workspace_ts ON events (workspace, ts);
        CREATE INDEX events_agent_ts ON events (agent, ts);
        CREATE INDEX events_session_ts ON events (session_id, ts);
        CREATE INDEX events_kind_ts ON events (kind, ts);

        CREATE VIRTUAL TABLE events_fts USING fts5 (text, content='events', content_rowid='seq');
        CREATE TRIGGER events_fts_insert AFTER INSERT ON events WHEN new.text IS NOT NULL BEGIN
            INSERT INTO events_fts (rowid, text) VALUES (new.seq, new.text);
        END;
        CREATE TRIGGER events_fts_delete AFTER DELETE ON events WHEN old.text IS NOT NULL BEGIN
            INSERT INTO events_fts (events_fts, rowid, text) VALUES ('delete', old.seq, old.text);
        END;

        CREATE TABLE collect_cursors (
            source TEXT NOT NULL,                -- source name (claude, codex, generic:<name>, ...)
            path TEXT NOT NULL,
            dev INTEGER,
            ino INTEGER,
            size INTEGER,
            mtime_ns INTEGER,
            offset INTEGER NOT NULL DEFAULT 0,   -- just past the last complete line consumed
            head_hash TEXT,                      -- sha256 of the first <=1 KiB: detects replacement
            marker TEXT,                         -- sha256 of the <=64 bytes before offset: detects rewrites
            state BLOB,                          -- source-specific JSON carried between reads
            line_no INTEGER NOT NULL DEFAULT 0,  -- lines consumed (for error positions)
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (source, path)
        );

        CREATE TABLE parse_errors (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            source TEXT NOT NULL,
            path TEXT NOT NULL,
            position TEXT NOT NULL,              -- "line 12", "byte 4096", "key composerData:..."
            message TEXT NOT NULL,
            count INTEGER NOT NULL DEFAULT 1,
            first_seen INTEGER NOT NULL,
            last_seen INTEGER NOT NULL,
            UNIQUE (source, path, position, message)
        );

        CREATE TABLE collect_runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at INTEGER NOT NULL,
            finished_at INTEGER,
            events_added INTEGER NOT NULL DEFAULT 0,
            files_read INTEGER NOT NULL DEFAULT 0
        );

        CREATE TABLE export_cursors (
            remote TEXT PRIMARY KEY,
            last_seq INTEGER NOT NULL DEFAULT 0, -- every event with seq <= last_seq was confirmed
            rules_hash TEXT,                     -- routing rules the cursor was built under
            status TEXT NOT NULL DEFAULT 'pending',
            paused_reason TEXT,
            last_success_at INTEGER,
            last_attempt_at INTEGER,
            last_error TEXT,
            last_error_at INTEGER,
            sent_total INTEGER NOT NULL DEFAULT 0,
            updated_at INTEGER NOT NULL
        );

        CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            remote TEXT NOT NULL,
            event_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            reason TEXT NOT NULL,
            status_code INTEGER,
            created_at INTEGER NOT NULL,
            UNIQUE (remote, event_id)
        );
        """,
    )


def run_script(db: sqlite3.Connection, script: str) -> None:
    """Execute several statements inside the current transaction.

    (`executescript` would COMMIT first, breaking the one-transaction-per-migration rule.)
    """
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in migration: {statement.strip()[:80]}")


def pending(db: sqlite3.Connection) -> list[str]:
    """Names of the migrations this store has not had yet (all of them for a new store)."""
    try:
        done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    except sqlite3.OperationalError:  # no _migrations table: a new store
        done = set()
    return [name for name, _ in MIGRATIONS if name not in done]


def unknown(db: sqlite3.Connection) -> list[str]:
    """Names of migrations this store has had that this devlog does not know (a newer devlog applied
    them; migrations are never renamed or removed, so no older name can be among them)."""
    try:
        done = [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY name")]
    except sqlite3.OperationalError:  # no _migrations table: a new store
        return []
    known = {name for name, _ in MIGRATIONS}
    return [name for name in done if name not in known]


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply pending migrations; returns the names applied."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)")
    done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    applied = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        db.execute("BEGIN IMMEDIATE")
        if db.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone() is not None:
            db.execute("COMMIT")  # another process applied it while this one waited for the lock
            continue
        try:
            fn(db)
            db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, int(time.time() * 1000)))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # (SQLite may have rolled back itself, e.g. on a full disk)
                db.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


@migration
def m020_export_pause_fingerprint(db: sqlite3.Connection) -> None:
    """Exporter: remember the url + api key a remote was paused under (a change of either resumes it)."""
    run_script(
        db,
        """
        ALTER TABLE export_cursors ADD COLUMN paused_fingerprint TEXT;
        CREATE INDEX dead_letters_remote_created ON dead_letters (remote, created_at);
        """,
    )


#: Query: request-size bands of the usage rollup (the tier starts of the genai-prices data when m030 was
#: written). A price list with other tier starts makes `devlog stats` fall back to scanning events.
USAGE_ROLLUP_BANDS = (32000, 100000, 128000, 199999, 200000, 256000, 272000, 512000, 524288)
_ROLLUP_KINDS = (
    ("session_starts", "session_start"),
    ("prompts", "prompt"),
    ("responses", "response"),
    ("tool_calls", "tool_call"),
    ("tool_results", "tool_result"),
    ("file_edits", "file_edit"),
    ("commands", "command"),
    ("errors", "error"),
)
_ROLLUP_TOKENS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "reasoning_tokens")
#: Event columns (m050) that price a model call besides its four token counts, summed in the rollup:
#: the part of `cache_creation_tokens` written to the 1-hour cache, and server-side web searches.
PRICE_EXTRA_COLUMNS = ("cache_creation_1h_tokens", "web_search_requests")


def _rollup_values(row: str) -> tuple[list[str], list[str]]:
    """(key expressions, value expressions) of one event row (`new` or `old`) in the usage rollup."""
    total_input = f"({row}.input_tokens + {row}.cache_creation_tokens + {row}.cache_read_tokens)"
    whens = " ".join(f"WHEN {total_input} <= {b} THEN {i}" for i, b in enumerate(USAGE_ROLLUP_BANDS))
    keys = [
        f"{row}.ts / 900000",
        f"{row}.agent",
        f"coalesce({row}.workspace, '')",
        f"coalesce({row}.project, '')",
        f"{row}.session_id",
        f"coalesce({row}.model, '')",
        f"(CASE {whens} ELSE {len(USAGE_ROLLUP_BANDS)} END)",
        f"({row}.cost_usd IS NOT NULL)",
    ]
    values = ["1", *(f"({row}.kind = '{kind}')" for _, kind in _ROLLUP_KINDS)]
    values.append(
        f"({row}.input_tokens + {row}.output_tokens + {row}.cache_creation_tokens + {row}.cache_read_tokens > 0)"
    )
    values += [f"{row}.{t}" for t in _ROLLUP_TOKENS]
    values.append(f"coalesce({row}.cost_usd, 0)")
    return keys, values


def _rollup_subtract_sql(
    key_columns: list[str], value_columns: list[str], old_keys: list[str], old_values: list[str]
) -> str:
    """The delete/update triggers' statements taking an `old` row out of the rollup (and dropping the
    rollup row it empties)."""
    match_old = " AND ".join(f"{c} = {e}" for c, e in zip(key_columns, old_keys, strict=True))
    return (
        "UPDATE usage_rollup SET "
        + ", ".join(f"{c} = {c} - {v}" for c, v in zip(value_columns, old_values, strict=True))
        + f" WHERE {match_old};\n"
        f"DELETE FROM usage_rollup WHERE {match_old} AND events <= 0;"
    )


@migration
def m030_usage_rollup(db: sqlite3.Connection) -> None:
    """Query: a trigger-maintained rollup of events per 15-minute UTC bucket, plus views for `devlog sql`.

    `devlog stats` must answer over a million events in well under a second; scanning them cannot.
    The rollup holds one row per (15-minute bucket, agent, workspace, project, session, model, price
    band, has recorded cost) with event counts per kind and token sums, kept exact by triggers on
    insert, delete and update of `events` (15 minutes divides every UTC offset in use, so local days
    fold exactly from buckets). '' stands for a missing workspace, project or model.
    """
    counts = [name for name, _ in _ROLLUP_KINDS]
    value_columns = ["events", *counts, "requests", *_ROLLUP_TOKENS, "cost_usd"]
    key_columns = ["bucket", "agent", "workspace", "project", "session_id", "model", "band", "has_cost"]
    new_keys, new_values = _rollup_values("new")
    old_keys, old_values = _rollup_values("old")
    upsert = (
        f"INSERT INTO usage_rollup ({', '.join(key_columns + value_columns)}) "
        f"VALUES ({', '.join(new_keys + new_values)}) ON CONFLICT DO UPDATE SET "
        + ", ".join(f"{c} = {c} + excluded.{c}" for c in value_columns)
        + ";"
    )
    subtract = _rollup_subtract_sql(key_columns, value_columns, old_keys, old_values)
    columns_sql = ",\n".join(
        [f"{c} INTEGER NOT NULL" if c in ("bucket", "band", "has_cost") else f"{c} TEXT NOT NULL" for c in key_columns]
        + [f"{c} {'REAL' if c == 'cost_usd' else 'INTEGER'} NOT NULL" for c in value_columns]
    )
    run_script(
        db,
        f"""
        CREATE TABLE usage_rollup (
            {columns_sql},
            PRIMARY KEY ({", ".join(key_columns)})
        ) WITHOUT ROWID;
        CREATE TRIGGER usage_rollup_insert AFTER INSERT ON events BEGIN
            {upsert}
        END;
        CREATE TRIGGER usage_rollup_delete AFTER DELETE ON events BEGIN
            {subtract}
        END;
        CREATE TRIGGER usage_rollup_update AFTER UPDATE OF
            ts, agent, workspace, project, session_id, model, kind, {", ".join(_ROLLUP_TOKENS)}, cost_usd
        ON events BEGIN
            {subtract}
            {upsert}
        END;
        INSERT INTO usage_rollup ({", ".join(key_columns + value_columns)})
            SELECT {", ".join(k.replace("new.", "") for k in new_keys)},
                   {", ".join(f"sum({v.replace('new.', '')})" for v in new_values)}
            FROM events GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

        CREATE VIEW v_events AS
            SELECT seq, id, strftime('%Y-%m-%dT%H:%M:%fZ', ts / 1000.0, 'unixepoch') AS time, ts, agent, kind,
                   session_id, workspace, project, model, user, tool_name, file_path, input_tokens, output_tokens,
                   cache_creation_tokens, cache_read_tokens, reasoning_tokens,
                   input_tokens + output_tokens + cache_creation_tokens + cache_read_tokens AS total_tokens,
                   cost_usd, text, json(body) AS body
            FROM events;
        CREATE VIEW v_sessions AS
            SELECT session_id, min(agent) AS agent, min(workspace) AS workspace, min(project) AS project,
                   strftime('%Y-%m-%dT%H:%M:%fZ', min(ts) / 1000.0, 'unixepoch') AS started,
                   strftime('%Y-%m-%dT%H:%M:%fZ', max(ts) / 1000.0, 'unixepoch') AS ended,
                   (max(ts) - min(ts)) / 1000.0 AS duration_s, count(*) AS events,
                   sum(kind = 'prompt') AS prompts, sum(kind = 'tool_call') AS tool_calls,
                   sum(kind = 'file_edit') AS file_edits,
                   sum(input_tokens + output_tokens + cache_creation_tokens + cache_read_tokens) AS total_tokens,
                   sum(cost_usd) AS recorded_cost_usd
            FROM events GROUP BY session_id;
        """,
    )
    db.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('usage_rollup_bands', ?)",
        (",".join(str(b) for b in USAGE_ROLLUP_BANDS),),
    )


@migration
def m011_deferred_search_index(db: sqlite3.Connection) -> None:
    """Collector: fill the full-text index behind the events, up to a watermark, instead of by trigger.

    Tokenising `text` in an insert trigger was about half the cost of storing an event, so history
    loads now leave it to `Store.update_search_index()` (run in the background by `devlog start` and
    before every `--search`). The meta key `fts_indexed_seq` is the watermark: every event with
    `seq` <= it is in `events_fts`, none above it. The delete trigger removes only indexed rows (an
    FTS5 'delete' of a row that was never indexed would corrupt an external-content index). A store
    created by m001 had every row indexed by the old trigger, so its watermark starts at max(seq).
    """
    run_script(
        db,
        """
        DROP TRIGGER events_fts_insert;
        DROP TRIGGER events_fts_delete;
        CREATE TRIGGER events_fts_delete AFTER DELETE ON events
        WHEN old.text IS NOT NULL
            AND old.seq <= (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'fts_indexed_seq')
        BEGIN
            INSERT INTO events_fts (events_fts, rowid, text) VALUES ('delete', old.seq, old.text);
        END;
        INSERT OR REPLACE INTO meta (key, value) SELECT 'fts_indexed_seq', coalesce(max(seq), 0) FROM events;
        """,
    )


def _rollup_columns() -> tuple[list[str], list[str]]:
    """(key columns, value columns) of `usage_rollup`, as m030 created it."""
    key_columns = ["bucket", "agent", "workspace", "project", "session_id", "model", "band", "has_cost"]
    value_columns = ["events", *(name for name, _ in _ROLLUP_KINDS), "requests", *_ROLLUP_TOKENS, "cost_usd"]
    return key_columns, value_columns


def _rollup_columns_v2() -> tuple[list[str], list[str]]:
    """(key columns, value columns) of `usage_rollup` from m050 on (two more sums)."""
    key_columns, value_columns = _rollup_columns()
    return key_columns, [*value_columns, *PRICE_EXTRA_COLUMNS]


def _rollup_values_v2(row: str) -> tuple[list[str], list[str]]:
    """m050's (key expressions, value expressions): `has_cost` becomes the price mode (0 priced from
    tokens, 1 the event's recorded cost, 2 priced from tokens at the fast-mode rate), and the 1-hour
    cache writes and web searches are summed."""
    keys, values = _rollup_values(row)
    keys[-1] = f"(CASE WHEN {row}.cost_usd IS NOT NULL THEN 1 WHEN {row}.fast THEN 2 ELSE 0 END)"
    return keys, [*values, *(f"{row}.{c}" for c in PRICE_EXTRA_COLUMNS)]


def _rollup_upsert_sql(row: str) -> str:
    key_columns, value_columns = _rollup_columns_v2()
    keys, values = _rollup_values_v2(row)
    return (
        f"INSERT INTO usage_rollup ({', '.join(key_columns + value_columns)}) "
        f"VALUES ({', '.join(keys + values)}) ON CONFLICT DO UPDATE SET "
        + ", ".join(f"{c} = {c} + excluded.{c}" for c in value_columns)
        + ";"
    )


def usage_rollup_insert_trigger_sql() -> str:
    """The current (m050) per-row insert trigger of the rollup, as that migration wrote it.

    The store compares the trigger it finds with this before it maintains the rollup per batch, so a
    later migration that changes the trigger turns batching off instead of double counting.
    """
    return f"CREATE TRIGGER usage_rollup_insert AFTER INSERT ON events BEGIN {_rollup_upsert_sql('new')} END"


def rollup_columns() -> tuple[list[str], list[str]]:
    """(key columns, value columns) of the current `usage_rollup` (m050), in the table's order."""
    return _rollup_columns_v2()


def rollup_kinds() -> list[str]:
    """The event kinds the rollup counts, in the order of their value columns (after `events`)."""
    return [kind for _, kind in _ROLLUP_KINDS]


def usage_rollup_add_sql() -> str:
    """Add one rollup row worked out elsewhere (`rollup_columns()` order, one parameter each)."""
    key_columns, value_columns = _rollup_columns_v2()
    return (
        f"INSERT INTO usage_rollup ({', '.join(key_columns + value_columns)}) "
        f"VALUES ({', '.join('?' * (len(key_columns) + len(value_columns)))}) "
        "ON CONFLICT DO UPDATE SET " + ", ".join(f"{c} = {c} + excluded.{c}" for c in value_columns)
    )


def usage_rollup_batch_sql() -> str:
    """The rollup rows of every event with `seq > ?` (one parameter), grouped and upserted.

    The same key and value expressions as the per-row trigger (m050), summed per key: a batch of
    thousands of events from one session becomes a few dozen upserts instead of one per event.
    """
    key_columns, value_columns = _rollup_columns_v2()
    keys, values = _rollup_values_v2("e")
    return (
        f"INSERT INTO usage_rollup ({', '.join(key_columns + value_columns)}) "
        f"SELECT {', '.join(keys)}, {', '.join(f'sum({v})' for v in values)} FROM events AS e WHERE e.seq > ? "
        f"GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))} "
        "ON CONFLICT DO UPDATE SET " + ", ".join(f"{c} = {c} + excluded.{c}" for c in value_columns)
    )


#: The primary key of `usage_rollup` from m040 on: model, band and has_cost first, then the bucket.
ROLLUP_KEY_ORDER: tuple[str, ...] = (
    "model",
    "band",
    "has_cost",
    "bucket",
    "agent",
    "workspace",
    "project",
    "session_id",
)


@migration
def m040_usage_rollup_model_first(db: sqlite3.Connection) -> None:
    """Query: order the rollup by (model, price band, has cost, bucket, ...) instead of bucket first.

    `devlog stats` prices each (model, band) group per time window. With the bucket first, one scan had
    to sort every rollup row of the range by six keys, carrying all sixteen sums in each sort record;
    with this order it runs one grouped scan per (model, band, has_cost) combination over one range of
    adjacent rows, sorting by day and key only. The triggers that maintain the table are kept exactly
    as they are (their SQL is read back and re-run around the rebuild).
    """
    triggers = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events' "
        "AND sql LIKE '%usage_rollup%' ORDER BY name"
    ).fetchall()
    for name, _ in triggers:
        db.execute(f'DROP TRIGGER "{name}"')
    key_columns, value_columns = _rollup_columns()
    columns = [
        f"{c} INTEGER NOT NULL" if c in ("bucket", "band", "has_cost") else f"{c} TEXT NOT NULL" for c in key_columns
    ]
    columns += [f"{c} {'REAL' if c == 'cost_usd' else 'INTEGER'} NOT NULL" for c in value_columns]
    names = ", ".join(key_columns + value_columns)
    run_script(
        db,
        f"""
        CREATE TABLE usage_rollup_reordered (
            {", ".join(columns)},
            PRIMARY KEY ({", ".join(ROLLUP_KEY_ORDER)})
        ) WITHOUT ROWID;
        INSERT INTO usage_rollup_reordered ({names}) SELECT {names} FROM usage_rollup;
        DROP TABLE usage_rollup;
        ALTER TABLE usage_rollup_reordered RENAME TO usage_rollup;
        """,
    )
    for _, sql in triggers:
        db.execute(sql)


@migration
def m050_price_extras(db: sqlite3.Connection) -> None:
    """Query: price 1-hour cache writes, web searches and Claude's fast mode, in stats as in exports.

    Claude Code records which cache writes went to the 1-hour cache (priced higher than 5-minute
    writes), how many server-side web searches a response made (priced per search), and
    `speed: "fast"` (a multiple of the standard price). Until now they lived only in `body.attrs` and
    the stats priced every cache write at the 5-minute rate, no search, and fast mode at the standard
    rate. They become columns (filled from `attrs` for stored rows; web searches were not recorded
    before, so older rows have none until re-collected), the rollup sums the first two, and its
    `has_cost` key becomes the price mode (2: priced at the fast rate), so `devlog stats` prices them
    exactly from the rollup. The rollup is rebuilt once, from `events`.
    """
    triggers = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events' AND sql LIKE '%usage_rollup%'"
    ).fetchall()
    for (name,) in triggers:
        db.execute(f'DROP TRIGGER "{name}"')
    key_columns, value_columns = _rollup_columns_v2()
    new_keys, new_values = _rollup_values_v2("new")
    old_keys, old_values = _rollup_values_v2("old")
    subtract = _rollup_subtract_sql(key_columns, value_columns, old_keys, old_values)
    usage = "input_tokens + output_tokens + cache_creation_tokens + cache_read_tokens > 0"
    run_script(
        db,
        f"""
        ALTER TABLE events ADD COLUMN cache_creation_1h_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE events ADD COLUMN web_search_requests INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE events ADD COLUMN fast INTEGER NOT NULL DEFAULT 0;
        UPDATE events SET
            cache_creation_1h_tokens = min(cache_creation_tokens, max(0,
                coalesce(CAST(json_extract(CAST(body AS TEXT), '$.attrs.cache_creation_1h_tokens') AS INTEGER), 0))),
            web_search_requests = max(0,
                coalesce(CAST(json_extract(CAST(body AS TEXT), '$.attrs.web_search_requests') AS INTEGER), 0)),
            fast = coalesce(json_extract(CAST(body AS TEXT), '$.attrs.speed') = 'fast', 0)
        WHERE {usage};
        ALTER TABLE usage_rollup ADD COLUMN cache_creation_1h_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE usage_rollup ADD COLUMN web_search_requests INTEGER NOT NULL DEFAULT 0;
        DELETE FROM usage_rollup;
        INSERT INTO usage_rollup ({", ".join(key_columns + value_columns)})
            SELECT {", ".join(k.replace("new.", "") for k in new_keys)},
                   {", ".join(f"sum({v.replace('new.', '')})" for v in new_values)}
            FROM events GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
        {usage_rollup_insert_trigger_sql()};
        CREATE TRIGGER usage_rollup_delete AFTER DELETE ON events BEGIN
            {subtract}
        END;
        CREATE TRIGGER usage_rollup_update AFTER UPDATE OF
            ts, agent, workspace, project, session_id, model, kind, {", ".join(_ROLLUP_TOKENS)}, cost_usd,
            {", ".join(PRICE_EXTRA_COLUMNS)}, fast
        ON events BEGIN
            {subtract}
            {_rollup_upsert_sql("new")}
        END;
        """,
    )


#: The event-id index of stores created since m060 (a named index instead of the column's UNIQUE
#: constraint): a first history load drops it and deduplicates in memory (`Store.begin_bulk_load`).
ID_INDEX: Final = ("events_id", "CREATE UNIQUE INDEX events_id ON events (id)")
_ID_COLUMN_UNIQUE: Final = "id TEXT NOT NULL UNIQUE,"


@migration
def m060_droppable_id_index(db: sqlite3.Connection) -> None:
    """Collect: make the event-id uniqueness a named index that a first history load can build last.

    The UNIQUE constraint of m001's `id` column is kept by an automatic index that cannot be dropped.
    A history load inserts ~140,000 random UUIDs per 150 MB; keeping their index current rewrites its
    pages on every commit (about a third of what SQLite spends storing an event). With a named unique
    index the first load drops it, deduplicates against the ids it has stored so far, and builds it
    once at its end. The table has to be rebuilt for that, so only an empty `events` table is: a
    store that holds events has had its first load, and rebuilding a large table at an upgrade would
    cost more than it saves. Such stores keep the constraint; `Store` asks which kind it has.
    Everything attached to `events` (indexes, triggers, views) is re-created from its own stored
    SQL, and the AUTOINCREMENT counter is kept (export cursors are positions in `seq`).
    """
    if db.execute("SELECT 1 FROM events LIMIT 1").fetchone() is not None:
        return
    (table_sql,) = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone()
    if table_sql.count(_ID_COLUMN_UNIQUE) != 1:
        return  # not m001's column definition: leave an unknown schema as it is
    attached = db.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND ("
        "(tbl_name = 'events' AND type IN ('index', 'trigger')) OR type = 'view') ORDER BY type = 'view', rowid"
    ).fetchall()
    counter = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    for kind, name, _ in reversed(attached):
        if kind == "view":
            db.execute(f'DROP VIEW "{name}"')
    db.execute("DROP TABLE events")  # (its indexes and triggers go with it)
    db.execute(table_sql.replace(_ID_COLUMN_UNIQUE, "id TEXT NOT NULL,", 1))
    db.execute(ID_INDEX[1])
    for _, _, sql in attached:
        db.execute(sql)
    if counter is not None:
        db.execute("DELETE FROM sqlite_sequence WHERE name = 'events'")
        db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?)", counter)


def id_index_is_named(db: sqlite3.Connection) -> bool:
    """Whether this store keeps its event ids unique by m060's named index (not m001's constraint)."""
    row = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone()
    return row is not None and _ID_COLUMN_UNIQUE not in row[0]


@migration
def m070_v_events_every_column(db: sqlite3.Connection) -> None:
    """Query: `v_events` shows every column of `events` (m001's view predates `collected_at`'s use in
    queries and m050's price columns), `collected_at` also as ISO 8601 text (`collected_time`)."""
    run_script(
        db,
        """
        DROP VIEW IF EXISTS v_events;
        CREATE VIEW v_events AS
            SELECT seq, id, strftime('%Y-%m-%dT%H:%M:%fZ', ts / 1000.0, 'unixepoch') AS time, ts, agent, kind,
                   session_id, workspace, project, model, user, tool_name, file_path, input_tokens, output_tokens,
                   cache_creation_tokens, cache_read_tokens, reasoning_tokens,
                   input_tokens + output_tokens + cache_creation_tokens + cache_read_tokens AS total_tokens,
                   cost_usd, text, json(body) AS body, collected_at,
                   strftime('%Y-%m-%dT%H:%M:%fZ', collected_at / 1000.0, 'unixepoch') AS collected_time,
                   cache_creation_1h_tokens, web_search_requests, fast
            FROM events;
        """,
    )
