"""How the server reads the workspace globs of an API key, shared with the collector.

The server does not know its users' home folders, so a leading `~` in a key's glob stands for any
home folder of the usual layouts (`/home/<name>`, `/Users/<name>`, `/root`, `/var/home/<name>`, and
on Windows `<drive>:/Users/<name>`), and `x/**` also matches the folder `x` itself. The collector's
`devlog remote test` judges a key's globs with these same rules: a developer whose home is elsewhere
(`/srv/home/alice`) learns there, not from dead letters, that `~/work/**` in the key misses them.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ANY_HOME", "key_glob_patterns"]

#: What a leading `~` of a key's glob stands for (a wcmatch brace expression: five patterns).
ANY_HOME: Final = "{/home/*,/Users/*,/root,/var/home/*,?:/Users/*}"


def key_glob_patterns(pattern: str) -> list[str]:
    """The wcmatch globs one key pattern stands for (`~` = any home; `x/**` also matches `x`)."""
    pattern = pattern.strip()
    if pattern == "~" or pattern.startswith("~/"):
        pattern = ANY_HOME + pattern[1:]
    if len(pattern) > 1:
        pattern = pattern.rstrip("/") or "/"
    patterns = [pattern]
    if pattern.endswith("/**") and len(pattern) > 3:
        patterns.append(pattern[:-3])
    return patterns
