"""The terminals of the motion grammar: names, literals, keywords and positioned errors.

:class:`TerminalParser` extends Postgres' parser with the token-level rules the motion statements
(:mod:`motion_pg.dsl.parser`) are built from. Names follow Postgres: a quoted identifier, or a bare
word that is not a reserved keyword. Every error is a :class:`MotionSyntaxError` at the 1-based line
and column where the offending token starts, computed from the token's character offset
(``Token.start``): sqlglot's own ``Token.col`` is the column of the token's last character.
"""

from __future__ import annotations

import math
from typing import NoReturn

from sqlglot import exp
from sqlglot.parser import SENTINEL_NONE
from sqlglot.parsers.postgres import PostgresParser
from sqlglot.tokenizer_core import Token, TokenType

from motion_pg.dsl import nodes
from motion_pg.dsl.lexical import fold, is_reserved, is_word, position
from motion_pg.dsl.spec import Literal
from motion_pg.errors import MotionSyntaxError

STRING_TOKENS = frozenset({TokenType.STRING, TokenType.BYTE_STRING, TokenType.HEREDOC_STRING})
LITERAL_MESSAGE = "param {} must be a literal (string, number, boolean or NULL)"


def excerpt(text: str, limit: int = 40) -> str:
    """``text`` shortened for an error message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def alternatives(words: list[str]) -> str:
    """``["A", "B", "C"]`` → ``"A, B or C"``."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


class TerminalParser(PostgresParser):
    """Postgres' parser plus the token-level rules of the motion grammar."""

    last_error_token: Token | None = None

    def raise_error(self, message: str, token: Token = SENTINEL_NONE) -> None:
        """Remember the token of sqlglot's own errors so that they can keep their position."""
        self.last_error_token = token or self._curr or self._prev or None
        super().raise_error(message, token)

    # -- names and literals ---------------------------------------------------------------------

    def _motion_literal(self, param: str) -> exp.Expr:
        """A param value: a string, a (signed) number, TRUE, FALSE or NULL, and nothing more."""
        start = self._curr
        negative = self._match(TokenType.DASH)
        signed = negative or self._match(TokenType.PLUS)
        token, after = self._curr, self._next
        value: Literal
        if token.token_type == TokenType.NUMBER:
            value = self._motion_number(token.text, negative, param, start)
            self._advance()
        elif (
            token.token_type == TokenType.DOT
            and after.token_type == TokenType.NUMBER
            and after.start == token.end + 1
        ):  # .5
            value = self._motion_number("." + after.text, negative, param, start)
            self._advance(2)
        elif not signed and token.token_type in STRING_TOKENS:
            value = token.text
            self._advance()
        elif not signed and token.token_type in (TokenType.TRUE, TokenType.FALSE):
            value = token.token_type == TokenType.TRUE
            self._advance()
        elif not signed and token.token_type == TokenType.NULL:
            value = None
            self._advance()
        else:
            self._motion_fail(LITERAL_MESSAGE.format(param), start)
        following = self._curr
        if following and following.token_type not in (TokenType.COMMA, TokenType.R_PAREN):
            # `a = 1 b = 2` lacks a comma; anything else (`1 + 2`, `'a' || x`, `f()`) is no literal
            missing_comma = self._is_name(following) and self._next.token_type == TokenType.EQ
            if not missing_comma:
                self._motion_fail(LITERAL_MESSAGE.format(param), start)
        return nodes.literal_node(value)

    def _motion_number(self, text: str, negative: bool, param: str, start: Token) -> int | float:
        try:
            value: int | float = int(text) if text.isascii() and text.isdigit() else float(text)
        except ValueError:
            self._motion_fail(LITERAL_MESSAGE.format(param), start)
        if isinstance(value, float) and not math.isfinite(value):
            self._motion_fail(f"number {excerpt(text)} is out of range", self._curr)
        return -value if negative else value

    def _motion_string(self, what: str) -> exp.Literal:
        token = self._curr
        if token.token_type not in STRING_TOKENS:
            self._motion_expected(what)
        self._advance()
        return exp.Literal.string(token.text)

    def _motion_identifier(self, what: str) -> exp.Identifier:
        token = self._curr
        if token.token_type == TokenType.IDENTIFIER:
            if not token.text:
                self._motion_fail("zero-length quoted identifier", token)
        elif not self._is_name(token):
            if token and self._is_word(token):
                self._motion_fail(
                    f"expected {what}, found reserved word {token.text.upper()}",
                    token,
                    hint=f'quote it to use it as a name: "{fold(token.text)}"',
                )
            self._motion_expected(what)
        self._advance()
        quoted = token.token_type == TokenType.IDENTIFIER
        return self.expression(exp.Identifier(this=token.text, quoted=quoted), token)

    # -- tokens and errors ----------------------------------------------------------------------

    def _is_word(self, token: Token) -> bool:
        """A bare word in the source (keyword or unquoted identifier), not a string's content."""
        return (
            token.token_type not in self.TEXT_MATCH_EXCLUDED_TOKENS
            and is_word(token.text)
            and self.sql[token.start : token.end + 1] == token.text
        )

    def _is_name(self, token: Token) -> bool:
        """A quoted identifier, or a bare word that Postgres accepts as an unquoted name."""
        if token.token_type == TokenType.IDENTIFIER:
            return True
        return bool(token) and self._is_word(token) and not is_reserved(token.text)

    def _motion_keyword(self, word: str, expected: str) -> None:
        if not self._match_text_seq(word):
            self._motion_expected(expected)

    def _motion_end(self, expected: str) -> None:
        if self._curr:
            self._motion_expected(expected)

    def _motion_expected(self, what: str) -> NoReturn:
        if self._curr:
            self._motion_fail(f"expected {what}")
        self._motion_fail(f"expected {what}, found end of statement")

    def _motion_fail(
        self, message: str, token: Token | None = None, hint: str | None = None
    ) -> NoReturn:
        token = token if token is not None else self._curr
        if token:
            line, col = position(self.sql, token.start)
            text: str | None = excerpt(self.sql[token.start : token.end + 1])
        else:  # end of the statement: just after its last token
            line, col = position(self.sql, self._prev.end + 1 if self._prev else 0)
            text = None
        raise MotionSyntaxError(message, line=line, col=col, token=text, hint=hint)
