"""`devlog demo` into a folder it cannot write: one line naming the folder and the reason, exit 2, no traceback."""

from __future__ import annotations

import errno
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from devlog_collector import demo
from devlog_collector.cli import cli


def assert_one_clear_line(args: list[str], *expected: str) -> None:
    result = CliRunner().invoke(cli, ["demo", *args])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # (not an OSError escaping with a traceback)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for text in expected:
        assert text in lines[0]


def test_a_file_in_the_way_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    target = tmp_path / "afile" / "demo"
    assert_one_clear_line([str(target)], f"cannot write the demo into {target}", "Not a directory")
    assert_one_clear_line([str(target), "--live", "--iterations", "1"], str(target))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_a_folder_the_user_cannot_write_is_one_clear_error(tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        assert_one_clear_line([str(parent / "x")], f"cannot write the demo into {parent / 'x'}", "Permission denied")
    finally:
        parent.chmod(0o755)


def test_a_write_failing_part_way_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = demo._append_lines

    def full_disk(path: Path, records: list[object]) -> None:
        if "codex" in path.parts:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, records)

    monkeypatch.setattr(demo, "_append_lines", full_disk)
    directory = tmp_path / "dir"
    assert_one_clear_line([str(directory)], f"cannot write the demo into {directory}", "No space left", "/codex/")
    assert demo.load_manifest(directory)["incomplete"] is True


def test_live_steps_report_write_failures_the_same_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "dir"
    demo.generate(directory, sessions=1, end=datetime(2026, 3, 2, tzinfo=UTC))

    def denied(path: Path, records: list[object]) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(demo, "_append_lines", denied)
    monkeypatch.setattr(demo, "_write_json_atomic", lambda path, *a, **k: denied(path, []))
    with pytest.raises(demo.DemoError, match=f"cannot add live activity to the demo in {directory}: Permission denied"):
        demo.live_step(directory)
