"""Shared helpers of the collector-core suites: a generic JSONL source config, runs, store reads."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devlog_collector.collect import Collector, CollectResult
from devlog_collector.config import Config, parse_config
from devlog_collector.store import Store
from devlog_shared import event_id

AGENT = "testagent"
MAPPING = {"ts": "ts", "session_id": "sid", "kind": "kind", "text": "text", "id": "uuid", "workspace": "cwd"}


def make_config(logs: Path, *, pattern: str = "**/*.jsonl", **sections: Any) -> Config:
    """A config with every built-in agent off and one generic source over `logs/<pattern>`."""
    raw: dict[str, Any] = {
        "collect": {
            "agents": [],
            "generic": [{"name": AGENT, "glob": str(logs / pattern), "mapping": MAPPING}],
        },
        "storage": {"min_free_bytes": 0},
    }
    for key, value in sections.items():
        raw.setdefault(key, {}).update(value)
    config, _ = parse_config(raw)
    return config


def agent_config(agent: str, root: Path, store: Path) -> Config:
    """A config collecting only the built-in `agent` from `root` into a store folder `store`."""
    config, _ = parse_config(
        {"collect": {"agents": [agent], "roots": {agent: [str(root)]}},
         "storage": {"path": str(store), "min_free_bytes": 0}}
    )  # fmt: skip
    return config


def record(n: int, *, session: str = "s1", cwd: str | None = None, text: str | None = None) -> dict[str, Any]:
    rec: dict[str, Any] = {"uuid": f"u{n}", "ts": 1_760_000_000_000 + n, "sid": session, "kind": "prompt"}
    rec["text"] = text if text is not None else f"line {n}"
    if cwd is not None:
        rec["cwd"] = cwd
    return rec


def line(n: int, **kwargs: Any) -> bytes:
    return json.dumps(record(n, **kwargs)).encode() + b"\n"


def expected_id(n: int) -> str:
    return event_id(AGENT, "id", f"u{n}")


def collect(config: Config, **kwargs: Any) -> CollectResult:
    """One pass with a fresh store connection and collector (as `devlog collect` does)."""
    with Store.open(config.storage.db_path()) as store:
        store.acquire_writer_lock()
        return Collector(store, config, **kwargs).collect()


def stored_ids(config: Config) -> list[str]:
    path = config.storage.db_path()
    if not path.exists():
        return []
    db = sqlite3.connect(path)
    try:
        return [row[0] for row in db.execute("SELECT id FROM events ORDER BY seq")]
    finally:
        db.close()


def problems(config: Config) -> list[tuple[str, str, str, int]]:
    db = sqlite3.connect(config.storage.db_path())
    try:
        return list(db.execute("SELECT path, position, message, count FROM parse_errors ORDER BY id"))
    finally:
        db.close()


def age(*paths: Path, seconds: float = 10.0) -> None:
    """Move files' mtime into the past (files modified within the last second are re-verified)."""
    import os
    import time

    for path in paths:
        then = time.time() - seconds
        os.utime(path, (then, then))


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def write_as_before(patch: pytest.MonkeyPatch, *skipped: str) -> None:
    """Make `Store` behave as a devlog from before the named migrations (and every later one; m050
    among them or later).

    The store then migrates without them and writes events with the 20 columns it had before m050
    (no price extras), as an older devlog did, so a later `Store.open` migrates a realistic old store.
    """
    import devlog_collector.store as store_module
    from devlog_collector.store import migrations

    # (a devlog from before a migration has none of the later ones either)
    names = [name for name, _ in migrations.MIGRATIONS]
    first = min(names.index(name) for name in skipped)
    patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:first])
    if "m050_price_extras" in skipped:
        row_values = store_module._row_values
        from devlog_collector.store.row_batches import RowBatchInsert

        head = store_module._INSERT_ROWS.head.replace(", cache_creation_1h_tokens, web_search_requests, fast", "")
        rows = RowBatchInsert(head, 20, store_module._INSERT_ROWS.tail)
        patch.setattr(store_module, "_INSERT_ROWS", rows)
        patch.setattr(store_module, "_INSERT", rows.one_row)
        patch.setattr(store_module, "_row_values", lambda event, *args: row_values(event, *args)[:20])


def killed_mid_run(work: Callable[[], object], after: float) -> bool:
    """Run `work` in a forked child and `kill -9` it `after` seconds in; whether the kill found it
    still running (else it had finished, or failed: exit 0 or 1)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            work()
        except BaseException:
            code = 1
        os._exit(code)
    time.sleep(after)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status)
