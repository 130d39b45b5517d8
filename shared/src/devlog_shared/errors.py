"""Errors raised by the shared schema package.

    DevlogSchemaError
    └── InvalidEvent     an event (or batch) that does not match schema v1; `.field` names the offending path

Decoding is the only boundary where foreign exceptions (msgspec's) enter, and `codec.py` is the one
place that translates them, so both apps can show the same actionable message.
"""

from __future__ import annotations

__all__ = ["DevlogSchemaError", "InvalidEvent"]


class DevlogSchemaError(Exception):
    """Root of the shared package's errors."""


class InvalidEvent(DevlogSchemaError, ValueError):
    """An event or batch failed validation; `field` is the JSON path of the problem when known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
