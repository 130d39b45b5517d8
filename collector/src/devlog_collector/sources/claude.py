"""Claude Code transcripts (`<config dir>/projects/**/*.jsonl`, sub-agent files included).

Claude Code appends one JSON object per line: user prompts, one line per assistant content block
(thinking, text, each tool_use), tool results, system notices and bookkeeping records (summary,
file-history-snapshot, queue-operation, progress, ...). Files are tailed in append mode.

Events and their ids (deterministic, so re-reads, resumed sessions that replay the same lines and
copies of a file in another folder all collapse):

* `prompt`      a user line with real typed text (not `isMeta` injected context, not a compact
                summary, not a tool_result carrier): id from the line `uuid`.
* `response`    each assistant `text` block: id from `uuid` + block index.
* `tool_call`   each `tool_use` block: id from the tool_use id (`toolu_...`), which the matching
                `tool_result` also names, so results link to calls with no lookup.
* `command`     additionally for `Bash` tool_use blocks (text = the command line), child of the call.
* `tool_result` each `tool_result` block: status from `is_error`, output capped at 64 KiB.
* `file_edit`   from the structured result of Edit/MultiEdit/Write/NotebookEdit (`toolUseResult`):
                the path and the +/- lines of `structuredPatch` (for a created file, its lines).
                Emitted on the result, so failed edits are not counted as edits.
* `error`       API error lines (`isApiErrorMessage`, `system`/`api_error`).
* `session_start` once per session (id from the session id), from the first dated line of a file.

Token usage — the key pitfall (formats reference §2.6). Every line of one streamed response repeats
the response's `usage`, older builds wrote a placeholder `output_tokens` on most of them, and the
same response reappears in resumed sessions, sub-agent files, `agent_progress` records and `/btw`
side-question logs (which replay parent messages under a new `requestId`). So usage never rides on
the content events: usage yields a `response` event whose id is derived from the response's *usage
key* only (`attrs.usage_record` marks it; it has no text). Every copy of a response therefore maps to
one id and the store keeps the copy with the largest token total. Within one read the parser already
keeps only the largest copy per key, so a streamed response costs the store one row, not one per line.

The usage key is the one that makes devlog's daily totals equal ccusage's (v20) on real logs:

* `message.id` alone when the line has a `requestId`. Anthropic message ids are unique per response;
  keying on the id alone is what lets a `/btw` replay (same message id, new request id) collapse
  into the parent's copy, which ccusage achieves with a special sidechain rule. (ccusage would count
  two non-sidechain lines with one message id and two request ids twice; Claude Code does not write
  those.)
* `message.id` + `sessionId` + timestamp when `requestId` is missing (gateways), ccusage's rule.
* the line `uuid` (else a hash of the line) when there is no message id: never merged with others.

Like ccusage, usage lines with a non-semver `version`, an empty id or model, a missing timestamp or
non-integer token counts are not counted (each is reported as a Problem). The `<synthetic>` model of
locally generated messages is not a model: such usage (always zero in practice) has `model` unset.
Fast mode (`usage.speed == "fast"`) keeps the plain model name (so prices resolve) and sets
`attrs.speed = "fast"`; ccusage reports the model as `<model>-fast`; token totals are the same.

The workspace is the line's `cwd` (the folder name under `projects/` is a lossy encoding and is never
decoded); the git branch is `gitBranch`; `agent_version` is `version`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from devlog_collector.sources._values import cap_text
from devlog_collector.sources.base import Problem, Source, SourceFile, find_files, under_any, with_attrs
from devlog_shared import Event, FileInfo, GitInfo, SourceRef, ToolInfo, Usage, content_hash, decode_repaired, event_id
from devlog_shared.limits import MAX_COST_USD, MAX_TEXT_CHARS

__all__ = [
    "EDIT_TOOLS",
    "MESSAGE_TEXT_LIMIT",
    "SHELL_TOOLS",
    "TOOL_TEXT_LIMIT",
    "ClaudeCodeSource",
    "cap_text",
    "parse_iso",
]

AGENT: Final = "claude"
#: Tool output and tool input copied into `text` are capped at this many characters.
TOOL_TEXT_LIMIT: Final = 64 * 1024
#: Prompts and responses are capped at this many characters (pasted files, huge answers).
MESSAGE_TEXT_LIMIT: Final = MAX_TEXT_CHARS
EDIT_TOOLS: Final = frozenset({"Edit", "MultiEdit", "Write", "NotebookEdit"})
SHELL_TOOLS: Final = frozenset({"Bash"})
SYNTHETIC_MODEL: Final = "<synthetic>"
#: Tool-use ids remembered per file to name the tool on its result (oldest dropped beyond this).
MAX_PENDING_TOOLS: Final = 256
#: Combinations of a line's session, version, cwd and branch whose event fields a read keeps built.
_SHARED_FIELDS_KEPT: Final = 256
#: Input keys copied (when short scalars) into a tool call's `attrs.input` summary.
_INPUT_SUMMARY_KEYS: Final = (
    "file_path",
    "notebook_path",
    "path",
    "pattern",
    "glob",
    "command",
    "description",
    "url",
    "query",
    "subagent_type",
    "skill",
    "replace_all",
    "offset",
    "limit",
)
#: Each summary key's place in `_INPUT_SUMMARY_KEYS`: the summary lists them in that order.
_INPUT_SUMMARY_KEY_ORDER: Final = {key: place for place, key in enumerate(_INPUT_SUMMARY_KEYS)}
_SCALARS: Final = (bool, int, float)
_SUMMARY_VALUE_LIMIT: Final = 300
#: User lines Claude Code writes that nobody typed: a local command's output, a `!` shell command's
#: output, and the marker left when the user interrupts a reply or a tool call.
_LOCAL_OUTPUT_PREFIXES: Final = (
    "<local-command-stdout>",
    "<local-command-stderr>",
    "<bash-stdout>",
    "<bash-stderr>",
    "[Request interrupted by user",
)
#: Sessions a file has started, remembered in its state (a file holds one, or a few when it begins
#: with lines copied from other sessions).
_STARTED_KEPT: Final = 16
_BASH_INPUT: Final = re.compile(r"\s*<bash-input>(.*?)</bash-input>\s*", re.S)
#: The token counts of a usage object, in the order their problems are reported.
_TOKEN_FIELDS: Final = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
_Count = Annotated[int, msgspec.Meta(ge=0)]


class _TokenCounts(msgspec.Struct):
    """A usage object's four counts, checked by one conversion (a dict walk in Python cost ~3,000
    instructions more per assistant line); msgspec refuses a bool, a float, a null and a negative
    count here as the walk does."""

    input_tokens: _Count
    output_tokens: _Count
    cache_creation_input_tokens: _Count | UnsetType = UNSET
    cache_read_input_tokens: _Count | UnsetType = UNSET


def _token_counts(usage: dict[str, Any]) -> tuple[int, int, int | None, int | None] | str:
    """(input, output, cache creation, cache read) tokens of a usage object, None where a count is
    not given; or why its usage is not counted (the first bad count, or a missing one)."""
    try:
        counts = msgspec.convert(usage, _TokenCounts)
    except msgspec.ValidationError:
        pass  # a bad count, or one past what msgspec converts: the walk below finds which
    else:
        creation, read = counts.cache_creation_input_tokens, counts.cache_read_input_tokens
        return (
            counts.input_tokens,
            counts.output_tokens,
            None if isinstance(creation, UnsetType) else creation,
            None if isinstance(read, UnsetType) else read,
        )
    found: dict[str, int] = {}
    for field in _TOKEN_FIELDS:
        if field in usage:
            value = usage[field]
            if type(value) is not int or value < 0:  # (bool is not a count either)
                return f"usage not counted: `{field}` is not a non-negative integer"
            found[field] = value
    if "input_tokens" not in found or "output_tokens" not in found:
        return "usage not counted: `input_tokens`/`output_tokens` missing"
    return (
        found["input_tokens"],
        found["output_tokens"],
        found.get("cache_creation_input_tokens"),
        found.get("cache_read_input_tokens"),
    )


_decode = msgspec.json.Decoder().decode


class _LineFields(msgspec.Struct, frozen=True, gc=False):
    """The event fields every event of one line shares. Spelt out as keywords at each `Event(...)`:
    passing them as `**fields` from a dict cost ~6,600 more instructions per event than the same keywords
    written out (CPython builds a dict for the call and msgspec matches its keys one by one)."""

    session_id: str
    agent_version: str | None
    workspace: str | None
    git: GitInfo | None
    source: SourceRef


class _RecordType(msgspec.Struct):
    """Only a line's top-level `type` (msgspec validates the rest of the JSON without building it)."""

    type: Any = None


_decode_type = msgspec.json.Decoder(_RecordType).decode
#: Top-level types whose lines may yield events (`progress` only when it carries a usage).
_ACTIVE_TYPES: Final = frozenset({"assistant", "user", "system"})
#: Bytes of a line searched for its first `"type":` key (Claude Code writes the scalar envelope fields
#: and `type` before any nested object, well within this).
_TYPE_HINT_BYTES: Final = 512
_ACTIVITY_VALUES: Final = (b'"assistant"', b'"user"', b'"system"')


def _yields_nothing(raw: bytes) -> bool:
    """True for a line that certainly yields neither an event nor a problem, so it need not be parsed.

    Claude Code 2.1+ writes `progress` lines (hook, bash and MCP progress: about 44 % of the lines
    of a transcript), plus file-history snapshots, queue operations, summaries and titles: none carries
    activity, and decoding each one into dicts cost as much as a real record. A line is skipped only
    when its top-level `type` (read by a decoder that builds nothing else) is a string other than the
    activity types, it holds no `usage` key anywhere (an `agent_progress` line embeds a sub-agent's
    usage), and it is valid JSON and UTF-8 (so malformed lines still reach the full decode and are
    reported). The first `"type":` of the line's head is only a shortcut to the full decode for
    activity lines: when it is not the top-level key, the type decode still decides.
    """
    at = raw.find(b'"type":', 0, _TYPE_HINT_BYTES)
    if at >= 0 and raw[at + 7 : at + 20].lstrip().startswith(_ACTIVITY_VALUES):
        return False
    try:
        kind = _decode_type(raw).type
    except ValueError:  # msgspec.DecodeError, its ValidationError included
        return False
    if not isinstance(kind, str) or kind in _ACTIVE_TYPES or b'"usage"' in raw:
        return False
    if not raw.isascii():
        try:
            raw.decode("utf-8")  # msgspec does not check the bytes of strings it skips
        except UnicodeDecodeError:
            return False
    return True


def parse_iso(value: Any) -> datetime | None:
    """A UTC datetime from an ISO-8601 string (`...Z` or with an offset; naive means UTC)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


def _is_semver_prefix(value: str) -> bool:
    """`MAJOR.MINOR.PATCH...` the way ccusage checks Claude Code's `version`."""
    major, _, rest = value.partition(".")
    minor, _, patch = rest.partition(".")
    return major.isdigit() and minor.isdigit() and patch[:1].isdigit()


def _token(value: Any) -> int | None:
    """A token count: a non-negative int (not bool); None when the value is not one."""
    if type(value) is int and value >= 0:
        return value
    return None


#: `record.get` default that tells a missing key from one holding null.
_ABSENT: Final = object()
_CACHE_WRITE_SPLIT: Final = ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")


def _cache_write_split_total(split: Any) -> int | str:
    """The sum of a `usage.cache_creation` split (a missing part is 0); or why the line's usage is
    not counted: ccusage skips a line whose split is not an object or holds a part that is not a
    non-negative integer."""
    if not isinstance(split, dict):
        return "usage not counted: `cache_creation` is not an object"
    total = 0
    for key in _CACHE_WRITE_SPLIT:
        if key in split:
            part = _token(split[key])
            if part is None:
                return f"usage not counted: `cache_creation.{key}` is not a non-negative integer"
            total += part
    return total


def _outranks(total: int, cost_usd: float | None, fast: bool, kept: Event) -> bool:
    """Whether a copy of a response replaces the copy of it `kept` so far in this read: a larger token
    total; with an equal one, a larger `costUSD`, then fast mode over standard (ccusage's order)."""
    kept_total = kept.usage.total if kept.usage is not None else 0
    if total != kept_total:
        return total > kept_total
    kept_cost = kept.cost_usd if kept.cost_usd is not None else -1.0
    if (cost_usd if cost_usd is not None else -1.0) != kept_cost:
        return (cost_usd if cost_usd is not None else -1.0) > kept_cost
    return fast and kept.attrs.get("speed") != "fast"


_Item = TypeVar("_Item", Event, Event | Problem)


def _sidechain_marks(record: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    """`attrs` with what says a line is a sub-agent's: `is_sidechain`, and `agent_id` when the line
    names its agent (two sub-agents working at once are told apart in `devlog show` and in queries)."""
    attrs["is_sidechain"] = True
    agent_id = record.get("agentId")
    if isinstance(agent_id, str) and agent_id:
        attrs["agent_id"] = agent_id
    return attrs


def _on_sidechain(items: Iterable[_Item], record: dict[str, Any]) -> Iterator[_Item]:
    """The tool calls, commands, results and edits of a sub-agent's line, marked as its prompts and
    replies are (`_sidechain_marks`)."""
    return with_attrs(items, _sidechain_marks(record, {}))


def _block_text(content: Any) -> str:
    """Text of a tool_result `content`: a string, or the text of its blocks (images noted)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for block in content:
        if isinstance(block, dict):
            kind = block.get("type")
            if kind == "text" and isinstance(block.get("text"), str):
                parts.append(block["text"])
            elif kind == "image":
                parts.append("[image]")
        elif isinstance(block, str):
            parts.append(block)
    return "\n".join(parts)


def _summarise_input(tool_input: Any) -> dict[str, Any]:
    """The short, telling fields of a tool input (paths, patterns, command), for `attrs.input`."""
    if not isinstance(tool_input, dict):
        return {}
    present = [key for key in tool_input if key in _INPUT_SUMMARY_KEY_ORDER]
    if len(present) > 1:
        present.sort(key=_INPUT_SUMMARY_KEY_ORDER.__getitem__)
    summary: dict[str, Any] = {}
    for key in present:
        value = tool_input[key]
        if isinstance(value, str):
            summary[key] = value if len(value) <= _SUMMARY_VALUE_LIMIT else value[:_SUMMARY_VALUE_LIMIT] + "..."
        elif isinstance(value, _SCALARS):
            summary[key] = value
    return summary


def _patch_counts(patch: Any) -> tuple[int, int] | None:
    """(+lines, -lines) of a `structuredPatch` hunk list; None when it is not one."""
    if not isinstance(patch, list):
        return None
    added = removed = 0
    for hunk in patch:
        lines = hunk.get("lines") if isinstance(hunk, dict) else None
        if not isinstance(lines, list):
            continue
        for line in lines:
            if isinstance(line, str) and line:
                first = line[0]
                if first == "+":
                    added += 1
                elif first == "-":
                    removed += 1
    return added, removed


def _line_count(text: str) -> int:
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def _config_dir(named: Path) -> Path:
    """The Claude config folder an entry of `CLAUDE_CONFIG_DIR` names (see `default_roots`)."""
    if named.name == "projects" and named.is_dir() and not (named / "projects").is_dir():
        return named.parent
    return named


class ClaudeCodeSource(Source):
    """Claude Code session transcripts (main sessions and sub-agents)."""

    name: ClassVar[str] = "claude"
    env_var: ClassVar[str | None] = "CLAUDE_CONFIG_DIR"
    root_layout: ClassVar[tuple[str, ...]] = ("projects",)

    @classmethod
    def default_roots(cls) -> list[Path]:
        """`$CLAUDE_CONFIG_DIR` (comma-separated list allowed), else `~/.claude` and `~/.config/claude`.

        A `CLAUDE_CONFIG_DIR` entry that names the `projects/` folder itself stands for the folder
        above it, as ccusage reads it (a setup that works for ccusage collects here too).
        """
        configured = os.environ.get("CLAUDE_CONFIG_DIR", "")
        roots = [_config_dir(Path(part.strip()).expanduser()) for part in configured.split(",") if part.strip()]
        if roots:
            return roots
        home = Path.home()
        return [home / ".claude", home / ".config" / "claude"]

    def discover(self) -> Iterator[SourceFile]:
        """Every `projects/**/*.jsonl` under every root (sub-agent files included), each once.

        Roots naming the same folder (a symlink, `~/.claude` listed twice) are read once; files are
        not resolved one by one (that cost more than everything else in a re-run over many files).
        """
        seen_roots: set[Path] = set()
        for root in self.roots:
            projects = root / "projects"
            try:
                real = projects.resolve()
            except OSError:
                continue
            if real in seen_roots or not projects.is_dir():
                continue
            seen_roots.add(real)
            # Sorted as strings: `<session>.jsonl` before `<session>/subagents/...`, so a response's
            # parent copy is stored before any sub-agent or `/btw` replay of it.
            for path in find_files(projects, self.unlisted, suffix=".jsonl"):
                if self.is_log_file(path):
                    yield SourceFile(path=path, mode="append")

    def parse_lines(
        self, file: SourceFile, lines: Iterable[tuple[int, bytes]], state: dict[str, Any]
    ) -> Iterator[Event | Problem]:
        """Events of complete transcript lines (see the module docstring)."""
        return _TranscriptParser(file, state).parse(lines)

    #: `projects/` of each root (not `todos/`, `shell-snapshots/`, `file-history/`, ...).
    log_folders: ClassVar[tuple[str, ...]] = ("projects",)

    def may_hold_logs(self, path: Path) -> bool:
        """Only `projects/` holds transcripts (not `history.jsonl`, `todos/`, `shell-snapshots/`, ...)."""
        return under_any(path, [root / "projects" for root in self.roots])


class _TranscriptParser:
    """Parses the lines of one transcript file; `state` carries the session-start flag and tool names."""

    __slots__ = (
        "call_events",
        "file_session",
        "last_key",
        "last_shared",
        "path_ref",
        "pending",
        "shared_fields",
        "started_session",
        "state",
        "usage",
        "usage_ids",
        "valid_versions",
    )

    def __init__(self, file: SourceFile, state: dict[str, Any]) -> None:
        self.state = state
        self.path_ref = str(file.path)
        self.file_session = file.path.stem
        pending = state.get("tools")
        if not isinstance(pending, dict):
            pending = {}
            state["tools"] = pending
        self.pending: dict[str, str] = pending
        #: (session, version, cwd, git branch) -> the event fields they make (`_fields`).
        self.shared_fields: dict[tuple[Any, ...], tuple[str, str | None, str | None, GitInfo | None]] = {}
        #: The previous line's key and fields: consecutive lines nearly always share them, and four
        #: comparisons cost less than hashing the key's freshly decoded strings for the lookup.
        self.last_key: tuple[Any, ...] = ()
        self.last_shared: tuple[str, str | None, str | None, GitInfo | None] = ("", None, None, None)
        #: The session of the last line that started one or found it started (`_start_event`).
        self.started_session: str | None = None
        #: `version` values already checked to be semver (`_usage`).
        self.valid_versions: set[str] = set()
        #: Usage records of this read, largest copy per id: the lines of one streamed response
        #: reach the store as one row instead of one per content block.
        self.usage: dict[str, Event] = {}
        #: message id -> its usage record's id, for the responses of this read.
        self.usage_ids: dict[str, str] = {}
        #: tool_use id -> its call's event id, for the results later in this read.
        self.call_events: dict[str, str] = {}

    # -- plumbing ------------------------------------------------------------------------------

    def parse(self, lines: Iterable[tuple[int, bytes]]) -> Iterator[Event | Problem]:
        for line_no, raw in lines:
            if not raw or raw.isspace() or _yields_nothing(raw):
                continue
            try:
                record = _decode(raw)
            except ValueError as exc:  # msgspec.DecodeError, or UnicodeDecodeError for invalid UTF-8
                try:
                    record = decode_repaired(_decode, raw, exc)  # a lone surrogate escape: one character lost
                except ValueError:
                    yield Problem(f"line {line_no}", _decode_problem(raw, exc))
                    continue
            if not isinstance(record, dict):
                yield Problem(f"line {line_no}", "record is not a JSON object")
                continue
            kind = record.get("type")
            if kind == "assistant":
                yield from self._assistant(record, line_no, raw)
            elif kind == "user":
                yield from self._user(record, line_no)
            elif kind == "system":
                yield from self._system(record, line_no)
            elif kind == "progress":
                yield from self._progress(record, line_no, raw)
            elif kind is None and isinstance(record.get("message"), dict):
                # Very old transcripts (and ccusage's fixtures) have usage lines without a type.
                problem = self._usage(record, record["message"], line_no, raw, None)
                if problem is not None:
                    yield problem
            # summary, file-history-snapshot, queue-operation, attachment, ... carry no activity
        yield from self.usage.values()

    def _session_start(self, record: dict[str, Any], session: str, ts: datetime, fields: _LineFields) -> Event:
        attrs: dict[str, Any] = {}
        if record.get("isSidechain") is True:
            attrs["is_sidechain"] = True
        agent_id = record.get("agentId")
        if isinstance(agent_id, str) and agent_id:
            attrs["agent_id"] = agent_id
        for key, attr in (("entrypoint", "entrypoint"), ("permissionMode", "permission_mode"), ("slug", "slug")):
            value = record.get(key)
            if isinstance(value, str) and value:
                attrs[attr] = value
        return Event(
            id=event_id(AGENT, "session", session),
            ts=ts,
            kind="session_start",
            attrs=attrs,
            agent=AGENT,
            session_id=fields.session_id,
            agent_version=fields.agent_version,
            workspace=fields.workspace,
            git=fields.git,
            source=fields.source,
        )

    def _start_event(
        self, record: dict[str, Any], session: str, ts: datetime | None, fields: _LineFields
    ) -> Event | None:
        # A sub-agent's lines carry the parent's session id: its file does not start a session. A file
        # can hold more than one session (a new one that begins with lines copied from another): each
        # starts at its own first line. (`True`: a state saved before sessions were told apart, when
        # only the file's first session was started.)
        if ts is None or session == self.started_session or record.get("isSidechain") is True:
            return None
        self.started_session = session  # (the lines that follow are mostly this session's)
        started = self.state.get("started")
        if started is True or (isinstance(started, list) and session in started):
            return None
        kept = started if isinstance(started, list) else []
        self.state["started"] = [*kept[-(_STARTED_KEPT - 1) :], session]
        return self._session_start(record, session, ts, fields)

    # -- user lines ----------------------------------------------------------------------------

    def _user(self, record: dict[str, Any], line_no: int) -> Iterator[Event | Problem]:
        message = record.get("message")
        if not isinstance(message, dict):
            yield Problem(f"line {line_no}", "user line without a message object")
            return
        session, ts, fields = self._fields(record, line_no)
        if ts is None:
            yield Problem(f"line {line_no}", "user line without a usable timestamp")
            return
        if (start := self._start_event(record, session, ts, fields)) is not None:
            yield start
        line_key = _line_key(record, session, ts, line_no)
        content = message.get("content")
        if isinstance(content, str):
            if not _is_injected(record, content):
                yield self._prompt(line_key, content, 0, ts, fields, record)
            return
        if not isinstance(content, list):
            if content is not None:
                yield Problem(f"line {line_no}", "user line whose content is neither text nor a list of blocks")
            return
        texts: list[str] = []
        images = 0
        results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
        for block in content:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text" and isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif kind == "image":
                images += 1
        if texts and not results:
            text = "\n".join(texts)
            if not _is_injected(record, text):
                yield self._prompt(line_key, text, images, ts, fields, record)
        elif images and not results and record.get("isMeta") is not True:
            yield self._prompt(line_key, "", images, ts, fields, record)
        structured = record.get("toolUseResult") if len(results) == 1 else None
        sidechain = record.get("isSidechain") is True
        for block in results:
            outputs = self._tool_result(block, structured, ts, fields)
            yield from _on_sidechain(outputs, record) if sidechain else outputs

    def _prompt(
        self, key: Any, text: str, images: int, ts: datetime, fields: _LineFields, record: dict[str, Any]
    ) -> Event:
        attrs: dict[str, Any] = {}
        if images:
            attrs["images"] = images
        if record.get("isSidechain") is True:
            _sidechain_marks(record, attrs)
        if "<command-name>" in text:
            text = _slash_command(text, attrs)
        elif text.startswith("<bash-input>"):
            text = _shell_mode_command(text, attrs)
        return Event(
            id=event_id(AGENT, key),
            ts=ts,
            kind="prompt",
            text=cap_text(text, MESSAGE_TEXT_LIMIT, attrs),
            attrs=attrs,
            agent=AGENT,
            session_id=fields.session_id,
            agent_version=fields.agent_version,
            workspace=fields.workspace,
            git=fields.git,
            source=fields.source,
        )

    def _tool_result(
        self, block: dict[str, Any], structured: Any, ts: datetime, fields: _LineFields
    ) -> Iterator[Event | Problem]:
        call_id = block.get("tool_use_id")
        if not isinstance(call_id, str) or not call_id:
            yield Problem(fields.source.key or "file", "tool_result without a tool_use_id: its output is not kept")
            return
        name = self.pending.pop(call_id, None) or "unknown"
        failed = block.get("is_error") is True
        attrs: dict[str, Any] = {}
        text = _block_text(block.get("content"))
        if isinstance(structured, dict) and structured.get("interrupted") is True:
            attrs["interrupted"] = True
        call_event = self.call_events.pop(call_id, None) or event_id(AGENT, "tool_call", call_id)
        tool = ToolInfo(name=name, call_id=call_id, status="error" if failed else "ok")
        yield Event(
            id=event_id(AGENT, "tool_result", call_id),
            ts=ts,
            kind="tool_result",
            parent_id=call_event,
            tool=tool,
            text=cap_text(text, TOOL_TEXT_LIMIT, attrs) if text else None,
            attrs=attrs,
            agent=AGENT,
            session_id=fields.session_id,
            agent_version=fields.agent_version,
            workspace=fields.workspace,
            git=fields.git,
            source=fields.source,
        )
        if not failed and isinstance(structured, dict):
            edit = _file_edit(structured, name)
            if edit is not None:
                edit_tool, info = edit
                yield Event(
                    id=event_id(AGENT, "file_edit", call_id),
                    ts=ts,
                    kind="file_edit",
                    parent_id=call_event,
                    tool=ToolInfo(name=edit_tool, call_id=call_id, status="ok"),
                    file=info,
                    agent=AGENT,
                    session_id=fields.session_id,
                    agent_version=fields.agent_version,
                    workspace=fields.workspace,
                    git=fields.git,
                    source=fields.source,
                )

    # -- assistant lines -----------------------------------------------------------------------

    def _assistant(self, record: dict[str, Any], line_no: int, raw: bytes) -> Iterator[Event | Problem]:
        message = record.get("message")
        if not isinstance(message, dict):
            yield Problem(f"line {line_no}", "assistant line without a message object")
            return
        session, ts, fields = self._fields(record, line_no)
        if ts is None:
            yield Problem(f"line {line_no}", "assistant line without a usable timestamp")
            return
        if (start := self._start_event(record, session, ts, fields)) is not None:
            yield start
        model = message.get("model")
        model = model if isinstance(model, str) and model and model != SYNTHETIC_MODEL else None
        line_key = _line_key(record, session, ts, line_no)
        content = message.get("content")
        if record.get("isApiErrorMessage") is True:
            attrs: dict[str, Any] = {}
            status = record.get("apiErrorStatus")
            if isinstance(status, int | str) and not isinstance(status, bool):
                attrs["status"] = str(status)
            error = record.get("error")
            if isinstance(error, str) and error:
                attrs["error"] = error
            text = content if isinstance(content, str) else _block_text(content)
            yield Event(
                id=event_id(AGENT, line_key, "error"),
                ts=ts,
                kind="error",
                text=cap_text(text, TOOL_TEXT_LIMIT, attrs) if text else None,
                attrs=attrs,
                agent=AGENT,
                session_id=fields.session_id,
                agent_version=fields.agent_version,
                workspace=fields.workspace,
                git=fields.git,
                source=fields.source,
            )
        elif isinstance(content, list):
            yield from self._blocks(content, line_key, ts, model, message, record, fields)
        elif isinstance(content, str) and content:
            yield self._text_response(line_key, 0, content, ts, model, message, record, fields)
        problem = self._usage(record, message, line_no, raw, (session, ts, fields))
        if problem is not None:
            yield problem

    def _blocks(
        self,
        content: list[Any],
        line_key: str,
        ts: datetime,
        model: str | None,
        message: dict[str, Any],
        record: dict[str, Any],
        fields: _LineFields,
    ) -> Iterator[Event]:
        for index, block in enumerate(content):
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text":
                text = block.get("text")
                if isinstance(text, str) and text:
                    yield self._text_response(line_key, index, text, ts, model, message, record, fields)
            elif kind in ("tool_use", "server_tool_use"):
                calls = self._tool_use(block, line_key, index, ts, model, message, fields)
                yield from _on_sidechain(calls, record) if record.get("isSidechain") is True else calls
            # thinking / redacted_thinking: reasoning is counted in the tokens, its text is not kept

    def _text_response(
        self,
        line_key: str,
        index: int,
        text: str,
        ts: datetime,
        model: str | None,
        message: dict[str, Any],
        record: dict[str, Any],
        fields: _LineFields,
    ) -> Event:
        attrs: dict[str, Any] = {}
        message_id = message.get("id")
        if isinstance(message_id, str) and message_id:
            attrs["message_id"] = message_id
        if record.get("isSidechain") is True:
            _sidechain_marks(record, attrs)
        return Event(
            id=event_id(AGENT, line_key, str(index)),
            ts=ts,
            kind="response",
            model=model,
            text=cap_text(text, MESSAGE_TEXT_LIMIT, attrs),
            attrs=attrs,
            agent=AGENT,
            session_id=fields.session_id,
            agent_version=fields.agent_version,
            workspace=fields.workspace,
            git=fields.git,
            source=fields.source,
        )

    def _tool_use(
        self,
        block: dict[str, Any],
        line_key: str,
        index: int,
        ts: datetime,
        model: str | None,
        message: dict[str, Any],
        fields: _LineFields,
    ) -> Iterator[Event]:
        name = block.get("name")
        name = name if isinstance(name, str) and name else "unknown"
        call_id = block.get("id")
        if isinstance(call_id, str) and call_id:
            call_event = event_id(AGENT, "tool_call", call_id)
            self._remember_tool(call_id, name)
            self.call_events[call_id] = call_event
        else:
            call_id = None
            call_event = event_id(AGENT, line_key, str(index))
        tool_input = block.get("input")
        attrs: dict[str, Any] = {}
        summary = _summarise_input(tool_input)
        if summary:
            attrs["input"] = summary
        message_id = message.get("id")
        if isinstance(message_id, str) and message_id:
            attrs["message_id"] = message_id
        if block.get("type") == "server_tool_use":
            attrs["server_tool"] = True
        text = msgspec.json.encode(tool_input).decode() if tool_input not in (None, {}) else None
        tool = ToolInfo(name=name, call_id=call_id)
        yield Event(
            id=call_event,
            ts=ts,
            kind="tool_call",
            model=model,
            tool=tool,
            text=cap_text(text, TOOL_TEXT_LIMIT, attrs) if text else None,
            attrs=attrs,
            agent=AGENT,
            session_id=fields.session_id,
            agent_version=fields.agent_version,
            workspace=fields.workspace,
            git=fields.git,
            source=fields.source,
        )
        if name in SHELL_TOOLS and isinstance(tool_input, dict):
            command = tool_input.get("command")
            if isinstance(command, str) and command:
                command_attrs: dict[str, Any] = {}
                description = tool_input.get("description")
                if isinstance(description, str) and description:
                    command_attrs["description"] = description
                if tool_input.get("run_in_background") is True:
                    command_attrs["background"] = True
                yield Event(
                    id=event_id(AGENT, "command", call_id or call_event),
                    ts=ts,
                    kind="command",
                    parent_id=call_event,
                    model=model,
                    tool=tool,
                    text=cap_text(command, TOOL_TEXT_LIMIT, command_attrs),
                    attrs=command_attrs,
                    agent=AGENT,
                    session_id=fields.session_id,
                    agent_version=fields.agent_version,
                    workspace=fields.workspace,
                    git=fields.git,
                    source=fields.source,
                )

    def _remember_tool(self, call_id: str, name: str) -> None:
        pending = self.pending
        pending[call_id] = name
        if len(pending) > MAX_PENDING_TOOLS:
            for stale in list(pending)[: len(pending) - MAX_PENDING_TOOLS]:
                del pending[stale]

    # -- usage ---------------------------------------------------------------------------------

    def _usage(
        self,
        record: dict[str, Any],
        message: dict[str, Any],
        line_no: int,
        raw: bytes,
        base: tuple[str, datetime, _LineFields] | None,
    ) -> Problem | None:
        """Keep the line's usage record in `self.usage` (the largest copy per response); a Problem
        when its usage is not counted."""
        usage = message.get("usage")
        if not isinstance(usage, dict):
            return None
        counted = _token_counts(usage)
        if isinstance(counted, str):
            return Problem(f"line {line_no}", counted)
        inputs, outputs, creation, read = counted
        split = usage.get("cache_creation")
        if split is not None:
            # The 5 min / 1 h split of the cache writes: where it is given, its sum is the cache
            # writes' total, as ccusage counts them (whatever `cache_creation_input_tokens` says).
            split_total = _cache_write_split_total(split)
            if isinstance(split_total, str):
                return Problem(f"line {line_no}", split_total)
            creation = split_total
        total = inputs + outputs + (creation or 0) + (read or 0)
        message_id = message.get("id")
        request_id = record.get("requestId")
        model = message.get("model")
        version = record.get("version")
        session_value = record.get("sessionId", _ABSENT)
        reason = None
        if session_value is not _ABSENT and not (isinstance(session_value, str) and session_value):
            reason = "empty or non-string sessionId"
        elif message_id is not None and not (isinstance(message_id, str) and message_id):
            reason = "empty or non-string message id"
        elif request_id is not None and not (isinstance(request_id, str) and request_id):
            reason = "empty or non-string requestId"
        elif model is not None and not (isinstance(model, str) and model):
            reason = "empty model"
        elif version is not None and not (isinstance(version, str) and self._is_semver(version)):
            reason = "version is not semver"
        if reason:
            return Problem(f"line {line_no}", f"usage not counted: {reason}")
        if model == SYNTHETIC_MODEL and not total:
            return None  # locally generated message (API error notice): nothing was billed
        if base is None:
            session, maybe_ts, fields = self._fields(record, line_no)
            if maybe_ts is None:
                return Problem(f"line {line_no}", "usage not counted: no usable timestamp")
            ts = maybe_ts
        else:
            session, ts, fields = base
        if message_id and request_id:
            usage_id = self.usage_ids.get(message_id)  # (the lines of a streamed response share it)
            if usage_id is None:
                usage_id = self.usage_ids[message_id] = event_id(AGENT, "usage", message_id)
        elif message_id:
            usage_id = event_id(AGENT, "usage", message_id, session, int(ts.timestamp() * 1000))
        else:
            uuid = record.get("uuid")
            usage_id = event_id(AGENT, "usage-line", uuid if isinstance(uuid, str) and uuid else content_hash(raw))
        fast = usage.get("speed") == "fast"
        cost = record.get("costUSD")
        cost_usd = (
            float(cost)
            if isinstance(cost, int | float) and not isinstance(cost, bool) and 0 <= cost <= MAX_COST_USD
            else None  # (a cost past the bound, NaN or a 400-digit integer: dropped, the usage kept)
        )
        previous = self.usage.get(usage_id)
        if previous is not None and previous.usage is not None and not _outranks(total, cost_usd, fast, previous):
            return None  # an earlier line of this read already carries this response's (larger) usage
        attrs: dict[str, Any] = {"usage_record": True}
        if message_id:
            attrs["message_id"] = message_id
        if request_id:
            attrs["request_id"] = request_id
        stop = message.get("stop_reason")
        if isinstance(stop, str):
            attrs["stop_reason"] = stop
        if fast:
            attrs["speed"] = "fast"
        if record.get("isSidechain") is True:
            _sidechain_marks(record, attrs)
        cache = usage.get("cache_creation")
        if isinstance(cache, dict):
            one_hour = _token(cache.get("ephemeral_1h_input_tokens"))
            if one_hour:
                attrs["cache_creation_1h_tokens"] = one_hour
        server_tools = usage.get("server_tool_use")
        if isinstance(server_tools, dict):
            searches = _token(server_tools.get("web_search_requests"))
            if searches:
                attrs["web_search_requests"] = searches
        self.usage[usage_id] = Event(
            id=usage_id,
            ts=ts,
            kind="response",
            model=model if model and model != SYNTHETIC_MODEL else None,
            usage=Usage(
                input_tokens=inputs,
                output_tokens=outputs,
                cache_creation_tokens=creation or 0,
                cache_read_tokens=read or 0,
            ),
            cost_usd=cost_usd,
            attrs=attrs,
            agent=AGENT,
            session_id=fields.session_id,
            agent_version=fields.agent_version,
            workspace=fields.workspace,
            git=fields.git,
            source=fields.source,
        )
        return None

    def _is_semver(self, version: str) -> bool:
        if version in self.valid_versions:
            return True
        if _is_semver_prefix(version):
            if len(self.valid_versions) < _SHARED_FIELDS_KEPT:
                self.valid_versions.add(version)
            return True
        return False

    # -- system and progress lines -------------------------------------------------------------

    def _system(self, record: dict[str, Any], line_no: int) -> Iterator[Event | Problem]:
        subtype = record.get("subtype")
        if subtype != "api_error" and record.get("level") != "error":
            return
        session, ts, fields = self._fields(record, line_no)
        if ts is None:
            return
        if (start := self._start_event(record, session, ts, fields)) is not None:
            yield start
        attrs: dict[str, Any] = {"subtype": subtype} if isinstance(subtype, str) else {}
        for name, attr in (
            ("retryAttempt", "retry_attempt"),
            ("maxRetries", "max_retries"),
            ("retryInMs", "retry_in_ms"),
        ):
            value = record.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                attrs[attr] = value
        error = record.get("error")
        text = record.get("content") if isinstance(record.get("content"), str) else None
        if isinstance(error, dict):
            status = error.get("status")
            if isinstance(status, int) and not isinstance(status, bool):
                attrs["status"] = str(status)
            text = text or _error_message(error)
        elif isinstance(error, str):
            text = text or error
        key = _line_key(record, session, ts, line_no)
        yield Event(
            id=event_id(AGENT, key, "error"),
            ts=ts,
            kind="error",
            text=text,
            attrs=attrs,
            agent=AGENT,
            session_id=fields.session_id,
            agent_version=fields.agent_version,
            workspace=fields.workspace,
            git=fields.git,
            source=fields.source,
        )

    def _progress(self, record: dict[str, Any], line_no: int, raw: bytes) -> Iterator[Event | Problem]:
        """`agent_progress` records embed a sub-agent's assistant lines: count their usage (deduped)."""
        data = record.get("data")
        inner = data.get("message") if isinstance(data, dict) else None
        if not isinstance(inner, dict):
            return
        message = inner.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("usage"), dict):
            return
        merged = dict(inner)
        for key in ("sessionId", "cwd", "gitBranch"):
            if key not in merged and key in record:
                merged[key] = record[key]
        merged.pop("version", None)  # ccusage ignores the parent line's version here
        problem = self._usage(merged, message, line_no, raw, None)
        if problem is not None:
            yield problem

    # -- helpers -------------------------------------------------------------------------------

    def _fields(self, record: dict[str, Any], line_no: int) -> tuple[str, datetime | None, _LineFields]:
        session = record.get("sessionId")
        if not isinstance(session, str) or not session:
            session = self.file_session
        version, cwd, branch = record.get("version"), record.get("cwd"), record.get("gitBranch")
        last = self.last_key
        if last and session == last[0] and version == last[1] and cwd == last[2] and branch == last[3]:
            shared = self.last_shared
        else:
            key = (session, version, cwd, branch)
            try:  # the lines of a file share a few combinations of these: their fields are built once
                found = self.shared_fields.get(key)
                keep = True
            except TypeError:  # (a list or object where a string belongs: not kept)
                found, keep = None, False
            if found is None:
                found = (
                    session,
                    version if isinstance(version, str) and version else None,
                    cwd if isinstance(cwd, str) and cwd else None,
                    GitInfo(branch=branch) if isinstance(branch, str) and branch else None,
                )
                if keep:
                    if len(self.shared_fields) >= _SHARED_FIELDS_KEPT:  # (a hostile file: a new cwd per line)
                        self.shared_fields.clear()
                    self.shared_fields[key] = found
            shared = self.last_shared = found
            self.last_key = key
        fields = _LineFields(*shared, SourceRef(path=self.path_ref, key=f"line {line_no}"))
        return session, parse_iso(record.get("timestamp")), fields


def _line_key(record: dict[str, Any], session: str, ts: datetime, line_no: int) -> str:
    """The line's `uuid`; lines without one (very old builds) are keyed by session, time and line."""
    uuid = record.get("uuid")
    if isinstance(uuid, str) and uuid:
        return uuid
    return f"{session}:{ts.isoformat()}:{line_no}"


_COMMAND_NAME: Final = re.compile(r"<command-name>(.*?)</command-name>", re.S)
_COMMAND_ARGS: Final = re.compile(r"<command-args>(.*?)</command-args>", re.S)


def _slash_command(text: str, attrs: dict[str, Any]) -> str:
    """A slash command as typed (`/model opus`) instead of the markup Claude Code stores it in."""
    name = _COMMAND_NAME.search(text)
    if name is None or not name.group(1).strip():
        return text
    command = name.group(1).strip()
    args = _COMMAND_ARGS.search(text)
    attrs["slash_command"] = command
    return f"{command} {args.group(1).strip()}".strip() if args else command


def _shell_mode_command(text: str, attrs: dict[str, Any]) -> str:
    """A `!` shell-mode command as typed (`!ls -la`) instead of its `<bash-input>` markup."""
    found = _BASH_INPUT.fullmatch(text)
    if found is None or not found.group(1).strip():
        return text
    attrs["shell_mode"] = True
    return "!" + found.group(1).strip()


def _is_injected(record: dict[str, Any], text: str) -> bool:
    """User lines that are not typed by the user: injected context, compact summaries, command output."""
    if record.get("isMeta") is True or record.get("isCompactSummary") is True:
        return True
    if record.get("isVisibleInTranscriptOnly") is True:
        return True
    return text.startswith(_LOCAL_OUTPUT_PREFIXES)


def _file_edit(result: dict[str, Any], tool_name: str) -> tuple[str, FileInfo] | None:
    """(tool name, file info) of a successful edit's structured result, else None."""
    notebook = result.get("notebook_path")
    if isinstance(notebook, str) and notebook:
        return "NotebookEdit", FileInfo(path=notebook)
    path = result.get("filePath")
    if not isinstance(path, str) or not path:
        return None
    patch = result.get("structuredPatch")
    counts = _patch_counts(patch)
    kind = result.get("type")
    if kind == "create" and not patch:
        content = result.get("content")
        counts = (_line_count(content), 0) if isinstance(content, str) else None
    if counts is None and kind not in ("create", "update"):
        return None
    if tool_name in EDIT_TOOLS:
        name = tool_name
    elif kind in ("create", "update"):
        name = "Write"
    elif isinstance(result.get("edits"), list):
        name = "MultiEdit"
    else:
        name = "Edit"
    added, removed = counts if counts is not None else (None, None)
    return name, FileInfo(path=path, lines_added=added, lines_removed=removed)


def _error_message(error: dict[str, Any]) -> str | None:
    """The innermost `message` of an API error object (`{error: {error: {message}}}` nests vary)."""
    current: Any = error
    found: str | None = None
    for _ in range(4):
        if not isinstance(current, dict):
            break
        if isinstance(current.get("message"), str):
            found = current["message"]
        current = current.get("error")
    return found


def _decode_problem(raw: bytes, exc: ValueError) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "line is not valid UTF-8"
    return f"invalid JSON: {exc}"
