"""`devlog query`: every filter, every output format, and the one-line errors for bad filters."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from devlog_collector.errors import UserError
from devlog_collector.query.events import query_events
from devlog_collector.query.filters import FilterArgs, build_filters, resolve_session
from devlog_collector.query.render import EVENT_CSV_COLUMNS, write_events
from devlog_collector.store import Store
from devlog_shared import GitInfo, SourceRef, decode_event, to_builtins
from tests.collector.query.helpers import at, ev, store_with

NOW = at("2026-03-10T12:00:00")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    events = [
        ev("2026-03-01T10:00:00", "prompt", text="add a health endpoint", session="alpha-1", ident="p1"),
        ev(
            "2026-03-01T10:00:05",
            "response",
            model="claude-sonnet-4-5",
            usage=(10, 20, 30, 40),
            text="I'll add the route",
            session="alpha-1",
            ident="r1",
        ),
        ev("2026-03-01T10:00:06", "tool_call", tool="Edit", text="edit app.py", session="alpha-1", ident="t1"),
        ev("2026-03-01T10:00:07", "file_edit", file="/w/work/api/app.py", session="alpha-1", ident="f1"),
        ev(
            "2026-03-09T08:00:00",
            "prompt",
            text="fix the webhook retry",
            workspace="/w/work/api/sub",
            session="alpha-2",
            ident="p2",
        ),
        ev(
            "2026-03-09T08:00:00",
            "prompt",
            text="personal notes",
            workspace="/w/work/api-other",
            session="beta-1",
            ident="p3",
        ),
        ev(
            "2026-03-09T09:00:00",
            "response",
            agent="codex",
            model="gpt-5",
            usage=(1, 2, 0, 3),
            text="done",
            workspace="/w/personal/blog",
            session="gamma-1",
            ident="r2",
        ),
        ev(
            "2026-03-09T09:30:00",
            "response",
            agent="myagent",
            text="generic agent line",
            workspace=None,
            session="delta-1",
            ident="r3",
        ),
    ]
    s = store_with(tmp_path / "events.db", events)
    yield s
    s.close()


def ids(store: Store, limit: int | None = None, **flags: object) -> list[str]:
    filters = build_filters(store, FilterArgs(**flags), now=NOW)  # type: ignore[arg-type]
    return [e.id for e in query_events(store, filters, limit=limit)]


def test_no_filter_returns_newest_in_time_order(store: Store) -> None:
    assert ids(store) == ["p1", "r1", "t1", "f1", "p2", "p3", "r2", "r3"]
    assert ids(store, limit=2) == ["r2", "r3"]


def test_workspace_matches_folder_and_below_but_not_siblings(store: Store) -> None:
    assert ids(store, workspace="/w/work/api") == ["p1", "r1", "t1", "f1", "p2"]
    assert ids(store, workspace="/w/work/api/") == ["p1", "r1", "t1", "f1", "p2"]
    assert ids(store, workspace="/w/work") == ["p1", "r1", "t1", "f1", "p2", "p3"]


def test_workspace_relative_and_home_paths(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    assert ids(store, workspace="w/personal") == ["r2"]
    monkeypatch.setenv("HOME", "/w")
    assert ids(store, workspace="~/personal/blog") == ["r2"]


def test_unknown_workspace_is_named(store: Store) -> None:
    with pytest.raises(UserError, match="no events recorded in /w/nowhere"):
        build_filters(store, FilterArgs(workspace="/w/nowhere"))
    with pytest.raises(
        UserError, match="--workspace: no user 'devlog-no-such-user' to expand in '~devlog-no-such-user/w'"
    ):
        build_filters(store, FilterArgs(workspace="~devlog-no-such-user/w"))


def test_time_filters(store: Store) -> None:
    assert ids(store, last="2d") == ["p2", "p3", "r2", "r3"]
    # --last ends now: an event dated later (a clock ahead) is not in it
    earlier = build_filters(store, FilterArgs(last="2d"), now=at("2026-03-09T08:30:00"))
    assert [e.id for e in query_events(store, earlier)] == ["p2", "p3"]  # not r2 (09:00) or r3 (09:30)
    assert ids(store, since="2026-03-09T08:30:00+00:00") == ["r2", "r3"]
    assert ids(store, until="2026-03-01") == ["p1", "r1", "t1", "f1"]  # a bare date includes the whole day
    assert ids(store, since="20260301", until="20260301") == ["p1", "r1", "t1", "f1"]  # as ccusage writes dates
    # An instant is inclusive too: f1 is at exactly 10:00:07.
    assert ids(store, since="2026-03-01T10:00:05Z", until="2026-03-01T10:00:07Z") == ["r1", "t1", "f1"]
    assert ids(store, since="2026-03-01T10:00:05Z", until="2026-03-01T10:00:06.999Z") == ["r1", "t1"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"last": "7x"}, "--last: not a duration: '7x'"),
        ({"last": "0d"}, "--last: must be a positive duration"),
        ({"since": "yesterday"}, "--since: not a date or time: 'yesterday'"),
        ({"until": "2026-13-01"}, "--until: not a date or time"),
        ({"since": "2026-03-05", "until": "2026-03-01"}, "is not before --until"),
        ({"last": "1d", "since": "2026-03-01"}, "either --last or --since/--until"),
        (
            {"agents": ("cloud",)},
            "--agent: unknown agent cloud (valid: claude, codex, copilot, cursor, gemini, myagent)",
        ),
        ({"kinds": ("prompts",)}, "--kind: unknown kind prompts (valid: session_start, prompt,"),
        ({"session": "zeta"}, "--session: no session with id or id prefix 'zeta'"),
        ({"session": "alpha"}, "--session: 'alpha' matches several sessions (alpha-1, alpha-2)"),
        ({"model": "gpt-4"}, "--model: no events with model 'gpt-4' (models in the store: claude-sonnet-4-5, gpt-5)"),
        ({"search": "foo-"}, "--search: not a valid full-text query 'foo-'"),
        ({"search": '"unbalanced'}, "--search: not a valid full-text query"),
        ({"workspace": "  "}, "--workspace: empty path"),
    ],
)
def test_bad_filters_raise_one_clear_line(store: Store, flags: dict[str, object], message: str) -> None:
    with pytest.raises(UserError) as info:
        build_filters(store, FilterArgs(**flags), now=NOW)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


def test_agent_kind_session_model_search(store: Store) -> None:
    assert ids(store, agents=("codex",)) == ["r2"]
    assert ids(store, agents=("myagent", "codex")) == ["r2", "r3"]  # an agent seen in the store is valid
    assert ids(store, agents=("gemini",)) == []  # built-in but absent: valid, empty
    assert ids(store, kinds=("prompt",)) == ["p1", "p2", "p3"]
    assert ids(store, kinds=("file_edit", "tool_call")) == ["t1", "f1"]
    assert ids(store, session="alpha-1") == ["p1", "r1", "t1", "f1"]
    assert ids(store, session="gam") == ["r2"]  # unique prefix
    assert resolve_session(store, "delta") == "delta-1"
    assert ids(store, model="gpt-5") == ["r2"]
    assert ids(store, search="webhook") == ["p2"]
    assert ids(store, search='"health endpoint"') == ["p1"]
    assert ids(store, search="route OR notes") == ["r1", "p3"]
    assert ids(store, search="route", agents=("codex",)) == []
    assert ids(store, search="notes OR done OR route", limit=2) == ["p3", "r2"]


def test_filters_combine(store: Store) -> None:
    assert ids(store, workspace="/w/work", kinds=("prompt",), last="5d") == ["p2", "p3"]


def _render(store: Store, fmt: str) -> str:
    out = io.StringIO()
    write_events(query_events(store, build_filters(store, FilterArgs()), limit=None), fmt, out)
    return out.getvalue()


def test_json_and_jsonl_carry_full_schema_v1_events(tmp_path: Path) -> None:
    full = ev(
        "2026-03-01T10:00:00",
        "tool_result",
        model="m",
        usage=(1, 2, 3, 4, 1),
        cost=0.5,
        tool="Bash",
        file="/w/x.py",
        text="out\nput",
        agent_version="2.1.90",
        parent_id="p0",
        machine="laptop",
        user="dev",
        git=GitInfo(remote="git@x:y.git", branch="main", commit="abc"),
        source=SourceRef(path="/l.jsonl", key="7"),
        attrs={"k": [1, 2]},
        ident="full-1",
    )
    with store_with(tmp_path / "e.db", [full]) as store:
        jsonl = _render(store, "jsonl").splitlines()
        assert decode_event(jsonl[0]) == full
        data = json.loads(_render(store, "json"))
        assert data == [to_builtins(full)]
        assert decode_event(json.dumps(data[0])) == full and data[0]["attrs"] == {"k": [1, 2]}
        rows = list(csv.DictReader(io.StringIO(_render(store, "csv"))))
    assert list(rows[0]) == list(EVENT_CSV_COLUMNS)
    row = rows[0]
    assert row["git.branch"] == "main" and row["source.key"] == "7" and row["tool.name"] == "Bash"
    assert row["usage.reasoning_tokens"] == "1" and row["cost_usd"] == "0.5" and row["text"] == "out\nput"
    assert json.loads(row["attrs"]) == {"k": [1, 2]} and row["file.lines_added"] == "3"


def test_table_fits_the_terminal(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    long = ev("2026-03-01T11:00:00", "prompt", text="word " * 200, workspace="/w/work/api", ident="long")
    store.commit([long])
    monkeypatch.setenv("COLUMNS", "70")
    lines = _render(store, "table").splitlines()
    assert lines[0].split()[:3] == ["time", "agent", "kind"] or lines[0].startswith("time")
    assert all(len(line) <= 70 for line in lines)
    assert any(line.endswith("…") for line in lines)
    assert len(lines) == 1 + 9  # header + one line per event


def test_last_is_relative_to_now(store: Store) -> None:
    filters = build_filters(store, FilterArgs(last="1h"), now=NOW + timedelta(days=1000))
    assert query_events(store, filters) == []


def test_chinese_japanese_and_korean_words_are_found_inside_sentences(tmp_path: Path) -> None:
    """FTS5's tokenizer takes a run of CJK characters as one token: such searches match substrings."""
    events = [
        ev("2026-03-01T10:00:00", "prompt", text="テストを追加して、日本語も確認してください", ident="ja"),
        ev("2026-03-01T10:00:05", "response", text="了解しました。バグを修正します。", ident="ja2"),
        ev("2026-03-01T10:00:06", "response", text="我来修复这个错误", ident="zh"),
        ev("2026-03-01T10:00:07", "response", text="버그를 수정했습니다", ident="ko"),
        ev("2026-03-01T10:00:08", "response", text="fixed it", agent="codex", ident="en"),
    ]
    with store_with(tmp_path / "events.db", events) as cjk:
        assert ids(cjk, search="日本語") == ["ja"]
        assert ids(cjk, search="修正") == ["ja2"]
        assert ids(cjk, search='"修复"') == ["zh"]
        assert ids(cjk, search="수정") == ["ko"]
        assert ids(cjk, search="修", agents=("codex",)) == []
        assert ids(cjk, search="fixed") == ["en"]  # other scripts still use the index


def test_a_cjk_search_returns_the_most_recently_collected_matches_like_any_search(tmp_path: Path) -> None:
    first = ev("2026-03-01T10:00:05", text="バグを修正します migration", ident="a")
    with store_with(tmp_path / "events.db", [first]) as s:
        s.commit([ev("2026-03-01T09:00:00", text="古い修正 migration", ident="backfilled")])  # collected later
        assert ids(s, limit=1, search="migration") == ["backfilled"]
        assert ids(s, limit=1, search="修正") == ["backfilled"]
        assert ids(s, limit=1, search="修正 OR nothing") == ["backfilled"]
        assert ids(s, limit=2, search="修正") == ["backfilled", "a"]  # shown in time order


def test_a_cjk_search_keeps_the_full_text_syntax(tmp_path: Path) -> None:
    """Words, phrases, AND/OR/NOT and parentheses work with CJK leaves; other leaves use the index."""
    events = [
        ev("2026-03-01T10:00:00", "prompt", text="バグを修正してください。ログイン画面が壊れています", ident="login"),
        ev("2026-03-01T10:00:05", "response", text="修正しました。Café tests pass", ident="fixed"),
        ev("2026-03-01T10:00:06", "response", text="the cafe menu", ident="cafe"),
        ev("2026-03-01T10:00:07", "response", text="ログアウト", ident="logout"),
    ]
    with store_with(tmp_path / "events.db", events) as cjk:
        assert ids(cjk, search="修正 ログイン") == ["login"]  # both words, anywhere (implicit AND)
        assert ids(cjk, search="修正 AND ログイン") == ["login"]
        assert ids(cjk, search="修正 OR cafe") == ["login", "fixed", "cafe"]  # cafe matches Café too
        assert ids(cjk, search="修正 NOT 画面") == ["fixed"]
        assert ids(cjk, search="修正 tests") == ["fixed"]
        assert ids(cjk, search="修正*") == ["login", "fixed"]
        assert ids(cjk, search='"ログイン画面"') == ["login"]
        assert ids(cjk, search='"ログ" NOT (画面 OR "修正")') == ["logout"]
        assert ids(cjk, search="ログ men*") == []


def test_every_cjk_script_emoji_and_ascii_case_in_a_mixed_search(tmp_path: Path) -> None:
    events = [
        ev("2026-03-01T10:00:00", "prompt", text="ㅋㅋㅋ 웃기다 lol", ident="jamo"),
        ev("2026-03-01T10:00:01", "prompt", text="𠮷野家で食事した", ident="ext-b"),
        ev("2026-03-01T10:00:02", "prompt", text="ㄅㄆㄇ bopomofo", ident="bopomofo"),
        ev("2026-03-01T10:00:03", "prompt", text="ㇰㇱ small ku", ident="kana-ext"),
        ev("2026-03-01T10:00:04", "prompt", text="emoji 🎉 修正済み done", ident="emoji"),
        ev("2026-03-01T10:00:05", "prompt", text="Login画面 capital", ident="case"),
    ]
    with store_with(tmp_path / "events.db", events) as cjk:
        for needle, expected in [("ㅋ", "jamo"), ("𠮷", "ext-b"), ("ㄅ", "bopomofo"), ("ㇰ", "kana-ext")]:
            assert ids(cjk, search=needle) == [expected], needle
        assert ids(cjk, search="修正 🎉") == ["emoji"]
        assert ids(cjk, search="🎉") == ["emoji"]  # the index drops emoji: matched as a substring
        assert ids(cjk, search="done 🎉") == ["emoji"]
        assert ids(cjk, search="login画面") == ids(cjk, search="LOGIN画面") == ["case"]
        for unsupported in ["NEAR(修正 済み)", "text:修正", "^修正", "修正 + 済み", "修正 -済み"]:
            with pytest.raises(UserError, match="is not supported in a search with Chinese"):
                ids(cjk, search=unsupported)
        for bad, message in [
            ("修正 AND", "ends where a word or phrase should follow"),
            ('"修正', "a quote is not closed"),
            ("(修正 OR 画面", "a parenthesis is not closed"),
            ("修正 )", "unexpected ')'"),
            ("OR 修正", "unexpected 'OR'"),
            ('修正 ""', "an empty phrase"),
        ]:
            with pytest.raises(UserError, match=re.escape(message)):
                ids(cjk, search=bad)
