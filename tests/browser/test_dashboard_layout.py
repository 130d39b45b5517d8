"""Layout in headless Chromium: no dashboard page is wider than the viewport, on a laptop screen and
on a phone, even with a long workspace path (tables scroll inside their card, paths are clipped with
the full value in a title). On a laptop and a desktop screen every table fits its card too, with
every column in view, even with a 120-character project name, long developer and model names, and a
session whose 163-character id and path have nothing to break at (they wrap anywhere)."""

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
#: Screens on which every table fits its card (on a phone, a wide table scrolls inside its card).
WIDE_VIEWPORTS = [(1280, 800), (1920, 1080)]
LONG_PROJECT = ("NorthwindTradersQuarterlyRevenueForecasting" * 3)[:120]
LONG_USER = "carol-with-an-extraordinarily-long-developer-name-for-testing-layout"
LONG_MODEL = "acme-research/large-language-model-preview-2026-11-experimental-long-context-edition"
LONG_SESSION = "long-session-" + "y" * 150
LONG_PATH = (
    "/home/carol/" + "/".join(f"a-very-long-folder-name-that-keeps-going-{n:02d}" for n in range(8)) + "/" + "x" * 200
)
LONG_EVENT_ID = "rejected-event-" + "z" * 100
LONG_MACHINE = "build-agent-" + "m" * 60 + ".ci.example"


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


def _long_name_events() -> list[dict[str, Any]]:
    """A recent, costly session where every name is long (so it tops the lists and tables)."""
    start = datetime.now(UTC) - timedelta(minutes=50)
    common = {"agent": "codex", "session_id": LONG_SESSION, "workspace": LONG_PATH, "project": LONG_PROJECT,
              "user": LONG_USER, "model": LONG_MODEL}  # fmt: skip
    usage = {"input_tokens": 123_456_789, "output_tokens": 98_765_432}
    return [
        {**common, "id": "long-names-1", "ts": start.isoformat(), "kind": "prompt", "text": "long session " * 50},
        {**common, "id": "long-names-2", "ts": (start + timedelta(minutes=1)).isoformat(), "kind": "response",
         "text": "long session " * 50, "usage": usage, "cost_usd": 12_345.678},
        {**common, "id": "long-names-3", "ts": (start + timedelta(minutes=2)).isoformat(), "kind": "file_edit",
         "file": {"path": LONG_PATH + "/src/module.py", "lines_added": 3, "lines_removed": 1}},
    ]  # fmt: skip


@pytest.fixture(scope="module")
def long_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    require_chromium()
    server = start_server(tmp_path_factory.mktemp("layout-server"), sessions=30)
    body = {
        "schema_version": 1,
        "collector": {"name": "devlog", "version": "0.1.0", "machine": "m-alice-with-a-rather-long-hostname.example"},
        "events": _long_workspace_events(),
    }
    headers = {"Authorization": f"Bearer {KEYS['writer'][0]}"}
    response = httpx.post(f"{server.url}/api/v1/events", json=body, headers=headers, timeout=30)
    assert response.status_code == 200 and response.json()["rejected"] == 0, response.text
    long_names = {**body, "events": _long_name_events()}
    response = httpx.post(f"{server.url}/api/v1/events", json=long_names, headers=headers, timeout=30)
    assert response.status_code == 200 and response.json()["rejected"] == 0, response.text
    rejected = {  # a rejection with a long event id, from a machine with a long name (Ingest health)
        "schema_version": 1,
        "collector": {"name": "devlog", "version": "0.1.0", "machine": LONG_MACHINE},
        "events": [{"id": LONG_EVENT_ID, "ts": "not a time", "agent": "claude", "kind": "prompt", "session_id": "x"}],
    }
    httpx.post(f"{server.url}/api/v1/events", json=rejected, headers=headers, timeout=30)
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


#: Per table box that is wider than its content allows: [class, card heading, scroll width, client width].
OVERFLOWING_TABLES = """() => [...document.querySelectorAll('.table-scroll')]
  .filter(box => box.scrollWidth > box.clientWidth + 1)
  .map(box => [box.querySelector('table').dataset.table || '',
               (box.closest('.card').querySelector('h2') || {}).textContent, box.scrollWidth, box.clientWidth])"""
#: Clipped cells (an ellipsis) whose full value is not in a title.
UNTITLED_CLIPS = """() => [...document.querySelectorAll('td.clip > *, td.path > *')]
  .filter(el => el.scrollWidth > el.clientWidth + 1 && !el.title)
  .map(el => el.textContent.slice(0, 60))"""


@pytest.mark.parametrize(("width", "height"), WIDE_VIEWPORTS, ids=[f"{w}x{h}" for w, h in WIDE_VIEWPORTS])
def test_long_names_never_push_a_column_out_of_view(
    browser: Any, long_server: LiveServer, width: int, height: int
) -> None:
    """A 120-character project name pushed every number column of People → Projects out of view at
    1920 px; Top workspaces and the Sessions list hid their Cost column at 1280 px; a session page
    with a 163-character id or a long path was wider than the screen."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        sign_in(page, long_server, key="ops")
        for path in [*PAGES, "/dashboard/sessions/" + LONG_SESSION]:
            page.goto(long_server.url + path)
            page.wait_for_load_state("load")
            main = page.inner_html("main")
            if path.startswith("/dashboard/people"):
                assert LONG_PROJECT in main and LONG_USER in main, "the long names are not on the page"
            if path.startswith("/dashboard/sessions?"):
                assert LONG_SESSION in main and LONG_MODEL in main, "the long session is not listed"
            if path.startswith("/dashboard/ingest"):
                assert LONG_EVENT_ID in main and LONG_MACHINE in main, "the long rejection is not listed"
            scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
            assert scroll_width <= width, f"{path} at {width}x{height} is {scroll_width} px wide"
            assert page.evaluate(OVERFLOWING_TABLES) == [], (
                f"{path} at {width}x{height}: a table is wider than its card"
            )
            assert page.evaluate(UNTITLED_CLIPS) == [], f"{path}: a clipped name has no title with the full value"
        # The session page: the id and the path wrap inside the page head.
        head = page.eval_on_selector(".page-head", "e => [e.scrollWidth, e.clientWidth]")
        assert head[0] <= head[1], head
        assert LONG_PATH in page.inner_text(".page-head .sub").replace("\n", "")
    finally:
        context.close()
