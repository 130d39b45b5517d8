"""Where the store is: the `storage` section of config.yaml, read without validating the whole config.

Why a module of its own: the query commands (`stats`, `query`, `sessions`, `show`, `sql`) need only
the store's path, and validating the whole config imports msgspec and builds every config Struct,
about a tenth of what `devlog stats` takes end to end. So they read the parsed YAML (usually from
the parse cache) and resolve `storage.path`/`storage.events_db` here, with the same `${VAR}`
interpolation and `~` expansion as the full config (`config.py` uses these same functions).

The shortcut is taken only for a config it can read unambiguously: a mapping whose top-level keys
are all known sections and whose `storage` section has only known keys with values of the right
types. Anything else (a typo in a key, a wrong type, an empty or relative store path) goes through
the full validation of the top level and the `storage` section, so the command stops with the same
error naming the bad key as `devlog config check`. Other sections are not looked at: a mistake in
`export` never stops a local query.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Final

from devlog_collector.paths import config_path, home_dir, path_user_problem

__all__ = [
    "DEFAULT_EVENTS_DB",
    "DEFAULT_STORAGE_PATH",
    "ENV_REF",
    "FIRST_LOAD_SUFFIX",
    "configured_db_path",
    "events_db_name_problem",
    "events_db_path",
    "first_load_note",
    "first_load_path",
    "interpolate",
    "no_store_warning",
    "no_store_yet",
    "storage_path_problem",
]

ENV_REF: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
DEFAULT_STORAGE_PATH: Final = "~/.devlog/data/"
DEFAULT_EVENTS_DB: Final = "events.db"
#: The config's top-level sections and the `storage` keys (a test keeps these equal to config.py's).
TOP_LEVEL_KEYS: Final = frozenset({"collect", "storage", "export", "export_default"})
STORAGE_KEYS: Final = frozenset({"path", "events_db", "cursors_db", "retention_days", "min_free_bytes"})


#: A new store's first load is built in a file named as the store with this added
#: (`store/first_load.py`); `devlog status` looks for it there.
FIRST_LOAD_SUFFIX: Final = ".first-load"


def first_load_path(db_path: Path) -> Path:
    """Where the first load into the (new) store at `db_path` is built."""
    return Path(f"{db_path}{FIRST_LOAD_SUFFIX}")


def first_load_note(db_path: Path) -> str | None:
    """What to say where the store at `db_path` is not found but a first load is building it (or a
    crashed one left its side file); None when there is no side file."""
    side = first_load_path(db_path)
    try:
        size = side.stat().st_size
    except OSError:
        return None
    from devlog_collector.lock_files import writer_lock_held
    from devlog_collector.sizes import human_bytes

    if writer_lock_held(db_path):
        return f"the first load is running ({human_bytes(size)} written so far): the store appears when it ends"
    return (
        f"an interrupted first load left {side} ({human_bytes(size)}): the next `devlog collect` or "
        "`devlog start` deletes it and loads again"
    )


def no_store_warning(db_path: Path) -> str | None:
    """The warning of a command that reads the store if there is one (its counts are then zero) when
    there is none at `db_path` because of a first load; None otherwise."""
    note = first_load_note(db_path)
    return f"warning: no store at {db_path} yet: {note}" if note is not None else None


def no_store_yet(db_path: Path) -> str:
    """What a command that needs the store says when there is none at `db_path` yet."""
    note = first_load_note(db_path)
    return f"no devlog store at {db_path} yet: " + (note or "run `devlog collect` (or `devlog start`) first")


def interpolate(value: str, where: str, problems: list[str]) -> str:
    """`value` with every `${VAR}` / `${VAR:-default}` replaced; an unset variable without a default
    becomes '' and a problem naming `where`."""

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        problems.append(f"{where}: environment variable {name} is not set")
        return ""

    return ENV_REF.sub(repl, value)


def events_db_path(path: str, events_db: str) -> Path:
    """Absolute path of the events database for `storage.path` and `storage.events_db`.

    The default `storage.path` follows `DEVLOG_HOME` (tests, containers and profiles move everything).
    `$VAR` is expanded as in `collect.roots` (after the config's own `${VAR}` interpolation).
    """
    if "DEVLOG_HOME" in os.environ and path == DEFAULT_STORAGE_PATH:
        return home_dir() / "data" / events_db
    return Path(os.path.expanduser(os.path.expandvars(path))) / events_db  # noqa: PTH111


def storage_path_problem(path: str) -> str | None:
    """Why `storage.path` (after `${VAR}` interpolation) cannot name the store's folder, or None."""
    if not path.strip():
        return "is empty (an unset ${VAR}?): give an absolute folder, e.g. ~/.devlog/data/"
    expanded = os.path.expandvars(path)
    problem = path_user_problem(expanded)
    if problem is not None:
        return problem
    folder = Path(os.path.expanduser(expanded))  # noqa: PTH111
    if not folder.is_absolute():
        hint = " (an unset $VAR?)" if "$" in expanded else ""
        return f"must be an absolute folder or start with ~, got {path!r}{hint}"
    blocking = file_in_the_way(folder)
    if blocking == folder:
        return f"names a file ({folder}), not the folder that holds the store: did you mean {folder.parent}?"
    if blocking is not None:
        return f"cannot be a folder: {blocking} is a file"
    return None


def file_in_the_way(folder: Path) -> Path | None:
    """The first of `folder` and its parents that exists but is not a folder (the store cannot be
    made under it), or None."""
    for candidate in (*reversed(folder.parents), folder):
        try:
            if not candidate.is_dir():
                return candidate if candidate.exists() else None
        except OSError:  # (unreadable: whoever opens the store says so)
            return None
    return None


def events_db_name_problem(name: str) -> str | None:
    """Why `storage.events_db` cannot name the store's file, or None."""
    if not name.strip() or name.strip() in (".", "..") or name.endswith(("/", "\\")):
        return f"must be a file name, got {name!r}"
    if "/" in name or "\\" in name:
        return f"must be a file name, not a path (the folder is storage.path), got {name!r}"
    return None


def configured_db_path() -> Path:
    """The events database the config names (the default one when there is no config file).

    Raises UserError, as `load_config` does, when the config cannot be read or is not valid in a way
    that matters here.
    """
    path = config_path()
    if not path.exists():
        return events_db_path(DEFAULT_STORAGE_PATH, DEFAULT_EVENTS_DB)
    from devlog_collector.config_cache import load_yaml

    raw = load_yaml(path)
    resolved = _simple_storage_path(raw)
    if resolved is not None:
        return resolved
    # Something unusual: the full validation of what a query uses (the top level's shape and keys,
    # and the storage section) names the problem. Other sections are not looked at.
    from devlog_collector.config import parse_config

    if isinstance(raw, dict):
        raw = {key: value for key, value in raw.items() if key == "storage" or key not in TOP_LEVEL_KEYS}
    config, _ = parse_config(raw, source=str(path))
    return config.storage.db_path()


def _simple_storage_path(raw: Any) -> Path | None:
    if raw is None:
        return events_db_path(DEFAULT_STORAGE_PATH, DEFAULT_EVENTS_DB)
    if not isinstance(raw, dict) or not TOP_LEVEL_KEYS.issuperset(raw):
        return None
    storage = raw.get("storage", {})
    if not isinstance(storage, dict) or not STORAGE_KEYS.issuperset(storage) or not _plain_extras(storage):
        return None
    values = {key: storage.get(key, default) for key, default in (("path", DEFAULT_STORAGE_PATH),
                                                                   ("events_db", DEFAULT_EVENTS_DB))}  # fmt: skip
    if not all(isinstance(value, str) for value in values.values()):
        return None
    unset: list[str] = []
    path = interpolate(values["path"], "storage.path", unset)
    events_db = interpolate(values["events_db"], "storage.events_db", unset)
    if unset:
        return None  # an error in the full config (it names the variable): read it that way
    if storage_path_problem(path) is not None or events_db_name_problem(events_db) is not None:
        return None
    return events_db_path(path, events_db)


def _plain_extras(storage: dict[str, Any]) -> bool:
    """Whether the storage keys this module does not use have values of the types the config allows."""

    def count(value: Any, minimum: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= minimum

    retention = storage.get("retention_days")
    return (
        (retention is None or count(retention, 1))
        and count(storage.get("min_free_bytes", 0), 0)
        and isinstance(storage.get("cursors_db", ""), str)
    )
