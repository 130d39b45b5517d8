"""Read API on SQLite and Postgres: keyset pagination, filters, stats totals, whoami, and that a key
limited to workspace globs never sees another workspace's data."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.server.conftest import assert_problem, auth, event, post

WORKSPACES = ["/srv/app", "/srv/app/api", "/srv/application", "/home/alice/work/site", "/opt/private", None]


def _seed(client: TestClient[Any], count: int = 60) -> list[dict[str, Any]]:
    events = []
    for n in range(count):
        kind = ("prompt", "response", "tool_call")[n % 3]
        doc = event(
            n,
            workspace=WORKSPACES[n % len(WORKSPACES)],
            agent=("claude", "codex")[n % 2],
            kind=kind,
            user=("alice", "bob", None)[n % 3],
            project=f"p{n % 4}",
            model="m1" if kind == "response" else None,
            session_id=f"s{n % 5}",
        )
        if kind == "response":
            doc["usage"] = {
                "input_tokens": n,
                "output_tokens": 2 * n,
                "cache_read_tokens": 10,
                "cache_creation_tokens": 1,
            }
            doc["cost_usd"] = 0.25
        if doc["workspace"] is None:
            del doc["workspace"]
        events.append(doc)
    # same ts for a few events: pagination must still be stable (ties broken by id)
    for doc in events[10:14]:
        doc["ts"] = events[10]["ts"]
    assert post(client, events).status_code == 200
    return events


def _all_pages(client: TestClient[Any], key: str = "full", **params: Any) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(100):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/v1/events", params=query, headers=auth(key))
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [e["id"] for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_keyset_pagination_visits_every_event_once_in_order(client: TestClient[Any], order: str) -> None:
    events = _seed(client)
    ids = _all_pages(client, limit=7, order=order)
    expected = sorted(events, key=lambda e: (e["ts"], e["id"]), reverse=order == "desc")
    assert ids == [e["id"] for e in expected]


@pytest.mark.parametrize("limit", ["1001", "10001", str(10**18)])
def test_any_page_size_above_the_cap_is_capped_not_refused(client: TestClient[Any], limit: str) -> None:
    _seed(client, 5)
    response = client.get("/api/v1/events", params={"limit": limit}, headers=auth("full"))
    assert response.status_code == 200, response.text
    assert len(response.json()["events"]) == 5
    assert client.get("/api/v1/events", params={"limit": "0"}, headers=auth("full")).status_code == 400


def test_pagination_is_stable_while_new_events_arrive(client: TestClient[Any]) -> None:
    _seed(client, 30)
    first = client.get("/api/v1/events", params={"limit": 10, "order": "asc"}, headers=auth("full")).json()
    post(client, [event(900 + n) for n in range(5)])  # newer than everything seen so far
    rest = _all_pages(client, limit=10, order="asc", cursor=first["next_cursor"])
    ids = [e["id"] for e in first["events"]] + rest
    assert len(ids) == len(set(ids)) == 35


def test_invalid_cursor_is_400(client: TestClient[Any]) -> None:
    for cursor in ["garbage", "WyJ4Il0", "e30", "%00"]:
        assert_problem(client.get("/api/v1/events", params={"cursor": cursor}, headers=auth("full")), 400)


def test_a_cursor_is_refused_with_other_filters_or_the_other_order(client: TestClient[Any]) -> None:
    """A `next_cursor` of an `order=asc` list, passed with `order=desc` or another filter, silently
    paged through another list from a position in the first."""
    _seed(client, 12)
    first = client.get("/api/v1/events", params={"limit": 3, "order": "asc"}, headers=auth("full")).json()
    cursor = first["next_cursor"]
    assert cursor
    same = client.get("/api/v1/events", params={"limit": 3, "order": "asc", "cursor": cursor}, headers=auth("full"))
    assert same.status_code == 200 and same.json()["events"]
    for params in ({"order": "desc"}, {"order": "asc", "agent": "claude"}, {"order": "asc", "workspace": "/srv/app"}):
        body = assert_problem(
            client.get("/api/v1/events", params={"limit": 3, "cursor": cursor, **params}, headers=auth("full")), 400
        )
        assert "belongs to a query with other filters or the other order" in body["detail"], params


def test_until_before_since_is_400_naming_until(client: TestClient[Any]) -> None:
    for path in ("/api/v1/events", "/api/v1/stats"):
        params = {"since": "2026-12-06T00:00:00Z", "until": "2026-12-05T00:00:00Z"}
        body = assert_problem(client.get(path, params=params, headers=auth("full")), 400)
        assert body["parameter"] == "until" and "must be later than 'since'" in body["detail"]


def test_filters(client: TestClient[Any]) -> None:
    events = _seed(client)

    def ids(**params: Any) -> set[str]:
        return set(_all_pages(client, limit=1000, **params))

    def expected(pred: Any) -> set[str]:
        return {e["id"] for e in events if pred(e)}

    assert ids(workspace="/srv/app") == expected(lambda e: e.get("workspace") in ("/srv/app", "/srv/app/api"))
    assert ids(workspace="/srv/app/") == expected(lambda e: e.get("workspace") in ("/srv/app", "/srv/app/api"))
    assert ids(workspace="/srv") == expected(lambda e: (e.get("workspace") or "").startswith("/srv/"))
    assert ids(workspace="/") == expected(lambda e: e.get("workspace") is not None)
    assert ids(agent="codex") == expected(lambda e: e["agent"] == "codex")
    assert ids(kind="response") == expected(lambda e: e["kind"] == "response")
    assert ids(session_id="s3") == expected(lambda e: e["session_id"] == "s3")
    assert ids(user="bob") == expected(lambda e: e.get("user") == "bob")
    assert ids(model="m1") == expected(lambda e: e.get("model") == "m1")
    assert ids(model="m1", agent="codex") == expected(lambda e: e.get("model") == "m1" and e["agent"] == "codex")
    assert ids(model="m2") == set()
    since, until = events[20]["ts"], events[40]["ts"]
    assert ids(since=since, until=until) == expected(lambda e: since <= e["ts"] < until)
    since_in_berlin_summer = datetime.fromisoformat(since).astimezone(timezone(timedelta(hours=2))).isoformat()
    assert ids(since=since_in_berlin_summer) == expected(lambda e: e["ts"] >= since)
    assert ids(since=since.replace("+00:00", "")) == expected(lambda e: e["ts"] >= since)  # no offset = UTC
    assert ids(agent="claude", kind="prompt", user="alice") == expected(
        lambda e: e["agent"] == "claude" and e["kind"] == "prompt" and e.get("user") == "alice"
    )


def test_stats_totals_match_the_events(client: TestClient[Any]) -> None:
    events = _seed(client)
    responses = [e for e in events if e["kind"] == "response"]
    for by in ("day", "agent", "workspace", "project", "model", "user"):
        response = client.get("/api/v1/stats", params={"by": by}, headers=auth("full"))
        assert response.status_code == 200, response.text
        body = response.json()
        total = body["total"]
        assert total["events"] == len(events)
        assert sum(g["events"] for g in body["groups"]) == len(events)
        assert total["sessions"] == 5
        assert total["kinds"] == {"prompt": 20, "response": 20, "tool_call": 20}
        assert total["input_tokens"] == sum(e["usage"]["input_tokens"] for e in responses)
        assert total["output_tokens"] == sum(e["usage"]["output_tokens"] for e in responses)
        assert total["cache_read_tokens"] == 10 * len(responses)
        assert total["cost_usd"] == pytest.approx(0.25 * len(responses))
        assert sum(g["output_tokens"] for g in body["groups"]) == total["output_tokens"]
    by_agent = {g["key"]: g for g in client.get("/api/v1/stats?by=agent", headers=auth("full")).json()["groups"]}
    assert by_agent["claude"]["events"] == 30 and by_agent["codex"]["events"] == 30
    days = client.get("/api/v1/stats?by=day", headers=auth("full")).json()["groups"]
    assert [g["key"] for g in days] == ["2026-09-01"]
    filtered = client.get("/api/v1/stats?by=model&kind=response", headers=auth("full")).json()
    assert filtered["groups"] == [{**filtered["total"], "key": "m1"}]


def test_stats_limit_keeps_the_newest_days_and_says_it_cut(client: TestClient[Any]) -> None:
    start = datetime(2026, 9, 1, 12, tzinfo=timezone(timedelta(0)))
    days = [event(n, ts=(start + timedelta(days=n)).isoformat(), session_id=f"s{n}") for n in range(5)]
    days.append(event(9, ts=start.isoformat(), session_id="s0", agent="codex"))
    assert post(client, days, key="full").status_code == 200
    cut = client.get("/api/v1/stats", params={"by": "day", "limit": 2}, headers=auth("full")).json()
    assert [g["key"] for g in cut["groups"]] == ["2026-09-04", "2026-09-05"]  # the newest, in date order
    assert cut["truncated"] is True and cut["total"]["events"] == 6
    whole = client.get("/api/v1/stats", params={"by": "day", "limit": 5}, headers=auth("full")).json()
    assert len(whole["groups"]) == 5 and whole["groups"][0]["key"] == "2026-09-01" and whole["truncated"] is False
    largest = client.get("/api/v1/stats", params={"by": "agent", "limit": 1}, headers=auth("full")).json()
    assert [g["key"] for g in largest["groups"]] == ["claude"] and largest["truncated"] is True


def test_stats_model_filter(client: TestClient[Any]) -> None:
    events = _seed(client)
    m1 = [e for e in events if e.get("model") == "m1"]
    body = client.get("/api/v1/stats", params={"by": "agent", "model": "m1"}, headers=auth("full")).json()
    assert body["total"]["events"] == len(m1) == 20
    assert body["total"]["kinds"] == {"response": 20}
    assert body["total"]["cost_usd"] == pytest.approx(0.25 * len(m1))
    assert {g["key"]: g["events"] for g in body["groups"]} == {"claude": 10, "codex": 10}
    assert client.get("/api/v1/stats", params={"model": "other"}, headers=auth("full")).json()["total"]["events"] == 0
    schema = client.get("/schema/openapi.json").json()
    for path in ("/api/v1/stats", "/api/v1/events"):
        assert "model" in {p["name"] for p in schema["paths"][path]["get"]["parameters"]}, path


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/events"),
        ("GET", "/api/v1/stats"),
        ("GET", "/api/v1/whoami"),
        ("GET", "/api/v1/keys"),
        ("GET", "/api/v1/ingest-health"),
        ("POST", "/api/v1/events"),
        ("POST", "/api/v1/keys"),
        ("POST", "/api/v1/keys/srv/revoke"),
    ],
)
def test_unknown_query_parameters_are_400_naming_the_parameter(client: TestClient[Any], method: str, path: str) -> None:
    response = client.request(method, path, params={"modle": "m1"}, headers=auth("admin"), json={})
    body = assert_problem(response, 400)
    assert "'modle'" in body["detail"] and body["parameter"] == "modle"
    # declared parameters (and the path parameter) are still accepted
    assert client.get("/api/v1/stats", params={"by": "agent", "model": "m1"}, headers=auth("admin")).status_code == 200
    assert client.get("/api/v1/ingest-health", params={"rejections": 3}, headers=auth("admin")).status_code == 200
    assert client.get("/healthz", params={"anything": "1"}).status_code == 200  # not an /api/v1 route


@pytest.mark.parametrize(
    ("path", "query", "name"),
    [
        ("/api/v1/events", "agent=claude&agent=codex", "agent"),
        ("/api/v1/events", "kind=bogus&kind=prompt", "kind"),
        ("/api/v1/events", "limit=5&workspace=/srv&limit=7", "limit"),
        ("/api/v1/stats", "by=week&by=agent", "by"),
        ("/api/v1/stats", "since=garbage&since=2026-09-01T12:00:01Z", "since"),
        ("/api/v1/stats", "model=m1&model=m1", "model"),
        ("/api/v1/ingest-health", "rejections=1&rejections=2", "rejections"),
    ],
)
def test_a_query_parameter_given_twice_is_400_naming_it(
    client: TestClient[Any], path: str, query: str, name: str
) -> None:
    _seed(client, 6)
    body = assert_problem(client.get(f"{path}?{query}", headers=auth("admin")), 400)
    assert body["type"].endswith("/problems/invalid_parameter") and body["parameter"] == name
    assert f"{name!r} is given 2 times; give it once" in body["detail"]
    # each value on its own is still a normal request (the same parameters, given once)
    assert client.get(f"{path}?{query.rsplit('&', 1)[1]}", headers=auth("admin")).status_code == 200


@pytest.mark.parametrize(
    ("path", "query", "name"),
    [
        ("/api/v1/stats", "by=agent&model=", "model"),
        ("/api/v1/stats", "session_id=", "session_id"),
        ("/api/v1/stats", "agent=&by=agent", "agent"),
        ("/api/v1/stats", "workspace=", "workspace"),
        ("/api/v1/stats", "user=", "user"),
        ("/api/v1/events", "model=", "model"),
        ("/api/v1/events", "workspace=&agent=claude", "workspace"),
        ("/api/v1/events", "session_id=", "session_id"),
        ("/api/v1/events", "cursor=", "cursor"),
        ("/api/v1/ingest-health", "rejections=", "rejections"),
    ],
)
def test_an_empty_query_parameter_is_400_naming_it(client: TestClient[Any], path: str, query: str, name: str) -> None:
    """`?model=` was read as no filter at all, answering 200 with everything: a different question."""
    _seed(client, 6)
    body = assert_problem(client.get(f"{path}?{query}", headers=auth("admin")), 400)
    assert body["type"].endswith("/problems/invalid_parameter") and body["parameter"] == name
    assert f"query parameter {name!r} is empty; give it a value or leave it out" in body["detail"]
    # leaving it out is a normal request
    rest = "&".join(part for part in query.split("&") if not part.startswith(f"{name}="))
    assert client.get(f"{path}?{rest}", headers=auth("admin")).status_code == 200


@pytest.mark.parametrize(
    ("path", "query", "name", "says"),
    [
        ("/api/v1/events", "workspace=~/work", "workspace", "the server expands no ~"),
        ("/api/v1/stats", "workspace=root/work", "workspace", "must be an absolute folder"),
        ("/api/v1/events", "workspace=/root/work/acme-api/..", "workspace", "'.' or '..' segments"),
        ("/api/v1/stats", "workspace=/root//work", "workspace", "must not have an empty segment ('//'"),
        ("/api/v1/stats", "since=1e9", "since", "RFC 3339 date-time"),
        ("/api/v1/events", "since=inf", "since", "RFC 3339 date-time"),  # (was "Invalid epoch timestamp")
        ("/api/v1/stats", "until=nan", "until", "RFC 3339 date-time"),
        ("/api/v1/stats", "since=2026-12-02", "since", "a date alone is not one: its start is 2026-12-02T00:00:00Z"),
        ("/api/v1/events", "since=2026-12-02T00:00:00+05:00", "since", "write the offset's + as %2B"),
        ("/api/v1/events", "until=3000-01-01T00:00:00Z", "until", "must be between"),
        ("/api/v1/events", "user=a%00b", "user", "user"),
    ],
)
def test_a_filter_that_can_match_nothing_is_400_naming_its_parameter(
    client: TestClient[Any], path: str, query: str, name: str, says: str
) -> None:
    """`workspace=~/work` (what a key's glob looks like) answered 200 with no events; and the problems
    for since, until and NUL bytes did not name their parameter."""
    _seed(client, 6)
    body = assert_problem(client.get(f"{path}?{query}", headers=auth("admin")), 400)
    assert body["type"].endswith("/problems/invalid_parameter") and body["parameter"] == name
    assert says in body["detail"]


def test_a_workspace_filter_with_a_trailing_slash_still_matches(client: TestClient[Any]) -> None:
    _seed(client, 6)
    plain = client.get(f"/api/v1/events?workspace={WORKSPACES[0]}", headers=auth("admin")).json()["events"]
    slashed = client.get(f"/api/v1/events?workspace={WORKSPACES[0]}/", headers=auth("admin")).json()["events"]
    assert plain
    assert plain == slashed


def test_workspace_limited_key_never_sees_other_workspaces(client: TestClient[Any]) -> None:
    events = _seed(client)
    visible = {e["id"] for e in events if (e.get("workspace") or "").startswith("/srv/")}
    assert set(_all_pages(client, key="srv", limit=1000)) == visible
    # filters aimed at other workspaces find nothing
    assert _all_pages(client, key="srv", workspace="/opt/private") == []
    assert _all_pages(client, key="srv", workspace="/") and set(_all_pages(client, key="srv", workspace="/")) == visible
    for e in events:
        if e["id"] not in visible:
            assert e["id"] not in _all_pages(client, key="srv", session_id=e["session_id"])
    stats = client.get("/api/v1/stats?by=workspace", headers=auth("srv")).json()
    assert {g["key"] for g in stats["groups"]} == {"/srv/app", "/srv/app/api", "/srv/application"}
    assert stats["total"]["events"] == len(visible)
    home = set(_all_pages(client, key="home", limit=1000))
    assert home == {e["id"] for e in events if e.get("workspace") == "/home/alice/work/site"}


def test_read_requires_read_scope(client: TestClient[Any]) -> None:
    assert_problem(client.get("/api/v1/events", headers=auth("ingest")), 403)
    assert_problem(client.get("/api/v1/stats", headers=auth("ingest")), 403)
    assert_problem(client.get("/api/v1/events"), 401)
    assert client.get("/api/v1/events", headers=auth("admin")).status_code == 200


def test_whoami(client: TestClient[Any]) -> None:
    body = client.get("/api/v1/whoami", headers=auth("srv")).json()
    assert body["key_name"] == "srv"
    assert body["scopes"] == ["ingest", "read"]
    assert body["workspaces"] == ["/srv/**"]
    assert body["limits"]["max_events_per_batch"] == 5000
    assert body["limits"]["max_body_bytes"] == 16 * 1024 * 1024
    ingest_only = client.get("/api/v1/whoami", headers=auth("ingest"))
    assert ingest_only.status_code == 200 and ingest_only.json()["scopes"] == ["ingest"]
    assert_problem(client.get("/api/v1/whoami", headers={"Authorization": "Bearer nope"}), 401)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "abc"},
        {"kind": "dance"},
        {"order": "sideways"},
        {"since": "not-a-date"},
        {"since": "2026-12-02"},  # documented: RFC 3339 date-times only, not a bare date
        {"until": "2026-12-02"},
        {"since": "20261202"},  # not read as epoch seconds
        {"until": "1764700000"},
        {"workspace": "x" * 5000},
        {"since": "0001-01-01T00:00:00+14:00"},
        {"until": "9999-12-31T23:59:59-14:00"},
    ],
)
def test_bad_query_parameters_are_400(client: TestClient[Any], params: dict[str, str]) -> None:
    assert_problem(client.get("/api/v1/events", params=params, headers=auth("full")), 400)


def test_a_bad_parameter_is_named_without_echoing_the_url(client: TestClient[Any]) -> None:
    response = client.get("/api/v1/stats", params={"limit": "x" * 5000, "by": "week"}, headers=auth("full"))
    body = assert_problem(response, 400)
    assert body["type"].endswith("/problems/invalid_request")
    assert body["detail"].startswith("invalid request parameters: ") and "xxxx" not in body["detail"]
    assert "by: " in body["detail"] and "limit: " in body["detail"] and len(response.content) < 2000


def test_bad_group_is_400(client: TestClient[Any]) -> None:
    assert_problem(client.get("/api/v1/stats", params={"by": "session"}, headers=auth("full")), 400)


def test_a_windows_drive_is_a_root_of_its_own(client: TestClient[Any]) -> None:
    """`/` is the POSIX root (UNC shares included); `C:/` is another one, as docs/server.md says."""
    docs = [event(n, workspace=w) for n, w in enumerate(["C:/Users/dev/app", "/home/dev/app", "//files/share/app"])]
    assert post(client, docs).status_code == 200
    by_workspace = {d["workspace"]: d["id"] for d in docs}
    assert set(_all_pages(client, workspace="/")) == {by_workspace["/home/dev/app"], by_workspace["//files/share/app"]}
    assert _all_pages(client, workspace="C:/") == [by_workspace["C:/Users/dev/app"]]
    assert _all_pages(client, workspace="C:/Users") == [by_workspace["C:/Users/dev/app"]]


def test_a_backslash_is_part_of_a_folder_name_not_a_separator(client: TestClient[Any]) -> None:
    """`?workspace=/srv/app` returned `/srv/app\\notes`, a sibling folder on POSIX (stored workspaces
    separate folders with `/` only), while key globs and the collector's filter treat it as one."""
    docs = [event(n, workspace=w) for n, w in enumerate(["/srv/app", "/srv/app\\notes", "/srv/app/api"])]
    assert post(client, docs).status_code == 200
    ids = {d["workspace"]: d["id"] for d in docs}
    assert set(_all_pages(client, workspace="/srv/app")) == {ids["/srv/app"], ids["/srv/app/api"]}
    stats = client.get("/api/v1/stats?workspace=/srv/app&by=workspace", headers=auth("admin")).json()
    assert {g["key"] for g in stats["groups"]} == {"/srv/app", "/srv/app/api"}


@pytest.mark.parametrize(
    ("query", "choices"),
    [("by=week", "one of: day, agent, workspace, project, model, user"), ("order=newest", "one of: asc, desc")],
)
def test_a_value_outside_a_parameters_choices_is_answered_with_them(
    client: TestClient[Any], query: str, choices: str
) -> None:
    path = "/api/v1/stats" if query.startswith("by=") else "/api/v1/events"
    body = assert_problem(client.get(f"{path}?{query}", headers=auth("full")), 400)
    assert choices in body["detail"], body
