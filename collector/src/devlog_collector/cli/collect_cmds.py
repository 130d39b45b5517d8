"""`devlog start` (history, then live) and `devlog collect` (one pass, then exit).

Thin commands: the work is in `devlog_collector.collect` (engine) and `devlog_collector.watch`
(daemon). Both take the store's writer lock; a second collector fails with a clear message (exit 1).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from typing import Any, Final

import click

__all__ = ["collect", "start"]

#: Seconds between the progress records of a long `devlog collect` (what `devlog status` shows of a
#: pass still running, or of one killed before its end).
PROGRESS_RECORD_S: Final = 5.0


def _load_config() -> Any:
    from devlog_collector.cli.config_warnings import load_config_warned

    return load_config_warned(for_collection=True)  # a broken export section never stops collection


@click.command("start")
@click.option("--no-history", is_flag=True, help="Skip existing history: only collect what agents write from now on.")
@click.option("--once", is_flag=True, help="Collect history, then exit instead of watching (scripts, tests).")
@click.option(
    "--poll", is_flag=True, help="Poll for changes instead of native file events (also DEVLOG_FORCE_POLLING=1)."
)
@click.option("--no-progress", is_flag=True, help="No progress bar for the history pass.")
def start(no_history: bool, once: bool, poll: bool, no_progress: bool) -> None:
    """Collect all history not yet collected, then watch agent logs live (Ctrl-C stops)."""
    from devlog_collector.watch import CollectDaemon, DaemonOptions, announce_to_stderr

    config = _load_config()
    if not config.collect.enabled:
        click.echo("collection is disabled (collect.enabled: false); nothing to do", err=True)
        return
    options = DaemonOptions(
        no_history=no_history,
        once=once,
        progress=not no_progress and sys.stderr.isatty(),
        force_polling=True if poll else None,
        announce=announce_to_stderr,
    )
    daemon = CollectDaemon(config, options)
    daemon.run()
    if daemon.stopped_by is not None:  # stopped before the history was all in: 130 for Ctrl-C, 143 for SIGTERM
        raise SystemExit(128 + daemon.stopped_by)
    if once and daemon.paused is not None:  # (as `devlog collect`: a script must not take a partial load as done)
        from devlog_collector.errors import StoreError

        raise StoreError(
            f"collection stopped: {daemon.paused}; free some space and run `devlog start` again "
            "(it goes on from where it stopped)"
        )


@click.command("collect")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def collect(as_json: bool) -> None:
    """Read what is new in every agent's logs into the local store, then exit."""
    from devlog_collector.errors import StoreError
    from devlog_collector.stop_signals import stop_on_signals
    from devlog_collector.store import Store, first_load

    config = _load_config()
    if not config.collect.enabled:
        click.echo("collection is disabled (collect.enabled: false); nothing to do", err=True)
        return
    stop = threading.Event()
    path = config.storage.db_path()
    aside = first_load.begin(path)  # a store that does not exist yet is built beside its name
    store = aside if aside is not None else Store.open(path)
    try:
        if aside is None:
            store.acquire_writer_lock()
            first_load.remove_leftovers(path)  # (a crash between the link and the side file's removal)
        with stop_on_signals(stop) as received:  # (the signal that ended the pass, if one did)
            result = _collect_pass(store, config, stop)
            if aside is not None:
                store, not_kept = first_load.publish(store)
                if not_kept is not None:  # read the logs again into the store, as usual
                    click.echo(f"the first load was not kept ({not_kept}): reading the logs again", err=True)
                    result = _collect_pass(store, config, stop)
            aside = None
    finally:
        if aside is not None:  # an error ended the first load: nothing of it is kept
            first_load.discard(store)
        else:
            store.close()
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _print_table(result)
    if not any(totals.files for totals in result.agents.values()):
        from devlog_collector.cli.config_warnings import collection_warnings, echo_warnings

        warnings = collection_warnings(config)
        echo_warnings(warnings)
        click.echo(
            "no agent logs found: see the warnings above"
            if warnings
            else "no agent logs found: `devlog status` shows where devlog looked; add other folders under "
            "collect.roots in the config (`devlog config path`)"
            + (", check the glob of each collect.generic source" if config.collect.generic else "")
            + ", or try `devlog demo DIR`",
            err=True,
        )
    if result.paused:
        raise StoreError(
            f"collection stopped: {result.paused}; free some space and run `devlog collect` again "
            "(it goes on from where it stopped)"
        )
    if result.interrupted:
        updated = f" (and the {result.events_updated:,} updated)" if result.events_updated else ""
        click.echo(
            f"interrupted: the {result.events_added} events added so far are kept{updated}; "
            "`devlog collect` again goes on from there",
            err=True,
        )
        raise SystemExit(128 + (received[0] if received else signal.SIGINT))  # 130 for Ctrl-C, 143 for SIGTERM


def _collect_pass(store: Any, config: Any, stop: threading.Event) -> Any:
    """One collect pass into `store` (holding its writer lock), recorded for `devlog status`."""
    from devlog_collector.collect import Collector, CollectResult

    collector = Collector(store, config, should_stop=stop.is_set)
    for warning in collector.warnings:
        click.echo(f"warning: {warning}", err=True)
    run_id = collector.begin_run()
    result = CollectResult()
    recorded = time.monotonic()

    def record(files_done: int, bytes_done: int) -> None:  # `devlog status` shows a long pass's progress
        nonlocal recorded
        if time.monotonic() - recorded >= PROGRESS_RECORD_S:
            collector.record_progress(run_id, result)
            recorded = time.monotonic()

    collector.collect(progress=record, result=result)
    if result.interrupted:  # left unfinished: `devlog status` says "interrupted", with what it did
        collector.record_progress(run_id, result)
    else:
        collector.finish_run(run_id, result)
    return result


def _print_table(result: Any) -> None:
    from rich.table import Table

    from devlog_collector.query.table import rich_console

    table = Table(title="devlog collect", title_justify="left")
    table.add_column("source", no_wrap=True, min_width=7)  # (copilot, codex, cursor: not all "co…")
    table.add_column("files", justify="right")
    table.add_column("read", justify="right")
    table.add_column("events added", justify="right")
    table.add_column("updated", justify="right")
    table.add_column("problems", justify="right")
    for name, totals in sorted(result.agents.items()):
        table.add_row(
            name, str(totals.files), str(totals.files_read), str(totals.events_added), str(totals.events_updated),
            str(totals.problems),
        )  # fmt: skip
    table.add_row(
        "[bold]total",
        str(sum(t.files for t in result.agents.values())),
        str(result.files_read),
        f"[bold]{result.events_added}",
        str(result.events_updated),
        str(result.problems),
    )
    console = rich_console()
    if not result.agents:
        console.print("no agent logs found (see `devlog status` for where devlog looks)")
        return
    console.print(table)
    if result.problems:
        console.print("problems were recorded: `devlog status --problems` lists them", style="yellow")
