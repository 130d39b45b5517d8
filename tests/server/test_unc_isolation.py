"""A UNC share (`//server/share`) and the local folder `/server/share` are different workspaces for
a key's globs: wcmatch folds `//` into `/`, so a key limited to one could write and read the other."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from devlog_server.globs import WorkspaceMatcher, glob_problem
from tests.server.conftest import auth, bootstrap_spec, event, post


@pytest.mark.parametrize(
    ("patterns", "allowed", "denied"),
    [
        (["/srv/a/**"], ["/srv/a", "/srv/a/x"], ["//srv/a", "//srv/a/x"]),
        (["//srv/b/**"], ["//srv/b", "//srv/b/x"], ["/srv/b", "/srv/b/x", "//srv/c"]),
        (["~/work/**"], ["/home/al/work/x"], ["//home/al/work/x"]),
        (["**/share/**"], ["//srv/share/x", "/mnt/share"], ["/mnt/other"]),  # a leading wildcard: both kinds
    ],
)
def test_unc_shares_and_local_folders_are_matched_apart(
    patterns: list[str], allowed: list[str], denied: list[str]
) -> None:
    matcher = WorkspaceMatcher(patterns)
    assert all(matcher.allows(w) for w in allowed), allowed
    assert not any(matcher.allows(w) for w in denied), denied


def test_a_doubled_slash_inside_a_glob_is_refused_at_key_creation() -> None:
    assert glob_problem("//srv/share/**") is None
    assert "//" in (glob_problem("/srv//a/**") or "")
    assert "//" in (glob_problem("{//srv/a,/srv/b}/**") or "")


def test_keys_cannot_write_or_read_across_the_unc_and_local_spellings(client_factory: Any) -> None:
    spec = bootstrap_spec() + ",unc:unc-token-0123456789:ingest+read://srv/b/**"
    client: TestClient[Any] = client_factory(bootstrap_keys=spec)
    assert post(client, [event(1, workspace="/srv/b"), event(2, workspace="//srv/a")]).status_code == 200
    # the `srv` key (`/srv/**`) may not write into the share //srv/a ...
    refused = post(client, [event(3, workspace="//srv/a/x")], key="srv")
    assert refused.status_code == 422 and [r["reason"] for r in refused.json()["results"]] == ["forbidden_workspace"]
    # ... nor read it; the `unc` key (`//srv/b/**`) may not read the local folder /srv/b
    seen = client.get("/api/v1/events", headers=auth("srv")).json()["events"]
    assert {e["workspace"] for e in seen} == {"/srv/b"}
    unc = client.get("/api/v1/events", headers={"Authorization": "Bearer unc-token-0123456789"}).json()["events"]
    assert unc == []
    written = client.post(
        "/api/v1/events",
        json={"events": [event(4, workspace="/srv/b/y")]},
        headers={"Authorization": "Bearer unc-token-0123456789"},
    )
    assert written.status_code == 422


def test_a_server_key_glob_spelt_the_windows_way_matches_as_the_server_stores_workspaces() -> None:
    """`keys create --workspace 'c:/Users/**'` was accepted and then refused `C:/Users/...` events."""
    from devlog_server.globs import WorkspaceMatcher

    for spelling in ("c:/Users/**", "c:\\Users\\**"):
        matcher = WorkspaceMatcher([spelling])
        assert matcher.allows("C:/Users/dev/work/winproj") and not matcher.allows("D:/Users/dev")


def test_a_share_glob_written_the_windows_way_is_a_key_glob() -> None:
    """`keys create --workspace '\\\\server\\share\\**'` was refused as relative."""
    from devlog_server.globs import WorkspaceMatcher, glob_problem

    assert glob_problem("\\\\server\\share\\**") is None
    matcher = WorkspaceMatcher(["\\\\server\\share\\**"])
    assert matcher.allows("//server/share/x") and not matcher.allows("/server/share/x")
