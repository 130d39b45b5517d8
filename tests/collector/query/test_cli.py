"""The query commands from the command line: output, exit codes, and one-line errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from devlog_collector.cli import cli
from devlog_collector.paths import config_path
from tests.collector.query.helpers import default_db, ev, store_with

SONNET = "claude-sonnet-4-5-20250929"


@pytest.fixture(autouse=True)
def populated(isolated_home: Path) -> Path:
    events = [
        ev("2026-03-01T10:00:00", "prompt", text="add a health endpoint", session="sess-one", ident="p1"),
        ev(
            "2026-03-01T10:00:05",
            "response",
            model=SONNET,
            usage=(10, 20, 30, 40),
            text="I'll add the route",
            session="sess-one",
            ident="r1",
        ),
        ev("2026-03-01T10:00:06", "tool_call", tool="Edit", text="edit app.py", session="sess-one", ident="t1"),
        ev("2026-03-01T10:00:07", "tool_result", tool="Edit", text="updated", session="sess-one", ident="t2"),
        ev("2026-03-01T10:00:08", "file_edit", file="/w/work/api/app.py", session="sess-one", ident="f1"),
        ev(
            "2026-03-02T09:00:00",
            "response",
            agent="codex",
            model="unknown-model-x",
            usage=(5, 5, 0, 0),
            workspace="/w/personal/blog",
            session="sess-two",
            ident="r2",
        ),
    ]
    store_with(default_db(), events).close()
    return isolated_home


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_query_formats() -> None:
    table = run("query", "--workspace", "/w/work")
    assert table.exit_code == 0 and table.stdout.splitlines()[0].startswith("time")
    assert "add a health endpoint" in table.stdout and "sess-two" not in table.stdout
    jsonl = run("query", "--format", "jsonl", "--kind", "file_edit")
    assert [json.loads(line)["id"] for line in jsonl.stdout.splitlines()] == ["f1"]
    data = json.loads(run("query", "-f", "json", "--agent", "codex").stdout)
    assert data[0]["usage"] == {"input_tokens": 5, "output_tokens": 5}
    rows = list(csv.DictReader(io.StringIO(run("query", "-f", "csv", "--search", "route").stdout)))
    assert [r["id"] for r in rows] == ["r1"] and rows[0]["model"] == SONNET
    assert [json.loads(x)["id"] for x in run("query", "-f", "jsonl", "-n", "2").stdout.splitlines()] == ["f1", "r2"]
    assert len(run("query", "-f", "jsonl", "-n", "0").stdout.splitlines()) == 6


def test_stats_table_and_json() -> None:
    table = run("stats", "--local", "--by", "day", "--timezone", "UTC")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split()[:2] == ["date", "sessions"]
    assert lines[1].startswith("2026-03-01") and lines[2].startswith("2026-03-02") and lines[4].startswith("total")
    assert "not priced" in lines[-1] and "unknown-model-x (10 tokens)" in lines[-1]
    report = json.loads(run("stats", "--by", "agent", "-f", "json").stdout)
    assert [g["key"] for g in report["groups"]] == ["claude", "codex"]
    assert report["total"]["total_tokens"] == 110 and report["total"]["file_edits"] == 1
    assert report["unpriced_models"] == [{"model": "unknown-model-x", "tokens": 10}]
    assert report["groups"][0]["cost_usd"] > 0


def test_sessions_and_show() -> None:
    listed = json.loads(run("sessions", "-f", "json").stdout)
    assert [s["session_id"] for s in listed] == ["sess-one", "sess-two"]
    one = listed[0]
    assert (one["prompts"], one["total_tokens"], one["duration_s"], one["file_edits"]) == (1, 100, 8.0, 1)
    # Lists in JSON, as `stats` writes them (they were `;`-joined strings); joined in CSV only.
    assert listed[1]["unpriced_models"] == ["unknown-model-x"] and listed[0]["models"] == [SONNET]
    with_rows = run("sessions", "-f", "csv", "--agent", "codex").stdout
    rows = list(csv.DictReader(io.StringIO(with_rows)))
    assert [r["session_id"] for r in rows] == ["sess-two"] and rows[0]["unpriced_models"] == "unknown-model-x"
    # No session matching gives the same header (scripts read columns by position).
    assert run("sessions", "-f", "csv", "--agent", "gemini").stdout == with_rows.splitlines()[0] + "\n"
    assert "sess-one" in run("sessions").stdout
    shown = run("show", "sess-o", "--tz", "UTC")
    assert shown.exit_code == 0
    text = shown.stdout
    order = [
        text.index(s)
        for s in (
            "USER",
            "add a health endpoint",
            "ASSISTANT",
            "I'll add the route",
            "TOOL CALL",
            "TOOL RESULT",
            "FILE EDIT",
            "/w/work/api/app.py (+3 −1)",
        )
    ]
    assert order == sorted(order)
    assert run("show", "sess-one", "-f", "jsonl").stdout.splitlines()[0].startswith('{"id":"p1"')


def test_show_clips_long_tool_output_unless_full(isolated_home: Path) -> None:
    """A 2 MB file read is not a conversation: tool text is clipped to 40 lines; prompts never are."""
    output = "\n".join(f"line {n}" for n in range(500))
    prompt = "\n".join(f"requirement {n}" for n in range(60))
    store_with(default_db(), [
        ev("2026-03-03T10:00:00", "prompt", text=prompt, session="sess-long", ident="lp"),
        ev("2026-03-03T10:00:01", "tool_result", tool="Read", text=output, session="sess-long", ident="lr"),
    ]).close()  # fmt: skip
    clipped = run("show", "sess-long").stdout
    assert "requirement 59" in clipped  # the prompt whole
    assert "line 39" in clipped and "line 40" not in clipped
    assert "… (4,080 more characters, 460 more lines; `devlog show --full` shows all)" in clipped
    whole = run("show", "sess-long", "--full").stdout
    assert "line 499" in whole and "more lines" not in whole and "cut when collected" not in whole


def test_show_marks_turns_taken_out_of_the_chat(isolated_home: Path) -> None:
    """An undone Copilot request or a Cursor bubble an edit left behind read as an ordinary turn."""
    store_with(default_db(), [
        ev("2026-03-03T10:00:00", "prompt", text="also log every retry", session="sess-undo", ident="u1",
           attrs={"removed": True}),
        ev("2026-03-03T10:00:05", "prompt", text="log only the last retry", session="sess-undo", ident="u2"),
    ]).close()  # fmt: skip
    shown = run("show", "sess-undo").stdout
    assert "USER (removed)" in shown and shown.count("(removed)") == 1


def test_show_full_says_when_a_text_was_cut_when_collected(isolated_home: Path) -> None:
    """A 3 MB tool output is stored cut to 64 KiB (`attrs.truncated`); `--full` ended there silently."""
    stored = "x" * 1000
    store_with(default_db(), [
        ev("2026-03-03T10:00:01", "tool_result", tool="Bash", text=stored, session="sess-cut", ident="cr",
           attrs={"truncated": True, "text_length": 3_090_000}),
    ]).close()  # fmt: skip
    whole = run("show", "sess-cut", "--full").stdout
    assert "… (cut when collected: 3,089,000 more characters were not stored)" in whole


def test_sql_command() -> None:
    out = run("sql", "SELECT agent, count(*) AS n FROM events GROUP BY agent ORDER BY agent", "-f", "json")
    assert json.loads(out.stdout) == [{"agent": "claude", "n": 5}, {"agent": "codex", "n": 1}]
    assert run("sql", "SELECT id FROM v_events ORDER BY seq LIMIT 1", "-f", "csv").stdout == "id\np1\n"
    # JSON has no infinite numbers: SQLite's overflow is written as the string JSON tools use for it.
    big = "SELECT 1e308 * 10 AS up, -1e308 * 10 AS down, 1.5 AS x"
    assert json.loads(run("sql", big, "-f", "json").stdout) == [{"up": "Infinity", "down": "-Infinity", "x": 1.5}]
    assert json.loads(run("sql", big, "-f", "jsonl").stdout, parse_constant=pytest.fail)["up"] == "Infinity"
    assert run("sql", big, "-f", "csv").stdout == "up,down,x\nInfinity,-Infinity,1.5\n"


def test_prune_command() -> None:
    dry = run("prune", "--older-than", "1d", "--dry-run")
    assert dry.exit_code == 0 and dry.stdout.startswith("would delete 6 of 6 events older than")
    config_path().write_text(
        "export:\n  remotes:\n    team:\n      url: http://127.0.0.1:9\n      auto_sync: true\n"
        "      workspaces: {include: ['/w/work/**']}\n"
    )
    done = run("prune", "--older-than", "1d", "--json")
    assert json.loads(done.stdout)["deleted"] == 1 and json.loads(done.stdout)["kept_for_remotes"] == {"team": 5}
    forced = run("prune", "--older-than", "1d", "--force")
    assert forced.stdout.startswith("deleted 5 of 5 events")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["query", "--agent", "nope"],
            "error: --agent: unknown agent nope (valid: claude, codex, copilot, cursor, gemini)",
        ),
        (["query", "--last", "soon"], "error: --last: not a duration: 'soon'"),
        (["query", "--since", "2026-02-30"], "error: --since: not a date or time: '2026-02-30'"),
        (["query", "--workspace", "/w/elsewhere"], "error: --workspace: no events recorded in /w/elsewhere"),
        (["query", "--kind", "thought"], "error: --kind: unknown kind thought"),
        (["query", "--search", "AND"], "error: --search: not a valid full-text query 'AND'"),
        (["query", "--limit", "ten"], "error: --limit: not a whole number: 'ten'"),
        (["query", "--limit", "-1"], "error: --limit: must be 0 (no limit) or more"),
        (["query", "--limit", "99999999999999999999"], "error: --limit: must be at most 1,000,000,000 (0 = no limit)"),
        (["sessions", "-n", "1000000001"], "error: --limit: must be at most 1,000,000,000"),
        (["sql", "select 1", "--limit", "99999999999999999999"], "error: --limit: must be at most 1,000,000,000"),
        (["query", "--format", "xml"], "error: --format: 'xml' is not one of table, json, jsonl, csv"),
        (["query", "--model", "gpt-9"], "error: --model: no events with model 'gpt-9'"),
        (["query", "--session", "sess"], "error: --session: 'sess' matches several sessions"),
        (["stats", "--by", "year"], "error: --by: 'year' is not one of day, week, month"),
        (["stats", "--timezone", "Mars/Olympus"], "error: --timezone: unknown time zone 'Mars/Olympus'"),
        (["stats", "-f", "csv"], "error: --format: 'csv' is not one of table, json"),
        (["sessions", "--until", "tomorrow"], "error: --until: not a date or time"),
        (["show", "nope"], "error: SESSION_ID: no session with id or id prefix 'nope'"),
        (["sql", "DELETE FROM events"], "error: sql: refused, devlog sql is read-only (not allowed: delete events)"),
        (["sql", "PRAGMA query_only = 0"], "error: sql: refused, devlog sql is read-only"),
        (["prune", "--older-than", "old"], "error: --older-than: not a duration: 'old'"),
        # Usage errors too (they were click's three lines: Usage / Try / Error).
        (["query", "--bogus"], "error: No such option '--bogus' (see `devlog query --help`)"),
        (["query", "--limt", "5"], "error: No such option '--limt'. (Did you mean one of: '--last', '--limit'"),
        (["show"], "error: Missing argument 'SESSION_ID' (see `devlog show --help`)"),
        (["remote", "add"], "error: Missing argument 'NAME' (see `devlog remote add --help`)"),
        (["stats", "--by"], "error: Option '--by' requires an argument (see `devlog stats --help`)"),
        (["-x"], "error: No such option '-x' (see `devlog --help`)"),
        (["--verbose=3", "stats"], "error: Option '--verbose' does not take a value (see `devlog --help`)"),
    ],
)
def test_errors_are_one_line_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1


def test_missing_store_is_explained(isolated_home: Path) -> None:
    default_db().unlink()
    result = CliRunner().invoke(cli, ["stats"])
    assert result.exit_code == 1 and "run `devlog collect`" in result.stderr


def test_default_store_path_matches_the_config_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from devlog_collector.cli.query_cmd import _db_path
    from devlog_collector.config import Config

    assert _db_path() == Config().storage.db_path()
    monkeypatch.delenv("DEVLOG_HOME")
    assert _db_path() == Config().storage.db_path()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["query", "--agent", "gemini"], "no events match\n"),
        (["stats", "--agent", "gemini"], "no events match\n"),
        (["sessions", "--agent", "gemini"], "no sessions match\n"),
    ],
)
def test_nothing_matching_is_said_on_stderr_and_stdout_stays_empty(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 0
    assert (result.stdout, result.stderr) == ("", message)


def test_remote_filter_shows_what_a_remote_gets() -> None:
    """`-w` takes a folder and everything under it, so an excluded nested workspace was counted too:
    `--remote NAME` filters by the remote's own include/exclude rules, as `devlog export` routes."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "export:\n  remotes:\n"
        "    team: {url: 'http://127.0.0.1:9', workspaces: {include: ['/w/**'], exclude: ['**/personal/**']}}\n"
        "    personal: {url: 'http://127.0.0.1:9', workspaces: {include: ['/w/personal/**']}}\n"
        "    nobody: {url: 'http://127.0.0.1:9', workspaces: {include: ['/elsewhere/**']}}\n"
    )
    team = json.loads(run("stats", "--remote", "team", "-f", "json").stdout)
    assert team["total"]["total_tokens"] == 100 and team["total"]["events"] == 5
    assert json.loads(run("stats", "--local", "--remote", "team", "-f", "json").stdout)["total"] == team["total"]
    personal = run("query", "--remote", "personal", "-f", "jsonl")
    assert [json.loads(line)["id"] for line in personal.stdout.splitlines()] == ["r2"]
    assert "sess-one" in run("sessions", "--remote", "team").stdout
    assert run("query", "--remote", "nobody", "-f", "jsonl").stdout == ""
    unknown = CliRunner().invoke(cli, ["stats", "--remote", "tema"])
    assert unknown.exit_code == 2
    assert "--remote: unknown remote 'tema' (remotes: nobody, personal, team)" in unknown.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["status"],  # rich output
        ["stats"],
        ["sessions", "--format", "csv"],
        ["query", "--format", "jsonl"],
        ["sql", "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) SELECT i FROM n"],
    ],
    ids=lambda args: " ".join(args[:3])[:30],
)
def test_a_reader_that_goes_away_is_not_a_failure(args: list[str]) -> None:
    """`devlog stats | head -1` under `set -o pipefail`: some commands exited 1, others 0."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "devlog_collector", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command has written anything: every write fails
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, err
    assert err == b""


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize("args", [["stats"], ["query", "--format", "csv"]], ids=lambda args: args[0])
def test_output_that_cannot_be_written_is_one_line_not_a_traceback(args: list[str]) -> None:
    """`devlog query -f csv > file` on a full disk printed an OSError traceback."""
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "devlog_collector", *args], stdout=full, stderr=subprocess.PIPE, text=True
        )
    assert done.returncode == 1
    assert done.stderr == "error: cannot write the output: No space left on device\n"


def test_a_closed_stdout_is_written_nowhere_without_a_traceback() -> None:
    """`devlog start >&-` (a service manager without stdout): `sys.stdout` is None."""
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "devlog_collector", "stats"],
        stderr=subprocess.PIPE, text=True, preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_error_messages_do_not_pass_on_terminal_escapes_from_stored_values() -> None:
    """A session id that sets the window title (OSC) reached the terminal through an error message."""
    hostile = ["qq\x1b]0;PWNED\x07a", "qq\x1b[31mb"]
    store_with(default_db(), [ev("2026-03-03T10:00:00", "prompt", session=s, ident=f"h{n}") for n, s in
                              enumerate(hostile)]).close()  # fmt: skip
    result = CliRunner().invoke(cli, ["query", "--session", "qq"])
    assert result.exit_code == 2
    assert "matches several sessions" in result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


def test_json_of_sessions_and_stats_writes_text_as_utf8_like_the_other_commands(isolated_home: Path) -> None:
    """`sessions` and `stats` escaped non-ASCII (`"\\u65e5…"`) while query, sql and show wrote it raw."""
    store_with(default_db(), [ev("2026-03-03T10:00:00", "prompt", text="日本語のテスト", session="sess-jp",
                                 ident="jp", workspace="/w/work/日本")]).close()  # fmt: skip
    assert "日本語のテスト" in run("sessions", "-f", "json").stdout
    assert "/w/work/日本" in run("stats", "--by", "workspace", "-f", "json").stdout
