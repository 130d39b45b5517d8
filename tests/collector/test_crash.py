"""kill -9 during collection, many times, while agents keep writing: the store ends up exactly as a clean run's.

The collector runs in a forked child (the real engine and store code, without paying Python's
start-up per iteration) with small read chunks so that kills land between and inside commits; a
separate writer process keeps appending records to several files, 10 % of them split across two
writes with a pause in between (a partial last line on disk). After the chaos, a final collect
finishes the job, and a clean collect of the same files into a fresh store must give exactly the
same ids and count, with no parse problems (a re-framed partial line would be one).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devlog_collector.collect import Collector
from devlog_collector.config import Config
from devlog_collector.store import Store
from tests.collector.collect_helpers import make_config

WRITER = r"""
import json, os, random, sys, time
logs, stop, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
files = [open(os.path.join(logs, f"agent-{i}.jsonl"), "ab", buffering=0) for i in range(3)]
n = 0
while not os.path.exists(stop):
    handle = rng.choice(files)
    text = "x" * int(10 ** rng.uniform(1, 3.6))
    rec = {"uuid": f"w{n}", "ts": 1760000000000 + n, "sid": f"s{n % 7}", "kind": "response", "text": text}
    data = json.dumps(rec).encode() + b"\n"
    n += 1
    if rng.random() < 0.1:
        cut = rng.randrange(1, len(data))
        handle.write(data[:cut])
        time.sleep(rng.uniform(0, 0.01))
        handle.write(data[cut:])
    else:
        handle.write(data)
    time.sleep(rng.uniform(0, 0.002))
print(n)
"""


def _collect_in_child(config: Config, chunk: int) -> int:
    pid = os.fork()
    if pid == 0:  # the child: one real collect pass, then leave without running pytest's teardown
        code = 0
        try:
            with Store.open(config.storage.db_path()) as store:
                store.acquire_writer_lock(wait=True)
                Collector(store, config, chunk_bytes=chunk).collect()
        except BaseException:
            code = 1
        os._exit(code)
    return pid


def _ids(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return [r[0] for r in db.execute("SELECT id FROM events")]
    finally:
        db.close()


def _chaos(tmp_path: Path, iterations: int, seed: int) -> None:
    rng = random.Random(seed)
    logs = tmp_path / "logs"
    logs.mkdir()
    config = make_config(logs, storage={"path": str(tmp_path / "chaos")})
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(logs), str(stop), str(seed)], stdout=subprocess.PIPE)
    kills = 0
    try:
        time.sleep(0.1)
        for _ in range(iterations):
            pid = _collect_in_child(config, rng.choice([64, 512, 4096, 65536]))
            time.sleep(rng.uniform(0, 0.03))
            try:
                os.kill(pid, signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
    finally:
        stop.touch()
        written = int(writer.communicate(timeout=30)[0])
    assert writer.returncode == 0
    assert kills > iterations // 2  # most iterations really were killed mid-pass
    # finish: one more (uninterrupted) pass over the final files
    with Store.open(config.storage.db_path()) as store:
        Collector(store, config).collect()
        assert store.db.execute("SELECT count(*) FROM parse_errors").fetchone()[0] == 0
    clean = make_config(logs, storage={"path": str(tmp_path / "clean")})
    with Store.open(clean.storage.db_path()) as store:
        Collector(store, clean).collect()
    chaos_ids, clean_ids = _ids(config.storage.db_path()), _ids(clean.storage.db_path())
    assert len(chaos_ids) == len(set(chaos_ids)) == written
    assert set(chaos_ids) == set(clean_ids)
    assert len(clean_ids) == written


def test_kill_9_during_collect_converges_to_clean_run(tmp_path: Path) -> None:
    _chaos(tmp_path, iterations=60, seed=11)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_during_collect_many_iterations(tmp_path: Path, seed: int) -> None:
    _chaos(tmp_path, iterations=400, seed=seed)


def test_kill_9_of_the_cli_process(tmp_path: Path) -> None:
    """The same promise through the real `devlog collect` entry point (a few kills; start-up is slow)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = [
        f'{{"uuid": "c{n}", "ts": {1760000000000 + n}, "sid": "s", "text": "{"y" * 300}"}}\n' for n in range(20000)
    ]
    (logs / "big.jsonl").write_text("".join(lines))
    home = tmp_path / "home"
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        "collect:\n  agents: []\n  generic:\n"
        f"    - {{name: testagent, glob: '{logs}/*.jsonl',\n"
        "       mapping: {ts: ts, session_id: sid, text: text, id: uuid}}\n"
        "storage:\n  min_free_bytes: 0\n"
    )
    env = dict(os.environ, DEVLOG_HOME=str(home), DEVLOG_CONFIG=str(config_file))
    rng = random.Random(5)
    for _ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-m", "devlog_collector", "collect"], env=env, stdout=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.2, 0.8))
        proc.kill()
        proc.wait()
    done = subprocess.run(
        [sys.executable, "-m", "devlog_collector", "collect"], env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    ids = _ids(home / "data" / "events.db")
    assert len(ids) == len(set(ids)) == 20000
