"""Schema v1 contract: byte-stable round trips, forward compatibility, clear errors, no drift."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import msgspec
import pytest

import devlog_shared
from devlog_shared import (
    EVENT_KINDS,
    Batch,
    CollectorInfo,
    Event,
    FileInfo,
    GitInfo,
    IngestResponse,
    InvalidEvent,
    ItemResult,
    SourceRef,
    ToolInfo,
    Usage,
    decode_batch_envelope,
    decode_event,
    decode_ingest_response,
    encode,
    event_id,
)

ROOT = Path(__file__).resolve().parents[2]
TS = datetime(2026, 3, 2, 9, 14, 3, 120000, tzinfo=UTC)


def full_event(kind: str) -> Event:
    return Event(
        id=event_id("claude", "session-1", kind),
        ts=TS,
        agent="claude",
        agent_version="2.1.90",
        kind=kind,  # type: ignore[arg-type]
        session_id="0b6c2e1a-1111-4111-8111-000000000001",
        parent_id=event_id("claude", "parent"),
        workspace="/home/dev/acme-api",
        project="acme-api",
        git=GitInfo(remote="https://github.com/acme/api", branch="main", commit="3f9c1e2"),
        machine="m-1234",
        user="dev",
        model="claude-sonnet-4-5-20250929",
        usage=Usage(input_tokens=3, output_tokens=212, cache_creation_tokens=1821, cache_read_tokens=20410),
        cost_usd=0.0123,
        tool=ToolInfo(name="Edit", call_id="toolu_01", status="ok", duration_ms=19),
        file=FileInfo(path="/home/dev/acme-api/app.py", lines_added=3, lines_removed=0),
        text="Add a /health endpoint — ünïcode ✓",
        source=SourceRef(path="/home/dev/.claude/projects/x/s.jsonl", key="5f1c-01"),
        attrs={"is_sidechain": False, "nested": {"a": [1, 2]}},
    )


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_every_kind_round_trips_byte_stable(kind: str) -> None:
    event = full_event(kind)
    first = encode(event)
    decoded = decode_event(first)
    assert decoded == event
    assert encode(decoded) == first


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_minimal_event_round_trips(kind: str) -> None:
    event = Event(id="x1", ts=TS, agent="codex", kind=kind, session_id="s")  # type: ignore[arg-type]
    data = encode(event)
    assert json.loads(data) == {
        "id": "x1",
        "ts": "2026-03-02T09:14:03.120000Z",
        "agent": "codex",
        "kind": kind,
        "session_id": "s",
    }
    assert decode_event(data) == event


def test_unknown_fields_are_ignored() -> None:
    raw = json.loads(encode(full_event("prompt")))
    raw["future_field"] = {"anything": [1, 2, 3]}
    raw["usage"]["future_tokens"] = 7
    assert decode_event(json.dumps(raw)) == full_event("prompt")


def test_timestamps_are_normalised_to_utc() -> None:
    local = TS.astimezone(timezone(timedelta(hours=5, minutes=30)))
    raw = json.loads(encode(full_event("prompt")))
    raw["ts"] = local.isoformat()
    decoded = decode_event(json.dumps(raw))
    assert decoded.ts == TS
    assert decoded.ts.tzinfo is UTC


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.pop("id"), "id"),
        (lambda e: e.update(kind="telepathy"), "kind"),
        (lambda e: e.update(ts="yesterday"), "ts"),
        (lambda e: e.update(ts="2026-03-02T09:14:03"), "ts"),
        (lambda e: e.update(usage={"input_tokens": -1}), "usage.input_tokens"),
        (lambda e: e.update(usage={"output_tokens": "many"}), "usage.output_tokens"),
        (lambda e: e.update(agent="Claude Code!"), "agent"),
        (lambda e: e.update(agent="claude\n"), "agent"),  # Python's `$` matches before a final newline
        (lambda e: e.update(ts="9999-12-31T23:59:59-01:00"), "ts"),  # past datetime.max once in UTC: was a 500
        (lambda e: e.update(ts="0001-01-01T00:00:00+01:00"), "ts"),
        (lambda e: e.update(tool={"call_id": "x"}), "tool"),
        (lambda e: e.update(session_id=""), "session_id"),
        (lambda e: e.update(schema_version=2), "schema_version"),
    ],
)
def test_malformed_event_names_the_field(mutate, field: str) -> None:
    raw = json.loads(encode(full_event("tool_call")))
    mutate(raw)
    with pytest.raises(InvalidEvent) as info:
        decode_event(json.dumps(raw))
    assert info.value.field is not None and info.value.field.startswith(field)
    assert field.split(".")[0] in str(info.value)


def test_not_json_is_a_clear_error() -> None:
    with pytest.raises(InvalidEvent, match="invalid event"):
        decode_event(b"{not json")


def test_invalid_utf8_and_deep_nesting_are_invalid_events() -> None:
    with pytest.raises(InvalidEvent, match="UTF-8"):
        decode_event(b'{"id":"\xff\xfe"}')
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(InvalidEvent, match="nested too deeply"):
        decode_batch_envelope(b'{"events":[' + deep + b"]}")


def test_event_ids_are_deterministic_and_separated() -> None:
    assert event_id("claude", "abc") == event_id("claude", "abc")
    assert event_id("claude", "a", "bc") != event_id("claude", "ab", "c")
    assert event_id("claude", "abc") != event_id("codex", "abc")
    with pytest.raises(ValueError, match="key part"):
        event_id("claude")


def test_batch_envelope_keeps_events_raw_for_per_item_validation() -> None:
    batch = Batch(collector=CollectorInfo(version="0.1.0", machine="m"), events=[full_event("prompt")])
    raw = json.loads(encode(batch))
    raw["events"].append({"id": "bad", "kind": "nope"})
    envelope = decode_batch_envelope(json.dumps(raw))
    assert len(envelope.events) == 2
    assert decode_event(envelope.events[0]) == full_event("prompt")
    with pytest.raises(InvalidEvent):
        decode_event(envelope.events[1])


def test_batch_envelope_errors_name_the_field() -> None:
    with pytest.raises(InvalidEvent) as info:
        decode_batch_envelope(b'{"events": "nope"}')
    assert info.value.field == "events"


def test_ingest_response_round_trip() -> None:
    response = IngestResponse(
        created=1, duplicates=1, rejected=1,
        results=[ItemResult(index=0, id="a", status="created"), ItemResult(index=1, id="b", status="duplicate"),
                 ItemResult(index=2, status="rejected", reason="invalid event: missing `id`")],
    )  # fmt: skip
    assert decode_ingest_response(encode(response)) == response


def test_public_api_matches_all() -> None:
    exported = {name for name in dir(devlog_shared) if not name.startswith("_")}
    modules = {"codec", "display", "errors", "events", "ids", "key_globs", "limits", "surrogates", "wire"}
    modules |= {"annotations"}
    assert set(devlog_shared.__all__) == exported - modules


def test_json_schema_file_has_not_drifted() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_event_schema.py"), "--check"],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_shared_depends_only_on_msgspec() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "shared" / "pyproject.toml").read_text())["project"]
    assert [d.split(">")[0].split("=")[0] for d in project["dependencies"]] == ["msgspec"]
    assert msgspec.__version__
