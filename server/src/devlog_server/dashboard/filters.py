"""The filter bar shared by every page: period, workspace, agent, user, model, day/week buckets.

Periods are whole UTC days (`since_day` inclusive, `until_day` exclusive), the unit the rollup table
stores, so a page's totals equal `GET /api/v1/stats?since=<since_day>T00:00Z&until=<until_day>T00:00Z`
exactly. Values come from the query string; anything unparseable falls back to the default rather
than failing the page (a bookmarked URL with an old parameter still opens), and characters no
database column can hold (NUL) are dropped from text filters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal
from urllib.parse import urlencode

from devlog_server.queries import prefix_folder
from devlog_server.text import safe_text

__all__ = ["PERIODS", "Filters", "parse_filters", "subfolder_counts"]

#: A chart's bucket. Only day and week can be chosen (`every`); a period too long to draw in them
#: (all time over decades: an event dated 1970 beside today's) is drawn in months or years
#: (`slices.chart_bucket`).
Bucket = Literal["day", "week", "month", "year"]

#: Period choices shown in the filter bar: value -> (label, days or None for all time).
PERIODS: Final[dict[str, tuple[str, int | None]]] = {
    "7d": ("Last 7 days", 7),
    "30d": ("Last 30 days", 30),
    "90d": ("Last 90 days", 90),
    "365d": ("Last 12 months", 365),
    "all": ("All time", None),
}
DEFAULT_PERIOD: Final = "30d"
_BUCKETS: Final[dict[str, Bucket]] = {"day": "day", "week": "week"}
_MAX_TEXT: Final = 4096


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None
    # Outside the years events may have (see ingest) a date is ignored, not an overflow later on.
    return day if 1970 <= day.year <= 2999 else None


def _text(value: str | None) -> str | None:
    # NULs and unpaired surrogates cannot reach a query parameter (Postgres refuses them): dropped.
    value = safe_text((value or "").strip(), _MAX_TEXT).strip()
    return value or None


@dataclass(frozen=True)
class Filters:
    """The resolved filters of one page request."""

    period: str = DEFAULT_PERIOD
    since_day: date | None = None
    until_day: date | None = None
    workspace: str | None = None
    agent: str | None = None
    user: str | None = None
    model: str | None = None
    bucket: Bucket = "day"
    every: Bucket | None = None
    """The bucket the query string asked for (None: `bucket` was chosen from the period's length).

    Only an explicit choice goes into links: an automatic one would stick to the next period (weeks
    chosen for "all time" kept on "last 7 days")."""
    open_end: bool = False
    """A custom period given only a From date: it runs to today (`until_day` is tomorrow), and its
    links leave the end open, so a bookmarked page keeps running to the day it is opened."""

    @property
    def since(self) -> datetime | None:
        """Start of the period as a UTC datetime (None: from the beginning)."""
        return datetime.combine(self.since_day, datetime.min.time(), UTC) if self.since_day else None

    @property
    def until(self) -> datetime | None:
        """End of the period (exclusive) as a UTC datetime (None: up to now)."""
        return datetime.combine(self.until_day, datetime.min.time(), UTC) if self.until_day else None

    @property
    def since_key(self) -> str | None:
        """`since_day` as the rollup's 'YYYY-MM-DD' day key."""
        return self.since_day.isoformat() if self.since_day else None

    @property
    def until_key(self) -> str | None:
        """`until_day` as the rollup's 'YYYY-MM-DD' day key."""
        return self.until_day.isoformat() if self.until_day else None

    def params(self, **overrides: str | None) -> dict[str, str]:
        """The query parameters that reproduce these filters (with `overrides`; None drops one)."""
        values: dict[str, str | None] = {
            "period": self.period,
            "from": self.since_key if self.period == "custom" else None,
            "to": (self.until_day - timedelta(days=1)).isoformat()
            if self.period == "custom" and self.until_day and not self.open_end
            else None,
            "workspace": self.workspace,
            "agent": self.agent,
            "user": self.user,
            "model": self.model,
            "every": self.every,
        }
        values.update(overrides)
        return {k: v for k, v in values.items() if v}

    def query(self, **overrides: str | None) -> str:
        """`params()` as a query string (with a leading '?', or '' when empty)."""
        params = self.params(**overrides)
        return "?" + urlencode(params) if params else ""

    @property
    def label(self) -> str:
        """Human description of the period."""
        if self.period in PERIODS:
            return PERIODS[self.period][0]
        start = self.since_key or "the beginning"
        end = (self.until_day - timedelta(days=1)).isoformat() if self.until_day and not self.open_end else "now"
        return f"{start} – {end}"


def parse_filters(query: dict[str, str], *, today: date | None = None) -> Filters:
    """Resolve the page's query-string parameters into `Filters` (see the module docstring)."""
    today = today or datetime.now(UTC).date()
    period = query.get("period") or DEFAULT_PERIOD
    since_day: date | None
    until_day: date | None
    start, end = _day(query.get("from")), _day(query.get("to"))
    if start is not None or end is not None:
        period = "custom"
    if period == "custom":
        since_day = start
        until_day = (end + timedelta(days=1)) if end else None
        if since_day and until_day and since_day >= until_day:
            since_day, until_day = until_day - timedelta(days=1), since_day + timedelta(days=1)
        if since_day is None and until_day is None:
            period = DEFAULT_PERIOD
    open_end = period == "custom" and until_day is None
    if open_end:  # (From only: to today, not to the newest event, which may be dated in the future)
        until_day = max(today, since_day or today) + timedelta(days=1)
    if period != "custom":
        if period not in PERIODS:
            period = DEFAULT_PERIOD
        days = PERIODS[period][1]
        since_day = today - timedelta(days=days - 1) if days else None
        until_day = today + timedelta(days=1) if days else None
    every = _BUCKETS.get(query.get("every") or "")
    bucket: Bucket
    if every is not None:
        bucket = every
    else:
        span = ((until_day or today + timedelta(days=1)) - since_day).days if since_day else None
        bucket = "week" if span is None or span > 120 else "day"
    return Filters(
        period=period,
        since_day=since_day,
        until_day=until_day,
        workspace=_text(query.get("workspace")),
        agent=_text(query.get("agent")),
        user=_text(query.get("user")),
        model=_text(query.get("model")),
        bucket=bucket,
        every=every,
        open_end=open_end,
    )


def subfolder_counts(workspaces: Iterable[str]) -> dict[str, int]:
    """For each of `workspaces` that has others below it, how many: the workspaces its filter adds.

    The workspace filter is a folder prefix (sub-folders included, as in the API), so a link that
    filters on `/w` also counts `/w/sub`; the pages use this to say so. Mirrors
    `workspace_prefix_condition`: `/w` covers `/w` itself and whatever starts with `/w/`.
    """
    by_folder: dict[str, list[str]] = {}
    for workspace in set(workspaces):
        if workspace:
            by_folder.setdefault(prefix_folder(workspace), []).append(workspace)
    counts: dict[str, int] = {}
    for folder in by_folder:
        ancestors = {folder[:i] for i, char in enumerate(folder) if char == "/" and i > 0}
        if folder[:1] == "/" and len(folder) > 1:
            ancestors.add(folder[:1])  # the root covers every path that starts with it
        for ancestor in ancestors & by_folder.keys():
            for workspace in by_folder[ancestor]:
                counts[workspace] = counts.get(workspace, 0) + len(by_folder[folder])
    return counts
