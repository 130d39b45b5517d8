"""devlog's shared event schema (v1) and wire contract.

The collector and the server both import this package and nothing else of each other's.
"""

from __future__ import annotations

from devlog_shared.codec import (
    decode_batch_envelope,
    decode_event,
    decode_events_jsonl,
    decode_ingest_response,
    encode,
    encode_event,
    event_json_schema,
    to_builtins,
)
from devlog_shared.errors import DevlogSchemaError, InvalidEvent
from devlog_shared.events import (
    EVENT_KINDS,
    KNOWN_AGENTS,
    SCHEMA_VERSION,
    Event,
    EventKind,
    FileInfo,
    GitInfo,
    SourceRef,
    ToolInfo,
    Usage,
)
from devlog_shared.ids import content_hash, event_id
from devlog_shared.surrogates import decode_repaired, decode_repairing, has_surrogate_escape, replace_lone_surrogates
from devlog_shared.wire import (
    Batch,
    BatchEnvelope,
    CollectorInfo,
    IngestResponse,
    ItemResult,
    ItemStatus,
    ServerLimits,
    WhoAmI,
)

__all__ = [
    "EVENT_KINDS",
    "KNOWN_AGENTS",
    "SCHEMA_VERSION",
    "Batch",
    "BatchEnvelope",
    "CollectorInfo",
    "DevlogSchemaError",
    "Event",
    "EventKind",
    "FileInfo",
    "GitInfo",
    "IngestResponse",
    "InvalidEvent",
    "ItemResult",
    "ItemStatus",
    "ServerLimits",
    "SourceRef",
    "ToolInfo",
    "Usage",
    "WhoAmI",
    "content_hash",
    "decode_batch_envelope",
    "decode_event",
    "decode_events_jsonl",
    "decode_ingest_response",
    "decode_repaired",
    "decode_repairing",
    "encode",
    "encode_event",
    "event_id",
    "event_json_schema",
    "has_surrogate_escape",
    "replace_lone_surrogates",
    "to_builtins",
]
