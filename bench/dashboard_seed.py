"""Seed a server database with N synthetic events in one server-side statement (for the dashboard bench).

Why: timing dashboard pages needs a realistic 1,000,000-event `events` table, and generating it in
Python and sending it over the wire would take longer than the benchmark. `generate_series` builds the
rows inside Postgres in well under a minute: 20 developers, 30 workspaces, five agents with their
models, ~200-event sessions over 90 days, a realistic kind mix with tokens on responses, tool calls
with statuses and file edits with line counts, and a JSON `body` like the ingest path stores.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

__all__ = ["SEED_SQL", "seed_postgres"]

# One row per i in 1..N. Session s = i / 200; each session has one user, workspace, agent and model.
SEED_SQL = """
WITH base AS (
  SELECT i,
         i / 200 AS s,
         (i % 200) AS pos,
         $2::timestamptz - make_interval(secs => ($1::bigint - i) * (90 * 86400.0 / $1::bigint)) AS ts
  FROM generate_series(1, $1::bigint) AS i
), dims AS (
  SELECT b.*,
         (ARRAY['claude','claude','claude','codex','codex','cursor','copilot','gemini'])[1 + (s % 8)] AS agent,
         'dev' || lpad((s * 7 % 20)::text, 2, '0') AS user_name,
         (s * 13 % 30) AS w,
         CASE WHEN pos = 0 THEN 'session_start'
              WHEN pos % 10 = 1 THEN 'prompt'
              WHEN pos % 10 IN (2, 5, 8) THEN 'response'
              WHEN pos % 10 IN (3, 6) THEN 'tool_call'
              WHEN pos % 10 IN (4, 7) THEN 'tool_result'
              WHEN pos % 10 = 9 THEN 'file_edit'
              WHEN pos % 97 = 0 THEN 'error'
              ELSE 'command' END AS kind
  FROM base b
), rows AS (
  SELECT d.*,
         '/home/' || user_name || '/work/' || (ARRAY['payments','billing','search','web','mobile','infra'])[1 + w % 6]
           || CASE WHEN w >= 6 THEN '-' || (w / 6)::text ELSE '' END AS workspace,
         CASE agent WHEN 'claude' THEN (ARRAY['claude-sonnet-4-5','claude-opus-4-5','claude-haiku-4-5'])[1 + s % 3]
                    WHEN 'codex' THEN 'gpt-5-codex' WHEN 'cursor' THEN 'auto'
                    WHEN 'copilot' THEN 'gpt-4.1' ELSE 'gemini-2.5-pro' END AS model,
         CASE WHEN kind IN ('tool_call','tool_result')
              THEN (ARRAY['Bash','Read','Edit','Write','Grep','apply_patch','read_file'])[1 + (i / 10) % 7]
              END AS tool_name,
         CASE WHEN kind = 'tool_result' AND i % 23 = 0 THEN 'error'
              WHEN kind = 'tool_result' THEN 'success' END AS status,
         CASE WHEN kind = 'response' THEN 200 + i % 3000 ELSE 0 END AS input_tokens,
         CASE WHEN kind = 'response' THEN 50 + i % 900 ELSE 0 END AS output_tokens,
         CASE WHEN kind = 'response' THEN i % 5000 ELSE 0 END AS cache_read_tokens,
         CASE WHEN kind = 'response' THEN i % 700 ELSE 0 END AS cache_creation_tokens
  FROM dims d
)
INSERT INTO events (id, ts, received_at, agent, kind, session_id, workspace, project, user_name, model, machine,
                    tool_name, file_path, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens,
                    reasoning_tokens, cost_usd, key_id, collector, body)
SELECT 'ev-' || i, ts, ts + interval '5 seconds', agent, kind, 'sess-' || s, workspace,
       regexp_replace(workspace, '^.*/', ''), user_name, model, 'm-' || user_name,
       tool_name, CASE WHEN kind = 'file_edit' THEN workspace || '/src/mod' || (i % 40) || '.py' END,
       input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, 0,
       CASE WHEN kind = 'response' THEN round(((input_tokens * 3 + output_tokens * 15) / 1e6)::numeric, 6)::float8 END,
       'benchkey0000', 'bench',
       json_strip_nulls(json_build_object(
         'id', 'ev-' || i, 'ts', to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'agent', agent,
         'kind', kind, 'session_id', 'sess-' || s, 'workspace', workspace, 'user', user_name, 'model', model,
         'tool', CASE WHEN tool_name IS NOT NULL THEN json_build_object('name', tool_name, 'status', status) END,
         'file', CASE WHEN kind = 'file_edit'
                      THEN json_build_object('path', workspace || '/src/mod' || (i % 40) || '.py',
                                             'lines_added', i % 30, 'lines_removed', i % 7) END,
         'text', CASE WHEN kind IN ('prompt', 'response') THEN 'Synthetic ' || kind || ' text number ' || i END
       ))::text
FROM rows
"""


async def seed_postgres(dsn: str, events: int, *, end: datetime | None = None) -> None:
    """Insert `events` synthetic events ending at `end` (default: now) plus the workspaces they use."""
    end = end or datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    conn = await asyncpg.connect(dsn, timeout=30)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute(SEED_SQL, events, end)
        await conn.execute(
            "INSERT INTO workspaces (workspace, first_seen) SELECT DISTINCT workspace, now() FROM events "
            "WHERE workspace IS NOT NULL ON CONFLICT DO NOTHING"
        )
        await conn.execute("VACUUM ANALYZE events")
        await conn.execute("ANALYZE workspaces")
        await conn.execute("VACUUM ANALYZE dashboard_rollups")
    finally:
        await conn.close()
