"""The config's warnings on stderr, shared by every command that reads the config.

Loading the config returns warnings rather than printing them (a `DEVLOG_CONFIG` that names no file,
an unset `${VAR}`). A command that dropped them would run silently on the defaults: `devlog prune`
against the default store instead of the one the intended config names. So each command prints them
through here, once, before doing anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from devlog_collector.config import Config

__all__ = ["collection_warnings", "echo_warnings", "load_config_warned", "warn_missing_config"]


def echo_warnings(warnings: Iterable[str]) -> None:
    """Print each warning on stderr as `warning: ...`."""
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


def load_config_warned(*, for_collection: bool = False) -> Config:
    """`load_config()`, its warnings printed on stderr."""
    from devlog_collector.config import load_config

    config, warnings = load_config(for_collection=for_collection)
    echo_warnings(warnings)
    return config


def warn_missing_config() -> None:
    """For the query commands, which read only the storage section (not the whole config, for start-up
    time): the warning that `DEVLOG_CONFIG` names a file that does not exist."""
    from devlog_collector.paths import missing_config_warnings

    echo_warnings(missing_config_warnings())


def collection_warnings(config: Config) -> list[str]:
    """What in a valid config keeps logs from being found: roots that cannot hold the agent's logs
    (missing, a file, a level too deep or too high), or no agent enabled at all."""
    from devlog_collector.config import BUILTIN_AGENTS
    from devlog_collector.sources import configured_root_problems

    if not config.collect.enabled:
        return []
    warnings = configured_root_problems(config)
    if not config.collect.agents and not config.collect.generic:
        warnings.append(
            "collect.agents is empty, so no agent's logs are collected: remove the key to collect every "
            f"built-in agent, or name some ({', '.join(BUILTIN_AGENTS)})"
        )
    return warnings
