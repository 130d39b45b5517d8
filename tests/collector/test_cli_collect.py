"""`devlog collect`, `start`, `status` and `config` from the command line (real processes where it matters)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from devlog_collector.cli import cli
from devlog_collector.cli.status_cmd import default_config_view
from devlog_collector.config import Config
from devlog_collector.paths import config_path
from devlog_collector.store import Store
from tests.collector.collect_helpers import AGENT, MAPPING, append, expected_id, line


def write_config(logs: Path, extra: str = "") -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    mapping = ", ".join(f"{k}: {v}" for k, v in MAPPING.items())
    path.write_text(
        "collect:\n"
        "  agents: [gemini]\n"
        f"  roots: {{gemini: [{logs.parent / 'gemini-home'}]}}\n"
        "  generic:\n"
        f"    - {{name: {AGENT}, glob: '{logs}/*.jsonl', mapping: {{{mapping}}}}}\n"
        "storage:\n"
        "  min_free_bytes: 0\n" + extra
    )
    return path


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder


def db_ids() -> set[str]:
    path = Config().storage.db_path()
    db = sqlite3.connect(path)
    try:
        return {r[0] for r in db.execute("SELECT id FROM events")}
    except sqlite3.OperationalError as exc:
        # The daemon creates the file an instant before its first migration creates the tables.
        if "no such table" in str(exc):
            return set()
        raise
    finally:
        db.close()


def test_collect_prints_per_source_table_and_json(logs: Path) -> None:
    write_config(logs)
    (logs / "a.jsonl").write_bytes(line(0) + line(1) + b"{bad\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["collect"])
    assert result.exit_code == 0, result.output
    assert "generic:testagent" in result.output
    assert "gemini" in result.output
    result = runner.invoke(cli, ["collect", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["events_added"] == 0
    assert data["agents"]["generic:testagent"]["files"] == 1
    assert db_ids() == {expected_id(0), expected_id(1)}


def test_collect_fails_clearly_when_another_collector_holds_the_lock(logs: Path) -> None:
    write_config(logs)
    with Store.open(Config().storage.db_path()) as store:
        store.acquire_writer_lock()
        result = CliRunner().invoke(cli, ["collect"])
    assert result.exit_code == 1
    assert f"another devlog process (pid {os.getpid()}) is collecting" in result.output
    assert "a `devlog start` is running, or a `devlog collect` has not finished yet" in result.output


def test_status_reports_sources_files_events_and_problems(logs: Path) -> None:
    write_config(logs)
    (logs / "a.jsonl").write_bytes(line(0) + b"{bad\n")
    runner = CliRunner()
    assert runner.invoke(cli, ["collect"]).exit_code == 0
    result = runner.invoke(cli, ["status", "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    sources = {s["source"]: s for s in facts["sources"]}
    assert sources["gemini"]["found"] is False
    assert sources["generic:testagent"]["found"] is True
    store = facts["store"]
    assert store["files_tracked"] == {"generic:testagent": 1}
    assert store["events"][AGENT]["events"] == 1
    assert store["last_collect"]["events_added"] == 1
    errors = store["parse_errors"]["generic:testagent"]
    assert errors["problems"] == 1
    assert errors["latest"]["position"] == "line 2"
    assert errors["latest"]["path"] == str(logs / "a.jsonl")
    assert facts["collector_running"] is False
    table = runner.invoke(cli, ["status"])
    assert table.exit_code == 0
    assert "invalid JSON" in table.output
    assert store["indexes_deferred_since"] is None and "secondary indexes" not in table.output


def test_status_problems_lists_every_recorded_problem(logs: Path) -> None:
    """Status shows the latest problem per source; the others were only in `devlog sql`."""
    write_config(logs)
    (logs / "a.jsonl").write_bytes(b"{bad\n" + line(0) + b"[1]\n")
    runner = CliRunner()
    collected = runner.invoke(cli, ["collect"])
    assert "`devlog status --problems` lists them" in collected.output
    assert "(`devlog status --problems` lists them all)" in runner.invoke(cli, ["status"]).output
    listed = json.loads(runner.invoke(cli, ["status", "--problems", "--json"]).output)
    assert sorted(p["position"] for p in listed) == ["line 1", "line 3"]
    assert {p["path"] for p in listed} == {str(logs / "a.jsonl")}
    table = runner.invoke(cli, ["status", "--problems"])
    assert table.exit_code == 0
    assert f"generic:testagent {logs / 'a.jsonl'}" in table.output
    assert "  line 1: invalid JSON" in table.output and "  line 3: " in table.output


def test_a_narrow_terminal_keeps_source_names_whole(logs: Path) -> None:
    """At 40 columns copilot, codex and cursor were all cut to `co…`/`cu…`."""
    write_config(logs)
    config_path().write_text(config_path().read_text().replace("agents: [gemini]", "agents: [gemini, copilot]"))
    (logs / "a.jsonl").write_bytes(line(0))
    runner = CliRunner()
    collected = runner.invoke(cli, ["collect"], env={"COLUMNS": "40"})
    status = runner.invoke(cli, ["status"], env={"COLUMNS": "40"})
    for output in (collected.output, status.output):
        assert "│ copilot" in output and "│ gemini" in output, output


def test_status_shows_no_terminal_controls_from_log_file_names(logs: Path) -> None:
    """A log file named with an escape sequence turned the rest of `devlog status` red (or worse)."""
    write_config(logs)
    (logs / "evil\x1b[31mRED\x07.jsonl").write_bytes(b"{bad\n")
    runner = CliRunner()
    assert runner.invoke(cli, ["collect"]).exit_code == 0
    table = runner.invoke(cli, ["status"])
    assert table.exit_code == 0
    assert "evilRED" in table.output and "\x1b" not in table.output and "\x07" not in table.output


def test_status_shows_times_in_local_time_with_the_zone_named(logs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Status printed UTC (`+00:00`) while sessions, query and show print local time: named now."""
    write_config(logs)
    (logs / "a.jsonl").write_bytes(line(0))
    assert CliRunner().invoke(cli, ["collect"]).exit_code == 0
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        table = CliRunner().invoke(cli, ["status"])
    finally:
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()
    shown = r"last collect \d{4}-\d\d-\d\d \d\d:\d\d:\d\d IST: 1 event from 1 file read\b"
    assert re.search(shown, table.output), table.output
    facts = json.loads(CliRunner().invoke(cli, ["status", "--json"]).output)
    assert facts["store"]["last_collect"]["finished_at"].endswith("+00:00")  # JSON stays ISO 8601 UTC


def test_status_says_when_a_large_load_left_the_indexes_to_rebuild(logs: Path) -> None:
    write_config(logs)
    (logs / "a.jsonl").write_bytes(line(0))
    runner = CliRunner()
    assert runner.invoke(cli, ["collect"]).exit_code == 0
    path = Config().storage.db_path()
    with Store.open(path) as store:
        store.defer_secondary_indexes()  # as a history load that was killed would leave it
    facts = json.loads(runner.invoke(cli, ["status", "--json"]).output)
    assert facts["store"]["indexes_deferred_since"] is not None
    table = runner.invoke(cli, ["status"]).output
    assert "secondary indexes" in table and "next `devlog collect`" in table
    assert runner.invoke(cli, ["collect"]).exit_code == 0  # takes the writer lock: rebuilds them
    assert json.loads(runner.invoke(cli, ["status", "--json"]).output)["store"]["indexes_deferred_since"] is None


def test_status_without_store_or_config() -> None:
    result = CliRunner().invoke(cli, ["status", "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert facts["store"]["exists"] is False
    assert {s["source"] for s in facts["sources"]} >= {"copilot", "cursor", "gemini"}


def test_status_defaults_match_config_defaults() -> None:
    view = default_config_view()
    config = Config()
    assert view.storage.db_path() == config.storage.db_path()
    assert view.collect.agents == config.collect.agents
    assert view.collect.enabled == config.collect.enabled
    assert view.collect.roots == config.collect.roots
    assert view.storage.min_free_bytes == config.storage.min_free_bytes


def test_config_show_masks_secrets_and_round_trips(monkeypatch: pytest.MonkeyPatch, logs: Path) -> None:
    monkeypatch.setenv("TEAM_KEY", "dlk_supersecretvalue_1234")
    write_config(
        logs,
        "export:\n  remotes:\n    team: {url: 'http://127.0.0.1:9', api_key: '${TEAM_KEY}', sync_interval: 45s}\n",
    )
    runner = CliRunner()
    result = runner.invoke(cli, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "supersecret" not in result.output
    assert "dlk_…1234" in result.output
    assert "sync_interval: 45s" in result.output
    assert runner.invoke(cli, ["config", "path"]).output.strip() == str(config_path())
    # what `show` prints is a valid config file
    shown = result.output.replace("dlk_…1234", "x")
    config_path().write_text(shown)
    assert runner.invoke(cli, ["config", "check"]).exit_code == 0


def test_config_check_names_bad_keys_and_warns_about_env(logs: Path) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("collect:\n  agents: [claude, nope]\n  colour: red\nstorage:\n  min_free_bytes: -1\n")
    result = CliRunner().invoke(cli, ["config", "check"])
    assert result.exit_code == 2
    assert "collect.agents" in result.output
    assert "collect.colour: unknown key" in result.output
    assert "storage.min_free_bytes" in result.output
    path.write_text("export:\n  remotes:\n    t: {url: 'http://127.0.0.1:1', api_key: '${UNSET_DEVLOG_KEY}'}\n")
    result = CliRunner().invoke(cli, ["config", "check"])
    assert result.exit_code == 0
    assert "UNSET_DEVLOG_KEY is not set" in result.output


def _devlog(*args: str) -> list[str]:
    return [sys.executable, "-m", "devlog_collector", *args]


def _wait_for(predicate: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("polling", [False, True], ids=["native", "polling"])
def test_start_collects_history_then_live_lines_and_new_files_and_stops_cleanly(logs: Path, polling: bool) -> None:
    write_config(logs)
    (logs / "a.jsonl").write_bytes(line(0))
    env = dict(os.environ, DEVLOG_FORCE_POLLING="1" if polling else "0")
    proc = subprocess.Popen(_devlog("start", "--no-progress"), env=env, stderr=subprocess.PIPE, text=True)
    try:
        db = Config().storage.db_path()
        assert _wait_for(lambda: db.exists() and expected_id(0) in db_ids())
        # another collector is refused while the daemon runs
        other = subprocess.run(_devlog("collect"), env=env, capture_output=True, text=True, timeout=60)
        assert other.returncode == 1
        assert "another devlog process" in other.stderr
        append(logs / "a.jsonl", line(1)[:7])
        time.sleep(0.3)
        append(logs / "a.jsonl", line(1)[7:])
        (logs / "b.jsonl").write_bytes(line(2))
        assert _wait_for(lambda: {expected_id(1), expected_id(2)} <= db_ids())
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "stopped" in stderr
    assert db_ids() == {expected_id(n) for n in range(3)}
    # the lock was released
    assert subprocess.run(_devlog("collect"), env=env, capture_output=True, timeout=60).returncode == 0


def test_start_sees_a_log_folder_made_beside_the_watched_one(tmp_path: Path) -> None:
    """Codex's `archived_sessions/` made after the daemon began watching `sessions/`: its rollouts
    waited for the 30 s safety pass (lines arrived up to 25 s late)."""
    home = tmp_path / "codex-home"
    (home / "sessions").mkdir(parents=True)
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"collect:\n  agents: [codex]\n  roots: {{codex: ['{home}']}}\nstorage:\n  min_free_bytes: 0\n")
    proc = subprocess.Popen(_devlog("start", "--no-progress"), stderr=subprocess.PIPE, text=True)
    try:
        db = Config().storage.db_path()
        assert _wait_for(lambda: db.exists())
        time.sleep(1.0)  # (watching by now)
        sid = "019cae20-0000-7000-8000-0000000000a1"
        folder = home / "archived_sessions" / "2026" / "06" / "01"
        folder.mkdir(parents=True)
        meta = {"timestamp": "2026-06-01T10:00:00.000Z", "type": "session_meta", "payload": {"id": sid, "cwd": "/w"}}
        said = {"timestamp": "2026-06-01T10:00:01.000Z", "type": "event_msg",
                "payload": {"type": "user_message", "message": "archived hello"}}  # fmt: skip
        (folder / f"rollout-2026-06-01T10-00-00-{sid}.jsonl").write_text(
            "".join(json.dumps(record) + "\n" for record in (meta, said))
        )

        def prompts() -> list[str]:
            with contextlib.closing(sqlite3.connect(db)) as conn:
                return [r[0] for r in conn.execute("SELECT text FROM events WHERE kind = 'prompt'")]

        assert _wait_for(lambda: prompts() == ["archived hello"], timeout=10)  # well within the 30 s pass
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_start_watches_a_log_folder_deleted_and_made_again(logs: Path) -> None:
    """The watch went with the deleted folder: lines in the new one waited for the 30 s safety pass,
    for the rest of the daemon's life."""
    write_config(logs)
    (logs / "a.jsonl").write_bytes(line(0))
    proc = subprocess.Popen(_devlog("start", "--no-progress"), stderr=subprocess.PIPE, text=True)
    try:
        db = Config().storage.db_path()
        assert _wait_for(lambda: db.exists() and expected_id(0) in db_ids())
        shutil.rmtree(logs)
        time.sleep(1.5)
        logs.mkdir()
        (logs / "a.jsonl").write_bytes(line(1))
        assert _wait_for(lambda: expected_id(1) in db_ids(), timeout=10)  # well within the 30 s pass
        append(logs / "a.jsonl", line(2))
        assert _wait_for(lambda: expected_id(2) in db_ids(), timeout=5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_start_no_history_and_once(logs: Path) -> None:
    write_config(logs)
    (logs / "a.jsonl").write_bytes(line(0) + line(1))
    result = CliRunner().invoke(cli, ["start", "--no-history", "--once"])
    assert result.exit_code == 0, result.output
    append(logs / "a.jsonl", line(2))
    assert CliRunner().invoke(cli, ["collect"]).exit_code == 0
    assert db_ids() == {expected_id(2)}


def test_collect_with_no_agent_logs_says_where_to_look() -> None:
    result = CliRunner().invoke(cli, ["collect"])
    assert result.exit_code == 0, result.output
    assert "no agent logs found" in result.stderr and "devlog demo" in result.stderr
    assert "no agent logs found" not in result.stdout


def test_collect_with_logs_gives_no_hint(logs: Path) -> None:
    write_config(logs)
    (logs / "a.jsonl").write_bytes(line(0))
    result = CliRunner().invoke(cli, ["collect"])
    assert result.exit_code == 0, result.output
    assert "no agent logs found" not in result.stderr


@pytest.mark.parametrize(
    ("glob", "message"),
    [
        ("''", "an empty glob selects nothing"),
        ("work/**", "'work/**' is relative"),
        (".hidden/**", "'.hidden/**' is relative"),
        ("~/work/", "'~/work/' ends with a slash, which no workspace path has: use '~/work/**' for everything"),
        ("~nosuchuser-devlog/w/**", "no user 'nosuchuser-devlog'"),
        ("'~/{1..5000}/**'", "glob '~/{1..5000}/**' cannot be used: its braces expand to more than 1,000 patterns"),
    ],
)
def test_config_check_refuses_workspace_globs_that_can_never_match(logs: Path, glob: str, message: str) -> None:
    write_config(logs, f"export:\n  remotes:\n    team:\n      url: http://127.0.0.1:1\n"
                       f"      workspaces: {{include: ['/home/dev/work/**', {glob}]}}\n")  # fmt: skip
    result = CliRunner().invoke(cli, ["config", "check"])
    assert result.exit_code == 2, result.output
    assert "export.remotes.team.workspaces.include" in result.output
    assert message in result.output


def test_remote_add_refuses_a_brace_glob_past_the_pattern_limit_and_leaves_the_file(logs: Path) -> None:
    path = write_config(logs)
    before = path.read_text()
    result = CliRunner().invoke(
        cli, ["remote", "add", "t", "http://127.0.0.1:1", "--include", "~/{1..5000}/**", "--auto-sync"]
    )
    assert result.exit_code == 2, result.output
    assert "export.remotes.t.workspaces.include: glob '~/{1..5000}/**' cannot be used" in result.output
    assert path.read_text() == before


def test_a_broken_export_section_never_stops_collection(logs: Path) -> None:
    write_config(logs, "export:\n  remotes:\n    team: {url: 'http://127.0.0.1:1', auto_synk: true}\n")
    append(logs / "a.jsonl", line(0) + line(1))
    result = subprocess.run(_devlog("collect", "--json"), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["events_added"] == 2
    assert "nothing is exported until" in result.stderr
    assert "export.remotes.team.auto_synk: unknown key" in result.stderr
    # Everything else stays strict: a bad collect key still stops `devlog collect`, naming it.
    write_config(logs, "export:\n  remotes:\n    team: {url: 'http://127.0.0.1:1', auto_synk: true}\ncolour: red\n")
    result = subprocess.run(_devlog("collect"), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "colour: unknown key" in result.stderr


def test_polling_with_a_symlink_loop_in_a_root_still_collects_live_lines(logs: Path) -> None:
    """The polling watcher stops at a symlink loop every time it starts; passes must take over."""
    write_config(logs)
    (logs / "a.jsonl").write_bytes(line(0))
    (logs / "loop.jsonl").symlink_to("loop.jsonl")
    env = dict(os.environ, DEVLOG_FORCE_POLLING="1")
    proc = subprocess.Popen(_devlog("start", "--no-progress"), env=env, stderr=subprocess.PIPE, text=True)
    try:
        db = Config().storage.db_path()
        assert _wait_for(lambda: db.exists() and expected_id(0) in db_ids())
        time.sleep(1.0)  # the watcher has started (and failed) by now
        append(logs / "a.jsonl", line(1))
        assert _wait_for(lambda: expected_id(1) in db_ids(), timeout=8.0)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert stderr.count("file watching failed") <= 1, stderr


def test_collect_says_when_collection_is_disabled(logs: Path) -> None:
    write_config(logs, "")
    path = config_path()
    path.write_text(path.read_text().replace("collect:\n", "collect:\n  enabled: false\n", 1))
    (logs / "a.jsonl").write_bytes(line(0))
    result = CliRunner().invoke(cli, ["collect"])
    assert result.exit_code == 0, result.output
    assert "collection is disabled (collect.enabled: false)" in result.stderr
    assert "no agent logs found" not in result.stderr
    assert not Config().storage.db_path().exists()


def test_an_interrupted_history_pass_does_not_claim_to_be_complete(logs: Path) -> None:
    import threading

    from devlog_collector.collect import Collector
    from devlog_collector.watch import CollectDaemon, DaemonOptions

    write_config(logs)
    (logs / "a.jsonl").write_bytes(line(0))
    said: list[str] = []
    stop = threading.Event()
    stop.set()  # as after Ctrl-C during the history pass
    daemon = CollectDaemon(Config(), DaemonOptions(announce=said.append), stop_event=stop)
    from devlog_collector.config import load_config

    config, _ = load_config()
    daemon.config = config
    with Store.open(config.storage.db_path()) as store:
        store.acquire_writer_lock()
        daemon._history(Collector(store, config, should_stop=stop.is_set), None)
    assert any(message.startswith("history pass interrupted:") for message in said), said
    assert not any(message.startswith("history collected") for message in said), said


def test_a_daemon_stopped_during_the_history_pass_is_shown_as_interrupted(logs: Path) -> None:
    """`devlog status` showed the run as finished, with half the history still unread."""
    import threading

    from devlog_collector.watch import CollectDaemon, DaemonOptions

    write_config(logs)
    (logs / "a.jsonl").write_bytes(line(0))
    stop = threading.Event()
    stop.set()  # as after Ctrl-C during the history pass
    CollectDaemon(Config(), DaemonOptions(), stop_event=stop).run()
    last = json.loads(CliRunner().invoke(cli, ["status", "--json"]).output)["store"]["last_collect"]
    assert last["finished_at"] is None
    shown = CliRunner().invoke(cli, ["status"], env={"COLUMNS": "200"}).output
    assert "(interrupted)" in shown
    # It stopped before it stored or recorded anything: no "0 events from 0 files" beside the table.
    assert "no counts recorded (stopped before its first record" in shown and "0 events" not in shown, shown
    CollectDaemon(Config(), DaemonOptions(once=True), stop_event=threading.Event()).run()  # read to its end
    last = json.loads(CliRunner().invoke(cli, ["status", "--json"]).output)["store"]["last_collect"]
    assert last["finished_at"] is not None


def test_collect_counts_the_stored_copies_a_rewritten_document_replaced(logs: Path) -> None:
    write_config(logs)
    chat = logs.parent / "gemini-home" / "tmp" / "acme" / "chats" / "session-2026-03-01T09-00-abcdef12.json"
    chat.parent.mkdir(parents=True)

    def write(reply: str, mtime: float) -> None:
        messages = [
            {"id": "u1", "timestamp": "2026-03-01T09:00:01Z", "type": "user", "content": "rename the module"},
            {"id": "g1", "timestamp": "2026-03-01T09:00:05Z", "type": "gemini", "content": reply},
        ]
        chat.write_text(json.dumps({"sessionId": "s-1", "startTime": "2026-03-01T09:00:00Z", "messages": messages}))
        os.utime(chat, (mtime, mtime))

    write("Renaming", time.time() - 60)
    first = json.loads(CliRunner().invoke(cli, ["collect", "--json"]).output)
    assert first["agents"]["gemini"]["events_added"] >= 2
    assert first["events_updated"] == 0
    write("Renamed the module and its imports.", time.time() - 30)  # Gemini rewrites the whole file
    second = CliRunner().invoke(cli, ["collect"])
    assert second.exit_code == 0, second.output
    assert "updated" in second.output
    again = json.loads(CliRunner().invoke(cli, ["collect", "--json"]).output)
    assert again["events_updated"] == 0  # unchanged since: nothing replaced
    write("Renamed the module, its imports and the docs.", time.time() - 10)
    third = json.loads(CliRunner().invoke(cli, ["collect", "--json"]).output)
    assert third["events_added"] == 0
    assert third["agents"]["gemini"]["events_updated"] == 1


def test_status_shows_what_a_running_daemon_collected_before_it_stops(logs: Path) -> None:
    """The run record is written after the history pass (and as it goes), not only at a clean exit."""
    import threading

    from devlog_collector.cli.status_cmd import gather_status
    from devlog_collector.config import load_config
    from devlog_collector.watch import CollectDaemon, DaemonOptions

    write_config(logs)
    (logs / "a.jsonl").write_bytes(b"".join(line(n) for n in range(5)))
    config, _ = load_config()
    stop = threading.Event()
    daemon = CollectDaemon(config, DaemonOptions(force_polling=True), stop_event=stop)
    thread = threading.Thread(target=daemon.run)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        last = None
        while time.monotonic() < deadline:
            if Config().storage.db_path().exists():
                last = gather_status()["store"].get("last_collect")
                if last and last["events_added"] == 5:
                    break
            time.sleep(0.1)
        assert last is not None and last["events_added"] == 5, last
        assert last["finished_at"] is None  # still running: not shown as finished
        assert last["files_read"] == 1
    finally:
        stop.set()
        thread.join(30)
    finished = gather_status()["store"]["last_collect"]
    assert finished["finished_at"] is not None and finished["events_added"] == 5


def test_a_damaged_store_is_one_line_with_what_to_do_and_status_fails(logs: Path) -> None:
    """`collect` printed a traceback on a damaged store; `status` exited 0 and advised a first collect
    (the container's health check is `devlog status --json`)."""
    write_config(logs)
    (logs / "a.jsonl").write_bytes(line(0))
    assert CliRunner().invoke(cli, ["collect"]).exit_code == 0
    store = Config().storage.db_path()
    store.write_bytes(b"this is not a database at all" * 1000)
    collected = CliRunner().invoke(cli, ["collect"])
    assert collected.exit_code == 1
    assert "file is not a database" in collected.stderr and "move the store file aside" in collected.stderr
    status = CliRunner().invoke(cli, ["status"])
    assert status.exit_code == 1
    assert "error cannot read the store: file is not a database; the store is damaged" in status.stdout
    assert "last collect" not in status.stdout
    as_json = CliRunner().invoke(cli, ["status", "--json"])
    assert as_json.exit_code == 1 and "file is not a database" in json.loads(as_json.stdout)["store"]["error"]


def test_status_says_when_collection_is_paused_for_disk_space(logs: Path) -> None:
    write_config(logs)
    config = config_path()
    config.write_text(config.read_text().replace("min_free_bytes: 0", f"min_free_bytes: {2**60}"))
    status = CliRunner().invoke(cli, ["status"])
    assert status.exit_code == 0
    assert "paused collection is paused: only" in status.stdout and "below storage.min_free_bytes" in status.stdout
    facts = json.loads(CliRunner().invoke(cli, ["status", "--json"]).stdout)
    assert facts["store"]["paused"].startswith("collection is paused: only")
    (logs / "a.jsonl").write_bytes(line(0))
    collected = CliRunner().invoke(cli, ["collect"])  # a one-shot pass does not "resume": it says what to do
    assert collected.exit_code == 1
    assert "error: collection stopped: only" in collected.stderr
    assert "run `devlog collect` again (it goes on from where it stopped)" in collected.stderr
    assert "until space returns" not in collected.stderr


def test_status_and_start_count_one_problem_and_one_file_in_the_singular(
    logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`claude: 1 problems` and `collecting history: 1 files` read wrong."""
    monkeypatch.setenv("COLUMNS", "400")  # (the problem line unwrapped)
    write_config(logs)
    (logs / "a.jsonl").write_bytes(line(0) + b"{bad\n")
    first = CliRunner().invoke(cli, ["start", "--once", "--no-progress"])
    assert first.exit_code == 0, first.output
    assert "collecting history: 1 file, " in first.stderr
    table = CliRunner().invoke(cli, ["status"])
    assert "generic:testagent: 1 problem; latest" in table.output
    (logs / "b.jsonl").write_bytes(line(1) + b"{bad\n")
    (logs / "c.jsonl").write_bytes(line(2))
    second = CliRunner().invoke(cli, ["start", "--once", "--no-progress"])
    assert re.search(r"collecting history: [2-9] files, ", second.stderr), second.stderr
    assert "generic:testagent: 2 problems; latest" in CliRunner().invoke(cli, ["status"]).output
    (logs / "d.jsonl").write_bytes(line(3))
    skipped = CliRunner().invoke(cli, ["start", "--once", "--no-history"])
    assert "skipping history: 1 existing file marked as read" in skipped.stderr


def test_start_once_paused_for_disk_space_exits_1_as_collect_does(logs: Path) -> None:
    """It exited 0 after "history pass paused for disk space: 0 events added so far"."""
    path = write_config(logs)
    path.write_text(path.read_text().replace("min_free_bytes: 0", "min_free_bytes: 1000000000000000"))
    (logs / "a.jsonl").write_bytes(line(0))
    once = CliRunner().invoke(cli, ["start", "--once", "--no-progress"])
    assert once.exit_code == 1, once.output
    assert "error: collection stopped: only" in once.stderr and "run `devlog start` again" in once.stderr
    path.write_text(path.read_text().replace("min_free_bytes: 1000000000000000", "min_free_bytes: 0"))
    assert CliRunner().invoke(cli, ["start", "--once", "--no-progress"]).exit_code == 0
    assert db_ids() == {expected_id(0)}


def test_lines_written_during_the_history_pass_arrive_as_soon_as_watching_starts(
    logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watcher only reports changes made after it starts: a line appended to a file the history
    pass had already read waited for the safety rescan (30 s) before this first live pass."""
    import threading

    from devlog_collector.config import load_config
    from devlog_collector.watch import CollectDaemon, DaemonOptions

    write_config(logs)
    (logs / "a.jsonl").write_bytes(b"".join(line(n) for n in range(5)))
    config, _ = load_config()
    stop = threading.Event()
    daemon = CollectDaemon(config, DaemonOptions(rescan_interval=600), stop_event=stop)
    history = daemon._history

    def history_then_a_late_line(*args: object, **kwargs: object) -> None:
        history(*args, **kwargs)  # type: ignore[arg-type]
        with (logs / "a.jsonl").open("ab") as handle:  # ... while the pass was still finishing
            handle.write(line(5))

    monkeypatch.setattr(daemon, "_history", history_then_a_late_line)
    thread = threading.Thread(target=daemon.run)
    thread.start()
    try:
        store = Config().storage.db_path()
        assert _wait_for(lambda: store.exists() and expected_id(5) in db_ids(), timeout=15)
    finally:
        stop.set()
        thread.join(30)


def test_ctrl_c_ends_devlog_collect_at_a_commit_and_says_what_it_kept(logs: Path) -> None:
    """It printed only click's `Aborted!`, and `devlog status` showed the run with 0 events."""
    from devlog_collector.cli.status_cmd import gather_status

    write_config(logs)
    for f in range(40):  # 40 files of ~1 MB: a pass of a few seconds
        (logs / f"{f:02d}.jsonl").write_bytes(b"".join(line(f * 5000 + n, text="x" * 150) for n in range(5000)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "devlog_collector", "collect"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    store = Config().storage.db_path()
    side = Path(f"{store}.first-load")  # a new store's first load is built aside until the pass stops

    def storing() -> bool:
        with contextlib.suppress(OSError):
            return side.stat().st_size > 2_000_000 or (store.exists() and len(db_ids()) > 0)
        return False

    assert _wait_for(storing, timeout=60)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    kept = len(db_ids())
    assert proc.returncode == 130, err
    assert f"interrupted: the {kept} events added so far are kept" in err.decode()
    assert 0 < kept < 200_000
    last = gather_status()["store"]["last_collect"]
    assert last["finished_at"] is None and last["events_added"] == kept  # shown as interrupted, with its events
    again = subprocess.Popen(
        [sys.executable, "-m", "devlog_collector", "collect"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert _wait_for(lambda: len(db_ids()) > kept, timeout=60)
    again.send_signal(signal.SIGTERM)  # as a service manager stops it: the same, with SIGTERM's code
    _, err = again.communicate(timeout=60)
    assert again.returncode == 143, err
    assert "interrupted: the" in err.decode()
    last = subprocess.run([sys.executable, "-m", "devlog_collector", "collect"], capture_output=True, timeout=120)
    assert last.returncode == 0, last.stderr
    assert len(db_ids()) == 200_000


def test_a_long_devlog_collect_records_its_progress_for_status(logs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A collect killed before its end (here: its end never recorded) shows what it had stored."""
    from devlog_collector.cli import collect_cmds
    from devlog_collector.cli.status_cmd import gather_status
    from devlog_collector.collect import Collector

    write_config(logs)
    for f in range(3):
        (logs / f"{f}.jsonl").write_bytes(b"".join(line(f * 100 + n) for n in range(100)))
    monkeypatch.setattr(collect_cmds, "PROGRESS_RECORD_S", 0.0)
    monkeypatch.setattr(Collector, "finish_run", lambda self, run_id, result: None)  # as if killed first
    assert CliRunner().invoke(cli, ["collect"]).exit_code == 0
    last = gather_status()["store"]["last_collect"]
    assert last["finished_at"] is None and last["events_added"] >= 200 and last["files_read"] >= 2


@pytest.mark.parametrize("others", [True, False], ids=["beside-a-watched-root", "nothing-else-watched"])
def test_an_agent_home_created_after_start_is_collected_without_waiting_for_the_full_pass(
    logs: Path, tmp_path: Path, others: bool
) -> None:
    """A configured root that does not exist yet (`~/.codex` before Codex is first run) cannot be
    watched; its first logs waited for the safety rescan (30 s; here 600 s, so only the check for
    missing roots can find them in time)."""
    import threading

    from devlog_collector.config import load_config
    from devlog_collector.watch import CollectDaemon, DaemonOptions

    codex_home = tmp_path / "later" / "codex"
    write_config(logs)
    text = config_path().read_text().replace("agents: [gemini]", "agents: [codex]")
    text = text.replace(f"roots: {{gemini: [{logs.parent / 'gemini-home'}]}}", f"roots: {{codex: ['{codex_home}']}}")
    if not others:
        text = text.replace(f"'{logs}/*.jsonl'", f"'{tmp_path / 'nowhere'}/*.jsonl'")
    config_path().write_text(text)
    config, _ = load_config()
    stop = threading.Event()
    daemon = CollectDaemon(config, DaemonOptions(rescan_interval=600), stop_event=stop)
    thread = threading.Thread(target=daemon.run)
    thread.start()
    store = Config().storage.db_path()

    def codex_events() -> int:
        if not store.exists():
            return 0
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT count(*) FROM events WHERE agent = 'codex'").fetchone()[0])

    try:
        assert _wait_for(lambda: store.exists(), timeout=15)
        time.sleep(1.5)  # watching by now
        session = "019a0000-0000-7000-8000-000000000001"
        rollout = codex_home / "sessions" / "2026" / "12" / "05" / f"rollout-2026-12-05T00-00-00-{session}.jsonl"
        rollout.parent.mkdir(parents=True)
        stamp = "2026-12-05T00:20:00.000Z"
        records = [
            {"timestamp": stamp, "type": "session_meta", "payload": {"id": session, "cwd": "/w/x"}},
            {"timestamp": stamp, "type": "event_msg", "payload": {"type": "user_message", "message": "hello"}},
        ]
        rollout.write_text("".join(json.dumps(record) + "\n" for record in records))
        assert _wait_for(lambda: codex_events() >= 2, timeout=15)
    finally:
        stop.set()
        thread.join(30)


def test_a_database_locked_when_read_is_read_again_soon_after_the_lock_ends(tmp_path: Path) -> None:
    """A Cursor write that takes the lock and ends without changing the file any more woke nothing:
    the chat waited for the next full pass (here 600 s; 30 s by default)."""
    import threading

    from devlog_collector.watch import CollectDaemon, DaemonOptions
    from tests.collector.collect_helpers import agent_config
    from tests.collector.sources.test_cursor import build_user_dir

    user = build_user_dir(tmp_path / "cursor-home", journal="delete")  # (a rollback journal: locks block readers)
    database = user / "globalStorage" / "state.vscdb"
    config = agent_config("cursor", user, tmp_path / "store")
    stop = threading.Event()
    daemon = CollectDaemon(config, DaemonOptions(rescan_interval=600), stop_event=stop)
    thread = threading.Thread(target=daemon.run)
    thread.start()
    store = config.storage.db_path()

    def stored(text: str) -> bool:
        if not store.exists():
            return False
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*) FROM events WHERE text = ?", (text,)).fetchone()[0] > 0

    try:
        assert _wait_for(lambda: store.exists(), timeout=15)
        time.sleep(1.5)  # history read, watching
        now = int(time.time() * 1000)
        composer = {"composerId": "locked-1", "createdAt": now, "lastUpdatedAt": now, "status": "completed",
                    "conversation": [{"type": 1, "bubbleId": "q1", "text": "asked while locked"}]}  # fmt: skip
        writer = sqlite3.connect(database, isolation_level=None)
        writer.execute("BEGIN EXCLUSIVE")
        writer.execute("INSERT INTO cursorDiskKV VALUES (?, ?)", ("composerData:locked-1", json.dumps(composer)))
        writer.execute("COMMIT")
        writer.execute("BEGIN EXCLUSIVE")  # Cursor holds the lock a while longer, then changes nothing
        time.sleep(3)
        writer.execute("ROLLBACK")
        writer.close()
        assert _wait_for(lambda: stored("asked while locked"), timeout=10)
    finally:
        stop.set()
        thread.join(30)


def test_status_lists_the_stored_events_of_an_agent_no_longer_collected() -> None:
    """Once `codex` left `collect.agents`, its 1,343 stored events vanished from `status`."""
    from tests.collector.query.helpers import ev, store_with

    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("collect:\n  agents: [claude]\n")
    store_with(Config().storage.db_path(), [ev("2026-03-01T10:00:00", "prompt", agent="codex", text="hi")]).close()
    table = CliRunner().invoke(cli, ["status"], env={"COLUMNS": "200"}).output
    row = next(line for line in table.splitlines() if "codex" in line)
    cells = [cell.strip() for cell in row.split("│") if cell.strip()]
    assert cells == ["codex", "-", "not collected now (not in the config's sources)", "0", "1", "0"], table


def test_start_says_what_retention_keeps(logs: Path) -> None:
    """With `retention_days`, older lines in the agents' logs are skipped: the history pass found
    "0 events" without a word of why."""
    import threading

    from devlog_collector.config import load_config
    from devlog_collector.watch import CollectDaemon, DaemonOptions

    write_config(logs, "  retention_days: 10\n")
    (logs / "a.jsonl").write_bytes(line(0))  # (October 2025: older than 10 days)
    config, _ = load_config()
    said: list[str] = []
    CollectDaemon(config, DaemonOptions(announce=said.append, once=True), stop_event=threading.Event()).run()
    assert "retention: events older than 10 days are not kept (storage.retention_days)" in said, said
    assert db_ids() == set()


def test_status_during_a_collect_that_has_recorded_no_counts_yet_does_not_say_zero(logs: Path) -> None:
    """`devlog collect` records its counts when it ends: status said "0 events from 0 file reads"
    beside a table of tens of thousands of events stored so far."""
    write_config(logs)
    from devlog_collector.collect import Collector
    from devlog_collector.config import load_config

    config, _ = load_config()
    with Store.open(config.storage.db_path()) as store:
        store.acquire_writer_lock()  # (a collect is running: it holds the writer lock)
        Collector(store, config).begin_run()
        shown = CliRunner().invoke(cli, ["status"], env={"COLUMNS": "200"}).output
    assert "running since" in shown and "no counts recorded yet" in shown and "0 events from" not in shown, shown
