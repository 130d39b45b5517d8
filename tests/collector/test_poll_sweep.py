"""`devlog start`: while polling, it stats every tracked file each second itself (`_changed_since`): the
poller missed about 2 % of appends under a steady load over 3,445 files, which then waited for the
5 s rescan (a new-user pass measured p99 2.7 s, max 5 s against the 2 s promise)."""

from __future__ import annotations

import os
from pathlib import Path

from devlog_collector.collect import Tracked
from devlog_collector.sources.base import SourceFile
from devlog_collector.sources.claude import ClaudeCodeSource
from devlog_collector.watch import _changed_since


def test_the_sweep_names_each_file_whose_size_mtime_or_inode_changed(tmp_path: Path) -> None:
    paths = [tmp_path / f"{name}.jsonl" for name in ("same", "appended", "touched", "replaced", "gone")]
    for path in paths:
        path.write_text("{}\n")
    source = ClaudeCodeSource([tmp_path])
    tracked = [Tracked(source, SourceFile(path=path, mode="append")) for path in paths]
    seen: dict[str, tuple[int, int, int]] = {}
    assert _changed_since(tracked, seen) == []  # first sight: only noted
    _unchanged, appended, touched, replaced, gone = paths
    with appended.open("a") as handle:
        handle.write("{}\n")
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # (the same second: what the poller missed)
    replacement = tmp_path / "new.jsonl"
    replacement.write_text("{}\n")
    replacement.replace(replaced)
    gone.unlink()
    assert [item.file.path for item in _changed_since(tracked, seen)] == [appended, touched, replaced]
    assert _changed_since(tracked, seen) == []  # nothing since


def test_the_history_progress_bar_fits_one_line_of_80_columns() -> None:
    """A new-user pass saw `122.9/122…` and `MiB` wrapped onto a second line at 80 columns."""
    import io

    from rich.console import Console
    from rich.progress import Progress

    from devlog_collector.watch import history_progress_columns

    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=False, color_system=None)
    with Progress(*history_progress_columns(), console=console, auto_refresh=False) as progress:
        size = int(122.9 * 1024 * 1024)
        task = progress.add_task("history", total=size, files="0/3445 files")
        progress.update(task, completed=size // 2, files="3445/3445 files, indexing")
        progress.refresh()
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert lines and all(len(line) <= 80 for line in lines), lines
    assert "/122.9 MiB" in lines[-1] and "3445/3445 files, indexing" in lines[-1]
