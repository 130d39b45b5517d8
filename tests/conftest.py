"""Test isolation shared by every suite.

Every test gets its own `DEVLOG_HOME` (so nothing touches the developer's real store or config), and
agent home variables point into the test's tmp dir so a developer's real agent logs are never read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

_ISOLATED_VARS = (
    "CLAUDE_CONFIG_DIR",
    "CODEX_HOME",
    "GEMINI_DIR",
    "GEMINI_CLI_HOME",
    "DEVLOG_CONFIG",
    "XDG_CONFIG_HOME",
)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh DEVLOG_HOME and HOME per test; agent env vars cleared."""
    home = tmp_path / "home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith("DEVLOG_") and name not in ("DEVLOG_TEST_PG_URL",):
            monkeypatch.delenv(name, raising=False)
    for name in _ISOLATED_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DEVLOG_HOME", str(home / ".devlog"))
    monkeypatch.setenv("TZ", "UTC")
    yield home
