"""Admin endpoints (scope `admin`): manage API keys and read ingest health over HTTP.

The same operations as `devlog-server keys ...`; a revocation made here takes effect at once in this
process (its key cache is busted) and within `key_cache_seconds` in other workers.

Only an admin key without workspace globs may use them: a key limited to some workspaces that could
create keys could mint one without limits (or revoke the unlimited ones), and ingest health names every
collector and rejection on the server. Key creations and revocations are logged (ids and names only).
"""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from litestar import Request, get, post
from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.handlers import BaseRouteHandler
from litestar.params import Body, Parameter

from devlog_server.api.openapi import BEARER_SECURITY, problem_responses
from devlog_server.auth import authenticate
from devlog_server.body import check_content_type
from devlog_server.errors import AmbiguousKeyError, ApiError, UnknownKeyError, UserInputError
from devlog_server.keys import ApiKey, create_key, list_keys, revoke_key
from devlog_server.queries import collectors_health, recent_rejections
from devlog_server.schemas import CreatedKeyInfo, IngestHealth, KeyCreate, KeyInfo
from devlog_server.state import server_state
from devlog_server.text import text_problem

__all__ = ["create_key_endpoint", "ingest_health", "list_keys_endpoint", "revoke_key_endpoint"]

_ERRORS = problem_responses(400, 401, 403, 429, 503)
_CREATE_ERRORS = problem_responses(400, 401, 403, 415, 429, 503)
_log = structlog.get_logger("devlog_server.admin")
#: The body as JSON; `additionalProperties: false` states in the OpenAPI document what msgspec enforces
#: (`KeyCreate` forbids unknown fields), which Litestar's schema of a Struct leaves out.
KeyCreateBody = Annotated[
    KeyCreate, Body(media_type=RequestEncodingType.JSON, schema_extra={"additional_properties": False})
]


async def _unlimited_admin(request: Request[Any, Any, Any]) -> ApiKey:
    """The calling key, if it has the `admin` scope and no workspace globs (see the module docstring)."""
    key = await authenticate(request, "admin")
    if key.workspaces:
        raise ApiError(
            403,
            "this admin key is limited to some workspaces; managing API keys and reading ingest health "
            "need an admin key without workspace globs",
            code="workspace_limited_admin",
        )
    return key


def _info(key: ApiKey) -> KeyInfo:
    return KeyInfo(
        id=key.id,
        name=key.name,
        scopes=list(key.scopes),
        workspaces=list(key.workspaces),
        hint=key.hint,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
    )


@get("/api/v1/keys", operation_id="listKeys", tags=["admin"], security=BEARER_SECURITY, responses=_ERRORS)
async def list_keys_endpoint(request: Request[Any, Any, Any]) -> list[KeyInfo]:
    """Every API key (never the secrets)."""
    state = server_state(request)
    await _unlimited_admin(request)
    async with state.db.read() as conn:
        return [_info(key) for key in await list_keys(conn)]


def _plain_json_body(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """415 unless the request declares an uncompressed JSON body, as `POST /api/v1/events` requires
    (run before the body is decoded: a form-encoded or gzip body was read as JSON or called malformed)."""
    check_content_type(connection.headers.get("content-type"), gzip_allowed=False)
    encoding = (connection.headers.get("content-encoding") or "identity").strip().lower()
    if encoding not in ("identity", ""):
        raise ApiError(
            415, f"unsupported Content-Encoding {encoding!r}; send this body uncompressed", code="unsupported_encoding"
        )


@post(
    "/api/v1/keys",
    operation_id="createKey",
    tags=["admin"],
    security=BEARER_SECURITY,
    status_code=201,
    responses=_CREATE_ERRORS,
    guards=[_plain_json_body],
)
async def create_key_endpoint(request: Request[Any, Any, Any], data: KeyCreateBody) -> CreatedKeyInfo:
    """Create a key; the response holds its token, shown only this once."""
    state = server_state(request)
    caller = await _unlimited_admin(request)
    try:
        async with state.db.write() as conn:
            created = await create_key(
                conn, data.name, pepper=state.settings.pepper_bytes, scopes=data.scopes, workspaces=data.workspaces
            )
    except UserInputError as exc:
        raise ApiError(400, str(exc), code="invalid_key") from exc
    key = created.key
    _log.info("key_created", key_id=key.id, name=key.name, scopes=list(key.scopes), by_key_id=caller.id)
    return CreatedKeyInfo(key=_info(key), token=created.token)


@post(
    "/api/v1/keys/{name_or_id:str}/revoke",
    operation_id="revokeKey",
    tags=["admin"],
    security=BEARER_SECURITY,
    status_code=200,
    responses=problem_responses(400, 401, 403, 404, 409, 429, 503),
)
async def revoke_key_endpoint(
    request: Request[Any, Any, Any], name_or_id: Annotated[str, Parameter(max_length=128)]
) -> KeyInfo:
    """Revoke a key by name or id (idempotent); 409 when that string is one key's id and another's name."""
    state = server_state(request)
    caller = await _unlimited_admin(request)
    if text_problem(name_or_id) is not None:
        raise ApiError(404, f"no key named {name_or_id!r}", code="unknown_key")
    try:
        async with state.db.write() as conn:
            key = await revoke_key(conn, name_or_id)
    except UnknownKeyError as exc:
        raise ApiError(404, str(exc), code="unknown_key") from exc
    except AmbiguousKeyError as exc:
        raise ApiError(409, str(exc), code="ambiguous_key") from exc
    state.keys.forget_key(key.id)
    _log.info("key_revoked", key_id=key.id, name=key.name, by_key_id=caller.id)
    return _info(key)


@get("/api/v1/ingest-health", operation_id="ingestHealth", tags=["admin"], security=BEARER_SECURITY, responses=_ERRORS)
async def ingest_health(
    request: Request[Any, Any, Any],
    rejections: Annotated[int, Parameter(ge=0, le=1000, description="How many recent rejections.")] = 100,
) -> IngestHealth:
    """Per-collector last seen and created/duplicate/rejected counters, and the newest rejections."""
    state = server_state(request)
    await _unlimited_admin(request)
    async with state.db.read() as conn:
        return IngestHealth(
            collectors=await collectors_health(conn),
            recent_rejections=await recent_rejections(conn, limit=rejections),
        )
