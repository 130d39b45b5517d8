"""Reading the files a source consults beside its logs (side files), without ever blocking.

Sources read small files next to the logs to find a session's folder: Gemini's `.project_root` and
`projects.json`, VS Code's `workspace.json` and the `.code-workspace` file it names, Cursor's
per-workspace `state.vscdb`. Their paths are fixed by the agent or named inside another file, and
nothing guarantees they are regular files: `open()` of a FIFO blocks until some process writes to
it (so `devlog collect` would hang for ever), and a device such as `/dev/zero` never ends. So a
side file is opened non-blocking, checked with `fstat` to be a regular file, and read only up to a
bound; anything else is treated like a missing file (the sources then fall back as they do when the
file does not exist). An SQLite database is opened only after the same check, because SQLite's own
open blocks on a FIFO too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

__all__ = [
    "MAX_SIDE_FILE_BYTES",
    "NotARegularFile",
    "is_regular_file",
    "read_regular_file",
    "read_side_file",
    "without_bom",
]

#: Side files are a few hundred bytes; one larger than this is not the file the agent writes.
MAX_SIDE_FILE_BYTES: Final = 4 * 1024 * 1024
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_OPEN_FLAGS: Final = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO opens at once instead of waiting for a writer
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


class NotARegularFile(OSError):
    """The path exists but is a FIFO, device, socket or folder, so it is not read."""


def is_regular_file(path: Path) -> bool:
    """Whether `path` (symlinks followed) is a regular file right now."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except (OSError, ValueError):  # ValueError: a NUL byte in a path taken from a file
        return False


def read_regular_file(path: Path, limit: int | None = None) -> bytes:
    """The bytes of `path`, opened without blocking and read only if it is a regular file.

    Raises:
        FileNotFoundError: it does not exist.
        NotARegularFile: it is not a regular file, or it is longer than `limit` bytes.
        OSError: it cannot be opened or read.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except ValueError as exc:  # a NUL byte in a path taken from a file
        raise FileNotFoundError(str(exc)) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFile(f"not a regular file: {path}")
        if limit is not None and st.st_size > limit:
            raise NotARegularFile(f"larger than {limit} bytes: {path}")
        chunks: list[bytes] = []
        size = 0
        want = st.st_size + 1  # usually one read: a large session file is not held twice to join it
        while True:
            chunk = os.read(fd, want)
            want = 1 << 20
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if limit is not None and size > limit:  # it grew while being read
                raise NotARegularFile(f"larger than {limit} bytes: {path}")
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)


def read_side_file(path: Path, limit: int = MAX_SIDE_FILE_BYTES) -> bytes | None:
    """The bytes of a side file, or None when it is missing, unreadable, not a regular file or
    longer than `limit` (the caller treats all of these as "no such file")."""
    try:
        return read_regular_file(path, limit)
    except OSError:
        return None


def without_bom(data: bytes) -> bytes:
    """`data` without a leading UTF-8 byte-order mark (Windows editors write one)."""
    return data[len(_UTF8_BOM) :] if data.startswith(_UTF8_BOM) else data
