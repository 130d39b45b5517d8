"""Exporting one remote: read after its cursor, route, shape, send, and commit the outcome atomically.

The store is the buffer. Each remote has a cursor over `events.seq` (`export_cursors.last_seq`: every
event with a smaller or equal seq was confirmed by the remote or is not routed to it). One pass:

1. Scan `(seq, workspace)` after the cursor in pages and keep the events the router sends to this
   remote. Only those bodies are read and decoded, so a remote that selects 1 % of a 1M-event store
   skips the rest cheaply, and stretches with no match just advance the cursor.
2. Shape each event by the remote's content policy (`content.py`), encode, and cut a batch at
   `batch_size` events or `batch_bytes` of JSON; gzip it.
3. POST it with an `Idempotency-Key` derived from (remote, first seq, last seq, count).
4. Only when the server answered with per-item results: in ONE transaction, dead-letter the rejected
   items, advance the cursor and record the status. A crash before that commit resends this one
   batch on restart; the server's idempotent ingest answers `duplicate`, so nothing is stored twice.

Failures (see `client.py`): transient ones end the pass with an error for the caller's backoff; 413 and
batch-level 400/422 split the batch in halves down to one event, which is then dead-lettered with the
reason; 401/403/404 and other non-retryable answers pause the remote with the reason.

Rules changes: the cursor row stores a hash of the remote's effective rules (url, include/exclude,
content policy, and whether it is the default remote and what the others claim). When the hash
changes the cursor restarts at 0, so history the new rules select becomes eligible; what the server
already holds comes back `duplicate`. A paused remote stays paused until `devlog export` resumes it
or its url or api key changes.

One exporter per remote at a time across processes: a pass holds `flock` on `<db>.export-<remote>.lock`,
so `devlog export` and `devlog start` never race on a cursor.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import gzip
import hashlib
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

import httpx
import msgspec

from devlog_collector.config import Config, RemoteConfig, mask_url
from devlog_collector.errors import ExportError, RemoteUnavailable, StoreError, UserError
from devlog_collector.export.client import (
    Backoff,
    BatchInvalid,
    PayloadTooLarge,
    RemoteClient,
    RemotePaused,
    user_agent,
)
from devlog_collector.export.content import Redactor, apply_policy, default_redactor
from devlog_collector.export.event_size import DEFAULT_MAX_EVENT_BYTES, fit_event
from devlog_collector.export.routing import Router
from devlog_collector.export.shared_blobs import shared_blobs
from devlog_collector.lock_files import open_lock_file
from devlog_collector.log import get_logger
from devlog_collector.store import Store, event_from_row, now_ms, price_extras
from devlog_collector.wording import counted
from devlog_collector.workspace import machine_id
from devlog_shared import Event
from devlog_shared.codec import encode

if TYPE_CHECKING:
    from devlog_collector.query.pricing import Pricer

__all__ = [
    "Batch",
    "RemoteExporter",
    "SyncOutcome",
    "ensure_cursor",
    "export_with_retries",
    "rules_hash",
]

log = get_logger("export")

#: Rows of (seq, workspace) read per scan step.
SCAN_PAGE: Final = 5000
#: A pass commits its scan progress at least every this many rows, even when nothing matched.
MAX_SCAN_PER_BATCH: Final = 100_000
GZIP_LEVEL: Final = 5
#: Events refused alone in a row, with one same answer, that pause the remote instead of being
#: dead-lettered (`RemoteExporter._deliver`): one event too large or invalid is that event's problem;
#: three in a row, each refused alike, is the remote's.
BLANKET_REFUSALS: Final = 3


@dataclass
class SyncOutcome:
    """What one `sync()` pass did."""

    sent: int = 0
    created: int = 0
    duplicates: int = 0
    #: Of `duplicates`: stored copies the server replaced with this newer one (servers from 2026-12).
    updated: int = 0
    dead_lettered: int = 0
    batches: int = 0
    caught_up: bool = False
    paused: bool = False
    paused_reason: str | None = None
    busy: bool = False
    error: ExportError | None = None
    retry_after: float | None = None


@functools.cache
def _collector_info() -> bytes:
    """The batch envelope's `collector`: name, version and this machine's pseudonymous id (the one
    its events carry), so the server's ingest health tells two laptops sharing a key apart."""
    return encode({"name": "devlog", "version": user_agent().partition("/")[2], "machine": machine_id()})


@dataclass
class Batch:
    """Encoded events ready to send: parallel lists of seq, id and JSON."""

    seqs: list[int] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)
    size: int = 0
    scanned_to: int = 0

    def __len__(self) -> int:
        return len(self.seqs)

    def split(self) -> tuple[Batch, Batch]:
        mid = len(self) // 2
        first = Batch(self.seqs[:mid], self.ids[:mid], self.blobs[:mid], sum(map(len, self.blobs[:mid])))
        second = Batch(self.seqs[mid:], self.ids[mid:], self.blobs[mid:], sum(map(len, self.blobs[mid:])))
        first.scanned_to = first.seqs[-1]
        second.scanned_to = self.scanned_to
        return first, second

    def body(self) -> bytes:
        sent_at = encode(datetime.now(UTC))
        collector = _collector_info()
        return b"".join(
            (
                b'{"schema_version":1,"sent_at":',
                sent_at,
                b',"collector":',
                collector,
                b',"events":[',
                b",".join(self.blobs),
                b"]}",
            )
        )

    def idempotency_key(self, remote: str) -> str:
        raw = f"{remote}\x1f{self.seqs[0]}\x1f{self.seqs[-1]}\x1f{len(self)}".encode()
        return hashlib.sha256(raw).hexdigest()[:32]


def _answer(exc: ExportError) -> tuple[int | None, str]:
    """What a refusal said: its status and message."""
    return exc.status_code, str(exc)


def rules_hash(config: Config, remote: str) -> str:
    """A fingerprint of everything that decides which events, and what of them, `remote` receives."""
    rc = config.export.remotes[remote]
    rules: dict[str, object] = {
        "url": rc.url,
        "include": rc.workspaces.include,
        "exclude": rc.workspaces.exclude,
        "content": rc.content,
    }
    if config.export_default == remote:
        rules["default"] = True
        rules["others"] = {
            name: [other.workspaces.include, other.workspaces.exclude]
            for name, other in sorted(config.export.remotes.items())
            if name != remote
        }
    return hashlib.sha256(msgspec.json.encode(rules, order="sorted")).hexdigest()[:32]


def connection_fingerprint(remote: RemoteConfig) -> str:
    """Identifies the url + api key a pause was recorded under (a change of either un-pauses)."""
    return hashlib.sha256(f"{remote.url}\x1f{remote.api_key or ''}".encode()).hexdigest()[:32]


def pause_lifted(paused_fingerprint: str | None, remote: RemoteConfig) -> bool:
    """Whether a pause recorded under `paused_fingerprint` ends now: the remote's url or key changed."""
    return paused_fingerprint != connection_fingerprint(remote)


def ensure_cursor(db: sqlite3.Connection, config: Config, remote: str) -> tuple[int, str]:
    """Create or refresh the remote's cursor row (inside a transaction); returns (last_seq, status).

    A changed rules hash restarts the cursor at 0 (see the module docstring).
    """
    digest = rules_hash(config, remote)
    now = now_ms()
    row = db.execute("SELECT last_seq, rules_hash, status FROM export_cursors WHERE remote = ?", (remote,)).fetchone()
    if row is None:
        db.execute(
            "INSERT INTO export_cursors (remote, last_seq, rules_hash, status, updated_at) "
            "VALUES (?, 0, ?, 'pending', ?)",
            (remote, digest, now),
        )
        return 0, "pending"
    last_seq, old_digest, status = row
    if old_digest != digest:
        log.info("export_rules_changed", remote=remote, restart_from=0, previous_seq=last_seq)
        # Everything the new rules select is sent again from 0, so a refused event that is still
        # selected comes back to the dead letters; one no longer selected would stay there for good.
        db.execute("DELETE FROM dead_letters WHERE remote = ?", (remote,))
        db.execute(
            "UPDATE export_cursors SET last_seq = 0, rules_hash = ?, status = 'pending', paused_reason = NULL, "
            "paused_fingerprint = NULL, updated_at = ? WHERE remote = ?",
            (digest, now, remote),
        )
        return 0, "pending"
    return int(last_seq), str(status)


class RemoteExporter:
    """Exports the store to one remote (thread-confined; see the module docstring)."""

    def __init__(
        self,
        name: str,
        config: Config,
        store: Store,
        client: RemoteClient,
        *,
        redactor: Redactor | None = None,
        caller_reports: bool = False,
    ) -> None:
        """`caller_reports`: the caller tells the user of a pause in a line of its own (`devlog export`
        does), so the exporter logs it at info (shown with `-v`), not as a warning repeating that line."""
        if name not in config.export.remotes:
            raise UserError(f"no remote named {name!r} in the config")
        self.name = name
        self.config = config
        self.remote = config.export.remotes[name]
        self.store = store
        self.client = client
        self.router = Router(config)
        self._redactor = redactor
        self._caller_reports = caller_reports
        self._pricer: Pricer | None = None
        self._dead_letters_seen: bool | None = None  # see `_may_have_dead_letters`
        #: Events dead-lettered in the current pass, per reason (logged once each when it ends).
        self._dead_reasons: Counter[str] = Counter()
        self.max_events = self.remote.batch_size
        self.max_bytes = self.remote.batch_bytes
        #: The largest event the server takes (its `whoami` limits; the server's default until asked).
        self.max_event_bytes = DEFAULT_MAX_EVENT_BYTES
        self._limits_checked = False
        #: Routed seqs scanned past the end of the last batch: (cursor they follow, seqs, page end, full page).
        self._ahead: tuple[int, list[int], int, bool] | None = None
        # Encoded events are shared with this process's other remotes of the same content policy (see
        # shared_blobs.py); not with a custom redactor, whose output only this exporter knows.
        content = self.remote.content
        peers = sum(1 for other in config.export.remotes.values() if other.content == content)
        self._shared_key = (str(store.path.resolve()), content) if redactor is None and peers > 1 else None

    @classmethod
    def open(
        cls,
        name: str,
        config: Config,
        db_path: Path,
        *,
        transport: httpx.BaseTransport | None = None,
        caller_reports: bool = False,
    ) -> RemoteExporter:
        """Open the store and an HTTP client for `name` (`caller_reports`: see `__init__`)."""
        if name not in config.export.remotes:
            raise UserError(f"no remote named {name!r} in the config")
        store = Store.open(db_path)
        client = RemoteClient(name, config.export.remotes[name], transport=transport)
        return cls(name, config, store, client, caller_reports=caller_reports)

    def close(self) -> None:
        """Close the HTTP client and the store connection."""
        self.client.close()
        self.store.close()

    # -- locking -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _remote_lock(self, wait: float) -> Iterator[bool]:
        handle: IO[bytes] = open_lock_file(Path(f"{self.store.path}.export-{self.name}.lock"))
        deadline = time.monotonic() + wait
        locked = False
        try:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    locked = True
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.05)
            yield locked
        finally:
            if locked:
                fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    # -- the pass ------------------------------------------------------------------------------

    def sync(
        self,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        progress: Callable[[int], None] | None = None,
        resume: bool = False,
        lock_wait: float = 0.0,
        max_batches: int | None = None,
        from_start: bool = False,
    ) -> SyncOutcome:
        """Send what is pending until caught up, stopped, or a failure (see the module docstring).

        Args:
            should_stop: checked between batches (the batch in flight always completes).
            progress: called with the number of events confirmed or dead-lettered per batch.
            resume: un-pause a paused remote (what `devlog export` does).
            lock_wait: seconds to wait for another process exporting this remote.
            max_batches: stop after this many batches (tests, fairness).
            from_start: send everything routed to the remote again (`devlog export --all`): the cursor
                goes back to 0 under the remote's lock, so a pass running elsewhere cannot write its
                own cursor over the reset.
        """
        outcome = SyncOutcome()
        with self._remote_lock(lock_wait) as locked:
            if not locked:
                outcome.busy = True
                return outcome
            self._dead_letters_seen = None  # (only the lock holder writes this remote's dead letters)
            self._dead_reasons = Counter()
            try:
                self._run(outcome, should_stop, progress, resume, max_batches, from_start)
            except sqlite3.Error as exc:
                raise StoreError(f"export to {self.name}: the store failed: {exc}") from exc
            finally:
                for reason, count in sorted(self._dead_reasons.items()):
                    log.warning("export_events_dead_lettered", remote=self.name, events=count, reason=reason)
        return outcome

    def _run(
        self,
        outcome: SyncOutcome,
        should_stop: Callable[[], bool],
        progress: Callable[[int], None] | None,
        resume: bool,
        max_batches: int | None,
        from_start: bool = False,
    ) -> None:
        with self.store.transaction() as db:
            cursor, status = ensure_cursor(db, self.config, self.name)
            if from_start and cursor:
                db.execute("UPDATE export_cursors SET last_seq = 0 WHERE remote = ?", (self.name,))
                log.info("export_from_start", remote=self.name, previous_seq=cursor)
                cursor = 0
            if status == "paused":
                row = db.execute(
                    "SELECT paused_reason, paused_fingerprint FROM export_cursors WHERE remote = ?", (self.name,)
                ).fetchone()
                if resume or pause_lifted(row[1], self.remote):
                    db.execute(
                        "UPDATE export_cursors SET status = 'pending', paused_reason = NULL, paused_fingerprint = NULL "
                        "WHERE remote = ?",
                        (self.name,),
                    )
                    log.info("export_resumed", remote=self.name)
                else:
                    outcome.paused = True
                    outcome.paused_reason = row[0]
                    return
        if not self.router.has_rules(self.name):
            outcome.caught_up = True
            return
        self._check_limits()
        while not should_stop():
            if max_batches is not None and outcome.batches >= max_batches:
                return
            batch = self._next_batch(cursor)
            if batch.scanned_to == cursor:
                self._commit(cursor, [], outcome, final=True)
                outcome.caught_up = True
                return
            if not batch:
                self._commit(batch.scanned_to, [], outcome, final=False)
                cursor = batch.scanned_to
                continue
            try:
                self._deliver(batch, outcome, progress)
            except RemotePaused as exc:
                self._record_failure(exc, paused=True)
                outcome.paused = True
                outcome.paused_reason = str(exc)
                say = log.info if self._caller_reports else log.warning
                say("export_paused", remote=self.name, reason=str(exc), status_code=exc.status_code)
                return
            except RemoteUnavailable as exc:
                self._record_failure(exc, paused=False)
                outcome.error = exc
                outcome.retry_after = exc.retry_after
                log.info("export_failed_transient", remote=self.name, reason=str(exc), status_code=exc.status_code)
                return
            cursor = batch.scanned_to

    def _check_limits(self) -> None:
        """Size batches by the server's advertised limits (best effort: `whoami` may not be reachable)."""
        if self._limits_checked:
            return
        self._limits_checked = True
        try:
            limits = self.client.whoami().limits
        except ExportError as exc:
            log.debug("export_whoami_skipped", remote=self.name, reason=str(exc))
            return
        if limits.max_events_per_batch > 0:
            self.max_events = max(1, min(self.max_events, limits.max_events_per_batch))
        if limits.max_body_bytes > 0:
            # Leave room for the envelope; the JSON we bound is uncompressed, so this is conservative.
            self.max_bytes = max(1024, min(self.max_bytes, limits.max_body_bytes - 4096))
        if limits.max_event_bytes > 0:
            self.max_event_bytes = limits.max_event_bytes
        if limits.max_body_bytes > 0:
            # An event is sent alone when it must: it has to fit in a request body too (an operator
            # may set the body limit below the event limit, to match a proxy in front).
            self.max_event_bytes = min(self.max_event_bytes, max(1024, limits.max_body_bytes - 4096))

    def _next_batch(self, cursor: int) -> Batch:
        """Up to `max_events` / `max_bytes` of routed events after `cursor`, and how far the scan got.

        A scan page routes up to `SCAN_PAGE` rows at once; when the batch fills before the page's
        matches are used up, the rest is kept for the next call (if it continues from this batch's
        end), so a page is routed once, not once per batch.
        """
        batch = Batch(scanned_to=cursor)
        db = self.store.db
        scanned = 0
        ahead = self._ahead if self._ahead is not None and self._ahead[0] == cursor else None
        self._ahead = None
        position = cursor
        while scanned < MAX_SCAN_PER_BATCH:
            if ahead is not None:
                _, matched, page_end, full_page = ahead
                ahead = None
            else:
                rows = db.execute(
                    "SELECT seq, workspace FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (position, SCAN_PAGE)
                ).fetchall()
                if not rows:
                    return batch
                scanned += len(rows)
                matched = [seq for seq, workspace in rows if self.router.matches(self.name, workspace)]
                page_end, full_page = rows[-1][0], len(rows) == SCAN_PAGE
            for start in range(0, len(matched), 500):
                chunk = matched[start : start + 500]
                marks = ",".join("?" * len(chunk))
                bodies = db.execute(
                    f"SELECT seq, id, body, text FROM events WHERE seq IN ({marks}) ORDER BY seq", chunk
                ).fetchall()
                for seq, event_id, body, text in bodies:
                    blob = self._blob(seq, body, text)
                    if batch and (len(batch) >= self.max_events or batch.size + len(blob) > self.max_bytes):
                        rest = [s for s in matched[start:] if s >= seq]
                        self._ahead = (batch.scanned_to, rest, page_end, full_page)
                        return batch
                    batch.seqs.append(seq)
                    batch.ids.append(event_id)
                    batch.blobs.append(blob)
                    batch.size += len(blob) + 1
                    batch.scanned_to = seq
            position = page_end
            batch.scanned_to = position
            if len(batch) >= self.max_events or not full_page:
                return batch
        return batch

    def _blob(self, seq: int, body: bytes, text: str | None) -> bytes:
        """The exported JSON of the stored event at `seq` (from the shared cache when a peer made it)."""
        if self._shared_key is None:
            return self._encode(body, text)
        key = (*self._shared_key, self.max_event_bytes, seq)
        cache = shared_blobs()
        blob = cache.get(key)
        if blob is None:
            blob = self._encode(body, text)
            cache.put(key, blob)
        return blob

    @property
    def redactor(self) -> Redactor:
        """The secret rules (built on first use: `full` and `metadata` remotes never load them)."""
        if self._redactor is None:
            self._redactor = default_redactor()
        return self._redactor

    def _with_cost(self, event: Event) -> Event:
        """Price an event that has usage but no recorded cost, so servers can show spend.

        The local store keeps what the agent recorded; the exported copy carries the estimate from the
        same maintained price data `devlog stats` uses, marked `attrs.cost_estimated`. It is priced as
        `devlog stats` prices it, so `devlog stats --remote` matches the server: a call with zero tokens
        but Claude web searches (`attrs.web_search_requests`) costs its searches, and no per-request fee
        (stats counts a request only for a call with tokens).
        """
        usage = event.usage
        if usage is None or event.cost_usd is not None or not event.model:
            return event
        one_hour, searches, fast = price_extras(event)
        if usage.total == 0 and not searches:
            return event
        if self._pricer is None:
            from devlog_collector.query.pricing import Pricer

            self._pricer = Pricer.load()
        from devlog_collector.query.pricing import TokenSums

        tokens = TokenSums(
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_creation_tokens,
            usage.cache_read_tokens,
            cache_creation_1h=one_hour,
            web_searches=searches,
        )
        if usage.total:
            cost = self._pricer.event_cost(event.model, event.ts, tokens, fast=bool(fast))
        else:  # searches alone: no request counted
            cost = self._pricer.cost(event.model, self._pricer.band_of(0), event.ts, tokens, fast=bool(fast))
        if cost is None:
            return event
        return msgspec.structs.replace(event, cost_usd=round(cost, 10), attrs={**event.attrs, "cost_estimated": True})

    def _encode(self, body: bytes, text: str | None) -> bytes:
        event = self._with_cost(event_from_row(body, text))
        content = self.remote.content
        shared = apply_policy(event, content, self.redactor if content == "redacted" else None)
        return fit_event(shared, self.max_event_bytes)

    def _deliver(self, batch: Batch, outcome: SyncOutcome, progress: Callable[[int], None] | None) -> None:
        """Send `batch`, splitting on 413/400/422; commits after every confirmed part.

        An event refused alone is dead-lettered, unless `BLANKET_REFUSALS` events in a row, each no
        larger than the server says it takes, are refused alone with one same answer: then the answer
        is not about the events (a proxy's body-size limit, a firewall, a server that refuses every
        request) and the remote pauses with it, those events left pending instead of dead-lettered.
        Fewer such events at the end of the batch are held pending (RemoteUnavailable: retried, with
        the events that follow them) until one or the other is known.
        """
        pending = [batch]
        refused: list[tuple[Batch, PayloadTooLarge | BatchInvalid]] = []  # alone, since the last accepted part
        in_a_row = 0  # of them, the last ones refused alike though within the server's limits
        while pending:
            part = pending.pop(0)
            try:
                response = self.client.post_events(
                    gzip.compress(part.body(), compresslevel=GZIP_LEVEL),
                    gzipped=True,
                    idempotency_key=part.idempotency_key(self.name),
                    count=len(part),
                )
            except (PayloadTooLarge, BatchInvalid) as exc:
                if len(part) > 1:
                    first, second = part.split()
                    pending[:0] = [first, second]
                    log.info("export_batch_split", remote=self.name, size=len(part), status_code=exc.status_code)
                    continue
                within_limits = len(part.blobs[0]) <= min(self.max_event_bytes, self.max_bytes)
                alike = bool(refused) and _answer(refused[-1][1]) == _answer(exc)
                in_a_row = (in_a_row + 1 if alike else 1) if within_limits else 0
                refused.append((part, exc))
                if in_a_row >= BLANKET_REFUSALS:
                    self._dead_letter(refused[:-in_a_row], outcome, progress)  # (refused before the run began)
                    raise RemotePaused(
                        f"{mask_url(self.remote.url)} refused {in_a_row} events in a row one by one with the same "
                        f"answer ({exc}): that is not about the events; something in front of the server (a proxy's "
                        "body-size limit, a firewall) or the server itself refuses them. They were not dead-lettered: "
                        f"fix it, then `devlog export --remote {self.name}` resumes",
                        status_code=exc.status_code,
                    ) from exc
                continue
            self._dead_letter(refused, outcome, progress)
            refused, in_a_row = [], 0
            letters: list[tuple[str, int, str, int | None]] = []
            for item in response.results:
                if item.status == "rejected" and 0 <= item.index < len(part):
                    reason = (item.reason or "rejected")[:4096]
                    letters.append((part.ids[item.index], part.seqs[item.index], reason, 422))
            rejected = {event_id for event_id, _seq, _reason, _code in letters}
            accepted = [event_id for event_id in part.ids if event_id not in rejected]
            self._commit(
                part.scanned_to, letters, outcome, final=False, confirmed=len(part) - len(letters), accepted=accepted
            )
            outcome.batches += 1
            outcome.created += response.created
            outcome.duplicates += response.duplicates
            outcome.updated += response.updated
            outcome.dead_lettered += len(letters)
            outcome.sent += len(part) - len(letters)
            if progress:
                progress(len(part))
        # The last events refused alike, fewer than `BLANKET_REFUSALS`, with none accepted after them:
        # whether that is about them or about the remote is not known yet (an auto-sync pass often
        # holds one or two events, so a count per pass never reached three and a proxy refusing
        # everything had each new event dead-lettered). They stay pending, the cursor before them;
        # the next pass sends them again with the events after them, and decides.
        held = refused[len(refused) - in_a_row :] if in_a_row else []
        self._dead_letter(refused[: len(refused) - len(held)], outcome, progress)
        if held:
            answer = held[-1][1]
            raise RemoteUnavailable(
                f"{mask_url(self.remote.url)} refused {counted(len(held), 'event')} one by one ({answer}); "
                f"held pending, not dead-lettered: they are sent again with the events that follow. If "
                f"{BLANKET_REFUSALS} in a row are refused alike, the remote pauses (the answer is not about the "
                "events); if a later event is accepted, they are dead-lettered",
                status_code=answer.status_code,
            )

    def _dead_letter(
        self,
        refused: list[tuple[Batch, PayloadTooLarge | BatchInvalid]],
        outcome: SyncOutcome,
        progress: Callable[[int], None] | None,
    ) -> None:
        """Dead-letter the events refused alone (`_deliver`), each in its own commit, in order."""
        for part, exc in refused:
            letters = [(part.ids[0], part.seqs[0], str(exc)[:4096], exc.status_code)]
            self._commit(part.scanned_to, letters, outcome, final=False)
            outcome.dead_lettered += 1
            if progress:
                progress(1)

    # -- recording -----------------------------------------------------------------------------

    def _commit(
        self,
        last_seq: int,
        letters: list[tuple[str, int, str, int | None]],
        outcome: SyncOutcome,
        *,
        final: bool,
        confirmed: int = 0,
        accepted: Sequence[str] = (),
    ) -> None:
        """Dead letters + cursor + status in one transaction.

        `accepted`: ids the remote took in this batch. A dead letter of one of them is gone (it was
        re-sent, e.g. by `export --all` after the server's key was widened, and arrived).
        """
        now = now_ms()
        with self.store.transaction() as db:
            if accepted and self._may_have_dead_letters(db):
                db.executemany(
                    "DELETE FROM dead_letters WHERE remote = ? AND event_id = ?",
                    [(self.name, event_id) for event_id in accepted],
                )
            if letters:
                self._dead_letters_seen = True
                db.executemany(
                    "INSERT INTO dead_letters (remote, event_id, seq, reason, status_code, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (remote, event_id) DO UPDATE SET seq = excluded.seq, "
                    "reason = excluded.reason, status_code = excluded.status_code, created_at = excluded.created_at",
                    [(self.name, event_id, seq, reason, code, now) for event_id, seq, reason, code in letters],
                )
                # Counted for one line per reason at the end of the pass (`sync`), not per event or
                # per batch: a remote refusing a whole workspace would otherwise print thousands (the
                # events are listed by `devlog export --status`).
                self._dead_reasons.update(reason for _event_id, _seq, reason, _code in letters)
            sent = confirmed + len(letters)
            db.execute(
                "UPDATE export_cursors SET last_seq = max(last_seq, ?), status = ?, "
                "last_success_at = CASE WHEN ? > 0 THEN ? ELSE last_success_at END, "
                "last_attempt_at = ?, sent_total = sent_total + ?, updated_at = ? WHERE remote = ?",
                (last_seq, "synced" if final else "pending", sent, now, now, confirmed, now, self.name),
            )

    def _may_have_dead_letters(self, db: sqlite3.Connection) -> bool:
        """Whether this remote has dead letters (asked once, then kept up to date by `_commit`), so the
        common case of none costs no per-event delete."""
        if self._dead_letters_seen is None:
            row = db.execute("SELECT 1 FROM dead_letters WHERE remote = ? LIMIT 1", (self.name,)).fetchone()
            self._dead_letters_seen = row is not None
        return self._dead_letters_seen

    def _record_failure(self, exc: ExportError, *, paused: bool) -> None:
        now = now_ms()
        message = str(exc)[:1000]
        with self.store.transaction() as db:
            if paused:
                db.execute(
                    "UPDATE export_cursors SET status = 'paused', paused_reason = ?, paused_fingerprint = ?, "
                    "last_error = ?, last_error_at = ?, last_attempt_at = ?, updated_at = ? WHERE remote = ?",
                    (message, connection_fingerprint(self.remote), message, now, now, now, self.name),
                )
            else:
                db.execute(
                    "UPDATE export_cursors SET status = 'error', last_error = ?, last_error_at = ?, "
                    "last_attempt_at = ?, updated_at = ? WHERE remote = ?",
                    (message, now, now, now, self.name),
                )


def export_with_retries(
    exporter: RemoteExporter,
    backoff: Backoff,
    *,
    max_failures: int | None,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] | None = None,
    progress: Callable[[int], None] | None = None,
    resume: bool = False,
    lock_wait: float = 0.0,
    from_start: bool = False,
    on_wait: Callable[[float, SyncOutcome], None] | None = None,
) -> SyncOutcome:
    """Run passes until caught up, paused, stopped, or `max_failures` failed passes in a row that sent nothing.

    `max_failures=None` retries forever (the daemon's policy: the store is the buffer); the CLI gives up
    after a few attempts and reports, leaving everything pending. `on_wait` hears of each wait before a
    retry (its seconds, and the failed pass: a server's `Retry-After` may ask for up to an hour).
    """
    total = SyncOutcome()
    failures = 0
    while True:
        outcome = exporter.sync(
            should_stop=should_stop, progress=progress, resume=resume, lock_wait=lock_wait, from_start=from_start
        )
        resume = from_start = False  # (the first pass only: a retry goes on from where it got to)
        for name in ("sent", "created", "duplicates", "updated", "dead_lettered", "batches"):
            setattr(total, name, getattr(total, name) + getattr(outcome, name))
        total.caught_up, total.paused, total.busy = outcome.caught_up, outcome.paused, outcome.busy
        total.paused_reason, total.error, total.retry_after = outcome.paused_reason, outcome.error, outcome.retry_after
        if outcome.error is None:
            backoff.reset()
            failures = 0
            if outcome.caught_up or outcome.paused or outcome.busy or should_stop():
                return total
            continue
        if outcome.batches:
            # It delivered batches before failing (a server that rate-limits a long backfill):
            # only passes in a row that deliver nothing count towards giving up.
            failures = 0
            backoff.reset()
        failures += 1
        if (max_failures is not None and failures >= max_failures) or should_stop():
            return total
        delay = backoff.next_delay(outcome.retry_after)
        if on_wait is not None:
            on_wait(delay, outcome)
        (sleep or time.sleep)(delay)
