"""Edits of `config.yaml` that keep the user's comments, order and formatting.

`devlog remote add|remove` change one part of a file the user also edits by hand, so the file is
loaded with ruamel.yaml's round-trip mode, changed in place, and dumped back: comments, key order and
quoting elsewhere stay as they were. The result is validated (exactly the text about to be written,
through the same loader `devlog` uses) before anything is written, and written atomically (temp file
in the same folder, fsync, rename) with mode 0600, so a failed or interrupted edit never leaves a
broken or half-written config. Secrets are never written: API keys go in as `${ENV_VAR}` references.

The rename must not undo the user's own arrangements: a `config.yaml` that is a symlink (into a
dotfiles repository) is edited where it points and stays a link, and a file the user made read-only
is refused rather than replaced by a writable one. A folder devlog cannot write in is one error line.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from devlog_collector.config import Config, parse_config
from devlog_collector.config_cache import refuse_recursive_aliases, yaml_problem
from devlog_collector.errors import UserError
from devlog_collector.paths import ensure_private_dir

__all__ = ["RemoteEdit", "add_remote", "edit_remote", "load_document", "remove_remote", "save_document"]


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def load_document(path: Path) -> CommentedMap:
    """The config file as a round-trip document (an empty one if the file does not exist)."""
    if not path.exists():
        return CommentedMap()
    try:
        doc = _yaml().load(path.read_text(encoding="utf-8"))
    except YAMLError as exc:  # worded as every other command words it (`line 3, column 2: ...`)
        raise UserError(f"{path} is not valid YAML", [yaml_problem(exc)]) from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    if doc is None:
        return CommentedMap()
    refuse_recursive_aliases(doc, path)
    if not isinstance(doc, CommentedMap):
        raise UserError(f"{path}: the top level must be a mapping of keys (collect, storage, export, ...)")
    return doc


def _render(doc: CommentedMap) -> str:
    buffer = io.StringIO()
    _yaml().dump(doc, buffer)
    return buffer.getvalue()


def save_document(path: Path, doc: CommentedMap) -> Config:
    """Validate `doc` and write it atomically (0600); returns the validated config.

    A change that would make the file invalid is refused with the problems it would cause; the file
    on disk is untouched (so the message must not say the file is invalid).
    """
    text = _render(doc)
    try:
        config, _warnings = parse_config(YAML(typ="safe").load(text), source=str(path))
        if config.export.remotes:
            from devlog_collector.export.routing import Router

            Router(config)  # refuse rules the exporter could not compile before writing them
    except UserError as exc:
        problems = exc.problems or [exc.message]
        raise UserError(f"{path} not changed: the change would make it invalid", problems) from None
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    named = f"{path} (a link to {target})" if target != path else str(path)
    _refuse_read_only(target, named)
    try:
        if target == path:
            ensure_private_dir(path.parent)  # devlog's home; a link's target folder is the user's own
        _write_atomically(target, text)
    except OSError as exc:
        raise UserError(
            f"cannot write {named}: {exc.strerror or exc} (the new config is written beside it, in "
            f"{target.parent}, then renamed over it); the file is unchanged"
        ) from None
    return config


def _refuse_read_only(target: Path, named: str) -> None:
    """A config the user made read-only (or cannot write) is theirs to unlock: the rename would
    otherwise replace it with a writable file (even where the folder allows it)."""
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UserError(f"cannot read {named}: {exc.strerror}") from None
    if not mode & stat.S_IWUSR or not os.access(target, os.W_OK):
        raise UserError(
            f"{named} is read-only, so devlog does not change it: make it writable (chmod u+w {target}) "
            "and run the command again, or edit it by hand"
        )


def _write_atomically(target: Path, text: str) -> None:
    """`text` into `target` through a temp file beside it (fsync, rename), mode 0600; OSError on failure."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


def add_remote(path: Path, name: str, spec: dict[str, Any]) -> Config:
    """Add remote `name` (refuses to overwrite an existing one); returns the new config."""
    doc = load_document(path)
    export = doc.setdefault("export", CommentedMap())
    if not isinstance(export, dict):
        raise UserError(f"{path}: `export` must be a mapping")
    remotes = export.get("remotes")
    if remotes is None:
        remotes = export["remotes"] = CommentedMap()
    if not isinstance(remotes, dict):
        raise UserError(f"{path}: `export.remotes` must be a mapping")
    if name in remotes:
        raise UserError(f"remote {name!r} already exists in {path} (remove it first: devlog remote remove {name})")
    same = [other for other in remotes if isinstance(other, str) and other.casefold() == name.casefold()]
    if same:
        raise UserError(f"remote {name!r} differs from the existing remote {same[0]!r} only in case: pick another name")
    remotes[name] = _commented(spec)
    return save_document(path, doc)


def remove_remote(path: Path, name: str) -> Config:
    """Remove remote `name`; returns the new config."""
    doc = load_document(path)
    remotes = (doc.get("export") or {}).get("remotes") or {}
    if name not in remotes:
        raise UserError(f"no remote named {name!r} in {path}")
    if doc.get("export_default") == name:
        raise UserError(f"remote {name!r} is the export_default; set `export_default: none` (or another remote) first")
    del remotes[name]
    if not remotes:
        _keep_comments_of_emptied(doc["export"], "remotes")
    return save_document(path, doc)


@dataclass
class RemoteEdit:
    """Changes to one remote (`devlog remote edit`): None / empty leaves a setting as it is."""

    settings: dict[str, Any] = field(default_factory=dict)  # url, api_key, auto_sync, sync_interval, content
    #: "include" / "exclude" -> the new list (replacing the old), and globs to add to / remove from it.
    globs: dict[str, list[str]] = field(default_factory=dict)
    add: dict[str, list[str]] = field(default_factory=dict)
    remove: dict[str, list[str]] = field(default_factory=dict)

    def changes_globs(self, kind: str | None = None) -> bool:
        """Whether it changes the `kind` ("include"/"exclude") globs, or any globs when None."""
        kinds = (kind,) if kind else ("include", "exclude")
        return any(k in self.globs or self.add.get(k) or self.remove.get(k) for k in kinds)


def edit_remote(path: Path, name: str, edit: RemoteEdit) -> Config:
    """Change remote `name` in place (its other settings and comments kept); returns the new config.

    A glob to remove that the list does not hold is refused by name (a typo would otherwise leave
    the workspace it meant exported).
    """
    doc = load_document(path)
    remotes = (doc.get("export") or {}).get("remotes") or {}
    if name not in remotes:
        known = ", ".join(str(other) for other in remotes) or "none configured"
        raise UserError(f"no remote named {name!r} in {path} (remotes: {known})")
    spec = remotes[name]
    if not isinstance(spec, dict):
        raise UserError(f"{path}: `export.remotes.{name}` must be a mapping")
    for key, value in edit.settings.items():
        spec[key] = value
    for kind in ("include", "exclude"):
        if not edit.changes_globs(kind):
            continue
        workspaces = spec.get("workspaces")
        if workspaces is None:
            workspaces = spec["workspaces"] = CommentedMap()
        if not isinstance(workspaces, dict):
            raise UserError(f"{path}: `export.remotes.{name}.workspaces` must be a mapping")
        current = list(edit.globs[kind]) if kind in edit.globs else list(workspaces.get(kind) or [])
        missing = [glob for glob in edit.remove.get(kind, []) if glob not in current]
        if missing:
            listed = ", ".join(repr(glob) for glob in current) or "none"
            raise UserError(
                f"remote {name!r} has no {kind} glob {', '.join(repr(g) for g in missing)} (its {kind} globs: {listed})"
            )
        current = [glob for glob in current if glob not in edit.remove.get(kind, [])]
        current += [glob for glob in edit.add.get(kind, []) if glob not in current]
        held = workspaces.get(kind)
        if not current:
            workspaces.pop(kind, None)
        elif kind not in edit.globs and isinstance(held, list):
            # changed in place: the list keeps its style (`[...]` or one per line) and its comments
            for glob in [glob for glob in held if glob not in current]:
                held.remove(glob)
            held.extend(glob for glob in current if glob not in held)
        else:
            workspaces[kind] = current
    return save_document(path, doc)


def _comment_texts(value: Any) -> list[str]:
    """The text of every comment token in a ruamel comment slot (tokens, lists of them, or None)."""
    if value is None:
        return []
    if isinstance(value, list):
        return [text for item in value for text in _comment_texts(item)]
    raw = getattr(value, "value", "")
    return [line.strip().lstrip("#").strip() for line in str(raw).splitlines() if line.strip().lstrip("#").strip()]


def _keep_comments_of_emptied(parent: CommentedMap, key: str) -> None:
    """Comments that sat between `key:` and its entries (`# the team server` above the last remote)
    would be written before the emptied mapping's `{}`, which is not valid YAML: they move to the
    line above `key:` instead."""
    child = parent[key]
    texts = _comment_texts(parent.ca.items.get(key)) + _comment_texts(getattr(child, "ca", None) and child.ca.comment)
    parent.ca.items.pop(key, None)
    if isinstance(child, CommentedMap):
        child.ca.comment = None
    if texts:
        indent = parent.lc.col if getattr(parent, "lc", None) is not None and parent.lc.col is not None else 0
        parent.yaml_set_comment_before_after_key(key, before="\n".join(dict.fromkeys(texts)), indent=indent)


def _commented(value: Any) -> Any:
    if isinstance(value, dict):
        mapping = CommentedMap()
        for key, item in value.items():
            mapping[key] = _commented(item)
        return mapping
    if isinstance(value, list):
        return [_commented(v) for v in value]
    return value
