"""A pre-imported exporter process that forks one export child per request (crash tests).

Starting a fresh interpreter per kill costs most of a second; forking this single-threaded process
costs milliseconds, so the crash suite can kill many exports per run. Protocol on stdin/stdout, one
JSON line each: request `{"config": {...}, "db": "..."}` -> `{"pid": N}`, then `{"exit": status}`
once the child is gone (finished or killed).
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

from devlog_collector.config import parse_config
from devlog_collector.export.client import Backoff
from devlog_collector.export.exporter import RemoteExporter, export_with_retries
from devlog_collector.query.pricing import Pricer, TokenSums


def child(spec: dict) -> None:  # type: ignore[type-arg]
    config, _ = parse_config(spec["config"])
    exporter = RemoteExporter.open(spec["remote"], config, Path(spec["db"]))
    outcome = export_with_retries(
        exporter, Backoff(0.001, 0.01, rng=random.Random()), max_failures=None, lock_wait=10.0
    )
    exporter.close()
    os._exit(0 if outcome.caught_up else 3)


def main() -> None:
    # Load the price data once, before forking, as a long-running `devlog start` would have it loaded.
    from datetime import UTC, datetime

    Pricer.load().event_cost("claude-sonnet-4-5", datetime.now(UTC), TokenSums(1, 1))
    for line in sys.stdin:
        spec = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                child(spec)
            finally:
                os._exit(4)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"exit": status}), flush=True)


if __name__ == "__main__":
    main()
