"""Bounds of plausible event values, shared by the collector (which skips a record outside them,
reporting it) and the ingest server (which rejects it).

A token count, a cost or a year outside these is a parser bug, a clock bug or a hostile file; stored, it would
overflow SQLite's 64-bit integers (sums of counts near 2**63), Python's dates (year 9999 plus a day)
or Postgres' timestamps.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_COST_USD", "MAX_PATH_LENGTH", "MAX_TEXT_CHARS", "MAX_TOKENS", "MAX_YEAR", "MIN_YEAR"]

#: Per token field of one event (no model call comes near a trillion tokens).
MAX_TOKENS: Final = 10**12
#: Per event, in US dollars (finite, not negative): a cost past this, `Infinity` or `NaN` is a bug or
#: a hostile file, and would make every total it joins meaningless (`$inf`).
MAX_COST_USD: Final = 1e9
MIN_YEAR: Final = 1970
MAX_YEAR: Final = 2999
#: Characters of a path an event carries (workspace, file, source).
MAX_PATH_LENGTH: Final = 4096
#: Characters of an event's text the collector stores (a prompt with a whole file pasted in, a huge
#: reply); the rest is cut, and `attrs.truncated` / `attrs.text_length` say so.
MAX_TEXT_CHARS: Final = 1024 * 1024
