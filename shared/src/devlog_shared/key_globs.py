"""How the server reads the workspace globs of an API key, shared with the collector.

The server does not know its users' home folders, so a leading `~` in a key's glob stands for any
home folder of the usual layouts (`/home/<name>`, `/Users/<name>`, `/root`, `/var/home/<name>`, and
on Windows `<drive>:/Users/<name>`), and `x/**` also matches the folder `x` itself. The collector's
`devlog remote test` judges a key's globs with these same rules: a developer whose home is elsewhere
(`/srv/home/alice`) learns there, not from dead letters, that `~/work/**` in the key misses them.

A UNC share (`//server/share/x`, as the collector spells a Windows network folder) is a different
place from the local folder `/server/share/x`, but wcmatch folds `//` into `/`: `/srv/a/**` matched
the share `//srv/a` and `//srv/b/**` the folder `/srv/b` (a key reading and writing another
workspace). So a leading `//` is matched under a prefix no path can hold, in patterns
(`key_glob_patterns`) and workspaces (`key_glob_subject`) alike: only a `//` glob, or one starting
with a wildcard (`**/share/**`), matches a share.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["ANY_HOME", "key_glob_patterns", "key_glob_subject", "windows_glob_spelling", "with_the_folder_itself"]

#: What a leading `~` of a key's glob stands for (a wcmatch brace expression: five patterns).
ANY_HOME: Final = "{/home/*,/Users/*,/root,/var/home/*,?:/Users/*}"
#: Stands for the leading `//` of a UNC share, in patterns and paths (NUL: no workspace holds one).
_UNC: Final = "/\x00unc/"


_WINDOWS_DRIVE: Final = re.compile(r"^[A-Za-z]:[/\\]")


def windows_glob_spelling(pattern: str) -> str:
    """A glob written the Windows way, spelt as devlog stores Windows workspaces: `e:\\Work\\**` is
    `E:/Work/**`, `\\\\server\\share\\**` is `//server/share/**` and `**\\scratch\\**` is
    `**/scratch/**` (upper-case drive, forward slashes). Such a glob was accepted and then never
    matched: an exclude written so let out what it was meant to keep.

    A backslash is read as a folder separator in a glob that starts with a drive letter or `\\\\`,
    in one that starts with `//`, and in one with no `/` at all; elsewhere it escapes the character
    after it, as in any glob (`/logs/\\*.txt`)."""
    if _WINDOWS_DRIVE.match(pattern):
        return pattern[0].upper() + ":" + pattern[2:].replace("\\", "/")
    if pattern.startswith("\\\\"):
        return "//" + pattern[2:].replace("\\", "/")
    if "\\" in pattern and (pattern.startswith("//") or "/" not in pattern):
        return pattern.replace("\\", "/")
    return pattern


def key_glob_subject(workspace: str) -> str:
    """`workspace` as key globs are matched against it (a UNC share's leading `//` kept apart)."""
    return _UNC + workspace[2:] if workspace.startswith("//") else workspace


def key_glob_patterns(pattern: str) -> list[str]:
    """The wcmatch globs one key pattern stands for (`~` = any home; `x/**` also matches `x`)."""
    pattern = windows_glob_spelling(pattern.strip())
    if pattern == "~" or pattern.startswith("~/"):
        pattern = ANY_HOME + pattern[1:]
    elif pattern.startswith("//"):
        pattern = key_glob_subject(pattern)
    return with_the_folder_itself(pattern)


def with_the_folder_itself(pattern: str) -> list[str]:
    """`pattern` without trailing slashes, and for `x/**` also `x`: a folder glob matches the folder
    itself too (`~/work/**` selects `~/work`). The collector's routing rules read globs the same way."""
    if len(pattern) > 1:
        pattern = pattern.rstrip("/") or "/"
    patterns = [pattern]
    if pattern.endswith("/**") and len(pattern) > 3:
        patterns.append(pattern[:-3])
    return patterns
