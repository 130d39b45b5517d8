"""A small, fast plain-text table that fits the terminal.

Why not rich: laying out a 366-row, 12-column table with rich takes about a second, longer than the
stats it shows. This does the same job in a few milliseconds: measure, cut flexible columns with an
ellipsis, drop optional columns if it still does not fit, pad.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TextIO

import msgspec

__all__ = ["Column", "format_table", "terminal_width"]


class Column(msgspec.Struct, frozen=True):
    """One column: its header, alignment, whether it may be cut, and when it may be dropped."""

    name: str
    right: bool = False
    flexible: bool = False  # may be cut with an ellipsis to fit
    min_width: int = 6
    drop_order: int | None = None  # columns with a number are dropped (lowest first) if cutting is not enough


def terminal_width(out: TextIO | None = None) -> int | None:
    """Width to fit, or None for no limit (output is not a terminal and COLUMNS is not set)."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    stream = out or sys.stdout
    try:
        if stream.isatty():
            # os rather than shutil.get_terminal_size (COLUMNS is handled above): importing shutil
            # pulls in bz2 and lzma, ~2 ms of every query command's start-up.
            return os.get_terminal_size(stream.fileno()).columns or 100
    except (AttributeError, ValueError, OSError):
        return 100
    return None


def _cut(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "…" if width > 0 else ""


def format_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    width: int | None,
    footer: Sequence[str] | None = None,
    gap: int = 2,
) -> str:
    """The table as text (header, rows, optional footer after a rule), fitted into `width`."""
    keep = list(range(len(columns)))
    all_rows = [*rows, *([footer] if footer is not None else [])]
    widths = [max([len(c.name), *(len(r[i]) for r in all_rows)]) for i, c in enumerate(columns)]

    def total(indexes: list[int], w: list[int]) -> int:
        return sum(w[i] for i in indexes) + gap * (len(indexes) - 1)

    if width is not None:
        droppable = sorted((c.drop_order, i) for i, c in enumerate(columns) if c.drop_order is not None)
        while True:
            excess = total(keep, widths) - width
            if excess <= 0:
                break
            flexible = [i for i in keep if columns[i].flexible and widths[i] > columns[i].min_width]
            if flexible:
                widest = max(flexible, key=lambda i: widths[i])
                widths[widest] = max(columns[widest].min_width, widths[widest] - excess)
                continue
            if not droppable:
                break
            keep.remove(droppable.pop(0)[1])

    def line(cells: Sequence[str]) -> str:
        parts = []
        for i in keep:
            cell = _cut(cells[i], widths[i])
            parts.append(cell.rjust(widths[i]) if columns[i].right else cell.ljust(widths[i]))
        return (" " * gap).join(parts).rstrip()

    lines = [line([c.name for c in columns])]
    lines += [line(r) for r in rows]
    if footer is not None:
        lines.append("─" * total(keep, widths))
        lines.append(line(footer))
    return "\n".join(lines) + "\n"
