"""Dashboard hardening found by a tester: any session id opens its own page from the sessions list
(a leading `/`, `%`, `?`, `#`, spaces, dots, Unicode), with the workspace limits unchanged; and a
database outage on sign-in is the dashboard's HTML error page, not problem JSON. Real SQLite and
Postgres through the suite's fixtures; real HTTP through uvicorn on a loopback port for the links,
and through Litestar's test client for the outage."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from devlog_server.app import create_app
from devlog_server.dashboard.links import session_path
from devlog_server.settings import ServerSettings
from tests.server.conftest import KEYS, auth, batch
from tests.server.dashboard.conftest import csrf_of
from tests.server.loopback import served

#: Session ids that a path mangles when put in it as they are, or percent-encoded once.
AWKWARD_IDS = [
    "/tmp/job-7",
    "tmp/job-7",
    "//double//slash/",
    "trailing/",
    "100%",
    "a%2Fb",
    "a%41",
    "a?b#c",
    "with space",
    "ünï/cödé ✓",
    ".",
    "..",
    "-",
]
_LINK = re.compile(r'<a href="(/dashboard/sessions/[^"]+)" title="([^"]*)"')


@pytest.fixture
def live(settings_factory: Callable[..., ServerSettings]) -> Iterator[httpx.Client]:
    """A client of the dashboard app served by uvicorn on a loopback port.

    Not Litestar's test client: that one percent-decodes a request path twice (httpx's `URL.path` is
    decoded already), where an ASGI server decodes it once, so it cannot tell whether an escaped id
    survives the trip a browser's request takes.
    """
    with served(create_app(settings_factory())) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


def _post_sessions(client: httpx.Client, ids: list[str], workspace: str = "/srv/app") -> None:
    now = datetime.now(UTC) - timedelta(hours=1)
    events = [
        {
            "id": f"awk-{workspace[1:4]}-{n}",
            "ts": (now + timedelta(seconds=n)).isoformat(),
            "agent": "claude",
            "kind": "prompt",
            "session_id": sid,
            "workspace": workspace,
            "text": f"prompt of session number {n}",
        }
        for n, sid in enumerate(ids)
    ]
    response = client.post("/api/v1/events", json=batch(events), headers=auth("full"))
    assert response.status_code == 200 and response.json()["created"] == len(ids), response.text


def _sign_in(client: httpx.Client, key: str, next_url: str = "/dashboard") -> httpx.Response:
    form = client.get("/dashboard/sign-in")
    data = {"csrf_token": csrf_of(form.text), "api_key": KEYS[key][0], "next": next_url}
    return client.post("/dashboard/sign-in", data=data)


def _opened_session(page: str) -> str:
    match = re.search(r'Session <span class="mono">(.*?)</span>', page)
    assert match, page[:500]
    return html.unescape(match.group(1))


def test_every_session_id_opens_its_own_page_from_the_list(live: httpx.Client) -> None:
    _post_sessions(live, AWKWARD_IDS)
    assert _sign_in(live, "read").status_code == 303
    listing = live.get("/dashboard/sessions", params={"period": "all"})
    assert listing.status_code == 200
    links = {html.unescape(title): html.unescape(href) for href, title in _LINK.findall(listing.text)}
    assert set(links) == set(AWKWARD_IDS)
    for session_id, href in links.items():
        # The link keeps the list's query (here its period) after the escaped id, whose `?` is escaped.
        assert href == session_path(session_id) + "?period=all"
        page = live.get(href)
        assert page.status_code == 200, (session_id, href, page.text[:300])
        assert _opened_session(page.text) == session_id, href
        assert f'data-id="awk-srv-{AWKWARD_IDS.index(session_id)}"' in page.text
    # a plain id still opens from a hand-typed URL
    assert _opened_session(live.get("/dashboard/sessions/-").text) == "-"


def test_an_escaped_session_link_keeps_the_workspace_limits(live: httpx.Client) -> None:
    _post_sessions(live, ["/tmp/mine"], workspace="/srv/app")
    _post_sessions(live, ["/tmp/theirs"], workspace="/opt/other")
    assert _sign_in(live, "srv").status_code == 303  # globs /srv/**
    assert _opened_session(live.get(session_path("/tmp/mine")).text) == "/tmp/mine"
    assert live.get(session_path("/tmp/theirs")).status_code == 404
    assert "/tmp/theirs" not in live.get("/dashboard/sessions", params={"period": "all"}).text


def test_signing_in_from_an_escaped_session_link_comes_back_to_that_session(live: httpx.Client) -> None:
    _post_sessions(live, ["/tmp/job-7", "tmp/job-7"])
    target = session_path("/tmp/job-7")
    redirect = live.get(target)
    assert redirect.status_code == 303
    form = live.get(redirect.headers["location"])
    next_url = html.unescape(re.search(r'name="next" value="([^"]*)"', form.text).group(1))  # type: ignore[union-attr]
    signed_in = _sign_in(live, "read", next_url)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == target
    assert _opened_session(live.get(target).text) == "/tmp/job-7"


@pytest.fixture
def dashboard_without_database() -> Iterator[TestClient[Any]]:
    """A dashboard app whose database (Postgres on a closed port) cannot be reached."""
    settings = ServerSettings(database_url="postgresql+asyncpg://nobody@127.0.0.1:9/nothing", db_timeout_seconds=2)
    with TestClient(create_app(settings)) as client:
        yield client


def _assert_html_503(response: Any) -> None:
    assert response.status_code == 503, response.text[:300]
    assert response.headers["content-type"].startswith("text/html"), response.headers
    assert response.headers["retry-after"] == "5"
    assert "<h1>Temporarily unavailable</h1>" in response.text
    assert "the database is unavailable; retry later" in response.text


def test_signing_in_while_the_database_is_down_is_the_html_error_page(
    dashboard_without_database: TestClient[Any],
) -> None:
    client = dashboard_without_database
    form = client.get("/dashboard/sign-in")
    assert form.status_code == 200
    response = client.post(
        "/dashboard/sign-in",
        data={"csrf_token": csrf_of(form.text), "api_key": "read-token-0123456789", "next": "/dashboard"},
    )
    _assert_html_503(response)
    # and a page of a browser that has a session cookie, the same
    client.cookies.set("devlog_session", "x" * 43)
    _assert_html_503(client.get("/dashboard/people"))
    # the API keeps answering with problem JSON
    api = client.get("/api/v1/whoami", headers=auth("read"))
    assert api.status_code == 503 and api.headers["content-type"].startswith("application/problem+json")
