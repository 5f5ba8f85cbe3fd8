"""Postgres lexical rules shared by the splitter, the parser and the generator.

Holds the reserved words, how identifiers fold and when they need quotes, a small scanner that
knows where strings, quoted identifiers, dollar-quoted bodies and comments begin and end, and the
conversion of character offsets into 1-based line and column numbers.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
from enum import Enum
from typing import NamedTuple

# PostgreSQL 15's reserved keywords, plus those reserved except as function or type names
# (kwlist.h: RESERVED_KEYWORD and TYPE_FUNC_NAME_KEYWORD). A name spelled like one needs quotes.
RESERVED = frozenset(
    """
    ALL ANALYSE ANALYZE AND ANY ARRAY AS ASC ASYMMETRIC BOTH CASE CAST CHECK COLLATE COLUMN
    CONSTRAINT CREATE CURRENT_CATALOG CURRENT_DATE CURRENT_ROLE CURRENT_TIME CURRENT_TIMESTAMP
    CURRENT_USER DEFAULT DEFERRABLE DESC DISTINCT DO ELSE END EXCEPT FALSE FETCH FOR FOREIGN FROM
    GRANT GROUP HAVING IN INITIALLY INTERSECT INTO LATERAL LEADING LIMIT LOCALTIME LOCALTIMESTAMP
    NOT NULL OFFSET ON ONLY OR ORDER PLACING PRIMARY REFERENCES RETURNING SELECT SESSION_USER SOME
    SYMMETRIC TABLE THEN TO TRAILING TRUE UNION UNIQUE USER USING VARIADIC WHEN WHERE WINDOW WITH
    AUTHORIZATION BINARY COLLATION CONCURRENTLY CROSS CURRENT_SCHEMA FREEZE FULL ILIKE INNER IS
    ISNULL JOIN LEFT LIKE NATURAL NOTNULL OUTER OVERLAPS RIGHT SIMILAR TABLESAMPLE VERBOSE
    """.split()  # noqa: SIM905
)

# Words that open a motion statement: VERB [OR REPLACE] MOTION ...
MOTION_VERBS = frozenset({"CREATE", "ALTER", "DROP", "SHOW"})

_WORD = re.compile(r"[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_PLAIN_METHOD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_SPACE = frozenset(" \t\n\r\f\v")


def is_word(text: str) -> bool:
    """Whether ``text`` is spelled like an unquoted Postgres identifier or keyword."""
    return _WORD.fullmatch(text) is not None


def is_reserved(word: str) -> bool:
    """Whether ``word`` is a reserved Postgres keyword (so it cannot be an unquoted name)."""
    return word.upper() in RESERVED


def fold(word: str) -> str:
    """Fold an unquoted identifier the way Postgres does: ASCII letters to lowercase only."""
    return word.translate(_ASCII_LOWER)


def name_needs_quotes(name: str) -> bool:
    """Whether a (case-folded) identifier must be written quoted to read back unchanged."""
    return _PLAIN_NAME.fullmatch(name) is None or is_reserved(name)


def method_needs_quotes(name: str) -> bool:
    """Whether a method name (kept exactly as written, never folded) must be written quoted."""
    return _PLAIN_METHOD.fullmatch(name) is None or is_reserved(name)


def quote_identifier(name: str) -> str:
    """``name`` as a quoted identifier."""
    return '"' + name.replace('"', '""') + '"'


def quote_string(value: str) -> str:
    """``value`` as a standard SQL string literal (quotes doubled, backslashes literal)."""
    return "'" + value.replace("'", "''") + "'"


def motion_index(words: Sequence[str]) -> int | None:
    """Where MOTION stands in a statement's leading words, if they open a motion statement.

    ``words`` are the statement's first bare words, uppercased: ``CREATE [OR REPLACE] MOTION``,
    ``ALTER MOTION``, ``DROP MOTION`` or ``SHOW MOTION``.
    """
    if not words or words[0] not in MOTION_VERBS:
        return None
    at = 3 if words[0] == "CREATE" and tuple(words[1:3]) == ("OR", "REPLACE") else 1
    return at if len(words) > at and words[at] == "MOTION" else None


class LineIndex:
    """Converts character offsets in one text into 1-based (line, column) pairs."""

    def __init__(self, text: str) -> None:
        self._newlines = [m.start() for m in re.finditer("\n", text)]

    def position(self, offset: int) -> tuple[int, int]:
        """The line and column of the character at ``offset`` (columns count characters)."""
        before = bisect.bisect_left(self._newlines, offset)
        line_start = self._newlines[before - 1] + 1 if before else 0
        return before + 1, offset - line_start + 1


def position(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of ``text[offset]``."""
    return LineIndex(text).position(offset)


class Kind(Enum):
    """What a :class:`Piece` of SQL text is."""

    SPACE = "space"
    COMMENT = "comment"
    STRING = "string"
    IDENTIFIER = "identifier"
    DOLLAR = "dollar"
    WORD = "word"
    SEMICOLON = "semicolon"
    OPEN = "open"
    CLOSE = "close"
    OTHER = "other"


_SINGLE = {";": Kind.SEMICOLON, "(": Kind.OPEN, ")": Kind.CLOSE}


class Piece(NamedTuple):
    """A run of text, ``text[start:end]``; ``closed`` is False for an unterminated one."""

    kind: Kind
    start: int
    end: int
    closed: bool = True


def pieces(text: str) -> Iterator[Piece]:
    """Cut ``text`` into pieces by Postgres' lexical rules.

    Strings ('' doubling; E'' with backslash escapes), quoted identifiers, dollar-quoted bodies
    ($$…$$, $tag$…$tag$), ``--`` comments and nested ``/* */`` comments each form one piece, so a
    semicolon inside them is never seen. An unterminated one runs to the end of the text.
    """
    i = 0
    while i < len(text):
        piece = _piece_at(text, i)
        yield piece
        i = piece.end


def _piece_at(text: str, i: int) -> Piece:
    n = len(text)
    c = text[i]
    if c in _SPACE:
        j = i + 1
        while j < n and text[j] in _SPACE:
            j += 1
        return Piece(Kind.SPACE, i, j)
    if text.startswith("--", i):
        j = text.find("\n", i)
        return Piece(Kind.COMMENT, i, n if j < 0 else j)
    if text.startswith("/*", i):
        return _block_comment(text, i)
    if c == "'":
        return _quoted(text, i, i, Kind.STRING, backslash=False)
    if c == '"':
        return _quoted(text, i, i, Kind.IDENTIFIER, backslash=False)
    if c == "$" and (m := _DOLLAR_TAG.match(text, i)):
        close = text.find(m.group(), m.end())
        if close < 0:
            return Piece(Kind.DOLLAR, i, n, closed=False)
        return Piece(Kind.DOLLAR, i, close + len(m.group()))
    if m := _WORD.match(text, i):
        j = m.end()
        if j < n and text[j] == "'" and m.group() in ("E", "e"):
            return _quoted(text, i, j, Kind.STRING, backslash=True)
        return Piece(Kind.WORD, i, j)
    if c in _SINGLE:
        return Piece(_SINGLE[c], i, i + 1)
    j = i + 1
    if "0" <= c <= "9":
        while j < n and "0" <= text[j] <= "9":
            j += 1
    return Piece(Kind.OTHER, i, j)


def _block_comment(text: str, start: int) -> Piece:
    depth, i, n = 0, start, len(text)
    while i < n:
        if text.startswith("/*", i):
            depth += 1
            i += 2
        elif text.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return Piece(Kind.COMMENT, start, i)
        else:
            i += 1
    return Piece(Kind.COMMENT, start, n, closed=False)


def _quoted(text: str, start: int, quote_at: int, kind: Kind, backslash: bool) -> Piece:
    quote = text[quote_at]
    i, n = quote_at + 1, len(text)
    while i < n:
        c = text[i]
        if backslash and c == "\\":
            i += 2
        elif c == quote:
            if i + 1 < n and text[i + 1] == quote:
                i += 2
            else:
                return Piece(kind, start, i + 1)
        else:
            i += 1
    return Piece(kind, start, n, closed=False)
