"""`devlog-server serve` as a real process on a free loopback port, for the tests that need one."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

__all__ = ["free_port", "start_serve"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(
    tmp_path: Path, env: dict[str, str], *args: str, scheme: str = "http", verify: Any = True
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start `devlog-server serve ARGS` with `env`; returns (process, base URL, log file) once /readyz
    answers 200 (AssertionError, with the log, when it exits or is not ready within 60 s)."""
    port = free_port()
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "devlog_server", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"{scheme}://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()}")
        try:
            if httpx.get(url + "/readyz", timeout=1, verify=verify).status_code == 200:
                return process, url, log
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"server did not become ready: {log.read_text()}")
