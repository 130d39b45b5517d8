"""Dashboard numbers after collectors re-send newer copies of a realistic team's events (SQLite and
Postgres): grown usage, failed tools that succeeded on a re-read, a session moved to another
workspace. Each replaced event counts once, with its new values, and the rollup stays a grouping of
`events` (the Postgres trigger sees many rows and keys per statement here)."""

from __future__ import annotations

import copy
from typing import Any

from litestar.testing import TestClient

from devlog_server.state import server_state
from tests.server.conftest import auth
from tests.server.dashboard.conftest import seed_team, sign_in
from tests.server.dashboard.teamdata import batches
from tests.server.dashboard.test_pages import kpis, stats
from tests.server.rollups import rollups_and_expected


def _newer_copies(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    moved_session = events[0]["session_id"]
    out = []
    for original in events:
        event = copy.deepcopy(original)
        if event["session_id"] == moved_session:
            event["workspace"] = "/srv/moved"
        elif event["kind"] == "response":
            event["usage"]["output_tokens"] *= 2
            if "cost_usd" in event:
                event["cost_usd"] = round(event["cost_usd"] * 2, 6)
        elif event["kind"] == "tool_result" and event["tool"]["status"] != "success":
            event["tool"]["status"] = "success"
        else:
            continue
        out.append(event)
    return out


def test_resent_newer_copies_replace_their_numbers(dash: TestClient[Any]) -> None:
    events = seed_team(dash, sessions=20)
    newer = _newer_copies(events)
    updated = 0
    for payload in batches(newer):
        response = dash.post("/api/v1/events", json=payload, headers=auth("full"))
        assert response.status_code == 200, response.text
        assert response.json()["created"] == 0
        updated += response.json()["updated"]
    assert updated == len(newer)

    state = server_state(dash.app)

    async def read() -> Any:
        async with state.db.read() as conn:
            return await rollups_and_expected(conn)

    actual, expected = dash.blocking_portal.call(read)  # type: ignore[union-attr]
    assert actual == expected

    final = {e["id"]: e for e in [*events, *newer]}.values()
    sign_in(dash, "read")
    values = kpis(dash.get("/dashboard", params={"period": "all"}).text)
    total = stats(dash)["total"]
    assert values["events"] == total["events"] == len(events)
    assert total["output_tokens"] == sum(e.get("usage", {}).get("output_tokens", 0) for e in final)
    moved = stats(dash, workspace="/srv/moved")["total"]
    assert moved["sessions"] == 1 and moved["events"] == sum(e["workspace"] == "/srv/moved" for e in final)
