"""Lone UTF-16 surrogate escapes in JSON text, replaced so strict decoders accept the text.

JavaScript's `JSON.stringify` writes a string cut in the middle of an emoji as a lone surrogate
escape (`"\\ud83d"`): valid JSON text, but no Unicode character, so msgspec (rightly) refuses it and
a Python string holding one cannot be written as UTF-8. Agents written in JavaScript (Claude Code,
Gemini CLI, VS Code) produce such text when they truncate a message; one cut emoji must not cost the
whole record. `replace_lone_surrogates` turns each escape that is not half of a valid high + low pair
into `\\ufffd` (the replacement character) and leaves everything else byte for byte: paired escapes,
escaped backslashes (`\\\\ud800` is a backslash and the letters `ud800`), and raw UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, TypeVar

__all__ = ["decode_repaired", "decode_repairing", "has_surrogate_escape", "replace_lone_surrogates"]

T = TypeVar("T")

#: Scanned left to right, each match consumed: an escaped backslash (so the `u` after it is not an
#: escape), a valid high + low pair, or (the only thing replaced) a surrogate escape on its own.
_ESCAPES: Final = re.compile(
    rb"(\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})|\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
)
_ANY_SURROGATE: Final = re.compile(rb"\\u[dD][89a-fA-F]")
_REPLACEMENT: Final = rb"\ufffd"


def has_surrogate_escape(data: bytes) -> bool:
    """True when `data` holds something that looks like a surrogate escape (a cheap pre-check)."""
    return _ANY_SURROGATE.search(data) is not None


def _fix(match: re.Match[bytes]) -> bytes:
    kept = match.group(1)
    return kept if kept is not None else _REPLACEMENT


def replace_lone_surrogates(data: bytes) -> bytes:
    """`data` with every lone surrogate escape replaced by `\\ufffd` (see the module docstring)."""
    return _ESCAPES.sub(_fix, data)


def decode_repaired(decode: Callable[[bytes], T], data: bytes, error: ValueError) -> T:
    """`decode` of `data` with its lone surrogate escapes replaced, after `decode(data)` failed with
    `error`; raises `error` again when `data` holds none. When the repaired text fails too, its own
    error is raised: the decoder stops at the first problem, so `error` may name a surrogate that the
    repair fixed while the real problem (a `NaN`, a missing comma) sits elsewhere."""
    repaired = replace_lone_surrogates(data) if has_surrogate_escape(data) else data
    if repaired == data:
        raise error
    return decode(repaired)


def decode_repairing(decode: Callable[[bytes], T], data: bytes) -> T:
    """`decode(data)`, repairing lone surrogate escapes only when that fails (the common case decodes once)."""
    try:
        return decode(data)
    except ValueError as exc:
        return decode_repaired(decode, data, exc)
