"""OpenAI Codex CLI rollouts (`$CODEX_HOME/sessions/**/rollout-*.jsonl`, and `archived_sessions/`).

Codex appends one `{timestamp, type, payload}` line per item (`session_meta`, `turn_context`,
`response_item`, `event_msg`, `compacted`); files are tailed in append mode and the context a line
needs from earlier lines (session id, cwd, git, model, previous token totals) travels in `state`.
Pre-September-2025 rollouts (a bare `{id, timestamp, instructions}` first line, unwrapped items,
`{"record_type": "state"}` markers) are read too.

Events and ids:

* `session_start` once per session (the first `session_meta`; a forked child's file also holds its
  parent's meta, which is ignored).
* The workspace is the `cwd` of `session_meta`, then of each `turn_context`. Rollouts older than
  those fields (mid-2025) name it only in the injected `<environment_context>` message (`<cwd>`):
  it is taken from there when nothing else gave one, and a session start whose meta had no cwd waits
  for the next line, so that it carries the workspace too (export rules select by workspace).
* `prompt` / `response` from `event_msg` `user_message` / `agent_message`, and from `response_item`
  messages (older rollouts have only those). Newer rollouts write every message twice, once per
  channel, a few milliseconds apart: both copies get the same id (session, role, hash of the text,
  and how many times that text occurred before in the file on that channel), so they collapse.
  Injected context (`<environment_context>`, `<user_instructions>`, AGENTS.md, developer messages)
  is not a prompt.
* `tool_call` / `tool_result` from `function_call`, `custom_tool_call`, `local_shell_call`,
  `web_search_call` and their outputs (keyed by `call_id`); `command` for shell tools
  (`shell`, `exec_command`, `shell_command`, `local_shell_call`); `file_edit` per file of an
  `apply_patch` (`*** Add/Update/Delete File:`, +/- lines counted).
* `error` from `event_msg` `error` / `stream_error`.

Tokens follow ccusage (v20) exactly, because daily totals must equal its report:

* `token_count.info.total_token_usage` is cumulative per session file. An event whose total equals
  the previous total is a re-emission (rate-limit refreshes) and is skipped; otherwise the call's
  usage is `last_token_usage` when present, else the per-field difference from the previous total
  (never negative: a reset makes the next total a new baseline). `info: null` is skipped, as are
  all-zero usages.
* Normalised like ccusage: `input_tokens` = input - cached (cached is clamped to input),
  `cache_read_tokens` = cached, `output_tokens` = output, `reasoning_tokens` = reasoning (part of
  output).
* The model is `payload.model`/`info.model` when given, else the latest `turn_context` model, else
  `gpt-5` with `attrs.model_fallback` (early rollouts have no model; ccusage does the same).
* A usage event's id is derived from (time, model, token tuple) only, not the file or session: the
  same usage copied into another file (an archived copy, a forked or goal session replaying its
  history) collapses into one event, which is ccusage's cross-file dedupe.
* Forked and sub-agent threads (the file's first `session_meta` names a `forked_from_id`, or a
  `source.subagent.thread_spawn.parent_thread_id`, as ccusage checks) start by replaying the
  parent's `token_count` rows in a burst: when the file's first two rows with usage are at most
  `REPLAY_GAP_MS` apart, they and every following row at most that long after the one before are
  replay and only advance the baseline (ccusage's chain, which may straddle a second boundary). The
  first row is held in `state` until the second row (or a line dated beyond the gap) decides, or
  until the file has been left alone for `REPLAY_QUIET_MS`: a burst is written within the thread's
  first second, so a row still alone in a quiet file is the thread's own usage (a sub-agent that
  made one model call and finished writes nothing more: its row was held for ever). A read that
  ends with a row held sets `state[RECHECK_AFTER_KEY]`, and the engine looks at the file again then
  even if it never changes.

Discovery: `sessions/**/rollout-*.jsonl`, then `archived_sessions/**/rollout-*.jsonl` except files
whose path relative to `archived_sessions/` also exists under `sessions/` (the active copy wins).
An archived file whose active copy has gone (Codex moved it) is read again from the start, but its
events carry the same ids as the active copy's, so nothing is stored twice.
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import re
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Final

import msgspec

from devlog_collector.sources._values import cap_text
from devlog_collector.sources.base import RECHECK_AFTER_KEY, Problem, Source, SourceFile, find_files, under_any
from devlog_collector.sources.claude import MESSAGE_TEXT_LIMIT, TOOL_TEXT_LIMIT, parse_iso
from devlog_shared import (
    Event,
    EventKind,
    FileInfo,
    GitInfo,
    SourceRef,
    ToolInfo,
    Usage,
    content_hash,
    decode_repaired,
    event_id,
)

__all__ = ["CodexSource", "patch_files"]

AGENT: Final = "codex"
FALLBACK_MODEL: Final = "gpt-5"
SHELL_TOOLS: Final = frozenset({"shell", "exec_command", "shell_command", "local_shell", "container.exec"})
PATCH_TOOLS: Final = frozenset({"apply_patch"})
#: Distinct message texts whose occurrences are counted per file (for the two-channel dedupe).
MAX_COUNTED_TEXTS: Final = 20_000
#: A fork's or sub-agent thread's replay of its parent: leading `token_count` rows each at most this
#: long after the one before (ccusage's rule: a chain, so a burst may straddle a second boundary).
REPLAY_GAP_MS: Final = 1000
#: How long a rollout must have been left alone before a forked thread's first usage row, still
#: alone in it, counts as the thread's own (see the module docstring).
REPLAY_QUIET_MS: Final = 10_000
MAX_PENDING_TOOLS: Final = 256
_INJECTED_PREFIXES: Final = (
    "<environment_context>",
    "<user_instructions>",
    "<permissions instructions>",
    "<user_shell_command>",
    "# AGENTS.md instructions",
    "# Context from my IDE setup:",
    "<turn_aborted>",
)
#: Item types written unwrapped (no `payload`) by pre-September-2025 rollouts.
_LEGACY_ITEM_TYPES: Final = frozenset(
    {
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
        "custom_tool_call",
        "custom_tool_call_output",
        "local_shell_call",
        "web_search_call",
    }
)
#: The working folder in an injected `<environment_context>` message (the only place older rollouts
#: name it).
_ENVIRONMENT_CWD: Final = re.compile(r"<cwd>\s*([^<]+?)\s*</cwd>")
#: The text parts newer Codex builds put around an attached image in a `response_item` user message
#: (`<image name=[Image #1]>`, the image, `</image>`); the `user_message` copy has only the typed text.
_IMAGE_MARKER: Final = re.compile(r"<image(?: name=[^>\n]*)?>|</image>")
#: An `apply_patch` run through the shell tool: `apply_patch <<'EOF' ... EOF` in a script (the patch
#: itself is the `*** Begin Patch` ... `*** End Patch` block).
_SHELL_PATCH: Final = re.compile(r"\*\*\* Begin Patch\n.*?\n\*\*\* End Patch", re.S)
_UUID_TAIL: Final = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
_USAGE_FIELDS: Final = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")

_decode = msgspec.json.Decoder().decode


def patch_files(patch: str) -> list[tuple[str, str, int, int, str | None]]:
    """(action, path, +lines, -lines, moved from) per file of an `apply_patch` body.

    Actions are `add`, `update`, `delete`; a `*** Move to:` renames the updated file (its path is
    then the new one, and the last item the old one; otherwise None).
    """
    files: list[list[Any]] = []
    current: list[Any] | None = None
    for line in patch.splitlines():
        if line.startswith("*** "):
            header = line[4:]
            for prefix, action in (("Add File: ", "add"), ("Update File: ", "update"), ("Delete File: ", "delete")):
                if header.startswith(prefix):
                    current = [action, header[len(prefix) :].strip(), 0, 0, None]
                    files.append(current)
                    break
            else:
                if header.startswith("Move to: ") and current is not None:
                    current[4] = current[4] or current[1]
                    current[1] = header[len("Move to: ") :].strip()
                elif header.startswith(("End Patch", "Begin Patch")):
                    current = None
            continue
        if current is None or not line:
            continue
        if line[0] == "+":
            current[2] += 1
        elif line[0] == "-":
            current[3] += 1
    return [(a, p, added, removed, moved) for a, p, added, removed, moved in files if p]


def _in_workspace(path: str, cwd: Any) -> str:
    """A patch path as an absolute path: Codex writes them relative to the session's folder."""
    if not isinstance(cwd, str) or not cwd or path.startswith("/") or ntpath.isabs(path):
        return path
    if ntpath.isabs(cwd) and not cwd.startswith("/"):
        return ntpath.normpath(ntpath.join(cwd, path))
    return posixpath.normpath(posixpath.join(cwd, path))


class CodexSource(Source):
    """Codex CLI / IDE rollouts."""

    name: ClassVar[str] = "codex"
    env_var: ClassVar[str | None] = "CODEX_HOME"
    root_layout: ClassVar[tuple[str, ...]] = ("sessions", "archived_sessions")

    @classmethod
    def default_roots(cls) -> list[Path]:
        """`$CODEX_HOME` (comma-separated list allowed), else `~/.codex`."""
        configured = os.environ.get("CODEX_HOME", "")
        roots = [Path(part.strip()).expanduser() for part in configured.split(",") if part.strip()]
        return roots or [Path.home() / ".codex"]

    def discover(self) -> Iterator[SourceFile]:
        """Active rollouts, then archived ones that have no active copy at the same relative path."""
        seen: set[Path] = set()
        for root in self.roots:
            sessions = root / "sessions"
            active: set[Path] = set()
            if sessions.is_dir():
                for path in find_files(sessions, self.unlisted, prefix="rollout-", suffix=".jsonl"):
                    if not self.is_log_file(path):
                        continue
                    active.add(path.relative_to(sessions))
                    if path not in seen:
                        seen.add(path)
                        yield SourceFile(path=path, mode="append")
            archived = root / "archived_sessions"
            if archived.is_dir():
                for path in find_files(archived, self.unlisted, prefix="rollout-", suffix=".jsonl"):
                    if self.is_log_file(path) and path not in seen and path.relative_to(archived) not in active:
                        seen.add(path)
                        yield SourceFile(path=path, mode="append")

    #: `sessions/` and `archived_sessions/` of each root (new day folders appear under them).
    log_folders: ClassVar[tuple[str, ...]] = ("sessions", "archived_sessions")

    def may_hold_logs(self, path: Path) -> bool:
        """Rollouts live under `sessions/` and `archived_sessions/` (not `log/`, `history.jsonl`, ...)."""
        return under_any(path, [root / name for root in self.roots for name in ("sessions", "archived_sessions")])

    def parse_lines(
        self, file: SourceFile, lines: Iterable[tuple[int, bytes]], state: dict[str, Any]
    ) -> Iterator[Event | Problem]:
        """Events of complete rollout lines (see the module docstring)."""
        return _RolloutParser(file, state).parse(lines)


class _RolloutParser:
    """Parses the lines of one rollout; everything it must remember lives in `state` (JSON-able)."""

    def __init__(self, file: SourceFile, state: dict[str, Any]) -> None:
        self.state = state
        self.path_ref = str(file.path)
        if "sid" not in state:
            match = _UUID_TAIL.search(file.path.stem)
            state["sid"] = match.group(1) if match else file.path.stem
        self.git: GitInfo | None = None
        git = state.get("git")
        if isinstance(git, dict) and git:
            self.git = GitInfo(**git)

    # -- plumbing ------------------------------------------------------------------------------

    def parse(self, lines: Iterable[tuple[int, bytes]]) -> Iterator[Event | Problem]:
        read_any = False
        for line_no, raw in lines:
            read_any = True
            if not raw or raw.isspace():
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
            try:
                yield from self._record(record, line_no, raw)
            except _BadShape as exc:
                yield Problem(f"line {line_no}", str(exc))
        yield from self._resolve_pending_when_quiet(at_end=not read_any)

    def _record(self, record: dict[str, Any], line_no: int, raw: bytes) -> Iterator[Event | Problem]:
        kind = record.get("type")
        if kind is not None and not isinstance(kind, str):
            raise _BadShape("`type` is not a string")
        payload = record.get("payload")
        ts = parse_iso(record.get("timestamp"))
        if ts is not None:
            self.state["ts"] = record["timestamp"]
            yield from self._resolve_pending_by_time(ts)
        if kind in ("session_meta", "turn_context", "response_item", "event_msg", "compacted"):
            if not isinstance(payload, dict):
                raise _BadShape(f"`{kind}` line without a payload object")
        elif "record_type" in record:
            return  # pre-2025-09 state marker
        elif "payload" not in record and isinstance(record.get("id"), str) and "instructions" in record:
            kind, payload = "session_meta", record  # pre-2025-09 first line
        elif "payload" not in record and kind in _LEGACY_ITEM_TYPES:
            kind, payload = "response_item", record  # pre-2025-09 unwrapped item
        else:
            return  # unknown record type: newer Codex, ignored
        if ts is None:
            ts = parse_iso(self.state.get("ts")) or parse_iso(self.state.get("start"))
            if ts is None:
                yield Problem(f"line {line_no}", f"`{kind}` line without a usable timestamp")
                return
        if kind != "session_meta" and "start_pending" in self.state:
            if kind == "response_item":
                self._environment_cwd(payload)
            elif kind == "turn_context":
                self._turn_context(payload)
            yield self._pending_start(ts)
        if kind == "session_meta":
            yield from self._session_meta(payload, ts, line_no)
        elif kind == "turn_context":
            self._turn_context(payload)
        elif kind == "event_msg":
            yield from self._event_msg(payload, record, ts, line_no, raw)
        elif kind == "response_item":
            yield from self._response_item(payload, ts, line_no)

    def _event(self, kind: EventKind, key: tuple[Any, ...], ts: datetime, line_no: int, **fields: Any) -> Event:
        state = self.state
        cwd = state.get("cwd")
        return Event(
            id=event_id(AGENT, state["sid"], *key),
            ts=ts,
            agent=AGENT,
            kind=kind,
            session_id=state["sid"],
            agent_version=state.get("version"),
            workspace=cwd if isinstance(cwd, str) and cwd else None,
            git=self.git,
            source=SourceRef(path=self.path_ref, key=f"line {line_no}"),
            **fields,
        )

    # -- session metadata ----------------------------------------------------------------------

    def _session_meta(self, payload: dict[str, Any], ts: datetime, line_no: int) -> Iterator[Event]:
        state = self.state
        if state.get("meta"):
            return  # a forked child's copy of its parent's meta
        state["meta"] = True
        if _is_forked_thread(payload):
            state["sub"] = True
        session = payload.get("id") or payload.get("session_id")
        if isinstance(session, str) and session:
            state["sid"] = session
        for key, target in (("cwd", "cwd"), ("cli_version", "version")):
            value = payload.get(key)
            if isinstance(value, str) and value:
                state[target] = value
        started = parse_iso(payload.get("timestamp")) or ts
        state["start"] = started.isoformat()
        git = payload.get("git")
        if isinstance(git, dict):
            info = {
                target: git[key]
                for key, target in (("repository_url", "remote"), ("branch", "branch"), ("commit_hash", "commit"))
                if isinstance(git.get(key), str) and git[key]
            }
            if info:
                state["git"] = info
                self.git = GitInfo(**info)
        attrs: dict[str, Any] = {}
        for key, target in (("originator", "originator"), ("model_provider", "model_provider")):
            value = payload.get(key)
            if isinstance(value, str) and value:
                attrs[target] = value
        source = payload.get("source")
        if isinstance(source, str):
            attrs["source_kind"] = source
        elif isinstance(source, dict):
            spawn = _dict(_dict(source.get("subagent")).get("thread_spawn"))
            parent = spawn.get("parent_thread_id")
            attrs["subagent"] = True
            if isinstance(parent, str) and parent:
                attrs["parent_session"] = parent
        for key, target in (("forked_from_id", "forked_from"), ("agent_nickname", "agent_nickname")):
            value = payload.get(key)
            if isinstance(value, str) and value:
                attrs[target] = value
        if not state.get("cwd"):
            # an older rollout: its workspace comes with the environment_context (see the docstring)
            state["start_pending"] = {"line": line_no, "attrs": attrs}
            return
        yield self._event("session_start", ("session",), started, line_no, attrs=attrs)

    def _pending_start(self, ts: datetime) -> Event:
        """The session start that waited for a line after a meta without a cwd (`_session_meta`)."""
        pending = _dict(self.state.pop("start_pending"))
        line = pending.get("line")
        return self._event(
            "session_start",
            ("session",),
            parse_iso(self.state.get("start")) or ts,
            line if isinstance(line, int) else 0,
            attrs=_dict(pending.get("attrs")),
        )

    def _environment_cwd(self, payload: dict[str, Any]) -> None:
        """Take the workspace from an injected `<environment_context>` user message, if none is known."""
        if self.state.get("cwd") or payload.get("role") != "user":
            return
        text = _content_text(payload.get("content")).lstrip()
        if text.startswith("<environment_context>"):
            match = _ENVIRONMENT_CWD.search(text)
            if match:
                self.state["cwd"] = match.group(1)

    def _turn_context(self, payload: dict[str, Any]) -> None:
        model = _model_of(payload)
        if model:
            self.state["model"] = model
            self.state.pop("model_fb", None)
        cwd = payload.get("cwd")
        if isinstance(cwd, str) and cwd:
            self.state["cwd"] = cwd
        effort = payload.get("effort")
        if isinstance(effort, str) and effort:
            self.state["effort"] = effort

    # -- messages --------------------------------------------------------------------------------

    def _occurrence(self, channel: str, role: str, text: str) -> tuple[str, int]:
        digest = content_hash(text)[:20]
        counts = self.state.setdefault("n", {})
        key = f"{channel}:{role}:{digest}"
        number = counts.get(key, 0)
        if number or len(counts) < MAX_COUNTED_TEXTS:
            counts[key] = number + 1
        return digest, number

    def _message(
        self, channel: str, role: str, text: str, ts: datetime, line_no: int, attrs: dict[str, Any]
    ) -> Event | None:
        if not text.strip():
            return None
        if role == "user" and text.lstrip().startswith(_INJECTED_PREFIXES):
            return None
        digest, number = self._occurrence(channel, role, text)
        kind: EventKind = "prompt" if role == "user" else "response"
        model = self.state.get("model") if kind == "response" else None
        return self._event(
            kind,
            (kind, digest, number),
            ts,
            line_no,
            model=model,
            text=cap_text(text, MESSAGE_TEXT_LIMIT, attrs),
            attrs=attrs,
        )

    # -- event_msg -------------------------------------------------------------------------------

    def _event_msg(
        self, payload: dict[str, Any], record: dict[str, Any], ts: datetime, line_no: int, raw: bytes
    ) -> Iterator[Event | Problem]:
        kind = _kind(payload)
        if kind == "token_count":
            yield from self._token_count(payload, record, ts, line_no)
        elif kind == "user_message":
            message = payload.get("message")
            if isinstance(message, str):
                attrs: dict[str, Any] = {}
                images = payload.get("images")
                if isinstance(images, list) and images:
                    attrs["images"] = len(images)
                event = self._message("event", "user", message, ts, line_no, attrs)
                if event is not None:
                    yield event
        elif kind == "agent_message":
            message = payload.get("message")
            if isinstance(message, str):
                event = self._message("event", "assistant", message, ts, line_no, {})
                if event is not None:
                    yield event
        elif kind in ("error", "stream_error"):
            message = payload.get("message")
            yield self._event(
                "error",
                ("error", content_hash(raw)),
                ts,
                line_no,
                text=message if isinstance(message, str) else None,
                attrs={"subtype": kind},
            )

    # -- response_item ---------------------------------------------------------------------------

    def _response_item(self, payload: dict[str, Any], ts: datetime, line_no: int) -> Iterator[Event]:
        kind = _kind(payload)
        if kind == "message" or (kind is None and "role" in payload):
            role = payload.get("role")
            if role == "user":
                self._environment_cwd(payload)
            if role in ("user", "assistant"):
                text = _content_text(payload.get("content"), without_image_markers=role == "user")
                event = self._message("item", str(role), text, ts, line_no, {})
                if event is not None:
                    yield event
        elif kind in ("function_call", "custom_tool_call"):
            yield from self._tool_call(payload, ts, line_no)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            yield from self._tool_output(payload, ts, line_no)
        elif kind == "local_shell_call":
            action = _dict(payload.get("action"))
            command = _command_text(action.get("command"))
            call_id = _str(payload.get("call_id")) or _str(payload.get("id"))
            arguments = msgspec.json.encode(action).decode() if action else None  # (as a function call's)
            yield from self._call_events("local_shell", call_id, arguments, command, ts, line_no, {})
        elif kind == "web_search_call":
            action = _dict(payload.get("action"))
            attrs: dict[str, Any] = {}
            query = action.get("query")
            searched = None
            if isinstance(query, str) and query:
                attrs["input"] = {"query": query[:300]}
                searched = msgspec.json.encode({"query": query}).decode()  # (shown and searchable, as Claude's)
            call_id = _str(payload.get("id")) or _str(payload.get("call_id"))
            yield from self._call_events("web_search", call_id, searched, None, ts, line_no, attrs)
        # reasoning, ghost_snapshot, compaction and unknown item types carry no activity

    def _tool_call(self, payload: dict[str, Any], ts: datetime, line_no: int) -> Iterator[Event]:
        name = _str(payload.get("name")) or "unknown"
        call_id = _str(payload.get("call_id")) or _str(payload.get("id"))
        arguments = payload.get("arguments") if payload.get("type") == "function_call" else payload.get("input")
        parsed: Any = None
        if isinstance(arguments, str) and payload.get("type") == "function_call":
            try:
                parsed = _decode(arguments)
            except msgspec.DecodeError:
                parsed = None
        elif isinstance(arguments, dict):
            parsed = arguments
            arguments = msgspec.json.encode(arguments).decode()
        args = _dict(parsed)
        attrs: dict[str, Any] = {}
        summary = {
            key: value if not isinstance(value, str) or len(value) <= 300 else value[:300] + "..."
            for key in ("workdir", "path", "query", "server", "timeout_ms")
            if isinstance(value := args.get(key), str | int | float) and not isinstance(value, bool)
        }
        if summary:
            attrs["input"] = summary
        command = None
        patch = None
        if name in SHELL_TOOLS:
            argv = args.get("cmd") if "cmd" in args else args.get("command")
            command = _command_text(argv)
            patch = _shell_patch(argv, command)
        if name in PATCH_TOOLS:
            patch = arguments if payload.get("type") == "custom_tool_call" else args.get("input") or args.get("patch")
        text = arguments if isinstance(arguments, str) and arguments else None
        yield from self._call_events(
            name, call_id, text, command, ts, line_no, attrs, patch=patch if isinstance(patch, str) else None
        )

    def _call_events(
        self,
        name: str,
        call_id: str | None,
        text: str | None,
        command: str | None,
        ts: datetime,
        line_no: int,
        attrs: dict[str, Any],
        *,
        patch: str | None = None,
    ) -> Iterator[Event]:
        key = call_id or f"line-{ts.isoformat()}-{name}"
        if call_id:
            _remember(self.state.setdefault("calls", {}), call_id, name)
        model = self.state.get("model")
        tool = ToolInfo(name=name, call_id=call_id)
        call_id_event = event_id(AGENT, self.state["sid"], "tool_call", key)
        yield self._event(
            "tool_call",
            ("tool_call", key),
            ts,
            line_no,
            model=model,
            tool=tool,
            text=cap_text(text, TOOL_TEXT_LIMIT, attrs) if text else None,
            attrs=attrs,
        )
        if command:
            command_attrs: dict[str, Any] = {}
            yield self._event(
                "command",
                ("command", key),
                ts,
                line_no,
                parent_id=call_id_event,
                model=model,
                tool=tool,
                text=cap_text(command, TOOL_TEXT_LIMIT, command_attrs),
                attrs=command_attrs,
            )
        if patch:
            files = [list(entry) for entry in patch_files(patch)]
            if call_id:  # emitted with its output, once it says the patch applied (a failed one is no edit)
                pending_edit = {"files": files, "ts": ts.isoformat(), "line": line_no, "model": model}
                _remember(self.state.setdefault("edits", {}), call_id, pending_edit)
            else:
                yield from self._file_edits(files, key, ts, line_no, model, tool, call_id_event)

    def _file_edits(
        self,
        files: list[list[Any]],
        key: str,
        ts: datetime,
        line_no: int,
        model: str | None,
        tool: ToolInfo,
        call_event: str,
    ) -> Iterator[Event]:
        """One `file_edit` per file of an applied patch ((action, path, +, -, moved from) each)."""
        cwd = self.state.get("cwd")
        for action, path, added, removed, moved_from in files:
            edit_attrs: dict[str, Any] = {"action": action}
            if moved_from is not None:
                edit_attrs["moved_from"] = _in_workspace(moved_from, cwd)
            yield self._event(
                "file_edit",
                ("file_edit", key, path),  # (the path as written: ids stay what they were)
                ts,
                line_no,
                parent_id=call_event,
                model=model,
                tool=tool,
                file=FileInfo(path=_in_workspace(path, cwd), lines_added=added, lines_removed=removed),
                attrs=edit_attrs,
            )

    def _tool_output(self, payload: dict[str, Any], ts: datetime, line_no: int) -> Iterator[Event]:
        call_id = _str(payload.get("call_id"))
        if not call_id:
            return
        name = self.state.get("calls", {}).pop(call_id, None) or "unknown"
        output = payload.get("output")
        text, exit_code = _output_text(output)
        attrs: dict[str, Any] = {}
        if exit_code is not None:
            attrs["exit_code"] = exit_code
        status = "error" if (exit_code not in (None, 0)) or _dict(output).get("success") is False else "ok"
        if text == "aborted":  # (what Codex records for a call its interrupted turn cut off)
            status = "cancelled"
        call_event = event_id(AGENT, self.state["sid"], "tool_call", call_id)
        pending_edit = self.state.get("edits", {}).pop(call_id, None)
        if pending_edit is not None and status == "ok":
            yield from self._file_edits(
                pending_edit["files"],
                call_id,
                datetime.fromisoformat(pending_edit["ts"]),
                pending_edit["line"],
                pending_edit["model"],
                ToolInfo(name=name, call_id=call_id),
                call_event,
            )
        yield self._event(
            "tool_result",
            ("tool_result", call_id),
            ts,
            line_no,
            parent_id=call_event,
            tool=ToolInfo(name=name, call_id=call_id, status=status),
            text=cap_text(text, TOOL_TEXT_LIMIT, attrs) if text else None,
            attrs=attrs,
        )

    # -- tokens ----------------------------------------------------------------------------------

    def _token_count(
        self, payload: dict[str, Any], record: dict[str, Any], ts: datetime, line_no: int
    ) -> Iterator[Event | Problem]:
        info = payload.get("info")
        if info is None:
            return  # a rate-limit refresh
        if not isinstance(info, dict):
            raise _BadShape("token_count `info` is not an object")
        total = _usage_tuple(info.get("total_token_usage"), "total_token_usage")
        last = _usage_tuple(info.get("last_token_usage"), "last_token_usage")
        stamp = record.get("timestamp")
        ms = _epoch_ms(stamp)
        model, fallback = self._usage_model(payload, info)
        row = {"ts": stamp, "ms": ms, "line": line_no, "total": total, "last": last, "model": model, "fb": fallback}
        state = self.state
        phase = state.get("replay")
        if state.get("sub") and phase is None and (total or last) and ms is not None:
            state["replay"] = "pending"
            state["pending"] = row
            return
        if phase == "pending":
            if not (total or last):
                return  # ccusage's burst detection looks at rows with usage only
            first = state.pop("pending")
            first_ms = _row_ms(first)
            if ms is not None and first_ms is not None and ms - first_ms <= REPLAY_GAP_MS:
                state["replay"], state["burst_ms"] = "burst", ms
                self._skip_replayed(first)
                self._skip_replayed(row)
                return
            state["replay"] = "off"
            yield from self._count(first)
            yield from self._count(row)
            return
        if phase not in (None, "off"):
            if phase != "burst":  # a cursor saved by an older devlog: the burst's second
                state["replay"], state["burst_ms"] = "burst", _epoch_ms(f"{phase}.999Z")
            burst_ms = state.get("burst_ms")
            if ms is not None and isinstance(burst_ms, int) and ms - burst_ms <= REPLAY_GAP_MS:
                if total or last:
                    state["burst_ms"] = ms
                self._skip_replayed(row)
                return
            state["replay"] = "off"
            state.pop("burst_ms", None)
        yield from self._count(row)

    def _resolve_pending_by_time(self, ts: datetime) -> Iterator[Event]:
        """A line dated more than `REPLAY_GAP_MS` after the held first `token_count` means no row can
        join it in a replay burst: count it."""
        state = self.state
        if state.get("replay") != "pending":
            return
        first = state["pending"]
        first_ms = _row_ms(first)
        if first_ms is None or round(ts.timestamp() * 1000) - first_ms > REPLAY_GAP_MS:
            state.pop("pending")
            state["replay"] = "off"
            yield from self._count(first)

    def _resolve_pending_when_quiet(self, *, at_end: bool) -> Iterator[Event]:
        """A read that leaves a first `token_count` held asks the engine to look again once the file
        has been left alone for `REPLAY_QUIET_MS` (`RECHECK_AFTER_KEY`; at once for a file already
        that quiet). The engine then calls with no lines (`at_end`: the file holds nothing more now),
        and a row still alone in a quiet file is counted. The file's own quiet is the test, not the
        row's time: a rollout copied into the folder holds old times while the copy still writes it,
        and a read's end may fall between two rows of a burst."""
        state = self.state
        if state.get("replay") != "pending":
            state.pop(RECHECK_AFTER_KEY, None)
            return
        now = time.time() * 1000
        written = self._last_written()
        quiet = written is not None and now - written > REPLAY_QUIET_MS
        if quiet and at_end:
            state.pop(RECHECK_AFTER_KEY, None)
            state["replay"] = "off"
            yield from self._count(state.pop("pending"))
            return
        state[RECHECK_AFTER_KEY] = 1 if quiet else int(now) + REPLAY_QUIET_MS + 1

    def _last_written(self) -> float | None:
        """When the rollout was last written (epoch ms), or None if it cannot be looked at."""
        try:
            return Path(self.path_ref).stat().st_mtime_ns / 1e6
        except OSError:
            return None

    def _skip_replayed(self, row: dict[str, Any]) -> None:
        if row["total"] is not None:
            self.state["prev"] = row["total"]

    def _usage_model(self, payload: dict[str, Any], info: dict[str, Any]) -> tuple[str, bool]:
        state = self.state
        model = _model_of(payload) or _model_of(info)
        if model:
            state["model"] = model
            state.pop("model_fb", None)
            return model, False
        current = state.get("model")
        if isinstance(current, str) and current:
            return current, bool(state.get("model_fb"))
        state["model"] = FALLBACK_MODEL
        state["model_fb"] = True
        return FALLBACK_MODEL, True

    def _count(self, row: dict[str, Any]) -> Iterator[Event]:
        state = self.state
        total: list[int] | None = row["total"]
        last: list[int] | None = row["last"]
        previous: list[int] | None = state.get("prev")
        if total is not None and previous is not None and total == previous:
            return  # re-emitted unchanged totals
        if last is not None:
            raw = last
        elif total is not None:
            raw = [max(t - p, 0) for t, p in zip(total, previous, strict=True)] if previous else list(total)
        else:
            return
        if total is not None:
            state["prev"] = total
        if not any(raw[:4]):
            return
        ts = parse_iso(row["ts"])
        if ts is None:
            return
        input_tokens, cached, output, reasoning, total_tokens = raw
        cached = min(cached, input_tokens)
        model = row["model"]
        attrs: dict[str, Any] = {"usage_record": True}
        if row["fb"]:
            attrs["model_fallback"] = True
        effort = state.get("effort")
        if isinstance(effort, str):
            attrs["effort"] = effort
        cwd = state.get("cwd")
        yield Event(
            id=event_id(
                AGENT,
                "usage",
                int(ts.timestamp() * 1000),
                model,
                input_tokens,
                cached,
                output,
                reasoning,
                total_tokens,
            ),
            ts=ts,
            agent=AGENT,
            kind="response",
            session_id=state["sid"],
            agent_version=state.get("version"),
            workspace=cwd if isinstance(cwd, str) and cwd else None,
            git=self.git,
            model=model,
            usage=Usage(
                input_tokens=input_tokens - cached,
                output_tokens=output,
                cache_read_tokens=cached,
                reasoning_tokens=reasoning,
            ),
            source=SourceRef(path=self.path_ref, key=f"line {row['line']}"),
            attrs=attrs,
        )


class _BadShape(Exception):
    """A record whose structure is wrong (becomes a Problem for its line)."""


def _usage_tuple(value: Any, what: str) -> list[int] | None:
    """[input, cached, output, reasoning, total] of a Codex usage object; None when absent."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _BadShape(f"token_count `{what}` is not an object")
    numbers: list[int] = []
    for field in _USAGE_FIELDS:
        number = value.get(field, 0)
        if field == "cached_input_tokens" and field not in value:
            number = value.get("cache_read_input_tokens", 0)
        if type(number) is not int or number < 0:
            raise _BadShape(f"token_count `{what}.{field}` is not a non-negative integer")
        numbers.append(number)
    total = value.get("total_tokens")
    if type(total) is not int or total < 0:
        total = numbers[0] + numbers[2]
    numbers.append(total)
    return numbers


def _model_of(value: dict[str, Any]) -> str | None:
    for key in ("model", "model_name"):
        model = value.get(key)
        if isinstance(model, str) and model.strip():
            return model.strip()
    metadata = value.get("metadata")
    if isinstance(metadata, dict):
        model = metadata.get("model")
        if isinstance(model, str) and model.strip():
            return model.strip()
    return None


def _epoch_ms(stamp: Any) -> int | None:
    """A record's ISO timestamp in epoch milliseconds (None if it has none)."""
    ts = parse_iso(stamp)
    return None if ts is None else round(ts.timestamp() * 1000)


def _row_ms(row: dict[str, Any]) -> int | None:
    ms = row.get("ms")
    return ms if isinstance(ms, int) else _epoch_ms(row.get("ts"))  # (rows held by an older devlog)


def _is_forked_thread(meta: dict[str, Any]) -> bool:
    """Whether a session's first `session_meta` payload is a fork or a spawned sub-agent thread."""
    forked = meta.get("forked_from_id")
    if isinstance(forked, str) and forked:
        return True
    source = meta.get("source")
    spawn = _dict(_dict(source.get("subagent")).get("thread_spawn")) if isinstance(source, dict) else {}
    parent = spawn.get("parent_thread_id")
    return isinstance(parent, str) and bool(parent)


def _kind(payload: dict[str, Any]) -> str | None:
    """A payload's `type` (None when absent); a value that is not a string is a bad shape, which
    must be reported as such rather than fail a set lookup (`unhashable type: 'dict'`)."""
    kind = payload.get("type")
    if kind is not None and not isinstance(kind, str):
        raise _BadShape("`payload.type` is not a string")
    return kind


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _content_text(content: Any, *, without_image_markers: bool = False) -> str:
    """Text of a response_item message's content parts (`input_text`/`output_text`).

    `without_image_markers`: leave out the parts that only mark where an attached image sits, so a
    user message reads as its `user_message` copy does (one prompt, not two).
    """
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = [part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)]
    if without_image_markers:
        texts = [text for text in texts if not _IMAGE_MARKER.fullmatch(text.strip())]
    return "\n".join(texts)


def _shell_patch(argv: Any, script: str | None) -> str | None:
    """The patch of an `apply_patch` run through the shell tool, else None.

    Codex's prompt has long told the model to edit files this way: `["apply_patch", "<patch>"]`, or
    `apply_patch <<'EOF' ... EOF` inside `bash -lc`.
    """
    if isinstance(argv, list) and len(argv) == 2 and argv[0] in ("apply_patch", "applypatch"):
        return argv[1] if isinstance(argv[1], str) else None
    if script and "apply_patch" in script and "*** Begin Patch" in script:
        found = _SHELL_PATCH.search(script)
        return found.group(0) if found else None
    return None


def _command_text(command: Any) -> str | None:
    """A shell command from `cmd`/`command` (a string, or an argv list such as ["bash", "-lc", "..."])."""
    if isinstance(command, str):
        return command or None
    if isinstance(command, list) and all(isinstance(part, str) for part in command) and command:
        if (
            len(command) == 3
            and command[0] in ("bash", "sh", "zsh", "/bin/bash", "/bin/sh")
            and command[1]
            in (
                "-lc",
                "-c",
            )
        ):
            return str(command[2])
        return " ".join(command)
    return None


def _remember(pending: dict[str, Any], call_id: str, value: Any) -> None:
    """Keep `value` for a call whose output is still to come (the oldest dropped past
    `MAX_PENDING_TOOLS`: a file of calls without outputs must not grow the saved state for ever)."""
    pending[call_id] = value
    if len(pending) > MAX_PENDING_TOOLS:
        for stale in list(pending)[: len(pending) - MAX_PENDING_TOOLS]:
            del pending[stale]


def _output_text(output: Any) -> tuple[str, int | None]:
    """(text, exit code) of a tool output: a string, a JSON string `{output, metadata}`, or parts."""
    if isinstance(output, list):
        return _content_text(output), None
    if isinstance(output, dict):
        content = output.get("content")
        return (content if isinstance(content, str) else _content_text(content)), None
    if not isinstance(output, str):
        return "", None
    if output.startswith("{") and '"output"' in output:
        try:
            parsed = _decode(output)
        except msgspec.DecodeError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("output"), str):
            code = _dict(parsed.get("metadata")).get("exit_code")
            return parsed["output"], code if type(code) is int else None
    return output, _exit_code_in_header(output)


#: Lines of a shell output's header that may name its exit code: older builds begin with it; the
#: unified exec tool writes `Chunk ID:`, `Wall time:`, then `Process exited with code N`, then
#: `Original token count:` and `Output:` before the command's own output.
_HEADER_LINES: Final = 6
_EXIT_CODE_PREFIXES: Final = ("Exit code: ", "Process exited with code ")


def _exit_code_in_header(output: str) -> int | None:
    """The exit code a shell tool's output names in its header lines, if any."""
    for line in output.split("\n", _HEADER_LINES)[:_HEADER_LINES]:
        if line == "Output:":
            break
        if line.startswith(_EXIT_CODE_PREFIXES):
            digits = line.rsplit(" ", 1)[-1]
            return int(digits) if digits.lstrip("-").isdigit() and len(digits) < 12 else None
    return None


def _decode_problem(raw: bytes, exc: ValueError) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "line is not valid UTF-8"
    return f"invalid JSON: {exc}"
