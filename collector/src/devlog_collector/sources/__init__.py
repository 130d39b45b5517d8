"""Registry of built-in sources: agent name -> "module:Class", imported lazily.

Lazy imports keep `devlog --help` and `devlog status` fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from devlog_collector.config import Config
    from devlog_collector.sources.base import Source

__all__ = ["SOURCE_CLASSES", "configured_root_problems", "load_source_class", "source_roots"]

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


def source_roots(cls: type[Source], config: Config) -> list[Path]:
    """The roots of a built-in source: `collect.roots.<agent>` when set (`[]` reads nothing), else the
    agent's standard folders (`default_roots`). `$VAR` and `~` are expanded."""
    import os
    from pathlib import Path

    configured = config.collect.roots.get(cls.name)
    if configured is None:
        return cls.default_roots()
    return [Path(os.path.expandvars(root)).expanduser() for root in configured]


def configured_root_problems(config: Config) -> list[str]:
    """`collect.roots.<agent>[i]: ...` for each root the config names that cannot hold the agent's
    logs: missing, not a folder, or a level too deep or too high (`Source.root_problem`)."""
    problems = []
    for agent in config.collect.agents:
        if agent not in SOURCE_CLASSES:
            continue
        cls = load_source_class(agent)
        if config.collect.roots.get(agent) == []:
            problems.append(
                f"collect.roots.{agent} is empty, so {agent}'s logs are not collected: remove the key to read "
                f"its standard folders, or take {agent} out of collect.agents"
            )
        for index, path in enumerate(source_roots(cls, config) if agent in config.collect.roots else []):
            problem = cls.root_problem(path) if path.exists() else "does not exist"
            if problem:
                problems.append(f"collect.roots.{agent}[{index}]: {path} {_sentence(problem)}")
    return problems


def _sentence(problem: str) -> str:
    return problem if problem.startswith(("does", "holds", "cannot")) else f"is {problem}"
