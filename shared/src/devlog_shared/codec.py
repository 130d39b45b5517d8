"""Encoding and decoding of events and batches: the one place msgspec errors are translated.

Encoding is deterministic (field order is declaration order, defaults omitted), so an event that is
decoded and re-encoded gives the same bytes. Timestamps are normalised to UTC on decode.
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any, Final

import msgspec

from devlog_shared.errors import InvalidEvent
from devlog_shared.events import SCHEMA_VERSION, Event
from devlog_shared.limits import MAX_YEAR, MIN_YEAR
from devlog_shared.wire import Batch, BatchEnvelope, IngestResponse

__all__ = [
    "decode_batch_envelope",
    "decode_event",
    "decode_events_jsonl",
    "decode_ingest_response",
    "encode",
    "encode_event",
    "event_json_schema",
    "to_builtins",
]

_encoder: Final = msgspec.json.Encoder()
_event_decoder: Final = msgspec.json.Decoder(Event)
_envelope_decoder: Final = msgspec.json.Decoder(BatchEnvelope)
_response_decoder: Final = msgspec.json.Decoder(IngestResponse)


def _translate(exc: msgspec.DecodeError, what: str) -> InvalidEvent:
    message = str(exc)
    field = None
    # msgspec reports the location as "... - at `$.field[0].x`"
    if " - at `" in message:
        message, _, location = message.partition(" - at `")
        field = location.rstrip("`").removeprefix("$.").removeprefix("$") or None
    missing = re.search(r"missing required field `([^`]+)`", message)
    if missing:
        field = f"{field}.{missing.group(1)}" if field else missing.group(1)
    detail = f"invalid {what}: {message}" + (f" (field `{field}`)" if field else "")
    return InvalidEvent(detail, field=field)


def _normalise(event: Event) -> Event:
    if event.schema_version != SCHEMA_VERSION:
        raise InvalidEvent(
            f"invalid event: unsupported schema_version {event.schema_version} (this build speaks {SCHEMA_VERSION})",
            field="schema_version",
        )
    if event.ts.tzinfo is not UTC:
        try:
            event = msgspec.structs.replace(event, ts=event.ts.astimezone(UTC))
        except OverflowError:  # 9999-12-31T23:59:59-01:00 is past the last date Python can hold in UTC
            raise InvalidEvent(
                f"invalid event: implausible timestamp, outside years {MIN_YEAR}-{MAX_YEAR} (field `ts`)", field="ts"
            ) from None
    return event


def encode(obj: Any) -> bytes:
    """Encode any schema object (Event, Batch, IngestResponse, ...) to compact JSON."""
    return _encoder.encode(obj)


def encode_event(event: Event) -> bytes:
    """Encode one event to compact JSON."""
    return _encoder.encode(event)


def _utf8_error_offset(data: bytes | str) -> int | None:
    """The offset of the first byte of `data` that is not UTF-8. msgspec's UnicodeDecodeError counts
    from the start of the string value it was reading, not of the document, so it is found again here."""
    if isinstance(data, str):
        return None
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def _undecodable(exc: Exception, what: str, data: bytes | str) -> InvalidEvent:
    if isinstance(exc, UnicodeDecodeError):
        offset = _utf8_error_offset(data)
        return InvalidEvent(f"invalid {what}: not valid UTF-8" + (f" (byte {offset})" if offset is not None else ""))
    return InvalidEvent(f"invalid {what}: JSON nested too deeply")


def decode_event(data: bytes | str) -> Event:
    """Decode and validate one event; raises InvalidEvent naming the bad field."""
    try:
        return _normalise(_event_decoder.decode(data))
    except msgspec.DecodeError as exc:
        raise _translate(exc, "event") from exc
    except (UnicodeDecodeError, RecursionError) as exc:
        raise _undecodable(exc, "event", data) from exc


def decode_events_jsonl(data: bytes) -> list[Event]:
    """Decode newline-delimited events (the store's export and `devlog query --format jsonl`)."""
    return [decode_event(line) for line in data.splitlines() if line.strip()]


def decode_batch_envelope(data: bytes | str) -> BatchEnvelope:
    """Decode a batch's envelope, leaving each event raw for per-item validation."""
    try:
        return _envelope_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise _translate(exc, "batch") from exc
    except (UnicodeDecodeError, RecursionError) as exc:
        raise _undecodable(exc, "batch", data) from exc


def decode_ingest_response(data: bytes | str) -> IngestResponse:
    """Decode a server's per-item ingest response."""
    try:
        return _response_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise _translate(exc, "ingest response") from exc


def to_builtins(obj: Any) -> Any:
    """Convert a schema object to plain dicts/lists (for tables, CSV, templates)."""
    return msgspec.to_builtins(obj)


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema of an event and of a batch (generated into docs/event-schema.json)."""
    schemas, components = msgspec.json.schema_components([Event, Batch, IngestResponse])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"devlog event schema v{SCHEMA_VERSION}",
        "event": schemas[0],
        "batch": schemas[1],
        "ingest_response": schemas[2],
        "$defs": components,
    }
