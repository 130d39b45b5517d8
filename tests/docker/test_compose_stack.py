"""The compose demo, end to end: `docker compose up` -> routed events on two servers, then backfill and outage.

Runs against the real images and `docker-compose.yml` (marker `docker`, `make test-docker`; CI does not
run it). The same scenarios run without Docker in `tests/e2e/test_routing.py`:

1. with no other step than `up`, each server holds exactly the events its routing selects (per
   workspace and by id, compared with the collector's local store inside its container);
2. a third server (profile `third`) added as a remote with its own rules receives exactly its history;
3. the team server is stopped, new agent activity is written and collected, the server is started
   again: nothing lost, nothing stored twice.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.e2e.stack import (
    ReadApi,
    describe,
    expected_counts,
    routed_workspaces,
    wait_for,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

HOME = "/home/devlog"
DEMO_DIR = f"{HOME}/demo"
DB = f"{HOME}/.devlog/data/events.db"
DEMO_KEYS = {"team": "team-demo-key", "personal": "personal-demo-key", "third": "third-demo-key"}
WORKSPACES = [
    f"{HOME}/{rel}"
    for rel in (
        "work/acme-api",
        "company/billing",
        "company/billing/personal/notes",
        "personal/blog",
        "side-projects/game",
        "scratch/tmp",
    )
]
CONVERGE_TIMEOUT = 120.0
#: After an outage the exporter waits out its jittered exponential backoff (capped at 300 s).
AFTER_OUTAGE_TIMEOUT = 300.0

_STORE_QUERY = """
import json, sqlite3
db = sqlite3.connect("file:{db}?mode=ro", uri=True, timeout=5)
print(json.dumps({{
    "counts": dict(db.execute("SELECT coalesce(workspace, ''), count(*) FROM events GROUP BY 1").fetchall()),
    "ids": db.execute("SELECT id, coalesce(workspace, '') FROM events").fetchall() if {ids} else [],
    "agents": db.execute("SELECT DISTINCT coalesce(workspace, ''), agent FROM events").fetchall(),
}}))
"""


@dataclass
class ComposeStack:
    """The running compose project and the servers' read APIs on their published ports."""

    project: str
    compose_file: str
    ports: dict[str, int]
    apis: dict[str, ReadApi] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def compose(self, *args: str, timeout: float = 300.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = ["docker", "compose", "-f", self.compose_file, "-p", self.project, *args]
        # Explicit ports: tests/conftest.py clears DEVLOG_* variables around every test.
        env = {**os.environ, **{f"DEVLOG_{name.upper()}_PORT": str(port) for name, port in self.ports.items()}}
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def api(self, name: str) -> ReadApi:
        if name not in self.apis:
            self.apis[name] = ReadApi(f"http://127.0.0.1:{self.ports[name]}", DEMO_KEYS[name])
        return self.apis[name]

    def store(self, *, ids: bool = False) -> dict[str, Any]:
        """The collector's local store, read inside its container."""
        code = _STORE_QUERY.format(db=DB, ids=ids)
        done = self.compose("exec", "-T", "collector", "python", "-c", code, timeout=60, check=False)
        if done.returncode != 0:
            return {"counts": {}, "ids": [], "agents": [], "error": done.stderr[-2000:]}
        data: dict[str, Any] = json.loads(done.stdout)
        return data

    def evidence(self) -> str:
        servers: dict[str, dict[str, int] | str] = {}
        for name in self.apis:
            try:
                servers[name] = self.api(name).counts_by_workspace()
            except Exception as exc:
                servers[name] = f"unreachable: {exc!r}"
        logs = self.compose("logs", "--no-color", "--tail", "60", "collector", check=False, timeout=60).stdout
        ps = self.compose("--profile", "third", "ps", "--all", check=False, timeout=60).stdout
        return (
            describe(self.store()["counts"], servers)
            + f"\nhost ports: {self.ports}\n--- compose ps ---\n{ps}\n--- collector logs ---\n{logs[-6000:]}"
        )

    def converge(self, remotes: list[str], timeout: float = CONVERGE_TIMEOUT) -> dict[str, int]:
        """Wait until the store is stable, holds every demo workspace, and each remote holds exactly its share."""
        previous: dict[str, int] = {}

        def probe() -> dict[str, int] | None:
            nonlocal previous
            local: dict[str, int] = self.store()["counts"]
            stable, previous = local == previous, local
            if not stable or not set(WORKSPACES) <= set(local):
                return None
            for name in remotes:
                if self.api(name).counts_by_workspace() != expected_counts(local, HOME, name):
                    return None
            return local

        return wait_for(
            probe,
            timeout=timeout,
            interval=1.0,
            what=f"{', '.join(remotes)} to hold exactly their routed events",
            evidence=self.evidence,
        )

    def assert_exact_ids(self, remote: str) -> None:
        server_ids = self.api(remote).event_ids()
        assert len(server_ids) == len(set(server_ids)), f"{remote} lists some events twice"
        wanted_workspaces = routed_workspaces(HOME, remote)
        wanted = {event_id for event_id, workspace in self.store(ids=True)["ids"] if workspace in wanted_workspaces}
        missing, extra = wanted - set(server_ids), set(server_ids) - wanted
        assert not missing and not extra, f"{remote}: {len(missing)} missing, {len(extra)} unexpected event ids"

    def wait_healthy(self, service: str, timeout: float = 120.0) -> None:
        def healthy() -> bool:
            done = self.compose("ps", "--format", "json", service, check=False, timeout=60)
            return '"Health":"healthy"' in done.stdout.replace(" ", "")

        wait_for(healthy, timeout=timeout, interval=1.0, what=f"{service} to be healthy", evidence=self.evidence)


@pytest.fixture(scope="session")
def stack(
    stack_started_at: float,
    compose_ports: dict[str, int],
    docker_compose_file: str,
    docker_compose_project_name: str,
    docker_services: Any,
) -> Iterator[ComposeStack]:
    result = ComposeStack(project=docker_compose_project_name, compose_file=docker_compose_file, ports=compose_ports)
    result.timings["up_and_healthy_s"] = time.monotonic() - stack_started_at
    yield result
    for api in result.apis.values():
        api.close()
    print(f"\ncompose stack timings: {json.dumps(result.timings)}")


def test_up_routes_each_workspace_to_exactly_its_server(stack: ComposeStack, stack_started_at: float) -> None:
    local = stack.converge(["team", "personal"])
    stack.timings["first_converged_s"] = time.monotonic() - stack_started_at
    stack.timings["events_local"] = sum(local.values())

    agents: dict[str, set[str]] = {}
    for workspace, agent in stack.store()["agents"]:
        agents.setdefault(workspace, set()).add(agent)
    for workspace in WORKSPACES:
        assert agents.get(workspace) == {"claude", "codex", "gemini", "copilot", "cursor"}, workspace

    for name in ("team", "personal"):
        counts = stack.api(name).counts_by_workspace()
        assert counts == expected_counts(local, HOME, name)
        assert set(counts) == routed_workspaces(HOME, name)
        stack.assert_exact_ids(name)
        stack.timings[f"events_{name}"] = sum(counts.values())


def test_third_remote_backfills_exactly_its_history(stack: ComposeStack) -> None:
    stack.converge(["team", "personal"])
    before = {name: stack.api(name).counts_by_workspace() for name in ("team", "personal")}
    started = time.monotonic()
    stack.compose("--profile", "third", "up", "-d", "--wait", "third")
    stack.compose(
        "exec", "-T", "collector", "devlog", "remote", "add", "third", "http://third:8000",
        "--api-key-env", "DEVLOG_THIRD_API_KEY", "--include", "~/company/**", "--include", "~/scratch/**",
        "--manual",
    )  # fmt: skip
    stack.compose("exec", "-T", "collector", "devlog", "export", "--remote", "third", timeout=300)
    local = stack.converge(["third"])
    stack.timings["third_backfilled_s"] = time.monotonic() - started

    counts = stack.api("third").counts_by_workspace()
    assert counts == expected_counts(local, HOME, "third")
    assert set(counts) == routed_workspaces(HOME, "third")
    stack.assert_exact_ids("third")
    stack.timings["events_third"] = sum(counts.values())
    for name, previous in before.items():
        assert stack.api(name).counts_by_workspace() == previous, f"{name} changed during the backfill"


def test_team_outage_loses_and_duplicates_nothing(stack: ComposeStack) -> None:
    stack.converge(["team", "personal"])
    team_workspaces = routed_workspaces(HOME, "team")
    team_before = sum(stack.api("team").counts_by_workspace().values())

    stack.compose("stop", "team")
    touched: set[str] = set()
    for _ in range(20):  # new activity until some of it belongs to the team (live steps are seeded)
        done = stack.compose(
            "exec", "-T", "collector", "devlog", "demo", DEMO_DIR, "--live", "--iterations", "1", "--interval", "0"
        )
        touched |= set(re.findall(r" in (/\S+)$", done.stderr, flags=re.MULTILINE))
        if touched & team_workspaces:
            break
    assert touched & team_workspaces, f"live steps never touched a team workspace: {sorted(touched)}"

    def collected() -> bool:
        counts: dict[str, int] = stack.store()["counts"]
        return sum(counts.get(w, 0) for w in team_workspaces) > team_before

    wait_for(collected, timeout=90, interval=1.0, what="new team activity in the local store", evidence=stack.evidence)
    stack.converge(["personal"])  # the other remote keeps syncing during the outage

    started = time.monotonic()
    stack.compose("start", "team")
    stack.wait_healthy("team")
    local = stack.converge(["team", "personal"], timeout=AFTER_OUTAGE_TIMEOUT)
    stack.timings["team_caught_up_after_restart_s"] = time.monotonic() - started

    assert stack.api("team").counts_by_workspace() == expected_counts(local, HOME, "team")
    assert sum(stack.api("team").counts_by_workspace().values()) > team_before
    stack.assert_exact_ids("team")
    stack.assert_exact_ids("personal")
