"""Where devlog keeps its files.

Everything lives under one home directory so that `DEVLOG_HOME` moves it all (tests, containers,
several profiles): `config.yaml`, and by default the store under `data/`. The home directory is
created 0700 and files in it 0600 because the store holds everything the agents saw (folders that
already exist keep their mode: they may be shared).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["config_path", "ensure_private_dir", "home_dir", "missing_config_warnings", "path_user_problem"]


def home_dir() -> Path:
    """`$DEVLOG_HOME`, else `~/.devlog`."""
    env = os.environ.get("DEVLOG_HOME")
    return _absolute("DEVLOG_HOME", _expanded("DEVLOG_HOME", env)) if env else Path.home() / ".devlog"


def config_path() -> Path:
    """`$DEVLOG_CONFIG`, else `<home>/config.yaml`."""
    env = os.environ.get("DEVLOG_CONFIG")
    return _absolute("DEVLOG_CONFIG", _expanded("DEVLOG_CONFIG", env)) if env else home_dir() / "config.yaml"


def missing_config_warnings() -> list[str]:
    """A warning when `DEVLOG_CONFIG` names a file that does not exist (a typo would otherwise run on
    silent defaults, exporting nothing); none for the default path, which is optional."""
    path = config_path()
    if os.environ.get("DEVLOG_CONFIG") and not path.exists():
        return [f"DEVLOG_CONFIG names {path}, which does not exist: using the defaults (nothing is exported)"]
    return []


def path_user_problem(text: str) -> str | None:
    """Why `~user/...` in `text` cannot be expanded (no such user), or None.

    (`Path.expanduser` raises RuntimeError for it; `os.path.expanduser` leaves the text unchanged.)
    """
    if not text.startswith("~"):
        return None
    if os.path.expanduser(text).startswith("~"):  # noqa: PTH111
        return f"no user {text[1:].split('/', 1)[0] or '(home)'!r} to expand in {text!r}"
    return None


def _expanded(variable: str, value: str) -> Path:
    problem = path_user_problem(value)
    if problem is not None:
        from devlog_collector.errors import UserError

        raise UserError(f"{variable}: {problem}")
    return Path(os.path.expanduser(value))  # noqa: PTH111


def _absolute(variable: str, path: Path) -> Path:
    """`path` if absolute; a relative one would name a different folder from every working directory
    (the store "missing" after a `cd`, a `cache/` left wherever a command ran)."""
    if path.is_absolute():
        return path
    from devlog_collector.errors import UserError

    raise UserError(f"{variable} must be an absolute path (or start with ~), not {str(path)!r}")


def ensure_private_dir(path: Path) -> Path:
    """Create `path` and its missing parents 0700 (they will hold what the agents saw).

    A folder that already exists keeps its mode: it may be the user's own or shared (a home folder,
    `/tmp`, a team's mount) and is not devlog's to tighten.
    """
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder in missing:  # (mkdir's mode is masked by the umask, and parents get the default)
        with contextlib.suppress(OSError):
            folder.chmod(0o700)
    return path
