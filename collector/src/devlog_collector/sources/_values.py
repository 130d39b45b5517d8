"""Tolerant readers for the loosely typed values agents write (Copilot, Cursor, Gemini sources).

Agent formats drift: a field that was a string becomes `{value, uris}`, an array, or disappears; a
timestamp is epoch milliseconds in one build and ISO-8601 in the next. The original devlog failed
whole files on such drift and turned unparsable timestamps into "now". These helpers never raise,
return `None`/`""` for what they cannot use, and leave the decision about fallbacks to the caller
(which marks `attrs.ts_inferred` instead of inventing a time).
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, Final

import msgspec

from devlog_shared import decode_repairing
from devlog_shared.surrogates import replace_lone_surrogates

__all__ = [
    "JsonDocument",
    "as_dict",
    "as_int",
    "as_list",
    "as_str",
    "cap_text",
    "clip",
    "file_mtime",
    "first_seen_time",
    "load_json_bytes",
    "load_json_file_document",
    "parse_ts",
    "text_of",
]

#: Epoch numbers above this are milliseconds, below it seconds (1e11 s is in the year 5138).
_MS_THRESHOLD = 100_000_000_000
#: Tool input/output copied into `text` is clipped to this many characters.
MAX_TOOL_TEXT = 16_384


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a dict, else an empty dict."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` if it is a list, else an empty list."""
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    """`value` if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def as_int(value: Any) -> int:
    """A non-negative int from a number (or numeric string); 0 for anything else."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and value == value and value not in (float("inf"), float("-inf")):
        return max(int(value), 0)
    if isinstance(value, str) and _is_plain_number(value.strip()):
        return int(value.strip())
    return 0


def _is_plain_number(text: str) -> bool:
    """ASCII digits, short enough to be a count or a time (`"²".isdigit()` is True, and `int()` of
    more than 4,300 digits raises: neither may escape these never-raising helpers)."""
    return text.isascii() and text.isdigit() and len(text) <= 30


def text_of(value: Any) -> str:
    """Text from a value that may be a string, `{value}`/`{text}`/`{content}`, or a list of those.

    Lists are joined with newlines, skipping parts that hold no text (`value: []`, null, numbers),
    which is what VS Code's thinking parts and Gemini's Part lists need.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("value", "text", "content"):
            if key in value:
                return text_of(value[key])
        return ""
    if isinstance(value, list):
        parts = [text_of(item) for item in value]
        return "\n".join(p for p in parts if p)
    return ""


def cap_text(text: str, limit: int, attrs: dict[str, Any]) -> str:
    """`text` cut to `limit` characters; records `truncated` and the original length in `attrs`."""
    if len(text) <= limit:
        return text
    attrs["truncated"] = True
    attrs["text_length"] = len(text)
    return text[:limit]


def clip(text: str, limit: int = MAX_TOOL_TEXT) -> str:
    """`text` cut to `limit` characters, with a marker when cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} characters clipped by devlog]"


def parse_ts(value: Any, naive_zone: tzinfo | None = None) -> datetime | None:
    """A UTC datetime from epoch seconds/milliseconds or an ISO-8601 string; None if unusable.

    Naive ISO strings are taken as UTC (the agents handled here write UTC), or as times in
    `naive_zone` when one is given. Numbers are milliseconds when large enough to be, else seconds.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _is_plain_number(text):
            return parse_ts(int(text))
        whole, dot, fraction = text.partition(".")
        if dot and _is_plain_number(whole) and _is_plain_number(fraction):
            return parse_ts(float(text))  # epoch seconds or ms with a fraction, as a string
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            if naive_zone is None:
                return parsed.replace(tzinfo=UTC)
            try:
                return parsed.replace(tzinfo=naive_zone).astimezone(UTC)
            except (OverflowError, ValueError):  # (year 1 or 9999 moved past the calendar's ends)
                return None
        return parsed.astimezone(UTC)
    if isinstance(value, int | float):
        if value != value or value <= 0:
            return None
        seconds = value / 1000 if value >= _MS_THRESHOLD else float(value)
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


#: State key of `first_seen_time`.
FIRST_SEEN_KEY = "first_seen"


def file_mtime(path: Path) -> datetime | None:
    """The file's modification time in UTC, or None if it cannot be read."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    except OSError:
        return None


def first_seen_time(path: Path, state: dict[str, Any]) -> datetime | None:
    """A stand-in time for records that carry none: the file's mtime when devlog first needed one.

    Kept in the document's `state`, so the same records get the same time on every later read: the
    live mtime would move them (and rewrite and re-export them) whenever the file is touched.
    """
    seen = parse_ts(state.get(FIRST_SEEN_KEY))
    if seen is None:
        seen = file_mtime(path)
        if seen is not None:
            state[FIRST_SEEN_KEY] = seen.isoformat()
    return seen


JsonDocument = tuple[Any, str | None]


def load_json_bytes(data: bytes) -> JsonDocument:
    """Decode one JSON document (or one line of a JSONL document): `(value, None)`, or `(None,
    reason)` when it is not valid JSON. A leading UTF-8 byte-order mark (Windows editors and tools
    write one) is skipped."""
    if data.startswith(_UTF8_BOM):
        data = data[3:]
    try:
        return decode_repairing(msgspec.json.decode, data), None  # (lone surrogate escapes repaired)
    except RecursionError:  # nesting deeper than msgspec (or Python) goes
        return None, "nested too deeply"
    except ValueError as exc:  # msgspec.DecodeError, or UnicodeDecodeError for invalid UTF-8
        # msgspec rejects a few things other writers accept (raw surrogate bytes, NaN, 1e400); retry
        # with the standard library before calling the document broken. Surrogates, raw or escaped,
        # become U+FFFD (SQLite and every exporter's JSON can only hold real characters), and a
        # number that is not finite becomes null (no field devlog reads can use one).
        try:
            text = replace_lone_surrogates(data).decode("utf-8", "surrogatepass")
            return json.loads(
                _SURROGATE_CHARACTERS.sub("\ufffd", text), parse_constant=_no_number, parse_float=_finite_or_none
            ), None
        except (ValueError, RecursionError):
            return None, _decode_reason(data, exc)


def load_json_file_document(data: bytes) -> tuple[Any, str | None]:
    """A whole-file JSON document (a Copilot or Gemini session): `(value, problem)`.

    Invalid JSON gives `(None, "invalid JSON (file being rewritten?): ...")`: most likely a read
    racing the agent's non-atomic rewrite, so no half session is used and the engine reads the file
    again when it changes. A document that is valid JSON apart from bytes that are not UTF-8 (a
    Latin-1 `é` pasted in) is read with U+FFFD in their place, with the problem saying so: losing
    the whole session for one character would be worse, and the rewrite hint would be wrong.
    """
    value, error = load_json_bytes(data)
    if error is None:
        return value, None
    if error.startswith("invalid UTF-8"):
        repaired, still = load_json_bytes(data.decode("utf-8", "replace").encode("utf-8"))
        if still is None:
            return repaired, f"not valid UTF-8 ({error}): read with U+FFFD in place of the bad bytes"
    return None, f"invalid JSON (file being rewritten?): {error}"


_UTF8_BOM: Final = b"\xef\xbb\xbf"
_SURROGATE_CHARACTERS = re.compile("[\ud800-\udfff]")


def _no_number(_name: str) -> None:
    """`NaN`, `Infinity` and `-Infinity` (not JSON, but some writers emit them): read as null."""
    return None


def _finite_or_none(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def _decode_reason(data: bytes, exc: Exception) -> str:
    try:
        data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as bad:
        return f"invalid UTF-8 at byte {bad.start}"
    return str(exc)
