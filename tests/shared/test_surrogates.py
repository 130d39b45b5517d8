"""Lone surrogate escapes (`"\\ud83d"`) become U+FFFD; everything else is left byte for byte."""

from __future__ import annotations

import json

import msgspec
import pytest

from devlog_shared import has_surrogate_escape, replace_lone_surrogates


@pytest.mark.parametrize(
    ("raw", "repaired", "text"),
    [
        (rb'"x\ud83d y"', rb'"x\ufffd y"', "x\ufffd y"),  # a high surrogate cut from its pair
        (rb'"\udc00"', rb'"\ufffd"', "\ufffd"),  # a low one alone
        (rb'"\ud83d\ude00"', rb'"\ud83d\ude00"', "\U0001f600"),  # a valid pair is kept
        (rb'"\uD83D\uDE00 \uDE00"', rb'"\uD83D\uDE00 \ufffd"', "\U0001f600 \ufffd"),  # upper case too
        (rb'"\ud800\ud83d\ude00"', rb'"\ufffd\ud83d\ude00"', "\ufffd\U0001f600"),  # a lone one before a pair
        (rb'"\ude00\ud83d"', rb'"\ufffd\ufffd"', "\ufffd\ufffd"),  # low then high is no pair
        (rb'"\\ud800"', rb'"\\ud800"', "\\ud800"),  # an escaped backslash, then letters
        (rb'"\\\ud800"', rb'"\\\ufffd"', "\\\ufffd"),  # an escaped backslash, then a real escape
        (rb'"caf\u00e9 \ud7ff \ue000"', rb'"caf\u00e9 \ud7ff \ue000"', "caf\u00e9 \ud7ff \ue000"),  # not surrogates
    ],
)
def test_lone_surrogates_are_replaced_and_nothing_else(raw: bytes, repaired: bytes, text: str) -> None:
    assert replace_lone_surrogates(raw) == repaired
    assert msgspec.json.decode(repaired) == text
    assert json.loads(repaired) == text


def test_the_pre_check_finds_every_surrogate_escape() -> None:
    assert has_surrogate_escape(rb'{"a":"\ud83d"}') and has_surrogate_escape(rb'"\UDC00"'.replace(b"U", b"u"))
    assert not has_surrogate_escape(rb'{"a":"\u00e9 plain"}')
