"""Strings the databases cannot store: NUL characters (Postgres text) and unpaired surrogates (both).

JSON allows both (`\\u0000`, `\\ud800`), so any client-supplied string headed for a column or a query
parameter is checked here: event fields are rejected per item with a reason, query filters are a 400,
and informational strings (collector name/machine) are cleaned rather than refused.

Unpaired surrogate *escapes* in a request body never get that far: msgspec refuses to decode them,
which would fail a whole batch for one event, so ingest replaces them with `\\ufffd` first
(`devlog_shared.replace_lone_surrogates`).
"""

from __future__ import annotations

__all__ = ["safe_text", "text_problem"]


def text_problem(value: str | None) -> str | None:
    """Why `value` cannot be stored as text, or None when it can."""
    if value is None or (value.isascii() and "\x00" not in value):
        return None
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate"
    return None


def safe_text(value: str, limit: int) -> str:
    """`value` made storable: NULs dropped, unpaired surrogates replaced, cut to `limit` characters."""
    if text_problem(value) is not None:
        value = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return value[:limit]
