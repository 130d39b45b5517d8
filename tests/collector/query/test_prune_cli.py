"""`devlog prune` from the command line: what --dry-run --json reports, and a missing store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from devlog_collector.cli import cli
from tests.collector.query.helpers import default_db, ev, store_with


@pytest.fixture
def old_events(isolated_home: Path) -> Path:
    events = [ev("2025-01-01T10:00:00", "prompt", text=f"old {i}", ident=f"old-{i}") for i in range(3)]
    store_with(default_db(), [*events, ev("2099-01-01T10:00:00", "prompt", ident="future")]).close()
    return default_db()


def test_dry_run_json_reports_would_delete_and_deletes_nothing(old_events: Path) -> None:
    result = CliRunner().invoke(cli, ["prune", "--older-than", "30d", "--dry-run", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["dry_run"], data["older_events"], data["would_delete"], data["deleted"]) == (True, 3, 3, 0)
    text = CliRunner().invoke(cli, ["prune", "--older-than", "30d", "--dry-run"], catch_exceptions=False)
    assert text.stdout.startswith("would delete 3 of 3 events older than")
    done = json.loads(CliRunner().invoke(cli, ["prune", "--older-than", "30d", "--json"]).stdout)
    assert done["deleted"] == 3 and "would_delete" not in done and done["dry_run"] is False


@pytest.mark.parametrize("args", [["prune"], ["prune", "--dry-run"], ["prune", "--json"], ["stats"], ["sessions"]])
def test_missing_store_exits_1_like_the_other_query_commands(isolated_home: Path, args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    expected = f"error: no devlog store at {default_db()} yet: run `devlog collect` (or `devlog start`) first\n"
    assert result.stderr == expected
    assert not default_db().exists()  # prune does not create an empty store either


@pytest.mark.parametrize(
    ("older_than", "message"),
    [
        ("365", "error: --older-than: give a unit, e.g. 365d or 365h (units: s, m, h, d, w, y)\n"),
        ("1.5", "error: --older-than: give a unit, e.g. 1.5d or 1.5h (units: s, m, h, d, w, y)\n"),
        ("0d", "error: --older-than: must be a positive duration, got '0d'\n"),
        ("soon", "error: --older-than: not a duration: 'soon' (use e.g. 30s, 5m, 12h, 7d)\n"),
    ],
)
def test_a_span_without_a_unit_is_refused_not_read_as_seconds(old_events: Path, older_than: str, message: str) -> None:
    """`--older-than 365` was 365 seconds: everything went, and the remembered cutoff kept the logs
    from being collected again."""
    result = CliRunner().invoke(cli, ["prune", "--older-than", older_than])
    assert (result.exit_code, result.stderr) == (2, message)
    left = json.loads(CliRunner().invoke(cli, ["prune", "--older-than", "30d", "--dry-run", "--json"]).stdout)
    assert left["older_events"] == 3  # nothing was deleted


def test_a_span_reaching_before_1970_deletes_nothing(old_events: Path) -> None:
    result = CliRunner().invoke(cli, ["prune", "--older-than", "3000y", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["older_events"], data["deleted"]) == (0, 0)
