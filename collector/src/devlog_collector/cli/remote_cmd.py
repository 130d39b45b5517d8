"""`devlog remote add|edit|list|remove|test`: manage export remotes in config.yaml, keeping its comments.

Edits go through `config_edit.py` (round-trip, validated, atomic, 0600). API keys are never written
or printed: `--api-key-env VAR` writes `api_key: ${VAR}`, and listings mask resolved keys. A remote's
url is always printed through `mask_url` (its `user:password@` and `?access_token=` values masked),
as `config show` does. A key pasted where the variable's name belongs is refused without echoing it:
written as `${<key>}` it would sit in the file and be printed by every "is not set" warning.
"""

from __future__ import annotations

import json
import re
from typing import Any

import click

from devlog_collector.errors import UserError

__all__ = ["remote"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


@click.group()
def remote() -> None:
    """Add, edit, list, test or remove export remotes (edits config.yaml, keeping comments)."""


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--api-key-env", metavar="VAR", help="Environment variable holding the API key (written as ${VAR}).")
@click.option(
    "--include", multiple=True, metavar="GLOB", help="Workspace glob to export (repeatable), e.g. '~/work/**'."
)
@click.option("--exclude", multiple=True, metavar="GLOB", help="Workspace glob never to export (repeatable; wins).")
@click.option(
    "--auto-sync/--manual", default=False, show_default=True, help="Export in the background of `devlog start`."
)
@click.option("--interval", default=None, metavar="DURATION", help="Auto-sync interval, e.g. 30s, 5m.")
@click.option("--content", type=click.Choice(["full", "redacted", "metadata"]), default=None,
              help="What of each event is sent (default: redacted).")  # fmt: skip
def add(
    name: str,
    url: str,
    api_key_env: str | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    auto_sync: bool,
    interval: str | None,
    content: str | None,
) -> None:
    """Add remote NAME at URL."""
    from devlog_collector.config import mask_url
    from devlog_collector.config_edit import add_remote
    from devlog_collector.paths import config_path

    if not _NAME.match(name):
        raise UserError(f"invalid remote name {name!r}: use letters, digits, '.', '_' or '-' (max 64)")
    if api_key_env is not None:
        _check_api_key_env(api_key_env, name)
    spec: dict[str, Any] = {"url": url}
    if api_key_env:
        spec["api_key"] = "${" + api_key_env + "}"
    spec["auto_sync"] = auto_sync
    if interval:
        spec["sync_interval"] = interval
    if include or exclude:
        spec["workspaces"] = {}
        if include:
            spec["workspaces"]["include"] = list(include)
        if exclude:
            spec["workspaces"]["exclude"] = list(exclude)
    if content:
        spec["content"] = content
    path = config_path()
    config = add_remote(path, name, spec)
    click.echo(f"added remote {name} ({mask_url(config.export.remotes[name].url)}) to {path}", err=True)
    if not include:
        click.echo("note: it has no --include globs, so nothing is exported to it yet", err=True)
    else:
        _say_what_it_selects(config, name)
    if api_key_env and config.export.remotes[name].api_key in (None, ""):
        click.echo(f"note: ${api_key_env} is not set in this environment", err=True)


@remote.command("edit")
@click.argument("name")
@click.option("--url", default=None, help="New URL of the ingest server.")
@click.option("--api-key-env", metavar="VAR", help="Environment variable holding the API key (written as ${VAR}).")
@click.option("--include", multiple=True, metavar="GLOB", help="Replace the include globs (repeatable).")
@click.option("--add-include", multiple=True, metavar="GLOB", help="Add an include glob (repeatable).")
@click.option("--remove-include", multiple=True, metavar="GLOB", help="Remove an include glob (repeatable).")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Replace the exclude globs (repeatable).")
@click.option("--add-exclude", multiple=True, metavar="GLOB", help="Add an exclude glob (repeatable).")
@click.option("--remove-exclude", multiple=True, metavar="GLOB", help="Remove an exclude glob (repeatable).")
@click.option("--auto-sync/--manual", default=None, help="Export in the background of `devlog start`, or not.")
@click.option("--interval", default=None, metavar="DURATION", help="Auto-sync interval, e.g. 30s, 5m.")
@click.option("--content", type=click.Choice(["full", "redacted", "metadata"]), default=None,
              help="What of each event is sent.")  # fmt: skip
def edit(
    name: str,
    url: str | None,
    api_key_env: str | None,
    include: tuple[str, ...],
    add_include: tuple[str, ...],
    remove_include: tuple[str, ...],
    exclude: tuple[str, ...],
    add_exclude: tuple[str, ...],
    remove_exclude: tuple[str, ...],
    auto_sync: bool | None,
    interval: str | None,
    content: str | None,
) -> None:
    """Change settings of remote NAME, keeping the rest (and the file's comments).

    Changing its url or what it selects (globs, content) restarts its export cursor: history the
    new rules select is sent, and the server skips what it already holds. What was sent before
    stays on the server, also from workspaces the new globs leave out: devlog never deletes there.
    """
    from devlog_collector.config import mask_url
    from devlog_collector.config_edit import RemoteEdit, edit_remote
    from devlog_collector.paths import config_path

    if api_key_env is not None:
        _check_api_key_env(api_key_env, name)
    settings: dict[str, Any] = {}
    if url is not None:
        settings["url"] = url
    if api_key_env is not None:
        settings["api_key"] = "${" + api_key_env + "}"
    if auto_sync is not None:
        settings["auto_sync"] = auto_sync
    if interval is not None:
        settings["sync_interval"] = interval
    if content is not None:
        settings["content"] = content
    change = RemoteEdit(
        settings,
        globs={kind: list(given) for kind, given in (("include", include), ("exclude", exclude)) if given},
        add={"include": list(add_include), "exclude": list(add_exclude)},
        remove={"include": list(remove_include), "exclude": list(remove_exclude)},
    )
    if not (settings or change.changes_globs()):
        raise UserError("nothing to change: give at least one option (see `devlog remote edit --help`)")
    from devlog_collector.config import load_config
    from devlog_collector.export.exporter import rules_hash

    path = config_path()
    try:
        before, _ = load_config(path)
        old_rules = {remote: rules_hash(before, remote) for remote in before.export.remotes}
    except UserError:  # (an invalid file: the edit below says why)
        old_rules = {}
    config = edit_remote(path, name, change)
    click.echo(f"changed remote {name} ({mask_url(config.export.remotes[name].url)}) in {path}", err=True)
    if change.changes_globs():
        _say_what_it_selects(config, name)
    restarted = [r for r in config.export.remotes if old_rules.get(r, "") != rules_hash(config, r)]
    if restarted:  # (the default remote's rules include the others' globs: it gets what they leave)
        click.echo(
            f"export to {', '.join(restarted)} starts again from the first event the rules select (the server"
            " keeps one copy of each); what was sent before stays on the server, from every workspace: devlog"
            " never deletes there",
            err=True,
        )
    if api_key_env and config.export.remotes[name].api_key in (None, ""):
        click.echo(f"note: ${api_key_env} is not set in this environment", err=True)


def _check_api_key_env(value: str, remote: str) -> None:
    """Refuse a `--api-key-env` value that is not a variable's name; the value is never echoed (it
    may be the key itself). The example variable is named after the remote."""
    from devlog_collector.config import looks_like_a_key

    variable = "DEVLOG_" + re.sub(r"[^A-Z0-9]+", "_", remote.upper()).strip("_") + "_API_KEY"
    usage = (
        "--api-key-env takes the name of the environment variable that holds the key, not the key: "
        f"export {variable}=<key>, then pass --api-key-env {variable}"
    )
    if looks_like_a_key(value):
        raise UserError(f"{usage} (the value given looks like a key, so it was not written anywhere)")
    if not _ENV_NAME.match(value):
        hint = ", without $ or ${}" if value.startswith("$") else ""
        raise UserError(f"{usage} (the value given is not a variable name: letters, digits and _{hint})")


def _say_what_it_selects(config: Any, name: str) -> None:
    """How many collected workspaces and events the new remote's rules select (a glob with a typo
    selects nothing, and would otherwise only show as a remote that never receives anything)."""
    from devlog_collector.export.routing import Router
    from devlog_collector.export.status import workspace_counts
    from devlog_collector.store import Store

    db = config.storage.db_path()
    if not db.exists():
        return
    with Store.open(db, readonly=True) as store:
        every = workspace_counts(store)
    counts = {ws: n for ws, n in every.items() if ws is not None}
    if not counts:
        return
    router = Router(config)
    selected = {ws: n for ws, n in counts.items() if router.matches(name, ws)}
    # Events without a workspace go to the `export_default` remote (as `remote test` counts them).
    unplaced = every.get(None, 0) if router.matches(name, None) else 0
    if selected or unplaced:
        also = " and the events without one" if unplaced else ""
        click.echo(
            f"it selects {len(selected)} of the {len(counts)} collected workspaces{also} "
            f"({sum(selected.values()) + unplaced:,} events); `devlog remote test {name}` lists them",
            err=True,
        )
    else:
        click.echo(
            f"note: its rules select none of the {len(counts)} collected workspaces yet (a typo in a glob?);"
            f" `devlog remote test {name}` shows what they select",
            err=True,
        )


@remote.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Remove remote NAME (its export cursor and dead letters are forgotten; re-adding it backfills again)."""
    from devlog_collector.config_edit import remove_remote
    from devlog_collector.paths import config_path
    from devlog_collector.store import Store

    path = config_path()
    config = remove_remote(path, name)
    db = config.storage.db_path()
    if db.exists():
        # Its dead letters go with the cursor: a remote added later under the same name would
        # otherwise inherit them (and `--status` would count events it does not even select).
        with Store.open(db) as store, store.transaction() as tx:
            tx.execute("DELETE FROM export_cursors WHERE remote = ?", (name,))
            tx.execute("DELETE FROM dead_letters WHERE remote = ?", (name,))
    click.echo(f"removed remote {name} from {path}", err=True)


@remote.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_remotes(as_json: bool) -> None:
    """List configured remotes (API keys masked)."""
    from devlog_collector.cli.config_warnings import load_config_warned
    from devlog_collector.config import mask_secret, mask_url

    config = load_config_warned()
    rows: list[dict[str, Any]] = [
        {
            "name": name,
            "url": mask_url(r.url),
            "api_key": mask_secret(r.api_key),
            "auto_sync": r.auto_sync,
            "sync_interval_s": r.sync_interval.total_seconds(),
            "content": r.content,
            "include": r.workspaces.include,
            "exclude": r.workspaces.exclude,
            "default": config.export_default == name,
        }
        for name, r in sorted(config.export.remotes.items())
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no remotes configured (devlog remote add NAME URL --include GLOB)")
        return
    from rich.table import Table

    from devlog_collector.query.table import rich_console

    table = Table(box=None)
    for column in ("name", "url", "key", "sync", "content", "include", "exclude"):
        table.add_column(column)
    for row in rows:
        sync = f"auto {row['sync_interval_s']:g}s" if row["auto_sync"] else "manual"
        include = ", ".join(row["include"]) + (" (+ default)" if row["default"] else "")
        table.add_row(row["name"], row["url"], row["api_key"] or "-", sync, row["content"], include or "-",
                      ", ".join(row["exclude"]) or "-")  # fmt: skip
    rich_console().print(table)


@remote.command("test")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def test(name: str, as_json: bool) -> None:
    """Check remote NAME: reachable, key valid (whoami), and which local workspaces its rules select."""
    from devlog_collector.cli.config_warnings import load_config_warned
    from devlog_collector.config import mask_url
    from devlog_collector.errors import ExportError, RemoteUnavailable
    from devlog_collector.export.client import RemoteClient
    from devlog_collector.export.routing import Router
    from devlog_collector.export.status import workspace_counts
    from devlog_collector.store import Store

    config = load_config_warned()
    if name not in config.export.remotes:
        raise UserError(f"no remote named {name!r} (configured: {', '.join(sorted(config.export.remotes)) or 'none'})")
    rc = config.export.remotes[name]
    result: dict[str, Any] = {"name": name, "url": mask_url(rc.url), "reachable": False, "key_valid": False}
    client = RemoteClient(name, rc)
    try:
        who = client.whoami()
        result.update(reachable=True, key_valid=True, key_name=who.key_name, scopes=who.scopes,
                      allowed_workspaces=who.workspaces, server_version=who.server_version,
                      limits={"max_events_per_batch": who.limits.max_events_per_batch,
                              "max_body_bytes": who.limits.max_body_bytes})  # fmt: skip
    except RemoteUnavailable as exc:
        result["error"] = str(exc)
        result["reachable"] = exc.status_code is not None
        result["key_valid"] = None  # unknown: the server never judged the key
    except ExportError as exc:
        result["error"] = str(exc)
        result["reachable"] = True
        # Only a devlog server refusing the key says it is wrong; anything else leaves it unknown.
        result["key_valid"] = False if exc.status_code in (401, 403) else None
    finally:
        client.close()
    db = config.storage.db_path()
    store = Store.open(db, readonly=True) if db.exists() else None
    if store is None:
        from devlog_collector.storage_location import no_store_warning

        warning = no_store_warning(db)
        if warning is not None:  # (the counts that follow are of no store: say why they are zero)
            click.echo(warning, err=True)
    try:
        counts = workspace_counts(store)
    finally:
        if store is not None:
            store.close()
    router = Router(config)
    selected = {ws: n for ws, n in counts.items() if router.matches(name, ws)}
    result["workspaces"] = {str(ws) if ws is not None else "(none)": n for ws, n in sorted(selected.items(), key=str)}
    result["events"] = sum(selected.values())
    result["problems"] = _key_problems(result, selected) if result["key_valid"] is True else []
    ok = result["key_valid"] is True and not result["problems"]
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(f"{name}  {result['url']}")
        click.echo(f"  reachable: {'yes' if result['reachable'] else 'no'}")
        validity = {True: "yes", False: "no", None: "unknown"}[result["key_valid"]]
        known = result["key_valid"] is True
        about = f" (key {result['key_name']}, scopes {', '.join(result['scopes'])})" if known else ""
        click.echo(f"  key valid: {validity}{about}")
        if known and result["allowed_workspaces"]:
            click.echo(f"  key may send only workspaces matching: {', '.join(result['allowed_workspaces'])}")
        if "error" in result:
            click.echo(f"  error: {result['error']}")
        for problem in result["problems"]:
            click.echo(f"  problem: {problem}")
        click.echo(f"  selects {len(selected)} local workspace(s), {result['events']:,} events ({rc.content}):")
        for ws, n in sorted(selected.items(), key=lambda kv: (-kv[1], str(kv[0]))):
            click.echo(f"    {n:>10,}  {ws if ws is not None else '(no workspace)'}")
    if not ok:
        click.get_current_context().exit(1)


def _key_problems(result: dict[str, Any], selected: dict[str | None, int]) -> list[str]:
    """Why a valid key still cannot deliver what the remote's rules select (a read-only key, a key
    limited to other workspaces): found now rather than as a pause or dead letters at export."""
    from devlog_collector.export.routing import key_workspace_matcher

    problems = []
    scopes = result.get("scopes") or []
    if "ingest" not in scopes and "admin" not in scopes:
        problems.append("the key lacks the 'ingest' scope, so the server will refuse every export (403); "
                        "use a key created with the ingest scope")  # fmt: skip
    allows = key_workspace_matcher(result.get("allowed_workspaces") or [])
    outside = {ws: n for ws, n in selected.items() if allows is not None and not allows(ws)}
    if outside:
        shown = ", ".join(str(ws) if ws is not None else "(no workspace)" for ws in sorted(outside, key=str)[:5])
        more = f" and {len(outside) - 5} more" if len(outside) > 5 else ""
        problems.append(
            f"{len(outside)} selected workspace(s), {sum(outside.values()):,} events, are outside the key's "
            f"workspaces and would be rejected (dead letters): {shown}{more}; narrow the remote's include "
            "globs or widen the key"
        )
        home_problem = _home_outside_key_tilde(result.get("allowed_workspaces") or [])
        if home_problem:
            problems.append(home_problem)
    return problems


def _home_outside_key_tilde(key_globs: list[str]) -> str | None:
    """Why a key glob's `~` misses this user's home (the server reads it as any usual home), or None."""
    from pathlib import Path

    from wcmatch import glob

    from devlog_collector.export.routing import GLOB_FLAGS
    from devlog_shared.key_globs import ANY_HOME

    if not any(g.strip() == "~" or g.strip().startswith("~/") for g in key_globs):
        return None
    home = Path.home().as_posix()
    if glob.globmatch(home, ANY_HOME, flags=GLOB_FLAGS):
        return None
    return (
        f"the key's globs start with ~, which the server reads as any home folder under /home, /Users, "
        f"/var/home or /root, not as your home {home}; create the key with absolute globs "
        f"(e.g. {home}/work/**)"
    )
