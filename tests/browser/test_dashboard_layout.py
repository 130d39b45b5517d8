"""Layout in headless Chromium: no dashboard page is wider than the viewport, on a laptop screen and
on a phone, even with a long workspace path (tables scroll inside their card, paths are clipped with
the full value in a title)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.browser.conftest import KEYS, LiveServer, require_chromium, sign_in, start_server, stop_server

pytestmark = pytest.mark.browser

LONG_WORKSPACE = "/home/alice/work/clients/northwind-traders/quarterly-revenue-forecasting-service-backend-v2"
UUID_SESSION = "a139f786-5c1d-4e2b-9f3a-0123456789ab"
PAGES = [
    "/dashboard?period=30d",
    "/dashboard/people?period=30d",
    "/dashboard/tools?period=30d",
    "/dashboard/sessions?period=30d",
    "/dashboard/ingest?period=30d",
    "/dashboard/sessions/layout-long-workspace",
    f"/dashboard/sessions/{UUID_SESSION}",  # a real agent's session id: a long unbroken heading
]
VIEWPORTS = [(1280, 800), (390, 844)]


def _long_workspace_events() -> list[dict[str, Any]]:
    """A session in a long workspace that costs the most, so it tops every workspace table."""
    start = datetime.now(UTC) - timedelta(hours=2)
    common = {"agent": "claude", "session_id": "layout-long-workspace", "workspace": LONG_WORKSPACE, "user": "alice"}
    events: list[dict[str, Any]] = [
        {**common, "id": "layout-1", "ts": start.isoformat(), "kind": "prompt", "text": "forecast"},
    ]
    for n in range(2, 12):
        ts = (start + timedelta(minutes=n)).isoformat()
        usage = {"input_tokens": 900_000, "output_tokens": 400_000, "cache_read_tokens": 0, "cache_creation_tokens": 0}
        events.append(
            {**common, "id": f"layout-{n}", "ts": ts, "kind": "response", "model": "claude-opus-4-5", "usage": usage}
        )
        events.append(
            {
                **common,
                "id": f"layout-edit-{n}",
                "ts": ts,
                "kind": "file_edit",
                "file": {"path": f"{LONG_WORKSPACE}/src/forecasting/models/seasonal_decomposition_{n}.py"},
            }
        )
    for event in events[1:]:
        if event["kind"] == "response":
            event["cost_usd"] = 99.0
        if event["kind"] == "file_edit":
            event["file"].update(lines_added=40, lines_removed=3)
    events.append({**common, "session_id": UUID_SESSION, "id": "layout-uuid-1", "ts": start.isoformat(),
                   "workspace": "/home/alice/company/billing/personal/notes",  # no hyphen to wrap at
                   "kind": "prompt", "text": "a session whose id is a UUID"})  # fmt: skip
    return events


@pytest.fixture(scope="module")
def long_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    require_chromium()
    server = start_server(tmp_path_factory.mktemp("layout-server"), sessions=30)
    body = {
        "schema_version": 1,
        "collector": {"name": "devlog", "version": "0.1.0", "machine": "m-alice-with-a-rather-long-hostname.example"},
        "events": _long_workspace_events(),
    }
    response = httpx.post(
        f"{server.url}/api/v1/events", json=body, headers={"Authorization": f"Bearer {KEYS['writer'][0]}"}, timeout=30
    )
    assert response.status_code == 200 and response.json()["rejected"] == 0, response.text
    try:
        yield server
    finally:
        stop_server(server)


@pytest.mark.parametrize(("width", "height"), VIEWPORTS, ids=[f"{w}x{h}" for w, h in VIEWPORTS])
def test_no_page_is_wider_than_the_viewport(browser: Any, long_server: LiveServer, width: int, height: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        sign_in(page, long_server, key="ops")
        for path in PAGES:
            page.goto(long_server.url + path)
            page.wait_for_load_state("load")
            if path.startswith("/dashboard?"):
                assert LONG_WORKSPACE in page.inner_html("main"), "the long workspace is not on the overview"
                titled = page.locator(f'[title="{LONG_WORKSPACE}"]').count()
                assert titled > 0, "the clipped path has no title with the full value"
            scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
            assert scroll_width <= width, f"{path} at {width}x{height} is {scroll_width} px wide"
            rights = page.eval_on_selector_all(".page-head > *", "all => all.map(e => e.getBoundingClientRect().right)")
            for right in rights:
                assert right <= width, f"{path} at {width}x{height}: the page head sticks out to {right} px"
            links = page.eval_on_selector_all("nav.nav a", "all => all.map(a => a.getBoundingClientRect().right)")
            assert max(links) <= width, f"{path} at {width}x{height}: a page's link is off-screen ({links})"
    finally:
        context.close()
