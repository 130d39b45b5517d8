"""Exported events cut to the size the server takes.

The server refuses an event larger than its `max_event_bytes` (1 MiB unless its operator changed it;
`whoami` says), and a refused event waits in the dead letters for good. The store keeps up to 1 Mi
characters of text per event (`devlog_shared.limits.MAX_TEXT_CHARS`), which is up to 4 MiB of UTF-8:
a prompt with a large file pasted in. So the exporter sends such an event with its text cut to fit,
marked the way the collector marks text it cut (`attrs.truncated`, `attrs.text_length`: the length
of the whole text), rather than not at all; `attrs.redactions` then counts the masks in what is
sent. The stored event keeps its text.
"""

from __future__ import annotations

from typing import Final

import msgspec

from devlog_shared import Event
from devlog_shared.codec import encode

__all__ = ["DEFAULT_MAX_EVENT_BYTES", "REDACTION_MARK", "fit_event"]

#: How a mask the redaction left in a text begins (`content.py`: `[REDACTED:github-token]`).
REDACTION_MARK: Final = "[REDACTED:"
#: The server's default `max_event_bytes` (used until `whoami` has said otherwise).
DEFAULT_MAX_EVENT_BYTES: Final = 1024 * 1024


def fit_event(event: Event, max_bytes: int) -> bytes:
    """The JSON of `event`, its text cut so that the whole is at most `max_bytes` where that is
    possible (an event too large without any text is sent with none: the server says why).

    The cut keeps the longest start of the text that fits, found by bisection on its length in
    characters: JSON escapes make a text's encoded size anything from its UTF-8 size to six times it
    (terminal colour codes, backslashes), so no count of bytes to drop can be worked out beforehand.
    """
    blob = encode(event)
    if len(blob) <= max_bytes or not event.text:
        return blob
    text = event.text
    whole = event.attrs.get("text_length")
    attrs = {**event.attrs, "truncated": True, "text_length": whole if isinstance(whole, int) else len(text)}
    given = attrs.get("redactions")
    masks = given if isinstance(given, int) and not isinstance(given, bool) else 0
    masks_in_text = text.count(REDACTION_MARK) if masks else 0

    def encoded(length: int) -> bytes:
        kept = text[:length]
        if masks_in_text:  # `attrs.redactions` counts the masks sent: not those in the part cut off
            attrs["redactions"] = max(0, masks - (masks_in_text - kept.count(REDACTION_MARK)))
        return encode(msgspec.structs.replace(event, text=kept, attrs=attrs))

    fitting, fitting_blob = 0, encoded(0)
    if len(fitting_blob) > max_bytes:
        return fitting_blob
    too_long = len(text)  # (the whole text does not fit)
    while too_long - fitting > 1:
        middle = (fitting + too_long) // 2
        candidate = encoded(middle)
        if len(candidate) <= max_bytes:
            fitting, fitting_blob = middle, candidate
        else:
            too_long = middle
    return fitting_blob
