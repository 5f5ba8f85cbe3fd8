"""The motion dialect's parser: Postgres' parser plus the motion statements.

CREATE, ALTER, DROP and SHOW dispatch to the motion grammar when MOTION follows them (after
``OR REPLACE`` for CREATE) and to Postgres' own parsers otherwise. The motion grammar raises
:class:`MotionSyntaxError` itself, at the offending token, with what it expected; its terminals
(names, literals, keywords, errors) live in :mod:`motion_pg.dsl.terminals`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from sqlglot import exp
from sqlglot.tokenizer_core import TokenType

from motion_pg.dsl import nodes
from motion_pg.dsl.lexical import fold
from motion_pg.dsl.policy_clause import PolicyClauseParser
from motion_pg.dsl.terminals import STRING_TOKENS, alternatives

# the words that may follow a route's relation name
_AFTER_RELATION = frozenset({"INFER", "FIT", "NO", "ON", "STATE", "USING", "SHADOW", "CANARY"})


class MotionParser(PolicyClauseParser):
    """Postgres' parser extended with the motion statements (DESIGN §2.1)."""

    STATEMENT_PARSERS: ClassVar[dict[TokenType, Callable[[MotionParser], exp.Expr | None]]] = {
        **PolicyClauseParser.STATEMENT_PARSERS,
        TokenType.CREATE: lambda self: self._parse_create_or_motion(),
        TokenType.ALTER: lambda self: self._parse_alter_or_motion(),
        TokenType.DROP: lambda self: self._parse_drop_or_motion(),
        TokenType.SHOW: lambda self: self._parse_show_or_motion(),
    }

    # -- dispatch -------------------------------------------------------------------------------

    def _parse_create_or_motion(self) -> exp.Expr:
        index = self._index
        replace = self._match_text_seq("OR", "REPLACE")
        if self._match_text_seq("MOTION"):
            return self._parse_motion_create(replace)
        self._retreat(index)
        return self._parse_create()

    def _parse_alter_or_motion(self) -> exp.Expr:
        if self._match_text_seq("MOTION"):
            return self._parse_motion_alter()
        return self._parse_alter()

    def _parse_drop_or_motion(self) -> exp.Expr:
        if self._match_text_seq("MOTION"):
            self._motion_keyword("TRIGGER", "TRIGGER after DROP MOTION")
            exists = self._match_text_seq("IF", "EXISTS")
            name = self._motion_identifier("a trigger name")
            self._motion_end("end of statement")
            return self.expression(nodes.MotionDrop(this=name, exists=exists))
        return self._parse_drop()

    def _parse_show_or_motion(self) -> exp.Expr:
        if self._match_text_seq("MOTION"):
            self._motion_keyword("TRIGGERS", "TRIGGERS after SHOW MOTION")
            self._motion_end("end of statement")
            return self.expression(nodes.MotionShow())
        return self._parse_as_command(self._prev)

    # -- statements -----------------------------------------------------------------------------

    def _parse_motion_create(self, replace: bool) -> nodes.MotionCreate:
        self._motion_keyword("TRIGGER", "TRIGGER after MOTION")
        exists = self._match_text_seq("IF", "NOT", "EXISTS")
        name = self._motion_identifier("a trigger name")
        self._motion_keyword("ON", "ON")
        routes: list[nodes.MotionRoute] = []
        schedules: list[nodes.MotionSchedule] = []
        while True:
            if self._at_schedule():
                schedules.append(self._motion_schedule())
            else:
                routes.append(self._motion_route())
            if not self._match_text_seq("ON"):
                break
        state_per = None
        if self._match_text_seq("STATE"):
            self._motion_keyword("PER", "PER after STATE")
            if self._curr.token_type != TokenType.L_PAREN:
                self._motion_expected("'(' after STATE PER")
            state_per = self._motion_columns()
        experiment = self._motion_experiment()
        policy = self._motion_policy()
        self._motion_keyword("USING", "USING")  # each route made sure it is ON or USING
        using = self._motion_string("a string literal after USING ('package.module:ClassName')")
        params: list[nodes.MotionParam] | None = None
        if self._match_text_seq("WITH"):
            params = self._motion_params("WITH")
        self._motion_end("end of statement" if params is not None else "WITH or end of statement")
        return self.expression(
            nodes.MotionCreate(
                this=name,
                routes=routes or None,
                using=using,
                params=params,
                replace=replace,
                exists=exists,
                schedules=schedules or None,
                state_per=state_per,
                experiment=experiment,
                policy=policy,
            )
        )

    def _parse_motion_alter(self) -> nodes.MotionAlter:
        self._motion_keyword("TRIGGER", "TRIGGER after ALTER MOTION")
        name = self._motion_identifier("a trigger name")
        node = nodes.MotionAlter(this=name)
        if self._match_text_seq("SET"):
            node.set("action", "set")
            node.set("params", self._motion_params("SET"))
        elif self._match_text_seq("ROLLBACK"):
            self._motion_keyword("TO", "TO after ROLLBACK")
            self._motion_keyword("VERSION", "VERSION after ROLLBACK TO")
            node.set("action", "rollback")
            node.set("version", self._motion_version())
        elif self._match_text_seq("PIN"):
            self._motion_keyword("VERSION", "VERSION after PIN")
            node.set("action", "pin")
            node.set("version", self._motion_version())
        elif self._match_text_seq("BACKFILL"):
            node.set("action", "backfill")
            if self._match_text_seq("STALE"):
                node.set("stale", True)
            else:
                self._match_text_seq("ALL")
            if self._match_text_seq("WHERE"):
                node.set("where", self._motion_condition())
            self._motion_end("ALL, STALE, WHERE or end of statement")
        else:
            for action in ("REFIT", "RELOAD", "ENABLE", "DISABLE", "UNPIN", "PROMOTE"):
                if self._match_text_seq(action):
                    node.set("action", action.lower())
                    break
            else:
                self._motion_expected(
                    "SET, ROLLBACK TO VERSION, REFIT, RELOAD, ENABLE, DISABLE, PIN VERSION, UNPIN, "
                    "PROMOTE or BACKFILL"
                )
        self._motion_end("end of statement")
        return self.expression(node)

    # -- parts ----------------------------------------------------------------------------------

    def _motion_condition(self) -> exp.Literal:
        """The rest of the statement as written: a SQL condition whose parentheses balance (it
        is run inside parentheses, and must not close them)."""
        first = self._curr
        if not first:
            self._motion_expected("a condition after WHERE")
        depth = 0
        last = first
        while self._curr:
            token = self._curr
            if token.token_type == TokenType.L_PAREN:
                depth += 1
            elif token.token_type == TokenType.R_PAREN:
                depth -= 1
                if depth < 0:
                    self._motion_fail("unbalanced ')' in the WHERE condition", token)
            last = token
            self._advance()
        if depth:
            self._motion_fail("unbalanced '(' in the WHERE condition", first)
        return exp.Literal.string(self.sql[first.start : last.end + 1])

    def _motion_version(self) -> exp.Expr:
        token = self._curr
        if token.token_type != TokenType.NUMBER or not token.text.isdigit():
            self._motion_expected("a version number")
        if int(token.text) < 1:
            self._motion_fail("version numbers start at 1", token)
        self._advance()
        return exp.Literal.number(int(token.text))

    def _motion_route(self) -> nodes.MotionRoute:
        relation = self._motion_identifier("a relation name")
        table = exp.Table(this=relation)
        if self._match(TokenType.DOT):
            table = exp.Table(
                this=self._motion_identifier("a relation name after '.'"), db=relation
            )
            if self._curr.token_type == TokenType.DOT:
                self._motion_fail("relation names have at most two parts (schema.table)")
        route = nodes.MotionRoute(this=self.expression(table))
        if self._curr.token_type == TokenType.L_PAREN:
            route.set("columns", self._motion_columns())
        given: dict[str, bool] = {}  # "INFER"/"FIT" → whether it was the NO form
        while not self._at_policy():
            token = self._curr
            negated = self._match_text_seq("NO")
            if self._match_text_seq("INFER"):
                clause = "INFER"
            elif self._match_text_seq("FIT"):
                clause = "FIT"
            elif negated:
                self._motion_expected("INFER or FIT after NO")
            else:
                break
            if clause in given:
                if given[clause] == negated:
                    self._motion_fail(f"{clause} given twice in one route", token)
                self._motion_fail(
                    f"route has both {clause} and NO {clause}: give one of them", token
                )
            given[clause] = negated
            key = clause.lower()
            if negated:
                route.set(f"no_{key}", True)
            else:
                route.set(key, self._motion_identifier(f"a method name after {clause}"))
        if not (self._at_route_end() or self._at_policy()):
            expected = [c for c in ("INFER", "FIT") if c not in given]
            self._motion_expected(alternatives([*expected, "ON", "USING"]))
        return self.expression(route)

    def _at_route_end(self) -> bool:
        """Whether the next words end a route: ON (another route), USING, SHADOW, CANARY or STATE
        PER."""
        return any(
            self._match_text_seq(word, advance=False)
            for word in ("ON", "USING", "SHADOW", "CANARY")
        ) or self._match_text_seq("STATE", "PER", advance=False)

    def _motion_experiment(self) -> nodes.MotionExperiment | None:
        """``SHADOW OF baseline`` or ``CANARY OF baseline (percent)``, or None."""
        if self._match_text_seq("SHADOW"):
            kind = "shadow"
        elif self._match_text_seq("CANARY"):
            kind = "canary"
        else:
            return None
        self._motion_keyword("OF", f"OF after {kind.upper()}")
        node = nodes.MotionExperiment(
            this=self._motion_identifier("the name of the trigger it experiments against"),
            kind=kind,
        )
        if kind == "canary":
            if not self._match(TokenType.L_PAREN):
                self._motion_expected("'(' and the percent of keys the canary serves")
            token = self._curr
            if token.token_type != TokenType.NUMBER:
                self._motion_expected("a percent between 0 and 100")
            percent = float(token.text)
            if not 0 < percent < 100:
                self._motion_fail("a canary serves more than 0 and less than 100 percent", token)
            self._advance()
            if not self._match(TokenType.R_PAREN):
                self._motion_expected("')'")
            node.set("percent", exp.Literal.number(token.text))
        if self._match_text_seq("SHADOW", advance=False) or self._match_text_seq(
            "CANARY", advance=False
        ):
            self._motion_fail("a trigger runs one experiment: give SHADOW OF or CANARY OF once")
        return self.expression(node)

    def _at_schedule(self) -> bool:
        """Whether ``SCHEDULE 'cron'`` follows ON: the bare word SCHEDULE, then anything that
        cannot follow a relation named schedule (a string, most often)."""
        token, after = self._curr, self._next
        if not (
            token
            and token.token_type != TokenType.IDENTIFIER
            and self._is_word(token)
            and token.text.upper() == "SCHEDULE"
        ):
            return False
        if not after or after.token_type in (TokenType.L_PAREN, TokenType.DOT):
            return False
        return after.token_type in STRING_TOKENS or not (
            self._is_word(after) and after.text.upper() in _AFTER_RELATION
        )

    def _motion_schedule(self) -> nodes.MotionSchedule:
        self._advance()  # SCHEDULE
        cron = self._motion_string("a cron expression string after ON SCHEDULE")
        schedule = nodes.MotionSchedule(this=cron)
        token = self._curr
        if not self._at_policy() and self._match_text_seq("FIT"):
            schedule.set("fit", self._motion_identifier("a method name after FIT"))
            token = self._curr
            if not self._at_policy() and self._match_text_seq("FIT"):
                self._motion_fail("FIT given twice in one route", token)
        elif self._match_text_seq("NO", "FIT"):
            self._motion_fail("a scheduled route always fits: NO FIT would make it do nothing",
                              token)  # fmt: skip
        if self._match_text_seq("INFER", advance=False) or self._match_text_seq(
            "NO", "INFER", advance=False
        ):
            self._motion_fail(
                "a scheduled route has no row to infer: it takes FIT only", self._curr,
                hint="route a relation with ON relation INFER method to infer",
            )  # fmt: skip
        if not (self._at_route_end() or self._at_policy()):
            expected = ["ON", "USING"] if schedule.args.get("fit") else ["FIT", "ON", "USING"]
            self._motion_expected(alternatives(expected))
        return self.expression(schedule)

    def _motion_columns(self) -> list[exp.Identifier]:
        self._advance()  # the '('
        columns: list[exp.Identifier] = []
        seen: set[str] = set()
        while True:
            token = self._curr
            column = self._motion_identifier("a column name")
            key = column.this if column.quoted else fold(column.this)
            if key in seen:
                self._motion_fail(f'column "{key}" appears twice in the column list', token)
            seen.add(key)
            columns.append(column)
            if self._match(TokenType.COMMA):
                continue
            if self._match(TokenType.R_PAREN):
                return columns
            self._motion_expected("',' or ')'")

    def _motion_params(self, after: str) -> list[nodes.MotionParam]:
        if not self._match(TokenType.L_PAREN):
            self._motion_expected(f"'(' after {after}")
        params: list[nodes.MotionParam] = []
        seen: set[str] = set()
        while True:
            token = self._curr
            name = self._motion_identifier("a parameter name")
            key = name.this if name.quoted else fold(name.this)
            if key in seen:
                self._motion_fail(f'parameter "{key}" given twice', token)
            seen.add(key)
            if not self._match(TokenType.EQ):
                self._motion_expected(f"'=' after parameter {key}")
            value = self._motion_literal(key)
            params.append(self.expression(nodes.MotionParam(this=name, expression=value)))
            if self._match(TokenType.COMMA):
                continue
            if self._match(TokenType.R_PAREN):
                return params
            self._motion_expected("',' or ')'")
