"""A period too long to draw per day or week is drawn per month or year, every event in it.

One event dated 1970 beside today's (ingest accepts 1970-2999) made "All time, per day" stop after
4,000 days from the first: the chart said "No tokens in this period" while the Tokens card said 1k,
and an event dated 2999 was missing from a chart whose total then disagreed with the cards (a
self-host test)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from devlog_server.dashboard.filters import parse_filters
from devlog_server.dashboard.slices import MAX_BUCKETS, Slice, SliceSet, bucket_labels, bucket_start


def _slice(day: str, tokens: int) -> Slice:
    return Slice(
        day=day, session_id=f"s-{day}", agent="claude", model="m", user="u", workspace="/w", project="w",
        events=1, prompts=1, input_tokens=tokens, output_tokens=0, cache_creation_tokens=0, cache_read_tokens=0,
        cost_usd=0.0, last_ts=datetime.fromisoformat(day).replace(tzinfo=UTC),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("days", "every", "drawn_per"),
    [
        (["1970-01-01", "2026-12-01"], "day", "month"),
        (["1970-01-01", "2026-12-01", "2999-06-30"], "week", "year"),
        (["2026-11-01", "2026-12-01"], "day", "day"),
        (["2020-01-01", "2026-12-01"], "week", "week"),
    ],
)
def test_every_event_of_a_long_period_is_in_its_chart(days: list[str], every: str, drawn_per: str) -> None:
    filters = parse_filters({"period": "all", "every": every}, today=date(2026, 12, 6))
    slices = SliceSet([_slice(day, 1000 * (n + 1)) for n, day in enumerate(days)], filters)
    assert slices.filters.bucket == drawn_per and slices.filters.every == every  # (links keep the choice)
    assert len(slices.labels) <= MAX_BUCKETS
    series = slices.series("agent", "tokens")
    assert series.total == slices.totals().tokens == sum(1000 * (n + 1) for n in range(len(days)))
    assert slices.labels[0] == bucket_start(date.fromisoformat(days[0]), drawn_per).isoformat()  # type: ignore[arg-type]
    assert slices.labels[-1] == bucket_start(date.fromisoformat(days[-1]), drawn_per).isoformat()  # type: ignore[arg-type]


def test_month_and_year_buckets_step_over_the_calendar() -> None:
    filters = parse_filters({"from": "2026-11-15", "to": "2027-02-03"}, today=date(2026, 12, 6))
    monthly = bucket_labels(type(filters)(**{**filters.__dict__, "bucket": "month"}), None, None)
    assert monthly == ["2026-11-01", "2026-12-01", "2027-01-01", "2027-02-01"]
    yearly = bucket_labels(type(filters)(**{**filters.__dict__, "bucket": "year"}), None, None)
    assert yearly == ["2026-01-01", "2027-01-01"]
