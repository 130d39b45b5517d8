"""The session page's URL: any session id there and back, as one path segment.

A session id is whatever the agent wrote (`/tmp/job-7`, `100%`, `a?b#c`, spaces, any script, `..`),
but a request path reaches a handler only after the ASGI server has percent-decoded it once and
Litestar has normalised it (leading, trailing and repeated `/` removed), and browsers resolve `.`
and `..` segments, `%2E%2E` included, before sending it. So an id put in the path as it is, or
percent-encoded once, can arrive as another id (`/dashboard/sessions//tmp/job-7` used to open
`tmp/job-7`). The link therefore carries the id percent-encoded as one segment (`%2Ftmp%2Fjob-7`:
every character but the unreserved ones escaped, and a `.` or `..` id as `%2E`s), with that
segment's `%` escaped again for the URL (`%252Ftmp%252Fjob-7`). The server's decoding gives back the
segment, which has no `/` or dot segment for anything to touch, and `session_id_from_path` decodes
it exactly once. A hand-typed `/dashboard/sessions/<id>` still works for ids that need no escaping.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote, unquote

__all__ = ["SESSIONS_PATH", "session_id_from_path", "session_path"]

SESSIONS_PATH: Final = "/dashboard/sessions"


def _segment(session_id: str) -> str:
    segment = quote(session_id, safe="")
    # Browsers and HTTP clients resolve `.` and `..` segments before sending a request.
    return segment.replace(".", "%2E") if segment in (".", "..") else segment


def session_path(session_id: str) -> str:
    """The path of a session's page (the href of links to it)."""
    return f"{SESSIONS_PATH}/{_segment(session_id).replace('%', '%25')}"


def session_id_from_path(segment: str) -> str:
    """The session id a request for `session_path(id)` names, from the route's path parameter.

    Litestar hands the `path` parameter over with one leading `/` of its own: that one is removed
    (never more, which is how `/tmp/job-7` used to become `tmp/job-7`), and the rest decoded once.
    """
    return unquote(segment.removeprefix("/"), errors="strict")
