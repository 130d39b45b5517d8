"""`POST /api/v1/events`: receive a batch (see `devlog_server.ingest` for the work itself)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.openapi.datastructures import ResponseSpec

from devlog_server.api.openapi import BEARER_SECURITY, IngestOperation, problem_responses
from devlog_server.auth import authenticate
from devlog_server.body import check_content_type, read_limited_body
from devlog_server.ingest import ingest_batch
from devlog_server.state import server_state
from devlog_shared import IngestResponse

__all__ = ["post_events"]


@post(
    "/api/v1/events",
    operation_id="ingestEvents",
    operation_class=IngestOperation,
    tags=["ingest"],
    summary="Ingest a batch of events",
    description=(
        "Idempotent on event id; a duplicate with other content replaces the stored copy unless its token total "
        "(input + output + cache creation + cache read) is lower, and `updated` counts those (their status stays "
        "`duplicate`). 200 when every item was created or a duplicate; 422 with the same body when some "
        "items were rejected (the others are stored), including events outside the key's workspace globs "
        "(`forbidden_workspace`). Errors are problem+json: 400 undecodable batch, 401 bad key, "
        "403 missing ingest scope, 413 too large, 415 missing or unsupported Content-Type or unsupported "
        "Content-Encoding, 429 rate limited (Retry-After), 503 database unavailable (Retry-After)."
    ),
    security=BEARER_SECURITY,
    status_code=200,
    responses={
        422: ResponseSpec(IngestResponse, description="Some items were rejected; the rest were stored."),
        **problem_responses(400, 401, 403, 413, 415, 429, 503),
    },
)
async def post_events(request: Request[Any, Any, Any]) -> Response[IngestResponse]:
    """Store a batch of events and report each item's outcome."""
    state = server_state(request)
    key = await authenticate(request, "ingest")
    check_content_type(request.headers.get("content-type"))
    length = request.headers.get("content-length")
    body = await read_limited_body(
        request.stream(),
        content_length=int(length) if length and length.isdigit() else None,
        content_encoding=request.headers.get("content-encoding"),
        limit=state.settings.max_body_bytes,
    )
    result = await ingest_batch(state, key, body)
    return Response(result.response, status_code=result.status_code)
