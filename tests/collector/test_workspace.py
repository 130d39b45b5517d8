"""Workspace normalisation, git metadata read from files, machine id and user."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devlog_collector.workspace import (
    WorkspaceResolver,
    machine_id,
    normalise_remote,
    normalise_workspace,
    read_git_info,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/home/dev/x/", "/home/dev/x"),
        ("/home/dev/./x/../y", "/home/dev/y"),
        ("/home//dev//x", "/home/dev/x"),
        ("/", "/"),
        ("  /a/b  ", "/a/b"),
        ("", ""),
        ("e:\\Workspace\\x", "E:/Workspace/x"),
        ("E:/Workspace/x/", "E:/Workspace/x"),
        ("e:\\Workspace\\x\\..\\y\\", "E:/Workspace/y"),
        ("/c:/Users/dev/proj", "C:/Users/dev/proj"),
        ("c:", "C:/"),
        ("\\\\server\\share\\proj\\", "//server/share/proj"),
        ("//server/share/proj/", "//server/share/proj"),
        ("file:///home/dev/my%20proj", "/home/dev/my proj"),
        ("file:///c%3A/Users/dev", "C:/Users/dev"),
    ],
)
def test_normalise_workspace(raw: str, expected: str) -> None:
    assert normalise_workspace(raw) == expected


def test_normalise_expands_home_and_relative(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert normalise_workspace("~/work/x/") == str(Path.home() / "work" / "x")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert normalise_workspace("~/work") == str(tmp_path / "work")  # not served from a stale cache
    monkeypatch.chdir(tmp_path)
    assert normalise_workspace("rel/dir") == str(tmp_path / "rel" / "dir")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("git@github.com:acme/api.git", "https://github.com/acme/api"),
        ("ssh://git@github.com:22/acme/api.git", "https://github.com/acme/api"),
        ("https://user:s3cret-token@github.com/acme/api.git", "https://github.com/acme/api"),
        ("https://oauth2:tok@gitlab.example.com:8443/g/sub/p.git/", "https://gitlab.example.com:8443/g/sub/p"),
        ("git://example.org/x/y", "https://example.org/x/y"),
        ("http://intranet/x/y.git", "http://intranet/x/y"),
        ("/srv/git/project.git", "/srv/git/project"),
        ("file:///srv/git/project.git", "/srv/git/project"),
        ("", None),
    ],
)
def test_normalise_remote(url: str, expected: str | None) -> None:
    assert normalise_remote(url) == expected


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "acme-api"
    path.mkdir()
    _git("init", "-q", "-b", "main", cwd=path)
    _git("-c", "user.email=a@b", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "one", cwd=path)
    _git("remote", "add", "origin", "https://ci:tok@github.com/acme/api.git", cwd=path)
    _git("remote", "add", "backup", "git@backup.example:acme/api.git", cwd=path)
    return path


def test_git_info_read_from_files_matches_git(repo: Path) -> None:
    (repo / "pkg").mkdir()
    project, git = read_git_info(str(repo / "pkg"))
    assert project == "acme-api"
    assert git is not None
    assert git.branch == "main"
    assert git.commit == _git("rev-parse", "HEAD", cwd=repo)
    assert git.remote == "https://github.com/acme/api"


def test_git_packed_refs_detached_and_worktree(repo: Path, tmp_path: Path) -> None:
    head = _git("rev-parse", "HEAD", cwd=repo)
    _git("pack-refs", "--all", cwd=repo)
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert read_git_info(str(repo))[1].commit == head  # type: ignore[union-attr]
    worktree = tmp_path / "acme-api-feature"
    _git("worktree", "add", "-q", "-b", "feature", str(worktree), cwd=repo)
    project, git = read_git_info(str(worktree))
    assert project == "acme-api"  # worktrees group with their main repository
    assert git is not None
    assert (git.branch, git.commit, git.remote) == ("feature", head, "https://github.com/acme/api")
    _git("checkout", "-q", "--detach", cwd=repo)
    _, detached = read_git_info(str(repo))
    assert detached is not None
    assert (detached.branch, detached.commit) == (None, head)


def test_outside_git_and_resolver_cache(tmp_path: Path, repo: Path) -> None:
    plain = tmp_path / "scratch"
    plain.mkdir()
    assert read_git_info(str(plain)) == (None, None)
    now = [0.0]
    resolver = WorkspaceResolver(ttl=5, clock=lambda: now[0])
    info = resolver.resolve(str(repo))
    assert info.git is not None
    assert info.git.branch == "main"
    _git("checkout", "-q", "-b", "other", cwd=repo)
    assert resolver.resolve(str(repo)).git.branch == "main"  # type: ignore[union-attr]  # cached
    now[0] = 6
    assert resolver.resolve(str(repo)).git.branch == "other"  # type: ignore[union-attr]
    assert resolver.resolve(str(plain)).project == "scratch"
    assert resolver.resolve("E:/Workspace/proj").project == "proj"
    assert resolver.resolve("/does/not/exist/proj").project == "proj"


def test_machine_id_is_stable_hashed_and_overridable(monkeypatch: pytest.MonkeyPatch) -> None:
    machine_id.cache_clear()
    first = machine_id()
    machine_id.cache_clear()
    assert machine_id() == first
    assert len(first) == 16
    assert int(first, 16) >= 0
    if Path("/etc/machine-id").exists():
        assert Path("/etc/machine-id").read_text().strip() not in first
    monkeypatch.setenv("DEVLOG_MACHINE_ID", "laptop-7")
    machine_id.cache_clear()
    assert machine_id() == "laptop-7"
    machine_id.cache_clear()


def test_a_relative_folder_an_agent_recorded_is_no_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not the directory devlog runs in: an export rule for ~/work/** must not pick such events up
    because `devlog collect` was started from a work folder."""
    from devlog_collector.collect import Collector
    from devlog_collector.store import Store
    from tests.collector.collect_helpers import line, make_config

    work = tmp_path / "work" / "team-repo"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    assert normalise_workspace(".", relative_to_cwd=False) == ""
    assert normalise_workspace("sub/dir", relative_to_cwd=False) == ""
    assert normalise_workspace(".") == str(work)  # a user's `-w .` filter still means this folder
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(line(1, cwd=".") + line(2, cwd="relative/path") + line(3, cwd="/srv/app/"))
    config = make_config(logs)
    with Store.open(config.storage.db_path()) as store:
        Collector(store, config).collect()
        stored = [row[0] for row in store.db.execute("SELECT workspace FROM events ORDER BY ts")]
    assert stored == [None, None, "/srv/app"]


@pytest.mark.parametrize(
    ("path", "workspace", "expected"),
    [
        ("c:\\Users\\dev\\Shop\\Program.cs", "C:/Users/dev/Shop", "C:/Users/dev/Shop/Program.cs"),
        ("c:/Users/dev/My Proj/src/api.ts", "C:/Users/dev/My Proj", "C:/Users/dev/My Proj/src/api.ts"),
        ("src/app.py", "/home/dev/acme-api", "/home/dev/acme-api/src/app.py"),  # Cursor's target_file
        ("src\\app.py", "C:/Users/dev/Shop", "C:/Users/dev/Shop/src/app.py"),
        ("../lib/x.py", "/home/dev/acme-api", "/home/dev/lib/x.py"),
        ("/srv/app/./a//b.py", None, "/srv/app/a/b.py"),
        ("file:///home/dev/a%20b.py", None, "/home/dev/a b.py"),
        ("src/app.py", None, "src/app.py"),  # no workspace: as recorded
        ("~/notes.md", "/home/dev/w", "~/notes.md"),  # whose home? as recorded
        ("", "/home/dev/w", ""),
    ],
)
def test_file_paths_are_spelled_like_workspaces(path: str, workspace: str | None, expected: str) -> None:
    from devlog_collector.workspace import normalise_file_path

    assert normalise_file_path(path, workspace) == expected


def test_collected_file_edits_carry_one_spelling_per_file(tmp_path: Path) -> None:
    """The same file edited from a Windows shell and from another agent, and a relative path, are
    stored as the workspace would be spelled, under the (normalised) workspace."""
    import json

    from devlog_collector.collect import Collector
    from devlog_collector.config import parse_config
    from devlog_collector.store import Store
    from tests.collector.collect_helpers import MAPPING

    logs = tmp_path / "logs"
    logs.mkdir()
    records = [
        {"uuid": "e1", "ts": "2026-03-01T10:00:00Z", "sid": "s", "kind": "file_edit", "cwd": "c:\\Users\\dev\\Shop",
         "file": "c:\\Users\\dev\\Shop\\Program.cs"},
        {"uuid": "e2", "ts": "2026-03-01T10:01:00Z", "sid": "s", "kind": "file_edit", "cwd": "C:/Users/dev/Shop/",
         "file": "Program.cs"},
    ]  # fmt: skip
    (logs / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    source = {"name": "g", "glob": str(logs / "*.jsonl"), "mapping": {**MAPPING, "file_path": "file"}}
    storage = {"path": str(tmp_path / "store"), "min_free_bytes": 0}
    config, _ = parse_config({"collect": {"agents": [], "generic": [source]}, "storage": storage})
    with Store.open(config.storage.db_path()) as store:
        Collector(store, config).collect()
        stored = store.db.execute("SELECT workspace, file_path FROM events ORDER BY ts").fetchall()
    assert stored == [("C:/Users/dev/Shop", "C:/Users/dev/Shop/Program.cs")] * 2
