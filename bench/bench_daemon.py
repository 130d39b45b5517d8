"""`devlog start` after its history pass: CPU while idle, beside a busy agent home, and under live load.

Why: the collector is always on, on a laptop. What it costs while nothing happens, and while the agent
writes files devlog never reads (Claude Code's `history.jsonl`, appended on every prompt), should
follow activity, not the size of the history; new lines should still be stored within about a second.

On generated Claude Code transcripts (`--files` files in 50 project folders, a few turns each), a real
`devlog start` subprocess with its own DEVLOG_HOME is measured in three phases of `--seconds` each:

1. idle: nothing changes;
2. busy home: a line appended to `<root>/history.jsonl` every second (not a transcript);
3. live: a prompt line appended to one of 3 transcripts every 0.2 s (5 lines/s);
4. burst: the same live lines while half as many new transcripts as `--files` appear at once (a
   restored backup, a synced folder): live lines must not wait behind them.

CPU is the daemon's own user + system time (from /proc), per minute. Latency is each live line's
`collected_at` minus its timestamp (the moment it was written). Usage:

    .venv/bin/python bench/bench_daemon.py [--files 5000] [--seconds 60] [--poll]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_collect import COMPACT, _session_lines


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _generate(root: Path, files: int, seed: int = 7) -> list[Path]:
    rng = random.Random(seed)
    paths = []
    for index in range(files):
        folder = root / "projects" / f"-home-dev-work-project-{index % 50}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{uuid.UUID(int=rng.getrandbits(128))}.jsonl"
        path.write_text("\n".join(_session_lines(rng, f"/home/dev/work/project-{index % 50}", 1)) + "\n")
        paths.append(path)
    return paths


def _prompt_line(session: str) -> str:
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    record = {
        "type": "user", "uuid": str(uuid.uuid4()), "parentUuid": None, "sessionId": session,
        "cwd": "/home/dev/work/live", "timestamp": stamp,
        "message": {"role": "user", "content": "run the tests again"},
    }  # fmt: skip
    return json.dumps(record, separators=COMPACT) + "\n"


def _live_lines(live: list[Path], sessions: dict[Path, str], seconds: float) -> int:
    """Append a prompt line to one of `live` every 0.2 s for `seconds`; returns how many."""
    written = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        path = live[written % len(live)]
        with path.open("a") as handle:
            handle.write(_prompt_line(sessions[path]))
        written += 1
        time.sleep(0.2)
    return written


def _latencies(db_path: Path, pattern: str) -> list[float]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT ts, collected_at FROM events WHERE kind = 'prompt' AND session_id LIKE ?", (pattern,)
        ).fetchall()
    return sorted((collected - ts) / 1000 for ts, collected in rows)


def _summary(prefix: str, delays: list[float], written: int) -> dict[str, object]:
    out: dict[str, object] = {f"{prefix}_lines_written": written, f"{prefix}_lines_stored": len(delays)}
    if delays:
        out[f"{prefix}_latency_p50_s"] = round(statistics.median(delays), 3)
        out[f"{prefix}_latency_p99_s"] = round(delays[min(len(delays) - 1, int(len(delays) * 0.99))], 3)
        out[f"{prefix}_latency_max_s"] = round(delays[-1], 3)
    return out


def _measure(pid: int, seconds: float, during: threading.Event | None = None) -> float:
    start = _cpu_seconds(pid)
    time.sleep(seconds)
    if during is not None:
        during.set()
    return round((_cpu_seconds(pid) - start) * 60 / seconds, 2)


def _append_every(path: Path, interval: float, stop: threading.Event, make: object) -> None:
    while not stop.wait(interval):
        with path.open("a") as handle:
            handle.write(make())  # type: ignore[operator]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--poll", action="store_true", help="force the polling watcher")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="devlog-bench-daemon-") as tmp:
        base = Path(tmp)
        root, home = base / "claude", base / "home"
        transcripts = _generate(root, args.files)
        (root / "history.jsonl").write_text("")
        home.mkdir()
        (home / "config.yaml").write_text(
            f"collect:\n  agents: [claude]\n  roots: {{claude: ['{root}']}}\nstorage:\n  min_free_bytes: 0\n"
        )
        env = dict(os.environ, DEVLOG_HOME=str(home), DEVLOG_CONFIG=str(home / "config.yaml"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if args.poll:
            env["DEVLOG_FORCE_POLLING"] = "1"
        proc = subprocess.Popen(
            [sys.executable, "-m", "devlog_collector", "start", "--no-progress"],
            env=env, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stderr is not None
        for line in proc.stderr:
            if "watching agent logs" in line:
                break
        threading.Thread(target=lambda: proc.stderr.read(), daemon=True).start()  # type: ignore[union-attr]
        time.sleep(5)  # the search indexer catches up with the history pass
        result: dict[str, object] = {"files": args.files, "polling": args.poll, "seconds_per_phase": args.seconds}
        result["idle_cpu_s_per_min"] = _measure(proc.pid, args.seconds)

        stop = threading.Event()
        noisy = threading.Thread(
            target=_append_every, args=(root / "history.jsonl", 1.0, stop, lambda: '{"display":"x"}\n'), daemon=True
        )
        noisy.start()
        result["busy_home_cpu_s_per_min"] = _measure(proc.pid, args.seconds)
        stop.set()
        noisy.join()

        live = transcripts[:3]
        sessions = {path: f"live-{n}" for n, path in enumerate(live)}
        start_cpu = _cpu_seconds(proc.pid)
        written = _live_lines(live, sessions, args.seconds)
        result["live_cpu_s_per_min"] = round((_cpu_seconds(proc.pid) - start_cpu) * 60 / args.seconds, 2)

        sessions = {path: f"burst-{n}" for n, path in enumerate(live)}
        staged = base / "staged"
        _generate(staged, args.files // 2, seed=11)
        threading.Timer(2.0, lambda: (staged / "projects").rename(root / "projects" / "restored")).start()
        burst_written = _live_lines(live, sessions, args.seconds / 2)
        time.sleep(3)
        result["rss_mib"] = _rss_mib(proc.pid)
        proc.terminate()
        proc.wait(timeout=60)
        db_path = home / "data" / "events.db"
        result.update(_summary("live", _latencies(db_path, "live-%"), written))
        result["burst_new_files"] = args.files // 2
        result.update(_summary("burst", _latencies(db_path, "burst-%"), burst_written))
        result["load_avg"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
