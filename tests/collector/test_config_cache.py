"""The config.yaml parse cache: used only while the file is unchanged, never stale, never lossy."""

from __future__ import annotations

import os
import stat
import time
from datetime import date
from pathlib import Path

import pytest

from devlog_collector.config import load_config
from devlog_collector.config_cache import cached_yaml
from devlog_collector.errors import UserError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEVLOG_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def settle(path: Path) -> None:
    """Make the file's mtime old enough to be cached (as any config not edited this instant)."""
    old = time.time() - 60
    os.utime(path, (old, old))


class Parser:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, text: str) -> object:
        self.calls += 1
        return {"text": text.strip(), "n": [1, 2.5, None, True]}


def parsed_once(tmp_path: Path, text: str = "a: 1\n") -> tuple[Path, Parser]:
    """A settled config file, parsed (and so cached) once."""
    config = tmp_path / "config.yaml"
    config.write_text(text)
    settle(config)
    parse = Parser()
    cached_yaml(config, parse)
    return config, parse


def test_an_unchanged_file_is_parsed_once(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("a: 1\n")
    settle(config)
    parse = Parser()
    first = cached_yaml(config, parse)
    second = cached_yaml(config, parse)
    assert first == second == {"text": "a: 1", "n": [1, 2.5, None, True]}
    assert parse.calls == 1
    entries = list((home / "cache").glob("config-*.json"))
    assert len(entries) == 1 and stat.S_IMODE(entries[0].stat().st_mode) == 0o600


def test_an_edit_that_keeps_size_and_mtime_is_still_seen(home: Path, tmp_path: Path) -> None:
    config, parse = parsed_once(tmp_path)
    mtime = config.stat().st_mtime_ns
    config.write_text("a: 2\n")  # same size
    os.utime(config, ns=(mtime, mtime))  # and the same mtime: only the ctime tells
    assert cached_yaml(config, parse)["text"] == "a: 2"
    assert parse.calls == 2


def test_a_file_modified_this_instant_is_not_cached(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("a: 1\n")
    parse = Parser()
    cached_yaml(config, parse)
    cached_yaml(config, parse)
    assert parse.calls == 2
    assert not (home / "cache").exists()


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("since: 2026-01-31\n", {"since": date(2026, 1, 31)}), ("1: one\n", {1: "one"})],
    ids=["a date", "a key that is not text"],
)
def test_data_json_would_alter_is_not_cached(home: Path, tmp_path: Path, text: str, parsed: object) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    settle(config)
    calls = []

    def parse(text: str) -> object:
        calls.append(text)
        return parsed

    assert cached_yaml(config, parse) == cached_yaml(config, parse) == parsed
    assert len(calls) == 2
    assert not list((home / "cache").glob("config-*.json"))


def test_a_corrupt_cache_entry_is_ignored_and_replaced(home: Path, tmp_path: Path) -> None:
    config, parse = parsed_once(tmp_path)
    (entry,) = (home / "cache").glob("config-*.json")
    entry.write_bytes(b"\xc1 not json {")
    assert cached_yaml(config, parse)["text"] == "a: 1"
    assert cached_yaml(config, parse)["text"] == "a: 1"
    assert parse.calls == 2


def test_load_config_sees_every_change_and_still_names_bad_yaml(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    monkeypatch.setenv("DEVLOG_CONFIG", str(config))
    config.write_text("collect:\n  agents: [claude]\n")
    settle(config)
    assert load_config()[0].collect.agents == ["claude"]
    assert load_config()[0].collect.agents == ["claude"]  # from the cache
    config.write_text("collect:\n  agents: [codex]\n")
    settle(config)
    assert load_config()[0].collect.agents == ["codex"]
    config.write_text("collect: [unclosed\n")
    settle(config)
    with pytest.raises(UserError, match="is not valid YAML"):
        load_config()
    config.write_bytes(b"collect:\n  agents: [\xff]\n")
    settle(config)
    with pytest.raises(UserError, match="is not UTF-8"):
        load_config()
