"""Dashboard pages through Litestar's test client on real SQLite and Postgres: sign-in and sessions,
CSRF, numbers equal to `/api/v1/stats`, filters, the session timeline, and workspace limits."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from markupsafe import escape

from tests.server.conftest import KEYS, assert_problem, auth, batch
from tests.server.conftest import event as an_event
from tests.server.dashboard.conftest import csrf_of, seed_team, sign_in

PAGES = ["/dashboard", "/dashboard/people", "/dashboard/tools", "/dashboard/sessions", "/dashboard/ingest"]


def _attr_values(page: str, attribute: str) -> dict[str, str]:
    return dict(
        re.findall(
            rf'data-kpi="(\w+)">\s*<div class="kpi-label">[^<]*</div>\s*<div class="kpi-value" {attribute}="([^"]*)"',
            page,
        )
    )


def kpis(page: str) -> dict[str, float]:
    """The overview's KPI card values, from their data-value attributes."""
    return {name: float(value) for name, value in _attr_values(page, "data-value").items()}


def chart_spec(page: str, element_id: str = "overview-chart-data") -> dict[str, Any]:
    match = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S)
    assert match, f"no chart data {element_id} in the page"
    spec: dict[str, Any] = json.loads(html.unescape(match.group(1)))
    return spec


def table_rows(page: str, table: str) -> dict[str, dict[str, float]]:
    """Rows of a `data-table` table keyed by data-key, with their numeric data-* attributes."""
    match = re.search(rf'data-table="{table}">(.*?)</table>', page, re.S)
    assert match, f"no table {table}"
    rows = {}
    for attrs in re.findall(r"<tr (data-key=[^>]*)>", match.group(1)):
        values = dict(re.findall(r'data-([a-z]+)="([^"]*)"', attrs))
        key = html.unescape(values.pop("key"))
        rows[key] = {name: float(value) for name, value in values.items()}
    return rows


def stats(client: TestClient[Any], key: str = "read", **params: str) -> dict[str, Any]:
    response = client.get("/api/v1/stats", params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _nav(page: str) -> str:
    match = re.search(r'<nav class="nav".*?</nav>', page, re.S)
    assert match, "no nav"
    return match.group(0)


def _tokens(group: dict[str, Any]) -> int:
    return int(
        group["input_tokens"] + group["output_tokens"] + group["cache_creation_tokens"] + group["cache_read_tokens"]
    )


def _window(days_back: int, length: int) -> tuple[date, date]:
    today = datetime.now(UTC).date()
    start = today - timedelta(days=days_back)
    return start, start + timedelta(days=length - 1)


# ------------------------------------------------------------------ sign-in, sessions, CSRF


def test_pages_redirect_to_sign_in_without_a_session(dash: TestClient[Any]) -> None:
    for path in [*PAGES, "/dashboard/sessions/some-session"]:
        response = dash.get(path + "?period=7d", follow_redirects=False)
        assert response.status_code == 303, path
        location = response.headers["location"]
        assert location.startswith("/dashboard/sign-in"), location
    assert (
        "next=%2Fdashboard%2Ftools%3Fperiod%3D7d"
        in dash.get("/dashboard/tools?period=7d", follow_redirects=False).headers["location"]
    )
    htmx = dash.get("/dashboard/people", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.headers["HX-Redirect"].startswith("/dashboard/sign-in")


def test_sign_in_sets_a_server_side_session_cookie(dash: TestClient[Any]) -> None:
    response = sign_in(dash, "read")
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("devlog_session="))
    attributes = cookie.lower()
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/dashboard" in attributes
    assert "secure" not in attributes  # plain HTTP in the test client; Secure is set over TLS
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    assert KEYS["read"][0] not in value and len(value) >= 40
    page = dash.get("/dashboard")
    assert page.status_code == 200
    assert "Overview" in page.text and "read" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_secure_cookie_over_tls(dashboard_factory: Callable[..., TestClient[Any]]) -> None:
    client = dashboard_factory()
    client.base_url = client.base_url.copy_with(scheme="https")  # type: ignore[misc]
    response = sign_in(client, "read")
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("devlog_session="))
    assert "secure" in cookie.lower()


@pytest.mark.parametrize("key", ["wrong", "ingest"])
def test_wrong_or_unscoped_key_gets_a_clear_error_and_no_session(dash: TestClient[Any], key: str) -> None:
    form = dash.get("/dashboard/sign-in")
    token = KEYS[key][0] if key in KEYS else "dvl_AAAAAAAAAAAA_" + "b" * 32
    response = dash.post(
        "/dashboard/sign-in", data={"csrf_token": csrf_of(form.text), "api_key": token}, follow_redirects=False
    )
    assert response.status_code == 401
    assert "That key was not accepted" in response.text
    assert "scope" in response.text  # tells what a usable key is, not which check failed
    assert "ingest" not in response.text.split("That key was not accepted", 1)[1].split("</div>", 1)[0]
    assert not any(
        c.startswith("devlog_session=") and len(c.split(";")[0]) > 16 for c in response.headers.get_list("set-cookie")
    )
    assert dash.get("/dashboard", follow_redirects=False).status_code == 303


def test_sign_in_without_csrf_token_or_from_another_site_is_refused(dash: TestClient[Any]) -> None:
    dash.get("/dashboard/sign-in")
    missing = dash.post("/dashboard/sign-in", data={"api_key": KEYS["read"][0]}, follow_redirects=False)
    assert missing.status_code == 403
    form = dash.get("/dashboard/sign-in")
    foreign = dash.post(
        "/dashboard/sign-in",
        data={"csrf_token": csrf_of(form.text), "api_key": KEYS["read"][0]},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        follow_redirects=False,
    )
    assert foreign.status_code == 403
    assert dash.get("/dashboard", follow_redirects=False).status_code == 303


def test_sign_out_needs_the_csrf_token_and_ends_the_session(dash: TestClient[Any]) -> None:
    sign_in(dash, "read")
    page = dash.get("/dashboard")
    refused = dash.post("/dashboard/sign-out", data={"csrf_token": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    assert dash.get("/dashboard", follow_redirects=False).status_code == 200
    old_cookie = dash.cookies.get("devlog_session")
    done = dash.post("/dashboard/sign-out", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert done.status_code == 303
    assert dash.get("/dashboard", follow_redirects=False).status_code == 303
    # The old cookie no longer works either: the server forgot the session.
    dash.cookies.set("devlog_session", old_cookie or "", path="/dashboard")
    assert dash.get("/dashboard", follow_redirects=False).status_code == 303


def test_revoking_the_key_ends_its_sessions(dash: TestClient[Any]) -> None:
    sign_in(dash, "read")
    assert dash.get("/dashboard", follow_redirects=False).status_code == 200
    revoked = dash.post("/api/v1/keys/read/revoke", headers=auth("admin"))
    assert revoked.status_code in (200, 201), revoked.text
    ended = dash.get("/dashboard/tools", follow_redirects=False)
    assert ended.status_code == 303
    assert ended.headers["location"] == "/dashboard/sign-in?next=%2Fdashboard%2Ftools&ended=1"
    form = dash.get(ended.headers["location"]).text
    assert "Your session has ended: it expired, or its key was revoked" in form  # not a silent sign-in form
    assert "Your session has ended" not in dash.get("/dashboard/sign-in").text


def test_next_parameter_never_leaves_the_dashboard(dash: TestClient[Any]) -> None:
    for target, expected in [
        ("/dashboard/tools?period=7d", "/dashboard/tools?period=7d"),
        ("https://evil.example/", "/dashboard"),
        ("//evil.example/dashboard", "/dashboard"),
        ("/dashboard/../api/v1/keys", "/dashboard"),
        ("/dashboard/%2e%2e/api/v1/keys", "/dashboard"),
        ("/dashboard/./../schema/openapi.json", "/dashboard"),
        ("/dashboard\\..\\api\\v1\\keys", "/dashboard"),
        ("/dashboard/..", "/dashboard"),
        ("/dashboardx/tools", "/dashboard"),
        ("/dashboard/sessions/s-1?period=all", "/dashboard/sessions/s-1?period=all"),
    ]:
        form = dash.get("/dashboard/sign-in")
        response = dash.post(
            "/dashboard/sign-in",
            data={"csrf_token": csrf_of(form.text), "api_key": KEYS["read"][0], "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == expected


# ------------------------------------------------------------------ numbers


def test_overview_numbers_equal_the_stats_endpoint(dash: TestClient[Any]) -> None:
    seed_team(dash)
    sign_in(dash, "read")
    start, end = _window(days_back=12, length=7)
    cases: list[tuple[dict[str, str], dict[str, str]]] = [
        ({"period": "30d"}, {"since": (datetime.now(UTC).date() - timedelta(days=29)).isoformat()}),
        (
            {"from": start.isoformat(), "to": end.isoformat()},
            {"since": start.isoformat(), "until": (end + timedelta(days=1)).isoformat()},
        ),
        ({"period": "all", "agent": "claude"}, {"agent": "claude"}),
        ({"period": "all", "user": "bob"}, {"user": "bob"}),
        ({"period": "all", "workspace": "/home/alice/work"}, {"workspace": "/home/alice/work"}),
        ({"period": "all", "model": "claude-sonnet-4-5"}, {"model": "claude-sonnet-4-5"}),
        ({"period": "all", "model": "gpt-5", "agent": "codex"}, {"model": "gpt-5", "agent": "codex"}),
    ]
    for page_params, stats_params in cases:
        page = dash.get("/dashboard", params={**page_params, "metric": "cost"})
        assert page.status_code == 200
        api = {k: (v + "T00:00:00Z" if k in ("since", "until") else v) for k, v in stats_params.items()}
        total = stats(dash, by="agent", **api)["total"]
        values = kpis(page.text)
        assert total["events"] > 0, page_params
        assert values["events"] == total["events"], page_params
        assert values["sessions"] == total["sessions"], page_params
        assert values["prompts"] == total["kinds"].get("prompt", 0), page_params
        assert values["tokens"] == _tokens(total), page_params
        assert values["cost"] == pytest.approx(total["cost_usd"], abs=1e-5), page_params
        users = stats(dash, by="user", **api)["groups"]
        assert values["developers"] == len([g for g in users if g["key"] is not None]), page_params
        # The cost chart adds up to the same total, and so does the by-agent table.
        assert chart_spec(page.text)["total"] == pytest.approx(total["cost_usd"], abs=1e-5)
        rows = table_rows(page.text, "agent")
        by_agent = {g["key"]: g for g in stats(dash, by="agent", **api)["groups"]}
        assert set(rows) == set(by_agent)
        for agent, row in rows.items():
            assert row["events"] == by_agent[agent]["events"]
            assert row["sessions"] == by_agent[agent]["sessions"]
            assert row["tokens"] == _tokens(by_agent[agent])
            assert row["cost"] == pytest.approx(by_agent[agent]["cost_usd"], abs=1e-5)


def _model_rest_row(page: str) -> dict[str, float] | None:
    match = re.search(r'data-table="model">.*?<tr class="rest" ([^>]*)>(.*?)</tr>', page, re.S)
    if match is None:
        return None
    values = {name: float(value) for name, value in re.findall(r'data-([a-z]+)="([^"]*)"', match.group(1))}
    title = re.search(r'title="([^"]*)"', match.group(2))
    return {**values, "names": html.unescape(title.group(1)) if title else ""}  # type: ignore[dict-item]


def test_the_by_model_table_never_drops_a_model_silently(dash: TestClient[Any]) -> None:
    """Most cost then most tokens first; past twelve rows (and a thirteenth that would be the last) the
    other models are one row that sums them, so a big model without a price (tokens, no cost) is never
    lost behind priced ones."""
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    usage = {"input_tokens": 10, "output_tokens": 10}
    priced = [
        an_event(n, ts=now, kind="response", model=f"priced-{n:02d}", cost_usd=1.0 + n / 100, usage=usage)
        for n in range(11)
    ]
    big = an_event(
        50,
        ts=now,
        kind="response",
        model="unpriced-big",
        session_id="s",
        usage={"input_tokens": 10**6, "output_tokens": 0},
    )
    prompt = an_event(60, ts=now, session_id="s")  # no model: a 0-token "(no model)" row
    assert dash.post("/api/v1/events", json=batch([*priced, big, prompt]), headers=auth("full")).status_code == 200
    sign_in(dash, "read")
    page = dash.get("/dashboard", params={"period": "all"}).text
    rows = table_rows(page, "model")
    # 13 models: all shown (one row summing a single model would hide its name), the unpriced one
    # with tokens before the one without.
    assert list(rows)[-2:] == ["unpriced-big", ""] and len(rows) == 13 and _model_rest_row(page) is None

    more = [
        an_event(70 + n, ts=now, kind="response", model=f"priced-{n + 11:02d}", cost_usd=2.0, usage=usage)
        for n in range(2)
    ]
    assert dash.post("/api/v1/events", json=batch(more), headers=auth("full")).status_code == 200
    page = dash.get("/dashboard", params={"period": "all"}).text
    rows, rest = table_rows(page, "model"), _model_rest_row(page)
    assert len(rows) == 12 and "unpriced-big" not in rows and rest is not None
    assert rest["rest"] == 3 and rest["names"] == "priced-00, unpriced-big, (no model)"
    assert rest["tokens"] == 1_000_000 + 20 and rest["sessions"] == 2  # sess-0 and s: distinct, not added up
    values = kpis(page)
    assert sum(r["tokens"] for r in rows.values()) + rest["tokens"] == values["tokens"]
    assert sum(r["events"] for r in rows.values()) + rest["events"] == values["events"]
    assert sum(r["cost"] for r in rows.values()) + rest["cost"] == pytest.approx(values["cost"], abs=1e-5)


def test_chart_buckets_equal_stats_by_day(dash: TestClient[Any]) -> None:
    seed_team(dash)
    sign_in(dash, "read")
    page = dash.get("/dashboard", params={"period": "30d", "metric": "events", "split": "model"})
    spec = chart_spec(page.text)
    since = (datetime.now(UTC).date() - timedelta(days=29)).isoformat()
    per_day = {g["key"]: g["events"] for g in stats(dash, by="day", since=since + "T00:00:00Z")["groups"]}
    chart_per_day = {label: sum(d["data"][i] for d in spec["datasets"]) for i, label in enumerate(spec["labels"])}
    assert len(spec["labels"]) == 30
    assert {k: v for k, v in chart_per_day.items() if v} == per_day
    weekly = chart_spec(dash.get("/dashboard", params={"period": "30d", "metric": "events", "every": "week"}).text)
    assert weekly["total"] == sum(per_day.values())
    assert all(date.fromisoformat(label).weekday() == 0 for label in weekly["labels"])


def test_replayed_batches_are_not_counted_twice(dash: TestClient[Any]) -> None:
    events = seed_team(dash, sessions=10)
    seed_team(dash, sessions=10)  # the same events again: all duplicates
    sign_in(dash, "read")
    values = kpis(dash.get("/dashboard", params={"period": "all"}).text)
    assert values["events"] == len(events) == stats(dash)["total"]["events"]


def test_people_tools_and_sessions_pages_agree_with_stats(dash: TestClient[Any]) -> None:
    events = seed_team(dash)
    sign_in(dash, "read")
    people = dash.get("/dashboard/people", params={"period": "all"})
    users = table_rows(people.text, "users")
    by_user = {g["key"]: g for g in stats(dash, by="user")["groups"]}
    assert {k: v["events"] for k, v in users.items()} == {k: g["events"] for k, g in by_user.items()}
    assert {k: v["cost"] for k, v in users.items()} == pytest.approx(
        {k: g["cost_usd"] for k, g in by_user.items()}, abs=1e-5
    )
    projects = table_rows(people.text, "projects")
    assert {k: v["events"] for k, v in projects.items()} == {
        g["key"]: g["events"] for g in stats(dash, by="project")["groups"]
    }
    workspaces = table_rows(people.text, "workspaces")
    by_workspace = {g["key"]: g["events"] for g in stats(dash, by="workspace")["groups"]}
    assert {k: v["events"] for k, v in workspaces.items()} == by_workspace
    # Sorting by events ascending puts the smallest first.
    ascending = table_rows(dash.get("/dashboard/people", params={"period": "all", "usort": "events"}).text, "users")
    assert [v["events"] for v in ascending.values()] == sorted(v["events"] for v in users.values())
    # A sort the page does not know is the default (most cost first), not the default reversed.
    for unknown in ("bogus", "-bogus"):
        page = dash.get("/dashboard/people", params={"period": "all", "usort": unknown}).text
        assert list(table_rows(page, "users")) == list(users), unknown

    tools = dash.get("/dashboard/tools", params={"period": "all"})
    assert tools.status_code == 200
    calls = [e for e in events if e["kind"] == "tool_call"]
    failed = [e for e in calls if e["tool"]["status"] != "success"]
    spec = chart_spec(tools.text, "tools-chart-data")
    bash_calls = len([e for e in calls if e["tool"]["name"] == "Bash"])
    assert sum(d["data"][spec["labels"].index("Bash")] for d in spec["datasets"]) == bash_calls
    edits = [e for e in events if e["kind"] == "file_edit"]
    assert edits
    expected_edits: dict[str, dict[str, float]] = {}
    for e in edits:
        row = expected_edits.setdefault(e["workspace"], {"edits": 0, "added": 0, "removed": 0})
        row["edits"] += 1
        row["added"] += e["file"]["lines_added"]
        row["removed"] += e["file"]["lines_removed"]
    assert table_rows(tools.text, "edits") == expected_edits
    assert failed, "the seed has failing tool calls"

    sessions = dash.get("/dashboard/sessions", params={"period": "all"})
    count = len({e["session_id"] for e in events})
    assert f"{count} sessions" in sessions.text
    assert stats(dash)["total"]["sessions"] == count


def test_filters_narrow_every_page(dash: TestClient[Any]) -> None:
    events = seed_team(dash)
    sign_in(dash, "read")
    codex = [e for e in events if e["agent"] == "codex"]
    page = dash.get("/dashboard", params={"period": "all", "agent": "codex"})
    assert kpis(page.text)["events"] == len(codex)
    assert set(table_rows(page.text, "agent")) == {"codex"}
    sessions = dash.get("/dashboard/sessions", params={"period": "all", "agent": "codex"})
    assert f"{len({e['session_id'] for e in codex})} sessions" in sessions.text
    tools = dash.get("/dashboard/tools", params={"period": "all", "agent": "codex"})
    assert "copilot_readFile" not in tools.text and "apply_patch" in tools.text
    # A period with nothing in it shows zeros, not an error.
    empty = dash.get("/dashboard", params={"from": "2001-01-01", "to": "2001-01-31"})
    assert kpis(empty.text)["events"] == 0
    assert "No tokens in this period" in empty.text
    # Dates at the edges of the calendar are ignored, never an overflow (a 500).
    for params in ({"from": "0001-01-01", "to": "9999-12-31"}, {"to": "9999-12-31"}, {"from": "0001-01-01"}):
        for path in ("/dashboard", "/dashboard/people", "/dashboard/tools", "/dashboard/sessions"):
            assert dash.get(path, params=params).status_code == 200, (path, params)


def test_values_no_database_can_hold_never_fail_a_page(dash: TestClient[Any]) -> None:
    """NULs in filters and search, absurd page numbers: the page opens (or is a 404), never a 500."""
    events = seed_team(dash)
    sign_in(dash, "read")
    for name in ("agent", "user", "model", "workspace"):
        for path in ("/dashboard", "/dashboard/people", "/dashboard/tools", "/dashboard/sessions"):
            response = dash.get(path, params={"period": "all", name: "codex\x00"})
            assert response.status_code == 200, (path, name, response.text[:300])
    codex = dash.get("/dashboard", params={"period": "all", "agent": "co\x00dex"})
    assert kpis(codex.text)["events"] == len([e for e in events if e["agent"] == "codex"])
    assert dash.get("/dashboard/sessions", params={"q": "\x00"}).status_code == 200
    assert dash.get("/dashboard/sessions", params={"page": str(2**63 - 1)}).status_code == 200
    assert dash.get("/dashboard/sessions/%00").status_code == 404


def _sessions_listed(page: str) -> tuple[list[str], str | None, list[str]]:
    """(session ids listed, the "page N of M" note, the pager links' page parameters) of a sessions page."""
    ids = re.findall(r'data-session="([^"]+)"', page)
    note = re.search(r'data-page="\d+" data-pages="\d+">([^<]*)<', page)
    pager = re.search(r'<nav class="pager".*?</nav>', page, re.S)
    links = [html.unescape(href) for href in re.findall(r'href="([^"]+)"', pager.group(0))] if pager else []
    return (
        ids,
        note.group(1) if note else None,
        [dict(re.findall(r"(\w+)=([^&]*)", link)).get("page", "") for link in links],
    )


def test_sessions_pages_are_counted_from_1_in_the_url_and_on_the_page(dash: TestClient[Any]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    events = [
        {**an_event(n, session_id=f"s{n:03d}"), "ts": (now - timedelta(minutes=n + 1)).isoformat()} for n in range(120)
    ]
    assert dash.post("/api/v1/events", json=batch(events), headers=auth("full")).status_code == 200
    sign_in(dash, "read")

    def listed(page: str | None) -> tuple[list[str], str | None, list[str]]:
        params = {"period": "all", **({"page": page} if page is not None else {})}
        response = dash.get("/dashboard/sessions", params=params)
        assert response.status_code == 200, response.text[:300]
        assert "No sessions match" not in response.text
        return _sessions_listed(response.text)

    first, note, links = listed(None)
    assert len(first) == 50 and note == "page 1 of 3" and links == ["2"]
    assert listed("1") == (first, note, links)
    assert listed("0")[0] == first  # links made when pages counted from 0 still open the first page
    second, note, links = listed("2")
    assert len(second) == 50 and note == "page 2 of 3" and links == ["", "3"]  # "Newer" is the bare URL
    third, note, links = listed("3")
    assert len(third) == 20 and note == "page 3 of 3" and links == ["2"]
    assert sorted(first + second + third) == sorted(e["session_id"] for e in events)
    assert first[0] == "s000" and third[-1] == "s119"  # most recent first
    past, note, links = listed("50")  # past the end: the last page, saying so, never "no sessions"
    assert past == third and note == "page 3 of 3 (there is no page 50; this is the last)" and links == ["2"]
    assert listed("-4")[0] == first and listed("two")[0] == first
    twice = dash.get("/dashboard/sessions?period=all&page=3&page=1")  # a page always opens: the first value
    assert _sessions_listed(twice.text)[0] == third


def test_a_page_past_the_end_of_a_single_page_says_so_too(dash: TestClient[Any]) -> None:
    events = [an_event(n, session_id=f"s{n}") for n in range(3)]
    assert dash.post("/api/v1/events", json=batch(events), headers=auth("full")).status_code == 200
    sign_in(dash, "read")
    assert _sessions_listed(dash.get("/dashboard/sessions?period=all").text)[1] is None  # one page: no note
    shown, note, _ = _sessions_listed(dash.get("/dashboard/sessions?period=all&page=99").text)
    assert len(shown) == 3 and note == "page 1 of 1 (there is no page 99; this is the last)"


def test_session_search_matches_prompt_text_and_metadata(dash: TestClient[Any]) -> None:
    events = seed_team(dash)
    sign_in(dash, "read")
    prompt = next(e for e in events if e["kind"] == "prompt" and "Terraform" in e["text"])
    expected = {e["session_id"] for e in events if e["kind"] == "prompt" and "terraform" in e["text"].lower()}
    page = dash.get("/dashboard/sessions", params={"period": "all", "q": "TERRAFORM plan"})
    found = set(re.findall(r'data-session="([^"]+)"', page.text))
    assert prompt["session_id"] in found
    assert found == {e["session_id"] for e in events if e["kind"] == "prompt" and "terraform plan" in e["text"].lower()}
    assert expected >= found
    by_user = dash.get("/dashboard/sessions", params={"period": "all", "q": "heidi"})
    assert set(re.findall(r'data-session="([^"]+)"', by_user.text)) == {
        e["session_id"] for e in events if e["user"] == "heidi"
    } or "heidi" not in {e["user"] for e in events}
    nothing = dash.get("/dashboard/sessions", params={"period": "all", "q": "100%_no_such_thing"})
    assert "No sessions match" in nothing.text


def test_session_page_shows_the_conversation_in_order(dash: TestClient[Any]) -> None:
    events = seed_team(dash, sessions=12)
    sign_in(dash, "read")
    session_id = events[len(events) // 2]["session_id"]
    mine = sorted((e for e in events if e["session_id"] == session_id), key=lambda e: e["ts"])
    page = dash.get(f"/dashboard/sessions/{session_id}")
    assert page.status_code == 200
    ids = re.findall(r'<li class="ev [a-z_]+" data-kind="[a-z_]+" data-id="([^"]+)"', page.text)
    assert ids == [e["id"] for e in mine]
    position = 0
    for event in mine:
        if event.get("text"):
            found = page.text.find(str(escape(event["text"])), position)
            assert found >= 0, event["text"]
            position = found
    assert "exported without text" not in page.text
    assert dash.get("/dashboard/sessions/no-such-session").status_code == 404


def test_session_page_shows_direction_controls_instead_of_obeying_them(dash: TestClient[Any]) -> None:
    """U+202E made the rest of a prompt read reversed: a transcript could say other than it holds."""
    event = {**an_event(1, session_id="bidi"), "text": "approve \u202edaolnwod\u202c now"}
    assert dash.post("/api/v1/events", json=batch([event]), headers=auth("full")).status_code == 200
    sign_in(dash, "read")
    page = dash.get("/dashboard/sessions/bidi").text
    assert "approve \u27e6U+202E\u27e7daolnwod\u27e6U+202C\u27e7 now" in page
    assert "\u202e" not in page


def test_names_with_direction_controls_read_as_markers_on_every_page(dash: TestClient[Any]) -> None:
    """A user, workspace or model name sent with U+202E reversed the session page's header and the
    People page; every value a page writes shows markers, while a filter's form value stays exact."""
    from urllib.parse import quote

    now = datetime.now(UTC) - timedelta(minutes=5)
    names = {"user": "bob\u202eyllaer", "workspace": "/srv/\u202etxt.exe", "model": "m\u202eevil"}
    event = {**an_event(1, session_id="rlo-sess", ts=now.isoformat(), kind="response"), **names}
    assert dash.post("/api/v1/events", json=batch([event]), headers=auth("full")).status_code == 200
    sign_in(dash, "read")
    for path in [*PAGES, "/dashboard/sessions/rlo-sess"]:
        page = dash.get(path).text
        visible = re.sub(r'(value|data-key)="[^"]*"', "", page)  # (what the page sends back, not shows)
        assert "\u202e" not in visible, path
    header = dash.get("/dashboard/sessions/rlo-sess").text
    assert "bob\u27e6U+202E\u27e7yllaer" in header and "/srv/\u27e6U+202E\u27e7txt.exe" in header
    assert 'value="/srv/\u202etxt.exe"' in dash.get("/dashboard/sessions").text  # the filter's value: exact
    filtered = dash.get(f"/dashboard/sessions?workspace={quote(names['workspace'])}").text
    assert "rlo-sess" in filtered


def test_session_page_totals_cover_the_whole_session_not_only_the_events_listed(dash: TestClient[Any]) -> None:
    """The timeline lists the first 2,000 events; the header's totals are the whole session's."""
    base = datetime.now(UTC) - timedelta(days=1)
    long_session = [
        {
            "id": f"long-{i:05d}",
            "ts": (base + timedelta(seconds=i)).isoformat(),
            "agent": "claude",
            "kind": "prompt" if i < 2000 else "response",
            "session_id": "long-session",
            "workspace": "/srv/app",
            **(
                {"model": "claude-opus-4", "usage": {"input_tokens": 100, "output_tokens": 50}, "cost_usd": 0.25}
                if i >= 2000
                else {}
            ),
        }
        for i in range(2100)
    ]
    response = dash.post("/api/v1/events", json=batch(long_session), headers=auth("full"))
    assert response.status_code == 200 and response.json()["created"] == 2100
    sign_in(dash, "read")
    page = dash.get("/dashboard/sessions/long-session")
    assert page.status_code == 200
    assert len(re.findall(r'<li class="ev ', page.text)) == 2000
    assert "Showing the first 2,000 of the 2,100 events of this session" in page.text
    cards = kpis(page.text)
    total = stats(dash, session_id="long-session")["total"]
    assert cards["events"] == total["events"] == 2100
    assert cards["prompts"] == 2000 and cards["tool_calls"] == 0
    assert cards["tokens"] == total["input_tokens"] + total["output_tokens"] == 15_000
    assert cards["cost"] == pytest.approx(total["cost_usd"]) == pytest.approx(25.0)
    assert "Model: claude-opus-4" in page.text
    last = (base + timedelta(seconds=2099)).strftime("%Y-%m-%d %H:%M")
    assert f"– {last}" in page.text  # the session's last event, not the last one listed


def test_a_replys_usage_record_follows_its_text_in_every_turn(dash: TestClient[Any]) -> None:
    """Claude Code's reply is its text and, at the same time, its usage record: the token line came
    before the text in some turns and after it in others (the order of their random ids)."""
    base = datetime.now(UTC) - timedelta(days=1)
    events = []
    for turn in range(6):
        ts = (base + timedelta(minutes=turn)).isoformat()
        text_id, usage_id = (f"a-{turn}", f"b-{turn}") if turn % 2 else (f"b-{turn}", f"a-{turn}")
        common = {"ts": ts, "agent": "claude", "kind": "response", "session_id": "turns", "workspace": "/srv/app"}
        events += [
            {**common, "id": text_id, "text": f"reply {turn}"},
            {**common, "id": usage_id, "model": "claude-opus-4", "usage": {"input_tokens": 10, "output_tokens": 5}},
        ]
    assert dash.post("/api/v1/events", json=batch(events), headers=auth("full")).json()["created"] == 12
    sign_in(dash, "read")
    page = dash.get("/dashboard/sessions/turns").text
    ids = re.findall(r'<li class="ev [a-z_]+" data-kind="[a-z_]+" data-id="([^"]+)"', page)
    texts = {e["id"] for e in events if "text" in e}
    assert [event_id in texts for event_id in ids] == [True, False] * 6, ids


def test_metadata_policy_session_shows_no_text(dash: TestClient[Any]) -> None:
    base = datetime.now(UTC) - timedelta(hours=2)
    metadata_only = [
        {
            "id": f"meta-{i}",
            "ts": (base + timedelta(minutes=i)).isoformat(),
            "agent": "claude",
            "kind": kind,
            "session_id": "meta-session",
            "workspace": "/srv/app",
            "user": "alice",
            **({"tool": {"name": "Bash", "status": "success"}} if kind.startswith("tool") else {}),
        }
        for i, kind in enumerate(["prompt", "response", "tool_call", "tool_result"])
    ]
    response = dash.post(
        "/api/v1/events",
        json={"schema_version": 1, "collector": {"name": "devlog", "machine": "m"}, "events": metadata_only},
        headers=auth("full"),
    )
    assert response.status_code == 200 and response.json()["created"] == 4
    sign_in(dash, "read")
    page = dash.get("/dashboard/sessions/meta-session")
    assert "exported without text" in page.text
    assert '<pre class="text">' not in page.text
    assert page.text.count("text not sent (metadata policy)") == 2  # the prompt and the reply, not the tools


# ------------------------------------------------------------------ access limits


def test_glob_limited_key_never_sees_other_workspaces(dash: TestClient[Any]) -> None:
    events = seed_team(dash)
    sign_in(dash, "srv")  # globs: /srv/**
    visible = [e for e in events if e["workspace"].startswith("/srv/")]
    hidden = [e for e in events if not e["workspace"].startswith("/srv/")]
    assert visible and hidden
    overview = dash.get("/dashboard", params={"period": "all"})
    assert kpis(overview.text)["events"] == len(visible) == stats(dash, key="srv")["total"]["events"]
    for path in PAGES:
        page = dash.get(path, params={"period": "all"})
        assert page.status_code == 200, path
        for event in hidden[:50]:
            assert event["workspace"] not in page.text, (path, event["workspace"])
            assert event["session_id"] not in page.text, path
    # Asking for a hidden workspace by name shows nothing rather than its data.
    other = dash.get("/dashboard", params={"period": "all", "workspace": hidden[0]["workspace"]})
    assert kpis(other.text)["events"] == 0
    assert dash.get(f"/dashboard/sessions/{hidden[0]['session_id']}").status_code == 404
    searched = dash.get("/dashboard/sessions", params={"period": "all", "q": hidden[0]["session_id"]})
    assert re.findall(r'data-session="([^"]+)"', searched.text) == []
    ingest = dash.get("/dashboard/ingest").text
    assert "without workspace limits" in ingest and "This key is limited to /srv/**" in ingest


def test_home_glob_key_sees_work_folders_of_every_home(dash: TestClient[Any]) -> None:
    events = seed_team(dash)
    sign_in(dash, "home")  # globs: ~/work/** | /opt/shared
    visible = [e for e in events if "/work/" in e["workspace"] and e["workspace"].startswith("/home/")]
    page = dash.get("/dashboard/people", params={"period": "all"})
    assert sum(v["events"] for v in table_rows(page.text, "workspaces").values()) == len(visible)
    assert "/company/billing" not in page.text and "/srv/infra" not in page.text


def test_ingest_health_lists_collectors_and_rejections(dash: TestClient[Any]) -> None:
    seed_team(dash, sessions=10)
    bad = {
        "schema_version": 1,
        "collector": {"name": "devlog", "machine": "m-broken"},
        "events": [{"id": "x1", "ts": "not a time", "agent": "claude", "kind": "prompt", "session_id": "s"}],
    }
    dash.post("/api/v1/events", json=bad, headers=auth("full"))
    sign_in(dash, "admin")
    page = dash.get("/dashboard/ingest", params={"period": "all"})
    assert page.status_code == 200
    assert "m-alice" in page.text and "m-broken" in page.text
    rejections = re.search(r'data-table="rejections">(.*?)</table>', page.text, re.S)
    assert rejections and "x1" in rejections.group(1)
    assert 'href="/dashboard/ingest' in _nav(dash.get("/dashboard").text)


@pytest.mark.parametrize("key", ["read", "full", "srv"])
def test_ingest_health_needs_the_admin_scope_like_the_api(
    dashboard_factory: Callable[..., TestClient[Any]], key: str
) -> None:
    client = dashboard_factory()
    seed_team(client, sessions=10)
    client.post("/api/v1/events", json=batch([{"id": "x1", "ts": "never"}], machine="m-broken"), headers=auth("full"))
    assert_problem(client.get("/api/v1/ingest-health", headers=auth(key)), 403)
    sign_in(client, key)
    page = client.get("/dashboard/ingest", params={"period": "all"})
    assert page.status_code == 200
    assert 'data-notice="ingest-hidden"' in page.text and "admin" in page.text
    assert "m-alice" not in page.text and "m-broken" not in page.text and 'data-table="collectors"' not in page.text
    for path in PAGES:
        assert "/dashboard/ingest" not in _nav(client.get(path).text), path


def test_assets_are_served_by_the_app(dash: TestClient[Any]) -> None:
    for asset in ["vendor/htmx.min.js", "vendor/chart.umd.min.js", "dashboard.js", "dashboard.css", "favicon.svg"]:
        response = dash.get(f"/dashboard/static/{asset}")
        assert response.status_code == 200, asset
        assert "max-age" in response.headers.get("cache-control", "")
    sign_in(dash, "read")
    for path in PAGES:
        text = dash.get(path).text
        assert not re.search(r'(src|href)="(https?:)?//', text), path


def test_errors_under_the_dashboard_are_html_pages_and_the_api_keeps_problems(dash: TestClient[Any]) -> None:
    for signed_in in (False, True):
        if signed_in:
            sign_in(dash, "read")
        missing = dash.get("/dashboard/xyz")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html"), missing.text
        assert "Not found" in missing.text and "no-store" in missing.headers["cache-control"]
        wrong_method = dash.get("/dashboard/sign-out")
        assert wrong_method.status_code == 405, wrong_method.text
        assert wrong_method.headers["content-type"].startswith("text/html")
        assert "POST" in wrong_method.headers["allow"] and "Method not allowed" in wrong_method.text
    assert_problem(dash.get("/api/v1/nope"), 404)
    assert_problem(dash.delete("/api/v1/events", headers=auth("full")), 405)
    assert_problem(dash.get("/nowhere"), 404)


@pytest.mark.parametrize("metric", ["developers", "sessions"])
def test_distinct_counts_are_not_stacked_by_agent_or_model(dash: TestClient[Any], metric: str) -> None:
    """A developer on three models counted three times in a stacked bar: a week of 6 developers drew
    a bar of 34. The chart is the per-bucket distinct count, whatever the split."""
    seed_team(dash)
    sign_in(dash, "read")
    drawn = []
    for split in ("agent", "model"):
        page = dash.get("/dashboard", params={"period": "30d", "every": "week", "metric": metric, "split": split})
        assert page.status_code == 200
        spec = chart_spec(page.text)
        assert [d["label"] for d in spec["datasets"]] == [metric]
        values = spec["datasets"][0]["data"]
        assert max(values) <= kpis(page.text)[metric]  # no week has more than the whole period
        assert spec["total"] == sum(values)
        assert f"by {split}" not in spec["title"] and 'aria-label="Split"' not in page.text
        drawn.append(values)
    assert drawn[0] == drawn[1]


def test_a_key_used_on_the_dashboard_shows_as_used(dash: TestClient[Any]) -> None:
    """Only API requests set `last_used_at`: a key a lead signs in with every day read as unused, and
    the rotation advice (revoke a key once its "last used" stops moving) would revoke it."""

    def last_used(name: str) -> Any:
        keys = dash.get("/api/v1/keys", headers=auth("admin")).json()
        return next(key["last_used_at"] for key in keys if key["name"] == name)

    assert last_used("read") is None  # (the bootstrap keys are named as the conftest's KEYS)
    sign_in(dash, "read")
    assert last_used("read") is not None
    assert dash.get("/dashboard").status_code == 200


def test_a_server_that_never_received_an_event_says_how_events_arrive(dash: TestClient[Any]) -> None:
    sign_in(dash, "read")
    empty = dash.get("/dashboard", params={"period": "7d"}).text
    assert "No events have arrived yet" in empty
    seed_team(dash)
    quiet = dash.get("/dashboard", params={"from": "2001-01-01", "to": "2001-01-31"}).text
    assert "No events have arrived yet" not in quiet and "in this period" in quiet
