"""Charts do not pile up in the browser: each filter change swaps the page through htmx and draws its
chart on a new canvas, and Chart.js keeps every chart it made (with its listeners) in
`Chart.instances` until it is destroyed. After any number of changes there is one chart per canvas.

Runs in headless Chromium against `devlog-server serve`, with the browser suite's server helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM_ARGS, LiveServer, require_chromium, sign_in, start_server, stop_server

pytestmark = pytest.mark.browser

#: Live charts per canvas id (a destroyed chart leaves Chart.instances).
CHARTS_PER_CANVAS = """() => {
  const counts = {};
  Object.values(Chart.instances).forEach(c => { counts[c.canvas.id] = (counts[c.canvas.id] || 0) + 1; });
  return counts;
}"""
MARK_OLD = "id => { document.getElementById(id).dataset.old = '1'; }"
NEW_CHART_DRAWN = (
    "id => { const c = document.getElementById(id); return !!c && !c.dataset.old && c.dataset.drawn === '1'; }"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    require_chromium()
    live = start_server(tmp_path_factory.mktemp("chart-instances"), sessions=30)
    try:
        yield live
    finally:
        stop_server(live)


@pytest.fixture
def page(server: LiveServer) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS, timeout=60_000)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(15_000)
            yield context.new_page()
        finally:
            browser.close()


def test_filter_changes_leave_one_chart_per_canvas(page: Any, server: LiveServer) -> None:
    sign_in(page, server, path="/dashboard?period=30d")
    page.wait_for_selector("form[data-autosubmit][data-bound]", state="attached")  # dashboard.js has run
    page.wait_for_function(NEW_CHART_DRAWN, arg="overview-chart")
    assert page.evaluate(CHARTS_PER_CANVAS) == {"overview-chart": 1}
    for name, value in [("period", "7d"), ("agent", "codex"), ("period", "all"), ("every", "week"), ("agent", "")]:
        page.evaluate(MARK_OLD, "overview-chart")
        page.select_option(f"select[name={name}]", value)  # submits itself: an htmx swap, not a page load
        page.wait_for_function(NEW_CHART_DRAWN, arg="overview-chart")
        assert page.evaluate(CHARTS_PER_CANVAS) == {"overview-chart": 1}, (name, value)
    assert page.evaluate("() => Object.keys(window.devlogCharts)") == ["overview-chart"]
    # A boosted link to another page: the overview's chart goes with its canvas.
    page.click("nav.nav a:has-text('Tools')")
    page.wait_for_function(NEW_CHART_DRAWN, arg="tools-chart")
    assert page.evaluate(CHARTS_PER_CANVAS) == {"tools-chart": 1}
    assert page.evaluate("() => Object.keys(window.devlogCharts)") == ["tools-chart"]


def test_the_filter_bar_waits_for_a_typed_choice(page: Any, server: LiveServer) -> None:
    """Arrow keys in a select, and digits in a date box (Chromium fires `change` at the first year
    digit: year 0002), submitted the bar at once and dropped focus, so a keyboard user could move one
    option at a time and never type a date. A typed choice now waits for Enter or for focus to leave."""
    sign_in(page, server, path="/dashboard?period=30d")
    page.wait_for_selector("form[data-autosubmit][data-bound]", state="attached")
    page.focus("select[name=agent]")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert "agent=" not in page.url  # nothing submitted while moving through the options
    chosen = page.eval_on_selector("select[name=agent]", "s => s.value")
    assert chosen
    page.keyboard.press("Enter")
    page.wait_for_url(f"**agent={chosen}**")
    page.wait_for_function("() => document.activeElement && document.activeElement.name === 'agent'")
    page.type("input[name=from]", "11012026")
    assert "from=" not in page.url or "from=0002" not in page.url
    page.keyboard.press("Enter")
    page.wait_for_url("**from=2026-11-01**")
    assert "period=custom" in page.url
