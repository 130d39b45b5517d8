"""Security defaults of the local files: the store and config are 0600 inside a 0700 home directory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from devlog_collector.cli import cli
from devlog_collector.paths import config_path, home_dir
from devlog_collector.store import Store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_files_are_private_in_a_private_home() -> None:
    db = home_dir() / "data" / "events.db"
    store = Store.open(db)
    store.acquire_writer_lock()
    try:
        store.commit([])
        assert mode(home_dir()) == 0o700
        assert mode(db.parent) == 0o700
        assert mode(db) == 0o600
        for suffix in ("-wal", "-shm", ".lock"):
            sidecar = Path(f"{db}{suffix}")
            if sidecar.exists():
                assert mode(sidecar) == 0o600, sidecar
    finally:
        store.close()


def test_config_written_by_remote_add_is_private(monkeypatch) -> None:
    monkeypatch.setenv("TEAM_KEY", "dvl_secretvalue_1234567890")
    result = CliRunner().invoke(
        cli, ["remote", "add", "team", "http://127.0.0.1:9", "--api-key-env", "TEAM_KEY", "--include", "~/work/**"]
    )
    assert result.exit_code == 0, result.output
    path = config_path()
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    text = path.read_text()
    assert "${TEAM_KEY}" in text and "dvl_secretvalue" not in text
    shown = CliRunner().invoke(cli, ["config", "show"])
    assert shown.exit_code == 0 and "dvl_secretvalue_1234567890" not in shown.output


def test_folders_that_already_exist_keep_their_mode(tmp_path: Path, monkeypatch) -> None:
    """Only folders devlog creates are made 0700: a shared one (a sticky /tmp-like folder, a home the
    user set up) is not devlog's to tighten."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    home = tmp_path / "devlog-home"
    home.mkdir()
    home.chmod(0o755)
    monkeypatch.setenv("DEVLOG_HOME", str(home))
    store = Store.open(shared / "events.db")
    store.close()
    created = Store.open(shared / "new" / "deeper" / "events.db")
    created.close()
    Store.open(home / "data" / "events.db").close()
    assert mode(shared) == 0o1777
    assert mode(home) == 0o755
    assert mode(shared / "new") == 0o700 and mode(shared / "new" / "deeper") == 0o700
    assert mode(home / "data") == 0o700
    assert mode(shared / "events.db") == 0o600


def test_a_relative_devlog_home_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEVLOG_HOME", "rel")
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code != 0
    assert "DEVLOG_HOME must be an absolute path" in result.output
    assert not (tmp_path / "rel").exists()


def _read_only_mount() -> Path | None:
    """A folder on a file system mounted read-only on this machine, if there is one."""
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 3 and "ro" in fields[3].split(",") and Path(fields[1]).is_dir():
            return Path(fields[1])
    return None


def test_a_store_that_cannot_be_written_says_why(tmp_path: Path) -> None:
    from devlog_collector.store import _why_read_only

    assert _why_read_only(tmp_path) == "it is read-only for this user (check its owner and mode)"
    mount = _read_only_mount()
    if mount is None:
        pytest.skip("no read-only mount on this machine")
    assert _why_read_only(mount) == "its file system is mounted read-only"
