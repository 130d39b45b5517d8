"""Command-line filters (`--workspace`, `--last`, `--agent`, ...) validated once into a SQL WHERE clause.

Why one module: `query`, `stats` and `sessions` accept the same filters and must reject the same bad
input the same way: one clear line naming the problem, exit code 2 (`UserError`). Validation looks at
the store where the answer depends on it (is this path a workspace we have events for? is this agent
one we know or have seen?), so a typo is reported instead of silently printing nothing.

Every condition is written so that SQLite can use the store's indexes: the workspace "folder and
everything under it" match is a range over `events_workspace_ts` rather than a LIKE, and full-text
search goes through the FTS5 table `events_fts`.
"""

from __future__ import annotations

import os
import re
import sqlite3
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, NamedTuple

from devlog_collector.durations import epoch_us, parse_span, parse_time
from devlog_collector.errors import UserError
from devlog_collector.localzone import local_zone
from devlog_collector.store import Store

__all__ = [
    "FilterArgs",
    "Filters",
    "build_filters",
    "distinct_values",
    "remote_workspaces",
    "resolve_session",
    "resolve_workspace",
    "workspace_condition",
    "workspaces_condition",
]


class FilterArgs(NamedTuple):
    """Filters as typed on the command line (strings, not yet validated)."""

    workspace: str | None = None
    last: str | None = None
    since: str | None = None
    until: str | None = None
    agents: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    session: str | None = None
    model: str | None = None
    search: str | None = None
    remote: str | None = None


class Filters(NamedTuple):
    """Validated filters; `where()` turns them into SQL over the `events` table."""

    workspace: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    agents: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    session: str | None = None
    model: str | None = None
    search: str | None = None
    #: A search with CJK text or an emoji in it, matched leaf by leaf (`mixed_search`), not by the index alone.
    mixed_search: str | None = None
    #: `--remote NAME`: exactly the workspaces that remote's rules select (None: events without one).
    workspaces: tuple[str | None, ...] | None = None

    def where(self, table: str = "events") -> tuple[str, list[Any]]:
        """`(sql, params)` where sql is `WHERE ...` (or an empty string when nothing is filtered)."""
        clauses: list[str] = []
        params: list[Any] = []
        t = f"{table}." if table else ""
        if self.workspace is not None:
            sql, values = workspace_condition(self.workspace, f"{t}workspace")
            clauses.append(sql)
            params += values
        if self.workspaces is not None:
            sql, values = workspaces_condition(self.workspaces, f"{t}workspace")
            clauses.append(sql)
            params += values
        if self.since_ms is not None:
            clauses.append(f"{t}ts >= ?")
            params.append(self.since_ms)
        if self.until_ms is not None:
            clauses.append(f"{t}ts < ?")
            params.append(self.until_ms)
        if self.agents:
            clauses.append(f"{t}agent IN ({', '.join('?' * len(self.agents))})")
            params += self.agents
        if self.kinds:
            clauses.append(f"{t}kind IN ({', '.join('?' * len(self.kinds))})")
            params += self.kinds
        if self.session is not None:
            clauses.append(f"{t}session_id = ?")
            params.append(self.session)
        if self.model is not None:
            clauses.append(f"{t}model = ?")
            params.append(self.model)
        if self.search is not None:
            clauses.append(f"{t}seq IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)")
            params.append(self.search)
        if self.mixed_search is not None:
            from devlog_collector.query.mixed_search import mixed_search_sql, parse_mixed_search

            sql, values = mixed_search_sql(parse_mixed_search(self.mixed_search), t)
            clauses.append(sql)
            params += values
        return ("WHERE " + " AND ".join(clauses) if clauses else ""), params

    @property
    def is_empty(self) -> bool:
        """True when no filter is set (the whole store)."""
        return self == Filters()


def workspace_condition(workspace: str, column: str = "workspace") -> tuple[str, list[Any]]:
    """SQL matching `workspace` and every folder below it, as index-friendly ranges."""
    if workspace == "/":
        return f"{column} >= '/' AND {column} < '0'", []
    # '0' is the character after '/', so [ws + '/', ws + '0') is exactly "under ws/".
    base = workspace.rstrip("/")  # `E:/` (a drive's root) is the one stored spelling with a slash
    return f"({column} = ? OR ({column} >= ? AND {column} < ?))", [workspace, base + "/", base + "0"]


def workspaces_condition(
    workspaces: tuple[str | None, ...], column: str = "workspace", none: Any = None
) -> tuple[str, list[Any]]:
    """SQL matching exactly `workspaces` (None in it: rows whose workspace is `none`, NULL by default)."""
    named = [w for w in workspaces if w is not None]
    clauses = [f"{column} IN ({', '.join('?' * len(named))})"] if named else []
    params: list[Any] = list(named)
    if None in workspaces:
        clauses.append(f"{column} IS NULL" if none is None else f"{column} = ?")
        params += [] if none is None else [none]
    return ("(" + " OR ".join(clauses) + ")" if clauses else "0"), params


def remote_workspaces(store: Store, remote: str) -> tuple[str | None, ...]:
    """The stored workspaces (None: events without one) that `remote`'s export rules select, as
    `devlog export` decides it; UserError for a remote that is not configured."""
    from devlog_collector.config import load_config
    from devlog_collector.export.routing import Router

    config, _warnings = load_config()
    if remote not in config.export.remotes:
        if not config.export.remotes:
            raise UserError(f"--remote: unknown remote {remote!r}: no remotes are configured (devlog remote add)")
        raise UserError(f"--remote: unknown remote {remote!r} (remotes: {', '.join(sorted(config.export.remotes))})")
    router = Router(config)
    stored: list[str | None] = [*distinct_values(store, "workspace"), None]
    return tuple(w for w in stored if router.matches(remote, w))


#: `workspace.is_windows_path`'s test, repeated here: importing `workspace` (sockets, git parsing)
#: costs ~12-15 ms of every `--workspace` query's start-up, and only Windows paths need it.
_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:(?:[\\/]|$)|\\\\[^\\/])")


def _normalise_path(text: str) -> str:
    if _WINDOWS_PATH.match(text.strip()):
        from devlog_collector.workspace import normalise_workspace

        return normalise_workspace(text)  # `E:/Workspace/x`, as the collector stores it, on every OS
    expanded = os.path.expanduser(text.strip())  # noqa: PTH111 - string semantics, no symlink resolution
    return os.path.normpath(os.path.abspath(expanded))  # noqa: PTH100


def resolve_workspace(store: Store, text: str) -> str:
    """The normalised absolute path for `--workspace`; UserError if no stored event is in or under it."""
    if not text.strip():
        raise UserError("--workspace: empty path")
    from devlog_collector.paths import path_user_problem

    problem = path_user_problem(text.strip())
    if problem is not None:  # (it would be read as a folder named `~nobody` in the current one)
        raise UserError(f"--workspace: {problem}")
    path = _normalise_path(text)
    sql, params = workspace_condition(path)
    if store.db.execute(f"SELECT 1 FROM events WHERE {sql} LIMIT 1", params).fetchone() is None:
        raise UserError(f"--workspace: no events recorded in {path} or any folder under it")
    return path


def distinct_values(store: Store, column: str) -> list[str]:
    """Distinct non-null values of an indexed column, read by skipping through its index.

    Only for columns that lead an index (`agent`, `kind`, `session_id`, `workspace`): each step is one
    index seek, so this costs O(distinct values), not O(events).
    """
    if column not in ("agent", "kind", "session_id", "workspace"):
        raise ValueError(f"not an indexed column: {column}")
    sql = (
        f"WITH RECURSIVE v(x) AS (SELECT min({column}) FROM events "
        f"UNION ALL SELECT (SELECT min({column}) FROM events WHERE {column} > v.x) FROM v WHERE v.x IS NOT NULL) "
        "SELECT x FROM v WHERE x IS NOT NULL"
    )
    return [row[0] for row in store.db.execute(sql)]


def _check_agents(store: Store, agents: tuple[str, ...]) -> tuple[str, ...]:
    from devlog_shared import KNOWN_AGENTS  # (the schema module: imported only when a filter needs it)

    wanted = tuple(dict.fromkeys(a.strip().lower() for a in agents))
    unknown = [a for a in wanted if a not in KNOWN_AGENTS]
    if unknown:
        seen = distinct_values(store, "agent")
        unknown = [a for a in unknown if a not in seen]
        if unknown:
            valid = sorted(set(KNOWN_AGENTS) | set(seen))
            raise UserError(f"--agent: unknown agent {', '.join(unknown)} (valid: {', '.join(valid)})")
    return wanted


def _check_kinds(kinds: tuple[str, ...]) -> tuple[str, ...]:
    from devlog_shared import EVENT_KINDS

    wanted = tuple(dict.fromkeys(k.strip().lower() for k in kinds))
    unknown = [k for k in wanted if k not in EVENT_KINDS]
    if unknown:
        raise UserError(f"--kind: unknown kind {', '.join(unknown)} (valid: {', '.join(EVENT_KINDS)})")
    return wanted


def resolve_session(store: Store, text: str, flag: str = "--session") -> str:
    """The full session id for an id or a unique prefix of one; UserError otherwise."""
    value = text.strip()
    if not value:
        raise UserError(f"{flag}: empty session id")
    if store.db.execute("SELECT 1 FROM events WHERE session_id = ? LIMIT 1", (value,)).fetchone():
        return value
    rows = store.db.execute(
        "SELECT DISTINCT session_id FROM events WHERE session_id > ? AND session_id < ? ORDER BY session_id LIMIT 6",
        (value, value + "\U0010ffff"),
    ).fetchall()
    if not rows:
        raise UserError(f"{flag}: no session with id or id prefix {value!r}")
    if len(rows) > 1:
        shown = ", ".join(r[0] for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
        raise UserError(f"{flag}: {value!r} matches several sessions ({shown}); give more of the id")
    return str(rows[0][0])


def _check_model(store: Store, model: str) -> str:
    value = model.strip()
    if store.db.execute("SELECT 1 FROM events WHERE model = ? LIMIT 1", (value,)).fetchone():
        return value
    known = [r[0] for r in store.db.execute("SELECT DISTINCT model FROM events WHERE model IS NOT NULL LIMIT 50")]
    shown = ", ".join(sorted(known)) or "none recorded"
    raise UserError(f"--model: no events with model {value!r} (models in the store: {shown})")


def _search_filters(store: Store, text: str | None) -> dict[str, str | None]:
    """`search` (the index alone) or `mixed_search` (CJK text or an emoji, see `mixed_search`),
    checked now so that a bad one is a UserError here."""
    if text is None:
        return {}
    from devlog_collector.query.mixed_search import needs_index, needs_mixed_search, parse_mixed_search

    if not needs_mixed_search(text):
        return {"search": _check_search(store, text)}
    if needs_index(parse_mixed_search(text)):
        _update_search_index(store)
    return {"mixed_search": text}


def _update_search_index(store: Store) -> None:
    """Index what the full-text index does not cover yet (it is filled behind the events, see
    docs/collector.md); where the store cannot be written, say which events the search will miss."""
    store.update_search_index()
    if store.search_index_error is None:
        return
    missed = store.search_index_backlog()
    if missed:
        import click

        click.echo(
            f"warning: --search does not see the {missed} newest events: the search index is behind and this "
            f"store cannot be written here to bring it up to date ({store.search_index_error}); a `devlog "
            "collect` or `devlog start` with write access to the store indexes them",
            err=True,
        )


def _check_search(store: Store, text: str) -> str:
    if not text.strip():
        raise UserError("--search: empty search text")
    _update_search_index(store)
    try:
        store.db.execute("SELECT rowid FROM events_fts WHERE events_fts MATCH ? LIMIT 1", (text,)).fetchall()
    except sqlite3.OperationalError as exc:
        raise UserError(
            f"--search: not a valid full-text query {text!r} ({exc}); put phrases and words with punctuation "
            "in double quotes, e.g. --search '\"foo-bar\"' (syntax: https://www.sqlite.org/fts5.html#full_text_query_syntax)"
        ) from None
    return text


def _bare_date(text: str) -> date | None:
    """The day `text` names when it is a date alone (`2026-03-02`, or ccusage's `20260302`), else None."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _time_range(args: FilterArgs, tz: tzinfo | None, now: datetime) -> tuple[int | None, int | None]:
    if args.last is not None and (args.since is not None or args.until is not None):
        raise UserError("use either --last or --since/--until, not both")
    if args.last is not None:
        try:
            span = parse_span(args.last)
        except ValueError as exc:
            raise UserError(f"--last: {exc}") from None
        try:
            start = int((now - span).timestamp() * 1000)
        except (OverflowError, ValueError):  # further back than datetime goes: everything
            start = 0
        # Up to now: an event dated in the future (a clock ahead on the machine that wrote it) is
        # not in "the last 30 minutes".
        return max(start, 0), int(now.timestamp() * 1000) + 1
    since = until = None
    # Dates and naive times are read in the zone with its rules (not today's fixed offset), so a
    # bare date is that day's first local instant even on a daylight-saving change.
    zone = tz if tz is not None else local_zone()
    if args.since is not None:
        try:
            since = -(-epoch_us(parse_time(args.since, zone)) // 1000)  # (the first whole ms at or after it)
        except ValueError as exc:
            raise UserError(f"--since: {exc}") from None
    if args.until is not None:
        try:
            end = parse_time(args.until, zone)
        except ValueError as exc:
            raise UserError(f"--until: {exc}") from None
        day = _bare_date(args.until)
        if day is not None:  # a bare date is inclusive: up to the next day's first instant
            try:
                until = epoch_us(parse_time((day + timedelta(days=1)).isoformat(), zone)) // 1000
            except (OverflowError, ValueError):  # --until 9999-12-31: no upper bound
                until = None
        else:  # an instant is inclusive too: an event at exactly that millisecond is in
            until = epoch_us(end) // 1000 + 1
    if since is not None and until is not None and since >= until:
        raise UserError(f"--since {args.since} is not before --until {args.until}")
    return since, until


def build_filters(store: Store, args: FilterArgs, *, tz: tzinfo | None = None, now: datetime | None = None) -> Filters:
    """Validate command-line filters against the store.

    Args:
        store: The open store (read-only is fine).
        args: The raw flag values.
        tz: Zone for dates without an offset in --since/--until (default: the local zone).
        now: The reference time for --last (default: the current time).

    Raises:
        UserError: naming the first bad filter (exit code 2 at the CLI).
    """
    since_ms, until_ms = _time_range(args, tz, now or datetime.now(UTC))
    return Filters(
        workspace=resolve_workspace(store, args.workspace) if args.workspace is not None else None,
        since_ms=since_ms,
        until_ms=until_ms,
        agents=_check_agents(store, args.agents) if args.agents else (),
        kinds=_check_kinds(args.kinds) if args.kinds else (),
        session=resolve_session(store, args.session) if args.session is not None else None,
        model=_check_model(store, args.model) if args.model is not None else None,
        workspaces=remote_workspaces(store, args.remote) if args.remote is not None else None,
        **_search_filters(store, args.search),
    )
