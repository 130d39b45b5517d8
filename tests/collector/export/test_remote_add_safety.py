"""`devlog remote add` on the files and values a new user really has: a symlinked or read-only
config, a folder devlog cannot write, a key pasted where its variable's name belongs, url
credentials beside an api key, names that differ only in case, broken YAML.

Real files, the real CLI (click's CliRunner, or a subprocess without root's permission override).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from devlog_collector.cli import cli
from devlog_collector.paths import config_path

PASTED_KEY = "dvl_abcdefghijklmnopqrstuvwxyz123456"
ORIGINAL = "collect:\n  agents: [claude]   # mine\n"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def add(*extra: str, name: str = "team", url: str = "https://example.com") -> tuple[int, str, str]:
    return invoke("remote", "add", name, url, "--include", "~/w/**", *extra)


@pytest.fixture
def config_file() -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ORIGINAL)
    return path


def test_a_symlinked_config_is_edited_where_it_points_and_stays_a_link(tmp_path: Path) -> None:
    """The link was replaced by a regular file; the dotfile it pointed at never got the remote."""
    dotfile = tmp_path / "dotfiles" / "devlog.yaml"
    dotfile.parent.mkdir()
    dotfile.write_text(ORIGINAL)
    dotfile.parent.chmod(0o755)
    link = config_path()
    link.parent.mkdir(parents=True)
    link.symlink_to(dotfile)
    code, _, err = add()
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(dotfile)
    assert "team:" in dotfile.read_text() and "# mine" in dotfile.read_text()
    assert stat.S_IMODE(dotfile.parent.stat().st_mode) == 0o755  # the user's folder is not made private
    assert [p.name for p in dotfile.parent.iterdir()] == ["devlog.yaml"]  # no temp file left


def test_a_read_only_config_is_refused_not_replaced(config_file: Path) -> None:
    """A 0444 config was silently replaced by a writable 0600 file."""
    config_file.chmod(0o444)
    code, _, err = add()
    assert code == 2
    assert err == (
        f"error: {config_file} is read-only, so devlog does not change it: make it writable "
        f"(chmod u+w {config_file}) and run the command again, or edit it by hand\n"
    )
    assert config_file.read_text() == ORIGINAL and stat.S_IMODE(config_file.stat().st_mode) == 0o444


_SETPRIV = "/usr/bin/setpriv"
_NO_OVERRIDE = "-dac_override,-dac_read_search,-fowner"


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(_SETPRIV), reason="needs root and setpriv")
def test_a_config_folder_devlog_cannot_write_is_one_error_line(tmp_path: Path) -> None:
    """tempfile.mkstemp's PermissionError came out as a traceback. (Run without root's permission
    override, as a normal user would; the folder belongs to someone else, so it cannot be chmodded.)"""
    folder = tmp_path / "cfgdir"
    folder.mkdir()
    config = folder / "config.yaml"
    config.write_text(ORIGINAL)
    os.chown(folder, 65534, 65534)
    folder.chmod(0o555)
    env = {**os.environ, "DEVLOG_HOME": str(tmp_path / "home"), "DEVLOG_CONFIG": str(config)}
    command = [_SETPRIV, f"--inh-caps={_NO_OVERRIDE}", f"--bounding-set={_NO_OVERRIDE}", sys.executable, "-m",
               "devlog_collector", "remote", "add", "team", "https://example.com", "--include", "~/w/**"]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: cannot write {config}: Permission denied"), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert config.read_text() == ORIGINAL


@pytest.mark.parametrize(
    ("value", "secret"),
    [(PASTED_KEY, "abcdefghijklmnop"), ("aB3dE6gH9jK2mN5pQ8rS", "aB3dE6gH9jK2"), ("sk-proj-abc123def456", "abc123"),
     ("$MY_TEAM_KEY", "MY_TEAM_KEY"), ("my team key", "my team key")],
)  # fmt: skip
def test_a_key_pasted_as_api_key_env_is_refused_without_echoing_it(config_file: Path, value: str, secret: str) -> None:
    """It was written into config.yaml as `${dvl_...}` and printed by every later command."""
    code, out, err = add("--api-key-env", value)
    assert code == 2
    assert err.startswith("error: --api-key-env takes the name of the environment variable that holds the key")
    assert secret not in out + err
    assert config_file.read_text() == ORIGINAL


def test_the_example_variable_is_named_after_the_remote(config_file: Path) -> None:
    """It said DEVLOG_TEAM_API_KEY whatever the remote was called."""
    code, _, err = add("--api-key-env", PASTED_KEY, name="my-personal.box")
    assert code == 2
    assert "export DEVLOG_MY_PERSONAL_BOX_API_KEY=<key>, then pass --api-key-env DEVLOG_MY_PERSONAL_BOX_API_KEY" in err


def test_ordinary_variable_names_are_still_accepted(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEVLOG_TEAM_API_KEY", raising=False)
    code, _, err = add("--api-key-env", "DEVLOG_TEAM_API_KEY")
    assert code == 0, err
    assert "api_key: ${DEVLOG_TEAM_API_KEY}" in config_file.read_text()
    assert "note: $DEVLOG_TEAM_API_KEY is not set in this environment" in err


def test_url_credentials_with_an_unset_api_key_variable_are_refused(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accepted (exit 0) while K2 was unset; once K2 was set the config was invalid."""
    monkeypatch.delenv("DEVLOG_TEST_K2", raising=False)
    code, _, err = add("--api-key-env", "DEVLOG_TEST_K2", name="p2", url="https://bob:pw123@example.com")
    assert code == 2
    assert "not changed" in err and "export.remotes.p2.url: has a user name or password as well as an api_key" in err
    assert "pw123" not in err and config_file.read_text() == ORIGINAL


def test_a_remote_name_that_differs_only_in_case_is_refused(config_file: Path) -> None:
    assert add()[0] == 0
    code, _, err = add(name="Team", url="https://other.example")
    assert code == 2 and "remote 'Team' differs from the existing remote 'team' only in case" in err
    assert "Team:" not in config_file.read_text()


def test_a_yaml_error_reads_as_config_check_words_it(config_file: Path) -> None:
    """`remote add` printed ruamel's raw text (`in "<unicode string>", line 3 ...`)."""
    config_file.write_text("collect:\n  agents: [claude\n bad: 1\n")
    code, _, err = add()
    assert code == 2
    check_code, _, check_err = invoke("config", "check")
    assert check_code == 2
    problem = (
        "  - line 3, column 5: expected ',' or ']', but got ':' (while parsing a flow sequence that starts at line 2)"
    )
    assert err == check_err == f"error: {config_file} is not valid YAML\n{problem}\n"
