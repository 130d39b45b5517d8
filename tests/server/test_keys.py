"""API keys: token format and hashing, bootstrap parsing, the `devlog-server keys` CLI on both
backends, revocation through the HTTP API, and workspace glob semantics."""

from __future__ import annotations

import json
import re
from typing import Any

import pydantic
import pytest
import structlog
from click.testing import CliRunner
from litestar.testing import TestClient
from sqlalchemy import text

from devlog_server.app import create_app
from devlog_server.cli import main
from devlog_server.errors import UserInputError
from devlog_server.globs import WorkspaceMatcher
from devlog_server.keys import generate_token, hash_token, key_id_for_token, parse_bootstrap_keys
from devlog_server.settings import ServerSettings
from devlog_server.state import server_state
from tests.server.conftest import assert_problem, auth, event, post

#: Braces that expand past wcmatch's limit of 1,000 patterns per compile.
TOO_MANY = "~/{1..5000}/**"


def test_token_format_and_keyed_hash() -> None:
    key_id, token = generate_token()
    assert token.startswith(f"dvl_{key_id}_") and len(key_id) == 12 and len(token) == 4 + 12 + 1 + 32
    assert key_id_for_token(token) == key_id
    assert key_id_for_token("some-demo-secret") == key_id_for_token("some-demo-secret") != key_id_for_token("other")
    digest = hash_token(token, "salt", b"pepper")
    assert digest == hash_token(token, "salt", b"pepper")
    assert digest != hash_token(token, "salt2", b"pepper") != hash_token(token, "salt", b"other")
    assert token not in digest and len(digest) == 64


def test_bootstrap_spec_parsing() -> None:
    keys = parse_bootstrap_keys("team:s3cret, me:x:ingest:~/work/**|/srv/**, ops:y:read+admin, win:z:ingest:C:/src/**")
    assert [(k.name, k.secret, k.scopes, k.workspaces) for k in keys] == [
        ("team", "s3cret", ("ingest", "read"), ()),
        ("me", "x", ("ingest",), ("~/work/**", "/srv/**")),
        ("ops", "y", ("read", "admin"), ()),
        ("win", "z", ("ingest",), ("C:/src/**",)),
    ]
    with pytest.raises(UserInputError):
        parse_bootstrap_keys("no-secret")
    with pytest.raises(UserInputError):
        parse_bootstrap_keys("a:b:write")


@pytest.mark.parametrize(
    ("patterns", "allowed", "denied"),
    [
        (["/srv/**"], ["/srv", "/srv/a", "/srv/a/b/c", "/srv/.hidden/x"], ["/srv2", "/srvx/a", "/home/srv", None]),
        (
            ["~/work/**"],
            ["/home/al/work", "/home/al/work/x", "/Users/bob/work/y", "/root/work/z", "C:/Users/bob/work/api"],
            ["/home/al/play", "/work/x", "C:/work/x", "C:/Users/bob/play"],
        ),
        (["/a/{b,c}/*"], ["/a/b/x", "/a/c/y"], ["/a/d/x", "/a/b/x/y"]),
        ([], ["/anything", None], []),
    ],
)
def test_workspace_globs(patterns: list[str], allowed: list[str | None], denied: list[str | None]) -> None:
    matcher = WorkspaceMatcher(patterns)
    assert matcher.unrestricted == (not patterns)
    for workspace in allowed:
        assert matcher.allows(workspace), workspace
    for workspace in denied:
        assert not matcher.allows(workspace), workspace


def _cli(database_url: str, *args: str) -> Any:
    env = {"DEVLOG_SERVER_DATABASE_URL": database_url, "DEVLOG_SERVER_KEY_PEPPER": "test-pepper"}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_a_key_created_without_the_pepper_says_where_it_works(database_url: str) -> None:
    """Made in a shell without DEVLOG_SERVER_KEY_PEPPER, a key was listed `active` and answered 401
    "invalid API key" by the server (which has one) with no word of why."""
    env = {"DEVLOG_SERVER_DATABASE_URL": database_url}
    bare = CliRunner().invoke(main, ["keys", "create", "no-pepper"], env=env, catch_exceptions=False)
    assert bare.exit_code == 0 and bare.stdout.strip().startswith("dvl_")
    assert "DEVLOG_SERVER_KEY_PEPPER is not set here" in bare.stderr
    peppered = _cli(database_url, "keys", "create", "peppered")
    assert peppered.exit_code == 0 and "KEY_PEPPER" not in peppered.stderr


def test_keys_cli_create_list_revoke(database_url: str) -> None:
    created = _cli(database_url, "keys", "create", "ci-bot", "--scope", "ingest", "--workspace", "/srv/**", "--json")
    assert created.exit_code == 0, created.output
    info = json.loads(created.output)
    assert info["token"].startswith("dvl_") and info["scopes"] == ["ingest"] and info["workspaces"] == ["/srv/**"]

    plain = _cli(database_url, "keys", "create", "reader", "--scope", "read")
    assert plain.exit_code == 0
    token = plain.stdout.strip().splitlines()[0]
    assert token.startswith("dvl_")

    duplicate = _cli(database_url, "keys", "create", "ci-bot")
    assert duplicate.exit_code == 2 and "already exists" in duplicate.output

    listed = _cli(database_url, "keys", "list", "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["name"] for r in rows] == ["ci-bot", "reader"]
    assert all("token" not in r and r["revoked_at"] is None for r in rows)
    assert info["token"] not in listed.output and token not in listed.output

    table = _cli(database_url, "keys", "list")
    assert "ci-bot" in table.output and "active" in table.output
    # On an 80-column terminal the ids stay whole: they are what `keys revoke` takes.
    env = {"DEVLOG_SERVER_DATABASE_URL": database_url, "DEVLOG_SERVER_KEY_PEPPER": "test-pepper", "COLUMNS": "80"}
    narrow = CliRunner().invoke(main, ["keys", "list"], env=env, catch_exceptions=False).output
    assert all(r["id"] in narrow for r in rows) and max(len(line) for line in narrow.splitlines()) <= 80
    # Into a pipe (no terminal, no COLUMNS) nothing wraps: rich alone split names and globs at 80 columns.
    globs = ["/home/alice/company/billing-service/**", "/home/alice/company/dashboard-frontend/**"]
    wide = _cli(database_url, "keys", "create", "lead-dashboard-reader", *(f"--workspace={g}" for g in globs))
    assert wide.exit_code == 0, wide.output
    env = {"DEVLOG_SERVER_DATABASE_URL": database_url, "DEVLOG_SERVER_KEY_PEPPER": "test-pepper", "COLUMNS": None}
    piped = CliRunner().invoke(main, ["keys", "list"], env=env, catch_exceptions=False).output
    assert any("lead-dashboard-reader" in line and " ".join(globs) in line for line in piped.splitlines())

    settings = ServerSettings(database_url=database_url, key_pepper="test-pepper", key_cache_seconds=0)
    with TestClient(create_app(settings, extensions=())) as client:
        headers = {"Authorization": f"Bearer {info['token']}"}
        assert post_with(client, headers, [event(1)]).status_code == 200
        outside = post_with(client, headers, [event(2, workspace="/etc")])
        assert outside.status_code == 422
        assert [r["reason"] for r in outside.json()["results"]] == ["forbidden_workspace"]
        assert client.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"}).status_code == 200

        revoked = _cli(database_url, "keys", "revoke", "ci-bot")
        assert revoked.exit_code == 0 and "revoked" in revoked.output
        body = assert_problem(post_with(client, headers, [event(3)]), 401)
        assert "revoked" in body["detail"]
        # revoking by id works too; unknown names are a clear error
        assert _cli(database_url, "keys", "revoke", rows[1]["id"]).exit_code == 0
        assert client.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    missing = _cli(database_url, "keys", "revoke", "ghost")
    assert missing.exit_code == 2 and "no key named" in missing.output


def _one_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


def test_a_revoked_keys_name_is_refused_saying_it_is_revoked_and_what_to_do(
    client: TestClient[Any], database_url: str
) -> None:
    """Rotation is a new key under a new name: names stay unique for good, so `keys revoke NAME`, logs
    and ingest health keep meaning one key; the refusal says the key is revoked and how to go on."""
    assert _cli(database_url, "keys", "create", "alice", "--scope", "ingest").exit_code == 0
    active = _cli(database_url, "keys", "create", "alice")
    assert active.exit_code == 2
    assert _one_line(active.output) == (
        "error: a key named 'alice' already exists; to rotate it, create a key under another name, "
        "switch its users to the new token, then revoke 'alice'"
    )
    assert _cli(database_url, "keys", "revoke", "alice").exit_code == 0
    again = _cli(database_url, "keys", "create", "alice", "--scope", "ingest")
    assert again.exit_code == 2
    line = _one_line(again.output)
    assert re.fullmatch(
        r"error: a key named 'alice' already exists and was revoked on \d{4}-\d{2}-\d{2}; a revoked key's name is "
        r"never reused: create the new key under another name \(such as 'alice-2'\)",
        line,
    ), line
    admin = auth("admin")
    body = assert_problem(client.post("/api/v1/keys", json={"name": "alice"}, headers=admin), 400)
    assert body["type"].endswith("/problems/invalid_key") and body["detail"] == line.removeprefix("error: ")
    # the suggested name works, and the revoked key stays revoked
    assert _cli(database_url, "keys", "create", "alice-2", "--scope", "ingest").exit_code == 0
    keys = {k["name"]: k for k in client.get("/api/v1/keys", headers=admin).json()}
    assert keys["alice"]["revoked_at"] is not None and keys["alice-2"]["revoked_at"] is None


def post_with(client: TestClient[Any], headers: dict[str, str], events: list[dict[str, Any]]) -> Any:
    return client.post("/api/v1/events", json={"events": events}, headers=headers)


def test_invalid_key_names_and_scopes_are_user_errors(database_url: str) -> None:
    assert _cli(database_url, "keys", "create", "bad name!").exit_code == 2
    assert _cli(database_url, "keys", "create", "x", "--scope", "root").exit_code == 2


def test_bootstrap_keys_are_created_once_and_never_replaced(client_factory: Any) -> None:
    client = client_factory()
    assert post(client, [event(1)]).status_code == 200
    # a second app on the same database with a different secret for an existing name keeps the old key
    second = client_factory(bootstrap_keys="full:another-secret-123,newbie:newbie-secret-123")
    assert post(second, [event(2)]).status_code == 200  # the original token still works
    assert_problem(
        second.post("/api/v1/events", json={"events": []}, headers={"Authorization": "Bearer another-secret-123"}), 401
    )
    assert (
        second.get("/api/v1/whoami", headers={"Authorization": "Bearer newbie-secret-123"}).json()["key_name"]
        == "newbie"
    )


def test_wrong_pepper_rejects_every_key(client_factory: Any) -> None:
    client_factory()  # creates the bootstrap keys with the test pepper
    other = client_factory(key_pepper="a-different-pepper", bootstrap_keys=None)
    assert_problem(post(other, [event(1)]), 401)


def test_key_cache_busts_on_local_revocation() -> None:
    from datetime import UTC, datetime

    from devlog_server.keys import ApiKey
    from devlog_server.state import KeyCache

    cache = KeyCache(ttl=60)
    key = ApiKey(id="k1", name="n", scopes=("ingest",), workspaces=(), hint="…", created_at=datetime.now(UTC))
    cache.put("token", key)
    assert cache.get("token") is key
    cache.forget_key("k1")
    assert cache.get("token") is None
    assert KeyCache(ttl=0).get("token") is None


def test_admin_api_manages_keys_and_shows_ingest_health(client: TestClient[Any]) -> None:
    admin = {"Authorization": "Bearer admin-token-0123456789"}
    assert_problem(client.get("/api/v1/keys", headers={"Authorization": "Bearer full-token-0123456789"}), 403)
    created = client.post(
        "/api/v1/keys", json={"name": "ci", "scopes": ["ingest"], "workspaces": ["/srv/**"]}, headers=admin
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert created.json()["key"]["workspaces"] == ["/srv/**"]
    assert_problem(client.post("/api/v1/keys", json={"name": "ci"}, headers=admin), 400)
    assert_problem(client.post("/api/v1/keys", json={"name": "x", "scopes": ["root"]}, headers=admin), 400)
    names = [k["name"] for k in client.get("/api/v1/keys", headers=admin).json()]
    assert "ci" in names and token not in str(names)

    headers = {"Authorization": f"Bearer {token}"}
    assert (
        client.post(
            "/api/v1/events", json={"events": [event(1)], "collector": {"machine": "m"}}, headers=headers
        ).status_code
        == 200
    )
    health = client.get("/api/v1/ingest-health", headers=admin).json()
    assert [(c["key_name"], c["machine"], c["created"]) for c in health["collectors"]] == [("ci", "m", 1)]

    assert client.post("/api/v1/keys/ci/revoke", headers=admin).json()["revoked_at"]
    assert_problem(client.post("/api/v1/events", json={"events": [event(2)]}, headers=headers), 401)
    assert_problem(client.post("/api/v1/keys/ghost/revoke", headers=admin), 404)


def test_an_explicitly_empty_scope_list_is_refused_not_widened_to_the_default(
    client: TestClient[Any], database_url: str
) -> None:
    admin = {"Authorization": "Bearer admin-token-0123456789"}
    empty = assert_problem(client.post("/api/v1/keys", json={"name": "none", "scopes": []}, headers=admin), 400)
    assert empty["detail"].startswith("scopes: give at least one of ingest, read, admin")
    names = [k["name"] for k in client.get("/api/v1/keys", headers=admin).json()]
    assert "none" not in names
    default = client.post("/api/v1/keys", json={"name": "default"}, headers=admin)
    assert default.status_code == 201 and default.json()["key"]["scopes"] == ["ingest", "read"]
    # The CLI has no way to give an empty list: --scope takes one of the three names, absent is the default.
    blank = _cli(database_url, "keys", "create", "blank", "--scope", "")
    assert blank.exit_code == 2 and "'' is not one of 'ingest', 'read', 'admin'" in blank.output
    absent = _cli(database_url, "keys", "create", "absent", "--json")
    assert absent.exit_code == 0 and json.loads(absent.output)["scopes"] == ["ingest", "read"]
    with pytest.raises(UserInputError, match=r"entry 1 .*scopes: give at least one"):
        parse_bootstrap_keys("plus:secret-123:+")


@pytest.mark.parametrize("glob", ["", "   "])
def test_keys_cli_refuses_a_blank_workspace_glob(database_url: str, glob: str) -> None:
    # before: the blank glob was dropped and the key could use every workspace
    result = _cli(database_url, "keys", "create", "limited", "--workspace", glob)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--workspace" in lines[0] and "empty" in lines[0]
    assert _cli(database_url, "keys", "list", "--json").stdout == ""  # nothing was created


def test_keys_cli_refuses_globs_that_cannot_compile(database_url: str) -> None:
    # before: a wcmatch PatternLimitException traceback
    result = _cli(database_url, "keys", "create", "y", "--workspace", TOO_MANY)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "--workspace" in lines[0] and TOO_MANY in lines[0] and "more than 1,000 patterns" in lines[0]
    # each glob fine on its own, too many together (the limit applies to the key's globs as one set)
    together = _cli(
        database_url, "keys", "create", "z", "--workspace", "/a/{1..300}/**", "--workspace", "/b/{1..300}/**"
    )
    assert together.exit_code == 2 and "together" in together.output
    assert _cli(database_url, "keys", "list", "--json").stdout == ""
    ok = _cli(database_url, "keys", "create", "fine", "--workspace", "/a/{1..300}/**", "--json")
    assert ok.exit_code == 0 and json.loads(ok.output)["workspaces"] == ["/a/{1..300}/**"]


def test_admin_api_refuses_blank_and_uncompilable_workspace_globs(client: TestClient[Any]) -> None:
    admin = {"Authorization": "Bearer admin-token-0123456789"}
    blank = assert_problem(client.post("/api/v1/keys", json={"name": "b", "workspaces": [" "]}, headers=admin), 400)
    assert "empty" in blank["detail"]
    huge = assert_problem(client.post("/api/v1/keys", json={"name": "h", "workspaces": [TOO_MANY]}, headers=admin), 400)
    assert TOO_MANY in huge["detail"] and "1,000" in huge["detail"]
    names = [k["name"] for k in client.get("/api/v1/keys", headers=admin).json()]
    assert "b" not in names and "h" not in names
    # no globs at all is still the documented way to make an unrestricted key
    assert client.post("/api/v1/keys", json={"name": "all", "workspaces": []}, headers=admin).status_code == 201


def test_bootstrap_keys_are_validated_when_settings_load() -> None:
    for spec, needle in [
        ("justname", "entry 1 is not name:secret"),
        ("ok:secret-1,bad:secret-2:ingest:", "entry 2 ('bad'): workspace glob '' is empty"),
        (f"big:secret-3:ingest:{TOO_MANY}", "more than 1,000 patterns"),
        ("bad name:secret-4", "invalid key name"),
        ("x:secret-5:write", "unknown scope"),
    ]:
        with pytest.raises(UserInputError, match=re.escape(needle)):
            parse_bootstrap_keys(spec)
        with pytest.raises(pydantic.ValidationError):
            ServerSettings(bootstrap_keys=spec)


@pytest.mark.parametrize("command", [["keys", "list"], ["migrate"]])
def test_invalid_bootstrap_keys_stop_every_command_with_one_line(database_url: str, command: list[str]) -> None:
    env = {"DEVLOG_SERVER_DATABASE_URL": database_url, "DEVLOG_SERVER_BOOTSTRAP_KEYS": "ops:top-secret-value:rule"}
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: invalid DEVLOG_SERVER_* settings: ")
    assert "DEVLOG_SERVER_BOOTSTRAP_KEYS: entry 1 ('ops'): unknown scope(s) rule" in lines[0]
    assert "top-secret-value" not in result.output


def test_matcher_with_globs_that_cannot_compile_allows_nothing() -> None:
    with structlog.testing.capture_logs() as logs:
        matcher = WorkspaceMatcher([TOO_MANY], key_id="k1")
    assert not matcher.unrestricted
    assert not matcher.allows("/home/al/1/x") and not matcher.allows(None) and not matcher.allows("/srv")
    assert [(log["event"], log["log_level"], log["key_id"]) for log in logs] == [
        ("workspace_globs_unusable", "warning", "k1")
    ]


def test_a_stored_key_with_an_uncompilable_glob_never_crashes_requests(client: TestClient[Any]) -> None:
    """A key stored before globs were checked: its requests are answered, and it may use no workspace."""
    state = server_state(client.app)

    async def corrupt() -> None:
        async with state.db.write() as conn:
            await conn.execute(
                text("UPDATE api_keys SET workspaces = :globs WHERE name = 'srv'"), {"globs": json.dumps([TOO_MANY])}
            )

    client.blocking_portal.call(corrupt)  # type: ignore[union-attr]
    assert post(client, [event(1, workspace="/srv/app")]).status_code == 200  # stored by an unrestricted key
    with structlog.testing.capture_logs() as logs:
        response = post(client, [event(2, workspace="/srv/app"), event(3, workspace="/home/a/1/x")], key="srv")
        assert response.status_code == 422, response.text
        assert [r["reason"] for r in response.json()["results"]] == ["forbidden_workspace"] * 2
        listed = client.get("/api/v1/events", headers=auth("srv"))
        assert listed.status_code == 200 and listed.json()["events"] == []
        stats = client.get("/api/v1/stats", headers=auth("srv"))
        assert stats.status_code == 200 and stats.json()["total"]["events"] == 0
        whoami = client.get("/api/v1/whoami", headers=auth("srv"))
        assert whoami.status_code == 200 and whoami.json()["workspaces"] == [TOO_MANY]
    assert any(log["event"] == "workspace_globs_unusable" for log in logs)


def test_an_admin_key_limited_to_workspaces_cannot_manage_keys_or_read_ingest_health(
    client: TestClient[Any],
) -> None:
    """Else it could mint a key without limits, or revoke the unlimited admin keys."""
    admin = {"Authorization": "Bearer admin-token-0123456789"}
    made = client.post("/api/v1/keys", json={"name": "lead", "scopes": ["admin"], "workspaces": ["/srv/**"]},
                       headers=admin)  # fmt: skip
    assert made.status_code == 201, made.text
    lead = {"Authorization": f"Bearer {made.json()['token']}"}
    for response in (
        client.post("/api/v1/keys", json={"name": "escape", "scopes": ["read"]}, headers=lead),
        client.post("/api/v1/keys/lead/revoke", headers=lead),
        client.get("/api/v1/keys", headers=lead),
        client.get("/api/v1/ingest-health", headers=lead),
    ):
        problem = assert_problem(response, 403)
        assert problem["type"].endswith("workspace_limited_admin") and "workspace globs" in problem["detail"]
    names = [k["name"] for k in client.get("/api/v1/keys", headers=admin).json()]
    assert "escape" not in names
    assert client.get("/api/v1/events", headers=lead).status_code == 200  # its other rights stay


@pytest.mark.parametrize("glob", ["work/**", "./work/**", "srv"])
def test_a_relative_workspace_glob_is_refused_by_cli_and_api(
    database_url: str, client: TestClient[Any], glob: str
) -> None:
    done = _cli(database_url, "keys", "create", "rel", "--workspace", glob)
    assert done.exit_code == 2 and "relative" in done.output and glob in done.output
    admin = {"Authorization": "Bearer admin-token-0123456789"}
    problem = assert_problem(
        client.post("/api/v1/keys", json={"name": "rel", "workspaces": [glob]}, headers=admin), 400
    )
    assert "relative" in problem["detail"]


def test_creating_a_key_needs_an_uncompressed_json_body(client: TestClient[Any]) -> None:
    """A form-encoded body (curl's default) was read as JSON and created the key; a gzip one was
    called malformed JSON. Both are 415, as for `POST /api/v1/events`."""
    import gzip

    admin = {"Authorization": "Bearer admin-token-0123456789"}
    body = json.dumps({"name": "from-a-form"}).encode()
    for content_type in ("application/x-www-form-urlencoded", "text/plain", None):
        headers = {**admin, **({"Content-Type": content_type} if content_type else {})}
        problem = assert_problem(client.post("/api/v1/keys", content=body, headers=headers), 415)
        assert problem["type"].endswith("/unsupported_media_type")
    zipped = {**admin, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    problem = assert_problem(client.post("/api/v1/keys", content=gzip.compress(body), headers=zipped), 415)
    assert problem["type"].endswith("/unsupported_encoding")
    assert "from-a-form" not in str(client.get("/api/v1/keys", headers=admin).json())
    plain = {**admin, "Content-Type": "application/json; charset=utf-8"}
    assert client.post("/api/v1/keys", content=body, headers=plain).status_code == 201
