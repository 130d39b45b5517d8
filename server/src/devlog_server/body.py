"""Reading a request body within limits, decompressing gzip as it streams in.

The wire size is capped by `Content-Length` (checked before reading anything) and by the bytes
actually received; a gzip body (one member or several) is inflated chunk by chunk with `max_length`,
so the decompressed size is capped too and a gzip bomb is refused after at most `limit` bytes of
output, never held in memory whole.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import Final

from devlog_server.errors import ApiError

__all__ = ["check_content_type", "read_limited_body"]

_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
_GZIP_MAGIC: Final = b"\x1f\x8b"
_MAX_GZIP_MEMBERS: Final = 1000
_TRAILING: Final = "bytes after the end of the gzip data that are not another gzip member"


def _too_large(limit: int, what: str) -> ApiError:
    return ApiError(
        413,
        f"request body exceeds {limit} bytes {what}; send smaller batches",
        code="body_too_large",
        extra={"max_body_bytes": limit},
    )


def check_content_type(content_type: str | None, *, gzip_allowed: bool = True) -> None:
    """415 unless the body is declared JSON.

    A missing Content-Type is refused too rather than guessed: the docs promise 415 for anything but
    `application/json`, and every devlog collector sends it (gzip goes in Content-Encoding).
    """
    if not content_type or not content_type.strip():
        raise ApiError(
            415,
            "missing Content-Type; send application/json"
            + (" (gzip as Content-Encoding: gzip)" if gzip_allowed else ""),
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


class _Gunzip:
    """Inflates a gzip body of one or more members, refusing anything after the last one.

    RFC 1952 allows a file to be several members back to back (`gzip -d` and `gzip.decompress` read
    them all, and a streaming writer may flush one per part), so when a member ends the next bytes
    must start another: those are inflated by a fresh decompressor, and anything else after a member
    (trailing garbage, a truncated copy) is a 400 rather than silently ignored. `size` counts the
    output of every member, so the decompressed limit holds for the body as a whole. Members are
    counted too: each costs a new decompressor, and 16 MB of empty 20-byte members would take seconds
    of CPU for nothing, so more than `_MAX_GZIP_MEMBERS` is a 400 (real bodies have one, or a few).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._inflater = zlib.decompressobj(wbits=_GZIP_WBITS)
        self._members = 1
        self._between = b""  # bytes after a finished member, too few yet to tell whether another starts

    def feed(self, data: bytes) -> list[bytes]:
        """The output inflated from `data` (ApiError 400 for bad gzip, 413 over the limit)."""
        out: list[bytes] = []
        data = self._between + data
        self._between = b""
        while data:
            if self._inflater.eof:
                if len(data) < len(_GZIP_MAGIC):
                    self._between = data
                    break
                if not data.startswith(_GZIP_MAGIC):
                    raise _invalid_gzip(_TRAILING)
                self._members += 1
                if self._members > _MAX_GZIP_MEMBERS:
                    raise _invalid_gzip(f"more than {_MAX_GZIP_MEMBERS} gzip members; compress the body as one")
                self._inflater = zlib.decompressobj(wbits=_GZIP_WBITS)
            try:
                chunk = self._inflater.decompress(data, self.limit + 1 - self.size)
            except zlib.error as exc:
                raise _invalid_gzip(str(exc)) from exc
            self._count(chunk)
            out.append(chunk)
            data = self._inflater.unconsumed_tail or self._inflater.unused_data
        return out

    def finish(self) -> bytes:
        """The last output once the body has ended (ApiError 400 when it ended inside a member)."""
        if self._between:
            raise _invalid_gzip(_TRAILING)
        if not self._inflater.eof:
            raise _invalid_gzip("truncated stream")
        tail = self._inflater.flush()
        self._count(tail)
        return tail

    def _count(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise _too_large(self.limit, "after decompression")


def _invalid_gzip(why: str) -> ApiError:
    return ApiError(400, f"invalid gzip body: {why}", code="invalid_body")


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
    received = 0
    gunzip = _Gunzip(limit) if encoding == "gzip" else None
    async for chunk in chunks:
        if not chunk:
            continue
        received += len(chunk)
        if received > limit:
            raise _too_large(limit, "on the wire")
        parts.extend(gunzip.feed(chunk) if gunzip is not None else (chunk,))
    if gunzip is not None:
        parts.append(gunzip.finish())
    return b"".join(parts)
