"""The machine's local time zone as a real zone with its rules, not today's fixed UTC offset.

`datetime.now().astimezone().tzinfo` is a fixed offset (PST, -08:00): applied to a year of events it
puts every event on the far side of a daylight-saving change an hour off, onto the wrong day. Day,
week and month buckets in the local zone therefore need the zone itself: `$TZ` when it names an
IANA zone or a zone file's path, else `/etc/localtime` (Linux, macOS; its symlink target gives the
zone's name). A `$TZ`
that is a POSIX rule string (`EST5EDT,M3.2.0,M11.1.0`, `UTC+3`) is read the way the C library reads
it, rules included, and named by that string. Only where none of these exists (Windows) does the
fixed offset of this moment remain.
"""

from __future__ import annotations

import os
import re
import sys
import time
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["CLibraryZone", "local_zone"]

_LOCALTIME = Path("/etc/localtime")
#: A POSIX TZ rule: a name of 3+ letters (or `<...>`) and an offset (`EST5EDT`, `UTC+3`, `<+0530>-5:30`).
_POSIX_RULE = re.compile(r"^(?:[A-Za-z]{3,}|<[^>]+>)[+-]?\d{1,2}(?::\d{2}){0,2}")
_warned: set[str] = set()


def local_zone() -> tzinfo:
    """The local time zone, with its daylight-saving rules where the system provides them."""
    name = os.environ.get("TZ", "").strip().lstrip(":")
    if name.startswith("/"):  # a zone file, as the C library takes it (`TZ=/usr/share/zoneinfo/Asia/Tokyo`)
        try:
            with open(name, "rb") as handle:
                return ZoneInfo.from_file(handle, key=_zone_name(Path(name)))
        except (OSError, ValueError):
            pass  # (not a zone file: the C library takes UTC, and so does what follows, with a warning)
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            # A POSIX rule string (EST5EDT,M3.2.0,M11.1.0) or a zone this Python cannot load: the C
            # library's reading of it, with its daylight-saving rules.
            if not _POSIX_RULE.match(name):
                # A typo such as Europe/Pari: the C library quietly takes UTC. So does devlog, under
                # UTC's own name (a report labelled "Europe/Pari" would claim a zone it did not use).
                if name not in _warned:
                    _warned.add(name)
                    sys.stderr.write(
                        f"warning: TZ={name} is not a time zone this machine knows: times are in UTC "
                        "(fix TZ, or use --timezone)\n"
                    )
                return UTC
            time.tzset()
            return CLibraryZone(name)
    try:
        with _LOCALTIME.open("rb") as handle:
            return ZoneInfo.from_file(handle, key=_zone_name(_LOCALTIME))
    except (OSError, ValueError):
        return _fixed_now()


def _zone_name(localtime: Path) -> str:
    """`Europe/Paris` from a `/etc/localtime -> /usr/share/zoneinfo/Europe/Paris` symlink."""
    try:
        target = str(localtime.resolve())
    except OSError:
        return "localtime"
    _, marker, name = target.partition("/zoneinfo/")
    return name if marker and name else "localtime"


def _fixed_now() -> tzinfo:
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 - naive on purpose: wall-clock arithmetic


class CLibraryZone(tzinfo):
    """The zone the C library has from `$TZ` (`time.localtime`), named by the `$TZ` text.

    For `$TZ` values zoneinfo cannot load, such as POSIX rule strings: offsets follow their
    daylight-saving rules. A wall time in the repeated hour of a fall-back change takes the offset
    the C library's `mktime` picks for it.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name

    def fromutc(self, dt: datetime) -> datetime:
        seconds = (dt.replace(tzinfo=None) - _EPOCH) // timedelta(seconds=1)
        return dt + timedelta(seconds=time.localtime(seconds).tm_gmtoff)

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        if dt is None:
            return None
        return timedelta(seconds=time.localtime(self._instant(dt)).tm_gmtoff)

    def dst(self, dt: datetime | None) -> timedelta | None:
        if dt is None:
            return None
        return timedelta(hours=1) if time.localtime(self._instant(dt)).tm_isdst > 0 else timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return self.name

    @staticmethod
    def _instant(dt: datetime) -> float:
        """The epoch seconds of the wall time `dt` (its own tzinfo ignored), as `mktime` reads it."""
        return time.mktime((dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, 0, 0, -1))
