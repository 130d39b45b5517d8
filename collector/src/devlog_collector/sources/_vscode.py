"""VS Code storage conventions shared by the Copilot and Cursor sources.

Both agents live in a VS Code-style `User` folder where each opened folder gets a
`workspaceStorage/<hash>/` directory whose `workspace.json` names the folder as a URI. Turning that
URI into the path the agent worked in has pitfalls the original devlog got wrong: percent-encoding
(`%20`, `c%3A`), multi-root `.code-workspace` files (whose folders are relative to the file), and
`vscode-remote://` URIs (SSH, WSL, dev containers) whose path lives on another machine.

`workspace.json` and the `.code-workspace` file it names are side files: read only when they are
regular files, with a bound (`_side_files`), and a leading UTF-8 byte-order mark is skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from devlog_collector.sources._side_files import read_side_file, without_bom
from devlog_collector.sources._values import as_dict, as_list, as_str, load_json_bytes

__all__ = ["WorkspaceInfo", "WorkspaceResolver", "uri_to_path", "workspace_storage_change"]

_WINDOWS_DRIVE = re.compile(r"^/[A-Za-z]:")
_JSONC_COMMENTS = re.compile(r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/', re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


@dataclass(frozen=True)
class WorkspaceInfo:
    """The folder a VS Code workspace storage hash stands for."""

    path: str | None
    attrs: dict[str, Any] = field(default_factory=dict)


def workspace_storage_change(path: Path, root: Path, names: tuple[str, ...]) -> bool:
    """Whether a change at `path` concerns a source reading `<root>/workspaceStorage`: a workspace
    folder (new) or an entry of one whose name starts with one of `names`."""
    storage = root / "workspaceStorage"
    if path == storage:
        return True
    if not path.is_relative_to(storage):
        return False
    parts = path.relative_to(storage).parts
    return len(parts) == 1 or parts[1].startswith(names)


def uri_to_path(uri: Any) -> tuple[str | None, str | None]:
    """`(path, remote_authority)` from a `file://`/`vscode-remote://` URI string or a URI object.

    URI objects (`{scheme, path, fsPath, authority}`, as VS Code serialises them) and plain paths
    are accepted too. Windows drive paths lose their leading slash (`/c:/x` -> `c:/x`).
    """
    if isinstance(uri, dict):
        path = as_str(uri.get("fsPath")) or as_str(uri.get("path")) or as_str(uri.get("external"))
        if path is None:
            return None, None
        if path.startswith(("file:", "vscode-remote:")):
            return uri_to_path(path)
        remote = as_str(uri.get("authority")) if uri.get("scheme") == "vscode-remote" else None
        return _strip_drive_slash(path), remote
    if not isinstance(uri, str) or not uri:
        return None, None
    if "://" not in uri:
        return uri, None
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. an unclosed `[` read as an IPv6 host
        return None, None
    path = unquote(parts.path)
    if not path:
        return None, None
    if parts.scheme == "vscode-remote":
        return path, unquote(parts.netloc) or None
    if parts.scheme == "file":
        if parts.netloc and parts.netloc != "localhost":  # UNC share: file://server/share/x
            return f"//{parts.netloc}{path}", None
        return _strip_drive_slash(path), None
    return path, None


def _strip_drive_slash(path: str) -> str:
    return path[1:] if _WINDOWS_DRIVE.match(path) else path


def _expand_user(path: Path) -> Path:
    """`path` with a leading `~` expanded; as written when there is no such user."""
    try:
        return path.expanduser()
    except RuntimeError:
        return path


def _load_jsonc(text: str) -> Any:
    """Parse VS Code's JSON-with-comments (comments and trailing commas allowed)."""
    try:
        return json.loads(text)
    except ValueError:
        stripped = _JSONC_COMMENTS.sub(lambda m: m.group(1) or "", text)
        return json.loads(_TRAILING_COMMA.sub(r"\1", stripped))


class WorkspaceResolver:
    """Resolves `workspaceStorage/<hash>` folders to workspace paths, cached by file mtime."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[int, WorkspaceInfo]] = {}

    def resolve(self, storage_dir: Path) -> WorkspaceInfo:
        """The workspace of `storage_dir` (a `workspaceStorage/<hash>` folder); path None if unknown."""
        manifest = storage_dir / "workspace.json"
        try:
            mtime = manifest.stat().st_mtime_ns
        except OSError:
            return WorkspaceInfo(None, {"workspace_storage": storage_dir.name})
        cached = self._cache.get(manifest)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        info = self._read(manifest, storage_dir.name)
        self._cache[manifest] = (mtime, info)
        return info

    def _read(self, manifest: Path, storage_hash: str) -> WorkspaceInfo:
        attrs: dict[str, Any] = {"workspace_storage": storage_hash}
        raw = read_side_file(manifest)
        if raw is None:
            return WorkspaceInfo(None, attrs)
        document, _error = load_json_bytes(raw)
        data = as_dict(document)
        if "folder" in data:
            path, remote = uri_to_path(data["folder"])
        elif "workspace" in data:
            path, remote = self._multi_root(data["workspace"], attrs)
        else:
            return WorkspaceInfo(None, attrs)
        if remote:
            attrs["remote"] = remote
        return WorkspaceInfo(path, attrs)

    @staticmethod
    def _multi_root(uri: Any, attrs: dict[str, Any]) -> tuple[str | None, str | None]:
        """The first folder of a `.code-workspace` file (its own folder if it lists none)."""
        file_path, remote = uri_to_path(uri)
        if file_path is None:
            return None, remote
        attrs["workspace_file"] = file_path
        fallback = str(Path(file_path).parent) if "/" in file_path or "\\" in file_path else None
        if remote:  # the file is on another machine; we cannot read it
            return fallback, remote
        raw = read_side_file(Path(file_path))
        if raw is None:
            return fallback, remote
        try:
            config = as_dict(_load_jsonc(without_bom(raw).decode("utf-8")))
        except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
            return fallback, remote
        folders: list[str] = []
        for entry in as_list(config.get("folders")):
            entry = as_dict(entry)
            if as_str(entry.get("path")):
                folder = _expand_user(Path(entry["path"]))
                folders.append(str(folder if folder.is_absolute() else Path(file_path).parent / folder))
            elif as_str(entry.get("uri")):
                folder_path, _ = uri_to_path(entry["uri"])
                if folder_path:
                    folders.append(folder_path)
        if len(folders) > 1:
            from devlog_collector.workspace import normalise_workspace

            attrs["workspace_folders"] = [normalise_workspace(folder) for folder in folders]  # as `workspace` is
        return (folders[0] if folders else fallback), remote
