"""Generic JSONL source: field mapping, kind map, ids, problems, discovery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from devlog_collector.config import GenericSourceConfig
from devlog_collector.sources.base import Problem, SourceFile
from devlog_collector.sources.generic import GenericJsonlSource, lookup
from devlog_shared import Event, decode_event, encode_event, event_id


def source(tmp_path: Path, **overrides: Any) -> GenericJsonlSource:
    config: dict[str, Any] = {
        "name": "aider",
        "glob": str(tmp_path / "logs" / "**" / "*.jsonl"),
        "mapping": {
            "ts": "time",
            "session_id": "conv.id",
            "kind": "type",
            "text": "message",
            "workspace": "cwd",
            "model": "model",
            "input_tokens": "usage.in",
            "output_tokens": "usage.out",
            "cache_read_tokens": "usage.cached",
            "tool_name": "tool.name",
            "file_path": "edits.0.path",
            "cost_usd": "cost",
            "id": "uuid",
        },
        "kind_map": {"user": "prompt", "assistant": "response", "shell": "command"},
    }
    config.update(overrides)
    return GenericJsonlSource(GenericSourceConfig(**config))


def parse(src: GenericJsonlSource, lines: list[bytes], state: dict[str, Any] | None = None) -> list[Event | Problem]:
    numbered = [(i + 1, raw) for i, raw in enumerate(lines)]
    return list(src.parse_lines(SourceFile(Path("/x/a.jsonl"), "append"), numbered, state if state is not None else {}))


def test_mapping_and_kind_map(tmp_path: Path) -> None:
    rec = {
        "time": "2026-03-01T10:00:00Z",
        "conv": {"id": "c-1"},
        "type": "assistant",
        "message": [{"text": "hello"}, {"text": "world"}],
        "cwd": "/w/proj",
        "model": "gpt-x",
        "usage": {"in": 10, "out": "5", "cached": 3},
        "cost": 0.25,
        "uuid": "r-1",
        "tool": {"name": "edit"},
        "edits": [{"path": "src/a.py"}],
    }
    (event,) = parse(source(tmp_path), [json.dumps(rec).encode()])
    assert isinstance(event, Event)
    assert event.agent == "aider"
    assert event.kind == "response"
    assert event.id == event_id("aider", "id", "r-1")
    assert event.session_id == "c-1"
    assert event.text == "hello\nworld"
    assert event.usage is not None
    assert (event.usage.input_tokens, event.usage.output_tokens, event.usage.cache_read_tokens) == (10, 5, 3)
    assert event.cost_usd == 0.25
    assert event.tool is not None
    assert event.tool.name == "edit"
    assert event.file is not None
    assert event.file.path == "src/a.py"
    assert event.workspace == "/w/proj"
    assert event.source is not None
    assert event.source.key == "line 1"
    assert decode_event(encode_event(event)) == event


def test_unknown_kind_falls_back_and_keeps_original(tmp_path: Path) -> None:
    rec = {"time": 1_760_000_000, "conv": {"id": 7}, "type": "telemetry"}
    (event,) = parse(source(tmp_path, kind_default="error"), [json.dumps(rec).encode()])
    assert isinstance(event, Event)
    assert event.kind == "error"
    assert event.attrs == {"source_kind": "telemetry"}
    assert event.session_id == "7"


def test_times_without_an_offset_are_in_the_configured_zone(tmp_path: Path) -> None:
    """aider and other local tools write local times without an offset: UTC unless `timezone` says."""
    lines = [json.dumps({"time": t, "conv": {"id": 1}, "type": "user"}).encode() for t in (
        "2026-05-01 10:00:00", "2026-01-15T10:00:00", "2026-05-01T10:00:00+02:00", 1_777_629_600)]  # fmt: skip
    stamps = lambda src: [e.ts.isoformat() for e in parse(src, lines) if isinstance(e, Event)]  # noqa: E731
    assert stamps(source(tmp_path)) == [
        "2026-05-01T10:00:00+00:00", "2026-01-15T10:00:00+00:00", "2026-05-01T08:00:00+00:00",
        "2026-05-01T10:00:00+00:00",
    ]  # fmt: skip
    assert stamps(source(tmp_path, timezone="Europe/Berlin")) == [
        "2026-05-01T08:00:00+00:00",  # summer time: +02:00
        "2026-01-15T09:00:00+00:00",  # winter: +01:00
        "2026-05-01T08:00:00+00:00",  # an offset of its own wins
        "2026-05-01T10:00:00+00:00",  # epoch seconds are UTC anyway
    ]


def test_an_unknown_time_zone_is_a_config_error() -> None:
    import pytest

    from devlog_collector.config import parse_config
    from devlog_collector.errors import UserError

    def config(zone: str) -> dict[str, Any]:
        entry = {"name": "aider", "glob": "/l/*.jsonl", "mapping": {"ts": "t", "session_id": "s"}, "timezone": zone}
        return {"collect": {"generic": [entry]}}

    with pytest.raises(UserError) as caught:
        parse_config(config("Europe/Pari"))
    assert any("timezone: unknown time zone 'Europe/Pari'" in p for p in caught.value.problems), caught.value.problems
    assert parse_config(config("local"))[0].collect.generic[0].timezone == "local"


def test_problems_for_unusable_lines(tmp_path: Path) -> None:
    lines = [
        b"{broken",
        b'"a string"',
        json.dumps({"conv": {"id": "c"}}).encode(),
        json.dumps({"time": "yesterday", "conv": {"id": "c"}}).encode(),
        json.dumps({"time": 1_760_000_000, "conv": {}}).encode(),
        json.dumps({"time": 1_760_000_000, "conv": {"id": True}}).encode(),
        json.dumps({"time": 1_760_000_000, "conv": "not an object", "usage": [1, 2]}).encode(),
    ]
    out = parse(source(tmp_path), lines)
    assert all(isinstance(p, Problem) for p in out)
    assert [p.position for p in out if isinstance(p, Problem)] == [f"line {n}" for n in range(1, 8)]
    assert "timestamp" in out[2].message  # type: ignore[union-attr]
    assert "session id" in out[4].message  # type: ignore[union-attr]


def test_token_counts_that_cannot_be_used_are_problems_beside_the_stored_event(tmp_path: Path) -> None:
    """A negative or non-numeric count was stored as 0 without a word (a new-user test)."""
    base = {"time": 1_760_000_000, "conv": {"id": "c"}, "type": "assistant"}
    lines = [
        json.dumps({**base, "usage": {"in": "12", "out": -1, "cached": "lots"}}).encode(),
        json.dumps({**base, "usage": {"in": 0, "out": "0", "cached": None}}).encode(),  # zeros and null: fine
        json.dumps({**base, "usage": {"in": True, "out": 7, "cached": [1]}}).encode(),
    ]
    out = parse(source(tmp_path), lines)
    events = [e for e in out if isinstance(e, Event)]
    assert [(e.usage.input_tokens, e.usage.output_tokens) if e.usage else None for e in events] == [
        (12, 0), None, (0, 7),
    ]  # fmt: skip
    problems = [(p.position, p.message) for p in out if isinstance(p, Problem)]
    assert problems == [
        ("line 1", "`output_tokens` at 'usage.out' is not a non-negative count (-1): counted as 0"),
        ("line 1", "`cache_read_tokens` at 'usage.cached' is not a non-negative count ('lots'): counted as 0"),
        ("line 3", "`input_tokens` at 'usage.in' is not a non-negative count (True): counted as 0"),
        ("line 3", "`cache_read_tokens` at 'usage.cached' is not a non-negative count (list): counted as 0"),
    ]


def test_a_cost_that_cannot_be_used_is_a_problem_beside_the_stored_event(tmp_path: Path) -> None:
    """A negative, boolean or non-numeric cost was dropped without a word (a new-user test)."""
    config = GenericSourceConfig(
        name="costly", glob=str(tmp_path / "*.jsonl"), mapping={"ts": "t", "session_id": "s", "cost_usd": "c"}
    )
    costs: list[Any] = [0.25, "0.5", -0.5, True, "cheap", None, {"usd": 1}]
    lines = [json.dumps({"t": 1_760_000_000 + n, "s": "a", "c": cost}).encode() for n, cost in enumerate(costs)]
    out = parse(GenericJsonlSource(config), lines)
    assert [e.cost_usd for e in out if isinstance(e, Event)] == [0.25, 0.5, None, None, None, None, None]
    assert [(p.position, p.message) for p in out if isinstance(p, Problem)] == [
        ("line 3", "`cost_usd` at 'c' is not a non-negative number (-0.5): not kept"),
        ("line 4", "`cost_usd` at 'c' is not a non-negative number (True): not kept"),
        ("line 5", "`cost_usd` at 'c' is not a non-negative number ('cheap'): not kept"),
        ("line 7", "`cost_usd` at 'c' is not a non-negative number (dict): not kept"),
    ]


def test_epoch_times_with_a_fraction_in_a_string_are_times(tmp_path: Path) -> None:
    config = GenericSourceConfig(name="frac", glob=str(tmp_path / "*.jsonl"), mapping={"ts": "t", "session_id": "s"})
    values = ["1764583301.25", "1764583301250.5", "1764583301", 1764583301.25, "1.2.3"]
    out = parse(GenericJsonlSource(config), [json.dumps({"t": v, "s": "a"}).encode() for v in values])
    stamps = [e.ts.isoformat() if isinstance(e, Event) else e.message for e in out]
    assert stamps == [
        "2025-12-01T10:01:41.250000+00:00", "2025-12-01T10:01:41.250500+00:00", "2025-12-01T10:01:41+00:00",
        "2025-12-01T10:01:41.250000+00:00", "no usable timestamp at 't'",
    ]  # fmt: skip


def test_content_hash_ids_with_occurrence_index(tmp_path: Path) -> None:
    src = source(tmp_path, mapping={"ts": "time", "session_id": "s"})
    raw = json.dumps({"time": 1_760_000_000, "s": "x"}).encode()
    state: dict[str, Any] = {}
    first = parse(src, [raw, raw], state)
    later = parse(src, [raw], state)  # a later chunk of the same file: third occurrence
    ids = [e.id for e in first + later if isinstance(e, Event)]
    assert len(set(ids)) == 3
    reread = [e.id for e in parse(src, [raw, raw, raw]) if isinstance(e, Event)]
    assert reread == ids  # a re-read from 0 gives the same ids


def test_lookup_paths() -> None:
    rec = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    assert lookup(rec, "a.b.1.c") == 2
    assert lookup(rec, "a.b.-1.c") == 2
    assert lookup(rec, "a.b.5.c") is not None
    assert lookup(rec, "a.x") is lookup(rec, "a.b.5")


def test_discovery_glob_does_not_follow_symlink_loops(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    (logs / "deep" / "er").mkdir(parents=True)
    (logs / "deep" / "er" / "a.jsonl").write_text("")
    (logs / "b.jsonl").write_text("")
    (logs / "notes.txt").write_text("")
    (logs / "deep" / "loop").symlink_to(logs)
    src = source(tmp_path)
    found = [f.path for f in src.discover()]
    assert sorted(found) == sorted([logs / "b.jsonl", logs / "deep" / "er" / "a.jsonl"])
    assert all(f.mode == "append" for f in src.discover())
    assert src.roots == [logs]
    assert src.source_id == "generic:aider"
