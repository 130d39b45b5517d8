"""Where devlog keeps its files.

Everything lives under one home directory so that `DEVLOG_HOME` moves it all (tests, containers,
several profiles): `config.yaml`, and by default the store under `data/`. The home directory is
created 0700 and files in it 0600 because the store holds everything the agents saw.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["config_path", "ensure_private_dir", "home_dir"]


def home_dir() -> Path:
    """`$DEVLOG_HOME`, else `~/.devlog`."""
    env = os.environ.get("DEVLOG_HOME")
    return Path(env).expanduser() if env else Path.home() / ".devlog"


def config_path() -> Path:
    """`$DEVLOG_CONFIG`, else `<home>/config.yaml`."""
    env = os.environ.get("DEVLOG_CONFIG")
    return Path(env).expanduser() if env else home_dir() / "config.yaml"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) if needed; make it 0700 when it is devlog's own."""
    path.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        path.chmod(0o700)
    return path
