"""Model-based test of the tailer: random file-system histories always converge to the complete records.

A hypothesis state machine writes JSONL records (whole, or split so a partial line sits on disk),
rotates by rename, copy-truncates, truncates, deletes and recreates, atomically replaces whole JSON
documents, and restarts the collector. After every collect pass:

* every complete record on disk is in the store (nothing lost),
* everything in the store was once a complete record (no partial or re-framed line became an
  event; no parse problem was recorded),
* ids are unique (the UNIQUE constraint) and a second pass adds nothing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from devlog_collector.collect import Collector
from devlog_collector.sources.base import Problem, Source, SourceFile
from devlog_collector.sources.generic import GenericJsonlSource
from devlog_collector.store import Store
from devlog_shared import Event, event_id
from tests.collector.collect_helpers import expected_id, make_config, record

NAMES = ("a.jsonl", "b.jsonl")


class JsonDocs(Source):
    """Test-only document source: each `*.json` file is a list of record numbers."""

    name: ClassVar[str] = "docs"

    @classmethod
    def default_roots(cls) -> list[Path]:
        return []

    def discover(self) -> Iterator[SourceFile]:
        for root in self.roots:
            for path in sorted(root.glob("*.json")):
                yield SourceFile(path=path, mode="document")

    def parse_document(self, file: SourceFile, state: dict[str, Any]) -> Iterator[Event | Problem]:
        try:
            items = json.loads(file.path.read_bytes())
        except (OSError, ValueError) as exc:
            yield Problem("file", f"unreadable: {exc}")
            return
        for item in items:
            yield Event(
                id=event_id("docs", item), ts=datetime.fromtimestamp(item, tz=UTC), agent="docs", kind="response",
                session_id="d",
            )  # fmt: skip


class FileSystemModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="devlog-fsmodel-"))
        self.logs = self.dir / "logs"
        self.logs.mkdir()
        self.config = make_config(self.logs, pattern="*.jsonl*", storage={"path": str(self.dir / "store")})
        self.next = 0
        self.files: dict[str, list[int]] = {}  # file name -> complete records, in order
        self.partial: dict[str, tuple[int, bytes]] = {}  # file name -> (record, bytes still to write)
        self.ever: set[str] = set()  # ids of records that were ever complete on disk
        self.docs: list[int] = []
        self.store: Store | None = None
        self.rotations = 0
        self.chunk = 64

    def teardown(self) -> None:
        if self.store is not None:
            self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------------

    def _record(self) -> tuple[int, bytes]:
        n = self.next
        self.next += 1
        return n, json.dumps(record(n, text="t" * (n % 50))).encode() + b"\n"

    def _finish_partial(self, name: str) -> None:
        if name in self.partial:
            n, rest = self.partial.pop(name)
            with (self.logs / name).open("ab") as handle:
                handle.write(rest)
            self.files.setdefault(name, []).append(n)
            self.ever.add(expected_id(n))

    def _open_store(self) -> Store:
        if self.store is None:
            self.store = Store.open(self.config.storage.db_path())
        return self.store

    # -- rules ---------------------------------------------------------------------------------

    @rule(name=st.sampled_from(NAMES), count=st.integers(1, 5))
    def append(self, name: str, count: int) -> None:
        self._finish_partial(name)
        with (self.logs / name).open("ab") as handle:
            for _ in range(count):
                n, data = self._record()
                handle.write(data)
                self.files.setdefault(name, []).append(n)
                self.ever.add(expected_id(n))

    @rule(name=st.sampled_from(NAMES), cut=st.floats(0.05, 0.95))
    def partial_write(self, name: str, cut: float) -> None:
        self._finish_partial(name)
        n, data = self._record()
        at = max(1, int(len(data) * cut))
        with (self.logs / name).open("ab") as handle:
            handle.write(data[:at])
        self.partial[name] = (n, data[at:])

    @rule(name=st.sampled_from(NAMES))
    def complete_partial(self, name: str) -> None:
        self._finish_partial(name)

    @precondition(lambda self: bool(self.files))
    @rule(data=st.data())
    def rename_rotation(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.files)))
        self._finish_partial(name)
        self.rotations += 1
        rotated = f"{name}.{self.rotations}"
        (self.logs / name).rename(self.logs / rotated)
        self.files[rotated] = self.files.pop(name)

    @precondition(lambda self: bool(self.files))
    @rule(data=st.data())
    def copy_truncate(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.files)))
        self._finish_partial(name)
        self.rotations += 1
        rotated = f"{name}.{self.rotations}"
        shutil.copyfile(self.logs / name, self.logs / rotated)
        with (self.logs / name).open("r+b") as handle:
            handle.truncate(0)
        self.files[rotated] = self.files[name]
        self.files[name] = []

    @precondition(lambda self: bool(self.files))
    @rule(data=st.data())
    def truncate(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.files)))
        self._finish_partial(name)
        with (self.logs / name).open("r+b") as handle:
            handle.truncate(0)
        self.files[name] = []

    @precondition(lambda self: bool(self.files))
    @rule(data=st.data(), count=st.integers(0, 3))
    def delete_and_recreate(self, data: st.DataObject, count: int) -> None:
        name = data.draw(st.sampled_from(sorted(self.files)))
        self._finish_partial(name)
        (self.logs / name).unlink()
        del self.files[name]
        if count:
            self.append(name, count)

    @precondition(lambda self: bool(self.files))
    @rule(data=st.data(), keep=st.booleans(), count=st.integers(0, 3))
    def atomic_replace(self, data: st.DataObject, keep: bool, count: int) -> None:
        name = data.draw(st.sampled_from(sorted(self.files)))
        self._finish_partial(name)
        kept = self.files[name] if keep else []
        body = (self.logs / name).read_bytes() if keep else b""
        new = []
        for _ in range(count):
            n, line = self._record()
            body += line
            new.append(n)
        tmp = self.dir / "replace.tmp"
        tmp.write_bytes(body)
        tmp.replace(self.logs / name)
        self.files[name] = kept + new
        self.ever.update(expected_id(n) for n in new)

    @rule(count=st.integers(1, 3))
    def replace_document(self, count: int) -> None:
        self.docs = self.docs + [1_700_000_000 + len(self.docs) + i for i in range(count)]
        tmp = self.dir / "doc.tmp"
        tmp.write_text(json.dumps(self.docs))
        tmp.replace(self.logs / "session.json")

    @rule()
    def restart(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    @rule(chunk=st.sampled_from([16, 64, 1000, 1 << 20]))
    def collect(self, chunk: int) -> None:
        store = self._open_store()
        sources = [GenericJsonlSource(self.config.collect.generic[0]), JsonDocs([self.logs])]
        Collector(store, self.config, sources=sources, chunk_bytes=chunk).collect()
        stored = {r[0] for r in store.db.execute("SELECT id FROM events WHERE agent = 'testagent'")}
        on_disk = {expected_id(n) for records in self.files.values() for n in records}
        assert on_disk <= stored, "a complete record on disk is missing from the store"
        assert stored <= self.ever, "the store holds an event that was never a complete record"
        docs = {r[0] for r in store.db.execute("SELECT id FROM events WHERE agent = 'docs'")}
        assert docs == {event_id("docs", n) for n in self.docs}
        problems = store.db.execute("SELECT path, position, message FROM parse_errors").fetchall()
        assert problems == []

    @invariant()
    def unique_ids(self) -> None:
        if self.store is not None:
            total, distinct = self.store.db.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone()
            assert total == distinct


FileSystemModel.TestCase.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)
)
TestFileSystemModel = FileSystemModel.TestCase
