"""Edge values of the time and workspace filters: extreme dates and durations, inclusive --until
instants, bare numbers for --last, and Windows workspaces given to --workspace on any OS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from devlog_collector.cli import cli
from tests.collector.query.helpers import default_db, ev, store_with


@pytest.fixture(autouse=True)
def populated(isolated_home: Path) -> None:
    events = [
        ev("2026-03-01T10:00:00", "prompt", text="one", ident="a1", workspace="/w/work/api"),
        ev("2026-03-01T23:59:59.500", "prompt", text="two", ident="a2", workspace="/w/work/api"),
        ev("2026-03-02T08:00:00", "prompt", text="three", ident="w1", workspace="E:/Workspace/src/app"),
    ]
    store_with(default_db(), events).close()


def _ids(*args: str) -> list[str]:
    result = CliRunner().invoke(cli, ["query", "-f", "json", *args])
    assert result.exit_code == 0, result.output
    return [event["text"] for event in json.loads(result.stdout)]


@pytest.mark.parametrize(
    "args",
    [
        ["query", "--last", "999999y"],
        ["query", "--until", "9999-12-31"],
        ["stats", "--last", "9999y"],
        ["stats", "--until", "9999-12-31"],
    ],
)
def test_extreme_ranges_mean_everything(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["query", "--since", "0001-01-01"], "error: --since: '0001-01-01' is before 1970-01-01T00:00Z"),
        (["query", "--until", "1969-07-20T20:17"], "error: --until: '1969-07-20T20:17' is before 1970-01-01T00:00Z"),
        (
            ["query", "--until", "9999-12-31T20:00-05:00"],
            "error: --until: '9999-12-31T20:00-05:00' is out of range: use a time from 1970 to 9999",
        ),
        (["query", "--last", "7"], "error: --last: give a unit, e.g. 7d or 7h"),
        (["stats", "--last", "1e309d"], "error: --last: not a duration"),
        (["query", "--last", "99999999999d"], "error: --last: duration too large: '99999999999d'"),
        (["sessions", "--last", "99999999999999999999w"], "error: --last: duration too large"),
    ],
)
def test_out_of_range_times_and_unitless_durations_are_one_line_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1


def test_until_an_instant_includes_that_instant() -> None:
    assert _ids("--until", "2026-03-01T23:59:59.500Z") == ["one", "two"]
    assert _ids("--until", "2026-03-01T23:59:59.499Z") == ["one"]
    assert _ids("--since", "2026-03-01T23:59:59.500Z", "--until", "2026-03-01T23:59:59.500Z") == ["two"]


def test_bounds_finer_than_a_millisecond_round_inwards() -> None:
    """`--since ...59.5004Z` took in the event at ...59.500 (the bound rounded down)."""
    assert "two" not in _ids("--since", "2026-03-01T23:59:59.5004Z")
    assert _ids("--since", "2026-03-01T23:59:59.4996Z", "--until", "2026-03-01T23:59:59.5009Z") == ["two"]


@pytest.mark.parametrize("given", ["E:/Workspace/src/app", "e:\\Workspace\\src", "E:/Workspace/", "E:\\"])
def test_windows_workspaces_are_matched_as_stored(given: str) -> None:
    assert _ids("--workspace", given) == ["three"]


@pytest.mark.parametrize("path", ["E:/x", "e:\\x", "E:", "\\\\srv\\share", "/x", "rel", "C:rel", "//x", "~/x"])
def test_the_local_windows_path_test_agrees_with_the_workspace_module(path: str) -> None:
    from devlog_collector.query.filters import _WINDOWS_PATH
    from devlog_collector.workspace import is_windows_path

    assert bool(_WINDOWS_PATH.match(path)) == is_windows_path(path)


# -- a bare date on a daylight-saving change ----------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "first", "next_first"),
    [
        # Los Angeles springs forward at 02:00 on 2026-03-08 (a 23-hour day) and falls back on 11-01 (25 hours)
        ("America/Los_Angeles", "2026-03-08", "2026-03-08T08:00:00Z", "2026-03-09T07:00:00Z"),
        ("America/Los_Angeles", "2026-11-01", "2026-11-01T07:00:00Z", "2026-11-02T08:00:00Z"),
        # Santiago's clocks jump from 00:00 to 01:00 on 2026-09-06: that day has no midnight
        ("America/Santiago", "2026-09-06", "2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z"),
    ],
)
@pytest.mark.parametrize("how", ["--timezone", "TZ"])
def test_a_bare_date_is_the_whole_local_day_across_dst(
    monkeypatch: pytest.MonkeyPatch, zone: str, day: str, first: str, next_first: str, how: str
) -> None:
    from datetime import datetime

    from devlog_collector.query.filters import FilterArgs, _time_range

    def ms(text: str) -> int:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)

    if how == "TZ":  # the local zone, as a user without --timezone gets it
        monkeypatch.setenv("TZ", zone)
        tz = None
    else:
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(zone)
    since, until = _time_range(FilterArgs(since=day, until=day), tz, datetime.now())
    assert (since, until) == (ms(first), ms(next_first))
