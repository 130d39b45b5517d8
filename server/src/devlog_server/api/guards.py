"""A guard that refuses query parameters a route does not declare.

Litestar ignores query parameters a handler does not take, so a misspelt or unsupported filter
(`?modle=x`, or a filter an older server lacks) would silently widen the answer. Every `/api/v1`
route gets this guard instead: a name that is not one of the handler's declared query parameters is
a 400 problem naming it. Guards run before the handler's parameters are parsed and before the key is
checked, like Litestar's own 400 for an invalid value of a known parameter.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from litestar.connection import ASGIConnection
from litestar.constants import RESERVED_KWARGS
from litestar.handlers import BaseRouteHandler
from litestar.params import ParameterKwarg

from devlog_server.errors import ApiError

__all__ = ["declared_query_parameters", "reject_unknown_query_parameters"]


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


def reject_unknown_query_parameters(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Refuse the request with a 400 when its query string names a parameter the route does not declare."""
    known = declared_query_parameters(handler) - connection.path_params.keys()
    unknown = sorted(set(connection.query_params) - known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise ApiError(
            400,
            f"unknown query parameter {unknown[0]!r} (this endpoint takes: {allowed})",
            code="invalid_parameter",
            extra={"parameter": unknown[0]},
        )
