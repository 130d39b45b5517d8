"""Export routing keeps a UNC share (`//server/share/x`, as the collector stores a Windows network
folder) apart from the local folder `/server/share/x`, as the server's key globs do: wcmatch folds
`//` into `/`, so a remote including `/server/share/**` was sent the share's events too."""

from __future__ import annotations

import pytest

from devlog_collector.config import parse_config
from devlog_collector.errors import UserError
from devlog_collector.export.routing import Router


def _router(include: list[str], exclude: list[str] | None = None) -> Router:
    remote = {"url": "http://127.0.0.1:9", "workspaces": {"include": include, "exclude": exclude or []}}
    config, _ = parse_config({"export": {"remotes": {"r": remote}}})
    return Router(config)


@pytest.mark.parametrize(
    ("include", "selected", "not_selected"),
    [
        (["/server/share/**"], ["/server/share/proj"], ["//server/share/proj", "//server/share"]),
        (["//server/share/**"], ["//server/share/proj", "//server/share"], ["/server/share/proj"]),
        (["**/share/**"], ["//server/share/proj", "/server/share/proj"], ["/server/other"]),
    ],
)
def test_a_unc_share_and_the_local_folder_of_the_same_name_are_routed_apart(
    include: list[str], selected: list[str], not_selected: list[str]
) -> None:
    router = _router(include)
    assert all(router.matches("r", w) for w in selected), selected
    assert not any(router.matches("r", w) for w in not_selected), not_selected


def test_excluding_the_local_folder_leaves_the_share_and_the_other_way_round() -> None:
    router = _router(["**"], ["/server/share/**"])
    assert router.matches("r", "//server/share/proj") and not router.matches("r", "/server/share/proj")
    router = _router(["**"], ["//server/share/**"])
    assert router.matches("r", "/server/share/proj") and not router.matches("r", "//server/share/proj")


def test_a_doubled_slash_inside_a_glob_is_refused() -> None:
    with pytest.raises(UserError, match="has // inside it"):
        _router(["/server//share/**"])


@pytest.mark.parametrize(
    ("exclude", "kept_private"),
    [
        ("e:\\Workspace\\personal\\**", "E:/Workspace/personal/wintool"),
        ("e:/Workspace/personal/**", "E:/Workspace/personal/wintool"),
        ("E:\\Workspace\\personal", "E:/Workspace/personal"),
        ("\\\\fileserver\\share\\private\\**", "//fileserver/share/private/notes"),
        ("//fileserver\\share\\private\\**", "//fileserver/share/private/notes"),
        ("**\\personal\\**", "E:/Workspace/personal/wintool"),
        ("?:\\Workspace\\personal\\**", "E:/Workspace/personal/wintool"),
        ("[eE]:\\Workspace\\personal\\**", "E:/Workspace/personal/wintool"),
    ],
)
def test_a_glob_spelt_the_windows_way_matches_as_the_workspace_is_stored(exclude: str, kept_private: str) -> None:
    """Stored Windows workspaces have an upper-case drive and forward slashes (`E:/Workspace/...`); an
    exclude written `e:\\Workspace\\personal\\**` was accepted and matched nothing, so the private
    workspace was exported (a new-user test)."""
    router = _router(["**"], [exclude])
    assert not router.matches("r", kept_private)
    assert router.matches("r", "E:/Workspace/work/api") and router.matches("r", "//fileserver/share/team")
    assert _router([exclude]).matches("r", kept_private)  # (and as an include it selects it)


def test_a_backslash_in_a_posix_glob_still_escapes() -> None:
    router = _router(["/logs/\\*literal/**"])
    assert router.matches("r", "/logs/*literal/a") and not router.matches("r", "/logs/xliteral/a")
