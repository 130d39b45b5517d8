"""`devlog stats`: totals against hand-computed fixtures, time-zone bucketing, both aggregation paths, pricing."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import genai_prices
import pytest

from devlog_collector.query import stats as stats_module
from devlog_collector.query.filters import FilterArgs, Filters, build_filters
from devlog_collector.query.pricing import Pricer, TokenSums
from devlog_collector.query.stats import StatsReport, compute_stats
from devlog_collector.store import Store
from devlog_shared import EVENT_KINDS
from tests.collector.collect_helpers import write_as_before
from tests.collector.query.helpers import at, ev, store_with

SONNET = "claude-sonnet-4-5-20250929"
LA = ZoneInfo("America/Los_Angeles")
KOLKATA = ZoneInfo("Asia/Kolkata")


def reference_cost(model: str, inp: int, out: int, cc: int, cr: int, ts: str) -> float:
    """genai-prices itself, one call per event (what the grouped pricing must reproduce)."""
    usage = genai_prices.Usage(
        input_tokens=inp + cc + cr, output_tokens=out, cache_write_tokens=cc, cache_read_tokens=cr
    )
    return float(genai_prices.calc_price(usage, model, genai_request_timestamp=at(ts)).total_price)


@pytest.fixture
def pricer(tmp_path: Path) -> Pricer:
    return Pricer.load(tmp_path / "prices.json")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    events = [
        ev("2026-03-02T07:59:00", model=SONNET, usage=(100, 50, 10, 1000), session="c1"),
        ev("2026-03-02T08:01:00", model=SONNET, usage=(200, 60, 0, 2000), session="c1"),
        ev("2026-03-02T18:29:00", "prompt", text="hello", session="c1"),
        ev(
            "2026-03-02T18:31:00",
            agent="codex",
            model="gpt-5",
            usage=(300, 70, 0, 500, 20),
            session="x1",
            workspace="/w/personal/blog",
        ),
        ev("2026-03-02T18:31:30", "tool_call", agent="codex", tool="shell", session="x1", workspace="/w/personal/blog"),
        ev(
            "2026-03-02T18:31:40",
            "file_edit",
            agent="codex",
            file="/w/personal/blog/a.md",
            session="x1",
            workspace="/w/personal/blog",
        ),
        ev("2026-03-03T12:00:00", model="mystery-model", usage=(5, 5, 0, 0), session="c2"),
        ev("2026-03-03T12:05:00", model=SONNET, usage=(1000, 1000, 0, 0), cost=1.25, session="c2"),
    ]
    s = store_with(tmp_path / "events.db", events)
    yield s
    s.close()


def days(report: StatsReport) -> dict[str, int]:
    return {g.key: g.events for g in report.groups}


def test_totals_match_hand_computed_sums(store: Store, pricer: Pricer) -> None:
    report = compute_stats(store, Filters(), by="day", tz=ZoneInfo("UTC"), pricer=pricer)
    t = report.total
    assert t.events == 8
    assert len(t.sessions) == 3
    assert (t.kinds["prompt"], t.kinds["tool_call"], t.kinds["file_edit"], t.kinds["response"]) == (1, 1, 1, 5)
    assert t.input_tokens == 100 + 200 + 300 + 5 + 1000
    assert t.output_tokens == 50 + 60 + 70 + 5 + 1000
    assert t.cache_creation_tokens == 10
    assert t.cache_read_tokens == 1000 + 2000 + 500
    assert t.reasoning_tokens == 20
    assert t.total_tokens == 1605 + 1185 + 10 + 3500
    assert report.unpriced_models == {"mystery-model": 10}
    # Sonnet 4.5: $3 input, $15 output, $3.75 cache write, $0.30 cache read per million tokens.
    first = 100 * 3e-6 + 50 * 15e-6 + 10 * 3.75e-6 + 1000 * 0.3e-6
    assert first == pytest.approx(reference_cost(SONNET, 100, 50, 10, 1000, "2026-03-02T07:59:00"))
    expected = (
        first
        + reference_cost(SONNET, 200, 60, 0, 2000, "2026-03-02T08:01:00")
        + reference_cost("gpt-5", 300, 70, 0, 500, "2026-03-02T18:31:00")
        + 1.25  # recorded cost_usd wins over pricing
    )
    assert t.cost_usd == pytest.approx(expected, rel=1e-9)
    assert days(report) == {"2026-03-02": 6, "2026-03-03": 2}
    day3 = report.groups[1]
    assert day3.unpriced_tokens == 10 and day3.cost_usd == pytest.approx(1.25)


def test_day_buckets_follow_the_time_zone(store: Store, pricer: Pricer) -> None:
    la = compute_stats(store, Filters(), by="day", tz=LA, pricer=pricer)
    assert days(la) == {"2026-03-01": 1, "2026-03-02": 5, "2026-03-03": 2}
    kolkata = compute_stats(store, Filters(), by="day", tz=KOLKATA, pricer=pricer)
    assert days(kolkata) == {"2026-03-02": 3, "2026-03-03": 5}
    assert kolkata.timezone == "Asia/Kolkata"
    assert la.total.cost_usd == pytest.approx(kolkata.total.cost_usd)
    # sessions are counted in each day they were active in: c1 spans two LA days
    assert [len(g.sessions) for g in kolkata.groups] == [1, 2]
    assert [len(g.sessions) for g in la.groups] == [1, 2, 1]


def test_dst_change_in_los_angeles(tmp_path: Path, pricer: Pricer) -> None:
    # 2026-03-08 02:00 PST -> 03:00 PDT: that day is 23 hours long.
    # 2026-03-08T07:59Z is 23:59 PST on the 7th; 2026-03-09T06:59Z is 23:59 PDT on the 8th.
    with store_with(
        tmp_path / "d.db",
        [
            ev("2026-03-08T07:59:00", "prompt"),
            ev("2026-03-08T08:01:00", "prompt"),
            ev("2026-03-09T06:59:00", "prompt"),
            ev("2026-03-09T07:01:00", "prompt"),
        ],
    ) as s:
        report = compute_stats(s, Filters(), by="day", tz=LA, pricer=pricer)
    assert days(report) == {"2026-03-07": 1, "2026-03-08": 2, "2026-03-09": 1}


@pytest.mark.parametrize("tz_env", ["America/Los_Angeles", ":America/Los_Angeles", None], ids=["TZ", "TZ-colon", "etc"])
def test_the_default_local_zone_keeps_its_dst_rules(
    tmp_path: Path, pricer: Pricer, monkeypatch: pytest.MonkeyPatch, tz_env: str | None
) -> None:
    """Without --timezone, days are the local zone's, on both sides of a DST change (not today's offset)."""
    from devlog_collector import localzone

    if tz_env is None:  # no $TZ: the zone comes from /etc/localtime (here a symlink into zoneinfo)
        monkeypatch.delenv("TZ", raising=False)
        link = tmp_path / "localtime"
        link.symlink_to(_zoneinfo_file())
        monkeypatch.setattr(localzone, "_LOCALTIME", link)
    else:
        monkeypatch.setenv("TZ", tz_env)
    with store_with(
        tmp_path / "d.db",
        [ev("2026-03-08T07:59:00", "prompt"), ev("2026-03-09T07:30:00", "prompt"), ev("2026-11-01T07:30:00", "prompt")],
    ) as s:
        local = compute_stats(s, Filters(), by="day", tz=None, pricer=pricer)
        explicit = compute_stats(s, Filters(), by="day", tz=LA, pricer=pricer)
    assert days(local) == days(explicit) == {"2026-03-07": 1, "2026-03-09": 1, "2026-11-01": 1}
    assert local.timezone == "America/Los_Angeles"


@pytest.fixture
def restore_c_library_zone() -> Iterator[None]:
    yield
    time.tzset()  # (monkeypatch has put $TZ back by now)


@pytest.mark.parametrize(("tz", "warned"), [("Bogus/Zone", True), ("Europe/Pari", True), ("EST5EDT", False)])
def test_a_tz_that_is_no_zone_and_no_rule_is_warned_about(
    monkeypatch: pytest.MonkeyPatch,
    restore_c_library_zone: None,
    capsys: pytest.CaptureFixture[str],
    tz: str,
    warned: bool,
) -> None:
    """The C library takes such a `$TZ` as UTC without a word: days came out in UTC under the typo's name."""
    from devlog_collector.log import configure_logging

    configure_logging(0)
    monkeypatch.setenv("TZ", tz)
    from devlog_collector.localzone import local_zone

    zone = local_zone()
    local_zone()  # said once
    said = capsys.readouterr().err
    assert said.count("is not a time zone this machine knows") == (1 if warned else 0), said
    if warned:  # one plain line, not a log record, and the zone used is named as what it is
        expected = f"warning: TZ={tz} is not a time zone this machine knows: times are in UTC"
        expected += " (fix TZ, or use --timezone)"
        assert said == expected + "\n"
        assert str(zone) == "UTC"
    else:
        assert str(zone) == tz


def test_a_posix_tz_rule_string_keeps_its_dst_rules_and_its_name(
    tmp_path: Path, pricer: Pricer, monkeypatch: pytest.MonkeyPatch, restore_c_library_zone: None
) -> None:
    """`TZ=PST8PDT,M3.2.0,M11.1.0` is Los Angeles' rules as the C library reads them."""
    monkeypatch.setenv("TZ", "XST8XDT,M3.2.0,M11.1.0")
    from devlog_collector.localzone import CLibraryZone, local_zone

    zone = local_zone()
    assert isinstance(zone, CLibraryZone) and str(zone) == "XST8XDT,M3.2.0,M11.1.0"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for hour in range(0, 365 * 24, 7):  # every 7 hours through the year: the same wall times as LA
        at = start + timedelta(hours=hour)
        ours, theirs = at.astimezone(zone), at.astimezone(LA)
        assert ours.replace(tzinfo=None) == theirs.replace(tzinfo=None), at
        assert ours.utcoffset() == theirs.utcoffset() and ours.dst() == theirs.dst(), at
    with store_with(
        tmp_path / "d.db",
        [ev("2026-03-08T07:59:00", "prompt"), ev("2026-03-09T07:30:00", "prompt"), ev("2026-11-01T07:30:00", "prompt")],
    ) as s:
        local = compute_stats(s, Filters(), by="day", tz=None, pricer=pricer)
    assert days(local) == {"2026-03-07": 1, "2026-03-09": 1, "2026-11-01": 1}
    assert local.timezone == "XST8XDT,M3.2.0,M11.1.0"


def _zoneinfo_file() -> Path:
    import zoneinfo

    for root in zoneinfo.TZPATH:
        candidate = Path(root) / "America" / "Los_Angeles"
        if candidate.exists():
            return candidate
    pytest.skip("no system zoneinfo database")


@pytest.mark.parametrize("prefix", ["", ":"])
def test_a_tz_that_names_a_zone_file_is_that_zone(
    monkeypatch: pytest.MonkeyPatch, restore_c_library_zone: None, capsys: pytest.CaptureFixture[str], prefix: str
) -> None:
    """glibc reads `TZ=/usr/share/zoneinfo/America/Los_Angeles`; devlog warned and bucketed days in
    UTC while `show` printed the C library's Los Angeles times."""
    monkeypatch.setenv("TZ", prefix + str(_zoneinfo_file()))
    from devlog_collector.localzone import local_zone

    zone = local_zone()
    assert capsys.readouterr().err == ""
    assert str(zone) == "America/Los_Angeles"
    summer = datetime(2026, 7, 1, 12, tzinfo=UTC).astimezone(zone)
    assert summer.utcoffset() == timedelta(hours=-7)


def test_rollup_and_event_scan_agree(store: Store, pricer: Pricer) -> None:
    fast = compute_stats(store, Filters(), by="day", tz=KOLKATA, pricer=pricer)
    slow = compute_stats(store, Filters(kinds=EVENT_KINDS), by="day", tz=KOLKATA, pricer=pricer)
    assert (fast.source, slow.source) == ("rollup", "events")
    assert [g.to_json() for g in fast.groups] == [g.to_json() for g in slow.groups]
    assert fast.total.to_json() == slow.total.to_json()


def test_partial_buckets_at_range_edges(store: Store, pricer: Pricer) -> None:
    args = FilterArgs(since="2026-03-02T08:00:30Z", until="2026-03-02T18:31:15Z")
    report = compute_stats(store, build_filters(store, args), by="day", tz=ZoneInfo("UTC"), pricer=pricer)
    assert report.source == "rollup"
    assert report.total.events == 3  # 08:01 response, 18:29 prompt, 18:31:00 response
    assert report.total.input_tokens == 500


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("agent", {"claude": 5, "codex": 3}),
        ("workspace", {"/w/work/api": 5, "/w/personal/blog": 3}),
        ("project", {"api": 5, "blog": 3}),
        ("model", {SONNET: 3, "gpt-5": 1, "mystery-model": 1, "(none)": 3}),
        ("session", {"c1": 3, "x1": 3, "c2": 2}),
        ("week", {"2026-03-02": 8}),
        ("month", {"2026-03": 8}),
    ],
)
def test_groupings(store: Store, pricer: Pricer, by: str, expected: dict[str, int]) -> None:
    report = compute_stats(store, Filters(), by=by, tz=ZoneInfo("UTC"), pricer=pricer)
    assert days(report) == expected
    assert sum(g.cost_usd for g in report.groups) == pytest.approx(report.total.cost_usd)


def test_filters_apply_to_stats(store: Store, pricer: Pricer) -> None:
    report = compute_stats(store, build_filters(store, FilterArgs(agents=("codex",))), by="agent", pricer=pricer)
    assert days(report) == {"codex": 3}
    assert report.total.reasoning_tokens == 20
    ws = compute_stats(store, build_filters(store, FilterArgs(workspace="/w/work")), by="day", pricer=pricer)
    assert ws.total.events == 5 and ws.source == "rollup"
    searched = compute_stats(store, build_filters(store, FilterArgs(search="hello")), by="day", pricer=pricer)
    assert searched.total.events == 1 and searched.source == "events"


def test_tiered_prices_are_applied_per_request(tmp_path: Path, pricer: Pricer) -> None:
    big, small = (1000, 100, 0, 250_000), (1000, 100, 0, 50_000)
    with store_with(
        tmp_path / "t.db",
        [ev("2026-03-02T10:00:00", model=SONNET, usage=big), ev("2026-03-02T10:01:00", model=SONNET, usage=small)],
    ) as s:
        report = compute_stats(s, Filters(), by="day", pricer=pricer)
    expected = reference_cost(SONNET, *big, "2026-03-02T10:00:00") + reference_cost(
        SONNET, *small, "2026-03-02T10:01:00"
    )
    assert report.total.cost_usd == pytest.approx(expected, rel=1e-9)
    # pricing the summed tokens as one request would have put both in the >200k tier
    assert expected < reference_cost(SONNET, 2000, 200, 0, 300_000, "2026-03-02T10:00:00")


def test_empty_store(tmp_path: Path, pricer: Pricer) -> None:
    with Store.open(tmp_path / "e.db") as s:
        report = compute_stats(s, Filters(), pricer=pricer)
    assert report.groups == [] and report.total.events == 0


def test_pricing_is_offline_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pricing tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    cache = tmp_path / "prices.json"
    pricer = Pricer.load(cache)
    assert pricer.known("claude-opus-4-5-20251101") and not pricer.known("mystery-model")
    pricer.save()
    again = Pricer.load(cache)
    assert again._snapshot is None  # coefficients came from the cache, not the price data
    assert again.known("claude-opus-4-5-20251101") and not again.known("mystery-model")
    assert again._snapshot is None


# -- the single grouped scan of the rollup ----------------------------------------------------------


@pytest.fixture
def dst_store(tmp_path: Path) -> Store:
    """Events every 47 minutes across LA's spring-forward and autumn-back changes and two models."""
    from datetime import timedelta

    events = []
    for start in ("2026-03-06T00:00:00", "2026-10-30T00:00:00"):
        t = at(start)
        for i in range(300):
            stamp = (t + timedelta(minutes=47 * i)).strftime("%Y-%m-%dT%H:%M:%S")
            model = SONNET if i % 3 else "gpt-5"
            events.append(ev(stamp, model=model, usage=(10 + i, 5, i % 7, 100), session=f"s{i // 40}",
                             agent="claude" if i % 2 else "codex"))  # fmt: skip
    s = store_with(tmp_path / "dst.db", events)
    yield s
    s.close()


def assert_same_report(fast: StatsReport, slow: StatsReport) -> None:
    def same(a: dict[str, object], b: dict[str, object]) -> None:
        # Costs are float sums added in another order: equal to rounding, everything else exactly.
        assert a.pop("cost_usd") == pytest.approx(b.pop("cost_usd"), rel=1e-9, abs=2e-6)
        assert a == b

    assert [g.key for g in fast.groups] == [g.key for g in slow.groups]
    for mine, theirs in zip(fast.groups, slow.groups, strict=True):
        same(mine.to_json(), theirs.to_json())
    same(fast.total.to_json(), slow.total.to_json())


@pytest.fixture(params=["grouped scans", "window reads"])
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Both ways of reading the rollup; records which one ran.

    The window reads are what a zone whose offset is not whole buckets gets; here they are forced for
    ordinary zones too (with their DST changes), by making the grouped scan decline.
    """
    used: list[str] = [request.param]
    window_reads, grouped_scans = stats_module._rollup_by_window, stats_module._scan_rollup
    if request.param == "window reads":
        monkeypatch.setattr(stats_module, "_offset_segments", lambda *args: None)

    def spy_windows(*args: object) -> object:
        used.append("window reads")
        return window_reads(*args)

    def spy_scan(*args: object) -> object:
        result = grouped_scans(*args)
        used.append("grouped scans" if result is not None else "declined")
        return result

    monkeypatch.setattr(stats_module, "_rollup_by_window", spy_windows)
    monkeypatch.setattr(stats_module, "_scan_rollup", spy_scan)
    return used


@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles", "Asia/Kathmandu", "Australia/Lord_Howe"])
@pytest.mark.parametrize("by", ["day", "week", "month", "agent", "model", "session"])
def test_rollup_scans_match_the_event_scan(
    dst_store: Store, pricer: Pricer, strategy: list[str], zone: str, by: str
) -> None:
    tz = ZoneInfo(zone)
    fast = compute_stats(dst_store, Filters(), by=by, tz=tz, pricer=pricer)
    slow = compute_stats(dst_store, Filters(kinds=EVENT_KINDS), by=by, tz=tz, pricer=pricer)
    assert (fast.source, slow.source) == ("rollup", "events")
    assert_same_report(fast, slow)
    assert fast.total.events == 600
    wanted, *ran = strategy
    if by in ("day", "week", "month") and wanted == "window reads":
        assert ran == ["declined", "window reads"]  # the event scan (`slow`) never reads the rollup
    else:
        assert ran == ["grouped scans"]


@pytest.mark.parametrize(
    "filters",
    [
        Filters(model=SONNET),
        Filters(agents=("codex",)),
        Filters(session="s3"),
        Filters(workspace="/w/work/api"),
        Filters(model="no-such-model"),
        # partial buckets at both ends, and a range that starts in a gap between events
        Filters(since_ms=int(at("2026-03-07T05:07:30").timestamp() * 1000),
                until_ms=int(at("2026-11-01T11:52:10").timestamp() * 1000)),
        Filters(since_ms=int(at("2026-05-01T00:00:00").timestamp() * 1000), agents=("claude",), model=SONNET),
    ],
)  # fmt: skip
def test_filtered_period_stats_match_the_event_scan(
    dst_store: Store, pricer: Pricer, strategy: list[str], filters: Filters
) -> None:
    for zone in (LA, ZoneInfo("Asia/Kathmandu")):
        fast = compute_stats(dst_store, filters, by="day", tz=zone, pricer=pricer)
        slow = compute_stats(dst_store, filters._replace(kinds=EVENT_KINDS), by="day", tz=zone, pricer=pricer)
        assert (fast.source, slow.source) == ("rollup", "events")
        assert_same_report(fast, slow)


def test_a_store_not_yet_reordered_gives_the_same_stats(
    tmp_path: Path, pricer: Pricer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only command can meet a store written before m040 (the daemon not yet upgraded)."""
    from datetime import timedelta

    events = [ev((at("2026-03-06T00:00:00") + timedelta(minutes=37 * i)).strftime("%Y-%m-%dT%H:%M:%S"),
                 model=SONNET if i % 3 else "gpt-5", usage=(10 + i, 5, i % 7, 100), session=f"s{i // 40}")
              for i in range(200)]  # fmt: skip
    with monkeypatch.context() as patch:  # (a store from before m040 is also from before m050)
        write_as_before(patch, "m040_usage_rollup_model_first", "m050_price_extras")
        store_with(tmp_path / "old.db", events).close()
    with Store.open(tmp_path / "old.db", readonly=True) as old:
        assert (
            "PRIMARY KEY (bucket"
            in old.db.execute("SELECT sql FROM sqlite_master WHERE name = 'usage_rollup'").fetchone()[0]
        )
        unmigrated = compute_stats(old, Filters(), by="day", tz=LA, pricer=pricer)
        slow = compute_stats(old, Filters(kinds=EVENT_KINDS), by="day", tz=LA, pricer=pricer)
    assert_same_report(unmigrated, slow)
    with Store.open(tmp_path / "old.db") as migrated:  # the writer migrates
        assert (
            "PRIMARY KEY (model"
            in migrated.db.execute("SELECT sql FROM sqlite_master WHERE name = 'usage_rollup'").fetchone()[0]
        )
        assert_same_report(compute_stats(migrated, Filters(), by="day", tz=LA, pricer=pricer), slow)


def test_offset_segments_find_each_dst_change_to_the_bucket() -> None:
    from devlog_collector.query.stats import _offset_segments

    lo, hi = int(at("2026-01-01T00:00:00").timestamp() * 1000), int(at("2027-01-01T00:00:00").timestamp() * 1000)
    segments = _offset_segments(lo, hi, LA)
    assert segments is not None
    # PST (-8 h = -32 buckets), PDT from 2026-03-08 10:00Z, PST again from 2026-11-01 09:00Z.
    assert [offset for _, offset in segments] == [-32, -28, -32]
    assert [b * 900 for b, _ in segments[1:]] == [
        int(at("2026-03-08T10:00:00").timestamp()),
        int(at("2026-11-01T09:00:00").timestamp()),
    ]


def test_a_zone_whose_offset_is_not_whole_buckets_falls_back_to_windows(dst_store: Store, pricer: Pricer) -> None:
    from datetime import timedelta, timezone

    odd = timezone(timedelta(minutes=53), "LMT+0053")  # like a 19th-century local mean time
    fast = compute_stats(dst_store, Filters(), by="day", tz=odd, pricer=pricer)
    slow = compute_stats(dst_store, Filters(kinds=EVENT_KINDS), by="day", tz=odd, pricer=pricer)
    assert fast.source == "rollup"
    assert [(g.key, g.events, len(g.sessions)) for g in fast.groups] == [
        (g.key, g.events, len(g.sessions)) for g in slow.groups
    ]
    assert fast.total.cost_usd == pytest.approx(slow.total.cost_usd)


def test_a_range_inside_two_partial_buckets_is_still_cut_at_midnight(tmp_path: Path, pricer: Pricer) -> None:
    events = [ev("2026-03-02T23:58:00", "prompt"), ev("2026-03-03T00:04:00", "prompt")]
    with store_with(tmp_path / "edge.db", events) as s:
        args = FilterArgs(since="2026-03-02T23:50:00Z", until="2026-03-03T00:10:00Z")
        report = compute_stats(s, build_filters(s, args), by="day", tz=ZoneInfo("UTC"), pricer=pricer)
    assert days(report) == {"2026-03-02": 1, "2026-03-03": 1}


def test_one_hour_cache_writes_web_searches_and_fast_mode_are_priced(tmp_path: Path, pricer: Pricer) -> None:
    """Hand-computed from the published prices: Sonnet 4.5 $3 in / $15 out / $6 per M 1-hour cache
    writes / $10 per 1,000 web searches; Opus 4.6 (from 2026-03-13) $5 in / $25 out, fast mode 6x its
    token rates."""
    from devlog_collector.query.sessions import list_sessions
    from devlog_collector.store import price_extras

    noon = "2026-04-01T12:00:00"
    events = [
        ev(noon, model=SONNET, usage=(10, 10, 100_000, 0), attrs={"cache_creation_1h_tokens": 100_000}),
        ev(noon, model=SONNET, usage=(100, 100, 0, 0), attrs={"web_search_requests": 5}),
        ev(noon, model="claude-opus-4-6", usage=(1000, 1000, 0, 0), attrs={"speed": "fast"}),
        # fast mode's premium is on the token rates, not on the searches' fee
        ev(noon, model="claude-opus-4-6", usage=(1000, 1000, 0, 0), attrs={"speed": "fast", "web_search_requests": 2}),
        ev(noon, model="claude-opus-4-6", usage=(1000, 1000, 0, 0), attrs={"speed": "fast"}, cost=0.01),  # recorded
    ]
    expected = [0.00003 + 0.00015 + 0.6, 0.0003 + 0.0015 + 0.05, (0.005 + 0.025) * 6, (0.005 + 0.025) * 6 + 0.02, 0.01]
    store = store_with(tmp_path / "events.db", events)
    for event, usd in zip(events[:4], expected, strict=False):
        one_hour, searches, fast = price_extras(event)
        assert event.usage is not None
        tokens = TokenSums(event.usage.input_tokens, event.usage.output_tokens, event.usage.cache_creation_tokens,
                           event.usage.cache_read_tokens, 1, one_hour, searches)  # fmt: skip
        assert pricer.event_cost(event.model, event.ts, tokens, fast=bool(fast)) == pytest.approx(usd)
    rollup = compute_stats(store, Filters(), by="day", tz=UTC, pricer=pricer)
    scan = compute_stats(store, Filters(kinds=EVENT_KINDS), by="day", tz=UTC, pricer=pricer)
    assert rollup.source == "rollup" and scan.source == "events"
    assert rollup.total.cost_usd == pytest.approx(sum(expected))
    assert_same_report(rollup, scan)
    by_model = {g.key: g.cost_usd for g in compute_stats(store, Filters(), by="model", tz=UTC, pricer=pricer).groups}
    opus = expected[2] + expected[3] + 0.01
    assert by_model == pytest.approx({SONNET: expected[0] + expected[1], "claude-opus-4-6": opus})
    [session] = list_sessions(store, Filters(), pricer=pricer)
    assert session.cost_usd == pytest.approx(sum(expected))


def test_fast_mode_multiples_match_model_names() -> None:
    from devlog_collector.query.pricing import fast_multiplier

    assert fast_multiplier("claude-opus-4-6") == 6.0
    assert fast_multiplier("claude-opus-4-6-20260205") == 6.0
    assert fast_multiplier("anthropic/claude-opus-4-7") == 6.0
    assert fast_multiplier("claude-opus-4-8") == 2.0
    assert fast_multiplier("claude-opus-4-60") == 1.0  # another model, not a dated 4.6
    assert fast_multiplier("claude-sonnet-4-5") == 1.0
