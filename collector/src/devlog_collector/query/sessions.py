"""`devlog sessions` (one line per agent session) and `devlog show` (one session as a conversation).

Filters select sessions, they do not cut them: a session is listed when at least one of its events
matches, and its line describes the whole session (start, end, counts, tokens and cost over all of its
events), so `--last 1d` shows a three-day-old session that is still active with its real start.

A session's cost follows the same rule as `devlog stats`: an event's recorded `cost_usd` wins,
otherwise its tokens are priced with genai-prices; the models that could not be priced are named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devlog_collector.query.filters import Filters
from devlog_collector.query.price_mode import FAST_MODE, RECORDED_COST, has_price_extras, price_mode_sql
from devlog_collector.query.pricing import Pricer, TokenSums, band_case
from devlog_collector.store import Store, event_from_row
from devlog_shared import Event

__all__ = ["SessionSummary", "list_sessions", "session_events"]


@dataclass
class SessionSummary:
    """One agent session, summarised."""

    session_id: str
    agent: str
    workspace: str | None
    project: str | None
    start: datetime
    end: datetime
    events: int = 0
    prompts: int = 0
    tool_calls: int = 0
    file_edits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0
    models: set[str] = field(default_factory=set)
    unpriced_models: set[str] = field(default_factory=set)
    #: The session's name in its agent (Copilot's and Cursor's chat titles, Gemini's summary), else
    #: the first line of its first prompt: what tells sessions apart in a list.
    title: str | None = None

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last event."""
        return (self.end - self.start).total_seconds()

    @property
    def total_tokens(self) -> int:
        """Input + output + cache creation + cache read."""
        return self.input_tokens + self.output_tokens + self.cache_creation_tokens + self.cache_read_tokens

    @classmethod
    def json_fields(cls) -> tuple[str, ...]:
        """The keys of `to_json`, in order (the csv header, also when no session matches)."""
        epoch = datetime.fromtimestamp(0, UTC)
        return tuple(cls("", "", None, None, epoch, epoch).to_json())

    def to_json(self) -> dict[str, Any]:
        """Plain data for json/csv output."""
        return {
            "session_id": self.session_id,
            "agent": self.agent,
            "workspace": self.workspace,
            "project": self.project,
            "start": self.start.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "end": self.end.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "duration_s": round(self.duration_s, 3),
            "events": self.events,
            "prompts": self.prompts,
            "tool_calls": self.tool_calls,
            "file_edits": self.file_edits,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_tokens": self.cache_creation_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "models": sorted(self.models),
            "unpriced_models": sorted(self.unpriced_models),
            "title": self.title,
        }


def _ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def list_sessions(
    store: Store, filters: Filters, *, limit: int | None = 50, pricer: Pricer | None = None
) -> list[SessionSummary]:
    """The most recently active `limit` sessions with an event matching `filters`, oldest first.

    Each summary covers all events of its session, not only the matching ones.
    """
    own_pricer = pricer is None
    pricer = pricer or Pricer.load()
    where, params = filters.where()
    if where:
        where = f"WHERE session_id IN (SELECT session_id FROM events {where})"
    sql = (
        "SELECT session_id, min(agent), min(workspace), min(project), min(ts), max(ts), count(*), "
        "sum(kind = 'prompt'), sum(kind = 'tool_call'), sum(kind = 'file_edit') "
        f"FROM events {where} GROUP BY session_id ORDER BY max(ts) DESC"
    )
    if limit is not None:
        sql += " LIMIT ?"
    rows = store.db.execute(sql, [*params, limit] if limit is not None else params).fetchall()
    sessions = {
        r[0]: SessionSummary(r[0], r[1], r[2], r[3], _ms(r[4]), _ms(r[5]), r[6], r[7], r[8], r[9]) for r in rows
    }
    if not sessions:
        return []
    band = band_case(pricer.bands, "(input_tokens + cache_creation_tokens + cache_read_tokens)")
    extras = has_price_extras(store)
    mode = price_mode_sql(extras)
    extra_sums = "sum(cache_creation_1h_tokens), sum(web_search_requests)" if extras else "0, 0"
    ids = list(sessions)
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        usage_where = f"WHERE session_id IN ({', '.join('?' * len(chunk))})"
        usage_sql = (
            f"SELECT session_id, model, {band}, {mode}, (ts / 86400000) * 86400000, "
            "sum(input_tokens + output_tokens + cache_creation_tokens + cache_read_tokens > 0), sum(input_tokens), "
            "sum(output_tokens), sum(cache_creation_tokens), sum(cache_read_tokens), sum(reasoning_tokens), "
            f"coalesce(sum(cost_usd), 0), {extra_sums} FROM events {usage_where} GROUP BY 1, 2, 3, 4, 5"
        )
        for row in store.db.execute(usage_sql, chunk):
            sid, model, b, mode_value, day_ms, requests, inp, out, cc, cr, reasoning, cost_sum, cc_1h, searches = row
            s = sessions[sid]
            s.input_tokens += inp
            s.output_tokens += out
            s.cache_creation_tokens += cc
            s.cache_read_tokens += cr
            s.reasoning_tokens += reasoning
            if model and inp + out + cc + cr:
                s.models.add(model)
            if mode_value == RECORDED_COST:
                s.cost_usd += cost_sum
            elif inp + out + cc + cr or searches:
                sums = TokenSums(inp, out, cc, cr, requests, cc_1h, searches)
                cost = pricer.cost(model, b, _ms(day_ms), sums, fast=mode_value == FAST_MODE)
                if cost is None:
                    s.unpriced_models.add(model or "(no model)")
                else:
                    s.cost_usd += cost
    _add_titles(store, sessions)
    if own_pricer:
        pricer.save()
    return sorted(sessions.values(), key=lambda s: (s.end, s.session_id))


#: Characters of a title kept (a first prompt can be a whole pasted file).
TITLE_CHARS = 200


def _add_titles(store: Store, sessions: dict[str, SessionSummary]) -> None:
    """Each session's title: the one its agent recorded on its start, else its first prompt's first line
    (the first typed one: a Claude Code sub-agent's task prompt, `attrs.is_sidechain`, only if there is none;
    a slash command such as `/model opus` or a `!` shell command only if the session has no other prompt)."""
    ids = list(sessions)
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        marks = ", ".join("?" * len(chunk))
        recorded = (
            "SELECT session_id, coalesce(json_extract(CAST(body AS TEXT), '$.attrs.title'), "
            "json_extract(CAST(body AS TEXT), '$.attrs.summary')) FROM events "
            f"WHERE kind = 'session_start' AND session_id IN ({marks})"
        )
        first_prompt = (  # a sub-agent's task prompt, a slash or `!` command, only when the session has no other
            f"SELECT session_id, substr(text, 1, {TITLE_CHARS * 4}) FROM (SELECT session_id, text, row_number() "
            "OVER (PARTITION BY session_id ORDER BY coalesce(json_extract(CAST(body AS TEXT), "
            "'$.attrs.is_sidechain'), 0), json_extract(CAST(body AS TEXT), '$.attrs.slash_command') IS NOT NULL "
            "OR json_extract(CAST(body AS TEXT), '$.attrs.shell_mode') IS NOT NULL, ts, seq) AS n FROM events "
            f"WHERE kind = 'prompt' AND trim(text) != '' AND session_id IN ({marks})) WHERE n = 1"
        )
        for sid, title in store.db.execute(recorded, chunk):
            if isinstance(title, str) and title.strip():
                sessions[sid].title = _one_line(title)
        for sid, text in store.db.execute(first_prompt, chunk):
            if sessions[sid].title is None and isinstance(text, str) and text.strip():
                sessions[sid].title = _one_line(text)


def _one_line(text: str) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line[:TITLE_CHARS]


def session_events(store: Store, session_id: str) -> list[Event]:
    """Every event of one session in the order it happened."""
    rows = store.db.execute(
        "SELECT body, text FROM events WHERE session_id = ? ORDER BY ts, seq", (session_id,)
    ).fetchall()
    return [event_from_row(body, text) for body, text in rows]
