"""The usage-rollup rows of a batch of event rows, grouped and summed in Python.

A history load commits thousands of events at a time and adds their rollup rows once per commit
(`Store._store_events`). Done in SQL (`usage_rollup_batch_sql`) that reads every new row back and
evaluates eight key expressions and eighteen sums per row before sorting on eight keys: about
2.5 µs per event, a tenth of a first load. The store already holds each row as a tuple just before
inserting it, and grouping those tuples here costs about a quarter of that.

The rules are the SQL's (`migrations._rollup_values_v2`: the 15-minute bucket, the request-size
band, the price mode, the per-kind counts); a test compares both over rows with every edge, and
the store falls back to the SQL whenever it cannot name exactly the rows it inserted.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any, Final

from devlog_collector.store.migrations import USAGE_ROLLUP_BANDS, rollup_columns, rollup_kinds

__all__ = ["BUCKET_MS", "RollupOfRows"]

#: The rollup's time bucket (the SQL's `ts / 900000`).
BUCKET_MS: Final = 900_000
_TOKEN_COLUMNS: Final = (
    "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "reasoning_tokens",
)  # fmt: skip


class RollupOfRows:
    """Groups event rows laid out as `columns` (the store's insert order) into rollup rows."""

    def __init__(self, columns: Sequence[str]) -> None:
        at = {name: index for index, name in enumerate(columns)}
        self._ts, self._agent, self._kind = at["ts"], at["agent"], at["kind"]
        self._session, self._workspace, self._project, self._model = (
            at["session_id"], at["workspace"], at["project"], at["model"],
        )  # fmt: skip
        self._tokens = tuple(at[name] for name in _TOKEN_COLUMNS)
        self._cost, self._fast = at["cost_usd"], at["fast"]
        self._extras = (at["cache_creation_1h_tokens"], at["web_search_requests"])
        key_columns, value_columns = rollup_columns()
        #: Value slot of each counted kind (1.. after `events`), in the table's order.
        self._kind_slot = {kind: 1 + index for index, kind in enumerate(rollup_kinds())}
        self.width = len(value_columns)
        assert len(key_columns) == 8 and self.width == 1 + len(self._kind_slot) + 1 + 5 + 1 + 2

    def rows(self, event_rows: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """(key columns..., value columns...) per group, in `rollup_columns()` order."""
        groups: dict[tuple[Any, ...], list[Any]] = {}
        ts_at, agent_at, kind_at, session_at = self._ts, self._agent, self._kind, self._session
        workspace_at, project_at, model_at, cost_at, fast_at = (
            self._workspace, self._project, self._model, self._cost, self._fast,
        )  # fmt: skip
        input_at, output_at, creation_at, read_at, reasoning_at = self._tokens
        one_hour_at, searches_at = self._extras
        kind_slot, width, bands = self._kind_slot, self.width, USAGE_ROLLUP_BANDS
        for row in event_rows:
            ts, inputs, output = row[ts_at], row[input_at], row[output_at]
            creation, read = row[creation_at], row[read_at]
            request = inputs + creation + read
            cost = row[cost_at]
            key = (
                ts // BUCKET_MS if ts >= 0 else -(-ts // BUCKET_MS),  # (SQL's integer division truncates)
                row[agent_at],
                row[workspace_at] or "",
                row[project_at] or "",
                row[session_at],
                row[model_at] or "",
                bisect_left(bands, request),  # the first band whose bound the request does not pass
                1 if cost is not None else 2 if row[fast_at] else 0,
            )
            sums = groups.get(key)
            if sums is None:
                sums = groups[key] = [0] * width
            sums[0] += 1
            slot = kind_slot.get(row[kind_at])
            if slot is not None:
                sums[slot] += 1
            if request + output > 0:  # (else all four are 0: most rows are not model calls)
                sums[9] += 1
                sums[10] += inputs
                sums[11] += output
                sums[12] += creation
                sums[13] += read
            reasoning, one_hour, searches = row[reasoning_at], row[one_hour_at], row[searches_at]
            if reasoning:
                sums[14] += reasoning
            if cost is not None:
                sums[15] += cost
            if one_hour:
                sums[16] += one_hour
            if searches:
                sums[17] += searches
        return [(*key, *sums) for key, sums in groups.items()]
