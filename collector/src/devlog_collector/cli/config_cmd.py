"""`devlog config show|path|check`: the effective configuration, where it lives, and whether it is valid.

`show` prints the configuration devlog actually uses (file merged over defaults, `${ENV}` resolved)
with API keys masked. `check` validates the file and names every bad key (exit 2), and warns about
`${ENV}` references whose variable is not set (in a path, such as `storage.path`, that is an error:
the path would silently move). A variable name that looks like a pasted key is shown masked.
"""

from __future__ import annotations

import io
import json
import os

import click

__all__ = ["config"]


@click.group("config")
def config() -> None:
    """Show, locate or check the configuration."""


@config.command("path")
def path_cmd() -> None:
    """Print the path of the configuration file (it may not exist: defaults apply)."""
    from devlog_collector.paths import config_path

    click.echo(str(config_path()))


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of YAML.")
def show(as_json: bool) -> None:
    """Print the effective configuration (secrets masked)."""
    from devlog_collector.cli.config_warnings import load_config_warned
    from devlog_collector.config import mask_secrets

    loaded = load_config_warned()
    data = mask_secrets(loaded)
    if "DEVLOG_HOME" in os.environ:  # the default storage.path follows DEVLOG_HOME: show where it is
        data["storage"]["path"] = str(loaded.storage.db_path().parent)
    # Durations as devlog's own spelling (`30s`), which the file accepts back (JSON mode gives ISO 8601).
    data["collect"]["poll_interval"] = _seconds(loaded.collect.poll_interval.total_seconds())
    for name, remote in loaded.export.remotes.items():
        data["export"]["remotes"][name]["sync_interval"] = _seconds(remote.sync_interval.total_seconds())
        data["export"]["remotes"][name]["timeout"] = _seconds(remote.timeout.total_seconds())
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    buffer = io.StringIO()
    buffer.write(f"# effective configuration; store: {loaded.storage.db_path()}\n")
    yaml.dump(data, buffer)
    click.echo(buffer.getvalue(), nl=False)


def _seconds(value: float) -> str:
    return f"{value:g}s"


@config.command("check")
def check() -> None:
    """Validate the configuration file; exit 2 naming each bad key."""
    from devlog_collector.cli.config_warnings import echo_warnings
    from devlog_collector.config import load_config
    from devlog_collector.paths import config_path

    path = config_path()
    config, warnings = load_config()  # raises UserError (exit 2) naming every bad key
    if config.export.remotes:
        from devlog_collector.export.routing import Router

        Router(config)  # a glob rule it cannot compile is a UserError too
    from devlog_collector.cli.config_warnings import collection_warnings

    echo_warnings(warnings)
    echo_warnings(collection_warnings(config))
    where = str(path) if path.exists() else f"{path} (not present: defaults)"
    click.echo(f"ok: {where}")
