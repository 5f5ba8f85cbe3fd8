"""The policy clauses of CREATE MOTION TRIGGER: ``FIT WHEN (…)``, ``REFIT EVERY '…'`` and
``REFIT WHEN (…)`` (:mod:`motion_pg.policy` says what they mean).

The grammar is data (:data:`CONDITIONS`): each condition is a word, the operator that follows it
(if any) and the literal it takes. Values are checked here, at their token, with
:meth:`motion_pg.policy.Condition.make`, so a bad interval is a syntax error with its position.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.tokenizer_core import TokenType

from motion_pg.dsl import nodes
from motion_pg.dsl.terminals import STRING_TOKENS, TerminalParser, alternatives
from motion_pg.errors import DefinitionError
from motion_pg.policy import Condition

# word → (operator token and its spelling, literal kind: 'int', 'number' or 'interval')
CONDITIONS: dict[str, tuple[tuple[TokenType, str] | None, str]] = {
    "COUNT": ((TokenType.GTE, ">="), "int"),
    "AFTER": (None, "interval"),
    "EVERY": (None, "interval"),
    "DRIFT": ((TokenType.GT, ">"), "number"),
}


class PolicyClauseParser(TerminalParser):
    """The policy clauses, mixed into the motion parser."""

    def _at_policy(self) -> bool:
        """Whether ``FIT WHEN`` or ``REFIT`` starts here (ends a route's INFER/FIT list)."""
        return bool(
            self._match_text_seq("FIT", "WHEN", advance=False)
            or self._match_text_seq("REFIT", advance=False)
        )

    def _motion_policy(self) -> nodes.MotionPolicy | None:
        """The policy clauses before USING, in any order, each at most once; None without any."""
        policy = nodes.MotionPolicy()
        found = False
        while True:
            token = self._curr
            if self._match_text_seq("FIT", "WHEN"):
                key, where = "fit", "FIT WHEN"
            elif self._match_text_seq("REFIT", "WHEN"):
                key, where = "refit", "REFIT WHEN"
            elif self._match_text_seq("REFIT", "EVERY"):
                key, where = "refit_every", "REFIT EVERY"
            elif self._match_text_seq("REFIT"):
                self._motion_expected("EVERY or WHEN after REFIT")
            else:
                return policy if found else None
            if policy.args.get(key) is not None:
                self._motion_fail(f"{where} given twice", token)
            found = True
            if key == "refit_every":
                value = self._policy_value("every", "interval", where)
                policy.set(key, value)
            else:
                policy.set(key, self._policy_conditions(where))

    def _policy_conditions(self, where: str) -> list[nodes.MotionCondition]:
        if not self._match(TokenType.L_PAREN):
            self._motion_expected(f"'(' after {where}")
        conditions: list[nodes.MotionCondition] = []
        seen: set[str] = set()
        while True:
            token = self._curr
            word = next((w for w in CONDITIONS if self._match_text_seq(w)), None)
            if word is None:
                self._motion_expected(f"a condition ({alternatives(list(CONDITIONS))})")
            if word in seen:
                self._motion_fail(f"{word} appears twice in {where}", token)
            seen.add(word)
            operator, kind = CONDITIONS[word]
            if operator is not None and not self._match(operator[0]):
                self._motion_expected(f"{operator[1]} after {word}")
            value = self._policy_value(word.lower(), kind, where)
            conditions.append(nodes.MotionCondition(this=word.lower(), expression=value))
            if self._match_text_seq("OR"):
                continue
            if self._match(TokenType.R_PAREN):
                return conditions
            self._motion_expected("OR or ')'")

    def _policy_value(self, condition: str, kind: str, where: str) -> exp.Literal:
        token = self._curr
        raw: int | float | str
        if kind == "interval":
            if token.token_type not in STRING_TOKENS:
                self._motion_expected(f"an interval string after {condition.upper()}")
            raw = token.text
        else:
            if token.token_type != TokenType.NUMBER:
                self._motion_expected(f"a number after {condition.upper()}")
            text = token.text
            try:
                raw = int(text) if text.isdigit() else float(text)
            except ValueError:
                self._motion_fail(f"invalid number {text} in {where}", token)
            if kind == "int" and not isinstance(raw, int):
                self._motion_fail(f"{condition.upper()} needs a whole number in {where}", token)
        try:
            Condition.make(condition, raw, where)
        except DefinitionError as e:
            self._motion_fail(e.message, token, hint=e.hint)
        self._advance()
        if isinstance(raw, str):
            return exp.Literal.string(raw)
        return exp.Literal(this=str(raw), is_string=False)
