"""`devlog demo DIR`: write realistic agent logs for every supported agent, optionally keep adding some.

The command is thin: `devlog_collector.demo` does the work. stdout carries the `collect.roots` config
snippet (or `--json` data) so it can be piped into a config file; progress goes to stderr. Every
refusal and file-system failure arrives as a `DemoError` naming the folder, shown as one line (exit 2,
like any bad argument: the user picks another DIRECTORY or day).
"""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click

from devlog_collector.errors import UserError

__all__ = ["demo"]


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed: the same seed writes the same logs.")
@click.option(
    "--sessions",
    type=click.IntRange(1, 500),
    default=6,
    show_default=True,
    help="Sessions per agent (6 puts every agent in every demo workspace).",
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Home folder the demo workspaces live under (default: yours).",
)
@click.option(
    "--end",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Day (UTC) the generated history ends; it reaches two weeks back (1970-01-15 to 3000-01-01). Default: today.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace a demo already in DIRECTORY (only the files its manifest records; never anything else).",
)
@click.option(
    "--live", is_flag=True, help="Keep adding new activity (to the demo in DIRECTORY, written first if absent)."
)
@click.option(
    "--interval", type=click.FloatRange(0), default=10.0, show_default=True, help="Seconds between live steps."
)
@click.option(
    "--iterations", type=click.IntRange(1), default=None, help="Live steps to make, then exit (default: until stopped)."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of the config snippet.")
def demo(
    directory: Path,
    seed: int,
    sessions: int,
    home: Path | None,
    end: datetime | None,
    force: bool,
    live: bool,
    interval: float,
    iterations: int | None,
    as_json: bool,
) -> None:
    """Write realistic demo logs of Claude Code, Codex, Gemini, Copilot and Cursor into DIRECTORY.

    Sessions are spread over workspaces such as ~/work/acme-api, ~/company/billing,
    ~/company/billing/personal/notes, ~/personal/blog, ~/side-projects/game and ~/scratch/tmp, so
    export rules have something to route. Prints the `collect.roots` config snippet that points
    devlog at DIRECTORY. With --live, appends new turns and sessions every --interval seconds.
    """
    from devlog_collector import demo as demo_module

    summary: dict[str, object] = {}
    try:
        if not live or force or not demo_module.has_demo(directory):
            result = demo_module.generate(
                directory,
                seed=seed,
                sessions=sessions,
                home=home,
                end=end.replace(tzinfo=UTC) if end else None,
                force=force,
            )
            summary = result.to_json()
            click.echo(
                f"wrote {result.sessions} sessions ({result.turns} turns) of {len(demo_module.AGENTS)} agents "
                f"in {sum(1 for count in result.by_workspace.values() if count)} workspaces under {result.home} "
                f"to {result.directory}",
                err=True,
            )
        if not as_json:
            click.echo(demo_module.roots_snippet(directory), nl=False)
        if live:
            steps = _run_live(directory, interval, iterations)
            summary["live_steps"] = steps
    except demo_module.DemoError as exc:
        raise UserError(str(exc)) from None
    if as_json:
        if not summary:
            summary = {"directory": str(directory.absolute())}
        click.echo(json.dumps(summary, indent=2))


def _run_live(directory: Path, interval: float, iterations: int | None) -> int:
    from devlog_collector.demo import LiveStep, live

    def report(changes: list[LiveStep]) -> None:
        for change in changes:
            what = "new session" if change.new_session else "new turn"
            click.echo(f"live: {change.agent} {what} ({change.turns} turn(s)) in {change.workspace}", err=True)

    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        return live(directory, interval=interval, iterations=iterations, on_step=report)
    except (_Stop, KeyboardInterrupt):
        click.echo("live: stopped", err=True)
        return -1
    finally:
        signal.signal(signal.SIGTERM, previous)
