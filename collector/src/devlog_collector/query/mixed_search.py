"""`--search` text with Chinese, Japanese or Korean in it: the full-text syntax, leaf by leaf.

The full-text index (FTS5 `unicode61`) takes a run of CJK characters as one token, so a CJK word
inside a sentence never matches through it. Such a search is parsed here with the same syntax the
index takes (words, "quoted phrases", a trailing `*`, `AND`, `OR`, `NOT`, parentheses; `NOT` binds
tighter than `AND`, `AND` than `OR`, as in FTS5) and each leaf becomes its own condition: a leaf with
CJK characters (or with no letter or digit at all: an emoji, which the index drops) is a substring
of the stored text (ASCII letters in it in any case), any other leaf goes through the index as a
quoted FTS5 phrase (so `café` still matches `cafe` and case does not matter). The conditions combine
with SQL's AND, OR and NOT. FTS5 syntax beyond that (NEAR, column filters, `^`, `+`, `-`) is refused
with a message, not silently matched against nothing.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Final

from devlog_collector.errors import UserError

__all__ = ["CJK", "Leaf", "mixed_search_sql", "parse_mixed_search"]

#: Scripts written without spaces between words (Chinese, Japanese, Korean): Hangul Jamo, kana,
#: Bopomofo, Hangul compatibility jamo, katakana extensions, CJK ideographs (Extension A, the basic
#: block, compatibility ideographs, Extensions B and later), Hangul syllables and extended jamo,
#: half-width katakana and Hangul, kana supplements.
CJK: Final = re.compile(
    "[\u1100-\u11ff\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uffdc\U0001b000-\U0001b16f\U00020000-\U0003ffff]"
)
_OPERATORS: Final = frozenset({"AND", "OR", "NOT"})
_ASCII_LOWER: Final = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
#: FTS5 syntax this parser does not take; a search that uses it is refused, not silently empty.
_UNSUPPORTED: Final = (
    "NEAR groups, column filters (col:word), ^ (start of text), + (phrase joining) and - (column exclusion)"
)


@dataclass(frozen=True)
class Leaf:
    """One word or phrase of the search; `prefix` for a trailing `*`."""

    text: str
    prefix: bool = False


#: A parsed search: a Leaf, or (operator, left, right) with operator AND, OR or NOT (= and not).
Node = Leaf | tuple[str, "Node", "Node"]


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, value) tokens: kind is "(", ")", "op", "phrase" or "word"."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append((char, char))
            i += 1
        elif char == '"':
            value, i = _phrase(text, i + 1)
            if i < len(text) and text[i] == "*":
                tokens.append(("phrase*", value))
                i += 1
            else:
                tokens.append(("phrase", value))
        else:
            start = i
            while i < len(text) and not text[i].isspace() and text[i] not in '()"':
                i += 1
            word = text[start:i]
            tokens.append(("op", word) if word in _OPERATORS else ("word", word))
    return tokens


def _phrase(text: str, i: int) -> tuple[str, int]:
    """The quoted phrase starting after the quote at `i - 1` (`""` inside is a quote), and the index after it."""
    chars: list[str] = []
    while i < len(text):
        if text[i] == '"':
            if text[i + 1 : i + 2] == '"':
                chars.append('"')
                i += 2
                continue
            return "".join(chars), i + 1
        chars.append(text[i])
        i += 1
    raise UserError(f'--search: a quote is not closed in {text!r} (a phrase is written "like this")')


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def parse(self) -> Node:
        if not self.tokens:
            raise UserError("--search: empty search text")
        node = self._or()
        if self.pos < len(self.tokens):
            raise UserError(f"--search: unexpected {self.tokens[self.pos][1]!r} in {self.text!r}")
        return node

    def _unsupported(self, what: str) -> UserError:
        return UserError(
            f"--search: {what!r} is not supported in a search with Chinese, Japanese or Korean text or emoji "
            f'({_UNSUPPORTED}); use words, "phrases", prefix*, AND, OR, NOT and parentheses'
        )

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _or(self) -> Node:
        node = self._and()
        while self._peek() == ("op", "OR"):
            self.pos += 1
            node = ("OR", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._not()
        while (token := self._peek()) is not None and (token == ("op", "AND") or token[0] not in ("op", ")")):
            if token == ("op", "AND"):
                self.pos += 1
            node = ("AND", node, self._not())
        return node

    def _not(self) -> Node:
        node = self._primary()
        while self._peek() == ("op", "NOT"):
            self.pos += 1
            node = ("NOT", node, self._primary())
        return node

    def _primary(self) -> Node:
        token = self._peek()
        if token is None:
            raise UserError(f"--search: {self.text!r} ends where a word or phrase should follow")
        self.pos += 1
        kind, value = token
        if kind == "(":
            node = self._or()
            if self._peek() != (")", ")"):
                raise UserError(f"--search: a parenthesis is not closed in {self.text!r}")
            self.pos += 1
            return node
        if kind in ("phrase", "phrase*"):
            if not value.strip():
                raise UserError(f"--search: an empty phrase in {self.text!r}")
            return Leaf(value.strip(), prefix=kind == "phrase*")
        if kind == "word":
            if value == "NEAR" and self._peek() == ("(", "("):
                raise self._unsupported("NEAR(...)")
            if value[:1] in "^+-" or ":" in value:
                raise self._unsupported(value)
            prefix = value.endswith("*")
            word = value.rstrip("*")
            if not word:
                raise UserError(f"--search: a lone '*' in {self.text!r} (a prefix is written like migr*)")
            return Leaf(word, prefix=prefix)
        raise UserError(f"--search: unexpected {value!r} in {self.text!r} (a word or phrase should come first)")


def parse_mixed_search(text: str) -> Node:
    """Parse a `--search` text (UserError naming the problem when it is not valid)."""
    return _Parser(text).parse()


def needs_mixed_search(text: str) -> bool:
    """Whether a `--search` text is parsed here rather than given to the index as it is: it has CJK
    text, or a word with no letter or digit (an emoji) that the index would silently drop."""
    if CJK.search(text):
        return True
    words = (word.strip('()"*') for word in text.split())
    return any(word and word not in _OPERATORS and not any(c.isalnum() for c in word) for word in words)


def is_substring_leaf(text: str) -> bool:
    """A leaf the index cannot match: CJK text, or no letter or digit at all (an emoji, say, which
    the index drops, so `"🎉"` would match nothing there)."""
    return CJK.search(text) is not None or not any(char.isalnum() for char in text)


def needs_index(node: Node) -> bool:
    """True when some leaf goes through the full-text index (it must be brought up to date first)."""
    if isinstance(node, Leaf):
        return not is_substring_leaf(node.text)
    return needs_index(node[1]) or needs_index(node[2])


def mixed_search_sql(node: Node, prefix: str = "") -> tuple[str, list[str]]:
    """SQL (over `{prefix}text` and `{prefix}seq`) and its parameters for a parsed search."""
    if isinstance(node, Leaf):
        if is_substring_leaf(node.text):
            if not any(char.isascii() and char.isalpha() for char in node.text):
                return f"instr({prefix}text, ?) > 0", [node.text]
            # ASCII letters beside CJK ones (`login画面`): their case does not matter, as in the index
            # (SQLite's lower() folds ASCII only, so the leaf is folded the same way).
            return f"instr(lower({prefix}text), ?) > 0", [node.text.translate(_ASCII_LOWER)]
        quoted = '"' + node.text.replace('"', '""') + '"' + ("*" if node.prefix else "")
        return f"{prefix}seq IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)", [quoted]
    operator, left, right = node
    left_sql, left_params = mixed_search_sql(left, prefix)
    right_sql, right_params = mixed_search_sql(right, prefix)
    if operator == "NOT":
        return f"({left_sql} AND NOT ({right_sql}))", left_params + right_params
    return f"({left_sql} {operator} {right_sql})", left_params + right_params
