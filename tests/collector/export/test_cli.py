"""`devlog remote ...` and `devlog export ...` end to end (config file, real store, loopback server)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from devlog_collector.cli import cli
from devlog_collector.config import load_config
from devlog_collector.paths import config_path
from tests.collector.export.faultserver import Fault, FaultServer
from tests.collector.export.helpers import fill_store, make_events

WORK = "/home/dev/work"

USER_CONFIG = """\
# my devlog config -- hand written
collect:
  agents: [claude, codex]   # only these two

# where things go
export:
  remotes:
    # the team server (keep!)
    team:
      url: http://127.0.0.1:9  # placeholder
      workspaces:
        include: ["/nowhere/**"]
export_default: none  # privacy first
"""


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def db_path() -> Path:
    return Path(os.environ["DEVLOG_HOME"]) / "data" / "events.db"


def test_remote_add_list_remove_keep_comments_and_never_write_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text(USER_CONFIG)
    monkeypatch.setenv("MY_KEY", "aik_supersecretvalue123456")
    code, _, err = invoke(
        "remote", "add", "personal", "http://127.0.0.1:8123", "--api-key-env", "MY_KEY",
        "--include", "~/personal/**", "--exclude", "**/scratch/**", "--auto-sync", "--interval", "45s",
        "--content", "metadata",
    )  # fmt: skip
    assert code == 0, err
    text = path.read_text()
    for comment in ("# my devlog config -- hand written", "# only these two", "# the team server (keep!)",
                    "# placeholder", "# privacy first", "# where things go"):  # fmt: skip
        assert comment in text
    assert "${MY_KEY}" in text and "supersecret" not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config, _ = load_config()
    personal = config.export.remotes["personal"]
    assert personal.api_key == "aik_supersecretvalue123456"
    assert personal.auto_sync and personal.sync_interval.total_seconds() == 45 and personal.content == "metadata"
    assert personal.workspaces.include == ["~/personal/**"]

    code, out, _ = invoke("remote", "list", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["personal"]["api_key"] == "aik_…3456"
    assert "supersecret" not in out

    code, _, err = invoke("remote", "add", "personal", "http://127.0.0.1:1")
    assert code == 2 and "already exists" in err

    assert invoke("remote", "remove", "personal")[0] == 0
    text = path.read_text()
    assert "personal" not in text and "# the team server (keep!)" in text and "# privacy first" in text


def test_removing_the_last_remote_keeps_the_comment_above_it() -> None:
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text(
        "export:\n  remotes:\n    # the team server\n    team:\n      url: http://127.0.0.1:9\n"
        "      workspaces:\n        include: ['~/work/**']\n"
    )
    code, _, err = invoke("remote", "remove", "team")
    assert code == 0, err
    text = path.read_text()
    assert "team:" not in text and "# the team server" in text
    config, _ = load_config()  # still a valid config
    assert config.export.remotes == {}
    code, _, err = invoke("remote", "add", "team", "http://127.0.0.1:9", "--include", "~/work/**")
    assert code == 0, err
    assert list(load_config()[0].export.remotes) == ["team"]


def test_remote_add_says_how_many_collected_workspaces_its_rules_select() -> None:
    fill_store(db_path(), make_events(6, [f"{WORK}/a", f"{WORK}/b", "/home/dev/private"]))
    code, _, err = invoke("remote", "add", "team", "http://127.0.0.1:9", "--include", f"{WORK}/**")
    assert code == 0, err
    assert "it selects 2 of the 3 collected workspaces (4 events)" in err
    code, _, err = invoke("remote", "add", "typo", "http://127.0.0.1:9", "--include", "/hmoe/dev/**")
    assert code == 0, err
    assert "select none of the 3 collected workspaces yet (a typo in a glob?)" in err


def test_the_default_remotes_summary_counts_the_events_without_a_workspace() -> None:
    """`remote edit` said 7 workspaces (280 events) where `remote test` said 8 and 284: the events
    without a workspace, which the `export_default` remote receives, were left out."""
    fill_store(db_path(), make_events(8, [f"{WORK}/a", None, "/home/dev/private", None]))
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "export_default: personal\nexport:\n  remotes:\n    personal:\n      url: http://127.0.0.1:9\n"
        "      workspaces:\n        include: ['/home/dev/**']\n"
    )
    code, _, err = invoke("remote", "edit", "personal", "--add-include", "/nothing/**")
    assert code == 0, err
    assert "it selects 2 of the 2 collected workspaces and the events without one (8 events)" in err


def test_invalid_edit_is_refused_and_the_file_is_untouched() -> None:
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text(USER_CONFIG)
    code, _, err = invoke("remote", "add", "bad", "ftp://example")
    assert code == 2 and "export.remotes.bad.url" in err
    assert "not changed: the change would make it invalid" in err and "is not valid" not in err
    assert path.read_text() == USER_CONFIG
    code, _, err = invoke("remote", "add", "rel", "https://devlog.example", "--include", "work/**")
    assert code == 2 and "'work/**' is relative" in err and "not changed" in err
    assert path.read_text() == USER_CONFIG


def test_export_dry_run_status_and_send(monkeypatch: pytest.MonkeyPatch) -> None:
    events = make_events(30, [f"{WORK}/a", f"{WORK}/b", "/home/dev/private"])
    fill_store(db_path(), events)
    with FaultServer() as srv:
        monkeypatch.setenv("TEAM_KEY", srv.api_key)
        assert invoke("remote", "add", "team", srv.url, "--api-key-env", "TEAM_KEY", "--include", f"{WORK}/**")[0] == 0

        code, out, _ = invoke("export", "--remote", "team", "--dry-run", "--json")
        plan = json.loads(out)
        assert plan["team"]["total"] == 20
        assert plan["team"]["workspaces"] == {f"{WORK}/a": 10, f"{WORK}/b": 10}
        assert not srv.requests  # nothing sent

        code, out, _ = invoke("export", "--status", "--json")
        (row,) = json.loads(out)
        assert (row["name"], row["status"], row["pending"]) == ("team", "pending", 20)

        code, _, err = invoke("export", "--remote", "team")
        assert code == 0, err
        assert "sent 20" in err
        assert len(srv.events) == 20

        code, out, _ = invoke("export", "--status", "--json")
        (row,) = json.loads(out)
        assert (row["status"], row["pending"], row["sent_total"]) == ("synced", 0, 20)
        assert row["last_success_at"] is not None

        code, out, _ = invoke("export", "--all", "--dry-run", "--json")
        assert json.loads(out)["team"]["total"] == 20

        code, out, err = invoke("export", "--all", "--json")  # a real export's results, as JSON on stdout
        assert code == 0, err
        [result] = json.loads(out)
        assert (result["remote"], result["sent"], result["duplicates"], result["status"]) == ("team", 20, 20, "ok")

        code, _, err = invoke("export", "--status", "--dry-run")
        assert code == 2 and "without --dry-run" in err


def test_export_all_resets_the_cursor_only_once_it_holds_the_remote(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--all` while another process's pass holds the remote: that pass ends by saving its own cursor.
    The reset used to happen before waiting for the lock, so the other pass wrote over it and `--all`
    sent nothing; now it happens under the lock, after the other pass."""
    import fcntl
    import sqlite3
    import threading

    fill_store(db_path(), make_events(12, [f"{WORK}/a"]))
    with FaultServer() as srv:
        monkeypatch.setenv("TEAM_KEY", srv.api_key)
        assert invoke("remote", "add", "team", srv.url, "--api-key-env", "TEAM_KEY", "--include", f"{WORK}/**")[0] == 0
        assert invoke("export", "--remote", "team")[0] == 0
        assert len(srv.events) == 12
        with open(f"{db_path()}.export-team.lock", "a+") as held:  # another process's pass, mid-way
            fcntl.flock(held, fcntl.LOCK_EX)
            outcome: list[tuple[int, str, str]] = []
            runner = threading.Thread(target=lambda: outcome.append(invoke("export", "--remote", "team", "--all")))
            runner.start()
            runner.join(1.0)
            assert runner.is_alive()  # waiting for the remote
            with sqlite3.connect(db_path()) as db:  # the other pass ends: it saves where it got to
                db.execute("UPDATE export_cursors SET last_seq = (SELECT max(seq) FROM events) WHERE remote = 'team'")
            fcntl.flock(held, fcntl.LOCK_UN)
        runner.join(30)
        [(code, _, err)] = outcome
        assert code == 0, err
        assert "sent 12 (0 new, 12 already there)" in err


def test_export_reports_pause_and_keeps_events_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    fill_store(db_path(), make_events(5, [f"{WORK}/a"]))
    with FaultServer() as srv:
        monkeypatch.setenv("TEAM_KEY", "wrong")
        invoke("remote", "add", "team", srv.url, "--api-key-env", "TEAM_KEY", "--include", f"{WORK}/**")
        code, _, err = invoke("export", "--remote", "team")
        assert code == 1 and "PAUSED" in err and "401" in err
        code, out, _ = invoke("export", "--status", "--json")
        (row,) = json.loads(out)
        assert (row["status"], row["pending"]) == ("paused", 5)
        assert "401" in row["paused_reason"]
        # a shell without the key's variable (the daemon that paused has it) cannot tell a new key: paused
        monkeypatch.delenv("TEAM_KEY")
        (row,) = json.loads(invoke("export", "--status", "--json")[1])
        assert (row["status"], row["pending"]) == ("paused", 5) and "401" in row["paused_reason"]
        # a new key (or url) resumes it at the next pass: shown as what it will be then, not still paused
        monkeypatch.setenv("TEAM_KEY", "k-test")
        (row,) = json.loads(invoke("export", "--status", "--json")[1])
        assert (row["status"], row["pending"], row["paused_reason"]) == ("pending", 5, None)


def test_status_prints_a_long_pause_reason_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reason ends with what to do; it was cut at 300 characters, mid-word."""
    import sqlite3

    fill_store(db_path(), make_events(2, [f"{WORK}/a"]))
    with FaultServer() as srv:
        monkeypatch.setenv("TEAM_KEY", "wrong")
        invoke("remote", "add", "team", srv.url, "--api-key-env", "TEAM_KEY", "--include", f"{WORK}/**")
        assert invoke("export", "--remote", "team")[0] == 1  # paused (401)
    reason = "HTTP 413 Request Entity Too Large: " + "the proxy said no. " * 20 + "then `devlog export` resumes"
    with sqlite3.connect(db_path()) as db:
        db.execute("UPDATE export_cursors SET paused_reason = ? WHERE remote = 'team'", (reason,))
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = invoke("export", "--status")
    assert code == 0 and f"team: paused: {reason}\n" in out


def test_export_gives_up_after_retries_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    fill_store(db_path(), make_events(5, [f"{WORK}/a"]))
    with FaultServer() as srv:
        srv.script(
            Fault("status", 503, headers={"Retry-After": "0"}), Fault("status", 503, headers={"Retry-After": "0"})
        )
        monkeypatch.setenv("TEAM_KEY", srv.api_key)
        invoke("remote", "add", "team", srv.url, "--api-key-env", "TEAM_KEY", "--include", f"{WORK}/**")
        monkeypatch.setattr("devlog_collector.export.client.Backoff.next_delay", lambda self, ra=None: 0.0)
        code, _, err = invoke("export", "--remote", "team", "--retries", "1")
        assert code == 1 and "FAILED after 2 attempts" in err and "503" in err
        code, out, _ = invoke("export", "--status", "--json")
        assert json.loads(out)[0]["status"] == "error"
        assert invoke("export", "--remote", "team")[0] == 0
        assert len(srv.events) == 5
        monkeypatch.setenv("COLUMNS", "80")  # the old error stays shown, led by what matters now
        code, out, _ = invoke("export", "--status")
        assert code == 0 and "synced" in out and "team: recovered since the last error, 20" in out
        assert out.rstrip().endswith("HTTP 503 Service Unavailable: injected")


def test_export_says_what_it_waits_for_before_each_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server answering 429 with `Retry-After: 40` kept `devlog export` silent for minutes."""
    fill_store(db_path(), make_events(3, [f"{WORK}/a"]))
    waits: list[float] = []
    with FaultServer() as srv:
        srv.script(Fault("status", 429, headers={"Retry-After": "40"}), Fault("status", 503))
        monkeypatch.setenv("TEAM_KEY", srv.api_key)
        invoke("remote", "add", "team", srv.url, "--api-key-env", "TEAM_KEY", "--include", f"{WORK}/**")
        monkeypatch.setattr("devlog_collector.export.exporter.time.sleep", waits.append)
        code, _, err = invoke("export", "--remote", "team")
    assert code == 0 and len(srv.events) == 3
    assert len(waits) == 2 and waits[0] >= 40
    lines = [line for line in err.splitlines() if "retrying in" in line]
    assert len(lines) == 2
    assert lines[0].startswith("team: HTTP 429") and "retrying in 40 s (the server asked for it)" in lines[0]
    assert lines[1].startswith("team: HTTP 503") and "the server asked" not in lines[1]
    assert all(line.endswith("(Ctrl-C stops; events stay pending)") for line in lines)


def test_remote_test_reports_key_and_selected_workspaces(monkeypatch: pytest.MonkeyPatch) -> None:
    fill_store(db_path(), make_events(9, [f"{WORK}/a", "/elsewhere"]))
    with FaultServer() as srv:
        monkeypatch.setenv("TEAM_KEY", srv.api_key)
        invoke("remote", "add", "team", srv.url, "--api-key-env", "TEAM_KEY", "--include", f"{WORK}/**")
        code, out, _ = invoke("remote", "test", "team", "--json")
        result = json.loads(out)
        assert code == 0 and result["reachable"] and result["key_valid"]
        assert result["workspaces"] == {f"{WORK}/a": 5}
        monkeypatch.setenv("TEAM_KEY", "nope")
        code, out, _ = invoke("remote", "test", "team")
        assert code == 1 and "key valid: no" in out
    code, out, _ = invoke("remote", "test", "team", "--json")
    assert code == 1 and json.loads(out)["reachable"] is False
    assert json.loads(out)["key_valid"] is None  # nobody judged the key
    code, out, _ = invoke("remote", "test", "team")
    assert code == 1 and "key valid: unknown" in out


def test_remote_test_fails_for_a_valid_key_that_cannot_deliver(monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only key, or one limited to other workspaces, passed `remote test`; the export then
    paused (403) or dead-lettered the events."""
    fill_store(db_path(), make_events(9, [f"{WORK}/a", f"{WORK}/b"]))
    with FaultServer() as srv:
        monkeypatch.setenv("TEAM_KEY", srv.api_key)
        invoke("remote", "add", "team", srv.url, "--api-key-env", "TEAM_KEY", "--include", f"{WORK}/**")
        srv.key_scopes = ["read"]
        code, out, _ = invoke("remote", "test", "team")
        assert code == 1 and "key valid: yes" in out
        assert "problem: the key lacks the 'ingest' scope" in out
        srv.key_scopes, srv.key_workspaces = ["ingest", "read"], [f"{WORK}/a/**"]
        code, out, _ = invoke("remote", "test", "team", "--json")
        result = json.loads(out)
        assert code == 1 and result["allowed_workspaces"] == [f"{WORK}/a/**"]
        [problem] = result["problems"]
        assert problem.startswith("1 selected workspace(s), 4 events, are outside the key's workspaces")
        assert problem.endswith(f"(dead letters): {WORK}/b; narrow the remote's include globs or widen the key")
        srv.key_workspaces = [f"{WORK}/**"]
        code, out, _ = invoke("remote", "test", "team")
        assert code == 0 and "problem" not in out and f"only workspaces matching: {WORK}/**" in out


def test_remote_test_judges_a_key_tilde_as_the_server_does(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The server reads a key's `~` as any usual home (/home/*, /Users/*, ...): a developer whose home
    is elsewhere passed `remote test`, then every event was rejected as forbidden_workspace."""
    home = tmp_path / "srv" / "home" / "alice"
    monkeypatch.setenv("HOME", str(home))
    fill_store(db_path(), make_events(6, [f"{home}/work/a"]))
    with FaultServer() as srv:
        monkeypatch.setenv("TEAM_KEY", srv.api_key)
        invoke("remote", "add", "team", srv.url, "--api-key-env", "TEAM_KEY", "--include", "~/work/**")
        srv.key_workspaces = ["~/work/**"]
        code, out, _ = invoke("remote", "test", "team", "--json")
        problems = json.loads(out)["problems"]
        assert code == 1 and len(problems) == 2
        assert problems[0].startswith("1 selected workspace(s), 6 events, are outside the key's workspaces")
        assert problems[1].startswith("the key's globs start with ~, which the server reads as any home folder")
        assert f"not as your home {home}; create the key with absolute globs (e.g. {home}/work/**)" in problems[1]
        monkeypatch.setenv("HOME", "/home/alice")  # a usual home: the same key glob covers it
        fill_store(db_path(), make_events(3, ["/home/alice/work/b"], start=100))
        code, out, _ = invoke("remote", "test", "team", "--json")
        assert json.loads(out)["workspaces"] == {"/home/alice/work/b": 3}
        assert code == 0 and json.loads(out)["problems"] == []


def test_export_refuses_unknown_remotes_and_a_missing_store() -> None:
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text(USER_CONFIG)
    code, _, err = invoke("export")
    assert code == 2 and "no devlog store" in err and "devlog collect" in err
    code, _, err = invoke("export", "--remote", "nope")
    assert code == 2 and "unknown remote" in err


def test_status_of_one_remote_lists_its_dead_letter_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    fill_store(db_path(), make_events(12, [f"{WORK}/a", f"{WORK}/b", f"{WORK}/c"]))

    def reject(event: dict[str, object]) -> str | None:
        return "forbidden_workspace: not allowed for this key" if event.get("workspace") == f"{WORK}/b" else None

    with FaultServer(reject=reject) as srv, FaultServer() as other:
        monkeypatch.setenv("TEAM_KEY", srv.api_key)
        monkeypatch.setenv("OTHER_KEY", other.api_key)
        invoke("remote", "add", "team", srv.url, "--api-key-env", "TEAM_KEY", "--include", f"{WORK}/**")
        invoke("remote", "add", "other", other.url, "--api-key-env", "OTHER_KEY", "--include", f"{WORK}/**")
        code, _, err = invoke("export", "--remote", "team")
        assert err.count("dead_lettered") <= 1  # one log line per reason, not one per event
        assert code == 1 and "4 rejected (see devlog export --status)" in err  # cron must notice
        code, out, _ = invoke("export", "--status", "--remote", "team")
        assert code == 0
        assert "other" not in out.split()
        assert "team: rejected by the server (dead letters), by reason:" in out
        assert "4  forbidden_workspace: not allowed for this key" in out
        code, out, _ = invoke("export", "--status", "--remote", "team", "--json")
        assert [row["name"] for row in json.loads(out)] == ["team"]
        code, _, err = invoke("export", "--status", "--remote", "nope")
        assert code == 2 and "nope" in err
        # rules changed: the next pass forgets the dead letters (what is still selected is sent again),
        # so status no longer counts them against the remote
        invoke("remote", "edit", "team", "--add-exclude", f"{WORK}/b")
        (row,) = json.loads(invoke("export", "--status", "--remote", "team", "--json")[1])
        assert row["dead_letters"] == 0
        assert "rejected by the server" not in invoke("export", "--status", "--remote", "team")[1]


def test_a_remote_urls_credentials_are_masked_wherever_it_is_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    """`remote add` and `remote test` printed `http://user:s3cr3tpw@...?access_token=tok123` in clear,
    while `remote list` and `config show` masked it."""
    fill_store(db_path(), make_events(3, [f"{WORK}/a"]))
    with FaultServer() as srv:
        monkeypatch.setenv("TEAM_KEY", srv.api_key)
        url = srv.url.replace("http://", "http://user:s3cr3tpw@") + "/?access_token=tok123"
        masked = srv.url.replace("http://", "http://user:***@") + "/?access_token=***"
        # (no api key: with one, a url's user:password is refused, see test_config)
        code, _, err = invoke("remote", "add", "team", url, "--include", f"{WORK}/**")
        assert code == 0, err
        assert f"added remote team ({masked})" in err
        printed = [err]
        code, out, _ = invoke("remote", "test", "team")
        assert out.startswith(f"team  {masked}\n")
        printed.append(out)
        code, out, _ = invoke("remote", "test", "team", "--json")
        assert json.loads(out)["url"] == masked
        printed.append(out)
        code, out, _ = invoke("export", "--status", "--json")
        assert json.loads(out)[0]["url"] == masked
        printed.append(out)
        for args in (("export", "--remote", "team"), ("export", "--status"), ("remote", "list"), ("config", "show")):
            _, out, err = invoke(*args)
            printed += [out, err]
    text = "\n".join(printed)
    assert "s3cr3tpw" not in text and "tok123" not in text


def test_removing_a_remote_forgets_its_dead_letters_with_its_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    """A remote added later under the same name inherited the dead letters of the removed one."""
    from tests.collector.export.helpers import cursor_row, dead_letters

    fill_store(db_path(), make_events(6, [f"{WORK}/a", f"{WORK}/b"]))

    def reject(event: dict[str, object]) -> str | None:
        return "forbidden_workspace: not allowed for this key" if event.get("workspace") == f"{WORK}/b" else None

    with FaultServer(reject=reject) as srv:
        monkeypatch.setenv("TEAM_KEY", srv.api_key)
        invoke("remote", "add", "team", srv.url, "--api-key-env", "TEAM_KEY", "--include", f"{WORK}/**")
        code, _, err = invoke("export", "--remote", "team")
        assert code == 1 and "3 rejected" in err
        assert len(dead_letters(db_path(), "team")) == 3
        code, _, err = invoke("remote", "remove", "team")
        assert code == 0, err
        assert dead_letters(db_path(), "team") == [] and cursor_row(db_path(), "team") is None
        invoke("remote", "add", "team", srv.url, "--api-key-env", "TEAM_KEY", "--include", f"{WORK}/a/**")
        code, out, _ = invoke("export", "--status", "--json")
        assert json.loads(out)[0]["dead_letters"] == 0


def test_an_uppercase_url_scheme_is_accepted_as_the_same_remote(monkeypatch: pytest.MonkeyPatch) -> None:
    """`HTTP://127.0.0.1:...` was refused as not an http:// URL; schemes are case-insensitive."""
    fill_store(db_path(), make_events(4, [f"{WORK}/a"]))
    with FaultServer() as srv:
        monkeypatch.setenv("TEAM_KEY", srv.api_key)
        shouted = srv.url.replace("http://", "HTTP://")
        code, _, err = invoke("remote", "add", "team", shouted, "--api-key-env", "TEAM_KEY", "--include", f"{WORK}/**")
        assert code == 0, err
        assert load_config()[0].export.remotes["team"].url == srv.url
        code, out, err = invoke("config", "check")
        assert code == 0 and out.startswith("ok: "), err
        code, _, err = invoke("export", "--remote", "team")
        assert code == 0, err
        assert len(srv.events) == 4


def test_remote_test_on_a_redirect_suggests_the_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hint named the full whoami URL; setting the remote's url to it doubled the API path."""
    with FaultServer() as srv, FaultServer() as moved:
        monkeypatch.setenv("TEAM_KEY", srv.api_key)
        invoke("remote", "add", "team", srv.url, "--api-key-env", "TEAM_KEY", "--include", f"{WORK}/**")
        srv.whoami_location = f"{moved.url}/api/v1/whoami"
        code, out, _ = invoke("remote", "test", "team")
        assert code == 1
        assert f"HTTP 302 Found: redirected to {moved.url} (set the remote's url to it)" in out


def test_a_paused_export_is_one_human_line_unless_logs_are_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a non-terminal stderr, `devlog export` printed the pause twice: its own line, and the
    `export_paused` warning as a JSON log line. `-v` (info logs) still gives the structured line."""
    fill_store(db_path(), make_events(3, [f"{WORK}/a"]))
    with FaultServer() as srv:
        monkeypatch.setenv("TEAM_KEY", "wrong")
        invoke("remote", "add", "team", srv.url, "--api-key-env", "TEAM_KEY", "--include", f"{WORK}/**")
        code, _, err = invoke("export", "--remote", "team")
        assert code == 1 and "PAUSED: HTTP 401" in err
        assert "export_paused" not in err and not [ln for ln in err.splitlines() if ln.startswith("{")]
        code, _, err = invoke("-v", "export", "--remote", "team")
        assert code == 1 and "PAUSED: HTTP 401" in err
        records = [json.loads(ln) for ln in err.splitlines() if ln.startswith("{")]
        paused = [r for r in records if r["event"] == "export_paused"]
        assert len(paused) == 1 and paused[0]["remote"] == "team" and paused[0]["status_code"] == 401


def test_remote_edit_changes_only_what_it_names_and_keeps_comments_and_style() -> None:
    path = config_path()
    path.parent.mkdir(parents=True)
    globs = 'include: ["/nowhere/**"]  # work only\n'
    globs += "        exclude:\n          - '**/scratch/**'   # never\n          - '**/tmp/**'"
    path.write_text(USER_CONFIG.replace('include: ["/nowhere/**"]', globs))
    code, _, err = invoke(
        "remote", "edit", "team", "--add-include", f"{WORK}/**", "--remove-exclude", "**/tmp/**",
        "--content", "metadata", "--auto-sync", "--interval", "2m",
    )  # fmt: skip
    assert code == 0, err
    text = path.read_text()
    for comment in ("# the team server (keep!)", "# placeholder", "# privacy first", "# work only", "# never"):
        assert comment in text
    assert f"""include: ["/nowhere/**", {WORK}/**]""" in text  # the list kept its [...] style
    remote = load_config()[0].export.remotes["team"]
    assert remote.workspaces.include == ["/nowhere/**", f"{WORK}/**"]
    assert remote.workspaces.exclude == ["**/scratch/**"]
    assert (remote.content, remote.auto_sync, remote.sync_interval.total_seconds()) == ("metadata", True, 120)
    assert remote.url == "http://127.0.0.1:9"  # untouched

    assert invoke("remote", "edit", "team", "--include", "/a/**", "--include", "/b/**", "--manual")[0] == 0
    remote = load_config()[0].export.remotes["team"]
    assert (remote.workspaces.include, remote.auto_sync) == (["/a/**", "/b/**"], False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope", "--url", "http://x"), "no remote named 'nope' in"),
        (("team",), "nothing to change: give at least one option"),
        (("team", "--remove-include", "/typo/**"), "remote 'team' has no include glob '/typo/**' (its include globs: "),
        (("team", "--url", "ftp://x"), "not changed: the change would make it invalid"),
        (("team", "--api-key-env", "dvl_abcdefghijkl_abcdefghijklmnopqrstuvwxyz"), "not the key"),
    ],
)
def test_remote_edit_refuses_what_it_cannot_do_and_leaves_the_file(args: tuple[str, ...], message: str) -> None:
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text(USER_CONFIG)
    code, _, err = invoke("remote", "edit", *args)
    assert code == 2 and message in err
    assert path.read_text() == USER_CONFIG


def test_remote_edit_of_the_globs_backfills_what_they_now_select(monkeypatch: pytest.MonkeyPatch) -> None:
    fill_store(db_path(), make_events(30, [f"{WORK}/a", f"{WORK}/b", "/home/dev/private"]))
    with FaultServer() as srv:
        monkeypatch.setenv("TEAM_KEY", srv.api_key)
        assert invoke("remote", "add", "team", srv.url, "--api-key-env", "TEAM_KEY", "--include", f"{WORK}/a")[0] == 0
        assert invoke("export", "--remote", "team")[0] == 0
        assert len(srv.events) == 10
        code, _, err = invoke("remote", "edit", "team", "--add-include", f"{WORK}/b")
        assert code == 0 and "it selects 2 of the 3 collected workspaces (20 events)" in err
        assert invoke("export", "--remote", "team")[0] == 0
        assert len(srv.events) == 20  # the newly selected workspace's history; the other one's only once
        # narrowed again, or moved to another url: said to start again, and to leave the server as it is
        for change in (("--remove-include", f"{WORK}/b"), ("--url", srv.url.replace("127.0.0.1", "localhost"))):
            code, _, err = invoke("remote", "edit", "team", *change)
            assert code == 0 and "export to team starts again from the first event the rules select" in err
            assert "what was sent before stays on the server, from every workspace" in err
        for same in (("--interval", "5m"), ("--url", srv.url.replace("127.0.0.1", "localhost")),
                     ("--add-include", f"{WORK}/a")):  # fmt: skip
            code, _, err = invoke("remote", "edit", "team", *same)
            assert code == 0 and "starts again" not in err, same
