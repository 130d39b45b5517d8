"""The `devlog` command line: a click group whose subcommands are imported only when used.

Each command lives in its own module under `devlog_collector.cli` (listed in `COMMANDS`), so
`devlog --help` imports almost nothing and stays fast. Errors are shaped once, here: a
`CollectorError` becomes one clear message on stderr (exit 2 for user errors, 1 otherwise), and so
does a usage error of a subcommand (an unknown option, a missing argument: exit 2, naming its
`--help`), and an SQLite error from the store (a damaged file: exit 1, saying how to rebuild it);
any other exception keeps its traceback.
"""

from __future__ import annotations

import errno
import importlib
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["COMMANDS", "cli", "main"]

#: command name -> ("module", "attribute", "one-line help")
COMMANDS: dict[str, tuple[str, str, str]] = {
    "start": ("devlog_collector.cli.collect_cmds", "start", "Collect all history, then watch agent logs live."),
    "collect": ("devlog_collector.cli.collect_cmds", "collect", "Collect once: read what is new, then exit."),
    "status": ("devlog_collector.cli.status_cmd", "status", "Show sources, tracked files, events and errors."),
    "config": ("devlog_collector.cli.config_cmd", "config", "Show, locate or check the configuration."),
    "export": ("devlog_collector.cli.export_cmd", "export", "Send stored events to remotes (or show status)."),
    "remote": ("devlog_collector.cli.remote_cmd", "remote", "Add, edit, list, test or remove export remotes."),
    "query": ("devlog_collector.cli.query_cmd", "query", "List stored events with filters."),
    "stats": ("devlog_collector.cli.query_cmd", "stats", "Token, cost and activity totals, grouped."),
    "sessions": ("devlog_collector.cli.query_cmd", "sessions", "One line per agent session."),
    "show": ("devlog_collector.cli.query_cmd", "show", "Print one session as a readable conversation."),
    "sql": ("devlog_collector.cli.query_cmd", "sql", "Run read-only SQL over the local store."),
    "prune": ("devlog_collector.cli.query_cmd", "prune", "Delete old events (retention)."),
    "demo": ("devlog_collector.cli.demo_cmd", "demo", "Write realistic demo agent logs into a folder."),
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module on first use and handles errors once."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module_name, attr, _ = spec
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        command: click.Command = getattr(module, attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, _, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """`devlog`'s own options: a mistake there is one line too (`devlog -x`), not click's block."""
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            _usage_error(exc, "devlog")
            ctx.exit(exc.exit_code)
            raise  # (unreachable: ctx.exit raises)

    def invoke(self, ctx: click.Context) -> Any:
        from devlog_collector.errors import CollectorError, UserError

        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise  # `devlog remote` alone: its help, as click prints it
        except click.UsageError as exc:  # an unknown option, a missing argument: one line, as for bad values
            if exc.ctx is not None:
                where = " ".join(["devlog", *exc.ctx.command_path.split()[1:]])
            else:  # (click's parser raises "requires an argument" without a context: the subcommand's)
                where = " ".join(["devlog", *([ctx.invoked_subcommand] if ctx.invoked_subcommand else [])])
            _usage_error(exc, where)
            ctx.exit(exc.exit_code)
        except UserError as exc:
            click.echo(f"error: {_printable(str(exc))}", err=True)
            ctx.exit(exc.exit_code)
        except CollectorError as exc:
            click.echo(f"error: {_printable(str(exc))}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            # Ctrl-C in a query (`devlog sql` over a runaway query): 130, as `collect` and `start` exit
            # on it, not click's "Aborted!" and 1, which a script cannot tell from an SQL error.
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            # The reader went away (`devlog stats | head -1`): what it wanted was written. Exit 0 as
            # for any command whose output was cut short, so `set -o pipefail` scripts do not fail.
            _discard_stdout()
            ctx.exit(0)
        except OSError as exc:
            if exc.errno not in _WRITE_FAILURES:
                raise
            # The output could not be written (`devlog query -f csv > file` on a full disk): one line.
            target = exc.filename or "the output"
            click.echo(f"error: cannot write {target}: {exc.strerror}", err=True)
            _discard_stdout()
            ctx.exit(1)
        except Exception as exc:
            sqlite3 = sys.modules.get("sqlite3")  # (only a command that opened the store can raise its errors)
            if sqlite3 is None or not isinstance(exc, sqlite3.DatabaseError):
                raise
            from devlog_collector.errors import store_failure
            from devlog_collector.storage_location import configured_db_path

            store_path: Path | None
            try:
                store_path = configured_db_path()
            except Exception:  # noqa: BLE001 (only for the message: a config that cannot be read says so elsewhere)
                store_path = None
            click.echo(f"error: {_printable(store_failure(f'the store failed: {exc}', exc, store_path))}", err=True)
            ctx.exit(1)


def _printable(message: str) -> str:
    """An error message without the terminal escapes and control characters that values read from
    agent logs can carry (a session id or model name that sets the window title or the clipboard)."""
    if message.isprintable():
        return message
    from devlog_collector.query.table import clean_text

    return clean_text(message, newlines=True)


#: errno values of a write that failed for want of room or a device error.
_WRITE_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the flush at exit does not fail on the closed pipe again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # (no real stdout: nothing left to flush there)
        pass


def _usage_error(exc: click.UsageError, where: str) -> None:
    click.echo(f"error: {exc.format_message().rstrip('.')} (see `{where} --help`)", err=True)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-v info, -vv debug).")
@click.version_option(package_name="devlog", prog_name="devlog")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """devlog: collect what your AI coding agents do into a local store; query it; export what you choose.

    Nothing leaves this machine unless an export remote's rules select it.
    """
    from devlog_collector.log import configure_logging

    configure_logging(verbose)
    ctx.obj = {"verbose": verbose}


def main() -> None:
    """Console-script entry point."""
    if sys.stdout is None:  # (started with stdout closed, `devlog start >&-`: what it prints goes nowhere)
        import os

        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    cli.main(prog_name="devlog")


if __name__ == "__main__":
    main()
