"""What a tester found in the dashboard's filters and links, checked in the rendered HTML (real SQLite
and Postgres through the suite's fixtures): the workspace filter says it covers sub-folders, the
filter boxes always show the page's value, session links and the back link keep the list's filters,
search and page, the search survives a filter change, a lone `to` date leaves From empty, an
automatic day/week choice stays out of links, rejections show whole ids, and unpriced models are
marked on the Cost card."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar.testing import TestClient

from devlog_server.dashboard.filters import parse_filters, subfolder_counts
from devlog_server.dashboard.links import session_path
from tests.server.conftest import auth, batch, event
from tests.server.dashboard.conftest import seed_team, sign_in

RECENT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def _event(n: int, **fields: Any) -> dict[str, Any]:
    """`event(n)` of the server tests, recent (the default 30-day period shows it), in its own session."""
    ours: dict[str, Any] = {
        "id": f"fl-{n:04d}", "ts": (RECENT + timedelta(minutes=n)).isoformat(), "session_id": f"fl-session-{n}",
        "workspace": "/root/other", "user": "alice", "text": f"prompt {n}",
    }  # fmt: skip
    return event(n, **{**ours, **fields})


def _post(client: TestClient[Any], events: list[dict[str, Any]], machine: str = "laptop-1") -> None:
    response = client.post("/api/v1/events", json=batch(events, machine=machine), headers=auth("full"))
    assert response.status_code == 200 and response.json()["rejected"] == 0, response.text


def _select(page: str, name: str) -> list[tuple[str, bool]]:
    """The (value, selected) options of the filter bar's select `name`."""
    match = re.search(rf'<select name="{name}">(.*?)</select>', page, re.S)
    assert match, f"no select {name}"
    return [
        (html.unescape(value), bool(selected))
        for value, selected in re.findall(r'<option value="([^"]*)"( selected)?>', match.group(1))
    ]


def _selected(page: str, name: str) -> list[str]:
    return [value for value, selected in _select(page, name) if selected]


def _params(href: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(html.unescape(href)).query).items()}


def _nav_hrefs(page: str) -> list[str]:
    nav = re.search(r'<nav class="nav".*?</nav>', page, re.S)
    assert nav
    return re.findall(r'href="([^"]+)"', nav.group(0))


def _subheading(page: str) -> str:
    match = re.search(r'<p class="sub">(.*?)</p>', page, re.S)
    assert match
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1)))


# ------------------------------------------------------------------ 1. the workspace filter is a prefix


def test_subfolder_counts_mirror_the_prefix_filter() -> None:
    counts = subfolder_counts(
        [
            "/root/company/billing",
            "/root/company/billing/api",
            "/root/company/billing/api/v2",
            "/root/company/billing-old",  # a sibling with a longer name, not a sub-folder
            "/root/company/",  # a trailing separator reads as the folder
            "/root/company/billing\\notes",  # a `\\` is part of a name: a sibling, not a sub-folder
            "C:/work",
            "C:/work/app",
            "/",
        ]
    )
    assert counts["/root/company/billing"] == 2
    assert counts["/root/company/billing/api"] == 1
    assert counts["/root/company/"] == 5
    assert counts["C:/work"] == 1
    assert counts["/"] == 6  # the root covers every path that starts with it (not a Windows drive)
    assert "/root/company/billing-old" not in counts and "/root/company/billing/api/v2" not in counts


def test_the_workspace_filter_says_it_includes_sub_folders(dash: TestClient[Any]) -> None:
    edit = {"kind": "file_edit", "file": {"path": "x.py", "lines_added": 1, "lines_removed": 0}}
    _post(
        dash,
        [
            _event(1, workspace="/root/company/billing"),
            _event(2, workspace="/root/company/billing/sub"),
            _event(3, workspace="/root/company/billing", **edit),
            _event(4, workspace="/root/other", **edit),
        ],
    )
    sign_in(dash, "read")
    filtered = dash.get("/dashboard", params={"period": "7d", "workspace": "/root/company/billing"}).text
    assert "/root/company/billing and its sub-folders" in _subheading(filtered)
    assert float(re.search(r'data-kpi="events">.*?data-value="(\d+)"', filtered, re.S).group(1)) == 3  # type: ignore[union-attr]
    # The box names the prefix too.
    box = re.search(r'<select name="workspace">(.*?)</select>', filtered, re.S).group(1)  # type: ignore[union-attr]
    assert re.search(r'value="/root/company/billing" selected>/root/company/billing \+ sub-folders<', box)
    # Drill-down links from a row say so when the workspace has sub-folders (and only then).
    for path, table in (("/dashboard/people", "workspaces"), ("/dashboard", None), ("/dashboard/tools", "edits")):
        page = dash.get(path, params={"period": "7d"}).text
        if table:
            page = re.search(rf'data-table="{table}">(.*?)</table>', page, re.S).group(1)  # type: ignore[union-attr]
        links = {
            _params(href)["workspace"]: (html.unescape(title), count)
            for href, title, count in re.findall(
                r'<a href="([^"]*workspace=[^"]*)" title="([^"]*)"(?: data-subfolders="(\d+)")?>', page
            )
        }
        title, count = links["/root/company/billing"]
        assert "and its sub-folders" in title and "1 workspace below it" in title and count == "1", path
        assert links["/root/other"] == ("/root/other", ""), path
    # The ingest page's chart follows the filter: its summary says so as well.
    sign_in(dash, "admin")
    ingest = dash.get("/dashboard/ingest", params={"period": "7d", "workspace": "/root/company/billing"}).text
    assert "/root/company/billing and its sub-folders" in html.unescape(ingest)


# ------------------------------------------------------------------ 2. the boxes show the page's value


def test_filter_boxes_always_show_the_current_value(dash: TestClient[Any]) -> None:
    _post(dash, [_event(1, user="bob", model="m-1", agent="codex")])
    sign_in(dash, "read")
    params = {"period": "7d", "user": "alice-away", "agent": "nonexistent", "model": "no-such-model"}
    for path in ("/dashboard", "/dashboard/people", "/dashboard/tools", "/dashboard/sessions"):
        page = dash.get(path, params=params).text
        assert _selected(page, "user") == ["alice-away"], path
        assert _selected(page, "agent") == ["nonexistent"], path
        assert _selected(page, "model") == ["no-such-model"], path
    # A value the period has is listed once, selected.
    page = dash.get("/dashboard", params={"period": "7d", "user": "bob"}).text
    assert [v for v, _ in _select(page, "user")].count("bob") == 1 and _selected(page, "user") == ["bob"]


# ------------------------------------------------------------------ 4, 6. sessions keep the list's query


def test_session_links_and_the_back_link_keep_the_list_query(dash: TestClient[Any]) -> None:
    _post(dash, [_event(n, agent="codex", text="deploy the thing", session_id=f"job {n}") for n in range(60)])
    sign_in(dash, "read")
    asked = {"period": "30d", "agent": "codex", "every": "week", "q": "deploy", "page": "2"}
    listing = dash.get("/dashboard/sessions", params=asked).text
    links = re.findall(r'<a href="(/dashboard/sessions/[^"?]+)(\?[^"]*)" title="([^"]*)"', listing)
    assert len(links) == 10  # page 2 of 60 sessions, 50 a page
    for path, query, title in links:
        assert html.unescape(path) == session_path(html.unescape(title))
        assert _params(query) == asked, query
    path, query, _ = links[0]
    session = dash.get(html.unescape(path + query)).text
    back = re.search(r'<a class="button back" href="([^"]+)">', session).group(1)  # type: ignore[union-attr]
    assert back.startswith("/dashboard/sessions?") and _params(back) == asked
    filters = {k: v for k, v in asked.items() if k not in ("q", "page")}
    for href in _nav_hrefs(session):
        assert _params(href) == filters, href
    # The first page's links carry no page number (page 1 is the bare list).
    first = dash.get("/dashboard/sessions", params={**asked, "page": "1"}).text
    _, query, _ = re.findall(r'<a href="(/dashboard/sessions/[^"?]+)(\?[^"]*)" title="([^"]*)"', first)[0]
    assert "page" not in _params(query)


def test_a_filter_change_on_sessions_keeps_the_search(dash: TestClient[Any]) -> None:
    _post(dash, [_event(1, text="terraform plan")])
    sign_in(dash, "read")
    page = dash.get("/dashboard/sessions", params={"period": "7d", "q": 'terraform "plan"'}).text
    form = re.search(r'<form class="filters".*?</form>', page, re.S).group(0)  # type: ignore[union-attr]
    assert '<input type="hidden" name="q" value="terraform &#34;plan&#34;">' in form
    assert 'name="page"' not in form  # a new filter starts again at page 1
    without = dash.get("/dashboard/sessions", params={"period": "7d"}).text
    assert 'name="q" value=""' not in re.search(r'<form class="filters".*?</form>', without, re.S).group(0)  # type: ignore[union-attr]


# ------------------------------------------------------------------ 7, 8. From, and the automatic bucket


def test_from_is_empty_when_only_to_is_given(dash: TestClient[Any]) -> None:
    sign_in(dash, "read")
    for params in ({"to": "2026-11-01"}, {"from": "2026-10-01"}, {"period": "7d"}):
        page = dash.get("/dashboard", params=params).text
        assert 'value="None"' not in page, params
        assert f'name="from" value="{params.get("from", "")}"' in page, params
        assert f'name="to" value="{params.get("to", "")}"' in page, params


def test_an_automatic_bucket_stays_out_of_links(dash: TestClient[Any]) -> None:
    sign_in(dash, "read")
    weeks = dash.get("/dashboard", params={"period": "all"}).text
    assert all("every=" not in href for href in _nav_hrefs(weeks))
    assert _selected(weeks, "every") == [""] and "auto (week)" in weeks
    chosen = dash.get("/dashboard", params={"period": "7d", "every": "week"}).text
    assert all(_params(href).get("every") == "week" for href in _nav_hrefs(chosen))
    assert _selected(chosen, "every") == ["week"]
    # The next period picks its own bucket: weeks for all time, days for 7 days.
    today = date(2026, 12, 4)
    assert parse_filters({"period": "all"}, today=today).bucket == "week"
    assert parse_filters({"period": "7d", "every": ""}, today=today).bucket == "day"
    assert parse_filters({"period": "7d"}, today=today).params() == {"period": "7d"}
    assert parse_filters({"period": "7d", "every": "week"}, today=today).params() == {"period": "7d", "every": "week"}
    # A range with only a start runs to today: 16 days are drawn per day (it was always weeks), 200 per week.
    assert parse_filters({"from": "2026-11-19"}, today=today).bucket == "day"
    assert parse_filters({"from": "2026-05-18"}, today=today).bucket == "week"
    assert parse_filters({"to": "2026-11-19"}, today=today).bucket == "week"  # from the beginning


def test_a_range_with_only_a_start_ends_today_and_its_links_stay_open() -> None:
    """Its subtitle said "– now", but the totals and the chart ran to the newest event, one dated in
    the future included (a new-user test); "Last 30 days" stops at today."""
    today = date(2026, 12, 4)
    filters = parse_filters({"from": "2026-11-20"}, today=today)
    assert (filters.since_day, filters.until_day) == (date(2026, 11, 20), date(2026, 12, 5))
    assert filters.label == "2026-11-20 – now"
    assert filters.params() == {"period": "custom", "from": "2026-11-20"}  # (not frozen at today)
    closed = parse_filters({"from": "2026-11-20", "to": "2026-11-30"}, today=today)
    assert closed.until_day == date(2026, 12, 1) and closed.params()["to"] == "2026-11-30"
    assert closed.label == "2026-11-20 – 2026-11-30"


# ------------------------------------------------------------------ 9. rejections


def test_recent_rejections_show_the_whole_event_id_and_machine(dash: TestClient[Any]) -> None:
    event_id = "rejected-" + "e" * 60
    machine = "build-agent-" + "m" * 40
    bad = batch([{"id": event_id, "ts": "not a time", "agent": "claude", "kind": "prompt", "session_id": "s"}], machine)
    dash.post("/api/v1/events", json=bad, headers=auth("full"))
    sign_in(dash, "admin")
    page = dash.get("/dashboard/ingest", params={"period": "all"}).text
    rejections = re.search(r'data-table="rejections">(.*?)</table>', page, re.S).group(1)  # type: ignore[union-attr]
    assert f'<span title="{event_id}">{event_id}</span>' in rejections
    assert f'<span title="{machine}">{machine}</span>' in rejections


# ------------------------------------------------------------------ 10. unpriced models


def _response(n: int, model: str, cost: float | None) -> dict[str, Any]:
    usage = {"input_tokens": 1000, "output_tokens": 500}
    return _event(n, kind="response", model=model, usage=usage, **({"cost_usd": cost} if cost is not None else {}))


def _cost_card(page: str) -> str:
    return re.search(r'data-kpi="cost">(.*?)</div>\s*</div>', page, re.S).group(0)  # type: ignore[union-attr]


@pytest.mark.parametrize("unknown", [True, False], ids=["unpriced", "all-priced"])
def test_the_cost_card_says_when_models_could_not_be_priced(dash: TestClient[Any], unknown: bool) -> None:
    events = [_response(1, "claude-sonnet-4-5", 0.25), _response(2, "gpt-5", 0.5)]
    if unknown:
        events.append(_response(3, "mystery-model", None))  # no cost recorded, none estimated
    _post(dash, events)
    sign_in(dash, "read")
    page = dash.get("/dashboard", params={"period": "7d"}).text
    card = _cost_card(page)
    model_table = re.search(r'data-table="model">(.*?)</table>', page, re.S).group(1)  # type: ignore[union-attr]
    if unknown:
        assert 'data-unpriced="1"' in card and "1 model not priced, counted as $0" in card
        assert "mystery-model (1,500 tokens)" in card and '<span class="unpriced"' in card
        row = re.search(r'<tr data-key="mystery-model".*?</tr>', model_table, re.S).group(0)  # type: ignore[union-attr]
        assert "1,500 tokens not priced" in row
        priced = re.search(r'<tr data-key="gpt-5".*?</tr>', model_table, re.S).group(0)  # type: ignore[union-attr]
        assert "not priced" not in priced
        agent_table = re.search(r'data-table="agent">(.*?)</table>', page, re.S).group(1)  # type: ignore[union-attr]
        assert "1,500 tokens not priced" in agent_table  # the agent that used it is marked too
    else:
        assert "data-unpriced" not in card and "recorded by agents or priced by collectors" in card
        assert 'class="unpriced"' not in model_table


def test_team_pages_still_render_with_every_fix(dash: TestClient[Any]) -> None:
    """The team's data (two agents record no cost) on every page, the fixed pieces included."""
    seed_team(dash, sessions=20)
    sign_in(dash, "admin")
    for path in ("/dashboard", "/dashboard/people", "/dashboard/tools", "/dashboard/sessions", "/dashboard/ingest"):
        response = dash.get(path, params={"period": "all", "workspace": "/home"})
        assert response.status_code == 200, path
        assert "/home and its sub-folders" in html.unescape(response.text), path
