"""POST /api/v1/events through the HTTP API on SQLite and Postgres: idempotency, per-item results,
every error status with its problem body, gzip and its bomb guard, workspace limits, health records."""

from __future__ import annotations

import gzip
import io
from typing import Any

import pytest
from litestar.testing import TestClient

from devlog_server.app import create_app
from devlog_server.settings import ServerSettings
from tests.server.conftest import assert_problem, auth, batch, encode, event, post, post_gzip

JSON = {**auth("full"), "Content-Type": "application/json"}
JSON_GZIP = {**JSON, "Content-Encoding": "gzip"}


def test_batch_is_stored_and_replay_is_duplicate(client: TestClient[Any]) -> None:
    events = [event(n) for n in range(5)]
    first = post(client, events)
    assert first.status_code == 200
    body = first.json()
    assert body["created"] == 5 and body["duplicates"] == 0 and body["rejected"] == 0
    assert [r["status"] for r in body["results"]] == ["created"] * 5
    assert [r["index"] for r in body["results"]] == list(range(5))
    assert [r["id"] for r in body["results"]] == [e["id"] for e in events]

    replay = post(client, events)
    assert replay.status_code == 200
    assert replay.json()["created"] == 0 and replay.json()["duplicates"] == 5
    assert {r["status"] for r in replay.json()["results"]} == {"duplicate"}

    listed = client.get("/api/v1/events?limit=100", headers=auth("full")).json()
    assert sorted(e["id"] for e in listed["events"]) == [e["id"] for e in events]


def test_same_id_twice_in_one_batch_second_is_duplicate(client: TestClient[Any]) -> None:
    response = post(client, [event(1), event(2), event(1)])
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == ["created", "created", "duplicate"]
    assert response.json()["duplicates"] == 1


def test_partial_rejection_stores_valid_items_and_names_the_field(client: TestClient[Any]) -> None:
    events = [
        event(1),
        event(2, ts="yesterday"),
        event(3, kind="dance"),
        event(4, usage={"input_tokens": -5}),
        {"ts": event(5)["ts"], "agent": "claude", "kind": "prompt", "session_id": "s"},
        event(6),
        "not an object",
    ]
    response = post(client, events)
    assert response.status_code == 422
    body = response.json()
    assert body["created"] == 2 and body["rejected"] == 5 and body["duplicates"] == 0
    results = body["results"]
    assert [r["status"] for r in results] == [
        "created",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "created",
        "rejected",
    ]
    assert "`ts`" in results[1]["reason"] and results[1]["id"] == "evt-000002"
    assert "`kind`" in results[2]["reason"]
    assert "`usage.input_tokens`" in results[3]["reason"]
    assert "`id`" in results[4]["reason"] and "id" not in results[4]
    stored = client.get("/api/v1/events", headers=auth("full")).json()["events"]
    assert sorted(e["id"] for e in stored) == ["evt-000001", "evt-000006"]


def test_values_the_database_cannot_hold_are_rejected_per_item(client: TestClient[Any]) -> None:
    response = post(
        client,
        [
            event(1, session_id="a\u0000b"),
            event(2, usage={"output_tokens": 2**70}),
            event(3, workspace="/srv/x\u0000y"),
            event(4),
        ],
    )
    assert response.status_code == 422
    reasons = [r.get("reason") for r in response.json()["results"]]
    assert "NUL" in reasons[0] and "`session_id`" in reasons[0]
    assert "`usage.output_tokens`" in reasons[1]
    assert "`workspace`" in reasons[2]
    assert reasons[3] is None


def test_a_workspace_that_is_not_an_absolute_folder_is_rejected_alone(client: TestClient[Any]) -> None:
    spellings = ["/home/dev/api", "/", "C:/Users/dev/api", "C:/", "//fileserver/share/api", "//fileserver"]
    good = [event(n, workspace=w) for n, w in enumerate(spellings, start=1)]
    other = ["", "work/api", "~/api", "c:/Users/dev", "C:\\Users\\dev", "\\\\fs\\share", "//", "C:rel"]
    bad = [event(10 + n, workspace=w) for n, w in enumerate(other)]
    response = post(client, [*good, *bad, event(30, workspace=None)])
    assert response.status_code == 422
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created"] * 6 + ["rejected"] * 8 + ["created"]
    assert all("must be an absolute folder" in r["reason"] and "`workspace`" in r["reason"] for r in results[6:14])
    assert "'work/api'" in results[7]["reason"]


def test_another_spelling_of_a_folder_is_rejected_alone(client: TestClient[Any]) -> None:
    """`/srv/app/`, `/srv//app` and `/srv/x/../app` are `/srv/app`: stored as sent they would be separate
    workspaces that `workspace=/srv/app` filters, key globs and the dashboard never add up."""
    spellings = {
        "/srv/app/": "without a trailing '/'",
        "C:/Users/dev/": "without a trailing '/'",
        "//fileserver/share/": "without a trailing '/'",
        "/srv//app": "without an empty segment ('//')",
        "C://Users": "without an empty segment ('//')",
        "//fileserver//share": "without an empty segment ('//')",
        "/srv/x/../app": "without '.' or '..' segments",
        "/srv/./app": "without '.' or '..' segments",
        "/srv/app/..": "without '.' or '..' segments",
        "C:/Users/../dev": "without '.' or '..' segments",
        "//fileserver/./share": "without '.' or '..' segments",
    }
    bad = [event(n, workspace=w) for n, w in enumerate(spellings)]
    # the one spelling, roots (whose one spelling ends with '/') and names that merely contain dots
    good = ["/srv/app", "/", "C:/", "//fileserver", "//fileserver/share", "/srv/.hidden/..x/a...b", "C:/a.b/c."]
    response = post(client, [*bad, *[event(20 + n, workspace=w) for n, w in enumerate(good)]])
    assert response.status_code == 422
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["rejected"] * len(bad) + ["created"] * len(good)
    for result, (spelling, why) in zip(results, spellings.items(), strict=False):
        assert why in result["reason"] and repr(spelling) in result["reason"], result
        assert result["reason"].startswith("invalid event: the workspace must be spelled the one way")
        assert result["reason"].endswith("(field `workspace`)")
    stats = client.get("/api/v1/stats", params={"by": "workspace"}, headers=auth("full")).json()
    assert {g["key"] for g in stats["groups"]} == set(good)


def test_every_folder_the_collector_writes_is_accepted(client: TestClient[Any]) -> None:
    """The collector normalises every workspace lexically before export; whatever an agent recorded,
    the result passes the server's spelling checks (so they cannot reject a real collector's event)."""
    workspace = pytest.importorskip("devlog_collector.workspace")
    recorded = [
        "/srv/app/", "/srv//app", "/srv/x/../app", "/srv/./app/.", "//srv/app", "///srv/app", "/..", "/",
        "/srv/app/..", "~/work/site/", "~", "C:\\Users\\dev\\", "c:/Users//dev/./x/..", "e:", "C:\\",
        "\\\\fs\\share\\x\\", "//fs/share/x/", "//fs/./share/../x", "file:///srv/app/", "file://fs/share/x/",
        "file:///c:/Users/dev/", "/srv/.hidden/..x/", "  /srv/app  ",
    ]  # fmt: skip
    normalised = [workspace.normalise_workspace(path) for path in recorded]
    response = post(client, [event(n, workspace=w) for n, w in enumerate(normalised)])
    assert response.status_code == 200, [
        (path, r["reason"]) for path, r in zip(recorded, response.json()["results"], strict=True) if "reason" in r
    ]


def test_event_over_the_size_limit_is_rejected_alone(client_factory: Any) -> None:
    client = client_factory(max_event_bytes=2048)
    response = post(client, [event(1, text="x" * 5000), event(2)])
    assert response.status_code == 422
    first, second = response.json()["results"]
    assert (
        first["status"] == "rejected" and first["reason"].startswith("event_too_large") and first["id"] == "evt-000001"
    )
    assert second["status"] == "created"


def test_gzip_body_is_accepted(client: TestClient[Any]) -> None:
    response = post_gzip(client, encode(batch([event(n) for n in range(3)])))
    assert response.status_code == 200
    assert response.json()["created"] == 3


def test_gzip_bomb_is_refused_without_inflating_it(client_factory: Any) -> None:
    client = client_factory(max_body_bytes=1024 * 1024)
    bomb = io.BytesIO()
    with gzip.GzipFile(fileobj=bomb, mode="wb", compresslevel=9) as gz:
        chunk = b" " * (1024 * 1024)
        for _ in range(256):  # 256 MiB of whitespace, ~250 KiB compressed
            gz.write(chunk)
    payload = bomb.getvalue()
    assert len(payload) < 1024 * 1024
    response = client.post("/api/v1/events", content=payload, headers=JSON_GZIP)
    body = assert_problem(response, 413)
    assert "after decompression" in body["detail"]
    assert body["max_body_bytes"] == 1024 * 1024


def test_invalid_gzip_is_400(client: TestClient[Any]) -> None:
    response = client.post("/api/v1/events", content=b"not gzip at all", headers=JSON_GZIP)
    assert_problem(response, 400)
    truncated = gzip.compress(encode(batch([event(1)])))[:-12]
    response = client.post("/api/v1/events", content=truncated, headers=JSON_GZIP)
    assert_problem(response, 400)


def test_body_over_the_limit_is_413(client_factory: Any) -> None:
    client = client_factory(max_body_bytes=4096)
    payload = encode(batch([event(n, text="y" * 500) for n in range(20)]))
    assert len(payload) > 4096
    response = client.post("/api/v1/events", content=payload, headers=JSON)
    body = assert_problem(response, 413)
    assert "4096" in body["detail"]


def test_too_many_events_is_413(client_factory: Any) -> None:
    client = client_factory(max_events_per_batch=3)
    body = assert_problem(post(client, [event(n) for n in range(4)]), 413)
    assert body["max_events_per_batch"] == 3


@pytest.mark.parametrize(
    ("headers", "needle"),
    [
        ({"Content-Encoding": "br"}, "Content-Encoding"),
        ({"Content-Encoding": "deflate"}, "Content-Encoding"),
        ({"Content-Type": "text/plain"}, "Content-Type"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, "Content-Type"),
        ({}, "missing Content-Type"),
        ({"Content-Type": ""}, "missing Content-Type"),
    ],
)
def test_unsupported_encoding_or_type_is_415(client: TestClient[Any], headers: dict[str, str], needle: str) -> None:
    response = client.post("/api/v1/events", content=encode(batch([event(1)])), headers={**auth("full"), **headers})
    assert needle in assert_problem(response, 415)["detail"]


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{",
        b"[]",
        b"null",
        b'{"events": 5}',
        b'{"no_events": []}',
        b"\xff\xfe\x00",
        b'{"schema_version": 99, "events": []}',
    ],
)
def test_undecodable_batch_is_400(client: TestClient[Any], payload: bytes) -> None:
    response = client.post(
        "/api/v1/events", content=payload, headers={**auth("full"), "Content-Type": "application/json"}
    )
    assert_problem(response, 400)


def test_empty_batch_is_fine(client: TestClient[Any]) -> None:
    response = post(client, [])
    assert response.status_code == 200
    assert response.json() == {"created": 0, "duplicates": 0, "rejected": 0, "updated": 0, "results": []}


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Basic Zm9vOmJhcg==",
        "Bearer wrong-token",
        "Bearer dvl_AAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
        "Bearer " + "x" * 5000,
    ],
)
def test_missing_or_invalid_key_is_401(client: TestClient[Any], header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/v1/events", json=batch([event(1)]), headers=headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_key_without_ingest_scope_is_403(client: TestClient[Any]) -> None:
    body = assert_problem(post(client, [event(1)], key="read"), 403)
    assert "ingest" in body["detail"]
    assert post(client, [event(1)], key="admin").status_code == 200


def test_workspace_limited_key(client: TestClient[Any]) -> None:
    # every event outside the globs -> rejected per item like the mixed case (not a whole-batch 403,
    # which would pause the collector's remote for good), nothing stored
    response = post(client, [event(1, workspace="/home/x/secret"), event(2, workspace=None)], key="srv")
    assert response.status_code == 422, response.text
    body = response.json()
    assert (body["created"], body["duplicates"], body["rejected"]) == (0, 0, 2)
    assert [(r["index"], r["id"], r["status"], r.get("reason")) for r in body["results"]] == [
        (0, "evt-000001", "rejected", "forbidden_workspace"),
        (1, "evt-000002", "rejected", "forbidden_workspace"),
    ]
    assert client.get("/api/v1/events", headers=auth("full")).json()["events"] == []
    # mixed -> per-item forbidden_workspace, the allowed ones stored
    response = post(
        client, [event(3, workspace="/srv/app/api"), event(4, workspace="/etc"), event(5, workspace="/srv")], key="srv"
    )
    assert response.status_code == 422
    assert [(r["status"], r.get("reason")) for r in response.json()["results"]] == [
        ("created", None),
        ("rejected", "forbidden_workspace"),
        ("created", None),
    ]
    # `~` in a glob stands for any home folder
    response = post(
        client,
        [
            event(6, workspace="/home/alice/work/x"),
            event(7, workspace="/Users/bob/work"),
            event(8, workspace="/opt/shared"),
        ],
        key="home",
    )
    assert response.status_code == 200, response.text
    response = post(
        client, [event(9, workspace="/home/alice/play"), event(10, workspace="/home/alice/work/y")], key="home"
    )
    assert [r["status"] for r in response.json()["results"]] == ["rejected", "created"]


def test_rate_limit_is_429_with_retry_after(client_factory: Any) -> None:
    client = client_factory(rate_limit_per_minute=60, rate_limit_burst=2)
    assert post(client, [event(1)]).status_code == 200
    assert post(client, [event(2)]).status_code == 200
    response = post(client, [event(3)])
    body = assert_problem(response, 429)
    assert int(response.headers["retry-after"]) >= 1
    assert "rate limit" in body["detail"]
    # other keys have their own bucket
    assert post(client, [event(4)], key="ingest").status_code == 200


def test_database_unavailable_is_503_with_retry_after(tmp_path: Any) -> None:
    settings = ServerSettings(
        database_url="postgresql+asyncpg://nobody@127.0.0.1:9/nothing", db_timeout_seconds=2, key_cache_seconds=0
    )
    with TestClient(create_app(settings, extensions=())) as client:
        response = post(client, [event(1)])
        body = assert_problem(response, 503)
        assert response.headers["retry-after"]
        assert "database" in body["detail"]
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
        assert client.get("/healthz").status_code == 200


def test_health_counters_and_recent_rejections(client: TestClient[Any]) -> None:
    from devlog_server.queries import collectors_health, recent_rejections
    from devlog_server.state import server_state

    post(client, [event(1), event(2)], machine="laptop-a")
    post(client, [event(2), event(3, kind="nope")], machine="laptop-a")
    post(client, [event(4)], machine="laptop-b", key="ingest")
    state = server_state(client.app)

    async def read() -> tuple[Any, Any]:
        async with state.db.read() as conn:
            return await collectors_health(conn), await recent_rejections(conn)

    collectors, rejections = client.blocking_portal.call(read)  # type: ignore[union-attr]
    by_machine = {c.machine: c for c in collectors}
    a = by_machine["laptop-a"]
    assert (a.batches, a.created, a.duplicates, a.rejected) == (2, 2, 1, 1)
    assert a.key_name == "full" and a.version == "0.1.0"
    assert by_machine["laptop-b"].created == 1 and by_machine["laptop-b"].key_name == "ingest"
    assert len(rejections) == 1
    assert rejections[0].event_id == "evt-000003" and "`kind`" in rejections[0].reason and rejections[0].index == 1


def test_recent_rejections_are_bounded(client_factory: Any) -> None:
    from devlog_server.queries import recent_rejections
    from devlog_server.state import server_state

    client = client_factory(recent_rejections_kept=5)
    for round_ in range(3):
        post(client, [event(round_ * 10 + n, kind="bad") for n in range(4)])
    state = server_state(client.app)

    async def read() -> Any:
        async with state.db.read() as conn:
            return await recent_rejections(conn, limit=100)

    rows = client.blocking_portal.call(read)  # type: ignore[union-attr]
    assert len(rows) == 5
    assert rows[0].event_id == "evt-000023"


def test_metrics_count_events_by_outcome(client: TestClient[Any]) -> None:
    post(client, [event(1), event(2)])
    post(client, [event(2), event(3, kind="x")])
    text = client.get("/metrics").text
    assert 'devlog_ingest_events_total{status="created"} 2.0' in text
    assert 'devlog_ingest_events_total{status="duplicate"} 1.0' in text
    assert 'devlog_ingest_events_total{status="rejected"} 1.0' in text
    assert "devlog_ingest_duration_seconds_bucket" in text
    assert 'devlog_http_requests_total{method="POST",route="/api/v1/events",status="422"} 1.0' in text


def test_all_forbidden_batch_does_not_block_the_next_one(client: TestClient[Any]) -> None:
    """A collector dead-letters per-item rejections and sends its next batch, which must be stored."""
    from devlog_server.queries import collectors_health, recent_rejections
    from devlog_server.state import server_state

    first = post(client, [event(n, workspace="/etc") for n in range(3)], key="srv", machine="box")
    assert first.status_code == 422
    assert {r["reason"] for r in first.json()["results"]} == {"forbidden_workspace"}
    second = post(client, [event(10, workspace="/srv/app")], key="srv", machine="box")
    assert second.status_code == 200 and second.json()["created"] == 1
    state = server_state(client.app)

    async def read() -> tuple[Any, Any]:
        async with state.db.read() as conn:
            return await collectors_health(conn), await recent_rejections(conn)

    collectors, rejections = client.blocking_portal.call(read)  # type: ignore[union-attr]
    assert [(c.machine, c.batches, c.created, c.rejected) for c in collectors] == [("box", 2, 1, 3)]
    assert sorted(r.reason for r in rejections) == ["forbidden_workspace"] * 3
    metrics = client.get("/metrics").text
    assert 'devlog_ingest_rejections_total{reason="forbidden_workspace"} 3.0' in metrics


def test_key_without_ingest_scope_is_still_403_whatever_the_workspaces(client: TestClient[Any]) -> None:
    body = assert_problem(post(client, [event(1, workspace="/etc")], key="read"), 403)
    assert "ingest" in body["detail"]


def test_metrics_content_type_names_one_charset(client: TestClient[Any]) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"


def test_unstorable_strings_outside_events_are_cleaned_or_refused(client: TestClient[Any]) -> None:
    response = client.post(
        "/api/v1/events",
        json={
            "collector": {"machine": "lap\u0000top", "name": "dev\u0000log"},
            "events": [event(1), event(2, kind="?")],
        },
        headers=auth("full"),
    )
    assert response.status_code == 422
    assert_problem(client.get("/api/v1/events", params={"agent": "a\u0000b"}, headers=auth("full")), 400)
    assert_problem(client.get("/api/v1/stats", params={"user": "\u0000"}, headers=auth("full")), 400)


def test_implausible_numbers_are_rejected_so_sums_cannot_overflow(client: TestClient[Any]) -> None:
    response = post(
        client, [event(1, cost_usd=1e300), event(2, cost_usd=1e300), event(3, usage={"input_tokens": 10**15})]
    )
    assert [r["status"] for r in response.json()["results"]] == ["rejected"] * 3
    assert "`cost_usd`" in response.json()["results"][0]["reason"]
    assert client.get("/api/v1/stats", headers=auth("full")).status_code == 200


def test_nul_characters_inside_text_are_stored_as_replacement_characters(client: TestClient[Any]) -> None:
    response = post(
        client,
        [event(1, text="binary\u0000output", attrs={"k\u0000": ["v\u0000"]}), event(2, text="a literal \\u0000 stays")],
    )
    assert response.status_code == 200, response.text
    stored = {e["id"]: e for e in client.get("/api/v1/events", headers=auth("full")).json()["events"]}
    assert stored["evt-000001"]["text"] == "binary\ufffdoutput"
    assert stored["evt-000001"]["attrs"] == {"k\ufffd": ["v\ufffd"]}
    assert stored["evt-000002"]["text"] == "a literal \\u0000 stays"


def test_implausible_timestamps_are_rejected(client: TestClient[Any]) -> None:
    response = post(
        client,
        [
            event(1, ts="0001-01-01T00:00:00Z"),
            event(2, ts="9999-12-31T23:59:59.999999Z"),
            event(3, ts="1969-12-31T23:00:00Z"),
            event(4),
        ],
    )
    assert [r["status"] for r in response.json()["results"]] == ["rejected", "rejected", "rejected", "created"]
    assert "`ts`" in response.json()["results"][0]["reason"]


def test_unpaired_surrogate_escapes_are_stored_as_replacement_characters(client: TestClient[Any]) -> None:
    """JavaScript writers (JSON.stringify) escape the lone half of an emoji cut in two: such an event is
    stored with U+FFFD instead of failing the whole batch; pairs and escaped backslashes are left alone."""
    events = [
        encode(event(1)),
        encode(event(2, text="cut")).replace(b'"cut"', b'"cut \\ud83d"'),
        encode(event(3, session_id="s")).replace(b'"session_id":"s"', b'"session_id":"s\\udc00"'),
        encode(event(4, text="x")).replace(b'"x"', b'"pair \\ud83d\\ude00, lone \\ude00\\ud83d, literal \\\\ud800"'),
    ]
    body = b'{"schema_version":1,"collector":{"name":"devlog","machine":"m"},"events":[' + b",".join(events) + b"]}"
    headers = {**auth("full"), "Content-Type": "application/json"}
    response = client.post("/api/v1/events", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == ["created"] * 4
    stored = {e["id"]: e for e in client.get("/api/v1/events", headers=auth("full")).json()["events"]}
    assert stored["evt-000001"]["text"] == "prompt number 1"
    assert stored["evt-000002"]["text"] == "cut \ufffd"
    assert stored["evt-000003"]["session_id"] == "s\ufffd"
    assert stored["evt-000004"]["text"] == "pair \U0001f600, lone \ufffd\ufffd, literal \\ud800"
    found = client.get("/api/v1/events", params={"session_id": "s\ufffd"}, headers=auth("full")).json()["events"]
    assert [e["id"] for e in found] == ["evt-000003"]
    # A body broken for another reason still gets the decoder's own message.
    broken = body.replace(b'"schema_version":1', b'"schema_version":"1"')
    problem = assert_problem(client.post("/api/v1/events", content=broken, headers=headers), 400)
    assert "schema_version" in problem["detail"]


def test_a_connection_lost_in_use_is_logged_with_its_reason() -> None:
    """Its backend terminated mid-request: the 503 was right, but the warning said only `InterfaceError`."""
    import structlog
    from sqlalchemy.exc import InterfaceError

    from devlog_server.errors import _from_database_error

    class ConnectionDoesNotExistError(Exception):  # (the shape of asyncpg's, under SQLAlchemy's wrapper)
        pass

    cause = ConnectionDoesNotExistError("connection was closed in the middle of operation")
    lost = InterfaceError("SELECT 1", {}, cause)
    with structlog.testing.capture_logs() as logs:
        problem = _from_database_error(lost)
    assert problem.status_code == 503
    assert [(r["event"], r["error"], r["reason"]) for r in logs] == [
        ("database_unavailable", "ConnectionDoesNotExistError", "connection was closed in the middle of operation")
    ]
