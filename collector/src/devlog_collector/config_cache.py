"""A parse cache for `config.yaml`, so the query commands start without importing a YAML parser.

Why: every `devlog` command reads the config, and importing ruamel.yaml costs about as much as the
whole `devlog stats` computation on a typical store (~11 ms of ~100 ms). The YAML document itself
rarely changes, so its parsed data (before `${VAR}` interpolation, which depends on the environment
and happens afterwards) is kept in `<home>/cache/config-<hash of path>.msgpack`.

Safety rules:
* The cache entry is used only when the file's inode, size, mtime and ctime all match what was
  recorded; it is written only when the file's mtime is more than `RACY_SECONDS` old (an edit within
  the same clock tick could otherwise keep the size and mtime and be missed, as git's index guards).
* Data is cached only if it survives a msgpack round trip unchanged (YAML dates, sets or binary
  values that msgpack would alter are simply not cached).
* The entry holds what the file holds, so it is written 0600 in devlog's 0700 home, atomically; any
  failure to read or write it just means parsing the YAML as before.
"""

from __future__ import annotations

import contextlib
import os
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import msgspec

from devlog_collector.paths import home_dir

__all__ = ["RACY_SECONDS", "cached_yaml"]

#: A file modified less than this long ago is parsed but not cached.
RACY_SECONDS: Final = 2.0
_FORMAT: Final = 1


def _entry_path(path: Path) -> Path:
    # Only names the entry (the signature inside decides whether it is this file's): a CRC avoids
    # importing hashlib/OpenSSL, which would cost a third of what the cache saves.
    digest = f"{zlib.crc32(str(path.resolve()).encode('utf-8', 'surrogatepass')):08x}"
    return home_dir() / "cache" / f"config-{digest}.msgpack"


def _signature(st: os.stat_result) -> list[int]:
    return [_FORMAT, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def cached_yaml(path: Path, parse: Callable[[str], Any]) -> Any:
    """`parse(<text of path>)`, or the cached result when the file has not changed since.

    Raises OSError when the file cannot be read (never because of the cache).
    """
    entry = _entry_path(path)
    before = path.stat()
    signature = _signature(before)
    with contextlib.suppress(OSError, msgspec.DecodeError, KeyError, TypeError):
        cached = msgspec.msgpack.decode(entry.read_bytes())
        if cached["signature"] == signature:
            return cached["data"]
    text = path.read_text(encoding="utf-8")
    data = parse(text)
    settled = time.time_ns() - before.st_mtime_ns > RACY_SECONDS * 1e9
    if settled and _signature(path.stat()) == signature:  # unchanged while it was read
        _store(entry, signature, data)
    return data


def _store(entry: Path, signature: list[int], data: Any) -> None:
    try:
        encoded = msgspec.msgpack.encode({"signature": signature, "data": data})
        if msgspec.msgpack.decode(encoded)["data"] != data:
            return
    except (TypeError, ValueError, msgspec.EncodeError, msgspec.DecodeError):
        return
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            entry.parent.chmod(0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(encoded)
        tmp.replace(entry)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
