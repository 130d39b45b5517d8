"""Byte counts as people read them (`63.7 MiB`), the same in every message and table, and the free
bytes of the file system a path is on (the collector's disk check, `status`, and error messages)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["disk_free", "human_bytes"]


def disk_free(path: Path) -> int | None:
    """Bytes free for this user on the file system holding `path` (or its nearest existing folder),
    None when that cannot be read (or on a system without `statvfs`).

    (`os.statvfs`, not `shutil.disk_usage`: importing shutil costs `devlog status` ~2 ms of start-up.)
    """
    folder = path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        stat = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return stat.f_bavail * stat.f_frsize


def human_bytes(size: int) -> str:
    """`size` in B, KiB, MiB or GiB (binary units, one decimal past bytes)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover
