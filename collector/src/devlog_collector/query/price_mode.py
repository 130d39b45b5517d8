"""How an event is priced: its price mode, and whether the store has the columns that tell it.

Shared by `stats` and `sessions`. From migration m050 on, an event's price mode is 0 (priced from its
tokens), 1 (its own recorded cost, e.g. Claude Code's older `costUSD`) or 2 (priced from its tokens at
Claude's fast-mode rate); the rollup keeps it in its `has_cost` key. A read-only command can meet a
store that no writer has migrated to m050 yet: then only modes 0 and 1 exist, and the 1-hour cache
writes and web searches are not known (read as 0).
"""

from __future__ import annotations

from typing import Final

from devlog_collector.store import Store

__all__ = ["FAST_MODE", "PRICE_MODE_SQL", "RECORDED_COST", "has_price_extras", "price_mode_sql"]

RECORDED_COST: Final = 1
FAST_MODE: Final = 2
#: The price mode of an `events` row (m050 and later).
PRICE_MODE_SQL: Final = "(CASE WHEN cost_usd IS NOT NULL THEN 1 WHEN fast THEN 2 ELSE 0 END)"
_MIGRATION: Final = "m050_price_extras"


def has_price_extras(store: Store) -> bool:
    """Whether the store has m050's price columns (`cache_creation_1h_tokens`, `web_search_requests`, `fast`)."""
    return store.db.execute("SELECT 1 FROM _migrations WHERE name = ?", (_MIGRATION,)).fetchone() is not None


def price_mode_sql(extras: bool) -> str:
    """SQL for an `events` row's price mode on a store with (or without) m050's columns."""
    return PRICE_MODE_SQL if extras else "(cost_usd IS NOT NULL)"
