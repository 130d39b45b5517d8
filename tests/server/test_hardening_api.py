"""Hardening of the HTTP API found by a tester: hand-made cursors, key names and revocation by a
string that is one key's id and another's name, multi-member gzip bodies and bytes after them,
numbers as `since`/`until`, the methods OPTIONS names, and an OpenAPI document that states what the
server enforces. Real SQLite and Postgres through the suite's fixtures, real HTTP through Litestar's
test client; the CLI through click's runner on the same databases."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient
from sqlalchemy import insert, select

from devlog_server.cli import main
from devlog_server.db.engine import Database
from devlog_server.db.models import ApiKeyModel
from devlog_server.keys import KEY_NAME_PATTERN, create_key, key_id_for_token
from tests.server.conftest import assert_problem, auth, batch, encode, event

JSON_GZIP = {**auth("full"), "Content-Type": "application/json", "Content-Encoding": "gzip"}
ADMIN = auth("admin")


def _cli(database_url: str, *args: str) -> Any:
    env = {"DEVLOG_SERVER_DATABASE_URL": database_url, "DEVLOG_SERVER_KEY_PEPPER": "test-pepper"}
    return CliRunner().invoke(main, list(args), env=env)


def _run_on(database_url: str, work: Any) -> Any:
    async def run() -> Any:
        db = Database(database_url)
        try:
            async with db.write() as conn:
                return await work(conn)
        finally:
            await db.dispose()

    return asyncio.run(run())


# ------------------------------------------------------------------ 4: hand-made cursors


def _cursor(ts: str, event_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([ts, event_id]).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("ts", "event_id", "named"),
    [
        ("9999-12-31T23:59:59-01:00", "x", "its timestamp is out of range"),
        ("0001-01-01T00:00:00+01:00", "x", "its timestamp is out of range"),
        ("2026-01-01T00:00:00Z", "a\u0000b", "its event id contains a NUL character"),
        ("yesterday", "x", "its timestamp is not an ISO 8601 date-time"),
    ],
)
def test_a_hand_made_cursor_is_400_invalid_cursor_naming_the_problem(
    client: TestClient[Any], ts: str, event_id: str, named: str
) -> None:
    assert client.post("/api/v1/events", json=batch([event(1), event(2)]), headers=auth("full")).status_code == 200
    for order in ("desc", "asc"):
        response = client.get(
            "/api/v1/events", params={"cursor": _cursor(ts, event_id), "order": order}, headers=auth("read")
        )
        body = assert_problem(response, 400)
        assert body["type"].endswith("/problems/invalid_cursor")
        assert named in body["detail"] and "next_cursor" in body["detail"]


def test_a_cursor_the_server_made_still_pages(client: TestClient[Any]) -> None:
    assert (
        client.post("/api/v1/events", json=batch([event(n) for n in range(3)]), headers=auth("full")).status_code == 200
    )
    first = client.get("/api/v1/events", params={"limit": 2}, headers=auth("read")).json()
    rest = client.get("/api/v1/events", params={"cursor": first["next_cursor"]}, headers=auth("read")).json()
    assert [e["id"] for e in first["events"] + rest["events"]] == ["evt-000002", "evt-000001", "evt-000000"]


# ------------------------------------------------------------------ 7: key names, revoking by name or id


def test_an_unknown_field_in_a_request_body_is_named_as_the_bodys(client: TestClient[Any]) -> None:
    """It read "invalid request parameter: data: ...", `data` being Litestar's name for the body."""
    body = assert_problem(client.post("/api/v1/keys", json={"name": "x", "foo": 1}, headers=ADMIN), 400)
    assert body["detail"].startswith("invalid request body: Object contains unknown field"), body["detail"]
    assert "foo" in body["detail"] and "data" not in body["detail"]


def test_a_key_name_ending_in_a_newline_is_refused(client: TestClient[Any], database_url: str) -> None:
    body = assert_problem(client.post("/api/v1/keys", json={"name": "nl-x\n"}, headers=ADMIN), 400)
    assert body["type"].endswith("/problems/invalid_key") and "invalid key name" in body["detail"]
    cli = _cli(database_url, "keys", "create", "nl-y\n")
    assert cli.exit_code == 2 and "invalid key name" in cli.output
    names = [k["name"] for k in client.get("/api/v1/keys", headers=ADMIN).json()]
    assert not [n for n in names if n.startswith("nl-")]


def test_a_key_may_not_be_named_like_another_keys_id(client: TestClient[Any], database_url: str) -> None:
    created = client.post("/api/v1/keys", json={"name": "ci-bot"}, headers=ADMIN)
    assert created.status_code == 201
    key_id = created.json()["key"]["id"]
    body = assert_problem(client.post("/api/v1/keys", json={"name": key_id}, headers=ADMIN), 400)
    assert f"{key_id!r} is the id of key 'ci-bot'" in body["detail"]
    cli = _cli(database_url, "keys", "create", key_id)
    assert cli.exit_code == 2 and "a name may not be another key's id" in cli.output
    # so revoking by that id means the one key
    revoked = client.post(f"/api/v1/keys/{key_id}/revoke", headers=ADMIN)
    assert revoked.status_code == 200 and revoked.json()["name"] == "ci-bot"


def test_a_keys_id_may_not_be_another_keys_name(database_url: str) -> None:
    """Bootstrap keys with a non-`dvl_` secret get an id derived from it: that id may not be a name."""
    secret = "plain-secret-value"
    squatter = key_id_for_token(secret)

    async def work(conn: Any) -> Any:
        await create_key(conn, squatter, pepper=b"p")
        with pytest.raises(ValueError, match=f"the new key's id would be {squatter!r}, the name of another key"):
            await create_key(conn, "real", pepper=b"p", token=secret)

    _run_on(database_url, work)


def _legacy_ambiguous_keys(database_url: str) -> tuple[str, str]:
    """Two keys as a database from before the name rule may hold them: key B is named like key A's id.
    Returns (A's id, B's id)."""

    async def work(conn: Any) -> tuple[str, str]:
        first = await create_key(conn, "first", pepper=b"test-pepper")
        values = {"salt": "s", "hash": "h", "scopes": "read", "workspaces": "[]", "hint": "…"}
        now = datetime.now(UTC)
        await conn.execute(insert(ApiKeyModel).values(id="legacyB00001", name=first.key.id, created_at=now, **values))
        return first.key.id, "legacyB00001"

    result: tuple[str, str] = _run_on(database_url, work)
    return result


def _revoked(database_url: str) -> set[str]:
    async def work(conn: Any) -> set[str]:
        rows = await conn.execute(select(ApiKeyModel.id).where(ApiKeyModel.revoked_at.is_not(None)))
        return set(rows.scalars())

    result: set[str] = _run_on(database_url, work)
    return result


def test_revoking_a_string_that_is_one_keys_id_and_anothers_name_revokes_neither(
    client: TestClient[Any], database_url: str
) -> None:
    a_id, b_id = _legacy_ambiguous_keys(database_url)
    body = assert_problem(client.post(f"/api/v1/keys/{a_id}/revoke", headers=ADMIN), 409)
    assert body["type"].endswith("/problems/ambiguous_key")
    assert f"{a_id!r} is both the id of key 'first' and the name of the key with id {b_id!r}" in body["detail"]
    cli = _cli(database_url, "keys", "revoke", a_id)
    assert cli.exit_code == 2 and "nothing was revoked" in cli.output and "Traceback" not in cli.output
    assert _revoked(database_url) == set()
    # each can still be revoked by its other handle, as the message says
    assert client.post("/api/v1/keys/first/revoke", headers=ADMIN).json()["id"] == a_id
    assert _cli(database_url, "keys", "revoke", b_id).exit_code == 0
    assert _revoked(database_url) == {a_id, b_id}


# ------------------------------------------------------------------ 10: gzip members


def test_a_gzip_body_of_several_members_is_read_whole(client: TestClient[Any]) -> None:
    text = encode(batch([event(1), event(2)]))
    cut = text.index(b'{"id"', text.index(b'{"id"') + 1)  # between the two events, as a streaming writer might
    body = gzip.compress(text[:cut]) + gzip.compress(text[cut:])
    assert gzip.decompress(body) == text
    response = client.post("/api/v1/events", content=body, headers=JSON_GZIP)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 2


@pytest.mark.parametrize("tail", [b"GARBAGE", b"\x1f", b"\x00" * 8])
def test_bytes_after_the_gzip_data_are_400(client: TestClient[Any], tail: bytes) -> None:
    response = client.post("/api/v1/events", content=gzip.compress(encode(batch([event(1)]))) + tail, headers=JSON_GZIP)
    body = assert_problem(response, 400)
    assert "after the end of the gzip data" in body["detail"]
    assert client.get("/api/v1/events", headers=auth("read")).json()["events"] == []


def test_the_decompressed_limit_counts_every_member(client_factory: Any) -> None:
    client = client_factory(max_body_bytes=4096)
    member = gzip.compress(b" " * 3000)  # each under the limit, together over it
    body = assert_problem(client.post("/api/v1/events", content=member * 2, headers=JSON_GZIP), 413)
    assert "after decompression" in body["detail"]


def test_thousands_of_empty_gzip_members_are_refused_cheaply(client: TestClient[Any]) -> None:
    body = assert_problem(client.post("/api/v1/events", content=gzip.compress(b"") * 5000, headers=JSON_GZIP), 400)
    assert "more than 1000 gzip members" in body["detail"]


# ------------------------------------------------------------------ 11: numbers as since/until


@pytest.mark.parametrize(
    "query",
    ["since=1.7647e9", "since=4e9", "until=1e9", "since=1E9", "until=-1e3", "since=inf", "until=nan", "since=1_000"],
)
@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/stats"])
def test_a_number_as_since_or_until_is_400(client: TestClient[Any], path: str, query: str) -> None:
    body = assert_problem(client.get(f"{path}?{query}", headers=auth("read")), 400)
    name = query.split("=", 1)[0]
    assert name in body["detail"]


def test_an_rfc3339_since_still_works(client: TestClient[Any]) -> None:
    response = client.get("/api/v1/stats?by=agent&since=2026-12-02T00:00:00Z", headers=auth("read"))
    assert response.status_code == 200, response.text


# ------------------------------------------------------------------ 12: OPTIONS and the OpenAPI document


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/api/v1/events", "GET, OPTIONS, POST"),
        ("/api/v1/keys", "GET, OPTIONS, POST"),
        ("/api/v1/stats", "GET, OPTIONS"),
        ("/api/v1/keys/ci/revoke", "OPTIONS, POST"),
    ],
)
def test_options_allow_lists_every_method_of_the_path(client: TestClient[Any], path: str, allow: str) -> None:
    response = client.options(path)
    assert response.status_code == 204
    assert response.headers["allow"] == allow


def test_the_openapi_document_states_what_the_server_enforces(client: TestClient[Any]) -> None:
    schema = client.get("/schema/openapi.json").json()
    key_create = schema["components"]["schemas"]["KeyCreate"]
    assert key_create["additionalProperties"] is False
    assert key_create["properties"]["name"]["pattern"] == KEY_NAME_PATTERN
    body = schema["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["schema_version"]["minimum"] == 1
    # ... and the server does enforce them
    unknown = client.post("/api/v1/keys", json={"name": "x", "colour": "red"}, headers=ADMIN)
    assert_problem(unknown, 400)
    zero = client.post("/api/v1/events", json={**batch([event(1)]), "schema_version": 0}, headers=auth("full"))
    assert_problem(zero, 400)
    revoke = schema["paths"]["/api/v1/keys/{name_or_id}/revoke"]["post"]["responses"]
    assert "409" in revoke
