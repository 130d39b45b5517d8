"""Reading a request body within limits, decompressing gzip as it streams in.

The wire size is capped by `Content-Length` (checked before reading anything) and by the bytes
actually received; a gzip body is inflated chunk by chunk with `max_length`, so the decompressed
size is capped too and a gzip bomb is refused after at most `limit` bytes of output, never held in
memory whole.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from devlog_server.errors import ApiError

__all__ = ["check_content_type", "read_limited_body"]


def _too_large(limit: int, what: str) -> ApiError:
    return ApiError(
        413,
        f"request body exceeds {limit} bytes {what}; send smaller batches",
        code="body_too_large",
        extra={"max_body_bytes": limit},
    )


def check_content_type(content_type: str | None) -> None:
    """415 unless the body is declared JSON.

    A missing Content-Type is refused too rather than guessed: the docs promise 415 for anything but
    `application/json`, and every devlog collector sends it (gzip goes in Content-Encoding).
    """
    if not content_type or not content_type.strip():
        raise ApiError(
            415,
            "missing Content-Type; send application/json (gzip as Content-Encoding: gzip)",
            code="unsupported_media_type",
        )
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            415,
            f"unsupported Content-Type {media_type!r}; send application/json",
            code="unsupported_media_type",
        )


def _encoding(content_encoding: str | None) -> str:
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("identity", ""):
        return "identity"
    if encoding in ("gzip", "x-gzip"):
        return "gzip"
    raise ApiError(
        415,
        f"unsupported Content-Encoding {encoding!r}; send identity or gzip",
        code="unsupported_encoding",
    )


async def read_limited_body(
    chunks: AsyncIterator[bytes],
    *,
    content_length: int | None,
    content_encoding: str | None,
    limit: int,
) -> bytes:
    """The decoded request body, or ApiError 413/415/400 (over the limit, unknown encoding, bad gzip)."""
    encoding = _encoding(content_encoding)
    if content_length is not None and content_length > limit:
        raise _too_large(limit, "(Content-Length)")
    parts: list[bytes] = []
    size = 0
    received = 0
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    async for chunk in chunks:
        if not chunk:
            continue
        received += len(chunk)
        if received > limit:
            raise _too_large(limit, "on the wire")
        if inflater is None:
            parts.append(chunk)
            size += len(chunk)
            continue
        data = chunk
        while data:
            try:
                out = inflater.decompress(data, limit + 1 - size)
            except zlib.error as exc:
                raise ApiError(400, f"invalid gzip body: {exc}", code="invalid_body") from exc
            size += len(out)
            if size > limit:
                raise _too_large(limit, "after decompression")
            parts.append(out)
            data = inflater.unconsumed_tail
            if inflater.eof:
                break
    if inflater is not None:
        if not inflater.eof:
            raise ApiError(400, "invalid gzip body: truncated stream", code="invalid_body")
        tail = inflater.flush()
        size += len(tail)
        if size > limit:
            raise _too_large(limit, "after decompression")
        parts.append(tail)
    return b"".join(parts)
