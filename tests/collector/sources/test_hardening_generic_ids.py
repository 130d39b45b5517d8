"""Generic sources: a mapped `id` is global to the source, and docs/sources.md says so.

The id of an event with a mapped `id` is derived from the agent name and that value only (stores
depend on it, so it is not scoped by session or file now). A mapping whose ids are unique only per
session therefore keeps one line per id; these tests pin that behaviour and the documentation that
warns about it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.collector.collect_helpers import collect, expected_id, line, make_config, stored_ids

DOCS = Path(__file__).parents[3] / "docs" / "sources.md"


def sessions_stored(db: Path) -> list[tuple[str, str]]:
    con = sqlite3.connect(db)
    try:
        return sorted(con.execute("SELECT session_id, text FROM events"))
    finally:
        con.close()


def test_a_mapped_id_shared_by_two_sessions_is_one_event(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(line(1, session="sess-a", text="a1") + line(2, session="sess-a", text="a2"))
    (logs / "b.jsonl").write_bytes(line(1, session="sess-b", text="b1") + line(2, session="sess-b", text="b2"))
    config = make_config(logs)
    result = collect(config)
    assert sorted(stored_ids(config)) == sorted([expected_id(1), expected_id(2)])  # not scoped by session
    assert sessions_stored(config.storage.db_path()) == [("sess-a", "a1"), ("sess-a", "a2")]
    assert result.problems == 0  # nothing says so at collect time: the docs must


def test_without_a_mapped_id_every_session_keeps_its_lines(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for session in ("sess-a", "sess-b"):
        records = [{"ts": 1_760_000_000_000 + n, "sid": session, "kind": "prompt", "text": f"{n}"} for n in (1, 2)]
        (logs / f"{session}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    config = make_config(logs)
    collect(config)
    assert len(sessions_stored(config.storage.db_path())) == 4


def test_the_docs_state_that_a_mapped_id_must_be_unique_across_files() -> None:
    section = DOCS.read_text(encoding="utf-8").split("## Generic JSONL sources", 1)[1].split("\n## ", 1)[0]
    assert "must be unique across every line of every file the source reads" in section
    assert "unique only within a session" in section and "leave `id` out of the mapping" in section
