"""Running the app under uvicorn: TLS, trusted proxies, workers, graceful shutdown, start-up checks.

* TLS: with `certfile` + `keyfile` the server speaks HTTPS itself.
* Proxies: `X-Forwarded-For/-Proto` are honoured only from `trusted_proxies` (addresses or networks);
  with none configured they are ignored entirely (uvicorn's default would trust 127.0.0.1).
* Plain HTTP on a non-loopback address is allowed (a TLS-terminating proxy on a private network is a
  normal deployment) but logged as a warning at start-up.
* Shutdown: on SIGTERM/SIGINT uvicorn stops accepting connections and lets in-flight requests finish
  for up to `shutdown_timeout_seconds`; a batch is one transaction, so an interrupted one is rolled
  back whole and the collector's retry stores it.
* Logging: uvicorn builds the app in each worker process through `worker_app`, which configures
  logging first; with `--workers N` the workers are fresh processes that inherit nothing from the
  CLI's `configure_logging`, and would otherwise log in structlog's default console format.
* The address: `reserve_port` binds it before anything else happens, so a port in use is one line
  (`port 8000 on 0.0.0.0 is already in use`) and exit status 2, not a started app (bootstrap keys
  created, `server_started` logged) that uvicorn then fails to bind. The reserved socket is closed
  just before uvicorn binds the same address; uvicorn's "Uvicorn running on …" line, once it has
  bound, is the one that says the server listens (`server_starting` only says what is about to).
"""

from __future__ import annotations

import errno
import ipaddress
import signal
import socket
from typing import Any

import structlog
import uvicorn
from litestar import Litestar

from devlog_server.errors import UserInputError
from devlog_server.log import configure_logging
from devlog_server.settings import ServerSettings

__all__ = ["is_loopback", "reserve_port", "run_server", "uvicorn_options", "worker_app"]

_log = structlog.get_logger("devlog_server.runner")


def is_loopback(host: str) -> bool:
    """Whether binding `host` exposes the server only to this machine."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def uvicorn_options(settings: ServerSettings) -> dict[str, Any]:
    """The uvicorn keyword arguments for `settings` (the app comes from the factory, per worker)."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "factory": True,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": settings.shutdown_timeout_seconds,
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": ",".join(settings.trusted_proxies) if settings.trusted_proxies else None,
    }
    if settings.certfile is not None and settings.keyfile is not None:
        options["ssl_certfile"] = str(settings.certfile)
        options["ssl_keyfile"] = str(settings.keyfile)
    return options


def startup_warnings(settings: ServerSettings) -> list[str]:
    """Warnings about this configuration (logged at start-up): security, and limits that contradict."""
    warnings = []
    if settings.certfile is None and not is_loopback(settings.host):
        warnings.append(
            f"serving plain HTTP on {settings.host}: API keys and events cross the network unencrypted unless a "
            "TLS-terminating proxy sits in front (set DEVLOG_SERVER_CERTFILE/KEYFILE to serve HTTPS)"
        )
    if settings.key_pepper is None:
        warnings.append("DEVLOG_SERVER_KEY_PEPPER is not set: key hashes are salted but not peppered")
    if "*" in settings.trusted_proxies:
        warnings.append("DEVLOG_SERVER_TRUSTED_PROXIES=*: forwarded headers are trusted from any client")
    if settings.max_body_bytes < settings.max_event_bytes:
        warnings.append(
            f"DEVLOG_SERVER_MAX_BODY_BYTES ({settings.max_body_bytes}) is below DEVLOG_SERVER_MAX_EVENT_BYTES "
            f"({settings.max_event_bytes}): collectors cut event text to fit the body limit, so the event limit "
            "never applies; lower it to match, or raise the body limit"
        )
    return warnings


def worker_app() -> Litestar:
    """The uvicorn app factory: configures logging in this (possibly fresh worker) process, then builds the app."""
    from devlog_server.app import create_app

    settings = ServerSettings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)


def reserve_port(settings: ServerSettings) -> socket.socket:
    """The server's address, bound (not listening) as uvicorn binds it; UserInputError when it cannot be.

    Bound with SO_REUSEADDR, like uvicorn's own socket, so uvicorn can bind the address again while
    this one is still open, and a port left in TIME_WAIT by a previous run is no false alarm.
    """
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        raise UserInputError(_bind_problem(settings.host, settings.port, exc)) from exc
    return sock


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    """One line saying why `host`:`port` cannot be listened on, and which setting to change."""
    if isinstance(exc, socket.gaierror):
        return f"cannot listen on {host}: unknown host name (--host or DEVLOG_SERVER_HOST)"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use (is another devlog-server running?): stop what "
            "listens there or choose another port (--port or DEVLOG_SERVER_PORT)"
        )
    if exc.errno == errno.EACCES:
        return (
            f"not allowed to listen on port {port} on {host} (ports below 1024 need privileges): "
            "choose another port (--port or DEVLOG_SERVER_PORT)"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {host}: not an address of this machine (--host or DEVLOG_SERVER_HOST)"
    return f"cannot listen on port {port} on {host}: {exc.strerror or exc}"


def run_server(settings: ServerSettings, reserved: socket.socket | None = None) -> None:
    """Serve `worker_app` (one app per worker process) with uvicorn until SIGTERM/SIGINT.

    Args:
        settings: The server's settings.
        reserved: The socket `reserve_port` bound for this address; closed as uvicorn takes over.
    """
    for warning in startup_warnings(settings):
        _log.warning("insecure_configuration", detail=warning)
    scheme = "https" if settings.certfile else "http"
    _log.info("server_starting", url=f"{scheme}://{settings.host}:{settings.port}", workers=settings.workers)
    if reserved is not None:
        reserved.close()
    # uvicorn handles SIGTERM/SIGINT itself while it runs; a single process then raises the signal
    # again under the handlers it found, which would end it as killed by the signal (status -15) or
    # with a KeyboardInterrupt. Found these, it stops with status 0, as the worker supervisor does.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _stopped_gracefully)
    uvicorn.run("devlog_server.runner:worker_app", **uvicorn_options(settings))


def _stopped_gracefully(signum: int, frame: Any) -> None:
    raise SystemExit(0)
