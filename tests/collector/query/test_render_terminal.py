"""Human-readable output is safe for the terminal and fits its width (COLUMNS=80 here).

Stored text is whatever the agents logged: coloured tool output, bells, wide CJK text, emoji. The
tables and `show` must neither pass control sequences through nor overflow the terminal, while
json/jsonl/csv keep every byte as stored.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from devlog_collector.cli import cli
from devlog_collector.query.table import Column, clean_text, cut, display_width, format_table
from devlog_shared import Event
from tests.collector.query.helpers import default_db, ev, store_with

SONNET = "claude-sonnet-4-5-20250929"
ANSI_TEXT = "\x1b[31mFAIL\x1b[0m test_api \x07 \x1b]0;owned title\x07done\x1b[2J \x9b1m c1 \x00 nul"
TOOL_OUTPUT = "line one\n\x1b[32mPASS\x1b[0m\tok\x07\r\nline three"
CJK = "日本語のテキストを表示するテストです。全角文字は二列を使います。" + "😀🎉" * 10
UNPRICED = [f"an-unknown-model-with-a-rather-long-name-{n}" for n in ("alpha", "beta", "gamma")]
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@pytest.fixture(autouse=True)
def populated(isolated_home: Path) -> Path:
    home = "/w/Users/alice/src/github.com/example"
    events = [
        ev("2026-03-01T10:00:00", "prompt", text=ANSI_TEXT, session="sess-ansi", ident="a1", model="m\x1b[1mx"),
        ev("2026-03-01T10:00:05", "tool_result", tool="Bash", text=TOOL_OUTPUT, session="sess-ansi", ident="a2"),
        ev("2026-03-01T11:00:00", "response", model=SONNET, usage=(10, 20, 30, 40), text=CJK, session="sess-cjk"),
        ev("2026-03-02T09:00:00", "response", usage=(1, 1, 0, 0), session="s-ws1", workspace=f"{home}/work/api/sub"),
        ev("2026-03-02T09:00:00", "response", usage=(1, 1, 0, 0), session="s-ws2", workspace=f"{home}/work/web/sub"),
        *(
            ev("2026-03-03T09:00:00", "response", model=m, usage=(5, 5, 0, 0), session=f"sess-u{i}")
            for i, m in enumerate(UNPRICED)
        ),
    ]
    store_with(default_db(), events).close()
    return isolated_home


def run(*args: str, columns: int = 80) -> Result:
    result = CliRunner(env={"COLUMNS": str(columns)}).invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def widest(text: str) -> int:
    return max(display_width(line) for line in text.splitlines())


HUMAN = [
    ["query", "-n", "0"],
    ["sessions"],
    ["stats", "--by", "workspace"],
    ["stats", "--by", "model"],
    ["stats", "--by", "session"],
    ["show", "sess-ansi"],
    ["sql", "SELECT text, model, workspace FROM events"],
    ["sql", "SELECT * FROM events"],
    ["sql", "SELECT * FROM v_sessions"],
]


@pytest.mark.parametrize("args", HUMAN, ids=" ".join)
def test_no_escape_sequence_or_control_character_reaches_the_terminal(args: list[str]) -> None:
    out = run(*args, columns=1000).stdout
    assert "\x1b" not in out and "\x9b" not in out
    assert not CONTROL.findall(out.replace("\t", "")), repr(out)
    assert "\t" not in out


def test_show_keeps_line_breaks_and_turns_tabs_into_spaces() -> None:
    out = run("show", "sess-ansi").stdout
    assert "line one\nPASS    ok\ufffd\nline three\n" in out
    assert "FAIL test_api \ufffd done" in out and "owned title" not in out
    assert "\x1b" not in out and "\x07" not in out


def test_machine_formats_keep_the_text_as_stored() -> None:
    lines = run("query", "-f", "jsonl", "--session", "sess-ansi").stdout.splitlines()
    assert [json.loads(line)["text"] for line in lines] == [ANSI_TEXT, TOOL_OUTPUT]
    raw = run("query", "-f", "csv", "--session", "sess-ansi").stdout_bytes.decode()  # .stdout rewrites CRLF
    rows = list(csv.DictReader(io.StringIO(raw, newline="")))
    assert rows[1]["text"] == TOOL_OUTPUT
    assert json.loads(run("show", "sess-ansi", "-f", "json").stdout)[0]["text"] == ANSI_TEXT
    [row] = json.loads(run("sql", "SELECT text FROM events WHERE id = 'a1'", "-f", "json").stdout)
    assert row["text"] == ANSI_TEXT


@pytest.mark.parametrize("args", HUMAN, ids=" ".join)
def test_every_line_fits_80_columns(args: list[str]) -> None:
    out = run(*args).stdout
    if args[0] == "show":  # stored text wraps in the terminal; headings and rules must fit
        out = "\n".join(line for line in out.splitlines() if line.startswith(("──", "session ")))
    assert widest(out) <= 80, out


def test_sql_drops_trailing_columns_and_says_so() -> None:
    lines = run("sql", "SELECT * FROM events").stdout.splitlines()
    assert lines[0].split()[:2] == ["seq", "id"]
    note = re.fullmatch(r"\(\+(\d+) columns not shown; use -f csv or -f json\)", lines[-1])
    assert note is not None, lines[-1]
    header = run("sql", "SELECT * FROM events", "-f", "csv").stdout.splitlines()[0]
    assert len(lines[0].split()) + int(note[1]) == len(header.split(","))
    # every shown text column stays readable: not cut below 12 columns
    assert all(len(cell) >= 12 or not cell.endswith("…") for cell in re.split(r"\s{2,}", lines[1]))
    assert "not shown" not in run("sql", "SELECT agent, count(*) FROM events GROUP BY 1").stdout


def test_show_rules_follow_the_terminal_width_up_to_100() -> None:
    for columns, expected in ((60, 60), (80, 80), (300, 100)):
        out = run("show", "sess-ansi", columns=columns).stdout
        rules = [line for line in out.splitlines() if line.startswith("──")]
        assert rules and {display_width(rule) for rule in rules} == {expected}


def test_notes_under_tables_wrap() -> None:
    for args in (["stats"], ["sessions"]):
        out = run(*args).stdout
        note = out[out.index("* not priced") :]
        assert note.count("\n") > 1 and widest(note) <= 80
        assert all(name in " ".join(note.split()) for name in UNPRICED)


def test_query_table_measures_display_width() -> None:
    lines = run("query", "--session", "sess-cjk").stdout.splitlines()
    assert "日本語" in lines[1] and lines[1].endswith("…")
    assert display_width(lines[1]) <= 80 and display_width(lines[1]) >= 78


def test_stats_keys_use_spare_width_and_keep_the_end_of_paths() -> None:
    lines = run("stats", "--by", "workspace").stdout.splitlines()
    keys = [line.split()[0] for line in lines if "sub " in line]
    assert keys[0] != keys[1]
    assert keys[0].startswith("…") and keys[0].endswith("/work/api/sub") and keys[1].endswith("/work/web/sub")
    assert widest("\n".join(lines)) >= 78  # the spare columns went to the key


def test_display_width_and_cut() -> None:
    assert (display_width("abc"), display_width("日本"), display_width("e\u0301"), display_width("😀")) == (3, 4, 1, 2)
    assert cut("日本語のテキスト", 7) == "日本語…" and display_width(cut("日本語のテキスト", 6)) <= 6
    assert cut("/home/al/work/api/sub", 12, "start") == "…ork/api/sub"
    assert cut("/home/al/work/api/sub", 12, "middle") == "/home/…i/sub"
    assert cut("short", 12, "start") == "short"


def test_clean_text() -> None:
    assert clean_text("\x1b[1;31mred\x1b[0m") == "red"
    assert clean_text("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b") == "alinkb"
    assert clean_text("bell\x07 del\x7f c1\x85") == "bell\ufffd del\ufffd c1\ufffd"
    assert clean_text("a\nb\tc\r\nd") == "a b c d"
    assert clean_text("a\nb\tc\r\nd", newlines=True) == "a\nb       c\nd"
    assert clean_text("plain 日本 text") == "plain 日本 text"


def test_format_table_pads_wide_characters_and_cleans_headers() -> None:
    text = format_table([Column("k\x1b[1m"), Column("v", right=True)], [["日本", "1"], ["ab", "22"]], width=None)
    assert text.splitlines() == ["k      v", "日本   1", "ab    22"]


def test_show_heads_a_sub_agent_task_as_a_task_not_as_the_user() -> None:
    from msgspec.structs import replace

    from devlog_collector.query.render import render_conversation

    typed = ev("2026-03-01T10:00:00", "prompt", text="review the parser", ident="u")
    task = ev("2026-03-01T10:00:01", "prompt", text="Find every caller", ident="t")
    task = replace(task, attrs={"is_sidechain": True})
    shown = render_conversation([typed, task], width=80)
    assert "── USER · " in shown and "── TASK (to a sub-agent) · " in shown
    assert shown.index("review the parser") < shown.index("TASK (to a sub-agent)") < shown.index("Find every caller")


def test_show_marks_a_sub_agents_work_and_a_prompts_pasted_images() -> None:
    """Two sub-agents working at once interleaved their tool calls with nothing to tell them apart,
    and an image-only prompt showed an empty USER block."""
    from msgspec.structs import replace

    from devlog_collector.query.render import render_conversation

    pasted = replace(ev("2026-03-01T10:00:00", "prompt", text="", ident="p"), attrs={"images": 2})
    call = ev("2026-03-01T10:00:02", "tool_call", text="grep -rn retry", ident="c")
    work = replace(call, attrs={"is_sidechain": True, "agent_id": "a1b2"})
    unnamed = replace(call, id="d", attrs={"is_sidechain": True})
    shown = render_conversation([pasted, work, unnamed, call], width=100)
    assert "[2 images]" in shown
    assert shown.count("(sub-agent a1b2)") == 1 and shown.count("(sub-agent)") == 1


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (999, "999"),
        (1_234, "1.23K"),
        (999_499, "999K"),
        (999_500, "1M"),
        (999_999, "1M"),
        (4_561_234, "4.56M"),
        (999_600_000, "1B"),
        (999_999_999_999, "1,000B"),
    ],
)
def test_token_counts_never_shown_in_scientific_notation(count: int, shown: str) -> None:
    from devlog_collector.query.render import _tokens

    assert _tokens(count) == shown


def test_show_puts_a_responses_usage_on_its_text_instead_of_a_second_empty_reply() -> None:
    from devlog_collector.query.render import render_conversation

    text = ev("2026-03-02T09:00:01", session="s", text="Here is the fix.", attrs={"message_id": "msg_1"})
    call = ev("2026-03-02T09:00:02", "tool_call", session="s", tool="Edit", attrs={"message_id": "msg_1"})
    usage = ev("2026-03-02T09:00:02", session="s", model=SONNET, usage=(3, 105, 0, 0),
               attrs={"message_id": "msg_1", "usage_record": True})  # fmt: skip
    lone = ev("2026-03-02T09:01:00", session="s", model=SONNET, usage=(1, 7, 0, 0),
              attrs={"message_id": "msg_2", "usage_record": True})  # fmt: skip
    shown = render_conversation([text, call, usage, lone], width=100)
    headings = [line for line in shown.splitlines() if line.startswith("──")]
    assert len(headings) == 3  # text (with the usage), the tool call, and a usage with no text of its own
    assert headings[0].startswith("── ASSISTANT") and f"· {SONNET} · 108 tokens" in headings[0]
    assert "TOOL CALL" in headings[1] and "tokens" not in headings[1] and "· 8 tokens" in headings[2]
    assert "Here is the fix." in shown


def test_show_puts_codex_usage_rows_on_what_their_model_call_produced() -> None:
    """Codex's usage rows (from `token_count`) name no message; shown alone each read as an empty
    `ASSISTANT · 34,060 tokens` reply."""
    from devlog_collector.query.render import render_conversation

    prompt = ev("2026-03-02T09:00:00", "prompt", agent="codex", session="s", text="fix it")
    call = ev("2026-03-02T09:00:01", "tool_call", agent="codex", session="s", tool="shell")
    reply = ev("2026-03-02T09:00:03", agent="codex", session="s", text="Done.")
    usage = ev("2026-03-02T09:00:03", agent="codex", session="s", model="gpt-5", usage=(900, 100, 0, 0),
               attrs={"usage_record": True})  # fmt: skip
    again = ev("2026-03-02T09:01:00", agent="codex", session="s", text="And the test.")
    usage2 = ev("2026-03-02T09:01:00", agent="codex", session="s", model="gpt-5", usage=(50, 5, 0, 0),
                attrs={"usage_record": True})  # fmt: skip
    shown = render_conversation([prompt, call, reply, usage, again, usage2], width=100)
    headings = [line for line in shown.splitlines() if line.startswith("──")]
    assert len(headings) == 4  # no heading of its own for either usage row
    assert "TOOL CALL" in headings[1] and "· gpt-5 ·" in headings[1] and "· 1,000 tokens" in headings[1]
    assert "tokens" not in headings[2]
    assert "· 55 tokens" in headings[3]


def test_show_keeps_codex_usage_rows_in_their_own_turn() -> None:
    """A turn's tokens went on the previous turn's reply (hours earlier, another model)."""
    from devlog_collector.query.render import render_conversation

    def usage(ts: str, n: int) -> Event:
        return ev(ts, agent="codex", session="s", model="gpt-5.4", usage=(n, 0, 0, 0), attrs={"usage_record": True})

    first = ev("2026-03-02T09:00:00", "prompt", agent="codex", session="s", text="run the tests")
    reply = ev("2026-03-02T09:00:05", agent="codex", session="s", model="gpt-5.3-codex", text="All 12 tests pass.")
    second = ev("2026-03-03T00:00:00", "prompt", agent="codex", session="s", text="and now?")
    call = ev("2026-03-03T00:00:10", "tool_call", agent="codex", session="s", tool="shell")
    shown = render_conversation(
        [first, reply, second, usage("2026-03-03T00:00:20", 1000), call, usage("2026-03-03T00:00:30", 700),
         usage("2026-03-03T00:00:31", 5)],
        width=100,
    )  # fmt: skip
    headings = [line for line in shown.splitlines() if line.startswith("──")]
    assert "tokens" not in headings[1]  # turn 1's reply
    assert "· 1,000 tokens" in headings[3]  # a model call of turn 2 before any reply: on its own
    assert "TOOL CALL" in headings[4] and "· 705 tokens" in headings[4]  # the two calls after it, added up
    assert len(headings) == 5


def test_direction_controls_are_shown_not_obeyed() -> None:
    """A right-to-left override makes what follows read reversed where the terminal reorders text."""
    from devlog_collector.query.table import clean_text

    tricky = "approve \u202edaolnwod\u202c and \u2067isolated\u2069"
    shown = "approve \u27e6U+202E\u27e7daolnwod\u27e6U+202C\u27e7 and \u27e6U+2067\u27e7isolated\u27e6U+2069\u27e7"
    assert clean_text(tricky) == clean_text(tricky, newlines=True) == shown


def test_show_keeps_the_tokens_of_a_call_with_a_long_tool_name_and_marks_a_cancelled_reply() -> None:
    """MCP tool names pushed the response's tokens off the heading (rules stop at 100 columns), and a
    reply the user stopped looked like any other."""
    from msgspec.structs import replace

    from devlog_collector.query.render import render_conversation
    from devlog_shared import ToolInfo, Usage

    call = ev("2026-03-01T10:00:00", "tool_call", model="claude-opus-4-6", ident="c")
    call = replace(call, tool=ToolInfo(name="mcp__playwright__browser_take_screenshot_of_the_whole_page"),
                   usage=Usage(input_tokens=23_000, output_tokens=426))  # fmt: skip
    stopped = replace(ev("2026-03-01T10:00:05", "response", text="Sure, I'll start by", ident="r"),
                      attrs={"canceled": True})  # fmt: skip
    for width in (60, 80, 100):
        shown = render_conversation([call, stopped], width=width)
        heading = next(line for line in shown.splitlines() if line.startswith("── TOOL CALL"))
        assert "· 23,426 tokens" in heading and display_width(heading) == width
        assert "mcp__p" in heading or width < 80  # (at 60 columns the time and model fill it)
    assert "── ASSISTANT (cancelled) · " in shown


@pytest.mark.parametrize(
    ("text", "columns"),
    [("plain ascii", 11), ("café…", 5), (CJK, 2 * 32 + 2 * 20), ("e\u0301t\u00e9", 3), ("a\u200bb", 2),
     ("日本 and ascii 😀", 17)],
)  # fmt: skip
def test_display_width_counts_wide_and_zero_width_characters(text: str, columns: int) -> None:
    """Only the characters past ASCII are looked up now (a table of 113,000 cut summaries took 20 s)."""
    import unicodedata

    def per_character(char: str) -> int:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            return 0
        return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1

    assert display_width(text) == sum(map(per_character, text)) == columns
