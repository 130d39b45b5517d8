"""Presentation helpers for the templates: number formats, colours, sparklines, chart payloads.

Sparklines are inline SVG drawn on the server (they need no JavaScript and cost nothing to render);
the big charts are Chart.js, fed a JSON payload embedded in the page (`chart_payload`), so what a
chart shows is exactly what the server computed and a test can read it back from the DOM.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from markupsafe import Markup, escape

from devlog_server.dashboard.links import session_path
from devlog_server.dashboard.slices import Series
from devlog_shared.display import visible_direction_controls

__all__ = ["FILTERS", "chart_payload", "colour", "colour_map", "sparkline_svg"]

#: A qualitative palette (Okabe-Ito first, then distinct extras); grey is kept for "other"/"(none)".
PALETTE: Final = (
    "#3366cc",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#8c6bb1",
    "#f0c419",
    "#1b9e9e",
    "#a6761d",
    "#e7298a",
    "#66a61e",
)
GREY: Final = "#9ca3af"
#: Fixed colours for the built-in agents, so an agent looks the same on every page.
AGENT_COLOURS: Final = {
    "claude": "#d55e00",
    "codex": "#009e73",
    "cursor": "#8c6bb1",
    "copilot": "#3366cc",
    "gemini": "#56b4e9",
}
_KPI_COLOURS: Final = {
    "events": "#3366cc",
    "sessions": "#009e73",
    "developers": "#8c6bb1",
    "prompts": "#cc79a7",
    "tokens": "#e69f00",
    "cost": "#d55e00",
}


def colour(name: str | None) -> str:
    """A stable colour for an agent, a KPI, or any other name (hashed into the palette)."""
    if not name or name in ("other", "(none)"):
        return GREY
    if name in AGENT_COLOURS:
        return AGENT_COLOURS[name]
    if name in _KPI_COLOURS:
        return _KPI_COLOURS[name]
    digest = hashlib.sha256(name.encode()).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def colour_map(names: Sequence[str | None]) -> dict[str, str]:
    """Distinct colours for the names shown together on one page, in order (agents keep theirs)."""
    mapping: dict[str, str] = {}
    free = list(PALETTE)
    for name in names:
        if not name or name in mapping:
            continue
        if name in AGENT_COLOURS:
            mapping[name] = AGENT_COLOURS[name]
        else:
            mapping[name] = free.pop(0) if free else colour(name)
    return mapping


def number(value: float | int | None) -> str:
    """1234567 -> '1,234,567'."""
    if value is None:
        return "–"
    return f"{value:,.0f}"


def compact(value: float | int | None) -> str:
    """1234567 -> '1.23M', 12345 -> '12.3k'."""
    if value is None:
        return "–"
    magnitude = abs(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= size:
            scaled = value / size
            return f"{scaled:.3g}{suffix}" if abs(scaled) < 1000 else f"{scaled:,.0f}{suffix}"
    return f"{value:,.0f}"


def usd(value: float | None) -> str:
    """Dollars with cents ('$1,234.56'); sub-cent amounts keep significant digits."""
    if value is None:
        return "–"
    if 0 < abs(value) < 0.01:
        return f"${value:.4f}"
    return f"${value:,.2f}"


def percent(value: float | None) -> str:
    """0.1234 -> '12.3%'."""
    return "–" if value is None else f"{value * 100:.1f}%"


def when(value: datetime | None) -> str:
    """A UTC timestamp as 'YYYY-MM-DD HH:MM'."""
    return "–" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """How long ago: '3 min ago', '5 h ago', '2 d ago'."""
    if value is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    if seconds < 60:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def duration(value: Any) -> str:
    """A timedelta as '1 h 05 min', '12 min', '40 s'."""
    seconds = int(value.total_seconds())
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def sparkline_svg(values: Sequence[float], *, width: int = 120, height: int = 28, stroke: str = "#3366cc") -> Markup:
    """A small inline SVG line (with a faint area) for a table cell; empty series draw a flat line."""
    points = list(values) or [0.0]
    if len(points) == 1:
        points = points * 2
    top = max(points) or 1.0
    step = (width - 2) / (len(points) - 1)
    coords = [(1 + i * step, height - 2 - (v / top) * (height - 4)) for i, v in enumerate(points)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    area = f"1,{height - 1} {line} {width - 1},{height - 1}"
    total = sum(values)
    stroke = str(escape(stroke))
    # Only numbers and an escaped colour are interpolated, so the markup is safe by construction.
    return Markup(  # noqa: S704
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="trend, total {total:,.2f}" data-total="{total:.6f}">'
        f'<polygon points="{area}" fill="{stroke}" fill-opacity="0.12"/>'
        f'<polyline points="{line}" fill="none" stroke="{stroke}" stroke-width="1.5" stroke-linejoin="round"/>'
        "</svg>"
    )


def chart_payload(series: Series, *, title: str, unit: str, colours: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON a stacked bar chart is drawn from (labels, one dataset per stack, and the total)."""
    colours = colours or {}
    return {
        "type": "bar",
        "title": title,
        "unit": unit,
        "labels": series.labels,
        "total": round(series.total, 6),
        "datasets": [
            {"label": name, "data": values, "backgroundColor": colours.get(name) or colour(name), "stack": "s"}
            for name, values in series.stacks.items()
        ],
    }


class Verbatim(Markup):
    """An escaped value to be written exactly as stored (a form value the server reads back)."""

    __slots__ = ()


def verbatim(value: Any) -> Verbatim:
    """`value` escaped and exempt from `shown` (`{{ w | verbatim }}` in a `value="..."`)."""
    return Verbatim(escape("" if value is None else value))


def shown(value: Any) -> Any:
    """Every value a template writes (Jinja's `finalize`): direction controls made visible markers.

    A name, workspace or model sent by any ingest key can carry U+202E and the like and make a whole
    heading or table row read reversed; markers show them instead (docs/dashboard.md). Form values
    the server reads back (`verbatim`) keep them, so a filter still selects what it names.
    """
    if isinstance(value, Verbatim) or not isinstance(value, str):
        return value
    return visible_direction_controls(value)  # (Markup's own `translate`: still Markup, still escaped)


FILTERS: Final = {
    "number": number,
    "compact": compact,
    "usd": usd,
    "percent": percent,
    "when": when,
    "ago": ago,
    "duration": duration,
    "colour": colour,
    "visible_controls": visible_direction_controls,
    "verbatim": verbatim,
    "session_path": session_path,
}
