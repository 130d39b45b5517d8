"""The collector's configuration: `<home>/config.yaml` in the design card's schema.

No file is needed to start collecting: every key has a default, and the defaults export nothing
(`export_default: none`). Values may reference the environment as `${VAR}` (or `${VAR:-default}`);
that is how API keys stay out of the file. An unset variable is a warning, except in a path, where
it is an error (`${XDG_DATA_HOME}/devlog` would quietly become `/devlog`). Loading reports every
problem at once, each naming the key (`export.remotes.team.url: ...`), and never prints secrets.

`devlog remote add|remove` edits the file with ruamel.yaml round-tripping (see `config_edit.py`)
so users' comments survive.

The sections are msgspec Structs rather than pydantic models: `devlog status`, `collect` and `start`
read the config on every run, and pydantic's import and model build cost more than the whole 0.3 s
start-up budget on a loaded laptop. msgspec stops at the first problem, so `parse_config` walks the
data along the Struct types itself to name every bad key at once.
"""

from __future__ import annotations

import os
import re
import typing
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta, Struct, field

from devlog_collector.durations import parse_duration
from devlog_collector.errors import UserError
from devlog_collector.paths import config_path, missing_config_warnings, path_user_problem
from devlog_collector.storage_location import (
    DEFAULT_EVENTS_DB,
    DEFAULT_STORAGE_PATH,
    ENV_REF,
    events_db_name_problem,
    events_db_path,
    interpolate,
    storage_path_problem,
)

__all__ = [
    "BUILTIN_AGENTS",
    "CollectConfig",
    "Config",
    "ExportConfig",
    "GenericSourceConfig",
    "RemoteConfig",
    "StorageConfig",
    "WorkspaceRules",
    "load_config",
    "looks_like_a_key",
    "mask_secrets",
    "parse_config",
]

BUILTIN_AGENTS = ("claude", "copilot", "cursor", "codex", "gemini")


#: A generic source's name (not `$`: it would accept a trailing newline). The only regex-checked
#: field: `_walk` words its message (a user should not have to read a regex).
_GENERIC_NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9_.-]*(?![\s\S])"
_GENERIC_NAME_WORDS: Final = "use lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"


class _Model(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Config sections: immutable msgspec Structs (a fast import; `devlog status` reads the config)."""


class GenericSourceConfig(_Model, frozen=True):
    """A JSONL source for agents without a built-in parser: a glob plus a field mapping.

    `mapping` maps event fields to dotted paths in each JSON line, e.g.
    `{ts: time, kind: type, session_id: conversation.id, text: message, workspace: cwd, model: model,
    input_tokens: usage.in, output_tokens: usage.out, id: uuid}`. `ts` and `session_id` are required;
    `kind` defaults to `kind_default`; values of `kind` are translated through `kind_map` first.
    """

    name: Annotated[str, Meta(pattern=_GENERIC_NAME_PATTERN, max_length=64)]
    glob: str
    mapping: dict[str, str]
    kind_map: dict[str, str] = field(default_factory=dict)
    kind_default: str = "response"
    #: The zone of timestamps written without an offset (an IANA name, or `local`); UTC by default.
    timezone: str = "UTC"


class CollectConfig(_Model, frozen=True):
    """What to collect and from where."""

    enabled: bool = True
    agents: list[str] = field(default_factory=lambda: list(BUILTIN_AGENTS))
    roots: dict[str, list[str]] = field(default_factory=dict)
    generic: list[GenericSourceConfig] = field(default_factory=list)
    poll_interval: timedelta = timedelta(seconds=1)
    max_line_bytes: Annotated[int, Meta(ge=1024)] = 64 * 1024 * 1024


class StorageConfig(_Model, frozen=True):
    """Where the local store lives and how long it keeps events."""

    path: str = DEFAULT_STORAGE_PATH
    events_db: str = DEFAULT_EVENTS_DB
    #: Accepted for compatibility with the design card; cursors live in events_db so that events
    #: and cursor advances commit in one transaction.
    cursors_db: str = "cursors.db"
    retention_days: Annotated[int, Meta(ge=1)] | None = None
    min_free_bytes: Annotated[int, Meta(ge=0)] = 256 * 1024 * 1024

    def db_path(self) -> Path:
        """Absolute path of the events database."""
        return events_db_path(self.path, self.events_db)


class WorkspaceRules(_Model, frozen=True):
    """Glob rules over an event's workspace path; `exclude` wins over `include`."""

    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)


class RemoteConfig(_Model, frozen=True):
    """One export destination."""

    url: str
    api_key: str | None = None
    auto_sync: bool = False
    sync_interval: timedelta = timedelta(seconds=30)
    workspaces: WorkspaceRules = field(default_factory=WorkspaceRules)
    content: Literal["full", "redacted", "metadata"] = "redacted"
    batch_size: Annotated[int, Meta(ge=1, le=10000)] = 1000
    batch_bytes: Annotated[int, Meta(ge=1024)] = 4 * 1024 * 1024
    timeout: timedelta = timedelta(seconds=30)


class ExportConfig(_Model, frozen=True):
    """Export destinations by name."""

    remotes: dict[str, RemoteConfig] = field(default_factory=dict)


class Config(_Model, frozen=True):
    """The whole collector configuration."""

    collect: CollectConfig = field(default_factory=CollectConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    export_default: str = "none"


# -- validation ------------------------------------------------------------------------------------
# msgspec stops at the first problem; a config check must name every bad key at once. So the raw data
# is walked along the Struct types, each leaf converted on its own (collecting every problem with its
# dotted path), durations parsed (`30s`), field rules applied, and only then converted as a whole.


def _names(names: list[str]) -> str:
    """Names for a message: as written, an empty or blank one quoted (it would read as nothing)."""
    return ", ".join(name if name.strip() else repr(name) for name in names)


def _known_agents(value: list[str]) -> list[str]:
    unknown = [a for a in value if a not in BUILTIN_AGENTS]
    if unknown:
        raise ValueError(f"unknown agent(s) {_names(unknown)}; known: {', '.join(BUILTIN_AGENTS)}")
    return value


class _EntryProblems(ValueError):
    """A rule's problems with entries inside the value, each named by its own key: every bad root of
    every agent at once (`collect.roots.codex[1]`), not only the first one under `collect.roots`."""

    def __init__(self, entries: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(message for _, message in entries))
        #: (what to append to the rule's key, e.g. `.codex[1]`; the problem)
        self.entries = entries


#: The usual folder of each agent, for messages that ask for one (Linux spellings).
_ROOT_EXAMPLES: Final = {"claude": "~/.claude", "codex": "~/.codex", "gemini": "~/.gemini",
                         "copilot": "~/.config/Code/User", "cursor": "~/.config/Cursor/User"}  # fmt: skip


def _known_roots(value: dict[str, list[str]]) -> dict[str, list[str]]:
    unknown = [a for a in value if a not in BUILTIN_AGENTS]
    entries = [
        (f".{agent}[{index}]", problem)
        for agent, roots in value.items()
        if agent in BUILTIN_AGENTS
        for index, root in enumerate(roots)
        if (problem := _root_problem(root, agent)) is not None
    ]
    if unknown:  # (reported with the bad roots of the known agents, not instead of them)
        hints = "".join(_did_you_mean(agent, BUILTIN_AGENTS) for agent in unknown)
        message = f"roots for unknown agent(s) {_names(unknown)}{hints}; known: {', '.join(BUILTIN_AGENTS)}"
        entries.insert(0, ("", message))
    if entries:
        raise _EntryProblems(entries)
    return value


def _root_problem(root: str, agent: str) -> str | None:
    """Why `root` cannot be `agent`'s folder, or None. An empty or relative root would be the
    directory devlog happens to run in."""
    expanded = os.path.expandvars(root)
    problem = path_user_problem(expanded)
    if problem is not None:
        return problem
    if not expanded.strip():
        return f"a root is empty: give {agent}'s folder, e.g. {_ROOT_EXAMPLES.get(agent, '~/.' + agent)}"
    if not Path(os.path.expanduser(expanded)).is_absolute():  # noqa: PTH111
        hint = " (an unset $VAR?)" if "$" in expanded else ""
        return f"root {root!r} is relative: give an absolute folder or one starting with ~{hint}"
    return None


def _expandable_glob(value: str) -> str:
    """A generic source's glob: absolute or starting with `~`, like `collect.roots` (a relative one
    would be read from whatever folder devlog runs in, and change with it)."""
    expanded = os.path.expandvars(value)
    problem = path_user_problem(expanded)
    if problem is not None:
        raise ValueError(problem)
    if not expanded.strip():
        raise ValueError("is empty: give the logs' absolute glob, e.g. ~/logs/aider/**/*.jsonl")
    if not Path(os.path.expanduser(expanded)).is_absolute():  # noqa: PTH111
        hint = " (an unset $VAR?)" if "$" in expanded else ""
        raise ValueError(f"glob {value!r} is relative: give an absolute glob or one starting with ~{hint}")
    return value


def _storage_path(value: str) -> str:
    problem = storage_path_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _time_zone_name(value: str) -> str:
    if value == "local":
        return value
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Berlin, UTC, or local)") from None
    return value


def _events_db_name(value: str) -> str:
    problem = events_db_name_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


#: Event fields a generic source's `mapping` can fill (see `sources/generic.py`).
GENERIC_MAPPING_FIELDS: Final = (
    "ts", "session_id", "kind", "id", "text", "workspace", "model", "agent_version", "tool_name", "file_path",
    "cost_usd", "parent_id", "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
    "reasoning_tokens",
)  # fmt: skip


def _required_mapping(value: dict[str, str]) -> dict[str, str]:
    missing = [k for k in ("ts", "session_id") if k not in value]
    if missing:
        raise ValueError(f"mapping must name {', '.join(missing)}")
    unknown = [k for k in value if k not in GENERIC_MAPPING_FIELDS]
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(GENERIC_MAPPING_FIELDS)}")
    for name, dotted in value.items():
        if not dotted.strip() or "" in dotted.split("."):
            raise ValueError(f"`{name}` maps to {dotted!r}, which names no field (use dotted keys: `meta.time`)")
    return value


def _event_kinds() -> tuple[str, ...]:
    from devlog_shared import EVENT_KINDS  # only when a generic source is configured

    return tuple(EVENT_KINDS)


def _event_kind(value: str) -> str:
    if value not in _event_kinds():
        raise ValueError(f"{value!r} is not an event kind; kinds: {', '.join(_event_kinds())}")
    return value


def _event_kind_map(value: dict[str, str]) -> dict[str, str]:
    bad = {k: v for k, v in value.items() if v not in _event_kinds()}
    if bad:
        listed = ", ".join(f"{k}: {v!r}" for k, v in bad.items())
        raise ValueError(f"{listed} is not an event kind; kinds: {', '.join(_event_kinds())}")
    return value


def _unique_generic_names(value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = [entry.get("name") for entry in value if isinstance(entry, dict)]
    builtin = sorted({n for n in names if n in BUILTIN_AGENTS})
    repeated = sorted({n for n in names if names.count(n) > 1 and isinstance(n, str) and n not in BUILTIN_AGENTS})
    found = []  # (both in one message: fixing one must not reveal the other only at the next check)
    if builtin:
        found.append(f"name(s) {', '.join(builtin)} belong to built-in sources; pick another")
    if repeated:
        found.append(f"name(s) {', '.join(repeated)} used more than once; each source needs its own")
    if found:
        raise ValueError("; and ".join(found))
    return value


_WINDOWS_DRIVE_GLOB = re.compile(r"^[A-Za-z]:[/\\]")


def _workspace_glob_problem(pattern: str) -> str | None:
    """Why `pattern` can never select a workspace (workspaces are absolute paths), or None."""
    text = pattern.strip()
    if not text:
        return "an empty glob selects nothing"
    if text.startswith("~"):
        problem = path_user_problem(text)
        if problem is not None:
            return problem
        text = os.path.expanduser(text)  # noqa: PTH111
    if (text[0].isalnum() and not _WINDOWS_DRIVE_GLOB.match(text)) or text.startswith("."):
        return f"{pattern!r} is relative; workspaces are absolute paths: start it with /, ~/ or **/"
    if "//" in text[1:]:
        return f"{pattern!r} has // inside it: only a UNC share's glob may start with // (//server/share/**)"
    if len(text) > 1 and text.endswith(("/", "\\")):
        folder = pattern.strip().rstrip("/\\")
        return (
            f"{pattern!r} ends with a slash, which no workspace path has: "
            f"use {folder + '/**'!r} for everything under it, or {folder!r} for that folder alone"
        )
    return None


def _workspace_globs(value: list[str]) -> list[str]:
    problems = [problem for pattern in value if (problem := _workspace_glob_problem(pattern))]
    if problems:
        raise ValueError("; ".join(problems))
    return value


def _http_url(value: str) -> str:
    """The remote url, its scheme lowercased: schemes are case-insensitive (RFC 3986), so `HTTP://host`
    is the same remote as `http://host` (and hashes the same into the export cursor's rules).

    A host with a space or a port out of range is refused here: it would otherwise pass every check
    and fail only at export time, as a remote that never receives anything."""
    if not re.match(r"^https?://[^/\s]+", value, re.IGNORECASE):
        raise ValueError(f"must be an http:// or https:// URL, got {mask_url(value)!r}")
    scheme, sep, rest = value.partition("://")
    host = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
    if any(char.isspace() or ord(char) < 32 for char in host):
        raise ValueError(f"the host in {mask_url(value)!r} has a space in it")
    try:
        parts = urlsplit(value)
    except ValueError:  # a broken [IPv6] host
        raise ValueError(f"{mask_url(value)!r} is not a valid URL (its host?)") from None
    try:
        port = parts.port
    except ValueError:  # not a number, or over 65535
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"{mask_url(value)!r} has an invalid port: a port is a number from 1 to 65535")
    if not parts.hostname:
        raise ValueError(f"{mask_url(value)!r} names no host")
    return (scheme.lower() + sep + rest).rstrip("/")


def _sync_interval(value: timedelta) -> timedelta:
    if value < timedelta(seconds=1):
        raise ValueError(f"must be at least 1s, got {value.total_seconds():g}s")
    return value


def _positive_timeout(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(f"must be more than 0s, got {value.total_seconds():g}s")
    return value


_FIELD_RULES: dict[tuple[type[Struct], str], Callable[[Any], Any]] = {
    (CollectConfig, "agents"): _known_agents,
    (CollectConfig, "roots"): _known_roots,
    (GenericSourceConfig, "glob"): _expandable_glob,
    (StorageConfig, "path"): _storage_path,
    (StorageConfig, "events_db"): _events_db_name,
    (GenericSourceConfig, "mapping"): _required_mapping,
    (GenericSourceConfig, "kind_default"): _event_kind,
    (GenericSourceConfig, "kind_map"): _event_kind_map,
    (GenericSourceConfig, "timezone"): _time_zone_name,
    (CollectConfig, "generic"): _unique_generic_names,
    (RemoteConfig, "url"): _http_url,
    (RemoteConfig, "sync_interval"): _sync_interval,
    (RemoteConfig, "timeout"): _positive_timeout,
    (WorkspaceRules, "include"): _workspace_globs,
    (WorkspaceRules, "exclude"): _workspace_globs,
}


def _kind_of(value: object) -> str:
    """The YAML word for a value's type, as msgspec's messages use them (`null`, `str`, `array`, ...)."""
    kinds = {type(None): "`null`", bool: "`bool`", int: "`int`", float: "`float`", str: "`str`", list: "`array`",
             dict: "`object`"}  # fmt: skip
    return kinds.get(type(value), f"`{type(value).__name__}`")


def _join(where: str, key: object) -> str:
    return f"{where}.{key}" if where else str(key)


def _did_you_mean(key: object, known: Iterable[str]) -> str:
    """` (did you mean `x`?)` for a key close to a known one (a typo), else nothing."""
    import difflib

    close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.75)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _struct_of(typ: Any) -> type[Struct] | None:
    return typ if isinstance(typ, type) and issubclass(typ, Struct) else None


def _leaf_message(exc: msgspec.ValidationError) -> str:
    message = str(exc).split(" - at `", 1)[0]
    return message.replace("Expected `object`", "Expected a mapping").replace("Expected `array`", "Expected a list")


def _leaf_where(where: str, exc: msgspec.ValidationError) -> str:
    """`where` plus the position msgspec found the problem at inside the value (`[1]` of a list)."""
    _, _, at = str(exc).partition(" - at `$")
    at = at.rstrip("`")
    return where + at if at and "[...]" not in at else where


def _belongs_under(key: object, fields: dict[str, Any], where: str) -> str:
    """` (it belongs under `x.key`)` when `key` is a key of one of these fields' own sections (an
    `include:` written straight under a remote instead of under its `workspaces:`), or ` (it
    belongs at the top level)` for a top-level key written inside a section (`export_default:` under
    `export:`); else nothing."""
    for name, info in fields.items():
        inner = _struct_of(info.type)
        if inner is not None and key in {f.encode_name for f in msgspec.structs.fields(inner)}:
            return f" (it belongs under `{_join(where, name)}.{key}`)"
    if where and key in {f.encode_name for f in msgspec.structs.fields(Config)}:
        return f" (it belongs at the top level: `{key}:` with no indentation)"
    return ""


def _walk(value: Any, typ: Any, where: str, problems: list[str]) -> Any:
    """`value` checked as `typ`; problems are appended as `dotted.path: message`."""
    struct = _struct_of(typ)
    if struct is not None:
        if not isinstance(value, dict):
            problems.append(f"{where or '(top level)'}: expected a mapping of keys, got {_kind_of(value)}")
            return value
        fields = {f.encode_name: f for f in msgspec.structs.fields(struct)}
        out: dict[str, Any] = {}
        for key, item in value.items():
            info = fields.get(key)
            if info is None:
                hint = _belongs_under(key, fields, where) or _did_you_mean(key, fields)
                problems.append(f"{_join(where, key)}: unknown key{hint}")
                continue
            before = len(problems)
            checked = _walk(item, info.type, _join(where, key), problems)
            rule = _FIELD_RULES.get((struct, info.name))
            if rule is not None and len(problems) == before:
                try:
                    checked = rule(checked)
                except _EntryProblems as exc:
                    problems += [f"{_join(where, key)}{entry}: {problem}" for entry, problem in exc.entries]
                except ValueError as exc:
                    problems.append(f"{_join(where, key)}: {exc}")
            out[key] = checked
        for info in fields.values():
            if info.required and info.encode_name not in value:
                problems.append(f"{_join(where, info.encode_name)}: field required")
        return out
    origin, args = typing.get_origin(typ), typing.get_args(typ)
    if origin is dict and args and args[0] is str:  # named entries: each problem names its entry
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a mapping of names, got {_kind_of(value)}")
            return value
        bad_keys = [k for k in value if not isinstance(k, str)]
        if bad_keys:
            problems.append(f"{where}: names must be text, got {', '.join(repr(k) for k in bad_keys)}")
            return value
        return {k: _walk(v, args[1], _join(where, k), problems) for k, v in value.items()}
    if origin is list and _struct_of(args[0]) is not None:
        if not isinstance(value, list):
            problems.append(f"{where}: expected a list, got {_kind_of(value)}")
            return value
        return [_walk(v, args[0], f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if origin is Literal and value not in args:
        problems.append(f"{where}: must be one of {', '.join(repr(a) for a in args)}, got {value!r}")
        return value
    if typ is timedelta and isinstance(value, str | int | float) and not isinstance(value, bool):
        try:
            return parse_duration(value)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            return value
    try:
        return msgspec.convert(value, typ, strict=False)
    except msgspec.ValidationError as exc:
        problems.append(f"{_leaf_where(where, exc)}: {_leaf_problem(value, typ, exc)}")
        return value


def _leaf_problem(value: Any, typ: Any, exc: msgspec.ValidationError) -> str:
    """msgspec's message, with what to write instead where its own words do not say it."""
    if "matching regex" in str(exc) and isinstance(value, str):  # only a generic source's name: no regex shown
        return f"{value!r} is not a valid name: {_GENERIC_NAME_WORDS}"
    if typ is bool and isinstance(value, str):  # YAML 1.2 reads yes/no/on/off as text
        return f"{_leaf_message(exc)}: use true or false"
    return _leaf_message(exc)


# -- ${VAR} references -----------------------------------------------------------------------------

#: Keys whose value is a path: an unset `${VAR}` in one is an error, not a warning, because the
#: path would silently move (`${XDG_DATA_HOME}/devlog` would be `/devlog`, a store at the root).
_PATH_KEYS: Final = re.compile(r"^(storage\.path|collect\.roots\.[^\[]+\[\d+\]|collect\.generic\[\d+\]\.glob)$")
#: The devlog server's key prefix (`dvl_<id>_<secret>`, server/src/devlog_server/keys.py).
KEY_PREFIX: Final = "dvl_"


def looks_like_a_key(name: str) -> bool:
    """Whether `name`, given where an environment variable's *name* belongs, looks like a pasted API
    key: devlog's key prefix, or a long random-looking run of mixed letters and digits. Such a name is
    never printed (it would put the secret on every terminal and log that shows a warning)."""
    if name.lower().startswith(KEY_PREFIX):
        return True
    for part in re.split(r"[_\-.]+", name):
        kinds = sum((any(c.islower() for c in part), any(c.isupper() for c in part), any(c.isdigit() for c in part)))
        if len(part) >= 32 or (len(part) >= 16 and kinds >= 2):
            return True
    return False


def _shown_variable(name: str) -> str:
    return (mask_secret(name) or "****") if looks_like_a_key(name) else name


def _interpolate(value: Any, where: str, warnings: list[str], errors: dict[str, str]) -> Any:
    """`value` with `${VAR}` resolved everywhere; unset variables become warnings, or errors in paths."""
    if isinstance(value, dict):
        return {k: _interpolate(v, _join(where, k), warnings, errors) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{where}[{i}]", warnings, errors) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    resolved = interpolate(value, where, [])  # its warnings are worded below, with key-like names masked
    unset = list(dict.fromkeys(m.group(1) for m in ENV_REF.finditer(value)
                               if m.group(2) is None and m.group(1) not in os.environ))  # fmt: skip
    if unset and _PATH_KEYS.match(where):
        errors[where] = _unset_in_path(value, resolved, where, unset)
    else:
        warnings += [_unset_warning(where, name) for name in unset]
    return resolved


def _unset_warning(where: str, name: str) -> str:
    if not looks_like_a_key(name):
        return f"{where}: environment variable {name} is not set"
    return (
        f"{where}: environment variable {_shown_variable(name)} is not set; that name looks like an API key "
        "itself: remove it from the file, put the key in an environment variable and write its name, "
        "e.g. ${DEVLOG_TEAM_API_KEY}"
    )


def _unset_in_path(value: str, resolved: str, where: str, unset: list[str]) -> str:
    names = ", ".join(_shown_variable(name) for name in unset)
    if any(looks_like_a_key(name) for name in unset):
        return f"{where}: environment variable {names} is not set"
    instead = repr(resolved) if resolved.strip() else "empty"
    example = value.replace("${" + unset[0] + "}", "${" + unset[0] + ":-/a/folder}", 1)
    return (
        f"{where}: environment variable {names} is not set (the path would be {instead}): set it, "
        f"or give it a default, e.g. {example}"
    )


# -- rules across keys -----------------------------------------------------------------------------


def _credentials_clash(remotes: dict[str, Any], raw_remotes: dict[str, Any]) -> list[str]:
    """Remotes whose url carries a user or password as well as an api_key: HTTP clients turn the url's
    credentials into a Basic `Authorization` header, which replaces the key's Bearer one, so every
    request would fail with 401 for a reason the user cannot see.

    The key counts when the file sets one, resolved or not: `api_key: ${K2}` with K2 unset today
    would make the config invalid the day K2 is set (in a `devlog start` that then stops exporting)."""
    clashes = []
    for name, remote in remotes.items():
        url = remote.get("url") if isinstance(remote, dict) else None
        raw = raw_remotes.get(name) if isinstance(raw_remotes, dict) else None
        key_set = remote.get("api_key") or (isinstance(raw, dict) and raw.get("api_key") not in (None, ""))
        if isinstance(url, str) and key_set and "@" in url.partition("://")[2].split("/", 1)[0]:
            clashes.append(
                f"export.remotes.{name}.url: has a user name or password as well as an api_key; the url's "
                "credentials would replace the key in the Authorization header: remove them from the url"
            )
    return clashes


def _case_clashes(remotes: dict[str, Any]) -> list[str]:
    """Remote names that differ only in case (`team`, `Team`): each remote's export lock is a file
    named after it, and on a case-insensitive disk (macOS, Windows) both would be one file, so one
    remote would keep finding the other's export pass running (busy, or waiting up to 60 s)."""
    seen: dict[str, str] = {}
    clashes = []
    for name in remotes:
        first = seen.setdefault(name.casefold(), name)
        if first != name:
            clashes.append(f"export.remotes.{name}: differs from remote {first!r} only in case; rename one of them")
    return clashes


def _position_order(problem: str) -> list[tuple[int, int | str]]:
    """Sort key of a `where: message` problem: its dotted path, list indices compared as numbers."""
    where = problem.partition(": ")[0]
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"[.\[\]]+", where) if part]


def parse_config(raw: dict[str, Any] | None, *, source: str = "config") -> tuple[Config, list[str]]:
    """Validate raw (already loaded) YAML data; returns the config and env-interpolation warnings."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"{source}: the top level must be a mapping of keys (collect, storage, export, ...)")
    env_problems: list[str] = []
    env_errors: dict[str, str] = {}
    data = _interpolate(raw, "", env_problems, env_errors)
    walked: list[str] = []
    checked = _walk(data, Config, "", walked)
    # A path whose variable is unset has that as its one problem (not also "is empty" or "is relative").
    problems = [*env_errors.values(), *(p for p in walked if p.partition(": ")[0] not in env_errors)]
    problems.sort(key=_position_order)  # (the two passes each found some: one list, by position)
    if not any(problem.startswith("export_default") for problem in problems):
        problems += _unknown_default_remote(data)
    if not problems:
        remotes = (checked.get("export") or {}).get("remotes") or {}
        problems += _case_clashes(remotes)
        problems += _credentials_clash(remotes, (raw.get("export") or {}).get("remotes") or {})
    if problems:
        raise UserError(f"{source} is not valid", _naming_unset_variables(problems, env_problems))
    try:
        return msgspec.convert(checked, Config, strict=False), env_problems
    except msgspec.ValidationError as exc:  # pragma: no cover - the walk reports every problem first
        raise UserError(f"{source} is not valid", [_leaf_message(exc)]) from None


def _unknown_default_remote(data: Any) -> list[str]:
    """`export_default` naming no remote of the file (checked against the names written, valid or not,
    so it is reported beside the remotes' own problems)."""
    default = data.get("export_default", "none") if isinstance(data, dict) else "none"
    export = data.get("export") if isinstance(data, dict) else None
    remotes = export.get("remotes") if isinstance(export, dict) else None
    names = sorted(str(name) for name in remotes) if isinstance(remotes, dict) else []
    if not isinstance(default, str) or default == "none" or default in names:
        return []
    return [f"export_default: names unknown remote {default!r} (remotes: {', '.join(names) or 'none configured'})"]


def _naming_unset_variables(problems: list[str], unset: list[str]) -> list[str]:
    """`problems`, each followed by the unset `${VAR}`s of its key (a blank agent name or duration is
    otherwise a riddle: the warning about the variable is only printed for a valid file)."""
    if not unset:
        return problems
    named = []
    for problem in problems:
        key = problem.partition(": ")[0]
        notes = [
            warning.partition(": ")[2]
            for warning in unset
            if _same_or_nested(key, warning.partition(": ")[0]) and warning.partition(": ")[2] not in problem
        ]
        named.append(f"{problem} ({'; '.join(notes)})" if notes else problem)
    return named


def _same_or_nested(key: str, other: str) -> bool:
    return key == other or other.startswith((key + ".", key + "[")) or key.startswith((other + ".", other + "["))


def load_config(path: Path | None = None, *, for_collection: bool = False) -> tuple[Config, list[str]]:
    """Load the config file (defaults if it does not exist).

    Returns the config and a list of warnings (unset environment variables); raises UserError
    naming every invalid key. With `for_collection` (`devlog collect` and `start`), problems that
    are all in the `export`/`export_default` sections do not stop collection: the config is
    loaded without those sections (nothing is exported) and each problem becomes a warning.
    """
    path = path or config_path()
    if not path.exists():
        return Config(), missing_config_warnings() if path == config_path() else []
    from devlog_collector.config_cache import load_yaml

    raw = load_yaml(path)
    try:
        return parse_config(raw, source=str(path))
    except UserError as exc:
        if not (
            for_collection and isinstance(raw, dict) and exc.problems and all(map(_is_export_problem, exc.problems))
        ):
            raise
        problems = exc.problems
    trimmed = {key: value for key, value in raw.items() if key not in ("export", "export_default")}
    config, warnings = parse_config(trimmed, source=str(path))
    return config, [*warnings, *(f"nothing is exported until {path} is fixed: {p}" for p in problems)]


def _is_export_problem(problem: str) -> bool:
    return problem.startswith(("export.", "export:", "export_default"))


#: Secrets shorter than this are shown as `****` only: their last 4 characters would be too much.
_MASK_MIN_LENGTH = 16
_KEY_PREFIX = re.compile(r"^[A-Za-z]{2,5}_")


def mask_secret(value: str | None) -> str | None:
    """A hint of a secret that gives nothing useful away: `dlk_…wxyz` (a key-type prefix such as
    `dlk_` and the last 4 characters) for long secrets, `****` for short ones."""
    if not value:
        return value
    if len(value) < _MASK_MIN_LENGTH:
        return "****"
    prefix = _KEY_PREFIX.match(value)
    return f"{prefix.group(0) if prefix else ''}…{value[-4:]}"


#: A query parameter whose name has one of these as a part (`access_token`, `X-Amz-Signature`,
#: `apiKey`) carries a credential: `mask_url` shows its value as `***`.
_SECRET_QUERY_WORDS: Final = frozenset(
    {"token", "key", "apikey", "secret", "password", "passwd", "pwd", "pass", "sig", "signature", "auth",
     "credential", "credentials", "session"}
)  # fmt: skip
_QUERY_PARAM: Final = re.compile(r"([?&;])([^=&;#]+)=([^&;#]*)")
_NAME_PARTS: Final = re.compile(r"[_.\-]+|(?<=[a-z0-9])(?=[A-Z])")


def mask_url(url: str) -> str:
    """`url` with the password of any `user:password@` part, and the values of query parameters
    named for a credential (`?access_token=`, `&sig=`, `?key=`), replaced by `***`."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if sep and at:
        shown = f"{userinfo.split(':', 1)[0]}:***" if ":" in userinfo else "***"  # a lone user part may be a token
        url = f"{scheme}://{shown}@{host}{slash}{path}"
    if "=" not in url:
        return url

    def masked(match: re.Match[str]) -> str:
        parts = {part.lower() for part in _NAME_PARTS.split(match.group(2)) if part}
        if parts & _SECRET_QUERY_WORDS or match.group(2).lower().endswith(("token", "key", "secret")):
            return f"{match.group(1)}{match.group(2)}=***"
        return match.group(0)

    base, question, query = url.partition("?")
    return base + question + _QUERY_PARAM.sub(masked, question + query)[1:] if question else url


def mask_secrets(config: Config) -> dict[str, Any]:
    """The effective config as plain data with API keys and URL passwords masked (`devlog config show`)."""
    data: dict[str, Any] = msgspec.to_builtins(config)
    for remote in data["export"]["remotes"].values():
        remote["api_key"] = mask_secret(remote.get("api_key"))
        remote["url"] = mask_url(remote["url"])
    return data
