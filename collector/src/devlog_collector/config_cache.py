"""A parse cache for `config.yaml`, so the query commands start without importing a YAML parser.

Why: every `devlog` command reads the config, and importing ruamel.yaml costs about as much as the
whole `devlog stats` computation on a typical store (~11 ms of ~100 ms). The YAML document itself
rarely changes, so its parsed data (before `${VAR}` interpolation, which depends on the environment
and happens afterwards) is kept in `<home>/cache/config-<hash of path>.json`. JSON rather than a
binary format because the json module is loaded by every query command anyway, and msgspec is not.

Safety rules:
* The cache entry is used only when the file's inode, size, mtime and ctime all match what was
  recorded; it is written only when the file's mtime is more than `RACY_SECONDS` old (an edit within
  the same clock tick could otherwise keep the size and mtime and be missed, as git's index guards).
* Data is cached only if it survives a JSON round trip unchanged (YAML dates, sets, binary values or
  non-text keys that JSON would alter are simply not cached).
* The entry holds what the file holds, so it is written 0600 in devlog's 0700 home, atomically; any
  failure to read or write it just means parsing the YAML as before.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from devlog_collector.errors import UserError
from devlog_collector.paths import ensure_private_dir, home_dir

__all__ = ["RACY_SECONDS", "cached_yaml", "load_yaml"]

#: A file modified less than this long ago is parsed but not cached.
RACY_SECONDS: Final = 2.0
_FORMAT: Final = 2


def _entry_path(path: Path) -> Path:
    # Only names the entry (the signature inside decides whether it is this file's): a CRC avoids
    # importing hashlib/OpenSSL, which would cost a third of what the cache saves.
    digest = f"{zlib.crc32(str(path.resolve()).encode('utf-8', 'surrogatepass')):08x}"
    return home_dir() / "cache" / f"config-{digest}.json"


def _signature(st: os.stat_result) -> list[int]:
    return [_FORMAT, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def cached_yaml(path: Path, parse: Callable[[str], Any]) -> Any:
    """`parse(<text of path>)`, or the cached result when the file has not changed since.

    Raises OSError when the file cannot be read (never because of the cache).
    """
    entry = _entry_path(path)
    before = path.stat()
    signature = _signature(before)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        cached = json.loads(entry.read_bytes())
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
        encoded = json.dumps({"signature": signature, "data": data}, ensure_ascii=False).encode("utf-8")
        if json.loads(encoded)["data"] != data:
            return
    except (TypeError, ValueError, RecursionError):
        return
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
    try:
        ensure_private_dir(entry.parent)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(encoded)
        tmp.replace(entry)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def load_yaml(path: Path) -> Any:
    """The parsed YAML of `path` (through the cache); UserError when it cannot be read or parsed."""
    try:
        return cached_yaml(path, lambda text: _parse_yaml(text, path))
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None


def _parse_yaml(text: str, path: Path) -> Any:
    """Safe-load YAML text (ruamel.yaml is imported only here: the cache usually makes it unneeded)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        document = YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise UserError(f"{path} is not valid YAML", [yaml_problem(exc)]) from None
    refuse_recursive_aliases(document, path)
    return document


def refuse_recursive_aliases(document: Any, path: Path) -> None:
    """UserError for a document that holds itself (`a: &a [*a]`: an alias inside its own anchor),
    which every walk over the config would follow forever."""
    import json

    try:
        json.dumps(document, default=str)
    except ValueError as exc:  # "Circular reference detected"
        if "ircular" not in str(exc):
            raise
        raise UserError(
            f"{path} is not valid YAML", ["an alias (*name) refers to the anchor (&name) that holds it"]
        ) from None


def yaml_problem(exc: Exception) -> str:
    """`line 3, column 2: expected <block end>, but found '<block mapping start>' (while parsing a
    block mapping that starts at line 1)` rather than ruamel's multi-line text with source excerpts."""
    problem, mark = getattr(exc, "problem", None), getattr(exc, "problem_mark", None)
    if not problem or mark is None:
        return " ".join(str(exc).split())
    message = f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context:
        where = f" that starts at line {context_mark.line + 1}" if context_mark is not None else ""
        message += f" ({context}{where})"
    return message
