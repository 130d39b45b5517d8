"""`devlog start` picks up export changes (`devlog remote add --auto-sync`) without a restart."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tests.collector.collect_helpers import expected_id, line
from tests.collector.export.faultserver import FaultServer
from tests.collector.test_cli_collect import write_config


def _devlog(*args: str) -> list[str]:
    return [sys.executable, "-m", "devlog_collector", *args]


def _wait_for(predicate: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


@contextlib.contextmanager
def _daemon(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """`devlog start` with its stderr lines collected as they come; yields once it is watching (the
    config is edited only then: no fixed sleep, start-up time varies); killed if still running."""
    proc = subprocess.Popen(_devlog("start", "--no-progress"), env=env, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        assert _wait_for(lambda: any("watching agent logs" in line for line in lines)), lines
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)


def test_remote_added_while_running_starts_syncing_its_history(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    work, scratch = "/home/dev/work/api", "/home/dev/scratch/x"
    write_config(logs)
    (logs / "a.jsonl").write_bytes(line(0, cwd=work) + line(1, cwd=scratch))
    env = dict(os.environ, DEVLOG_FORCE_POLLING="1", TEAM_KEY="k-test")
    with FaultServer() as team, _daemon(env) as (proc, lines):
        added = subprocess.run(
            _devlog("remote", "add", "team", team.url, "--api-key-env", "TEAM_KEY",
                    "--include", "/home/dev/work/**", "--auto-sync", "--interval", "1s", "--content", "full"),
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        (logs / "a.jsonl").open("ab").write(line(2, cwd=work))
        assert _wait_for(lambda: {expected_id(0), expected_id(2)} <= set(team.events)), team.events.keys()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    stderr = "".join(lines)
    assert proc.returncode == 0, stderr
    assert "export settings reloaded (remotes: team)" in stderr
    assert "collect and storage settings" not in stderr  # (only export changed)
    assert expected_id(1) not in team.events  # scratch is not routed anywhere


def test_a_rule_the_router_cannot_compile_keeps_the_daemon_collecting(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    config = write_config(logs)
    (logs / "a.jsonl").write_bytes(line(0, cwd="/home/dev/work/api"))
    with _daemon(dict(os.environ, DEVLOG_FORCE_POLLING="1")) as (proc, lines):
        # Written by hand (`remote add` would refuse it): braces past wcmatch's pattern limit.
        with config.open("a") as handle:
            handle.write("export:\n  remotes:\n    t:\n      url: http://127.0.0.1:1\n      auto_sync: true\n"
                         "      workspaces: {include: ['~/{1..5000}/**']}\n")  # fmt: skip
        assert _wait_for(lambda: any("keeping the previous settings" in line for line in lines)), lines
        (logs / "a.jsonl").open("ab").write(line(1, cwd="/home/dev/work/api"))
        assert _wait_for(lambda: expected_id(1) in _stored_ids()), lines
        assert proc.poll() is None, lines
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert not any("Traceback" in line for line in lines), lines


def _stored_ids() -> set[str]:
    from tests.collector.test_cli_collect import db_ids

    return db_ids()


def test_a_collect_setting_edited_while_running_is_said_to_need_a_restart(tmp_path: Path) -> None:
    """A new root added under `devlog start` was silently ignored (and `status` listed it as found)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    config = write_config(logs)
    (logs / "a.jsonl").write_bytes(line(0))
    original = config.read_text()
    with _daemon(dict(os.environ, DEVLOG_FORCE_POLLING="1")) as (proc, lines):
        config.write_text(original.replace("collect:\n", "collect:\n  max_line_bytes: 123456\n", 1))
        assert _wait_for(lambda: any("collect and storage settings apply when" in line for line in lines)), lines
        config.write_text(original + "# reverted\n")  # back to what runs: said so, not "needs a restart" again
        assert _wait_for(lambda: any("are the ones running again" in line for line in lines)), lines
        assert sum("collect and storage settings apply when" in line for line in lines) == 1, lines
        assert not any("collect_config_changed" in line for line in lines), lines  # said once, not also as JSON
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_a_store_deleted_or_losing_its_wal_under_the_daemon_stops_it_with_one_line(tmp_path: Path) -> None:
    """It went on writing into the deleted file (lost at exit) or an unlinked WAL no reader could see."""
    from devlog_collector.config import Config

    logs = tmp_path / "logs"
    logs.mkdir()
    write_config(logs)
    (logs / "a.jsonl").write_bytes(line(0) + line(1))
    env = dict(os.environ, DEVLOG_FORCE_POLLING="1")
    for lose, said in (("-wal", "lost its write-ahead log"), ("", "was deleted")):
        with _daemon(env) as (proc, lines):
            Path(f"{Config().storage.db_path()}{lose}").unlink()
            assert proc.wait(timeout=30) == 1
        error = [line for line in lines if line.startswith("error:")]
        assert len(error) == 1 and said in error[0], lines
        assert "while devlog was collecting into it: stopped" in error[0], lines
        assert not any("Traceback" in line for line in lines), lines
        if lose:  # what the lost WAL held was checkpointed first
            assert {expected_id(0), expected_id(1)} <= _stored_ids()


def test_a_daemon_paused_for_disk_space_resumes_when_min_free_bytes_is_lowered(tmp_path: Path) -> None:
    """Paused, it checked neither its config nor its store: lowering the limit changed nothing until
    a restart (while `devlog status`, reading the new config, said it was not paused)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    config = write_config(logs)
    paused_config = config.read_text().replace("min_free_bytes: 0", f"min_free_bytes: {10**18}")
    config.write_text(paused_config)
    (logs / "a.jsonl").write_bytes(line(0))
    with _daemon(dict(os.environ, DEVLOG_FORCE_POLLING="1")) as (proc, lines):
        assert any("collection paused" in line for line in lines), lines
        with (logs / "a.jsonl").open("ab") as handle:
            handle.write(line(1))
        config.write_text(paused_config.replace(f"min_free_bytes: {10**18}", "min_free_bytes: 0"))
        assert _wait_for(lambda: any("storage.min_free_bytes is now 0 (no check)" in line for line in lines)), lines
        assert _wait_for(lambda: {expected_id(0), expected_id(1)} <= _stored_ids()), lines
        # (said once the pass that stored them returns: the rows can be seen a moment before)
        assert _wait_for(lambda: any("collection resumed" in line for line in lines)), lines
        assert not any("apply when `devlog start` is started again" in line for line in lines), lines
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_a_store_deleted_while_the_daemon_is_paused_still_stops_it(tmp_path: Path) -> None:
    from devlog_collector.config import Config

    logs = tmp_path / "logs"
    logs.mkdir()
    config = write_config(logs)
    config.write_text(config.read_text().replace("min_free_bytes: 0", f"min_free_bytes: {10**18}"))
    (logs / "a.jsonl").write_bytes(line(0))
    with _daemon(dict(os.environ, DEVLOG_FORCE_POLLING="1")) as (proc, lines):
        assert any("collection paused" in line for line in lines), lines
        Config().storage.db_path().unlink()
        assert proc.wait(timeout=30) == 1
    assert any(line.startswith("error:") and "was deleted" in line for line in lines), lines
