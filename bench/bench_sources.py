"""Parse-only throughput of the Claude Code source on generated transcripts (no store, no engine).

The collect engine must reach >= 50 MB/s on Claude JSONL on one core (docs/benchmarks.md); this
measures the parser's share alone: files are read into memory first, split into lines, then handed
to `ClaudeCodeSource.parse_lines` exactly as the engine does. Data comes from bench_collect's
generator (user prompts, streamed assistant lines with usage, Bash tool calls and results).

    .venv/bin/python bench/bench_sources.py [--mb 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_collect import generate

from devlog_collector.sources.base import SourceFile
from devlog_collector.sources.claude import ClaudeCodeSource


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=50.0)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="devlog-bench-sources-") as tmp:
        root = Path(tmp) / "claude"
        size = generate(root, args.mb, args.files)
        source = ClaudeCodeSource([root])
        files = [(f, f.path.read_bytes()) for f in source.discover()]
        chunks: list[tuple[SourceFile, list[tuple[int, bytes]]]] = [
            (f, list(enumerate(data.split(b"\n")[:-1], start=1))) for f, data in files
        ]
        best = best_cpu = float("inf")
        events = 0
        for _ in range(args.repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            events = 0
            for file, lines in chunks:
                for _item in source.parse_lines(file, lines, {}):
                    events += 1
            best = min(best, time.perf_counter() - start)
            best_cpu = min(best_cpu, time.process_time() - start_cpu)
        lines_total = sum(len(lines) for _, lines in chunks)
        print(
            f"claude parse: {size / 1e6:.1f} MB, {lines_total} lines, {events} events in {best:.2f} s "
            f"(best of {args.repeat}) = {size / 1e6 / best:.0f} MB/s wall, "
            f"{size / 1e6 / best_cpu:.0f} MB/s per CPU second"
        )


if __name__ == "__main__":
    main()
