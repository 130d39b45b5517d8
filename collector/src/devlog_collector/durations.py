"""Parsing of human durations and times used by config and CLI flags (`30s`, `7d`, `2026-01-31`)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo

__all__ = ["epoch_us", "parse_duration", "parse_time"]

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|y)?\s*$")


def parse_duration(text: str | float | int) -> timedelta:
    """Parse `90`, `30s`, `5m`, `12h`, `7d`, `2w`, `1y` (bare numbers are seconds)."""
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"duration must not be negative: {text}")
        return timedelta(seconds=float(text))
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 12h, 7d)")
    value, unit = match.groups()
    try:
        return timedelta(seconds=float(value) * _UNITS[unit or "s"])
    except OverflowError:
        raise ValueError(f"duration too large: {text!r}") from None


def parse_span(text: str) -> timedelta:
    """A positive span a user typed for `--last` or `--older-than`: like `parse_duration`, but a bare
    number is refused (`--older-than 365` read as seconds would prune everything)."""
    bare = text.strip()
    if bare.replace(".", "", 1).isdigit():
        raise ValueError(f"give a unit, e.g. {bare}d or {bare}h (units: s, m, h, d, w, y)")
    span = parse_duration(text)
    if span <= timedelta(0):
        raise ValueError(f"must be a positive duration, got {text!r}")
    return span


def parse_time(text: str, tz: tzinfo | None = None) -> datetime:
    """Parse an ISO date or datetime; naive values are taken in `tz` (default: local time).

    A bare date means the start of that day.
    """
    value = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            d = date.fromisoformat(value)
            parsed = datetime(d.year, d.month, d.day)  # noqa: DTZ001 - zone applied below
        else:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date or time: {text!r} (use e.g. 2026-01-31 or 2026-01-31T14:00)") from None
    try:
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz) if tz is not None else parsed.astimezone()
        result = parsed.astimezone(UTC)
        result.timestamp()
    except (OverflowError, ValueError, OSError):  # year 1 or 9999 moved across a zone offset, say
        result = None
    if result is None:
        raise ValueError(f"{text!r} is out of range: use a time from 1970 to 9999") from None
    if result < _EPOCH:
        raise ValueError(f"{text!r} is before 1970-01-01T00:00Z: use a time from then on") from None
    return result


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (`timestamp() * 1000` is a float: 0.123 s can come out
    as 122.99999 ms, and a bound finer than a millisecond was rounded the wrong way)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)
