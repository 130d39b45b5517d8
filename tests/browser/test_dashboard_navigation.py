"""Filters and charts as a person uses them, in headless Chromium against `devlog-server serve`: the
filter boxes keep the page's values, the search and the list's page survive opening a session and
coming back, an automatic week bucket does not stick to the next period, the workspace drill-down
says it covers sub-folders, the Tools chart names every bar, and the cost axis has no cents above
$100."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.browser.conftest import KEYS, LiveServer, require_chromium, sign_in, start_server, stop_server

pytestmark = pytest.mark.browser

NESTED = "/home/alice/work/payments-api"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The browser suite's seeded server, plus a sub-folder of a team workspace and a costly session."""
    require_chromium()
    server = start_server(tmp_path_factory.mktemp("navigation-server"))
    start = datetime.now(UTC) - timedelta(hours=3)
    common = {"agent": "claude", "user": "alice", "session_id": "nav-costly", "workspace": NESTED + "/docs"}
    usage = {"input_tokens": 2_000_000, "output_tokens": 400_000}
    events = [
        {**common, "id": "nav-1", "ts": start.isoformat(), "kind": "prompt", "text": "write the docs"},
        {**common, "id": "nav-2", "ts": (start + timedelta(minutes=1)).isoformat(), "kind": "response",
         "model": "claude-opus-4-5", "usage": usage, "cost_usd": 14_000.0},
    ]  # fmt: skip
    body = {
        "schema_version": 1,
        "collector": {"name": "devlog", "version": "0.1.0", "machine": "m-alice"},
        "events": events,
    }
    response = httpx.post(
        f"{server.url}/api/v1/events", json=body, headers={"Authorization": f"Bearer {KEYS['writer'][0]}"}, timeout=30
    )
    assert response.status_code == 200 and response.json()["rejected"] == 0, response.text
    try:
        yield server
    finally:
        stop_server(server)


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _bound(page: Any) -> None:
    page.wait_for_selector("form[data-autosubmit][data-bound]", state="attached")  # dashboard.js has run


def _choose(page: Any, name: str, value: str) -> None:
    """Pick a value in the filter bar and wait for the page it brings (a new, bound filter bar)."""
    page.eval_on_selector("form[data-autosubmit]", "form => { form.dataset.old = '1'; }")
    page.select_option(f"select[name={name}]", value)  # the bar submits itself: an htmx swap
    page.wait_for_selector("form[data-autosubmit][data-bound]:not([data-old])", state="attached")


def test_the_boxes_keep_a_value_the_period_has_none_of(page: Any, live_server: LiveServer) -> None:
    """With `?user=` someone inactive in the period the box said "Everyone", and the next filter change
    dropped the developer while the page was filtered to them."""
    sign_in(page, live_server, path="/dashboard?period=7d&user=nobody-here&agent=nonexistent")
    _bound(page)
    assert page.eval_on_selector("select[name=user]", "s => s.value") == "nobody-here"
    assert page.eval_on_selector("select[name=agent]", "s => s.value") == "nonexistent"
    _choose(page, "period", "30d")
    query = _query(page.url)
    assert query.get("user") == "nobody-here" and query.get("agent") == "nonexistent", page.url
    assert page.eval_on_selector("select[name=user]", "s => s.value") == "nobody-here"


def test_a_filter_change_keeps_the_search(page: Any, live_server: LiveServer) -> None:
    sign_in(page, live_server, path="/dashboard/sessions?period=all&q=Terraform")
    _bound(page)
    _choose(page, "agent", "claude")
    assert _query(page.url).get("q") == "Terraform", page.url
    assert page.input_value("input[name=q][type=search]") == "Terraform"


def test_a_session_opened_from_the_list_keeps_its_filters_search_and_page(page: Any, live_server: LiveServer) -> None:
    listed = {"period": "all", "every": "week", "q": "e", "page": "2"}
    sign_in(page, live_server, path="/dashboard/sessions?" + "&".join(f"{k}={v}" for k, v in listed.items()))
    assert page.get_attribute("[data-page]", "data-page") == "2"
    page.locator("table[data-table=sessions] tbody tr td a").first.click()
    page.wait_for_selector("ol.timeline")
    back = page.get_attribute("a.button.back", "href")
    assert back and _query(back) == listed, back
    filters = {k: v for k, v in listed.items() if k not in ("q", "page")}
    for href in page.eval_on_selector_all("nav.nav a", "all => all.map(a => a.href)"):
        assert _query(href) == filters, href
    page.click("a.button.back")
    page.wait_for_selector("table[data-table=sessions]")
    assert _query(page.url) == listed
    assert page.get_attribute("[data-page]", "data-page") == "2"
    assert page.input_value("input[name=q][type=search]") == "e"


def test_an_automatic_week_bucket_does_not_stick(page: Any, live_server: LiveServer) -> None:
    """All time is drawn per week without being asked; "Last 7 days" after it kept `every=week`."""
    sign_in(page, live_server, path="/dashboard?period=all")
    _bound(page)
    assert page.eval_on_selector("select[name=every]", "s => s.options[s.selectedIndex].text") == "auto (week)"
    _choose(page, "period", "7d")
    page.wait_for_function(
        "() => { const c = document.getElementById('overview-chart'); return !!c && c.dataset.drawn; }"
    )
    assert _query(page.url).get("period") == "7d" and _query(page.url).get("every", "") == "", page.url
    assert page.evaluate("() => Chart.getChart('overview-chart').data.labels.length") == 7
    assert all("every=" not in href for href in page.eval_on_selector_all("nav.nav a", "all => all.map(a => a.href)"))
    # A bucket chosen by hand stays.
    _choose(page, "every", "week")
    assert _query(page.url).get("every") == "week", page.url
    _choose(page, "period", "30d")
    assert _query(page.url).get("period") == "30d" and _query(page.url).get("every") == "week", page.url


def test_a_date_range_without_a_start_leaves_from_empty(page: Any, live_server: LiveServer) -> None:
    warnings: list[str] = []
    page.on("console", lambda message: warnings.append(message.text))
    sign_in(page, live_server, path="/dashboard?to=2026-11-01")
    assert page.get_attribute("input[name=from]", "value") == ""
    assert page.input_value("input[name=to]") == "2026-11-01"
    assert not [w for w in warnings if "does not conform" in w], warnings


def test_the_workspace_drill_down_says_it_covers_sub_folders(page: Any, live_server: LiveServer) -> None:
    sign_in(page, live_server, path="/dashboard/people?period=30d")
    row = page.locator(f'table[data-table=workspaces] tr[data-key="{NESTED}"]')
    link = row.locator("a").first
    title = link.get_attribute("title") or ""
    assert "and its sub-folders" in title and "1 workspace below it" in title, title
    own_events = int(row.get_attribute("data-events") or 0)
    link.click()
    page.wait_for_function("() => location.search.includes('workspace=')")
    page.wait_for_selector("[data-kpi=events]")
    assert f"{NESTED} and its sub-folders" in page.inner_text(".page-head .sub")
    shown = int(page.get_attribute("[data-kpi=events] .kpi-value", "data-value") or 0)
    assert shown == own_events + 2  # the sub-folder's two events: the larger number is explained
    option = page.eval_on_selector("select[name=workspace]", "s => s.options[s.selectedIndex].text")
    assert option == f"{NESTED} + sub-folders"


def test_the_tools_chart_names_every_bar(page: Any, live_server: LiveServer) -> None:
    """Chart.js skipped every other tool name on the y axis, so a bar read as the tool above it."""
    sign_in(page, live_server, path="/dashboard/tools?period=all")
    page.wait_for_function("() => window.devlogCharts && window.devlogCharts['tools-chart']")
    drawn = page.evaluate(
        """() => { const c = Chart.getChart('tools-chart'), y = c.scales.y;
                   return {labels: c.data.labels, ticks: y.ticks.map(t => y.getLabelForValue(t.value))}; }"""
    )
    assert len(drawn["labels"]) == 15
    assert drawn["ticks"] == drawn["labels"]


def test_the_cost_axis_has_no_cents_above_100_dollars(page: Any, live_server: LiveServer) -> None:
    sign_in(page, live_server, path="/dashboard?period=7d&metric=cost")
    page.wait_for_function("() => window.devlogCharts && window.devlogCharts['overview-chart']")
    ticks = page.evaluate("() => Chart.getChart('overview-chart').scales.y.ticks.map(t => [t.value, t.label])")
    big = [label for value, label in ticks if value >= 100]
    assert big, ticks  # the costly session puts the axis in the thousands
    assert all(re.fullmatch(r"\$[\d,]+", label) for label in big), big


def test_a_date_range_typed_from_then_to_applies_both(page: Any, live_server: LiveServer) -> None:
    """Leaving From for To reloaded the page and put the cursor back in From, so the To digits went
    into From (`12/02/0026`) and To stayed empty."""
    sign_in(page, live_server, path="/dashboard?period=30d")
    _bound(page)
    page.eval_on_selector("form[data-autosubmit]", "form => { form.dataset.old = '1'; }")
    page.locator("input[name=from]").focus()
    page.keyboard.type("11012026", delay=20)
    page.locator("input[name=to]").focus()  # on to To (a click lands in whichever part it hits)
    assert page.evaluate("() => document.activeElement.name") == "to"
    page.keyboard.type("11302026", delay=20)
    assert page.eval_on_selector("form[data-autosubmit]", "form => form.dataset.old") == "1"  # not reloaded yet
    page.keyboard.press("Enter")
    page.wait_for_selector("form[data-autosubmit][data-bound]:not([data-old])", state="attached")
    query = _query(page.url)
    assert (query.get("from"), query.get("to")) == ("2026-11-01", "2026-11-30"), page.url
    assert page.input_value("input[name=from]") == "2026-11-01"
    assert page.input_value("input[name=to]") == "2026-11-30"
