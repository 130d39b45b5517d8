"""Which remotes an event goes to, decided from its workspace path alone.

Routing is a pure function of (config, workspace), so it can be evaluated at export time over the
stored history: a remote added later, or a remote whose rules changed, simply re-scans the store and
finds exactly the events its rules now select. Nothing about routes is stored with the events.

Rules (per remote, `export.remotes.<name>.workspaces`):

* `include` / `exclude` are globs over the normalised absolute workspace path, matched with wcmatch
  (`**` crosses folders, `{a,b}` braces, extglobs, dot-folders match). A leading `~` is expanded to
  the user's home. A UNC share (`//server/share/x`) is matched apart from the folder
  `/server/share/x`, as the server matches key globs (`devlog_shared.key_globs`): only a glob
  starting with `//`, or with a wildcard, selects a share. A pattern ending in `/**` also matches
  the folder itself (`~/work/**` selects `~/work`), so `**/personal/**` excludes a workspace named
  `personal` as well as everything below it.
* A remote selects a workspace when some include matches and no exclude matches (exclude wins).
* `export_default: <remote>` gives that remote every workspace (and events without a workspace) that
  no *other* remote selects; its own `exclude` list still applies. `export_default: none` (the
  default) adds nothing: events no remote selects stay on this machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Final

from wcmatch import glob

from devlog_collector.config import Config, RemoteConfig
from devlog_collector.errors import UserError
from devlog_shared.key_globs import key_glob_patterns, key_glob_subject, windows_glob_spelling, with_the_folder_itself

__all__ = ["GLOB_FLAGS", "Router", "key_workspace_matcher", "normalise_pattern"]

#: `**` crosses folders, `{a,b}`, `@(a|b)`, and `*` matches dot-folders too (`~/.config/x`).
GLOB_FLAGS: Final = glob.GLOBSTAR | glob.BRACE | glob.EXTGLOB | glob.DOTGLOB

#: wcmatch's default limit on the patterns one glob list may expand to (braces, `x/**` twins).
PATTERN_LIMIT: Final = 1000
_CACHE_LIMIT: Final = 65536


def normalise_pattern(pattern: str) -> list[str]:
    """The glob(s) a configured pattern stands for (`~` expanded; `x/**` also matches `x`; a Windows
    spelling as stored workspaces are spelt, `windows_glob_spelling`)."""
    pattern = windows_glob_spelling(pattern.strip())
    if pattern.startswith("~"):
        pattern = os.path.expanduser(pattern)  # noqa: PTH111
    elif pattern.startswith("//"):  # a UNC share: matched apart from the folder /server/share
        pattern = key_glob_subject(pattern)
    return with_the_folder_itself(pattern)


def _compile_one(patterns: list[str]) -> glob.WcMatcher[str]:
    try:
        return glob.compile(patterns, flags=GLOB_FLAGS)
    except Exception as exc:  # noqa: BLE001 - wcmatch raises a private class past its pattern limit
        if type(exc).__name__ == "PatternLimitException":
            raise ValueError(f"its braces expand to more than {PATTERN_LIMIT:,} patterns") from None
        raise ValueError(str(exc) or type(exc).__name__) from None


def _compile(patterns: Iterable[str], where: str) -> glob.WcMatcher[str] | None:
    """One matcher for all of `patterns`; UserError naming `where` and the glob it cannot use."""
    patterns = list(patterns)
    expanded = [p for pattern in patterns for p in normalise_pattern(pattern)]
    if not expanded:
        return None
    try:
        return _compile_one(expanded)
    except ValueError as exc:
        reason = str(exc)
    for pattern in patterns:  # name the glob at fault
        try:
            _compile_one(normalise_pattern(pattern))
        except ValueError as exc:
            raise UserError(f"{where}: glob {pattern!r} cannot be used: {exc}") from None
    raise UserError(f"{where}: these globs cannot be used together: {reason}")


def key_workspace_matcher(globs: Iterable[str]) -> Callable[[str | None], bool] | None:
    """Whether a server key limited to `globs` (whoami's `workspaces`) may send a workspace, judged
    as the server judges it (`devlog_shared.key_globs`: `~` is any home of the usual layouts, not
    this user's); None when a glob does not compile here. A key with globs may not send events
    without a workspace."""
    expanded = [p for pattern in globs for p in key_glob_patterns(pattern)]
    if not expanded:
        return lambda _workspace: True
    try:
        matcher = _compile_one(expanded)
    except ValueError:
        return None
    return lambda workspace: workspace is not None and bool(matcher.match(key_glob_subject(workspace)))


class _RemoteRules:
    """The compiled include/exclude matchers of one remote."""

    def __init__(self, name: str, remote: RemoteConfig) -> None:
        where = f"export.remotes.{name}.workspaces"
        self.include = _compile(remote.workspaces.include, f"{where}.include")
        self.exclude = _compile(remote.workspaces.exclude, f"{where}.exclude")

    def selects(self, workspace: str | None) -> bool:
        if workspace is None or self.include is None:
            return False
        return bool(self.include.match(key_glob_subject(workspace))) and not self.excludes(workspace)

    def excludes(self, workspace: str | None) -> bool:
        if workspace is None or self.exclude is None:
            return False
        return bool(self.exclude.match(key_glob_subject(workspace)))


class Router:
    """Routes workspaces to remote names according to a `Config` (see the module docstring).

    Raises UserError naming the remote and the glob when a rule cannot be compiled (a brace
    expression expanding to thousands of patterns, say); `devlog config check`, `remote add` and
    the daemon's live reload build a Router first, so such a rule is refused before it is used.
    """

    def __init__(self, config: Config) -> None:
        self._rules = {name: _RemoteRules(name, remote) for name, remote in config.export.remotes.items()}
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
