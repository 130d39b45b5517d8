"""dashboard: daily event rollups kept by a trigger, and browser sessions

Owned by the team dashboard (devlog_server.dashboard). `dashboard_rollups` is filled from the events
already stored, then kept by a trigger on `events` in the same transaction as each insert: a
statement-level trigger with a transition table on Postgres (one grouped upsert per batch, rows in
key order so concurrent batches lock in the same order), a row trigger on SQLite. `ON CONFLICT DO
NOTHING` duplicates never reach either trigger, so replays do not double-count.

Revision ID: 0002dashboard
Revises: 0001initial
Create Date: 2026-11-25 08:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002dashboard'
down_revision: str | None = '0001initial'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FAILURES = "('error', 'errored', 'failed', 'failure', 'cancelled', 'canceled', 'rejected', 'denied', 'timeout')"
_GRAIN = "day, session_id, kind, agent, workspace, model, user_name, project, tool_name"
_COUNTERS = (
    "events", "failures", "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
    "reasoning_tokens", "cost_usd", "lines_added", "lines_removed",
)
_COLUMNS = f"{_GRAIN}, {', '.join(_COUNTERS)}, first_ts, last_ts"


def _pg_select(source: str) -> str:
    """Grouped rollup rows of the events in `source` (Postgres). The body is parsed once per event,
    and only for the kinds whose status or line counts are read."""

    def lines(field: str) -> str:
        value = f"p.j #> '{{file,{field}}}'"
        return (
            f"COALESCE(SUM(CASE WHEN e.kind = 'file_edit' AND jsonb_typeof({value}) = 'number' "
            f"THEN CAST(LEAST(GREATEST(CAST({value} AS numeric), 0), 1000000000000) AS bigint) ELSE 0 END), 0)"
        )

    return f"""
      SELECT to_char(e.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD'), e.session_id, e.kind, e.agent,
             COALESCE(e.workspace, ''), COALESCE(e.model, ''), COALESCE(e.user_name, ''),
             COALESCE(e.project, ''), COALESCE(e.tool_name, ''),
             COUNT(*),
             SUM(CASE WHEN e.kind IN ('tool_call', 'tool_result')
                       AND lower(p.j #>> '{{tool,status}}') IN {_FAILURES} THEN 1 ELSE 0 END),
             SUM(e.input_tokens), SUM(e.output_tokens), SUM(e.cache_creation_tokens), SUM(e.cache_read_tokens),
             SUM(e.reasoning_tokens), COALESCE(SUM(e.cost_usd), 0), {lines('lines_added')}, {lines('lines_removed')},
             MIN(e.ts), MAX(e.ts)
      FROM {source} AS e
      CROSS JOIN LATERAL (
        SELECT CASE WHEN e.kind IN ('tool_call', 'tool_result', 'file_edit') THEN CAST(e.body AS jsonb) END AS j
      ) AS p
      GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
      ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9"""


_UPSERT_SET = ", ".join(f"{c} = r.{c} + excluded.{c}" for c in _COUNTERS)


def _pg_upgrade() -> None:
    op.execute(f"INSERT INTO dashboard_rollups ({_COLUMNS}) {_pg_select('events')}")
    op.execute(f"""
      CREATE FUNCTION dashboard_rollup_events() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        INSERT INTO dashboard_rollups AS r ({_COLUMNS}) {_pg_select('new_events')}
        ON CONFLICT ({_GRAIN}) DO UPDATE SET {_UPSERT_SET},
          first_ts = LEAST(r.first_ts, excluded.first_ts), last_ts = GREATEST(r.last_ts, excluded.last_ts);
        RETURN NULL;
      END
      $fn$""")
    op.execute(
        "CREATE TRIGGER events_dashboard_rollup AFTER INSERT ON events REFERENCING NEW TABLE AS new_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION dashboard_rollup_events()"
    )


def _sqlite_lines(field: str) -> str:
    value = f"json_extract(NEW.body, '$.file.{field}')"
    return f"CASE WHEN NEW.kind = 'file_edit' AND typeof({value}) = 'integer' THEN {value} ELSE 0 END"


def _sqlite_upgrade() -> None:
    failed = (
        f"CASE WHEN e.kind IN ('tool_call', 'tool_result') "
        f"AND lower(json_extract(e.body, '$.tool.status')) IN {_FAILURES} THEN 1 ELSE 0 END"
    )
    lines = {
        f: f"CASE WHEN e.kind = 'file_edit' AND typeof(json_extract(e.body, '$.file.{f}')) = 'integer' "
        f"THEN json_extract(e.body, '$.file.{f}') ELSE 0 END"
        for f in ("lines_added", "lines_removed")
    }
    op.execute(f"""
      INSERT INTO dashboard_rollups ({_COLUMNS})
      SELECT substr(e.ts, 1, 10), e.session_id, e.kind, e.agent, COALESCE(e.workspace, ''), COALESCE(e.model, ''),
             COALESCE(e.user_name, ''), COALESCE(e.project, ''), COALESCE(e.tool_name, ''),
             COUNT(*), SUM({failed}), SUM(e.input_tokens), SUM(e.output_tokens), SUM(e.cache_creation_tokens),
             SUM(e.cache_read_tokens), SUM(e.reasoning_tokens), COALESCE(SUM(e.cost_usd), 0),
             SUM({lines['lines_added']}), SUM({lines['lines_removed']}), MIN(e.ts), MAX(e.ts)
      FROM events AS e
      GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9""")
    new_failed = failed.replace("e.", "NEW.")
    values = (
        "substr(NEW.ts, 1, 10), NEW.session_id, NEW.kind, NEW.agent, COALESCE(NEW.workspace, ''), "
        "COALESCE(NEW.model, ''), COALESCE(NEW.user_name, ''), COALESCE(NEW.project, ''), COALESCE(NEW.tool_name, ''), "
        f"1, {new_failed}, NEW.input_tokens, NEW.output_tokens, NEW.cache_creation_tokens, NEW.cache_read_tokens, "
        f"NEW.reasoning_tokens, COALESCE(NEW.cost_usd, 0), {_sqlite_lines('lines_added')}, "
        f"{_sqlite_lines('lines_removed')}, NEW.ts, NEW.ts"
    )
    upsert_set = ", ".join(f"{c} = {c} + excluded.{c}" for c in _COUNTERS)
    op.execute(f"""
      CREATE TRIGGER events_dashboard_rollup AFTER INSERT ON events FOR EACH ROW BEGIN
        INSERT INTO dashboard_rollups ({_COLUMNS}) VALUES ({values})
        ON CONFLICT ({_GRAIN}) DO UPDATE SET {upsert_set},
          first_ts = MIN(first_ts, excluded.first_ts), last_ts = MAX(last_ts, excluded.last_ts);
      END""")


def upgrade() -> None:
    path_text = sa.String().with_variant(sa.String(collation='C'), 'postgresql')
    op.create_table('dashboard_rollups',
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('session_id', sa.String(length=256), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('agent', sa.String(length=64), nullable=False),
    sa.Column('workspace', path_text, nullable=False),
    sa.Column('model', sa.String(), nullable=False),
    sa.Column('user_name', sa.String(), nullable=False),
    sa.Column('project', sa.String(), nullable=False),
    sa.Column('tool_name', sa.String(), nullable=False),
    sa.Column('events', sa.BigInteger(), nullable=False),
    sa.Column('failures', sa.BigInteger(), nullable=False),
    sa.Column('input_tokens', sa.BigInteger(), nullable=False),
    sa.Column('output_tokens', sa.BigInteger(), nullable=False),
    sa.Column('cache_creation_tokens', sa.BigInteger(), nullable=False),
    sa.Column('cache_read_tokens', sa.BigInteger(), nullable=False),
    sa.Column('reasoning_tokens', sa.BigInteger(), nullable=False),
    sa.Column('cost_usd', sa.Float(), nullable=False),
    sa.Column('lines_added', sa.BigInteger(), nullable=False),
    sa.Column('lines_removed', sa.BigInteger(), nullable=False),
    sa.Column('first_ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_ts', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint(
        'day', 'session_id', 'kind', 'agent', 'workspace', 'model', 'user_name', 'project', 'tool_name',
        name=op.f('pk_dashboard_rollups'),
    )
    )
    op.create_index('ix_dashboard_rollups_session_id', 'dashboard_rollups', ['session_id'], unique=False)
    op.create_index('ix_dashboard_rollups_workspace_day', 'dashboard_rollups', ['workspace', 'day'], unique=False)
    op.create_table('dashboard_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_dashboard_sessions'))
    )
    op.create_index(op.f('ix_dashboard_sessions_expires_at'), 'dashboard_sessions', ['expires_at'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        _pg_upgrade()
    else:
        _sqlite_upgrade()


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS events_dashboard_rollup ON events")
        op.execute("DROP FUNCTION IF EXISTS dashboard_rollup_events()")
    else:
        op.execute("DROP TRIGGER IF EXISTS events_dashboard_rollup")
    op.drop_index(op.f('ix_dashboard_sessions_expires_at'), table_name='dashboard_sessions')
    op.drop_table('dashboard_sessions')
    op.drop_index('ix_dashboard_rollups_workspace_day', table_name='dashboard_rollups')
    op.drop_index('ix_dashboard_rollups_session_id', table_name='dashboard_rollups')
    op.drop_table('dashboard_rollups')
