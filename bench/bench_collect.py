"""Collector benchmarks on generated Claude Code-like JSONL (no network, temporary folders only).

1. Initial `devlog collect` of ~150 MB of transcripts: throughput (MB/s) and the process's peak RSS
   (median of `--runs` collects, each into a fresh store; the peak RSS is the largest of them).
   Twice for the claude source: on Claude Code 2.0-style transcripts (`initial`: activity lines
   only) and on 2.1-style ones (`initial_2_1`: progress and file-history lines as well, see
   `generate`). Both are compact JSON, as Claude Code writes it.
2. A re-run of `devlog collect` with nothing new over 5,000 tracked files: wall time.
3. Start-up: `devlog --help` and `devlog status` wall time (median of 7).
4. The storage floor: the rows the initial collect stored, inserted again into a fresh store by SQLite
   alone as a first history load stores them (same schema, pragmas and commits per file, the id index
   built once at the end; no parsing, no rollup, no secondary indexes), into a new store built aside
   as the collector builds one (`store/first_load.py`: no WAL, no syncs). No collector that keeps
   this store can be faster than this on the machine.

The initial collects run pinned to one CPU (`os.sched_setaffinity`), as the goal is stated ("on one
core"). Each goes into a store that does not exist yet, so each is a first load built aside, as a new
user's first `devlog collect` or `devlog start` is. `initial_unpinned` is one more 2.0-style collect
free to use every core.

Each run is a real `devlog` subprocess (`python -m devlog_collector`) with its own DEVLOG_HOME and a
config pointing the `claude` source at the generated folder. Every figure is reported as wall time and
as the CPU time (user + sys) of the devlog process, so runs on a shared, loaded machine stay
comparable; the load average is printed too. The child runs with Python's bytecode cache allowed (as
an installed devlog does: pip and uv tool compile it, or Python writes it on first run) and after a
warm-up run, even when the caller sets PYTHONDONTWRITEBYTECODE. Usage:

    .venv/bin/python bench/bench_collect.py [--mb 150] [--source claude|generic]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

WORDS = (
    "the",
    "function",
    "returns",
    "a",
    "list",
    "of",
    "parsed",
    "records",
    "and",
    "the",
    "test",
    "checks",
    "each",
    "field",
    "against",
    "the",
    "fixture",
    "refactor",
    "module",
    "config",
    "loader",
    "retry",
    "backoff",
    "database",
    "cursor",
    "index",
    "query",
    "token",
    "cache",
    "session",
)


#: Claude Code writes compact JSON (JavaScript's JSON.stringify): no spaces after `,` and `:`.
COMPACT = (",", ":")


def _text(rng: random.Random, low: int, high: int) -> str:
    n = int(10 ** rng.uniform(low, high))
    return " ".join(rng.choice(WORDS) for _ in range(max(1, n // 6)))[:n]


def _session_lines(rng: random.Random, cwd: str, turns: int, era: str = "2.0") -> list[str]:
    session = str(uuid.UUID(int=rng.getrandbits(128)))
    version = "2.0.14" if era == "2.0" else "2.1.50"
    base = {"isSidechain": False, "userType": "external", "cwd": cwd, "sessionId": session, "version": version}
    base["gitBranch"] = "main"
    lines: list[str] = []
    ts = 1_760_000_000.0 + rng.uniform(0, 3e6)
    parent = None

    def emit(record: dict[str, object]) -> None:
        nonlocal parent, ts
        ts += rng.uniform(0.5, 20)
        uid = str(uuid.UUID(int=rng.getrandbits(128)))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"
        line = {"parentUuid": parent, **base, **record, "uuid": uid, "timestamp": stamp}
        lines.append(json.dumps(line, separators=COMPACT))
        parent = uid

    def progress(data: dict[str, object], tool_id: str) -> None:
        emit({"type": "progress", "data": data, "toolUseID": tool_id, "parentToolUseID": tool_id})

    for _ in range(turns):
        emit({"type": "user", "message": {"role": "user", "content": _text(rng, 1.5, 3)}})
        if era == "2.1":
            snapshot = {"trackedFileBackups": {}, "timestamp": "2025-11-01T00:00:00.000Z"}
            message_id = str(uuid.UUID(int=rng.getrandbits(128)))
            record = {"type": "file-history-snapshot", "messageId": message_id, "snapshot": snapshot}
            lines.append(json.dumps({**record, "isSnapshotUpdate": False}, separators=COMPACT))
        for _step in range(rng.randint(1, 4)):
            msg_id = f"msg_{rng.getrandbits(64):016x}"
            request = f"req_{rng.getrandbits(64):016x}"
            usage = {
                "input_tokens": rng.randint(1, 50),
                "cache_creation_input_tokens": rng.randint(0, 5000),
                "cache_read_input_tokens": rng.randint(0, 80000),
                "output_tokens": rng.randint(20, 2000),
                "service_tier": "standard",
            }
            message = {
                "id": msg_id, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                "stop_reason": None, "stop_sequence": None, "usage": usage,
            }  # fmt: skip
            emit(
                {
                    "type": "assistant",
                    "requestId": request,
                    "message": {**message, "content": [{"type": "text", "text": _text(rng, 2, 3.3)}]},
                }
            )
            tool_id = f"toolu_{rng.getrandbits(64):016x}"
            command = {"command": "pytest -q tests/" + rng.choice(WORDS), "description": "Run the tests"}
            emit(
                {
                    "type": "assistant",
                    "requestId": request,
                    "message": {
                        **message,
                        "content": [{"type": "tool_use", "id": tool_id, "name": "Bash", "input": command}],
                    },
                }
            )
            output = _text(rng, 2, 3.8)
            if era == "2.1":  # hooks around the call, and the command's output as it streams
                hook = {"type": "hook_progress", "hookEvent": "PreToolUse", "hookName": "PreToolUse:Bash",
                        "command": "~/.claude/hooks/check.sh"}  # fmt: skip
                progress(hook, tool_id)
                for seconds in range(1, rng.randint(2, 3)):
                    shown = output[: len(output) * seconds // 4]
                    progress({"type": "bash_progress", "output": shown[-400:], "fullOutput": shown[-2000:],
                              "elapsedTimeSeconds": seconds, "totalLines": shown.count(" ") // 8}, tool_id)  # fmt: skip
                progress({**hook, "hookEvent": "PostToolUse", "hookName": "PostToolUse:Bash"}, tool_id)
            result = {"tool_use_id": tool_id, "type": "tool_result", "content": output, "is_error": False}
            emit(
                {
                    "type": "user",
                    "message": {"role": "user", "content": [result]},
                    "toolUseResult": {"stdout": output, "stderr": "", "interrupted": False, "isImage": False},
                }
            )
    return lines


def generate(root: Path, total_mb: float, files: int, seed: int = 42, era: str = "2.0") -> int:
    """Write ~`total_mb` MB of transcripts in `files` files under `root/projects/`; returns bytes.

    `era` "2.0" writes Claude Code 2.0-style transcripts (activity lines only); "2.1" adds what
    2.1+ writes beside them (formats reference: `progress` lines, about 44 % of a transcript's lines,
    here hook and bash progress around each command; a file-history snapshot per prompt).
    """
    rng = random.Random(seed)
    target = int(total_mb * 1_000_000)
    per_file = max(1, target // files)
    written = 0
    for index in range(files):
        project = root / "projects" / f"-home-dev-work-project-{index % 12}"
        project.mkdir(parents=True, exist_ok=True)
        cwd = f"/home/dev/work/project-{index % 12}"
        with (project / f"{uuid.UUID(int=rng.getrandbits(128))}.jsonl").open("w") as handle:
            size = 0
            while size < per_file:
                chunk = "\n".join(_session_lines(rng, cwd, rng.randint(2, 6), era)) + "\n"
                handle.write(chunk)
                size += len(chunk)
            written += size
    return written


def _config(home: Path, data: Path, source: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.yaml"
    if source == "claude":
        path.write_text(
            f"collect:\n  agents: [claude]\n  roots: {{claude: ['{data}']}}\nstorage:\n  min_free_bytes: 0\n"
        )
    else:
        mapping = "{ts: timestamp, session_id: sessionId, id: uuid, workspace: cwd, model: message.model}"
        path.write_text(
            "collect:\n  agents: []\n  generic:\n"
            f"    - {{name: claudelike, glob: '{data}/projects/**/*.jsonl', mapping: {mapping}}}\n"
            "storage:\n  min_free_bytes: 0\n"
        )
    return path


def _interpreter() -> dict[str, str]:
    """Which CPython build ran the measured collects (they run `sys.executable`): its version, where it
    lives, and whether the interpreter calls into a shared libpython. A build's speed depends on how it
    was compiled: distribution, python.org, Homebrew and uv-managed builds are optimized (PGO + LTO),
    most of them linked statically; a plain source build (pyenv's default) is neither, and on one
    machine ran the same collect about 10 % slower and start-up up to 40 % slower (docs/benchmarks.md,
    "Collector")."""
    maps = Path("/proc/self/maps")
    shared = "libpython" in maps.read_text() if maps.exists() else None
    return {
        "version": sys.version.split()[0],
        "executable": os.path.realpath(os.path.join(sys.base_prefix, "bin", "python3")),
        "libpython": "unknown" if shared is None else "shared" if shared else "static",
    }


def _run_measured(args: list[str], home: Path, *, one_core: bool = False) -> tuple[float, int, str, float]:
    """(wall seconds, peak RSS KiB, stdout, CPU seconds) of one devlog run (pinned to one CPU if asked)."""
    env = dict(os.environ, DEVLOG_HOME=str(home), DEVLOG_CONFIG=str(home / "config.yaml"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cpu = min(os.sched_getaffinity(0))
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "devlog_collector", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if one_core else None,
    )  # fmt: skip
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _, status, rusage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"devlog {' '.join(args)} failed: {err.decode(errors='replace')[-2000:]}")
    return elapsed, rusage.ru_maxrss, out.decode(), rusage.ru_utime + rusage.ru_stime


def storage_floor(db_path: Path, commits: int, size: int) -> dict[str, float]:
    """Seconds SQLite alone takes to store the collected rows again (see item 4 of the docstring)."""
    import sqlite3

    from devlog_collector.store import _INSERT_NEW, _INSERT_NEW_ROWS, SECONDARY_INDEXES, Store
    from devlog_collector.store.migrations import ID_INDEX

    columns = _INSERT_NEW.split("(", 1)[1].split(")", 1)[0]
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as source:
        rows = source.execute(f"SELECT {columns} FROM events ORDER BY seq").fetchall()
    with tempfile.TemporaryDirectory(prefix="devlog-floor-") as tmp:
        store = Store.open(Path(tmp) / "events.db", aside=True)
        db = store.db
        for name, _ in (*SECONDARY_INDEXES, ID_INDEX):
            db.execute(f"DROP INDEX {name}")
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            db.execute(f"DROP TRIGGER {name}")
        step = max(1, -(-len(rows) // commits))
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(rows), step):
            db.execute("BEGIN IMMEDIATE")
            _INSERT_NEW_ROWS.run(db, rows[start : start + step])
            db.execute("COMMIT")
        db.execute(ID_INDEX[1])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        store.close()
    return {"rows": len(rows), "seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
            "ceiling_mb_per_s": round(size / 1e6 / wall, 1)}  # fmt: skip


def _initial_collects(home: Path, size: int, runs: int, *, one_core: bool = True) -> dict[str, object]:
    """Median of `runs` initial collects, each into a fresh store; the last store stays in `home`."""
    measured = []
    for _ in range(max(1, runs)):
        shutil.rmtree(home / "data", ignore_errors=True)
        measured.append(_run_measured(["collect", "--json"], home, one_core=one_core))
    elapsed, _, out, cpu = sorted(measured, key=lambda r: r[0])[len(measured) // 2]
    report = json.loads(out)
    return {
        "bytes": size, "seconds": round(elapsed, 2), "mb_per_s": round(size / 1e6 / elapsed, 1),
        "cpu_seconds": round(cpu, 2), "mb_per_cpu_s": round(size / 1e6 / cpu, 1),
        "peak_rss_mib": round(max(r[1] for r in measured) / 1024, 1), "events": report["events_added"],
        "problems": report["problems"], "runs_seconds": [round(r[0], 2) for r in measured],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=150)
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--tracked", type=int, default=5000)
    parser.add_argument("--source", choices=["claude", "generic"], default="claude")
    parser.add_argument("--runs", type=int, default=3, help="initial collects, each into a fresh store (median)")
    args = parser.parse_args()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="devlog-bench-") as tmp:
        base = Path(tmp)
        data = base / "claude"
        size = generate(data, args.mb, args.files)
        home = base / "home"
        _config(home, data, args.source)
        # The 300 MB just generated would otherwise be written back to disk by the kernel during the
        # collects (about 30 s after it was written), which is not the collector's work: an agent's
        # history on a user's disk is old files.
        os.sync()
        results["load_avg_before"] = [round(x, 2) for x in os.getloadavg()]
        _run_measured(["--help"], home)  # warm-up: bytecode cache
        if args.source == "claude":  # Claude Code 2.1+ transcripts (progress lines), first
            data21, home21 = base / "claude-2.1", base / "home-2.1"
            size21 = generate(data21, args.mb, args.files, era="2.1")
            _config(home21, data21, args.source)
            os.sync()  # (as above)
            results["initial_2_1"] = _initial_collects(home21, size21, args.runs)
        results["initial_unpinned"] = _initial_collects(home, size, 1, one_core=False)
        results["initial"] = _initial_collects(home, size, args.runs)
        floors = [storage_floor(home / "data" / "events.db", args.files, size) for _ in range(3)]
        results["storage_floor"] = sorted(floors, key=lambda f: f["seconds"])[1]
        elapsed, _, out, cpu = _run_measured(["collect", "--json"], home)
        results["rerun_same_files"] = {
            "seconds": round(elapsed, 3),
            "cpu_seconds": round(cpu, 3),
            "events": json.loads(out)["events_added"],
        }

        many = base / "many"
        generate(many, args.tracked * 0.004, args.tracked, seed=7)
        home2 = base / "home2"
        _config(home2, many, args.source)
        old = time.time() - 60
        for path in (many / "projects").rglob("*.jsonl"):
            os.utime(path, (old, old))
        _run_measured(["collect", "--json"], home2)
        reruns = [_run_measured(["collect", "--json"], home2) for _ in range(5)]
        results["rerun_nothing_new"] = {
            "files": args.tracked,
            "median_seconds": round(statistics.median(r[0] for r in reruns), 3),
            "median_cpu_seconds": round(statistics.median(r[3] for r in reruns), 3),
        }
        # start-up with a config file that has a remote (the config is read and validated)
        with (home2 / "config.yaml").open("a") as handle:
            handle.write("export:\n  remotes:\n    team: {url: 'http://127.0.0.1:9', api_key: '${BENCH_KEY:-x}'}\n")
        startup: dict[str, float] = {}
        for name, command in (("help", ["--help"]), ("status", ["status"]), ("status_json", ["status", "--json"])):
            runs = [_run_measured(command, home2) for _ in range(7)]
            startup[f"{name}_median_seconds"] = round(statistics.median(r[0] for r in runs), 3)
            startup[f"{name}_median_cpu_seconds"] = round(statistics.median(r[3] for r in runs), 3)
        results["startup"] = startup
    results["source"] = args.source
    results["python"] = sys.version.split()[0]
    results["interpreter"] = _interpreter()
    results["cpus"] = os.cpu_count()
    results["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
