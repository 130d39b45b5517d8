"""Byte counts as people read them (`63.7 MiB`), the same in every message and table."""

from __future__ import annotations

__all__ = ["human_bytes"]


def human_bytes(size: int) -> str:
    """`size` in B, KiB, MiB or GiB (binary units, one decimal past bytes)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover
