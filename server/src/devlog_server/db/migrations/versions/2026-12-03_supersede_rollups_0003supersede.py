"""supersede: delete triggers that take removed events back out of the dashboard rollups

Ingest now replaces a stored event when a newer copy of it arrives (same id, different body, a
token total at least as large): the old row is deleted and the new one inserted in one transaction.
The insert trigger of `0002dashboard` adds the new copy; these triggers subtract the old one, so
`dashboard_rollups` stays equal to a grouping of `events` (the same holds for any other DELETE,
e.g. retention). Postgres: a statement-level trigger with a transition table, one grouped upsert of
negated sums per DELETE, rows in key order like the insert trigger (so concurrent batches lock
rollup rows in the same order), then one statement for emptied rows and edges; SQLite: a row
trigger. A rollup row whose `events` count drops to 0 is deleted (only the keys the DELETE touched
are looked at).

`first_ts`/`last_ts` cannot be narrowed by subtraction, so they are recomputed from `events` for an
affected key, and only when a deleted event was on its edge (its ts <= `first_ts` or >= `last_ts`)
while events remain: a MIN/MAX over one session-day through the `(session_id, ts)` index. A
superseding copy usually has the same ts, so the insert trigger that follows puts the edge back.
Recomputing is cheap next to ingest, and without it a session moved to another workspace (or a
corrected timestamp) would leave the old row's time span too wide for good.

The SQL of the counters repeats `0002dashboard` on purpose: a migration must keep meaning what it
meant when it shipped, and the subtraction must mirror that insert exactly to cancel it.

Revision ID: 0003supersede
Revises: 0002dashboard
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op


revision: str = '0003supersede'
down_revision: str | None = '0002dashboard'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FAILURES = "('error', 'errored', 'failed', 'failure', 'cancelled', 'canceled', 'rejected', 'denied', 'timeout')"
_GRAIN_COLUMNS = ("day", "session_id", "kind", "agent", "workspace", "model", "user_name", "project", "tool_name")
_GRAIN = ", ".join(_GRAIN_COLUMNS)
_COUNTERS = (
    "events", "failures", "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
    "reasoning_tokens", "cost_usd", "lines_added", "lines_removed",
)
_COLUMNS = f"{_GRAIN}, {', '.join(_COUNTERS)}, first_ts, last_ts"


def _pg_keys(e: str) -> str:
    """The rollup key of an event row `e` (Postgres), as the insert trigger computes it."""
    return (
        f"to_char({e}.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD'), {e}.session_id, {e}.kind, {e}.agent, "
        f"COALESCE({e}.workspace, ''), COALESCE({e}.model, ''), COALESCE({e}.user_name, ''), "
        f"COALESCE({e}.project, ''), COALESCE({e}.tool_name, '')"
    )


def _same_key(a: str, b: str) -> str:
    """Rows `a` and `b` have the same rollup key."""
    return " AND ".join(f"{a}.{c} = {b}.{c}" for c in _GRAIN_COLUMNS)


def _pg_negated_select(source: str) -> str:
    """Grouped rollup rows of the events in `source` with every counter negated (Postgres); the
    expressions are those of the `0002dashboard` insert trigger."""

    def lines(field: str) -> str:
        value = f"p.j #> '{{file,{field}}}'"
        return (
            f"-COALESCE(SUM(CASE WHEN e.kind = 'file_edit' AND jsonb_typeof({value}) = 'number' "
            f"THEN CAST(LEAST(GREATEST(CAST({value} AS numeric), 0), 1000000000000) AS bigint) ELSE 0 END), 0)"
        )

    return f"""
      SELECT {_pg_keys('e')},
             -COUNT(*),
             -SUM(CASE WHEN e.kind IN ('tool_call', 'tool_result')
                       AND lower(p.j #>> '{{tool,status}}') IN {_FAILURES} THEN 1 ELSE 0 END),
             -SUM(e.input_tokens), -SUM(e.output_tokens), -SUM(e.cache_creation_tokens), -SUM(e.cache_read_tokens),
             -SUM(e.reasoning_tokens), -COALESCE(SUM(e.cost_usd), 0), {lines('lines_added')}, {lines('lines_removed')},
             MIN(e.ts), MAX(e.ts)
      FROM {source} AS e
      CROSS JOIN LATERAL (
        SELECT CASE WHEN e.kind IN ('tool_call', 'tool_result', 'file_edit') THEN CAST(e.body AS jsonb) END AS j
      ) AS p
      GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
      ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9"""


def _pg_edge(aggregate: str) -> str:
    """MIN or MAX(ts) of the events still stored under rollup row `r`: one session-day of the
    `(session_id, ts)` index, the other key columns as a filter."""
    return f"""(
          SELECT {aggregate}(e.ts) FROM events AS e
          WHERE e.session_id = r.session_id
            AND e.ts >= CAST(r.day AS timestamp) AT TIME ZONE 'UTC'
            AND e.ts < (CAST(r.day AS timestamp) + interval '1 day') AT TIME ZONE 'UTC'
            AND e.kind = r.kind AND e.agent = r.agent AND COALESCE(e.workspace, '') = r.workspace
            AND COALESCE(e.model, '') = r.model AND COALESCE(e.user_name, '') = r.user_name
            AND COALESCE(e.project, '') = r.project AND COALESCE(e.tool_name, '') = r.tool_name)"""


def _pg_upgrade() -> None:
    # 1. Subtract: `excluded` holds the negated sums of the deleted events of one key. A key missing
    #    from the rollup (impossible short of manual edits) gets a row with a negative count, which
    #    step 2 removes at once. This upsert also locks the affected rollup rows, in key order.
    # 2. Then, in a NEW statement (so its snapshot is taken after those locks were granted, and sees
    #    every transaction that changed these keys before): remove the emptied rows and recompute
    #    first/last ts where a deleted event was on the edge. A transaction still changing these keys
    #    must lock the same rows after this one commits, and then widens (insert trigger) or
    #    recomputes (this trigger) with this one's changes visible; recomputing inside the upsert
    #    would read a snapshot from before its lock wait and could keep a concurrently deleted edge.
    counters = ", ".join(f"{c} = r.{c} + excluded.{c}" for c in _COUNTERS)
    op.execute(f"""
      CREATE FUNCTION dashboard_unrollup_events() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        INSERT INTO dashboard_rollups AS r ({_COLUMNS}) {_pg_negated_select('old_events')}
        ON CONFLICT ({_GRAIN}) DO UPDATE SET {counters};
        WITH d ({_GRAIN}, first_ts, last_ts) AS (
          SELECT {_pg_keys('o')}, MIN(o.ts), MAX(o.ts) FROM old_events AS o GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
        ), emptied AS (
          DELETE FROM dashboard_rollups AS x USING d WHERE {_same_key('x', 'd')} AND x.events <= 0
        )
        UPDATE dashboard_rollups AS r
        SET first_ts = CASE WHEN r.first_ts < d.first_ts THEN r.first_ts
                            ELSE COALESCE({_pg_edge('MIN')}, r.first_ts) END,
            last_ts = CASE WHEN r.last_ts > d.last_ts THEN r.last_ts
                           ELSE COALESCE({_pg_edge('MAX')}, r.last_ts) END
        FROM d
        WHERE {_same_key('r', 'd')} AND r.events > 0 AND (r.first_ts >= d.first_ts OR r.last_ts <= d.last_ts);
        RETURN NULL;
      END
      $fn$""")
    op.execute(
        "CREATE TRIGGER events_dashboard_unrollup AFTER DELETE ON events REFERENCING OLD TABLE AS old_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION dashboard_unrollup_events()"
    )


def _sqlite_lines(field: str) -> str:
    value = f"json_extract(OLD.body, '$.file.{field}')"
    return f"CASE WHEN OLD.kind = 'file_edit' AND typeof({value}) = 'integer' THEN {value} ELSE 0 END"


def _sqlite_edge(aggregate: str) -> str:
    """MIN or MAX(ts) of the events still stored under OLD's rollup key: one session-day of the
    `(session_id, ts)` index (SQLite stores ts as text starting with the UTC day, as the insert
    trigger's `substr(ts, 1, 10)` relies on)."""
    return f"""(
          SELECT {aggregate}(e.ts) FROM events AS e
          WHERE e.session_id = OLD.session_id
            AND e.ts >= substr(OLD.ts, 1, 10) AND e.ts < date(substr(OLD.ts, 1, 10), '+1 day')
            AND e.kind = OLD.kind AND e.agent = OLD.agent
            AND COALESCE(e.workspace, '') = COALESCE(OLD.workspace, '')
            AND COALESCE(e.model, '') = COALESCE(OLD.model, '')
            AND COALESCE(e.user_name, '') = COALESCE(OLD.user_name, '')
            AND COALESCE(e.project, '') = COALESCE(OLD.project, '')
            AND COALESCE(e.tool_name, '') = COALESCE(OLD.tool_name, ''))"""


def _sqlite_upgrade() -> None:
    failed = (
        f"CASE WHEN OLD.kind IN ('tool_call', 'tool_result') "
        f"AND lower(json_extract(OLD.body, '$.tool.status')) IN {_FAILURES} THEN 1 ELSE 0 END"
    )
    key = (
        "day = substr(OLD.ts, 1, 10) AND session_id = OLD.session_id AND kind = OLD.kind AND agent = OLD.agent "
        "AND workspace = COALESCE(OLD.workspace, '') AND model = COALESCE(OLD.model, '') "
        "AND user_name = COALESCE(OLD.user_name, '') AND project = COALESCE(OLD.project, '') "
        "AND tool_name = COALESCE(OLD.tool_name, '')"
    )
    tokens = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "reasoning_tokens")
    # SET expressions read the row as it was before this UPDATE (`events` is the count before).
    op.execute(f"""
      CREATE TRIGGER events_dashboard_unrollup AFTER DELETE ON events FOR EACH ROW BEGIN
        UPDATE dashboard_rollups SET events = events - 1, failures = failures - ({failed}),
          {', '.join(f'{c} = {c} - OLD.{c}' for c in tokens)},
          cost_usd = cost_usd - COALESCE(OLD.cost_usd, 0),
          lines_added = lines_added - ({_sqlite_lines('lines_added')}),
          lines_removed = lines_removed - ({_sqlite_lines('lines_removed')}),
          first_ts = CASE WHEN events <= 1 OR first_ts < OLD.ts THEN first_ts
                          ELSE COALESCE({_sqlite_edge('MIN')}, first_ts) END,
          last_ts = CASE WHEN events <= 1 OR last_ts > OLD.ts THEN last_ts
                         ELSE COALESCE({_sqlite_edge('MAX')}, last_ts) END
        WHERE {key};
        DELETE FROM dashboard_rollups WHERE {key} AND events <= 0;
      END""")


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        _pg_upgrade()
    else:
        _sqlite_upgrade()


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS events_dashboard_unrollup ON events")
        op.execute("DROP FUNCTION IF EXISTS dashboard_unrollup_events()")
    else:
        op.execute("DROP TRIGGER IF EXISTS events_dashboard_unrollup")
