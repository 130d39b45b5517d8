"""Collect engine: incremental append reading, exactly-once, file lifecycle, documents, enrichment."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from devlog_collector.collect import Collector, build_sources
from devlog_collector.config import parse_config
from devlog_collector.sources.base import Problem, Source, SourceFile
from devlog_collector.store import Store
from devlog_collector.workspace import WorkspaceResolver, machine_id
from devlog_shared import Event, decode_event, event_id
from tests.collector.collect_helpers import (
    age,
    append,
    collect,
    expected_id,
    line,
    make_config,
    problems,
    record,
    stored_ids,
)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder


def test_collects_then_recollect_adds_nothing(logs: Path) -> None:
    config = make_config(logs)
    (logs / "a.jsonl").write_bytes(b"".join(line(n) for n in range(5)))
    (logs / "sub").mkdir()
    (logs / "sub" / "b.jsonl").write_bytes(b"".join(line(n) for n in range(5, 8)))
    age(logs / "a.jsonl", logs / "sub" / "b.jsonl")
    first = collect(config)
    assert first.agents["generic:testagent"].events_added == 8
    assert first.agents["generic:testagent"].files_read == 2
    assert sorted(stored_ids(config)) == sorted(expected_id(n) for n in range(8))
    again = collect(config)
    assert again.events_added == 0
    assert again.files_read == 0  # unchanged files cost one stat each
    assert len(stored_ids(config)) == 8


def test_partial_last_line_waits_for_its_newline_across_restarts(logs: Path) -> None:
    config = make_config(logs)
    path = logs / "a.jsonl"
    full = line(1)
    path.write_bytes(line(0) + full[:10])
    assert collect(config).events_added == 1
    append(path, full[10:-1])  # still no newline
    assert collect(config).events_added == 0
    assert problems(config) == []  # a partial line is not an error
    append(path, b"\n")
    assert collect(config).events_added == 1
    assert sorted(stored_ids(config)) == sorted([expected_id(0), expected_id(1)])


def test_small_chunks_and_lines_split_over_chunks(logs: Path) -> None:
    config = make_config(logs)
    path = logs / "a.jsonl"
    path.write_bytes(b"".join(line(n, text="x" * (n * 7)) for n in range(40)))
    result = collect(config, chunk_bytes=33)
    assert result.events_added == 40
    assert collect(config, chunk_bytes=33).events_added == 0


def test_truncation_rereads_from_start(logs: Path) -> None:
    config = make_config(logs)
    path = logs / "a.jsonl"
    path.write_bytes(line(0) + line(1) + line(2))
    collect(config)
    with path.open("r+b") as handle:
        handle.truncate(0)
    path.write_bytes(line(10))
    assert collect(config).events_added == 1
    assert expected_id(10) in stored_ids(config)


def test_copytruncate_and_rename_rotation_converge(logs: Path) -> None:
    config = make_config(logs, pattern="*.jsonl*")
    path = logs / "a.jsonl"
    path.write_bytes(line(0) + line(1))
    collect(config)
    # copytruncate: copy, then truncate in place (same inode), then new lines
    (logs / "a.jsonl.1").write_bytes(path.read_bytes())
    with path.open("r+b") as handle:
        handle.truncate(0)
    append(path, line(2))
    assert collect(config).events_added == 1
    # rename rotation: the file moves away, a new one appears under the same name
    path.rename(logs / "a.jsonl.2")
    path.write_bytes(line(3))
    append(logs / "a.jsonl.2", line(4))  # a late write to the rotated file is still read
    assert collect(config).events_added == 2
    assert sorted(stored_ids(config)) == sorted(expected_id(n) for n in range(5))


def test_lines_appended_just_before_a_rotation_to_an_unmatched_name_are_read(logs: Path) -> None:
    """`x.jsonl` -> `x.jsonl.1` with a glob that matches only `*.jsonl`: the lines written after the
    last read and before the rename were lost (a new-user test); the file is followed by its inode."""
    config = make_config(logs)  # **/*.jsonl: the rotated names are not collected on their own
    path = logs / "a.jsonl"
    path.write_bytes(line(0) + line(1))
    collect(config)
    append(path, line(2) + line(3))
    path.rename(logs / "a.jsonl.1")
    path.write_bytes(line(4))
    assert collect(config).events_added == 3
    assert sorted(stored_ids(config)) == sorted(expected_id(n) for n in range(5))
    # Renamed away before the new file is made: its last lines are read once the name is back.
    append(path, line(5))
    path.rename(logs / "a.jsonl.2")
    collect(config)
    path.write_bytes(line(6))
    assert collect(config).events_added == 2
    assert collect(config).events_added == 0
    assert sorted(stored_ids(config)) == sorted(expected_id(n) for n in range(7))


def test_a_file_that_took_a_rotated_files_inode_is_not_read_as_its_tail(logs: Path) -> None:
    """The inode number of a deleted log can be reused by another file in the same folder: only a
    file whose first bytes and the bytes before the cursor are the log's own is read as its tail."""
    config = make_config(logs)
    path = logs / "a.jsonl"
    path.write_bytes(line(0) + line(1))
    collect(config)
    other = logs / "notes.txt"  # (not a log: the glob does not match it)
    other.write_bytes(line(7) + line(8) + line(9))
    path.unlink()
    path.write_bytes(line(2))  # the log's new file
    with sqlite3.connect(config.storage.db_path()) as db:  # as if the deleted log's inode were the other's
        db.execute("UPDATE collect_cursors SET ino = ? WHERE path = ?", (other.stat().st_ino, str(path)))
    assert collect(config).events_added == 1
    assert sorted(stored_ids(config)) == sorted(expected_id(n) for n in range(3))


def test_atomic_replace_and_delete_recreate(logs: Path) -> None:
    config = make_config(logs)
    path = logs / "a.jsonl"
    path.write_bytes(line(0) + line(1))
    collect(config)
    tmp = logs / "a.tmp"
    tmp.write_bytes(line(0) + line(1) + line(2))
    tmp.replace(path)
    assert collect(config).events_added == 1
    path.unlink()
    path.write_bytes(line(5))
    assert collect(config).events_added == 1
    # same size, same first bytes, different content in place: the marker catches it
    data = path.read_bytes()
    path.write_bytes(line(6))
    assert len(data) == path.stat().st_size
    assert collect(config).events_added == 1
    assert sorted(stored_ids(config)) == sorted(expected_id(n) for n in (0, 1, 2, 5, 6))


def test_bad_lines_reported_once_with_position(logs: Path) -> None:
    config = make_config(logs)
    path = logs / "a.jsonl"
    path.write_bytes(line(0) + b"{not json\n" + b"\xff\xfe garbage\n" + b"[1, 2]\n" + b"\n" + line(1))
    result = collect(config)
    assert result.events_added == 2
    assert result.problems == 3
    found = problems(config)
    assert [(p[1], p[3]) for p in found] == [("line 2", 1), ("line 3", 1), ("line 4", 1)]
    assert all(p[0] == str(path) for p in found)
    # a re-read from the start (a replaced file) does not report the same problems again
    data = path.read_bytes()
    tmp = logs / "a.tmp"
    tmp.write_bytes(data + line(2))
    tmp.replace(path)
    result = collect(config)
    assert (result.events_added, result.problems) == (1, 0)
    assert [(p[1], p[3]) for p in problems(config)] == [("line 2", 1), ("line 3", 1), ("line 4", 1)]
    # emptied, the file has no problems; written again, it has them again (each once)
    path.write_bytes(b"")
    collect(config)
    assert problems(config) == []
    path.write_bytes(data)
    assert collect(config).problems == 3
    assert [p[3] for p in problems(config)] == [1, 1, 1]


def test_problems_of_a_file_replaced_by_a_fixed_copy_are_forgotten(logs: Path) -> None:
    config = make_config(logs)
    path = logs / "a.jsonl"
    path.write_bytes(line(0) + b"{not json\n" + line(2))
    assert collect(config).problems == 1
    tmp = logs / "a.tmp"
    tmp.write_bytes(line(0) + line(1) + line(2))
    tmp.replace(path)
    assert collect(config).events_added == 1
    assert problems(config) == []
    assert sorted(stored_ids(config)) == sorted(expected_id(n) for n in (0, 1, 2))


def _remapped(logs: Path, **mapping: str) -> Any:
    """The helpers' config with some mapping entries changed (the same source name and glob)."""
    config = make_config(logs)
    generic = config.collect.generic[0]
    raw = {"name": generic.name, "glob": generic.glob, "mapping": {**generic.mapping, **mapping}}
    return make_config(logs, collect={"generic": [raw]})


def test_a_corrected_mapping_reads_the_files_again_and_corrects_what_was_stored(logs: Path) -> None:
    path = logs / "a.jsonl"
    lines = [{**record(n), "time": 1_760_000_000_000 + n, "usage": {"in": 10 * n, "out": 5}} for n in range(3)]
    for rec in lines:
        del rec["ts"]
    path.write_bytes(b"".join(json.dumps(rec).encode() + b"\n" for rec in lines))
    age(path)  # (a file changed within the last second is looked at again on every pass)
    wrong = _remapped(logs, ts="ts", output_tokens="usage.out")
    result = collect(wrong)
    assert (result.events_added, result.problems) == (0, 3)  # no usable time: nothing stored
    assert collect(wrong).files_read == 0  # read under this mapping: skipped as unchanged

    right = _remapped(logs, ts="time", output_tokens="usage.out")
    result = collect(right)
    assert (result.events_added, result.problems) == (3, 0)
    assert problems(right) == []  # the wrong mapping's problems are gone with it
    assert collect(right).files_read == 0

    tokens = _remapped(logs, ts="time", output_tokens="usage.out", input_tokens="usage.in")
    result = collect(tokens)
    assert (result.events_added, result.events_updated) == (0, 2)  # (line 0 has no input tokens)
    db = sqlite3.connect(tokens.storage.db_path())
    stored = db.execute("SELECT id, input_tokens, output_tokens FROM events ORDER BY ts").fetchall()
    db.close()
    assert stored == [(expected_id(n), 10 * n, 5) for n in range(3)]

    # the same totals and other text: replaced as well (the file's current reading)
    texts = _remapped(logs, ts="time", output_tokens="usage.out", input_tokens="usage.in", text="sid")
    assert collect(texts).events_updated == 3
    db = sqlite3.connect(texts.storage.db_path())
    assert [r[0] for r in db.execute("SELECT text FROM events ORDER BY ts")] == ["s1", "s1", "s1"]
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 3
    db.close()


def test_a_changed_id_mapping_is_not_read_again_and_stores_nothing_twice(logs: Path) -> None:
    """Adding, changing or removing `mapping.id` changes every event's id: a re-read stored each
    event a second time and doubled the tokens (an adversarial test). Lines read later get the new ids."""
    path = logs / "a.jsonl"
    path.write_bytes(b"".join(line(n) for n in range(5)))
    age(path)
    config = make_config(logs)
    assert collect(config).events_added == 5
    without_id = _remapped(logs)
    raw = {"name": "testagent", "glob": str(logs / "**/*.jsonl"),
           "mapping": {k: v for k, v in without_id.collect.generic[0].mapping.items() if k != "id"}}  # fmt: skip
    changed = make_config(logs, collect={"generic": [raw]})
    result = collect(changed)
    assert (result.events_added, result.events_updated) == (0, 0)
    assert len(stored_ids(changed)) == 5 and collect(changed).files_read == 0
    append(path, line(5))
    age(path)
    assert collect(changed).events_added == 1  # (with an id from the line's content now)


def test_an_interrupted_re_read_under_a_new_mapping_goes_on_correcting_where_it_stopped(logs: Path) -> None:
    """The first step recorded the new mapping, so after an interruption the rest of the file was
    read as plain appends: its stored copies kept the old mapping's text for good."""
    path = logs / "a.jsonl"
    path.write_bytes(b"".join(line(n, text=f"old {n}") for n in range(40)))
    age(path)
    collect(make_config(logs))
    changed = _remapped(logs, text="sid")
    steps = iter(range(1000))
    first = collect(changed, chunk_bytes=400, should_stop=lambda: next(steps) >= 3)
    assert first.interrupted and 0 < first.events_updated < 40
    rest = collect(changed, chunk_bytes=400)
    assert first.events_updated + rest.events_updated == 40
    db = sqlite3.connect(changed.storage.db_path())
    assert {row[0] for row in db.execute("SELECT text FROM events")} == {"s1"}
    db.close()
    assert collect(changed).files_read == 0


def test_a_cursor_from_before_readings_were_recorded_takes_the_current_one_without_a_re_read(logs: Path) -> None:
    """An upgrade must not re-read (a `--no-history` start's cursors would bring the history in)."""
    config = make_config(logs)
    path = logs / "a.jsonl"
    path.write_bytes(line(0) + line(1))
    age(path)
    collect(config)
    db = sqlite3.connect(config.storage.db_path())
    (state,) = db.execute("SELECT state FROM collect_cursors").fetchone()
    db.execute("UPDATE collect_cursors SET state = ?", (json.dumps({k: v for k, v in json.loads(state).items()
                                                                    if k != "__devlog"}),))  # fmt: skip
    db.commit()
    db.close()
    result = collect(config)
    assert (result.files_read, result.events_added, result.events_updated) == (1, 0, 0)
    assert result.agents["generic:testagent"].bytes_read == 0  # (resumed at its offset: nothing read)
    assert collect(config).files_read == 0  # the reading is recorded now
    assert stored_ids(config) == [expected_id(0), expected_id(1)]
    changed = _remapped(logs, text="sid")  # and a later change of mapping reads the file again
    assert collect(changed).events_updated == 2


def test_overlong_line_is_skipped_not_loaded(logs: Path) -> None:
    config = make_config(logs, collect={"max_line_bytes": 2048})
    path = logs / "a.jsonl"
    huge = json.dumps(record(1, text="y" * 10_000)).encode() + b"\n"
    path.write_bytes(line(0) + huge + line(2))
    result = collect(config, chunk_bytes=1000)
    assert result.events_added == 2
    assert [(p[1], "longer than collect.max_line_bytes" in p[2]) for p in problems(config)] == [("line 2", True)]
    # an over-long line still being written holds the cursor before it
    append(path, json.dumps(record(3, text="z" * 5000)).encode())
    assert collect(config, chunk_bytes=1000).events_added == 0
    append(path, b"\n" + line(4))
    assert collect(config, chunk_bytes=1000).events_added == 1
    assert sorted(stored_ids(config)) == sorted(expected_id(n) for n in (0, 2, 4))
    assert len(problems(config)) == 2


def test_a_line_of_exactly_max_line_bytes_is_kept_and_one_byte_more_is_not(logs: Path) -> None:
    config = make_config(logs, collect={"max_line_bytes": 1024})
    fits, over = line(0).rstrip(b"\n"), line(1).rstrip(b"\n")
    fits = fits[:-1] + b" " * (1024 - len(fits)) + b"}"  # (JSON allows the spaces before the brace)
    over = over[:-1] + b" " * (1025 - len(over)) + b"}"
    (logs / "a.jsonl").write_bytes(fits + b"\n" + over + b"\n" + line(2))
    assert (len(fits), len(over)) == (1024, 1025)
    assert collect(config).events_added == 2
    assert sorted(stored_ids(config)) == sorted(expected_id(n) for n in (0, 2))
    assert [p[1] for p in problems(config)] == ["line 2"]


def test_crlf_lines_and_content_hash_ids(logs: Path) -> None:
    config = make_config(logs)
    rec = json.dumps({"ts": "2026-01-01T00:00:00Z", "sid": "s", "text": "same"}).encode()
    (logs / "a.jsonl").write_bytes(rec + b"\r\n" + rec + b"\r\n")
    assert collect(config).events_added == 2  # identical lines: two occurrences, two events
    (logs / "b.jsonl").write_bytes(rec + b"\n")
    assert collect(config).events_added == 0  # the same first occurrence in another file: same id


def test_a_byte_order_mark_before_the_first_line_costs_nothing(logs: Path) -> None:
    config = make_config(logs)
    (logs / "a.jsonl").write_bytes(b"\xef\xbb\xbf" + line(0) + line(1))
    result = collect(config)
    assert (result.events_added, result.problems) == (2, 0)
    assert set(stored_ids(config)) == {expected_id(0), expected_id(1)}


def test_enrichment_workspace_project_git_machine_user(logs: Path, tmp_path: Path) -> None:
    repo = tmp_path / "work" / "acme-api"
    (repo / ".git" / "refs" / "heads").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / ".git" / "refs" / "heads" / "main").write_text("a" * 40 + "\n")
    (repo / ".git" / "config").write_text('[remote "origin"]\n\turl = git@github.com:acme/api.git\n')
    (repo / "src").mkdir()
    config = make_config(logs)
    (logs / "a.jsonl").write_bytes(
        line(0, cwd=str(repo / "src") + "/") + line(1, cwd="~/elsewhere/tool/") + line(2, cwd="") + line(3, cwd="  ")
    )
    collect(config)
    db = sqlite3.connect(config.storage.db_path())
    rows = {r[0]: decode_event(r[1]) for r in db.execute("SELECT id, body FROM events")}
    first = rows[expected_id(0)]
    assert first.workspace == str(repo / "src")
    assert first.project == "acme-api"
    assert first.git is not None
    assert (first.git.remote, first.git.branch, first.git.commit) == ("https://github.com/acme/api", "main", "a" * 40)
    assert first.machine == machine_id()
    assert first.user
    second = rows[expected_id(1)]
    assert second.workspace == str(Path.home() / "elsewhere" / "tool")
    assert second.project == "tool"
    assert second.git is None
    # A blank folder is no workspace (servers refuse "" as one): it is stored as none.
    assert rows[expected_id(2)].workspace is None and rows[expected_id(3)].workspace is None


def test_enrichment_of_each_event_follows_its_own_workspace_within_one_read(logs: Path, tmp_path: Path) -> None:
    """A read's events share their enrichment only while their workspace stays the same: events whose
    folder changes from one line to the next (and back) are each enriched from their own."""
    repo = tmp_path / "work" / "acme-api"
    (repo / ".git" / "refs" / "heads").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / ".git" / "refs" / "heads" / "main").write_text("a" * 40 + "\n")
    plain = tmp_path / "notes"
    plain.mkdir()
    folders = [repo, repo, plain, repo, None, None, plain, repo]
    config = make_config(logs)
    (logs / "a.jsonl").write_bytes(
        b"".join(line(n, cwd=str(folder) if folder else None) for n, folder in enumerate(folders))
    )
    collect(config)
    db = sqlite3.connect(config.storage.db_path())
    rows = {r[0]: decode_event(r[1]) for r in db.execute("SELECT id, body FROM events")}
    for n, folder in enumerate(folders):
        event = rows[expected_id(n)]
        assert event.workspace == (str(folder) if folder else None), n
        assert event.project == (folder.name if folder else None), n
        assert (event.git.commit if event.git else None) == ("a" * 40 if folder == repo else None), n
        assert event.machine == machine_id() and event.user, n


def test_enrichment_follows_the_workspace_once_its_cached_answer_expires(logs: Path, tmp_path: Path) -> None:
    """Events of one workspace share their enrichment, but only while the resolver's answer for the
    workspace is the same: a checkout in between is seen once the answer expires, as before."""
    repo = tmp_path / "work" / "acme-api"
    (repo / ".git" / "refs" / "heads").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / ".git" / "refs" / "heads" / "main").write_text("a" * 40 + "\n")
    (repo / ".git" / "refs" / "heads" / "other").write_text("b" * 40 + "\n")
    now = [0.0]
    config = make_config(logs)

    def enriched(n: int) -> Event:
        return collector.enrich(Event(id=f"e{n}", ts=datetime(2026, 1, 1, tzinfo=UTC), agent="a", kind="prompt",
                                      session_id="s", workspace=str(repo) + "/"))  # fmt: skip

    with Store.open(config.storage.db_path()) as store:
        collector = Collector(store, config, resolver=WorkspaceResolver(ttl=5, clock=lambda: now[0]))
        first, second = enriched(1), enriched(2)
        assert first.git is not None and first.git.branch == "main" and first.workspace == str(repo)
        assert second.git == first.git and second.project == "acme-api" and second.machine == machine_id()
        (repo / ".git" / "HEAD").write_text("ref: refs/heads/other\n")
        assert enriched(3).git == first.git  # the resolver's answer is still the cached one
        now[0] = 6
        later = enriched(4)
        assert later.git is not None and (later.git.branch, later.git.commit) == ("other", "b" * 40)
        assert later.workspace == str(repo) and later.project == "acme-api"


def test_collect_runs_recorded(logs: Path) -> None:
    config = make_config(logs)
    (logs / "a.jsonl").write_bytes(line(0))
    with Store.open(config.storage.db_path()) as store:
        collector = Collector(store, config)
        run = collector.begin_run()
        result = collector.collect()
        collector.finish_run(run, result)
        row = store.db.execute("SELECT finished_at, events_added, files_read FROM collect_runs").fetchone()
    assert row[0] is not None
    assert row[1:] == (1, 1)


class _DocSource(Source):
    """A test-only document-mode source: one event per entry of a JSON list."""

    name: ClassVar[str] = "docs"

    @classmethod
    def default_roots(cls) -> list[Path]:
        return []

    def discover(self) -> Iterator[SourceFile]:
        for root in self.roots:
            for path in sorted(root.glob("*.json")):
                yield SourceFile(path=path, mode="document")

    def parse_document(self, file: SourceFile, state: dict[str, Any]) -> Iterator[Event | Problem]:
        state["parses"] = state.get("parses", 0) + 1
        try:
            items = json.loads(file.path.read_bytes())
        except ValueError as exc:
            yield Problem("file", f"invalid JSON: {exc}")
            return
        for item in items:
            yield Event(
                id=event_id("docs", item),
                ts=datetime.fromtimestamp(item, tz=UTC),
                agent="docs",
                kind="response",
                session_id="doc",
            )


def test_document_mode_reparses_on_change_only(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    doc = folder / "a.json"
    doc.write_text(json.dumps([1_700_000_000, 1_700_000_001]))
    age(doc)
    config = make_config(tmp_path / "none")
    with Store.open(config.storage.db_path()) as store:
        collector = Collector(store, config, sources=[_DocSource([folder])])
        assert collector.collect().events_added == 2
        assert collector.collect().files_read == 0
        doc.write_text(json.dumps([1_700_000_000, 1_700_000_001, 1_700_000_002]))
        os.utime(doc, ns=(1, 1))
        assert collector.collect().events_added == 1
        doc.write_text("[1, 2")  # half-written
        result = collector.collect()
        assert result.problems == 1
        cursor = store.get_cursor("docs", str(doc))
        assert cursor is not None
        assert cursor.state["parses"] == 3  # the unchanged pass did not parse
        doc.write_text(json.dumps([1_700_000_000, 1_700_000_001, 1_700_000_002]))  # the rewrite completes
        os.utime(doc, ns=(2, 2))
        assert collector.collect().problems == 0
        # a document's read states all its problems: the half-written file's one is gone
        assert store.db.execute("SELECT count(*) FROM parse_errors WHERE path = ?", (str(doc),)).fetchone()[0] == 0
        doc.write_text("[1, 2")
        os.utime(doc, ns=(3, 3))
        assert collector.collect().problems == 1  # and a new half-write is reported again


def test_mark_current_skips_history(logs: Path) -> None:
    config = make_config(logs)
    path = logs / "a.jsonl"
    path.write_bytes(line(0) + line(1) + line(2)[:5])
    with Store.open(config.storage.db_path()) as store:
        collector = Collector(store, config)
        assert collector.mark_current(collector.discover()) == 1
    append(path, line(2)[5:] + line(3))
    assert collect(config).events_added == 2
    assert sorted(stored_ids(config)) == sorted([expected_id(2), expected_id(3)])


class _Exploding(Source):
    """A source whose parser raises on one line (a parser bug must cost that line only)."""

    name: ClassVar[str] = "boom"

    @classmethod
    def default_roots(cls) -> list[Path]:
        return []

    def discover(self) -> Iterator[SourceFile]:
        for root in self.roots:
            yield from (SourceFile(path=p, mode="append") for p in sorted(root.glob("*.log")))

    def parse_lines(
        self, file: SourceFile, lines: Iterable[tuple[int, bytes]], state: dict[str, Any]
    ) -> Iterator[Event | Problem]:
        for number, raw in lines:
            if raw == b"boom":
                raise RuntimeError("parser bug")
            state["n"] = state.get("n", 0) + 1
            yield Event(id=event_id("boom", raw), ts=datetime.now(UTC), agent="boom", kind="prompt", session_id="s")


def test_parser_exception_costs_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "boom"
    folder.mkdir()
    (folder / "a.log").write_bytes(b"one\nboom\ntwo\n")
    config = make_config(tmp_path / "none")
    with Store.open(config.storage.db_path()) as store:
        result = Collector(store, config, sources=[_Exploding([folder])]).collect()
        assert result.events_added == 2
        assert result.problems == 1
        cursor = store.get_cursor("boom", str(folder / "a.log"))
        assert cursor is not None
        assert cursor.state == {"n": 2}
    assert problems(config)[0][1:3] == ("line 2", "parser error: RuntimeError: parser bug")


def test_build_sources_roots_from_config_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GEMINI_CLI_HOME", str(tmp_path / "g"))
    config, _ = parse_config(
        {"collect": {"agents": ["gemini", "cursor"], "roots": {"cursor": ["~/cur", "$HOME/cur2"]}}}
    )
    sources, _warnings = build_sources(config)
    by_name = {s.name: s for s in sources}
    assert by_name["gemini"].roots == [tmp_path / "g" / ".gemini"]
    assert by_name["cursor"].roots == [Path.home() / "cur", Path.home() / "cur2"]


def test_mark_current_stops_cleanly_when_asked_and_keeps_what_it_marked(logs: Path) -> None:
    """SIGINT during `start --no-history`: the files marked so far stay marked, nothing raises."""
    config = make_config(logs)
    for n in range(3):
        (logs / f"{n}.jsonl").write_bytes(line(10 * n) + line(10 * n + 1))
    asked = iter([False, False, False] + [True] * 100)
    with Store.open(config.storage.db_path()) as store:
        collector = Collector(store, config, should_stop=lambda: next(asked))
        marked = collector.mark_current(collector.discover())
        assert 1 <= marked <= len(store.all_cursors()) < 3  # (the file being read when asked may keep its cursor)
        assert store.db.execute("SELECT count(*) FROM events").fetchone() == (0,)


def test_a_pass_with_a_deadline_leaves_the_files_it_did_not_start_for_later(logs: Path) -> None:
    """The daemon reads a burst of new files in slices between live changes (`watch.BACKLOG_SLICE_S`)."""
    config = make_config(logs)
    for n in range(4):
        (logs / f"{n}.jsonl").write_bytes(line(n))
    with Store.open(config.storage.db_path()) as store:
        collector = Collector(store, config)
        backlog = collector.discover()
        first = collector.collect(backlog, deadline=0.0)  # already past: one file, then the rest waits
        assert (first.events_added, len(first.remaining)) == (1, 3)
        rest = collector.collect(first.remaining, deadline=None)
        assert (rest.events_added, rest.remaining) == (3, [])
        assert collector.collect(backlog, deadline=0.0).remaining == backlog[1:]  # (unchanged files too)


def test_cursors_for_some_files_are_those_of_all_cursors(logs: Path) -> None:
    config = make_config(logs)
    for n in range(300):  # past the one-lookup-each limit too
        (logs / f"{n}.jsonl").write_bytes(line(n))
    collect(config)
    with Store.open(config.storage.db_path()) as store:
        every = store.all_cursors()
        keys = sorted(every)
        assert store.cursors_for(keys[:3]) == {key: every[key] for key in keys[:3]}
        assert store.cursors_for(keys) == every
        assert store.cursors_for([("generic:testagent", "/no/such.jsonl"), keys[0]]) == {keys[0]: every[keys[0]]}


def test_a_discovery_failure_is_forgotten_once_discovery_works_again(logs: Path) -> None:
    """A source whose discovery raised is recorded as a `discovery` problem; it stayed in `devlog
    status` for good, even after the cause was gone and its logs were collected."""
    (logs / "a.jsonl").write_bytes(line(1))
    config = make_config(logs)
    with Store.open(config.storage.db_path()) as store:
        broken = Collector(store, config)
        source = broken.sources[0]

        def fail() -> Iterator[SourceFile]:
            raise RuntimeError("boom")

        source.discover = fail  # type: ignore[method-assign]
        assert broken.collect().problems == 1
        positions = [r[0] for r in store.db.execute("SELECT position FROM parse_errors")]
        assert positions == ["discovery"]
        fixed = Collector(store, config)
        assert fixed.collect().events_added == 1
        assert store.db.execute("SELECT count(*) FROM parse_errors").fetchone() == (0,)


def test_a_huge_text_is_cut_to_the_stored_limit_whatever_the_source(logs: Path) -> None:
    """Sources other than Claude and Codex stored a prompt of any size (an 80 MiB Gemini prompt whole)."""
    from devlog_shared.limits import MAX_TEXT_CHARS

    record = json.loads(line(1))
    record["text"] = "é" * (MAX_TEXT_CHARS + 10)
    (logs / "a.jsonl").write_bytes(json.dumps(record).encode() + b"\n")
    config = make_config(logs)
    with Store.open(config.storage.db_path()) as store:
        assert Collector(store, config).collect().events_added == 1
        body, text = store.db.execute("SELECT body, text FROM events").fetchone()
    assert len(text) == MAX_TEXT_CHARS
    attrs = decode_event(body).attrs
    assert attrs["truncated"] is True and attrs["text_length"] == MAX_TEXT_CHARS + 10
