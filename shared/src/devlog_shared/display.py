"""Stored text made safe to show: Unicode direction controls turned into visible markers.

An embedding, override or isolate (U+202A–U+202E, U+2066–U+2069, the Arabic letter mark U+061C) in
a prompt or a tool's output makes what follows display reordered, so a transcript can read other
than it holds ("Trojan Source"). The terminal output of `devlog` and the server's dashboard both show
them as `⟦U+202E⟧` instead; the stored and exported text keeps them.
"""

from __future__ import annotations

from typing import Final

__all__ = ["visible_direction_controls"]

_DIRECTION_CONTROLS: Final = {
    code: f"\u27e6U+{code:04X}\u27e7" for code in (0x061C, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
}


def visible_direction_controls(text: str) -> str:
    """`text` with each direction control replaced by a visible `⟦U+202E⟧`-style marker."""
    return text.translate(_DIRECTION_CONTROLS)
