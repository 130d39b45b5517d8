"""Event schema v1: the one definition of an agent event.

The collector's store, the exporter's wire format and the ingest server all use these Structs, so a
field means the same thing everywhere. Rules that keep the format evolvable:

* JSON keys are snake_case; optional fields are omitted when unset (`omit_defaults`), which keeps
  stored and exported events small and makes encoding byte-stable.
* Unknown fields are ignored on decode (msgspec's default), so an older reader accepts a newer
  writer's events within one schema version. Only optional fields may be added within v1; anything
  else bumps `SCHEMA_VERSION`.
* `id` is deterministic (see `ids.py`): re-parsing the same record anywhere yields the same id, which
  is what makes collection and export idempotent.
* Token usage is normalised the way ccusage reports it: `input_tokens` excludes cached input (that is
  `cache_read_tokens`), and `reasoning_tokens` is the part of `output_tokens` spent reasoning.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec

from devlog_shared.limits import MAX_PATH_LENGTH

__all__ = [
    "EVENT_KINDS",
    "KNOWN_AGENTS",
    "SCHEMA_VERSION",
    "Event",
    "EventKind",
    "FileInfo",
    "GitInfo",
    "SourceRef",
    "ToolInfo",
    "Usage",
]

SCHEMA_VERSION: Final = 1

EventKind = Literal[
    "session_start",
    "prompt",
    "response",
    "tool_call",
    "tool_result",
    "file_edit",
    "command",
    "error",
]
EVENT_KINDS: Final[tuple[str, ...]] = EventKind.__args__  # type: ignore[attr-defined]

#: Built-in agent names. A generic JSONL source may use any other short name.
KNOWN_AGENTS: Final = ("claude", "copilot", "cursor", "codex", "gemini")

NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
ShortStr = Annotated[str, msgspec.Meta(max_length=1024)]
PathStr = Annotated[str, msgspec.Meta(max_length=MAX_PATH_LENGTH)]
#: `(?![\s\S])` is "end of text" in Python and in JSON Schema's ECMA regexes alike: Python's `$` also
#: matches before a final newline (it let `"claude\n"` through), and `\Z` means nothing in ECMA.
AGENT_NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9_.-]*(?![\s\S])"
AgentName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=AGENT_NAME_PATTERN)]
EventId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
UtcDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class _Base(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True, forbid_unknown_fields=False):
    pass


class Usage(_Base, kw_only=True, frozen=True):
    """Tokens spent by one model call, normalised across agents (see module docstring)."""

    input_tokens: NonNegInt = 0
    output_tokens: NonNegInt = 0
    cache_creation_tokens: NonNegInt = 0
    cache_read_tokens: NonNegInt = 0
    reasoning_tokens: NonNegInt = 0

    @property
    def total(self) -> int:
        """Input + output + cache creation + cache read (ccusage's `totalTokens`)."""
        return self.input_tokens + self.output_tokens + self.cache_creation_tokens + self.cache_read_tokens


class GitInfo(_Base, kw_only=True, frozen=True):
    """Git state of the workspace when the event was collected."""

    remote: ShortStr | None = None
    branch: ShortStr | None = None
    commit: ShortStr | None = None


class ToolInfo(_Base, kw_only=True, frozen=True):
    """A tool invocation (tool_call / tool_result / command events)."""

    name: ShortStr
    call_id: ShortStr | None = None
    status: ShortStr | None = None
    duration_ms: NonNegInt | None = None


class FileInfo(_Base, kw_only=True, frozen=True):
    """A file touched by an edit."""

    path: PathStr
    lines_added: NonNegInt | None = None
    lines_removed: NonNegInt | None = None


class SourceRef(_Base, kw_only=True, frozen=True):
    """Where on disk the event came from: the file and the record key inside it."""

    path: PathStr
    key: ShortStr | None = None


class Event(_Base, kw_only=True, frozen=True):
    """One thing an agent did: a prompt, a response, a tool call, a file edit, ..."""

    id: EventId
    schema_version: int = SCHEMA_VERSION
    ts: UtcDatetime
    agent: AgentName
    kind: EventKind
    session_id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    agent_version: ShortStr | None = None
    parent_id: EventId | None = None
    workspace: PathStr | None = None
    project: ShortStr | None = None
    git: GitInfo | None = None
    machine: ShortStr | None = None
    user: ShortStr | None = None
    model: ShortStr | None = None
    usage: Usage | None = None
    cost_usd: Annotated[float, msgspec.Meta(ge=0)] | None = None
    tool: ToolInfo | None = None
    file: FileInfo | None = None
    text: str | None = None
    source: SourceRef | None = None
    attrs: dict[str, Any] = msgspec.field(default_factory=dict)
