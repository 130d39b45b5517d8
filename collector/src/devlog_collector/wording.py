"""Counts in messages read as English: `1 event`, `2 events`, `1 file read`."""

from __future__ import annotations

__all__ = ["counted"]


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """`count` and the noun that goes with it (`plural` defaults to `singular` + "s")."""
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"
