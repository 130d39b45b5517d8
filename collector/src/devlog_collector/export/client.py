"""HTTP to one ingest server: the request, the mapping of every failure to what the exporter does next,
and the retry schedule.

Failure classes (pipeline-reliability §8 promise 4; unlike Fluent Bit, Vector, the OTel Collector and
Alloy, no 4xx ever drops data here):

* `RemoteUnavailable`  transient (connection refused/reset, timeouts, a lost response, 408, 425, 429,
  5xx except 501/505): retry the same batch forever with backoff, honouring `Retry-After`.
* `PayloadTooLarge`    413: the exporter halves the batch; a single event still too large is
  dead-lettered.
* `BatchInvalid`       400/422 without a per-item body: the server could not take the batch as a
  whole; the exporter splits it to isolate the bad event, which is dead-lettered alone.
* `RemotePaused`       401/403/404, 501/505, redirects, other 4xx, or an answer that is not a devlog ingest
  response: retrying cannot help, so the remote is paused with the reason and nothing is dropped.

One `httpx.Client` per remote keeps connections alive across batches.
"""

from __future__ import annotations

import email.utils
import random
from datetime import UTC, datetime
from importlib import metadata
from typing import Final

import httpx
import msgspec

from devlog_collector.config import RemoteConfig
from devlog_collector.errors import ExportError, RemoteRejected, RemoteUnavailable
from devlog_shared.wire import IngestResponse, WhoAmI

__all__ = [
    "EVENTS_PATH",
    "WHOAMI_PATH",
    "Backoff",
    "BatchInvalid",
    "PayloadTooLarge",
    "RemoteClient",
    "RemotePaused",
    "parse_retry_after",
    "user_agent",
]

EVENTS_PATH: Final = "/api/v1/events"
WHOAMI_PATH: Final = "/api/v1/whoami"
#: Retry-After values are honoured up to this many seconds (a misconfigured proxy cannot park us for a day).
MAX_RETRY_AFTER_S: Final = 3600.0
_TRANSIENT_STATUS: Final = frozenset({408, 425, 429})
_PAUSE_STATUS: Final = frozenset({401, 403, 404})
_ingest_decoder: Final = msgspec.json.Decoder(IngestResponse)
_whoami_decoder: Final = msgspec.json.Decoder(WhoAmI)


class PayloadTooLarge(RemoteRejected):
    """413: the batch (or single event) is larger than the server accepts."""


class BatchInvalid(RemoteRejected):
    """400/422 without per-item results: the server refused the batch as a whole."""


class RemotePaused(RemoteRejected):
    """Retrying cannot help (bad key, wrong URL, ...): pause the remote and tell the user."""


def user_agent() -> str:
    """`devlog/<version>`."""
    try:
        version = metadata.version("devlog")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"devlog/{version}"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP-date), clamped to [0, 1 h]."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = datetime.now(UTC).timestamp() if now is None else now
        seconds = when.timestamp() - current
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, initial * 2**n)).

    `Retry-After` from the server is honoured as max(backoff, Retry-After). The schedule is
    injectable (`initial`, `cap`, `rng`) so tests can run it in milliseconds and observe it.
    """

    def __init__(
        self,
        initial: float = 1.0,
        cap: float = 300.0,
        multiplier: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        self.initial = initial
        self.cap = cap
        self.multiplier = multiplier
        self.rng = rng or random.Random()
        self.attempt = 0
        self.history: list[float] = []

    def ceiling(self, attempt: int | None = None) -> float:
        """The upper bound of the jitter window for `attempt` (default: the next one)."""
        n = self.attempt if attempt is None else attempt
        return float(min(self.cap, self.initial * self.multiplier ** min(n, 64)))

    def next_delay(self, retry_after: float | None = None) -> float:
        """The delay before the next retry; advances the schedule."""
        delay = self.rng.uniform(0.0, self.ceiling())
        self.attempt += 1
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER_S))
        self.history.append(delay)
        return delay

    def reset(self) -> None:
        """A request succeeded: start again from `initial`."""
        self.attempt = 0


def _reason(response: httpx.Response) -> str:
    """A short, single-line description of an error response (never echoes request data)."""
    detail = ""
    content_type = response.headers.get("content-type", "")
    if "json" in content_type:
        try:
            body = msgspec.json.decode(response.content[:4096])
        except msgspec.DecodeError:
            body = None
        if isinstance(body, dict):
            detail = str(body.get("detail") or body.get("title") or body.get("message") or "")
    return f"HTTP {response.status_code} {response.reason_phrase}" + (f": {detail[:300]}" if detail else "")


class RemoteClient:
    """The HTTP side of one remote (thread-confined: one per worker)."""

    def __init__(
        self,
        name: str,
        remote: RemoteConfig,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.remote = remote
        timeout = remote.timeout.total_seconds()
        headers = {"User-Agent": user_agent(), "Accept": "application/json"}
        if remote.api_key:
            headers["Authorization"] = f"Bearer {remote.api_key}"
        self._http = httpx.Client(
            base_url=remote.url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=2, max_keepalive_connections=1),
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.TimeoutException as exc:
            raise RemoteUnavailable(f"timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise RemoteUnavailable(f"{type(exc).__name__}: {exc}"[:500]) from None

    def _raise_for(self, response: httpx.Response) -> None:
        status = response.status_code
        reason = _reason(response)
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if status in (501, 505):  # "not implemented": retrying never helps; this is no devlog server
            raise RemotePaused(f"{reason} (no devlog ingest API at this URL)", status_code=status)
        if status in _TRANSIENT_STATUS or status >= 500:
            raise RemoteUnavailable(reason, status_code=status, retry_after=retry_after)
        if status == 413:
            raise PayloadTooLarge(reason, status_code=status)
        if status in (400, 422):
            raise BatchInvalid(reason, status_code=status)
        if status in _PAUSE_STATUS:
            hint = {
                401: "the API key is missing, wrong or revoked"
                if self.remote.api_key
                else "this remote has no API key: set its api_key (is the ${VAR} it names set where devlog runs?)",
                403: "the API key may not do this",
                404: "no devlog ingest API at this URL",
            }[status]
            raise RemotePaused(f"{reason} ({hint})", status_code=status)
        if 300 <= status < 400:
            location = response.headers.get("location", "?")
            raise RemotePaused(f"{reason}: redirected to {location} (set the remote's url to it)", status_code=status)
        raise RemotePaused(reason, status_code=status)

    def post_events(self, body: bytes, *, gzipped: bool, idempotency_key: str, count: int) -> IngestResponse:
        """POST one batch; returns the per-item results or raises an `ExportError` subclass (see module doc)."""
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        response = self._request("POST", EVENTS_PATH, content=body, headers=headers)
        status = response.status_code
        if 200 <= status < 300 or status == 422:
            try:
                result = _ingest_decoder.decode(response.content)
            except msgspec.DecodeError:
                if status == 422:
                    raise BatchInvalid(_reason(response), status_code=status) from None
                raise RemotePaused(
                    f"HTTP {status} without a devlog ingest response (is {self.remote.url} a devlog server?)",
                    status_code=status,
                ) from None
            if len(result.results) != count:
                raise RemotePaused(
                    f"the server answered {len(result.results)} results for {count} events (incompatible server?)",
                    status_code=status,
                )
            return result
        self._raise_for(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def whoami(self) -> WhoAmI:
        """`GET /api/v1/whoami`: the key's identity and the server's limits (raises like `post_events`)."""
        response = self._request("GET", WHOAMI_PATH)
        if response.status_code != 200:
            self._raise_for(response)
        try:
            return _whoami_decoder.decode(response.content)
        except msgspec.DecodeError:
            raise RemotePaused(f"{WHOAMI_PATH} did not answer a devlog whoami (is this a devlog server?)") from None


def is_transient(error: ExportError) -> bool:
    """Whether retrying the same request later may succeed."""
    return isinstance(error, RemoteUnavailable)
