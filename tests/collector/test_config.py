"""Config validation (msgspec Structs): every problem named by its dotted key at once, defaults, ${ENV}."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from devlog_collector.config import BUILTIN_AGENTS, Config, mask_secrets, parse_config
from devlog_collector.errors import UserError


def problems(raw: dict[str, object]) -> list[str]:
    with pytest.raises(UserError) as info:
        parse_config(raw)
    return list(info.value.problems)


def test_defaults() -> None:
    config, warnings = parse_config(None)
    assert config == Config() and warnings == []
    assert config.collect.agents == list(BUILTIN_AGENTS) and config.collect.poll_interval == timedelta(seconds=1)
    assert config.storage.min_free_bytes == 256 * 1024 * 1024 and config.export_default == "none"


def test_values_durations_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_KEY", "secret-value-123")
    config, warnings = parse_config(
        {
            "collect": {"agents": ["claude"], "poll_interval": "2s"},
            "export": {
                "remotes": {
                    "team": {"url": "https://h.example/", "api_key": "${TEAM_KEY}", "sync_interval": 45},
                    "other": {"url": "http://127.0.0.1:9", "api_key": "${MISSING_KEY:-fallback}", "timeout": "5m"},
                }
            },
            "export_default": "team",
        }
    )
    team = config.export.remotes["team"]
    assert (team.url, team.api_key, team.sync_interval) == (
        "https://h.example",
        "secret-value-123",
        timedelta(seconds=45),
    )
    assert config.export.remotes["other"].api_key == "fallback"
    assert config.export.remotes["other"].timeout == timedelta(minutes=5)
    assert config.collect.poll_interval == timedelta(seconds=2) and warnings == []
    assert mask_secrets(config)["export"]["remotes"]["team"]["api_key"] == "…-123"
    _, warnings = parse_config({"export": {"remotes": {"t": {"url": "http://h", "api_key": "${NOT_SET_X}"}}}})
    assert warnings == ["export.remotes.t.api_key: environment variable NOT_SET_X is not set"]


def test_every_problem_is_named_at_once() -> None:
    found = problems(
        {
            "collect": {
                "agents": ["claude", "nope"],
                "colour": "red",
                "max_line_bytes": 5,
                "poll_interval": "soon",
                "generic": [{"name": "Bad Name", "glob": "/x/*.jsonl", "mapping": {"ts": "t"}}],
            },
            "storage": {"min_free_bytes": -1, "retention_days": 0},
            "export": {"remotes": {"t": {"url": "ftp://x", "content": "all", "batch_size": 0}}},
            "extra": 1,
        }
    )
    for key in (
        "collect.agents: unknown agent(s) nope",
        "collect.colour: unknown key",
        "collect.max_line_bytes:",
        "collect.poll_interval: not a duration",
        "collect.generic[0].name:",
        "collect.generic[0].mapping: mapping must name session_id",
        "storage.min_free_bytes:",
        "storage.retention_days:",
        "export.remotes.t.url: must be an http:// or https:// URL",
        "export.remotes.t.content: must be one of 'full', 'redacted', 'metadata'",
        "export.remotes.t.batch_size:",
        "extra: unknown key",
    ):
        assert any(key in line for line in found), (key, found)


def test_a_value_made_invalid_by_an_unset_variable_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The unset-variable warning is only printed for a valid file: an invalid one says it in the problem."""
    monkeypatch.delenv("DEVLOG_TEST_NOPE_A", raising=False)
    monkeypatch.delenv("DEVLOG_TEST_NOPE_P", raising=False)
    found = problems({"collect": {"agents": ["${DEVLOG_TEST_NOPE_A}"], "poll_interval": "${DEVLOG_TEST_NOPE_P}"}})
    assert found == [
        "collect.agents: unknown agent(s) ''; known: claude, copilot, cursor, codex, gemini "
        "(environment variable DEVLOG_TEST_NOPE_A is not set)",
        "collect.poll_interval: not a duration: '' (use e.g. 30s, 5m, 12h, 7d) "
        "(environment variable DEVLOG_TEST_NOPE_P is not set)",
    ]


def test_an_unknown_default_remote_is_named_beside_the_remotes_own_problems() -> None:
    found = problems(
        {
            "export": {"remotes": {"team": {"url": "htp://x", "api_key": "k", "auto_synk": True}}},
            "export_default": "nobody",
        }
    )
    assert found[-1] == "export_default: names unknown remote 'nobody' (remotes: team)"
    assert len(found) == 3
    # a remote with problems of its own is still a remote the default may name
    assert len(problems({"export": {"remotes": {"team": {"url": "htp://x"}}}, "export_default": "team"})) == 1


def test_a_problem_inside_a_named_entry_or_a_list_names_that_entry() -> None:
    found = problems(
        {
            "collect": {
                "roots": {"claude": "/home/dev/.claude", "codex": ["/ok", 5]},
                "agents": ["claude", 7],
                "generic": [{"name": "a", "glob": "/x/*.jsonl", "mapping": {"ts": "t", "session_id": 5}}],
            },
            "export": {"remotes": {"team": {"url": "http://x", "workspaces": {"include": [5]}}}},
        }
    )
    for key in (
        "collect.roots.claude: Expected a list, got `str`",
        "collect.roots.codex[1]: Expected `str`, got `int`",
        "collect.agents[1]: Expected `str`, got `int`",
        "collect.generic[0].mapping.session_id: Expected `str`, got `int`",
        "export.remotes.team.workspaces.include[0]: Expected `str`, got `int`",
    ):
        assert key in found, (key, found)
    assert problems({"collect": {"roots": {1: ["/x"]}}}) == ["collect.roots: names must be text, got 1"]


def test_shape_and_cross_field_problems() -> None:
    assert any("export.remotes: expected a mapping" in p for p in problems({"export": {"remotes": [1]}}))
    assert any("collect: expected a mapping" in p for p in problems({"collect": "x"}))
    assert any("export.remotes.t.url: field required" in p for p in problems({"export": {"remotes": {"t": {}}}}))
    assert any("export_default: names unknown remote 'u'" in p for p in problems({"export_default": "u"}))
    with pytest.raises(UserError, match="top level must be a mapping"):
        parse_config([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("secret", "shown"),
    [("abcdefgh12", "****"), ("literal-secret-abc123456", "…3456"), ("dlk_abcdefghijklmnop1234", "dlk_…1234")],
)
def test_masked_keys_give_nothing_useful_away(secret: str, shown: str) -> None:
    from devlog_collector.config import mask_secret

    assert mask_secret(secret) == shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@devlog.example", "https://user:***@devlog.example"),
        ("http://a:b@h:8080/p", "http://a:***@h:8080/p"),
        ("https://tok123@h.example/", "https://***@h.example/"),
        ("https://devlog.example/x", "https://devlog.example/x"),
        ("https://h.example/x?access_token=abc123&page=2", "https://h.example/x?access_token=***&page=2"),
        (
            "https://t@h.example/?apiKey=k1&X-Amz-Signature=s1#top",
            "https://***@h.example/?apiKey=***&X-Amz-Signature=***#top",
        ),
        ("https://h.example/?region=eu&sig=zz", "https://h.example/?region=eu&sig=***"),
    ],
)
def test_config_show_masks_passwords_in_remote_urls(url: str, shown: str) -> None:
    config, _ = parse_config({"export": {"remotes": {"t": {"url": url}}}})
    assert mask_secrets(config)["export"]["remotes"]["t"]["url"] == shown.rstrip("/")


def _generic(**overrides: object) -> dict[str, object]:
    entry = {"name": "g1", "glob": "/x/*.jsonl", "mapping": {"ts": "t", "session_id": "s"}, **overrides}
    return {"collect": {"generic": [entry]}}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_generic(mapping={"ts": "t", "session_id": "s", "tokens_in": "x"}),
         "collect.generic[0].mapping: unknown field(s) tokens_in"),
        (_generic(kind_default="banana"), "collect.generic[0].kind_default: 'banana' is not an event kind"),
        (_generic(kind_map={"user": "promptz"}), "collect.generic[0].kind_map: user: 'promptz' is not an event kind"),
        (_generic(name="claude"), "collect.generic: name(s) claude belong to built-in sources"),
        ({"collect": {"generic": [_generic()["collect"]["generic"][0]] * 2}},  # type: ignore[index]
         "collect.generic: name(s) g1 used more than once"),
    ],
)  # fmt: skip
def test_generic_source_config_names_each_bad_value(raw: dict[str, object], message: str) -> None:
    from devlog_collector.errors import UserError

    with pytest.raises(UserError) as caught:
        parse_config(raw)
    assert any(problem.startswith(message) for problem in caught.value.problems), caught.value.problems


def test_a_built_in_name_and_a_repeated_one_are_both_named_at_once() -> None:
    """Only the first was said; the repeated name showed up at the next check, once it was fixed."""
    entries = [_generic(name=name)["collect"]["generic"][0] for name in ("claude", "a", "a")]  # type: ignore[index]
    found = problems({"collect": {"generic": entries}})
    assert any("claude belong to built-in sources" in p and "a used more than once" in p for p in found), found


def test_unknown_users_in_roots_and_globs_are_named() -> None:
    found = problems(
        {
            "collect": {
                "roots": {"claude": ["~devlog-no-such-user/.claude"]},
                "generic": [
                    {"name": "g", "glob": "~devlog-no-such-user/*.jsonl", "mapping": {"ts": "t", "session_id": "s"}}
                ],
            }
        }
    )
    assert "collect.roots.claude[0]: no user 'devlog-no-such-user' to expand in '~devlog-no-such-user/.claude'" in found
    assert "collect.generic[0].glob: no user 'devlog-no-such-user' to expand in '~devlog-no-such-user/*.jsonl'" in found


def _config_file_problems(config: Path, text: str) -> list[str]:
    """The problems `load_config` reports for a config file holding `text`."""
    from devlog_collector.config import load_config

    config.write_text(text)
    with pytest.raises(UserError) as caught:
        load_config(config)
    return list(caught.value.problems)


def test_invalid_yaml_is_named_by_line_and_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVLOG_HOME", str(tmp_path))
    assert _config_file_problems(tmp_path / "config.yaml", "storage:\n  path: /x\n bad: [\n") == [
        "line 3, column 2: expected <block end>, but found '<block mapping start>' "
        "(while parsing a block mapping that starts at line 1)"
    ]


def test_an_alias_inside_its_own_anchor_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`a: &a [*a]` loads as a list that holds itself: every command died of a RecursionError."""
    from devlog_collector.config import load_config

    monkeypatch.setenv("DEVLOG_HOME", str(tmp_path))
    config = tmp_path / "config.yaml"
    text = "collect: &c\n  agents: [claude]\nstorage: {path: /x}\na: &a [*a]\n"
    assert _config_file_problems(config, text) == ["an alias (*name) refers to the anchor (&name) that holds it"]
    config.write_text("collect: &c\n  agents: [claude]\nexport: {remotes: {}}\nstorage: {path: /x}\n")
    assert load_config(config)[0].collect.agents == ["claude"]  # (an alias used elsewhere is fine)


def test_export_intervals_that_would_hammer_or_never_succeed_are_refused() -> None:
    found = problems({"export": {"remotes": {"t": {"url": "http://x", "sync_interval": 0, "timeout": "0s"}}}})
    assert "export.remotes.t.sync_interval: must be at least 1s, got 0s" in found
    assert "export.remotes.t.timeout: must be more than 0s, got 0s" in found
    assert problems({"storage": None}) == ["storage: expected a mapping of keys, got `null`"]


def test_a_devlog_config_that_names_no_file_is_a_warning_not_silent_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from devlog_collector.cli import cli
    from devlog_collector.config import load_config

    monkeypatch.setenv("DEVLOG_HOME", str(tmp_path))
    missing = tmp_path / "typo.yaml"
    monkeypatch.setenv("DEVLOG_CONFIG", str(missing))
    config, warnings = load_config()
    assert config == Config()
    assert warnings == [
        f"DEVLOG_CONFIG names {missing}, which does not exist: using the defaults (nothing is exported)"
    ]
    result = CliRunner().invoke(cli, ["status", "--json"])
    assert result.exit_code == 0, result.output
    assert "DEVLOG_CONFIG names" in result.output
    # The default path is optional: no file there is no warning.
    monkeypatch.delenv("DEVLOG_CONFIG")
    assert load_config() == (Config(), [])


def test_config_show_gives_the_store_folder_devlog_home_moved_it_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from devlog_collector.cli import cli

    monkeypatch.setenv("DEVLOG_HOME", str(tmp_path / "profile"))
    monkeypatch.delenv("DEVLOG_CONFIG", raising=False)
    shown = CliRunner().invoke(cli, ["config", "show", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["storage"]["path"] == str(tmp_path / "profile" / "data")


@pytest.mark.parametrize(
    ("root", "message"),
    [
        (
            "${DEVLOG_TEST_UNSET_ROOT}",
            "collect.roots.claude[0]: environment variable DEVLOG_TEST_UNSET_ROOT is not set",
        ),
        ("", "collect.roots.claude[0]: a root is empty: give claude's folder, e.g. ~/.claude"),
        ("$DEVLOG_TEST_UNSET_ROOT/x", "root '$DEVLOG_TEST_UNSET_ROOT/x' is relative"),
        ("projects", "root 'projects' is relative"),
    ],
)
def test_an_empty_or_relative_root_is_refused_not_read_from_the_working_directory(
    root: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEVLOG_TEST_UNSET_ROOT", raising=False)
    with pytest.raises(UserError) as caught:
        parse_config({"collect": {"roots": {"claude": [root]}}})
    assert any(message in problem for problem in caught.value.problems), caught.value.problems
    config, _ = parse_config({"collect": {"roots": {"claude": ["~/.claude", "/opt/claude"]}}})
    assert config.collect.roots == {"claude": ["~/.claude", "/opt/claude"]}


@pytest.mark.parametrize(
    "args",
    [
        ["stats"],
        ["query"],
        ["sessions"],
        ["show", "s0"],
        ["sql", "SELECT count(*) FROM events"],
        ["prune", "--dry-run"],
        ["remote", "list"],
        ["remote", "test", "nope"],
        ["export", "--status"],
        ["config", "show"],
    ],
)
def test_every_command_that_reads_the_config_warns_once_when_devlog_config_names_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """Only export, status and config warned; `prune` ran silently against the default store."""
    from click.testing import CliRunner

    from devlog_collector.cli import cli
    from tests.collector.export.helpers import fill_store, make_events

    fill_store(Config().storage.db_path(), make_events(6, ["/home/dev/work/a"]))
    missing = tmp_path / "typo.yaml"
    monkeypatch.setenv("DEVLOG_CONFIG", str(missing))
    result = CliRunner().invoke(cli, args)
    assert result.stderr.count(f"warning: DEVLOG_CONFIG names {missing}, which does not exist") == 1, result.stderr
    assert "DEVLOG_CONFIG" not in result.stdout


def test_a_remote_url_scheme_is_case_insensitive() -> None:
    config, _ = parse_config({"export": {"remotes": {"t": {"url": "HTTPS://Devlog.Example/Base/"}}}})
    assert config.export.remotes["t"].url == "https://Devlog.Example/Base"
    assert any("must be an http:// or https:// URL, got 'ftp://u:***@h'" in p
               for p in problems({"export": {"remotes": {"t": {"url": "ftp://u:pw@h"}}}}))  # fmt: skip


def test_a_remote_url_with_credentials_and_an_api_key_is_refused() -> None:
    """httpx (like every HTTP client) turns the url's user:password into a Basic Authorization header,
    which replaces the key's Bearer one: every request would fail with a 401 the user cannot explain."""
    clash = {"url": "https://user:pw@devlog.example", "api_key": "k"}
    found = problems({"export": {"remotes": {"t": clash}}})
    assert found == [
        "export.remotes.t.url: has a user name or password as well as an api_key; the url's credentials would "
        "replace the key in the Authorization header: remove them from the url"
    ]
    for fine in ({"url": "https://user:pw@devlog.example"}, {"url": "https://devlog.example/a@b", "api_key": "k"}):
        config, _ = parse_config({"export": {"remotes": {"t": fine}}})
        assert config.export.remotes["t"].url == fine["url"]


def test_roots_of_an_unknown_agent_do_not_hide_bad_roots_of_known_ones() -> None:
    """`config check` promises every problem: a relative claude root showed only once the unknown
    agent's roots were gone."""
    found = problems({"collect": {"roots": {"claude": ["relative"], "nosuchagent": ["/x"]}}})
    assert found[0].startswith("collect.roots: roots for unknown agent(s) nosuchagent; known: ")
    assert found[1:] == [
        "collect.roots.claude[0]: root 'relative' is relative: give an absolute folder or one starting with ~"
    ]


def test_a_misspelt_agent_under_roots_gets_a_suggestion() -> None:
    found = problems({"collect": {"roots": {"copilto": ["/x"]}}})
    assert found == [
        "collect.roots: roots for unknown agent(s) copilto (did you mean `copilot`?); "
        "known: claude, copilot, cursor, codex, gemini"
    ]


def test_a_generic_mapping_path_that_names_no_field_is_refused() -> None:
    """`meta..time` and `""` passed `config check` and then matched no line."""
    for dotted in ("meta..time", "", " ", "meta.", ".time"):
        mapping = {"ts": dotted, "session_id": "s"}
        found = problems({"collect": {"generic": [{"name": "g", "glob": "/x/*.jsonl", "mapping": mapping}]}})
        assert found == [
            f"collect.generic[0].mapping: `ts` maps to {dotted!r}, which names no field (use dotted keys: `meta.time`)"
        ]


def test_a_key_written_one_section_too_high_says_where_it_belongs() -> None:
    """`include:` straight under a remote (not under its `workspaces:`) was only an unknown key."""
    found = problems({"export": {"remotes": {"personal": {"url": "http://127.0.0.1:9", "include": ["/p/**"]}}}})
    assert found == [
        "export.remotes.personal.include: unknown key (it belongs under `export.remotes.personal.workspaces.include`)"
    ]


def test_a_top_level_key_written_inside_a_section_says_it_belongs_at_the_top() -> None:
    found = problems({"export": {"export_default": "team", "remotes": {}}})
    assert found == [
        "export.export_default: unknown key (it belongs at the top level: `export_default:` with no indentation)"
    ]
