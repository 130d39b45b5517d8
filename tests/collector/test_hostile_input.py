"""A corpus of hostile agent files: collection never crashes, never stalls other sources, reports each problem once."""

from __future__ import annotations

import json
import os
import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import pytest

from devlog_collector.collect import Collector
from devlog_collector.config import parse_config
from devlog_collector.sources.base import Problem, Source, SourceFile
from devlog_collector.sources.generic import GenericJsonlSource
from devlog_collector.store import Store
from devlog_shared import Event, event_id
from tests.collector.collect_helpers import expected_id, line, make_config


class ListedFiles(Source):
    """Test-only source reading exactly the files it is given (whatever they are)."""

    name: ClassVar[str] = "listed"

    def __init__(self, files: list[SourceFile]) -> None:
        super().__init__([])
        self.files = files

    @classmethod
    def default_roots(cls) -> list[Path]:
        return []

    def discover(self) -> Iterator[SourceFile]:
        yield from self.files

    def parse_lines(self, file: SourceFile, lines: Any, state: dict[str, Any]) -> Iterator[Event | Problem]:
        for number, raw in lines:
            yield Event(id=event_id("listed", raw), ts=datetime.now(UTC), agent="listed", kind="prompt", session_id="s")

    def parse_document(self, file: SourceFile, state: dict[str, Any]) -> Iterator[Event | Problem]:
        """sqlite mode: read table `t` read-only without waiting for a writer's lock."""
        try:
            db = sqlite3.connect(f"file:{file.path}?mode=ro", uri=True, timeout=0.05)
            try:
                rows = db.execute("SELECT id FROM t").fetchall()
            finally:
                db.close()
        except sqlite3.OperationalError as exc:
            yield Problem("database", "locked" if "locked" in str(exc) else f"unreadable: {exc}")
            return
        except sqlite3.DatabaseError as exc:
            yield Problem("database", f"unreadable: {exc}")
            return
        for (row_id,) in rows:
            yield Event(
                id=event_id("listed", "row", row_id), ts=datetime.now(UTC), agent="listed", kind="response",
                session_id="db",
            )  # fmt: skip


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    rng = random.Random(7)
    (logs / "garbage.jsonl").write_bytes(bytes(rng.randrange(256) for _ in range(200_000)))
    (logs / "invalid-utf8.jsonl").write_bytes(
        line(900)[:-1] + b"\n" + b'{"text": "\xc3\x28\xff"}\n' + b"\xed\xa0\x80\n"
    )
    (logs / "deep.jsonl").write_bytes(
        b"[" * 200_000 + b"]" * 200_000 + b"\n" + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"\n"
    )
    wrong = [
        {"uuid": ["x"], "ts": {"a": 1}, "sid": 5},
        {"uuid": "w1", "ts": "2026-01-01T00:00:00Z", "sid": {"x": 1}},
        {"uuid": "w2", "ts": -5, "sid": "s"},
        {"uuid": "w3", "ts": 1e300, "sid": "s"},
        {"uuid": "w4", "ts": True, "sid": "s"},
        {"uuid": None, "ts": "2026-01-01T00:00:00Z", "sid": "s", "kind": ["prompt"], "text": {"deep": [1, {"x": 2}]}},
        {"uuid": "w5", "ts": "2026-01-01T00:00:00Z", "sid": "s" * 10_000, "cwd": 12, "kind": None},
        [],
        "string",
        12,
        None,
    ]
    (logs / "wrong-shape.jsonl").write_bytes(b"".join(json.dumps(w).encode() + b"\n" for w in wrong))
    huge = b'{"uuid": "huge", "ts": 1760000000000, "sid": "s", "text": "' + b"h" * (50 * 1024 * 1024) + b'"}\n'
    (logs / "huge-line.jsonl").write_bytes(huge + line(901))
    (logs / "good.jsonl").write_bytes(line(1) + line(2))
    loops = logs / "loops"
    loops.mkdir()
    (loops / "again").symlink_to(loops)
    (logs / "self.jsonl").symlink_to(logs / "self.jsonl")
    return logs


def test_hostile_corpus_never_stops_collection(corpus: Path, tmp_path: Path) -> None:
    config = make_config(corpus, collect={"max_line_bytes": 8 * 1024 * 1024})
    # a second source whose files are hostile to the engine itself, collected before the good one
    other = tmp_path / "other"
    other.mkdir()
    (other / "dir.log").mkdir()
    (other / "loop.log").symlink_to(other / "loop.log")
    listed = ListedFiles(
        [
            SourceFile(other / "dir.log", "append"),
            SourceFile(other / "loop.log", "append"),
            SourceFile(other / "vanished.log", "append"),
        ]
    )
    with Store.open(config.storage.db_path()) as store:
        sources = [listed, GenericJsonlSource(config.collect.generic[0])]
        result = Collector(store, config, sources=sources).collect()
        problems = store.db.execute("SELECT source, path, position, message, count FROM parse_errors").fetchall()
        ids = {r[0] for r in store.db.execute("SELECT id FROM events")}
    assert {expected_id(1), expected_id(2), expected_id(900), expected_id(901)} <= ids
    assert event_id("testagent", "id", "w5") in ids  # a clipped session id is still usable
    by_file: dict[str, list[tuple[str, str]]] = {}
    for _source, path, position, message, count in problems:
        assert count == 1
        by_file.setdefault(Path(path).name, []).append((position, message))
    huge_len = (corpus / "huge-line.jsonl").stat().st_size - len(line(901)) - 1
    message = f"line of {huge_len} bytes is longer than collect.max_line_bytes (8388608); skipped"
    assert by_file["huge-line.jsonl"] == [("line 1", message)]
    assert [p for p, _ in by_file["invalid-utf8.jsonl"]] == ["line 2", "line 3"]
    assert "invalid UTF-8" in by_file["invalid-utf8.jsonl"][0][1]
    assert {p for p, _ in by_file["deep.jsonl"]} == {"line 1", "line 2"}
    assert len(by_file["wrong-shape.jsonl"]) == 9
    assert by_file["garbage.jsonl"]
    assert all(p.startswith("line ") for p, _ in by_file["garbage.jsonl"])
    assert by_file["dir.log"] == [("file", "not a regular file")]
    assert by_file["loop.log"] == [("file", "cannot stat: symlink loop")]
    assert "vanished.log" not in by_file
    assert result.agents["generic:testagent"].events_added >= 5
    # a second pass reports nothing again and adds nothing
    with Store.open(config.storage.db_path()) as store:
        again = Collector(store, config, sources=sources).collect()
        assert store.db.execute("SELECT sum(count) FROM parse_errors").fetchone()[0] == len(problems)
    assert again.events_added == 0
    assert again.problems == 0


def test_huge_line_with_default_limit_is_parsed_in_bounded_memory(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    text = "z" * (50 * 1024 * 1024)
    (logs / "big.jsonl").write_bytes(
        json.dumps({"uuid": "big", "ts": 1760000000000, "sid": "s", "text": text}).encode() + b"\n"
    )
    del text
    config = make_config(logs)
    with Store.open(config.storage.db_path()) as store:
        assert Collector(store, config).collect().events_added == 1


def test_a_file_of_garbage_lines_is_counted_whole_but_listed_in_bounded_rows(tmp_path: Path) -> None:
    """Millions of bad lines must not become millions of problem rows (nor a quadratic dedup)."""
    from devlog_collector.collect import MAX_PROBLEMS_PER_COMMIT

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "garbage.jsonl").write_bytes(b"x\n" * 5000 + line(1))
    config = make_config(logs)
    with Store.open(config.storage.db_path()) as store:
        result = Collector(store, config).collect()
        assert result.events_added == 1 and result.problems == 5000
        rows = store.db.execute("SELECT position, message FROM parse_errors ORDER BY rowid").fetchall()
    assert len(rows) == MAX_PROBLEMS_PER_COMMIT + 1
    assert rows[0][0] == "line 1" and rows[-1][1].startswith("4,900 more problems from line 101 to line 5000")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads chmod-000 files anyway")
def test_unreadable_file_is_reported_once(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    secret = logs / "secret.jsonl"
    secret.write_bytes(line(1))
    secret.chmod(0)
    (logs / "ok.jsonl").write_bytes(line(2))
    config = make_config(logs)
    with Store.open(config.storage.db_path()) as store:
        result = Collector(store, config).collect()
        rows = store.db.execute("SELECT position, message FROM parse_errors").fetchall()
    assert result.events_added == 1
    assert rows == [("file", "cannot open: Permission denied")]


def test_locked_and_corrupt_sqlite_sources_retry_without_stalling(tmp_path: Path) -> None:
    dbs = tmp_path / "dbs"
    dbs.mkdir()
    locked = dbs / "locked.vscdb"
    writer = sqlite3.connect(locked, isolation_level=None)
    writer.execute("CREATE TABLE t (id INTEGER)")
    writer.execute("INSERT INTO t VALUES (1), (2)")
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("INSERT INTO t VALUES (3)")
    corrupt = dbs / "corrupt.vscdb"
    corrupt.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "good.jsonl").write_bytes(line(1))
    config = make_config(logs)
    listed = ListedFiles([SourceFile(locked, "sqlite"), SourceFile(corrupt, "sqlite")])
    sources: list[Source] = [listed, GenericJsonlSource(config.collect.generic[0])]
    try:
        with Store.open(config.storage.db_path()) as store:
            collector = Collector(store, config, sources=sources)
            first = collector.collect()
            assert first.agents["generic:testagent"].events_added == 1  # not stalled by the locked DB
            assert first.agents["listed"].problems == 2
            second = collector.collect()
            assert second.agents["listed"].files_read == 2  # retried (cursor not advanced)...
            assert second.agents["listed"].problems == 0  # ...but reported once
            locked_problems = store.db.execute("SELECT count(*) FROM parse_errors WHERE path = ?", (str(locked),))
            assert locked_problems.fetchone()[0] == 1
            writer.execute("COMMIT")
            third = collector.collect()
            assert third.agents["listed"].events_added == 3
            rows = store.db.execute("SELECT path, position, message, count FROM parse_errors ORDER BY path").fetchall()
    finally:
        writer.close()
    # the lock was released and the database read cleanly: its problem is gone; the corrupt one stays
    assert [(Path(p).name, pos, n) for p, pos, _, n in rows] == [("corrupt.vscdb", "database", 1)]


def test_implausible_token_counts_and_years_are_skipped_and_reported_not_fatal(tmp_path: Path) -> None:
    """2**70 tokens overflowed SQLite and crashed every run before the next file; year 9999 crashed stats."""
    from devlog_collector.query.filters import Filters
    from devlog_collector.query.stats import compute_stats
    from tests.collector.collect_helpers import agent_config

    def assistant(n: int, ts: str, tokens: int) -> bytes:
        record = {"type": "assistant", "uuid": f"u{n}", "sessionId": "s1", "timestamp": ts, "requestId": f"r{n}",
                  "version": "2.1.90", "cwd": "/home/dev/api",
                  "message": {"id": f"m{n}", "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": "ok"}],
                              "usage": {"input_tokens": tokens, "output_tokens": 1}}}  # fmt: skip
        return json.dumps(record).encode() + b"\n"

    project = tmp_path / "claude" / "projects" / "-home-dev-api"
    project.mkdir(parents=True)
    (project / "a-bad.jsonl").write_bytes(
        assistant(1, "2026-03-02T09:00:00Z", 2**70) + assistant(2, "9999-12-31T23:59:59Z", 5)
    )
    (project / "b-good.jsonl").write_bytes(assistant(3, "2026-03-02T10:00:00Z", 7))
    config = agent_config("claude", tmp_path / "claude", tmp_path / "store")
    with Store.open(config.storage.db_path()) as store:
        result = Collector(store, config).collect()
        assert result.problems >= 2
        messages = [row[0] for row in store.db.execute("SELECT message FROM parse_errors")]
        assert any("`input_tokens` is 1180591620717411303424, implausibly large" in m for m in messages)
        assert any("outside the years 1970-2999" in m for m in messages)
        assert store.db.execute("SELECT sum(input_tokens) FROM events").fetchone() == (7,)
        report = compute_stats(store, Filters(), by="day")
        assert report.total.input_tokens == 7


def test_huge_web_search_counts_and_costs_neither_stop_the_pass_nor_reach_the_totals(tmp_path: Path) -> None:
    """A 23-digit `web_search_requests` overflowed SQLite in the price columns and failed every later
    pass of every agent; a `costUSD` of 1e308 or a 400-digit integer reached the totals or was lost
    with its usage; a generic source's `Infinity` cost made `devlog stats` print `$inf`."""
    from devlog_collector.query.filters import Filters
    from devlog_collector.query.stats import compute_stats
    from tests.collector.collect_helpers import agent_config

    def assistant(n: int, usage_extra: dict[str, Any], cost: Any = None) -> bytes:
        record = {"type": "assistant", "uuid": f"u{n}", "sessionId": "s1", "timestamp": f"2026-03-02T09:0{n}:00Z",
                  "requestId": f"r{n}", "version": "2.1.90", "cwd": "/home/dev/api",
                  "message": {"id": f"m{n}", "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": "ok"}],
                              "usage": {"input_tokens": 10, "output_tokens": 1, **usage_extra}}}  # fmt: skip
        if cost is not None:
            record["costUSD"] = cost
        return json.dumps(record).encode() + b"\n"

    project = tmp_path / "claude" / "projects" / "-home-dev-api"
    project.mkdir(parents=True)
    (project / "a.jsonl").write_bytes(
        assistant(1, {"server_tool_use": {"web_search_requests": 10**23}})
        + assistant(2, {}, cost=1e308)
        + b'{"type":"assistant","uuid":"u3","sessionId":"s1","timestamp":"2026-03-02T09:03:00Z","requestId":"r3",'
        + b'"cwd":"/home/dev/api","message":{"id":"m3","model":"claude-sonnet-4-5","content":[],'
        + b'"usage":{"input_tokens":10,"output_tokens":1}},"costUSD":'
        + b"9" * 400
        + b"}\n"
        + assistant(4, {"server_tool_use": {"web_search_requests": 2}}, cost=0.5)
    )
    config = agent_config("claude", tmp_path / "claude", tmp_path / "store")
    with Store.open(config.storage.db_path()) as store:
        Collector(store, config).collect()
        rows = store.db.execute(
            "SELECT input_tokens, cost_usd, web_search_requests FROM events WHERE input_tokens > 0 ORDER BY ts"
        ).fetchall()
        assert rows == [(10, None, 0), (10, None, 0), (10, None, 0), (10, 0.5, 2)]
        assert store.db.execute("SELECT count(*) FROM parse_errors").fetchone() == (0,)

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(
        b'{"uuid":"g1","ts":1760000000000,"sid":"s","kind":"response","cost":Infinity}\n'
        b'{"uuid":"g2","ts":1760000000001,"sid":"s","kind":"response","cost":1.25}\n'
    )
    mapping = {"ts": "ts", "session_id": "sid", "kind": "kind", "id": "uuid", "cost_usd": "cost"}
    config, _ = parse_config(
        {"collect": {"agents": [], "generic": [{"name": "g", "glob": str(logs / "*.jsonl"), "mapping": mapping}]},
         "storage": {"path": str(tmp_path / "generic-store"), "min_free_bytes": 0}}
    )  # fmt: skip
    with Store.open(config.storage.db_path()) as store:
        Collector(store, config).collect()
        costs = [row[0] for row in store.db.execute("SELECT cost_usd FROM events ORDER BY ts")]
        assert all(c is None or c == 1.25 for c in costs) and 1.25 in costs
        assert compute_stats(store, Filters(), by="day").total.cost_usd == 1.25


def test_json_documents_with_a_bom_nan_or_escaped_lone_surrogates_still_load() -> None:
    """msgspec refuses NaN and 1e400; the standard-library fallback let `\\ud83d` escapes through
    (every later commit failed on them) and a byte-order mark made whole documents invalid."""
    import devlog_collector.store as store_module
    from devlog_collector.sources._values import load_json_bytes
    from devlog_shared.limits import MAX_TOKENS

    assert load_json_bytes(b'\xef\xbb\xbf{"a": 1}') == ({"a": 1}, None)
    value, error = load_json_bytes(b'{"c": "cut \\ud83d", "t": NaN, "x": 1e400, "y": 1.5, "ok": "\\ud83d\\ude00"}')
    assert error is None and value == {"c": "cut \ufffd", "t": None, "x": None, "y": 1.5, "ok": "\U0001f600"}
    assert load_json_bytes(b'{"a": NaN')[1] is not None  # still broken JSON: a reason, no value
    assert store_module._MAX_COUNT == MAX_TOKENS


def test_an_event_sqlite_cannot_hold_is_skipped_and_reported_and_the_rest_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value a parser let through that SQLite cannot hold (here a lone surrogate, as a parser bug
    would leave it) failed the commit: the file was never stored and every later pass failed again."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(line(1) + line(2) + line(3))
    config = make_config(logs, storage={"path": str(tmp_path / "store")})
    parse = GenericJsonlSource.parse_lines

    def buggy(self: GenericJsonlSource, file: SourceFile, lines: Any, state: dict[str, Any]) -> Iterator[Any]:
        for entry in parse(self, file, lines, state):
            if isinstance(entry, Event) and entry.id == expected_id(2):
                entry = msgspec.structs.replace(entry, text="cut emoji \ud83d")
            yield entry

    monkeypatch.setattr(GenericJsonlSource, "parse_lines", buggy)
    for _ in range(2):  # the second pass adds nothing and reports nothing new
        with Store.open(config.storage.db_path()) as store:
            Collector(store, config).collect()
            ids = [row[0] for row in store.db.execute("SELECT id FROM events ORDER BY seq")]
            assert ids == [expected_id(1), expected_id(3)]
            [(position, message)] = store.db.execute("SELECT position, message FROM parse_errors").fetchall()
            assert position == "line 2"
            assert message == "record skipped: it cannot be stored (text that is not valid Unicode (a lone surrogate))"


def test_a_file_name_that_is_not_utf8_is_reported_and_skipped_not_fatal(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    with open(os.path.join(os.fsencode(logs), b"bad\xffname.jsonl"), "wb") as handle:
        handle.write(line(1))
    (logs / "good.jsonl").write_bytes(line(2))
    config = make_config(logs)
    with Store.open(config.storage.db_path()) as store:
        result = Collector(store, config).collect()
        assert result.events_added == 1 and result.problems == 1
        [(path, message)] = store.db.execute("SELECT path, message FROM parse_errors").fetchall()
    assert path.endswith("bad\\xffname.jsonl") and "not valid UTF-8" in message
    with Store.open(config.storage.db_path()) as store:
        assert Collector(store, config).collect().problems == 0  # reported once


_SETPRIV = "/usr/bin/setpriv"
_NO_OVERRIDE = "-dac_override,-dac_read_search,-fowner"


def _unprivileged_collect(tmp_path: Path, *args: str) -> Any:
    """A `devlog collect` of one log (`logs/a.jsonl`, one line) into `home/`, as a function that runs
    it in a subprocess without root's permission override (as a normal user would)."""
    import subprocess
    import sys

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(line(1))
    config_file = tmp_path / "home" / "config.yaml"
    config_file.parent.mkdir(exist_ok=True)
    config_file.write_text(
        f"collect:\n  agents: []\n  generic: [{{name: g, glob: '{logs}/*.jsonl', mapping: "
        "{ts: ts, session_id: sid, kind: kind, text: text, id: uuid}}]\nstorage:\n  min_free_bytes: 0\n"
    )
    env = {**os.environ, "DEVLOG_HOME": str(tmp_path / "home")}
    command = [_SETPRIV, f"--inh-caps={_NO_OVERRIDE}", f"--bounding-set={_NO_OVERRIDE}",
               sys.executable, "-m", "devlog_collector", "collect", *args]  # fmt: skip
    return lambda: subprocess.run(command, env=env, capture_output=True, text=True, check=False)


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(_SETPRIV), reason="needs root and setpriv")
def test_a_read_only_store_is_made_writable_again_or_refused_with_a_message(tmp_path: Path) -> None:
    """SQLite opens a file it cannot write read-only without a word; the first write then failed
    with a traceback. (Run without root's permission override, as a normal user would.)"""
    run = _unprivileged_collect(tmp_path)
    assert run().returncode == 0
    store = tmp_path / "home" / "data" / "events.db"
    store.chmod(0o444)  # ours: made writable again
    done = run()
    assert done.returncode == 0, done.stderr
    assert store.stat().st_mode & 0o777 == 0o600
    os.chown(store, 65534, 65534)  # someone else's, read-only: refused with one line
    store.chmod(0o444)
    done = run()
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "it is read-only for this user" in done.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(_SETPRIV), reason="needs root and setpriv")
def test_a_log_that_could_not_be_opened_loses_that_problem_once_it_opens(tmp_path: Path) -> None:
    run = _unprivileged_collect(tmp_path, "--json")
    log_file = tmp_path / "logs" / "a.jsonl"
    log_file.chmod(0)
    first = run()
    assert json.loads(first.stdout)["problems"] == 1
    db = tmp_path / "home" / "data" / "events.db"
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("SELECT message FROM parse_errors")] == ["cannot open: Permission denied"]
    log_file.chmod(0o644)
    second = run()
    assert json.loads(second.stdout)["events_added"] == 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM parse_errors").fetchone() == (0,)


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(_SETPRIV), reason="needs root and setpriv")
@pytest.mark.parametrize(
    ("mode", "reason"),
    [(0, "Permission denied"), (0o644, "permission denied: the folder can be listed but not entered")],
)
def test_a_folder_that_cannot_be_listed_is_reported_until_it_can(tmp_path: Path, mode: int, reason: str) -> None:
    """Transcripts under a folder the user cannot list (left by `sudo claude`) were skipped without a
    word: pathlib's rglob hides the PermissionError. Now it is a `folder` problem, dropped once the
    folder lists again and its logs are collected. A folder that can be listed but not entered (mode
    644, "-work-locked" sorted before the others) ended the claude source's whole discovery: nothing
    of any project was collected."""
    import subprocess
    import sys

    def transcript(uid: str, cwd: str) -> bytes:
        record = {"type": "user", "uuid": uid, "sessionId": f"s-{uid}", "cwd": cwd,
                  "timestamp": "2026-03-01T10:00:00.000Z", "message": {"role": "user", "content": "hello"}}  # fmt: skip
        return json.dumps(record).encode() + b"\n"

    projects = tmp_path / "claude" / "projects"
    (projects / "-work-open").mkdir(parents=True)
    (projects / "-work-open" / "a.jsonl").write_bytes(transcript("u1", "/work/open"))
    locked = projects / "-work-locked"
    locked.mkdir()
    (locked / "b.jsonl").write_bytes(transcript("u2", "/work/locked"))
    (projects / "zz-work-after").mkdir()
    (projects / "zz-work-after" / "c.jsonl").write_bytes(transcript("u3", "/work/after"))
    locked.chmod(mode)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "config.yaml").write_text(
        f"collect:\n  agents: [claude]\n  roots: {{claude: ['{tmp_path / 'claude'}']}}\nstorage:\n  min_free_bytes: 0\n"
    )
    command = [_SETPRIV, f"--inh-caps={_NO_OVERRIDE}", f"--bounding-set={_NO_OVERRIDE}",
               sys.executable, "-m", "devlog_collector", "collect", "--json"]  # fmt: skip
    env = {**os.environ, "DEVLOG_HOME": str(home)}

    def run() -> dict[str, Any]:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        report: dict[str, Any] = json.loads(done.stdout)
        return report

    def recorded() -> list[tuple[str, str, str]]:
        with sqlite3.connect(home / "data" / "events.db") as conn:
            return conn.execute("SELECT path, position, message FROM parse_errors").fetchall()

    first = run()
    assert (first["events_added"], first["problems"]) == (4, 1)  # session start + prompt of a and c
    assert recorded() == [
        (str(locked), "folder", f"cannot list this folder ({reason}): the logs in it are not collected")
    ]
    assert run()["problems"] == 0  # reported once
    locked.chmod(0o755)
    third = run()
    assert (third["events_added"], third["problems"]) == (2, 0)
    assert recorded() == []


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(_SETPRIV), reason="needs root and setpriv")
def test_a_store_in_a_folder_the_user_cannot_write_can_still_be_queried(tmp_path: Path) -> None:
    """A reader of a WAL store makes its `-shm` file; in a read-only folder (another user's store, a
    read-only mount) SQLite refused to open it at all, so `stats` and `status` failed. With no `-wal`
    content the main file is the whole store: read as immutable. With `-wal` content: a clear error."""
    import subprocess
    import sys

    run = _unprivileged_collect(tmp_path)
    assert run().returncode == 0
    data = tmp_path / "home" / "data"
    for leftover in ("events.db-wal", "events.db-shm"):
        (data / leftover).unlink(missing_ok=True)
    os.chown(data, 65534, 65534)
    data.chmod(0o555)
    env = {**os.environ, "DEVLOG_HOME": str(tmp_path / "home")}

    def devlog(*args: str) -> subprocess.CompletedProcess[str]:
        command = [_SETPRIV, f"--inh-caps={_NO_OVERRIDE}", f"--bounding-set={_NO_OVERRIDE}",
                   sys.executable, "-m", "devlog_collector", *args]  # fmt: skip
        return subprocess.run(command, env=env, capture_output=True, text=True, check=False)

    try:
        counted = devlog("sql", "SELECT count(*) AS n FROM events", "--format", "json")
        assert counted.returncode == 0, counted.stderr
        assert json.loads(counted.stdout) == [{"n": 1}]
        status = devlog("status", "--json")
        assert status.returncode == 0, status.stderr
        assert "error" not in json.loads(status.stdout)["store"]
        data.chmod(0o755)
        (data / "events.db-wal").write_bytes(b"\0" * 4096)  # changes the main file does not hold yet
        data.chmod(0o555)
        refused = devlog("stats")
        assert refused.returncode != 0 and "Traceback" not in refused.stderr
        assert "its folder is read-only for this user" in refused.stderr
    finally:
        data.chmod(0o755)
