"""GitHub Copilot Chat in VS Code (and VS Code builds: Insiders, VSCodium, remote servers).

VS Code stores each chat session under a `User` folder, in one of two shapes:

* `<id>.json` — the whole `ISerializableChatData` document, rewritten on every change (older
  builds, or `chat.useLogSessionStorage=false`);
* `<id>.jsonl` — an `ObjectMutationLog`: line 1 `{"kind":0,"v":<session>}`, then set (`kind:1`),
  push/splice (`kind:2`, optional truncate index `i`) and delete (`kind:3`) operations on paths
  into that document. After ~512 entries VS Code replaces the file with a fresh `kind:0` snapshot.

Both are read in document mode: the whole session is rebuilt whenever the file changes (an op-log
cannot be tailed, compaction rewrites it), and deterministic ids (`sessionId` + `requestId`, plus
the tool call id or edited file) make re-emission harmless. When both files exist for a session the
`.jsonl` one is current and the `.json` one is skipped. A request the log takes out of the session
(undo, edit and resend) is still emitted, each of its events (prompt, reply, tool calls, edits)
marked `attrs.removed`: it was typed, answered and billed,
and a store that read the log before the undo holds it, so one that reads it after must too.

The original devlog failed whole files when a variable's `value` was a string or array, read
`{value, uris}` messages as empty, used "panel" as the workspace and turned bad timestamps into
"now"; this module tolerates every shape it meets and never invents a time (it falls back to the
latest earlier request's time, else the session's creation date or the file's mtime when first
read, and marks `attrs.ts_inferred`).

Token usage: `result.metadata.promptTokens` / `outputTokens` (older builds: `result.promptTokens`)
are the only numbers VS Code keeps. `promptTokens` is the size of the prompt sent for the turn (a
snapshot of the context, not a cache-aware count), so summing it over turns approximates billed
input and there is no cache split.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Final
from urllib.parse import unquote

from devlog_collector.sources._side_files import read_regular_file
from devlog_collector.sources._values import (
    as_dict,
    as_int,
    as_list,
    as_str,
    clip,
    file_mtime,
    first_seen_time,
    load_json_bytes,
    load_json_file_document,
    parse_ts,
    text_of,
)
from devlog_collector.sources._vscode import WorkspaceInfo, WorkspaceResolver, uri_to_path, workspace_storage_change
from devlog_collector.sources.base import (
    DEPENDS_ON_KEY,
    RECHECK_AFTER_KEY,
    Problem,
    Source,
    SourceFile,
    file_signature,
    marked_removed,
    under_any,
    vscode_user_dirs,
)
from devlog_shared import Event, EventKind, FileInfo, SourceRef, ToolInfo, Usage, event_id

__all__ = ["EDIT_TOOLS", "TERMINAL_TOOLS", "CopilotSource", "replay_operation_log"]

PRODUCTS = ("Code", "Code - Insiders", "VSCodium")
#: Remote/WSL/Codespaces servers keep their User folder under the home directory.
REMOTE_USER_DIRS = (".vscode-server", ".vscode-server-insiders", ".vscodium-server")

#: Tools that edit files (their edits also arrive as `textEditGroup` parts).
EDIT_TOOLS = frozenset(
    {
        "copilot_replaceString",
        "copilot_multiReplaceString",
        "copilot_applyPatch",
        "copilot_insertEdit",
        "copilot_createFile",
        "copilot_editNotebook",
        "vscode_editFile_internal",
    }
)
#: Tools that run a shell command (also emitted as `command` events).
TERMINAL_TOOLS = frozenset({"copilot_runInTerminal", "run_in_terminal", "runInTerminal", "copilot_runInTerminal2"})
_MARKDOWN_KINDS = (None, "markdownContent", "markdownVuln")
#: A last request without a result in a file written this recently is treated as still streaming
#: (its response is held back so the store does not keep half a reply); older ones are final.
IN_PROGRESS_WINDOW = timedelta(minutes=10)


def _reference_name(part: dict[str, Any]) -> str | None:
    """The name VS Code shows for an `inlineReference` part: its `name`, a symbol's name, or the
    base name of the file it points at (`uri`/`location.uri` objects, or URI strings)."""
    reference = part.get("inlineReference")
    target = reference
    if isinstance(reference, dict):
        name = as_str(part.get("name")) or as_str(reference.get("name"))
        if name:
            return name
        target = as_dict(reference.get("location")).get("uri") or reference.get("uri") or reference
    elif as_str(part.get("name")):
        return as_str(part.get("name"))
    if isinstance(target, dict):
        target = as_str(target.get("path")) or as_str(target.get("fsPath")) or as_str(target.get("external"))
    path = target if isinstance(target, str) else ""
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or None


#: A markdown link: `[label](target)`.
_MARKDOWN_LINK: Final = re.compile(r"\[([^\]]*)\]\(([^)\s]*)\)")


def _shown_links(text: str) -> str:
    """A tool message's markdown links as VS Code shows them: `Edited [](file:///w/src/api.ts)` reads
    "Edited api.ts" (an empty label shows the file's name), `[label](url)` reads "label"."""
    if "](" not in text:
        return text

    def shown(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(1)
        target = unquote(match.group(2).split("#", 1)[0].split("?", 1)[0])
        return target.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or match.group(0)

    return _MARKDOWN_LINK.sub(shown, text)


class _OpLogError(Exception):
    pass


def replay_operation_log(
    data: bytes, removed: list[dict[str, Any]] | None = None
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Rebuild a session from a VS Code `.jsonl` mutation log.

    A last line without a newline may be half-written and is ignored if it does not parse; a bad
    line elsewhere is reported and skipped. Returns `(None, problems)` if no snapshot was found.
    `removed` (when given) receives the requests the log held and then took out of the session (an
    undo, an edit and resend), in the order they first appeared, as they were when removed.
    """
    problems: list[Problem] = []
    state: Any = None
    requests_seen: dict[str, dict[str, Any]] = {}
    lines = io.BytesIO(data).readlines()  # (memchr per line; `bytes.split` compares byte by byte)
    last = len(lines) - 1
    for index, raw in enumerate(lines):
        line_no = index + 1
        if raw.isspace():  # (each line but a partial last one ends with its newline)
            continue
        entry, error = load_json_bytes(raw)
        if error is not None or not isinstance(entry, dict):
            if index == last and not data.endswith(b"\n"):
                break  # partial last line: VS Code is still writing it
            problems.append(Problem(f"line {line_no}", f"invalid operation-log entry: {error or 'not an object'}"))
            continue
        kind = entry.get("kind")
        op = kind if type(kind) is int else None  # (`false == 0` and `0.0 == 0` in Python)
        # Before an operation that can take requests out: what it takes out is known as it was (one
        # pushed later and still there at the end is in the session, not removed).
        if removed is not None and (op == 0 or _names_requests(entry.get("k"))):
            _remember_requests(state, requests_seen)
        try:
            if op == 0:
                state = entry.get("v")
            elif state is None:
                raise _OpLogError("operation before the initial snapshot")
            elif op == 1:
                _apply_set(state, entry.get("k"), entry.get("v"), delete=False)
            elif op == 2:
                _apply_push(state, entry.get("k"), entry.get("v"), entry.get("i"))
            elif op == 3:
                _apply_set(state, entry.get("k"), None, delete=True)
            else:
                raise _OpLogError(f"unknown operation kind {kind!r}")
        except _OpLogError as exc:
            problems.append(Problem(f"line {line_no}", str(exc)))
    if not isinstance(state, dict):
        problems.append(Problem("file", "no session snapshot (kind 0) in the operation log"))
        return None, problems
    if removed is not None and requests_seen:
        current = {request_id for request_id, _ in _identified_requests(state)}
        removed.extend(request for request_id, request in requests_seen.items() if request_id not in current)
    return state, problems


def _names_requests(path: Any) -> bool:
    """Whether an operation on `path` can add, replace or remove whole requests (`requests` itself
    or one of its items); deeper paths change a request in place."""
    return isinstance(path, list) and 1 <= len(path) <= 2 and path[0] == "requests"


def _identified_requests(state: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    requests = state.get("requests") if isinstance(state, dict) else None
    for request in requests if isinstance(requests, list) else ():
        if isinstance(request, dict):
            request_id = request.get("requestId")
            if isinstance(request_id, str) and request_id:
                yield request_id, request


def _remember_requests(state: Any, seen: dict[str, dict[str, Any]]) -> None:
    """Keep (a reference to) every request of `state` by id: one taken out later is still known as
    it was then (later operations change the objects still in the session in place)."""
    for request_id, request in _identified_requests(state):
        seen[request_id] = request


def _walk(state: Any, path: Any) -> tuple[Any, Any]:
    """The container holding the last key of `path`, and that key."""
    if not isinstance(path, list) or not path:
        raise _OpLogError(f"bad operation path {path!r}")
    current = state
    for key in path[:-1]:
        current = _child(current, key)
    return current, path[-1]


def _child(container: Any, key: Any) -> Any:
    if isinstance(container, dict) and isinstance(key, str) and key in container:
        return container[key]
    if isinstance(container, list) and _is_index(key) and 0 <= key < len(container):
        return container[key]
    raise _OpLogError(f"operation path element {key!r} does not exist")


def _is_index(key: Any) -> bool:
    """Whether `key` is a list index (`true` is an int in Python, not in VS Code's log)."""
    return isinstance(key, int) and not isinstance(key, bool)


def _apply_set(state: Any, path: Any, value: Any, *, delete: bool) -> None:
    if path == []:
        return  # VS Code ignores root replacement outside a snapshot
    container, key = _walk(state, path)
    if isinstance(container, dict) and isinstance(key, str):
        if delete:
            container.pop(key, None)
        else:
            container[key] = value
    elif isinstance(container, list) and _is_index(key) and 0 <= key <= len(container):
        if delete:
            if key < len(container):
                container[key] = None
        elif key == len(container):
            container.append(value)
        else:
            container[key] = value
    else:
        raise _OpLogError(f"cannot set {path!r}")


def _apply_push(state: Any, path: Any, values: Any, truncate: Any) -> None:
    container, key = _walk(state, path)
    if isinstance(container, dict) and isinstance(key, str):
        array = container.get(key)
    elif isinstance(container, list) and _is_index(key) and 0 <= key < len(container):
        array = container[key]
    else:
        raise _OpLogError(f"cannot push to {path!r}")
    if not isinstance(array, list):
        array = []
    if isinstance(truncate, int) and not isinstance(truncate, bool) and truncate >= 0:
        del array[truncate:]
    if isinstance(values, list):
        array.extend(values)
    container[key] = array


class CopilotSource(Source):
    """Chat sessions of GitHub Copilot Chat in VS Code-family editors."""

    name: ClassVar[str] = "copilot"
    env_var: ClassVar[str | None] = None
    root_layout: ClassVar[tuple[str, ...]] = ("workspaceStorage", "globalStorage")

    def __init__(self, roots: Any) -> None:
        super().__init__(roots)
        self._workspaces = WorkspaceResolver()

    @classmethod
    def default_roots(cls) -> list[Path]:
        """VS Code, Insiders and VSCodium `User` folders, plus remote-server ones in the home dir."""
        home = Path.home()
        return [*vscode_user_dirs(PRODUCTS), *(home / d / "data" / "User" for d in REMOTE_USER_DIRS)]

    def discover(self) -> Iterator[SourceFile]:
        """Session files under every root; `.jsonl` wins over `.json` for the same session id."""
        for root in self.roots:
            folders: list[Path] = []
            storage = root / "workspaceStorage"
            if storage.is_dir():
                folders.extend(sorted(p / "chatSessions" for p in self._subdirs(storage)))
            folders.append(root / "globalStorage" / "emptyWindowChatSessions")
            for folder in folders:
                yield from self._session_files(folder)

    #: `workspaceStorage/` (new workspaces appear as new `<hash>` folders) and the empty-window
    #: sessions of each root; not the rest of VS Code's `User` folder.
    log_folders: ClassVar[tuple[str, ...]] = ("workspaceStorage", "globalStorage/emptyWindowChatSessions")

    def may_hold_logs(self, path: Path) -> bool:
        """A workspace folder (new), its `workspace.json` or `chatSessions/`, or the empty-window sessions;
        not VS Code's own busy files (`state.vscdb`, `History/`, extension storage)."""
        names = ("chatSessions", "workspace.json")
        return any(workspace_storage_change(path, root, names) for root in self.roots) or under_any(
            path, [root / "globalStorage" / "emptyWindowChatSessions" for root in self.roots]
        )

    def _listing(self, folder: Path) -> list[Path]:
        """The entries of `folder`; one that exists but cannot be listed is reported (`unlisted`)."""
        try:
            return list(folder.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            self.unlisted.append((folder, exc.strerror or str(exc)))
            return []

    def _subdirs(self, folder: Path) -> list[Path]:
        found = []
        for path in self._listing(folder):
            try:
                if path.is_dir():
                    found.append(path)
            except OSError as exc:
                self.unlisted.append((folder, exc.strerror or str(exc)))
                break
        return found

    def _session_files(self, folder: Path) -> Iterator[SourceFile]:
        names = sorted(p.name for p in self._listing(folder))
        stems_with_log = {n[: -len(".jsonl")] for n in names if n.endswith(".jsonl")}
        for name in names:
            if name.endswith(".jsonl") or (name.endswith(".json") and name[: -len(".json")] not in stems_with_log):
                path = folder / name
                if self.is_log_file(path):
                    # A session VS Code converted to the operation log: the log is its current state.
                    replaces = (path.with_suffix(".json"),) if name.endswith(".jsonl") else ()
                    yield SourceFile(path=path, mode="document", replaces=replaces)

    def parse_document(self, file: SourceFile, state: dict[str, Any]) -> Iterator[Event | Problem]:
        """Rebuild the session in `file` and yield its events."""
        try:
            data = read_regular_file(file.path)  # (swapped for a FIFO since discovery: never block)
        except FileNotFoundError:
            return  # deleted between discovery and reading
        except OSError as exc:
            yield Problem("file", f"cannot read: {exc.strerror or exc}")
            return
        removed: list[dict[str, Any]] = []
        if file.path.suffix == ".jsonl":
            session, problems = replay_operation_log(data, removed)
            yield from problems
        else:
            session, problem = load_json_file_document(data)
            if problem is not None:
                yield Problem("file", problem)
            if session is None:
                return  # (never half a session: the engine reads it again when it changes)
        if not isinstance(session, dict):
            if session is not None:
                yield Problem("file", "session is not a JSON object")
            return
        parser = _SessionParser(file, session, self._workspace_of(file.path), state, removed)
        yield from parser.parse()
        manifest = _workspace_manifest(file.path)
        if manifest is not None:  # (written, or changed, after the session: its workspace is learnt then)
            state[DEPENDS_ON_KEY] = {str(manifest): file_signature(manifest)}
        if parser.held_back_until is not None:
            state[RECHECK_AFTER_KEY] = int(parser.held_back_until.timestamp() * 1000) + 1000
        else:
            state.pop(RECHECK_AFTER_KEY, None)

    def _workspace_of(self, path: Path) -> WorkspaceInfo:
        manifest = _workspace_manifest(path)
        if manifest is not None:
            return self._workspaces.resolve(manifest.parent)
        return WorkspaceInfo(None, {"empty_window": True})


def _workspace_manifest(session: Path) -> Path | None:
    """The `workspace.json` naming the folder of a session under `workspaceStorage/<hash>/chatSessions/`
    (None for an empty window's session)."""
    if session.parent.name == "chatSessions" and session.parent.parent.parent.name == "workspaceStorage":
        return session.parent.parent / "workspace.json"
    return None


class _SessionParser:
    """Turns one rebuilt session document into events."""

    def __init__(
        self,
        file: SourceFile,
        session: dict[str, Any],
        workspace: WorkspaceInfo,
        state: dict[str, Any] | None = None,
        removed: list[dict[str, Any]] | None = None,
    ) -> None:
        self.file = file
        #: Requests the operation log took out of the session (see `replay_operation_log`).
        self.removed = removed or []
        self.state = {} if state is None else state
        self.session = session
        self.workspace = workspace
        self.session_id = as_str(session.get("sessionId")) or file.path.stem
        self.created = parse_ts(session.get("creationDate"))
        self._mtime: datetime | None = None
        #: Set while parsing a request whose own timestamp was unusable: its events all say so.
        self._ts_inferred = False
        #: The latest request time so far: a request without a usable one of its own happened after it.
        self._last_ts: datetime | None = None
        #: When a reply held back as still streaming counts as final (then read the file again).
        self.held_back_until: datetime | None = None

    # -- helpers -----------------------------------------------------------------------------

    def _fallback_ts(self) -> datetime | None:
        """The time of a record without a usable one: the latest request time before it (the session's
        creation would sort it before the requests that came first), else the creation, else when
        devlog first saw the file."""
        if self._last_ts is not None:
            return self._last_ts
        if self.created is not None:
            return self.created
        return first_seen_time(self.file.path, self.state)

    def _recently_written(self) -> bool:
        """Whether VS Code wrote the file within `IN_PROGRESS_WINDOW` (a reply may be streaming)."""
        if self._mtime is None:
            self._mtime = file_mtime(self.file.path)
        return self._mtime is not None and datetime.now(UTC) - self._mtime < IN_PROGRESS_WINDOW

    def _ts(self, value: Any, attrs: dict[str, Any]) -> datetime | None:
        ts = parse_ts(value)
        if ts is None:
            ts = self._fallback_ts()
            attrs["ts_inferred"] = True
        return ts

    def _event(self, kind: EventKind, key: tuple[Any, ...], ts: datetime, position: str, **fields: Any) -> Event:
        attrs = fields.pop("attrs", None) or {}
        if self._ts_inferred:
            attrs["ts_inferred"] = True
        return Event(
            id=event_id("copilot", self.session_id, *key),
            ts=ts,
            agent="copilot",
            kind=kind,
            session_id=self.session_id,
            workspace=self.workspace.path,
            source=SourceRef(path=str(self.file.path), key=position),
            attrs=attrs,
            **fields,
        )

    # -- session -----------------------------------------------------------------------------

    def parse(self) -> Iterator[Event | Problem]:
        requests = self.session.get("requests")
        if requests is not None and not isinstance(requests, list):
            yield Problem("file", "`requests` is not a list")
            requests = []
        requests = requests or []
        yield from self._session_start(requests)
        for index, request in enumerate(requests):
            position = f"request {index}"
            if not isinstance(request, dict):
                yield Problem(position, "request is not an object")
                continue
            try:
                is_last = index == len(requests) - 1
                yield from self._request(index, request, is_last=is_last)
            except Exception as exc:  # noqa: BLE001 - one odd request must not stop the others
                yield Problem(position, f"unexpected shape: {type(exc).__name__}: {exc}")
            finally:
                self._ts_inferred = False
        # Taken out of the chat (undo, edit and resend) but typed, answered and billed: kept, marked.
        for request in self.removed:
            try:
                yield from marked_removed(self._request(-1, request, is_last=False, removed=True))
            except Exception as exc:  # noqa: BLE001
                yield Problem(
                    f"removed request {request.get('requestId')}", f"unexpected shape: {type(exc).__name__}: {exc}"
                )
            finally:
                self._ts_inferred = False

    def _session_start(self, requests: list[Any]) -> Iterator[Event | Problem]:
        attrs: dict[str, Any] = dict(self.workspace.attrs)
        ts = self.created
        if ts is None:
            first = next((r for r in requests if isinstance(r, dict)), {})
            ts = parse_ts(first.get("timestamp")) or first_seen_time(self.file.path, self.state)
            attrs["ts_inferred"] = True
        if ts is None:
            yield Problem("file", "session has no usable timestamp")
            return
        for key, attr in (
            ("customTitle", "title"),
            ("initialLocation", "initial_location"),
            ("responderUsername", "responder"),
            ("version", "format_version"),
        ):
            value = self.session.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
                attrs[attr] = value
        mode = as_dict(self.session.get("mode"))
        if as_str(mode.get("id")):
            attrs["mode"] = mode["id"]
        selected = as_dict(as_dict(self.session.get("inputState")).get("selectedModel"))
        model_id = as_str(as_dict(selected.get("metadata")).get("id")) or as_str(selected.get("identifier"))
        if model_id:
            attrs["selected_model"] = model_id
        attrs["file_format"] = "jsonl" if self.file.path.suffix == ".jsonl" else "json"
        yield self._event("session_start", ("session_start",), ts, "session", attrs=attrs)

    # -- request -----------------------------------------------------------------------------

    def _request(
        self, index: int, request: dict[str, Any], *, is_last: bool, removed: bool = False
    ) -> Iterator[Event | Problem]:
        request_id = as_str(request.get("requestId")) or f"index-{index}"
        position = f"removed request {request_id}" if removed else f"request {index}"
        prompt_attrs: dict[str, Any] = {"request_id": request_id}
        ts = self._ts(request.get("timestamp"), prompt_attrs)
        self._ts_inferred = bool(prompt_attrs.get("ts_inferred"))
        if ts is None:
            yield Problem(position, "no usable timestamp")
            return
        self._last_ts = ts if self._last_ts is None else max(self._last_ts, ts)
        model, model_attrs = _model_of(request)
        canceled = request.get("isCanceled") is True
        if canceled:
            prompt_attrs["canceled"] = True
        agent = as_dict(request.get("agent"))
        for key, attr in (("id", "participant"), ("name", "participant_name")):
            if as_str(agent.get(key)):
                prompt_attrs[attr] = agent[key]
        slash = request.get("slashCommand")
        slash_name = as_str(as_dict(slash).get("name")) or as_str(slash)
        if slash_name:
            prompt_attrs["slash_command"] = slash_name
        variables = _variables(request)
        if variables:
            prompt_attrs["variables"] = variables
        prompt_id = event_id("copilot", self.session_id, request_id, "prompt")
        yield self._event(
            "prompt",
            (request_id, "prompt"),
            ts,
            position,
            text=_prompt_text(request.get("message")),
            model=model,
            attrs=prompt_attrs,
        )
        yield from self._response(request_id, request, ts, model, model_attrs, prompt_id, position, is_last=is_last)

    def _response(
        self,
        request_id: str,
        request: dict[str, Any],
        ts: datetime,
        model: str | None,
        model_attrs: dict[str, Any],
        prompt_id: str,
        position: str,
        *,
        is_last: bool,
    ) -> Iterator[Event | Problem]:
        parts = request.get("response")
        if parts is not None and not isinstance(parts, list):
            yield Problem(position, "`response` is not a list")
            parts = []
        texts: list[str] = []
        thinking = 0
        edits_seen: dict[str, int] = {}
        broken = False  # a tool call or an edit came between two pieces of text: they are two blocks
        for number, part in enumerate(parts or []):
            if not isinstance(part, dict):
                if isinstance(part, str):  # very old builds stored bare markdown strings
                    texts.append(part)
                continue
            kind = part.get("kind")
            if kind in _MARKDOWN_KINDS:
                text = text_of(part.get("value") if "value" in part else part.get("content"))
                before = "".join(texts) if broken and text else ""
                if before.strip() and not before.endswith("\n"):  # (VS Code shows two paragraphs)
                    texts = [before.rstrip(" \t"), "\n\n"]
                broken = broken and not text
                texts.append(text)
                continue
            if kind in ("toolInvocationSerialized", "textEditGroup"):
                broken = True
            if kind == "inlineReference":
                name = _reference_name(part)
                if name:
                    texts.append(f"`{name}`")  # VS Code shows the file or symbol as a link here
            elif kind == "thinking":
                thinking += 1
            elif kind == "toolInvocationSerialized":
                yield from self._tool(request_id, part, number, ts, model, prompt_id, position)
            elif kind == "textEditGroup":
                yield from self._edit(request_id, part, edits_seen, ts, model, prompt_id, position)
        # VS Code records `result` when the reply is done; it may be `{}` (a slash command contributed by
        # an extension, a chat participant that returns nothing): present but empty is done too.
        has_result = isinstance(request.get("result"), dict)
        result = as_dict(request.get("result"))
        model_state = as_dict(request.get("modelState"))
        canceled = request.get("isCanceled") is True
        complete = has_result or canceled or not is_last or model_state.get("completedAt") is not None
        if not complete and self._recently_written():
            # Still streaming: the response is emitted once VS Code records its result, or once
            # the file has been quiet for IN_PROGRESS_WINDOW (VS Code closed or crashed mid-reply).
            if self._mtime is not None:
                self.held_back_until = self._mtime + IN_PROGRESS_WINDOW
            return
        attrs: dict[str, Any] = {"request_id": request_id, **model_attrs}
        if as_str(request.get("responseId")):
            attrs["response_id"] = request["responseId"]
        if canceled:
            attrs["canceled"] = True
        if thinking:
            attrs["thinking_parts"] = thinking
        timings = as_dict(result.get("timings"))
        elapsed = as_int(timings.get("totalElapsed"))
        if elapsed:
            attrs["total_elapsed_ms"] = elapsed
        if as_int(timings.get("firstProgress")):
            attrs["first_progress_ms"] = as_int(timings["firstProgress"])
        if as_str(result.get("details")):
            attrs["details"] = result["details"]
        response_ts = parse_ts(model_state.get("completedAt")) or (ts + timedelta(milliseconds=elapsed))
        usage = _usage(result)
        response_id = event_id("copilot", self.session_id, request_id, "response")
        yield self._event(
            "response",
            (request_id, "response"),
            response_ts,
            position,
            parent_id=prompt_id,
            text="".join(texts) or None,
            model=model,
            usage=usage,
            attrs=attrs,
        )
        error = as_dict(result.get("errorDetails"))
        message = as_str(error.get("message"))
        if message:
            error_attrs: dict[str, Any] = {"request_id": request_id}
            if error.get("responseIsFiltered") is True:
                error_attrs["filtered"] = True
            yield self._event(
                "error",
                (request_id, "error"),
                response_ts,
                position,
                parent_id=response_id,
                text=message,
                model=model,
                attrs=error_attrs,
            )

    def _tool(
        self,
        request_id: str,
        part: dict[str, Any],
        number: int,
        ts: datetime,
        model: str | None,
        prompt_id: str,
        position: str,
    ) -> Iterator[Event]:
        tool_id = as_str(part.get("toolId")) or as_str(part.get("toolName")) or "unknown"
        call_id = as_str(part.get("toolCallId"))
        call_key = call_id or f"part-{number}"
        complete = part.get("isComplete")
        status = "completed" if complete is True else "incomplete" if complete is False else None
        confirmed = as_dict(part.get("isConfirmed"))
        attrs: dict[str, Any] = {"request_id": request_id}
        invocation = text_of(part.get("invocationMessage"))
        past = text_of(part.get("pastTenseMessage"))
        if invocation:
            attrs["invocation_message"] = clip(invocation, 2048)  # (as written: the links keep the paths)
        if past:
            attrs["past_tense_message"] = clip(past, 2048)
        if confirmed.get("type") is not None:
            attrs["confirmation"] = confirmed["type"]
        source = as_dict(part.get("source"))
        if as_str(source.get("label")):
            attrs["tool_source"] = source["label"]
        if tool_id in EDIT_TOOLS:
            attrs["edit_tool"] = True
        call_event_id = event_id("copilot", self.session_id, request_id, "tool", call_key)
        yield self._event(
            "tool_call",
            (request_id, "tool", call_key),
            ts,
            position,
            parent_id=prompt_id,
            text=_shown_links(past or invocation) or None,
            model=model,
            tool=ToolInfo(name=tool_id, call_id=call_id, status=status),
            attrs=attrs,
        )
        if tool_id in TERMINAL_TOOLS:
            specific = as_dict(part.get("toolSpecificData"))
            command = _command_line(specific)
            command_attrs: dict[str, Any] = {"request_id": request_id}
            if as_str(specific.get("language")):
                command_attrs["shell"] = specific["language"]
            yield self._event(
                "command",
                (request_id, "command", call_key),
                ts,
                position,
                parent_id=call_event_id,
                text=command or invocation or None,
                model=model,
                tool=ToolInfo(name=tool_id, call_id=call_id, status=status),
                attrs=command_attrs,
            )

    def _edit(
        self,
        request_id: str,
        part: dict[str, Any],
        edits_seen: dict[str, int],
        ts: datetime,
        model: str | None,
        prompt_id: str,
        position: str,
    ) -> Iterator[Event]:
        path, remote = uri_to_path(part.get("uri"))
        if not path:
            return
        occurrence = edits_seen.get(path, 0)
        edits_seen[path] = occurrence + 1
        groups = as_list(part.get("edits"))
        edit_count = sum(len(g) if isinstance(g, list) else 1 for g in groups)
        attrs: dict[str, Any] = {"request_id": request_id, "edit_count": edit_count}
        if remote:
            attrs["remote"] = remote
        if part.get("done") is False:
            attrs["incomplete"] = True
        yield self._event(
            "file_edit",
            (request_id, "edit", path, occurrence),
            ts,
            position,
            parent_id=prompt_id,
            model=model,
            file=FileInfo(path=path),
            attrs=attrs,
        )


def _prompt_text(message: Any) -> str:
    if isinstance(message, str):
        return message
    message = as_dict(message)
    if isinstance(message.get("text"), str):
        return str(message["text"])
    return "".join(text_of(p) for p in as_list(message.get("parts")))


def _model_of(request: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The model name (vendor prefix stripped) and the raw ids VS Code recorded."""
    attrs: dict[str, Any] = {}
    model_id = as_str(request.get("modelId"))
    metadata = as_dict(as_dict(request.get("result")).get("metadata"))
    resolved = as_str(metadata.get("resolvedModel"))
    if model_id:
        attrs["model_id"] = model_id
    if resolved:
        attrs["resolved_model"] = resolved
    model = resolved or model_id
    if model and "/" in model:
        model = model.split("/", 1)[1]
    return model, attrs


def _usage(result: dict[str, Any]) -> Usage | None:
    metadata = as_dict(result.get("metadata"))
    prompt = as_int(metadata.get("promptTokens")) or as_int(result.get("promptTokens"))
    output = as_int(metadata.get("outputTokens")) or as_int(result.get("outputTokens"))
    if not prompt and not output:
        return None
    return Usage(input_tokens=prompt, output_tokens=output)


def _variables(request: dict[str, Any]) -> list[dict[str, Any]]:
    """A short summary of attached context: kind, name and file path. Values vary in shape."""
    summary: list[dict[str, Any]] = []
    for variable in as_list(as_dict(request.get("variableData")).get("variables"))[:50]:
        if not isinstance(variable, dict):
            continue
        item: dict[str, Any] = {}
        for key in ("kind", "name"):
            if as_str(variable.get(key)):
                item[key] = clip(variable[key], 256)
        value = variable.get("value")
        path: str | None = None
        if isinstance(value, dict):
            path, _ = uri_to_path(value.get("uri") if "uri" in value else value)
        elif isinstance(value, str) and value.startswith(("file:", "vscode-remote:")):
            path, _ = uri_to_path(value)
        if path:
            item["path"] = path
        if variable.get("automaticallyAdded") is True:
            item["automatic"] = True
        if item:
            summary.append(item)
    return summary


def _command_line(specific: dict[str, Any]) -> str | None:
    command = specific.get("commandLine")
    if isinstance(command, str):
        return command or None
    command = as_dict(command)
    return as_str(command.get("userEdited")) or as_str(command.get("toolEdited")) or as_str(command.get("original"))
