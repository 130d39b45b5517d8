"""`devlog demo --force` removes only what a demo manifest records having written, never the user's own files.

The regression: any folder named `claude`, `codex`, `gemini`, `vscode` or `cursor` in DIR counted as
demo data, so `--force` deleted a checkout called `vscode` in a folder that never held a demo.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from devlog_collector import demo
from devlog_collector.cli import cli

END = datetime(2026, 3, 2, tzinfo=UTC)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["demo", *args, "--sessions", "1", "--end", "2026-03-02"])
    return result.exit_code, result.stderr


def tree(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != ".demo.lock"
    }


@pytest.mark.parametrize("name", ["claude", "codex", "gemini", "vscode", "cursor"])
def test_an_agent_named_folder_without_a_manifest_is_never_deleted(tmp_path: Path, name: str) -> None:
    mine = tmp_path / "dir" / name / "src" / "README"
    mine.parent.mkdir(parents=True)
    mine.write_text("my checkout")
    for args in ([], ["--force"], ["--force", "--live", "--iterations", "1", "--interval", "0"]):
        code, stderr = run(str(tmp_path / "dir"), *args)
        assert code == 2, stderr
        assert f"{tmp_path / 'dir' / name} is not devlog demo data" in stderr
        assert "will not delete it" in stderr and "choose another folder" in stderr
        assert "--force" not in stderr  # (never suggest what would be refused)
    assert mine.read_text() == "my checkout"
    assert not (tmp_path / "dir" / demo.MANIFEST_NAME).exists()


def test_a_file_named_like_an_agent_folder_is_not_deleted_either(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "claude").write_text("notes")
    with pytest.raises(demo.DemoError, match="not devlog demo data"):
        demo.generate(tmp_path / "dir", force=True, end=END)
    assert (tmp_path / "dir" / "claude").read_text() == "notes"


def test_force_refuses_a_recorded_folder_holding_files_the_demo_did_not_write(tmp_path: Path) -> None:
    directory = tmp_path / "dir"
    demo.generate(directory, sessions=1, home=tmp_path / "home", end=END)
    before = tree(directory)
    mine = directory / "vscode" / "User" / "settings.json"
    mine.write_text("{}")
    code, stderr = run(str(directory), "--force")
    assert code == 2
    assert "the demo did not write (vscode/User/settings.json)" in stderr and "will not delete them" in stderr
    assert mine.read_text() == "{}"
    assert tree(directory) == {**before, "vscode/User/settings.json": b"{}"}  # nothing removed, nothing written


def test_force_never_follows_a_symlink_out_of_the_demo(tmp_path: Path) -> None:
    directory = tmp_path / "dir"
    demo.generate(directory, sessions=1, home=tmp_path / "home", end=END)
    outside = tmp_path / "real-vscode-user"
    outside.mkdir()
    (outside / "keep.json").write_text("mine")
    user = directory / "vscode" / "User"
    storage = next((user / "workspaceStorage").iterdir())
    # The recorded folder replaced by a link to a folder of the user's that holds the same names.
    (outside / "workspaceStorage").mkdir()
    (storage).rename(outside / "workspaceStorage" / storage.name)
    (user / "workspaceStorage" / storage.name).symlink_to(outside / "workspaceStorage" / storage.name)
    with pytest.raises(demo.DemoError, match=f"workspaceStorage/{storage.name}"):
        demo.generate(directory, sessions=1, home=tmp_path / "home", end=END, force=True)
    assert (outside / "keep.json").read_text() == "mine"
    assert list((outside / "workspaceStorage" / storage.name).rglob("*.json*"))


def test_a_folder_the_manifest_does_not_record_is_not_demo_data(tmp_path: Path) -> None:
    directory = tmp_path / "dir"
    demo.generate(directory, sessions=1, home=tmp_path / "home", end=END)
    manifest = demo.load_manifest(directory)
    manifest["sessions"] = [s for s in manifest["sessions"] if s["agent"] != "copilot"]
    (directory / demo.MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(demo.DemoError, match=r"vscode is not devlog demo data .*does not record it"):
        demo.generate(directory, force=True, end=END)
    assert (directory / "vscode" / "User").is_dir()


@pytest.mark.parametrize(
    "path",
    ["claude/../../victim.txt", "../victim.txt", "/tmp/victim.txt", "claude", "codex/sessions/x.jsonl"],
)
def test_a_manifest_naming_files_outside_its_folders_is_refused(tmp_path: Path, path: str) -> None:
    directory = tmp_path / "a" / "dir"
    demo.generate(directory, sessions=1, home=tmp_path / "home", end=END)
    victim = tmp_path / "a" / "victim.txt"
    victim.write_text("keep")
    before = tree(directory)
    manifest = demo.load_manifest(directory)
    manifest["sessions"][0] = {**manifest["sessions"][0], "agent": "claude", "path": path}
    (directory / demo.MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(demo.DemoError, match="will not delete anything in"):
        demo.generate(directory, force=True, end=END)
    assert victim.read_text() == "keep"
    assert {k: v for k, v in tree(directory).items() if k != demo.MANIFEST_NAME} == {
        k: v for k, v in before.items() if k != demo.MANIFEST_NAME
    }


def test_an_unreadable_manifest_refuses_force_and_deletes_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "dir"
    demo.generate(directory, sessions=1, home=tmp_path / "home", end=END)
    (directory / demo.MANIFEST_NAME).write_text("{not json")
    before = tree(directory)
    code, stderr = run(str(directory), "--force")
    assert code == 2
    assert "cannot read" in stderr and "will not delete anything in" in stderr
    assert tree(directory) == before


def test_force_replaces_a_demo_with_live_steps_and_leaves_nothing_behind(tmp_path: Path) -> None:
    """Every file a demo writes (history and live steps) is one its manifest accounts for."""
    home = tmp_path / "home"
    directory = tmp_path / "dir"
    demo.generate(directory, seed=3, home=home, end=END)
    for _ in range(8):
        demo.live_step(directory)
    demo.generate(directory, seed=5, sessions=2, home=home, end=END, force=True)
    demo.generate(tmp_path / "fresh", seed=5, sessions=2, home=home, end=END)
    assert tree(directory) == tree(tmp_path / "fresh")
    assert sorted(p.name for p in directory.iterdir()) == sorted(p.name for p in (tmp_path / "fresh").iterdir())


def test_without_force_an_existing_demo_is_kept_and_force_is_suggested(tmp_path: Path) -> None:
    directory = tmp_path / "dir"
    demo.generate(directory, sessions=1, home=tmp_path / "home", end=END)
    before = tree(directory)
    code, stderr = run(str(directory))
    assert code == 2
    assert "already holds demo data" in stderr and "--force" in stderr
    assert tree(directory) == before


def test_an_interrupted_demo_is_recorded_for_force(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "dir"
    home = tmp_path / "home"
    real_create = demo._create
    calls = 0

    def failing_create(root: Path, session: demo.Session, turns: list[demo.Turn], *, legacy: bool) -> None:
        nonlocal calls
        calls += 1
        if calls == 7:
            raise KeyboardInterrupt
        real_create(root, session, turns, legacy=legacy)

    monkeypatch.setattr(demo, "_create", failing_create)
    with pytest.raises(KeyboardInterrupt):
        demo.generate(directory, sessions=2, home=home, end=END)
    monkeypatch.setattr(demo, "_create", real_create)
    manifest = demo.load_manifest(directory)
    assert manifest["incomplete"] is True and len(manifest["sessions"]) == 6
    with pytest.raises(demo.DemoError, match=r"not completely written; run `devlog demo .* --force`"):
        demo.live_step(directory)
    demo.generate(directory, sessions=2, home=home, end=END, force=True)
    demo.generate(tmp_path / "fresh", sessions=2, home=home, end=END)
    assert tree(directory) == tree(tmp_path / "fresh")


def test_the_summary_counts_only_workspaces_that_got_a_session(tmp_path: Path) -> None:
    args = ["demo", str(tmp_path / "demo"), "--sessions", "1", "--home", str(tmp_path), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    by_workspace = json.loads(result.stdout)["sessions_by_workspace"]
    used = sum(1 for count in by_workspace.values() if count)
    assert 0 < used < len(by_workspace)  # (one session per agent leaves some workspaces empty)
    assert f" in {used} workspaces under " in result.stderr
