"""A re-sent event with newer content replaces the stored copy, on SQLite and Postgres: identical copies
stay plain duplicates, changed ones are replaced unless they lower the token total, the response's
`updated` counts them, and the dashboard rollups (kept by triggers) equal a fresh grouping of `events`
after every step - counters, moved keys, emptied rows and first/last timestamps."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select, text

from devlog_server.app import create_app
from devlog_server.db.models import EVENTS
from devlog_server.settings import ServerSettings
from devlog_server.state import server_state
from tests.server.conftest import BASE_TS, _empty_postgres, auth, batch, bootstrap_spec, event, post
from tests.server.rollups import expected_rollups, rollups_and_expected, stored_rollups


def _read(client: TestClient[Any], work: Callable[[Any], Awaitable[Any]]) -> Any:
    state = server_state(client.app)

    async def run() -> Any:
        async with state.db.read() as conn:
            return await work(conn)

    return client.blocking_portal.call(run)  # type: ignore[union-attr]


def _write(client: TestClient[Any], sql: str, **params: Any) -> None:
    state = server_state(client.app)

    async def run() -> None:
        async with state.db.write() as conn:
            await conn.execute(text(sql), params)

    client.blocking_portal.call(run)  # type: ignore[union-attr]


def stored(client: TestClient[Any], event_id: str) -> dict[str, Any]:
    async def work(conn: Any) -> dict[str, Any]:
        row = (await conn.execute(select(EVENTS).where(EVENTS.c.id == event_id))).mappings().one()
        return dict(row)

    row: dict[str, Any] = _read(client, work)
    return row


def rollups(client: TestClient[Any]) -> dict[tuple[str, ...], tuple[Any, ...]]:
    """The rollup rows, after checking they equal a grouping of the stored events."""
    actual, expected = _read(client, rollups_and_expected)
    assert actual == expected
    return actual  # type: ignore[no-any-return]


def by_workspace(rows: dict[tuple[str, ...], tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
    """Rollup counters keyed by workspace (the tests put one key per workspace)."""
    return {key[4]: values for key, values in rows.items()}


def response(n: int, **usage: int) -> dict[str, Any]:
    return event(n, kind="response", model="claude-sonnet-4-5", text=f"answer {n}", usage=usage)


def counts(reply: Any) -> tuple[int, int, int, int]:
    body = reply.json()
    return body["created"], body["duplicates"], body["updated"], body["rejected"]


def test_identical_copy_is_a_duplicate_and_rewrites_nothing(client: TestClient[Any]) -> None:
    original = response(1, input_tokens=10, output_tokens=5)
    assert counts(post(client, [original, event(2)])) == (2, 0, 0, 0)
    before, rows_before = stored(client, original["id"]), rollups(client)

    replay = post(client, [original, event(2)], machine="laptop-2", key="ingest")
    assert replay.status_code == 200
    assert counts(replay) == (0, 2, 0, 0)
    assert [r["status"] for r in replay.json()["results"]] == ["duplicate", "duplicate"]
    after = stored(client, original["id"])
    assert after == before  # same received_at, key and collector: the row was not rewritten
    assert rollups(client) == rows_before


def test_changed_content_replaces_the_stored_copy(client: TestClient[Any]) -> None:
    first = event(1, attrs={"title": None})
    assert counts(post(client, [first])) == (1, 0, 0, 0)
    before = stored(client, first["id"])

    renamed = event(1, attrs={"title": "Fix the login flow"}, project="payments", text="prompt, edited")
    reply = post(client, [renamed], machine="laptop-2", key="ingest")
    assert reply.status_code == 200
    assert counts(reply) == (0, 1, 1, 0)
    assert reply.json()["results"] == [{"index": 0, "id": first["id"], "status": "duplicate"}]

    after = stored(client, first["id"])
    assert json.loads(after["body"]) == renamed  # no usage on either copy: 0 >= 0, the newer one wins
    assert after["project"] == "payments"
    assert after["collector"] == "laptop-2" and after["key_id"] != before["key_id"]
    assert after["received_at"] > before["received_at"]
    listed = client.get("/api/v1/events", headers=auth("full")).json()["events"]
    assert [(e["attrs"], e["text"]) for e in listed] == [({"title": "Fix the login flow"}, "prompt, edited")]
    assert [key[7] for key in rollups(client)] == ["payments"]  # the project is part of the rollup key


def test_larger_usage_replaces_and_the_rollup_counts_the_new_copy_once(client: TestClient[Any]) -> None:
    streamed = response(1, input_tokens=10, output_tokens=1)  # a placeholder output count while streaming
    post(client, [streamed, response(2, input_tokens=3, output_tokens=4)])
    final = response(1, input_tokens=10, output_tokens=480, cache_read_tokens=2000, reasoning_tokens=7)
    reply = post(client, [final])
    assert counts(reply) == (0, 1, 1, 0)

    row = stored(client, final["id"])
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"], row["reasoning_tokens"]) == (
        10,
        480,
        2000,
        7,
    )
    (values,) = rollups(client).values()  # both responses share one key
    assert values[:7] == (2, 0, 10 + 3, 480 + 4, 0, 2000, 7)
    total = client.get("/api/v1/stats", headers=auth("full")).json()["total"]
    assert (total["events"], total["output_tokens"], total["cache_read_tokens"]) == (2, 484, 2000)


def test_copy_with_a_smaller_usage_is_ignored(client: TestClient[Any]) -> None:
    final = response(1, input_tokens=10, output_tokens=480)
    post(client, [final])
    before, rows_before = stored(client, final["id"]), rollups(client)

    stale = response(1, input_tokens=10, output_tokens=1) | {"text": "an older, partial answer"}
    reply = post(client, [stale])
    assert counts(reply) == (0, 1, 0, 0)
    assert stored(client, final["id"]) == before
    assert rollups(client) == rows_before
    # the same total with other content is not lower: it replaces
    shuffled = response(1, input_tokens=400, output_tokens=90)
    assert counts(post(client, [shuffled])) == (0, 1, 1, 0)
    assert json.loads(stored(client, final["id"])["body"]) == shuffled


def test_workspace_change_moves_the_rollup_row(client: TestClient[Any]) -> None:
    early, late = event(1), event(2)  # same session, day and key; `late` is the key's last event
    post(client, [early, late])
    (values,) = by_workspace(rollups(client)).values()
    assert values[0] == 2 and values[-1] == datetime.fromisoformat(late["ts"])

    reply = post(client, [event(2, workspace="/srv/other")])
    assert counts(reply) == (0, 1, 1, 0)
    rows = by_workspace(rollups(client))
    assert set(rows) == {"/srv/app", "/srv/other"}
    assert rows["/srv/app"][0] == 1
    assert rows["/srv/app"][-2:] == (datetime.fromisoformat(early["ts"]),) * 2  # last_ts narrowed back
    assert rows["/srv/other"][0] == 1

    post(client, [event(1, workspace="/srv/other")])
    rows = by_workspace(rollups(client))
    assert set(rows) == {"/srv/other"}  # the old key's row went when its count reached 0
    assert rows["/srv/other"][0] == 2
    assert rows["/srv/other"][-2:] == (datetime.fromisoformat(early["ts"]), datetime.fromisoformat(late["ts"]))
    assert client.get("/api/v1/events", params={"workspace": "/srv/app"}, headers=auth("full")).json()["events"] == []


def test_tool_status_and_line_counts_follow_the_new_copy(client: TestClient[Any]) -> None:
    tool = event(1, kind="tool_result", tool={"name": "Bash", "status": "ok"})
    edit = event(2, kind="file_edit", file={"path": "/srv/app/x.py", "lines_added": 3, "lines_removed": 1})
    post(client, [tool, edit])
    post(
        client,
        [
            event(1, kind="tool_result", tool={"name": "Bash", "status": "error"}),
            event(2, kind="file_edit", file={"path": "/srv/app/x.py", "lines_added": 40, "lines_removed": 9}),
        ],
    )
    rows = {key[2]: values for key, values in rollups(client).items()}
    assert rows["tool_result"][:2] == (1, 1)  # one event, now failed
    assert rows["file_edit"][0] == 1 and rows["file_edit"][8:10] == (40, 9)
    post(client, [event(1, kind="tool_result", tool={"name": "Bash", "status": "ok", "duration_ms": 5})])
    rows = {key[2]: values for key, values in rollups(client).items()}
    assert rows["tool_result"][:2] == (1, 0)


def test_changed_timestamp_keeps_first_and_last_exact(client: TestClient[Any]) -> None:
    post(client, [event(1), event(2), event(3)])
    moved = event(1, ts=(BASE_TS + timedelta(minutes=30)).isoformat())
    post(client, [moved])  # the key's first event is now its last
    (values,) = rollups(client).values()
    assert values[0] == 3
    assert values[-2:] == (BASE_TS + timedelta(minutes=2), BASE_TS + timedelta(minutes=30))
    post(client, [event(1, ts=(BASE_TS + timedelta(days=1)).isoformat())])  # to another day: another key
    days = {key[0]: values for key, values in rollups(client).items()}
    assert days["2026-09-01"][0] == 2 and days["2026-09-01"][-2:] == (
        BASE_TS + timedelta(minutes=2),
        BASE_TS + timedelta(minutes=3),
    )
    assert days["2026-09-02"][0] == 1


def test_repeat_within_a_batch_keeps_the_first_copy(client: TestClient[Any]) -> None:
    reply = post(client, [event(1, text="first"), event(1, text="second")])
    assert counts(reply) == (1, 1, 0, 0)
    assert json.loads(stored(client, "evt-000001")["body"])["text"] == "first"
    reply = post(client, [event(1, text="third"), event(1, text="fourth")])
    assert counts(reply) == (0, 2, 1, 0)
    assert [r["status"] for r in reply.json()["results"]] == ["duplicate", "duplicate"]
    assert json.loads(stored(client, "evt-000001")["body"])["text"] == "third"
    rollups(client)


def test_mixed_batch_counts_metrics_and_health(client: TestClient[Any]) -> None:
    from devlog_server.queries import collectors_health

    post(client, [response(1, output_tokens=100), response(2, output_tokens=100), event(3)], machine="box")
    reply = post(
        client,
        [
            response(1, output_tokens=100),  # identical
            response(2, output_tokens=150),  # grown: replaces
            event(3, text="edited"),  # changed: replaces
            response(4, output_tokens=1),  # new
            event(5, kind="nope"),  # rejected
            response(2, output_tokens=10),  # repeated id within the batch
        ],
        machine="box",
    )
    assert reply.status_code == 422
    assert counts(reply) == (1, 4, 2, 1)
    assert [r["status"] for r in reply.json()["results"]] == [
        "duplicate",
        "duplicate",
        "duplicate",
        "created",
        "rejected",
        "duplicate",
    ]
    assert stored(client, "evt-000002")["output_tokens"] == 150
    rollups(client)
    metrics = client.get("/metrics").text
    assert 'devlog_ingest_events_total{status="updated"} 2.0' in metrics
    assert 'devlog_ingest_events_total{status="duplicate"} 4.0' in metrics
    (health,) = _read(client, collectors_health)
    assert (health.batches, health.created, health.duplicates, health.rejected) == (2, 4, 4, 1)


def test_deleting_events_takes_them_out_of_the_rollups(client: TestClient[Any]) -> None:
    """Any DELETE (retention by hand, too) keeps the rollup exact, several keys in one statement."""
    events = [
        response(n, input_tokens=n, output_tokens=2 * n) | {"session_id": f"s-{n % 3}", "cost_usd": 0.1 * n}
        for n in range(30)
    ]
    events += [event(100, kind="tool_call", tool={"name": "Bash", "status": "failed"})]
    post(client, events)
    before = rollups(client)
    _write(client, "DELETE FROM events WHERE id IN ('evt-000004', 'evt-000005', 'evt-000012', 'evt-000100')")
    after = rollups(client)
    assert sum(v[0] for v in after.values()) == sum(v[0] for v in before.values()) - 4
    assert not any(key[2] == "tool_call" for key in after)
    _write(client, "DELETE FROM events WHERE ts < :cut", cut=BASE_TS + timedelta(minutes=20))
    assert sum(v[0] for v in rollups(client).values()) == 10
    _write(client, "DELETE FROM events")
    assert _read(client, stored_rollups) == {} == _read(client, expected_rollups)


ALICE_TOKEN = "alice-work-token-0123456789"


def test_a_limited_key_cannot_replace_a_copy_stored_in_a_workspace_it_may_not_write(client_factory: Any) -> None:
    """The globs apply to the stored copy's workspace too, or a limited key could overwrite or move
    an event of any workspace by re-sending its id; such a copy is a plain duplicate."""
    client = client_factory(bootstrap_keys=f"{bootstrap_spec()},alice:{ALICE_TOKEN}:ingest+read:/home/alice/work/**")
    alice = {"Authorization": f"Bearer {ALICE_TOKEN}"}
    private = response(1, input_tokens=10, output_tokens=5) | {"workspace": "/home/bob/private/x"}
    assert counts(post(client, [private])) == (1, 0, 0, 0)  # the unrestricted key
    before, rows_before = stored(client, private["id"]), rollups(client)

    moved = response(1, input_tokens=10, output_tokens=5000) | {"workspace": "/home/alice/work/x", "text": "mine"}
    reply = client.post("/api/v1/events", json=batch([moved]), headers=alice)
    assert reply.status_code == 200
    assert counts(reply) == (0, 1, 0, 0)
    assert reply.json()["results"] == [{"index": 0, "id": private["id"], "status": "duplicate"}]
    assert stored(client, private["id"]) == before
    assert rollups(client) == rows_before

    # Its own events in its own workspaces it still replaces (and may move between them).
    own = response(2, input_tokens=1, output_tokens=1) | {"workspace": "/home/alice/work/a"}
    assert counts(client.post("/api/v1/events", json=batch([own]), headers=alice)) == (1, 0, 0, 0)
    grown = response(2, input_tokens=1, output_tokens=90) | {"workspace": "/home/alice/work/b"}
    reply = client.post("/api/v1/events", json=batch([grown, moved]), headers=alice)
    assert counts(reply) == (0, 2, 1, 0)
    row = stored(client, own["id"])
    assert (row["workspace"], row["output_tokens"]) == ("/home/alice/work/b", 90)
    assert stored(client, private["id"]) == before
    assert set(by_workspace(rollups(client))) == {"/home/bob/private/x", "/home/alice/work/b"}


@pytest.mark.postgres
def test_the_postgres_delete_spares_a_row_moved_since_it_was_checked(pg_url: str) -> None:
    """Between reading the stored copy and deleting it, another batch may move the event to a workspace
    the key may not write: for a limited key the DELETE only takes the row still in the checked workspace.
    (SQLite writers are serialised, so nothing can change between the read and the delete there.)"""
    from devlog_server.ingest import _PG_DELETE

    _empty_postgres(pg_url)
    settings = ServerSettings(database_url=pg_url, bootstrap_keys=bootstrap_spec(), rate_limit_per_minute=0)
    with TestClient(create_app(settings, extensions=())) as client:
        post(client, [event(1, workspace="/home/bob/private/x")])
        params = {"ids": ["evt-000001"], "totals": [0], "workspaces": ["/home/alice/work/x"]}
        _write(client, _PG_DELETE.text, **params, any_workspace=False)
        assert stored(client, "evt-000001")["workspace"] == "/home/bob/private/x"
        _write(client, _PG_DELETE.text, **params, any_workspace=True)
        assert client.get("/api/v1/events", headers=auth("full")).json()["events"] == []
