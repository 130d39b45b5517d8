"""Generic JSONL source: any agent that writes one JSON object per line, described in config.

Why: new agents appear faster than built-in parsers. A `collect.generic[]` entry names a glob and
maps event fields to dotted paths in each line (see `GenericSourceConfig`), and the collect engine
tails the files like any append-only log (cursor, exactly-once, partial lines held back).

Ids: the mapped `id` field when the line has one, derived from the agent name and that value alone
(not from the session or file; stored events depend on it, so it stays that way). The mapped id must
therefore be unique across every file the source reads: two lines sharing one are one event to the
store, so an id unique only per session keeps one session's line and drops the others without a
word (docs/sources.md tells users so). Without a mapped id, the id is a content hash of the line plus
its occurrence index among identical lines earlier in the same file, so two genuinely repeated lines
stay two events while a re-read, a rotated copy or an atomically replaced file with the same lines
yields the same ids. The occurrence counts travel in the cursor state; to bound that state, only the
first `MAX_TRACKED_LINES` distinct line hashes of a file are tracked (a rule that depends only on
the file's content, so ids stay deterministic); identical lines after that share one id.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Iterator
from datetime import tzinfo
from pathlib import Path
from typing import Any, ClassVar, Final

import msgspec

from devlog_collector.config import GenericSourceConfig
from devlog_collector.sources._values import as_int, as_str, load_json_bytes, parse_ts, text_of
from devlog_collector.sources.base import Problem, Source, SourceFile
from devlog_shared import EVENT_KINDS, Event, FileInfo, SourceRef, ToolInfo, Usage, event_id

__all__ = ["MAX_TRACKED_LINES", "GenericJsonlSource", "lookup"]

#: Distinct line hashes remembered per file for occurrence indexes (see module docstring).
MAX_TRACKED_LINES: Final = 100_000
_MISSING: Final = object()
_USAGE_FIELDS: Final = (
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "reasoning_tokens",
)


def _is_zero(value: Any) -> bool:
    """A count of zero as a number or a numeric string (`0`, `0.0`, `"0"`), not `false`."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value == 0
    return isinstance(value, str) and value.strip() in ("0", "0.0")


def lookup(record: Any, dotted: str) -> Any:
    """The value at a dotted path (`a.b.0.c`; digits index lists), or `_MISSING`."""
    value = record
    for part in dotted.split("."):
        if isinstance(value, dict):
            if part not in value:
                return _MISSING
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(value) <= index < len(value):
                return _MISSING
            value = value[index]
        else:
            return _MISSING
    return value


def _static_root(pattern: str) -> Path:
    """The longest leading part of a glob without magic characters (what exists to be watched)."""
    parts: list[str] = []
    for part in Path(pattern).parts:
        if any(ch in part for ch in "*?[{"):
            break
        parts.append(part)
    return Path(*parts) if parts else Path()


class GenericJsonlSource(Source):
    """A configured JSONL source (one per `collect.generic[]` entry)."""

    name: ClassVar[str] = "generic"
    env_var: ClassVar[str | None] = None

    def __init__(self, config: GenericSourceConfig) -> None:
        self.config = config
        self.pattern = str(Path(os.path.expandvars(config.glob)).expanduser())
        super().__init__([_static_root(self.pattern)])
        #: The agent name written into events.
        self.agent = config.name
        #: The key of this source's cursors and parse errors in the store.
        self.source_id = f"generic:{config.name}"
        #: The zone of timestamps written without an offset (None: UTC).
        self.naive_zone = _naive_zone(config.timezone)
        #: Everything of the config that decides what a line becomes (not the name: another name is
        #: another source; not the glob: it decides which files, not what their lines say), after
        #: what its ids derive from (`mapping.id`; see `Source.reading`).
        rest = {k: v for k, v in config.mapping.items() if k != "id"}
        self.reading = (
            hashlib.sha256(msgspec.json.encode(config.mapping.get("id"))).hexdigest()[:8] + ":" +
            hashlib.sha256(msgspec.json.encode([sorted(rest.items()), sorted(config.kind_map.items()),
                                                config.kind_default, config.timezone])).hexdigest()[:16]
        )  # fmt: skip

    @classmethod
    def default_roots(cls) -> list[Path]:
        """None: a generic source reads exactly what its glob names."""
        return []

    def discover(self) -> Iterator[SourceFile]:
        """Regular files matching the glob (`**` does not follow symlinked folders)."""
        from wcmatch import glob

        flags = glob.GLOBSTAR | glob.BRACE | glob.NODIR
        for match in sorted(glob.iglob(self.pattern, flags=flags)):
            path = Path(match)
            if self.is_log_file(path):
                yield SourceFile(path=path, mode="append")

    def parse_lines(
        self, file: SourceFile, lines: Iterable[tuple[int, bytes]], state: dict[str, Any]
    ) -> Iterator[Event | Problem]:
        """One event per mapped JSON line; a Problem for each line that cannot be used."""
        seen: dict[str, int] = state.setdefault("seen", {})
        path = str(file.path)
        for line_no, raw in lines:
            digest = hashlib.sha256(raw).hexdigest()
            key = digest[:16]
            occurrence = seen.get(key, 0)
            if occurrence or len(seen) < MAX_TRACKED_LINES:
                seen[key] = occurrence + 1
            record, error = load_json_bytes(raw)
            if error is not None:
                yield Problem(f"line {line_no}", f"invalid JSON: {error}")
                continue
            if not isinstance(record, dict):
                yield Problem(f"line {line_no}", f"expected a JSON object, got {type(record).__name__}")
                continue
            problems: list[Problem] = []
            yield self._event(record, line_no, digest, occurrence, path, problems)
            yield from problems

    def _event(
        self, record: dict[str, Any], line_no: int, digest: str, occurrence: int, path: str, problems: list[Problem]
    ) -> Event | Problem:
        """The line's event, or the Problem that keeps it from being one; `problems` gets what is
        wrong with an event that is still stored (a token count that cannot be used)."""
        mapping = self.config.mapping
        where = f"line {line_no}"

        def field(name: str) -> Any:
            dotted = mapping.get(name)
            return _MISSING if dotted is None else lookup(record, dotted)

        ts = parse_ts(field("ts"), self.naive_zone)
        if ts is None:
            return Problem(where, f"no usable timestamp at {mapping['ts']!r}")
        session = field("session_id")
        session_id = str(session) if isinstance(session, str | int) and not isinstance(session, bool) else None
        if not session_id:
            return Problem(where, f"no session id at {mapping['session_id']!r}")
        raw_kind = field("kind")
        kind_text = str(raw_kind) if isinstance(raw_kind, str | int) else None
        kind = self.config.kind_map.get(kind_text, kind_text) if kind_text is not None else None
        attrs: dict[str, Any] = {}
        if kind not in EVENT_KINDS:
            if kind_text is not None:
                attrs["source_kind"] = kind_text[:256]
            kind = self.config.kind_default if self.config.kind_default in EVENT_KINDS else "response"
        record_id = field("id")
        if isinstance(record_id, str | int) and not isinstance(record_id, bool) and str(record_id):
            eid = event_id(self.agent, "id", str(record_id))
        else:
            eid = event_id(self.agent, "line", digest, occurrence)
        usage_values: dict[str, int] = {}
        for name in _USAGE_FIELDS:
            if name in mapping:
                value = field(name)
                usage_values[name] = count = as_int(value)
                if not count and value is not _MISSING and value is not None and not _is_zero(value):
                    wrong = f"is not a non-negative count ({_shown(value)}): counted as 0"
                    problems.append(Problem(where, f"`{name}` at {mapping[name]!r} {wrong}"))
        usage = Usage(**usage_values) if any(usage_values.values()) else None
        text_value = field("text")
        text = text_of(text_value) if text_value is not _MISSING else ""
        tool_name = as_str(field("tool_name"))
        file_path = as_str(field("file_path"))
        cost_value = field("cost_usd")
        cost = _cost(cost_value)
        if cost is None and cost_value is not _MISSING and cost_value is not None:
            wrong = f"is not a non-negative number ({_shown(cost_value)}): not kept"
            problems.append(Problem(where, f"`cost_usd` at {mapping['cost_usd']!r} {wrong}"))
        parent = as_str(field("parent_id"))
        return Event(
            id=eid,
            ts=ts,
            agent=self.agent,
            kind=kind,  # type: ignore[arg-type]
            session_id=session_id[:256],
            agent_version=_short(field("agent_version")),
            parent_id=event_id(self.agent, "id", parent) if parent else None,
            workspace=_short(field("workspace"), 4096),
            model=_short(field("model")),
            usage=usage,
            cost_usd=cost,
            tool=ToolInfo(name=tool_name[:1024]) if tool_name else None,
            file=FileInfo(path=file_path[:4096]) if file_path else None,
            text=text or None,
            source=SourceRef(path=path[:4096], key=where),
            attrs=attrs,
        )


def _shown(value: Any) -> str:
    """A mapped value as a problem message shows it: a scalar's repr, else its type (40 characters)."""
    return (repr(value) if isinstance(value, str | int | float | bool) else type(value).__name__)[:40]


def _cost(value: Any) -> float | None:
    """A cost in USD: a non-negative number, or a string holding one (`"0.25"`); None otherwise."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value < math.inf else None


def _short(value: Any, limit: int = 1024) -> str | None:
    text = as_str(value)
    return text[:limit] if text else None


def _naive_zone(name: str) -> tzinfo | None:
    """The zone `timezone` names (validated by the config); None for UTC."""
    if name == "UTC":
        return None
    if name == "local":
        from devlog_collector.localzone import local_zone

        return local_zone()
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
