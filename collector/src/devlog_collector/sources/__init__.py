"""Registry of built-in sources: agent name -> "module:Class", imported lazily.

Lazy imports keep `devlog --help` and `devlog status` fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devlog_collector.config import Config
    from devlog_collector.sources.base import Source

__all__ = ["SOURCE_CLASSES", "configured_root_problems", "load_source_class"]

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


def configured_root_problems(config: Config) -> list[str]:
    """`collect.roots.<agent>[i]: ...` for each root the config names that cannot hold the agent's
    logs: missing, not a folder, or a level too deep or too high (`Source.root_problem`)."""
    import os
    from pathlib import Path

    problems = []
    for agent in config.collect.agents:
        if agent not in SOURCE_CLASSES:
            continue
        cls = load_source_class(agent)
        for index, root in enumerate(config.collect.roots.get(agent, [])):
            path = Path(os.path.expandvars(root)).expanduser()
            problem = cls.root_problem(path) if path.exists() else "does not exist"
            if problem:
                problems.append(f"collect.roots.{agent}[{index}]: {path} {_sentence(problem)}")
    return problems


def _sentence(problem: str) -> str:
    return problem if problem.startswith(("does", "holds", "cannot")) else f"is {problem}"
