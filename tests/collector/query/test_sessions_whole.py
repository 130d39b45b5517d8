"""Filters select sessions; each listed session is still described by all of its events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from devlog_collector.cli import cli
from devlog_collector.query.filters import Filters
from devlog_collector.query.pricing import Pricer
from devlog_collector.query.sessions import list_sessions
from devlog_collector.store import Store
from devlog_shared import Event
from tests.collector.query.helpers import at, default_db, ev, store_with

SONNET = "claude-sonnet-4-5-20250929"


def long_session(start: datetime) -> list[Event]:
    """A session whose last (flaky test) events come three days after its start; tokens only early on."""

    def t(offset: timedelta) -> str:
        return (start + offset).isoformat()

    day, second = timedelta(days=1), timedelta(seconds=1)
    return [
        ev(t(0 * day), "prompt", text="set up the project", session="long", ident="l1"),
        ev(t(5 * second), "response", model=SONNET, usage=(100, 200, 0, 0), session="long", ident="l2"),
        ev(t(3 * day), "prompt", text="why is this test flaky", session="long", ident="l3"),
        ev(t(3 * day + 30 * second), "tool_result", tool="Bash", text="1 flaky failure", session="long", ident="l4"),
        ev(t(3 * second), "prompt", text="unrelated", session="other", ident="o1"),
    ]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = store_with(tmp_path / "events.db", long_session(at("2026-03-01T09:00:00")))
    yield s
    s.close()


@pytest.mark.parametrize(
    "filters",
    [
        Filters(since_ms=int(at("2026-03-04T00:00:00").timestamp() * 1000)),
        Filters(search="flaky"),
        Filters(kinds=("tool_result",)),
    ],
)
def test_a_filtered_session_is_summarised_over_all_its_events(store: Store, filters: Filters, tmp_path: Path) -> None:
    [one] = list_sessions(store, filters, pricer=Pricer.load(tmp_path / "p.json"))
    assert one.session_id == "long"
    assert (one.start, one.end) == (at("2026-03-01T09:00:00"), at("2026-03-04T09:00:30"))
    assert (one.events, one.prompts, one.total_tokens) == (4, 2, 300)
    assert one.cost_usd > 0 and one.models == {SONNET}


def test_unfiltered_listing_is_unchanged(store: Store, tmp_path: Path) -> None:
    found = list_sessions(store, Filters(), pricer=Pricer.load(tmp_path / "p.json"))
    assert [(s.session_id, s.events) for s in found] == [("other", 1), ("long", 4)]


def test_sessions_command_with_last_and_search(isolated_home: Path) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3, hours=1)
    store_with(default_db(), long_session(start)).close()
    for args in (["--last", "1d"], ["-q", "flaky"]):
        result = CliRunner().invoke(cli, ["sessions", "-f", "json", "--tz", "UTC", *args], catch_exceptions=False)
        [one] = json.loads(result.stdout)
        assert one["start"] == start.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        assert (one["prompts"], one["total_tokens"], one["duration_s"]) == (2, 300, 3 * 86400 + 30)
        table = CliRunner().invoke(cli, ["sessions", "--tz", "UTC", *args], catch_exceptions=False).stdout
        assert f"{start:%Y-%m-%d %H:%M}" in table and "72h00m" in table and " 300 " in table


def test_a_session_is_titled_by_its_agent_or_else_by_its_first_prompt(tmp_path: Path) -> None:
    """Copilot's and Cursor's chat titles (and Gemini's summaries) were stored but never shown, and
    a list of sessions read as ids and times only."""
    events = [
        ev("2026-03-01T10:00:00", "session_start", session="chat", agent="copilot", ident="c0",
           attrs={"title": "Fix the flaky login test"}),
        ev("2026-03-01T10:00:01", "prompt", session="chat", agent="copilot", text="why does it fail?", ident="c1"),
        ev("2026-03-01T11:00:00", "session_start", session="cli", ident="a0"),
        ev("2026-03-01T11:00:02", "prompt", session="cli", text="\n  Add retries to the client\nmore", ident="a2"),
        ev("2026-03-01T12:00:00", "response", session="quiet", text="no prompt here", ident="q1"),
    ]  # fmt: skip
    found = _titles(events)
    assert found == {"chat": "Fix the flaky login test", "cli": "Add retries to the client", "quiet": None}
    listed = CliRunner().invoke(cli, ["sessions", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert {row["session_id"]: row["title"] for row in json.loads(listed.output)} == found
    table = CliRunner().invoke(cli, ["sessions"], env={"COLUMNS": "200"})
    assert "Fix the flaky login test" in table.output and "Add retries to the client" in table.output


def test_a_sub_agent_task_prompt_titles_a_session_only_when_nothing_was_typed(tmp_path: Path) -> None:
    """Older Claude Code files hold a sub-agent's lines inline: its task prompt can come first."""
    task = {"is_sidechain": True}
    events = [
        ev("2026-03-01T10:00:00", "prompt", session="mixed", text="search the repo for retries", attrs=task,
           ident="m1"),
        ev("2026-03-01T10:00:05", "prompt", session="mixed", text="make the client retry", ident="m2"),
        ev("2026-03-01T11:00:00", "prompt", session="tasks", text="list the tests", attrs=task, ident="t1"),
    ]  # fmt: skip
    assert _titles(events) == {"mixed": "make the client retry", "tasks": "list the tests"}


def test_a_session_opened_with_a_pasted_image_is_titled_by_its_first_typed_words(tmp_path: Path) -> None:
    """An image-only first prompt (text "") won the first place and left the session untitled."""
    events = [
        ev("2026-03-01T10:00:00", "prompt", session="img", text="", attrs={"images": 1}, ident="i1"),
        ev("2026-03-01T10:00:05", "prompt", session="img", text="Why is the header overlapping the sidebar?",
           ident="i2"),
        ev("2026-03-01T11:00:00", "prompt", session="blank", text="  \n", ident="b1"),
    ]  # fmt: skip
    assert _titles(events) == {"img": "Why is the header overlapping the sidebar?", "blank": None}


def test_a_slash_or_shell_command_titles_a_session_only_when_nothing_else_was_typed(tmp_path: Path) -> None:
    """A Claude Code session opened with `/model opus` was titled "/model opus"."""
    events = [
        ev("2026-03-01T10:00:00", "prompt", session="s", text="/model opus", attrs={"slash_command": "/model"},
           ident="s1"),
        ev("2026-03-01T10:00:01", "prompt", session="s", text="!git status", attrs={"shell_mode": True}, ident="s2"),
        ev("2026-03-01T10:00:05", "prompt", session="s", text="review the screenshot diff", ident="s3"),
        ev("2026-03-01T11:00:00", "prompt", session="only", text="/clear", attrs={"slash_command": "/clear"},
           ident="o1"),
    ]  # fmt: skip
    assert _titles(events) == {"s": "review the screenshot diff", "only": "/clear"}


def _titles(events: list[Event]) -> dict[str, str | None]:
    """Each session's title as `devlog sessions` lists it, from a store holding `events`."""
    store = store_with(default_db(), events)
    try:
        return {s.session_id: s.title for s in list_sessions(store, Filters(), pricer=Pricer.load())}
    finally:
        store.close()
