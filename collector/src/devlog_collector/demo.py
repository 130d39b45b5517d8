"""Realistic demo agent logs for every supported agent, written into one folder.

Why this exists: the container demo, the end-to-end tests and anyone trying devlog without agent
history of their own need logs that look like the real thing — the same folder layouts, file names,
record shapes and pitfalls (streamed Claude blocks sharing one usage, cumulative and re-emitted Codex
token counts, Gemini messages re-appended when their tool calls land, Copilot op-logs next to legacy
`.json` sessions, Cursor's SQLite key/value rows and per-workspace composer lists) — without shipping
files checked in by hand. Everything here is synthetic; nothing is copied from real transcripts.

Layout under the output folder (each a drop-in for the agent's own home, see `roots()`):

    claude/projects/<encoded cwd>/<sessionId>.jsonl
    codex/sessions/YYYY/MM/DD/rollout-<local time>-<id>.jsonl
    gemini/projects.json, gemini/tmp/<slug>/{.project_root, chats/session-*.jsonl|json}
    vscode/User/workspaceStorage/<hash>/{workspace.json, chatSessions/<id>.jsonl|json}
    cursor/User/globalStorage/state.vscdb, cursor/User/workspaceStorage/<hash>/{workspace.json, state.vscdb}
    demo-manifest.json   what was written: sessions, workspaces, turns (used by `--live`, `--force`
                         and tests; `--force` removes only the files it records, see `_make_way`)

Sessions are spread over the workspaces in `WORKSPACES` (under the given home folder), so export
rules such as "`~/work/**` and `~/company/**` minus `**/personal/**` to the team server" have
something to select and something to leave out. Output is deterministic for a given seed, session
count, home and end date; `live()` then appends new activity with current timestamps (each step seeded
by its own counter, so ids never repeat).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import random
import sqlite3
import stat
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Final

from devlog_shared.limits import MAX_YEAR, MIN_YEAR

__all__ = [
    "AGENTS",
    "MANIFEST_NAME",
    "WORKSPACES",
    "DemoError",
    "DemoSummary",
    "LiveStep",
    "generate",
    "has_demo",
    "live",
    "live_step",
    "load_manifest",
    "roots",
    "roots_snippet",
]

#: Agents the demo writes logs for, in the order sessions are assigned.
AGENTS: Final = ("claude", "codex", "gemini", "copilot", "cursor")
#: Demo workspaces, relative to the home folder. Together they exercise include and exclude rules.
WORKSPACES: Final = (
    "work/acme-api",
    "company/billing",
    "company/billing/personal/notes",
    "personal/blog",
    "side-projects/game",
    "scratch/tmp",
)
MANIFEST_NAME: Final = "demo-manifest.json"
MANIFEST_FORMAT: Final = 1
#: The top-level folder each agent's demo logs live in, inside the output folder.
_AGENT_FOLDER: Final = {
    "claude": "claude",
    "codex": "codex",
    "gemini": "gemini",
    "copilot": "vscode",
    "cursor": "cursor",
}
#: Names the demo writes at the top of its output folder. Finding one there without a manifest that
#: records it means the folder is someone else's: `generate` refuses rather than delete it.
_OWNED: Final = tuple(_AGENT_FOLDER.values())
#: What a writer may leave next to a file it writes: `_write_json_atomic`'s temp file (after a crash
#: between write and rename) and SQLite's journal files (the Cursor databases).
_BYPRODUCTS: Final = (".{}.tmp", "{}-journal", "{}-wal", "{}-shm")
_HISTORY_DAYS: Final = 14
#: The `end` days whose whole history the collector stores: every event must fall in the years
#: `devlog_shared.limits` allows (the collector skips the others, the server rejects them).
_FIRST_END: Final = datetime(MIN_YEAR, 1, 1, tzinfo=UTC) + timedelta(days=_HISTORY_DAYS)
_LAST_END: Final = datetime(MAX_YEAR + 1, 1, 1, tzinfo=UTC)


class DemoError(Exception):
    """The demo cannot be written where asked (existing data, no demo to continue, ...)."""


# -- what a session says ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """The agent edits (or creates, when `old` is empty) a file relative to the workspace."""

    path: str
    old: str
    new: str


@dataclass(frozen=True)
class Shell:
    """The agent runs a shell command in the workspace."""

    command: str
    output: str
    exit_code: int = 0


@dataclass(frozen=True)
class Task:
    """One user request and the agent's answer, with at most one tool action."""

    prompt: str
    answer: str
    action: Edit | Shell | None = None


_TASKS: Final[dict[str, tuple[Task, ...]]] = {
    "work/acme-api": (
        Task(
            "Add a /health endpoint that also checks the database connection",
            "Added `GET /health`: it runs `SELECT 1` and answers 503 with the error when the database is unreachable.",
            Edit(
                "app/routes/health.py",
                "router = APIRouter()",
                'router = APIRouter()\n\n\n@router.get("/health")\nasync def health(db: Database) -> dict[str, str]:\n'
                '    await db.execute("SELECT 1")\n    return {"status": "ok"}',
            ),
        ),
        Task(
            "Run the test suite and tell me what fails",
            "One failure: `test_refund_rounding` expects banker's rounding but `Money.round()` rounds half up.",
            Shell(
                "pytest -q",
                "........F.......................\nFAILED tests/test_orders.py::test_refund_rounding\n"
                "1 failed, 41 passed in 3.21s",
                1,
            ),
        ),
        Task(
            "GET /orders takes 4 seconds with 10k orders, why?",
            "The handler loads every order and filters in Python. I moved the filter into SQL and added an index "
            "on (customer_id, created_at); the query plan now uses an index scan.",
            Edit(
                "migrations/0042_orders_customer_created.sql",
                "",
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_created\n"
                "    ON orders (customer_id, created_at DESC);",
            ),
        ),
        Task(
            "Upgrade httpx and regenerate the lock file",
            "httpx is now 0.28.1; the only API change we hit was `proxies=` becoming `proxy=` in the client factory.",
            Shell("uv lock --upgrade-package httpx", "Resolved 48 packages in 412ms\nUpdated httpx v0.27.2 -> v0.28.1"),
        ),
        Task(
            "Explain what the retry decorator in app/clients/payments.py does",
            "It retries idempotent calls up to 3 times with exponential backoff and jitter, and never retries POSTs "
            "without an idempotency key.",
        ),
    ),
    "company/billing": (
        Task(
            "Invoice totals are off by a cent for some currencies, find out why",
            "Line items are rounded before summing. Summing exact amounts and rounding once per invoice fixes it.",
            Edit(
                "billing/invoice.py",
                "total = sum(round(item.amount, 2) for item in items)",
                "total = round(sum(item.amount for item in items), currency.exponent)",
            ),
        ),
        Task(
            "Write a migration that adds a tax_region column to customers",
            "Added the column as nullable with a backfill from the billing address country.",
            Edit(
                "alembic/versions/7c2e_customers_tax_region.py",
                "",
                "def upgrade() -> None:\n"
                '    op.add_column("customers", sa.Column("tax_region", sa.Text(), nullable=True))',
            ),
        ),
        Task(
            "Run the billing integration tests against the local stripe mock",
            "All 18 integration tests pass against the mock.",
            Shell("make test-integration", "stripe-mock listening on :12111\n18 passed in 9.87s"),
        ),
        Task(
            "What happens to proration when a customer downgrades mid-cycle?",
            "We credit the unused part of the old plan on the next invoice; nothing is refunded immediately.",
        ),
    ),
    "company/billing/personal/notes": (
        Task(
            "Summarise my notes from this week's 1:1s into three bullet points",
            "1. Ship the tax-region migration before the audit. 2. Pair with Sam on retries. 3. Book the offsite.",
        ),
        Task(
            "Turn the TODO list in todo.md into a checklist",
            "Converted the list to Markdown checkboxes and grouped it by week.",
            Edit("todo.md", "- review PRs\n- write design doc", "- [ ] review PRs\n- [ ] write design doc"),
        ),
        Task(
            "Draft a short note asking for a day off next Friday",
            "Here's a two-sentence draft you can paste into the team channel.",
        ),
    ),
    "personal/blog": (
        Task(
            "Draft a post about SQLite WAL mode for beginners",
            "Drafted `posts/sqlite-wal.md`: what the WAL is, when checkpoints run, why readers never block writers.",
            Edit(
                "posts/sqlite-wal.md",
                "",
                "---\ntitle: SQLite's WAL mode, gently\ndraft: true\n---\n\nReaders never block writers...",
            ),
        ),
        Task(
            "Build the site and check for broken links",
            "The build is clean; one broken link to an old talk, which I pointed at the archive.",
            Shell("hugo --minify && lychee public/", "Total in 412 ms\n🔍 212 Total ✅ 211 OK 🚫 1 Errors", 2),
        ),
        Task(
            "Make the code blocks use a dark theme",
            "Switched the highlighter style to `dracula` in the site config.",
            Edit("config.toml", 'style = "github"', 'style = "dracula"'),
        ),
    ),
    "side-projects/game": (
        Task(
            "Add circle-vs-rectangle collision detection",
            "Added `circle_rect_overlap` using the closest point on the rectangle; unit tests cover corners and edges.",
            Edit(
                "src/physics.rs",
                "pub fn step(world: &mut World, dt: f32) {",
                "pub fn circle_rect_overlap(c: &Circle, r: &Rect) -> bool {\n"
                "    let p = c.center.clamp(r.min, r.max);\n"
                "    p.distance_squared(c.center) <= c.radius * c.radius\n}\n\n"
                "pub fn step(world: &mut World, dt: f32) {",
            ),
        ),
        Task(
            "Run cargo test",
            "All tests pass.",
            Shell("cargo test", "running 27 tests\ntest result: ok. 27 passed; 0 failed; finished in 0.41s"),
        ),
        Task(
            "Why does the player jitter when standing on a moving platform?",
            "The platform moves after the player is integrated, so the player lags a frame. Move platforms first.",
        ),
    ),
    "scratch/tmp": (
        Task(
            "Write a one-off script that renames photos by their EXIF date",
            "Wrote `rename_photos.py`; run it with `--dry-run` first.",
            Edit(
                "rename_photos.py",
                "",
                "import sys\nfrom pathlib import Path\n\n# rename IMG_*.jpg to YYYY-MM-DD_HHMMSS.jpg",
            ),
        ),
        Task(
            "How do I convert a .heic file to jpg on the command line?",
            "Use `heif-convert in.heic out.jpg` (libheif-examples) or ImageMagick's `magick in.heic out.jpg`.",
        ),
        Task(
            "List the biggest files in this folder",
            "The three largest are videos from March.",
            Shell("du -ah . | sort -rh | head -5", "1.9G\t.\n812M\t./VID_0312.mp4"),
        ),
    ),
}

_MODELS: Final[dict[str, tuple[str, ...]]] = {
    "claude": ("claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101", "claude-haiku-4-5-20251001"),
    "codex": ("gpt-5.3-codex", "gpt-5.2-codex"),
    "gemini": ("gemini-2.5-pro", "gemini-2.5-flash"),
    "copilot": ("claude-sonnet-4.5", "gpt-5-mini", "gpt-4.1"),
    "cursor": ("claude-4.5-sonnet", "gpt-5", "default"),
}


@dataclass(frozen=True)
class Tokens:
    """Token counts of one model call, in the normalised sense (input excludes cache reads)."""

    input: int
    output: int
    cache_read: int
    cache_creation: int
    reasoning: int


@dataclass(frozen=True)
class Turn:
    """A task placed in time, with the ids and numbers every format needs."""

    task: Task
    ts: datetime  # when the prompt was sent
    tokens: Tokens
    ids: tuple[str, ...]  # deterministic ids for the records of this turn
    latency_ms: int

    def at(self, ms: int) -> datetime:
        """A time `ms` milliseconds after the prompt."""
        return self.ts + timedelta(milliseconds=ms)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _uuid7(rng: random.Random, ts: datetime) -> str:
    """A UUIDv7 (time-ordered, as Codex uses) for `ts`, with random bits from `rng`."""
    value = (int(ts.timestamp() * 1000) & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76 | rng.getrandbits(12) << 64 | 0b10 << 62 | rng.getrandbits(62)
    return str(uuid.UUID(int=value))


def _make_turns(rng: random.Random, workspace_rel: str, start: datetime, count: int) -> list[Turn]:
    tasks = _TASKS[workspace_rel]
    offset = rng.randrange(len(tasks))
    turns: list[Turn] = []
    ts = start
    for index in range(count):
        task = tasks[(offset + index) % len(tasks)]
        output = rng.randint(60, 1400)
        tokens = Tokens(
            input=rng.randint(3, 2400),
            output=output,
            cache_read=rng.randint(8_000, 60_000),
            cache_creation=rng.choice((0, 0, rng.randint(500, 6000))),
            reasoning=rng.randint(0, output // 2),
        )
        turns.append(Turn(task, ts, tokens, tuple(_uuid(rng) for _ in range(8)), rng.randint(1_500, 25_000)))
        ts += timedelta(seconds=rng.randint(45, 900))
    return turns


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _append_lines(path: Path, records: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("".join(_dumps(r) + "\n" for r in records))


def _write_json_atomic(path: Path, value: Any, *, indent: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, ensure_ascii=False, indent=indent) + "\n", encoding="utf-8")
    tmp.replace(path)


def _diff_counts(edit: Edit) -> tuple[int, int]:
    old = edit.old.splitlines() if edit.old else []
    return len(old), len(edit.new.splitlines())


# -- sessions and their writers --------------------------------------------------------------------


@dataclass
class Session:
    """One demo session: what the manifest records and what live mode continues."""

    agent: str
    session_id: str
    workspace: str  # absolute path
    workspace_rel: str
    model: str
    path: str  # relative to the output folder
    turns: int = 0
    appendable: bool = True
    tail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "session_id": self.session_id,
            "workspace": self.workspace,
            "workspace_rel": self.workspace_rel,
            "model": self.model,
            "path": self.path,
            "turns": self.turns,
            "appendable": self.appendable,
            "tail": self.tail,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Session:
        return cls(**data)


def _storage_hash(workspace: str) -> str:
    """The `workspaceStorage/<hash>` folder name VS Code-style editors use (an md5 of the folder URI)."""
    return hashlib.md5(Path(workspace).as_uri().encode(), usedforsecurity=False).hexdigest()


class _Claude:
    """Claude Code: one JSONL per session under `projects/<cwd with non-alphanumerics as '-'>/`."""

    version = "2.1.90"

    @staticmethod
    def encode(cwd: str) -> str:
        return "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in cwd)

    def create(self, root: Path, session: Session, turns: list[Turn]) -> None:
        session.path = f"claude/projects/{self.encode(session.workspace)}/{session.session_id}.jsonl"
        self.append(root, session, turns)

    def append(self, root: Path, session: Session, turns: list[Turn]) -> None:
        records: list[dict[str, Any]] = []
        parent = session.tail.get("parent")
        for turn in turns:
            parent = self._turn(records, session, turn, parent)
        _append_lines(root / session.path, records)
        session.tail["parent"] = parent
        session.turns += len(turns)

    def _base(self, session: Session, parent: str | None) -> dict[str, Any]:
        return {
            "parentUuid": parent,
            "isSidechain": False,
            "userType": "external",
            "cwd": session.workspace,
            "sessionId": session.session_id,
            "version": self.version,
            "gitBranch": "main",
        }

    def _turn(self, out: list[dict[str, Any]], session: Session, turn: Turn, parent: str | None) -> str:
        ids = turn.ids
        task, tok = turn.task, turn.tokens
        out.append(
            {
                "type": "file-history-snapshot",
                "messageId": ids[0],
                "snapshot": {"messageId": ids[0], "trackedFileBackups": {}, "timestamp": _iso(turn.ts)},
                "isSnapshotUpdate": False,
            }
        )
        out.append(
            {
                **self._base(session, parent),
                "type": "user",
                "message": {"role": "user", "content": task.prompt},
                "uuid": ids[0],
                "timestamp": _iso(turn.ts),
                "permissionMode": "default",
            }
        )
        message_id = "msg_01" + ids[1].replace("-", "")[:22]
        request_id = "req_011C" + ids[2].replace("-", "")[:20]
        usage = {
            "input_tokens": tok.input,
            "cache_creation_input_tokens": tok.cache_creation,
            "cache_read_input_tokens": tok.cache_read,
            "cache_creation": {"ephemeral_5m_input_tokens": tok.cache_creation, "ephemeral_1h_input_tokens": 0},
            "output_tokens": tok.output,
            "service_tier": "standard",
        }

        def assistant(uid: str, prev: str, block: dict[str, Any], stop: str, ms: int) -> dict[str, Any]:
            return {
                **self._base(session, prev),
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": session.model,
                    "content": [block],
                    "stop_reason": stop,
                    "stop_sequence": None,
                    "usage": usage,
                },
                "requestId": request_id,
                "type": "assistant",
                "uuid": uid,
                "timestamp": _iso(turn.at(ms)),
            }

        action = task.action
        stop = "tool_use" if action else "end_turn"
        out.append(assistant(ids[3], ids[0], {"type": "text", "text": task.answer}, stop, turn.latency_ms // 3))
        last = ids[3]
        if action is not None:
            tool_use_id = "toolu_01" + ids[4].replace("-", "")[:22]
            block, result, content, is_error = self._tool(session.workspace, action, tool_use_id)
            out.append(assistant(ids[5], ids[3], block, "tool_use", turn.latency_ms // 2))
            out.append(
                {
                    **self._base(session, ids[5]),
                    "type": "user",
                    "message": {
                        "role": "user",
                        "content": [
                            {
                                "tool_use_id": tool_use_id,
                                "type": "tool_result",
                                "content": content,
                                "is_error": is_error,
                            }
                        ],
                    },
                    "uuid": ids[6],
                    "timestamp": _iso(turn.at(turn.latency_ms * 2 // 3)),
                    "toolUseResult": result,
                    "sourceToolAssistantUUID": ids[5],
                }
            )
            last = ids[6]
        out.append(
            {
                **self._base(session, last),
                "type": "system",
                "subtype": "turn_duration",
                "durationMs": turn.latency_ms,
                "isMeta": False,
                "uuid": ids[7],
                "timestamp": _iso(turn.at(turn.latency_ms)),
            }
        )
        return ids[7]

    @staticmethod
    def _tool(cwd: str, action: Edit | Shell, tool_use_id: str) -> tuple[dict[str, Any], Any, str, bool]:
        if isinstance(action, Shell):
            block = {
                "type": "tool_use",
                "id": tool_use_id,
                "name": "Bash",
                "input": {"command": action.command, "description": f"Run {action.command.split()[0]}"},
            }
            result = {"stdout": action.output, "stderr": "", "interrupted": False, "isImage": False}
            content = action.output if action.exit_code == 0 else f"Exit code {action.exit_code}\n{action.output}"
            return block, result, content, action.exit_code != 0
        path = f"{cwd}/{action.path}"
        if not action.old:
            block = {
                "type": "tool_use",
                "id": tool_use_id,
                "name": "Write",
                "input": {"file_path": path, "content": action.new},
            }
            result = {"type": "create", "filePath": path, "content": action.new, "structuredPatch": []}
            return block, result, f"File created successfully at: {path}", False
        removed, added = _diff_counts(action)
        block = {
            "type": "tool_use",
            "id": tool_use_id,
            "name": "Edit",
            "input": {"file_path": path, "old_string": action.old, "new_string": action.new},
        }
        lines = [f"-{line}" for line in action.old.splitlines()] + [f"+{line}" for line in action.new.splitlines()]
        result = {
            "filePath": path,
            "oldString": action.old,
            "newString": action.new,
            "originalFile": None,
            "structuredPatch": [
                {"oldStart": 12, "oldLines": removed, "newStart": 12, "newLines": added, "lines": lines}
            ],
            "userModified": False,
            "replaceAll": False,
        }
        return block, result, f"The file {path} has been updated.", False


class _Codex:
    """Codex CLI: one rollout JSONL per session in `sessions/YYYY/MM/DD/` (local time = UTC here)."""

    cli_version = "0.118.0"

    def create(self, root: Path, session: Session, turns: list[Turn]) -> None:
        start = turns[0].ts - timedelta(seconds=2)
        stamp = start.strftime("%Y-%m-%dT%H-%M-%S")
        session.path = f"codex/sessions/{start:%Y/%m/%d}/rollout-{stamp}-{session.session_id}.jsonl"
        repo = session.workspace.rsplit("/", 1)[-1]
        meta = {
            "timestamp": _iso(start),
            "type": "session_meta",
            "payload": {
                "id": session.session_id,
                "timestamp": _iso(start),
                "cwd": session.workspace,
                "originator": "codex_cli_rs",
                "cli_version": self.cli_version,
                "source": "cli",
                "model_provider": "openai",
                "git": {
                    "commit_hash": hashlib.sha1(session.session_id.encode(), usedforsecurity=False).hexdigest(),
                    "branch": "main",
                    "repository_url": f"git@example.com:demo/{repo}.git",
                },
            },
        }
        _append_lines(root / session.path, [meta])
        session.tail["totals"] = {"input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 0}
        session.tail["totals"]["reasoning_output_tokens"] = 0
        self.append(root, session, turns)

    def append(self, root: Path, session: Session, turns: list[Turn]) -> None:
        records: list[dict[str, Any]] = []
        totals: dict[str, int] = dict(session.tail["totals"])
        for turn in turns:
            self._turn(records, session, turn, totals)
        _append_lines(root / session.path, records)
        session.tail["totals"] = totals
        session.turns += len(turns)

    def _turn(self, out: list[dict[str, Any]], session: Session, turn: Turn, totals: dict[str, int]) -> None:
        ids, task, tok = turn.ids, turn.task, turn.tokens

        def line(ms: int, kind: str, payload: dict[str, Any]) -> None:
            out.append({"timestamp": _iso(turn.at(ms)), "type": kind, "payload": payload})

        turn_id = ids[0]
        line(0, "turn_context", {
            "turn_id": turn_id,
            "cwd": session.workspace,
            "approval_policy": "on-request",
            "sandbox_policy": {"type": "workspace-write", "network_access": False},
            "model": session.model,
            "effort": "medium",
            "summary": "auto",
        })  # fmt: skip
        line(1, "event_msg", {"type": "task_started", "turn_id": turn_id, "model_context_window": 258400})
        line(
            2,
            "response_item",
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": task.prompt}]},
        )
        line(3, "event_msg", {"type": "user_message", "message": task.prompt, "images": []})
        line(turn.latency_ms // 5, "response_item", {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "**Planning the change**"}],
            "content": None,
            "encrypted_content": "gAAAAB" + ids[1].replace("-", ""),
        })  # fmt: skip
        action = task.action
        if isinstance(action, Shell):
            call_id = "call_" + ids[2].replace("-", "")[:24]
            args = _dumps({"cmd": action.command, "workdir": session.workspace, "yield_time_ms": 10000})
            line(turn.latency_ms // 4, "response_item", {
                "type": "function_call", "name": "exec_command", "arguments": args, "call_id": call_id,
            })  # fmt: skip
            output = f"Process exited with code {action.exit_code}\nOutput:\n{action.output}"
            line(
                turn.latency_ms // 2,
                "response_item",
                {"type": "function_call_output", "call_id": call_id, "output": output},
            )
        elif isinstance(action, Edit):
            call_id = "call_" + ids[2].replace("-", "")[:24]
            verb = "Add File" if not action.old else "Update File"
            body = "\n".join([*(f"-{x}" for x in action.old.splitlines()), *(f"+{x}" for x in action.new.splitlines())])
            hunk = "@@\n" if action.old else ""
            patch = f"*** Begin Patch\n*** {verb}: {action.path}\n{hunk}{body}\n*** End Patch"
            line(turn.latency_ms // 4, "response_item", {
                "type": "custom_tool_call", "status": "completed", "call_id": call_id, "name": "apply_patch",
                "input": patch,
            })  # fmt: skip
            done = _dumps(
                {"output": f"Success. Updated the following files:\nM {action.path}\n", "metadata": {"exit_code": 0}}
            )
            line(
                turn.latency_ms // 2,
                "response_item",
                {"type": "custom_tool_call_output", "call_id": call_id, "output": done},
            )
        line(turn.latency_ms - 2, "event_msg", {"type": "agent_message", "message": task.answer})
        line(turn.latency_ms - 1, "response_item", {
            "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": task.answer}],
        })  # fmt: skip
        last = {
            "input_tokens": tok.input + tok.cache_read,
            "cached_input_tokens": tok.cache_read,
            "output_tokens": tok.output,
            "reasoning_output_tokens": tok.reasoning,
        }
        for key, value in last.items():
            totals[key] = totals.get(key, 0) + value
        info = {
            "total_token_usage": {**totals, "total_tokens": totals["input_tokens"] + totals["output_tokens"]},
            "last_token_usage": {**last, "total_tokens": last["input_tokens"] + last["output_tokens"]},
            "model_context_window": 258400,
        }
        limits = {
            "primary": {"used_percent": 7.0, "window_minutes": 300, "resets_at": int(turn.ts.timestamp()) + 9000},
            "secondary": {"used_percent": 2.0, "window_minutes": 10080, "resets_at": int(turn.ts.timestamp()) + 400000},
            "plan_type": "plus",
        }
        line(turn.latency_ms, "event_msg", {"type": "token_count", "info": info, "rate_limits": limits})
        # Codex re-emits the same totals on UI refreshes; a parser that sums them would double count.
        line(turn.latency_ms + 1, "event_msg", {"type": "token_count", "info": info, "rate_limits": limits})
        line(
            turn.latency_ms + 2,
            "event_msg",
            {"type": "task_complete", "turn_id": turn_id, "last_agent_message": task.answer},
        )


class _Gemini:
    """Gemini CLI: `tmp/<slug>/chats/session-*.jsonl` (append) or legacy `.json` (whole rewrite)."""

    def project_dir(self, root: Path, workspace: str) -> Path:
        """`tmp/<slug>/` for the workspace, registering it in `projects.json` and `.project_root`."""
        registry_path = root / "gemini" / "projects.json"
        registry: dict[str, Any] = {"projects": {}}
        if registry_path.exists():
            registry = json.loads(registry_path.read_text(encoding="utf-8"))
        projects: dict[str, str] = registry.setdefault("projects", {})
        slug = projects.get(workspace)
        if slug is None:
            base = workspace.rstrip("/").rsplit("/", 1)[-1] or "root"
            slug, n = base, 1
            while slug in projects.values():
                n += 1
                slug = f"{base}-{n}"
            projects[workspace] = slug
            _write_json_atomic(registry_path, registry, indent=2)
        folder = root / "gemini" / "tmp" / slug
        folder.mkdir(parents=True, exist_ok=True)
        marker = folder / ".project_root"
        if not marker.exists():
            marker.write_text(workspace, encoding="utf-8")
        return folder

    def create(self, root: Path, session: Session, turns: list[Turn], *, legacy: bool) -> None:
        folder = self.project_dir(root, session.workspace)
        start = turns[0].ts - timedelta(seconds=1)
        name = f"session-{start:%Y-%m-%dT%H-%M}-{session.session_id[:8]}.{'json' if legacy else 'jsonl'}"
        session.path = str((folder / "chats" / name).relative_to(root))
        project_hash = hashlib.sha256(session.workspace.encode()).hexdigest()
        header = {
            "sessionId": session.session_id,
            "projectHash": project_hash,
            "startTime": _iso(start),
            "lastUpdated": _iso(start),
        }
        if legacy:
            session.appendable = False
            messages: list[dict[str, Any]] = []
            for turn in turns:
                for record in self._turn(session, turn):
                    if "id" in record:
                        messages = [m for m in messages if m["id"] != record["id"]]
                        messages.append(record)
            document = {**header, "lastUpdated": _iso(turns[-1].at(turns[-1].latency_ms)), "messages": messages}
            _write_json_atomic(root / session.path, document, indent=2)
            session.turns = len(turns)
            return
        _append_lines(root / session.path, [{**header, "kind": "main"}])
        self.append(root, session, turns)

    def append(self, root: Path, session: Session, turns: list[Turn]) -> None:
        records: list[dict[str, Any]] = []
        for turn in turns:
            records.extend(self._turn(session, turn))
            records.append({"$set": {"lastUpdated": _iso(turn.at(turn.latency_ms + 5))}})
        _append_lines(root / session.path, records)
        session.turns += len(turns)

    def _turn(self, session: Session, turn: Turn) -> list[dict[str, Any]]:
        ids, task, tok = turn.ids, turn.task, turn.tokens
        user = {"id": ids[0], "timestamp": _iso(turn.ts), "type": "user", "content": [{"text": task.prompt}]}
        tokens = {
            "input": tok.input + tok.cache_read,
            "output": tok.output - tok.reasoning,
            "cached": tok.cache_read,
            "thoughts": tok.reasoning,
            "tool": 0,
            "total": tok.input + tok.cache_read + tok.output,
        }
        reply_ts = _iso(turn.at(turn.latency_ms))
        reply = {
            "id": ids[1],
            "timestamp": reply_ts,
            "type": "gemini",
            "content": task.answer,
            "thoughts": [
                {"subject": "Understanding the request", "description": "Reading the relevant files first.",
                 "timestamp": _iso(turn.at(turn.latency_ms // 4))},
            ],
            "tokens": tokens,
            "model": session.model,
        }  # fmt: skip
        records: list[dict[str, Any]] = [user, reply]
        action = task.action
        if action is not None:
            call = self._tool_call(session.workspace, action, turn.at(turn.latency_ms + 300))
            records.append({**reply, "toolCalls": [call]})  # the same message, re-appended: last copy wins
        return records

    @staticmethod
    def _tool_call(cwd: str, action: Edit | Shell, ts: datetime) -> dict[str, Any]:
        stamp = f"{_ms(ts)}_0"
        if isinstance(action, Shell):
            output = (
                f"Command: {action.command}\nDirectory: (root)\nOutput: {action.output}\nExit Code: {action.exit_code}"
            )
            return {
                "id": f"run_shell_command-{stamp}",
                "name": "run_shell_command",
                "args": {"command": action.command, "description": "Run it"},
                "result": [{"functionResponse": {"id": f"run_shell_command-{stamp}", "name": "run_shell_command",
                                                 "response": {"output": output}}}],
                "status": "success" if action.exit_code == 0 else "error",
                "timestamp": _iso(ts),
                "displayName": "Shell",
                "description": "This tool executes a given shell command as `bash -c <command>`.",
                "resultDisplay": action.output,
            }  # fmt: skip
        path = f"{cwd}/{action.path}"
        name = "write_file" if not action.old else "replace"
        args: dict[str, Any] = (
            {"file_path": path, "content": action.new}
            if not action.old
            else {"file_path": path, "old_string": action.old, "new_string": action.new}
        )
        return {
            "id": f"{name}-{stamp}",
            "name": name,
            "args": args,
            "result": [{"functionResponse": {"id": f"{name}-{stamp}", "name": name,
                                             "response": {"output": f"Successfully modified file: {path}"}}}],
            "status": "success",
            "timestamp": _iso(ts),
            "displayName": "WriteFile" if not action.old else "Edit",
            "resultDisplay": {"fileName": action.path.rsplit("/", 1)[-1], "filePath": path,
                              "fileDiff": f"--- a/{action.path}\n+++ b/{action.path}\n",
                              "originalContent": action.old, "newContent": action.new},
        }  # fmt: skip


class _Copilot:
    """Copilot Chat in VS Code: `workspaceStorage/<hash>/chatSessions/<id>.jsonl` op-logs (or legacy `.json`)."""

    def create(self, root: Path, session: Session, turns: list[Turn], *, legacy: bool) -> None:
        folder = root / "vscode" / "User" / "workspaceStorage" / _storage_hash(session.workspace)
        manifest = folder / "workspace.json"
        if not manifest.exists():
            _write_json_atomic(manifest, {"folder": Path(session.workspace).as_uri()}, indent=2)
        name = f"{session.session_id}.{'json' if legacy else 'jsonl'}"
        session.path = str((folder / "chatSessions" / name).relative_to(root))
        created = _ms(turns[0].ts - timedelta(seconds=3))
        document: dict[str, Any] = {
            "version": 3,
            "requesterUsername": "demo-dev",
            "responderUsername": "GitHub Copilot",
            "initialLocation": "panel",
            "sessionId": session.session_id,
            "creationDate": created,
            "lastMessageDate": created,
            "customTitle": turns[0].task.prompt[:48],
            "mode": {"id": "agent", "kind": "agent"},
            "requests": [],
        }
        if legacy:
            session.appendable = False
            for turn in turns:
                request = self._request(session, turn)
                request["response"] = self._response(session.workspace, turn)
                request["result"], request["modelState"] = self._result(session, turn)
                document["requests"].append(request)
                document["lastMessageDate"] = _ms(turn.at(turn.latency_ms))
            _write_json_atomic(root / session.path, document, indent=2)
            session.turns = len(turns)
            return
        _append_lines(root / session.path, [{"kind": 0, "v": document}])
        self.append(root, session, turns)

    def append(self, root: Path, session: Session, turns: list[Turn]) -> None:
        ops: list[dict[str, Any]] = []
        for turn in turns:
            index = session.turns
            ops.append({"kind": 2, "k": ["requests"], "v": [self._request(session, turn)]})
            ops.append({"kind": 2, "k": ["requests", index, "response"], "v": self._response(session.workspace, turn)})
            result, state = self._result(session, turn)
            ops.append({"kind": 1, "k": ["requests", index, "result"], "v": result})
            ops.append({"kind": 1, "k": ["requests", index, "modelState"], "v": state})
            ops.append({"kind": 1, "k": ["lastMessageDate"], "v": _ms(turn.at(turn.latency_ms))})
            session.turns += 1
        _append_lines(root / session.path, ops)

    @staticmethod
    def _request(session: Session, turn: Turn) -> dict[str, Any]:
        prompt = turn.task.prompt
        return {
            "requestId": f"request_{turn.ids[0]}",
            "timestamp": _ms(turn.ts),
            "agent": {
                "id": "github.copilot.editsAgent",
                "name": "agent",
                "fullName": "GitHub Copilot",
                "extensionId": {"value": "GitHub.copilot-chat", "_lower": "github.copilot-chat"},
            },
            "modelId": f"copilot/{session.model}",
            "responseId": f"response_{turn.ids[1]}",
            "message": {
                "text": prompt,
                "parts": [{"range": {"start": 0, "endExclusive": len(prompt)}, "text": prompt, "kind": "text"}],
            },
            "variableData": {"variables": []},
            "response": [],
            "isCanceled": False,
        }

    @staticmethod
    def _response(cwd: str, turn: Turn) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        action = turn.task.action
        call_id = "toolu_" + turn.ids[2].replace("-", "")[:24]
        if isinstance(action, Shell):
            parts.append({
                "kind": "toolInvocationSerialized",
                "toolId": "run_in_terminal",
                "toolCallId": call_id,
                "invocationMessage": {"value": f"Running `{action.command}`"},
                "pastTenseMessage": {"value": f"Ran `{action.command}`"},
                "isConfirmed": {"type": 1},
                "isComplete": True,
                "source": {"type": "internal", "label": "Built-In"},
                "toolSpecificData": {"kind": "terminal", "commandLine": {"original": action.command}, "language": "sh"},
            })  # fmt: skip
        elif isinstance(action, Edit):
            path = f"{cwd}/{action.path}"
            uri = {"$mid": 1, "fsPath": path, "external": Path(path).as_uri(), "path": path, "scheme": "file"}
            tool = "copilot_createFile" if not action.old else "copilot_replaceString"
            parts.append({
                "kind": "toolInvocationSerialized",
                "toolId": tool,
                "toolCallId": call_id,
                "invocationMessage": {"value": f"Editing {action.path}"},
                "pastTenseMessage": {"value": f"Edited {action.path}"},
                "isConfirmed": {"type": 1},
                "isComplete": True,
                "source": {"type": "internal", "label": "Built-In"},
            })  # fmt: skip
            removed, _ = _diff_counts(action)
            edit_range = {"startLineNumber": 12, "startColumn": 1, "endLineNumber": 12 + removed, "endColumn": 1}
            parts.append(
                {
                    "kind": "textEditGroup",
                    "uri": uri,
                    "edits": [[{"text": action.new, "range": edit_range}]],
                    "done": True,
                }
            )
            parts.append({"kind": "codeblockUri", "uri": uri, "isEdit": True})
        parts.append({"value": turn.task.answer, "supportThemeIcons": False, "supportHtml": False})
        return parts

    @staticmethod
    def _result(session: Session, turn: Turn) -> tuple[dict[str, Any], dict[str, Any]]:
        tok = turn.tokens
        label = {"claude-sonnet-4.5": "Claude Sonnet 4.5 • 1x", "gpt-5-mini": "GPT-5 mini • 0x"}
        result = {
            "timings": {"firstProgress": turn.latency_ms // 6, "totalElapsed": turn.latency_ms},
            "details": label.get(session.model, f"{session.model} • 0x"),
            "metadata": {
                "promptTokens": tok.input + tok.cache_read,
                "outputTokens": tok.output,
                "resolvedModel": session.model,
                "toolCallRounds": [],
                "toolCallResults": {},
            },
        }
        return result, {"value": 1, "completedAt": _ms(turn.at(turn.latency_ms))}


class _Cursor:
    """Cursor: composers and bubbles in `globalStorage/state.vscdb` (`cursorDiskKV`), mapped to folders
    by each workspace's own `state.vscdb` (`ItemTable['composer.composerData']`)."""

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE IF NOT EXISTS ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
        db.execute("CREATE TABLE IF NOT EXISTS cursorDiskKV (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
        return db

    def create(self, root: Path, session: Session, turns: list[Turn]) -> None:
        user_dir = root / "cursor" / "User"
        session.path = "cursor/User/globalStorage/state.vscdb"
        created = _ms(turns[0].ts - timedelta(seconds=2))
        composer = {
            "_v": 10,
            "composerId": session.session_id,
            "name": turns[0].task.prompt[:40],
            "richText": "",
            "text": "",
            "hasLoaded": True,
            "createdAt": created,
            "lastUpdatedAt": created,
            "status": "completed",
            "unifiedMode": "agent",
            "forceMode": "edit",
            "isAgentic": True,
            "modelConfig": {"modelName": session.model, "maxMode": False},
            "fullConversationHeadersOnly": [],
            "createdOnBranch": "main",
            "totalLinesAdded": 0,
            "totalLinesRemoved": 0,
            "filesChangedCount": 0,
        }
        global_db = self._connect(user_dir / "globalStorage" / "state.vscdb")
        try:
            with global_db:
                global_db.execute(
                    "INSERT INTO ItemTable VALUES (?, ?)", ("workbench.panel.composerChatViewPane.hidden", "false")
                )
                self._write_turns(global_db, session, composer, turns)
        finally:
            global_db.close()
        self._register(user_dir, session, composer)

    def append(self, root: Path, session: Session, turns: list[Turn]) -> None:
        user_dir = root / "cursor" / "User"
        global_db = self._connect(root / session.path)
        try:
            row = global_db.execute(
                "SELECT value FROM cursorDiskKV WHERE key = ?", (f"composerData:{session.session_id}",)
            ).fetchone()
            if row is None:
                raise DemoError(f"cursor composer {session.session_id} is missing from {session.path}")
            composer = json.loads(row[0])
            with global_db:
                self._write_turns(global_db, session, composer, turns)
        finally:
            global_db.close()
        self._register(user_dir, session, composer)

    def _write_turns(
        self, db: sqlite3.Connection, session: Session, composer: dict[str, Any], turns: list[Turn]
    ) -> None:
        headers: list[dict[str, Any]] = composer["fullConversationHeadersOnly"]
        for turn in turns:
            for bubble in self._bubbles(session, turn):
                key = f"bubbleId:{session.session_id}:{bubble['bubbleId']}"
                db.execute("INSERT INTO cursorDiskKV VALUES (?, ?)", (key, _dumps(bubble)))
                header = {"bubbleId": bubble["bubbleId"], "type": bubble["type"]}
                if bubble["type"] == 2:
                    header["serverBubbleId"] = bubble["serverBubbleId"]
                headers.append(header)
            action = turn.task.action
            if isinstance(action, Edit):
                removed, added = _diff_counts(action)
                composer["totalLinesAdded"] += added
                composer["totalLinesRemoved"] += removed
                composer["filesChangedCount"] += 1
            composer["lastUpdatedAt"] = _ms(turn.at(turn.latency_ms + 50))
            session.turns += 1
        db.execute("INSERT INTO cursorDiskKV VALUES (?, ?)", (f"composerData:{session.session_id}", _dumps(composer)))

    @staticmethod
    def _bubbles(session: Session, turn: Turn) -> list[dict[str, Any]]:
        ids, task, tok = turn.ids, turn.task, turn.tokens
        # Cursor builds since early 2026 record 0/0 token counts; older sessions carry real numbers.
        counts = {"inputTokens": 0, "outputTokens": 0}
        if ids[7][0] in "01234567":
            counts = {"inputTokens": tok.input + tok.cache_read, "outputTokens": tok.output}
        user = {
            "_v": 3,
            "type": 1,
            "bubbleId": ids[0],
            "text": task.prompt,
            "richText": _dumps({"root": {"children": [{"children": [{"text": task.prompt, "type": "text"}],
                                                       "type": "paragraph"}], "type": "root"}}),
            "createdAt": _iso(turn.ts),
            "isAgentic": True,
            "tokenCount": {"inputTokens": 0, "outputTokens": 0},
            "context": {"fileSelections": [], "folderSelections": []},
        }  # fmt: skip
        timing = {
            "clientStartTime": _ms(turn.ts) + 20,
            "clientRpcSendTime": _ms(turn.ts) + 35,
            "clientSettleTime": _ms(turn.at(turn.latency_ms)) - 10,
            "clientEndTime": _ms(turn.at(turn.latency_ms)),
        }
        answer = {
            "_v": 3,
            "type": 2,
            "bubbleId": ids[1],
            "serverBubbleId": ids[2],
            "text": task.answer,
            "createdAt": _iso(turn.at(turn.latency_ms // 3)),
            "requestId": ids[3],
            "modelInfo": {"modelName": session.model},
            "timingInfo": timing,
            "tokenCount": counts,
            "isAgentic": True,
        }
        bubbles = [user, answer]
        action = task.action
        if action is not None:
            if isinstance(action, Shell):
                tool = {
                    "tool": 15,
                    "name": "run_terminal_cmd",
                    "toolCallId": "toolu_" + ids[4].replace("-", "")[:24],
                    "rawArgs": _dumps({"command": action.command, "is_background": False, "explanation": "Run it"}),
                    "params": _dumps({"command": action.command, "requireUserApproval": True}),
                    "result": _dumps({"output": action.output, "exitCode": action.exit_code}),
                    "status": "completed",
                }
            else:
                path = f"{session.workspace}/{action.path}"
                tool = {
                    "tool": 7,
                    "name": "edit_file",
                    "toolCallId": "toolu_" + ids[4].replace("-", "")[:24],
                    "rawArgs": _dumps(
                        {"target_file": path, "instructions": "Apply the change", "code_edit": action.new}
                    ),
                    "result": _dumps({"diff": {"chunks": [{"linesAdded": _diff_counts(action)[1]}]}}),
                    "status": "completed",
                }
            bubbles.append({
                "_v": 3,
                "type": 2,
                "bubbleId": ids[5],
                "serverBubbleId": ids[6],
                "text": "",
                "createdAt": _iso(turn.at(turn.latency_ms // 2)),
                "requestId": ids[3],
                "modelInfo": {"modelName": session.model},
                "toolFormerData": tool,
                "tokenCount": {"inputTokens": 0, "outputTokens": 0},
                "isAgentic": True,
            })  # fmt: skip
        return bubbles

    @staticmethod
    def _register(user_dir: Path, session: Session, composer: dict[str, Any]) -> None:
        """List the composer in its workspace's own database (that is how Cursor maps chats to folders)."""
        folder = user_dir / "workspaceStorage" / _storage_hash(session.workspace)
        manifest = folder / "workspace.json"
        if not manifest.exists():
            _write_json_atomic(manifest, {"folder": Path(session.workspace).as_uri()}, indent=2)
        db = _Cursor._connect(folder / "state.vscdb")
        try:
            with db:
                row = db.execute("SELECT value FROM ItemTable WHERE key = 'composer.composerData'").fetchone()
                data = json.loads(row[0]) if row else {"allComposers": [], "selectedComposerIds": []}
                entry = {
                    "type": "head",
                    "composerId": session.session_id,
                    "name": composer["name"],
                    "createdAt": composer["createdAt"],
                    "lastUpdatedAt": composer["lastUpdatedAt"],
                    "unifiedMode": "agent",
                    "forceMode": "edit",
                }
                others = [c for c in data["allComposers"] if c.get("composerId") != session.session_id]
                data["allComposers"] = [entry, *others]
                data["selectedComposerIds"] = [session.session_id]
                data["hasMigratedComposerData"] = True
                db.execute("INSERT INTO ItemTable VALUES (?, ?)", ("composer.composerData", _dumps(data)))
        finally:
            db.close()


_CLAUDE, _CODEX, _GEMINI, _COPILOT, _CURSOR = _Claude(), _Codex(), _Gemini(), _Copilot(), _Cursor()


def _create(root: Path, session: Session, turns: list[Turn], *, legacy: bool) -> None:
    if session.agent == "claude":
        _CLAUDE.create(root, session, turns)
    elif session.agent == "codex":
        _CODEX.create(root, session, turns)
    elif session.agent == "gemini":
        _GEMINI.create(root, session, turns, legacy=legacy)
    elif session.agent == "copilot":
        _COPILOT.create(root, session, turns, legacy=legacy)
    elif session.agent == "cursor":
        _CURSOR.create(root, session, turns)
    else:  # pragma: no cover - AGENTS is closed
        raise DemoError(f"unknown demo agent {session.agent!r}")


def _append(root: Path, session: Session, turns: list[Turn]) -> None:
    writers: dict[str, Callable[[Path, Session, list[Turn]], None]] = {
        "claude": _CLAUDE.append,
        "codex": _CODEX.append,
        "gemini": _GEMINI.append,
        "copilot": _COPILOT.append,
        "cursor": _CURSOR.append,
    }
    writers[session.agent](root, session, turns)


def _new_session(rng: random.Random, agent: str, home: Path, workspace_rel: str, start: datetime) -> Session:
    session_id = _uuid7(rng, start) if agent == "codex" else _uuid(rng)
    return Session(
        agent=agent,
        session_id=session_id,
        workspace=str(home / workspace_rel),
        workspace_rel=workspace_rel,
        model=rng.choice(_MODELS[agent]),
        path="",
    )


# -- the public API --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSummary:
    """What `generate` wrote."""

    directory: Path
    home: Path
    seed: int
    sessions: int
    turns: int
    files: int
    by_agent: dict[str, int]
    by_workspace: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "home": str(self.home),
            "seed": self.seed,
            "sessions": self.sessions,
            "turns": self.turns,
            "files": self.files,
            "sessions_by_agent": self.by_agent,
            "sessions_by_workspace": self.by_workspace,
            "roots": {agent: [str(p) for p in paths] for agent, paths in roots(self.directory).items()},
        }


def roots(directory: Path) -> dict[str, list[Path]]:
    """`collect.roots` for the demo folder: each agent's drop-in home folder."""
    directory = directory.expanduser().absolute()
    return {
        "claude": [directory / "claude"],
        "codex": [directory / "codex"],
        "gemini": [directory / "gemini"],
        "copilot": [directory / "vscode" / "User"],
        "cursor": [directory / "cursor" / "User"],
    }


def roots_snippet(directory: Path) -> str:
    """The YAML to put in `config.yaml` so devlog collects the demo folder (and nothing else)."""
    lines = ["collect:", "  roots:"]
    for agent, paths in roots(directory).items():
        lines.append(f"    {agent}: [{', '.join(json.dumps(str(p)) for p in paths)}]")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise writers of one demo folder (e.g. a `--live` loop and a one-off `--live --iterations 1`)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".demo.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def load_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of the demo in `directory`.

    Raises:
        DemoError: there is no demo there, or its manifest is unreadable.
    """
    path = directory / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DemoError(
            f"{directory} holds no demo (no {MANIFEST_NAME}); run `devlog demo {directory}` first"
        ) from None
    except (OSError, ValueError) as exc:
        raise DemoError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise DemoError(f"{path} is not a demo manifest this devlog understands")
    return data


def has_demo(directory: Path) -> bool:
    """Whether `directory` holds a demo manifest.

    A helper rather than `Path.exists` at the call site: that raises on a folder the user may not
    search, and such a failure must reach the CLI as a `DemoError` like every other one here.

    Raises:
        DemoError: `directory` cannot be examined (no permission, a file in the way, ...).
    """
    directory = directory.expanduser().absolute()
    with _os_errors(f"cannot read the demo folder {directory}"):
        return (directory / MANIFEST_NAME).exists()


@contextlib.contextmanager
def _os_errors(what: str) -> Iterator[None]:
    """Turn a file-system or SQLite failure into one `DemoError` line: `what`, the reason, the path.

    The demo writes into a folder the user names, so a folder they cannot write, a full disk or a
    file in the way is theirs to fix; the CLI shows this message instead of a traceback.
    """
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        where = f" ({exc.filename})" if exc.filename and not what.endswith(str(exc.filename)) else ""
        raise DemoError(f"{what}: {reason}{where}") from None
    except sqlite3.Error as exc:
        raise DemoError(f"{what}: SQLite: {exc}") from None


# -- what an earlier demo wrote, and the only things --force removes --------------------------------


def _written_files(manifest: dict[str, Any], path: Path) -> set[PurePosixPath]:
    """Every file the demo recorded in `manifest` (read from `path`) wrote, relative to its folder.

    The manifest records each session's agent, file and workspace; the other files follow from them
    the way the writers above lay them out (Gemini's `projects.json` and `.project_root` markers, the
    editors' `workspace.json`, Cursor's per-workspace `state.vscdb`). The manifest is a file on disk
    like any other, so a path it names that leaves its agent's folder is refused outright: nothing a
    manifest says may make `--force` delete outside the demo's own folders.
    """
    refusal = f"{path} is not a demo manifest devlog can trust"
    sessions = manifest.get("sessions")
    if not isinstance(sessions, list):
        raise DemoError(f"{refusal} (it lists no sessions)")
    files: set[PurePosixPath] = set()
    for entry in sessions:
        agent = entry.get("agent") if isinstance(entry, dict) else None
        if agent not in _AGENT_FOLDER or not isinstance(entry.get("path"), str):
            raise DemoError(f"{refusal} (a session without a known agent and file)")
        if not entry["path"]:
            continue  # a session whose writing never began (an interrupted `generate`)
        rel = PurePosixPath(entry["path"])
        if rel.parts[:1] != (_AGENT_FOLDER[agent],):
            raise DemoError(f"{refusal} (its {agent} session file {entry['path']!r} is not in the {agent} folder)")
        owned = {rel}
        if agent == "gemini":
            owned |= {PurePosixPath("gemini/projects.json"), rel.parent.parent / ".project_root"}
        elif agent == "copilot":
            owned.add(rel.parent.parent / "workspace.json")
        elif agent == "cursor":
            try:
                folder = PurePosixPath("cursor/User/workspaceStorage", _storage_hash(entry["workspace"]))
            except (KeyError, TypeError, ValueError):
                raise DemoError(f"{refusal} (a Cursor session without an absolute workspace)") from None
            owned |= {folder / "workspace.json", folder / "state.vscdb"}
        for name in owned:
            if len(name.parts) < 2 or name.parts[0] not in _OWNED or ".." in name.parts:
                raise DemoError(f"{refusal} (its {agent} session file {entry['path']!r} leads outside the demo)")
        files |= owned
    return files


def _footprint(files: set[PurePosixPath]) -> tuple[set[PurePosixPath], set[PurePosixPath]]:
    """The files a demo recorded as `files` may have left (with `_BYPRODUCTS`), and the folders holding them."""
    removable = files | {f.with_name(pattern.format(f.name)) for f in files for pattern in _BYPRODUCTS}
    folders = {parent for f in files for parent in f.parents if parent.parts}
    return removable, folders


def _unrecorded(directory: Path, tops: Iterable[str], files: set[PurePosixPath]) -> list[str]:
    """What lies in the demo folders `tops` of `directory` that no recorded file explains.

    Symbolic links count as unrecorded whatever they are named: the demo never writes one, and
    following one could lead a removal into a folder of the user's own.
    """
    removable, folders = _footprint(files)
    found: list[str] = []
    pending = [PurePosixPath(top) for top in tops]
    while pending:
        rel = pending.pop()
        path = directory / rel
        mode = path.lstat().st_mode
        if rel in folders and stat.S_ISDIR(mode):
            pending.extend(rel / child.name for child in path.iterdir())
        elif not (rel in removable and stat.S_ISREG(mode)):
            found.append(str(rel) + ("/" if stat.S_ISDIR(mode) else ""))
    return sorted(found)


def _remove(directory: Path, files: set[PurePosixPath]) -> None:
    """Delete the recorded `files` (and their byproducts), then their folders once empty, the manifest last.

    Folders go with `rmdir`, which fails rather than delete anything that appeared since the check;
    the manifest goes last, so an interrupted removal can be run again.
    """
    removable, folders = _footprint(files)
    for rel in sorted(removable):
        with contextlib.suppress(FileNotFoundError):
            (directory / rel).unlink()
    for rel in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        with contextlib.suppress(FileNotFoundError):
            (directory / rel).rmdir()
    (directory / MANIFEST_NAME).unlink()


def _listing(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def _make_way(directory: Path, *, force: bool) -> None:
    """Check what an earlier demo left in `directory` and, with `force`, remove exactly that.

    `--force` deletes, and `directory` is any folder the user names, so only what a demo manifest
    records having written is ever removed: an agent-named folder no manifest records is someone
    else's (a checkout called `vscode`, say), and a recorded folder holding anything the demo did not
    write (a file, a sub-folder, a symbolic link) is refused whole rather than half-cleaned. Either
    refusal names what it found, with or without `force`, so the user is never told to use
    `--force` on something `--force` would refuse.
    """
    present = [name for name in _OWNED if os.path.lexists(directory / name)]
    manifest_path = directory / MANIFEST_NAME
    keep = "devlog will not delete {}: choose another folder for the demo (a new, empty one)"
    if not os.path.lexists(manifest_path):
        if present:
            paths = [str(directory / name) for name in present]
            them = "it" if len(paths) == 1 else "them"
            raise DemoError(
                f"{' and '.join(paths)} {'is' if len(paths) == 1 else 'are'} not devlog demo data "
                f"({directory} has no {MANIFEST_NAME} recording {them}); " + keep.format(them)
            )
        return
    try:
        files = _written_files(load_manifest(directory), manifest_path)
    except DemoError as exc:
        raise DemoError(f"{exc}; " + keep.format(f"anything in {directory}")) from None
    recorded = {f.parts[0] for f in files}
    foreign = [str(directory / name) for name in present if name not in recorded]
    if foreign:
        them = "it" if len(foreign) == 1 else "them"
        raise DemoError(
            f"{' and '.join(foreign)} {'is' if len(foreign) == 1 else 'are'} not devlog demo data "
            f"(the {MANIFEST_NAME} in {directory} does not record {them}); " + keep.format(them)
        )
    unrecorded = _unrecorded(directory, [name for name in present if name in recorded], files)
    if unrecorded:
        raise DemoError(
            f"{directory} holds {len(unrecorded)} item(s) in the demo's folders that the demo did not write "
            f"({_listing(unrecorded)}); devlog will not delete them: move them out of {directory} or choose "
            "another folder for the demo (a new, empty one)"
        )
    if not force:
        raise DemoError(
            f"{directory} already holds demo data ({MANIFEST_NAME} and the files it records); "
            "use --force to write it again (only those files are removed) or --live to add activity"
        )
    _remove(directory, files)


def _save_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    _write_json_atomic(directory / MANIFEST_NAME, manifest, indent=1)


def _default_end() -> datetime:
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def generate(
    directory: Path,
    *,
    seed: int = 7,
    sessions: int = 6,
    home: Path | None = None,
    end: datetime | None = None,
    force: bool = False,
) -> DemoSummary:
    """Write demo logs for every agent into `directory`.

    Args:
        directory: output folder (created if needed).
        seed: the random seed; the same seed, session count, home and end give the same logs.
        sessions: sessions per agent, assigned round-robin over `WORKSPACES` (6 covers every pair).
        home: the home folder the demo workspaces live under (default: the current user's).
        end: history ends here and reaches `_HISTORY_DAYS` back (default: today 00:00 UTC); it must
            leave the whole history inside the years the collector stores (`devlog_shared.limits`).
        force: replace an existing demo in `directory`; only the files its manifest records are
            removed (see `_make_way`).

    Raises:
        DemoError: `directory` already holds a demo and `force` is not set; it holds agent folders
            no demo manifest records, or files in them the demo did not write (even with `force`);
            `end` is out of range; or `directory` cannot be written (the reason and the path).
    """
    if sessions < 1:
        raise DemoError("--sessions must be at least 1")
    directory = directory.expanduser().absolute()
    home = (home or Path.home()).expanduser().absolute()
    end = _checked_end(end or _default_end())
    with _os_errors(f"cannot write the demo into {directory}"), _locked(directory):
        _make_way(directory, force=force)
        return _write(directory, seed=seed, sessions=sessions, home=home, end=end)


def _checked_end(end: datetime) -> datetime:
    """`end` in UTC, refused when some of the history before it would fall outside the stored years.

    Without this a far-past or far-future `--end` writes logs whose every record the collector skips
    as implausible (`collect._out_of_range`), which reads as a demo full of parser problems.
    """
    day = end.date().isoformat()
    try:
        end = end.astimezone(UTC)
    except (OverflowError, ValueError):
        end = _FIRST_END - timedelta(days=1)  # (year 1 or 9999 moved across a zone: out of range anyway)
    if not _FIRST_END <= end <= _LAST_END:
        raise DemoError(
            f"--end {day} is out of range: the demo's history covers the {_HISTORY_DAYS} days before it, "
            f"and devlog stores events of the years {MIN_YEAR}-{MAX_YEAR} only; "
            f"use a day from {_FIRST_END:%Y-%m-%d} to {_LAST_END:%Y-%m-%d}"
        )
    return end


def _write(directory: Path, *, seed: int, sessions: int, home: Path, end: datetime) -> DemoSummary:
    """Write a new demo into `directory` (cleared by `_make_way`, under the lock) and its manifest.

    Should writing fail part-way (a full disk, Ctrl-C), the sessions begun so far are still recorded,
    marked incomplete, so `--force` can remove them and `--live` knows not to continue them.
    """
    rng = random.Random(f"devlog-demo:{seed}")
    planned: list[tuple[Session, list[Turn], bool]] = []
    for agent_index, agent in enumerate(AGENTS):
        for number in range(sessions):
            workspace_rel = WORKSPACES[(number + agent_index) % len(WORKSPACES)]
            day = rng.randint(1, _HISTORY_DAYS)
            start = end - timedelta(days=day) + timedelta(hours=rng.randint(8, 19), minutes=rng.randint(0, 59))
            start += timedelta(seconds=rng.randint(0, 59), milliseconds=rng.randint(0, 999))
            session = _new_session(rng, agent, home, workspace_rel, start)
            turns = _make_turns(rng, workspace_rel, start, rng.randint(2, 4))
            legacy = agent in ("gemini", "copilot") and number % 3 == 2
            planned.append((session, turns, legacy))
    # Write in time order, as the agents would have.
    planned.sort(key=lambda item: item[1][0].ts)
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "seed": seed,
        "home": str(home),
        "end": _iso(end),
        "sessions_per_agent": sessions,
        "live_steps": 0,
        "workspaces": {rel: str(home / rel) for rel in WORKSPACES},
    }
    try:
        for session, turns, legacy in planned:
            _create(directory, session, turns, legacy=legacy)
    except BaseException:
        begun = [s.to_json() for s, _, _ in planned if s.path]
        with contextlib.suppress(OSError):
            _save_manifest(directory, {**manifest, "incomplete": True, "sessions": begun})
        raise
    _save_manifest(directory, {**manifest, "sessions": [s.to_json() for s, _, _ in planned]})
    all_sessions = [s for s, _, _ in planned]
    return DemoSummary(
        directory=directory,
        home=home,
        seed=seed,
        sessions=len(all_sessions),
        turns=sum(s.turns for s in all_sessions),
        files=len({s.path for s in all_sessions}),
        by_agent={a: sum(1 for s in all_sessions if s.agent == a) for a in AGENTS},
        by_workspace={str(home / w): sum(1 for s in all_sessions if s.workspace_rel == w) for w in WORKSPACES},
    )


@dataclass(frozen=True)
class LiveStep:
    """One change made by `live_step`."""

    agent: str
    workspace: str
    session_id: str
    new_session: bool
    turns: int


def live_step(directory: Path, *, now: datetime | None = None) -> list[LiveStep]:
    """Add a little new activity to the demo in `directory`: new turns in open sessions, or new sessions.

    The step's turns (one per session touched) follow each other and end just before `now` (default:
    the current time), so nothing is dated in the future however often steps come; a session a recent
    step added to is left alone (`_LIVE_STEP_MAX`), so no two turns of one session overlap. Each step
    is seeded by the demo's seed and a step counter kept in the manifest, so steps never repeat an id.

    Raises:
        DemoError: `directory` holds no demo, one whose writing was interrupted, or cannot be written.
    """
    directory = directory.expanduser().absolute()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    changes: list[LiveStep] = []
    with _os_errors(f"cannot add live activity to the demo in {directory}"), _locked(directory):
        manifest = load_manifest(directory)
        if manifest.get("incomplete"):
            raise DemoError(
                f"the demo in {directory} was not completely written; "
                f"run `devlog demo {directory} --force` to write it again"
            )
        step = int(manifest.get("live_steps", 0))
        seed = f"devlog-demo:{manifest['seed']}:live:{step}"
        home = Path(manifest["home"])
        sessions = [Session.from_json(s) for s in manifest["sessions"]]
        touched: dict[str, int] = manifest.get("live_touched_ms", {})
        settled = _ms(now - _LIVE_STEP_MAX)
        open_sessions = [s for s in sessions if s.appendable and touched.get(s.session_id, 0) <= settled]
        # Planned twice with the same seed: once to learn how long the turns take, then placed.
        _, length = _plan_live_step(random.Random(seed), open_sessions, home, now)
        plan, _ = _plan_live_step(random.Random(seed), open_sessions, home, now - length)
        for session, turns, created in plan:
            if created:
                _create(directory, session, turns, legacy=False)
                sessions.append(session)
            else:
                _append(directory, session, turns)
            changes.append(LiveStep(session.agent, session.workspace, session.session_id, created, len(turns)))
            touched[session.session_id] = _ms(now)
        manifest["sessions"] = [s.to_json() for s in sessions]
        manifest["live_steps"] = step + 1
        manifest["live_touched_ms"] = {sid: ms for sid, ms in touched.items() if ms > settled}
        _save_manifest(directory, manifest)
    return changes


#: Longest a live step's turns take (three turns of at most 25 s, a second apart, plus margin).
_LIVE_STEP_MAX: Final = timedelta(seconds=90)


def _plan_live_step(
    rng: random.Random, open_sessions: list[Session], home: Path, start: datetime
) -> tuple[list[tuple[Session, list[Turn], bool]], timedelta]:
    """The sessions a live step touches (one of `open_sessions`, or a new one), each with its one new
    turn (the first at `start`, each next one a second after the previous reply), and how long they
    take in all."""
    plan: list[tuple[Session, list[Turn], bool]] = []
    open_sessions = list(open_sessions)
    ts = start
    for _ in range(rng.randint(1, 3)):
        if open_sessions and rng.random() < 0.6:
            session = rng.choice(open_sessions)
            turns = _make_turns(rng, session.workspace_rel, ts, 1)
            plan.append((session, turns, False))
        else:
            agent = rng.choice(AGENTS)
            workspace_rel = rng.choice(WORKSPACES)
            session = _new_session(rng, agent, home, workspace_rel, ts)
            turns = _make_turns(rng, workspace_rel, ts, 1)
            plan.append((session, turns, True))
            open_sessions.append(session)
        ts = turns[-1].at(turns[-1].latency_ms + 1000)
    return plan, ts - start


def live(
    directory: Path,
    *,
    interval: float = 10.0,
    iterations: int | None = None,
    on_step: Callable[[list[LiveStep]], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Call `live_step` every `interval` seconds, `iterations` times (forever if None); returns steps made."""
    done = 0
    while iterations is None or done < iterations:
        if done and interval > 0:
            sleep(interval)
        changes = live_step(directory)
        done += 1
        if on_step is not None:
            on_step(changes)
    return done
