"""`devlog demo --end` only accepts days whose two weeks of history the collector stores in full.

The regression: `--end 1960-01-01` wrote logs whose every record `devlog collect` then skipped as
outside the years of `devlog_shared.limits` (308 problems).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from devlog_collector import demo
from devlog_collector.cli import cli
from devlog_collector.paths import config_path


@pytest.mark.parametrize("day", ["1960-01-01", "1970-01-14", "3000-01-02", "9999-12-31", "0001-01-01"])
def test_an_end_outside_the_stored_years_is_refused_before_writing(tmp_path: Path, day: str) -> None:
    result = CliRunner().invoke(cli, ["demo", str(tmp_path / "dir"), "--end", day])
    assert result.exit_code == 2, result.output
    assert f"--end {day} is out of range" in result.stderr
    assert "1970-2999" in result.stderr and "1970-01-15 to 3000-01-01" in result.stderr
    assert not (tmp_path / "dir").exists()


def test_the_library_refuses_the_same_days(tmp_path: Path) -> None:
    with pytest.raises(demo.DemoError, match="out of range"):
        demo.generate(tmp_path / "dir", end=datetime(1969, 12, 31, tzinfo=UTC))


@pytest.mark.parametrize("day", ["1970-01-15", "3000-01-01"])
def test_the_first_and_last_accepted_days_collect_without_a_problem(tmp_path: Path, day: str) -> None:
    runner = CliRunner()
    written = runner.invoke(cli, ["demo", str(tmp_path / "dir"), "--sessions", "2", "--end", day])
    assert written.exit_code == 0, written.output
    config = config_path()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(written.stdout + "storage:\n  min_free_bytes: 0\n")
    collected = runner.invoke(cli, ["collect", "--json"])
    assert collected.exit_code == 0, collected.output
    summary = json.loads(collected.stdout)
    assert summary["events_added"] > 0
    assert summary["problems"] == 0
