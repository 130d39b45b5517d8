"""Browser suite: a real `devlog-server serve` (uvicorn) on loopback with seeded data, and a real
headless Chromium (Debian's `chromium`, driven by Playwright; Playwright's own browser download is
not used). Without Chromium the suite skips locally and FAILS under CI=true."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.dashboard.teamdata import batches, team_events

CHROMIUM = os.environ.get("DEVLOG_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: name -> (token, scopes, globs)
KEYS = {
    "viewer": ("browser-read-token-0123456789", "read", ""),
    "writer": ("browser-ingest-token-0123456789", "ingest", ""),
    "infra": ("browser-infra-token-0123456789", "read", "/srv/**"),
    "ops": ("browser-ops-token-0123456789", "admin", ""),
}


def require_chromium() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI requires it)")
    pytest.skip(message)


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_bin() -> str:
    found = Path(sys.executable).parent / "devlog-server"
    return str(found) if found.exists() else (shutil.which("devlog-server") or "devlog-server")


@dataclass
class LiveServer:
    """A seeded server process: its URL, the events it holds, and a read-API helper."""

    url: str
    events: list[dict[str, Any]]
    process: subprocess.Popen[bytes]
    log: Path

    def stats(self, key: str = "viewer", **params: str) -> dict[str, Any]:
        response = httpx.get(
            f"{self.url}/api/v1/stats", params=params, headers={"Authorization": f"Bearer {KEYS[key][0]}"}, timeout=10
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


def start_server(workdir: Path, *, sessions: int = 80, end: datetime | None = None) -> LiveServer:
    """Migrate, serve on a free loopback port, wait until ready, and post a team's events."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVLOG_SERVER_")}
    env["DEVLOG_SERVER_DATABASE_URL"] = f"sqlite+aiosqlite:///{workdir / 'server.db'}"
    env["DEVLOG_SERVER_BOOTSTRAP_KEYS"] = ",".join(
        f"{name}:{token}:{scopes}" + (f":{globs}" if globs else "") for name, (token, scopes, globs) in KEYS.items()
    )
    env["DEVLOG_SERVER_RATE_LIMIT_PER_MINUTE"] = "0"
    log = workdir / "server.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [_server_bin(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise AssertionError(f"devlog-server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"devlog-server not ready within 60 s:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)
    events = team_events(end=end or datetime.now(UTC), sessions=sessions)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEYS['writer'][0]}"}, timeout=30) as client:
        for payload in batches(events):
            response = client.post("/api/v1/events", json=payload)
            assert response.status_code == 200 and response.json()["rejected"] == 0, response.text
    return LiveServer(url=url, events=events, process=process, log=log)


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    require_chromium()
    server = start_server(tmp_path_factory.mktemp("browser-server"))
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def browser(live_server: LiveServer) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


def sign_in(page: Any, server: LiveServer, key: str = "viewer", path: str = "/dashboard") -> None:
    """Sign in through the form like a person would."""
    page.goto(server.url + path)
    page.fill("#api_key", KEYS[key][0])
    page.click("button[type=submit]")
    page.wait_for_selector("header.topbar")
    page.wait_for_load_state("load")
