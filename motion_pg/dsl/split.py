"""Cut SQL text that mixes ordinary statements and motion statements into statements.

The cut is made at top-level semicolons only: not inside strings (including ``E''`` escapes and
``''`` doubling), quoted identifiers, dollar-quoted bodies, ``--`` or nested ``/* */`` comments,
nor inside parentheses (as psql does, e.g. for ``CREATE RULE … DO (…; …)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from motion_pg.dsl.lexical import Kind, LineIndex, Piece, motion_index, pieces

_BLANK = (Kind.SPACE, Kind.COMMENT)


@dataclass(frozen=True)
class Chunk:
    """One statement of a text.

    ``text`` runs from the statement's first character to its last (leading and trailing blanks
    and comments and the terminating ``;`` left out); ``line`` and ``col`` are the 1-based position
    of that first character in the whole text; ``is_motion`` tells a motion statement (``CREATE
    [OR REPLACE] MOTION …``, ``ALTER MOTION …``, ``DROP MOTION …``, ``SHOW MOTION …``) from
    ordinary SQL.
    """

    text: str
    line: int
    col: int
    is_motion: bool


def split_statements(text: str) -> list[Chunk]:
    """The statements of ``text`` in order; statements holding only blanks or comments are dropped.

    Never raises: an unterminated string or comment simply runs to the end of the text, where the
    parser (or Postgres) reports it.
    """
    lines = LineIndex(text)
    chunks: list[Chunk] = []
    statement: list[Piece] = []  # the significant pieces of the current statement
    depth = 0
    for piece in pieces(text):
        if piece.kind in _BLANK and piece.closed:  # an unclosed comment stays, to be reported
            continue
        if piece.kind is Kind.SEMICOLON and depth == 0:
            _flush(text, statement, lines, chunks)
            statement = []
            continue
        if piece.kind is Kind.OPEN:
            depth += 1
        elif piece.kind is Kind.CLOSE and depth > 0:
            depth -= 1
        statement.append(piece)
    _flush(text, statement, lines, chunks)
    return chunks


def _flush(text: str, statement: list[Piece], lines: LineIndex, chunks: list[Chunk]) -> None:
    if not statement:
        return
    start, end = statement[0].start, statement[-1].end
    line, col = lines.position(start)
    chunks.append(Chunk(text[start:end], line, col, _is_motion(text, statement)))


def _is_motion(text: str, statement: list[Piece]) -> bool:
    words: list[str] = []
    for piece in statement[:6]:
        if piece.kind is not Kind.WORD:
            break
        words.append(text[piece.start : piece.end].upper())
    at = motion_index(words)
    if at is None:
        return False
    # `SHOW motion` alone could be a setting; SHOW MOTION needs a word after it (TRIGGERS)
    return words[0] != "SHOW" or len(words) > at + 1
