"""The usage rollup worked out in Python (`RollupOfRows`) equals the SQL's (`usage_rollup_batch_sql`).

Both group the same event rows: any row hypothesis makes is inserted into a real store with the
rollup trigger dropped, grouped by the SQL over the table, and grouped in Python from the tuples.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devlog_collector.store import _EVENT_COLUMNS, _INSERT_NEW, Store
from devlog_collector.store.migrations import (
    USAGE_ROLLUP_BANDS,
    rollup_columns,
    rollup_kinds,
    usage_rollup_batch_sql,
)
from devlog_collector.store.rollup_rows import RollupOfRows

COLUMNS = [column.strip() for column in _EVENT_COLUMNS.split(",")]
KEY_COUNT = len(rollup_columns()[0])

# Token counts at and around every band bound, so each band and each edge is reached.
token = st.one_of(
    st.sampled_from([0, 1, *USAGE_ROLLUP_BANDS, *(b + 1 for b in USAGE_ROLLUP_BANDS)]),
    st.integers(0, 10**7),
)
rows = st.lists(
    st.fixed_dictionaries(
        {
            # around the epoch too: SQL's integer division truncates towards zero
            "ts": st.one_of(st.integers(-3_000_000, 3_000_000), st.integers(1_700_000_000_000, 1_700_010_000_000)),
            "agent": st.sampled_from(["claude", "codex"]),
            "kind": st.sampled_from([*rollup_kinds(), "other_kind"]),
            "session_id": st.sampled_from(["s1", "s2"]),
            "workspace": st.sampled_from([None, "", "/w/a"]),
            "project": st.sampled_from([None, "a"]),
            "model": st.sampled_from([None, "m1", "m2"]),
            "input_tokens": token,
            "output_tokens": st.sampled_from([0, 5]),
            "cache_creation_tokens": st.one_of(st.just(0), token),  # often 0: the input alone on a bound
            "cache_read_tokens": st.one_of(st.just(0), token),
            "reasoning_tokens": st.sampled_from([0, 3]),
            "cost_usd": st.sampled_from([None, 0.0, 0.25, 1.5]),
            "cache_creation_1h_tokens": st.sampled_from([0, 7]),
            "web_search_requests": st.sampled_from([0, 2]),
            "fast": st.sampled_from([0, 1]),
        }
    ),
    min_size=1,
    max_size=60,
)


def _row(index: int, fields: dict[str, object]) -> tuple[object, ...]:
    values = {"id": f"e{index}", "user": None, "tool_name": None, "file_path": None, "text": None,
              "body": b"{}", "collected_at": 0, **fields}  # fmt: skip
    return tuple(values[column] for column in COLUMNS)


def _sorted(groups: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return sorted(groups, key=lambda group: tuple(map(str, group[:KEY_COUNT])))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(generated=rows)
def test_python_grouping_equals_the_sql(tmp_path: Path, generated: list[dict[str, object]]) -> None:
    event_rows = [_row(index, fields) for index, fields in enumerate(generated)]
    path = tmp_path / "events.db"
    path.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with Store.open(path) as store:
        db: sqlite3.Connection = store.db
        db.execute("DROP TRIGGER usage_rollup_insert")
        db.executemany(_INSERT_NEW, event_rows)
        db.execute(usage_rollup_batch_sql(), (0,))
        by_sql = db.execute("SELECT * FROM usage_rollup").fetchall()
    assert _sorted(RollupOfRows(COLUMNS).rows(event_rows)) == _sorted(by_sql)


def test_every_kind_band_and_price_mode_lands_in_its_own_column() -> None:
    """A hand-checked case: the positions of the sums, not only agreement with the SQL."""
    grouping = RollupOfRows(COLUMNS)
    base = {"ts": 900_000 * 3 + 5, "agent": "claude", "session_id": "s", "workspace": None, "project": None,
            "model": "m", "output_tokens": 0, "reasoning_tokens": 0, "cache_creation_1h_tokens": 0,
            "web_search_requests": 0, "fast": 0, "cost_usd": None, "input_tokens": 0, "cache_creation_tokens": 0,
            "cache_read_tokens": 0}  # fmt: skip
    groups = grouping.rows(
        [
            _row(1, {**base, "kind": "prompt"}),
            _row(2, {**base, "kind": "response", "input_tokens": 32_000, "output_tokens": 4, "reasoning_tokens": 2}),
            _row(3, {**base, "kind": "response", "input_tokens": 32_001, "fast": 1, "web_search_requests": 1}),
            _row(4, {**base, "kind": "error", "cost_usd": 0.5}),
        ]
    )
    assert sorted(groups, key=str) == sorted(
        [
            #  bucket agent  ws  proj sess model band mode events ss pr re tc tr fe co er req in out cc cr rs cost 1h ws
            (3, "claude", "", "", "s", "m", 0, 0, 2, 0, 1, 1, 0, 0, 0, 0, 0, 1, 32_000, 4, 0, 0, 2, 0, 0, 0),
            (3, "claude", "", "", "s", "m", 1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 32_001, 0, 0, 0, 0, 0, 0, 1),
            (3, "claude", "", "", "s", "m", 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0.5, 0, 0),
        ],
        key=str,
    )
