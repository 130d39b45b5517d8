"""The exporter against a real HTTP server on loopback that injects faults (see faultserver.py)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from devlog_collector.config import parse_config
from devlog_collector.export.client import Backoff
from devlog_collector.export.exporter import RemoteExporter, export_with_retries
from devlog_collector.store import Store
from tests.collector.export.faultserver import Fault, FaultServer
from tests.collector.export.helpers import config, cursor_row, dead_letters, fill_store, make_events, remote

WORK = "/home/dev/work"
PERSONAL = "/home/dev/personal"


def fast_backoff() -> Backoff:
    return Backoff(initial=0.01, cap=0.05, rng=random.Random(7))


def run(name: str, cfg, db: Path, **kwargs):  # type: ignore[no-untyped-def]
    exporter = RemoteExporter.open(name, cfg, db)
    try:
        return export_with_retries(
            exporter, kwargs.pop("backoff", fast_backoff()), max_failures=kwargs.pop("max_failures", 20), **kwargs
        )
    finally:
        exporter.close()


def ids_for(events, workspaces):  # type: ignore[no-untyped-def]
    return {e.id for e in events if e.workspace in workspaces}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "events.db"


def test_routing_across_three_remotes_each_gets_exactly_its_events(db: Path) -> None:
    workspaces = [f"{WORK}/api", f"{WORK}/personal/notes", f"{PERSONAL}/blog", "/tmp/scratch", None]
    events = make_events(600, workspaces)
    fill_store(db, events)
    with FaultServer() as team, FaultServer() as personal, FaultServer() as catchall:
        cfg = config(
            {
                "team": remote(team.url, [f"{WORK}/**"], ["**/personal/**"]),
                "personal": remote(personal.url, [f"{PERSONAL}/**"]),
                "catchall": remote(catchall.url, ["/nothing/**"], ["/tmp/**"]),
            },
            export_default="catchall",
        )
        for name in ("team", "personal", "catchall"):
            outcome = run(name, cfg, db)
            assert outcome.caught_up and outcome.error is None
        assert set(team.events) == ids_for(events, {f"{WORK}/api"})
        assert set(personal.events) == ids_for(events, {f"{PERSONAL}/blog"})
        # The default takes what nobody selects (work/personal excluded by team, events without a
        # workspace) minus its own exclude (/tmp/**).
        assert set(catchall.events) == ids_for(events, {f"{WORK}/personal/notes", None})
        assert all(r.headers.get("Content-Encoding") == "gzip" for r in team.post_requests())
        assert all(r.headers.get("User-Agent", "").startswith("devlog/") for r in team.post_requests())
        assert all(r.headers.get("Idempotency-Key") for r in team.post_requests())


def test_remote_added_later_backfills_exactly_its_history_and_then_live(db: Path) -> None:
    events = make_events(900, [f"{WORK}/a", f"{PERSONAL}/b"])
    fill_store(db, events[:600])
    with FaultServer() as team, FaultServer() as personal:
        cfg1 = config({"team": remote(team.url, [f"{WORK}/**"])})
        run("team", cfg1, db)
        fill_store(db, events[600:])
        cfg2 = config({"team": remote(team.url, [f"{WORK}/**"]), "personal": remote(personal.url, [f"{PERSONAL}/**"])})
        assert run("personal", cfg2, db).caught_up
        assert set(personal.events) == ids_for(events, {f"{PERSONAL}/b"})
        assert run("team", cfg2, db).caught_up
        assert set(team.events) == ids_for(events, {f"{WORK}/a"})
        assert team.insert_attempts == len(team.events)  # the unchanged team remote resent nothing


def test_rules_change_makes_newly_matching_history_eligible(db: Path) -> None:
    events = make_events(300, [f"{WORK}/a", f"{WORK}/b"])
    fill_store(db, events)
    with FaultServer() as srv:
        run("team", config({"team": remote(srv.url, [f"{WORK}/a"])}), db)
        assert set(srv.events) == ids_for(events, {f"{WORK}/a"})
        run("team", config({"team": remote(srv.url, [f"{WORK}/*"])}), db)
        assert set(srv.events) == ids_for(events, {f"{WORK}/a", f"{WORK}/b"})


def test_remote_down_then_back_nothing_lost(db: Path) -> None:
    events = make_events(500, [f"{WORK}/a"])
    fill_store(db, events[:200])
    srv = FaultServer().start()
    url = srv.url
    cfg = config({"team": remote(url, [f"{WORK}/**"])})
    run("team", cfg, db)
    srv.stop()  # connections are now refused
    fill_store(db, events[200:400])  # collection goes on
    outcome = run("team", cfg, db, max_failures=3)
    assert outcome.error is not None and not outcome.caught_up
    assert str(outcome.error).startswith(f"cannot reach {url}: ConnectError")  # names where
    assert cursor_row(db, "team")[1] == "error"
    fill_store(db, events[400:])
    srv.start()  # same port
    try:
        outcome = run("team", cfg, db)
        assert outcome.caught_up
        assert set(srv.events) == {e.id for e in events}
        assert cursor_row(db, "team")[1] == "synced"
    finally:
        srv.stop()


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", 500),
        Fault("status", 502),
        Fault("status", 503, headers={"Retry-After": "0"}),
        Fault("status", 504),
        Fault("status", 408),
        Fault("hang", seconds=3.0),
        Fault("reset"),
        Fault("lose_response"),
    ],
    ids=["500", "502", "503", "504", "408", "hang", "reset", "lost-2xx"],
)
def test_transient_faults_are_retried_nothing_lost_nothing_duplicated(db: Path, fault: Fault) -> None:
    events = make_events(250, [f"{WORK}/a"])
    fill_store(db, events)
    with FaultServer() as srv:
        srv.script(Fault("ok"), fault, fault)
        cfg = config({"team": remote(srv.url, [f"{WORK}/**"], batch_size=100, timeout="0.5s")})
        backoff = fast_backoff()
        outcome = run("team", cfg, db, backoff=backoff)
        assert outcome.caught_up and outcome.error is None
        assert set(srv.events) == {e.id for e in events}
        assert len(backoff.history) == 2
        redelivered = srv.insert_attempts - len(srv.events)
        assert redelivered <= (200 if fault.kind == "lose_response" else 0)  # at most the in-flight batch, twice
        if fault.kind == "lose_response":
            # Both lost answers stored the batch; the third attempt is answered "duplicate".
            assert redelivered == 200 and outcome.duplicates == 100


def test_429_retry_after_is_honoured(db: Path) -> None:
    fill_store(db, make_events(10, [f"{WORK}/a"]))
    with FaultServer() as srv:
        srv.script(Fault("status", 429, headers={"Retry-After": "0.2"}))
        slept: list[float] = []
        cfg = config({"team": remote(srv.url, [f"{WORK}/**"])})
        outcome = run("team", cfg, db, backoff=Backoff(initial=0.001, cap=0.002), sleep=slept.append)
        assert outcome.caught_up
        assert slept == [pytest.approx(0.2)]
        assert len(srv.events) == 10


def test_backoff_schedule_grows_with_full_jitter_and_is_capped(db: Path) -> None:
    fill_store(db, make_events(5, [f"{WORK}/a"]))
    with FaultServer() as srv:
        srv.script(*[Fault("status", 503)] * 8)
        slept: list[float] = []
        backoff = Backoff(initial=1.0, cap=8.0, rng=random.Random(3))
        outcome = run(
            "team", config({"team": remote(srv.url, [f"{WORK}/**"])}), db, backoff=backoff, sleep=slept.append
        )
        assert outcome.caught_up and len(slept) == 8
        ceilings = [min(8.0, 2.0**n) for n in range(8)]
        assert all(0 <= d <= c for d, c in zip(slept, ceilings, strict=True))
        assert max(slept[4:]) > 2.0  # later attempts reach past the early ceilings


def test_413_splits_the_batch_and_a_single_oversized_event_is_dead_lettered(db: Path) -> None:
    events = make_events(64, [f"{WORK}/a"])
    # (too large in its attrs: a large text would be cut to the server's max_event_bytes instead)
    big = make_events(1, [f"{WORK}/a"], start=1000, attrs={"blob": "x" * 300_000})
    fill_store(db, events[:30] + big + events[30:])
    with FaultServer(max_body_bytes=200_000) as srv:
        srv.script(Fault("status", 413), Fault("status", 413))
        outcome = run("team", config({"team": remote(srv.url, [f"{WORK}/**"])}), db)
        assert outcome.caught_up
        assert set(srv.events) == {e.id for e in events}
        letters = dead_letters(db, "team")
        assert [eid for eid, _ in letters] == [big[0].id]
        assert "413" in letters[0][1]
        counts = [r.count for r in srv.post_requests() if r.status == 200]
        assert max(counts) < 64  # it was split


def test_a_text_is_cut_to_fit_a_body_limit_below_the_event_limit(db: Path) -> None:
    """An operator who lowers the body limit to match a proxy (300 kB) but keeps 1 MiB per event:
    a 900 kB prompt was refused with 413 and dead-lettered instead of arriving with its text cut."""
    events = make_events(3, [f"{WORK}/a"])
    big = make_events(1, [f"{WORK}/a"], start=1000, text="y" * 900_000)
    fill_store(db, events + big)
    with FaultServer(max_body_bytes=300_000, max_event_bytes=1024 * 1024) as srv:
        outcome = run("team", config({"team": remote(srv.url, [f"{WORK}/**"], content="full")}), db)
        assert outcome.caught_up and outcome.dead_lettered == 0, outcome
        assert dead_letters(db, "team") == []
        arrived = srv.events[big[0].id]
        assert arrived["attrs"]["truncated"] is True and 0 < len(arrived["text"]) < 300_000


def test_a_text_full_of_json_escapes_is_cut_to_the_longest_start_that_fits(db: Path) -> None:
    """Colour codes and backslashes take six and two bytes each in JSON: the cut was worked out from
    the text's UTF-8 bytes, and a 65,536-character test log arrived with no text at all at 20 kB."""
    import msgspec

    from devlog_collector.export.event_size import fit_event

    log = "".join(f"\x1b[32mPASS\x1b[0m tests\\test_mod_{n}.py::test_case\n" for n in range(1500))[:65_536]
    big = make_events(1, [f"{WORK}/a"], start=1000, text=log)[0]
    blob = fit_event(big, 20_000)
    sent = msgspec.json.decode(blob)
    assert len(blob) <= 20_000 and sent["attrs"] == {**big.attrs, "truncated": True, "text_length": len(log)}
    kept = len(sent["text"])
    assert log.startswith(sent["text"]) and kept > 2_000  # (~6,000 of these characters fit in 20 kB)
    longer = msgspec.structs.replace(big, text=log[: kept + 1], attrs=sent["attrs"])
    assert len(msgspec.json.encode(longer)) > 20_000  # the longest start that fits
    fill_store(db, [big])
    with FaultServer(max_body_bytes=65_536, max_event_bytes=20_000) as srv:
        assert run("team", config({"team": remote(srv.url, [f"{WORK}/**"], content="full")}), db).caught_up
        arrived = srv.events[big.id]["text"]  # (the exported copy carries a few more attrs)
        assert log.startswith(arrived) and abs(len(arrived) - kept) < 200


def test_a_cut_redacted_text_counts_only_the_masks_it_still_holds() -> None:
    """A 2 MB prompt of 20,559 masked passwords arrived cut to 1 MiB, holding 18,386 masks, and still
    said `redactions: 20559`."""
    import msgspec

    from devlog_collector.export.content import apply_policy, default_redactor
    from devlog_collector.export.event_size import REDACTION_MARK, fit_event

    text = "".join(f"export DB_PASSWORD=Sup3rS3cret{n:05d}\n" for n in range(3000))
    event = make_events(1, [f"{WORK}/a"], start=1000, text=text)[0]
    shared = apply_policy(event, "redacted", default_redactor())
    assert shared.attrs["redactions"] == 3000 == (shared.text or "").count(REDACTION_MARK)
    sent = msgspec.json.decode(fit_event(shared, 20_000))
    assert sent["attrs"]["truncated"] is True
    assert 0 < sent["attrs"]["redactions"] == sent["text"].count(REDACTION_MARK) < 3000


@pytest.mark.parametrize("status", [413, 400])
def test_a_remote_that_refuses_every_event_alike_pauses_instead_of_dead_lettering(db: Path, status: int) -> None:
    """A proxy's body-size limit or a firewall answers every request alike: splitting down to single
    events then dead-lettered all of them, and the remote read `synced` with nothing delivered."""
    events = make_events(40, [f"{WORK}/a"])
    fill_store(db, events)
    with FaultServer() as srv:
        srv.script(*[Fault("status", status, body=b'{"title":"blocked by the proxy"}')] * 200)
        cfg = config({"team": remote(srv.url, [f"{WORK}/**"])})
        outcome = run("team", cfg, db)
        assert outcome.paused and not outcome.caught_up
        assert "refused 3 events in a row one by one with the same answer" in (outcome.paused_reason or "")
        assert "were not dead-lettered" in (outcome.paused_reason or "")
        assert dead_letters(db, "team") == []
        assert srv.events == {}
        row = cursor_row(db, "team")
        assert row is not None and row[0] == 0 and row[1] == "paused"
        with srv.lock:
            srv.faults.clear()  # the proxy is fixed
        outcome = run("team", cfg, db, resume=True)
        assert outcome.caught_up and outcome.sent == 40
        assert set(srv.events) == {e.id for e in events} and dead_letters(db, "team") == []


def test_a_trickle_refused_alike_is_held_until_three_pause_the_remote(db: Path) -> None:
    """Auto-sync sends one or two events a pass: counted per pass, the three in a row were never
    reached, and a proxy refusing every request had each new event dead-lettered."""
    events = make_events(3, [f"{WORK}/a"])
    with FaultServer() as srv:
        srv.script(*[Fault("status", 413, body=b'{"error":"boom"}')] * 200)
        cfg = config({"team": remote(srv.url, [f"{WORK}/**"])})
        for held, event in enumerate(events[:2], start=1):
            fill_store(db, [event])
            outcome = run("team", cfg, db, max_failures=1)
            assert outcome.error is not None and not outcome.paused and outcome.dead_lettered == 0
            assert f"refused {held} event" in str(outcome.error) and "held pending" in str(outcome.error)
            row = cursor_row(db, "team")
            assert row is not None and row[0] == 0 and row[1] == "error"  # (the cursor stays before them)
        fill_store(db, [events[2]])
        outcome = run("team", cfg, db, max_failures=1)
        assert outcome.paused and "refused 3 events in a row" in (outcome.paused_reason or "")
        assert dead_letters(db, "team") == []
        with srv.lock:
            srv.faults.clear()  # the proxy is fixed
        outcome = run("team", cfg, db, resume=True)
        assert outcome.caught_up and set(srv.events) == {e.id for e in events}


def test_an_event_held_alone_is_dead_lettered_once_a_later_one_is_accepted(db: Path) -> None:
    events = make_events(2, [f"{WORK}/a"])
    with FaultServer() as srv:
        cfg = config({"team": remote(srv.url, [f"{WORK}/**"])})
        fill_store(db, events[:1])
        srv.script(Fault("status", 422, body=b'{"detail":"bad event"}'))
        outcome = run("team", cfg, db, max_failures=1)
        assert outcome.error is not None and dead_letters(db, "team") == []
        fill_store(db, events[1:])
        srv.script(*[Fault("status", 422, body=b'{"detail":"bad event"}')] * 2)  # the batch, then the first alone
        outcome = run("team", cfg, db, max_failures=1)
        assert outcome.caught_up and outcome.sent == 1 and outcome.dead_lettered == 1
        assert [eid for eid, _ in dead_letters(db, "team")] == [events[0].id]
        assert set(srv.events) == {events[1].id}


def test_events_refused_alone_among_accepted_ones_are_dead_lettered(db: Path) -> None:
    """Two oversized events side by side, and one beyond the server's limits: not a blanket refusal."""
    events = make_events(30, [f"{WORK}/a"])
    big = make_events(3, [f"{WORK}/a"], start=1000, attrs={"blob": "x" * 300_000})
    fill_store(db, events[:10] + big + events[10:])
    with FaultServer(max_body_bytes=200_000) as srv:
        outcome = run("team", config({"team": remote(srv.url, [f"{WORK}/**"])}), db)
    assert outcome.caught_up and outcome.dead_lettered == 3
    assert {eid for eid, _ in dead_letters(db, "team")} == {e.id for e in big}


def test_rejected_items_are_dead_lettered_and_the_rest_continue(db: Path) -> None:
    events = make_events(50, [f"{WORK}/a"])
    bad = {events[7].id, events[31].id}
    fill_store(db, events)
    with FaultServer(reject=lambda e: "forbidden_workspace" if e["id"] in bad else None) as srv:
        outcome = run("team", config({"team": remote(srv.url, [f"{WORK}/**"])}), db)
        assert outcome.caught_up and outcome.dead_lettered == 2
        assert set(srv.events) == {e.id for e in events} - bad
        assert {eid for eid, _ in dead_letters(db, "team")} == bad
        assert all(reason == "forbidden_workspace" for _, reason in dead_letters(db, "team"))


def test_dead_letters_are_logged_once_per_reason_per_pass_not_per_batch(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key refusing a whole workspace logged one warning per batch (73 for one reason)."""
    from devlog_collector.export import exporter as exporter_module

    logged: list[tuple[str, dict[str, object]]] = []

    class Recorder:
        def __getattr__(self, level: str) -> object:
            return lambda event, **fields: logged.append((event, fields))

    monkeypatch.setattr(exporter_module, "log", Recorder())
    events = make_events(120, [f"{WORK}/a", f"{WORK}/scratch"])
    fill_store(db, events)
    refuse = {e.id for e in events if e.workspace == f"{WORK}/scratch"}
    with FaultServer(reject=lambda e: "forbidden_workspace" if e["id"] in refuse else None) as srv:
        team = remote(srv.url, [f"{WORK}/**"], batch_size=10)
        outcome = run("team", config({"team": team}), db)
    assert outcome.caught_up and outcome.dead_lettered == 60
    warned = [fields for event, fields in logged if event == "export_events_dead_lettered"]
    assert warned == [{"remote": "team", "events": 60, "reason": "forbidden_workspace"}]


def test_dead_letters_of_events_the_rules_no_longer_select_are_forgotten(db: Path) -> None:
    """Rules that sent a workspace the key refuses, then changed back: its dead letters stayed (and
    were counted by `--status`) for good, and only `remote remove` cleared them."""
    events = make_events(60, [f"{WORK}/a", f"{WORK}/scratch"])
    fill_store(db, events)
    refuse = {e.id for e in events if e.workspace == f"{WORK}/scratch"}
    keep = set(list(refuse)[:3])
    with FaultServer(reject=lambda e: "forbidden_workspace" if e["id"] in refuse else None) as srv:
        assert run("team", config({"team": remote(srv.url, [f"{WORK}/**"])}), db).dead_lettered == 30
        assert len(dead_letters(db, "team")) == 30
        narrowed = config({"team": remote(srv.url, [f"{WORK}/a"])})
        assert run("team", narrowed, db).caught_up
        assert dead_letters(db, "team") == []
        srv.reject = lambda e: "forbidden_workspace" if e["id"] in keep else None
        assert run("team", config({"team": remote(srv.url, [f"{WORK}/**"])}), db).dead_lettered == 3
    assert {eid for eid, _ in dead_letters(db, "team")} == keep  # still selected, still refused: back


def test_a_dead_letter_is_cleared_once_its_event_is_accepted(db: Path) -> None:
    """The server's key was widened, the developer ran `export --all`: the events arrived, so they no
    longer count as dead letters."""
    events = make_events(30, [f"{WORK}/a"])
    bad = {events[3].id, events[17].id, events[25].id}
    fill_store(db, events)
    with FaultServer(reject=lambda e: "forbidden_workspace" if e["id"] in bad else None) as srv:
        cfg = config({"team": remote(srv.url, [f"{WORK}/**"])})
        assert run("team", cfg, db).dead_lettered == 3
        srv.reject = lambda e: "forbidden_workspace" if e["id"] == events[25].id else None
        with Store.open(db) as store, store.transaction() as tx:  # what `devlog export --all` does
            tx.execute("UPDATE export_cursors SET last_seq = 0 WHERE remote = 'team'")
        assert run("team", cfg, db).caught_up
        assert set(srv.events) == {e.id for e in events} - {events[25].id}
        assert [eid for eid, _ in dead_letters(db, "team")] == [events[25].id]


@pytest.mark.parametrize("status", [401, 403, 404, 501])
def test_auth_errors_pause_the_remote_and_drop_nothing(db: Path, status: int) -> None:
    events = make_events(20, [f"{WORK}/a"])
    fill_store(db, events)
    with FaultServer() as srv:
        srv.script(Fault("status", status))
        cfg = config({"team": remote(srv.url, [f"{WORK}/**"])})
        outcome = run("team", cfg, db)
        assert outcome.paused and str(status) in (outcome.paused_reason or "")
        assert cursor_row(db, "team")[:2] == (0, "paused")
        # Still paused on the next automatic pass; nothing was sent.
        assert run("team", cfg, db).paused and not srv.events
        # `devlog export` resumes it.
        assert run("team", cfg, db, resume=True).caught_up
        assert set(srv.events) == {e.id for e in events}


def test_a_new_api_key_unpauses(db: Path) -> None:
    fill_store(db, make_events(5, [f"{WORK}/a"]))
    with FaultServer(api_key="right") as srv:
        wrong = config({"team": remote(srv.url, [f"{WORK}/**"], api_key="wrong")})
        assert run("team", wrong, db).paused
        right = config({"team": remote(srv.url, [f"{WORK}/**"], api_key="right")})
        assert run("team", right, db).caught_up and len(srv.events) == 5


def test_a_401_without_an_api_key_says_the_key_is_not_set(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fill_store(db, make_events(3, [f"{WORK}/a"]))
    monkeypatch.delenv("DEVLOG_TEST_UNSET_KEY", raising=False)
    with FaultServer(api_key="right") as srv:
        raw = {"export": {"remotes": {"team": remote(srv.url, [f"{WORK}/**"], api_key="${DEVLOG_TEST_UNSET_KEY}")}}}
        unset, warnings = parse_config(raw)
        assert warnings == ["export.remotes.team.api_key: environment variable DEVLOG_TEST_UNSET_KEY is not set"]
        outcome = run("team", unset, db)
        assert outcome.paused and "this remote's api_key is empty: is the ${VAR} it names set" in (
            outcome.paused_reason or ""
        )
        keyless = remote(srv.url, [f"{WORK}/**"])
        del keyless["api_key"]  # none in its config at all: there is no ${VAR} to ask about
        outcome = run("team", config({"team": keyless}), db, resume=True)
        assert outcome.paused and "this remote has no api_key: add one, e.g. `devlog remote edit NAME" in (
            outcome.paused_reason or ""
        )
        wrong = config({"team": remote(srv.url, [f"{WORK}/**"], api_key="wrong")})
        outcome = run("team", wrong, db, resume=True)
        assert outcome.paused and "missing, wrong or revoked" in (outcome.paused_reason or "")


def test_a_revoked_key_is_said_once_with_what_to_do(db: Path) -> None:
    """`this API key has been revoked (the API key is missing, wrong or revoked)` said it twice."""
    fill_store(db, make_events(3, [f"{WORK}/a"]))
    revoked = b'{"title":"Unauthorized","detail":"this API key has been revoked"}'
    with FaultServer() as srv:
        srv.script(*[Fault("status", 401, body=revoked)] * 3)
        outcome = run("team", config({"team": remote(srv.url, [f"{WORK}/**"])}), db)
    assert outcome.paused
    reason = outcome.paused_reason or ""
    assert reason.count("revoked") == 1 and "ask the server's admin for a new key" in reason


def test_no_rules_no_default_sends_nothing(db: Path) -> None:
    fill_store(db, make_events(5, [f"{WORK}/a"]))
    with FaultServer() as srv:
        assert run("team", config({"team": remote(srv.url)}), db).caught_up
        assert not srv.requests


def test_stretches_without_matches_advance_the_cursor_without_requests(db: Path) -> None:
    fill_store(db, make_events(12_000, ["/elsewhere"]) + make_events(3, [f"{WORK}/a"], start=20_000))
    with FaultServer() as srv:
        assert run("team", config({"team": remote(srv.url, [f"{WORK}/**"])}), db).caught_up
        assert len(srv.events) == 3 and len(srv.post_requests()) == 1
        with Store.open(db) as store:
            assert cursor_row(db, "team")[0] == store.max_seq()


def test_exported_events_carry_estimated_cost_unless_the_agent_recorded_one(db: Path) -> None:
    import msgspec

    from devlog_collector.query.pricing import Pricer, TokenSums, fast_multiplier

    base = make_events(3, [f"{WORK}/api"])[1]  # a response with usage and a priced model
    priced = base
    unknown = msgspec.structs.replace(base, id="unknown-model", model="no-such-model-9000")
    recorded = msgspec.structs.replace(base, id="recorded-cost", cost_usd=1.25)
    opus, extras = "claude-opus-4-6", {"speed": "fast", "web_search_requests": 2}
    fast = msgspec.structs.replace(base, id="fast-search", model=opus, attrs=extras)
    fill_store(db, [priced, unknown, recorded, fast])
    with FaultServer() as team:
        cfg = config({"team": remote(team.url, [f"{WORK}/**"])})
        assert run("team", cfg, db).caught_up
        usage = base.usage
        assert usage is not None
        expected = Pricer.load().event_cost(
            base.model, base.ts, TokenSums(usage.input_tokens, usage.output_tokens, 0, 0)
        )
        assert expected is not None and expected > 0
        got = team.events[priced.id]
        assert got["cost_usd"] == pytest.approx(expected)
        assert got["attrs"]["cost_estimated"] is True
        assert "cost_usd" not in team.events["unknown-model"]
        tokens_only = Pricer.load().event_cost(opus, base.ts, TokenSums(usage.input_tokens, usage.output_tokens))
        assert tokens_only is not None and fast_multiplier(opus) == 6.0
        # fast mode's premium is on the tokens; the two searches stay at $10 per 1,000
        assert team.events["fast-search"]["cost_usd"] == pytest.approx(tokens_only * 6 + 2 * 0.01)
        assert team.events["recorded-cost"]["cost_usd"] == 1.25
        assert "cost_estimated" not in team.events["recorded-cost"].get("attrs", {})


def test_the_batch_envelope_names_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's ingest health is per key and machine: the envelope carries the events' machine id."""
    from devlog_collector.export import exporter
    from devlog_collector.export.exporter import Batch
    from devlog_collector.workspace import machine_id
    from devlog_shared.codec import decode_batch_envelope

    monkeypatch.setenv("DEVLOG_MACHINE_ID", "laptop-7")
    exporter._collector_info.cache_clear()
    machine_id.cache_clear()
    try:
        envelope = decode_batch_envelope(Batch([1], ["x"], [b'{"a":1}'], 7).body())
        assert envelope.collector is not None
        assert envelope.collector.machine == "laptop-7" == machine_id()
    finally:
        exporter._collector_info.cache_clear()
        machine_id.cache_clear()
    assert envelope.collector.name == "devlog"


def test_a_server_that_rate_limits_every_other_batch_is_still_caught_up_with(db: Path) -> None:
    """Only passes that send nothing count towards giving up: a backfill throttled by 429s finishes."""
    events = make_events(100, [f"{WORK}/a"])
    fill_store(db, events)
    with FaultServer() as srv:
        cfg = config({"team": remote(srv.url, [f"{WORK}/**"], batch_size=10)})
        srv.script(*[Fault("ok"), Fault("status", 429, headers={"Retry-After": "0"})] * 10)
        outcome = run("team", cfg, db, max_failures=2)
        assert outcome.caught_up and outcome.error is None
        assert set(srv.events) == {e.id for e in events}
        srv.script(*[Fault("status", 429, headers={"Retry-After": "0"})] * 3)
        fill_store(db, make_events(10, [f"{WORK}/a"], start=100))
        outcome = run("team", cfg, db, max_failures=2)  # two passes in a row that send nothing: give up
        assert outcome.error is not None and not outcome.caught_up


def test_a_remote_url_with_a_path_and_query_gets_the_api_path_on_its_path(db: Path) -> None:
    """`http://host/base?access_token=t` was accepted by the config, but the client appended the API
    path after the query string (`/base?access_token=t/api/v1/events`): every request 404'd."""
    events = make_events(6, [f"{WORK}/a"])
    fill_store(db, events)
    with FaultServer(base_path="/base") as srv:
        cfg = config({"team": remote(f"{srv.url}/base/?access_token=tok&tenant=me", [f"{WORK}/**"])})
        outcome = run("team", cfg, db)
        assert outcome.caught_up and not outcome.paused, outcome.paused_reason
        assert set(srv.events) == {e.id for e in events}
        assert {r.path for r in srv.requests} == {
            "/base/api/v1/whoami?access_token=tok&tenant=me",
            "/base/api/v1/events?access_token=tok&tenant=me",
        }


@pytest.mark.parametrize(
    ("location", "suggested"),
    [
        ("{url}/v2/api/v1/events?access_token=tok", "{url}/v2?access_token=***"),
        ("/api/v1/events", "{url}"),
        ("https://devlog.example/api/v1/events/", "https://devlog.example"),
    ],
)
def test_a_redirect_suggests_the_base_url_not_the_api_url(db: Path, location: str, suggested: str) -> None:
    """Setting the remote's url to the full API URL the hint used to name doubled the API path."""
    fill_store(db, make_events(3, [f"{WORK}/a"]))
    with FaultServer() as srv:
        srv.script(Fault("status", 302, headers={"Location": location.format(url=srv.url)}))
        outcome = run("team", config({"team": remote(srv.url, [f"{WORK}/**"])}), db)
        assert outcome.paused
        hint = f"redirected to {suggested.format(url=srv.url)} (set the remote's url to it)"
        assert hint in (outcome.paused_reason or ""), outcome.paused_reason


def test_a_search_only_response_is_exported_with_the_cost_local_stats_gives_it(db: Path) -> None:
    """A Claude response with web searches but zero tokens went out without a cost, while `devlog
    stats` priced its searches: `devlog stats --remote` and the server disagreed."""
    import msgspec

    from devlog_collector.query.filters import FilterArgs, build_filters
    from devlog_collector.query.stats import compute_stats
    from devlog_shared.events import Usage

    base = make_events(3, [f"{WORK}/web"])[1]
    search = msgspec.structs.replace(
        base, id="search-only", usage=Usage(input_tokens=0, output_tokens=0), attrs={"web_search_requests": 2}
    )
    nothing = msgspec.structs.replace(base, id="zero-no-search", usage=Usage(input_tokens=0, output_tokens=0))
    fill_store(db, [search, nothing])
    with Store.open(db, readonly=True) as store:
        local = compute_stats(store, build_filters(store, FilterArgs()), by="model").total.cost_usd
    assert local > 0
    with FaultServer() as team:
        assert run("team", config({"team": remote(team.url, [f"{WORK}/**"])}), db).caught_up
        got = team.events["search-only"]
        assert got["attrs"]["cost_estimated"] is True
        assert got["cost_usd"] == pytest.approx(local)
        assert "cost_usd" not in team.events["zero-no-search"]  # nothing to price: no cost invented
