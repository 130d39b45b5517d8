"""End to end on loopback: demo logs -> `devlog start` -> two (then three) real ingest servers.

The same scenarios as the Docker suite (`tests/docker/`), as processes against the machine's Postgres
(one throwaway database per server), so CI proves them on every change:

1. each server holds exactly the events its routing rules select (per workspace, and by id);
2. a remote added later receives exactly its history (backfill), the others are untouched;
3. a server that is down while new activity is collected gets all of it once it is back, and no
   event is lost or stored twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devlog_collector import demo
from tests.e2e.stack import (
    KEYS,
    CollectorProcess,
    ReadApi,
    ServerProcess,
    collector_config,
    describe,
    expected_counts,
    local_agents_by_workspace,
    local_counts,
    local_ids,
    routed_workspaces,
    wait_for,
)
from tests.pg import throwaway_database

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(420)]

CONVERGE_TIMEOUT = 90.0
#: After an outage the exporter waits out its jittered exponential backoff (1 s doubling, capped at
#: 300 s; new events do not cut it short), so catching up may take up to the last delay drawn.
AFTER_OUTAGE_TIMEOUT = 240.0


@dataclass
class LoopbackStack:
    """A demo folder, a collector and named servers, all on this machine."""

    home: Path
    demo_dir: Path
    collector: CollectorProcess
    servers: dict[str, ServerProcess]
    apis: dict[str, ReadApi] = field(default_factory=dict)

    def add_server(self, server: ServerProcess) -> None:
        server.start()
        self.servers[server.name] = server
        self.apis[server.name] = ReadApi(server.url, KEYS[server.name])

    def server_counts(self) -> dict[str, dict[str, int] | str]:
        result: dict[str, dict[str, int] | str] = {}
        for name, api in self.apis.items():
            try:
                result[name] = api.counts_by_workspace()
            except Exception as exc:
                result[name] = f"unreachable: {exc!r}"
        return result

    def evidence(self) -> str:
        return describe(local_counts(self.collector.db_path), self.server_counts()) + "\n" + self.collector.log_tail()

    def converge(
        self, remotes: list[str], *, all_workspaces: bool = True, timeout: float = CONVERGE_TIMEOUT
    ) -> dict[str, int]:
        """Wait until the store is stable and every remote in `remotes` holds exactly its routed events."""
        previous: dict[str, int] = {}

        def probe() -> dict[str, int] | None:
            nonlocal previous
            self.collector.alive()
            local = local_counts(self.collector.db_path)
            stable, previous = local == previous, local
            if not stable:
                return None
            if all_workspaces and not set(demo_workspaces(self.home)) <= set(local):
                return None
            for name in remotes:
                if self.apis[name].counts_by_workspace() != expected_counts(local, str(self.home), name):
                    return None
            return local

        return wait_for(
            probe,
            timeout=timeout,
            what=f"{', '.join(remotes)} to hold exactly their routed events",
            evidence=self.evidence,
        )

    def assert_exact_ids(self, remote: str) -> None:
        """The server's ids are exactly the local ids of its routed workspaces, each stored once."""
        server_ids = self.apis[remote].event_ids()
        assert len(server_ids) == len(set(server_ids)), f"{remote} lists some events twice"
        wanted = local_ids(self.collector.db_path, routed_workspaces(str(self.home), remote))
        missing, extra = wanted - set(server_ids), set(server_ids) - wanted
        assert not missing and not extra, f"{remote}: {len(missing)} missing, {len(extra)} unexpected event ids"


def demo_workspaces(home: Path) -> list[str]:
    return [str(home / rel) for rel in demo.WORKSPACES]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackStack]:
    """Team and personal servers, demo logs and `devlog start`, shared by the scenarios of this module.

    Starting servers is the slow part on a loaded 2-core machine, so the scenarios share one stack.
    Each scenario still stands alone: it first waits for the servers to match the local store as it
    is at that moment, and compares against the store again after acting.
    """
    root = tmp_path_factory.mktemp("e2e-routing")
    home = root / "home"
    with ExitStack() as cleanup:
        demo_dir = root / "agent-logs"
        demo.generate(demo_dir, seed=7, home=home)
        devlog_home = home / ".devlog"
        devlog_home.mkdir(parents=True)
        collector = CollectorProcess(home=home, devlog_home=devlog_home)
        result = LoopbackStack(home=home, demo_dir=demo_dir, collector=collector, servers={})
        for name in ("team", "personal"):
            url = cleanup.enter_context(throwaway_database(f"devlog_e2e_{name}"))
            server = ServerProcess(name=name, database_url=url, workdir=root / "logs")
            cleanup.callback(server.stop)
            result.add_server(server)
        remotes = {name: server.url for name, server in result.servers.items()}
        (devlog_home / "config.yaml").write_text(collector_config(demo.roots(demo_dir), remotes))
        cleanup.callback(collector.stop)
        for api in result.apis.values():
            cleanup.callback(api.close)
        collector.start()
        yield result
        # `devlog start` stops cleanly on SIGTERM (what `docker compose stop` sends).
        assert collector.stop() == 0, collector.log_tail()


def test_each_server_holds_exactly_its_routed_events(stack: LoopbackStack) -> None:
    local = stack.converge(["team", "personal"])

    # The demo reached the store for every agent in every workspace (so the routing below is not vacuous).
    agents = local_agents_by_workspace(stack.collector.db_path)
    for workspace in demo_workspaces(stack.home):
        assert agents.get(workspace) == set(demo.AGENTS), f"{workspace}: agents collected {agents.get(workspace)}"

    home = str(stack.home)
    assert stack.apis["team"].counts_by_workspace() == expected_counts(local, home, "team")
    assert stack.apis["personal"].counts_by_workspace() == expected_counts(local, home, "personal")
    stack.assert_exact_ids("team")
    stack.assert_exact_ids("personal")
    # Workspaces no rule selects stayed on this machine.
    for rel in ("company/billing/personal/notes", "scratch/tmp"):
        assert local[f"{home}/{rel}"] > 0


def test_remote_added_later_receives_exactly_its_history(stack: LoopbackStack, tmp_path: Path) -> None:
    stack.converge(["team", "personal"])
    before = {name: stack.apis[name].counts_by_workspace() for name in ("team", "personal")}

    with throwaway_database("devlog_e2e_third") as url:
        third = ServerProcess(name="third", database_url=url, workdir=tmp_path / "logs")
        try:
            stack.add_server(third)
            env = {"E2E_THIRD_KEY": KEYS["third"]}
            stack.collector.run(
                "remote", "add", "third", third.url, "--api-key-env", "E2E_THIRD_KEY",
                "--include", "~/company/**", "--include", "~/scratch/**", "--manual", "--content", "full",
                extra_env=env,
            )  # fmt: skip
            stack.collector.run("export", "--remote", "third", extra_env=env)
            local = stack.converge(["third"])

            home = str(stack.home)
            assert stack.apis["third"].counts_by_workspace() == expected_counts(local, home, "third")
            assert set(stack.apis["third"].counts_by_workspace()) == routed_workspaces(home, "third")
            stack.assert_exact_ids("third")
            # The remotes that were already in sync received nothing new.
            for name, counts in before.items():
                assert stack.apis[name].counts_by_workspace() == counts, f"{name} changed during the backfill"
        finally:
            stack.apis.pop("third").close()
            third.stop()


def test_server_outage_loses_and_duplicates_nothing(stack: LoopbackStack) -> None:
    stack.converge(["team", "personal"])
    home = str(stack.home)
    team_workspaces = routed_workspaces(home, "team")
    team_before = stack.apis["team"].counts_by_workspace()

    stack.servers["team"].stop()
    try:
        outage(stack, team_workspaces, sum(team_before.values()))
    finally:
        if stack.servers["team"].process is None:
            stack.servers["team"].start()
    local = stack.converge(["team", "personal"], timeout=AFTER_OUTAGE_TIMEOUT)
    assert stack.apis["team"].counts_by_workspace() == expected_counts(local, home, "team")
    assert sum(stack.apis["team"].counts_by_workspace().values()) > sum(team_before.values())
    stack.assert_exact_ids("team")
    stack.assert_exact_ids("personal")


def outage(stack: LoopbackStack, team_workspaces: set[str], team_before: int) -> None:
    """While the team server is down: new activity, collected locally, and the personal server keeps up."""
    touched: set[str] = set()
    for _ in range(20):  # new activity until some of it is the team's (the demo's live steps are seeded)
        touched |= {change.workspace for change in demo.live_step(stack.demo_dir)}
        if touched & team_workspaces:
            break
    assert touched & team_workspaces, "the demo's live steps never touched a team workspace"

    # Collection goes on while the team server is down, and the personal server keeps receiving.
    def collected() -> bool:
        local = local_counts(stack.collector.db_path)
        return sum(local.get(w, 0) for w in team_workspaces) > team_before

    wait_for(collected, timeout=60, what="new team activity in the local store", evidence=stack.evidence)
    stack.converge(["personal"])
