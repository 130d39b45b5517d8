"""The machine's local time zone as a real zone with its rules, not today's fixed UTC offset.

`datetime.now().astimezone().tzinfo` is a fixed offset (PST, -08:00): applied to a year of events it
puts every event on the far side of a daylight-saving change an hour off, onto the wrong day. Day,
week and month buckets in the local zone therefore need the zone itself: `$TZ` when it names an
IANA zone, else `/etc/localtime` (Linux, macOS; its symlink target gives the zone's name). Only
where neither exists (Windows) does the fixed offset of this moment remain.
"""

from __future__ import annotations

import os
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["local_zone"]

_LOCALTIME = Path("/etc/localtime")


def local_zone() -> tzinfo:
    """The local time zone, with its daylight-saving rules where the system provides them."""
    name = os.environ.get("TZ", "").strip().lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            # A POSIX rule string (EST5EDT,M3.2.0,M11.1.0) or a zone this Python cannot load: the C
            # library's reading of it, at this instant, is the best there is.
            return _fixed_now()
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
