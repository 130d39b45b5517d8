"""The ingest hot path: validate a batch item by item, store it in one statement, keep the newest copy.

Order of work for `POST /api/v1/events` (after authentication and body limits):

1. decode the envelope (events stay raw JSON) - a malformed envelope is a 400 for the whole batch,
   except that unpaired surrogate escapes (`\\ud800`, written by JavaScript collectors that cut a
   string mid-emoji) are replaced by `\\ufffd` and the body decoded again (`devlog_shared.decode_repairing`);
2. validate each event on its own (`decode_event`, size cap, values the database can store, the
   key's workspace globs) so a bad event is `rejected` alone, with a reason naming the field;
3. drop repeats of an id within the batch (the second is `duplicate`);
4. insert every valid row with ONE statement (`INSERT ... SELECT FROM unnest(...) ON CONFLICT (id)
   DO NOTHING RETURNING id` on Postgres; a multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING id`
   on SQLite): ids returned were created, the others already existed (`duplicate`);
5. for those others, read the stored copies' body, workspace and token total in one query; an
   incoming copy SUPERSEDES the stored one when its body differs, its token total (input + output +
   cache creation + cache read) is at least the stored one, and the key may write the STORED copy's
   workspace too (else a key limited to some globs could overwrite, or move into its own
   workspaces, an event of a workspace it may not write; such a copy is a plain `duplicate`, which
   reveals nothing about the stored one). Superseded rows are replaced with one DELETE
   and the same INSERT as in step 4, so every column, `received_at`, `key_id` and `collector` are
   the new copy's. They stay `duplicate` per item (the wire has no status for them, and an old
   collector must understand every answer); the response's `updated` counts them;
6. in the same transaction, update the per-collector health counters, the bounded list of recent
   rejections and the set of known workspaces.

Why replace at all: a collector legitimately re-sends an event under the same id with newer content
(a streamed response first stored with a placeholder usage, a chat whose title or tool status became
known later, a backfill after a content-policy change), always its current copy, in order. So the
newest copy wins, except that usage never goes down: a copy with a lower token total is older or
partial, whatever order it arrived in. An identical copy (every replay and retry) writes nothing.
The dashboard rollups follow through triggers on both statements (migrations `0002dashboard` and
`0003supersede`). The `workspaces` table keeps a workspace an event moved away from (it lists
workspaces ever seen; a stale entry only widens a key's resolved list by a workspace with no
events), and the collectors' counters count a replacement as a duplicate, as the per-item status.

No ORM objects are built; rows are plain tuples/dicts. The stored `body` is the event JSON exactly as
received (validated, so it holds only what the schema allows plus any newer optional fields).
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, Final

import msgspec
import structlog
from sqlalchemy import bindparam, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from devlog_server.db.models import COLLECTORS, EVENTS, REJECTIONS, WORKSPACES
from devlog_server.errors import ApiError
from devlog_server.keys import ApiKey
from devlog_server.state import ServerState
from devlog_server.text import safe_text, text_problem
from devlog_shared import (
    SCHEMA_VERSION,
    Event,
    IngestResponse,
    InvalidEvent,
    ItemResult,
    decode_batch_envelope,
    decode_event,
    decode_repairing,
)
from devlog_shared.limits import MAX_COST_USD, MAX_TOKENS, MAX_YEAR, MIN_YEAR
from devlog_shared.wire import BatchEnvelope, CollectorInfo

__all__ = ["FORBIDDEN_WORKSPACE", "IngestResult", "ingest_batch", "workspace_problem"]

FORBIDDEN_WORKSPACE: Final = "forbidden_workspace"
#: What the schema calls a workspace (docs/event-schema.md: an absolute folder, normalised), spelled
#: as the devlog collector writes it: a POSIX path, a Windows drive path with an upper-case drive and
#: forward slashes, or a UNC share as `//server/share`. Key globs, filters and the dashboard compare
#: paths as text, so another spelling of the same folder (`c:\\Users`, a relative path, "") would be
#: a workspace that no glob or filter meant for it ever matches.
_ABSOLUTE_FOLDER: Final = re.compile(r"^(?:/(?!/)|[A-Z]:/|//[^/\\]+)")
#: The roots, the only folders whose one spelling ends with `/`.
_ROOTS: Final = re.compile(r"^(?:/|[A-Z]:/)$")
_MAX_REJECTIONS_RECORDED_PER_BATCH: Final = 100
_YIELD_EVERY: Final = 200
_log = structlog.get_logger("devlog_server.ingest")

#: Column order of a row tuple (and of the unnest arrays on Postgres).
_COLUMNS: Final = (
    "id",
    "ts",
    "agent",
    "kind",
    "session_id",
    "workspace",
    "project",
    "user_name",
    "model",
    "machine",
    "tool_name",
    "file_path",
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "reasoning_tokens",
    "cost_usd",
    "body",
)
_PG_TYPES: Final = {
    "ts": "timestamptz[]",
    "input_tokens": "bigint[]",
    "output_tokens": "bigint[]",
    "cache_creation_tokens": "bigint[]",
    "cache_read_tokens": "bigint[]",
    "reasoning_tokens": "bigint[]",
    "cost_usd": "float8[]",
}
_BODY: Final = _COLUMNS.index("body")
_TOKENS: Final = slice(_COLUMNS.index("input_tokens"), _COLUMNS.index("cache_read_tokens") + 1)
_TOTAL_SQL: Final = "input_tokens + output_tokens + cache_creation_tokens + cache_read_tokens"
_PG_INSERT: Final = text(
    f"INSERT INTO events ({', '.join(_COLUMNS)}, received_at, key_id, collector) "
    "SELECT u.*, :received_at, :key_id, :collector FROM unnest("
    + ", ".join(f"CAST(:{c} AS {_PG_TYPES.get(c, 'text[]')})" for c in _COLUMNS)
    + ") AS u ON CONFLICT (id) DO NOTHING RETURNING id"
)
_SQLITE_INSERT: Final = sqlite.insert(EVENTS).on_conflict_do_nothing(index_elements=["id"]).returning(EVENTS.c.id)
#: The stored copies of some ids: (id, body, token total, workspace). One array (Postgres) or JSON
#: (SQLite) parameter whatever the batch size, so SQLite's bound-variable limit never applies.
_PG_STORED: Final = text(f"SELECT id, body, {_TOTAL_SQL}, workspace FROM events WHERE id = ANY(CAST(:ids AS text[]))")
_SQLITE_STORED: Final = text(
    f"SELECT id, body, {_TOTAL_SQL}, workspace FROM events WHERE id IN (SELECT value FROM json_each(:ids))"
)
#: Postgres deletes only rows still under the incoming total and locks them in id order: a concurrent
#: batch may have replaced a row since it was read (the rule holds anyway), and two batches replacing
#: the same ids cannot deadlock on them. For a key limited to workspace globs the row must also still
#: be in the workspace that was checked against the globs, so a concurrent replacement that moved it
#: elsewhere cannot be overwritten by this key (`:any_workspace` is true for unrestricted keys).
#: SQLite writers are serialised, so a plain DELETE is enough.
_PG_DELETE: Final = text(
    "DELETE FROM events WHERE id IN (SELECT e.id FROM events AS e "
    "JOIN unnest(CAST(:ids AS text[]), CAST(:totals AS bigint[]), CAST(:workspaces AS text[])) "
    "AS s (id, total, workspace) ON e.id = s.id "
    "WHERE e.input_tokens + e.output_tokens + e.cache_creation_tokens + e.cache_read_tokens <= s.total "
    "AND (CAST(:any_workspace AS boolean) OR e.workspace IS NOT DISTINCT FROM s.workspace) "
    "ORDER BY e.id FOR UPDATE OF e)"
)
_SQLITE_DELETE: Final = text("DELETE FROM events WHERE id IN (SELECT value FROM json_each(:ids))")
#: Rounds of `_replace_superseded` before a batch that keeps losing races gives up (503, retried).
_REPLACE_ROUNDS: Final = 5


class _IdOnly(msgspec.Struct):
    id: Any = None


_id_decoder: Final = msgspec.json.Decoder(_IdOnly)


def _peek_id(raw: bytes) -> str | None:
    """The `id` of an event that failed validation, when it has a usable one (for the response)."""
    try:
        value = _id_decoder.decode(raw).id
    except (msgspec.DecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, str) and 0 < len(value) <= 128 and text_problem(value) is None else None


def _storable(event: Event) -> str | None:
    """Why the database could not store this (schema-valid) event's columns, or None."""
    tool, file = event.tool, event.file
    texts = (
        ("id", event.id),
        ("agent", event.agent),
        ("session_id", event.session_id),
        ("workspace", event.workspace),
        ("project", event.project),
        ("user", event.user),
        ("model", event.model),
        ("machine", event.machine),
        ("tool.name", tool.name if tool else None),
        ("file.path", file.path if file else None),
    )
    joined = "".join(value for _, value in texts if value)
    if not (joined.isascii() and "\x00" not in joined):  # the common case costs one join and two scans
        for name, value in texts:
            problem = text_problem(value)
            if problem:
                return f"invalid event: {problem} (field `{name}`)"
    if event.workspace is not None:
        problem = workspace_problem(event.workspace)
        if problem is not None:
            return f"invalid event: {problem} (field `workspace`)"
    if not MIN_YEAR <= event.ts.year <= MAX_YEAR:
        return f"invalid event: implausible timestamp, outside years {MIN_YEAR}-{MAX_YEAR} (field `ts`)"
    usage = event.usage
    if usage is not None:
        for name in ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "reasoning_tokens"):
            if getattr(usage, name) > MAX_TOKENS:
                return f"invalid event: implausibly large, over {MAX_TOKENS} (field `usage.{name}`)"
    if event.cost_usd is not None and not (math.isfinite(event.cost_usd) and event.cost_usd <= MAX_COST_USD):
        return f"invalid event: implausibly large or not finite, over {MAX_COST_USD:.0e} (field `cost_usd`)"
    return None


def workspace_filter_problem(prefix: str) -> str | None:
    """Why a `workspace` query filter can match no stored workspace, or None.

    Stored workspaces are absolute and resolved (`workspace_problem`), so `~/work` (the server holds
    many users' homes and expands no `~`), `work`, `/srv//app` or `/srv/x/../app` would answer "no
    events" for folders that have some. A trailing `/` is harmless: the filter's match ignores it.
    """
    shown = prefix if len(prefix) <= 80 else prefix[:79] + "…"
    if not _ABSOLUTE_FOLDER.match(prefix):
        home = " (the server expands no ~: give the full path, e.g. /home/you/work)" if prefix.startswith("~") else ""
        return (
            "must be an absolute folder as collectors send it: /home/…, C:/… (upper-case drive, forward "
            f"slashes) or //server/share{home}, got {shown!r}"
        )
    segments = (prefix[2:] if prefix.startswith("//") else prefix).rstrip("/").split("/")
    if "." in segments or ".." in segments:
        return f"must not have '.' or '..' segments (stored workspaces are resolved), got {shown!r}"
    if "" in segments[1:]:
        return f"must not have an empty segment ('//'; stored workspaces have none), got {shown!r}"
    return None


def workspace_problem(workspace: str) -> str | None:
    """Why `workspace` is not a folder spelled the one way the devlog collector writes it, or None.

    Besides the absolute forms of `_ABSOLUTE_FOLDER`, that one way has no trailing `/` (except a
    root), no empty segment (`//`, except the leading one of a UNC share) and no `.` or `..` segment:
    `/srv/app/`, `/srv//app` and `/srv/x/../app` are all `/srv/app`, and stored as they came they
    would be four workspaces that neither `/srv/app` filters nor the dashboard ever add up. The
    collector normalises every path lexically (`devlog_collector.workspace.normalise_workspace`), so
    its events never meet these checks; another client is told the one spelling to send instead.
    """
    shown = workspace if len(workspace) <= 80 else workspace[:79] + "…"
    if not _ABSOLUTE_FOLDER.match(workspace):
        return (
            "the workspace must be an absolute folder, spelled /home/…, C:/… (upper-case "
            f"drive, forward slashes) or //server/share, got {shown!r}"
        )
    segments = (workspace[2:] if workspace.startswith("//") else workspace).split("/")
    if workspace.endswith("/") and not _ROOTS.match(workspace):
        why = "without a trailing '/'"
    elif "" in segments[1:-1]:
        why = "without an empty segment ('//')"
    elif "." in segments or ".." in segments:
        why = "without '.' or '..' segments (resolve them)"
    else:
        return None
    return f"the workspace must be spelled the one way the devlog collector writes it, {why}, got {shown!r}"


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def _body_text(raw: bytes) -> str:
    """The event JSON to store: as received, except that NUL characters inside strings (valid JSON,
    but not storable in Postgres text/jsonb) become U+FFFD. Only events containing `\\u0000` pay for
    the re-encoding."""
    if b"\\u0000" not in raw:
        return raw.decode("utf-8")
    return msgspec.json.encode(_without_nul(msgspec.json.decode(raw))).decode("utf-8")


def _row(event: Event, body: str) -> tuple[Any, ...]:
    usage = event.usage
    return (
        event.id,
        event.ts,
        event.agent,
        event.kind,
        event.session_id,
        event.workspace,
        event.project,
        event.user,
        event.model,
        event.machine,
        event.tool.name if event.tool else None,
        event.file.path if event.file else None,
        usage.input_tokens if usage else 0,
        usage.output_tokens if usage else 0,
        usage.cache_creation_tokens if usage else 0,
        usage.cache_read_tokens if usage else 0,
        usage.reasoning_tokens if usage else 0,
        event.cost_usd,
        body,
    )


@dataclass(frozen=True)
class IngestResult:
    """The response body and its HTTP status (200, or 422 when some item was rejected)."""

    response: IngestResponse
    status_code: int


@dataclass
class _Validated:
    rows: list[tuple[Any, ...]]
    row_indexes: list[int]
    results: list[ItemResult | None]
    rejected: list[ItemResult]
    workspaces: set[str]


def _decode_envelope(body: bytes) -> BatchEnvelope:
    if not body.strip():
        raise ApiError(
            400, 'empty request body: send a batch {"schema_version": 1, "events": [...]}', code="invalid_batch"
        )
    try:
        envelope = decode_repairing(decode_batch_envelope, body)  # lone surrogate escapes become U+FFFD
    except InvalidEvent as exc:
        raise ApiError(400, exc.message, code="invalid_batch") from exc
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"invalid batch: {type(exc).__name__}", code="invalid_batch") from exc
    if envelope.schema_version > SCHEMA_VERSION:
        raise ApiError(
            400,
            f"unsupported batch schema_version {envelope.schema_version} (this server speaks {SCHEMA_VERSION})",
            code="unsupported_schema_version",
        )
    return envelope


async def _validate(events: Sequence[msgspec.Raw], key: ApiKey, max_event_bytes: int) -> _Validated:
    out = _Validated(rows=[], row_indexes=[], results=[None] * len(events), rejected=[], workspaces=set())
    seen: set[str] = set()
    allows = key.matcher.allows

    def reject(index: int, raw: bytes, reason: str, event_id: str | None = None) -> None:
        item = ItemResult(
            index=index, id=event_id if event_id is not None else _peek_id(raw), status="rejected", reason=reason
        )
        out.results[index] = item
        out.rejected.append(item)

    for index, raw_item in enumerate(events):
        if index % _YIELD_EVERY == _YIELD_EVERY - 1:
            # Validation is CPU work; letting other requests run between chunks keeps a small batch from
            # waiting behind a large one on the same worker (tail latency under load).
            await asyncio.sleep(0)
        raw = bytes(raw_item)
        if len(raw) > max_event_bytes:
            reject(index, raw, f"event_too_large: {len(raw)} bytes > {max_event_bytes}")
            continue
        try:
            event = decode_event(raw)
            body = _body_text(raw)
        except InvalidEvent as exc:
            reject(index, raw, exc.message)
            continue
        except (ValueError, RecursionError) as exc:
            reject(index, raw, f"invalid event: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        problem = _storable(event)
        if problem is not None:
            reject(index, raw, problem, event.id if text_problem(event.id) is None else None)
            continue
        if not allows(event.workspace):
            reject(index, raw, FORBIDDEN_WORKSPACE, event.id)
            continue
        if event.id in seen:
            out.results[index] = ItemResult(index=index, id=event.id, status="duplicate")
            continue
        seen.add(event.id)
        out.rows.append(_row(event, body))
        out.row_indexes.append(index)
        if event.workspace is not None:
            out.workspaces.add(event.workspace)
    return out


async def _insert_events(
    conn: AsyncConnection,
    dialect: str,
    rows: list[tuple[Any, ...]],
    received_at: datetime,
    key_id: str,
    collector: str | None,
) -> set[str]:
    if not rows:
        return set()
    if dialect == "postgresql":
        # In id order: two batches sharing ids then take their index locks in the same order and wait
        # for each other instead of deadlocking (in the batch's order, overlapping batches sent at once
        # mostly failed). The sort is stable, so the first copy of an id in a batch is still the one kept.
        columns = list(zip(*sorted(rows, key=itemgetter(0)), strict=True))
        params: dict[str, Any] = {name: list(values) for name, values in zip(_COLUMNS, columns, strict=True)}
        params.update(received_at=received_at, key_id=key_id, collector=collector)
        result = await conn.execute(_PG_INSERT, params)
        return set(result.scalars().all())
    extra = {"received_at": received_at, "key_id": key_id, "collector": collector}
    result = await conn.execute(_SQLITE_INSERT, [{**dict(zip(_COLUMNS, row, strict=True)), **extra} for row in rows])
    return set(result.scalars().all())


def _token_total(row: tuple[Any, ...]) -> int:
    """Input + output + cache creation + cache read tokens of a row (`Usage.total_tokens`)."""
    return sum(row[_TOKENS])


@dataclass(frozen=True)
class _Stored:
    """What deciding on a replacement needs of a stored copy."""

    body: str
    total: int
    workspace: str | None


async def _stored_copies(conn: AsyncConnection, dialect: str, ids: list[str]) -> dict[str, _Stored]:
    """id -> body, token total and workspace of the stored events among `ids`, in one query."""
    if dialect == "postgresql":
        result = await conn.execute(_PG_STORED, {"ids": ids})
    else:
        result = await conn.execute(_SQLITE_STORED, {"ids": msgspec.json.encode(ids).decode()})
    return {row[0]: _Stored(body=row[1], total=row[2], workspace=row[3]) for row in result}


def _supersedes(row: tuple[Any, ...], stored: _Stored | None, key: ApiKey) -> bool:
    """Whether an incoming row replaces the stored copy: different content, usage not lowered, and a
    stored workspace the key may write (the incoming one was checked on validation). A stored copy
    gone since the insert (deleted meanwhile) is left alone."""
    return (
        stored is not None
        and row[_BODY] != stored.body
        and _token_total(row) >= stored.total
        and key.matcher.allows(stored.workspace)
    )


async def _replace_superseded(
    conn: AsyncConnection,
    dialect: str,
    rows: list[tuple[Any, ...]],
    received_at: datetime,
    key: ApiKey,
    collector: str | None,
) -> set[str]:
    """Replace the stored copies that `rows` (ids already stored) supersede; returns the ids replaced.

    One SELECT, one DELETE and one INSERT per batch however many rows; the INSERT is the batch's own,
    so the replacement is stored exactly as a first copy would be and the rollup triggers see a
    delete and an insert.

    Two batches replacing the same event at once: the second one's DELETE waits for the first's row
    lock, then finds that row gone (the first batch's new copy is newer than its snapshot) and deletes
    nothing, so its INSERT conflicts with the first batch's copy. Those rows are judged again against
    that copy (a new statement sees it), so the larger copy wins whichever batch commits first; past
    `_REPLACE_ROUNDS` rounds (other batches kept winning) the request is refused as a write conflict,
    which collectors retry.
    """
    replaced: set[str] = set()
    pending = rows
    for _round in range(_REPLACE_ROUNDS):
        if not pending:
            return replaced
        stored = await _stored_copies(conn, dialect, [row[0] for row in pending])
        newer = [row for row in pending if _supersedes(row, stored.get(row[0]), key)]
        if not newer:
            return replaced
        ids = [row[0] for row in newer]
        if dialect == "postgresql":
            params = {
                "ids": ids,
                "totals": [_token_total(row) for row in newer],
                "workspaces": [stored[row[0]].workspace for row in newer],
                "any_workspace": key.matcher.unrestricted,
            }
            await conn.execute(_PG_DELETE, params)
        else:
            await conn.execute(_SQLITE_DELETE, {"ids": msgspec.json.encode(ids).decode()})
        inserted = await _insert_events(conn, dialect, newer, received_at, key.id, collector)
        replaced |= inserted
        pending = [row for row in newer if row[0] not in inserted]
    if pending:
        raise ApiError(
            503,
            "the batch collided with another one writing the same events; retry it",
            code="write_conflict",
            headers={"Retry-After": "1"},
        )
    return replaced


def _dialect_insert(dialect: str, table: Any) -> Any:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


async def _record_health(
    conn: AsyncConnection,
    dialect: str,
    *,
    key_id: str,
    collector: CollectorInfo,
    now: datetime,
    created: int,
    duplicates: int,
    rejected: int,
) -> None:
    table = COLLECTORS
    stmt = _dialect_insert(dialect, table).values(
        key_id=key_id,
        machine=safe_text(collector.machine or "", 1024),
        name=safe_text(collector.name or "devlog", 128),
        version=safe_text(collector.version, 128) if collector.version else None,
        first_seen=now,
        last_seen=now,
        batches=1,
        created=created,
        duplicates=duplicates,
        rejected=rejected,
    )
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["key_id", "machine"],
        set_={
            "name": excluded.name,
            "version": excluded.version,
            "last_seen": excluded.last_seen,
            "batches": table.c.batches + 1,
            "created": table.c.created + excluded.created,
            "duplicates": table.c.duplicates + excluded.duplicates,
            "rejected": table.c.rejected + excluded.rejected,
        },
    )
    await conn.execute(stmt)


async def _record_rejections(
    conn: AsyncConnection, *, key_id: str, machine: str, now: datetime, items: list[ItemResult], keep: int
) -> None:
    if keep <= 0 or not items:
        return
    table = REJECTIONS
    rows = [
        {
            "received_at": now,
            "key_id": key_id,
            "machine": safe_text(machine, 1024),
            "event_id": item.id,
            "item_index": item.index,
            "reason": safe_text(item.reason or "", 500),
        }
        for item in items[:_MAX_REJECTIONS_RECORDED_PER_BATCH]
    ]
    await conn.execute(table.insert(), rows)
    newest = select(func.max(table.c.id)).scalar_subquery()
    await conn.execute(delete(table).where(table.c.id <= newest - bindparam("keep", keep)))


async def _record_workspaces(conn: AsyncConnection, dialect: str, workspaces: set[str], now: datetime) -> None:
    if not workspaces:
        return
    stmt = _dialect_insert(dialect, WORKSPACES).on_conflict_do_nothing(index_elements=["workspace"])
    await conn.execute(stmt, [{"workspace": w, "first_seen": now} for w in sorted(workspaces)])


def _reason_code(reason: str | None) -> str:
    if not reason:
        return "unknown"
    if reason == FORBIDDEN_WORKSPACE:
        return reason
    return reason.split(":", 1)[0].replace(" ", "_")


async def ingest_batch(state: ServerState, key: ApiKey, body: bytes) -> IngestResult:
    """Validate and store one batch (see the module docstring); raises ApiError for whole-batch failures."""
    started = time.perf_counter()
    settings = state.settings
    envelope = _decode_envelope(body)
    count = len(envelope.events)
    if count > settings.max_events_per_batch:
        raise ApiError(
            413,
            f"batch has {count} events; the limit is {settings.max_events_per_batch}: send smaller batches",
            code="too_many_events",
            extra={"max_events_per_batch": settings.max_events_per_batch},
        )
    # Events outside the key's globs are rejected per item even when that is every event of the batch:
    # a whole-batch 403 would make a collector pause the remote, and a later batch the key may write
    # would then never be sent. Per-item rejections are dead-lettered and the collector moves on.
    checked = await _validate(envelope.events, key, settings.max_event_bytes)
    now = datetime.now(UTC)
    machine = safe_text(envelope.collector.machine or "", 1024)
    db = state.db
    async with db.write() as conn:
        created_ids = await _insert_events(conn, db.dialect, checked.rows, now, key.id, machine or None)
        existing = [row for row in checked.rows if row[0] not in created_ids]
        updated_ids = await _replace_superseded(conn, db.dialect, existing, now, key, machine or None)
        new_workspaces = checked.workspaces - state.known_workspaces
        await _record_workspaces(conn, db.dialect, new_workspaces, now)
        await _record_rejections(
            conn,
            key_id=key.id,
            machine=machine,
            now=now,
            items=checked.rejected,
            keep=settings.recent_rejections_kept,
        )
        created = len(created_ids)
        duplicates = count - created - len(checked.rejected)
        await _record_health(
            conn,
            db.dialect,
            key_id=key.id,
            collector=envelope.collector,
            now=now,
            created=created,
            duplicates=duplicates,
            rejected=len(checked.rejected),
        )
    state.known_workspaces |= new_workspaces
    results = checked.results
    for index, row in zip(checked.row_indexes, checked.rows, strict=True):
        results[index] = ItemResult(index=index, id=row[0], status="created" if row[0] in created_ids else "duplicate")
    items = [item for item in results if item is not None]
    updated = len(updated_ids)
    response = IngestResponse(
        created=created, duplicates=duplicates, rejected=len(checked.rejected), updated=updated, results=items
    )
    metrics = state.metrics
    metrics.batches.inc()
    metrics.events.labels("created").inc(created)
    metrics.events.labels("duplicate").inc(duplicates)
    metrics.events.labels("updated").inc(updated)
    if checked.rejected:
        metrics.events.labels("rejected").inc(len(checked.rejected))
        for item in checked.rejected:
            metrics.rejections.labels(_reason_code(item.reason)).inc()
    elapsed = time.perf_counter() - started
    metrics.ingest_latency.observe(elapsed)
    _log.info(
        "batch_ingested",
        key_id=key.id,
        machine=machine,
        events=count,
        created=created,
        duplicates=duplicates,
        updated=updated,
        rejected=len(checked.rejected),
        ms=round(elapsed * 1000, 1),
    )
    return IngestResult(response=response, status_code=422 if checked.rejected else 200)
