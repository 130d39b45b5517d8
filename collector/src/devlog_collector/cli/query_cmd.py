"""`devlog query | stats | sessions | show | sql | prune`: explore the local store (and trim it).

Thin commands over `devlog_collector.query`. They open the store read-only (so they work while
`devlog start` is collecting), except `prune`. Every bad flag value is a `UserError`: one line on
stderr naming the problem, exit code 2. Data goes to stdout in the chosen `--format`.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path
from typing import Any, TypeVar

import click

from devlog_collector.errors import UserError

__all__ = ["prune", "query", "sessions", "show", "sql", "stats"]

F = TypeVar("F", bound=Callable[..., Any])

#: The largest --limit: far more rows than any terminal or pipe wants, and well inside SQLite's 64-bit
#: integers (a larger number used to reach SQLite and fail with OverflowError).
MAX_LIMIT = 1_000_000_000


def _filter_options(fn: F) -> F:
    """The filters shared by query, stats and sessions."""
    options = [
        click.option("--workspace", "-w", metavar="PATH", help="This folder and all below it."),
        click.option("--last", metavar="DURATION", help="Only the last DURATION, e.g. 12h, 7d, 4w."),
        click.option("--since", metavar="TIME", help="From this date/time (e.g. 2026-01-31 or 2026-01-31T14:00)."),
        click.option("--until", metavar="TIME", help="Up to this date/time (a bare date includes that whole day)."),
        click.option("--agent", "-a", "agents", multiple=True, metavar="NAME", help="Only this agent (repeatable)."),
        click.option("--kind", "-k", "kinds", multiple=True, metavar="KIND", help="Only this event kind (repeatable)."),
        click.option("--session", "-s", metavar="ID", help="Only this session (a unique id prefix is enough)."),
        click.option("--model", "-m", metavar="MODEL", help="Only events of this model."),
        click.option("--search", "-q", metavar="TEXT", help="Full-text search (FTS5) over text."),
        click.option("--remote", "-r", metavar="NAME",
                     help="Only the workspaces this remote's export rules select (what it gets)."),
        click.option("--timezone", "--tz", "timezone", metavar="TZ", help="IANA time zone for dates (default: local)."),
    ]  # fmt: skip
    for option in reversed(options):
        fn = option(fn)
    return fn


def _choice(flag: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise UserError(f"{flag}: {value!r} is not one of {', '.join(choices)}")
    return value


def _limit(value: str | None, default: int | None) -> int | None:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise UserError(f"--limit: not a whole number: {value!r}") from None
    if number < 0:
        raise UserError(f"--limit: must be 0 (no limit) or more, got {number}")
    if number > MAX_LIMIT:
        raise UserError(f"--limit: must be at most {MAX_LIMIT:,} (0 = no limit), got {number}")
    return number or None


def _zone(name: str | None) -> tzinfo | None:
    if name is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(
            f"--timezone: unknown time zone {name!r} (use an IANA name such as Europe/Berlin or UTC)"
        ) from None


def _db_path() -> Path:
    # Only the storage section is read: validating the whole config costs a tenth of `devlog stats`.
    from devlog_collector.cli.config_warnings import warn_missing_config
    from devlog_collector.storage_location import configured_db_path

    warn_missing_config()
    return configured_db_path()


def _open_readonly() -> Any:
    from devlog_collector.store import Store

    store = Store.open(_db_path(), readonly=True)
    if store.version_note is not None:  # (read commands never migrate: say why figures may differ)
        click.echo(f"warning: {store.version_note}", err=True)
    return store


def _filters(store: Any, tz: tzinfo | None, **flags: Any) -> Any:
    from devlog_collector.query.filters import FilterArgs, build_filters

    args = FilterArgs(
        workspace=flags["workspace"],
        last=flags["last"],
        since=flags["since"],
        until=flags["until"],
        agents=tuple(flags["agents"]),
        kinds=tuple(flags["kinds"]),
        session=flags["session"],
        model=flags["model"],
        search=flags["search"],
        remote=flags["remote"],
    )
    return build_filters(store, args, tz=tz)


def _with_store(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        store = _open_readonly()
        try:
            return fn(store, *args, **kwargs)
        finally:
            store.close()

    return wrapper  # type: ignore[return-value]


@click.command()
@_filter_options
@click.option("--limit", "-n", "limit", metavar="N", help="Newest N events (default 50; 0 = all).")
@click.option("--format", "-f", "fmt", default="table", metavar="FORMAT", help="table, json, jsonl or csv.")
@_with_store
def query(store: Any, limit: str | None, fmt: str, **flags: Any) -> None:
    """List stored events (newest N, shown oldest first).

    json/jsonl carry full schema-v1 events; csv flattens every field.
    """
    from devlog_collector.query.events import query_events
    from devlog_collector.query.render import write_events

    fmt = _choice("--format", fmt, ("table", "json", "jsonl", "csv"))
    number = _limit(limit, 50)
    tz = _zone(flags.pop("timezone"))
    events = query_events(store, _filters(store, tz, **flags), limit=number)
    if fmt == "table" and not events:
        click.echo("no events match", err=True)
        return
    write_events(events, fmt, sys.stdout, tz=tz)


@click.command()
@click.option("--local", is_flag=True, help="Stats of the local store (the default and only source for now).")
@click.option(
    "--by", "by", default="day", metavar="GROUP", help="day, week, month, agent, workspace, project, model or session."
)
@_filter_options
@click.option("--format", "-f", "fmt", default="table", metavar="FORMAT", help="table or json.")
@_with_store
def stats(store: Any, local: bool, by: str, fmt: str, **flags: Any) -> None:
    """Activity, tokens and cost in USD, grouped.

    Days, weeks and months are in the local time zone unless --timezone is given. Cost: an event's
    recorded cost_usd when present, otherwise priced offline with genai-prices; models it cannot
    price are listed.
    """
    from devlog_collector.query.render import write_stats
    from devlog_collector.query.stats import GROUPINGS, compute_stats

    by = _choice("--by", by, GROUPINGS)
    fmt = _choice("--format", fmt, ("table", "json"))
    tz = _zone(flags.pop("timezone"))
    report = compute_stats(store, _filters(store, tz, **flags), by=by, tz=tz)
    write_stats(report, fmt, sys.stdout)


@click.command()
@_filter_options
@click.option("--limit", "-n", "limit", metavar="N", help="The N most recently active sessions (default 50; 0 = all).")
@click.option("--format", "-f", "fmt", default="table", metavar="FORMAT", help="table, json or csv.")
@_with_store
def sessions(store: Any, limit: str | None, fmt: str, **flags: Any) -> None:
    """One line per agent session: agent, workspace, start, duration, prompts, tokens, cost.

    Filters select sessions (those with a matching event); each line covers all of the session's events.
    """
    from devlog_collector.query.render import write_sessions
    from devlog_collector.query.sessions import list_sessions

    fmt = _choice("--format", fmt, ("table", "json", "csv"))
    number = _limit(limit, 50)
    tz = _zone(flags.pop("timezone"))
    found = list_sessions(store, _filters(store, tz, **flags), limit=number)
    write_sessions(found, fmt, sys.stdout, tz=tz)


@click.command()
@click.argument("session_id")
@click.option("--format", "-f", "fmt", default="text", metavar="FORMAT", help="text, json or jsonl.")
@click.option("--timezone", "--tz", "timezone", metavar="TZ", help="IANA time zone for times (default: local).")
@click.option(
    "--full",
    is_flag=True,
    help="Show tool inputs and outputs whole (text format clips them to 40 lines, 4,000 characters).",
)
@_with_store
def show(store: Any, session_id: str, fmt: str, timezone: str | None, full: bool) -> None:
    """Print one session as a readable conversation (a unique prefix of the id is enough)."""
    from devlog_collector.query.filters import resolve_session
    from devlog_collector.query.render import render_conversation, write_events
    from devlog_collector.query.sessions import session_events
    from devlog_collector.query.table import terminal_width

    fmt = _choice("--format", fmt, ("text", "json", "jsonl"))
    tz = _zone(timezone)
    events = session_events(store, resolve_session(store, session_id, "SESSION_ID"))
    if fmt == "text":
        click.echo(render_conversation(events, tz=tz, width=min(terminal_width(sys.stdout) or 100, 100), full=full))
    else:
        write_events(events, fmt, sys.stdout, tz=tz)


@click.command()
@click.argument("statement")
@click.option("--format", "-f", "fmt", default="table", metavar="FORMAT", help="table, json, jsonl or csv.")
@click.option("--limit", "-n", "limit", metavar="N", help="At most N rows (default: all).")
@_with_store
def sql(store: Any, statement: str, fmt: str, limit: str | None) -> None:
    """Run one read-only SQL statement over the local store.

    Tables and views are documented in docs/query.md (events, events_fts, usage_rollup, v_events,
    v_sessions, ...). Anything that would write is refused.
    """
    from devlog_collector.query.render import write_rows
    from devlog_collector.query.sql import run_readonly_sql

    fmt = _choice("--format", fmt, ("table", "json", "jsonl", "csv"))
    if "events_fts" in statement.lower():
        store.update_search_index()  # the full-text index is filled behind the events (docs/collector.md)
    result = run_readonly_sql(store, statement, max_rows=_limit(limit, None))
    write_rows(result.columns, result.rows, fmt, sys.stdout)


@click.command()
@click.option("--older-than", "older_than", metavar="DURATION",
              help="Delete events older than this (default: storage.retention_days, else 365d).")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.option("--force", is_flag=True, help="Also delete events an auto-sync remote has not received yet.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def prune(older_than: str | None, dry_run: bool, force: bool, as_json: bool) -> None:
    """Delete old events (retention).

    Events that an auto-sync remote's rules select and that remote has not received yet are kept
    unless --force.
    """
    import json
    from datetime import timedelta

    from devlog_collector.cli.config_warnings import load_config_warned
    from devlog_collector.durations import parse_span
    from devlog_collector.query.retention import prune as run_prune
    from devlog_collector.store import Store

    config = load_config_warned()  # (prune on the default store while a typo names the config: say so)
    if older_than is None:
        age = timedelta(days=config.storage.retention_days or 365)
    else:
        try:
            age = parse_span(older_than)
        except ValueError as exc:
            raise UserError(f"--older-than: {exc}") from None
    path = config.storage.db_path()
    # A missing store is an error (exit 1, as for the other query commands), not created here: the
    # read-only open refuses it.
    store = Store.open(path, readonly=dry_run or not path.exists())
    try:
        result = run_prune(store, config, age, dry_run=dry_run, force=force)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return
    verb, count = ("would delete", result.would_delete) if dry_run else ("deleted", result.deleted)
    click.echo(f"{verb} {count:,} of {result.older:,} events older than {result.cutoff:%Y-%m-%d %H:%M} UTC")
    if result.kept:
        held = ", ".join(f"{name} ({n:,})" for name, n in sorted(result.kept_for_remotes.items()))
        click.echo(f"kept {result.kept:,} events not yet received by auto-sync remotes: {held} (use --force to delete)")
