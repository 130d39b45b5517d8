"""Export benchmarks: throughput to one and three remotes, and live latency during a 1M-event backfill.

Everything runs on loopback with generated data. Sinks are separate processes (so the exporter does not
share its GIL with them): either a minimal devlog-speaking sink (`--sink`, decodes gzip + the batch
envelope and answers per-item results) or the project's own ingest server (`--server`, SQLite).

    .venv/bin/python bench/bench_export.py                 # all scenarios, default sizes
    .venv/bin/python bench/bench_export.py --quick         # small sizes (smoke)
    .venv/bin/python bench/bench_export.py --json out.json

Scenarios:
  one       N events, one remote (content full and redacted): events/s
  three     the same N events to three remotes at once (one thread each): events/s per remote
  backfill  a remote added after B stored events backfills them while a live remote (interval 1 s) gets
            new events every 0.2 s: max and p99 commit-to-arrival latency of the live remote
  server    N events to `devlog-server serve` (SQLite): events/s end to end
  servers   the same with three remotes at once, each its own `devlog-server` (SQLite), against one
            remote alone: events/s per remote and the slowest one's share of the single remote's rate
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import msgspec

from devlog_collector.config import parse_config
from devlog_collector.export.client import Backoff
from devlog_collector.export.daemon import ExportDaemon
from devlog_collector.export.exporter import RemoteExporter, export_with_retries
from devlog_collector.store import Store
from devlog_shared.events import Event, ToolInfo, Usage
from devlog_shared.ids import event_id

TEXT = (
    "Refactor the payment retry loop so that it uses exponential backoff.\n"
    "```python\nfor attempt in range(5):\n    try:\n        return client.charge(order)\n"
    "    except TransientError:\n        time.sleep(2 ** attempt)\n```\n"
    "I also updated tests/test_payments.py and the README section on retries. "
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- sink process ----------------------------------------------------------------------------------


class Slim(msgspec.Struct):
    id: str
    session_id: str


class SlimBatch(msgspec.Struct):
    events: list[Slim]


def run_sink(port: int) -> None:
    """A minimal ingest endpoint: counts events, remembers arrival times of `live` ones."""
    # Only what the sink needs: the ids (a real server's cost is measured by the `server` scenario).
    decoder = msgspec.json.Decoder(SlimBatch)
    lock = threading.Lock()
    state: dict[str, Any] = {"count": 0, "arrivals": {}}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with lock:
                self._send(json.dumps(state).encode() if self.path == "/stats" else b"{}")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            envelope = decoder.decode(body)
            now = time.time()
            results = []
            live = {}
            for i, event in enumerate(envelope.events):
                results.append({"index": i, "id": event.id, "status": "created"})
                if event.session_id == "live":
                    live[event.id] = now
            with lock:
                state["count"] += len(results)
                state["arrivals"].update(live)
            self._send(
                msgspec.json.encode({"created": len(results), "duplicates": 0, "rejected": 0, "results": results})
            )

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


class Sink:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, __file__, "--sink", str(self.port)])
        wait_healthy(f"{self.url}/stats")

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/stats", timeout=10).json())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def wait_healthy(url: str) -> None:
    for _ in range(600):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


# -- data ------------------------------------------------------------------------------------------


def generate(db: Path, n: int, workspaces: list[str], start: int = 0, session: str | None = None) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with Store.open(db) as store:
        chunk: list[Event] = []
        for i in range(start, start + n):
            kind = ("prompt", "response", "tool_call")[i % 3]
            chunk.append(
                Event(
                    id=event_id("claude", "bench", i),
                    ts=base + timedelta(seconds=i),
                    agent="claude",
                    kind=kind,
                    session_id=session or f"s{i // 50}",
                    workspace=workspaces[i % len(workspaces)],
                    model="claude-sonnet-4-5" if kind == "response" else None,
                    usage=Usage(input_tokens=1200, output_tokens=300, cache_read_tokens=20000)
                    if kind == "response"
                    else None,
                    tool=ToolInfo(name="Edit", status="ok") if kind == "tool_call" else None,
                    text=TEXT,
                )
            )
            if len(chunk) >= 5000:
                store.commit(chunk)
                chunk = []
        if chunk:
            store.commit(chunk)


def remote_spec(url: str, include: list[str], **extra: Any) -> dict[str, Any]:
    return {"url": url, "api_key": "bench", "workspaces": {"include": include}, **extra}


# -- scenarios -------------------------------------------------------------------------------------


def export_once(name: str, raw_config: dict[str, Any], db: Path) -> tuple[int, float]:
    config, _ = parse_config(raw_config)
    exporter = RemoteExporter.open(name, config, db)
    started = time.perf_counter()
    outcome = export_with_retries(exporter, Backoff(0.05, 1.0), max_failures=5)
    elapsed = time.perf_counter() - started
    exporter.close()
    assert outcome.caught_up, outcome
    return outcome.sent, elapsed


def scenario_one(tmp: Path, n: int) -> dict[str, Any]:
    db = tmp / "one.db"
    generate(db, n, ["/home/dev/work/a", "/home/dev/work/b"])
    result: dict[str, Any] = {"events": n}
    for content in ("full", "redacted"):
        sink = Sink()
        try:
            cfg = {"export": {"remotes": {"r": remote_spec(sink.url, ["/home/dev/work/**"], content=content)}}}
            sent, elapsed = export_once("r", cfg, db)
            assert sink.stats()["count"] == n
        finally:
            sink.stop()
        result[content] = {"seconds": round(elapsed, 2), "events_per_s": round(sent / elapsed)}
    return result


def scenario_three(tmp: Path, n: int) -> dict[str, Any]:
    db = tmp / "three.db"
    generate(db, n, ["/home/dev/work/a", "/home/dev/work/b"])
    sinks = [Sink() for _ in range(3)]
    try:
        remotes = {f"r{i}": remote_spec(s.url, ["/home/dev/work/**"], content="full") for i, s in enumerate(sinks)}
        cfg = {"export": {"remotes": remotes}}
        times: dict[str, float] = {}

        def worker(name: str) -> None:
            times[name] = export_once(name, cfg, db)[1]

        started = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(f"r{i}",)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        assert all(s.stats()["count"] == n for s in sinks)
    finally:
        for s in sinks:
            s.stop()
    return {
        "events": n,
        "wall_seconds": round(wall, 2),
        "per_remote_events_per_s": {k: round(n / v) for k, v in sorted(times.items())},
        "aggregate_events_per_s": round(3 * n / wall),
    }


def scenario_backfill(tmp: Path, history: int, live_seconds: float) -> dict[str, Any]:
    db = tmp / "backfill.db"
    generate(db, history, ["/home/dev/old/x", "/home/dev/old/y"])
    live_sink, backfill_sink = Sink(), Sink()
    cfg, _ = parse_config({"export": {"remotes": {
        "live": remote_spec(live_sink.url, ["/home/dev/live/**"], auto_sync=True, sync_interval="1s", content="full"),
        "backfill": remote_spec(backfill_sink.url, ["/home/dev/old/**"], auto_sync=True, sync_interval="1s",
                                content="full"),
    }}})  # fmt: skip
    # The live remote is already caught up with history (it matches none of it).
    export_once("live", {"export": {"remotes": {"live": remote_spec(live_sink.url, ["/home/dev/live/**"],
                auto_sync=True, sync_interval="1s", content="full")}}}, db)  # fmt: skip
    daemon = ExportDaemon(cfg, db)
    committed: dict[str, float] = {}
    started = time.perf_counter()
    daemon.start()
    i = 0
    try:
        while time.perf_counter() - started < live_seconds:
            batch_start = history + 1000 + i * 5
            generate(db, 5, ["/home/dev/live/p"], start=batch_start, session="live")
            now = time.time()
            for j in range(batch_start, batch_start + 5):
                committed[event_id("claude", "bench", j)] = now
            daemon.notify_new_events()
            i += 1
            time.sleep(0.2)
        deadline = time.time() + 30
        while time.time() < deadline and len(live_sink.stats()["arrivals"]) < len(committed):
            time.sleep(0.1)
        backfilled = backfill_sink.stats()["count"]
    finally:
        daemon.stop(30)
    arrivals = live_sink.stats()["arrivals"]
    live_sink.stop()
    backfill_sink.stop()
    latencies = sorted(arrivals[k] - committed[k] for k in committed if k in arrivals)
    return {
        "history_events": history,
        "live_events": len(committed),
        "live_arrived": len(latencies),
        "backfilled_during_run": backfilled,
        "live_latency_max_s": round(latencies[-1], 2) if latencies else None,
        "live_latency_p99_s": round(latencies[int(len(latencies) * 0.99) - 1], 2) if latencies else None,
        "live_interval_s": 1.0,
    }


SERVER_KEY = "bench-key-0123456789abcdef"


def start_server(tmp: Path, name: str) -> tuple[str, subprocess.Popen[bytes]]:
    """`devlog-server serve` on loopback with its own SQLite database; returns (url, process)."""
    port = free_port()
    env = {
        **os.environ,
        "DEVLOG_SERVER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / f'{name}.db'}",
        "DEVLOG_SERVER_BOOTSTRAP_KEYS": f"bench:{SERVER_KEY}",
    }
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "devlog-server"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_healthy(f"{url}/healthz")
    return url, proc


def server_remote(url: str) -> dict[str, Any]:
    return {**remote_spec(url, ["/home/dev/work/**"], content="full"), "api_key": SERVER_KEY}


def export_to_new_server(tmp: Path, db: Path, name: str) -> tuple[int, float]:
    """Export `db` to a fresh `devlog-server` as the only remote; returns (events sent, seconds)."""
    url, proc = start_server(tmp, name)
    try:
        return export_once(name, {"export": {"remotes": {name: server_remote(url)}}}, db)
    finally:
        proc.terminate()
        proc.wait(15)


def scenario_server(tmp: Path, n: int) -> dict[str, Any]:
    db = tmp / "server-src.db"
    generate(db, n, ["/home/dev/work/a"])
    sent, elapsed = export_to_new_server(tmp, db, "srv")
    return {"events": n, "seconds": round(elapsed, 2), "events_per_s": round(sent / elapsed)}


def scenario_three_servers(tmp: Path, n: int) -> dict[str, Any]:
    """Three remotes at once, each a real `devlog-server` (SQLite), against one remote alone."""
    db = tmp / "servers-src.db"
    generate(db, n, ["/home/dev/work/a", "/home/dev/work/b"])
    sent, elapsed = export_to_new_server(tmp, db, "alone")
    one = sent / elapsed
    servers = [start_server(tmp, f"s{i}") for i in range(3)]
    try:
        cfg = {"export": {"remotes": {f"r{i}": server_remote(u) for i, (u, _) in enumerate(servers)}}}
        times: dict[str, float] = {}

        def worker(name: str) -> None:
            times[name] = export_once(name, cfg, db)[1]

        threads = [threading.Thread(target=worker, args=(f"r{i}",)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for _, p in servers:
            p.terminate()
            p.wait(15)
    each = {k: round(n / v) for k, v in sorted(times.items())}
    return {
        "events": n,
        "one_remote_events_per_s": round(one),
        "three_remotes_events_per_s": each,
        "slowest_share_of_one": round(min(each.values()) / one, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["one", "three", "backfill", "server", "servers"], action="append")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.sink:
        run_sink(args.sink)
        return
    n = 5_000 if args.quick else args.events
    history = 20_000 if args.quick else args.history
    only = set(args.only or ["one", "three", "backfill", "server", "servers"])
    results: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="devlog-bench-export-") as tmp_name:
        tmp = Path(tmp_name)
        if "one" in only:
            results["one_remote"] = scenario_one(tmp, n)
            print(json.dumps({"one_remote": results["one_remote"]}), flush=True)
        if "three" in only:
            results["three_remotes"] = scenario_three(tmp, n)
            print(json.dumps({"three_remotes": results["three_remotes"]}), flush=True)
        if "server" in only:
            results["ingest_server_sqlite"] = scenario_server(tmp, min(n, 50_000))
            print(json.dumps({"ingest_server_sqlite": results["ingest_server_sqlite"]}), flush=True)
        if "servers" in only:
            results["three_servers_sqlite"] = scenario_three_servers(tmp, min(n, 50_000))
            print(json.dumps({"three_servers_sqlite": results["three_servers_sqlite"]}), flush=True)
        if "backfill" in only:
            results["backfill"] = scenario_backfill(tmp, history, 10.0 if args.quick else 30.0)
            print(json.dumps({"backfill": results["backfill"]}), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
