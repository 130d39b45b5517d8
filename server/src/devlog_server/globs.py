"""Workspace globs of API keys: which workspace paths a key may write and read.

Patterns use wcmatch with the collector's routing flags (`**` crosses folders, `{a,b}` braces,
extglobs, dot-folders match), and `x/**` also matches the folder `x` itself. The server does not know
its users' home folders, so a leading `~` stands for any home folder (`/home/<name>`, `/Users/<name>`,
`/root`, `/var/home/<name>`): `~/work/**` matches `/home/alice/work/api` and `/Users/bob/work`.
A key without globs may use every workspace, including events that carry none.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from wcmatch import glob

__all__ = ["GLOB_FLAGS", "WorkspaceMatcher", "expand_pattern"]

GLOB_FLAGS = glob.GLOBSTAR | glob.BRACE | glob.EXTGLOB | glob.DOTGLOB
_HOMES = "{/home/*,/Users/*,/root,/var/home/*}"


def expand_pattern(pattern: str) -> list[str]:
    """The globs one configured pattern stands for (`~` = any home; `x/**` also matches `x`)."""
    pattern = pattern.strip()
    if pattern == "~" or pattern.startswith("~/"):
        pattern = _HOMES + pattern[1:]
    if len(pattern) > 1:
        pattern = pattern.rstrip("/") or "/"
    patterns = [pattern]
    if pattern.endswith("/**") and len(pattern) > 3:
        patterns.append(pattern[:-3])
    return patterns


class WorkspaceMatcher:
    """Decides whether a workspace path is inside a key's globs (None = no restriction)."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)
        expanded = [p for pattern in self.patterns for p in expand_pattern(pattern)]
        self._matcher = glob.compile(expanded, flags=GLOB_FLAGS) if expanded else None
        self._allows = lru_cache(maxsize=4096)(self._match)

    @property
    def unrestricted(self) -> bool:
        """True when the key has no workspace globs (it may use every workspace)."""
        return self._matcher is None

    def _match(self, workspace: str | None) -> bool:
        if self._matcher is None:
            return True
        return workspace is not None and bool(self._matcher.match(workspace))

    def allows(self, workspace: str | None) -> bool:
        """Whether the key may write/read events of `workspace`."""
        return self._allows(workspace)
