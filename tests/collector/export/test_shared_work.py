"""Remotes of one process share work: a scan page is routed once, an event is encoded once per policy.

Both are optimisations, so the tests check they change nothing a server sees: every routed event
exactly once, in order, the same bytes as an exporter working alone.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from devlog_collector.export import exporter as exporter_module
from devlog_collector.export.exporter import RemoteExporter
from devlog_collector.export.shared_blobs import SharedBlobs, shared_blobs
from tests.collector.export.faultserver import FaultServer
from tests.collector.export.helpers import config, fill_store, make_events, remote
from tests.collector.export.test_exporter import fast_backoff, ids_for, run

WORK = "/home/dev/work"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "events.db"


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    shared_blobs().clear()


def test_small_batches_over_a_large_scan_page_send_every_routed_event_once_in_order(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exporter_module, "SCAN_PAGE", 50)
    events = make_events(1003, [f"{WORK}/a", "/elsewhere", f"{WORK}/b", f"{WORK}/a"])
    fill_store(db, events)
    with FaultServer() as server:
        cfg = config({"team": remote(server.url, [f"{WORK}/**"], batch_size=7)})
        exporter = RemoteExporter.open("team", cfg, db)
        routed_rows = []
        real_matches = exporter.router.matches

        def counting(name: str, workspace: str | None) -> bool:
            routed_rows.append(workspace)
            return real_matches(name, workspace)

        exporter.router.matches = counting  # type: ignore[method-assign]
        try:
            outcome = exporter.sync()
        finally:
            exporter.close()
        assert outcome.caught_up and outcome.error is None
        expected = [e.id for e in events if e.workspace and e.workspace.startswith(WORK)]
        assert list(server.events) == expected  # arrival order: store order, no gap
        assert server.insert_attempts == len(expected)  # and nothing sent twice
        # Each stored row was routed once, not once per 7-event batch drawn from its page.
        assert len(routed_rows) == len(events)


def test_three_remotes_in_threads_share_encoding_and_servers_get_the_same_bytes(db: Path) -> None:
    events = make_events(900, [f"{WORK}/a", f"{WORK}/b", "/home/dev/personal/x"])
    fill_store(db, events)
    with FaultServer() as alone_server:
        alone = run("alone", config({"alone": remote(alone_server.url, [f"{WORK}/**"], content="redacted")}), db)
        assert alone.caught_up
    assert len(shared_blobs()) == 0  # one remote of its policy: nothing to share
    with FaultServer() as s0, FaultServer() as s1, FaultServer() as s2:
        servers = {"r0": s0, "r1": s1, "r2": s2}
        cfg = config({name: remote(s.url, [f"{WORK}/**"], content="redacted") for name, s in servers.items()})
        threads = [threading.Thread(target=run, args=(name, cfg, db)) for name in servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for server in servers.values():
            assert set(server.events) == ids_for(events, {f"{WORK}/a", f"{WORK}/b"})
            assert server.events == alone_server.events  # byte-for-byte the same JSON, decoded
    cache = shared_blobs()
    assert cache.hits >= 600 * 2 - 100  # the first remote to reach an event encodes it, the others reuse it


def test_a_custom_redactor_never_shares(db: Path) -> None:
    from devlog_collector.export.content import Redactor

    events = make_events(30, [f"{WORK}/a"], text="token AKIAABCDEFGHIJKLMNOP here")
    fill_store(db, events)
    with FaultServer() as s0, FaultServer() as s1:
        cfg = config({"r0": remote(s0.url, [f"{WORK}/**"]), "r1": remote(s1.url, [f"{WORK}/**"])})
        from devlog_collector.export.client import RemoteClient
        from devlog_collector.export.exporter import export_with_retries
        from devlog_collector.store import Store

        custom = RemoteExporter("r0", cfg, Store.open(db), RemoteClient("r0", cfg.export.remotes["r0"]),
                                redactor=Redactor([]))  # fmt: skip
        try:
            assert export_with_retries(custom, fast_backoff(), max_failures=5).caught_up
        finally:
            custom.close()
        assert len(shared_blobs()) == 0
        assert run("r1", cfg, db).caught_up
        assert "AKIAABCDEFGHIJKLMNOP" in str(s0.events)  # no rules: nothing redacted
        assert "AKIAABCDEFGHIJKLMNOP" not in str(s1.events)  # built-in rules, not r0's copies


def test_the_cache_is_bounded_and_least_recently_used_goes_first() -> None:
    cache = SharedBlobs(max_bytes=10)
    cache.put(("db", "full", 1), b"aaaa")
    cache.put(("db", "full", 2), b"bbbb")
    assert cache.get(("db", "full", 1)) == b"aaaa"  # 1 is now the most recent
    cache.put(("db", "full", 3), b"cccc")  # 12 bytes > 10: the least recent (2) goes
    assert cache.get(("db", "full", 2)) is None
    assert cache.get(("db", "full", 1)) == b"aaaa" and cache.get(("db", "full", 3)) == b"cccc"
    assert cache.size == 8 and len(cache) == 2
    cache.put(("db", "full", 4), b"x" * 11)  # larger than the whole bound: not kept
    assert cache.get(("db", "full", 4)) is None and cache.size == 8
