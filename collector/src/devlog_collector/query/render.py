"""Output formats of the query commands: aligned tables for people, json/jsonl/csv for pipes.

Tables fit the terminal: one line per row, long text cut with an ellipsis, least important columns
dropped when even that is not enough (piped tables are not cut unless COLUMNS is set). They are laid
out here rather than with rich because rich needs about a second for a year of daily rows, more than
the whole stats computation. The machine formats carry every field: json/jsonl are full schema-v1
events, csv flattens them (nested objects become dotted columns, `attrs` a JSON string). Data goes to
stdout only.

Stored text is whatever the agents logged, coloured tool output included. Everything meant for people
(tables, notes under them, `show` text) goes through `clean_text`, so escape sequences and control
characters never reach the terminal; json/jsonl/csv keep the text exactly as stored.
"""

from __future__ import annotations

import io
import json
import math
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, Final, TextIO

from devlog_collector.query.stats import StatsReport, Totals
from devlog_collector.query.table import (
    Column,
    clean_text,
    cut,
    display_width,
    format_table,
    layout_table,
    terminal_width,
    wrap,
)

if TYPE_CHECKING:
    from devlog_collector.query.sessions import SessionSummary
    from devlog_shared import Event

__all__ = [
    "EVENT_CSV_COLUMNS",
    "event_row",
    "render_conversation",
    "write_events",
    "write_rows",
    "write_sessions",
    "write_stats",
]

EVENT_CSV_COLUMNS = (
    "id", "schema_version", "ts", "agent", "kind", "session_id", "agent_version", "parent_id", "workspace",
    "project", "git.remote", "git.branch", "git.commit", "machine", "user", "model", "usage.input_tokens",
    "usage.output_tokens", "usage.cache_creation_tokens", "usage.cache_read_tokens", "usage.reasoning_tokens",
    "cost_usd", "tool.name", "tool.call_id", "tool.status", "tool.duration_ms", "file.path", "file.lines_added",
    "file.lines_removed", "text", "source.path", "source.key", "attrs",
)  # fmt: skip


def event_row(event: Event) -> dict[str, Any]:
    """One event flattened for csv (every field of the schema, nested objects as dotted keys)."""
    from devlog_shared import to_builtins

    data = to_builtins(event)
    row: dict[str, Any] = {}
    for column in EVENT_CSV_COLUMNS:
        if column == "attrs":
            row[column] = json.dumps(event.attrs, sort_keys=True) if event.attrs else ""
            continue
        head, _, tail = column.partition(".")
        value = data.get(head)
        if tail:
            value = value.get(tail) if isinstance(value, dict) else None
        if column == "schema_version" and value is None:
            value = event.schema_version
        row[column] = "" if value is None else value
    return row


def _one_line(text: str | None, limit: int = 400) -> str:
    if not text:
        return ""
    flat = " ".join(clean_text(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _home_short(path: str | None) -> str:
    import os

    if not path:
        return ""
    home = os.path.expanduser("~")  # noqa: PTH111
    return "~" + path[len(home) :] if home not in ("", "/") and (path == home or path.startswith(home + "/")) else path


def _local(ts: datetime, tz: tzinfo | None) -> str:
    return ts.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _event_summary(event: Event) -> str:
    parts = []
    if event.tool is not None:
        parts.append(f"[{event.tool.name}]")
    if event.file is not None:
        parts.append(_home_short(event.file.path))
    text = _one_line(event.text)
    if text:
        parts.append(text)
    return " ".join(parts)


def write_events(events: Sequence[Event], fmt: str, out: TextIO, *, tz: tzinfo | None = None) -> None:
    """Write events as `table`, `json`, `jsonl` or `csv`."""
    from devlog_shared import encode_event, to_builtins

    if fmt == "jsonl":
        for event in events:
            out.write(encode_event(event).decode() + "\n")
    elif fmt == "json":
        out.write(json.dumps([to_builtins(e) for e in events], indent=2, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        import csv

        writer = csv.DictWriter(out, fieldnames=list(EVENT_CSV_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for event in events:
            writer.writerow(event_row(event))
    else:
        columns = [
            Column("time"), Column("agent", drop_order=3), Column("kind"),
            Column("workspace", flexible=True, min_width=10, drop_order=1, cut="start"),
            Column("model", flexible=True, drop_order=2),
            Column("tokens", right=True, drop_order=4), Column("text", flexible=True, min_width=20),
        ]  # fmt: skip
        rows = []
        for e in events:
            tokens = e.usage.total if e.usage else 0
            rows.append([
                _local(e.ts, tz), e.agent, e.kind, _home_short(e.workspace), e.model or "",
                f"{tokens:,}" if tokens else "", _event_summary(e),
            ])  # fmt: skip
        out.write(format_table(columns, rows, width=terminal_width(out)))


def write_rows(columns: Sequence[str], rows: Iterable[Sequence[Any]], fmt: str, out: TextIO) -> None:
    """Write generic result rows (used by `devlog sql`) as table, json, jsonl or csv."""
    if fmt in ("json", "jsonl"):
        records = [dict(zip(columns, (_json_value(v) for v in row), strict=False)) for row in rows]
        if fmt == "json":
            out.write(json.dumps(records, indent=2, ensure_ascii=False) + "\n")
        else:
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        import csv

        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else _json_value(v) for v in row])  # Infinity, as in json
    else:
        values = [[_plain(v) for v in row] for row in rows]
        # Numbers are never cut (a cut number reads as a different number); text columns share the
        # width down to a readable minimum, and the last columns are dropped when even that is too wide.
        numeric = [all(isinstance(r[i], int | float) for r in values if r[i] is not None) for i in range(len(columns))]
        cols = [
            Column(
                name,
                right=numeric[i],
                flexible=not numeric[i],
                min_width=12,
                drop_order=len(columns) - i if i else None,
            )
            for i, name in enumerate(columns)
        ]
        cells = [["" if v is None else _one_line(str(v), 200) for v in row] for row in values]
        text, dropped = layout_table(cols, cells, width=terminal_width(out))
        out.write(text)
        if dropped:
            noun = "column" if dropped == 1 else "columns"
            out.write(wrap(f"(+{dropped} {noun} not shown; use -f csv or -f json)", terminal_width(out)))


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value.hex()
    return value


def _json_value(value: Any) -> Any:
    """`_plain`, and a non-finite float (SQLite's 1e308*10) as the string JSON has for it
    (`"Infinity"`, as PostgreSQL's to_json writes it): JSON has no such number."""
    if isinstance(value, float) and not math.isfinite(value):
        return "Infinity" if value > 0 else "-Infinity" if value < 0 else "NaN"
    return _plain(value)


def _usd(value: float) -> str:
    return f"${value:,.2f}"


#: Narrowest a stats table's first column gets, by grouping (dates fit in 10).
_KEY_MIN_WIDTH: Final = {"workspace": 24, "project": 16, "model": 20, "session": 16}


def write_stats(report: StatsReport, fmt: str, out: TextIO) -> None:
    """Write a stats report as a table (with a total line and unpriced models) or json."""
    if fmt == "json":
        out.write(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
        return
    if not report.groups:
        sys.stderr.write("no events match\n")  # a message, not data: stdout stays empty
        return
    first = {"day": "date", "week": "week of", "month": "month"}.get(report.by, report.by)
    columns = [
        # A path or a name needs room to be told apart: numeric columns go before it is cut short.
        Column(first, flexible=True, min_width=_KEY_MIN_WIDTH.get(report.by, 10),
               cut="start" if report.by == "workspace" else "end"),
        # Too narrow: the cache columns go first (total tokens includes them), then edits, tool calls,
        # input and output; sessions and prompts stay longest beside total tokens and cost.
        Column("sessions", right=True, drop_order=8),
        Column("prompts", right=True, drop_order=7), Column("tool calls", right=True, drop_order=4),
        Column("edits", right=True, drop_order=3), Column("input", right=True, drop_order=5),
        Column("output", right=True, drop_order=6), Column("cache write", right=True, drop_order=1),
        Column("cache read", right=True, drop_order=2), Column("total tokens", right=True),
        Column("cost", right=True),
    ]  # fmt: skip

    def cells(g: Totals, key: str) -> list[str]:
        return [
            key, f"{len(g.sessions):,}", f"{g.kinds['prompt']:,}", f"{g.kinds['tool_call']:,}",
            f"{g.kinds['file_edit']:,}", _tokens(g.input_tokens), _tokens(g.output_tokens),
            _tokens(g.cache_creation_tokens), _tokens(g.cache_read_tokens), _tokens(g.total_tokens),
            _usd(g.cost_usd) + ("*" if g.unpriced_tokens else ""),
        ]  # fmt: skip

    rows = [cells(g, _home_short(g.key) if report.by == "workspace" else g.key) for g in report.groups]
    width = terminal_width(out)
    out.write(format_table(columns, rows, width=width, footer=cells(report.total, "total")))
    if report.unpriced_models:
        names = ", ".join(f"{clean_text(m)} ({n:,} tokens)" for m, n in sorted(report.unpriced_models.items()))
        out.write(wrap(f"* not priced (unknown to genai-prices, counted as $0): {names}", width))


def _tokens(n: int) -> str:
    """Compact token counts: 950, 12.3K, 4.56M, 20.1B (999,600 is 1M, not 1e+03K)."""
    if n < 1000:
        return str(n)
    units = ((1_000, "K"), (1_000_000, "M"), (1_000_000_000, "B"))
    for index, (size, suffix) in enumerate(units):
        value = n / size
        text = f"{value:.3g}"
        if float(text) < 1000:
            return f"{text}{suffix}"
        if index == len(units) - 1:
            return f"{value:,.0f}{suffix}"
    raise AssertionError("unreachable")  # pragma: no cover


def write_sessions(sessions: Sequence[SessionSummary], fmt: str, out: TextIO, *, tz: tzinfo | None = None) -> None:
    """Write session summaries as table, json or csv."""
    if fmt == "json":
        out.write(json.dumps([s.to_json() for s in sessions], indent=2, ensure_ascii=False) + "\n")
        return
    if fmt == "csv":
        import csv

        from devlog_collector.query.sessions import SessionSummary

        # (a CSV cell holds one value: the model lists are joined with `;`)
        records = [{k: ";".join(v) if isinstance(v, list) else v for k, v in s.to_json().items()} for s in sessions]
        fields = list(SessionSummary.json_fields())  # the same header with no rows
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return
    if not sessions:
        sys.stderr.write("no sessions match\n")  # a message, not data: stdout stays empty
        return
    columns = [
        Column("session", flexible=True, min_width=12), Column("agent", drop_order=2),
        Column("workspace", flexible=True, min_width=10, drop_order=1, cut="start"), Column("start"),
        Column("duration", right=True, drop_order=3), Column("prompts", right=True, drop_order=4),
        Column("tokens", right=True), Column("cost", right=True),
        Column("title", flexible=True, min_width=12, drop_order=0),
    ]  # fmt: skip
    rows = []
    for s in sessions:
        minutes, seconds = divmod(int(s.duration_s), 60)
        hours, minutes = divmod(minutes, 60)
        duration = f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"
        rows.append([
            s.session_id, s.agent, _home_short(s.workspace), _local(s.start, tz)[:16], duration, f"{s.prompts:,}",
            _tokens(s.total_tokens), _usd(s.cost_usd) + ("*" if s.unpriced_models else ""), s.title or "",
        ])  # fmt: skip
    width = terminal_width(out)
    out.write(format_table(columns, rows, width=width))
    unpriced = sorted({clean_text(m) for s in sessions for m in s.unpriced_models})
    if unpriced:
        out.write(wrap(f"* not priced (unknown to genai-prices, counted as $0): {', '.join(unpriced)}", width))


_HEADINGS = {
    "session_start": "session started",
    "prompt": "USER",
    "response": "ASSISTANT",
    "tool_call": "TOOL CALL",
    "tool_result": "TOOL RESULT",
    "file_edit": "FILE EDIT",
    "command": "COMMAND",
    "error": "ERROR",
}


#: Lines and characters of a tool call's input or a tool's output `render_conversation` shows
#: unless asked for everything (a 2 MB file read is not a conversation).
TOOL_TEXT_LINES: Final = 40
TOOL_TEXT_CHARS: Final = 4000
#: Kinds whose text is the conversation itself: always shown whole.
_CONVERSATION_KINDS: Final = frozenset({"prompt", "response"})


def _clipped_tool_text(text: str) -> str:
    """`text` cut to `TOOL_TEXT_LINES` lines and `TOOL_TEXT_CHARS` characters, saying what was left out."""
    lines = text.split("\n")
    kept = "\n".join(lines[:TOOL_TEXT_LINES])
    if len(kept) > TOOL_TEXT_CHARS:
        kept = kept[:TOOL_TEXT_CHARS]
    if len(kept) == len(text):
        return text
    hidden_lines = len(text.rstrip("\n").split("\n")) - len(kept.rstrip("\n").split("\n"))
    more = f"{len(text) - len(kept):,} more characters"
    if hidden_lines > 0:
        more += f", {hidden_lines:,} more line{'s' if hidden_lines != 1 else ''}"
    return f"{kept.rstrip()}\n… ({more}; `devlog show --full` shows all)"


def _cut_at_collection(event: Event) -> str | None:
    """The note under a text the collector cut to its size limit (`attrs.truncated`): what the
    agent wrote went on past what the store holds, and even `--full` ends there."""
    if event.attrs.get("truncated") is not True or not event.text:
        return None
    whole = event.attrs.get("text_length")
    if type(whole) is int and whole > len(event.text):
        return f"… (cut when collected: {whole - len(event.text):,} more characters were not stored)"
    return "… (cut when collected: the rest was not stored)"


def render_conversation(
    events: Sequence[Event], *, tz: tzinfo | None = None, width: int = 100, full: bool = False
) -> str:
    """A session as readable plain text: prompts, responses, tool calls and results, edits, in order.

    Each event starts with a heading rule `width` columns wide (give the terminal width, at most 100).
    Stored text keeps its line breaks; escape sequences and other control characters are removed.
    Prompts and responses are shown whole; other text (tool inputs and outputs) is clipped
    (`_clipped_tool_text`) unless `full`.
    """
    if not events:
        return ""
    first = events[0]
    title = f"session {first.session_id} · {first.agent} · {_home_short(first.workspace) or '(no workspace)'}"
    lines = [
        clean_text(title),
        f"{_local(first.ts, tz)} → {_local(events[-1].ts, tz)} · {len(events)} events",
        "",
    ]
    shown_with = _usage_hosts(events)
    merged = {usage.id for rows in shown_with.values() for usage in rows}
    for index, e in enumerate(events):
        if e.id in merged:
            continue  # its tokens are shown on the first text or tool call of its response
        usage_rows = shown_with.get(index, [])
        heading = _HEADINGS.get(e.kind, e.kind.upper())
        if e.kind == "prompt" and e.attrs.get("is_sidechain") is True:
            heading = "TASK (to a sub-agent)"  # the main agent wrote it, not the user
        elif e.attrs.get("is_sidechain") is True:  # (a sub-agent's work: two at once interleave)
            agent_id = e.attrs.get("agent_id")
            heading += f" (sub-agent {agent_id})" if isinstance(agent_id, str) and agent_id else " (sub-agent)"
        if e.attrs.get("canceled") is True:  # (Copilot: stopped by the user; the reply is what came before)
            heading += " (cancelled)"
        if e.attrs.get("removed") is True:  # (undone, or left out by an edit and resend: no longer in the chat)
            heading += " (removed)"
        head = f"── {heading} · {_local(e.ts, tz)}"
        model = e.model or next((u.model for u in usage_rows if u.model), None)
        if model:
            head += f" · {model}"
        if e.tool is not None:
            head += f" · {e.tool.name}" + (f" ({e.tool.status})" if e.tool.status else "")
        total = sum(u.usage.total for u in usage_rows if u.usage) if usage_rows else (e.usage.total if e.usage else 0)
        tokens = f" · {total:,} tokens" if total else ""
        # A long tool name (MCP tools: `mcp__playwright__browser_take_screenshot`) is cut, not the tokens.
        head = cut(clean_text(head), max(20, width - 2 - len(tokens))) + tokens
        lines.append(head + " " + "─" * max(0, width - display_width(head) - 1))
        if e.file is not None:
            change = ""
            if e.file.lines_added is not None or e.file.lines_removed is not None:
                change = f" (+{e.file.lines_added or 0} −{e.file.lines_removed or 0})"
            lines.append(clean_text(f"{_home_short(e.file.path)}{change}"))
        images = e.attrs.get("images")
        if e.kind == "prompt" and isinstance(images, int) and images > 0:  # (pasted: their bytes are not kept)
            lines.append(f"[{images} image{'s' if images != 1 else ''}]")
        if e.text:
            text = e.text if full or e.kind in _CONVERSATION_KINDS else _clipped_tool_text(e.text)
            lines.append(clean_text(text, newlines=True).rstrip())
            if full or e.kind in _CONVERSATION_KINDS:
                cut_note = _cut_at_collection(e)
                if cut_note:
                    lines.append(cut_note)
        lines.append("")
    return "\n".join(lines)


def _usage_hosts(events: Sequence[Event]) -> dict[int, list[Event]]:
    """{index of an event: the usage records shown on it}.

    Claude Code's usage is stored as its own row per response (`attrs.usage_record`, no text), next
    to the response's text and tool calls (which carry the same `attrs.message_id`). Shown alone, it
    read as a second, empty reply; its tokens go on the response's first text or tool call instead.
    Codex's usage rows (one per model call, from `token_count`) name no message: each goes on the
    first text or tool call since the previous usage row, within the same user turn; when the calls
    of a turn outnumber its replies, the rest go on the turn's last reply (their tokens added up).
    """
    usage_of: dict[str, Event] = {}
    for e in events:
        message_id = e.attrs.get("message_id")
        if e.attrs.get("usage_record") is True and not e.text and isinstance(message_id, str):
            usage_of.setdefault(message_id, e)
    hosts: dict[int, list[Event]] = {}
    taken: set[str] = set()
    for index, e in enumerate(events):
        message_id = e.attrs.get("message_id")
        if (
            isinstance(message_id, str)
            and message_id in usage_of
            and message_id not in taken
            and e.kind in ("response", "tool_call")
            and e.attrs.get("usage_record") is not True
        ):
            hosts[index] = [usage_of[message_id]]
            taken.add(message_id)
    since_last: list[int] = []  # replies since the previous message-less usage row, in this turn
    turn: list[int] = []  # replies of the current user turn
    for index, e in enumerate(events):
        if e.kind == "prompt":
            since_last, turn = [], []
        elif e.attrs.get("usage_record") is True:
            if not e.text and not isinstance(e.attrs.get("message_id"), str):
                host = next((i for i in since_last if i not in hosts), None)
                if host is None and turn and (turn[-1] not in hosts or _codex_host(hosts[turn[-1]])):
                    host = turn[-1]
                if host is not None:
                    hosts.setdefault(host, []).append(e)
                since_last = []
        elif e.kind in ("response", "tool_call"):
            since_last.append(index)
            turn.append(index)
    return hosts


def _codex_host(usage_rows: list[Event]) -> bool:
    """Whether the usage rows shown on an event name no message (so more of them may join)."""
    return all(not isinstance(u.attrs.get("message_id"), str) for u in usage_rows)


def rows_to_csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text of rows (convenience for tests and callers without a stream)."""
    buffer = io.StringIO()
    write_rows(columns, rows, "csv", buffer)
    return buffer.getvalue()
