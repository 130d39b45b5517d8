"""What a rejected body or event is told: the error of the body the server actually decoded, and a byte
offset that points at the bad byte. Real HTTP through Litestar's test client, on SQLite and Postgres.

Both are decided in `devlog_shared` (`surrogates.decode_repaired`, `codec._undecodable`).
"""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.server.conftest import assert_problem, auth

JSON = {**auth("full"), "Content-Type": "application/json"}

CUT = b'{"id":"n1","ts":"2026-11-01T12:00:00Z","agent":"claude","kind":"prompt","session_id":"s","text":"cut \\ud83d"}'
NAN = b'{"id":"n2","ts":"2026-11-01T12:00:00Z","agent":"claude","kind":"prompt","session_id":"s","cost_usd":NaN}'


def test_a_body_with_only_a_real_json_error_names_it(client: TestClient[Any]) -> None:
    body = assert_problem(client.post("/api/v1/events", content=b'{"events":[' + NAN + b"]}", headers=JSON), 400)
    assert "invalid character" in body["detail"]


def test_a_lone_surrogate_does_not_hide_the_real_json_error(client: TestClient[Any]) -> None:
    response = client.post("/api/v1/events", content=b'{"events":[' + CUT + b"," + NAN + b"]}", headers=JSON)
    body = assert_problem(response, 400)
    assert "hex escape" not in body["detail"]
    assert "invalid character" in body["detail"]


def test_an_invalid_utf8_event_is_rejected_with_the_offset_of_the_bad_byte(client: TestClient[Any]) -> None:
    raw = b'{"id":"u1","ts":"2026-11-01T12:00:00Z","agent":"claude","kind":"prompt","session_id":"s","text":"\xffx"}'
    response = client.post("/api/v1/events", content=b'{"events":[' + raw + b"]}", headers=JSON)
    assert response.status_code == 422, response.text
    reason = response.json()["results"][0]["reason"]
    offset = raw.index(b"\xff")
    assert reason == f"invalid event: not valid UTF-8 (byte {offset})"
