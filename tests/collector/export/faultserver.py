"""A small devlog ingest server on loopback that can misbehave on purpose.

It speaks the wire contract (`POST /api/v1/events`, `GET /api/v1/whoami`), stores events idempotently
by id (so duplicates at the "server" are observable exactly), and takes a script of faults, one per
request: refuse is done by not listening; the others are `status` (any code, optional headers/body),
`hang` (sleep past the client's timeout), `reset` (read part of the body, then RST the connection),
`lose_response` (store the batch, then drop the connection before answering) and `ok`.

Routes are matched on the request's path alone, below `base_path` (a remote url such as
`http://host/base?access_token=t`); `requests` records each path with its query string as received.
"""

from __future__ import annotations

import gzip
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec

from devlog_shared.codec import decode_batch_envelope, decode_event, encode
from devlog_shared.errors import InvalidEvent
from devlog_shared.wire import IngestResponse, ItemResult, ServerLimits, WhoAmI


@dataclass
class Fault:
    kind: str  # ok | status | hang | reset | lose_response
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0


@dataclass
class RequestLog:
    at: float
    path: str
    status: int | str
    count: int
    headers: dict[str, str]


class FaultServer:
    """Run with `with FaultServer() as srv:`; `srv.url` is its base URL."""

    def __init__(
        self,
        *,
        api_key: str = "k-test",
        max_events: int = 10_000,
        max_body_bytes: int = 64 * 1024 * 1024,
        max_event_bytes: int | None = None,
        reject: Callable[[dict[str, Any]], str | None] | None = None,
        port: int = 0,
        base_path: str = "",
    ) -> None:
        self.api_key = api_key
        self.base_path = base_path
        #: When set, `GET /api/v1/whoami` answers 302 to this Location.
        self.whoami_location: str | None = None
        self.max_events = max_events
        self.max_body_bytes = max_body_bytes
        #: What `whoami` says of one event's size (default: the body limit).
        self.max_event_bytes = max_event_bytes if max_event_bytes is not None else max_body_bytes
        #: What `/api/v1/whoami` says of the key.
        self.key_scopes = ["ingest"]
        self.key_workspaces = ["**"]
        self.reject = reject
        self.faults: list[Fault] = []
        #: Called after a successful ingest response was written (crash tests kill the client here).
        self.after_response: Callable[[], None] | None = None
        self.events: dict[str, dict[str, Any]] = {}
        self.insert_attempts = 0
        self.requests: list[RequestLog] = []
        self.lock = threading.Lock()
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def script(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def start(self) -> FaultServer:
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._port = self.port
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def post_requests(self) -> list[RequestLog]:
        return [r for r in self.requests if r.path.startswith(f"{self.base_path}/api/v1/events")]

    # -- ingest ------------------------------------------------------------------------------

    def ingest(self, body: bytes) -> IngestResponse:
        envelope = decode_batch_envelope(body)
        results = []
        created = duplicates = rejected = 0
        with self.lock:
            for index, raw in enumerate(envelope.events):
                try:
                    event = decode_event(bytes(raw))
                except InvalidEvent as exc:
                    results.append(ItemResult(index=index, status="rejected", reason=str(exc)))
                    rejected += 1
                    continue
                data = msgspec.json.decode(bytes(raw))
                reason = self.reject(data) if self.reject else None
                if reason:
                    results.append(ItemResult(index=index, id=event.id, status="rejected", reason=reason))
                    rejected += 1
                    continue
                self.insert_attempts += 1
                if event.id in self.events:
                    results.append(ItemResult(index=index, id=event.id, status="duplicate"))
                    duplicates += 1
                else:
                    self.events[event.id] = data
                    results.append(ItemResult(index=index, id=event.id, status="created"))
                    created += 1
        return IngestResponse(created=created, duplicates=duplicates, rejected=rejected, results=results)


def _make_handler(srv: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _log(self, status: int | str, count: int = 0) -> None:
            with srv.lock:
                srv.requests.append(RequestLog(time.monotonic(), self.path, status, count, dict(self.headers)))

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _next_fault(self) -> Fault:
            with srv.lock:
                return srv.faults.pop(0) if srv.faults else Fault("ok")

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {srv.api_key}":
                self._read_body()
                self._log(401)
                self._send(401, b'{"title":"Unauthorized","detail":"bad key"}')
                return False
            return True

        def _read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _route(self) -> str:
            """The request's path below the server's base path, without the query string."""
            path = urllib.parse.urlsplit(self.path).path
            return path[len(srv.base_path) :] if path.startswith(srv.base_path) else ""

        def _rst(self) -> None:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

        def do_GET(self) -> None:
            if self._route() == "/api/v1/whoami":
                if srv.whoami_location is not None:
                    self._log(302)
                    self._send(302, b"", {"Location": srv.whoami_location})
                    return
                if not self._authorised():
                    return
                who = WhoAmI(
                    key_name="test",
                    key_id="k1",
                    scopes=srv.key_scopes,
                    workspaces=srv.key_workspaces,
                    limits=ServerLimits(
                        max_events_per_batch=srv.max_events,
                        max_body_bytes=srv.max_body_bytes,
                        max_event_bytes=srv.max_event_bytes,
                    ),
                )
                self._log(200)
                self._send(200, encode(who))
                return
            self._log(404)
            self._send(404, b'{"title":"Not Found"}')

        def do_POST(self) -> None:
            if self._route() != "/api/v1/events":
                self._read_body()
                self._log(404)
                self._send(404, b'{"title":"Not Found"}')
                return
            fault = self._next_fault()
            if fault.kind == "reset":
                length = int(self.headers.get("Content-Length") or 0)
                if length > 1:
                    self.rfile.read(min(length // 2, 1024))
                self._log("reset")
                self._rst()
                return
            if not self._authorised():
                return
            body = self._read_body()
            if fault.kind == "hang":
                self._log("hang")
                time.sleep(fault.seconds)
                self.close_connection = True
                return
            if fault.kind == "status":
                self._log(fault.status)
                self._send(fault.status, fault.body or b'{"title":"injected"}', fault.headers)
                return
            if len(body) > srv.max_body_bytes:
                self._log(413)
                self._send(413, b'{"title":"Payload Too Large"}')
                return
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if len(body) > srv.max_body_bytes:
                self._log(413)
                self._send(413, b'{"title":"Payload Too Large"}')
                return
            envelope_count = body.count(b'"schema_version"') - 1
            if envelope_count > srv.max_events:
                self._log(413, envelope_count)
                self._send(413, b'{"title":"Payload Too Large","detail":"too many events"}')
                return
            response = srv.ingest(body)
            if fault.kind == "lose_response":
                self._log("lost", len(response.results))
                self._rst()
                return
            status = 422 if response.rejected else 200
            self._log(status, len(response.results))
            self._send(status, encode(response))
            self.wfile.flush()
            hook = srv.after_response
            if hook is not None:
                hook()

    return Handler


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
