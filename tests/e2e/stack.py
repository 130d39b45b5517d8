"""The end-to-end suites' toolkit: real servers and a real collector as processes, and the oracle.

Both e2e suites (processes on loopback here, `tests/docker/` for the compose stack) check the same
thing: each ingest server holds exactly the events its routing rules select from the collector's
local store — compared per workspace and by event id — after a first sync, after a remote is added
later (backfill), and after a server outage. The expected routing of the demo workspaces is written
out by hand below (`ROUTES`), independently of the exporter's glob code.

Every wait is bounded and fails with the evidence (what the servers hold, what the store holds, the
collector's log tail) rather than a bare timeout.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

DEMO_SEED = 7
#: Routing rules of the demo (the same as docker/collector-config.yaml).
RULES: dict[str, dict[str, list[str]]] = {
    "team": {"include": ["~/work/**", "~/company/**"], "exclude": ["**/personal/**"]},
    "personal": {"include": ["~/personal/**", "~/side-projects/**"]},
    "third": {"include": ["~/company/**", "~/scratch/**"]},
}
#: What those rules select among the demo workspaces (relative to the home folder), by hand.
ROUTES: dict[str, frozenset[str]] = {
    "team": frozenset({"work/acme-api", "company/billing"}),
    "personal": frozenset({"personal/blog", "side-projects/game"}),
    "third": frozenset({"company/billing", "company/billing/personal/notes", "scratch/tmp"}),
}
KEYS = {"team": "e2e-team-key", "personal": "e2e-personal-key", "third": "e2e-third-key"}


class WaitTimeout(AssertionError):
    """A bounded wait ran out; the message carries the evidence."""


def wait_for(
    probe: Callable[[], T | None], *, timeout: float, what: str, evidence: Callable[[], str], interval: float = 0.5
) -> T:
    """Call `probe` until it returns something other than None/False, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = probe()
            if value is not None and value is not False:
                return value
        except (httpx.HTTPError, sqlite3.Error) as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f"\nlast error: {last_error!r}" if last_error else ""
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}{detail}\n{evidence()}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- the servers' read API -------------------------------------------------------------------------


class ReadApi:
    """`GET /api/v1/stats` and `/api/v1/events` of one ingest server, with a read-scoped key."""

    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10.0, trust_env=False
        )

    def close(self) -> None:
        self.client.close()

    def ready(self) -> bool:
        try:
            return self.client.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def counts_by_workspace(self) -> dict[str, int]:
        """Event counts per workspace (events without a workspace under the key "")."""
        response = self.client.get("/api/v1/stats", params={"by": "workspace", "limit": 10000})
        response.raise_for_status()
        return {group["key"] or "": int(group["events"]) for group in response.json()["groups"]}

    def event_ids(self) -> list[str]:
        """Every stored event id (all pages), in the server's order; duplicates would show up twice."""
        ids: list[str] = []
        cursor: str | None = None
        for _ in range(10_000):
            params: dict[str, Any] = {"limit": 1000, "order": "asc"}
            if cursor:
                params["cursor"] = cursor
            response = self.client.get("/api/v1/events", params=params)
            response.raise_for_status()
            page = response.json()
            ids.extend(event["id"] for event in page["events"])
            cursor = page.get("next_cursor")
            if not cursor:
                return ids
        raise AssertionError("more than 10,000 pages of events: pagination does not end")


# -- the collector's local store -------------------------------------------------------------------


def local_counts(db_path: Path) -> dict[str, int]:
    """Events per workspace in the collector's store ("" for none); empty if the store is not there yet."""
    if not db_path.exists():
        return {}
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)) as db:
        rows = db.execute("SELECT coalesce(workspace, ''), count(*) FROM events GROUP BY 1").fetchall()
    return dict(rows)


def local_ids(db_path: Path, workspaces: set[str]) -> set[str]:
    """Ids of the stored events whose workspace is one of `workspaces`."""
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)) as db:
        rows = db.execute("SELECT id, workspace FROM events").fetchall()
    return {event_id for event_id, workspace in rows if workspace in workspaces}


def local_agents_by_workspace(db_path: Path) -> dict[str, set[str]]:
    """Which agents produced events in each workspace."""
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)) as db:
        rows = db.execute("SELECT DISTINCT coalesce(workspace, ''), agent FROM events").fetchall()
    result: dict[str, set[str]] = {}
    for workspace, agent in rows:
        result.setdefault(workspace, set()).add(agent)
    return result


def routed_workspaces(home: str, remote: str) -> set[str]:
    """Absolute demo workspaces that `remote` must receive."""
    return {f"{home}/{rel}" for rel in ROUTES[remote]}


def expected_counts(local: Mapping[str, int], home: str, remote: str) -> dict[str, int]:
    """What `remote` must hold, per workspace, given the local store's counts."""
    wanted = routed_workspaces(home, remote)
    return {workspace: count for workspace, count in local.items() if workspace in wanted and count}


def describe(local: Mapping[str, int], servers: Mapping[str, Mapping[str, int] | str]) -> str:
    """Side-by-side evidence for a failed wait."""
    lines = ["local store (events per workspace):"]
    lines += [f"  {w or '(none)'}: {c}" for w, c in sorted(local.items())]
    for name, counts in servers.items():
        lines.append(f"server {name}:")
        if isinstance(counts, str):
            lines.append(f"  {counts}")
        else:
            lines += [f"  {w or '(none)'}: {c}" for w, c in sorted(counts.items())] or ["  (empty)"]
    return "\n".join(lines)


# -- processes (the loopback suite) ----------------------------------------------------------------


def _bin(name: str) -> str:
    """An executable of this venv (the console scripts sit next to the interpreter)."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


@dataclass
class ServerProcess:
    """`devlog-server serve` (which migrates first) on 127.0.0.1, on its own database."""

    name: str
    database_url: str
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"server-{self.name}.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEVLOG_SERVER_")}
        env["DEVLOG_SERVER_DATABASE_URL"] = self.database_url
        env["DEVLOG_SERVER_BOOTSTRAP_KEYS"] = f"e2e:{KEYS[self.name]}"
        return env

    def start(self, *, timeout: float = 90.0) -> None:
        """Start serving (`serve` applies the migrations first) and wait until `/readyz` answers 200."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [_bin("devlog-server"), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        api = ReadApi(self.url, KEYS[self.name])
        try:
            wait_for(
                lambda: self._alive() and api.ready(),
                timeout=timeout,
                what=f"server {self.name} to be ready on {self.url}",
                evidence=self.log_tail,
            )
        finally:
            api.close()

    def _alive(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"server {self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
        return True

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return f"--- {self.log_path} ---\n" + self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return f"(no log at {self.log_path})"


@dataclass
class CollectorProcess:
    """`python -m devlog_collector -v start` with its own HOME and DEVLOG_HOME."""

    home: Path
    devlog_home: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.devlog_home.parent / "collector.log"

    @property
    def db_path(self) -> Path:
        return self.devlog_home / "data" / "events.db"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEVLOG_") or k == "DEVLOG_TEST_PG_URL"}
        for name in ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "GEMINI_DIR", "GEMINI_CLI_HOME", "XDG_CONFIG_HOME"):
            env.pop(name, None)
        env.update(HOME=str(self.home), DEVLOG_HOME=str(self.devlog_home), TZ="UTC")
        env.update(extra or {})
        return env

    def run(self, *args: str, timeout: float = 120.0, extra_env: Mapping[str, str] | None = None) -> str:
        """Run one `devlog` command to completion; returns stdout, fails the test on a non-zero exit."""
        done = subprocess.run(
            [sys.executable, "-m", "devlog_collector", *args],
            env=self.env(extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"devlog {' '.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}"
        return done.stdout

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devlog_collector", "-v", "start"],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def alive(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"devlog start exited with {self.process.returncode}:\n{self.log_tail()}")
        return True

    def stop(self) -> int | None:
        """SIGTERM, then wait (bounded); returns the exit code."""
        if self.process is None:
            return None
        self.process.terminate()
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError(f"devlog start did not stop within 30s of SIGTERM:\n{self.log_tail()}") from None
        self.process = None
        return code

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return f"--- {self.log_path} ---\n" + self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return f"(no log at {self.log_path})"


def collector_config(roots: Mapping[str, list[Path]], remotes: Mapping[str, str], *, interval: str = "1s") -> str:
    """A config.yaml: the demo roots, and each named remote (url) with the demo's rules and auto-sync."""
    lines = ["collect:", "  poll_interval: 0.5s", "  roots:"]
    for agent, paths in roots.items():
        lines.append(f"    {agent}: [{', '.join(repr(str(p)) for p in paths)}]")
    lines += ["export:", "  remotes:"]
    for name, url in remotes.items():
        lines += [
            f"    {name}:",
            f"      url: {url}",
            f"      api_key: {KEYS[name]}",
            "      auto_sync: true",
            f"      sync_interval: {interval}",
            "      content: full",
            "      workspaces:",
            f"        include: {RULES[name]['include']!r}",
        ]
        if RULES[name].get("exclude"):
            lines.append(f"        exclude: {RULES[name]['exclude']!r}")
    return "\n".join(lines) + "\n"
