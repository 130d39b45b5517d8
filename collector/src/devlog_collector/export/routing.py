"""Which remotes an event goes to, decided from its workspace path alone.

Routing is a pure function of (config, workspace), so it can be evaluated at export time over the
stored history: a remote added later, or a remote whose rules changed, simply re-scans the store and
finds exactly the events its rules now select. Nothing about routes is stored with the events.

Rules (per remote, `export.remotes.<name>.workspaces`):

* `include` / `exclude` are globs over the normalised absolute workspace path, matched with wcmatch
  (`**` crosses folders, `{a,b}` braces, extglobs, dot-folders match). A leading `~` is expanded to
  the user's home. A pattern ending in `/**` also matches the folder itself (`~/work/**` selects
  `~/work`), so `**/personal/**` excludes a workspace named `personal` as well as everything below it.
* A remote selects a workspace when some include matches and no exclude matches (exclude wins).
* `export_default: <remote>` gives that remote every workspace (and events without a workspace) that
  no *other* remote selects; its own `exclude` list still applies. `export_default: none` (the
  default) adds nothing: events no remote selects stay on this machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Final

from wcmatch import glob

from devlog_collector.config import Config, RemoteConfig

__all__ = ["GLOB_FLAGS", "Router", "normalise_pattern"]

#: `**` crosses folders, `{a,b}`, `@(a|b)`, and `*` matches dot-folders too (`~/.config/x`).
GLOB_FLAGS: Final = glob.GLOBSTAR | glob.BRACE | glob.EXTGLOB | glob.DOTGLOB

_CACHE_LIMIT: Final = 65536


def normalise_pattern(pattern: str) -> list[str]:
    """The glob(s) a configured pattern stands for (`~` expanded; `x/**` also matches `x`)."""
    pattern = pattern.strip()
    if pattern.startswith("~"):
        pattern = os.path.expanduser(pattern)  # noqa: PTH111
    if len(pattern) > 1:
        pattern = pattern.rstrip("/") or "/"
    patterns = [pattern]
    if pattern.endswith("/**") and len(pattern) > 3:
        patterns.append(pattern[:-3])
    return patterns


def _compile(patterns: Iterable[str]) -> glob.WcMatcher[str] | None:
    expanded = [p for pattern in patterns for p in normalise_pattern(pattern)]
    return glob.compile(expanded, flags=GLOB_FLAGS) if expanded else None


class _RemoteRules:
    """The compiled include/exclude matchers of one remote."""

    def __init__(self, remote: RemoteConfig) -> None:
        self.include = _compile(remote.workspaces.include)
        self.exclude = _compile(remote.workspaces.exclude)

    def selects(self, workspace: str | None) -> bool:
        if workspace is None or self.include is None:
            return False
        return bool(self.include.match(workspace)) and not self.excludes(workspace)

    def excludes(self, workspace: str | None) -> bool:
        return workspace is not None and self.exclude is not None and bool(self.exclude.match(workspace))


class Router:
    """Routes workspaces to remote names according to a `Config` (see the module docstring)."""

    def __init__(self, config: Config) -> None:
        self._rules = {name: _RemoteRules(remote) for name, remote in config.export.remotes.items()}
        default = config.export_default
        self.default: str | None = default if default != "none" and default in self._rules else None
        self._cache: dict[str | None, frozenset[str]] = {}

    @property
    def remotes(self) -> frozenset[str]:
        """Every configured remote."""
        return frozenset(self._rules)

    def remotes_for(self, workspace: str | None) -> frozenset[str]:
        """The remotes an event of `workspace` (a normalised absolute path, or None) is sent to."""
        cached = self._cache.get(workspace)
        if cached is not None:
            return cached
        selected = {name for name, rules in self._rules.items() if rules.selects(workspace)}
        if self.default is not None and self.default not in selected:
            others = selected - {self.default}
            if not others and not self._rules[self.default].excludes(workspace):
                selected.add(self.default)
        result = frozenset(selected)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[workspace] = result
        return result

    def matches(self, remote: str, workspace: str | None) -> bool:
        """Whether events of `workspace` go to `remote` (False for an unknown remote)."""
        return remote in self.remotes_for(workspace)

    def has_rules(self, remote: str) -> bool:
        """Whether `remote` can receive anything at all (has include globs or is the default)."""
        rules = self._rules.get(remote)
        return rules is not None and (rules.include is not None or remote == self.default)
