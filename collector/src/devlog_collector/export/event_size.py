"""Exported events cut to the size the server takes.

The server refuses an event larger than its `max_event_bytes` (1 MiB unless its operator changed it;
`whoami` says), and a refused event waits in the dead letters for good. The store keeps up to 1 Mi
characters of text per event (`devlog_shared.limits.MAX_TEXT_CHARS`), which is up to 4 MiB of UTF-8:
a prompt with a large file pasted in. So the exporter sends such an event with its text cut to fit,
marked the way the collector marks text it cut (`attrs.truncated`, `attrs.text_length`: the length
of the whole text), rather than not at all. The stored event keeps its text.
"""

from __future__ import annotations

from typing import Final

import msgspec

from devlog_shared import Event
from devlog_shared.codec import encode

__all__ = ["DEFAULT_MAX_EVENT_BYTES", "fit_event"]

#: The server's default `max_event_bytes` (used until `whoami` has said otherwise).
DEFAULT_MAX_EVENT_BYTES: Final = 1024 * 1024
#: Room left below the limit for what cutting adds (the two attrs) and JSON escapes in the text.
_MARGIN_BYTES: Final = 4096


def fit_event(event: Event, max_bytes: int) -> bytes:
    """The JSON of `event`, its text cut so that the whole is at most `max_bytes` where that is
    possible (an event too large without any text is left as it is: the server says why)."""
    blob = encode(event)
    if len(blob) <= max_bytes or not event.text:
        return blob
    text = event.text
    whole = event.attrs.get("text_length")
    attrs = {**event.attrs, "truncated": True, "text_length": whole if isinstance(whole, int) else len(text)}
    excess = len(blob) - max_bytes + _MARGIN_BYTES
    while True:
        raw = text.encode("utf-8", "surrogatepass")
        text = raw[: max(0, len(raw) - excess)].decode("utf-8", "ignore")
        blob = encode(msgspec.structs.replace(event, text=text, attrs=attrs))
        if len(blob) <= max_bytes or not text:
            return blob
        excess = len(blob) - max_bytes + _MARGIN_BYTES  # (escapes made the text longer than its bytes)
