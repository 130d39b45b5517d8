"""Screenshots of every dashboard page for docs/screenshots/ (run by hand after UI changes):

    .venv/bin/python -m tests.browser.take_screenshots [--out docs/screenshots]

Starts `devlog-server serve` on loopback with a seeded team (tests/server/dashboard/teamdata.py),
signs in through the form in headless Chromium and saves one PNG per page.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, KEYS, LiveServer, start_server, stop_server

PAGES = [
    ("overview", "/dashboard?period=30d&metric=cost&split=model", True),
    ("people", "/dashboard/people?period=30d", True),
    ("tools", "/dashboard/tools?period=30d", True),
    ("sessions", "/dashboard/sessions?period=30d", False),
    ("ingest", "/dashboard/ingest?period=30d", True),
]


def _post_rejected_batch(server: LiveServer) -> None:
    """A collector with a few bad events, so the ingest-health page shows rejections and reasons."""
    now = datetime.now(UTC)
    bad = [
        {"id": "bad-ts-1", "ts": "yesterday", "agent": "claude", "kind": "prompt", "session_id": "s1"},
        {"id": "bad-kind-1", "ts": now.isoformat(), "agent": "claude", "kind": "thought", "session_id": "s1"},
        {"id": "bad-agent-1", "ts": now.isoformat(), "agent": "Not An Agent", "kind": "prompt", "session_id": "s1"},
    ]
    payload = {
        "schema_version": 1,
        "collector": {"name": "devlog", "version": "0.0.9", "machine": "m-ci-runner"},
        "events": bad,
    }
    headers = {"Authorization": f"Bearer {KEYS['writer'][0]}"}
    httpx.post(f"{server.url}/api/v1/events", json=payload, headers=headers, timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        server = start_server(Path(workdir), sessions=180)
        _post_rejected_batch(server)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
                page = context.new_page()
                page.goto(server.url + "/dashboard/sign-in")
                page.screenshot(path=str(args.out / "sign-in.png"))
                page.fill("#api_key", KEYS["ops"][0])  # admin: the ingest-health page needs it
                page.click("button[type=submit]")
                page.wait_for_selector("header.topbar")
                for name, path, full in PAGES:
                    page.goto(server.url + path)
                    page.wait_for_load_state("networkidle")
                    page.wait_for_timeout(300)
                    page.screenshot(path=str(args.out / f"{name}.png"), full_page=full)
                    print(args.out / f"{name}.png")
                page.goto(server.url + "/dashboard/sessions?period=30d")
                page.locator("table[data-table=sessions] tbody tr td a").nth(2).click()
                page.wait_for_selector("ol.timeline")
                page.screenshot(path=str(args.out / "session.png"))
                print(args.out / "session.png")
                browser.close()
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
