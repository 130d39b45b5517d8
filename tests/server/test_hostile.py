"""Hostile input: whatever a client sends, the answer is a clean 4xx with a problem body (never a
500), memory stays bounded, and no key reads another key's workspaces.

Schemathesis generates requests from the server's own OpenAPI schema (positive and negative cases)
against a real uvicorn server on loopback; the default run is short, `-m slow` runs many more.
"""

from __future__ import annotations

import gzip
import io
import shutil
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from litestar.testing import TestClient
from schemathesis import GenerationMode

from devlog_server.app import create_app
from devlog_server.settings import ServerSettings
from tests.server.conftest import _empty_postgres, assert_problem, auth, batch, encode, event, post
from tests.server.loopback import served

FUZZ_ADMIN = "fuzz-admin-9f8e7d6c5b4a"
FUZZ_TOKEN = "fuzz-admin-token-0123456789abcdef"
_UVICORN_REFUSAL = "Invalid HTTP request received."
JSON = {**auth("full"), "Content-Type": "application/json"}


def test_10k_deep_json_is_400(client: TestClient[Any]) -> None:
    deep = b'{"events": [' + b"[" * 10_000 + b"]" * 10_000 + b"]}"
    assert_problem(client.post("/api/v1/events", content=deep, headers=JSON), 400)
    deep_event = encode(batch([event(1)]))[:-2] + b', {"id": "x", "attrs": ' + b"[" * 10_000 + b"]" * 10_000 + b"}]}"
    response = client.post("/api/v1/events", content=deep_event, headers=JSON)
    assert response.status_code in (400, 422), response.text


def test_huge_strings_and_wrong_types_are_rejected_per_item(client_factory: Any) -> None:
    client = client_factory(max_event_bytes=64 * 1024)
    events: list[Any] = [
        event(1, text="z" * 200_000),
        event(2, session_id="s" * 10_000),
        event(3, agent=["claude"]),
        event(4, ts=12345),
        event(5, usage="lots"),
        event(6, attrs=[1, 2, 3]),
        event(7, id=""),
        event(8, id="i" * 500),
        event(9, cost_usd=-1),
        event(10, schema_version=7),
        None,
        42,
        event(11),
    ]
    response = post(client, events)
    assert response.status_code == 422
    statuses = [r["status"] for r in response.json()["results"]]
    assert statuses == ["rejected"] * 12 + ["created"]
    assert all(r.get("reason") for r in response.json()["results"][:12])


@pytest.mark.parametrize(
    "value",
    [
        "' OR 1=1 --",
        "'; DROP TABLE events; --",
        "/srv/app%' OR '1'='1",
        "../../../etc/passwd",
        "/srv/../../etc",
        "\\\\server\\share",
        "%00",
        "*",
        "_",
        "%",
        "é" * 300,
    ],
)
def test_injection_in_filters_is_inert(client: TestClient[Any], value: str) -> None:
    post(client, [event(1, workspace="/srv/app"), event(2, workspace="/opt/secret")])
    for name in ("workspace", "agent", "session_id", "user"):
        response = client.get("/api/v1/events", params={name: value}, headers=auth("srv"))
        assert response.status_code in (200, 400), response.text
        if response.status_code == 200:
            assert all(e["workspace"].startswith("/srv") for e in response.json()["events"])
        stats = client.get("/api/v1/stats", params={name: value, "by": "workspace"}, headers=auth("srv"))
        assert stats.status_code in (200, 400)
    # the table is still there and intact
    assert len(client.get("/api/v1/events", headers=auth("full")).json()["events"]) == 2


@pytest.mark.parametrize(
    "token",
    [
        "dvl_AAAAAAAAAAAA_" + "B" * 32,
        "dvl_' OR 1=1 --_" + "B" * 32,
        "full-token-0123456789x",
        "full-token-012345678",
        "FULL-TOKEN-0123456789",
        "\u00e9\u00e9",
        "a" * 600,
    ],
)
def test_forged_keys_are_401(client: TestClient[Any], token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    try:
        response = client.get("/api/v1/events", headers=headers)
    except UnicodeEncodeError:
        response = client.get("/api/v1/events", headers={"Authorization": f"Bearer {token}".encode()})  # type: ignore[dict-item]
    assert_problem(response, 401)


def test_gzip_bomb_memory_stays_bounded(client_factory: Any) -> None:
    client = client_factory(max_body_bytes=4 * 1024 * 1024)
    bomb = io.BytesIO()
    with gzip.GzipFile(fileobj=bomb, mode="wb", compresslevel=9) as gz:
        chunk = b"[" * (1024 * 1024)
        for _ in range(1024):  # 1 GiB decompressed, ~1 MiB on the wire
            gz.write(chunk)
    payload = bomb.getvalue()
    tracemalloc.start()
    try:
        response = client.post("/api/v1/events", content=payload, headers={**JSON, "Content-Encoding": "gzip"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_problem(response, 413)
    assert peak < 64 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB while refusing a gzip bomb"


def test_unknown_paths_and_methods_are_problems(client: TestClient[Any]) -> None:
    assert_problem(client.get("/api/v1/nope"), 404)
    assert_problem(client.get("/../../etc/passwd"), 404)
    assert_problem(client.delete("/api/v1/events", headers=auth("full")), 405)
    assert_problem(client.put("/api/v1/events", headers=auth("full")), 405)


# ------------------------------------------------------------------ schemathesis against a real server


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[str]:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        _empty_postgres(url)
    else:
        path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
        shutil.copy(sqlite_template, path)
        url = f"sqlite+aiosqlite:///{path}"
    settings_ = ServerSettings(
        database_url=url,
        bootstrap_keys=f"{FUZZ_ADMIN}:{FUZZ_TOKEN}:admin,srv:srv-token-0123456789:ingest+read:/srv/**",
        rate_limit_per_minute=0,
        key_cache_seconds=0,
        max_body_bytes=256 * 1024,
    )
    with served(create_app(settings_, extensions=())) as base_url:
        yield base_url


def _fuzz(base_url: str, max_examples: int) -> list[str]:
    schema = schemathesis.openapi.from_dict(httpx.get(base_url + "/schema/openapi.json").json())
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/"):
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=max_examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def check(case: Any) -> None:
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {FUZZ_TOKEN}"}
                response = case.call(base_url=base_url, timeout=30)
                content_type = (response.headers.get("content-type") or [""])[0]
                if response.status_code >= 500:
                    failures.append(
                        f"{operation.method.upper()} {operation.path} -> {response.status_code}: {response.text[:200]} "
                        f"{case.as_transport_kwargs(base_url=base_url).get('params')}"
                    )
                elif response.text == _UVICORN_REFUSAL and response.status_code == 400:
                    pass  # malformed HTTP (e.g. raw bytes in the URL) is refused by uvicorn's parser before the app
                elif response.status_code >= 400 and response.status_code != 422 and "problem+json" not in content_type:
                    failures.append(
                        f"{operation.method.upper()} {operation.path} -> {response.status_code} "
                        f"without a problem body: {content_type} {response.text[:200]!r} "
                        f"{case.as_transport_kwargs(base_url=base_url)}"
                    )

            check()
    return failures


def test_schemathesis_short(live_server: str) -> None:
    assert _fuzz(live_server, max_examples=15) == []


@pytest.mark.slow
def test_schemathesis_long(live_server: str) -> None:
    assert _fuzz(live_server, max_examples=400) == []


def test_a_chunked_body_over_the_limit_gets_the_same_413_as_any_other(client_factory: Any) -> None:
    """No Content-Length: the limit is found while the body streams in, and the answer names it."""
    client = client_factory(max_body_bytes=64 * 1024)

    def chunks() -> Iterator[bytes]:
        for _ in range(24):  # 96 KiB
            yield b" " * 4096

    response = client.post("/api/v1/events", content=chunks(), headers=JSON)
    body = assert_problem(response, 413)
    assert body["max_body_bytes"] == 64 * 1024 and "on the wire" in body["detail"]


@pytest.mark.parametrize("body", [b"", b"  \n"])
def test_an_empty_body_is_named_as_such(client: TestClient[Any], body: bytes) -> None:
    response = client.post("/api/v1/events", content=body, headers={**auth("full"), "Content-Type": "application/json"})
    problem = assert_problem(response, 400)
    assert problem["detail"].startswith("empty request body")
