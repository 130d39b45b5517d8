"""Benchmark of local query, stats and search over a 1,000,000-event store.

Why: the issue's promise is that `devlog stats/query` answer instantly on a big history because
parsing is already done. This script builds a realistic store (rows in exactly the layout
`Store.commit()` writes, but inserted in bulk so generation takes a minute, not an hour), then times
the in-process functions and the CLI end to end, and prints a Markdown block for docs/benchmarks.md.

    .venv/bin/python bench/bench_query.py [--events 1000000] [--db /tmp/devlog-bench-query.db] [--rebuild]
    .venv/bin/python bench/bench_query.py --ccusage "$(scripts/install-ccusage.sh)" [--mb 150]

The second form compares `devlog stats --by day` (after one `devlog collect`) with `ccusage claude
daily` on the same generated Claude Code logs (bench/bench_collect.py's generator), and checks that
both report the same token totals.

The generated store is cached (keyed by the event count and a generator version) because building
it takes longer than the benchmarks themselves.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devlog_collector.store import _INSERT, Store, _row_values
from devlog_shared import Event, FileInfo, ToolInfo, Usage

GENERATOR_VERSION = "2"  # 2: the store's own INSERT (m050's price columns)

_AGENTS = [("claude", 0.5), ("codex", 0.2), ("cursor", 0.1), ("copilot", 0.1), ("gemini", 0.1)]
_MODELS = {
    "claude": ["claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101", "claude-haiku-4-5-20251001"],
    "codex": ["gpt-5.3-codex", "gpt-5"],
    "cursor": ["claude-sonnet-4-5", "gpt-5", "auto"],
    "copilot": ["gpt-4.1", "claude-sonnet-4"],
    "gemini": ["gemini-2.5-pro", "gemini-2.5-flash"],
}
_WORDS_TEXT = (
    "the a retry webhook handler database migration index query test failing passes refactor endpoint health "
    "config parser cursor export remote session token cost budget latency cache invalidate schema column table "
    "function class module import error exception traceback fix bug feature flag deploy docker compose server "
    "client request response timeout backoff jitter queue worker thread async await lock mutex file path edit "
    "patch diff commit branch merge rebase review comment docs readme benchmark profile memory leak allocation"
)
_WORDS = _WORDS_TEXT.split()
_TOOLS = ["Bash", "Read", "Edit", "Write", "Grep", "Glob", "exec_command", "apply_patch", "read_file"]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def _events(n: int, seed: int = 7) -> Iterator[Event]:
    """`n` events in sessions of 20-120 events over the last 365 days, newest last."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=365)
    workspaces = [f"/home/dev/work/service-{i:02d}" for i in range(20)]
    workspaces += [f"/home/dev/personal/project-{i:02d}" for i in range(10)]
    workspaces += [f"/home/dev/work/monorepo/packages/pkg-{i}" for i in range(5)]
    agents, weights = zip(*_AGENTS, strict=True)
    produced = 0
    n_sessions = max(1, n // 60)
    spacing = (now - start) / n_sessions
    for s in range(n_sessions):
        if produced >= n:
            break
        agent = rng.choices(agents, weights)[0]
        ws = rng.choice(workspaces)
        session = f"{agent}-{s:07d}-{rng.getrandbits(48):012x}"
        model = rng.choice(_MODELS[agent])
        t = start + spacing * s + timedelta(seconds=rng.randint(0, 600))
        size = rng.randint(20, 100) if s < n_sessions - 1 else n - produced
        size = min(size, n - produced)
        for i in range(size):
            t += timedelta(seconds=rng.randint(1, 40))
            common = {
                "id": f"{session}:{i}",
                "ts": t,
                "agent": agent,
                "session_id": session,
                "workspace": ws,
                "project": ws.rsplit("/", 1)[-1],
                "user": "dev",
            }
            if i == 0:
                yield Event(kind="session_start", **common)  # type: ignore[arg-type]
            elif i % 12 == 1:
                yield Event(kind="prompt", text=_sentence(rng, rng.randint(8, 60)), **common)  # type: ignore[arg-type]
            elif i % 3 == 0:
                cached = rng.randint(5_000, 120_000)
                usage = Usage(
                    input_tokens=rng.randint(1, 3_000),
                    output_tokens=rng.randint(20, 2_000),
                    cache_creation_tokens=rng.randint(0, 4_000) if agent == "claude" else 0,
                    cache_read_tokens=cached,
                    reasoning_tokens=rng.randint(0, 200) if agent == "codex" else 0,
                )
                yield Event(
                    kind="response",
                    model=model,
                    usage=usage,
                    text=_sentence(rng, rng.randint(10, 120)),
                    **common,  # type: ignore[arg-type]
                )
            elif i % 3 == 1:
                tool = rng.choice(_TOOLS)
                yield Event(
                    kind="tool_call",
                    tool=ToolInfo(name=tool, call_id=f"call_{i}"),
                    text=_sentence(rng, rng.randint(3, 20)),
                    **common,  # type: ignore[arg-type]
                )
            elif i % 5 == 2:
                yield Event(
                    kind="file_edit",
                    file=FileInfo(path=f"{ws}/src/{rng.choice(_WORDS)}.py", lines_added=rng.randint(0, 40)),
                    **common,  # type: ignore[arg-type]
                )
            else:
                yield Event(
                    kind="tool_result",
                    tool=ToolInfo(name=rng.choice(_TOOLS), status="ok"),
                    text=_sentence(rng, rng.randint(20, 200)),
                    **common,  # type: ignore[arg-type]
                )
            produced += 1


def build_store(path: Path, n: int) -> None:
    """Create a migrated store at `path` holding `n` generated events."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    Store.open(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    collected = int(time.time() * 1000)
    batch: list[tuple[object, ...]] = []
    started = time.perf_counter()
    db.execute("BEGIN")
    for count, event in enumerate(_events(n), 1):
        batch.append(_row_values(event, collected))
        if len(batch) == 20_000:
            db.executemany(_INSERT, batch)
            batch.clear()
            db.execute("COMMIT")
            db.execute("BEGIN")
            print(f"  {count:,} events ({time.perf_counter() - started:.0f} s)", file=sys.stderr, end="\r")
    db.executemany(_INSERT, batch)
    db.execute("COMMIT")
    with Store.open(path) as store:  # the full-text index follows the events (what `devlog start` does)
        store.update_search_index()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("ANALYZE")
    db.execute(f"INSERT OR REPLACE INTO meta (key, value) VALUES ('bench_generator', '{GENERATOR_VERSION}:{n}')")
    db.close()
    print(f"\nbuilt {path} with {n:,} events in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def _timed(fn: Callable[[], object], repeat: int = 5) -> tuple[float, float]:
    """(median, best) seconds over `repeat` warm runs (one untimed warm-up first)."""
    fn()
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), min(runs)


def _cli(args: list[str], env: dict[str, str]) -> Callable[[], object]:
    devlog = str(Path(sys.executable).with_name("devlog"))

    def run() -> object:
        return subprocess.run([devlog, *args], env=env, check=True, capture_output=True, timeout=120)

    return run


def _median_run(argv: list[str], env: dict[str, str], repeat: int) -> tuple[float, bytes]:
    runs, out = [], b""
    for _ in range(repeat):
        t = time.perf_counter()
        out = subprocess.run(argv, env=env, check=True, capture_output=True, timeout=600).stdout
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), out


def compare_ccusage(ccusage: str, mb: float, repeat: int) -> None:
    """`devlog stats --by day` vs `ccusage claude daily` over the same generated Claude Code logs."""
    import json

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_collect import generate

    root = Path(f"/tmp/devlog-bench-ccusage-{mb:g}-compact")
    logs, home = root / "claude", root / "home"
    if not (root / "collected").exists():
        import shutil

        shutil.rmtree(root, ignore_errors=True)
        generate(logs, mb * 1.08, 60)
        # Claude Code writes compact JSON, and ccusage only sees usage written that way ("usage":{).
        size = 0
        for file in logs.glob("projects/*/*.jsonl"):
            lines = [json.dumps(json.loads(line), separators=(",", ":")) for line in file.read_text().splitlines()]
            file.write_text("\n".join(lines) + "\n")
            size += file.stat().st_size
        home.mkdir(parents=True)
        (home / "config.yaml").write_text(
            f"collect:\n  agents: [claude]\n  roots: {{claude: ['{logs}']}}\nstorage:\n  min_free_bytes: 0\n"
        )
        env = {**os.environ, "DEVLOG_HOME": str(home), "DEVLOG_CONFIG": str(home / "config.yaml")}
        t = time.perf_counter()
        subprocess.run([str(Path(sys.executable).with_name("devlog")), "collect"], env=env, check=True,
                       capture_output=True, timeout=3600)  # fmt: skip
        print(f"generated {size / 1e6:.0f} MB, collected in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        (root / "collected").touch()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"DEVLOG_HOME": str(home), "DEVLOG_CONFIG": str(home / "config.yaml"), "CLAUDE_CONFIG_DIR": str(logs),
            "PYTHONPYCACHEPREFIX": "/tmp/devlog-bench-pycache", "TZ": "UTC"}  # fmt: skip
    devlog = str(Path(sys.executable).with_name("devlog"))
    _median_run([devlog, "stats", "--by", "day", "-f", "json"], env, 1)  # warm the price cache
    ours_argv = [devlog, "stats", "--by", "day", "-f", "json", "--timezone", "UTC"]
    theirs_argv = [ccusage, "claude", "daily", "--json", "--offline", "--timezone", "UTC"]
    # Interleaved, so both tools see the same machine load (this VM's speed drifts by tens of %).
    ours_runs, theirs_runs = [], []
    for _ in range(repeat):
        elapsed, ours_out = _median_run(ours_argv, env, 1)
        ours_runs.append(elapsed)
        elapsed, theirs_out = _median_run(theirs_argv, env, 1)
        theirs_runs.append(elapsed)
    ours, theirs = statistics.median(ours_runs), statistics.median(theirs_runs)
    total = json.loads(ours_out)["total"]
    cc = json.loads(theirs_out)["totals"]
    ours_tokens = [total[k] for k in ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")]
    same = ours_tokens == [cc[k] for k in ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")]
    print(f"\n### devlog stats vs ccusage ({datetime.now(UTC):%Y-%m-%d}, {mb:g} MB of generated Claude Code logs)\n")
    print(f"| command | median of {repeat} (runs interleaved) |")
    print("| --- | ---: |")
    print(f"| `devlog stats --by day` (after `devlog collect`) | {ours:.2f} s |")
    print(f"| `ccusage claude daily --offline` (v20.0.24) | {theirs:.2f} s |")
    print(f"\nSpeed-up: {theirs / ours:.1f}x (goal: at least 5x). Token totals equal: {same} "
          f"(devlog {total['total_tokens']:,}, ccusage {cc['totalTokens']:,}).")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/devlog-bench-query/data/events.db"))
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ccusage", metavar="BIN", help="compare with this ccusage binary instead")
    parser.add_argument("--mb", type=float, default=150, help="size of the Claude Code logs for --ccusage")
    args = parser.parse_args()
    if args.ccusage:
        compare_ccusage(args.ccusage, args.mb, max(args.repeat, 9))
        return

    from devlog_collector.config import Config
    from devlog_collector.query.events import query_events
    from devlog_collector.query.filters import FilterArgs, build_filters
    from devlog_collector.query.stats import compute_stats

    db_path: Path = args.db
    db_path.parent.mkdir(parents=True, exist_ok=True)
    marker = f"{GENERATOR_VERSION}:{args.events}"
    fresh = True
    if db_path.exists() and not args.rebuild:
        with Store.open(db_path) as store:  # applies any new migration to a cached store
            fresh = store.get_meta("bench_generator") != marker
    if fresh:
        build_store(db_path, args.events)
    size_mb = sum(Path(f"{db_path}{s}").stat().st_size for s in ("",) if Path(f"{db_path}{s}").exists()) / 2**20

    store = Store.open(db_path, readonly=True)
    workspace = "/home/dev/work/service-03"
    results: list[tuple[str, str, float, float, float]] = []

    def stats_day() -> object:
        return compute_stats(store, build_filters(store, FilterArgs()), by="day")

    def query_ws() -> object:
        f = build_filters(store, FilterArgs(workspace=workspace, last="7d"))
        return query_events(store, f, limit=50)

    def search() -> object:
        f = build_filters(store, FilterArgs(search="webhook migration"))
        return query_events(store, f, limit=50)

    results.append(("stats --local --by day", "in-process", *_timed(stats_day, args.repeat), 0.5))
    results.append((f"query --workspace {workspace} --last 7d --limit 50", "in-process", *_timed(query_ws), 0.3))
    results.append(('query --search "webhook migration" --limit 50', "in-process", *_timed(search), 1.0))
    store.close()

    # Byte-code is cached as in a normal install (an environment with PYTHONDONTWRITEBYTECODE would
    # otherwise recompile every module on every run); the cache goes to /tmp, not the source tree.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "DEVLOG_CONFIG")}
    env |= {
        "DEVLOG_HOME": str(db_path.parent.parent),  # holds no config.yaml: the defaults apply
        "PYTHONPYCACHEPREFIX": "/tmp/devlog-bench-pycache",
    }
    assert Config().storage.events_db == db_path.name
    cli_cases = [
        (["stats", "--local", "--by", "day"], "stats --local --by day", 0.5),
        (
            ["query", "--workspace", workspace, "--last", "7d", "--limit", "50"],
            f"query --workspace {workspace} --last 7d --limit 50",
            0.3,
        ),
        (["query", "--search", "webhook migration", "--limit", "50"], 'query --search "webhook migration"', 1.0),
    ]
    for argv, label, goal in cli_cases:
        results.append((label, "CLI end to end", *_timed(_cli(argv, env), args.repeat), goal))

    print(f"\n### Local query ({datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, Python {platform.python_version()})")
    print(f"\nStore: {args.events:,} generated events, {size_mb:,.0f} MiB. Median (best) of {args.repeat} warm runs.\n")
    print("| operation | how | median | best | goal |")
    print("| --- | --- | ---: | ---: | ---: |")
    for label, how, median, best, goal in results:
        flag = "" if median <= goal else " (over)"
        print(f"| `devlog {label}` | {how} | {median * 1000:.1f} ms{flag} | {best * 1000:.1f} ms | < {goal:g} s |")


if __name__ == "__main__":
    main()
