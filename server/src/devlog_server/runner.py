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
"""

from __future__ import annotations

import ipaddress
from typing import Any

import structlog
import uvicorn
from litestar import Litestar

from devlog_server.log import configure_logging
from devlog_server.settings import ServerSettings

__all__ = ["is_loopback", "run_server", "uvicorn_options", "worker_app"]

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
    """Security warnings for this configuration (logged at start-up)."""
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
    return warnings


def worker_app() -> Litestar:
    """The uvicorn app factory: configures logging in this (possibly fresh worker) process, then builds the app."""
    from devlog_server.app import create_app

    settings = ServerSettings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)


def run_server(settings: ServerSettings) -> None:
    """Serve `worker_app` (one app per worker process) with uvicorn until SIGTERM/SIGINT."""
    for warning in startup_warnings(settings):
        _log.warning("insecure_configuration", detail=warning)
    scheme = "https" if settings.certfile else "http"
    _log.info("server_listening", url=f"{scheme}://{settings.host}:{settings.port}", workers=settings.workers)
    uvicorn.run("devlog_server.runner:worker_app", **uvicorn_options(settings))
