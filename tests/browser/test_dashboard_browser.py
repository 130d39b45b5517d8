"""End to end in headless Chromium against `devlog-server serve`: sign-in, filters, a chart whose
drawn data adds up to the stats endpoint's totals, a session page, and access limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser.conftest import KEYS, LiveServer, sign_in

pytestmark = pytest.mark.browser

CHART_TOTAL_JS = """id => {
  const chart = window.devlogCharts && window.devlogCharts[id];
  if (!chart) return null;
  return {
    total: chart.data.datasets.reduce((sum, d) => sum + d.data.reduce((a, b) => a + b, 0), 0),
    labels: chart.data.labels.length,
    series: chart.data.datasets.map(d => d.label),
    drawn: chart.canvas.width > 0 && chart.getDatasetMeta(0).data.length > 0,
  };
}"""


def _since_30d() -> str:
    return (datetime.now(UTC).date() - timedelta(days=29)).isoformat() + "T00:00:00Z"


def test_sign_in_wrong_key_then_right_key(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/dashboard/tools")
    assert "/dashboard/sign-in" in page.url
    page.fill("#api_key", "dvl_AAAAAAAAAAAA_" + "x" * 32)
    page.click("button[type=submit]")
    assert "That key was not accepted" in page.inner_text(".error")
    page.fill("#api_key", KEYS["writer"][0])  # valid, but no read scope
    page.click("button[type=submit]")
    assert "That key was not accepted" in page.inner_text(".error")
    page.fill("#api_key", KEYS["viewer"][0])
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Tools')")
    assert page.url.endswith("/dashboard/tools")
    cookie = next(c for c in page.context.cookies() if c["name"] == "devlog_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert "devlog_session" not in page.evaluate("document.cookie")
    assert KEYS["viewer"][0] not in cookie["value"]
    # Sign out through the header's form.
    page.click("text=Sign out")
    page.wait_for_selector("#api_key")
    page.goto(live_server.url + "/dashboard")
    assert "/dashboard/sign-in" in page.url


def test_chart_draws_the_stats_totals(page: Any, live_server: LiveServer) -> None:
    sign_in(page, live_server, path="/dashboard?period=30d&metric=cost&split=model")
    page.wait_for_function("() => window.devlogCharts && window.devlogCharts['overview-chart']")
    drawn = page.evaluate(CHART_TOTAL_JS, "overview-chart")
    total = live_server.stats(since=_since_30d())["total"]
    assert drawn["drawn"] and drawn["labels"] == 30
    assert drawn["total"] == pytest.approx(total["cost_usd"], abs=1e-4)
    models = {g["key"] for g in live_server.stats(by="model", since=_since_30d())["groups"] if g["cost_usd"] > 0}
    named = set(drawn["series"]) - {"other"}
    assert named <= models and (named == models or "other" in drawn["series"])
    # Switch the metric with the segmented control: tokens by agent, same period.
    drawn_js = "() => { const c = document.getElementById('overview-chart'); return !!c && c.dataset.drawn === '1'; }"
    page.click(".seg a:has-text('Tokens')")
    page.wait_for_function("() => location.search.includes('metric=tokens')")
    page.wait_for_function(drawn_js)
    page.click(".seg a:has-text('by agent')")
    page.wait_for_function("() => location.search.includes('metric=tokens') && location.search.includes('split=agent')")
    page.wait_for_function(drawn_js)
    labels = page.evaluate("() => Chart.getChart('overview-chart').data.datasets.map(d => d.label)")
    assert set(labels) <= {"claude", "codex", "cursor", "copilot", "gemini"}
    tokens = page.evaluate(
        "() => Chart.getChart('overview-chart').data.datasets"
        ".reduce((s, d) => s + d.data.reduce((a, b) => a + b, 0), 0)"
    )
    expected = (
        total["input_tokens"] + total["output_tokens"] + total["cache_read_tokens"] + total["cache_creation_tokens"]
    )
    assert tokens == expected
    assert page.inner_text("[data-kpi=events] .kpi-value").replace(",", "") == str(total["events"])


def test_filters_update_the_page(page: Any, live_server: LiveServer) -> None:
    sign_in(page, live_server, path="/dashboard?period=all")
    page.wait_for_selector("form[data-autosubmit][data-bound]", state="attached")  # dashboard.js has run
    page.select_option("select[name=agent]", "codex")  # the filter bar submits itself (htmx swap)
    page.wait_for_function("() => location.search.includes('agent=codex')")
    page.wait_for_selector("table[data-table=agent] tr[data-key=codex]")
    expected = live_server.stats(agent="codex")["total"]["events"]
    assert expected == len([e for e in live_server.events if e["agent"] == "codex"])
    page.wait_for_function(
        "n => document.querySelector('[data-kpi=events] .kpi-value').dataset.value === String(n)", arg=expected
    )
    assert page.locator("table[data-table=agent] tbody tr").count() == 1
    # The filter survives navigation to another page.
    page.click("nav.nav a:has-text('Sessions')")
    page.wait_for_selector("h1:has-text('Sessions')")
    agents = set(page.locator("table[data-table=sessions] tbody tr td:nth-child(3)").all_inner_texts())
    assert agents == {"codex"}


def test_session_page_in_order(page: Any, live_server: LiveServer) -> None:
    sign_in(page, live_server, path="/dashboard/sessions?period=all")
    first_row = page.locator("table[data-table=sessions] tbody tr").first
    session_id = first_row.get_attribute("data-session")
    first_row.locator("td a").first.click()
    page.wait_for_selector("ol.timeline")
    expected = sorted((e for e in live_server.events if e["session_id"] == session_id), key=lambda e: e["ts"])
    shown = page.locator("ol.timeline > li").evaluate_all("items => items.map(li => li.dataset.id)")
    assert shown == [e["id"] for e in expected]
    prompt = next(e for e in expected if e["kind"] == "prompt")
    assert prompt["text"] in page.locator("li.ev.prompt .text").first.inner_text()


def test_glob_limited_key_sees_only_its_workspaces(page: Any, live_server: LiveServer) -> None:
    sign_in(page, live_server, key="infra", path="/dashboard/people?period=all")
    text = page.inner_text("main")
    assert "/srv/infra" in text
    assert not re.search(r"/home/\w+/", text)
    visible = len([e for e in live_server.events if e["workspace"].startswith("/srv/")])
    page.goto(live_server.url + "/dashboard?period=all")
    assert page.get_attribute("[data-kpi=events] .kpi-value", "data-value") == str(visible)
    options = page.locator("select[name=workspace] option").all_inner_texts()
    assert all("/home/" not in option for option in options)
    hidden = next(e for e in live_server.events if not e["workspace"].startswith("/srv/"))
    response = page.goto(f"{live_server.url}/dashboard/sessions/{hidden['session_id']}")
    assert response is not None and response.status == 404
    page.goto(live_server.url + "/dashboard/ingest")
    assert "shown only to keys with the admin scope" in page.inner_text("main")
    assert page.locator("table[data-table=collectors]").count() == 0
