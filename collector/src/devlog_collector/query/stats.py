"""`devlog stats --local`: activity, tokens and cost, grouped by period or by a column.

Why it is built this way (the goal: a million events grouped by day in well under half a second):

* The heavy lifting is SQL over `usage_rollup` (migration m030), a trigger-maintained table of counts
  and token sums per 15-minute UTC bucket, agent, workspace, project, session, model and price band.
  Where the rollup cannot answer exactly (a `--kind` or `--search` filter, the partial 15-minute
  buckets at the edges of a `--since/--until/--last` range, a price list with other tier starts), the
  same aggregate is computed from `events` instead. Both give identical rows.
* Time is cut into windows at local midnights (in the report's time zone) and UTC midnights, so every
  group fits in one local day (for day/week/month buckets) and one UTC date (for prices that change on
  a date); Python folds the few rows per window into the report. Over the rollup this is one grouped
  scan per (model, band, has_cost) combination, each reading one range of the table's key (m040):
  each 15-minute bucket's UTC day is `bucket / 96` and its local day `(bucket + offset) / 96`, with
  the zone's offset per bucket written as a CASE over the zone's transitions in the range (every UTC
  offset in use is a multiple of 15 minutes, so buckets fold into local days exactly; a zone that is
  not is read window by window). The event scan queries each window on its own.
* Cost: an event's own `cost_usd` (e.g. Claude Code's older `costUSD`) takes precedence; otherwise
  tokens are priced with genai-prices per (model, price band) group (see `pricing.py`). Models it
  cannot price are listed with their token counts, never silently counted as free.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Final

from devlog_collector.localzone import local_zone
from devlog_collector.query.filters import Filters, workspace_condition, workspaces_condition
from devlog_collector.query.price_mode import FAST_MODE, RECORDED_COST, has_price_extras, price_mode_sql
from devlog_collector.query.pricing import Pricer, TokenSums, band_case
from devlog_collector.store import Store

__all__ = ["GROUPINGS", "KIND_COLUMNS", "StatsReport", "Totals", "compute_stats"]

GROUPINGS: Final = ("day", "week", "month", "agent", "workspace", "project", "model", "session")
_TIME_GROUPINGS: Final = ("day", "week", "month")
_KEY_COLUMN: Final = {"agent": "agent", "workspace": "workspace", "project": "project", "model": "model",
                      "session": "session_id"}  # fmt: skip
#: rollup column -> event kind
KIND_COLUMNS: Final = (
    ("session_starts", "session_start"),
    ("prompts", "prompt"),
    ("responses", "response"),
    ("tool_calls", "tool_call"),
    ("tool_results", "tool_result"),
    ("file_edits", "file_edit"),
    ("commands", "command"),
    ("errors", "error"),
)
_TOKENS: Final = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "reasoning_tokens")
_BUCKET_MS: Final = 900_000
_DAY_MS: Final = 86_400_000
_BUCKETS_PER_DAY: Final = _DAY_MS // _BUCKET_MS


# Plain classes (no msgspec, no dataclasses): this module is on `devlog stats`'s start-up path.


class Totals:
    """Everything counted for one group (a day, an agent, ...) or for the whole report."""

    __slots__ = ("cache_creation_tokens", "cache_read_tokens", "cost_usd", "events", "input_tokens", "key", "kinds",
                 "models", "output_tokens", "reasoning_tokens", "sessions", "unpriced_tokens")  # fmt: skip

    def __init__(self, key: str) -> None:
        self.key = key
        self.events = 0
        self.kinds: dict[str, int] = {kind: 0 for _, kind in KIND_COLUMNS}
        self.sessions: set[str] = set()
        self.input_tokens = 0
        self.output_tokens = 0
        self.cache_creation_tokens = 0
        self.cache_read_tokens = 0
        self.reasoning_tokens = 0
        self.cost_usd = 0.0
        self.unpriced_tokens = 0
        self.models: set[str] = set()

    def __repr__(self) -> str:
        return f"Totals({self.key!r}, events={self.events}, total_tokens={self.total_tokens})"

    @property
    def total_tokens(self) -> int:
        """Input + output + cache creation + cache read (ccusage's `totalTokens`)."""
        return self.input_tokens + self.output_tokens + self.cache_creation_tokens + self.cache_read_tokens

    def to_json(self) -> dict[str, Any]:
        """Plain data for `--format json`."""
        return {
            "key": self.key,
            "events": self.events,
            "events_by_kind": dict(self.kinds),
            "sessions": len(self.sessions),
            "prompts": self.kinds["prompt"],
            "tool_calls": self.kinds["tool_call"],
            "file_edits": self.kinds["file_edit"],
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_tokens": self.cache_creation_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "unpriced_tokens": self.unpriced_tokens,
            "models": sorted(self.models),
        }


class StatsReport:
    """The result of `compute_stats`: one Totals per group, in order, plus the grand total."""

    __slots__ = ("by", "groups", "source", "timezone", "total", "unpriced_models")

    def __init__(
        self, *, by: str, timezone: str, groups: list[Totals], total: Totals, unpriced_models: dict[str, int],
        source: str,
    ) -> None:  # fmt: skip
        self.by = by
        self.timezone = timezone
        self.groups = groups
        self.total = total
        self.unpriced_models = unpriced_models
        self.source = source

    def to_json(self) -> dict[str, Any]:
        """Plain data for `--format json`."""
        return {
            "by": self.by,
            "timezone": self.timezone,
            "groups": [g.to_json() for g in self.groups],
            "total": self.total.to_json(),
            "unpriced_models": [{"model": m, "tokens": n} for m, n in sorted(self.unpriced_models.items())],
            "cost_note": "event cost_usd when recorded, otherwise priced with genai-prices",
        }


# -- SQL over the two sources -------------------------------------------------------------------------


def _rollup_usable(store: Store, pricer: Pricer, filters: Filters) -> bool:
    if filters.kinds or filters.search is not None or filters.mixed_search is not None:
        return False
    try:
        bands = store.get_meta("usage_rollup_bands")
    except Exception:  # noqa: BLE001 - an old store without meta rows: just scan events
        return False
    return bands is not None and bands == ",".join(str(b) for b in pricer.bands)


def _rollup_where(filters: Filters) -> tuple[str, list[Any]]:
    clauses, params = ["bucket >= ?", "bucket < ?"], []
    if filters.workspace is not None:
        sql, values = workspace_condition(filters.workspace)
        clauses.append(sql)
        params += values
    if filters.workspaces is not None:  # (the rollup keeps "no workspace" as '')
        sql, values = workspaces_condition(filters.workspaces, none="")
        clauses.append(sql)
        params += values
    if filters.agents:
        clauses.append(f"agent IN ({', '.join('?' * len(filters.agents))})")
        params += filters.agents
    if filters.session is not None:
        clauses.append("session_id = ?")
        params.append(filters.session)
    if filters.model is not None:
        clauses.append("model = ?")
        params.append(filters.model)
    return " AND ".join(clauses), params


_ROLLUP_VALUES: Final = ", ".join(
    ["sum(events)", *(f"sum({c})" for c, _ in KIND_COLUMNS), "sum(requests)", *(f"sum({t})" for t in _TOKENS),
     "sum(cost_usd)", "sum(cache_creation_1h_tokens)", "sum(web_search_requests)"]
)  # fmt: skip
#: The same, on a store a read-only command found not yet migrated to m050 (no price extras yet).
_ROLLUP_VALUES_BEFORE_M050: Final = _ROLLUP_VALUES.replace("sum(cache_creation_1h_tokens)", "0").replace(
    "sum(web_search_requests)", "0"
)


def _local_day_sql(segments: list[tuple[int, int]]) -> str:
    """SQL for the local day number of `bucket`, from (first bucket, offset in buckets) segments."""
    if len(segments) == 1:
        return f"(bucket + {segments[0][1]}) / {_BUCKETS_PER_DAY}"
    cases = " ".join(f"WHEN bucket < {start} THEN {offset}" for (_, offset), (start, _) in itertools.pairwise(segments))
    return f"(bucket + CASE {cases} ELSE {segments[-1][1]} END) / {_BUCKETS_PER_DAY}"


def _offset_segments(lo_ms: int, hi_ms: int, tz: tzinfo) -> list[tuple[int, int]] | None:
    """The zone's UTC offset over [lo_ms, hi_ms) as (first bucket, offset in buckets) segments.

    None when an offset is not a whole number of 15-minute buckets (then buckets do not fold into
    local days exactly). Transitions are found day by day and then to the bucket by bisection.
    """

    def offset(bucket: int) -> int | None:
        delta = datetime.fromtimestamp(bucket * _BUCKET_MS / 1000, tz).utcoffset()
        seconds = int(delta.total_seconds()) if delta is not None else 0
        return seconds // 900 if seconds % 900 == 0 else None

    first, last = lo_ms // _BUCKET_MS, (hi_ms - 1) // _BUCKET_MS
    current = offset(first)
    if current is None:
        return None
    segments = [(first, current)]
    day = first
    while day < last:
        step = min(day + _BUCKETS_PER_DAY, last)
        value = offset(step)
        if value is None:
            return None
        if value != current:
            low, high = day, step  # offset(low) == current, offset(high) != current
            while high - low > 1:
                middle = (low + high) // 2
                if offset(middle) == current:
                    low = middle
                else:
                    high = middle
            value = offset(high)
            if value is None:
                return None
            segments.append((high, value))
            current, day = value, high
        else:
            day = step
    return segments


def _events_sql(key: str, filters: Filters, pricer: Pricer, extras: bool) -> tuple[str, str, list[Any]]:
    where, params = filters._replace(since_ms=None, until_ms=None).where()
    where = "WHERE ts >= ? AND ts < ?" + (" AND " + where.removeprefix("WHERE ") if where else "")
    band = band_case(pricer.bands, "(input_tokens + cache_creation_tokens + cache_read_tokens)")
    values_sql = ", ".join(
        ["count(*)", *(f"sum(kind = '{k}')" for _, k in KIND_COLUMNS),
         "sum(input_tokens + output_tokens + cache_creation_tokens + cache_read_tokens > 0)",
         *(f"sum({t})" for t in _TOKENS), "coalesce(sum(cost_usd), 0)",
         *(("sum(cache_creation_1h_tokens)", "sum(web_search_requests)") if extras else ("0", "0"))]
    )  # fmt: skip
    key_sql = key if key in ("''", "agent", "session_id") else f"coalesce({key}, '')"
    mode = price_mode_sql(extras)
    sql = f"SELECT {key_sql}, coalesce(model, ''), {band}, {mode}, {values_sql} FROM events {where} GROUP BY 1, 2, 3, 4"
    sessions = f"SELECT DISTINCT {key_sql}, session_id FROM events {where}"
    return sql, sessions, params


# -- windows ------------------------------------------------------------------------------------------


def _midnights(lo_ms: int, hi_ms: int, tz: tzinfo) -> Iterator[int]:
    day = datetime.fromtimestamp(lo_ms / 1000, tz).date() + timedelta(days=1)
    while True:
        ms = int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000)
        if ms >= hi_ms:
            return
        yield ms
        day += timedelta(days=1)


def _windows(lo_ms: int, hi_ms: int, tz: tzinfo | None) -> list[tuple[int, int]]:
    cuts = {lo_ms, hi_ms}
    cuts.update(range((lo_ms // _DAY_MS + 1) * _DAY_MS, hi_ms, _DAY_MS))  # UTC midnights
    if tz is not None:
        cuts.update(_midnights(lo_ms, hi_ms, tz))
    edges = sorted(cuts)
    return list(itertools.pairwise(edges))


def _period_label(by: str, local: date) -> str:
    if by == "day":
        return local.isoformat()
    if by == "week":  # ISO weeks start on Monday; labelled by that Monday
        return (local - timedelta(days=local.weekday())).isoformat()
    return f"{local.year:04d}-{local.month:02d}"


# -- the report ---------------------------------------------------------------------------------------


def compute_stats(
    store: Store,
    filters: Filters,
    *,
    by: str = "day",
    tz: tzinfo | None = None,
    pricer: Pricer | None = None,
) -> StatsReport:
    """Aggregate the events selected by `filters`.

    Args:
        store: The open store.
        filters: Validated filters (see `filters.build_filters`).
        by: One of GROUPINGS.
        tz: Time zone of day/week/month buckets (default: the local zone).
        pricer: Prices tokens (default: `Pricer.load()`); its coefficient cache is saved afterwards.

    Returns:
        The report; groups are in chronological order for periods and by cost otherwise.
    """
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}")
    zone = tz if tz is not None else local_zone()
    own_pricer = pricer is None
    pricer = pricer or Pricer.load()
    use_rollup = _rollup_usable(store, pricer, filters)
    key = "''" if by in _TIME_GROUPINGS else _KEY_COLUMN[by]
    extras = has_price_extras(store)
    events_sql, events_sessions, events_params = _events_sql(key, filters, pricer, extras)
    rollup_values = _ROLLUP_VALUES if extras else _ROLLUP_VALUES_BEFORE_M050

    groups: dict[str, Totals] = {}
    unpriced: dict[str, int] = {}

    # Two subqueries: SQLite answers a lone min() or max() from the index, but not both in one SELECT.
    lo, hi = store.db.execute("SELECT (SELECT min(ts) FROM events), (SELECT max(ts) FROM events)").fetchone()
    if lo is not None:
        lo = max(lo, filters.since_ms) if filters.since_ms is not None else lo
        hi = min(hi + 1, filters.until_ms) if filters.until_ms is not None else hi + 1
    cut_zone = zone if by in _TIME_GROUPINGS else None  # periods cut at local midnights too
    # What the rollup cannot answer is read from events: (start, end, priced at) spans, in ms.
    spans: list[tuple[int, int, int]] = []
    if lo is not None and lo < hi:
        scanned = (
            _scan_rollup(store, key, filters, by, zone, lo, hi, groups, unpriced, pricer, rollup_values)
            if use_rollup
            else None
        )
        if scanned is not None:
            # The rollup covered every whole bucket; what remains are the partial buckets at the edges.
            first, last = scanned
            edges = [(lo, first * _BUCKET_MS), (last * _BUCKET_MS, hi)] if first < last else [(lo, hi)]
            spans = [(a, b, a) for x, y in edges if x < y for a, b in _windows(x, y, cut_zone)]
        elif use_rollup:  # the zone's offsets are not whole buckets: window by window
            windows = _windows(lo, hi, cut_zone)
            spans = _rollup_by_window(store, filters, by, zone, windows, groups, unpriced, pricer, rollup_values)
        else:
            spans = [(a, b, a) for a, b in _windows(lo, hi, cut_zone)]
    for start, end, priced_at in spans:
        at = datetime.fromtimestamp(priced_at / 1000, UTC)
        label = _period_label(by, at.astimezone(zone).date()) if by in _TIME_GROUPINGS else None
        rows = store.db.execute(events_sql, [start, end, *events_params]).fetchall()
        sessions = store.db.execute(events_sessions, [start, end, *events_params]).fetchall()
        for row in rows:
            _fold(row, label, at, groups, unpriced, pricer)
        for key_value, session in sessions:
            name = label if label is not None else (key_value or "(none)")
            groups[name].sessions.add(session)

    if own_pricer:
        pricer.save()
    total = _grand_total(groups.values())
    ordered = sorted(
        groups.values(), key=lambda g: (g.key,) if by in _TIME_GROUPINGS else (-g.cost_usd, -g.total_tokens, g.key)
    )
    return StatsReport(
        by=by,
        timezone=str(getattr(zone, "key", None) or zone),
        groups=ordered,
        total=total,
        unpriced_models=unpriced,
        source="rollup" if use_rollup else "events",
    )


def _scan_rollup(
    store: Store,
    key: str,
    filters: Filters,
    by: str,
    zone: tzinfo,
    lo: int,
    hi: int,
    groups: dict[str, Totals],
    unpriced: dict[str, int],
    pricer: Pricer,
    rollup_values: str = _ROLLUP_VALUES,
) -> tuple[int, int] | None:
    """Fold every whole 15-minute bucket in [lo, hi) from the rollup: one grouped scan per
    (model, band, has_cost) combination.

    Returns the bucket range covered, or None (nothing done) when the zone's offsets are not whole
    buckets. Each row is one (UTC day, local day, key) group of a combination, priced at its window's
    start: the later of the UTC midnight, the local midnight and `lo`. The rollup's key starts with
    the combination (m040), so each scan reads one range of rows and sorts only by day and key, with
    narrow sort records: about 40 % faster than one scan grouping by all six.
    """
    first, last = -(-lo // _BUCKET_MS), hi // _BUCKET_MS
    if first >= last:
        return first, last
    time_grouping = by in _TIME_GROUPINGS
    if time_grouping:
        segments = _offset_segments(first * _BUCKET_MS, last * _BUCKET_MS, zone)
        if segments is None:
            return None
        local_day = _local_day_sql(segments)
    else:
        local_day = "0"
    where, where_params = _rollup_where(filters)
    match = f"FROM usage_rollup WHERE model = ? AND band = ? AND has_cost = ? AND {where}"
    combos = _rollup_combos(store, filters)
    if time_grouping:
        # One integer sort key per row instead of two: UTC day * 4 + (local day - UTC day + 1), the
        # difference being -1, 0 or 1 for every UTC offset (-12 h to +14 h).
        utc_day = f"bucket / {_BUCKETS_PER_DAY}"
        windows = f"SELECT {utc_day} * 4 + ({local_day}) - {utc_day} + 1, {rollup_values} {match} GROUP BY 1"
        rows = [
            (window // 4, window // 4 + window % 4 - 1, "", *combo, *values)
            for combo in combos
            for window, *values in store.db.execute(windows, [*combo, first, last, *where_params])
        ]
    else:
        by_key = f"SELECT bucket / {_BUCKETS_PER_DAY}, {key}, {rollup_values} {match} GROUP BY 1, 2"
        rows = [
            (day, 0, key_value, *combo, *values)
            for combo in combos
            for day, key_value, *values in store.db.execute(by_key, [*combo, first, last, *where_params])
        ]
    epoch = date(1970, 1, 1)
    labels: dict[int, str] = {}
    starts: dict[tuple[int, int], datetime] = {}

    def label_of(day: int) -> str:
        label = labels.get(day)
        if label is None:
            label = labels[day] = _period_label(by, epoch + timedelta(days=day))
        return label

    for utc_day, day, *row in rows:
        at = starts.get((utc_day, day))
        if at is None:
            start = max(utc_day * _DAY_MS, lo)
            if time_grouping:
                local = epoch + timedelta(days=day)
                midnight = int(datetime(local.year, local.month, local.day, tzinfo=zone).timestamp() * 1000)
                start = max(start, midnight)
            at = starts[(utc_day, day)] = datetime.fromtimestamp(start / 1000, UTC)
        _fold(row, label_of(day) if time_grouping else None, at, groups, unpriced, pricer)
    sessions = store.db.execute(
        f"SELECT DISTINCT {local_day if time_grouping else key}, session_id FROM usage_rollup WHERE {where}",
        [first, last, *where_params],
    ).fetchall()
    for value, session in sessions:
        name = label_of(value) if time_grouping else (value or "(none)")
        groups[name].sessions.add(session)
    return first, last


_MIGRATION_MODEL_FIRST: Final = "m040_usage_rollup_model_first"


def _rollup_combos(store: Store, filters: Filters) -> list[tuple[str, int, int]]:
    """Every (model, band, has_cost) in the rollup: a few index seeks once the table is ordered by
    them (m040), one scan on a store a read-only command found not yet migrated."""
    db = store.db
    migrated = db.execute("SELECT 1 FROM _migrations WHERE name = ?", (_MIGRATION_MODEL_FIRST,)).fetchone()
    if migrated is None:
        sql, params = "SELECT DISTINCT model, band, has_cost FROM usage_rollup", []
        if filters.model is not None:
            sql, params = sql + " WHERE model = ?", [filters.model]
        return sorted(db.execute(sql, params).fetchall())
    # One min() per step: `col > ?` after equal leading columns is a real seek. (A row-value
    # `(model, band, has_cost) > (?, ?, ?)` is not: SQLite steps through every row of the previous
    # combination, 9 ms for the model-less rows of a million events.)
    combos: list[tuple[str, int, int]] = []
    models = [filters.model] if filters.model is not None else []
    if filters.model is None:
        (model,) = db.execute("SELECT min(model) FROM usage_rollup").fetchone()
        while model is not None:
            models.append(model)
            (model,) = db.execute("SELECT min(model) FROM usage_rollup WHERE model > ?", (model,)).fetchone()
    for model in models:
        (band,) = db.execute("SELECT min(band) FROM usage_rollup WHERE model = ?", (model,)).fetchone()
        while band is not None:
            has_cost = -1
            while True:
                (has_cost,) = db.execute(
                    "SELECT min(has_cost) FROM usage_rollup WHERE model = ? AND band = ? AND has_cost > ?",
                    (model, band, has_cost),
                ).fetchone()
                if has_cost is None:
                    break
                combos.append((model, band, has_cost))
            (band,) = db.execute(
                "SELECT min(band) FROM usage_rollup WHERE model = ? AND band > ?", (model, band)
            ).fetchone()
    return combos


def _rollup_by_window(
    store: Store,
    filters: Filters,
    by: str,
    zone: tzinfo,
    windows: list[tuple[int, int]],
    groups: dict[str, Totals],
    unpriced: dict[str, int],
    pricer: Pricer,
    rollup_values: str = _ROLLUP_VALUES,
) -> list[tuple[int, int, int]]:
    """Fold the whole 15-minute buckets of each window from the rollup, one range read per
    (model, band, has_cost, window); returns the spans left for the events table.

    For a zone whose UTC offset is not a whole number of buckets (a pre-1900 local mean time), where
    `_scan_rollup` cannot fold buckets into local days: the partial buckets at each window's edges are
    left to the events table. Each sum reads adjacent rows (the rollup's key starts with the
    combination, m040); a window without rows costs one seek to the next bucket that has some.
    """
    ranges: list[tuple[int, int, int, str]] = []  # (first bucket, end bucket, window start ms, label)
    leftovers: list[tuple[int, int, int]] = []
    for start, end in windows:
        first, last = -(-start // _BUCKET_MS), end // _BUCKET_MS
        if first >= last:
            leftovers.append((start, end, start))
            continue
        ranges.append((first, last, start, _period_label(by, datetime.fromtimestamp(start / 1000, zone).date())))
        if start < first * _BUCKET_MS:
            leftovers.append((start, first * _BUCKET_MS, start))
        if last * _BUCKET_MS < end:
            leftovers.append((last * _BUCKET_MS, end, start))
    if not ranges:
        return leftovers
    combos = _rollup_combos(store, filters)
    where, where_params = _rollup_where(filters)  # bucket >= ? AND bucket < ? AND <filters>
    match = f"model = ? AND band = ? AND has_cost = ? AND {where}"
    sums_sql = f"SELECT {rollup_values} FROM usage_rollup WHERE {match}"
    sessions_sql = f"SELECT DISTINCT session_id FROM usage_rollup WHERE {match}"
    next_sql = f"SELECT min(bucket) FROM usage_rollup WHERE {match}"
    starts = [r[0] for r in ranges]
    end_bucket = ranges[-1][1]
    db = store.db
    at_of: dict[int, datetime] = {}
    for combo in combos:
        i = 0
        while i < len(ranges):
            first, last, start, label = ranges[i]
            params = [*combo, first, last, *where_params]
            sums = db.execute(sums_sql, params).fetchone()
            if not sums[0]:  # nothing in this window: seek the next bucket that has rows
                (found,) = db.execute(next_sql, [*combo, first, end_bucket, *where_params]).fetchone()
                if found is None:
                    break
                j = bisect.bisect_right(starts, found) - 1  # the last window starting at or before it
                i = j if j > i and found < ranges[j][1] else max(i, j) + 1  # past a partial bucket: the next
                continue
            at = at_of.get(start)
            if at is None:
                at = at_of[start] = datetime.fromtimestamp(start / 1000, UTC)
            _fold(("", *combo, *sums), label, at, groups, unpriced, pricer)
            sessions = [s for (s,) in db.execute(sessions_sql, params).fetchall()]
            groups[label].sessions.update(sessions)
            i += 1
    return leftovers


def _grand_total(groups: Iterable[Totals]) -> Totals:
    """The report's total: every row was folded into exactly one group, so it is their sum."""
    total = Totals(key="total")
    for group in groups:
        total.events += group.events
        for kind, n in group.kinds.items():
            total.kinds[kind] += n
        total.sessions |= group.sessions
        total.input_tokens += group.input_tokens
        total.output_tokens += group.output_tokens
        total.cache_creation_tokens += group.cache_creation_tokens
        total.cache_read_tokens += group.cache_read_tokens
        total.reasoning_tokens += group.reasoning_tokens
        total.cost_usd += group.cost_usd
        total.unpriced_tokens += group.unpriced_tokens
        total.models |= group.models
    return total


def _fold(
    row: Any,
    label: str | None,
    at: datetime,
    groups: dict[str, Totals],
    unpriced: dict[str, int],
    pricer: Pricer,
) -> None:
    key, model, band, has_cost, events, *rest = row
    kinds = rest[: len(KIND_COLUMNS)]
    requests, inp, out, cc, cr, reasoning, cost_sum, cc_1h, searches = rest[len(KIND_COLUMNS) :]
    if has_cost == RECORDED_COST:
        cost: float | None = cost_sum
    elif inp or out or cc or cr or searches:
        sums = TokenSums(inp, out, cc, cr, requests, cc_1h, searches)
        cost = pricer.cost(model or None, band, at, sums, fast=has_cost == FAST_MODE)
    else:
        cost = 0.0
    name = label if label is not None else (key or "(none)")
    group = groups.get(name)
    if group is None:
        group = groups[name] = Totals(key=name)
    tokens = inp + out + cc + cr
    group.events += events
    counts = group.kinds
    for (_, kind), n in zip(KIND_COLUMNS, kinds, strict=True):
        counts[kind] += n
    group.input_tokens += inp
    group.output_tokens += out
    group.cache_creation_tokens += cc
    group.cache_read_tokens += cr
    group.reasoning_tokens += reasoning
    if cost is None:
        group.unpriced_tokens += tokens
    else:
        group.cost_usd += cost
    if model and tokens:
        group.models.add(model)
    if cost is None and tokens:
        unpriced[model or "(no model)"] = unpriced.get(model or "(no model)", 0) + tokens
