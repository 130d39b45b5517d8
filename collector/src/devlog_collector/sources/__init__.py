"""Registry of built-in sources: agent name -> "module:Class", imported lazily.

Lazy imports keep `devlog --help` and `devlog status` fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devlog_collector.sources.base import Source

__all__ = ["SOURCE_CLASSES", "load_source_class"]

SOURCE_CLASSES: dict[str, str] = {
    "claude": "devlog_collector.sources.claude:ClaudeCodeSource",
    "codex": "devlog_collector.sources.codex:CodexSource",
    "copilot": "devlog_collector.sources.copilot:CopilotSource",
    "cursor": "devlog_collector.sources.cursor:CursorSource",
    "gemini": "devlog_collector.sources.gemini:GeminiSource",
}


def load_source_class(name: str) -> type[Source]:
    """Import and return the source class registered under `name`."""
    module_name, _, attr = SOURCE_CLASSES[name].partition(":")
    cls: type[Source] = getattr(importlib.import_module(module_name), attr)
    return cls
