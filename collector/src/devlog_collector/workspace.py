"""Workspace metadata for every collected event: normalised folder, project, git, machine, user.

Why this module exists: agents record the folder they worked in inconsistently (`~/x`, `/x/`,
`E:\\x`, `e:/x`), and the export rules and every local query group by that folder, so it has to be
spelled one way. The project name and git state make events from one repository recognisable across
machines and agents.

Rules:

* `normalise_workspace` is purely lexical (no file-system access, no symlink resolution): `~` is
  expanded, POSIX paths are made absolute and `normpath`-ed, and the trailing slash goes.
  **Windows paths** (`e:\\Workspace\\x`, `E:/Workspace/x`, `\\\\server\\share\\x`) are recognised on
  every OS and always written with forward slashes and an upper-case drive letter:
  `E:/Workspace/x`, `//server/share/x`. One spelling per folder, whichever OS collected it, so
  export globs like `E:/Workspace/**` match and a folder seen by two agents is one workspace.
* Git state is read from the repository's files (`HEAD`, loose refs, `packed-refs`, `config`;
  `.git` files that point elsewhere, as in worktrees and submodules). Never a `git` subprocess:
  collecting history would otherwise spawn one per event. Results are cached per workspace with a
  short TTL so a branch switch shows up within seconds in the live daemon.
* Remotes are normalised to a credential-free https form (`git@host:o/r.git` ->
  `https://host/o/r`), so the same repository has one name on every machine and no token that was
  embedded in a remote URL ever lands in the store.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import hashlib
import os
import posixpath
import re
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from devlog_shared import GitInfo
from devlog_shared.limits import MAX_PATH_LENGTH

__all__ = [
    "WorkspaceInfo",
    "WorkspaceResolver",
    "credential_free_git",
    "current_user",
    "machine_id",
    "normalise_file_path",
    "normalise_remote",
    "normalise_workspace",
    "read_git_info",
    "spelling_depends_on_environment",
]

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:(?:[\\/]|$)")
_WINDOWS_UNC = re.compile(r"^\\\\[^\\/]")
_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^/:]+):(?P<path>(?!//).+)$")
_SECTION = re.compile(r'^\[\s*(?P<name>[^\s\]"]+)(?:\s+"(?P<sub>(?:[^"\\]|\\.)*)")?\s*\]')
#: Files bigger than this in `.git` are not ours to read (a corrupt or hostile repository).
_MAX_GIT_FILE = 4 * 1024 * 1024


def is_windows_path(path: str) -> bool:
    """True for `C:\\x`, `c:/x` and `\\\\server\\share` paths."""
    return bool(_WINDOWS_DRIVE.match(path) or _WINDOWS_UNC.match(path))


def normalise_workspace(path: str, *, relative_to_cwd: bool = True) -> str:
    """The one spelling of a workspace folder (see the module docstring).

    Args:
        path: a folder as an agent recorded it (or as a user typed it in a filter).
        relative_to_cwd: a relative path is taken from the working directory (a user's `-w .`);
            False gives "" for it instead: a relative folder an agent recorded says nothing about
            where it was, and the directory devlog happens to run in is not it.

    Returns:
        The normalised path, or "" for an empty/blank input (or a relative one, see above).
    """
    path = path.strip()
    if spelling_depends_on_environment(path):
        if not relative_to_cwd and not path.startswith("~"):
            return ""
        return _normalise(path)  # depends on $HOME / the working directory: not cacheable
    return _normalise_cached(path)


def spelling_depends_on_environment(path: str) -> bool:
    """Whether `normalise_workspace`'s answer for `path` depends on `$HOME` or the working directory
    (a `~` or relative path), so it may not be remembered; an absolute path's spelling never changes."""
    path = path.strip()
    return path.startswith("~") or not (path.startswith(("/", "\\\\", "file://")) or _WINDOWS_DRIVE.match(path))


@functools.lru_cache(maxsize=4096)
def _normalise_cached(path: str) -> str:
    return _normalise(path)


def normalise_file_path(path: str, workspace: str | None) -> str:
    """The one spelling of a file an agent touched, as `normalise_workspace` spells folders, so one file
    is one string whichever agent or shell wrote it (`c:\\Users\\x\\a.cs` -> `C:/Users/x/a.cs`).

    A relative path (Cursor's `target_file`) is taken from `workspace` (already normalised); without
    one, or for `~/...` (whose home?), it stays as recorded.
    """
    stripped = path.strip()
    if not stripped or stripped.startswith("~"):
        return path
    if stripped.startswith(("/", "\\\\", "file://")) or _WINDOWS_DRIVE.match(stripped):
        spelled = _normalise_cached(stripped)
    elif workspace:
        spelled = _normalise(f"{workspace.rstrip('/')}/{stripped}")
    else:
        return path
    return spelled if spelled and len(spelled) <= MAX_PATH_LENGTH else path


def _normalise(path: str) -> str:
    if not path:
        return ""
    if path.startswith("file://"):
        path = _file_uri_path(path)
    if path.startswith("/") and _WINDOWS_DRIVE.match(path[1:]):
        path = path[1:]  # `/c:/x`, as URI paths spell drive letters
    if is_windows_path(path):
        return _normalise_windows(path)
    if path.startswith("//") and not path.startswith("///"):
        # A UNC share written with forward slashes (as `uri_to_path` returns it): keep the `//`.
        return "//" + posixpath.normpath("/" + path[2:]).lstrip("/").rstrip("/")
    expanded = str(Path(path).expanduser()) if path.startswith("~") else path
    if not expanded.startswith("/"):
        expanded = f"{Path.cwd()}/{expanded}"
    normalised = posixpath.normpath(expanded)
    if normalised.startswith("//"):
        normalised = "/" + normalised.lstrip("/")
    return normalised if normalised == "/" else normalised.rstrip("/")


def _file_uri_path(uri: str) -> str:
    from urllib.parse import unquote

    parts = urlsplit(uri)
    path = unquote(parts.path)
    if parts.netloc and parts.netloc != "localhost":
        return f"//{parts.netloc}{path}"
    if re.match(r"^/[A-Za-z]:", path):
        return path[1:]
    return path


def _normalise_windows(path: str) -> str:
    forward = path.replace("\\", "/")
    if forward.startswith("//"):
        body = posixpath.normpath("/" + forward.lstrip("/"))
        return ("/" + body).rstrip("/") or "//"
    drive, rest = forward[0].upper() + ":", forward[2:]
    rest = posixpath.normpath("/" + rest.lstrip("/"))
    return drive + (rest if rest != "/" else "/")


# -- git ---------------------------------------------------------------------------------------


def normalise_remote(url: str) -> str | None:
    """A credential-free, `.git`-less https form of a git remote URL (None if unusable).

    `git@github.com:o/r.git`, `ssh://git@github.com:22/o/r`, `https://user:tok@github.com/o/r.git`
    and `git://github.com/o/r` all become `https://github.com/o/r`. Local paths keep their path.
    """
    url = url.strip()
    if not url:
        return None
    if "://" in url:
        parts = urlsplit(url)
        host = parts.hostname or ""
        path = parts.path
        if parts.scheme == "file" or not host:
            return _strip_git_suffix(path) or None
        scheme = "http" if parts.scheme == "http" else "https"
        # An ssh/git port says nothing about the web address: keep a port only for http(s).
        netloc = f"{host}:{parts.port}" if parts.scheme in ("http", "https") and parts.port else host
        return urlunsplit((scheme, netloc, _strip_git_suffix(path), "", ""))
    match = _SCP_LIKE.match(url)
    if match and not is_windows_path(url):
        path = "/" + match.group("path").lstrip("/")
        return f"https://{match.group('host')}{_strip_git_suffix(path)}"
    return _strip_git_suffix(url) or None


@functools.lru_cache(maxsize=1024)
def _normalised_remote(url: str) -> str | None:
    return normalise_remote(url)


def credential_free_git(git: GitInfo) -> GitInfo:
    """`git` with its remote in the one credential-free form of `normalise_remote` (same object if so).

    Agents record a remote as it was configured, and one configured as `https://user:token@host/...`
    would otherwise carry the token in every event of the session, locally and to every remote.
    """
    remote = _normalised_remote(git.remote) if git.remote else None
    if remote == git.remote:
        return git
    return GitInfo(remote=remote, branch=git.branch, commit=git.commit)


def _strip_git_suffix(path: str) -> str:
    path = path.rstrip("/")
    return path[:-4] if path.endswith(".git") else path


def _read_small(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_GIT_FILE + 1)
    except OSError:
        return None
    if len(data) > _MAX_GIT_FILE:
        return None
    return data.decode("utf-8", "replace")


def _find_git(start: str) -> tuple[Path, Path] | None:
    """(work tree root, its `.git` dir or file) of the repository containing `start`."""
    try:
        current = Path(start)
        for _ in range(64):
            candidate = current / ".git"
            if candidate.exists():
                return current, candidate
            if current.parent == current:
                return None
            current = current.parent
    except OSError:
        return None
    return None


def _git_dirs(dot_git: Path) -> tuple[Path, Path] | None:
    """(git dir, common dir) for a `.git` directory or a `gitdir:` file."""
    if dot_git.is_dir():
        git_dir = dot_git
    else:
        text = _read_small(dot_git)
        if not text or not text.startswith("gitdir:"):
            return None
        target = Path(text[len("gitdir:") :].strip())
        git_dir = target if target.is_absolute() else (dot_git.parent / target)
        if not git_dir.is_dir():
            return None
    common = git_dir
    commondir = _read_small(git_dir / "commondir")
    if commondir and commondir.strip():
        target = Path(commondir.strip())
        with contextlib.suppress(OSError):
            common = (target if target.is_absolute() else git_dir / target).resolve()
    return git_dir, common


def _resolve_ref(git_dir: Path, common: Path, ref: str) -> str | None:
    for base in (git_dir, common):
        text = _read_small(base / ref)
        if text and re.fullmatch(r"[0-9a-f]{40,64}", text.strip()):
            return text.strip()
    packed = _read_small(common / "packed-refs")
    if packed:
        for line in packed.splitlines():
            if line.endswith(" " + ref) and not line.startswith(("#", "^")):
                sha = line.split(" ", 1)[0]
                if re.fullmatch(r"[0-9a-f]{40,64}", sha):
                    return sha
    return None


def _remote_url(config_text: str) -> str | None:
    """`origin`'s url (else the first remote's) from a git config file."""
    urls: dict[str, str] = {}
    section: tuple[str, str | None] | None = None
    for raw in config_text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        match = _SECTION.match(line)
        if match:
            section = (match.group("name").lower(), match.group("sub"))
            continue
        if section and section[0] == "remote" and section[1] is not None and "=" in line:
            key, _, value = line.partition("=")
            if key.strip().lower() == "url" and section[1] not in urls:
                urls[section[1]] = value.strip().strip('"')
    if not urls:
        return None
    return urls.get("origin") or next(iter(urls.values()))


def read_git_info(workspace: str) -> tuple[str | None, GitInfo | None]:
    """(project name, git state) of the repository containing `workspace`, from its files.

    The project name is the repository's top folder name; for a linked worktree it is the main
    repository's folder name, so a project's worktrees group together. (None, None) outside git.
    """
    found = _find_git(workspace)
    if found is None:
        return None, None
    top, dot_git = found
    dirs = _git_dirs(dot_git)
    if dirs is None:
        return top.name or None, None
    git_dir, common = dirs
    project = top.name
    if common != git_dir and common.name == ".git":
        project = common.parent.name or project
    branch: str | None = None
    commit: str | None = None
    head = (_read_small(git_dir / "HEAD") or "").strip()
    if head.startswith("ref:"):
        ref = head[4:].strip()
        branch = ref.removeprefix("refs/heads/")
        commit = _resolve_ref(git_dir, common, ref)
    elif re.fullmatch(r"[0-9a-f]{40,64}", head):
        commit = head
    remote_raw = _remote_url(_read_small(common / "config") or "")
    remote = normalise_remote(remote_raw) if remote_raw else None
    if not (remote or branch or commit):
        return project or None, None
    return project or None, GitInfo(remote=remote, branch=branch, commit=commit)


@dataclass(frozen=True)
class WorkspaceInfo:
    """What devlog knows about one workspace folder."""

    workspace: str
    project: str | None
    git: GitInfo | None


class WorkspaceResolver:
    """Project and git state per workspace, cached for `ttl` seconds.

    Args:
        ttl: seconds a lookup stays valid (git state changes on checkout/commit).
        clock: monotonic clock (tests inject one).
    """

    def __init__(self, ttl: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, WorkspaceInfo]] = {}

    def resolve(self, workspace: str) -> WorkspaceInfo:
        """Project and git state of an already normalised workspace path."""
        now = self._clock()
        hit = self._cache.get(workspace)
        if hit is not None and hit[0] > now:
            return hit[1]
        info = self._lookup(workspace)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[workspace] = (now + self.ttl, info)
        return info

    @staticmethod
    def _lookup(workspace: str) -> WorkspaceInfo:
        fallback = workspace.rstrip("/").rsplit("/", 1)[-1] or None
        if is_windows_path(workspace) and sys.platform != "win32":
            return WorkspaceInfo(workspace, fallback, None)
        try:
            project, git = read_git_info(workspace)
        except (OSError, ValueError):
            project, git = None, None
        return WorkspaceInfo(workspace, project or fallback, git)


# -- machine and user --------------------------------------------------------------------------


def _machine_secret() -> str:
    for candidate in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        with contextlib.suppress(OSError):
            value = Path(candidate).read_text(encoding="ascii", errors="replace").strip()
            if value:
                return value
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        with contextlib.suppress(OSError, ImportError):
            import winreg

            key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\Cryptography")
            value, _ = winreg.QueryValueEx(key, "MachineGuid")
            if value:
                return str(value)
    return f"{socket.gethostname()}\x1f{current_user()}"


@functools.lru_cache(maxsize=1)
def machine_id() -> str:
    """A stable, non-reversible id of this machine (16 hex chars).

    sha256 of `/etc/machine-id` (Windows: MachineGuid), else of hostname + user; `DEVLOG_MACHINE_ID`
    overrides it (containers whose machine-id changes per run).
    """
    override = os.environ.get("DEVLOG_MACHINE_ID", "").strip()
    if override:
        return override[:64]
    digest = hashlib.sha256(b"devlog-machine\x1f" + _machine_secret().encode("utf-8", "replace"))
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def current_user() -> str:
    """The login name of the user running the collector (`DEVLOG_USER` overrides it)."""
    override = os.environ.get("DEVLOG_USER", "").strip()
    if override:
        return override[:256]
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"
