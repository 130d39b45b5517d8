"""The query commands' shortcut to the store path: same answer as the full config, same errors, no msgspec."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from devlog_collector.config import Config, StorageConfig, load_config
from devlog_collector.errors import UserError
from devlog_collector.storage_location import STORAGE_KEYS, TOP_LEVEL_KEYS, configured_db_path


@pytest.fixture
def config_file(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = isolated_home / "devlog-config.yaml"
    monkeypatch.setenv("DEVLOG_CONFIG", str(path))
    return path


def write_settled(path: Path, text: str) -> None:
    """Write the config with an mtime old enough for the parse cache to keep it."""
    path.write_text(text)
    old = time.time() - 60
    os.utime(path, (old, old))


def test_the_known_keys_are_the_config_models_keys() -> None:
    assert {f.encode_name for f in msgspec.structs.fields(Config)} == TOP_LEVEL_KEYS
    assert {f.encode_name for f in msgspec.structs.fields(StorageConfig)} == STORAGE_KEYS


@pytest.mark.parametrize(
    "text",
    [
        "",
        "collect:\n  agents: [claude]\n",
        "storage:\n  path: /srv/devlog/\n",
        "storage:\n  path: ~/elsewhere\n  events_db: mine.db\n  retention_days: 30\n",
        "storage:\n  path: ${DEVLOG_TEST_STORE_DIR}/data\n",
        "storage:\n  path: ${DEVLOG_TEST_UNSET_DIR:-/fallback}/data\n",
        "storage:\n  path: ~/.devlog/data/\n",  # the default follows DEVLOG_HOME
    ],
)
def test_same_store_path_as_the_full_config(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str
) -> None:
    monkeypatch.setenv("DEVLOG_TEST_STORE_DIR", str(tmp_path / "from-env"))
    monkeypatch.delenv("DEVLOG_TEST_UNSET_DIR", raising=False)
    write_settled(config_file, text)
    expected = load_config()[0].storage.db_path()
    assert configured_db_path() == expected
    assert configured_db_path() == expected  # again, from the parse cache


def test_no_config_file_means_the_default_store(config_file: Path) -> None:
    assert not config_file.exists()
    assert configured_db_path() == Config().storage.db_path()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("storag:\n  path: /x\n", "storag"),  # a typo at the top level
        ("storage:\n  pth: /x\n", "storage.pth"),
        ("storage:\n  path: 5\n", "storage.path"),
        ("storage: [a, b]\n", "storage"),
        ("storage:\n", "storage"),
        ("- just\n- a list\n", "top level"),
    ],
)
def test_a_config_it_cannot_read_plainly_gets_the_full_configs_error(config_file: Path, text: str, named: str) -> None:
    write_settled(config_file, text)
    with pytest.raises(UserError) as caught:
        load_config()
    with pytest.raises(UserError) as shortcut:
        configured_db_path()
    assert str(shortcut.value) == str(caught.value) and shortcut.value.problems == caught.value.problems
    assert named in str(shortcut.value) + " ".join(shortcut.value.problems)


def test_a_broken_export_section_does_not_stop_a_local_query(config_file: Path, tmp_path: Path) -> None:
    write_settled(config_file, f"storage:\n  path: {tmp_path}/store\nexport:\n  remotes: 5\nexport_default: nowhere\n")
    with pytest.raises(UserError):
        load_config()
    assert configured_db_path() == tmp_path / "store" / "events.db"


def test_bad_yaml_is_named(config_file: Path) -> None:
    write_settled(config_file, "storage: [unclosed\n")
    with pytest.raises(UserError, match="is not valid YAML"):
        configured_db_path()


def test_stats_starts_without_msgspec_or_the_config_model(config_file: Path, tmp_path: Path) -> None:
    """The start-up budget of `devlog stats`: neither is imported (about a tenth of its run time)."""
    from tests.collector.query.helpers import ev, store_with

    db = tmp_path / "store" / "events.db"
    store_with(db, [ev("2026-03-01T10:00:00", "prompt", text="hello", session="s1", ident="p1")]).close()
    write_settled(config_file, f"storage:\n  path: {tmp_path}/store\n")
    script = (
        "import sys\n"
        "from devlog_collector.cli import cli\n"
        "try:\n"
        "    cli.main(['stats', '--by', 'day', '--format', 'json'], prog_name='devlog')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = ('msgspec', 'devlog_shared') + (('ruamel',) if sys.argv[1] == 'cached' else ())\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy or m == 'devlog_collector.config')\n"
        "print(loaded, file=sys.stderr)\n"
        "assert not loaded, loaded\n"
    )
    for run in ("parsed", "cached"):  # the first run parses the YAML (and fills the cache), the second reads it
        done = subprocess.run(
            [sys.executable, "-c", script, run], capture_output=True, text=True, timeout=60, env=dict(os.environ)
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["total"]["events"] == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "storage:\n  path: ${DEVLOG_TEST_UNSET_DIR}\n",
            "storage.path: environment variable DEVLOG_TEST_UNSET_DIR is not set (the path would be empty)",
        ),
        (
            "storage:\n  path: ${DEVLOG_TEST_UNSET_DIR}/data\n",  # it used to put the store at /data
            "storage.path: environment variable DEVLOG_TEST_UNSET_DIR is not set (the path would be '/data')",
        ),
        ('storage:\n  path: ""\n', "storage.path: is empty"),
        ("storage:\n  path: relative/data\n", "storage.path: must be an absolute folder or start with ~"),
        ("storage:\n  path: ~devlog-no-such-user/data\n", "storage.path: no user 'devlog-no-such-user' to expand"),
        ('storage:\n  path: /srv/devlog\n  events_db: ""\n', "storage.events_db: must be a file name"),
        ("storage:\n  path: /srv/devlog\n  events_db: .\n", "storage.events_db: must be a file name"),
        ("storage:\n  path: /srv/devlog\n  events_db: /tmp/x.db\n", "storage.events_db: must be a file name, not"),
        ("storage:\n  path: /srv/devlog\n  events_db: a/b.db\n", "storage.events_db: must be a file name, not a path"),
        ("storage:\n  path: /srv/devlog\n  retention_days: abc\n", "storage.retention_days:"),
        ("storage:\n  path: /srv/devlog\n  min_free_bytes: -1\n", "storage.min_free_bytes:"),
    ],
)
def test_a_store_path_that_cannot_work_is_refused_by_both(config_file: Path, text: str, message: str) -> None:
    """An empty or relative path used to put the store in the current folder (and chmod it 0700)."""
    write_settled(config_file, text + "export:\n  remotes: 5\n")  # a broken export section is not reported
    with pytest.raises(UserError) as shortcut:
        configured_db_path()
    assert [p for p in shortcut.value.problems if p.startswith(message)], shortcut.value.problems
    assert not [p for p in shortcut.value.problems if p.startswith("export")]
    with pytest.raises(UserError) as full:
        load_config()
    assert [p for p in full.value.problems if p.startswith(message)], full.value.problems


def test_an_unset_variable_in_the_store_path_reads_as_the_full_config_does(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queries' shortcut used '' for the variable where the full config refuses the path."""
    monkeypatch.delenv("DEVLOG_TEST_UNSET_DIR", raising=False)
    write_settled(
        config_file,
        f"storage:\n  path: {tmp_path}/d${{DEVLOG_TEST_UNSET_DIR}}\n  events_db: ${{DEVLOG_TEST_UNSET_DIR}}e.db\n",
    )
    with pytest.raises(UserError) as shortcut:
        configured_db_path()
    named = "storage.path: environment variable DEVLOG_TEST_UNSET_DIR"
    assert any(problem.startswith(named) for problem in shortcut.value.problems)


def test_devlog_home_naming_an_unknown_user_is_one_line(monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    from click.testing import CliRunner

    from devlog_collector.cli import cli

    monkeypatch.setenv("DEVLOG_HOME", "~devlog-no-such-user/h")
    result = CliRunner().invoke(cli, ["stats"])
    assert result.exit_code == 2
    assert result.stderr == "error: DEVLOG_HOME: no user 'devlog-no-such-user' to expand in '~devlog-no-such-user/h'\n"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("not sqlite"), "file is not a database"),
        (lambda p: p.write_bytes(b""), "is empty: run `devlog collect` (or `devlog start`) to set it up"),
        (lambda p: p.mkdir(), "is a folder, not a devlog store"),
    ],
)
def test_a_store_file_that_is_not_a_store_is_one_line(
    config_file: Path, tmp_path: Path, make: object, message: str
) -> None:
    from click.testing import CliRunner

    from devlog_collector.cli import cli

    (tmp_path / "junk").mkdir()
    make(tmp_path / "junk" / "events.db")  # type: ignore[operator]
    write_settled(config_file, f"storage:\n  path: {tmp_path}/junk\n")
    for command in (["stats"], ["query"], ["sessions"], ["show", "x"], ["sql", "select 1"]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 1 and message in result.stderr and result.stderr.count("\n") == 1, (command, result)
    status = CliRunner().invoke(cli, ["status", "--json"])
    store = json.loads(status.stdout)["store"]
    if message.startswith("is empty"):  # an empty file: a collector about to migrate it
        assert status.exit_code == 0 and "error" not in store
    else:
        assert status.exit_code == 1 and store["error"].startswith("cannot read the store")


def test_status_shows_a_broken_export_section_as_warnings(config_file: Path) -> None:
    from click.testing import CliRunner

    from devlog_collector.cli import cli

    write_settled(config_file, "export:\n  remotes:\n    team: {url: 'ftp://x'}\n")
    result = CliRunner().invoke(cli, ["status", "--json"])
    assert result.exit_code == 0, result.stderr
    warnings = json.loads(result.stdout)["config"]["warnings"]
    assert any("export.remotes.team.url" in w for w in warnings), warnings


def test_a_store_path_naming_the_store_file_points_at_its_folder(config_file: Path, tmp_path: Path) -> None:
    """The docs print `~/.devlog/data/events.db`; `storage.path` set to it used to pass `config check`
    and look for `.../events.db/events.db`."""
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "events.db").write_bytes(b"")
    write_settled(config_file, f"storage:\n  path: {folder / 'events.db'}\n")
    expected = f"storage.path: names a file ({folder / 'events.db'}), not the folder that holds the store"
    expected += f": did you mean {folder}?"
    with pytest.raises(UserError) as full:
        load_config()
    assert expected in full.value.problems
    write_settled(config_file, f"storage:\n  path: {folder / 'events.db'}/data\n")
    with pytest.raises(UserError) as below:
        configured_db_path()
    assert f"storage.path: cannot be a folder: {folder / 'events.db'} is a file" in below.value.problems


def test_a_devlog_home_that_is_a_file_is_named(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from devlog_collector.cli import cli

    home_file = isolated_home / "afile"
    home_file.write_text("")
    monkeypatch.setenv("DEVLOG_HOME", str(home_file))
    collected = CliRunner().invoke(cli, ["collect"])
    assert collected.exit_code == 1
    assert f"{home_file} is a file, not a folder" in collected.output
    status = CliRunner().invoke(cli, ["status", "--json"])
    assert (
        json.loads(status.output)["store"]["error"]
        == f"the store cannot be created: {home_file} is a file, not a folder"
    )
