"""kill -9 of an exporting process at random moments and right after the server's 2xx.

Afterwards the server holds exactly the routed events (zero lost), never a duplicate (it stores by
id, and every redelivery is answered `duplicate`), each kill caused at most one batch to be resent,
and the cursor never moved backwards. Collection keeps appending to the store between kills.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devlog_collector.store import Store
from tests.collector.export.faultserver import FaultServer
from tests.collector.export.helpers import fill_store, make_events

WORK = "/home/dev/work"
BATCH = 50
REPO = Path(__file__).resolve().parents[3]


class Zygote:
    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.collector.export.export_zygote"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPO,
        )  # fmt: skip

    def spawn(self, spec: dict) -> int:  # type: ignore[type-arg]
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(spec) + "\n")
        self.proc.stdin.flush()
        return int(json.loads(self.proc.stdout.readline())["pid"])

    def wait_exit(self) -> int:
        assert self.proc.stdout
        return int(json.loads(self.proc.stdout.readline())["exit"])

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture
def zygote() -> Iterator[Zygote]:
    z = Zygote()
    yield z
    z.close()


def crash_run(tmp_path: Path, zygote: Zygote, iterations: int, seed: int) -> None:
    rng = random.Random(seed)
    db = tmp_path / "events.db"
    workspaces = [f"{WORK}/a", f"{WORK}/b", "/home/dev/private"]
    produced = 0
    with FaultServer() as srv:
        spec = {
            "remote": "team",
            "db": str(db),
            "config": {"export": {"remotes": {"team": {
                "url": srv.url, "api_key": srv.api_key, "batch_size": BATCH, "content": "full", "timeout": "5s",
                "workspaces": {"include": [f"{WORK}/**"]}}}}},
        }  # fmt: skip
        kills = 0
        cursors = []
        for i in range(iterations):
            n = rng.randint(0, 150)
            fill_store(db, make_events(n, workspaces, start=produced))
            produced += n
            injected = i % 3 == 0  # every third kill lands exactly between the 2xx and the cursor commit
            pid_box: list[int] = []
            if injected:

                def kill_now() -> None:
                    if pid_box:
                        os.kill(pid_box[0], signal.SIGKILL)
                        pid_box.clear()

                srv.after_response = kill_now
            pid = zygote.spawn(spec)
            pid_box.append(pid)
            if not injected:
                time.sleep(rng.uniform(0, 0.15))
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            status = zygote.wait_exit()
            srv.after_response = None
            if os.WIFSIGNALED(status):
                kills += 1
            with Store.open(db) as store:
                row = store.db.execute("SELECT last_seq FROM export_cursors WHERE remote = 'team'").fetchone()
            cursors.append(row[0] if row else 0)
        # Finally, a run that is left alone.
        zygote.spawn(spec)
        assert zygote.wait_exit() == 0
        expected = {e.id for e in make_events(produced, workspaces) if e.workspace.startswith(WORK)}
        assert set(srv.events) == expected  # zero lost, nothing foreign
        assert cursors == sorted(cursors)  # monotonic
        redelivered = srv.insert_attempts - len(srv.events)
        assert redelivered <= kills * BATCH  # at most one in-flight batch per kill
        assert kills >= iterations // 3


def test_kill_minus_9_during_export_loses_and_duplicates_nothing(tmp_path: Path, zygote: Zygote) -> None:
    crash_run(tmp_path, zygote, iterations=50, seed=11)


@pytest.mark.slow
def test_kill_minus_9_during_export_many_iterations(tmp_path: Path, zygote: Zygote) -> None:
    crash_run(tmp_path, zygote, iterations=400, seed=12)
