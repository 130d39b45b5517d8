"""The sessions list's search reads a prompt's text, not its raw JSON: key names matched every
session, and quotes, backslashes and escaped characters in the text could not be found."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import TestClient

from tests.server.conftest import auth, event
from tests.server.dashboard.conftest import sign_in


def _found(dash: TestClient[Any], query: str) -> set[str]:
    page = dash.get("/dashboard/sessions", params={"period": "all", "q": query})
    assert page.status_code == 200
    return set(re.findall(r'data-session="([^"]+)"', page.text))


def test_search_matches_the_prompt_text_with_quotes_backslashes_and_escapes(dash: TestClient[Any]) -> None:
    prompts = [
        event(1, kind="prompt", session_id="quoted", text='run "make test" in C:\\repo'),
        event(2, kind="prompt", session_id="plain", text="tidy the README"),
    ]
    assert dash.post("/api/v1/events", json={"events": prompts}, headers=auth("full")).status_code == 200
    escaped = (  # as Python's json.dumps writes it (ensure_ascii): the accent as \u00e9
        '{"events": [{"schema_version": 1, "id": "evt-esc", "ts": "2026-09-01T12:00:00+00:00", "agent": "claude",'
        ' "kind": "prompt", "session_id": "accented", "text": "caf\\u00e9 menu"}]}'
    )
    sent = dash.post("/api/v1/events", content=escaped, headers={**auth("full"), "Content-Type": "application/json"})
    assert sent.status_code == 200, sent.text
    sign_in(dash, "read")
    assert _found(dash, '"make test"') == {"quoted"}
    assert _found(dash, "C:\\repo") == {"quoted"}
    assert _found(dash, "café") == {"accented"}
    assert _found(dash, "session_id") == set() and _found(dash, "text") == set()  # key names, not text
