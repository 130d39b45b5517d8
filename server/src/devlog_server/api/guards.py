"""A guard that refuses query parameters a route does not declare, given more than once, or empty.

Litestar ignores query parameters a handler does not take, so a misspelt or unsupported filter
(`?modle=x`, or a filter an older server lacks) would silently widen the answer. It also reads a
repeated parameter as its last value only, so `?agent=claude&agent=codex` would answer for codex
alone and `?kind=bogus&kind=prompt` would never validate `bogus`. Every `/api/v1` route gets this
guard instead: a name that is not one of the handler's declared query parameters, or a parameter
given twice, is a 400 problem naming it. No handler takes a list parameter, so no repetition is
meaningful. An empty value (`?model=`, `?session_id=`) is refused the same way: the filters treat it
as absent, so it too would answer with everything instead of the question asked (a script's unset
variable is the usual cause), and no parameter has a meaning for the empty string. Guards run
before the handler's parameters are parsed and before the key is checked, like Litestar's own 400
for an invalid value of a known parameter.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Any, Final

from litestar.connection import ASGIConnection
from litestar.constants import RESERVED_KWARGS
from litestar.handlers import BaseRouteHandler
from litestar.params import ParameterKwarg

from devlog_server.errors import invalid_parameter

__all__ = ["check_query_parameters", "declared_query_parameters", "empty_query_parameter", "repeated_query_parameter"]


@lru_cache(maxsize=256)  # per handler (hashed by identity): the signature is walked once, not per request
def declared_query_parameters(handler: BaseRouteHandler) -> frozenset[str]:
    """The query parameter names `handler` takes (aliases included; headers, cookies and injected kwargs not)."""
    names = set()
    for name, parameter in handler.parsed_fn_signature.parameters.items():
        if name in RESERVED_KWARGS:
            continue
        kwarg = parameter.kwarg_definition
        if isinstance(kwarg, ParameterKwarg):
            if kwarg.header or kwarg.cookie:
                continue
            name = kwarg.query or name
        names.add(name)
    return frozenset(names)


def repeated_query_parameter(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The first query parameter (in name order) that the query string gives more than once, or None."""
    counts = Counter(name for name, _ in connection.query_params.multi_items())
    repeated = sorted(name for name, count in counts.items() if count > 1)
    return repeated[0] if repeated else None


def empty_query_parameter(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The first query parameter (in name order) given with an empty value (`?model=`), or None."""
    empty = sorted(name for name, value in connection.query_params.multi_items() if value == "")
    return empty[0] if empty else None


def check_query_parameters(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Refuse the request with a 400 when its query string names a parameter the route does not declare,
    gives one more than once, or gives one an empty value."""
    known = declared_query_parameters(handler) - connection.path_params.keys()
    unknown = sorted(set(connection.query_params) - known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise invalid_parameter(
            unknown[0],
            f"unknown query parameter {unknown[0]!r} (this endpoint takes: {allowed})",
        )
    repeated = repeated_query_parameter(connection)
    if repeated is not None:
        count = len(connection.query_params.getall(repeated))
        raise invalid_parameter(
            repeated,
            f"query parameter {repeated!r} is given {count} times; give it once (each parameter takes one value)",
        )
    empty = empty_query_parameter(connection)
    if empty is not None:
        raise invalid_parameter(
            empty,
            f"query parameter {empty!r} is empty; give it a value or leave it out (empty is not 'any')",
        )
    for name in _TIME_PARAMETERS & known:
        raw = connection.query_params.get(name)
        if raw is None:
            continue
        hint = None
        if _is_number(raw):
            hint = ""
        elif _BARE_DATE.fullmatch(raw):
            hint = f" (a date alone is not one: its start is {raw}T00:00:00Z)"
        elif " " in raw and _DATE_TIME_WITH_BLANK.fullmatch(raw):
            hint = " (a '+' in a URL's query is read as a space: write the offset's + as %2B)"
        if hint is not None:
            raise invalid_parameter(
                name,
                f"query parameter {name!r} must be an RFC 3339 date-time such as 2026-12-02T00:00:00Z, "
                f"got {raw!r}{hint}",
            )


#: Date-time parameters: Litestar reads a number given for one as epoch seconds (`since=20261202` is
#: 1970 plus 20 million seconds, never what was meant), and `inf` or `nan` as a failed epoch: a number
#: is refused here, before parsing, with the format to use.
_TIME_PARAMETERS: Final = frozenset({"since", "until"})
#: A date without its time (`since=2026-12-02`), which the date-time parser refuses without saying why.
_BARE_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
#: A date-time whose offset's `+` arrived as a space (`...T00:00:00 05:00`, the `+` not URL-encoded).
_DATE_TIME_WITH_BLANK: Final = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)? \d{2}:?\d{2}")


def _is_number(text: str) -> bool:
    """Whether `text` reads as a number in any spelling Python's `float` takes (`1e9`, `inf`, `nan`, `1_000`)."""
    try:
        float(text)
    except ValueError:
        return False
    return True
