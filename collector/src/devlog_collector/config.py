"""The collector's configuration: `<home>/config.yaml` in the design card's schema.

No file is needed to start collecting: every key has a default, and the defaults export nothing
(`export_default: none`). Values may reference the environment as `${VAR}` (or `${VAR:-default}`);
that is how API keys stay out of the file. Loading reports every problem at once, each naming the
key (`export.remotes.team.url: ...`), and never prints secrets.

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
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta, Struct, field

from devlog_collector.durations import parse_duration
from devlog_collector.errors import UserError
from devlog_collector.paths import config_path, missing_config_warnings, path_user_problem
from devlog_collector.storage_location import (
    DEFAULT_EVENTS_DB,
    DEFAULT_STORAGE_PATH,
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
    "mask_secrets",
    "parse_config",
]

BUILTIN_AGENTS = ("claude", "copilot", "cursor", "codex", "gemini")


class _Model(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Config sections: immutable msgspec Structs (a fast import; `devlog status` reads the config)."""


class GenericSourceConfig(_Model, frozen=True):
    """A JSONL source for agents without a built-in parser: a glob plus a field mapping.

    `mapping` maps event fields to dotted paths in each JSON line, e.g.
    `{ts: time, kind: type, session_id: conversation.id, text: message, workspace: cwd, model: model,
    input_tokens: usage.in, output_tokens: usage.out, id: uuid}`. `ts` and `session_id` are required;
    `kind` defaults to `kind_default`; values of `kind` are translated through `kind_map` first.
    """

    name: Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_.-]*(?![\s\S])", max_length=64)]  # (not `$`: see AgentName)
    glob: str
    mapping: dict[str, str]
    kind_map: dict[str, str] = field(default_factory=dict)
    kind_default: str = "response"


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


def _known_agents(value: list[str]) -> list[str]:
    unknown = [a for a in value if a not in BUILTIN_AGENTS]
    if unknown:
        raise ValueError(f"unknown agent(s) {', '.join(unknown)}; known: {', '.join(BUILTIN_AGENTS)}")
    return value


def _known_roots(value: dict[str, list[str]]) -> dict[str, list[str]]:
    unknown = [a for a in value if a not in BUILTIN_AGENTS]
    if unknown:
        raise ValueError(f"roots for unknown agent(s) {', '.join(unknown)}; known: {', '.join(BUILTIN_AGENTS)}")
    for agent, roots in value.items():
        for root in roots:
            problem = _root_problem(root)
            if problem is not None:
                raise ValueError(f"{agent}: {problem}")
    return value


def _root_problem(root: str) -> str | None:
    """Why `root` cannot be an agent's folder, or None. An empty or relative root (typically an
    unset `${VAR}`) would be the directory devlog happens to run in."""
    expanded = os.path.expandvars(root)
    problem = path_user_problem(expanded)
    if problem is not None:
        return problem
    if not expanded.strip():
        return "a root is empty (an unset ${VAR}?): give the agent's folder, e.g. ~/.claude"
    if not Path(os.path.expanduser(expanded)).is_absolute():  # noqa: PTH111
        hint = " (an unset $VAR?)" if "$" in expanded else ""
        return f"root {root!r} is relative: give an absolute folder or one starting with ~{hint}"
    return None


def _expandable_glob(value: str) -> str:
    problem = path_user_problem(os.path.expandvars(value))
    if problem is not None:
        raise ValueError(problem)
    return value


def _storage_path(value: str) -> str:
    problem = storage_path_problem(value)
    if problem is not None:
        raise ValueError(problem)
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
    if builtin:
        raise ValueError(f"name(s) {', '.join(builtin)} belong to built-in sources; pick another")
    repeated = sorted({n for n in names if names.count(n) > 1 and isinstance(n, str)})
    if repeated:
        raise ValueError(f"name(s) {', '.join(repeated)} used more than once; each source needs its own")
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
    is the same remote as `http://host` (and hashes the same into the export cursor's rules)."""
    if not re.match(r"^https?://[^/\s]+", value, re.IGNORECASE):
        raise ValueError(f"must be an http:// or https:// URL, got {mask_url(value)!r}")
    scheme, sep, rest = value.partition("://")
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
                problems.append(f"{_join(where, key)}: unknown key")
                continue
            before = len(problems)
            checked = _walk(item, info.type, _join(where, key), problems)
            rule = _FIELD_RULES.get((struct, info.name))
            if rule is not None and len(problems) == before:
                try:
                    checked = rule(checked)
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
        problems.append(f"{_leaf_where(where, exc)}: {_leaf_message(exc)}")
        return value


def _interpolate(value: Any, where: str, problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{where}.{k}" if where else str(k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if isinstance(value, str):
        return interpolate(value, where, problems)
    return value


def _credentials_clash(remotes: dict[str, Any]) -> list[str]:
    """Remotes whose url carries a user or password as well as an api_key: HTTP clients turn the url's
    credentials into a Basic `Authorization` header, which replaces the key's Bearer one, so every
    request would fail with 401 for a reason the user cannot see."""
    clashes = []
    for name, remote in remotes.items():
        url = remote.get("url") if isinstance(remote, dict) else None
        if isinstance(url, str) and remote.get("api_key") and "@" in url.partition("://")[2].split("/", 1)[0]:
            clashes.append(
                f"export.remotes.{name}.url: has a user name or password as well as an api_key; the url's "
                "credentials would replace the key in the Authorization header: remove them from the url"
            )
    return clashes


def parse_config(raw: dict[str, Any] | None, *, source: str = "config") -> tuple[Config, list[str]]:
    """Validate raw (already loaded) YAML data; returns the config and env-interpolation warnings."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"{source}: the top level must be a mapping of keys (collect, storage, export, ...)")
    env_problems: list[str] = []
    data = _interpolate(raw, "", env_problems)
    problems: list[str] = []
    checked = _walk(data, Config, "", problems)
    if not problems:
        default = checked.get("export_default", "none")
        remotes = (checked.get("export") or {}).get("remotes") or {}
        if default != "none" and default not in remotes:
            names = ", ".join(sorted(remotes)) or "none configured"
            problems.append(f"export_default: names unknown remote {default!r} (remotes: {names})")
        problems += _credentials_clash(remotes)
    if problems:
        raise UserError(f"{source} is not valid", problems)
    try:
        return msgspec.convert(checked, Config, strict=False), env_problems
    except msgspec.ValidationError as exc:  # pragma: no cover - the walk reports every problem first
        raise UserError(f"{source} is not valid", [_leaf_message(exc)]) from None


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
