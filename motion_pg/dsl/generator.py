"""The motion dialect's generator: canonical text of the motion statement nodes.

sqlglot ≥ 30.2 generates a node only through the generator's ``TRANSFORMS`` table, so each motion
node is registered there (merged into Postgres' table, which stays untouched). Keywords come out
uppercase; identifiers keep the quoting recorded in their ``exp.Identifier`` nodes; string literals
are written with doubled quotes, never with backslash escapes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from sqlglot import exp
from sqlglot.generators.postgres import PostgresGenerator

from motion_pg.dsl import nodes
from motion_pg.dsl.lexical import quote_string
from motion_pg.dsl.policy_clause import CONDITIONS


class MotionGenerator(PostgresGenerator):
    """Postgres' generator extended with the motion statements."""

    TRANSFORMS: ClassVar[dict[type[exp.Expr], Callable[..., str]]] = {
        **PostgresGenerator.TRANSFORMS,
        nodes.MotionCreate: lambda self, e: self.motioncreate_sql(e),
        nodes.MotionRoute: lambda self, e: self.motionroute_sql(e),
        nodes.MotionSchedule: lambda self, e: self.motionschedule_sql(e),
        nodes.MotionParam: lambda self, e: self.motionparam_sql(e),
        nodes.MotionExperiment: lambda self, e: self.motionexperiment_sql(e),
        nodes.MotionPolicy: lambda self, e: self.motionpolicy_sql(e),
        nodes.MotionAlter: lambda self, e: self.motionalter_sql(e),
        nodes.MotionDrop: lambda self, e: self.motiondrop_sql(e),
        nodes.MotionShow: lambda self, e: "SHOW MOTION TRIGGERS",
    }

    def motioncreate_sql(self, expression: nodes.MotionCreate) -> str:
        """``CREATE [OR REPLACE] MOTION TRIGGER [IF NOT EXISTS] name routes USING … [WITH …]``."""
        args = expression.args
        parts = ["CREATE"]
        if args.get("replace"):
            parts.append("OR REPLACE")
        parts.append("MOTION TRIGGER")
        if args.get("exists"):
            parts.append("IF NOT EXISTS")
        parts.append(self.sql(expression, "this"))
        parts.extend(self.sql(route) for route in args.get("routes") or ())
        parts.extend(self.sql(schedule) for schedule in args.get("schedules") or ())
        if args.get("state_per"):
            parts.append("STATE PER (" + ", ".join(self.sql(c) for c in args["state_per"]) + ")")
        if args.get("experiment"):
            parts.append(self.sql(expression, "experiment"))
        if args.get("policy"):
            parts.append(self.sql(expression, "policy"))
        parts.append("USING " + self._motion_literal(args["using"]))
        if args.get("params"):
            parts.append("WITH " + self._motion_params(args["params"]))
        return " ".join(parts)

    def motionroute_sql(self, expression: nodes.MotionRoute) -> str:
        """``ON relation [(columns)] [INFER m | NO INFER] [FIT m | NO FIT]``."""
        args = expression.args
        parts = ["ON " + self.sql(expression, "this")]
        columns = args.get("columns")
        if columns:
            parts.append("(" + ", ".join(self.sql(column) for column in columns) + ")")
        for key in ("infer", "fit"):
            if args.get(f"no_{key}"):
                parts.append(f"NO {key.upper()}")
            elif args.get(key):
                parts.append(f"{key.upper()} {self.sql(expression, key)}")
        return " ".join(parts)

    def motionschedule_sql(self, expression: nodes.MotionSchedule) -> str:
        """``ON SCHEDULE 'cron expression' [FIT m]``."""
        text = "ON SCHEDULE " + self._motion_literal(expression.this)
        if expression.args.get("fit"):
            text += " FIT " + self.sql(expression, "fit")
        return text

    def motionexperiment_sql(self, expression: nodes.MotionExperiment) -> str:
        """``SHADOW OF baseline`` or ``CANARY OF baseline (percent)``."""
        text = f"{str(expression.args['kind']).upper()} OF {self.sql(expression, 'this')}"
        if expression.args.get("percent") is not None:
            text += f" ({self.sql(expression, 'percent')})"
        return text

    def motionpolicy_sql(self, expression: nodes.MotionPolicy) -> str:
        """``[FIT WHEN (…)] [REFIT EVERY '…'] [REFIT WHEN (…)]``."""
        args = expression.args

        def conditions(items: list[nodes.MotionCondition]) -> str:
            words = []
            for c in items:
                word, value = str(c.this).upper(), self._motion_literal(c.expression)
                operator = CONDITIONS[word][0]
                words.append(f"{word} {operator[1]} {value}" if operator else f"{word} {value}")
            return "(" + " OR ".join(words) + ")"

        parts = []
        if args.get("fit"):
            parts.append("FIT WHEN " + conditions(args["fit"]))
        if args.get("refit_every"):
            parts.append("REFIT EVERY " + self._motion_literal(args["refit_every"]))
        if args.get("refit"):
            parts.append("REFIT WHEN " + conditions(args["refit"]))
        return " ".join(parts)

    def motionparam_sql(self, expression: nodes.MotionParam) -> str:
        """``name = literal``."""
        return f"{self.sql(expression, 'this')} = {self._motion_literal(expression.expression)}"

    def motionalter_sql(self, expression: nodes.MotionAlter) -> str:
        """``ALTER MOTION TRIGGER name action``."""
        args = expression.args
        action = args["action"]
        if action == "set":
            tail = "SET " + self._motion_params(args["params"])
        elif action == "rollback":
            tail = "ROLLBACK TO VERSION " + self.sql(expression, "version")
        elif action == "pin":
            tail = "PIN VERSION " + self.sql(expression, "version")
        elif action == "backfill":
            tail = "BACKFILL STALE" if args.get("stale") else "BACKFILL ALL"
            if args.get("where"):
                tail += " WHERE " + str(args["where"].this)
        else:
            tail = str(action).upper()
        return f"ALTER MOTION TRIGGER {self.sql(expression, 'this')} {tail}"

    def motiondrop_sql(self, expression: nodes.MotionDrop) -> str:
        """``DROP MOTION TRIGGER [IF EXISTS] name``."""
        exists = " IF EXISTS" if expression.args.get("exists") else ""
        return f"DROP MOTION TRIGGER{exists} {self.sql(expression, 'this')}"

    def _motion_params(self, params: list[Any]) -> str:
        return "(" + ", ".join(self.sql(param) for param in params) + ")"

    def _motion_literal(self, node: exp.Expr) -> str:
        if isinstance(node, exp.Literal) and node.is_string:
            return quote_string(str(node.this))
        return self.sql(node)
