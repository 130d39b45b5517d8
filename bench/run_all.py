"""Run every benchmark on generated data and rewrite the results block of docs/benchmarks.md.

Why one runner: the figures in docs/benchmarks.md must come from one run, on one machine, on one date,
with the commands that produced them — never from timed tests. Each benchmark is a standalone script
in bench/ (loopback only, generating its own data); this runner executes them one after another so
they never load the machine together, records the machine and its load, and replaces the text
between the `bench:begin` and `bench:end` markers. Hand-written analysis below the markers is kept.

    .venv/bin/python bench/run_all.py            # everything (about 15 minutes on 2 cores)
    .venv/bin/python bench/run_all.py --quick    # small sizes, to check the scripts work
    .venv/bin/python bench/run_all.py --only collect --only query

`collect-system` runs the collector benchmark again under the venv `make venv-system` builds on the
machine's own CPython (on Debian and Ubuntu an optimized PGO + LTO build, as most users' Pythons are;
the `.venv` of a pyenv source build is not): it is skipped when that venv does not exist.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
#: The interpreter of `make venv-system`, for `collect-system`.
SYSTEM_PYTHON = ROOT / ".venv-system" / "bin" / "python"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

#: name -> (title, full arguments, quick arguments)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "collect": ("Collector: initial collect, re-collect, start-up", ["bench/bench_collect.py"],
                ["bench/bench_collect.py", "--mb", "10", "--files", "10", "--tracked", "500"]),
    "collect-system": ("Collector under the system's CPython build (`make venv-system`)", ["bench/bench_collect.py"],
                       ["bench/bench_collect.py", "--mb", "10", "--files", "10", "--tracked", "500"]),
    "sources": ("Parsers alone (Claude Code)", ["bench/bench_sources.py"], ["bench/bench_sources.py", "--mb", "5"]),
    "daemon": ("Collector daemon: CPU idle, beside a busy agent home, and live (5,000 files)",
               ["bench/bench_daemon.py"], ["bench/bench_daemon.py", "--files", "500", "--seconds", "10"]),
    "query": ("Local query and stats at 1,000,000 events", ["bench/bench_query.py"],
              ["bench/bench_query.py", "--events", "50000", "--repeat", "2"]),
    "ccusage": ("`devlog stats` vs `ccusage daily` on the same Claude Code logs",
                ["bench/bench_query.py", "--ccusage", "{ccusage}"],
                ["bench/bench_query.py", "--ccusage", "{ccusage}", "--mb", "10", "--repeat", "2"]),
    "ccusage-codex": ("`devlog stats` vs `ccusage codex daily` on the same Codex rollouts",
                      ["bench/bench_ccusage_codex.py", "--ccusage", "{ccusage}"],
                      ["bench/bench_ccusage_codex.py", "--ccusage", "{ccusage}", "--mb", "5", "--repeat", "2"]),
    "export": ("Exporter: one and three remotes, live latency during a 1M-event backfill", ["bench/bench_export.py"],
               ["bench/bench_export.py", "--quick"]),
    "server": ("Ingest server: throughput, duplicate replay, batch latency (Postgres, SQLite)",
               ["bench/bench_server.py"], ["bench/bench_server.py", "--quick"]),
    "dashboard": ("Dashboard pages at 1,000,000 events (Postgres)", ["bench/bench_dashboard.py"],
                  ["bench/bench_dashboard.py", "--events", "50000", "--runs", "2"]),
}  # fmt: skip


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} cores{mem}, {system}, Python {platform.python_version()}"


def ccusage_binary() -> str | None:
    found = os.environ.get("DEVLOG_CCUSAGE")
    if found and Path(found).exists():
        return found
    try:
        out = subprocess.run([str(ROOT / "scripts" / "install-ccusage.sh")], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    path = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    return path or None


def run_one(name: str, args: list[str], python: str = sys.executable) -> tuple[str, float, int]:
    load = os.getloadavg()[0]
    started = time.monotonic()
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed devlog has its bytecode cached
    proc = subprocess.run([python, *args], cwd=ROOT, capture_output=True, text=True, env=env)
    elapsed = time.monotonic() - started
    output = proc.stdout.strip()
    if output.startswith(("{", "[")):
        output = f"```json\n{output}\n```"
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        output += f"\n\n**failed** (exit {proc.returncode}):\n\n```\n{tail}\n```"
    shown = "python" if python == sys.executable else os.path.relpath(python, ROOT)
    header = f"Command: `{' '.join([shown, *args])}` — load average before {load:.2f}, took {elapsed:.0f} s."
    return f"{header}\n\n{output}\n", elapsed, proc.returncode


def render(sections: list[str], started: datetime, quick: bool) -> str:
    title = "Latest `make bench` run" + (" (quick sizes: a smoke run, not the figures)" if quick else "")
    head = [
        f"## {title}",
        "",
        f"Run on {started:%Y-%m-%d %H:%M} UTC (sections re-run on their own say when in their command line);"
        f" machine: {machine()}.",
        "Each benchmark ran alone, one after another; the load average before each is shown, since this",
        "VM's figures vary by about ±30 % with load. Regenerate with `make bench`.",
        "",
    ]
    return "\n".join([BEGIN, *head, *sections, END])


def merge_sections(previous: str, sections: list[str], started: datetime) -> str:
    """The previous results block with `sections` replacing those of the same title (or appended).

    Sections are cut at the runner's own headings only (a benchmark's output has `###` headings of
    its own). A re-run section says when it ran in its command line.
    """
    titles = {f"### {title}" for title, _, _ in BENCHMARKS.values()}
    head: list[str] = []
    merged: dict[str, list[str]] = {}
    current: list[str] = head
    for line in previous.splitlines():
        if line in titles:
            current = merged.setdefault(line, [])
            current.clear()
        current.append(line)
    blocks = {title: "\n".join(lines).rstrip() + "\n" for title, lines in merged.items()}
    for section in sections:
        title, _, body = section.partition("\n")
        body = body.replace(" took ", f" re-run alone on {started:%Y-%m-%d %H:%M} UTC, took ", 1)
        blocks[title] = f"{title}\n{body}".rstrip() + "\n"
    return "\n".join([BEGIN + "\n".join(head).rstrip(), "", *blocks.values(), END])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (checks the scripts, not the figures)")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS))
    parser.add_argument("--no-write", action="store_true", help="print instead of rewriting docs/benchmarks.md")
    args = parser.parse_args()
    started = datetime.now(UTC)
    sections: list[str] = []
    failures = 0
    ccusage = ccusage_binary() if not args.only or {"ccusage", "ccusage-codex"} & set(args.only) else None
    for name, (title, full, quick) in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        argv = quick if args.quick else full
        if any("{ccusage}" in a for a in argv):
            if ccusage is None or (shutil.which(ccusage) is None and not Path(ccusage).exists()):
                sections.append(f"### {title}\n\nSkipped: ccusage is not installed (`scripts/install-ccusage.sh`).\n")
                continue
            argv = [a.replace("{ccusage}", ccusage) for a in argv]
        python = sys.executable
        if name == "collect-system":
            if not SYSTEM_PYTHON.exists():
                sections.append(f"### {title}\n\nSkipped: no `.venv-system` (build it with `make venv-system`).\n")
                continue
            python = str(SYSTEM_PYTHON)
        print(f"running {name} ...", file=sys.stderr, flush=True)
        text, elapsed, code = run_one(name, argv, python)
        failures += code != 0
        print(f"  {name}: {elapsed:.0f} s, exit {code}", file=sys.stderr, flush=True)
        sections.append(f"### {title}\n\n{text}")
    block = render(sections, started, args.quick)
    if args.no_write:
        print(block)
        return 1 if failures else 0
    current = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if BEGIN in current and END in current:
        before, _, rest = current.partition(BEGIN)
        previous, _, after = rest.partition(END)
        if args.only:  # keep the other benchmarks' latest figures; replace or add only these sections
            block = merge_sections(previous, sections, started)
        DOC.write_text(before + block + after)
    else:
        title, _, body = current.partition("\n")
        DOC.write_text(f"{title}\n\n{block}\n{body}")
    print(f"wrote {DOC}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
