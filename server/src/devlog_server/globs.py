"""Workspace globs of API keys: which workspace paths a key may write and read.

Patterns use wcmatch with the collector's routing flags (`**` crosses folders, `{a,b}` braces,
extglobs, dot-folders match), and `x/**` also matches the folder `x` itself. The server does not know
its users' home folders, so a leading `~` stands for any home folder (`/home/<name>`, `/Users/<name>`,
`/root`, `/var/home/<name>`, and on Windows `<drive>:/Users/<name>`; `devlog_shared.key_globs`, which
the collector's `remote test` uses too): `~/work/**` matches
`/home/alice/work/api`, `/Users/bob/work` and `C:/Users/carol/work`. A relative glob could match no
workspace (they are absolute), so it is refused when the key is created.
A key without globs may use every workspace, including events that carry none.

wcmatch expands braces before matching and refuses more than 1,000 expanded patterns per compile
(`~` alone expands to five), so a key's globs are checked with `glob_problem` / `globs_problem` when
the key is created. A key whose stored globs cannot compile anyway (created before that check) must
not turn every request into a 500: its matcher allows nothing and logs a warning.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import structlog
from wcmatch import glob

from devlog_shared.key_globs import key_glob_patterns, key_glob_subject, windows_glob_spelling

__all__ = ["GLOB_FLAGS", "WorkspaceMatcher", "glob_problem", "globs_problem"]

GLOB_FLAGS = glob.GLOBSTAR | glob.BRACE | glob.EXTGLOB | glob.DOTGLOB
#: How a glob that can match an absolute workspace may begin: `/`, `~`, a drive letter, or a wildcard,
#: brace or extglob that may stand for one of those.
_ABSOLUTE_START = re.compile(r"[/~*?\[{!@+]|[A-Za-z]:")

_log = structlog.get_logger("devlog_server.globs")


def _compile(patterns: Sequence[str]) -> glob.WcMatcher[str] | None:
    expanded = [p for pattern in patterns for p in key_glob_patterns(pattern)]
    return glob.compile(expanded, flags=GLOB_FLAGS) if expanded else None


def _why_not(exc: Exception) -> str:
    # PatternLimitException lives in wcmatch's private `_wcparse`, so it is recognised by name.
    if type(exc).__name__ == "PatternLimitException":
        return "its braces expand to more than 1,000 patterns (a leading ~ counts five times)"
    return f"{type(exc).__name__}: {exc}"


def glob_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be a key's workspace glob (a sentence for the operator), or None.

    An empty glob is refused rather than dropped: a key with no globs may use every workspace, so a
    mistyped `--workspace ''` would otherwise widen the key to everything without a word.
    """
    if not pattern.strip():
        return "is empty (leave it out for a key that may use every workspace)"
    spelt = windows_glob_spelling(pattern.strip())  # (`\\server\share\**` is a share's glob)
    if "//" in spelt[1:]:
        return "has `//` inside it: only a UNC share's glob may start with `//` (`//server/share/**`)"
    if not _ABSOLUTE_START.match(spelt):
        return "is relative, so it can match no workspace (they are absolute folders): start it with /, ~/ or **/"
    try:
        _compile([pattern])
    except Exception as exc:  # noqa: BLE001 - wcmatch raises private exception classes; any failure is the glob's
        return f"cannot be compiled: {_why_not(exc)}"
    return None


def globs_problem(patterns: Sequence[str]) -> str | None:
    """Why the globs of one key cannot be used together (the expansion limit is per key), or None."""
    try:
        _compile(patterns)
    except Exception as exc:  # noqa: BLE001 - as in glob_problem
        return f"cannot be compiled together: {_why_not(exc)}; use fewer or simpler globs"
    return None


class WorkspaceMatcher:
    """Decides whether a workspace path is inside a key's globs (None = no restriction)."""

    def __init__(self, patterns: Sequence[str], *, key_id: str | None = None) -> None:
        self.patterns = tuple(patterns)
        self._matcher: glob.WcMatcher[str] | None = None
        self._broken = False
        try:
            self._matcher = _compile(self.patterns)
        except Exception as exc:  # noqa: BLE001 - fail closed: a restricted key with unusable globs may use nothing
            self._broken = True
            _log.warning(
                "workspace_globs_unusable",
                key_id=key_id,
                globs=[p[:200] for p in self.patterns],
                error=_why_not(exc),
                effect="the key matches no workspace",
            )
        self._allows = lru_cache(maxsize=4096)(self._match)

    @property
    def unrestricted(self) -> bool:
        """True when the key has no workspace globs (it may use every workspace)."""
        return not self.patterns

    def _match(self, workspace: str | None) -> bool:
        if self._broken:
            return False
        if self._matcher is None:
            return True
        return workspace is not None and bool(self._matcher.match(key_glob_subject(workspace)))

    def allows(self, workspace: str | None) -> bool:
        """Whether the key may write/read events of `workspace`."""
        return self._allows(workspace)
