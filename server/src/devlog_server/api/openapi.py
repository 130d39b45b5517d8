"""OpenAPI details the handlers cannot express in their signatures.

`POST /api/v1/events` reads its body itself (streamed, size-capped, gunzipped, then decoded event by
event), so its request body schema is declared here from the shared `Batch` type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody

from devlog_server.schemas import Problem
from devlog_shared import Batch

__all__ = ["BEARER_SECURITY", "IngestOperation", "batch_schema", "problem_responses"]

BEARER_SECURITY: Final[list[dict[str, list[str]]]] = [{"bearerAuth": []}]


_PROBLEMS: Final = {
    400: "The request could not be decoded (body, batch envelope, query parameter or cursor).",
    401: "Missing, unknown or revoked API key.",
    403: "The key lacks the scope, or may not write any workspace of the batch.",
    413: "Body (on the wire or decompressed) or batch over the server's limits.",
    404: "No such key.",
    409: "The name or id is one key's id and another key's name; revoke by the other handle.",
    415: "Missing or unsupported Content-Type, or unsupported Content-Encoding.",
    429: "The key exceeded its request rate; see Retry-After.",
    503: "The database is unavailable; see Retry-After.",
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the given error statuses, all `application/problem+json` bodies."""
    return {
        status: ResponseSpec(Problem, description=_PROBLEMS[status], media_type="application/problem+json")
        for status in statuses
    }


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(definitions[ref.removeprefix("#/$defs/")], definitions)
        return {key: _inline(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    return node


def batch_schema() -> dict[str, Any]:
    """The JSON schema of `devlog_shared.Batch` with every definition inlined (the shared schema has no cycles).

    `Batch` is the type collectors encode; the server decodes the envelope as `BatchEnvelope`, which
    also refuses a `schema_version` below 1, so the document states that bound too.
    """
    schema = msgspec.json.schema(Batch)
    definitions = schema.pop("$defs", {})
    inlined: dict[str, Any] = _inline(schema, definitions)
    inlined["properties"]["schema_version"]["minimum"] = 1
    return inlined


@dataclass
class IngestOperation(Operation):
    """The ingest operation with its request body: a `Batch` as JSON (optionally gzip-encoded)."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="A batch of events (devlog_shared.Batch). May be sent with Content-Encoding: gzip.",
            content={"application/json": OpenAPIMediaType(schema=batch_schema())},  # type: ignore[arg-type]
        )
