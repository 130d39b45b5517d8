"""`devlog-server serve` as a real process on loopback: migrate on start, bootstrap keys, JSON logs
without secrets or event text, graceful shutdown that finishes an in-flight batch, TLS, and the
security-relevant uvicorn options."""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devlog_server.db.migrate import upgrade_sync
from devlog_server.runner import is_loopback, startup_warnings, uvicorn_options
from devlog_server.settings import ServerSettings
from tests.server.conftest import batch, encode, event
from tests.server.processes import start_serve

TOKEN = "serve-test-secret-token-42"
SECRET_TEXT = "do-not-log-this-prompt-text"
#: A graceful stop exits 0 (uvicorn raises the signal it handled again; `run_server` handles that one).
_CLEAN_EXIT = (0,)


def _start(
    tmp_path: Path, *args: str, scheme: str = "http", verify: Any = True
) -> tuple[subprocess.Popen[bytes], str, Path]:
    env = {
        **os.environ,
        "DEVLOG_SERVER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        "DEVLOG_SERVER_BOOTSTRAP_KEYS": f"team:{TOKEN}",
        "DEVLOG_SERVER_SHUTDOWN_TIMEOUT_SECONDS": "20",
    }
    return start_serve(tmp_path, env, *args, scheme=scheme, verify=verify)


@pytest.fixture
def stop() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_serve_migrates_bootstraps_ingests_and_logs_json_without_secrets(tmp_path: Path, stop: list[Any]) -> None:
    process, url, log = _start(tmp_path)
    stop.append(process)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = httpx.post(url + "/api/v1/events", json=batch([event(1, text=SECRET_TEXT)]), headers=headers)
    assert response.status_code == 200 and response.json()["created"] == 1
    assert httpx.get(url + "/api/v1/events", headers=headers).json()["events"][0]["text"] == SECRET_TEXT
    assert httpx.get(url + "/schema/openapi.json").json()["info"]["title"] == "devlog ingest server"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) in _CLEAN_EXIT
    assert "Application shutdown complete" in log.read_text()
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON
    events = {r.get("event") for r in records}
    assert {"bootstrap_key_created", "server_started", "batch_ingested"} <= events
    # Only uvicorn, once it has bound the address, says the server listens.
    order = [str(r.get("event")) for r in records]
    assert "server_listening" not in events and "server_starting" in events
    bound = next(i for i, e in enumerate(order) if e.startswith("Uvicorn running on http://127.0.0.1:"))
    assert order.index("server_starting") < bound
    text = log.read_text()
    assert TOKEN not in text and SECRET_TEXT not in text


def test_serve_no_migrate_serves_a_database_that_is_migrated(tmp_path: Path, stop: list[Any]) -> None:
    upgrade_sync(f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}")
    process, url, _ = _start(tmp_path, "--no-migrate")
    stop.append(process)
    response = httpx.get(url + "/api/v1/whoami", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and response.json()["key_name"] == "team"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_the_server_gracefully_with_status_0(tmp_path: Path, stop: list[Any], workers: str) -> None:
    process, _, log = _start(tmp_path, "--workers", workers)
    stop.append(process)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) in _CLEAN_EXIT
    assert "Traceback" not in log.read_text()


def test_workers_log_json_lines_like_the_single_process_server(tmp_path: Path, stop: list[Any]) -> None:
    process, url, log = _start(tmp_path, "--workers", "2")
    stop.append(process)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = httpx.post(url + "/api/v1/events", json=batch([event(1, text=SECRET_TEXT)]), headers=headers)
    assert response.status_code == 200
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) in _CLEAN_EXIT
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = []
    for line in lines:
        assert line.startswith("{"), f"not a JSON line: {line!r}"
        records.append(json.loads(line))
    events = [r.get("event") for r in records]
    assert events.count("server_started") == 2  # one per worker process
    assert "batch_ingested" in events and "Started server process [" in " ".join(str(e) for e in events)
    assert TOKEN not in log.read_text() and SECRET_TEXT not in log.read_text()


@pytest.mark.parametrize("args", [(), ("--workers", "2")], ids=["single", "workers"])
def test_no_access_log_lines_and_no_query_strings_on_stderr(
    tmp_path: Path, stop: list[Any], args: tuple[str, ...]
) -> None:
    process, url, log = _start(tmp_path, *args)
    stop.append(process)
    query = "period=all&q=alert-prompt-search-words"
    assert httpx.get(f"{url}/dashboard/sessions?{query}").status_code in (200, 303)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(f"{url}/api/v1/events?workspace=/srv/secret-project", headers=headers).status_code == 200
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    text = log.read_text()
    assert "Application startup complete" in text  # uvicorn's own lines still arrive
    assert "uvicorn.access" not in text and "HTTP/1.1" not in text
    assert "alert-prompt-search-words" not in text and "secret-project" not in text


def test_graceful_shutdown_finishes_the_in_flight_batch(tmp_path: Path, stop: list[Any]) -> None:
    process, url, _ = _start(tmp_path)
    stop.append(process)
    body = encode(batch([event(n, text="t" * 200) for n in range(500)]))
    half = len(body) // 2
    resume = threading.Event()

    def chunks() -> Iterator[bytes]:
        yield body[:half]
        resume.wait(timeout=30)
        yield body[half:]

    result: dict[str, Any] = {}

    def send() -> None:
        headers = {
            "Authorization": f"Bearer {TOKEN}",
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
        }
        result["response"] = httpx.post(url + "/api/v1/events", content=chunks(), headers=headers, timeout=60)

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(1.0)  # the request's headers and first half are with the server
    process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert process.poll() is None  # still running: it waits for the in-flight request
    resume.set()
    sender.join(timeout=60)
    assert result["response"].status_code == 200
    assert result["response"].json()["created"] == 500
    assert process.wait(timeout=30) in _CLEAN_EXIT


def _certificate(folder: Path, name: str, *extra: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (`extra`: more `openssl req` options)."""
    cert, key = folder / f"{name}-cert.pem", folder / f"{name}-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert), *extra],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a test certificate")
def test_serve_tls(tmp_path: Path, stop: list[Any]) -> None:
    cert, key = _certificate(tmp_path, "server", "-nodes")
    trust = ssl.create_default_context(cafile=str(cert))
    process, url, _ = _start(tmp_path, "--certfile", str(cert), "--keyfile", str(key), scheme="https", verify=trust)
    stop.append(process)
    response = httpx.get(url + "/api/v1/whoami", headers={"Authorization": f"Bearer {TOKEN}"}, verify=trust)
    assert response.status_code == 200 and response.json()["key_name"] == "team"
    with pytest.raises(httpx.HTTPError):
        httpx.get(url.replace("https", "http") + "/healthz", timeout=5)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a test certificate")
def test_serve_names_tls_files_it_cannot_use_in_one_line(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path, "server", "-nodes")
    other_cert, _ = _certificate(tmp_path, "other", "-nodes")
    locked_cert, locked_key = _certificate(tmp_path, "locked", "-passout", "pass:a-passphrase")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    cases = {
        (junk, key): f"certfile {junk} holds no PEM certificate",
        (cert, cert): f"keyfile {cert} holds no PEM private key",
        (other_cert, key): f"keyfile {key} is not the private key of certfile {other_cert}",
        (locked_cert, locked_key): f"the TLS key {locked_key} is encrypted",
    }
    env = {**os.environ, "DEVLOG_SERVER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'tls.db'}"}
    for (certfile, keyfile), expected in cases.items():
        for how in ("options", "environment"):
            args, run_env = ["--certfile", str(certfile), "--keyfile", str(keyfile)], env
            if how == "environment":  # (these skip click's own check that the files exist)
                args = []
                run_env = {**env, "DEVLOG_SERVER_CERTFILE": str(certfile), "DEVLOG_SERVER_KEYFILE": str(keyfile)}
            done = subprocess.run(
                [sys.executable, "-m", "devlog_server", "serve", "--port", "0", *args],
                env=run_env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert done.returncode == 2, (how, done.stderr)
            assert "Traceback" not in done.stderr
            assert done.stderr.startswith(f"error: invalid DEVLOG_SERVER_* settings: {expected}"), done.stderr
    missing = {**env, "DEVLOG_SERVER_CERTFILE": str(tmp_path / "nope.pem"), "DEVLOG_SERVER_KEYFILE": str(key)}
    done = subprocess.run([sys.executable, "-m", "devlog_server", "serve", "--port", "0"], env=missing,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and "No such file or directory" in done.stderr and "nope.pem" in done.stderr


def test_uvicorn_options_trust_forwarded_headers_only_from_configured_proxies() -> None:
    plain = uvicorn_options(ServerSettings())
    assert plain["proxy_headers"] is False and plain["forwarded_allow_ips"] is None
    assert plain["access_log"] is False and plain["factory"] is True
    proxied = uvicorn_options(ServerSettings(trusted_proxies="10.0.0.5, 192.168.0.0/24"))
    assert proxied["proxy_headers"] is True
    assert proxied["forwarded_allow_ips"] == "10.0.0.5,192.168.0.0/24"
    with pytest.raises(ValueError):
        ServerSettings(trusted_proxies="not-an-address")


def test_startup_warnings() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("example.org")
    public = startup_warnings(ServerSettings(host="0.0.0.0"))
    assert any("plain HTTP on 0.0.0.0" in w for w in public)
    assert not any("plain HTTP" in w for w in startup_warnings(ServerSettings(host="127.0.0.1", key_pepper="p")))
    assert startup_warnings(ServerSettings(host="127.0.0.1", key_pepper="p")) == []
    with pytest.raises(ValueError):
        ServerSettings(certfile="/x/cert.pem")
