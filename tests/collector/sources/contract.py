"""Contract checks every source must pass, whatever its format (used by the per-source suites).

* every fixture parses, and parsing again gives the same events (same ids, same content);
* ids are unique within one parse (a collision would silently drop an event in the store);
* every event round-trips through the devlog_shared codec unchanged (valid against schema v1);
* for append-mode files: feeding the lines in small chunks, with `state` JSON-encoded and decoded
  between reads as the engine persists it, leaves the store with the same events as one read (the
  store keeps one copy per id: the first, or a later one with a larger token total);
* garbage (invalid JSON, non-UTF-8 bytes, wrong shapes) yields Problems, never an exception.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from devlog_collector.sources.base import Problem, Source, SourceFile
from devlog_shared import Event, decode_event, encode_event

__all__ = [
    "GARBAGE_LINES",
    "check_fixture",
    "check_garbage",
    "file_lines",
    "parse",
    "parse_chunked",
    "split",
    "stored",
]

#: Lines no parser may raise on.
GARBAGE_LINES: tuple[bytes, ...] = (
    b"{",
    b'{"type":"assistant","message":{"usage":{"input_tokens":1',
    b"\xff\xfe\x00garbage",
    b'{"type":"caf\xe9"}',
    b"[]",
    b"42",
    b'"just a string"',
    b"null",
    b'{"type":"assistant","message":[]}',
    b'{"type":"user","message":"text","timestamp":12}',
    b'{"type":"assistant","timestamp":"not a time","message":{"content":{},"usage":[]}}',
    b'{"type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":"x"}}}}',
    b'{"type":"response_item","payload":{"type":"function_call","arguments":7}}',
    b'{"type":"session_meta","payload":[]}',
    b"   ",
)


def file_lines(file: SourceFile) -> list[tuple[int, bytes]]:
    """The complete lines of an append-mode file with 1-based numbers (as the engine hands them)."""
    data = file.path.read_bytes()
    end = data.rfind(b"\n") + 1
    return [(number, line) for number, line in enumerate(data[:end].split(b"\n")[:-1], start=1)]


def split(items: Iterable[Event | Problem]) -> tuple[list[Event], list[Problem]]:
    events: list[Event] = []
    problems: list[Problem] = []
    for item in items:
        if isinstance(item, Event):
            events.append(item)
        else:
            problems.append(item)
    return events, problems


def parse(source: Source, file: SourceFile, state: dict[str, Any] | None = None) -> tuple[list[Event], list[Problem]]:
    """All events and problems of one file, read in one go."""
    state = {} if state is None else state
    if file.mode == "append":
        return split(source.parse_lines(file, file_lines(file), state))
    return split(source.parse_document(file, state))


def parse_chunked(source: Source, file: SourceFile, size: int = 1) -> tuple[list[Event], list[Problem]]:
    """An append-mode file read `size` lines at a time, `state` persisted as JSON in between."""
    lines = file_lines(file)
    encoded = msgspec.json.encode({})
    events: list[Event] = []
    problems: list[Problem] = []
    for start in range(0, len(lines), size):
        state = msgspec.json.decode(encoded)
        chunk_events, chunk_problems = split(source.parse_lines(file, lines[start : start + size], state))
        events.extend(chunk_events)
        problems.extend(chunk_problems)
        encoded = msgspec.json.encode(state)
    return events, problems


def stored(events: Sequence[Event]) -> dict[str, Event]:
    """What the store keeps of `events`: one per id, the first copy unless a later one has more tokens."""
    kept: dict[str, Event] = {}
    for event in events:
        previous = kept.get(event.id)
        if previous is None or (
            event.usage is not None and event.usage.total > (previous.usage.total if previous.usage else 0)
        ):
            kept[event.id] = event
    return kept


def _key(events: Sequence[Event]) -> list[bytes]:
    return sorted(encode_event(e) for e in stored(events).values())


def check_fixture(source: Source, file: SourceFile, *, unique_ids: bool = True) -> tuple[list[Event], list[Problem]]:
    """Run the contract on one fixture file and return its events and problems.

    `unique_ids=False` for formats that legitimately re-emit one record (e.g. a usage record repeated
    on every line of a streamed response): then identical ids must carry identical kinds.
    """
    events, problems = parse(source, file)
    again, again_problems = parse(source, file)
    assert [e.id for e in again] == [e.id for e in events], f"{file.path}: re-parse gave other ids"
    assert _key(again) == _key(events), f"{file.path}: re-parse gave other events"
    assert again_problems == problems
    counts = Counter(e.id for e in events)
    if unique_ids:
        assert not [i for i, n in counts.items() if n > 1], f"{file.path}: duplicate event ids"
    else:
        kinds: dict[str, str] = {}
        for event in events:
            assert kinds.setdefault(event.id, event.kind) == event.kind, f"{file.path}: one id, two kinds"
    for event in events:
        assert decode_event(encode_event(event)) == event, f"{file.path}: {event.id} does not round-trip"
        assert event.agent == source.name or event.agent
    for problem in problems:
        assert problem.position and problem.message
    if file.mode == "append":
        chunked, chunked_problems = parse_chunked(source, file)
        assert _key(chunked) == _key(events), f"{file.path}: line-by-line reads differ from one read"
        assert sorted(map(repr, chunked_problems)) == sorted(map(repr, problems))
    return events, problems


def check_garbage(source: Source, file: SourceFile, lines: Iterable[bytes] = GARBAGE_LINES) -> list[Problem]:
    """Feed garbage lines to an append-mode source: no exception, and what is unusable is a Problem."""
    numbered = [(n, line) for n, line in enumerate(lines, start=1)]
    events, problems = split(source.parse_lines(file, numbered, {}))
    for event in events:
        assert decode_event(encode_event(event)) == event
    invalid = {n for n, line in numbered if _invalid_json(line)}
    reported = {int(p.position.removeprefix("line ")) for p in problems if p.position.startswith("line ")}
    assert invalid <= reported, f"lines {sorted(invalid - reported)} are invalid JSON but raised no Problem"
    return problems


def _invalid_json(line: bytes) -> bool:
    if not line.strip():
        return False
    try:
        msgspec.json.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return True
    return False
