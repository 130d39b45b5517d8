"""Benchmark of the team dashboard's pages on a 1,000,000-event Postgres database.

Why: the issue's promise is that every page renders in under a second on a million events. This
script creates a throwaway database, migrates it (which installs the rollup trigger), seeds N events
server-side in one statement (`bench/dashboard_seed.py`: 20 developers, 30 workspaces, 5 agents,
90 days), then signs in through the sign-in form and times each page end to end through Litestar's
test client (routing, session check, queries, template rendering), plus the raw `/api/v1/stats`
for comparison and the rollup trigger's cost on the write path (the same 1,000-row insert into
`events` with the trigger enabled and disabled, alternating). Prints a Markdown block for docs/benchmarks.md.

    .venv/bin/python bench/bench_dashboard.py [--events 1000000] [--runs 7] [--keep]

Needs Postgres at DEVLOG_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from litestar.testing import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_seed import seed_postgres

from devlog_server.app import create_app
from devlog_server.db.migrate import upgrade_sync
from devlog_server.settings import ServerSettings

ADMIN_URL = os.environ.get("DEVLOG_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
READ_TOKEN = "bench-read-token-0123456789"
LIMITED_TOKEN = "bench-limited-token-0123456789"


def _admin(query: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(ADMIN_URL, timeout=10)
        try:
            await conn.execute(query)
        finally:
            await conn.close()

    asyncio.run(run())


def _sign_in(client: TestClient[Any], token: str) -> None:
    form = client.get("/dashboard/sign-in")
    match = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert match
    response = client.post(
        "/dashboard/sign-in", data={"csrf_token": match.group(1), "api_key": token}, follow_redirects=False
    )
    assert response.status_code == 303, response.text


def _time(client: TestClient[Any], path: str, runs: int, headers: dict[str, str] | None = None) -> tuple[float, float]:
    """(median, max) milliseconds of `runs` GETs after one warm-up."""
    response = client.get(path, headers=headers)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(path, headers=headers)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return statistics.median(samples), max(samples)


_TRIGGER_PROBE = """
INSERT INTO events (id, ts, received_at, agent, kind, session_id, workspace, project, user_name, model, machine,
                    tool_name, file_path, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens,
                    reasoning_tokens, cost_usd, key_id, collector, body)
SELECT 'probe-' || $1::text || '-' || i, now() - i * interval '1 second', now(), 'claude',
       (ARRAY['prompt', 'response', 'tool_call', 'tool_result'])[1 + i % 4], 'probe-' || $1::text || '-' || (i / 100),
       '/home/dev01/work/payments', 'payments', 'dev01', 'claude-sonnet-4-5', 'm', CASE WHEN i % 4 >= 2 THEN 'Bash' END,
       NULL, 100, 50, 0, 0, 0, 0.001, 'k', 'bench',
       json_build_object('id', 'probe-' || i, 'tool', json_build_object('name', 'Bash', 'status', 'success'),
                         'text', repeat('Synthetic benchmark text ', 8))::text
FROM generate_series(1, 1000) AS i
ON CONFLICT (id) DO NOTHING
"""


def _trigger_cost(dsn: str, rounds: int = 12) -> tuple[float, float]:
    """Median ms of a 1,000-row insert into `events` with and without the rollup trigger (alternating)."""

    async def run() -> tuple[float, float]:
        conn = await asyncpg.connect(dsn, timeout=10)
        on: list[float] = []
        off: list[float] = []
        try:
            for number in range(rounds):
                for enabled, samples in ((True, on), (False, off)):
                    action = "ENABLE" if enabled else "DISABLE"
                    await conn.execute(f"ALTER TABLE events {action} TRIGGER events_dashboard_rollup")
                    start = time.perf_counter()
                    await conn.execute(_TRIGGER_PROBE, f"{number}{action}")
                    samples.append((time.perf_counter() - start) * 1000)
        finally:
            await conn.execute("ALTER TABLE events ENABLE TRIGGER events_dashboard_rollup")
            await conn.close()
        return statistics.median(on), statistics.median(off)

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards (prints its URL).")
    args = parser.parse_args()

    name = f"devlog_bench_dashboard_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    dsn = f"{base}/{name}"
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        upgrade_sync(url)
        start = time.perf_counter()
        asyncio.run(seed_postgres(dsn, args.events))
        seed_seconds = time.perf_counter() - start

        settings = ServerSettings(
            database_url=url,
            bootstrap_keys=f"reader:{READ_TOKEN}:read,limited:{LIMITED_TOKEN}:read:~/work/**|/srv/**",
            rate_limit_per_minute=0,
        )
        today = datetime.now(UTC).date()
        sample_session = f"sess-{args.events // 200 - 3}"
        workspace = _fetch_text(dsn, "SELECT workspace FROM events WHERE id = 'ev-1000'")
        pages = [
            ("Overview, last 30 days (cost by model)", "/dashboard?period=30d&metric=cost&split=model"),
            ("Overview, last 90 days (tokens by agent, weekly)", "/dashboard?period=90d&every=week"),
            ("Overview, all time", "/dashboard?period=all"),
            ("Overview, 30 days, one workspace", f"/dashboard?period=30d&workspace={workspace}"),
            ("People & projects, last 30 days", "/dashboard/people?period=30d"),
            ("Tools, last 30 days", "/dashboard/tools?period=30d"),
            ("Sessions, last 30 days", "/dashboard/sessions?period=30d"),
            ("Sessions, search prompt text, 30 days", "/dashboard/sessions?period=30d&q=number+99999"),
            ("Session page (200 events)", f"/dashboard/sessions/{sample_session}"),
            ("Ingest health", "/dashboard/ingest?period=30d"),
        ]
        rows: list[tuple[str, float, float]] = []
        with TestClient(create_app(settings)) as client:
            _sign_in(client, READ_TOKEN)
            for label, path in pages:
                rows.append((label, *_time(client, path, args.runs)))
            client.cookies.clear()
            _sign_in(client, LIMITED_TOKEN)
            rows.append(("Overview, 30 days, glob-limited key", *_time(client, "/dashboard?period=30d", args.runs)))
            since = (today - timedelta(days=29)).isoformat() + "T00:00:00Z"
            api = {"Authorization": f"Bearer {READ_TOKEN}"}
            rows.append(
                (
                    "(API) /api/v1/stats?by=day, 30 days, raw events",
                    *_time(client, f"/api/v1/stats?by=day&since={since}", 3, api),
                )
            )
        with_trigger, without_trigger = _trigger_cost(dsn)
        rollup_rows = _fetch_value(dsn, "SELECT count(*) FROM dashboard_rollups")
        print(
            f"## Dashboard\n\nMeasured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()} "
            f"({os.cpu_count()} cores), Python {platform.python_version()}, PostgreSQL on 127.0.0.1; "
            f"{args.events:,} events over 90 days seeded in {seed_seconds:.1f} s "
            f"(rollup: {rollup_rows:,} rows, built by the trigger). Command: "
            f"`.venv/bin/python bench/bench_dashboard.py --events {args.events} --runs {args.runs}`.\n"
        )
        print("| page | median ms | max ms |\n| --- | ---: | ---: |")
        for label, median, worst in rows:
            print(f"| {label} | {median:.0f} | {worst:.0f} |")
        print(
            f"\nRollup trigger: inserting 1,000 events into `events` took {with_trigger:.1f} ms with the trigger and "
            f"{without_trigger:.1f} ms without (median of 12 alternating rounds, "
            f"{(with_trigger / without_trigger - 1) * 100:+.0f} %)."
        )
    finally:
        if args.keep:
            print(f"\nkept database: {url}")
        else:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin_db(dsn: str, query: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await conn.execute(query)
        finally:
            await conn.close()

    asyncio.run(run())


def _fetch_text(dsn: str, query: str) -> str:
    async def run() -> str:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            return str(await conn.fetchval(query))
        finally:
            await conn.close()

    return asyncio.run(run())


def _fetch_value(dsn: str, query: str) -> int:
    async def run() -> int:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            return int(await conn.fetchval(query))
        finally:
            await conn.close()

    return asyncio.run(run())


if __name__ == "__main__":
    main()
