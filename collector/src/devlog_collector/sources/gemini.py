"""Gemini CLI chat recordings (`<gemini home>/tmp/<project>/chats/`).

Two shapes, both read in document mode (the whole file is re-read when it changes):

* `session-*.json` — legacy: the whole `ConversationRecord` rewritten (non-atomically) on every
  update. A read that races a rewrite is invalid JSON: one Problem, no events, retried on change.
* `session-*.jsonl` (and sub-agents' `chats/<parentSessionId>/<sessionId>.jsonl`) — a metadata
  line, then message records that are **re-appended whole** whenever their tokens or tool calls
  arrive (the last copy of an id wins), `{"$set": {...}}` metadata patches (which may carry a
  whole `messages` list) and `{"$rewindTo": "<id>"}` markers. As in every devlog log, a last line
  without its newline is never parsed, so a file whose metadata line is not complete yields
  nothing (not a session dated by the file's mtime that would stay for ever). The session id comes
  from that line only: if a later line could supply it, every id would change when it arrived.

Why document mode for the append-only `.jsonl` too: the same message id is written several times
and only the last copy is final, and `$set.messages` replaces history in place. Tailing would emit
the first, incomplete copy of each message (and the store keeps the first copy unless its token
total grows). Re-reading the whole file is cheap at Gemini's session sizes and yields every
message's final copy when collecting history.

What devlog keeps: every message ever recorded in the file, last copy per id. `$rewindTo` and
`$set.messages` change what Gemini shows and sends to the model next, not what happened: a rewound
turn was still typed, answered and billed, so it stays (ccusage counts it too), its events marked
`attrs.removed` unless a later record writes the message again.

Usage follows ccusage's Gemini rules: `cached` is part of `input` when `total` says so
(`total == input + output + thoughts + tool`), then `input_tokens = input - cached`; tool-use prompt
tokens count as input; `thoughts` are billed as output, so `output_tokens = output + thoughts` and
`reasoning_tokens = thoughts`.

The project folder comes from `tmp/<dir>/.project_root`, else `projects.json` (slug -> path, or a
legacy sha256 dir name matched against the registered paths), else the session's `directories`;
otherwise it is unknown (a sha256 cannot be reversed). `.project_root` and `projects.json` are read
only when they are regular files (`_side_files`: a FIFO there must not hang the collector).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Final

from devlog_collector.sources._side_files import read_regular_file, read_side_file, without_bom
from devlog_collector.sources._values import (
    as_dict,
    as_int,
    as_list,
    as_str,
    clip,
    first_seen_time,
    load_json_bytes,
    load_json_file_document,
    parse_ts,
    text_of,
)
from devlog_collector.sources.base import Problem, Source, SourceFile, find_files, marked_removed
from devlog_shared import Event, EventKind, FileInfo, SourceRef, ToolInfo, Usage, event_id

__all__ = ["REWOUND", "GeminiSource", "gemini_usage", "message_key", "read_conversation", "replay_jsonl"]

EDIT_TOOLS = frozenset({"replace", "write_file", "edit", "smart_edit"})
SHELL_TOOLS = frozenset({"run_shell_command"})
_FINAL_STATUSES = frozenset({"success", "error", "cancelled", "canceled"})


def gemini_usage(tokens: Any) -> Usage | None:
    """Normalised usage from a message's `tokens` (see module docstring); None when all zero."""
    tokens = as_dict(tokens)
    if not tokens:
        return None
    raw_input = as_int(tokens.get("input"))
    output = as_int(tokens.get("output"))
    cached = as_int(tokens.get("cached"))
    thoughts = as_int(tokens.get("thoughts"))
    tool = as_int(tokens.get("tool"))
    total = tokens.get("total")
    inclusive = raw_input + output + thoughts + tool
    input_tokens = raw_input
    if cached and isinstance(total, int | float) and total == inclusive and total != inclusive + cached:
        input_tokens = max(raw_input - cached, 0)
    input_tokens += tool
    if not (input_tokens or output or cached or thoughts):
        total_only = as_int(total)
        return Usage(output_tokens=total_only) if total_only else None
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output + thoughts,
        cache_read_tokens=cached,
        reasoning_tokens=thoughts,
    )


def replay_jsonl(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]], list[Problem]]:
    """Metadata, every message (last copy per id, first-seen order) and problems of a `.jsonl` log.

    Only complete lines are read: the last one may be half-written. Records are told apart by their
    shape (`_shape`); what has none devlog can use is reported, never dropped silently. The session
    id comes from the first record (the metadata line) only, so appended records can never change
    the ids of events already stored; when that record is unusable the id is the file name (reported
    at the line).
    """
    metadata: dict[str, Any] = {}
    messages: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    rewound: set[str] = set()  # ids a `$rewindTo` took back and no later record wrote again
    first = True
    # Complete lines only, each with its newline (`readlines` finds them with memchr; `bytes.split`
    # compares byte by byte).
    for index, raw in enumerate(io.BytesIO(data[: data.rfind(b"\n") + 1]).readlines()):
        if raw.isspace():
            continue
        position = f"line {index + 1}"
        is_first, first = first, False
        record, error = load_json_bytes(raw)
        if error is not None or not isinstance(record, dict):
            note = _NO_SESSION_ID if is_first else ""
            problems.append(Problem(position, f"invalid record: {error or 'not an object'}{note}"))
            continue
        shape = _shape(record, first=is_first)
        if shape == "metadata":
            if is_first and not as_str(record.get("sessionId")):
                problems.append(Problem(position, f"session metadata without a usable `sessionId`{_NO_SESSION_ID}"))
            _merge(metadata, messages, record, problems, position, keep_id=is_first)
            rewound.difference_update(_listed_ids(record))
            continue
        if is_first:
            problems.append(Problem(position, f"the first record is not the session metadata{_NO_SESSION_ID}"))
        if shape == "message":
            _remember(messages, record, problems, position)
            rewound.discard(message_key(record) or "")
        elif shape == "patch":
            patch = record["$set"]
            if isinstance(patch, dict):
                _merge(metadata, messages, patch, problems, f"{position} $set", keep_id=False)
                rewound.difference_update(_listed_ids(patch))
            else:
                problems.append(Problem(position, "`$set` is not an object; skipped"))
        elif shape == "rewind":
            # History rewound in Gemini: what happened stays collected (module docstring), the
            # messages from the one named on marked `removed`.
            target = message_key({"id": record["$rewindTo"]})
            order = list(messages)
            if target in messages:
                rewound.update(order[order.index(target) :])
        elif shape == "other":
            problems.append(Problem(position, "not session metadata, a message, `$set` or `$rewindTo`; skipped"))
    return metadata, [{**m, REWOUND: True} if k in rewound else m for k, m in messages.items()], problems


#: Key `replay_jsonl` adds to a message a rewind took back (not a key Gemini writes).
REWOUND: Final = "\x00devlog_rewound"


def _listed_ids(update: dict[str, Any]) -> set[str]:
    """Ids of the messages a metadata record or `$set` patch writes (they are current again)."""
    return {key for m in as_list(update.get("messages")) if isinstance(m, dict) and (key := message_key(m))}


_NO_SESSION_ID = "; the session id is taken from the file name"


def read_conversation(data: bytes) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[Problem]]:
    """Metadata (None when the document is unusable), messages and problems of a legacy `.json`
    ConversationRecord. Invalid JSON is most likely a read racing Gemini's non-atomic rewrite: one
    Problem, no events, and the engine reads the file again when it changes."""
    record, problem = load_json_file_document(data)
    if record is None and problem is not None:
        return None, [], [Problem("file", problem)]
    if not isinstance(record, dict):
        return None, [], [Problem("file", "conversation is not a JSON object")]
    problems: list[Problem] = [] if problem is None else [Problem("file", problem)]
    listed = record.get("messages")
    if listed is not None and not isinstance(listed, list):
        problems.append(Problem("file", "`messages` is not a list"))
    messages: list[dict[str, Any]] = []
    for number, message in enumerate(as_list(listed)):
        if isinstance(message, dict):
            messages.append(message)  # (indexed without the skipped ones, as ids always were)
        else:
            problems.append(Problem(f"messages[{number}]", "message is not an object; skipped"))
    return {k: v for k, v in record.items() if k != "messages"}, messages, problems


def _shape(record: dict[str, Any], *, first: bool) -> str:
    """What a `.jsonl` record is, by its keys (as Gemini CLI itself tells them apart).

    A message is a record with an `id` and a `type`, whatever the id's type and whatever else it
    carries (a stray `$rewindTo` key does not make it a rewind marker). A record with `sessionId`
    (or the first record, whatever it holds besides) is session metadata.
    """
    if "$set" in record:
        return "patch"
    if "id" in record and "type" in record:
        return "message"
    if "$rewindTo" in record:
        return "rewind"
    if first or "sessionId" in record:
        return "metadata"
    return "other"


def _merge(
    metadata: dict[str, Any],
    messages: dict[str, dict[str, Any]],
    update: dict[str, Any],
    problems: list[Problem],
    position: str,
    *,
    keep_id: bool,
) -> None:
    """Merge a metadata record or `$set` patch; a `messages` list in it adds messages.

    Only the first record may set `sessionId` (see `replay_jsonl`)."""
    listed = update.get("messages")
    if listed is not None and not isinstance(listed, list):
        problems.append(Problem(position, "`messages` is not a list; skipped"))
    for number, message in enumerate(as_list(listed)):
        _remember(messages, message, problems, f"{position} messages[{number}]")
    metadata.update({k: v for k, v in update.items() if k != "messages" and (keep_id or k != "sessionId")})


def message_key(message: dict[str, Any]) -> str | None:
    """A message's `id` as text (Gemini writes a string; an integer is taken as its digits), or
    None when it has no usable one. Both file formats key messages, and their events, by it."""
    value = message.get("id")
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _remember(messages: dict[str, dict[str, Any]], message: Any, problems: list[Problem], position: str) -> None:
    if not isinstance(message, dict):
        problems.append(Problem(position, "message is not an object; skipped"))
        return
    key = message_key(message)
    if key is None:
        problems.append(Problem(position, "message without a usable `id`; skipped"))
        return
    messages[key] = message  # re-assignment keeps first-seen order


class GeminiSource(Source):
    """Gemini CLI sessions."""

    name: ClassVar[str] = "gemini"
    root_layout: ClassVar[tuple[str, ...]] = ("tmp",)
    #: Gemini CLI's home-directory override: its data lives in `$GEMINI_CLI_HOME/.gemini`.
    env_var: ClassVar[str | None] = "GEMINI_CLI_HOME"

    def __init__(self, roots: Any) -> None:
        super().__init__(roots)
        self._projects: dict[Path, tuple[int, dict[str, str]]] = {}

    @classmethod
    def default_roots(cls) -> list[Path]:
        """`$GEMINI_CLI_HOME/.gemini` if set, else `~/.gemini`."""
        home = os.environ.get("GEMINI_CLI_HOME")
        return [(Path(home).expanduser() if home else Path.home()) / ".gemini"]

    def discover(self) -> Iterator[SourceFile]:
        """`tmp/*/chats/*.json` and `tmp/*/chats/**/*.jsonl` under every root."""
        for root in self.roots:
            tmp = root / "tmp"
            if not tmp.is_dir():
                continue
            for chats in sorted(tmp.glob("*/chats")):
                if not chats.is_dir():
                    continue
                for path in sorted(chats.glob("*.json")):
                    if self.is_log_file(path):
                        yield SourceFile(path=path, mode="document")
                for path in find_files(chats, self.unlisted, suffix=".jsonl"):
                    if self.is_log_file(path):
                        # A legacy session resumed by a newer Gemini CLI continues as `.jsonl`.
                        yield SourceFile(path=path, mode="document", replaces=(path.with_suffix(".json"),))

    #: `tmp/` of each root (the project folders and their chats).
    log_folders: ClassVar[tuple[str, ...]] = ("tmp",)

    def may_hold_logs(self, path: Path) -> bool:
        """A project folder under `tmp/` (new), its `.project_root`, or anything under its `chats/`."""
        for root in self.roots:
            tmp = root / "tmp"
            if path == tmp:
                return True
            if path.is_relative_to(tmp):
                parts = path.relative_to(tmp).parts
                return len(parts) == 1 or parts[1] in ("chats", ".project_root")
        return False

    def parse_document(self, file: SourceFile, state: dict[str, Any]) -> Iterator[Event | Problem]:
        """All events of the session in `file`."""
        try:
            data = read_regular_file(file.path)  # (swapped for a FIFO since discovery: never block)
        except FileNotFoundError:
            return
        except OSError as exc:
            yield Problem("file", f"cannot read: {exc.strerror or exc}")
            return
        metadata: dict[str, Any] | None
        if file.path.suffix == ".jsonl":
            if not data[: data.rfind(b"\n") + 1].strip():
                return  # not even the metadata line is complete: no session yet (not one dated now)
            metadata, messages, problems = replay_jsonl(data)
            if not metadata and not messages:  # (garbage, or a foreign file: its problems, but no session)
                metadata = None
        else:
            metadata, messages, problems = read_conversation(data)
        yield from problems
        if metadata is None:
            return
        chats_dir = next((p for p in file.path.parents if p.name == "chats"), file.path.parent)
        workspace = self._project_path(chats_dir.parent, metadata)
        yield from _SessionParser(file, metadata, messages, workspace, chats_dir, state).parse()

    # -- project folder ------------------------------------------------------------------------

    def _project_path(self, project_tmp: Path, metadata: dict[str, Any]) -> str | None:
        marker = read_side_file(project_tmp / ".project_root")
        if marker is not None:
            try:
                text = without_bom(marker).decode("utf-8").strip()
            except UnicodeDecodeError:
                text = ""
            if text:
                return text
        registry = self._registry(project_tmp.parent.parent / "projects.json")
        if project_tmp.name in registry:
            return registry[project_tmp.name]
        directories = [d for d in as_list(metadata.get("directories")) if isinstance(d, str) and d]
        if directories:
            return directories[0]
        return None

    def _registry(self, path: Path) -> dict[str, str]:
        """Temp-dir name -> project path: slugs from `projects.json`, plus legacy sha256 names."""
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            return {}
        cached = self._projects.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        mapping: dict[str, str] = {}
        raw = read_side_file(path)
        document, _error = load_json_bytes(raw) if raw is not None else (None, None)
        projects = as_dict(as_dict(document).get("projects"))
        for project_path, slug in projects.items():
            if not isinstance(project_path, str):
                continue
            if isinstance(slug, str) and slug:
                mapping[slug] = project_path
            digest = hashlib.sha256(project_path.encode("utf-8")).hexdigest()
            mapping.setdefault(digest, project_path)
            mapping.setdefault(digest[:16], project_path)
        self._projects[path] = (stamp, mapping)
        return mapping


class _SessionParser:
    def __init__(
        self,
        file: SourceFile,
        metadata: dict[str, Any],
        messages: list[dict[str, Any]],
        workspace: str | None,
        chats_dir: Path,
        state: dict[str, Any] | None = None,
    ) -> None:
        self.file = file
        self.state = {} if state is None else state
        self.metadata = metadata
        self.messages = messages
        self.workspace = workspace
        self.chats_dir = chats_dir
        self.session_id = as_str(metadata.get("sessionId")) or file.path.stem
        self.start = parse_ts(metadata.get("startTime"))
        #: The time and model of the messages before: a message without its own takes them (messages
        #: are in order; ccusage prices a reply without a model as the one before it).
        self._last_ts: datetime | None = None
        self._last_model: str | None = None

    def _fallback_ts(self) -> datetime | None:
        if self.start is not None:
            return self.start
        return first_seen_time(self.file.path, self.state)

    def _event(self, kind: EventKind, key: tuple[Any, ...], ts: datetime, position: str, **fields: Any) -> Event:
        return Event(
            id=event_id("gemini", self.session_id, *key),
            ts=ts,
            agent="gemini",
            kind=kind,
            session_id=self.session_id,
            workspace=self.workspace,
            source=SourceRef(path=str(self.file.path), key=position),
            **fields,
        )

    def parse(self) -> Iterator[Event | Problem]:
        yield from self._session_start()
        for index, message in enumerate(self.messages):
            position = f"message {message_key(message) or index}"
            try:
                events = self._message(index, message, position)
                yield from marked_removed(events) if message.get(REWOUND) is True else events
            except Exception as exc:  # noqa: BLE001 - one odd message must not stop the others
                yield Problem(position, f"unexpected shape: {type(exc).__name__}: {exc}")

    def _session_start(self) -> Iterator[Event | Problem]:
        attrs: dict[str, Any] = {}
        ts = self.start
        if ts is None:
            first = next((parse_ts(m.get("timestamp")) for m in self.messages if parse_ts(m.get("timestamp"))), None)
            ts = first or self._fallback_ts()
            attrs["ts_inferred"] = True
        if ts is None:
            yield Problem("file", "session has no usable timestamp")
            return
        for key, attr in (("projectHash", "project_hash"), ("summary", "summary"), ("kind", "session_kind")):
            if as_str(self.metadata.get(key)):
                attrs[attr] = self.metadata[key]
        directories = [d for d in as_list(self.metadata.get("directories")) if isinstance(d, str)]
        if directories:
            attrs["directories"] = directories
        if self.file.path.parent != self.chats_dir:
            attrs["parent_session"] = self.file.path.parent.name
        attrs["file_format"] = "jsonl" if self.file.path.suffix == ".jsonl" else "json"
        yield self._event("session_start", ("session_start",), ts, "session", attrs=attrs)

    def _message(self, index: int, message: dict[str, Any], position: str) -> Iterator[Event | Problem]:
        message_id = message_key(message) or f"index-{index}"
        attrs: dict[str, Any] = {"message_id": message_id}
        ts = parse_ts(message.get("timestamp"))
        if ts is None:
            ts = self._last_ts or self._fallback_ts()
            attrs["ts_inferred"] = True
        else:
            self._last_ts = ts if self._last_ts is None else max(self._last_ts, ts)
        if ts is None:
            yield Problem(position, "no usable timestamp")
            return
        kind = message.get("type")
        if not isinstance(kind, str):
            yield Problem(position, "`type` is not a string; skipped")
        elif kind == "user":
            display = message.get("displayContent")
            text = text_of(display) if display not in (None, "", []) else _content_text(message.get("content"))
            yield self._event("prompt", (message_id, "prompt"), ts, position, text=text, attrs=attrs)
        elif kind == "gemini":
            yield from self._response(message_id, message, ts, position, attrs)
        elif kind == "error":
            text = _content_text(message.get("content"))
            yield self._event("error", (message_id, "error"), ts, position, text=text or None, attrs=attrs)
        elif kind not in ("info", "warning"):  # info / warning: notices, not agent activity
            yield Problem(position, f"unknown message type {kind!r}; skipped")

    def _response(
        self, message_id: str, message: dict[str, Any], ts: datetime, position: str, attrs: dict[str, Any]
    ) -> Iterator[Event]:
        model = as_str(message.get("model"))
        if model:
            self._last_model = model
        elif self._last_model is not None:
            model = self._last_model
            attrs["model_inferred"] = True
        thoughts = as_list(message.get("thoughts"))
        if thoughts:
            attrs["thoughts"] = len(thoughts)
        tokens = as_dict(message.get("tokens"))
        if tokens:
            attrs["tokens"] = {k: v for k, v in tokens.items() if isinstance(v, int | float)}
        response_id = event_id("gemini", self.session_id, message_id, "response")
        yield self._event(
            "response",
            (message_id, "response"),
            ts,
            position,
            text=_content_text(message.get("content")) or None,
            model=model,
            usage=gemini_usage(tokens),
            attrs=attrs,
        )
        for number, call in enumerate(as_list(message.get("toolCalls"))):
            if isinstance(call, dict):
                yield from self._tool_call(message_id, number, call, ts, model, response_id, position)

    def _tool_call(
        self,
        message_id: str,
        number: int,
        call: dict[str, Any],
        message_ts: datetime,
        model: str | None,
        response_id: str,
        position: str,
    ) -> Iterator[Event]:
        name = as_str(call.get("name")) or "unknown"
        call_id = as_str(call.get("id"))
        call_key = call_id or f"call-{number}"
        status = as_str(call.get("status"))
        ts = parse_ts(call.get("timestamp")) or message_ts
        args = as_dict(call.get("args"))
        info = ToolInfo(name=name, call_id=call_id, status=status)
        attrs: dict[str, Any] = {"message_id": message_id}
        if as_str(call.get("displayName")):
            attrs["display_name"] = call["displayName"]
        call_event_id = event_id("gemini", self.session_id, message_id, "tool", call_key)
        yield self._event(
            "tool_call",
            (message_id, "tool", call_key),
            ts,
            position,
            parent_id=response_id,
            text=clip(json.dumps(args, ensure_ascii=False)) if args else None,
            model=model,
            tool=info,
            attrs=attrs,
        )
        if name in SHELL_TOOLS and as_str(args.get("command")):
            command_attrs: dict[str, Any] = {"message_id": message_id}
            if as_str(args.get("directory")):
                command_attrs["directory"] = args["directory"]
            yield self._event(
                "command",
                (message_id, "command", call_key),
                ts,
                position,
                parent_id=call_event_id,
                text=args["command"],
                model=model,
                tool=info,
                attrs=command_attrs,
            )
        if status in _FINAL_STATUSES:
            output = _result_text(call.get("result"))
            result_attrs: dict[str, Any] = {"message_id": message_id}
            result_info = info
            exit_code = _exit_code(output) if name in SHELL_TOOLS else None
            if exit_code is not None:
                result_attrs["exit_code"] = exit_code
                if exit_code != 0 and status == "success":  # (the tool ran; the command failed)
                    result_info = ToolInfo(name=name, call_id=call_id, status="error")
            yield self._event(
                "tool_result",
                (message_id, "tool_result", call_key),
                ts,
                position,
                parent_id=call_event_id,
                text=clip(output) if output else None,
                model=model,
                tool=result_info,
                attrs=result_attrs,
            )
        if name in EDIT_TOOLS and status != "error":
            display = as_dict(call.get("resultDisplay"))
            path = as_str(display.get("filePath")) or as_str(args.get("file_path")) or as_str(args.get("absolute_path"))
            if path:
                stat = as_dict(display.get("diffStat"))
                added = stat.get("model_added_lines")
                removed = stat.get("model_removed_lines")
                if not isinstance(added, int) and isinstance(display.get("fileDiff"), str):
                    added, removed = _unified_diff_counts(display["fileDiff"])  # builds before `diffStat`
                yield self._event(
                    "file_edit",
                    (message_id, "edit", call_key),
                    ts,
                    position,
                    parent_id=call_event_id,
                    model=model,
                    tool=info,
                    file=FileInfo(
                        path=path,
                        lines_added=as_int(added) if isinstance(added, int) else None,
                        lines_removed=as_int(removed) if isinstance(removed, int) else None,
                    ),
                    attrs={"message_id": message_id},
                )


#: The line of `run_shell_command`'s output that gives the command's exit code.
_EXIT_CODE_LINE: Final = re.compile(r"^Exit Code: (-?\d{1,10})\s*$", re.M)


def _exit_code(output: str) -> int | None:
    """The exit code a shell tool's output reports (`Exit Code: 1`), if it reports one."""
    found = _EXIT_CODE_LINE.search(output)
    return int(found.group(1)) if found else None


def _content_text(content: Any) -> str:
    """Text of a message's `content`: a string or a Part list (function parts carry no text)."""
    if isinstance(content, str):
        return content
    texts = [p["text"] for p in as_list(content) if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return "\n".join(t for t in texts if t)


def _result_text(result: Any) -> str:
    """Output of a tool call's `result` Part list (functionResponse.response.output/error)."""
    if isinstance(result, str):
        return result
    texts: list[str] = []
    for part in as_list(result):
        part = as_dict(part)
        response = as_dict(as_dict(part.get("functionResponse")).get("response"))
        for key in ("output", "error", "llmContent"):
            value = response.get(key)
            if value not in (None, "", []):
                texts.append(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
                break
        else:
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
    return "\n".join(texts)


_HUNK: Final = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def _unified_diff_counts(diff: str) -> tuple[int, int]:
    """(+lines, -lines) of a unified diff (`resultDisplay.fileDiff`).

    Lines are counted inside the hunks, as many as each `@@ -a,b +c,d @@` header says: a removed line
    that itself begins with `--` (an SQL comment, a Markdown rule) is a change, not a file header. A
    diff without hunk headers is counted line by line, its `+++`/`---` lines taken for headers."""
    added = removed = 0
    old_left = new_left = 0
    hunks = False
    for line in diff.split("\n"):  # (not splitlines: a form feed or U+2028 is inside a line)
        if old_left > 0 or new_left > 0:
            if line.startswith("+"):
                added, new_left = added + 1, new_left - 1
            elif line.startswith("-"):
                removed, old_left = removed + 1, old_left - 1
            elif not line.startswith("\\"):  # (not "\ No newline at end of file")
                old_left, new_left = old_left - 1, new_left - 1
            continue
        hunk = _HUNK.match(line)
        if hunk is not None:
            hunks = True
            old_left = int(hunk.group(1)) if hunk.group(1) is not None else 1
            new_left = int(hunk.group(2)) if hunk.group(2) is not None else 1
    if hunks:
        return added, removed
    for line in diff.split("\n"):
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed
