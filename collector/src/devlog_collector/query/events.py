"""`devlog query`: the newest events matching the filters, rebuilt as full schema-v1 events.

The newest `limit` events are selected (index on ts, newest first) and returned oldest first, so a
terminal shows them the way a log reads, like `llm logs`.

With `--search`, the full-text index is walked from the most recently *collected* match backwards
(FTS5 rowid = the store's insertion order) and stops after `limit` hits that pass the other filters;
ordering a common word's hundreds of thousands of matches by time first would take seconds. A search
with CJK text (`mixed_search`, matched leaf by leaf) walks the events the same way, newest collected
first. The hits are then shown in time order.
"""

from __future__ import annotations

from devlog_collector.query.filters import Filters
from devlog_collector.store import Store, event_from_row
from devlog_shared import Event

__all__ = ["query_events"]


def query_events(store: Store, filters: Filters, *, limit: int | None = 50) -> list[Event]:
    """Events selected by `filters`: the newest `limit` (all when None), in chronological order."""
    if filters.search is not None:
        where, params = filters._replace(search=None).where("e")
        where = "WHERE events_fts MATCH ?" + (" AND " + where.removeprefix("WHERE ") if where else "")
        sql = (
            "SELECT e.body, e.text, e.ts, e.seq FROM events_fts JOIN events e ON e.seq = events_fts.rowid "
            f"{where} ORDER BY events_fts.rowid DESC"
        )
        params.insert(0, filters.search)
    else:
        where, params = filters.where()
        # A CJK search (matched leaf by leaf) returns the most recently collected matches too.
        newest = "seq DESC" if filters.mixed_search is not None else "ts DESC, seq DESC"
        sql = f"SELECT body, text, ts, seq FROM events {where} ORDER BY {newest}"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    rows = sorted(store.db.execute(sql, params).fetchall(), key=lambda r: (r[2], r[3]))
    return [event_from_row(body, text) for body, text, _, _ in rows]
