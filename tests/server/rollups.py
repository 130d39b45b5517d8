"""The dashboard rollup, read back and rebuilt in Python from `events`, to check the triggers keep it exact.

`expected_rollups` groups the stored events by the rollup's grain with the counters the insert
trigger of migration `0002dashboard` computes (failures from `tool.status`, lines from the file
edit's counts), independently of the SQL, so a trigger that forgets a row or a column shows up as
a difference. Both sides map key -> counters including `first_ts`/`last_ts`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from devlog_server.dashboard.tables import FAILURE_STATUSES, RollupModel
from devlog_server.db.models import EVENTS

Key = tuple[str, ...]
Counters = tuple[Any, ...]
_R = RollupModel.__table__.c
_TOKENS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "reasoning_tokens")


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def stored_rollups(conn: AsyncConnection) -> dict[Key, Counters]:
    """Every rollup row: (day, session, kind, agent, workspace, model, user, project, tool) -> counters."""
    rows = (await conn.execute(select(RollupModel.__table__))).mappings()
    return {
        (r["day"], r["session_id"], r["kind"], r["agent"], r["workspace"], r["model"], r["user_name"], r["project"],
         r["tool_name"]): (
            r["events"], r["failures"], *(r[c] for c in _TOKENS), round(r["cost_usd"], 6), r["lines_added"],
            r["lines_removed"], _utc(r["first_ts"]), _utc(r["last_ts"]),
        )
        for r in rows
    }  # fmt: skip


def _lines(body: dict[str, Any], field: str) -> int:
    value = (body.get("file") or {}).get(field)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


async def expected_rollups(conn: AsyncConnection) -> dict[Key, Counters]:
    """The rollup as a fresh grouping of the stored events would be."""
    groups: dict[Key, list[Any]] = defaultdict(lambda: [0] * 10 + [None, None])
    for e in (await conn.execute(select(EVENTS))).mappings():
        ts = _utc(e["ts"])
        key = (
            ts.strftime("%Y-%m-%d"), e["session_id"], e["kind"], e["agent"], e["workspace"] or "", e["model"] or "",
            e["user_name"] or "", e["project"] or "", e["tool_name"] or "",
        )  # fmt: skip
        body = json.loads(e["body"])
        status = str((body.get("tool") or {}).get("status") or "").lower()
        g = groups[key]
        g[0] += 1
        g[1] += int(e["kind"] in ("tool_call", "tool_result") and status in FAILURE_STATUSES)
        for i, column in enumerate(_TOKENS):
            g[2 + i] += e[column]
        g[7] += e["cost_usd"] or 0.0
        if e["kind"] == "file_edit":
            g[8] += _lines(body, "lines_added")
            g[9] += _lines(body, "lines_removed")
        g[10] = ts if g[10] is None else min(g[10], ts)
        g[11] = ts if g[11] is None else max(g[11], ts)
    return {key: (*g[:7], round(g[7], 6), *g[8:]) for key, g in groups.items()}


async def rollups_and_expected(conn: AsyncConnection) -> tuple[dict[Key, Counters], dict[Key, Counters]]:
    return await stored_rollups(conn), await expected_rollups(conn)
