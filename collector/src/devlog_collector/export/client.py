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
  response: retrying cannot help, so the remote is paused with the reason and nothing is dropped. So
  is a 400 naming a query parameter of the remote's url (a devlog server refuses parameters its
  endpoints do not take): that is no fault of the batch, and splitting it would dead-letter every event.

One `httpx.Client` per remote keeps connections alive across batches. Request URLs are the remote's
url with the API path appended to its *path*, keeping its query (`https://host/base?access_token=t`
gets `https://host/base/api/v1/events?access_token=t`): httpx's `base_url` would append it after
the query string, so every request would miss the API.
"""

from __future__ import annotations

import email.utils
import random
from datetime import UTC, datetime
from importlib import metadata
from typing import Final

import httpx
import msgspec

from devlog_collector.config import RemoteConfig, mask_url
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
    "api_url",
    "parse_retry_after",
    "redirect_hint",
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


def _origin(url: httpx.URL) -> str:
    """`scheme://host:port` of `url`: what a failure to connect is about, without a password or query."""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}"


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


def _missing_key_hint(api_key: str | None) -> str:
    """What to do about a 401, by what the remote's config holds as its key."""
    if api_key:
        return "the API key is missing, wrong or revoked"
    if api_key is None:  # no `api_key` in its config at all
        return "this remote has no api_key: add one, e.g. `devlog remote edit NAME --api-key-env VAR`"
    return "this remote's api_key is empty: is the ${VAR} it names set where devlog runs?"


def api_url(base: str, api_path: str) -> httpx.URL:
    """`api_path` appended to the path of the remote url `base`, its query kept (see the module docstring)."""
    url = httpx.URL(base)
    return url.copy_with(path=url.path.rstrip("/") + api_path)


def redirect_hint(response: httpx.Response) -> str:
    """The remote url to set after a redirect: the `Location` (resolved against the request) with the
    API path it was redirected to removed, query kept, credentials masked. The full API URL would be
    wrong advice: devlog appends the API path to the remote url, so it would be doubled."""
    location = response.headers.get("location")
    if not location:
        return "?"
    try:
        target = response.request.url.join(location)
    except (httpx.InvalidURL, RuntimeError):
        return mask_url(location)
    path = target.path.rstrip("/")
    for api_path in (EVENTS_PATH, WHOAMI_PATH):
        if path.endswith(api_path):
            target = target.copy_with(path=path.removesuffix(api_path) or "/")
            break
    text = str(target)
    if target.path == "/" and not target.query:
        text = text.rstrip("/")  # the spelling `remote add` and config validation keep
    return mask_url(text)


def _error_body(response: httpx.Response) -> dict[str, object]:
    """The JSON object of an error response (a problem document), or {}."""
    if "json" not in response.headers.get("content-type", ""):
        return {}
    try:
        body = msgspec.json.decode(response.content[:4096])
    except msgspec.DecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def _refused_url_parameter(response: httpx.Response) -> str | None:
    """The query parameter of the request's url (the remote's own, as devlog adds none) that a 400
    problem names (`"parameter": "tenant"`), or None."""
    parameter = _error_body(response).get("parameter")
    if isinstance(parameter, str) and parameter in response.request.url.params:
        return parameter
    return None


def _reason(response: httpx.Response) -> str:
    """A short, single-line description of an error response (never echoes request data)."""
    body = _error_body(response)
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
        self._events_url = api_url(remote.url, EVENTS_PATH)
        self._whoami_url = api_url(remote.url, WHOAMI_PATH)
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=2, max_keepalive_connections=1),
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _request(self, method: str, url: httpx.URL, **kwargs: object) -> httpx.Response:
        try:
            return self._http.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.TimeoutException as exc:
            raise RemoteUnavailable(f"{_origin(url)} timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise RemoteUnavailable(f"cannot reach {_origin(url)}: {type(exc).__name__}: {exc}"[:500]) from None

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
        if status == 400 and (parameter := _refused_url_parameter(response)) is not None:
            hint = f"{parameter!r} comes from this remote's url, and the server does not take it: remove it there"
            raise RemotePaused(f"{reason} ({hint})", status_code=status)
        if status in (400, 422):
            raise BatchInvalid(reason, status_code=status)
        if status in _PAUSE_STATUS:
            hint = {
                401: _missing_key_hint(self.remote.api_key),
                403: "the API key may not do this",
                404: "no devlog ingest API at this URL",
            }[status]
            if status == 401 and "revoked" in reason:  # the server said which: a hint would only repeat it
                hint = "ask the server's admin for a new key, then set it where devlog runs"
            raise RemotePaused(f"{reason} ({hint})", status_code=status)
        if 300 <= status < 400:
            raise RemotePaused(
                f"{reason}: redirected to {redirect_hint(response)} (set the remote's url to it)", status_code=status
            )
        raise RemotePaused(reason, status_code=status)

    def post_events(self, body: bytes, *, gzipped: bool, idempotency_key: str, count: int) -> IngestResponse:
        """POST one batch; returns the per-item results or raises an `ExportError` subclass (see module doc)."""
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        response = self._request("POST", self._events_url, content=body, headers=headers)
        status = response.status_code
        if 200 <= status < 300 or status == 422:
            try:
                result = _ingest_decoder.decode(response.content)
            except msgspec.DecodeError:
                if status == 422:
                    raise BatchInvalid(_reason(response), status_code=status) from None
                shown = mask_url(self.remote.url)
                raise RemotePaused(
                    f"HTTP {status} without a devlog ingest response (is {shown} a devlog server?)",
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
        response = self._request("GET", self._whoami_url)
        if response.status_code != 200:
            self._raise_for(response)
        try:
            return _whoami_decoder.decode(response.content)
        except msgspec.DecodeError:
            raise RemotePaused(f"{WHOAMI_PATH} did not answer a devlog whoami (is this a devlog server?)") from None


def is_transient(error: ExportError) -> bool:
    """Whether retrying the same request later may succeed."""
    return isinstance(error, RemoteUnavailable)
