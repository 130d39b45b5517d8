"""Config mistakes a new user makes, each refused (or warned about) naming the key, through the real CLI.

Each test writes a real config.yaml and runs `devlog config check|show` (or `remote list`) with click's
CliRunner, as a user would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from devlog_collector.cli import cli
from devlog_collector.paths import config_path

PASTED_KEY = "dvl_abcdefghijklmnopqrstuvwxyz123456"  # a key pasted where a variable's name belongs


def run(text: str, *args: str) -> tuple[int, str, str]:
    """`devlog <args>` (default `config check`) against a config file holding `text`."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    result = CliRunner().invoke(cli, list(args or ("config", "check")), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


GENERIC = (
    "collect:\n  agents: []\n  generic:\n    - {{name: aider, glob: '{glob}', mapping: {{ts: t, session_id: s}}}}\n"
)


def test_a_relative_generic_glob_is_refused_naming_its_key(tmp_path: Path) -> None:
    """It was accepted and read relative to the folder devlog ran in (roots refuse that already)."""
    code, _, err = run(GENERIC.format(glob="logs/**/*.jsonl"))
    assert code == 2, err
    assert "collect.generic[0].glob: glob 'logs/**/*.jsonl' is relative" in err
    for fine in (f"{tmp_path}/logs/**/*.jsonl", "~/logs/**/*.jsonl"):
        code, _, err = run(GENERIC.format(glob=fine))
        assert code == 0, err


@pytest.mark.parametrize(
    ("text", "key", "would_be"),
    [
        ("storage:\n  path: ${DEVLOG_TEST_UNSET}/devlog\n", "storage.path", "'/devlog'"),
        ("collect:\n  roots:\n    claude: ['~/.claude', '${DEVLOG_TEST_UNSET}/claude']\n",
         "collect.roots.claude[1]", "'/claude'"),
        (GENERIC.format(glob="${DEVLOG_TEST_UNSET}/logs/*.jsonl"), "collect.generic[0].glob", "'/logs/*.jsonl'"),
        ("storage:\n  path: ${DEVLOG_TEST_UNSET}\n", "storage.path", "empty"),
    ],
)  # fmt: skip
def test_an_unset_variable_in_a_path_is_an_error_naming_the_key_and_the_variable(
    monkeypatch: pytest.MonkeyPatch, text: str, key: str, would_be: str
) -> None:
    """`storage.path: ${XDG_DATA_HOME}/devlog` with the variable unset put the store at `/devlog`,
    with only a warning (docs/collector.md promised unset variables never move a path)."""
    monkeypatch.delenv("DEVLOG_TEST_UNSET", raising=False)
    for args in (("config", "check"), ("config", "show")):
        code, out, err = run(text, *args)
        assert code == 2, (out, err)
        assert (
            f"  - {key}: environment variable DEVLOG_TEST_UNSET is not set (the path would be {would_be}): set it, "
            "or give it a default, e.g. " in err
        ), err
        assert err.count("\n  - ") == 1, err  # that one problem (not also "is empty" or "is relative")
        assert "store: /devlog" not in out


def test_a_default_for_an_unset_variable_in_a_path_still_works(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DEVLOG_TEST_UNSET", raising=False)
    code, out, err = run(
        f"storage:\n  path: ${{DEVLOG_TEST_UNSET:-{tmp_path}/xdg}}/devlog\n", "config", "show", "--json"
    )
    assert code == 0 and err == ""
    assert json.loads(out)["storage"]["path"] == f"{tmp_path}/xdg/devlog"
    # Outside paths an unset variable stays a warning.
    code, out, err = run("export:\n  remotes:\n    t: {url: 'http://127.0.0.1:9', api_key: '${DEVLOG_TEST_UNSET}'}\n")
    assert code == 0 and "warning: export.remotes.t.api_key: environment variable DEVLOG_TEST_UNSET is not set" in err


def test_a_variable_name_that_looks_like_a_key_is_never_printed() -> None:
    """A key pasted as `${dvl_...}` was printed by every command in "environment variable dvl_... is
    not set"."""
    text = f"export:\n  remotes:\n    team: {{url: 'https://example.com', api_key: '${{{PASTED_KEY}}}'}}\n"
    printed = []
    for args in (("config", "check"), ("config", "show"), ("remote", "list")):
        code, out, err = run(text, *args)
        assert code == 0, err
        printed += [out, err]
    assert "environment variable dvl_…3456 is not set; that name looks like an API key itself" in printed[1]
    assert not [text for text in printed if PASTED_KEY in text or "abcdefghijklmnop" in text]


def test_url_credentials_with_an_api_key_variable_are_refused_set_or_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """Accepted while K2 was unset; the day K2 was set the whole export section became invalid."""
    monkeypatch.delenv("DEVLOG_TEST_K2", raising=False)
    code, _, err = run(
        "export:\n  remotes:\n    p2: {url: 'https://bob:pw123@example.com', api_key: '${DEVLOG_TEST_K2}'}\n"
    )
    assert code == 2
    assert "export.remotes.p2.url: has a user name or password as well as an api_key" in err
    assert "pw123" not in err


def test_every_bad_root_is_named_by_its_own_key_with_its_agents_example() -> None:
    """Only the first bad root was listed, under `collect.roots: codex: ...`, with Claude's example."""
    code, _, err = run("collect:\n  roots:\n    codex: ['', 'rel/codex']\n    gemini: ['~/.gemini', '']\n")
    assert code == 2
    assert "  - collect.roots.codex[0]: a root is empty: give codex's folder, e.g. ~/.codex\n" in err
    assert "  - collect.roots.codex[1]: root 'rel/codex' is relative" in err
    assert "  - collect.roots.gemini[1]: a root is empty: give gemini's folder, e.g. ~/.gemini\n" in err
    assert "~/.claude" not in err


def test_yes_for_a_boolean_says_use_true_or_false() -> None:
    code, _, err = run("collect:\n  enabled: yes\n")
    assert code == 2 and "collect.enabled: Expected `bool`, got `str`: use true or false" in err


def test_a_bad_generic_source_name_is_explained_in_words_not_a_regex(tmp_path: Path) -> None:
    code, _, err = run(f"collect:\n  generic:\n    - {{name: My Agent, glob: '{tmp_path}/*.jsonl', "
                       "mapping: {ts: t, session_id: s}}\n")  # fmt: skip
    assert code == 2
    assert (
        "collect.generic[0].name: 'My Agent' is not a valid name: use lower-case letters, digits, '.', '_' or '-', "
        "starting with a letter or digit" in err
    )
    assert "regex" not in err and "[a-z0-9]" not in err


def test_remote_names_that_differ_only_in_case_are_refused() -> None:
    code, _, err = run(
        "export:\n  remotes:\n    team: {url: 'https://a.example'}\n    Team: {url: 'https://b.example'}\n"
    )
    assert code == 2 and "export.remotes.Team: differs from remote 'team' only in case" in err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "https://127.0.0.1:99999/",
            "'https://127.0.0.1:99999/' has an invalid port: a port is a number from 1 to 65535",
        ),
        ("http://127.0.0.1:0/", "'http://127.0.0.1:0/' has an invalid port"),
        ("http://h:8o8o/", "'http://h:8o8o/' has an invalid port"),
        ("http://exa mple.com/", "the host in 'http://exa mple.com/' has a space in it"),
        ("http://[::1/", "'http://[::1/' is not a valid URL"),
    ],
)
def test_a_remote_url_with_a_bad_port_or_a_space_in_the_host_is_refused(url: str, message: str) -> None:
    code, _, err = run(f"export:\n  remotes:\n    t: {{url: '{url}'}}\n")
    assert code == 2 and f"  - export.remotes.t.url: {message}" in err, err


def test_good_remote_urls_still_pass() -> None:
    for url in (
        "http://127.0.0.1:8123",
        "https://[::1]:8443/base",
        "https://devlog.example/x?a=b",
        "HTTPS://H.example",
    ):
        code, _, err = run(f"export:\n  remotes:\n    t: {{url: '{url}'}}\n")
        assert code == 0, (url, err)


def test_a_root_a_level_off_or_a_file_is_named_with_the_folder_meant(tmp_path: Path) -> None:
    """Users point at the folder that visibly holds the logs (`~/.claude/projects`) or above the
    agent's home (`~` for `~/.gemini`): `config check`, `collect` and `status` say what was meant."""
    agents = tmp_path / "agents"
    (agents / "claude" / "projects" / "-w").mkdir(parents=True)
    (agents / "codex" / "sessions").mkdir(parents=True)
    (agents / "home" / ".gemini" / "tmp").mkdir(parents=True)
    (agents / "a-file").write_text("x")
    text = (
        "collect:\n  roots:\n"
        f"    claude: ['{agents}/claude/projects', '{agents}/claude']\n"
        f"    codex: ['{agents}/codex/sessions']\n"
        f"    gemini: ['{agents}/home']\n"
        f"    cursor: ['{agents}/a-file']\n"
        f"    copilot: ['{agents}/nowhere']\n"
    )
    code, out, err = run(text)
    assert code == 0 and out.startswith("ok:")
    assert err.splitlines() == [
        f"warning: collect.roots.claude[0]: {agents}/claude/projects holds no projects/: did you mean {agents}/claude?",
        f"warning: collect.roots.copilot[0]: {agents}/nowhere does not exist",
        f"warning: collect.roots.cursor[0]: {agents}/a-file is not a folder",
        f"warning: collect.roots.codex[0]: {agents}/codex/sessions holds no sessions/ or archived_sessions/: "
        f"did you mean {agents}/codex?",
        f"warning: collect.roots.gemini[0]: {agents}/home holds no tmp/: did you mean {agents}/home/.gemini?",
    ]
    code, _, err = run(text, "collect")
    assert code == 0 and "did you mean" in err and err.rstrip().endswith("no agent logs found: see the warnings above")
    code, out, _ = run(text, "status", "--json")
    sources = {source["source"]: source for source in json.loads(out)["sources"]}
    assert sources["claude"]["found"] is True  # its second root is right
    assert sources["claude"]["roots"][0]["problem"].startswith("holds no projects/: did you mean")
    assert "problem" not in sources["claude"]["roots"][1]
    assert [sources[name]["found"] for name in ("codex", "gemini", "cursor", "copilot")] == [False] * 4
    assert sources["cursor"]["roots"][0]["problem"] == "not a folder"


def test_no_agent_enabled_is_warned_about() -> None:
    code, _, err = run("collect:\n  agents: []\n")
    assert code == 0
    assert "warning: collect.agents is empty, so no agent's logs are collected" in err


def test_a_misspelt_key_is_named_with_the_key_meant() -> None:
    code, _, err = run("collect:\n  rootz: {}\n  agnets: [claude]\nexport_defualt: none\nstorage:\n  pathh: /x\n")
    assert code == 2
    assert "collect.rootz: unknown key (did you mean `roots`?)" in err
    assert "collect.agnets: unknown key (did you mean `agents`?)" in err
    assert "export_defualt: unknown key (did you mean `export_default`?)" in err
    assert "storage.pathh: unknown key (did you mean `path`?)" in err
    code, _, err = run("collect:\n  frobnicate: 1\n")
    assert "collect.frobnicate: unknown key\n" in err  # nothing close: no guess


def test_problems_are_listed_in_the_order_of_their_keys() -> None:
    """Unset variables were listed before the walk's problems, so [1] came before [0]."""
    text = "collect:\n  roots:\n    claude: ['~nosuchuser-devlog/x', '${DEVLOG_TEST_UNSET}/x']\n  agents: [claude]\n"
    items = [line for line in run(text)[2].splitlines() if line.startswith("  - ")]
    assert [item.split(":")[0] for item in items] == ["  - collect.roots.claude[0]", "  - collect.roots.claude[1]"]


def test_an_empty_roots_list_reads_nothing_and_is_warned_about(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It fell back to the agent's standard folders while `config show` printed `codex: []`."""
    codex_home = tmp_path / "codex"
    (codex_home / "sessions").mkdir(parents=True)
    monkeypatch.setenv("CODEX_HOME", str(codex_home))
    text = "collect:\n  agents: [codex]\n  roots:\n    codex: []\n"
    code, _, err = run(text)
    assert code == 0
    assert "warning: collect.roots.codex is empty, so codex's logs are not collected" in err
    code, out, _ = run(text, "status", "--json")
    (codex,) = json.loads(out)["sources"]
    assert codex["roots"] == [] and codex["found"] is False and codex["configured"] is True
