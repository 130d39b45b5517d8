"""OPTIONS handlers whose `Allow` lists every method a path serves.

Litestar 2 adds an OPTIONS handler to a route when its first handler is registered and keeps it when a
second handler for the same path joins the route, so `OPTIONS /api/v1/events` would answer
`Allow: OPTIONS, POST` although `GET` is served there too (litestar-org/litestar#4169, fixed only in
Litestar 3). `allow_handlers` declares an explicit OPTIONS handler for every path that several
handlers share, with the methods computed from those handlers when the routes are built; registered
before them, it keeps Litestar from adding its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from litestar import Response
from litestar.enums import HttpMethod
from litestar.handlers import HTTPRouteHandler
from litestar.status_codes import HTTP_204_NO_CONTENT

__all__ = ["allow_handlers"]


def _options_handler(path: str, methods: set[str]) -> HTTPRouteHandler:
    allow = ", ".join(sorted(methods | {HttpMethod.OPTIONS.value}))

    def options() -> Response[None]:
        return Response(content=None, status_code=HTTP_204_NO_CONTENT, headers={"Allow": allow})

    return HTTPRouteHandler(path=path, http_method=HttpMethod.OPTIONS, include_in_schema=False, sync_to_thread=False)(
        options
    )


def allow_handlers(handlers: Sequence[HTTPRouteHandler]) -> list[HTTPRouteHandler]:
    """An OPTIONS handler for each path that more than one of `handlers` serves (see the module docstring)."""
    methods: dict[str, set[str]] = defaultdict(set)
    served_by: dict[str, int] = defaultdict(int)
    for handler in handlers:
        for path in handler.paths:
            methods[path] |= set(handler.http_methods)
            served_by[path] += 1
    return [_options_handler(path, methods[path]) for path in sorted(methods) if served_by[path] > 1]
