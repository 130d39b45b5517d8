"""Session-day slices: one rollup scan per page, every total, split and trend computed from it.

Why: the overview shows a dozen aggregates (totals, per-day trends, splits by agent and model,
top developers and workspaces), several of them distinct counts (sessions, developers, active
days). As separate `COUNT(DISTINCT ...)` queries over the rollup they cost ~200 ms each on a
million events; instead one hash-aggregated query collapses the period's rollup rows to one row per
(day, session, agent, model, developer, workspace, project) - a few thousand rows for a 90-day,
1,000,000-event table - and the page's numbers are computed from those rows in Python. Distinct
counts stay exact because the session and the developer are part of each slice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from devlog_server.dashboard.filters import Bucket, Filters, parse_filters
from devlog_server.dashboard.queries import R, conditions

__all__ = [
    "Breakdown", "Rest", "Series", "Slice", "SliceSet", "Totals", "bucket_labels", "bucket_start", "chart_bucket",
    "load_slices",
]  # fmt: skip

Dimension = Literal["agent", "model", "user", "workspace", "project"]
Metric = Literal["events", "sessions", "developers", "tokens", "cost"]
MAX_SLICES: Final = 500_000


@dataclass(frozen=True, slots=True)
class Slice:
    """Summed counters of one session on one day (for one agent, model, developer, workspace)."""

    day: str
    session_id: str
    agent: str
    model: str | None
    user: str | None
    workspace: str | None
    project: str | None
    events: int
    prompts: int
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_read_tokens: int
    cost_usd: float
    last_ts: datetime

    @property
    def tokens(self) -> int:
        """Input + output + cache creation + cache read (the schema's `Usage.total`)."""
        return self.input_tokens + self.output_tokens + self.cache_creation_tokens + self.cache_read_tokens

    def key(self, dimension: Dimension) -> str | None:
        """This slice's value of a dimension."""
        return getattr(self, dimension)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Totals:
    """Totals over a set of slices (a KPI card row, or one row of a table)."""

    events: int = 0
    sessions: int = 0
    developers: int = 0
    prompts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    active_days: int = 0
    last_ts: datetime | None = None

    @property
    def cache_hit_ratio(self) -> float | None:
        """cache_read / (input + cache_read): how much input was served from the prompt cache."""
        denominator = self.input_tokens + self.cache_read_tokens
        return self.cache_read_tokens / denominator if denominator else None

    def metric(self, name: Metric) -> float:
        """The value of one chart metric."""
        values: dict[str, float] = {"events": self.events, "sessions": self.sessions, "developers": self.developers}
        values |= {"tokens": self.tokens, "cost": self.cost_usd}
        return values[name]


def totals_of(slices: Iterable[Slice]) -> Totals:
    """Totals of some slices (distinct sessions, developers and days counted exactly)."""
    items = list(slices)
    if not items:
        return Totals()
    return Totals(
        events=sum(s.events for s in items),
        sessions=len({s.session_id for s in items}),
        developers=len({s.user for s in items if s.user}),
        prompts=sum(s.prompts for s in items),
        input_tokens=sum(s.input_tokens for s in items),
        output_tokens=sum(s.output_tokens for s in items),
        cache_creation_tokens=sum(s.cache_creation_tokens for s in items),
        cache_read_tokens=sum(s.cache_read_tokens for s in items),
        tokens=sum(s.tokens for s in items),
        cost_usd=round(sum(s.cost_usd for s in items), 6),
        active_days=len({s.day for s in items}),
        last_ts=max(s.last_ts for s in items),
    )


@dataclass(frozen=True)
class Breakdown:
    """Totals of one value of a dimension (an agent, a model, a developer, a workspace, ...)."""

    key: str | None
    totals: Totals
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rest:
    """The values a cut table leaves out, taken together: its last row ("3 more models")."""

    count: int
    keys: list[str | None]
    totals: Totals


#: Metrics counted distinct per bucket: their per-bucket values do not add up across agents or models.
DISTINCT_METRICS: Final = frozenset({"sessions", "developers"})


@dataclass(frozen=True)
class Series:
    """Values per bucket for each value of a split dimension (a stacked chart's datasets)."""

    labels: list[str]
    stacks: dict[str, list[float]]
    metric: Metric

    @property
    def total(self) -> float:
        """Sum over every bucket and stack (what the chart adds up to)."""
        return sum(sum(values) for values in self.stacks.values())


#: The most buckets a chart draws: a longer period is drawn in the next coarser bucket (weeks, then
#: months, then years), so every event of it is in the chart and its total is the cards' total.
MAX_BUCKETS: Final = 1500
_COARSER: Final[dict[Bucket, Bucket]] = {"day": "week", "week": "month", "month": "year"}


def bucket_start(day: date, bucket: Bucket) -> date:
    """The first day of the `bucket` (day, week from Monday, month, year) that holds `day`."""
    if bucket == "day":
        return day
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1) if bucket == "month" else day.replace(month=1, day=1)


def _next_bucket(start: date, bucket: Bucket) -> date:
    if bucket in ("day", "week"):
        return start + timedelta(days=1 if bucket == "day" else 7)
    if bucket == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start.replace(year=start.year + 1)


def _bucket_count(start: date, end: date, bucket: Bucket) -> int:
    if bucket in ("day", "week"):
        return (bucket_start(end, bucket) - bucket_start(start, bucket)).days // (1 if bucket == "day" else 7) + 1
    if bucket == "month":
        return (end.year - start.year) * 12 + end.month - start.month + 1
    return end.year - start.year + 1


def _span(filters: Filters, first: date | None, last: date | None) -> tuple[date, date] | None:
    start = filters.since_day or first
    end = (filters.until_day - timedelta(days=1)) if filters.until_day else last
    if start is None or end is None or start > end:
        return None
    return start, end


def chart_bucket(filters: Filters, first: date | None, last: date | None) -> Bucket:
    """The bucket the period is drawn in: the filters' own, or a coarser one past `MAX_BUCKETS`."""
    bucket = filters.bucket
    span = _span(filters, first, last)
    while span is not None and bucket in _COARSER and _bucket_count(*span, bucket) > MAX_BUCKETS:
        bucket = _COARSER[bucket]
    return bucket


def bucket_labels(filters: Filters, first: date | None, last: date | None) -> list[str]:
    """Every bucket of the period in order (empty ones included, so the x axis is honest), in the
    filters' bucket (see `chart_bucket` for a period too long for it)."""
    span = _span(filters, first, last)
    if span is None:
        return []
    start, end = span
    labels: list[str] = []
    day = bucket_start(start, filters.bucket)
    while day <= end:
        labels.append(day.isoformat())
        try:
            day = _next_bucket(day, filters.bucket)
        except (OverflowError, ValueError):  # (past the calendar's last year)
            break
    return labels


class SliceSet:
    """The slices of one page request, and everything the pages compute from them."""

    def __init__(self, slices: list[Slice], filters: Filters) -> None:
        self.slices = slices
        days = [date.fromisoformat(s.day) for s in slices]
        first, last = min(days, default=None), max(days, default=None)
        bucket = chart_bucket(filters, first, last)
        #: The filters, their bucket the one the period is drawn in (pages title their charts with it).
        self.filters = filters if bucket == filters.bucket else replace(filters, bucket=bucket)
        self.labels = bucket_labels(self.filters, first, last)
        self._index = {label: i for i, label in enumerate(self.labels)}
        self._bucket_of: Callable[[str], str] = (lambda day: day) if bucket == "day" else self._bucket_label

    def _bucket_label(self, day: str) -> str:
        return bucket_start(date.fromisoformat(day), self.filters.bucket).isoformat()

    def totals(self) -> Totals:
        """Totals over the whole selection."""
        return totals_of(self.slices)

    def per_bucket(self) -> list[Totals]:
        """Totals per day or week of the period (every bucket present)."""
        groups: dict[int, list[Slice]] = defaultdict(list)
        for s in self.slices:
            position = self._index.get(self._bucket_of(s.day))
            if position is not None:
                groups[position].append(s)
        return [totals_of(groups.get(i, ())) for i in range(len(self.labels))]

    def breakdown(self, by: Dimension, *, limit: int = 500) -> list[Breakdown]:
        """Totals per value of `by`, highest cost first (then most tokens, most events, name).

        Tokens come before events so that, among values without a cost (models the price data does
        not know), the one that used the most tokens comes first.
        """
        groups: dict[str | None, list[Slice]] = defaultdict(list)
        for s in self.slices:
            groups[s.key(by)].append(s)
        rows = []
        for key, items in groups.items():
            extra = {"project": next((s.project for s in items if s.project), None)} if by == "workspace" else {}
            rows.append(Breakdown(key=key, totals=totals_of(items), extra=extra))
        rows.sort(key=lambda b: (-b.totals.cost_usd, -b.totals.tokens, -b.totals.events, b.key or ""))
        return rows[:limit]

    def breakdown_with_rest(self, by: Dimension, *, limit: int) -> tuple[list[Breakdown], Rest | None]:
        """`breakdown(by)` cut to `limit` rows, and the values it cut taken together (None when none were).

        A table that only showed its first rows would silently drop the others' tokens and cost
        (a big model the price data does not know has no cost, so it sorts late); the rest row
        keeps the table adding up to the page's totals. One value more than `limit` is shown as
        itself: a row summing a single value would hide its name for nothing.
        """
        rows = self.breakdown(by, limit=len(self.slices) + 1)
        if len(rows) <= limit + 1:
            return rows, None
        head, tail = rows[:limit], rows[limit:]
        left_out = {b.key for b in tail}
        totals = totals_of(s for s in self.slices if s.key(by) in left_out)
        return head, Rest(count=len(tail), keys=[b.key for b in tail], totals=totals)

    def series(self, split: Literal["agent", "model"], metric: Metric, *, max_stacks: int = 8) -> Series:
        """`metric` per bucket split by agent or model; small stacks are summed as 'other'.

        Sessions and developers are counted distinct per bucket, and one of them on several agents or
        models would count once per stack if they were stacked (a week of 6 developers drew a bar of
        34): those are one series, the bucket's distinct count (`DISTINCT_METRICS`).
        """
        if metric in DISTINCT_METRICS:
            values = [float(t.metric(metric)) for t in self.per_bucket()]
            return Series(labels=self.labels, stacks={metric: values} if any(values) else {}, metric=metric)
        groups: dict[str, dict[int, list[Slice]]] = defaultdict(lambda: defaultdict(list))
        for s in self.slices:
            position = self._index.get(self._bucket_of(s.day))
            if position is not None:
                groups[s.key(split) or "(none)"][position].append(s)
        per_stack = {
            name: [totals_of(buckets.get(i, ())).metric(metric) for i in range(len(self.labels))]
            for name, buckets in groups.items()
        }
        ordered = sorted(((k, v) for k, v in per_stack.items() if any(v)), key=lambda item: (-sum(item[1]), item[0]))
        if len(ordered) > max_stacks:
            head, tail = ordered[: max_stacks - 1], ordered[max_stacks - 1 :]
            other = [sum(values[i] for _, values in tail) for i in range(len(self.labels))]
            ordered = [*head, ("other", other)]
        return Series(
            labels=self.labels,
            stacks={name: [round(v, 6) for v in values] for name, values in ordered},
            metric=metric,
        )

    def sparklines(self, by: Dimension) -> dict[str | None, list[float]]:
        """Per value of `by`: events per bucket over the period (the tables' trend lines)."""
        lines: dict[str | None, list[float]] = defaultdict(lambda: [0.0] * len(self.labels))
        for s in self.slices:
            position = self._index.get(self._bucket_of(s.day))
            if position is not None:
                lines[s.key(by)][position] += s.events
        return dict(lines)

    def unpriced(self, by: Dimension = "model") -> dict[str | None, int]:
        """Tokens counted as $0, per value of `by` (models by default), most tokens first.

        A slice with tokens and no cost is one whose events carry usage but no `cost_usd`: the agent
        recorded none and the collector's price data does not know the model (see `devlog stats`,
        which marks such costs with `*`). A session-day that mixes priced and unpriced events of one
        model counts as priced, so this is a lower bound, read from the slices the page holds anyway.
        """
        tokens: dict[str | None, int] = defaultdict(int)
        for s in self.slices:
            if s.cost_usd == 0 and s.tokens > 0:
                tokens[s.key(by)] += s.tokens
        return dict(sorted(tokens.items(), key=lambda item: (-item[1], item[0] or "")))

    def choices(self) -> dict[str, list[str]]:
        """Distinct workspaces, agents, developers and models (the filter bar's options)."""
        seen: dict[str, set[str]] = {"workspace": set(), "agent": set(), "user": set(), "model": set()}
        for s in self.slices:
            for name, value in (("workspace", s.workspace), ("agent", s.agent), ("user", s.user), ("model", s.model)):
                if value:
                    seen[name].add(value)
        return {name: sorted(values) for name, values in seen.items()}


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite returns aggregates of DateTime columns as text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def has_any_events(conn: AsyncConnection, allowed: Sequence[str] | None) -> bool:
    """Whether any event the key may read has ever arrived (an empty page then says how data comes)."""
    every_event = conditions(parse_filters({"period": "all"}), allowed)  # (only the key's workspaces)
    return (await conn.execute(select(R.day).where(*every_event).limit(1))).first() is not None


async def load_slices(conn: AsyncConnection, filters: Filters, allowed: Sequence[str] | None) -> SliceSet:
    """The session-day slices the filters select among the workspaces the key may read."""
    dimensions = (R.day, R.session_id, R.agent, R.model, R.user_name, R.workspace, R.project)
    query = (
        select(
            *dimensions,
            func.sum(R.events),
            func.sum(case((R.kind == "prompt", R.events), else_=0)),
            func.sum(R.input_tokens),
            func.sum(R.output_tokens),
            func.sum(R.cache_creation_tokens),
            func.sum(R.cache_read_tokens),
            func.sum(R.cost_usd),
            func.max(R.last_ts),
        )
        .where(*conditions(filters, allowed))
        .group_by(*dimensions)
        .limit(MAX_SLICES)
    )
    result = await conn.execute(query)
    slices = [
        Slice(
            day=str(row[0]),
            session_id=row[1],
            agent=row[2],
            model=row[3] or None,
            user=row[4] or None,
            workspace=row[5] or None,
            project=row[6] or None,
            events=int(row[7]),
            prompts=int(row[8]),
            input_tokens=int(row[9]),
            output_tokens=int(row[10]),
            cache_creation_tokens=int(row[11]),
            cache_read_tokens=int(row[12]),
            cost_usd=float(row[13] or 0.0),
            last_ts=_utc(row[14]),
        )
        for row in result
    ]
    return SliceSet(slices, filters)
