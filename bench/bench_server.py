"""Ingest server benchmark: events/s and batch latency over HTTP on loopback, Postgres and SQLite.

The server runs as `devlog-server serve --workers 1` pinned to one core (`taskset -c 0` when available),
with rate limiting off. The load generator is a separate process (httpx async, keep-alive connections)
sending realistic gzip-compressed batches (prompts, responses with code-like text and token usage, tool
calls, file edits; ~1 KB of JSON per event, compressed at the exporter's level 5). Phases, each bounded
in time:

  fresh     C concurrent clients send distinct 1,000-event batches back to back: created events/s
  replay    the same batches again (100% duplicates): events/s
  methods   (--methods) Postgres only, no HTTP: unnest vs executemany vs COPY into a staging table,
            1,000-row batches, fresh and replayed, on a trigger-free copy of the events table
  latency   open-loop load of 1,000-event batches at --load-rate events/s (Postgres; --sqlite-load-rate
            for SQLite), plus a 100-event batch every 100 ms: p50/p95/p99 latency of the 100-event
            batches and the load actually achieved

    .venv/bin/python bench/bench_server.py                       # Postgres and SQLite, default sizes
    .venv/bin/python bench/bench_server.py --backend postgres --seconds 10
    .venv/bin/python bench/bench_server.py --quick               # smoke run (small, seconds)
    .venv/bin/python bench/bench_server.py --json out.json

Postgres comes from DEVLOG_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres); a
throwaway database is created and dropped. Loopback only; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec

from devlog_shared import Batch, CollectorInfo, Event, FileInfo, ToolInfo, Usage, event_id

ADMIN_URL = os.environ.get("DEVLOG_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TOKEN = "bench-secret-token-0123456789"
GZIP_LEVEL = 5
TEXT = (
    "Refactor the payment retry loop so that it uses exponential backoff and logs each attempt.\n"
    "```python\nfor attempt in range(5):\n    try:\n        return client.charge(order)\n"
    "    except TransientError as exc:\n        log.warning('retrying', attempt=attempt, error=str(exc))\n"
    "        time.sleep(2 ** attempt)\n```\n"
    "I also updated tests/test_payments.py and the README section on retries; the flaky test now passes. "
)
WORDS = (
    TEXT + " retry backoff payment order client charge invoice refund ledger migration schema index query cursor "
    "session token budget latency p99 throughput worker queue commit rollback snapshot"
).split()
KINDS = ("prompt", "response", "tool_call", "tool_result", "response", "file_edit", "tool_call", "tool_result")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def text_of(rng: random.Random, length: int) -> str:
    """Varied prose/code-like text (compresses about 3-4x with gzip, like real transcripts)."""
    out: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(WORDS)
        if rng.random() < 0.08:
            word = f"{word}_{rng.randrange(10_000)}"
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:length]


def make_events(batch_no: int, size: int, tag: str) -> list[Event]:
    """`size` realistic events with ids unique to (tag, batch_no)."""
    rng = random.Random(batch_no)
    base = datetime(2026, 9, 1, tzinfo=UTC) + timedelta(minutes=batch_no)
    events = []
    for i in range(size):
        kind = KINDS[i % len(KINDS)]
        session = f"{tag}-s{batch_no}-{i // 50}"
        common: dict[str, Any] = {
            "id": event_id("claude", tag, batch_no, i),
            "ts": base + timedelta(milliseconds=i * 37),
            "agent": ("claude", "codex", "copilot", "cursor", "gemini")[batch_no % 5],
            "kind": kind,
            "session_id": session,
            "workspace": f"/home/dev{batch_no % 7}/work/project-{(batch_no + i // 100) % 20}",
            "project": f"project-{(batch_no + i // 100) % 20}",
            "user": f"dev{batch_no % 7}@example.com",
            "machine": f"laptop-{batch_no % 7}",
            "agent_version": "2.1.0",
        }
        if kind in ("prompt", "response"):
            common["text"] = text_of(rng, 300 + (i * 53) % 900)
        if kind == "response":
            common["model"] = "claude-sonnet-4-5"
            common["usage"] = Usage(
                input_tokens=12 + i, output_tokens=300 + i, cache_read_tokens=20_000, cache_creation_tokens=900
            )
            common["cost_usd"] = 0.0123
        if kind in ("tool_call", "tool_result"):
            common["tool"] = ToolInfo(name=("Edit", "Bash", "Read")[i % 3], call_id=f"call-{i}", status="ok")
            common["text"] = text_of(rng, 200 + (i * 31) % 500)
        if kind == "file_edit":
            common["file"] = FileInfo(path=f"src/payments/retry_{i % 9}.py", lines_added=12, lines_removed=3)
        events.append(Event(**common))
    return events


def make_body(batch_no: int, size: int, tag: str) -> bytes:
    batch = Batch(
        sent_at=datetime.now(UTC),
        collector=CollectorInfo(name="devlog", version="0.1.0", machine=f"laptop-{batch_no % 7}"),
        events=make_events(batch_no, size, tag),
    )
    return gzip.compress(msgspec.json.encode(batch), compresslevel=GZIP_LEVEL)


# ------------------------------------------------------------------ load generator (separate process)


async def _post(client: httpx.AsyncClient, body: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    response = await client.post(
        "/api/v1/events",
        content=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"server answered {response.status_code}: {response.text[:300]}")
    return response.json()["created"], elapsed


async def closed_loop(url: str, bodies: list[bytes], clients: int, seconds: float) -> dict[str, Any]:
    """Clients send bodies back to back until all are sent or time is up."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    sent = created = 0
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def worker() -> None:
            nonlocal sent, created
            while time.perf_counter() < deadline:
                try:
                    body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                new, elapsed = await _post(client, body)
                created += new
                sent += 1
                latencies.append(elapsed)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - started
    return {"batches": sent, "created": created, "seconds": wall, "latencies": latencies}


async def open_loop(
    url: str, load_bodies: list[bytes], probe_bodies: list[bytes], load_rate: float, seconds: float, batch: int
) -> dict[str, Any]:
    """1,000-event batches at `load_rate` events/s plus one 100-event probe every 100 ms."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    load_done = 0
    probe_latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        tasks: list[asyncio.Task[Any]] = []
        started = time.perf_counter()
        interval = batch / load_rate
        next_load = next_probe = started
        li = pi = 0

        async def load(body: bytes) -> None:
            nonlocal load_done
            new, _ = await _post(client, body)
            load_done += new

        async def probe(body: bytes) -> None:
            _, elapsed = await _post(client, body)
            probe_latencies.append(elapsed)

        while (now := time.perf_counter()) < started + seconds and li < len(load_bodies):
            if now >= next_load:
                tasks.append(asyncio.create_task(load(load_bodies[li])))
                li += 1
                next_load += interval
            if now >= next_probe and pi < len(probe_bodies):
                tasks.append(asyncio.create_task(probe(probe_bodies[pi])))
                pi += 1
                next_probe += 0.1
            await asyncio.sleep(max(0.0, min(next_load, next_probe) - time.perf_counter()))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - started
    return {"load_events": load_done, "seconds": wall, "probe_latencies": probe_latencies}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def loadgen_main(args: argparse.Namespace) -> None:
    """Entry point of the load-generator process: prints one JSON document."""
    tag = uuid.uuid4().hex[:8]
    t0 = time.perf_counter()
    bodies = [make_body(n, 1000, tag) for n in range(args.batches)]
    prep = time.perf_counter() - t0
    raw = len(gzip.decompress(bodies[0]))
    result: dict[str, Any] = {
        "prepare_seconds": round(prep, 1),
        "body_kib_gzip": round(sum(map(len, bodies)) / len(bodies) / 1024, 1),
        "body_kib_json": round(raw / 1024, 1),
    }
    fresh = asyncio.run(closed_loop(args.url, bodies, args.clients, args.seconds))
    replay = asyncio.run(closed_loop(args.url, bodies[: fresh["batches"]], args.clients, args.seconds))
    result["fresh_events_per_s"] = round(fresh["created"] / fresh["seconds"])
    result["fresh_events"] = fresh["created"]
    result["fresh_p99_ms"] = round(percentile(fresh["latencies"], 99) * 1000, 1)
    result["replay_events_per_s"] = round(replay["batches"] * 1000 / replay["seconds"])
    result["replay_created"] = replay["created"]
    load_count = int(args.load_rate * args.latency_seconds / 1000) + 2
    load_bodies = [make_body(100_000 + n, 1000, tag) for n in range(load_count)]
    probe_bodies = [make_body(200_000 + n, 100, tag) for n in range(int(args.latency_seconds * 10) + 2)]
    lat = asyncio.run(open_loop(args.url, load_bodies, probe_bodies, args.load_rate, args.latency_seconds, 1000))
    probes = lat["probe_latencies"]
    result["latency_load_events_per_s"] = round(lat["load_events"] / lat["seconds"])
    result["probe_batches"] = len(probes)
    for q in (50, 95, 99):
        result[f"probe_p{q}_ms"] = round(percentile(probes, q) * 1000, 1)
    print(json.dumps(result))


# ------------------------------------------------------------------ database write methods (no HTTP)


async def compare_methods(db_url: str, batches: int) -> dict[str, Any]:
    """Rows/s of three idempotent bulk-insert methods for 1,000-event batches, fresh and replayed.

    Runs on a copy of the events table (`LIKE events INCLUDING ALL`: same columns and indexes, no
    triggers), one connection, one transaction per batch, like the server.
    """
    from devlog_server.ingest import _COLUMNS, _PG_TYPES, _row

    tag = uuid.uuid4().hex[:8]
    data = []
    for n in range(batches):
        events = make_events(300_000 + n, 1000, tag)
        data.append([(*_row(e, msgspec.json.encode(e).decode()), datetime.now(UTC), "benchkey", "m") for e in events])
    columns = [*_COLUMNS, "received_at", "key_id", "collector"]
    types = [_PG_TYPES.get(c, "text[]") for c in _COLUMNS] + ["timestamptz[]", "text[]", "text[]"]
    unnest_sql = (
        f"INSERT INTO m_events ({', '.join(columns)}) SELECT * FROM unnest("
        + ", ".join(f"${i + 1}::{t}" for i, t in enumerate(types))
        + ") ON CONFLICT (id) DO NOTHING RETURNING id"
    )
    many_sql = (
        f"INSERT INTO m_events ({', '.join(columns)}) VALUES ("
        + ", ".join(f"${i + 1}" for i in range(len(columns)))
        + ") ON CONFLICT (id) DO NOTHING"
    )
    conn = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"))
    results: dict[str, Any] = {}
    try:
        await conn.execute("CREATE TABLE m_events (LIKE events INCLUDING ALL)")
        await conn.execute("CREATE TEMP TABLE stage (LIKE m_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")

        async def unnest(rows: list[tuple[Any, ...]]) -> None:
            await conn.fetch(unnest_sql, *[list(c) for c in zip(*rows, strict=True)])

        async def executemany(rows: list[tuple[Any, ...]]) -> None:
            await conn.executemany(many_sql, rows)

        async def copy_stage(rows: list[tuple[Any, ...]]) -> None:
            await conn.copy_records_to_table("stage", records=rows, columns=columns)
            await conn.fetch("INSERT INTO m_events SELECT * FROM stage ON CONFLICT (id) DO NOTHING RETURNING id")

        for name, method in (("unnest", unnest), ("executemany", executemany), ("copy_stage", copy_stage)):
            await conn.execute("TRUNCATE m_events")
            for phase in ("fresh", "replay"):
                started = time.perf_counter()
                for rows in data:
                    async with conn.transaction():
                        await method(rows)
                results[f"{name}_{phase}_rows_per_s"] = round(len(data) * 1000 / (time.perf_counter() - started))
    finally:
        await conn.close()
    return results


# ------------------------------------------------------------------ orchestration


async def _pg(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def start_server(database_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DEVLOG_SERVER_DATABASE_URL": database_url,
        "DEVLOG_SERVER_BOOTSTRAP_KEYS": f"bench:{TOKEN}",
        "DEVLOG_SERVER_RATE_LIMIT_PER_MINUTE": "0",
        "DEVLOG_SERVER_LOG_LEVEL": "warning",
    }
    command = [str(Path(sys.executable).parent / "devlog-server"), "serve", "--port", str(port), "--workers", "1"]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")


def run_methods(args: argparse.Namespace) -> dict[str, Any]:
    from devlog_server.db.migrate import upgrade_sync

    name = f"devlog_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + name
    try:
        upgrade_sync(url)
        return {"backend": "postgres-methods", **asyncio.run(compare_methods(url, args.method_batches))}
    finally:
        asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    name = f"devlog_bench_{uuid.uuid4().hex[:8]}"
    if backend == "postgres":
        asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
        url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + name
    else:
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    port = free_port()
    server = start_server(url, port, workdir / f"server-{backend}.log")
    try:
        command = [
            sys.executable,
            __file__,
            "--loadgen",
            "--url",
            f"http://127.0.0.1:{port}",
            "--batches",
            str(args.batches),
            "--clients",
            str(args.clients),
            "--seconds",
            str(args.seconds),
            "--latency-seconds",
            str(args.latency_seconds),
            "--load-rate",
            str(args.load_rate if backend == "postgres" else args.sqlite_load_rate),
        ]
        timeout = args.seconds * 2 + args.latency_seconds + 600
        out = subprocess.run(command, check=True, capture_output=True, timeout=timeout, text=True)
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        if backend == "postgres":
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return {"backend": backend, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=20.0, help="bound of the fresh and replay phases")
    parser.add_argument("--latency-seconds", type=float, default=15.0, help="length of the latency phase")
    parser.add_argument("--load-rate", type=float, default=10_000, help="events/s offered in the latency phase")
    parser.add_argument(
        "--sqlite-load-rate", type=float, default=5_000, help="events/s offered in the latency phase on SQLite"
    )
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients in the fresh/replay phases")
    parser.add_argument("--batches", type=int, default=300, help="distinct 1,000-event batches prepared")
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--methods", action="store_true", help="also compare Postgres bulk-insert methods (no HTTP)")
    parser.add_argument("--method-batches", type=int, default=50, help="1,000-row batches per method and phase")
    parser.add_argument("--json", type=Path, help="write results as JSON here")
    parser.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        loadgen_main(args)
        return
    if args.quick:
        args.seconds, args.latency_seconds, args.batches, args.load_rate = 3.0, 3.0, 20, 2000
        args.sqlite_load_rate = 2000
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    results = []
    with tempfile.TemporaryDirectory(prefix="devlog-bench-") as tmp:
        for backend in backends:
            result = run_backend(backend, args, Path(tmp))
            results.append(result)
            print(json.dumps(result), flush=True)
    if args.methods:
        result = run_methods(args)
        results.append(result)
        print(json.dumps(result), flush=True)
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
        "command": "python bench/bench_server.py " + " ".join(sys.argv[1:]),
    }
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()
