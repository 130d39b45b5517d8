"""`event_id` computes UUIDv5 by hand for speed: its output must stay byte-identical to `uuid.uuid5`."""

from __future__ import annotations

import random
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from devlog_shared import event_id
from devlog_shared.ids import DEVLOG_NAMESPACE


def reference(agent: str, *parts: object) -> str:
    return str(uuid.uuid5(DEVLOG_NAMESPACE, "\x1f".join([agent, *(str(p) for p in parts)])))


def test_known_ids_are_unchanged() -> None:
    # ids already stored on laptops and servers: a change here would duplicate every event
    assert event_id("claude", "session", "abc") == reference("claude", "session", "abc")
    assert event_id("claude", "usage", "msg_01") == "4a057f22-0da1-55be-91e0-e97aba3764a8"


def test_many_random_keys_match_uuid5() -> None:
    rng = random.Random(1234)
    alphabet = "abcxyz019-_:/\x1f é漢🙂"
    for _ in range(20_000):
        parts: list[object] = [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(rng.randint(1, 4))
        ]
        if rng.random() < 0.3:
            parts.append(rng.randint(-(10**12), 10**12))
        agent = rng.choice(["claude", "codex", "gemini", "generic:x"])
        produced = event_id(agent, *parts)
        assert produced == reference(agent, *parts)
        parsed = uuid.UUID(produced)
        assert (parsed.version, parsed.variant) == (5, uuid.RFC_4122)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.lists(st.one_of(st.text(), st.integers(), st.floats(allow_nan=False)), min_size=1, max_size=4))
def test_arbitrary_text_matches_uuid5(agent: str, parts: list[object]) -> None:
    try:
        expected = reference(agent, *parts)
    except UnicodeEncodeError:  # lone surrogates: both refuse them
        try:
            event_id(agent, *parts)
        except UnicodeEncodeError:
            return
        raise AssertionError("event_id accepted text uuid5 refuses") from None
    assert event_id(agent, *parts) == expected
