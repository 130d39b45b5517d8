"""The exporter against the project's own ingest server (`devlog-server serve`, SQLite, subprocess on loopback)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from devlog_collector.export.client import Backoff
from devlog_collector.export.exporter import RemoteExporter, export_with_retries
from tests.collector.export.faultserver import free_port
from tests.collector.export.helpers import config, fill_store, make_events, remote
from tests.collector.export.test_content import GH, STRIPE
from tests.collector.export.test_crash import Zygote

WORK = "/home/dev/work"
PERSONAL = "/home/dev/personal"
KEYS = {"team": "team-key-0123456789abcdef", "meta": "meta-key-0123456789abcdef"}


class IngestServer:
    def __init__(self, tmp: Path) -> None:
        self.db = tmp / "server.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DEVLOG_SERVER_DATABASE_URL": f"sqlite+aiosqlite:///{self.db}",
            "DEVLOG_SERVER_BOOTSTRAP_KEYS": ",".join(f"{k}:{v}" for k, v in KEYS.items()),
        }
        self.log = (tmp / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "devlog-server"), "serve",
             "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"devlog-server exited: {(tmp / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("devlog-server did not become healthy in 60 s")

    def rows(self) -> list[tuple[str, str | None, str]]:
        with sqlite3.connect(self.db) as db:
            return db.execute("SELECT id, workspace, body FROM events").fetchall()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestServer]:
    pytest.importorskip("devlog_server.cli")
    srv = IngestServer(tmp_path_factory.mktemp("ingest"))
    yield srv
    srv.stop()


def test_routing_policies_and_backfill_against_the_ingest_server(server: IngestServer, tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    secret_text = f"deploy with {GH} and stripe {STRIPE} please"
    events = make_events(400, [f"{WORK}/api", f"{PERSONAL}/blog", "/home/dev/private"], text=secret_text)
    fill_store(db, events[:250])
    team = remote(server.url, [f"{WORK}/**"], api_key=KEYS["team"])
    meta = remote(server.url, [f"{PERSONAL}/**"], api_key=KEYS["meta"], content="metadata")
    backoff = Backoff(0.01, 0.1, rng=random.Random(1))

    cfg1 = config({"team": team})
    exporter = RemoteExporter.open("team", cfg1, db)
    assert export_with_retries(exporter, backoff, max_failures=10).caught_up
    exporter.close()
    fill_store(db, events[250:])  # collection goes on; then a second remote is added later
    cfg2 = config({"team": team, "meta": meta})
    for name in ("team", "meta"):
        exporter = RemoteExporter.open(name, cfg2, db)
        outcome = export_with_retries(exporter, backoff, max_failures=10)
        exporter.close()
        assert outcome.caught_up and outcome.dead_lettered == 0, outcome

    rows = server.rows()
    stored = {row[0]: row for row in rows}
    assert len(rows) == len(stored)
    assert set(stored) == {e.id for e in events if e.workspace != "/home/dev/private"}
    for event_id, workspace, body in rows:
        assert GH not in body and STRIPE not in body
        data = json.loads(body)
        if workspace.startswith(WORK):
            assert "[REDACTED:github-token]" in data["text"] and data["attrs"]["redactions"] == 2
        else:
            assert "text" not in data or data["text"] is None


def test_kill_minus_9_against_the_ingest_server(server: IngestServer, tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    rng = random.Random(5)
    workspace = f"{WORK}/crash-{tmp_path.name}"
    zygote = Zygote()
    spec = {"remote": "team", "db": str(db), "config": {"export": {"remotes": {"team": {
        "url": server.url, "api_key": KEYS["team"], "batch_size": 40, "content": "full",
        "workspaces": {"include": [workspace]}}}}}}  # fmt: skip
    produced = 0
    try:
        for _ in range(12):
            n = rng.randint(20, 200)
            fill_store(db, make_events(n, [workspace], start=produced, agent="codex"))
            produced += n
            pid = zygote.spawn(spec)
            time.sleep(rng.uniform(0.05, 0.4))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            zygote.wait_exit()
        zygote.spawn(spec)
        assert zygote.wait_exit() == 0
    finally:
        zygote.close()
    ids = [row[0] for row in server.rows() if row[1] == workspace]
    assert len(ids) == len(set(ids)) == produced
    assert set(ids) == {e.id for e in make_events(produced, [workspace], agent="codex")}


def test_a_copy_that_supersedes_the_stored_one_reaches_the_server(server: IngestServer, tmp_path: Path) -> None:
    """A chat whose title became known after the first read: the store replaces its event, the
    exporter sends it again, and the server keeps the newer copy (and reports it as updated)."""
    import msgspec

    from devlog_collector.store import Store
    from devlog_shared import SourceRef

    db = tmp_path / "events.db"
    (first,) = make_events(1, [f"{WORK}/ide"], start=9000)
    first = msgspec.structs.replace(first, source=SourceRef(path="/logs/chat.json", key="requests[0]"))
    with Store.open(db) as store:
        store.commit([first], current_state=True)
    cfg = config({"team": remote(server.url, [f"{WORK}/**"], api_key=KEYS["team"])})
    backoff = Backoff(0.01, 0.1, rng=random.Random(2))
    exporter = RemoteExporter.open("team", cfg, db)
    assert export_with_retries(exporter, backoff, max_failures=10).created == 1
    titled = msgspec.structs.replace(first, attrs={**first.attrs, "title": "Retry logic"})
    with Store.open(db) as store:
        store.commit([titled], current_state=True)
    outcome = export_with_retries(exporter, backoff, max_failures=10)
    exporter.close()
    assert (outcome.sent, outcome.created, outcome.updated) == (1, 0, 1)
    (body,) = [row[2] for row in server.rows() if row[0] == first.id]
    assert json.loads(body)["attrs"]["title"] == "Retry logic"


def test_a_query_parameter_the_server_refuses_pauses_the_remote_without_dead_letters(
    server: IngestServer, tmp_path: Path
) -> None:
    """The API path now goes before the remote url's query (`?tenant=me`), which the devlog server
    refuses (400, unknown query parameter): that is the url's fault, not the batch's, so the remote
    pauses saying so instead of splitting the batch into dead letters."""
    from tests.collector.export.helpers import cursor_row, dead_letters

    db = tmp_path / "events.db"
    fill_store(db, make_events(5, [f"{WORK}/tenant"], start=7000))
    cfg = config({"team": remote(f"{server.url}?tenant=me", [f"{WORK}/**"], api_key=KEYS["team"])})
    exporter = RemoteExporter.open("team", cfg, db)
    try:
        outcome = export_with_retries(exporter, Backoff(0.01, 0.1, rng=random.Random(3)), max_failures=3)
    finally:
        exporter.close()
    assert outcome.paused and outcome.dead_lettered == 0, outcome
    assert "HTTP 400" in (outcome.paused_reason or "")
    reason = outcome.paused_reason or ""
    assert "'tenant' comes from this remote's url, and the server does not take it: remove it there" in reason
    assert dead_letters(db, "team") == [] and cursor_row(db, "team")[:2] == (0, "paused")


def test_an_event_larger_than_the_server_takes_arrives_with_its_text_cut(server: IngestServer, tmp_path: Path) -> None:
    """A prompt with a big file pasted in (the store keeps 1 Mi characters: up to 4 MiB of UTF-8) was
    refused by the server (1 MiB per event) and sat in the dead letters for good."""
    from devlog_shared.limits import MAX_TEXT_CHARS

    db = tmp_path / "events.db"
    events = make_events(3, [f"{WORK}/big"], start=9000)
    huge = "ü" * MAX_TEXT_CHARS  # 2 MiB of UTF-8
    events[1] = msgspec.structs.replace(events[1], text=huge)
    fill_store(db, events)
    team = remote(server.url, [f"{WORK}/**"], api_key=KEYS["team"], content="full")
    exporter = RemoteExporter.open("team", config({"team": team}), db)
    try:
        outcome = export_with_retries(exporter, Backoff(0.01, 0.1, rng=random.Random(1)), max_failures=10)
    finally:
        exporter.close()
    assert outcome.caught_up and outcome.dead_lettered == 0, outcome
    stored = {row[0]: json.loads(row[2]) for row in server.rows() if row[0] in {e.id for e in events}}
    assert set(stored) == {e.id for e in events}
    big = stored[events[1].id]
    assert big["attrs"]["truncated"] is True and big["attrs"]["text_length"] == MAX_TEXT_CHARS
    assert 0 < len(big["text"]) < MAX_TEXT_CHARS and set(big["text"]) == {"ü"}
    with sqlite3.connect(db) as local:  # the local store keeps the whole text
        assert local.execute("SELECT length(text) FROM events WHERE id = ?", (events[1].id,)).fetchone() == (
            MAX_TEXT_CHARS,
        )
