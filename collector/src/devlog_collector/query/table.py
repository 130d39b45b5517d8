"""A small, fast plain-text table that fits the terminal.

Why not rich: laying out a 366-row, 12-column table with rich takes about a second, longer than the
stats it shows. This does the same job in a few milliseconds: measure, drop optional columns if even
the flexible ones cut to their minimum do not fit, share the remaining width among the flexible
columns (cut with an ellipsis), pad.

Cells are stored text (agent logs, tool output), so they are made safe before they are measured:
ANSI escape sequences (colours, cursor moves, window titles, hyperlinks) are removed and every other
control character is replaced, so nothing in the store can control the terminal. Widths are display
columns, not characters: East Asian wide and fullwidth characters (CJK, most emoji) take two columns,
combining marks and other zero-width characters none.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import unicodedata
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple, TextIO

__all__ = [
    "Column", "clean_text", "cut", "display_width", "format_table", "layout_table", "rich_console", "terminal_width",
    "wrap",
]  # fmt: skip

# CSI sequences (colours, cursor movement, erase), 7-bit and 8-bit; then OSC/DCS/SOS/PM/APC strings
# (window title, hyperlinks, ...) up to their terminator (BEL or ST), the end of the line, or the next
# ESC; then the remaining two-character escape sequences.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]"
)
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1
_LINE_CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # the same, without newline
REPLACEMENT = "\ufffd"  # shown where a control character was


class Column(NamedTuple):
    """One column: its header, alignment, whether it may be cut (and where), and when it may be dropped."""

    name: str
    right: bool = False
    flexible: bool = False  # may be cut with an ellipsis to fit
    min_width: int = 6
    drop_order: int | None = None  # columns with a number are dropped (lowest first) if cutting is not enough
    cut: Literal["end", "start", "middle"] = "end"  # "start" keeps the end of a path, which tells paths apart


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


def rich_console(*, stderr: bool = False, highlight: bool = True) -> Any:
    """A rich Console that wraps at the terminal's width, and not at all into a pipe or file (as
    `terminal_width` says): rich alone would wrap at 80 columns there, splitting names and paths."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich exits 1 itself; the CLI treats a reader that went away alike for every command
            self.quiet = True
            raise BrokenPipeError

    width = terminal_width(sys.stderr if stderr else sys.stdout)
    return _Console(stderr=stderr, highlight=highlight, width=width if width is not None else 100_000)


def clean_text(text: str, *, newlines: bool = False) -> str:
    """`text` without anything that could control a terminal.

    ANSI escape sequences are removed; tabs become spaces; other control characters become U+FFFD;
    Unicode direction controls (which can make a line read reversed in a terminal that reorders
    bidirectional text) become visible `⟦U+202E⟧` markers. With `newlines`, line breaks are kept
    (CRLF and a lone CR become LF) and tabs expand to 8-column stops; without, every line break is a
    space, so the result is one line.
    """
    if text.isprintable():  # the common case, checked in C
        return text
    # (imported here: importing devlog_shared defines the whole schema, time `devlog stats` spares)
    from devlog_shared.display import visible_direction_controls

    text = visible_direction_controls(_ESCAPES.sub("", text))
    if newlines:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if "\t" in text:
            text = "\n".join(line.expandtabs(8) for line in text.split("\n"))
        return _LINE_CONTROLS.sub(REPLACEMENT, text)
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " ")
    return _CONTROLS.sub(REPLACEMENT, text)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@functools.lru_cache(maxsize=4096)
def _char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Terminal columns `text` takes (printable text: run it through `clean_text` first).

    Only the characters past ASCII are looked up (found by the regex engine, their widths cached): a
    summary cut with an ellipsis is not ASCII, and a width per character of every such cell made
    `devlog query --limit 0` take 20 s over 113,000 events before its first line.
    """
    if text.isascii():
        return len(text)
    wide = _NON_ASCII.findall(text)
    return len(text) - len(wide) + sum(map(_char_width, wide))


def _head(text: str, width: int) -> str:
    """The longest start of `text` at most `width` columns wide (with the zero-width marks that follow)."""
    if text.isascii():
        return text[:width]
    used = 0
    for index, char in enumerate(text):
        used += _char_width(char)
        if used > width:
            return text[:index]
    return text


def _tail(text: str, width: int) -> str:
    """The longest end of `text` at most `width` columns wide, not starting with a combining mark."""
    if width <= 0:
        return ""
    if text.isascii():
        return text[-width:]
    used = 0
    for index in range(len(text) - 1, -1, -1):
        used += _char_width(text[index])
        if used > width:
            start = index + 1
            while start < len(text) and _char_width(text[start]) == 0:
                start += 1
            return text[start:]
    return text


def cut(text: str, width: int, where: Literal["end", "start", "middle"] = "end") -> str:
    """`text` cut to at most `width` columns, an ellipsis marking where (at the end, start or middle)."""
    if display_width(text) <= width:
        return text
    if width <= 0:
        return ""
    if where == "start":
        return "…" + _tail(text, width - 1)
    if where == "middle":
        left = width // 2
        return _head(text, left) + "…" + _tail(text, width - 1 - left)
    return _head(text, width - 1) + "…"


def wrap(text: str, width: int | None, indent: str = "  ") -> str:
    """A note line wrapped to `width` (continuation lines indented), ending in a newline."""
    if width is None or display_width(text) <= width:
        return text + "\n"
    import textwrap

    lines = textwrap.wrap(text, max(width, 20), subsequent_indent=indent, break_on_hyphens=False)
    return "\n".join(lines) + "\n"


def _fit(columns: Sequence[Column], widths: list[int], width: int | None, gap: int) -> list[int]:
    """Indexes of the columns to show; cuts the flexible ones in `widths` so they fit into `width`."""
    keep = list(range(len(columns)))

    def total(indexes: list[int], w: Sequence[int]) -> int:
        return sum(w[i] for i in indexes) + gap * (len(indexes) - 1)

    if width is None or total(keep, widths) <= width:
        return keep
    least = [min(w, c.min_width) if c.flexible else w for c, w in zip(columns, widths, strict=True)]
    droppable = sorted((c.drop_order, i) for i, c in enumerate(columns) if c.drop_order is not None)
    while total(keep, least) > width and droppable:
        keep.remove(droppable.pop(0)[1])
    flexible = [i for i in keep if columns[i].flexible]
    if not flexible:
        return keep
    if total(keep, least) > width:  # nothing left to drop: cut below the minimum rather than overflow
        least = [1 if columns[i].flexible else w for i, w in enumerate(widths)]
    budget = width - gap * (len(keep) - 1) - sum(widths[i] for i in keep if not columns[i].flexible)

    def used(cap: int) -> int:
        return sum(max(least[i], min(widths[i], cap)) for i in flexible)

    # The largest common cap that fits: wide columns are cut first, short ones keep their text.
    low, high = 0, max(widths[i] for i in flexible)
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if used(middle) <= budget else (low, middle - 1)
    fitted = {i: max(least[i], min(widths[i], low)) for i in flexible}
    spare = budget - sum(fitted.values())
    for i in flexible:
        if spare > 0 and fitted[i] < widths[i]:
            fitted[i] += 1
            spare -= 1
        widths[i] = fitted[i]
    return keep


def layout_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    width: int | None,
    footer: Sequence[str] | None = None,
    gap: int = 2,
) -> tuple[str, int]:
    """The table as text (see `format_table`) and the number of columns dropped to fit."""
    names = [clean_text(c.name) for c in columns]
    rows = [[clean_text(cell) for cell in row] for row in rows]
    footer = [clean_text(cell) for cell in footer] if footer is not None else None
    all_rows = [*rows, *([footer] if footer is not None else [])]
    widths = [max([display_width(names[i]), *(display_width(r[i]) for r in all_rows)]) for i in range(len(columns))]
    keep = _fit(columns, widths, width, gap)

    def line(cells: Sequence[str], header: bool = False) -> str:
        parts = []
        for i in keep:
            column = columns[i]
            cell = cut(cells[i], widths[i], "end" if header else column.cut)
            pad = " " * (widths[i] - display_width(cell))
            parts.append(pad + cell if column.right else cell + pad)
        return (" " * gap).join(parts).rstrip()

    lines = [line(names, header=True)]
    lines += [line(r) for r in rows]
    if footer is not None:
        lines.append("─" * (sum(widths[i] for i in keep) + gap * (len(keep) - 1)))
        lines.append(line(footer))
    return "\n".join(lines) + "\n", len(columns) - len(keep)


def format_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    width: int | None,
    footer: Sequence[str] | None = None,
    gap: int = 2,
) -> str:
    """The table as text (header, rows, optional footer after a rule), fitted into `width`."""
    return layout_table(columns, rows, width=width, footer=footer, gap=gap)[0]
