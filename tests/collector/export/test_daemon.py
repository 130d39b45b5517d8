"""ExportDaemon: background auto-sync per remote, independent remotes, clean stop."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from devlog_collector.export.client import Backoff
from devlog_collector.export.daemon import ExportDaemon
from tests.collector.export.faultserver import FaultServer, free_port
from tests.collector.export.helpers import config, cursor_row, fill_store, make_events, remote

WORK = "/home/dev/work"


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_daemon_exports_live_and_a_dead_remote_blocks_nothing(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    events = make_events(300, [f"{WORK}/a", f"{WORK}/b"])
    fill_store(db, events[:100])
    dead_url = f"http://127.0.0.1:{free_port()}"
    with FaultServer() as live, FaultServer() as manual:
        cfg = config(
            {
                "live": remote(live.url, [f"{WORK}/**"], auto_sync=True, sync_interval="60s"),
                "dead": remote(dead_url, [f"{WORK}/**"], auto_sync=True, sync_interval="60s"),
                "manual": remote(manual.url, [f"{WORK}/**"]),
            }
        )
        daemon = ExportDaemon(cfg, db, backoff_factory=lambda: Backoff(0.01, 0.05, rng=random.Random(1)))
        assert daemon.remotes == ["dead", "live"]
        daemon.start()
        try:
            assert wait_for(lambda: len(live.events) == 100)  # history at start
            fill_store(db, events[100:])  # collection goes on
            daemon.notify_new_events()  # ... and wakes the workers long before their 60 s interval
            assert wait_for(lambda: len(live.events) == 300)
            assert wait_for(lambda: (cursor_row(db, "dead") or (0, ""))[1] == "error")
            assert wait_for(lambda: (cursor_row(db, "live") or (0, ""))[:2] == (max_seq(db), "synced"))
        finally:
            daemon.stop(timeout=10)
        assert not manual.requests  # manual remotes only export on `devlog export`
        assert cursor_row(db, "dead")[0] == 0


def max_seq(db: Path) -> int:
    from devlog_collector.store import Store

    with Store.open(db) as store:
        return store.max_seq()


def test_stop_returns_promptly_with_nothing_to_do(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    fill_store(db, make_events(3, [f"{WORK}/a"]))
    with FaultServer() as srv:
        daemon = ExportDaemon(config({"t": remote(srv.url, [f"{WORK}/**"], auto_sync=True)}), db)
        daemon.start()
        assert wait_for(lambda: len(srv.events) == 3)
        started = time.monotonic()
        daemon.stop(timeout=10)
        assert time.monotonic() - started < 5
        assert all(not w.thread.is_alive() for w in daemon._workers)


class _RecordingBackoff(Backoff):
    """Records the schedule's step at each wait it is asked for."""

    def __init__(self) -> None:
        super().__init__(0.01, 10.0, rng=random.Random(3))
        self.steps: list[int] = []

    def next_delay(self, retry_after: float | None = None) -> float:
        self.steps.append(self.attempt)
        return super().next_delay(retry_after)


def test_a_rate_limited_backfill_goes_at_the_servers_pace(tmp_path: Path) -> None:
    """Every pass delivered a batch before its 429, yet the daemon's wait grew pass by pass (to
    minutes): a 27,000-event backfill crawled where `devlog export` took 30 s."""
    from tests.collector.export.faultserver import Fault

    db = tmp_path / "events.db"
    fill_store(db, make_events(300, [f"{WORK}/a"]))
    limited = Fault("status", 429, headers={"Retry-After": "0"})
    backoffs: list[_RecordingBackoff] = []

    def factory() -> Backoff:
        backoffs.append(_RecordingBackoff())
        return backoffs[-1]

    with FaultServer(max_events=50) as server:
        for _ in range(5):
            server.script(Fault("ok"), limited)
        cfg = config({"team": remote(server.url, [f"{WORK}/**"], auto_sync=True, sync_interval="60s")})
        daemon = ExportDaemon(cfg, db, backoff_factory=factory)
        daemon.start()
        try:
            assert wait_for(lambda: len(server.events) == 300, timeout=30)
        finally:
            daemon.stop(timeout=10)
    (backoff,) = backoffs
    assert len(backoff.steps) == 5 and set(backoff.steps) == {0}, backoff.steps  # never past the first step
