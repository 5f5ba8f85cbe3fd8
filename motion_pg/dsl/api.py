"""``parse`` and ``generate``: motion statement text ↔ :mod:`motion_pg.dsl.spec` dataclasses.

Every failure of ``parse`` is a :class:`MotionSyntaxError` whose line and column (1-based, relative
to the text given) point at the start of the offending token, whatever part of sqlglot noticed it.
"""

from __future__ import annotations

from typing import cast

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import Token, TokenType

from motion_pg.dsl.convert import to_node, to_statement
from motion_pg.dsl.dialect import Motion
from motion_pg.dsl.lexical import MOTION_VERBS, Kind, is_word, motion_index, pieces, position
from motion_pg.dsl.nodes import MotionStatement
from motion_pg.dsl.parser import MotionParser
from motion_pg.dsl.spec import Statement
from motion_pg.dsl.terminals import excerpt
from motion_pg.errors import MotionSyntaxError

_DIALECT = Motion()
_UNTERMINATED = {
    "'": "unterminated string literal",
    '"': "unterminated quoted identifier",
    "$": "unterminated dollar-quoted string",
    "/": "unterminated /* comment",
}


def parse(text: str) -> list[Statement]:
    """Parse one or more motion statements separated by ``;`` (a trailing ``;`` is optional).

    Identifiers follow Postgres rules: unquoted names are lowercased, quoted names kept as written.
    Method names (after INFER and FIT) are Python names and are kept exactly as written.

    Raises :class:`MotionSyntaxError` (with ``line``, ``col`` and ``token``) for any text that is
    not a sequence of valid motion statements, including ordinary SQL and empty text.
    """
    tokens = _tokenize(text)
    groups = _statements(tokens)
    if not groups:
        raise MotionSyntaxError("no motion statement", line=1, col=1)
    for group in groups:
        _require_motion(text, group)
    parser = cast(MotionParser, _DIALECT.parser())
    try:
        trees = parser.parse(tokens, text)
    except MotionSyntaxError:
        raise
    except ParseError as e:
        raise _error_at(text, parser.last_error_token or parser._curr, _description(e)) from None
    except Exception as e:  # sqlglot failing in an unforeseen way is still a syntax error here
        message = f"invalid motion statement ({type(e).__name__}: {e})".lower()
        raise _error_at(text, parser._curr or parser._prev, message) from None
    statements = [t for t in trees if t is not None and not isinstance(t, exp.Semicolon)]
    result: list[Statement] = []
    for tree, group in zip(statements, groups, strict=False):
        if not isinstance(tree, MotionStatement):  # e.g. sqlglot's exp.Command fallback
            raise _error_at(text, group[0], "not a motion statement")
        result.append(to_statement(tree))
    if len(statements) != len(groups):
        raise _error_at(text, groups[-1][0], "not a motion statement")
    return result


def generate(statement: Statement) -> str:
    """The canonical text of one motion statement: ``parse(generate(s)) == [s]``.

    Keywords are uppercase, names quoted only where Postgres needs it, strings written with doubled
    quotes. Raises ValueError for a dataclass that no statement can spell (an empty route list,
    both INFER and NO INFER, a non-finite float param, a version below 1, …).
    """
    generator = _DIALECT.generator()
    return generator.generate(to_node(statement), copy=False)


def _tokenize(text: str) -> list[Token]:
    tokenizer = _DIALECT.tokenizer()
    try:
        return tokenizer.tokenize(text)
    except TokenError:
        pass
    for piece in pieces(text):
        if not piece.closed:
            line, col = position(text, piece.start)
            message = _UNTERMINATED.get(text[piece.start], _UNTERMINATED["'"])
            raise MotionSyntaxError(
                message, line=line, col=col, token=excerpt(text[piece.start : piece.end])
            ) from None
    # the failing token starts at the first non-blank character after the last good token
    good = tokenizer.tokens
    after = good[-1].end + 1 if good else 0
    start = next(
        (after + p.start for p in pieces(text[after:]) if p.kind not in (Kind.SPACE, Kind.COMMENT)),
        min(after, len(text)),
    )
    line, col = position(text, start)
    end = start + 1
    while end < len(text) and not text[end].isspace():
        end += 1
    raise MotionSyntaxError(
        "invalid token", line=line, col=col, token=excerpt(text[start:end]) or None
    ) from None


def _statements(tokens: list[Token]) -> list[list[Token]]:
    """The tokens of each non-empty statement, as sqlglot's parser splits them at semicolons."""
    groups: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            groups.append([])
        else:
            groups[-1].append(token)
    return [group for group in groups if group]


def _require_motion(text: str, group: list[Token]) -> None:
    words: list[str] = []
    for token in group[:5]:
        if token.token_type == TokenType.IDENTIFIER or not _bare(text, token):
            break
        words.append(token.text.upper())
    if motion_index(words) is not None:
        return
    if words and words[0] in MOTION_VERBS:
        at = 3 if words[0] == "CREATE" and words[1:3] == ["OR", "REPLACE"] else 1
        message = f"not a motion statement: expected MOTION after {words[0]}"
        if at < len(group):
            raise _error_at(text, group[at], message)
        line, col = position(text, group[-1].end + 1)
        raise MotionSyntaxError(message + ", found end of statement", line=line, col=col)
    raise _error_at(
        text,
        group[0],
        "not a motion statement: expected CREATE, ALTER, DROP or SHOW followed by MOTION",
    )


def _bare(text: str, token: Token) -> bool:
    return is_word(token.text) and text[token.start : token.end + 1] == token.text


def _error_at(text: str, token: Token | None, message: str) -> MotionSyntaxError:
    if token:
        line, col = position(text, token.start)
        return MotionSyntaxError(
            message, line=line, col=col, token=excerpt(text[token.start : token.end + 1])
        )
    return MotionSyntaxError(message, line=1, col=1)


def _description(error: ParseError) -> str:
    details = error.errors[0] if error.errors else {}
    description = str(details.get("description") or error).split("\n")[0]
    return description[:1].lower() + description[1:]
