"""`devlog export`: send what is pending to remotes now, preview it, or show per-remote status.

Thin: the work is in `devlog_collector.export`. Data (status tables, dry-run counts, `--json`) goes to
stdout; progress and problems go to stderr. Unlike the background daemon, which retries transient
failures forever, a manual export gives up after `--retries` consecutive failures and says so; the
events stay pending and nothing is lost. A manual export also resumes a paused remote.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import click

from devlog_collector.cli.config_warnings import load_config_warned
from devlog_collector.config import Config
from devlog_collector.errors import UserError

__all__ = ["export"]


def _open_store(db: Path, *, readonly: bool = True):  # type: ignore[no-untyped-def]
    from devlog_collector.store import Store

    if db.exists():
        return Store.open(db, readonly=readonly)
    from devlog_collector.storage_location import no_store_warning

    warning = no_store_warning(db)
    if warning is not None:  # (the counts that follow are of no store: say why they are zero)
        click.echo(warning, err=True)
    return None


def _chosen(config: Config, remotes: tuple[str, ...]) -> list[str]:
    from devlog_collector.export.routing import Router

    known = config.export.remotes
    if not known:
        raise UserError("no remotes configured: add one with `devlog remote add NAME URL --include GLOB`")
    unknown = [r for r in remotes if r not in known]
    if unknown:
        raise UserError(f"unknown remote(s): {', '.join(unknown)} (configured: {', '.join(sorted(known))})")
    if not remotes:
        router = Router(config)
        return [name for name in sorted(known) if router.has_rules(name)]
    return list(dict.fromkeys(remotes))


def _show_status(config: Config, db: Path, as_json: bool, only: tuple[str, ...] = ()) -> None:
    from rich.table import Table

    from devlog_collector.export.status import remote_statuses
    from devlog_collector.query.table import rich_console

    if only:
        _chosen(config, only)  # names an unknown remote: a one-line error
    store = _open_store(db)
    try:
        rows = [r for r in remote_statuses(config, store) if not only or r.name in only]
        reasons = _dead_letter_reasons(store, [r.name for r in rows if r.dead_letters])
    finally:
        if store is not None:
            store.close()
    if as_json:
        click.echo(json.dumps([r.to_json() for r in rows], indent=2))
        return
    if not rows:
        click.echo("no remotes configured (devlog remote add NAME URL --include GLOB)")
        return
    table = Table(box=None)
    for column in ("remote", "status", "pending", "sent", "last success", "dead letters"):
        table.add_column(column, justify="right" if column in ("pending", "sent", "dead letters") else "left")
    errors: list[str] = []
    for r in rows:
        table.add_row(
            r.name,
            r.status,
            f"{r.pending:,}",
            f"{r.sent_total:,}",
            r.last_success_at.isoformat(timespec="seconds") if r.last_success_at else "-",
            f"{r.dead_letters:,}",
        )
        # Whole (the exporter stores at most 1,000 characters): a pause reason ends with what to do.
        if r.status == "paused" and r.paused_reason:
            errors.append(f"{r.name}: paused: {r.paused_reason}")
        elif r.last_error and r.last_error_at is not None:
            when = r.last_error_at.isoformat(timespec="seconds")
            recovered = r.last_success_at is not None and r.last_success_at >= r.last_error_at
            label = "recovered since the last error" if recovered else "last error"
            errors.append(f"{r.name}: {label}, {when}: {r.last_error}")
    rich_console().print(table)
    for line in errors:  # below the table: a whole sentence at any terminal width
        click.echo(line)
    for name, counts in reasons.items():
        click.echo(f"{name}: rejected by the server (dead letters), by reason:")
        for reason, count in counts:
            click.echo(f"  {count:>9,}  {reason[:200]}")


def _dead_letter_reasons(store: Any, names: list[str], top: int = 5) -> dict[str, list[tuple[str, int]]]:
    """The most frequent dead-letter reasons of each remote (for `--status`)."""
    if store is None:
        return {}
    return {
        name: store.db.execute(
            "SELECT reason, count(*) FROM dead_letters WHERE remote = ? GROUP BY reason ORDER BY 2 DESC, 1 LIMIT ?",
            (name, top),
        ).fetchall()
        for name in names
    }


def _dry_run(config: Config, db: Path, names: list[str], from_start: bool, as_json: bool) -> None:
    from devlog_collector.export.status import pending_by_workspace

    store = _open_store(db)
    try:
        plan = {name: pending_by_workspace(config, store, name, from_start=from_start) for name in names}
    finally:
        if store is not None:
            store.close()
    if as_json:
        data = {
            name: {"content": config.export.remotes[name].content, "total": sum(c.values()),
                   "workspaces": {str(ws) if ws is not None else "(none)": n for ws, n in sorted(c.items(), key=str)}}
            for name, c in plan.items()
        }  # fmt: skip
        click.echo(json.dumps(data, indent=2))
        return
    for name, counts in plan.items():
        content = config.export.remotes[name].content
        click.echo(f"{name} ({content}): {sum(counts.values()):,} events would be sent")
        for ws, n in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0]))):
            click.echo(f"  {n:>10,}  {ws if ws is not None else '(no workspace)'}")


def _seconds(delay: float) -> str:
    """A wait as people read it: `40 s`, `2 min 30 s`, `1 h`."""
    whole = round(delay)
    if whole < 60:
        return f"{max(whole, 1)} s"
    minutes, seconds = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _say_waiting(console: Any, name: str, delay: float, failed_pass: Any) -> None:
    """One line on stderr before each wait for a retry: a `Retry-After` may ask for up to an hour."""
    asked = " (the server asked for it)" if failed_pass.retry_after else ""
    line = f"{name}: {failed_pass.error}; retrying in {_seconds(delay)}{asked} (Ctrl-C stops; events stay pending)"
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def _run(config: Config, db: Path, names: list[str], from_start: bool, retries: int, as_json: bool = False) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from devlog_collector.export.client import Backoff
    from devlog_collector.export.exporter import RemoteExporter, export_with_retries
    from devlog_collector.export.status import pending_by_workspace

    console = Console(stderr=True)
    failed = 0
    results: list[dict[str, Any]] = []
    for name in names:
        exporter = RemoteExporter.open(name, config, db, caller_reports=True)  # (its PAUSED line below)
        try:
            total = sum(pending_by_workspace(config, exporter.store, name, from_start=from_start).values())
            progress = Progress(
                TextColumn(f"[bold]{name}[/bold]"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
                disable=total < 2000 or not console.is_terminal,
            )
            with progress:
                task = progress.add_task(name, total=total)
                outcome = export_with_retries(
                    exporter,
                    Backoff(),
                    max_failures=retries + 1,
                    progress=functools.partial(progress.advance, task),
                    resume=True,
                    lock_wait=60.0,
                    from_start=from_start,
                    on_wait=functools.partial(_say_waiting, console, name),
                )
        finally:
            exporter.close()
        results.append({
            "remote": name, "sent": outcome.sent, "created": outcome.created, "duplicates": outcome.duplicates,
            "updated": outcome.updated, "rejected": outcome.dead_lettered,
            "status": "busy" if outcome.busy else "paused" if outcome.paused else "failed" if outcome.error else "ok",
            "reason": outcome.paused_reason if outcome.paused else str(outcome.error) if outcome.error else None,
        })  # fmt: skip
        summary = f"{name}: sent {outcome.sent:,} ({outcome.created:,} new, {outcome.duplicates:,} already there"
        summary += f", {outcome.updated:,} of them updated)" if outcome.updated else ")"
        if outcome.dead_lettered:
            summary += f", {outcome.dead_lettered:,} rejected (see devlog export --status)"
        if outcome.busy:
            click.echo(f"{name}: another devlog process is exporting to it right now; try again shortly", err=True)
            failed += 1
        elif outcome.paused:
            click.echo(f"{summary}; PAUSED: {outcome.paused_reason}", err=True)
            failed += 1
        elif outcome.error is not None:
            attempts = f"{retries + 1} attempts in a row" if retries else "1 attempt"
            attempts += " that sent nothing"
            click.echo(f"{summary}; FAILED after {attempts}: {outcome.error} (events stay pending)", err=True)
            failed += 1
        else:
            click.echo(summary, err=True)
            if outcome.dead_lettered:  # delivered, but not everything: scripts and cron must notice
                failed += 1
    if as_json:
        click.echo(json.dumps(results, indent=2))
    return 1 if failed else 0


@click.command()
@click.option("--remote", "remotes", multiple=True, metavar="NAME",
              help="Export to this remote (repeatable; default: every remote that has routing rules).")  # fmt: skip
@click.option("--all", "from_start", is_flag=True,
              help="Send everything that matches, from the beginning, not only what is pending "
              "(the server skips what it already has).")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Show what would be sent (counts per workspace); send nothing.")
@click.option("--status", "show_status", is_flag=True, help="Show each remote's state and exit.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (per-remote results on stdout).")
@click.option("--retries", default=3, show_default=True, type=click.IntRange(0, 100),
              help="Retries of transient failures before giving up.")  # fmt: skip
def export(
    remotes: tuple[str, ...],
    from_start: bool,
    dry_run: bool,
    show_status: bool,
    as_json: bool,
    retries: int,
) -> None:
    """Send stored events to remotes now (or show --status, or --dry-run).

    Only events whose workspace a remote's rules select are sent, shaped by its content policy
    (redacted by default). A paused remote is resumed.
    """
    config = load_config_warned()
    db = config.storage.db_path()
    if show_status and (dry_run or from_start):
        raise UserError("--status shows each remote's state; use it without --dry-run and --all")
    if show_status:
        _show_status(config, db, as_json, remotes)
        return
    names = _chosen(config, remotes)
    if dry_run:
        _dry_run(config, db, names, from_start, as_json)
        return
    if not names:
        click.echo("no remote has routing rules (workspaces.include) or is the export_default", err=True)
        return
    if not db.exists():
        from devlog_collector.storage_location import no_store_yet

        raise UserError(no_store_yet(db))
    click.get_current_context().exit(_run(config, db, names, from_start, retries, as_json))
