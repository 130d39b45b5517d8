"""`devlog status`: where devlog looks, what it has, and what went wrong.

Opens the store read-only (works while `devlog start` runs) and imports only what it needs, so it
answers quickly.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import click

from devlog_collector.sizes import disk_free, human_bytes

#: `storage.min_free_bytes`'s default (status reads no config module without a config file; a test
#: keeps the two equal).
DEFAULT_MIN_FREE_BYTES = 256 * 1024 * 1024

__all__ = ["gather_status", "status"]


def _sources(config: Any) -> list[dict[str, Any]]:
    from devlog_collector.sources import load_source_class, source_roots

    found: list[dict[str, Any]] = []
    if not config.collect.enabled:
        return found
    for name in config.collect.agents:
        configured = config.collect.roots.get(name)
        try:
            cls = load_source_class(name)
        except (ImportError, AttributeError) as exc:
            found.append({"source": name, "roots": [], "found": False, "error": f"source not available: {exc}"})
            continue
        roots = source_roots(cls, config)
        checked = []
        for root in roots:
            problem = cls.root_problem(root)
            checked.append({"path": str(root), "exists": root.exists(), **({"problem": problem} if problem else {})})
        entry = {
            "source": name,
            "roots": checked,
            "found": any(r["exists"] and "problem" not in r for r in checked),
            "configured": configured is not None,
        }
        if cls.env_var:
            entry["env_var"] = cls.env_var
        found.append(entry)
    for generic in config.collect.generic:
        from devlog_collector.sources.generic import GenericJsonlSource

        source = GenericJsonlSource(generic)
        root = source.roots[0]
        found.append(
            {
                "source": source.source_id,
                "roots": [{"path": source.pattern, "exists": root.exists()}],
                "found": root.exists(),
                "configured": True,
            }
        )
    return found


def _shown_root(root: dict[str, Any]) -> str:
    if not root["exists"]:
        return f"{root['path']} (missing)"
    problem = root.get("problem")
    return f"{root['path']} ({problem})" if problem else root["path"]


def _collector_running(db_path: Path) -> bool | None:
    """True if a collector holds the store's writer lock (None if unknown)."""
    from devlog_collector.lock_files import writer_lock_held

    return writer_lock_held(db_path)


def _shown_time(iso: str) -> str:
    """An ISO time of `status --json` as the table shows it: local time with the zone's name, as the
    other commands show times (local), but named, since status mixes times of several origins."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    except (ValueError, OverflowError, OSError):
        return iso


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


def _store_facts(db_path: Path) -> dict[str, Any]:
    size = sum(Path(f"{db_path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{db_path}{s}").exists())
    facts: dict[str, Any] = {"path": str(db_path), "exists": db_path.exists(), "size_bytes": size}
    if not db_path.exists():
        from devlog_collector.storage_location import first_load_note, first_load_path

        with contextlib.suppress(OSError):  # a new store's first load, built beside its name
            facts["first_load_bytes"] = first_load_path(db_path).stat().st_size
            facts["first_load_running"] = bool(_collector_running(db_path))
            facts["first_load_note"] = first_load_note(db_path)
        return facts
    if db_path.is_dir():
        facts["error"] = f"cannot read the store: {db_path} is a folder, not a devlog store (check storage.events_db)"
        facts["size_bytes"] = 0
        return facts
    if size == 0:  # created by a collector an instant before its first migration, or emptied
        return facts
    from devlog_collector.read_only_store import connect_read_only

    try:
        db = connect_read_only(db_path)
    except sqlite3.Error as exc:
        facts["error"] = _unreadable(exc, db_path)
        return facts
    try:
        facts["events"] = {
            agent: {"events": n, "newest": _iso(newest)}
            for agent, n, newest in db.execute("SELECT agent, count(*), max(ts) FROM events GROUP BY agent")
        }
        facts["files_tracked"] = dict(db.execute("SELECT source, count(*) FROM collect_cursors GROUP BY source"))
        # Meta key of Store.defer_secondary_indexes (a literal: status must not import the store).
        deferred = db.execute("SELECT value FROM meta WHERE key = 'secondary_indexes_deferred'").fetchone()
        facts["indexes_deferred_since"] = _iso(int(deferred[0])) if deferred else None
        run = db.execute(
            "SELECT started_at, finished_at, events_added, files_read FROM collect_runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        facts["last_collect"] = (
            None
            if run is None
            else {
                "started_at": _iso(run[0]),
                "finished_at": _iso(run[1]),
                "events_added": run[2],
                "files_read": run[3],
            }
        )
        errors: dict[str, Any] = {}
        for source, problems, occurrences in db.execute(
            "SELECT source, count(*), sum(count) FROM parse_errors GROUP BY source"
        ):
            latest = db.execute(
                "SELECT path, position, message, last_seen FROM parse_errors WHERE source = ? "
                "ORDER BY last_seen DESC, id DESC LIMIT 1",
                (source,),
            ).fetchone()
            errors[source] = {
                "problems": problems,
                "occurrences": occurrences,
                "latest": {"path": latest[0], "position": latest[1], "message": latest[2], "seen": _iso(latest[3])},
            }
        facts["parse_errors"] = errors
    except sqlite3.Error as exc:
        facts["error"] = _unreadable(exc, db_path)
    finally:
        db.close()
    return facts


def _unreadable(exc: sqlite3.Error, db_path: Path) -> str:
    from devlog_collector.errors import store_failure
    from devlog_collector.read_only_store import FOLDER_READ_ONLY_HINT, shared_memory_refused

    hint = FOLDER_READ_ONLY_HINT if shared_memory_refused(exc) else ""
    return store_failure(f"cannot read the store: {exc}{hint}", exc, db_path)


def default_config_view() -> Any:
    """The parts of the default `Config()` status reads, without loading the config module.

    With no config file there is nothing to read or validate (no YAML parser to import), so status
    answers from these defaults (a test keeps them equal to `Config()`'s).
    """
    from types import SimpleNamespace

    from devlog_collector.paths import home_dir
    from devlog_shared.events import KNOWN_AGENTS

    db_path = home_dir() / "data" / "events.db"
    return SimpleNamespace(
        collect=SimpleNamespace(enabled=True, agents=list(KNOWN_AGENTS), roots={}, generic=[]),
        storage=SimpleNamespace(db_path=lambda: db_path, min_free_bytes=DEFAULT_MIN_FREE_BYTES),
    )


def gather_status() -> dict[str, Any]:
    """Everything `devlog status` shows, as plain data."""
    from devlog_collector.paths import config_path, missing_config_warnings

    if config_path().exists():
        from devlog_collector.config import load_config

        # As for collection: a broken export section is shown as warnings, so that status still
        # shows everything else (it is where a user looks first).
        config, warnings = load_config(for_collection=True)
    else:
        config, warnings = default_config_view(), missing_config_warnings()
    db_path = config.storage.db_path()
    store = _store_facts(db_path)
    if not store["exists"] and not store.get("error"):
        from devlog_collector.storage_location import file_in_the_way

        blocking = file_in_the_way(db_path.parent)
        if blocking is not None:
            store["error"] = f"the store cannot be created: {blocking} is a file, not a folder"
    paused = _disk_pause(db_path, config.storage.min_free_bytes) or _disk_was_full(db_path)
    if paused:
        store["paused"] = paused
    return {
        "config": {"path": str(config_path()), "exists": config_path().exists(), "warnings": warnings},
        "collector_running": _collector_running(db_path),
        "sources": _sources(config),
        "store": store,
    }


def _disk_pause(db_path: Path, min_free: int) -> str | None:
    """Why collection is paused for disk space right now (the collector's own test), or None."""
    if min_free <= 0:
        return None
    free = disk_free(db_path)
    if free is None or free >= min_free:  # (unreadable, or no statvfs on Windows: no pause shown)
        return None
    return (
        f"collection is paused: only {human_bytes(free)} free on the store's disk, below storage.min_free_bytes "
        f"({human_bytes(min_free)}); it resumes once space returns"
    )


def _disk_was_full(db_path: Path) -> str | None:
    """Why collection stopped, when the collector's last write found the disk full (its mark), or None."""
    from devlog_collector import disk_full_marker

    when = disk_full_marker.marked_at(db_path)
    if when is None:
        return None
    at = _shown_time(_iso(int(when * 1000)) or "")
    return (
        f"collection is paused: the store's disk was full at {at} (a write failed); "
        "free some space, and the next pass goes on from where it stopped"
    )


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option("--problems", is_flag=True, help="List every recorded problem (file, position, message), newest first.")
def status(as_json: bool, problems: bool) -> None:
    """Sources found, files tracked, events per agent, last collect, parse errors, store size."""
    if problems:
        _print_problems(as_json)
        return
    facts = gather_status()
    if as_json:
        click.echo(json.dumps(facts, indent=2))
    else:
        _render(facts)
    if facts["store"].get("error"):  # a damaged or unreadable store is not a healthy collector
        click.get_current_context().exit(1)


def _render(facts: dict[str, Any]) -> None:
    from rich.markup import escape as escape_markup
    from rich.table import Table

    from devlog_collector.query.table import clean_text, rich_console

    def escape(text: str) -> str:
        """Names, paths and messages as text: no rich markup, no terminal controls (a log file can be
        named `evil\x1b[31m.jsonl`); line breaks between roots are kept."""
        return escape_markup(clean_text(text, newlines=True))

    console = rich_console(highlight=False)
    store = facts["store"]
    running = {True: "running", False: "not running", None: "unknown"}[facts["collector_running"]]
    size = human_bytes(store["size_bytes"]) if store["exists"] else "not created yet"
    console.print(f"[bold]store[/] {escape(store['path'])} ({size}) · collector {running}")
    if store.get("first_load_note"):
        console.print(escape(store["first_load_note"]))
    config = facts["config"]
    console.print(f"[bold]config[/] {config['path']}" + ("" if config["exists"] else " (not present: defaults)"))
    for warning in config["warnings"]:
        console.print(f"  warning: {warning}", style="yellow")
    if store.get("error"):
        console.print(f"[bold red]error[/] {escape(store['error'])}", highlight=False)
    if store.get("paused"):
        console.print(f"[bold yellow]paused[/] {escape(store['paused'])}")
    last = store.get("last_collect")
    if store.get("error"):
        pass  # (nothing below the error can be read from the store)
    elif last:
        running_now = facts["collector_running"]
        started = _shown_time(last["started_at"])
        if last["finished_at"]:
            when = _shown_time(last["finished_at"])
        elif running_now:  # `devlog start`: its counts are recorded as it goes
            when = f"running since {started}"
        elif running_now is False:
            when = f"{started} (interrupted)"
        else:
            when = f"{started} (running or interrupted)"
        from devlog_collector.wording import counted

        # Reads, not files: a daemon reads a file again each time it grows (and a pass follows a
        # rotated log into its renamed file). A run records its counts every few seconds: one killed
        # before its first record has none, though what it stored is in the table below.
        added, files = last["events_added"], last["files_read"]
        if not last["finished_at"] and running_now is False and not added and not files:
            said = "no counts recorded (stopped before its first record; the table shows what the store holds)"
        elif not last["finished_at"] and running_now and not added and not files:
            said = "no counts recorded yet (the table shows what the store holds so far)"
        else:
            said = f"{counted(added, 'event')} from {counted(files, 'file read', 'file reads')}"
        console.print(f"[bold]last collect[/] {when}: {said}")
    else:
        console.print("[bold]last collect[/] never: run `devlog collect` or `devlog start`")

    if store.get("indexes_deferred_since"):
        later = "when it finishes" if facts["collector_running"] else "by the next `devlog collect` or `devlog start`"
        console.print(
            "[yellow]indexes[/] a large history load dropped the store's secondary indexes at "
            f"{_shown_time(store['indexes_deferred_since'])}; they are rebuilt {later} (queries scan meanwhile)"
        )
    tracked = store.get("files_tracked", {})
    events = store.get("events", {})
    errors = store.get("parse_errors", {})
    table = Table(title="sources", title_justify="left")
    for column in ("source", "found", "roots", "files", "events", "problems"):
        table.add_column(
            column,
            justify="right" if column in ("files", "events", "problems") else "left",
            no_wrap=column == "source",  # (a narrow terminal cut copilot, codex and cursor alike to "co…")
            min_width=7 if column == "source" else None,
        )
    collected: set[str] = set()
    for source in facts["sources"]:
        name = source["source"]
        agent = name.split(":", 1)[1] if name.startswith("generic:") else name
        collected.add(agent)
        roots = "\n".join(_shown_root(r) for r in source["roots"])
        if source.get("error"):
            roots = source["error"]
        table.add_row(
            escape(name),
            "yes" if source["found"] else "no",
            escape(roots),
            str(tracked.get(name, 0)),
            str(events.get(agent, {}).get("events", 0)),
            str(errors.get(name, {}).get("problems", 0)),
        )
    for agent in sorted(set(events) - collected):  # stored before it left the config: still there, still queried
        table.add_row(
            escape(agent), "-", "not collected now (not in the config's sources)", str(tracked.get(agent, 0)),
            str(events[agent]["events"]), str(errors.get(agent, {}).get("problems", 0)),
        )  # fmt: skip
    console.print(table)
    for name, info in sorted(errors.items()):
        latest = info["latest"]
        count = info["problems"]
        console.print(
            f"[yellow]{escape(name)}[/]: {count} problem{'s' if count != 1 else ''}; latest {escape(latest['path'])} "
            f"{escape(latest['position'])}: {escape(latest['message'])}"
        )
    if any(info["problems"] > 1 for info in errors.values()):
        console.print("(`devlog status --problems` lists them all)")


def _print_problems(as_json: bool) -> None:
    """`status --problems`: every recorded problem, grouped by file, newest first."""
    from devlog_collector.errors import StoreError
    from devlog_collector.storage_location import configured_db_path, no_store_yet

    db_path = configured_db_path()
    if not db_path.exists():
        raise StoreError(no_store_yet(db_path))
    from devlog_collector.read_only_store import connect_read_only

    try:
        db = connect_read_only(db_path)
        try:
            rows = db.execute(
                "SELECT source, path, position, message, count, last_seen FROM parse_errors "
                "ORDER BY last_seen DESC, id DESC"
            ).fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise StoreError(_unreadable(exc, db_path)) from exc
    listed = [
        {"source": source, "path": path, "position": position, "message": message, "count": count,
         "last_seen": _iso(last_seen)}
        for source, path, position, message, count, last_seen in rows
    ]  # fmt: skip
    if as_json:
        click.echo(json.dumps(listed, indent=2))
        return
    if not listed:
        click.echo("no problems recorded")
        return
    from devlog_collector.query.table import clean_text

    by_file: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for problem in listed:
        by_file.setdefault((problem["source"], problem["path"]), []).append(problem)
    for (source, path), problems in by_file.items():
        click.echo(f"{source} {clean_text(path)}")
        for problem in problems:
            times = f"{problem['count']}x, " if problem["count"] > 1 else ""
            seen = _shown_time(problem["last_seen"]) if problem["last_seen"] else "?"
            click.echo(f"  {clean_text(problem['position'])}: {clean_text(problem['message'])} ({times}{seen})")
