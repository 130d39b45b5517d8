"""The `devlog-server` command: serve, migrate, and manage API keys.

Commands are thin: they read `ServerSettings` from the environment, apply their options and call
importable functions. Operator mistakes (`UserInputError`: invalid settings, a port already in use,
a database `serve --no-migrate` finds unmigrated) and a database that cannot be reached
(`DatabaseUnreachableError`, checked before any work) become one line on stderr and exit status 2;
tokens are printed once, on creation, to stdout and never logged.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
import pydantic

from devlog_server.errors import DatabaseUnreachableError, UserInputError

__all__ = ["main"]

T = TypeVar("T")


def _settings(**overrides: Any) -> Any:
    from devlog_server.settings import ServerSettings

    try:
        settings = ServerSettings()
        updates = {k: v for k, v in overrides.items() if v is not None}
        return ServerSettings(**{**settings.model_dump(), **updates}) if updates else settings
    except pydantic.ValidationError as exc:
        problems = "; ".join(_setting_problem(e) for e in exc.errors())
        raise UserInputError(f"invalid DEVLOG_SERVER_* settings: {problems}") from exc


def _setting_problem(error: Any) -> str:
    """`DEVLOG_SERVER_PORT: <what is wrong>`: operators set variables, so the line names the variable."""
    loc = error["loc"]
    message = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
    return f"DEVLOG_SERVER_{str(loc[0]).upper()}: {message}" if loc else message


def _handle_errors(func: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        except (UserInputError, DatabaseUnreachableError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="devlog-server", prog_name="devlog-server")
def main() -> None:
    """devlog ingest server: receives events from devlog collectors, serves the API."""


@main.command()
@click.option("--host", help="Address to bind (default DEVLOG_SERVER_HOST or 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default DEVLOG_SERVER_PORT or 8000).")
@click.option("--workers", type=click.IntRange(1, 64), help="Worker processes (default 1).")
@click.option(
    "--no-migrate", is_flag=True, help="Do not apply database migrations (refuse a database that needs them)."
)
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="TLS certificate.")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="TLS private key.")
@_handle_errors
def serve(
    host: str | None,
    port: int | None,
    workers: int | None,
    no_migrate: bool,
    certfile: Path | None,
    keyfile: Path | None,
) -> None:
    """Run the server (uvicorn) until interrupted; migrates the database first."""
    from devlog_server.log import configure_logging
    from devlog_server.runner import reserve_port, run_server

    settings = _settings(host=host, port=port, workers=workers, certfile=certfile, keyfile=keyfile)
    configure_logging(settings.log_level, settings.log_json)

    async def ready(db: Any) -> None:
        return None

    # The address first: a port in use is one line and exit 2 before the database is touched.
    reserved = reserve_port(settings)
    # Checked (and migrated) here, before uvicorn: a database that cannot be reached is one line and
    # exit 2, not a traceback from the lifespan of every worker.
    _run(_with_db(settings, ready, migrate=not no_migrate))
    run_server(settings, reserved)


@main.command()
@_handle_errors
def migrate() -> None:
    """Apply pending database migrations (idempotent)."""
    from devlog_server.db.migrate import current_revision

    revision = _run(_with_db(_settings(), current_revision))
    click.echo(f"database at revision {revision}")


@main.group()
def keys() -> None:
    """Create, list and revoke API keys."""


async def _with_db(settings: Any, work: Callable[[Any], Coroutine[Any, Any, T]], *, migrate: bool = True) -> T:
    """Run `work` on the settings' database after checking it answers, and migrating it (or, with
    `migrate=False`, checking it is already at this release's migration)."""
    from devlog_server.db.engine import Database

    db = Database(settings.database_url)
    try:
        await db.check()
        if migrate:
            from devlog_server.db.migrate import upgrade  # imported late: Alembic logs its set-up

            await upgrade(db)
        else:
            await _check_schema(db)
        return await work(db)
    finally:
        await db.dispose()


async def _check_schema(db: Any) -> None:
    """Refuse a database that is not at this release's migration (UserInputError naming what to run)."""
    # Nothing is migrated, so Alembic's set-up lines (plugins, "Context impl") would only bury the answer.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from devlog_server.db.migrate import schema_problem

    problem = await schema_problem(db)
    if problem is not None:
        raise UserInputError(problem)


def _key_dict(key: Any) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "scopes": list(key.scopes),
        "workspaces": list(key.workspaces),
        "hint": key.hint,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
    }


@keys.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(["ingest", "read", "admin"]),
    help="Scope to grant (repeatable; default ingest and read).",
)
@click.option(
    "--workspace",
    "workspaces",
    multiple=True,
    metavar="GLOB",
    help="Limit the key to workspaces matching GLOB (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the key as JSON.")
@_handle_errors
def keys_create(name: str, scopes: tuple[str, ...], workspaces: tuple[str, ...], as_json: bool) -> None:
    """Create a key named NAME and print its token (shown only this once)."""
    from devlog_server.keys import DEFAULT_SCOPES, check_workspace_globs, create_key

    settings = _settings()
    try:
        check_workspace_globs(workspaces)
    except UserInputError as exc:
        raise UserInputError(f"--workspace: {exc}") from exc

    async def work(db: Any) -> Any:
        async with db.write() as conn:
            return await create_key(
                conn, name, pepper=settings.pepper_bytes, scopes=scopes or DEFAULT_SCOPES, workspaces=workspaces
            )

    created = _run(_with_db(settings, work))
    if settings.key_pepper is None:
        # A key is hashed with the pepper of the process that creates it: one made here works only on
        # a server that runs without one too (a server with a pepper answers 401 "invalid API key").
        click.echo(
            "warning: DEVLOG_SERVER_KEY_PEPPER is not set here, so this key works only on a server "
            "running without one; create keys with the environment `devlog-server serve` runs with",
            err=True,
        )
    if as_json:
        click.echo(json.dumps({**_key_dict(created.key), "token": created.token}))
        return
    click.echo(created.token)
    click.echo(
        f"created key {created.key.name!r} (id {created.key.id}, scopes {' '.join(created.key.scopes)}"
        + (f", workspaces {' '.join(created.key.workspaces)}" if created.key.workspaces else "")
        + "): store the token now, it is not shown again",
        err=True,
    )


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@_handle_errors
def keys_list(as_json: bool) -> None:
    """List keys (never their secrets)."""
    from devlog_server.keys import list_keys

    settings = _settings()

    async def work(db: Any) -> Any:
        async with db.read() as conn:
            return await list_keys(conn)

    found = _run(_with_db(settings, work))
    if as_json:
        for key in found:
            click.echo(json.dumps(_key_dict(key)))
        return
    from rich.console import Console
    from rich.table import Column, Table

    # The name and id are what `keys revoke` takes: never cut them (the workspaces wrap instead).
    table = Table(
        Column("name", overflow="fold", max_width=24), Column("id", no_wrap=True, min_width=12),
        Column("scopes", overflow="fold"), Column("workspaces", overflow="fold"), "created", "last used",
        Column("status", no_wrap=True, min_width=7),
    )  # fmt: skip
    for key in found:
        table.add_row(
            key.name,
            key.id,
            " ".join(key.scopes),
            " ".join(key.workspaces) or "(all)",
            key.created_at.strftime("%Y-%m-%d %H:%M"),
            key.last_used_at.strftime("%Y-%m-%d %H:%M") if key.last_used_at else "-",
            "revoked" if key.revoked else "active",
        )
    # Into a pipe or file, rich would wrap at 80 columns (splitting names and globs): no limit there.
    Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 100_000).print(table)


@keys.command("revoke")
@click.argument("name_or_id")
@_handle_errors
def keys_revoke(name_or_id: str) -> None:
    """Revoke the key NAME_OR_ID; requests with it get 401 (within the key cache time)."""
    from devlog_server.keys import revoke_key

    settings = _settings()

    async def work(db: Any) -> Any:
        async with db.write() as conn:
            return await revoke_key(conn, name_or_id)

    key = _run(_with_db(settings, work))
    click.echo(f"revoked key {key.name!r} (id {key.id})")
